// Appends checksummed records to a WAL or MANIFEST file (format: wal_format.h).
// Not thread-safe: the DB's group-commit leader is the only writer.
#ifndef CAIRN_ENGINE_WAL_WRITER_H_
#define CAIRN_ENGINE_WAL_WRITER_H_

#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "cairn/env.h"

namespace cairn::engine::wal {

class Writer {
 public:
  explicit Writer(std::unique_ptr<WritableFile> dest);
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Appends one record. The bytes may sit in the file's user-space buffer until
  // file()->Flush() or Sync().
  absl::Status AddRecord(std::string_view payload);

  WritableFile* file() { return dest_.get(); }
  uint64_t size() const { return size_; }

 private:
  absl::Status EmitPhysicalRecord(uint8_t type, std::string_view fragment);

  std::unique_ptr<WritableFile> dest_;
  size_t block_offset_ = 0;  // offset within the current block
  uint64_t size_ = 0;
};

}  // namespace cairn::engine::wal

#endif  // CAIRN_ENGINE_WAL_WRITER_H_
