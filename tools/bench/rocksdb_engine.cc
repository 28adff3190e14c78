// RocksDB 7.8 (Debian's librocksdb-dev) as a cairn-bench baseline.
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/statistics.h>
#include <rocksdb/table.h>

#include <chrono>
#include <thread>

#include "bench_engine.h"

namespace cairn::bench {
namespace {

absl::Status FromRocks(const rocksdb::Status& s) {
  if (s.ok()) return absl::OkStatus();
  if (s.IsNotFound()) return absl::NotFoundError("");
  return absl::InternalError("rocksdb: " + s.ToString());
}

class RocksDbEngine final : public BenchEngine {
 public:
  RocksDbEngine(rocksdb::DB* db, std::shared_ptr<rocksdb::Statistics> stats)
      : db_(db), stats_(std::move(stats)) {}
  ~RocksDbEngine() override { delete db_; }

  absl::Status Put(std::string_view key, std::string_view value, bool sync) override {
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    return FromRocks(db_->Put(wo, rocksdb::Slice(key.data(), key.size()),
                              rocksdb::Slice(value.data(), value.size())));
  }
  absl::Status Get(std::string_view key, std::string* value) override {
    return FromRocks(db_->Get({}, rocksdb::Slice(key.data(), key.size()), value));
  }
  absl::StatusOr<uint64_t> ScanAll(uint64_t* bytes) override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}));
    uint64_t n = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      *bytes += it->key().size() + it->value().size();
      n++;
    }
    if (!it->status().ok()) return FromRocks(it->status());
    return n;
  }
  absl::Status SeekAndRead(std::string_view target, int count) override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}));
    it->Seek(rocksdb::Slice(target.data(), target.size()));
    for (int i = 0; i < count && it->Valid(); i++) it->Next();
    return FromRocks(it->status());
  }
  absl::Status WaitForBackground() override {
    absl::Status s;  // no forced flush: see cairn_engine.cc
    // RocksDB 7.8 has no WaitForCompact: poll until nothing is pending or running.
    uint64_t pending = 1, running = 1, flushes = 1;
    while (s.ok() && pending + running + flushes > 0) {
      db_->GetIntProperty("rocksdb.compaction-pending", &pending);
      db_->GetIntProperty("rocksdb.num-running-compactions", &running);
      db_->GetIntProperty("rocksdb.num-running-flushes", &flushes);
      if (pending + running + flushes > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
    return s;
  }
  std::string Stats() override {
    std::string stats, mem_entries, tables;
    db_->GetProperty("rocksdb.stats", &stats);
    db_->GetProperty("rocksdb.aggregated-table-properties", &tables);
    stats += "tables: " + tables + "\n";
    db_->GetProperty("rocksdb.num-entries-active-mem-table", &mem_entries);
    return stats + "memtable entries " + mem_entries + "\nflush bytes written " +
           std::to_string(stats_->getTickerCount(rocksdb::FLUSH_WRITE_BYTES)) +
           "\ncompaction bytes written " +
           std::to_string(stats_->getTickerCount(rocksdb::COMPACT_WRITE_BYTES)) + "\n";
  }
  int64_t UnflushedEntries() override {
    uint64_t active = 0, imm = 0;
    if (!db_->GetIntProperty("rocksdb.num-entries-active-mem-table", &active) ||
        !db_->GetIntProperty("rocksdb.num-entries-imm-mem-tables", &imm)) {
      return -1;
    }
    return static_cast<int64_t>(active + imm);
  }
  double TableBytesWritten() override {
    return static_cast<double>(stats_->getTickerCount(rocksdb::FLUSH_WRITE_BYTES) +
                               stats_->getTickerCount(rocksdb::COMPACT_WRITE_BYTES));
  }

 private:
  rocksdb::DB* db_;
  std::shared_ptr<rocksdb::Statistics> stats_;
};

}  // namespace

std::unique_ptr<BenchEngine> NewRocksDbEngine(const std::string& dir, const EngineConfig& c,
                                              absl::Status* status) {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.write_buffer_size = c.write_buffer_bytes;
  o.target_file_size_base = c.target_file_bytes;
  o.compression = c.compression ? rocksdb::kLZ4Compression : rocksdb::kNoCompression;
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = rocksdb::NewLRUCache(c.block_cache_bytes);
  t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(c.bloom_bits_per_key, false));
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  o.statistics = rocksdb::CreateDBStatistics();
  rocksdb::DB* db = nullptr;
  *status = FromRocks(rocksdb::DB::Open(o, dir, &db));
  if (!status->ok()) return nullptr;
  return std::make_unique<RocksDbEngine>(db, o.statistics);
}

}  // namespace cairn::bench
