// WriteBatch: a group of updates applied atomically by DB::Write — after a crash either
// all of a batch is present or none of it.
//
// Encoding (also the WAL record payload; see docs/formats/wal.md):
//   fixed64 first sequence | fixed32 count | count x record
//   record := 0x01 varstring key varstring value   (put)
//           | 0x00 varstring key                   (delete)
//           | 0x02 varstring key varstring (fixed64 expire-at | value)   (put with TTL)
//           | 0x03 varstring key varstring (fixed64 expire-at | blob reference)
//             (a value in a blob file: only in batches the engine writes to its WAL)
#ifndef CAIRN_ENGINE_WRITE_BATCH_H_
#define CAIRN_ENGINE_WRITE_BATCH_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace cairn::engine {

class WriteBatch {
 public:
  // Receives the records of a batch in order.
  class Handler {
   public:
    virtual ~Handler() = default;
    virtual void Put(std::string_view key, std::string_view value) = 0;
    virtual void Delete(std::string_view key) = 0;
    // A put with a time to live; by default seen as a plain put.
    virtual void PutWithExpiry(std::string_view key, std::string_view value,
                               uint64_t expire_at_unix_micros) {
      Put(key, value);
    }
    // A value the engine moved to a blob file (only in the engine's own WAL records):
    // stored is fixed64 expire-at (0: never) | blob reference. By default ignored.
    virtual void PutBlobIndex(std::string_view key, std::string_view stored) {
      (void)key;
      (void)stored;
    }
  };

  WriteBatch();

  void Put(std::string_view key, std::string_view value);
  void Delete(std::string_view key);
  // A put that reads as absent from expire_at_unix_micros (wall clock) on, and that
  // compaction removes once expired.
  void PutWithExpiry(std::string_view key, std::string_view value, uint64_t expire_at_unix_micros);
  // Appends the records of other.
  void Append(const WriteBatch& other);
  void Clear();

  uint32_t Count() const;
  // Size of the encoded batch in bytes.
  size_t ApproximateSize() const { return rep_.size(); }

  // Calls the handler for each record; Corruption if the encoding is damaged.
  absl::Status Iterate(Handler* handler) const;

 private:
  friend class WriteBatchInternal;
  std::string rep_;
  bool has_blob_index_ = false;  // a PutBlobIndex record may be in rep_
};

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_WRITE_BATCH_H_
