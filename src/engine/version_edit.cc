#include "engine/version_edit.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/coding.h"
#include "base/status.h"

namespace cairn::engine {
namespace {
// Tags of the fields of an encoded edit. Never renumber: they are on disk.
enum Tag : uint32_t {
  kLogNumber = 1,
  kNextFileNumber = 2,
  kLastSequence = 3,
  kDeletedFile = 4,
  kNewFile = 5,
  // Follows the kNewFile of a table whose entries refer to blob files: level, table
  // number, count, then count x (blob file number, bytes referred to).
  kNewFileBlobRefs = 6,
};
}  // namespace

void VersionEdit::EncodeTo(std::string* dst) const {
  if (log_number_) {
    PutVarint32(dst, kLogNumber);
    PutVarint64(dst, *log_number_);
  }
  if (next_file_number_) {
    PutVarint32(dst, kNextFileNumber);
    PutVarint64(dst, *next_file_number_);
  }
  if (last_sequence_) {
    PutVarint32(dst, kLastSequence);
    PutVarint64(dst, *last_sequence_);
  }
  for (const auto& [level, number] : deleted_files_) {
    PutVarint32(dst, kDeletedFile);
    PutVarint32(dst, level);
    PutVarint64(dst, number);
  }
  for (const auto& [level, f] : new_files_) {
    PutVarint32(dst, kNewFile);
    PutVarint32(dst, level);
    PutVarint64(dst, f.number);
    PutVarint64(dst, f.file_size);
    PutLengthPrefixed(dst, f.smallest);
    PutLengthPrefixed(dst, f.largest);
    PutVarint64(dst, f.smallest_seq);
    PutVarint64(dst, f.largest_seq);
    if (!f.blob_refs.empty()) {
      PutVarint32(dst, kNewFileBlobRefs);
      PutVarint32(dst, level);
      PutVarint64(dst, f.number);
      PutVarint32(dst, static_cast<uint32_t>(f.blob_refs.size()));
      for (const auto& [blob, bytes] : f.blob_refs) {
        PutVarint64(dst, blob);
        PutVarint64(dst, bytes);
      }
    }
  }
}

absl::Status VersionEdit::DecodeFrom(std::string_view src) {
  *this = VersionEdit();
  auto get_level = [&](int* level) {
    uint32_t v;
    if (!GetVarint32(&src, &v) || v >= kNumLevels) return false;
    *level = static_cast<int>(v);
    return true;
  };
  while (!src.empty()) {
    uint32_t tag;
    if (!GetVarint32(&src, &tag)) return CorruptionError("version edit: bad tag");
    uint64_t v;
    int level;
    switch (tag) {
      case kLogNumber:
        if (!GetVarint64(&src, &v)) return CorruptionError("version edit: bad log number");
        log_number_ = v;
        break;
      case kNextFileNumber:
        if (!GetVarint64(&src, &v)) return CorruptionError("version edit: bad next file number");
        next_file_number_ = v;
        break;
      case kLastSequence:
        if (!GetVarint64(&src, &v)) return CorruptionError("version edit: bad last sequence");
        last_sequence_ = v;
        break;
      case kDeletedFile:
        if (!get_level(&level) || !GetVarint64(&src, &v)) {
          return CorruptionError("version edit: bad deleted file");
        }
        deleted_files_.emplace(level, v);
        break;
      case kNewFile: {
        FileMetaData f;
        std::string_view smallest, largest;
        if (!get_level(&level) || !GetVarint64(&src, &f.number) ||
            !GetVarint64(&src, &f.file_size) || !GetLengthPrefixed(&src, &smallest) ||
            !GetLengthPrefixed(&src, &largest) || !GetVarint64(&src, &f.smallest_seq) ||
            !GetVarint64(&src, &f.largest_seq) || smallest.size() < 8 || largest.size() < 8) {
          return CorruptionError("version edit: bad new file");
        }
        f.smallest.assign(smallest.data(), smallest.size());
        f.largest.assign(largest.data(), largest.size());
        new_files_.emplace_back(level, std::move(f));
        break;
      }
      case kNewFileBlobRefs: {
        uint32_t count;
        if (!get_level(&level) || !GetVarint64(&src, &v) || !GetVarint32(&src, &count)) {
          return CorruptionError("version edit: bad blob references");
        }
        auto it = std::find_if(new_files_.rbegin(), new_files_.rend(), [&](const auto& nf) {
          return nf.first == level && nf.second.number == v;
        });
        if (it == new_files_.rend()) {
          return CorruptionError("version edit: blob references of a table not added");
        }
        for (uint32_t i = 0; i < count; i++) {
          uint64_t blob, bytes;
          if (!GetVarint64(&src, &blob) || !GetVarint64(&src, &bytes)) {
            return CorruptionError("version edit: bad blob reference");
          }
          it->second.blob_refs.emplace_back(blob, bytes);
        }
        break;
      }
      default:
        return CorruptionError(absl::StrCat("version edit: unknown tag ", tag));
    }
  }
  return absl::OkStatus();
}

}  // namespace cairn::engine
