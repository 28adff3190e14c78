#include <chrono>
#include <filesystem>
#include <thread>

#include "absl/strings/numbers.h"
#include "bench_engine.h"
#include "cairn/engine/db.h"

namespace cairn::bench {

std::unique_ptr<BenchEngine> NewRocksDbEngine(const std::string& dir, const EngineConfig& c,
                                              absl::Status* s);
std::unique_ptr<BenchEngine> NewLevelDbEngine(const std::string& dir, const EngineConfig& c,
                                              absl::Status* s);

namespace {

class CairnEngine final : public BenchEngine {
 public:
  explicit CairnEngine(std::unique_ptr<engine::DB> db) : db_(std::move(db)) {}

  absl::Status Put(std::string_view key, std::string_view value, bool sync) override {
    engine::WriteOptions wo;
    wo.sync = sync;
    return db_->Put(wo, key, value);
  }
  absl::Status Get(std::string_view key, std::string* value) override {
    return db_->Get({}, key, value);
  }
  absl::StatusOr<uint64_t> ScanAll(uint64_t* bytes) override {
    auto it = db_->NewIterator({});
    uint64_t n = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      *bytes += it->key().size() + it->value().size();
      n++;
    }
    if (!it->status().ok()) return it->status();
    return n;
  }
  absl::Status SeekAndRead(std::string_view target, int count) override {
    auto it = db_->NewIterator({});
    it->Seek(target);
    for (int i = 0; i < count && it->Valid(); i++) it->Next();
    return it->status();
  }
  absl::Status WaitForBackground() override {
    // Compactions triggered by the load run to completion before reads are timed. No
    // flush is forced: LevelDB cannot be asked to, and all engines are measured alike.
    while (db_->GetProperty("cairn.background-busy").value_or("0") == "1") {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return absl::OkStatus();
  }
  std::string Stats() override {
    return db_->GetProperty("cairn.stats").value_or("") +
           "memtables: " + db_->GetProperty("cairn.mem-usage").value_or("") + "\n";
  }
  int64_t UnflushedEntries() override {
    int64_t n = -1;
    if (!absl::SimpleAtoi(db_->GetProperty("cairn.num-entries-memtables").value_or(""), &n)) {
      return -1;
    }
    return n;
  }
  double TableBytesWritten() override {
    // Blob files count too: a value separated from the tree is written once, there.
    double bytes = -1, blobs = 0;
    if (!absl::SimpleAtod(db_->GetProperty("cairn.table-bytes-written").value_or(""), &bytes) ||
        !absl::SimpleAtod(db_->GetProperty("cairn.blob-bytes-written").value_or("0"), &blobs)) {
      return -1;
    }
    return bytes + blobs;
  }

 private:
  std::unique_ptr<engine::DB> db_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<BenchEngine>> OpenEngine(const std::string& name,
                                                        const std::string& dir,
                                                        const EngineConfig& c, bool wipe) {
  std::error_code ec;
  if (wipe) std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir, ec);
  if (name == "cairn") {
    engine::Options o;
    o.block_cache_size = c.block_cache_bytes;
    o.write_buffer_size = c.write_buffer_bytes;
    o.bloom_bits_per_key = c.bloom_bits_per_key;
    o.compression = c.compression ? engine::CompressionType::kLz4 : engine::CompressionType::kNone;
    o.target_file_size = c.target_file_bytes;
    o.memtable_hash_index = c.cairn_memtable_hash_index;
    o.min_blob_size = c.cairn_min_blob_size;
    o.wal_sync = engine::WalSyncMode::kNone;  // per-write sync only where the workload asks
    auto db = engine::DB::Open(o, dir);
    if (!db.ok()) return db.status();
    return std::unique_ptr<BenchEngine>(std::make_unique<CairnEngine>(std::move(*db)));
  }
  absl::Status s;
  std::unique_ptr<BenchEngine> e;
  if (name == "rocksdb") {
    e = NewRocksDbEngine(dir, c, &s);
  } else if (name == "leveldb") {
    e = NewLevelDbEngine(dir, c, &s);
  } else {
    return absl::InvalidArgumentError("unknown engine " + name);
  }
  if (!s.ok()) return s;
  return e;
}

}  // namespace cairn::bench
