// libFuzzer target for the SSTable reader (Table, docs/formats/sstable.md) and the block
// decoder under it. Input: the bytes of a table file, as found on disk; the same bytes are
// also decoded directly as a block, and as a compressed block of each codec.
//
// The table is opened as it is and, when that changes it, once more with every checksum
// the reader will verify repaired (RepairTable): footer, index, metaindex, filter and the
// data blocks the index names. The fuzzer's mutations of block contents then reach the
// block parser and the codecs through Table instead of stopping at a checksum.
//
// Invariants checked (a violation aborts, which libFuzzer reports as a crash):
//  - errors are statuses (Corruption; no I/O error can occur), never crashes or sanitizer
//    reports; iterators end; Valid() implies an OK status;
//  - block level, any bytes: Seek(t) stops only at a key >= t and SeekOnce agrees with it;
//    values lie inside the block;
//  - table level: Open with or without a block cache, through a copying or a mapped file,
//    gives the same result; iterating, again from the cache, gives the same entries (when
//    no two blocks read share an offset, the cache's key); a point lookup (InternalGet)
//    finds only keys >= its target;
//  - table as given (its checksums as they are, which a writer vouched for): forward
//    iteration yields strictly increasing internal keys, backward strictly decreasing ones
//    (InternalKeyComparator), or it stops with a non-OK status; a complete backward pass
//    is the forward pass reversed; Seek(t) lands on the first entry >= t of the forward
//    pass. These are not checked on the repaired copy: the reader trusts the order of
//    checksummed contents (only `cairn db check` verifies it), so a repaired table with
//    its keys out of order is read as it is, without an error.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/checksum.h"
#include "base/coding.h"
#include "cairn/engine/options.h"
#include "engine/block.h"
#include "engine/compression.h"
#include "engine/dbformat.h"
#include "engine/format.h"
#include "engine/iterator_util.h"
#include "engine/table.h"
#include "fuzz_util.h"

namespace cairn::engine {
namespace {

using fuzz::Check;
using fuzz::CheckCorruptionOrOk;
using Entries = std::vector<std::pair<std::string, std::string>>;

bool Inside(std::string_view outer, std::string_view inner) {
  const std::less_equal<const char*> le;
  return inner.empty() ||
         (le(outer.data(), inner.data()) &&
          le(inner.data() + inner.size(), outer.data() + outer.size()));
}

// An exact-size copy, so that ASan sees any read past the block.
BlockContents Copy(std::string_view bytes) {
  BlockContents c;
  c.owned.reset(new char[bytes.empty() ? 1 : bytes.size()]);
  if (!bytes.empty()) std::memcpy(c.owned.get(), bytes.data(), bytes.size());
  c.data = std::string_view(c.owned.get(), bytes.size());
  return c;
}

// A scan of an iterator in one direction.
struct Scan {
  Entries entries;
  absl::Status status;
};

// step_limit bounds a scan: an iterator that goes on longer is stuck. A non-empty region
// is where values must lie (a block's bytes).
Scan ScanForward(Iterator* it, size_t step_limit, std::string_view region = {}) {
  Scan scan;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    Check(it->status().ok(), "Valid() with an error status");
    Check(scan.entries.size() < step_limit, "forward iteration does not end");
    Check(region.empty() || Inside(region, it->value()), "value outside the block");
    scan.entries.emplace_back(it->key(), it->value());
  }
  scan.status = it->status();
  CheckCorruptionOrOk(scan.status, "forward iteration: error other than Corruption");
  return scan;
}

Scan ScanBackward(Iterator* it, size_t step_limit, std::string_view region = {}) {
  Scan scan;
  for (it->SeekToLast(); it->Valid(); it->Prev()) {
    Check(it->status().ok(), "Valid() with an error status");
    Check(scan.entries.size() < step_limit, "backward iteration does not end");
    Check(region.empty() || Inside(region, it->value()), "value outside the block");
    scan.entries.emplace_back(it->key(), it->value());
  }
  scan.status = it->status();
  CheckCorruptionOrOk(scan.status, "backward iteration: error other than Corruption");
  return scan;
}

// Seek targets derived from the input and from the keys found: the keys themselves, their
// user keys at the newest sequence (what a point lookup seeks), and slices of the input.
std::vector<std::string> Targets(std::string_view input, const Entries& found) {
  std::vector<std::string> t = {""};
  for (size_t i : {size_t{0}, found.size() / 2, found.size() - 1}) {
    if (i >= found.size()) continue;
    const std::string& k = found[i].first;
    t.push_back(k);
    if (k.size() >= 8) {
      t.push_back(MakeInternalKey(ExtractUserKey(k), kMaxSequenceNumber, kValueTypeForSeek));
      std::string after = k;
      after.back() = static_cast<char>(after.back() - 1);  // same user key, a step later
      t.push_back(after);
    }
  }
  for (size_t len : {size_t{3}, size_t{8}, size_t{16}}) {
    if (input.size() < len) break;
    t.emplace_back(input.substr(input.size() / 3, len));
    t.push_back(MakeInternalKey(input.substr(0, len), kMaxSequenceNumber / 2, kTypeValue));
  }
  return t;
}

// ---- Blocks ------------------------------------------------------------------------

void FuzzBlock(std::string_view bytes, KeyCompare cmp, std::string_view input) {
  BlockContents contents = Copy(bytes);
  const std::string_view region = contents.data;  // moving the contents keeps the bytes
  auto block = std::make_shared<const Block>(std::move(contents));
  // Every entry takes at least 3 bytes (three one-byte varints).
  const size_t limit = bytes.size() / 3 + 1;
  auto it = Block::NewIterator(block, cmp);
  const Scan fwd = ScanForward(it.get(), limit, region);
  auto back_it = Block::NewIterator(block, cmp);
  ScanBackward(back_it.get(), limit, region);

  for (const std::string& target : Targets(input, fwd.entries)) {
    auto s = Block::NewIterator(block, cmp);
    s->Seek(target);
    CheckCorruptionOrOk(s->status(), "block Seek: error other than Corruption");
    if (s->Valid()) {
      Check(s->status().ok(), "Valid() with an error status");
      Check(cmp(s->key(), target) >= 0, "block Seek stopped before its target");
      Check(Inside(region, s->value()), "value outside the block");
    }
    bool found = false;
    std::string key, value;
    const absl::Status once = block->SeekOnce(target, cmp, [&](std::string_view k, std::string_view v) {
      Check(!found, "SeekOnce called back twice");
      found = true;
      key.assign(k);
      value.assign(v);
    });
    CheckCorruptionOrOk(once, "SeekOnce: error other than Corruption");
    Check(found == s->Valid() && once == s->status(), "SeekOnce and Seek disagree");
    if (found) Check(key == s->key() && value == s->value(), "SeekOnce and Seek disagree");
    // Walk a few steps both ways from there: Next and Prev from a sought position.
    for (int i = 0; i < 3 && s->Valid(); i++) s->Next();
    for (int i = 0; i < 6 && s->Valid(); i++) s->Prev();
    CheckCorruptionOrOk(s->status(), "block Next/Prev: error other than Corruption");
  }
}

void FuzzBlocks(std::string_view input) {
  FuzzBlock(input, CompareInternalKeys, input);
  FuzzBlock(input, CompareBytewise, input);
  for (CompressionType type : {CompressionType::kSnappy, CompressionType::kLz4,
                               CompressionType::kZstd, static_cast<CompressionType>(4)}) {
    auto contents = UncompressBlock(type, input);
    CheckCorruptionOrOk(contents.status(), "UncompressBlock: error other than Corruption");
    if (!contents.ok()) continue;
    Check(static_cast<int>(type) <= 3, "UncompressBlock accepted an unknown codec");
    FuzzBlock(contents->data, CompareInternalKeys, input);
  }
}

// ---- Tables ------------------------------------------------------------------------

// Rewrites the checksum in the trailer of the block at h, if the block lies before the
// footer.
void FixTrailer(std::string* t, const BlockHandle& h) {
  const uint64_t data_end = t->size() - Footer::kEncodedLength;
  if (h.offset > data_end || h.size > data_end - h.offset ||
      kBlockTrailerSize > data_end - h.offset - h.size) {
    return;
  }
  const std::string_view contents = std::string_view(*t).substr(h.offset, h.size);
  const uint8_t type = static_cast<uint8_t>((*t)[h.offset + h.size]);
  EncodeFixed32(t->data() + h.offset + h.size + 1, Checksum32(contents, type));
}

// Handles found as values of the block read from t at h; for the metaindex, only the
// filter's.
std::vector<BlockHandle> HandlesIn(const std::string& t, const BlockHandle& h, bool metaindex) {
  std::vector<BlockHandle> out;
  fuzz::StringRandomAccessFile file(t, /*mapped=*/true);
  auto contents = ReadBlock(&file, h);
  if (!contents.ok()) return out;
  auto it = Block::NewIterator(std::make_shared<const Block>(std::move(*contents)),
                               metaindex ? CompareBytewise : CompareInternalKeys);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (metaindex && it->key() != kBloomFilterName) continue;
    std::string_view v = it->value();
    BlockHandle handle;
    if (handle.DecodeFrom(&v).ok()) out.push_back(handle);
  }
  return out;
}

// The input with the checksums the reader verifies recomputed (and the magic number set).
std::string RepairTable(std::string_view input) {
  std::string t(input);
  if (t.size() < Footer::kEncodedLength) return t;
  char* footer = t.data() + t.size() - Footer::kEncodedLength;
  EncodeFixed64(footer + 48, kTableMagic);
  EncodeFixed32(footer + 44, Checksum32(std::string_view(footer, 44)));
  std::string_view handles(footer, 40);
  BlockHandle metaindex, index;
  if (!metaindex.DecodeFrom(&handles).ok() || !index.DecodeFrom(&handles).ok()) return t;
  FixTrailer(&t, index);
  FixTrailer(&t, metaindex);
  std::vector<BlockHandle> blocks = HandlesIn(t, index, false);
  for (const BlockHandle& h : HandlesIn(t, metaindex, true)) blocks.push_back(h);
  for (const BlockHandle& h : blocks) FixTrailer(&t, h);
  // A data block's trailer may lie inside the index or the metaindex: those last.
  FixTrailer(&t, metaindex);
  FixTrailer(&t, index);
  return t;
}

bool StrictlyIncreasing(const Entries& e) {
  for (size_t i = 1; i < e.size(); i++) {
    if (CompareInternalKeys(e[i - 1].first, e[i].first) >= 0) return false;
  }
  return true;
}

struct Opened {
  absl::Status status;
  Scan fwd, back;
};

// Opens file as a table and reads all of it; `authentic` adds the ordering invariants.
Opened ReadTable(const std::string& file, bool mapped, BlockCache* cache, bool authentic) {
  Opened out;
  TableReadOptions options;
  options.block_cache = cache;
  options.cache_id = 7;
  auto table =
      Table::Open(std::make_unique<fuzz::StringRandomAccessFile>(file, mapped), file.size(), options);
  out.status = table.status();
  CheckCorruptionOrOk(out.status, "Table::Open: error other than Corruption");
  if (!table.ok()) return out;

  // An entry takes at least 3 bytes of a block, and a block at least 5 bytes of trailer
  // besides; compression can multiply the entries, so the bound is loose.
  const size_t limit = 256 * file.size() + 16;
  // A fresh iterator for each pass: errors stick to an iterator (as in LevelDB), so one
  // repositioned after an error can be Valid() with that error still in status().
  out.fwd = ScanForward((*table)->NewIterator().get(), limit);
  out.back = ScanBackward((*table)->NewIterator().get(), limit);
  if (authentic) {
    Check(StrictlyIncreasing(out.fwd.entries), "forward iteration out of order");
    Entries reversed(out.back.entries.rbegin(), out.back.entries.rend());
    Check(StrictlyIncreasing(reversed), "backward iteration out of order");
    if (out.fwd.status.ok() && out.back.status.ok()) {
      Check(reversed == out.fwd.entries, "backward iteration is not forward reversed");
    }
  }

  for (const std::string& target : Targets(file, out.fwd.entries)) {
    auto it = (*table)->NewIterator();
    it->Seek(target);
    CheckCorruptionOrOk(it->status(), "table Seek: error other than Corruption");
    if (authentic && out.fwd.status.ok() && it->status().ok()) {
      size_t i = 0;
      while (i < out.fwd.entries.size() &&
             CompareInternalKeys(out.fwd.entries[i].first, target) < 0) {
        i++;
      }
      Check(it->Valid() == (i < out.fwd.entries.size()), "table Seek: wrong validity");
      if (it->Valid()) {
        Check(it->key() == out.fwd.entries[i].first && it->value() == out.fwd.entries[i].second,
              "table Seek missed the first entry at or after its target");
      }
    }
    for (int i = 0; i < 3 && it->Valid(); i++) it->Next();
    for (int i = 0; i < 6 && it->Valid(); i++) it->Prev();
    CheckCorruptionOrOk(it->status(), "table Next/Prev: error other than Corruption");

    bool found = false;
    const absl::Status got =
        (*table)->InternalGet(target, [&](std::string_view k, std::string_view) {
          Check(!found, "InternalGet called back twice");
          found = true;
          Check(CompareInternalKeys(k, target) >= 0, "InternalGet found a key before its target");
        });
    CheckCorruptionOrOk(got, "InternalGet: error other than Corruption");
    if (target.size() >= 8) (void)(*table)->KeyMayMatch(ExtractUserKey(target));
  }
  return out;
}

void CheckSame(const Opened& a, const Opened& b, const char* what) {
  Check(a.status == b.status && a.fwd.entries == b.fwd.entries && a.fwd.status == b.fwd.status &&
            a.back.entries == b.back.entries && a.back.status == b.back.status,
        what);
}

// The seeds index_two_blocks_at_one_offset and index_backward_entry_at_same_offset are
// the regression test for a cache keyed by offset alone (now offset and size), which
// served the block read through one handle for another at the same offset.
void FuzzTable(const std::string& file, bool authentic) {
  const Opened plain = ReadTable(file, /*mapped=*/false, nullptr, authentic);
  BlockCache cache(1 << 20, /*shard_bits=*/0);
  const Opened cached = ReadTable(file, /*mapped=*/true, &cache, authentic);
  const Opened again = ReadTable(file, /*mapped=*/true, &cache, authentic);
  CheckSame(plain, cached, "a block cache or a mapped file changes what the table reads");
  CheckSame(plain, again, "blocks served from the cache differ from blocks read");
}

}  // namespace
}  // namespace cairn::engine

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cairn::engine;  // NOLINT(google-build-using-namespace)
  const std::string input(reinterpret_cast<const char*>(data), size);
  FuzzBlocks(input);
  FuzzTable(input, /*authentic=*/true);
  const std::string repaired = RepairTable(input);
  if (repaired != input) FuzzTable(repaired, /*authentic=*/false);
  return 0;
}
