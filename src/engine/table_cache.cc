#include "engine/table_cache.h"

#include "absl/strings/str_cat.h"
#include "base/coding.h"
#include "base/status.h"
#include "engine/filename.h"

namespace cairn::engine {

TableCache::TableCache(Env* env, std::string dir, int max_open_files, BlockCache* block_cache)
    : env_(env),
      dir_(std::move(dir)),
      block_cache_(block_cache),
      // One shard when small, so the limit is exact; 16 shards for the usual sizes.
      tables_(std::max(1, max_open_files), max_open_files >= 64 ? 4 : 0) {}

absl::StatusOr<std::shared_ptr<Table>> TableCache::Get(uint64_t file_number, uint64_t file_size) {
  char key[8];
  EncodeFixed64(key, file_number);
  const std::string_view k(key, sizeof(key));
  if (auto table = tables_.Lookup(k)) return table;
  // Opened outside any lock: concurrent first opens of one file are harmless.
  std::string path = TableFileName(dir_, file_number);
  auto file = env_->NewRandomAccessFile(path);
  if (!file.ok()) {
    return absl::IsNotFound(file.status())
               ? CorruptionError(absl::StrCat("missing table file ", path))
               : file.status();
  }
  TableReadOptions options;
  options.block_cache = block_cache_;
  options.cache_id = file_number;
  auto table = Table::Open(std::move(*file), file_size, options);
  if (!table.ok()) return Annotate(table.status(), path);
  tables_.Insert(k, *table, 1);
  return *table;
}

void TableCache::Evict(uint64_t file_number) {
  char key[8];
  EncodeFixed64(key, file_number);
  tables_.Erase(std::string_view(key, sizeof(key)));
}

}  // namespace cairn::engine
