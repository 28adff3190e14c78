// Helpers shared by the libFuzzer targets for on-disk formats (wal_reader, table_reader,
// manifest): invariant checks, files served from memory, and the repair of checksums so
// the fuzzer can reach the parsers behind them.
#ifndef CAIRN_TESTS_FUZZ_FUZZ_UTIL_H_
#define CAIRN_TESTS_FUZZ_FUZZ_UTIL_H_

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "base/checksum.h"
#include "base/status.h"
#include "cairn/env.h"
#include "engine/wal_format.h"

namespace cairn::fuzz {

[[noreturn]] inline void Violation(const char* what) {
  std::fprintf(stderr, "invariant violated: %s\n", what);
  std::abort();
}

inline void Check(bool ok, const char* what) {
  if (!ok) Violation(what);
}

// Errors from parsing bytes are Corruption (kDataLoss); an I/O error only when the file
// was told to fail.
inline void CheckCorruptionOrOk(const absl::Status& s, const char* what) {
  Check(s.ok() || IsCorruption(s), what);
}

// A file read from start to end out of memory. Reads fill scratch like read(2): n bytes
// unless at the end. With fail_read >= 0, read number fail_read (from 0) and every later
// one fail with an I/O error.
class StringSequentialFile final : public SequentialFile {
 public:
  explicit StringSequentialFile(std::string_view data, int fail_read = -1)
      : data_(data), fail_read_(fail_read) {}
  absl::Status Read(size_t n, std::string_view* result, char* scratch) override {
    if (fail_read_ >= 0 && reads_++ >= fail_read_) return IOError("injected read failure");
    n = std::min(n, data_.size() - pos_);
    if (n > 0) std::memcpy(scratch, data_.data() + pos_, n);
    *result = std::string_view(scratch, n);
    pos_ += n;
    return absl::OkStatus();
  }
  absl::Status Skip(uint64_t n) override {
    pos_ += static_cast<size_t>(std::min<uint64_t>(n, data_.size() - pos_));
    return absl::OkStatus();
  }

 private:
  std::string_view data_;
  size_t pos_ = 0;
  const int fail_read_;
  int reads_ = 0;
};

// Positional reads from memory: copied into scratch like pread, or, when mapped, views
// of the bytes like a memory mapping (the two paths of engine::ReadBlock).
class StringRandomAccessFile final : public RandomAccessFile {
 public:
  StringRandomAccessFile(std::string data, bool mapped) : data_(std::move(data)), mapped_(mapped) {}
  bool IsMapped() const override { return mapped_; }
  absl::Status Read(uint64_t offset, size_t n, std::string_view* result,
                    char* scratch) const override {
    if (offset >= data_.size()) {
      *result = {};
      return absl::OkStatus();
    }
    n = static_cast<size_t>(std::min<uint64_t>(n, data_.size() - offset));
    if (mapped_) {
      *result = std::string_view(data_.data() + offset, n);
      return absl::OkStatus();
    }
    std::memcpy(scratch, data_.data() + offset, n);
    *result = std::string_view(scratch, n);
    return absl::OkStatus();
  }

 private:
  const std::string data_;
  const bool mapped_;
};

// Walks a log file (WAL or MANIFEST framing, docs/formats/wal.md) the way the writer lays
// it out and rewrites every header_check and every checksum that fits: the fuzzer's
// mutations of lengths, types and payloads then reach the code behind the checks instead
// of stopping at them. Bytes past a header whose length runs out of its block are kept.
inline std::string RepairLogFraming(std::string_view file) {
  using namespace engine::wal;  // NOLINT(google-build-using-namespace)
  std::string out(file);
  for (size_t block = 0; block < out.size(); block += kBlockSize) {
    const size_t block_end = std::min(out.size(), block + kBlockSize);
    size_t pos = block;
    while (block_end - pos >= kHeaderSize) {
      char* h = out.data() + pos;
      const uint16_t check = HeaderCheck(h);
      h[7] = static_cast<char>(check & 0xff);
      h[8] = static_cast<char>(check >> 8);
      const Header header = DecodeHeader(h);
      if (header.length > block_end - pos - kHeaderSize) break;
      const uint32_t sum =
          RecordChecksum(header.type, std::string_view(h + kHeaderSize, header.length));
      for (int i = 0; i < 4; i++) h[i] = static_cast<char>(sum >> (8 * i));
      pos += kHeaderSize + header.length;
    }
  }
  return out;
}

}  // namespace cairn::fuzz

#endif  // CAIRN_TESTS_FUZZ_FUZZ_UTIL_H_
