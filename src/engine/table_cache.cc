#include "engine/table_cache.h"

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "engine/filename.h"

namespace cairn::engine {

absl::StatusOr<std::shared_ptr<Table>> TableCache::Get(uint64_t file_number, uint64_t file_size) {
  {
    absl::MutexLock l(&mu_);
    auto it = tables_.find(file_number);
    if (it != tables_.end()) return it->second;
  }
  // Open outside the lock: concurrent first opens of one file are harmless.
  std::string path = TableFileName(dir_, file_number);
  auto file = env_->NewRandomAccessFile(path);
  if (!file.ok()) {
    return absl::IsNotFound(file.status())
               ? CorruptionError(absl::StrCat("missing table file ", path))
               : file.status();
  }
  auto table = Table::Open(std::move(*file), file_size);
  if (!table.ok()) return Annotate(table.status(), path);
  absl::MutexLock l(&mu_);
  auto [it, inserted] = tables_.emplace(file_number, std::move(*table));
  return it->second;
}

void TableCache::Evict(uint64_t file_number) {
  absl::MutexLock l(&mu_);
  tables_.erase(file_number);
}

}  // namespace cairn::engine
