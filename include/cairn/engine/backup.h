// BackupEngine: full and incremental backups of a DB into a backup directory, as RocksDB's
// BackupEngine (docs/backup.md; the layout and the meta file: docs/formats/backup.md).
//
//   root/LOCK                   held while a BackupEngine is open on root
//   root/meta/<id>              one per backup; a backup exists iff its meta file does
//   root/shared/<number>_<size>_<checksum>.sst|.blob
//                               table and blob files, shared by every backup that holds them
//   root/private/<id>/          the backup's other files (MANIFEST, CURRENT)
//
// A backup is a DB::Checkpoint: every write up to the checkpoint's sequence and none after
// it. Table and blob files are named by number, size and content checksum, so a file present
// in an earlier backup is not copied again. The active blob file still grows through the
// checkpoint's hard link: a backup takes the length it found as it started (every record
// the checkpoint refers to), so once the file grew or was sealed it is another name. Every file is
// written to a temporary name, synced and renamed; the meta file is written last, so a crash leaves
// either the whole backup or none (leftovers are collected by the next Purge).
//
// Thread-compatible: one thread at a time per object. Two objects (or processes) on one
// root exclude each other through root/LOCK.
#ifndef CAIRN_ENGINE_BACKUP_H_
#define CAIRN_ENGINE_BACKUP_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cairn/engine/db.h"
#include "cairn/env.h"

namespace cairn::engine {

struct BackupFile {
  std::string name;  // its name in a DB directory ("000012.sst", "CURRENT")
  std::string path;  // its path under the backup root
  uint64_t size = 0;
  uint64_t checksum = 0;  // BackupChecksum of its contents
};

struct BackupInfo {
  uint32_t id = 0;
  int64_t timestamp_ms = 0;  // Unix ms when the checkpoint was taken
  uint64_t sequence = 0;     // the checkpoint's sequence: writes up to it are in the backup
  uint64_t size = 0;         // bytes of all its files
  uint64_t new_bytes = 0;    // bytes this backup copied (not shared with an earlier one)
  uint64_t duration_ms = 0;  // time the backup took (checkpoint and copy)
  std::vector<BackupFile> files;
};

// Called with the bytes done so far and the bytes to do in all; from the caller's thread.
using BackupProgress = std::function<void(uint64_t done, uint64_t total)>;

// The checksum of a file's contents: XXH3-64 chained over 1 MiB chunks (each chunk's hash
// seeds the next). Returns the file's size in *size.
absl::StatusOr<uint64_t> BackupChecksum(Env* env, const std::string& path, uint64_t* size);

class BackupEngine {
 public:
  // Opens the backup directory root, creating it if it does not exist and create is set.
  // FailedPrecondition if another BackupEngine holds it.
  static absl::StatusOr<std::unique_ptr<BackupEngine>> Open(Env* env, const std::string& root,
                                                            bool create);
  ~BackupEngine();

  // Takes a checkpoint of db into scratch_dir (which must not exist and must be on db's
  // file system: hard links), backs it up and removes scratch_dir. Writes continue
  // meanwhile. now_unix_ms: the backup's timestamp.
  absl::StatusOr<BackupInfo> CreateBackup(DB* db, const std::string& scratch_dir,
                                          const BackupProgress& progress = nullptr);
  // Backs up a checkpoint already taken (checkpoint_dir and its sequence); leaves it.
  absl::StatusOr<BackupInfo> CreateFromCheckpoint(const std::string& checkpoint_dir,
                                                  uint64_t sequence, int64_t timestamp_ms,
                                                  const BackupProgress& progress = nullptr);

  // Every backup, oldest first. Corruption if a meta file fails its checksum.
  absl::StatusOr<std::vector<BackupInfo>> List();
  absl::StatusOr<BackupInfo> Get(uint32_t id);

  // Reads every file of backup id and checks its size and checksum. Corruption names
  // the first file that differs; NotFound if the backup does not exist.
  absl::Status Verify(uint32_t id, const BackupProgress& progress = nullptr);

  // Writes backup id into the directory to (which must not exist, or be empty but for
  // lost+found), checking every file as it is copied. The files go to a temporary directory
  // beside to, renamed to to once all are checked and synced; into an existing to (a mount
  // point, which can be neither removed nor renamed onto), to a temporary directory inside
  // it, whose files are then renamed into to, CURRENT last (after a sync of to). A to that
  // holds no CURRENT and only files of this backup (a restore stopped among its renames)
  // is cleared and restored again. On any other error to is left as it was
  // (FailedPrecondition if it is not empty, Corruption if a file fails its check).
  absl::Status Restore(uint32_t id, const std::string& to,
                       const BackupProgress& progress = nullptr);

  // Deletes all but the newest keep backups, then every shared file no remaining backup
  // names (and leftovers of interrupted backups). Returns the ids deleted.
  absl::StatusOr<std::vector<uint32_t>> Purge(size_t keep, uint64_t* bytes_freed = nullptr);

 private:
  BackupEngine(Env* env, std::string root, std::unique_ptr<FileLock> lock);

  absl::StatusOr<std::vector<uint32_t>> Ids();
  absl::Status WriteMeta(const BackupInfo& info);

  Env* const env_;
  const std::string root_;
  std::unique_ptr<FileLock> lock_;
};

// The meta file's text for info (docs/formats/backup.md) and its parser, which checks the
// magic, version and checksum.
std::string EncodeBackupMeta(const BackupInfo& info);
absl::StatusOr<BackupInfo> DecodeBackupMeta(std::string_view text);

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_BACKUP_H_
