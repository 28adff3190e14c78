#include "server/active_expiry.h"

#include <algorithm>
#include <string_view>
#include <vector>

#include "server/command.h"
#include "server/tracking.h"
#include "spdlog/spdlog.h"
#include "store/local_backend.h"

namespace cairn::server {
namespace {

// Keys read from the index per scan.
constexpr size_t kBatch = 64;

absl::Mutex pass_mu;  // one pass at a time (the thread and tests)

}  // namespace

ActiveExpiry::ActiveExpiry(ServerContext* server) : server_(server) {
  thread_ = std::thread([this] { Loop(); });
}

ActiveExpiry::~ActiveExpiry() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  thread_.join();
}

uint64_t ActiveExpiry::RunOnce(ServerContext& s, int64_t now_ms, std::chrono::microseconds budget,
                               std::string* cursor) {
  absl::MutexLock pass(&pass_mu);
  const auto start = std::chrono::steady_clock::now();
  uint64_t deleted = 0;
  for (;;) {
    // From where the last batch stopped: entries dealt with leave deletion markers behind
    // until compaction, which a scan from the first entry would step over every time.
    auto due = s.backend->ScanExpired(now_ms, kBatch, *cursor);
    if (!due.ok()) {
      spdlog::warn("active expiry: reading the expiry index failed: {}", due.status().ToString());
      cursor->clear();
      break;
    }
    bool stop = false;
    for (const store::ExpiredKey& e : *due) {
      KeyLocks::Guard guard(&s.locks, e.db, std::vector<std::string_view>{e.key});
      auto d = s.backend->DeleteExpired(e, {});
      if (!d.ok() && !s.backend->BackgroundError().ok()) {
        // Read-only (MISCONF): the next pass tries this entry again.
        stop = true;
        break;
      }
      *cursor = e.index_key;
      if (!d.ok()) {
        // A damaged record: it stays (reads of it answer the corruption); the next round
        // from the first entry meets it again.
        spdlog::warn("active expiry: skipping key '{}' of db {}: {}", e.key, e.db,
                     d.status().ToString());
        continue;
      }
      if (*d) {
        deleted++;
        s.stats.expired_keys.fetch_add(1, std::memory_order_relaxed);
        if (s.tracking.any()) s.tracking.Invalidate(e.key, /*writer=*/0);
      }
    }
    (void)s.backend->FlushWrites();  // expired keys stay expired if a crash loses these
    if (stop) break;
    if (due->size() < kBatch) break;  // all due entries dealt with
    if (std::chrono::steady_clock::now() - start >= budget) break;
  }
  return deleted;
}

void ActiveExpiry::Loop() {
  // Passes resume after the last entry the previous one dealt with: new entries come
  // after it (their time is still ahead when written). Every kRestart a pass starts from
  // the first entry, for those that did not (a key written with a time already passed,
  // an entry skipped while SWAPDB ran).
  constexpr auto kRestart = std::chrono::seconds(10);
  std::string cursor;
  auto restarted = std::chrono::steady_clock::now();
  for (;;) {
    // Redis's hz, clamped as Redis clamps it; a pass may take a quarter of each period.
    const int hz = std::clamp(server_->config->Get().hz, 1, 500);
    const auto period = std::chrono::microseconds(1'000'000 / hz);
    {
      absl::MutexLock l(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stop_),
                               absl::Microseconds(static_cast<int64_t>(period.count())))) {
        return;
      }
    }
    if (!server_->active_expire.load(std::memory_order_relaxed)) continue;
    const int64_t now = server_->now_ms ? server_->now_ms() : store::SystemNowMs();
    if (std::chrono::steady_clock::now() - restarted >= kRestart) {
      cursor.clear();
      restarted = std::chrono::steady_clock::now();
    }
    RunOnce(*server_, now, period / 4, &cursor);
  }
}

}  // namespace cairn::server
