#include "base/fault_injection_env.h"

#include <atomic>
#include <cerrno>

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
    CAIRN_RETURN_IF_ERROR(env_->InjectedError(FaultInjectionEnv::kFailWrites, path_));
    if (absl::Status s = env_->InjectedError(FaultInjectionEnv::kShortWrites, path_); !s.ok()) {
      const std::string_view part = data.substr(0, data.size() / 2);
      if (env_->OnWrite(path_, size_ + part.size(), false).ok() && base_->Append(part).ok()) {
        size_ += part.size();
      }
      return s;
    }
    CAIRN_RETURN_IF_ERROR(env_->OnWrite(path_, size_ + data.size(), false));
    CAIRN_RETURN_IF_ERROR(base_->Append(data));
    size_ += data.size();
    return absl::OkStatus();
  }
  absl::Status Flush() override {
    // Handing buffered bytes to the OS is a write: it fails while the filesystem is down.
    CAIRN_RETURN_IF_ERROR(env_->InjectedError(FaultInjectionEnv::kFailWrites, path_));
    CAIRN_RETURN_IF_ERROR(env_->OnWrite(path_, size_, false));
    CAIRN_RETURN_IF_ERROR(base_->Flush());
    flushed_.store(size_, std::memory_order_release);
    return absl::OkStatus();
  }
  absl::Status SyncData() override {
    CAIRN_RETURN_IF_ERROR(env_->InjectedError(FaultInjectionEnv::kFailSyncs, path_));
    return env_->OnWrite(path_, flushed_.load(std::memory_order_acquire), true);
  }
  absl::Status Sync() override {
    // A sync writes the buffered bytes first: that fails on a full disk too.
    CAIRN_RETURN_IF_ERROR(env_->InjectedError(FaultInjectionEnv::kFailWrites, path_));
    CAIRN_RETURN_IF_ERROR(env_->InjectedError(FaultInjectionEnv::kFailSyncs, path_));
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

// Read wrappers: every read first asks the env whether reads of this file fail now.
class FaultSequentialFile final : public SequentialFile {
 public:
  FaultSequentialFile(FaultInjectionEnv* env, std::string path,
                      std::unique_ptr<SequentialFile> base)
      : env_(env), path_(std::move(path)), base_(std::move(base)) {}
  absl::Status Read(size_t n, std::string_view* result, char* scratch) override {
    CAIRN_RETURN_IF_ERROR(env_->InjectedError(FaultInjectionEnv::kFailReads, path_));
    return base_->Read(n, result, scratch);
  }
  absl::Status Skip(uint64_t n) override { return base_->Skip(n); }

 private:
  FaultInjectionEnv* const env_;
  const std::string path_;
  std::unique_ptr<SequentialFile> base_;
};

class FaultRandomAccessFile final : public RandomAccessFile {
 public:
  FaultRandomAccessFile(FaultInjectionEnv* env, std::string path,
                        std::unique_ptr<RandomAccessFile> base)
      : env_(env), path_(std::move(path)), base_(std::move(base)) {}
  absl::Status Read(uint64_t offset, size_t n, std::string_view* result,
                    char* scratch) const override {
    CAIRN_RETURN_IF_ERROR(env_->InjectedError(FaultInjectionEnv::kFailReads, path_));
    return base_->Read(offset, n, result, scratch);
  }
  bool IsMapped() const override { return base_->IsMapped(); }

 private:
  FaultInjectionEnv* const env_;
  const std::string path_;
  std::unique_ptr<RandomAccessFile> base_;
};

}  // namespace

void FaultInjectionEnv::InjectFaults(uint32_t faults, std::string pattern) {
  absl::MutexLock l(&mu_);
  faults_ = faults;
  fault_pattern_ = std::move(pattern);
}

uint64_t FaultInjectionEnv::injected_failures() {
  absl::MutexLock l(&mu_);
  return injected_failures_;
}

absl::Status FaultInjectionEnv::InjectedError(Fault fault, const std::string& path) {
  absl::MutexLock l(&mu_);
  if ((faults_ & fault) == 0 || path.find(fault_pattern_) == std::string::npos) {
    return absl::OkStatus();
  }
  injected_failures_++;
  const bool no_space = fault == kFailWrites || fault == kShortWrites || fault == kFailCreates;
  return IOError(path, no_space ? ENOSPC : EIO);
}

absl::StatusOr<std::unique_ptr<SequentialFile>> FaultInjectionEnv::NewSequentialFile(
    const std::string& path) {
  CAIRN_RETURN_IF_ERROR(InjectedError(kFailReads, path));
  CAIRN_ASSIGN_OR_RETURN(auto base, target()->NewSequentialFile(path));
  return std::make_unique<FaultSequentialFile>(this, path, std::move(base));
}

absl::StatusOr<std::unique_ptr<RandomAccessFile>> FaultInjectionEnv::NewRandomAccessFile(
    const std::string& path) {
  CAIRN_RETURN_IF_ERROR(InjectedError(kFailReads, path));
  CAIRN_ASSIGN_OR_RETURN(auto base, target()->NewRandomAccessFile(path));
  return std::make_unique<FaultRandomAccessFile>(this, path, std::move(base));
}

absl::StatusOr<std::unique_ptr<RandomAccessFile>> FaultInjectionEnv::NewMappedFile(
    const std::string& path) {
  CAIRN_RETURN_IF_ERROR(InjectedError(kFailReads, path));
  CAIRN_ASSIGN_OR_RETURN(auto base, target()->NewMappedFile(path));
  return std::make_unique<FaultRandomAccessFile>(this, path, std::move(base));
}

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
  CAIRN_RETURN_IF_ERROR(InjectedError(kFailCreates, path));
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
