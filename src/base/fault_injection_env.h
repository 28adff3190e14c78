// FaultInjectionEnv: an Env for crash tests. It records, for every file written through
// it, how many bytes were last synced and whether its directory entry was synced, and
// can then throw away everything a power failure would lose:
//
//   env.SetFilesystemActive(false);  // the "machine" stops: further writes fail
//   db.reset();                      // the process goes away
//   env.DropUnsyncedData();          // unsynced tails truncated, unsynced new files removed
//   env.SetFilesystemActive(true);   // reboot; reopen the database
//
// Renames and deletions are treated as durable when they return. cairn syncs the
// directory after each rename; a deletion that a crash undid would only leave an
// obsolete file, which recovery deletes again. Files that existed before the env saw
// them are treated as fully durable.
//
// It also injects the errors a sick disk returns while the machine keeps running:
//
//   env.InjectFaults(FaultInjectionEnv::kFailWrites, ".log");  // ENOSPC appending WALs
//   ...                                                        // the DB turns read-only
//   env.InjectFaults(0);                                       // the disk has room again
//
// Thread-safe.
#ifndef CAIRN_BASE_FAULT_INJECTION_ENV_H_
#define CAIRN_BASE_FAULT_INJECTION_ENV_H_

#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "cairn/env.h"

namespace cairn {

class FaultInjectionEnv final : public EnvWrapper {
 public:
  explicit FaultInjectionEnv(Env* base) : EnvWrapper(base) {}

  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override;
  absl::Status RemoveFile(const std::string& path) override;
  absl::Status RenameFile(const std::string& src, const std::string& dst) override;
  absl::Status TruncateFile(const std::string& path, uint64_t size) override;
  absl::Status SyncDir(const std::string& dir) override;

  absl::StatusOr<std::unique_ptr<SequentialFile>> NewSequentialFile(
      const std::string& path) override;
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) override;
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewMappedFile(const std::string& path) override;

  // Injectable errors (a bit set). Each makes the named calls fail on files whose path
  // contains the InjectFaults pattern, until InjectFaults is called again.
  enum Fault : uint32_t {
    kFailWrites = 1,    // Append and Flush fail with ENOSPC; nothing is written
    kShortWrites = 2,   // Append writes the first half of its data, then fails (ENOSPC)
    kFailSyncs = 4,     // Sync and SyncData fail with EIO; nothing becomes durable
    kFailReads = 8,     // reads of open and new files fail with EIO
    kFailCreates = 16,  // NewWritableFile fails with ENOSPC
  };
  void InjectFaults(uint32_t faults, std::string pattern = "");
  // How many calls failed because of injected faults.
  uint64_t injected_failures();
  // Internal: the injected error for a call of kind `fault` on path, or OK.
  absl::Status InjectedError(Fault fault, const std::string& path);

  // While inactive, every write, sync, create, rename and delete fails with an IO error.
  void SetFilesystemActive(bool active);
  // After this many more successful Append/Sync calls, the filesystem becomes inactive
  // (a crash at an exact point in the write path). Negative disables.
  void CrashAfterWrites(int64_t count);

  // Truncates every tracked file to its last synced size and removes files whose
  // creation was never made durable by SyncDir. Call only when no file is open for write.
  absl::Status DropUnsyncedData();

  // Number of bytes that DropUnsyncedData would discard right now.
  uint64_t UnsyncedBytes();

  // Internal: called by the files this env hands out.
  absl::Status OnWrite(const std::string& path, uint64_t new_size, bool synced);

 private:
  struct FileState {
    uint64_t size = 0;
    uint64_t synced_size = 0;
    bool entry_synced = false;  // directory entry durable
  };
  absl::Status CheckActive() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::map<std::string, FileState> files_ ABSL_GUARDED_BY(mu_);
  bool active_ ABSL_GUARDED_BY(mu_) = true;
  int64_t writes_until_crash_ ABSL_GUARDED_BY(mu_) = -1;
  uint32_t faults_ ABSL_GUARDED_BY(mu_) = 0;
  std::string fault_pattern_ ABSL_GUARDED_BY(mu_);
  uint64_t injected_failures_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace cairn

#endif  // CAIRN_BASE_FAULT_INJECTION_ENV_H_
