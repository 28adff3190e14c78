#include "engine/wal_reader.h"

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
  const char* header = buf.data() + pos;
  size_t length = static_cast<uint8_t>(header[4]) | (static_cast<uint8_t>(header[5]) << 8);
  uint8_t type = static_cast<uint8_t>(header[6]);
  if (type == kZeroType || type > kMaxRecordType || pos + kHeaderSize + length > buf.size()) {
    return false;
  }
  return RecordChecksum(type, buf.substr(pos + kHeaderSize, length)) == DecodeFixed32(header);
}

size_t Reader::ResyncPoint(std::string_view buf, size_t declared_end) {
  // Trust the damaged record's length when an intact record (or the block's end) follows
  // it: then the scan never looks inside its payload, which may hold any bytes, even a
  // well-formed record (a value can contain a copy of a WAL).
  if (declared_end <= buf.size() &&
      (declared_end + kHeaderSize > buf.size() || IntactRecordAt(buf, declared_end))) {
    return declared_end;
  }
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

    const char* header = buffer_.data();
    uint32_t expected = DecodeFixed32(header);
    size_t length = static_cast<uint8_t>(header[4]) | (static_cast<uint8_t>(header[5]) << 8);
    uint8_t type = static_cast<uint8_t>(header[6]);
    std::string_view payload;
    const char* problem = nullptr;
    if (kHeaderSize + length > buffer_.size()) {
      problem = eof_ ? "record cut short at end of file" : "bad record length";
    } else if (type == kZeroType && length == 0 && expected == 0) {
      problem = "zero-filled region";  // a crash can leave space that was never written
    } else {
      payload = std::string_view(header + kHeaderSize, length);
      if (RecordChecksum(type, payload) != expected) problem = "checksum mismatch";
    }
    if (problem != nullptr) {
      // A record cut short by the end of the file is a torn write: nothing after it.
      // Otherwise skip to the next intact record in this block, so the caller can tell
      // damage followed by intact records from a torn tail.
      size_t skip = kHeaderSize + length > buffer_.size() && eof_
                        ? buffer_.size()
                        : ResyncPoint(buffer_, kHeaderSize + length);
      buffer_.remove_prefix(skip);
      ReportDrop(skip, problem);
      return kBadRecord;
    }
    buffer_.remove_prefix(kHeaderSize + length);
    *fragment = payload;  // unknown types are reported by ReadRecord
    return type;
  }
}

}  // namespace cairn::engine::wal
