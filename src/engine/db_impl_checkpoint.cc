// Checkpoint: a consistent, openable copy made of hard links and a fresh MANIFEST.
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "engine/db_impl.h"
#include "engine/filename.h"

namespace cairn::engine {

absl::StatusOr<uint64_t> DBImpl::Checkpoint(const std::string& dir) {
  try {
    if (env_->FileExists(dir)) {
      return absl::InvalidArgumentError(absl::StrCat("checkpoint directory ", dir, " exists"));
    }
    CAIRN_RETURN_IF_ERROR(env_->CreateDir(dir));
    // Everything acknowledged so far goes into tables; later writes stay out.
    CAIRN_RETURN_IF_ERROR(Flush());
    absl::MutexLock l(&mu_);
    // While mu_ is held no table of the current version can be deleted.
    std::shared_ptr<const Version> v = versions_->current();
    // The tables hold every write before the oldest one still in a memtable (sequence
    // numbers are assigned in order, and a memtable switch falls between write groups).
    // Not the newest sequence found in the tables: compaction writes bottommost entries
    // with sequence 0.
    SequenceNumber last = versions_->LastSequence();
    if (imm_ != nullptr && imm_->first_sequence() != 0) {
      last = imm_->first_sequence() - 1;
    } else if (mem_->first_sequence() != 0) {
      last = mem_->first_sequence() - 1;
    }
    std::set<uint64_t> blobs;
    for (int level = 0; level < kNumLevels; level++) {
      for (const auto& f : v->files(level)) {
        CAIRN_RETURN_IF_ERROR(
            env_->LinkFile(TableFileName(dir_, f->number), TableFileName(dir, f->number)));
        for (const auto& ref : f->blob_refs) blobs.insert(ref.first);
      }
    }
    // The blob files the tables refer to (synced by the flush above). A link to the
    // active file shares its later appends too: records nothing in the copy refers to.
    for (uint64_t number : blobs) {
      CAIRN_RETURN_IF_ERROR(env_->LinkFile(BlobFileName(dir_, number), BlobFileName(dir, number)));
    }
    CAIRN_RETURN_IF_ERROR(versions_->WriteCheckpointManifest(dir, *v, last));
    CAIRN_RETURN_IF_ERROR(env_->SyncDir(dir));
    return last;
  } catch (const std::exception& e) {
    return ExceptionToStatus(e);
  }
}

}  // namespace cairn::engine
