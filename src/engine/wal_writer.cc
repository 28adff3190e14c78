#include "engine/wal_writer.h"

#include "base/coding.h"
#include "base/status.h"
#include "engine/wal_format.h"

namespace cairn::engine::wal {

Writer::Writer(std::unique_ptr<WritableFile> dest) : dest_(std::move(dest)) {}

absl::Status Writer::AddRecord(std::string_view payload) {
  bool begin = true;
  do {
    size_t leftover = kBlockSize - block_offset_;
    if (leftover < kHeaderSize) {
      if (leftover > 0) {
        static constexpr char kZeros[kHeaderSize] = {};
        CAIRN_RETURN_IF_ERROR(dest_->Append(std::string_view(kZeros, leftover)));
        size_ += leftover;
      }
      block_offset_ = 0;
    }
    size_t avail = kBlockSize - block_offset_ - kHeaderSize;
    size_t n = std::min(avail, payload.size());
    bool end = n == payload.size();
    uint8_t type = begin && end ? kFullType : begin ? kFirstType : end ? kLastType : kMiddleType;
    CAIRN_RETURN_IF_ERROR(EmitPhysicalRecord(type, payload.substr(0, n)));
    payload.remove_prefix(n);
    begin = false;
  } while (!payload.empty());
  return absl::OkStatus();
}

absl::Status Writer::EmitPhysicalRecord(uint8_t type, std::string_view fragment) {
  char header[kHeaderSize];
  EncodeHeader(header, type, fragment);
  CAIRN_RETURN_IF_ERROR(dest_->Append(std::string_view(header, kHeaderSize)));
  CAIRN_RETURN_IF_ERROR(dest_->Append(fragment));
  block_offset_ += kHeaderSize + fragment.size();
  size_ += kHeaderSize + fragment.size();
  return absl::OkStatus();
}

}  // namespace cairn::engine::wal
