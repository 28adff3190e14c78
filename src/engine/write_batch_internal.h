// Engine-internal access to a WriteBatch's encoding.
#ifndef CAIRN_ENGINE_WRITE_BATCH_INTERNAL_H_
#define CAIRN_ENGINE_WRITE_BATCH_INTERNAL_H_

#include "absl/status/status.h"
#include "cairn/engine/write_batch.h"
#include "engine/dbformat.h"

namespace cairn::engine {

class MemTable;

class WriteBatchInternal {
 public:
  static constexpr size_t kHeaderSize = 12;  // fixed64 sequence + fixed32 count

  static SequenceNumber Sequence(const WriteBatch& b);
  static void SetSequence(WriteBatch* b, SequenceNumber seq);
  static void SetCount(WriteBatch* b, uint32_t n);
  static std::string_view Contents(const WriteBatch& b) { return b.rep_; }
  // Replaces the batch with an encoded one (from the WAL); Corruption if too short.
  static absl::Status SetContents(WriteBatch* b, std::string_view contents);
  // Appends a put of a value kept in a blob file (stored: fixed64 expire-at | reference).
  static void PutBlobIndex(WriteBatch* b, std::string_view key, std::string_view stored);
  // False only if b holds no PutBlobIndex record (true for any batch set by SetContents).
  static bool HasBlobIndex(const WriteBatch& b) { return b.has_blob_index_; }
  // Inserts every record into mem with consecutive sequence numbers from Sequence(b).
  static absl::Status InsertInto(const WriteBatch& b, MemTable* mem);
};

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_WRITE_BATCH_INTERNAL_H_
