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
#include "engine/lru_cache.h"
#include "engine/table.h"

namespace cairn::engine {

class TableCache {
 public:
  // block_cache may be nullptr (no block cache); it must outlive this object.
  TableCache(Env* env, std::string dir, int max_open_files, BlockCache* block_cache);

  // Opens (or returns the open) table for a file. A missing or unreadable file is
  // Corruption: the MANIFEST says it must exist.
  absl::StatusOr<std::shared_ptr<Table>> Get(uint64_t file_number, uint64_t file_size);
  // Forgets a table whose file is being deleted.
  void Evict(uint64_t file_number);

  CacheStats stats() const { return tables_.Stats(); }

  // Bloom filter effectiveness, counted by Version::Get: lookups that consulted a
  // filter, and those the filter answered without reading a block.
  std::atomic<uint64_t> bloom_checked{0};
  std::atomic<uint64_t> bloom_useful{0};

 private:
  Env* const env_;
  const std::string dir_;
  BlockCache* const block_cache_;
  LruCache<Table> tables_;  // charge 1 per table: capacity is a count of open files
};

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_TABLE_CACHE_H_
