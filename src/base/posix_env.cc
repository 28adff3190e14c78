// POSIX implementation of Env.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "cairn/env.h"

namespace cairn {
namespace {

class PosixSequentialFile final : public SequentialFile {
 public:
  PosixSequentialFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixSequentialFile() override { ::close(fd_); }

  absl::Status Read(size_t n, std::string_view* result, char* scratch) override {
    size_t got = 0;
    while (got < n) {
      ssize_t r = ::read(fd_, scratch + got, n - got);
      if (r < 0) {
        if (errno == EINTR) continue;
        return IOError(path_, errno);
      }
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    *result = std::string_view(scratch, got);
    return absl::OkStatus();
  }

  absl::Status Skip(uint64_t n) override {
    if (::lseek(fd_, static_cast<off_t>(n), SEEK_CUR) < 0) return IOError(path_, errno);
    return absl::OkStatus();
  }

 private:
  const std::string path_;
  const int fd_;
};

class PosixRandomAccessFile final : public RandomAccessFile {
 public:
  PosixRandomAccessFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixRandomAccessFile() override { ::close(fd_); }

  absl::Status Read(uint64_t offset, size_t n, std::string_view* result,
                    char* scratch) const override {
    size_t got = 0;
    while (got < n) {
      ssize_t r = ::pread(fd_, scratch + got, n - got, static_cast<off_t>(offset + got));
      if (r < 0) {
        if (errno == EINTR) continue;
        return IOError(path_, errno);
      }
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    *result = std::string_view(scratch, got);
    return absl::OkStatus();
  }

 private:
  const std::string path_;
  const int fd_;
};

// Bounds the address space spent on mappings (LevelDB's choice on 64-bit hosts: 1000
// files; at the default 64 MiB table size that is 64 GiB of mapped tables).
class MmapBudget {
 public:
  static constexpr int kMaxMappedFiles = 1000;
  bool Acquire() {
    int n = available_.load(std::memory_order_relaxed);
    while (n > 0) {
      if (available_.compare_exchange_weak(n, n - 1, std::memory_order_relaxed)) return true;
    }
    return false;
  }
  void Release() { available_.fetch_add(1, std::memory_order_relaxed); }

 private:
  std::atomic<int> available_{kMaxMappedFiles};
};

class PosixMappedFile final : public RandomAccessFile {
 public:
  PosixMappedFile(const char* base, size_t length, MmapBudget* budget)
      : base_(base), length_(length), budget_(budget) {}
  ~PosixMappedFile() override {
    ::munmap(const_cast<char*>(base_), length_);
    budget_->Release();
  }

  absl::Status Read(uint64_t offset, size_t n, std::string_view* result,
                    char* /*scratch*/) const override {
    if (offset >= length_) {
      *result = {};
    } else {
      *result = std::string_view(base_ + offset, std::min<uint64_t>(n, length_ - offset));
    }
    return absl::OkStatus();
  }
  bool IsMapped() const override { return true; }

 private:
  const char* const base_;
  const size_t length_;
  MmapBudget* const budget_;
};

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {
    buf_.reserve(kBufferSize);
  }
  ~PosixWritableFile() override {
    if (fd_ >= 0) (void)Close();
  }

  absl::Status Append(std::string_view data) override {
    if (buf_.size() + data.size() <= kBufferSize) {
      buf_.append(data);
      return absl::OkStatus();
    }
    CAIRN_RETURN_IF_ERROR(Flush());
    if (data.size() <= kBufferSize) {
      buf_.append(data);
      return absl::OkStatus();
    }
    return WriteRaw(data);
  }

  absl::Status Flush() override {
    absl::Status s = WriteRaw(buf_);
    buf_.clear();
    return s;
  }

  absl::Status Sync() override {
    CAIRN_RETURN_IF_ERROR(Flush());
    if (::fdatasync(fd_) != 0) return IOError(path_, errno);
    return absl::OkStatus();
  }

  absl::Status SyncData() override {
    if (::fdatasync(fd_) != 0) return IOError(path_, errno);
    return absl::OkStatus();
  }

  absl::Status Close() override {
    absl::Status s = Flush();
    if (::close(fd_) != 0 && s.ok()) s = IOError(path_, errno);
    fd_ = -1;
    return s;
  }

 private:
  static constexpr size_t kBufferSize = 64 * 1024;

  absl::Status WriteRaw(std::string_view data) {
    while (!data.empty()) {
      ssize_t r = ::write(fd_, data.data(), data.size());
      if (r < 0) {
        if (errno == EINTR) continue;
        return IOError(path_, errno);
      }
      data.remove_prefix(static_cast<size_t>(r));
    }
    return absl::OkStatus();
  }

  const std::string path_;
  int fd_;
  std::string buf_;
};

class PosixFileLock final : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}
  ~PosixFileLock() override {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }

 private:
  const int fd_;
};

class PosixEnv final : public Env {
 public:
  absl::StatusOr<std::unique_ptr<SequentialFile>> NewSequentialFile(
      const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return IOError(path, errno);
    return std::make_unique<PosixSequentialFile>(path, fd);
  }

  absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return IOError(path, errno);
    return std::make_unique<PosixRandomAccessFile>(path, fd);
  }

  absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewMappedFile(
      const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return IOError(path, errno);
    struct stat st;
    if (::fstat(fd, &st) != 0 || st.st_size <= 0 || !mmap_budget_.Acquire()) {
      return std::make_unique<PosixRandomAccessFile>(path, fd);
    }
    const size_t length = static_cast<size_t>(st.st_size);
    void* base = ::mmap(nullptr, length, PROT_READ, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
      mmap_budget_.Release();
      return std::make_unique<PosixRandomAccessFile>(path, fd);
    }
    ::close(fd);  // the mapping keeps the file open
    return std::make_unique<PosixMappedFile>(static_cast<const char*>(base), length, &mmap_budget_);
  }

  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return IOError(path, errno);
    return std::make_unique<PosixWritableFile>(path, fd);
  }

  bool FileExists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }

  absl::StatusOr<std::vector<std::string>> GetChildren(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return IOError(dir, errno);
    std::vector<std::string> result;
    while (struct dirent* e = ::readdir(d)) {
      std::string_view name(e->d_name);
      if (name != "." && name != "..") result.emplace_back(name);
    }
    ::closedir(d);
    return result;
  }

  absl::Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return IOError(path, errno);
    return absl::OkStatus();
  }

  absl::Status CreateDir(const std::string& dir) override {
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return IOError(dir, errno);
    return absl::OkStatus();
  }

  absl::Status RemoveDir(const std::string& dir) override {
    if (::rmdir(dir.c_str()) != 0) return IOError(dir, errno);
    return absl::OkStatus();
  }

  absl::StatusOr<uint64_t> GetFileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return IOError(path, errno);
    return static_cast<uint64_t>(st.st_size);
  }

  absl::Status RenameFile(const std::string& src, const std::string& dst) override {
    if (::rename(src.c_str(), dst.c_str()) != 0) return IOError(src, errno);
    return absl::OkStatus();
  }

  absl::Status TruncateFile(const std::string& path, uint64_t size) override {
    if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) return IOError(path, errno);
    return absl::OkStatus();
  }

  absl::Status LinkFile(const std::string& src, const std::string& dst) override {
    if (::link(src.c_str(), dst.c_str()) != 0) return IOError(dst, errno);
    return absl::OkStatus();
  }

  absl::Status SyncDir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return IOError(dir, errno);
    absl::Status s;
    if (::fsync(fd) != 0) s = IOError(dir, errno);
    ::close(fd);
    return s;
  }

  absl::StatusOr<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return IOError(path, errno);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) {
        return absl::FailedPreconditionError(absl::StrCat(
            "lock ", path, " is held: the database is already open in another process"));
      }
      return IOError(path, err);
    }
    return std::make_unique<PosixFileLock>(fd);
  }

  uint64_t NowMicros() override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  uint64_t NowUnixMicros() override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  void SleepForMicros(uint64_t micros) override {
    std::this_thread::sleep_for(std::chrono::microseconds(micros));
  }

 private:
  MmapBudget mmap_budget_;
};

}  // namespace

Env* Env::Default() {
  static PosixEnv* env = new PosixEnv();
  return env;
}

absl::Status ReadFileToString(Env* env, const std::string& path, std::string* data) {
  data->clear();
  CAIRN_ASSIGN_OR_RETURN(auto file, env->NewSequentialFile(path));
  constexpr size_t kChunk = 8192;
  auto scratch = std::make_unique<char[]>(kChunk);
  while (true) {
    std::string_view got;
    CAIRN_RETURN_IF_ERROR(file->Read(kChunk, &got, scratch.get()));
    if (got.empty()) return absl::OkStatus();
    data->append(got);
  }
}

absl::Status WriteStringToFileSync(Env* env, std::string_view data, const std::string& path) {
  CAIRN_ASSIGN_OR_RETURN(auto file, env->NewWritableFile(path));
  absl::Status s = file->Append(data);
  if (s.ok()) s = file->Sync();
  absl::Status c = file->Close();
  if (s.ok()) s = c;
  if (!s.ok()) (void)env->RemoveFile(path);
  return s;
}

}  // namespace cairn
