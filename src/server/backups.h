// Backups taken by the server process (docs/backup.md): SAVE and BGSAVE into the
// configured backup-dir, and POST /v1/backup?dest=DIR (what `cairn backup create DEST`
// sends) into any directory on the server's machine. The server writes DEST itself: it
// holds the data directory's LOCK, so no other process may open it.
//
// One backup runs at a time. A backup is a checkpoint (hard links in <dir>/backup-scratch,
// removed afterwards) copied into the destination by engine::BackupEngine; writes go on
// meanwhile, and the backup holds every write up to the checkpoint's sequence.
#ifndef CAIRN_SERVER_BACKUPS_H_
#define CAIRN_SERVER_BACKUPS_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cairn/engine/backup.h"
#include "cairn/engine/db.h"
#include "store/backend.h"

namespace cairn::server {

class BackupService {
 public:
  struct State {
    bool in_progress = false;
    std::string dest;                          // of the backup in progress, or else of the last one
    int64_t started_ms = 0;                    // of the backup in progress, or else of the last one
    uint64_t done_bytes = 0, total_bytes = 0;  // of the backup in progress
    int64_t last_save_ms = 0;               // the last successful backup's end (at first: start-up)
    bool last_ok = true;                    // whether the last backup attempt succeeded
    std::string last_error;                 // its error, if it failed
    int64_t last_attempt_duration_ms = -1;  // -1: none yet
    bool have_last = false;                 // last (below) holds the last successful backup
    engine::BackupInfo last;
    uint64_t writes_at_last_save = 0;  // the engine's write count when the last successful
                                       // backup began (or at start-up)
    uint64_t writes_at_start = 0;      // of the backup in progress
  };

  // db must outlive this object; data_dir is db's directory (the scratch checkpoint goes
  // there: hard links need one file system).
  // backend (may be null): its Property("cairn.changes") counts the changes since the last
  // save; without it, the engine's sequence numbers do.
  BackupService(engine::DB* db, std::string data_dir, store::Backend* backend = nullptr);
  // Waits for a background backup to end.
  ~BackupService();

  // A backup into dest, on the caller's thread (SAVE). FailedPrecondition if one runs.
  absl::StatusOr<engine::BackupInfo> Save(const std::string& dest);
  // Starts a backup into dest on a thread of its own (BGSAVE, POST /v1/backup).
  // FailedPrecondition if one runs.
  absl::Status StartBackground(const std::string& dest);

  State state() const;
  // Changes since the last successful backup began, as Redis's rdb_changes_since_last_save:
  // entries written for commands (a key, or a collection's member: an HSET of a new field
  // counts its field and its key's metadata).
  uint64_t ChangesSinceLastSave() const;

 private:
  absl::Status Begin(const std::string& dest);
  absl::StatusOr<engine::BackupInfo> Run(const std::string& dest);
  uint64_t Writes() const;

  engine::DB* const db_;
  const std::string data_dir_;
  store::Backend* const backend_;

  mutable absl::Mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_);
  std::thread thread_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cairn::server

#endif  // CAIRN_SERVER_BACKUPS_H_
