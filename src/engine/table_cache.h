// Keeps tables open, keyed by file number, so reads do not reopen files and re-read
// index and filter blocks: an LRU of at most max_open_files tables. Tables share one
// block cache. Thread-safe.
#ifndef CAIRN_ENGINE_TABLE_CACHE_H_
#define CAIRN_ENGINE_TABLE_CACHE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "cairn/env.h"
#include "engine/dbformat.h"
#include "engine/lru_cache.h"
#include "engine/table.h"
#include "engine/version_edit.h"

namespace cairn::engine {

// The newest entry of a user key in one table (at or below a lookup's sequence).
struct TableEntry {
  bool found = false;
  SequenceNumber sequence = 0;
  ValueType type = kTypeValue;
  std::string stored;  // the stored value (with the expiry header for kTypeValueWithExpiry)
};

class TableCache {
 public:
  // block_cache may be nullptr (no block cache); it must outlive this object.
  // row_cache_bytes > 0 enables the row cache. With mmap_reads, tables are read through
  // Env::NewMappedFile.
  TableCache(Env* env, std::string dir, int max_open_files, BlockCache* block_cache,
             uint64_t row_cache_bytes, bool mmap_reads);

  // Point lookup of key in table f: the filter first, then the row cache, then blocks.
  //
  // The row cache maps (table number, user key) to the key's newest entry in that table.
  // Tables never change, so it is coherent by construction: a write lands in the
  // memtable (read before any table), and a compaction writes new tables under new
  // numbers. An entry is cached only when the lookup's sequence covers the whole table,
  // and used only by lookups whose sequence covers the cached entry.
  absl::Status GetEntry(const FileMetaData& f, const LookupKey& key, TableEntry* entry);

  // Opens (or returns the open) table for a file. A missing or unreadable file is
  // Corruption: the MANIFEST says it must exist.
  absl::StatusOr<std::shared_ptr<Table>> Get(uint64_t file_number, uint64_t file_size);
  // Forgets a table whose file is being deleted.
  void Evict(uint64_t file_number);

  CacheStats stats() const { return tables_.Stats(); }
  // Zeros when the row cache is off.
  CacheStats row_cache_stats() const {
    return row_cache_ != nullptr ? row_cache_->Stats() : CacheStats{};
  }

  // Bloom filter effectiveness, counted by Version::Get: lookups that consulted a
  // filter, and those the filter answered without reading a block.
  std::atomic<uint64_t> bloom_checked{0};
  std::atomic<uint64_t> bloom_useful{0};

 private:
  Env* const env_;
  const bool mmap_reads_;
  const std::string dir_;
  BlockCache* const block_cache_;
  LruCache<Table> tables_;  // charge 1 per table: capacity is a count of open files
  std::unique_ptr<LruCache<const TableEntry>> row_cache_;  // nullptr: off
};

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_TABLE_CACHE_H_
