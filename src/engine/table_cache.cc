#include "engine/table_cache.h"

#include "absl/strings/str_cat.h"
#include "base/coding.h"
#include "base/status.h"
#include "engine/filename.h"

namespace cairn::engine {

TableCache::TableCache(Env* env, std::string dir, int max_open_files, BlockCache* block_cache,
                       uint64_t row_cache_bytes, bool mmap_reads)
    : env_(env),
      mmap_reads_(mmap_reads),
      dir_(std::move(dir)),
      block_cache_(block_cache),
      // One shard when small, so the limit is exact; 16 shards for the usual sizes.
      tables_(std::max(1, max_open_files), max_open_files >= 64 ? 4 : 0),
      row_cache_(row_cache_bytes > 0 ? std::make_unique<LruCache<const TableEntry>>(row_cache_bytes)
                                     : nullptr) {}

absl::Status TableCache::GetEntry(const FileMetaData& f, const LookupKey& key, TableEntry* entry) {
  const std::string_view user_key = key.user_key();
  const SequenceNumber lookup_seq = DecodeFixed64(key.internal_key().data() + user_key.size()) >> 8;
  std::string row_key;
  if (row_cache_ != nullptr) {
    PutFixed64(&row_key, f.number);
    row_key.append(user_key.data(), user_key.size());
    if (auto row = row_cache_->Lookup(row_key); row != nullptr && row->sequence <= lookup_seq) {
      *entry = *row;
      return absl::OkStatus();
    }
  }
  CAIRN_ASSIGN_OR_RETURN(std::shared_ptr<Table> table, Get(f.number, f.file_size));
  bloom_checked.fetch_add(1, std::memory_order_relaxed);
  if (!table->KeyMayMatch(user_key)) {
    bloom_useful.fetch_add(1, std::memory_order_relaxed);
    return absl::OkStatus();
  }
  bool corrupt = false;
  CAIRN_RETURN_IF_ERROR(table->InternalGet(
      key.internal_key(), [&](std::string_view found_key, std::string_view found_value) {
        ParsedInternalKey parsed;
        if (!ParseInternalKey(found_key, &parsed)) {
          corrupt = true;
        } else if (parsed.user_key == user_key) {
          entry->found = true;
          entry->sequence = parsed.sequence;
          entry->type = parsed.type;
          entry->stored.assign(found_value.data(), found_value.size());
        }
      }));
  if (corrupt) return CorruptionError(absl::StrCat("bad internal key in table ", f.number));
  if (row_cache_ != nullptr && entry->found && lookup_seq >= f.largest_seq) {
    // The lookup saw the whole table, so this is the key's newest entry in it.
    row_cache_->Insert(row_key, std::make_shared<const TableEntry>(*entry),
                       row_key.size() + entry->stored.size() + sizeof(TableEntry));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Table>> TableCache::Get(uint64_t file_number, uint64_t file_size) {
  char key[8];
  EncodeFixed64(key, file_number);
  const std::string_view k(key, sizeof(key));
  if (auto table = tables_.Lookup(k)) return table;
  // Opened outside any lock: concurrent first opens of one file are harmless.
  std::string path = TableFileName(dir_, file_number);
  auto file = mmap_reads_ ? env_->NewMappedFile(path) : env_->NewRandomAccessFile(path);
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
