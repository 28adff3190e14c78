#include "base/fault_injection_env.h"

#include <atomic>

#include "base/status.h"

namespace cairn {
namespace {

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

class FaultFile final : public WritableFile {
 public:
  FaultFile(FaultInjectionEnv* env, std::string path, std::unique_ptr<WritableFile> base)
      : env_(env), path_(std::move(path)), base_(std::move(base)) {}

  absl::Status Append(std::string_view data) override {
    CAIRN_RETURN_IF_ERROR(env_->OnWrite(path_, size_ + data.size(), false));
    CAIRN_RETURN_IF_ERROR(base_->Append(data));
    size_ += data.size();
    return absl::OkStatus();
  }
  absl::Status Flush() override {
    // Handing buffered bytes to the OS is a write: it fails while the filesystem is down.
    CAIRN_RETURN_IF_ERROR(env_->OnWrite(path_, size_, false));
    CAIRN_RETURN_IF_ERROR(base_->Flush());
    flushed_.store(size_, std::memory_order_release);
    return absl::OkStatus();
  }
  absl::Status SyncData() override {
    return env_->OnWrite(path_, flushed_.load(std::memory_order_acquire), true);
  }
  absl::Status Sync() override {
    CAIRN_RETURN_IF_ERROR(env_->OnWrite(path_, size_, true));
    // The base file is flushed (not fsynced): a simulated crash decides what survives.
    CAIRN_RETURN_IF_ERROR(base_->Flush());
    flushed_.store(size_, std::memory_order_release);
    return absl::OkStatus();
  }
  absl::Status Close() override { return base_->Close(); }

 private:
  FaultInjectionEnv* const env_;
  const std::string path_;
  std::unique_ptr<WritableFile> base_;
  uint64_t size_ = 0;                 // written by the file's writer thread only
  std::atomic<uint64_t> flushed_{0};  // read by SyncData from any thread
};

}  // namespace

absl::Status FaultInjectionEnv::CheckActive() {
  if (!active_) return IOError("filesystem inactive (simulated crash)");
  return absl::OkStatus();
}

absl::Status FaultInjectionEnv::OnWrite(const std::string& path, uint64_t new_size, bool synced) {
  absl::MutexLock l(&mu_);
  CAIRN_RETURN_IF_ERROR(CheckActive());
  if (writes_until_crash_ >= 0) {
    if (writes_until_crash_ == 0) {
      active_ = false;
      return IOError("filesystem inactive (simulated crash)");
    }
    writes_until_crash_--;
  }
  FileState& st = files_[path];
  if (synced) {
    st.synced_size = std::max(st.synced_size, new_size);
  } else {
    st.size = new_size;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<WritableFile>> FaultInjectionEnv::NewWritableFile(
    const std::string& path) {
  {
    absl::MutexLock l(&mu_);
    CAIRN_RETURN_IF_ERROR(CheckActive());
  }
  bool existed = target()->FileExists(path);
  CAIRN_ASSIGN_OR_RETURN(auto base, target()->NewWritableFile(path));
  {
    absl::MutexLock l(&mu_);
    FileState& st = files_[path];
    st = FileState{};
    st.entry_synced = existed;
  }
  return std::make_unique<FaultFile>(this, path, std::move(base));
}

absl::Status FaultInjectionEnv::RemoveFile(const std::string& path) {
  {
    absl::MutexLock l(&mu_);
    CAIRN_RETURN_IF_ERROR(CheckActive());
    files_.erase(path);
  }
  return target()->RemoveFile(path);
}

absl::Status FaultInjectionEnv::RenameFile(const std::string& src, const std::string& dst) {
  {
    absl::MutexLock l(&mu_);
    CAIRN_RETURN_IF_ERROR(CheckActive());
  }
  CAIRN_RETURN_IF_ERROR(target()->RenameFile(src, dst));
  absl::MutexLock l(&mu_);
  auto it = files_.find(src);
  if (it != files_.end()) {
    FileState st = it->second;
    st.entry_synced = true;  // see the header: renames count as durable
    files_.erase(it);
    files_[dst] = st;
  } else {
    files_.erase(dst);
  }
  return absl::OkStatus();
}

absl::Status FaultInjectionEnv::TruncateFile(const std::string& path, uint64_t size) {
  {
    absl::MutexLock l(&mu_);
    CAIRN_RETURN_IF_ERROR(CheckActive());
    auto it = files_.find(path);
    if (it != files_.end()) {
      it->second.size = size;
      if (it->second.synced_size > size) it->second.synced_size = size;
    }
  }
  return target()->TruncateFile(path, size);
}

absl::Status FaultInjectionEnv::SyncDir(const std::string& dir) {
  absl::MutexLock l(&mu_);
  CAIRN_RETURN_IF_ERROR(CheckActive());
  for (auto& [path, st] : files_) {
    if (DirOf(path) == dir) st.entry_synced = true;
  }
  return absl::OkStatus();
}

void FaultInjectionEnv::SetFilesystemActive(bool active) {
  absl::MutexLock l(&mu_);
  active_ = active;
  if (active) writes_until_crash_ = -1;
}

void FaultInjectionEnv::CrashAfterWrites(int64_t count) {
  absl::MutexLock l(&mu_);
  writes_until_crash_ = count;
}

uint64_t FaultInjectionEnv::UnsyncedBytes() {
  absl::MutexLock l(&mu_);
  uint64_t total = 0;
  for (const auto& [path, st] : files_) {
    total += st.entry_synced ? st.size - st.synced_size : st.size;
  }
  return total;
}

absl::Status FaultInjectionEnv::DropUnsyncedData() {
  absl::MutexLock l(&mu_);
  for (auto it = files_.begin(); it != files_.end();) {
    const auto& [path, st] = *it;
    if (!st.entry_synced) {
      absl::Status s = target()->RemoveFile(path);
      if (!s.ok() && !absl::IsNotFound(s)) return s;
      it = files_.erase(it);
      continue;
    }
    absl::Status s = target()->TruncateFile(path, st.synced_size);
    if (absl::IsNotFound(s)) {  // deleted behind the env's back (e.g. a test's cleanup)
      it = files_.erase(it);
      continue;
    }
    CAIRN_RETURN_IF_ERROR(s);
    it->second.size = st.synced_size;
    ++it;
  }
  return absl::OkStatus();
}

}  // namespace cairn
