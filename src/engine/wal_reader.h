// Reads records written by wal::Writer, verifying every checksum.
//
// A damaged record is never returned. The reader skips it, tells the Reporter how many
// bytes were dropped and why, and goes on to the next intact record, so the caller can
// tell a torn tail (damage with nothing intact after it) from damage in the middle.
// A record whose header is intact is skipped by its length; only a damaged header makes
// the reader scan byte by byte, and that scan can land on a well-formed record embedded
// in the damaged record's payload. Such a record only ever comes after a reported
// corruption, and cairn's recovery never applies records that follow damage (it fails
// Open, or stops there in point-in-time mode).
// Not thread-safe.
#ifndef CAIRN_ENGINE_WAL_READER_H_
#define CAIRN_ENGINE_WAL_READER_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "cairn/env.h"

namespace cairn::engine::wal {

class Reader {
 public:
  class Reporter {
   public:
    virtual ~Reporter() = default;
    // `bytes` were dropped at about file offset `offset` because of `reason`.
    virtual void Corruption(uint64_t offset, size_t bytes, const absl::Status& reason) = 0;
  };

  // reporter may be nullptr; it must outlive the reader.
  Reader(std::unique_ptr<SequentialFile> file, Reporter* reporter);
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // Reads the next record into *record (valid until the next call; may point into
  // *scratch). Returns false at end of input or on an I/O error (see status()).
  bool ReadRecord(std::string_view* record, std::string* scratch);

  // File offset of the first byte of the last record returned.
  uint64_t last_record_offset() const { return last_record_offset_; }
  // Offset just past the last complete record returned: where a torn tail begins.
  uint64_t end_of_last_record() const { return end_of_last_record_; }
  // An I/O error from the file, if any (damage is reported, not returned here).
  absl::Status status() const { return status_; }

 private:
  enum : int { kEof = 256, kBadRecord = 257 };
  // Returns a record type or kEof / kBadRecord.
  int ReadPhysicalRecord(std::string_view* fragment);
  void ReportDrop(size_t bytes, std::string_view reason);
  // Whether a whole record (intact header, known type, matching checksum) starts at pos.
  static bool IntactRecordAt(std::string_view buf, size_t pos);
  // Offset (>= 1) of the first intact record in buf after its start, or buf.size().
  static size_t NextIntactRecord(std::string_view buf);

  std::unique_ptr<SequentialFile> file_;
  Reporter* const reporter_;
  std::unique_ptr<char[]> backing_;
  std::string_view buffer_;
  bool eof_ = false;
  uint64_t buffer_end_offset_ = 0;  // file offset just past buffer_
  uint64_t last_record_offset_ = 0;
  uint64_t end_of_last_record_ = 0;
  absl::Status status_;
};

// A Reporter that remembers the first damage and counts the bytes dropped.
struct DamageSummary final : Reader::Reporter {
  void Corruption(uint64_t offset, size_t bytes, const absl::Status& reason) override {
    if (!damaged) {
      first_offset = offset;
      first_reason = std::string(reason.message());
    }
    damaged = true;
    dropped_bytes += bytes;
  }
  bool damaged = false;
  uint64_t first_offset = 0;
  uint64_t dropped_bytes = 0;
  std::string first_reason;
};

}  // namespace cairn::engine::wal

#endif  // CAIRN_ENGINE_WAL_READER_H_
