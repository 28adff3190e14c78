// Keeps tables open, keyed by file number, so reads do not reopen files.
// Thread-safe. (Issue 3 bounds it with an LRU limit on open files.)
#ifndef CAIRN_ENGINE_TABLE_CACHE_H_
#define CAIRN_ENGINE_TABLE_CACHE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cairn/env.h"
#include "engine/table.h"

namespace cairn::engine {

class TableCache {
 public:
  TableCache(Env* env, std::string dir) : env_(env), dir_(std::move(dir)) {}

  // Opens (or returns the open) table for a file. A missing or unreadable file is
  // Corruption: the MANIFEST says it must exist.
  absl::StatusOr<std::shared_ptr<Table>> Get(uint64_t file_number, uint64_t file_size);
  // Forgets a table whose file is being deleted.
  void Evict(uint64_t file_number);

 private:
  Env* const env_;
  const std::string dir_;
  absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, std::shared_ptr<Table>> tables_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_TABLE_CACHE_H_
