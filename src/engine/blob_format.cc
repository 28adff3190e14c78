#include "engine/blob_format.h"

#include <cstring>

#include "base/checksum.h"
#include "base/coding.h"
#include "base/status.h"
#include "engine/dbformat.h"

namespace cairn::engine {

void EncodeBlobRef(const BlobRef& ref, std::string* dst) {
  PutVarint64(dst, ref.file);
  PutVarint64(dst, ref.offset);
  PutVarint64(dst, ref.size);
}

absl::Status DecodeBlobRef(std::string_view src, BlobRef* ref) {
  if (!GetVarint64(&src, &ref->file) || !GetVarint64(&src, &ref->offset) ||
      !GetVarint64(&src, &ref->size) || !src.empty()) {
    return CorruptionError("bad blob reference");
  }
  return absl::OkStatus();
}

std::string BlobFileHeader() {
  std::string h(kBlobMagic, 8);
  PutFixed32(&h, kBlobFormatVersion);
  PutFixed32(&h, Checksum32(h));
  return h;
}

absl::Status CheckBlobFileHeader(std::string_view header) {
  if (header.size() < kBlobHeaderSize || header.substr(0, 8) != std::string_view(kBlobMagic, 8)) {
    return CorruptionError("not a blob file (bad magic)");
  }
  if (DecodeFixed32(header.data() + 12) != Checksum32(header.substr(0, 12))) {
    return CorruptionError("blob file header checksum mismatch");
  }
  if (DecodeFixed32(header.data() + 8) != kBlobFormatVersion) {
    return CorruptionError("unsupported blob file version");
  }
  return absl::OkStatus();
}

uint64_t BlobRecordSize(size_t key_size, uint64_t value_size) {
  const uint64_t chunks = (value_size + kBlobChunkSize - 1) / kBlobChunkSize;
  return kBlobRecordHeaderSize + key_size + value_size + 4 * chunks;
}

std::string BlobRecordHeader(std::string_view key, uint64_t value_size) {
  std::string body;
  PutFixed64(&body, value_size);
  PutFixed32(&body, static_cast<uint32_t>(key.size()));
  body.append(key.data(), key.size());
  std::string out;
  PutFixed32(&out, Checksum32(body));
  out.append(body, 0, 12);
  return out;
}

void BlobRefCounter::Add(std::string_view internal_key, std::string_view value) {
  if (internal_key.size() < 8 ||
      static_cast<uint8_t>(internal_key[internal_key.size() - 8]) != kTypeBlobIndex ||
      value.size() < 8) {
    return;
  }
  BlobRef ref;
  if (DecodeBlobRef(value.substr(8), &ref).ok()) bytes_[ref.file] += ref.size;
}

std::vector<std::pair<uint64_t, uint64_t>> BlobRefCounter::Take() {
  std::vector<std::pair<uint64_t, uint64_t>> out(bytes_.begin(), bytes_.end());
  bytes_.clear();
  return out;
}

}  // namespace cairn::engine
