#include "engine/wal_reader.h"

#include <cstring>

#include "base/coding.h"
#include "base/status.h"
#include "engine/wal_format.h"

namespace cairn::engine::wal {

Reader::Reader(std::unique_ptr<SequentialFile> file, Reporter* reporter)
    : file_(std::move(file)), reporter_(reporter), backing_(new char[kBlockSize]) {}

void Reader::ReportDrop(size_t bytes, std::string_view reason) {
  if (reporter_ != nullptr) {
    uint64_t offset = buffer_end_offset_ - buffer_.size() - bytes;
    reporter_->Corruption(offset, bytes, CorruptionError(reason));
  }
}

bool Reader::ReadRecord(std::string_view* record, std::string* scratch) {
  scratch->clear();
  *record = {};
  bool in_fragmented_record = false;
  uint64_t prospective_offset = 0;

  while (true) {
    std::string_view fragment;
    int type = ReadPhysicalRecord(&fragment);
    // Computed after the read, which may have skipped a block's zero trailer.
    const uint64_t fragment_offset =
        buffer_end_offset_ - buffer_.size() - fragment.size() - kHeaderSize;
    switch (type) {
      case kFullType:
        if (in_fragmented_record) ReportDrop(scratch->size(), "partial record without end");
        scratch->clear();
        *record = fragment;
        last_record_offset_ = fragment_offset;
        end_of_last_record_ = buffer_end_offset_ - buffer_.size();
        return true;
      case kFirstType:
        if (in_fragmented_record) ReportDrop(scratch->size(), "partial record without end");
        prospective_offset = fragment_offset;
        scratch->assign(fragment.data(), fragment.size());
        in_fragmented_record = true;
        break;
      case kMiddleType:
        if (!in_fragmented_record) {
          ReportDrop(fragment.size(), "missing start of fragmented record");
        } else {
          scratch->append(fragment.data(), fragment.size());
        }
        break;
      case kLastType:
        if (!in_fragmented_record) {
          ReportDrop(fragment.size(), "missing start of fragmented record");
          break;
        }
        scratch->append(fragment.data(), fragment.size());
        *record = *scratch;
        last_record_offset_ = prospective_offset;
        end_of_last_record_ = buffer_end_offset_ - buffer_.size();
        return true;
      case kEof:
        if (in_fragmented_record) {
          // A record cut short by the end of the file: the tail of a crashed write.
          ReportDrop(scratch->size(), "record cut short at end of file");
          scratch->clear();
        }
        return false;
      case kBadRecord:
        if (in_fragmented_record) {
          ReportDrop(scratch->size(), "fragmented record interrupted by damage");
          in_fragmented_record = false;
          scratch->clear();
        }
        break;
      default:
        ReportDrop(fragment.size() + (in_fragmented_record ? scratch->size() : 0),
                   "unknown record type");
        in_fragmented_record = false;
        scratch->clear();
        break;
    }
  }
}

bool Reader::IntactRecordAt(std::string_view buf, size_t pos) {
  if (pos + kHeaderSize > buf.size()) return false;
  const Header h = DecodeHeader(buf.data() + pos);
  if (!h.intact || h.type == kZeroType || h.type > kMaxRecordType ||
      pos + kHeaderSize + h.length > buf.size()) {
    return false;
  }
  return RecordChecksum(h.type, buf.substr(pos + kHeaderSize, h.length)) == h.checksum;
}

size_t Reader::NextIntactRecord(std::string_view buf) {
  for (size_t pos = 1; pos + kHeaderSize <= buf.size(); pos++) {
    if (IntactRecordAt(buf, pos)) return pos;
  }
  return buf.size();
}

int Reader::ReadPhysicalRecord(std::string_view* fragment) {
  while (true) {
    if (buffer_.size() < kHeaderSize) {
      if (!buffer_.empty() && eof_) {
        // A header cut short at the end of the file.
        size_t n = buffer_.size();
        buffer_ = {};
        ReportDrop(n, "truncated record header at end of file");
        return kEof;
      }
      // Anything left is the zero trailer of a block.
      buffer_ = {};
      if (eof_) return kEof;
      absl::Status s = file_->Read(kBlockSize, &buffer_, backing_.get());
      buffer_end_offset_ += buffer_.size();
      if (!s.ok()) {
        status_ = s;
        buffer_ = {};
        eof_ = true;
        return kEof;
      }
      if (buffer_.size() < kBlockSize) eof_ = true;
      continue;
    }

    const Header h = DecodeHeader(buffer_.data());
    const size_t length = h.length;
    std::string_view payload;
    const char* problem = nullptr;
    size_t skip = 0;
    if (!h.intact) {
      // The length cannot be trusted: resume at the next intact record in this block.
      static constexpr char kZeros[kHeaderSize] = {};
      problem = std::memcmp(buffer_.data(), kZeros, kHeaderSize) == 0 ? "zero-filled region"
                                                                      : "damaged record header";
      skip = NextIntactRecord(buffer_);
    } else if (kHeaderSize + length > buffer_.size()) {
      if (eof_) {
        // An intact header promising more bytes than the file holds: a torn write.
        problem = "record cut short at end of file";
        skip = buffer_.size();
      } else {
        // Writers never let a record cross a block: damage that passed header_check.
        problem = "bad record length";
        skip = NextIntactRecord(buffer_);
      }
    } else {
      payload = std::string_view(buffer_.data() + kHeaderSize, length);
      if (RecordChecksum(h.type, payload) != h.checksum) {
        problem = "checksum mismatch";
        skip = kHeaderSize + length;  // the intact header's length is trusted
      }
    }
    if (problem != nullptr) {
      buffer_.remove_prefix(skip);
      ReportDrop(skip, problem);
      return kBadRecord;
    }
    const uint8_t type = h.type;
    buffer_.remove_prefix(kHeaderSize + length);
    *fragment = payload;  // unknown types are reported by ReadRecord
    return type;
  }
}

}  // namespace cairn::engine::wal
