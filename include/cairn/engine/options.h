// Options for opening a cairn engine database and for each read and write.
#ifndef CAIRN_ENGINE_OPTIONS_H_
#define CAIRN_ENGINE_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "cairn/engine/compaction_filter.h"
#include "cairn/engine/listener.h"

namespace cairn {
class Env;
}

namespace cairn::engine {

class Snapshot;

// When the write-ahead log is made durable (fdatasync). In every mode each write is
// handed to the OS before it is acknowledged, so a process crash (kill -9) loses nothing;
// the modes differ only in what a power failure or kernel crash can lose.
enum class WalSyncMode {
  kAlways,    // sync before acknowledging: an acknowledged write is on disk
  kEverySec,  // a background thread syncs once per second (Redis's appendfsync everysec)
  kNone,      // never sync explicitly; the OS writes back when it likes
};

// What recovery does when the WAL is damaged.
enum class WalRecoveryMode {
  // A damaged tail (a record cut short or garbage after the last good record, as a crash
  // leaves) is dropped and reported; damage followed by good records fails Open with
  // Corruption, because acknowledged writes after it would be lost silently.
  kTolerateCorruptedTail,
  // Recover up to the first damaged record and drop everything after it.
  kPointInTime,
};

// Per-block compression of tables. The values are the codes stored on disk in each
// block's trailer: never renumber them.
enum class CompressionType : uint8_t {
  kNone = 0,
  kSnappy = 1,
  kLz4 = 2,
  kZstd = 3,
};

struct Options {
  // File system, clock and threads. nullptr means Env::Default(). Not owned.
  Env* env = nullptr;

  bool create_if_missing = true;
  bool error_if_exists = false;

  // Bytes of memtable before it is frozen and flushed to an L0 table.
  size_t write_buffer_size = 64 << 20;
  // Target uncompressed size of a table data block, and keys between restart points.
  size_t block_size = 4096;
  int block_restart_interval = 16;
  // Per-block compression; a block that does not shrink by 1/8 is stored raw.
  CompressionType compression = CompressionType::kLz4;
  // Bits per key of each table's bloom filter (~1% false positives at 10); 0: none.
  int bloom_bits_per_key = 10;
  // Bytes of uncompressed data blocks kept in memory (sharded LRU); 0: no block cache.
  size_t block_cache_size = 64 << 20;
  // Bytes of the row cache (hot key -> newest entry per table, LRU); 0: off. A hit skips
  // the filter, index and block of that table.
  size_t row_cache_size = 0;
  // A hash index over each memtable's keys (1/16 of write_buffer_size): a point lookup
  // of a key in the memtable skips the skiplist search (+16% readrandom on 2M keys) at
  // a cache miss per write (-5% fillrandom). Off by default, as RocksDB's memtable
  // filters; cairn-server turns it on (Redis workloads are point-read heavy).
  bool memtable_hash_index = false;
  // Tables kept open (file descriptor, index and filter in memory), LRU beyond that.
  int max_open_files = 1000;
  // Read tables through memory mappings (up to 1000 files, then pread): a block that
  // misses the block cache costs no system call or copy (LevelDB's default on 64-bit).
  // The price: an I/O error on a mapped page kills the process (SIGBUS) instead of
  // failing the read, so turn this off where disks are expected to fail.
  bool use_mmap_reads = true;

  // Leveled compaction. L0 is compacted into L1 at level0_compaction_trigger files;
  // writes are slowed (1 ms each) at level0_slowdown_writes_trigger L0 files and wait at
  // level0_stop_writes_trigger. Level n >= 1 holds up to
  // max_bytes_for_level_base * max_bytes_for_level_multiplier^(n-1) bytes, in tables of
  // about target_file_size bytes.
  int level0_compaction_trigger = 4;
  int level0_slowdown_writes_trigger = 20;
  int level0_stop_writes_trigger = 36;
  uint64_t max_bytes_for_level_base = 256ull << 20;
  double max_bytes_for_level_multiplier = 10;
  uint64_t target_file_size = 64ull << 20;
  // Seek compaction (LevelDB's): a table that point reads keep searching in vain before
  // finding their key elsewhere is merged into the next level once idle (no level over
  // its size), so the key range reads from fewer tables.
  bool seek_compaction = true;
  // Asked about each live key that compactions rewrite (compaction_filter.h); null: none.
  std::shared_ptr<CompactionFilterFactory> compaction_filter_factory;
  // How long after its expiry compaction keeps a value before rewriting it as a deletion.
  // Readers hide it from its expiry on either way; meanwhile ReadOptions::include_expired
  // still finds it, so an application's own pass over expired keys (the server's active
  // expiry, which counts them) sees each one. 0: as soon as it expired.
  uint64_t expired_retention_micros = 0;

  // Key-value separation (docs/large-values.md): a value of min_blob_size bytes or more
  // is written once to a blob file and the LSM tree keeps a ~20-byte reference, so
  // flushes and compactions move the reference, not the value, and the value never sits
  // in the memtable or the WAL. 64 KiB by default: from there a value costs more to
  // rewrite at every level than one extra read costs (WiscKey measured the crossover
  // at 4-16 KiB on SSDs; RocksDB suggests a few KiB and up), and a data block of 4 KiB
  // would hold it alone anyway. 0: off (every value stays in the tree).
  size_t min_blob_size = 64 << 10;
  // A blob file is sealed and a new one started at this size.
  uint64_t blob_file_size = 256ull << 20;
  // Compaction rewrites the values it meets that live in a sealed blob file whose live
  // bytes (those the tables still refer to) fell below this fraction of its size, so
  // the file can be deleted once the rest have moved too. 0: never rewrite.
  double blob_garbage_collection_threshold = 0.5;

  WalSyncMode wal_sync = WalSyncMode::kEverySec;
  WalRecoveryMode wal_recovery = WalRecoveryMode::kTolerateCorruptedTail;

  // After a background error the database refuses writes (DB::BackgroundError). Unless
  // the error is corruption, it retries DB::Resume this often, so a disk that was full
  // or failing is used again once it recovers; 0: only when the application calls
  // Resume.
  int error_recovery_interval_ms = 1000;
  // Told when the database turns read-only and when it resumes; null: nobody.
  std::shared_ptr<EventListener> listener;
};

struct ReadOptions {
  // Read as of this snapshot (from DB::GetSnapshot); nullptr means the latest state.
  const Snapshot* snapshot = nullptr;
  // Iterators stop before the first key >= this bound (exclusive end of a range scan).
  std::optional<std::string> iterate_upper_bound;
  // Get and iterators return a value whose expiry has passed, until compaction removes it.
  bool include_expired = false;
};

struct WriteOptions {
  // Sync the WAL before acknowledging this write, whatever Options::wal_sync says.
  bool sync = false;
  // Leave this write's WAL record in the process's buffer: the write is applied (readers
  // see it) but not yet handed to the OS, so a process crash may lose it. DB::FlushWal
  // hands every buffered record over in one system call. For a server that acknowledges
  // a batch of requests at once, as Redis does with its AOF: flush, then reply. Ignored
  // for sync writes.
  bool defer_wal_write = false;
};

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_OPTIONS_H_
