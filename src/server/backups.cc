#include "server/backups.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "absl/strings/numbers.h"

namespace cairn::server {
namespace {

int64_t UnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

BackupService::BackupService(engine::DB* db, std::string data_dir, store::Backend* backend)
    : db_(db), data_dir_(std::move(data_dir)), backend_(backend) {
  absl::MutexLock l(&mu_);
  state_.last_save_ms = UnixMs();  // as Redis: LASTSAVE is the start-up time until a save
  state_.writes_at_last_save = Writes();
}

BackupService::~BackupService() {
  std::thread t;
  {
    absl::MutexLock l(&mu_);
    t = std::move(thread_);
  }
  if (t.joinable()) t.join();
}

uint64_t BackupService::Writes() const {
  uint64_t n = 0;
  const std::optional<std::string> changes =
      backend_ != nullptr ? backend_->Property("cairn.changes") : std::nullopt;
  (void)absl::SimpleAtoi(changes ? *changes : db_->GetProperty("cairn.last-sequence").value_or("0"),
                         &n);
  return n;
}

absl::Status BackupService::Begin(const std::string& dest) {
  const uint64_t writes = Writes();  // before the backup's checkpoint, as Redis's dirty_before_bgsave
  absl::MutexLock l(&mu_);
  if (state_.in_progress)
    return absl::FailedPreconditionError("Background save already in progress");
  state_.in_progress = true;
  state_.dest = dest;
  state_.started_ms = UnixMs();
  state_.writes_at_start = writes;
  state_.done_bytes = state_.total_bytes = 0;
  return absl::OkStatus();
}

absl::StatusOr<engine::BackupInfo> BackupService::Run(const std::string& dest) {
  absl::StatusOr<engine::BackupInfo> info;
  auto backups = engine::BackupEngine::Open(Env::Default(), dest, /*create=*/true);
  if (!backups.ok()) {
    info = backups.status();
  } else {
    info = (*backups)->CreateBackup(db_, data_dir_ + "/backup-scratch",
                                    [this](uint64_t done, uint64_t total) {
                                      absl::MutexLock l(&mu_);
                                      state_.done_bytes = done;
                                      state_.total_bytes = total;
                                    });
  }
  absl::MutexLock l(&mu_);
  state_.in_progress = false;
  state_.last_ok = info.ok();
  state_.last_attempt_duration_ms = UnixMs() - state_.started_ms;
  if (info.ok()) {
    state_.last_error.clear();
    state_.last_save_ms = UnixMs();
    state_.have_last = true;
    state_.last = *info;
    state_.last.files.clear();  // not needed here
    state_.writes_at_last_save = state_.writes_at_start;
    spdlog::info("backup {} into {} done: {} bytes ({} new) in {} ms, sequence {}", info->id, dest,
                 info->size, info->new_bytes, info->duration_ms, info->sequence);
  } else {
    state_.last_error = std::string(info.status().message());
    spdlog::error("backup into {} failed: {}", dest, info.status().ToString());
  }
  return info;
}

absl::StatusOr<engine::BackupInfo> BackupService::Save(const std::string& dest) {
  if (absl::Status st = Begin(dest); !st.ok()) return st;
  return Run(dest);
}

absl::Status BackupService::StartBackground(const std::string& dest) {
  if (absl::Status st = Begin(dest); !st.ok()) return st;
  std::thread previous;
  {
    absl::MutexLock l(&mu_);
    previous = std::move(thread_);
  }
  if (previous.joinable()) previous.join();  // ended: in_progress was false
  std::thread t([this, dest] { (void)Run(dest); });
  absl::MutexLock l(&mu_);
  thread_ = std::move(t);
  return absl::OkStatus();
}

BackupService::State BackupService::state() const {
  absl::MutexLock l(&mu_);
  return state_;
}

uint64_t BackupService::ChangesSinceLastSave() const {
  uint64_t since = 0;
  {
    absl::MutexLock l(&mu_);
    since = state_.writes_at_last_save;
  }
  const uint64_t now = Writes();
  return now > since ? now - since : 0;
}

}  // namespace cairn::server
