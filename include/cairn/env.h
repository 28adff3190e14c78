// Env: everything the engine needs from the operating system — files, directories,
// locks, the clock and threads — behind one interface, so tests can substitute a
// fault-injecting file system (src/base/fault_injection_env.h) or a simulated clock.
//
// Thread safety: an Env is shared by all threads; implementations must be thread-safe.
// File objects are used by one thread at a time unless stated otherwise.
// Errors follow base/status.h: IO errors are kInternal ("IO error: ..."), a missing file
// is kNotFound.
#ifndef CAIRN_ENV_H_
#define CAIRN_ENV_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cairn {

// Reads a file from start to end.
class SequentialFile {
 public:
  virtual ~SequentialFile() = default;
  // Reads up to n bytes. *result points into scratch (which must hold n bytes) or into
  // memory owned by the file. A short read means end of file.
  virtual absl::Status Read(size_t n, std::string_view* result, char* scratch) = 0;
  virtual absl::Status Skip(uint64_t n) = 0;
};

// Positional reads. Thread-safe: many readers may call Read concurrently.
class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  // Reads up to n bytes at offset. *result points into scratch (which must hold n bytes)
  // or, when IsMapped(), into memory the file owns; a short read means end of file.
  virtual absl::Status Read(uint64_t offset, size_t n, std::string_view* result,
                            char* scratch) const = 0;
  // True if Read never uses scratch (it may be null) and returns views into a mapping
  // that stays valid until the file is destroyed.
  virtual bool IsMapped() const { return false; }
};

// Append-only output with a user-space buffer. Append may buffer; Flush hands the
// buffer to the OS (survives a process crash); Sync makes it durable (survives a power
// failure).
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual absl::Status Append(std::string_view data) = 0;
  virtual absl::Status Flush() = 0;
  virtual absl::Status Sync() = 0;
  // Makes durable the bytes already handed to the OS by Flush. Unlike the other calls,
  // it may run on another thread concurrently with Append and Flush (the WAL's
  // once-a-second sync does this), but not concurrently with Close or destruction.
  virtual absl::Status SyncData() = 0;
  virtual absl::Status Close() = 0;
};

// Held while a directory is open; releasing it (destruction) unlocks.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

class Env {
 public:
  virtual ~Env() = default;

  // The process-wide POSIX environment. Never deleted.
  static Env* Default();

  virtual absl::StatusOr<std::unique_ptr<SequentialFile>> NewSequentialFile(
      const std::string& path) = 0;
  virtual absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) = 0;
  // A read-only file served from a memory mapping (reads cost no system call or copy),
  // for files that are never modified while open. Falls back to NewRandomAccessFile
  // when the Env's budget of mappings is spent or the file cannot be mapped. A file
  // truncated by someone else while mapped makes reads fault (SIGBUS).
  virtual absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewMappedFile(const std::string& path) {
    return NewRandomAccessFile(path);
  }
  // Creates or truncates.
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) = 0;

  virtual bool FileExists(const std::string& path) = 0;
  // Names (not paths) of the entries in dir, without "." and "..".
  virtual absl::StatusOr<std::vector<std::string>> GetChildren(const std::string& dir) = 0;
  virtual absl::Status RemoveFile(const std::string& path) = 0;
  // Succeeds if the directory already exists.
  virtual absl::Status CreateDir(const std::string& dir) = 0;
  // Removes an empty directory.
  virtual absl::Status RemoveDir(const std::string& dir) = 0;
  virtual absl::StatusOr<uint64_t> GetFileSize(const std::string& path) = 0;
  // Atomically replaces dst.
  virtual absl::Status RenameFile(const std::string& src, const std::string& dst) = 0;
  virtual absl::Status TruncateFile(const std::string& path, uint64_t size) = 0;
  // Creates dst as a hard link to src (same file system). AlreadyExists if dst exists.
  virtual absl::Status LinkFile(const std::string& src, const std::string& dst) = 0;
  // Makes creations, deletions and renames in dir durable.
  virtual absl::Status SyncDir(const std::string& dir) = 0;

  // Takes an exclusive advisory lock (flock) on path, creating it if needed. Fails with
  // kFailedPrecondition if another process or another open in this process holds it.
  virtual absl::StatusOr<std::unique_ptr<FileLock>> LockFile(const std::string& path) = 0;

  // Microseconds since an arbitrary fixed point; monotonic.
  virtual uint64_t NowMicros() = 0;
  // Wall-clock time: microseconds since the Unix epoch (TTL expiry uses it).
  virtual uint64_t NowUnixMicros() = 0;
  virtual void SleepForMicros(uint64_t micros) = 0;

  // Starts a thread running fn; the caller joins it.
  virtual std::thread StartThread(std::function<void()> fn) { return std::thread(std::move(fn)); }
};

// An Env that forwards every call to another; subclass it to override a few calls.
class EnvWrapper : public Env {
 public:
  explicit EnvWrapper(Env* target) : target_(target) {}
  Env* target() const { return target_; }

  absl::StatusOr<std::unique_ptr<SequentialFile>> NewSequentialFile(
      const std::string& path) override {
    return target_->NewSequentialFile(path);
  }
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) override {
    return target_->NewRandomAccessFile(path);
  }
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewMappedFile(
      const std::string& path) override {
    return target_->NewMappedFile(path);
  }
  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    return target_->NewWritableFile(path);
  }
  bool FileExists(const std::string& path) override { return target_->FileExists(path); }
  absl::StatusOr<std::vector<std::string>> GetChildren(const std::string& dir) override {
    return target_->GetChildren(dir);
  }
  absl::Status RemoveFile(const std::string& path) override { return target_->RemoveFile(path); }
  absl::Status CreateDir(const std::string& dir) override { return target_->CreateDir(dir); }
  absl::Status RemoveDir(const std::string& dir) override { return target_->RemoveDir(dir); }
  absl::StatusOr<uint64_t> GetFileSize(const std::string& path) override {
    return target_->GetFileSize(path);
  }
  absl::Status RenameFile(const std::string& src, const std::string& dst) override {
    return target_->RenameFile(src, dst);
  }
  absl::Status TruncateFile(const std::string& path, uint64_t size) override {
    return target_->TruncateFile(path, size);
  }
  absl::Status LinkFile(const std::string& src, const std::string& dst) override {
    return target_->LinkFile(src, dst);
  }
  absl::Status SyncDir(const std::string& dir) override { return target_->SyncDir(dir); }
  absl::StatusOr<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    return target_->LockFile(path);
  }
  uint64_t NowMicros() override { return target_->NowMicros(); }
  uint64_t NowUnixMicros() override { return target_->NowUnixMicros(); }
  void SleepForMicros(uint64_t micros) override { target_->SleepForMicros(micros); }
  std::thread StartThread(std::function<void()> fn) override {
    return target_->StartThread(std::move(fn));
  }

 private:
  Env* target_;
};

// Reads a whole file into *data.
absl::Status ReadFileToString(Env* env, const std::string& path, std::string* data);
// Writes data to path and syncs it (used for small files such as CURRENT).
absl::Status WriteStringToFileSync(Env* env, std::string_view data, const std::string& path);

}  // namespace cairn

#endif  // CAIRN_ENV_H_
