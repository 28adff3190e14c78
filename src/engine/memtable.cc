#include "engine/memtable.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "base/checksum.h"
#include "base/coding.h"
#include "base/status.h"
#include "engine/blob_format.h"

namespace cairn::engine {
namespace {

// Decodes the length-prefixed string at p. Entries were written by Add, so trusted.
std::string_view GetLengthPrefixedSlice(const char* p) {
  uint32_t len = 0;
  const char* q = GetVarint32Ptr(p, p + kMaxVarint32Bytes, &len);
  return std::string_view(q, len);
}

// string_view::compare's order (unsigned bytes, then length), eight bytes at a time: the
// keys of a search share long prefixes ("key:000000..."), and a libc memcmp call for
// each of a search's ~30 comparisons cost more than the compare itself.
int CompareBytes(const char* a, size_t an, const char* b, size_t bn) {
  const size_t n = std::min(an, bn);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x, y;
    std::memcpy(&x, a + i, 8);
    std::memcpy(&y, b + i, 8);
    if (x != y) {
      if constexpr (std::endian::native == std::endian::little) {
        x = __builtin_bswap64(x);
        y = __builtin_bswap64(y);
      }
      return x < y ? -1 : 1;
    }
  }
  for (; i < n; i++) {
    if (a[i] != b[i]) {
      return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[i]) ? -1 : 1;
    }
  }
  return an < bn ? -1 : (an > bn ? 1 : 0);
}

}  // namespace

int MemTable::KeyComparator::operator()(const char* a, const char* b) const {
  return cmp.Compare(GetLengthPrefixedSlice(a), GetLengthPrefixedSlice(b));
}

MemTable::KeyComparator::Decoded MemTable::KeyComparator::Decode(const char* key) const {
  return Decoded{GetLengthPrefixedSlice(key)};
}

int MemTable::KeyComparator::operator()(const char* a, const Decoded& b) const {
  // Most internal keys are under 128 bytes: a one-byte length.
  std::string_view ka;
  if (static_cast<unsigned char>(a[0]) < 128) {
    ka = std::string_view(a + 1, static_cast<unsigned char>(a[0]));
  } else {
    ka = GetLengthPrefixedSlice(a);
  }
  const std::string_view kb = b.internal_key;
  if (ka.size() < 8 || kb.size() < 8) return cmp.Compare(ka, kb);  // as InternalKeyComparator
  const int r = CompareBytes(ka.data(), ka.size() - 8, kb.data(), kb.size() - 8);
  if (r != 0) return r;
  const uint64_t at = DecodeFixed64(ka.data() + ka.size() - 8);
  const uint64_t bt = DecodeFixed64(kb.data() + kb.size() - 8);
  return at > bt ? -1 : (at < bt ? 1 : 0);
}

MemTable::MemTable(size_t write_buffer_size, bool hash_index)
    : arena_(std::clamp(write_buffer_size / 8, Arena::kDefaultBlockSize, Arena::kHugePageSize)),
      table_(KeyComparator{}, &arena_),
      bloom_(std::max<size_t>(write_buffer_size / 64, 1024), /*probes=*/6) {
  index_mask_ = 0;
  if (!hash_index) return;
  size_t buckets = 256;
  while (buckets * sizeof(index_[0]) < write_buffer_size / 16) buckets *= 2;
  index_mask_ = buckets - 1;
  index_.reset(new std::atomic<const char*>[buckets]);
  for (size_t i = 0; i < buckets; i++) index_[i].store(nullptr, std::memory_order_relaxed);
}

void MemTable::Add(SequenceNumber seq, ValueType type, std::string_view key,
                   std::string_view value) {
  const Staged s = Stage(seq, type, key, value);
  table_.Insert(s.entry);
  if (index_ != nullptr) index_[s.hash & index_mask_].store(s.entry, std::memory_order_release);
  num_entries_.fetch_add(1, std::memory_order_relaxed);
}

void MemTable::AddStaged(const std::vector<Staged>& staged) {
  if (staged.empty()) return;
  if (staged.size() == 1) {
    table_.Insert(staged[0].entry);
  } else {
    std::vector<const char*> sorted(staged.size());
    for (size_t i = 0; i < staged.size(); i++) sorted[i] = staged[i].entry;
    const KeyComparator cmp;
    std::sort(sorted.begin(), sorted.end(),
              [&](const char* a, const char* b) { return cmp(a, cmp.Decode(b)) < 0; });
    table_.InsertSorted(sorted.data(), sorted.size());
  }
  // In the order added: a key written twice in the batch indexes its newer entry.
  if (index_ != nullptr) {
    for (const Staged& s : staged) {
      index_[s.hash & index_mask_].store(s.entry, std::memory_order_release);
    }
  }
  num_entries_.fetch_add(staged.size(), std::memory_order_relaxed);
}

MemTable::Staged MemTable::Stage(SequenceNumber seq, ValueType type, std::string_view key,
                                 std::string_view value) {
  const size_t ikey_len = key.size() + 8;
  const size_t len = VarintLength(ikey_len) + ikey_len + VarintLength(value.size()) + value.size();
  if (first_sequence_.load(std::memory_order_relaxed) == 0) {
    first_sequence_.store(seq, std::memory_order_relaxed);
  }
  if (type == kTypeBlobIndex && value.size() > 8) {
    BlobRef ref;
    if (DecodeBlobRef(value.substr(8), &ref).ok()) {
      absl::MutexLock l(&blob_mu_);
      blob_files_.insert(ref.file);
    }
  }
  const uint64_t hash = Hash64(key);
  bloom_.Add(hash);  // before the entry is published: readers then see both
  char* buf = table_.AllocateKey(len);
  char* p = EncodeVarint32(buf, static_cast<uint32_t>(ikey_len));
  if (!key.empty()) std::memcpy(p, key.data(), key.size());  // data() may be null
  p += key.size();
  EncodeFixed64(p, PackSequenceAndType(seq, type));
  p += 8;
  p = EncodeVarint32(p, static_cast<uint32_t>(value.size()));
  if (!value.empty()) std::memcpy(p, value.data(), value.size());
  return Staged{buf, hash};
}

namespace {

// What entry (an encoded memtable entry) says about its key.
bool ResolveMemEntry(const char* entry, uint64_t now, std::string* value, absl::Status* s,
                     bool* blob) {
  std::string_view ikey = GetLengthPrefixedSlice(entry);
  const uint64_t tag = DecodeFixed64(ikey.data() + ikey.size() - 8);
  std::string_view v;
  switch (ResolveEntry(static_cast<ValueType>(tag & 0xff),
                       GetLengthPrefixedSlice(ikey.data() + ikey.size()), now, &v)) {
    case EntryState::kValue:
      value->assign(v.data(), v.size());
      *s = absl::OkStatus();
      return true;
    case EntryState::kAbsent:
      *s = absl::NotFoundError("");
      return true;
    case EntryState::kCorrupt:
      *s = CorruptionError("bad value with expiry in memtable");
      return true;
    case EntryState::kBlob:
      if (blob == nullptr) {
        *s = CorruptionError("unexpected blob reference in memtable");
        return true;
      }
      *blob = true;
      value->assign(v.data(), v.size());
      *s = absl::OkStatus();
      return true;
  }
  return false;
}

}  // namespace

void MemTable::PrefetchForGets(std::span<const std::string_view> keys) const {
  if (index_ == nullptr) return;
  constexpr size_t kChunk = 32;
  for (size_t base = 0; base < keys.size(); base += kChunk) {
    const size_t n = std::min(kChunk, keys.size() - base);
    const std::atomic<const char*>* buckets[kChunk];
    for (size_t i = 0; i < n; i++) {
      buckets[i] = &index_[Hash64(keys[base + i]) & index_mask_];
      __builtin_prefetch(buckets[i]);
    }
    // By now the first buckets have arrived: fetch the entries they point to.
    for (size_t i = 0; i < n; i++) {
      const char* entry = buckets[i]->load(std::memory_order_acquire);
      if (entry != nullptr) __builtin_prefetch(entry);
    }
  }
}

void MemTable::AddBlobFiles(std::set<uint64_t>* files) const {
  absl::MutexLock l(&blob_mu_);
  files->insert(blob_files_.begin(), blob_files_.end());
}

bool MemTable::Get(const LookupKey& key, uint64_t now, std::string* value, absl::Status* s,
                   bool* blob) const {
  const std::string_view user_key = key.user_key();
  const uint64_t hash = Hash64(user_key);
  const char* indexed =
      index_ != nullptr ? index_[hash & index_mask_].load(std::memory_order_acquire) : nullptr;
  if (index_ != nullptr && indexed == nullptr) return false;  // no key with this hash was added
  if (indexed == nullptr) {
    if (!bloom_.MayContain(hash)) return false;
  } else {
    std::string_view ikey = GetLengthPrefixedSlice(indexed);
    if (ExtractUserKey(ikey) == user_key) {
      const SequenceNumber lookup_seq =
          DecodeFixed64(key.internal_key().data() + user_key.size()) >> 8;
      // The key's newest entry; usable unless the lookup reads an older snapshot.
      if ((DecodeFixed64(ikey.data() + ikey.size() - 8) >> 8) <= lookup_seq) {
        return ResolveMemEntry(indexed, now, value, s, blob);
      }
    } else if (!bloom_.MayContain(hash)) {
      return false;
    }
  }
  Table::Iterator iter(&table_);
  iter.Seek(key.memtable_key().data());
  if (!iter.Valid()) return false;
  const char* entry = iter.key();
  if (ExtractUserKey(GetLengthPrefixedSlice(entry)) != user_key) return false;
  return ResolveMemEntry(entry, now, value, s, blob);
}

class MemTable::MemTableIterator final : public Iterator {
 public:
  explicit MemTableIterator(const Table* table) : iter_(table) {}

  bool Valid() const override { return iter_.Valid(); }
  void Seek(std::string_view target) override {
    tmp_.clear();
    PutVarint32(&tmp_, static_cast<uint32_t>(target.size()));
    tmp_.append(target);
    iter_.Seek(tmp_.data());
  }
  void SeekToFirst() override { iter_.SeekToFirst(); }
  void SeekToLast() override { iter_.SeekToLast(); }
  void Next() override { iter_.Next(); }
  void Prev() override { iter_.Prev(); }
  std::string_view key() const override { return GetLengthPrefixedSlice(iter_.key()); }
  std::string_view value() const override {
    std::string_view k = key();
    return GetLengthPrefixedSlice(k.data() + k.size());
  }
  absl::Status status() const override { return absl::OkStatus(); }

 private:
  Table::Iterator iter_;
  std::string tmp_;
};

std::unique_ptr<Iterator> MemTable::NewIterator() const {
  return std::make_unique<MemTableIterator>(&table_);
}

}  // namespace cairn::engine
