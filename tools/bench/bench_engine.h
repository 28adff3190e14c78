// The engines cairn-bench drives, behind one small interface, so one workload runs
// unchanged on cairn, RocksDB and LevelDB with equivalent options.
#ifndef CAIRN_TOOLS_BENCH_BENCH_ENGINE_H_
#define CAIRN_TOOLS_BENCH_BENCH_ENGINE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cairn::bench {

// Options every engine is configured with (mapped to each engine's own options).
struct EngineConfig {
  uint64_t block_cache_bytes = 64 << 20;
  uint64_t write_buffer_bytes = 64 << 20;
  int bloom_bits_per_key = 10;
  bool compression = true;  // lz4 (LevelDB has only snappy: it uses that)
  uint64_t target_file_bytes = 64 << 20;
  bool cairn_memtable_hash_index = false;  // cairn only (Options::memtable_hash_index)
  uint64_t cairn_min_blob_size = 64 << 10;  // cairn only (Options::min_blob_size; 0: off)
};

// One open database. Not thread-safe unless noted; each method returns an error
// status on failure (the benchmark then stops).
class BenchEngine {
 public:
  virtual ~BenchEngine() = default;
  virtual absl::Status Put(std::string_view key, std::string_view value, bool sync) = 0;
  // NotFound if absent. Safe to call from a second thread while one thread writes.
  virtual absl::Status Get(std::string_view key, std::string* value) = 0;
  // Reads every key in order; returns the number read.
  virtual absl::StatusOr<uint64_t> ScanAll(uint64_t* bytes) = 0;
  // Positions at the first key >= target and reads `count` entries.
  virtual absl::Status SeekAndRead(std::string_view target, int count) = 0;
  // Waits until background work (flushes, compactions) settles, for fair accounting.
  virtual absl::Status WaitForBackground() = 0;
  // Bytes the engine has written to table files (flushes + compactions; cairn: and blob
  // files), or -1 if unknown. Divided by the workload's key+value bytes, it is the write
  // amplification.
  virtual double TableBytesWritten() = 0;
  // Entries written but still only in memtables (not in any table), or -1 if unknown.
  virtual int64_t UnflushedEntries() { return -1; }
  // The engine's own statistics text (cairn.stats, rocksdb.stats, leveldb.stats).
  virtual std::string Stats() = 0;
};

// name: "cairn", "rocksdb" or "leveldb". dir is created (and first wiped if `wipe`).
absl::StatusOr<std::unique_ptr<BenchEngine>> OpenEngine(const std::string& name,
                                                        const std::string& dir,
                                                        const EngineConfig& config, bool wipe);

}  // namespace cairn::bench

#endif  // CAIRN_TOOLS_BENCH_BENCH_ENGINE_H_
