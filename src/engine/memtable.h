// MemTable: the in-memory write buffer, a skiplist of internal keys in an arena.
//
// Thread safety: one writer at a time (Add), any number of concurrent readers (Get,
// iterators). Shared by std::shared_ptr: the DB, flushes and open iterators each hold a
// reference, and the memory is released when the last one goes.
//
// Entry encoding, inline in its skiplist node:
//   varint32 internal_key_len | internal key | varint32 value_len | value
#ifndef CAIRN_ENGINE_MEMTABLE_H_
#define CAIRN_ENGINE_MEMTABLE_H_

#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "base/arena.h"
#include "cairn/engine/iterator.h"
#include "engine/bloom.h"
#include "engine/dbformat.h"
#include "engine/skiplist.h"

namespace cairn::engine {

class MemTable {
 public:
  // write_buffer_size: the bytes the memtable will grow to before it is frozen. It sizes
  // the arena's blocks (an eighth of it as in RocksDB, from 4 KiB up to one 2 MiB huge
  // page), the key filter (1/64 of it: 10+ bits per key for entries of 80+ bytes) and the
  // point-lookup index (1/16 of it: about one bucket per entry of 128 bytes).
  // hash_index: keep the point-lookup index (Options::memtable_hash_index).
  explicit MemTable(size_t write_buffer_size = 4 << 20, bool hash_index = true);
  MemTable(const MemTable&) = delete;
  MemTable& operator=(const MemTable&) = delete;

  void Add(SequenceNumber seq, ValueType type, std::string_view key, std::string_view value);

  // Adds several entries as Add would, one after another: Stage each (it copies the key
  // and value), then AddStaged them all. Their skiplist searches run together
  // (SkipList::InsertSorted), so a batch of writes pays its cache misses about once, not
  // once per entry. Readers see a staged entry only once AddStaged returns.
  struct Staged {
    const char* entry;
    uint64_t hash;  // of the user key
  };
  Staged Stage(SequenceNumber seq, ValueType type, std::string_view key, std::string_view value);
  void AddStaged(const std::vector<Staged>& staged);

  // If the memtable holds an entry for key at or below key's sequence: returns true and
  // sets *s to OK with *value filled (a put) or to NotFound (a deletion). Returns false
  // if the memtable knows nothing about the key.
  // Expired values (kTypeValueWithExpiry at or after now, Unix microseconds) read as
  // deletions.
  // A value kept in a blob file sets *blob and leaves its reference in *value (without
  // blob, such an entry reads as Corruption).
  bool Get(const LookupKey& key, uint64_t now, std::string* value, absl::Status* s,
           bool* blob = nullptr) const;

  // Starts fetching the index buckets of keys (user keys), then the entries they hold,
  // into the CPU's cache, for Gets that follow (DB::PrefetchForGets).
  void PrefetchForGets(std::span<const std::string_view> keys) const;

  // Adds the numbers of the blob files that entries of this memtable refer to.
  void AddBlobFiles(std::set<uint64_t>* files) const ABSL_LOCKS_EXCLUDED(blob_mu_);

  // Iterates internal keys (key() is an internal key). Caller keeps the memtable alive.
  std::unique_ptr<Iterator> NewIterator() const;

  size_t ApproximateMemoryUsage() const {
    return arena_.MemoryUsage() + bloom_.bytes() +
           (index_ != nullptr ? (index_mask_ + 1) * sizeof(index_[0]) : 0);
  }
  uint64_t num_entries() const { return num_entries_.load(std::memory_order_relaxed); }
  // The sequence number of the first entry added; 0 while empty.
  SequenceNumber first_sequence() const { return first_sequence_.load(std::memory_order_relaxed); }

 private:
  mutable absl::Mutex blob_mu_;
  std::set<uint64_t> blob_files_ ABSL_GUARDED_BY(blob_mu_);

  struct KeyComparator {
    InternalKeyComparator cmp;
    int operator()(const char* a, const char* b) const;
    // A search target decoded once (SkipList::Target): its user key and tag.
    struct Decoded {
      std::string_view internal_key;
    };
    Decoded Decode(const char* key) const;
    int operator()(const char* a, const Decoded& b) const;
  };
  using Table = SkipList<KeyComparator>;
  class MemTableIterator;

  Arena arena_;
  Table table_;
  // Every user key added: a lookup of a key the memtable never saw skips the skiplist
  // search, a chain of cache misses through the whole arena.
  ConcurrentBloom bloom_;
  // Point-lookup index: bucket (user-key hash) -> the newest entry of the user key last
  // added with that hash. A lookup whose key holds its bucket is answered without the
  // skiplist; an empty bucket proves the key absent; another key there (a collision)
  // falls back to the filter and the skiplist. Written by the one writer after the entry
  // is in the skiplist (release), read lock-free (acquire).
  std::unique_ptr<std::atomic<const char*>[]> index_;
  size_t index_mask_;
  std::atomic<uint64_t> num_entries_{0};
  std::atomic<SequenceNumber> first_sequence_{0};
};

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_MEMTABLE_H_
