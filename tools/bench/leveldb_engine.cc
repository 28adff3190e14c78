// LevelDB 1.23 (Debian's libleveldb-dev) as a cairn-bench baseline.
#include <leveldb/cache.h>
#include <leveldb/db.h>
#include <leveldb/filter_policy.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "bench_engine.h"

namespace cairn::bench {
namespace {

absl::Status FromLevel(const leveldb::Status& s) {
  if (s.ok()) return absl::OkStatus();
  if (s.IsNotFound()) return absl::NotFoundError("");
  return absl::InternalError("leveldb: " + s.ToString());
}

class LevelDbEngine final : public BenchEngine {
 public:
  LevelDbEngine(leveldb::DB* db, leveldb::Cache* cache, const leveldb::FilterPolicy* filter)
      : db_(db), cache_(cache), filter_(filter) {}
  ~LevelDbEngine() override {
    delete db_;
    delete cache_;
    delete filter_;
  }

  absl::Status Put(std::string_view key, std::string_view value, bool sync) override {
    leveldb::WriteOptions wo;
    wo.sync = sync;
    return FromLevel(db_->Put(wo, leveldb::Slice(key.data(), key.size()),
                              leveldb::Slice(value.data(), value.size())));
  }
  absl::Status Get(std::string_view key, std::string* value) override {
    return FromLevel(db_->Get({}, leveldb::Slice(key.data(), key.size()), value));
  }
  absl::StatusOr<uint64_t> ScanAll(uint64_t* bytes) override {
    std::unique_ptr<leveldb::Iterator> it(db_->NewIterator({}));
    uint64_t n = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      *bytes += it->key().size() + it->value().size();
      n++;
    }
    if (!it->status().ok()) return FromLevel(it->status());
    return n;
  }
  absl::Status SeekAndRead(std::string_view target, int count) override {
    std::unique_ptr<leveldb::Iterator> it(db_->NewIterator({}));
    it->Seek(leveldb::Slice(target.data(), target.size()));
    for (int i = 0; i < count && it->Valid(); i++) it->Next();
    return FromLevel(it->status());
  }
  absl::Status WaitForBackground() override {
    // LevelDB has no "wait for compactions": poll until its level sizes stop changing.
    std::string prev, cur;
    for (int i = 0; i < 600; i++) {
      db_->GetProperty("leveldb.stats", &cur);
      if (cur == prev && i > 0) break;
      prev = cur;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return absl::OkStatus();
  }
  std::string Stats() override {
    std::string stats, mem;
    db_->GetProperty("leveldb.stats", &stats);
    db_->GetProperty("leveldb.approximate-memory-usage", &mem);
    return stats + "memory (memtables + block cache): " + mem + "\n";
  }
  double TableBytesWritten() override {
    // leveldb.stats: per level "Level Files Size(MB) Time(sec) Read(MB) Write(MB)".
    std::string stats;
    if (!db_->GetProperty("leveldb.stats", &stats)) return -1;
    double written_mb = 0;
    size_t pos = stats.find("-----");
    if (pos == std::string::npos) return -1;
    pos = stats.find('\n', pos);
    if (pos == std::string::npos) return -1;
    std::istringstream in(stats.substr(pos + 1));
    int level, files;
    double size, time, read, write;
    while (in >> level >> files >> size >> time >> read >> write) written_mb += write;
    return written_mb * 1048576.0;
  }

 private:
  leveldb::DB* db_;
  leveldb::Cache* cache_;
  const leveldb::FilterPolicy* filter_;
};

}  // namespace

std::unique_ptr<BenchEngine> NewLevelDbEngine(const std::string& dir, const EngineConfig& c,
                                              absl::Status* status) {
  leveldb::Options o;
  o.create_if_missing = true;
  o.write_buffer_size = c.write_buffer_bytes;
  o.max_file_size = c.target_file_bytes;
  o.compression = c.compression ? leveldb::kSnappyCompression : leveldb::kNoCompression;
  o.block_cache = leveldb::NewLRUCache(c.block_cache_bytes);
  o.filter_policy = leveldb::NewBloomFilterPolicy(c.bloom_bits_per_key);
  leveldb::DB* db = nullptr;
  *status = FromLevel(leveldb::DB::Open(o, dir, &db));
  if (!status->ok()) {
    delete o.block_cache;
    delete o.filter_policy;
    return nullptr;
  }
  return std::make_unique<LevelDbEngine>(db, o.block_cache, o.filter_policy);
}

}  // namespace cairn::bench
