// cairn-bench: the same db_bench-style workloads on cairn and on its baselines, in one
// run, with each workload's ops/s, MB/s, latency percentiles and cairn's ratio to each
// baseline (these machines are shared: only side-by-side ratios are meaningful).
//
//   cairn-bench engine --engines cairn,rocksdb,leveldb
//       --benchmarks fillrandom,readrandom --num 5000000 [--value-size 100] [--json FILE]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "base/process.h"
#include "base/random.h"
#include "base/status.h"
#include "bench_engine.h"

namespace cairn::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Flags {
  std::string engines = "cairn,rocksdb,leveldb";
  // Each fill* starts a fresh database; the others use what the previous ones left.
  std::string benchmarks =
      "fillseq,fillsync,fillrandom,overwrite,readrandom,readmissing,readseq,"
      "seekrandom,readwhilewriting";
  uint64_t num = 1000000;
  int64_t reads = -1;  // -1: num
  size_t value_size = 100;
  std::string db = "/tmp/cairn-bench";
  std::string json;
  uint64_t seed = 301;
  int rounds = 1;
  bool use_existing = false;
  bool stats = false;  // print the engine's statistics after every workload  // open what --db
                       // holds instead of wiping it (profiling reads)
  EngineConfig config;
};

struct Result {
  std::string engine, benchmark;
  uint64_t ops = 0;
  uint64_t bytes = 0;
  double seconds = 0;
  double p50_us = 0, p99_us = 0, p999_us = 0;
  double write_amp = -1;
  // Table bytes per byte of the data that reached tables: the workload's bytes scaled by
  // the share of its entries no longer only in memtables. Engines hold different amounts
  // in memory at the end of a load; this compares what they wrote for the same data.
  double write_amp_flushed = -1;
  uint64_t found = 0;
  double ops_per_sec() const { return seconds > 0 ? ops / seconds : 0; }
  double mb_per_sec() const { return seconds > 0 ? bytes / 1048576.0 / seconds : 0; }
};

// Values compress to about half, as db_bench's (compression_ratio 0.5).
class ValueSource {
 public:
  explicit ValueSource(uint64_t seed) {
    Random rnd(seed);
    while (data_.size() < (1 << 20)) {
      std::string piece(50, ' ');
      for (auto& c : piece) c = static_cast<char>(' ' + rnd.Uniform(95));
      data_ += piece;
      data_ += piece;
    }
  }
  std::string_view Next(size_t len) {
    if (pos_ + len > data_.size()) pos_ = 0;
    std::string_view v(data_.data() + pos_, len);
    pos_ += len;
    return v;
  }

 private:
  std::string data_;
  size_t pos_ = 0;
};

std::string Key(uint64_t k) { return absl::StrFormat("%016d", k); }

void Percentiles(std::vector<uint32_t>* nanos, Result* r) {
  if (nanos->empty()) return;
  std::sort(nanos->begin(), nanos->end());
  auto at = [&](double q) {
    size_t i = std::min(nanos->size() - 1, static_cast<size_t>(q * nanos->size()));
    return (*nanos)[i] / 1000.0;
  };
  r->p50_us = at(0.50);
  r->p99_us = at(0.99);
  r->p999_us = at(0.999);
}

class Runner {
 public:
  Runner(const Flags& flags, std::string engine)
      : flags_(flags), engine_name_(std::move(engine)), values_(flags.seed) {}

  absl::StatusOr<Result> Run(const std::string& benchmark) {
    Result r;
    r.engine = engine_name_;
    r.benchmark = benchmark;
    const bool fresh =
        benchmark == "fillseq" || benchmark == "fillrandom" || benchmark == "fillsync";
    if (fresh || db_ == nullptr) {
      db_.reset();
      const bool wipe = fresh || !flags_.use_existing;
      auto db = OpenEngine(engine_name_, flags_.db + "/" + engine_name_, flags_.config, wipe);
      if (!db.ok()) return db.status();
      db_ = std::move(*db);
      user_bytes_ = 0;
    }
    const uint64_t num = flags_.num;
    const uint64_t reads = flags_.reads < 0 ? num : static_cast<uint64_t>(flags_.reads);
    Random rnd(flags_.seed + std::hash<std::string>()(benchmark));
    std::vector<uint32_t> nanos;
    absl::Status s;
    auto timed = [&](auto&& op) {
      auto t0 = Clock::now();
      op();
      nanos.push_back(static_cast<uint32_t>(std::min<int64_t>(
          UINT32_MAX,
          std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count())));
    };
    auto write = [&](uint64_t k, bool sync) {
      std::string key = Key(k);
      std::string_view v = values_.Next(flags_.value_size);
      timed([&] { s = db_->Put(key, v, sync); });
      r.bytes += key.size() + v.size();
      user_bytes_ += key.size() + v.size();
    };
    auto start = Clock::now();
    if (benchmark == "fillseq") {
      for (uint64_t i = 0; i < num && s.ok(); i++) write(i, false);
    } else if (benchmark == "fillrandom" || benchmark == "overwrite") {
      for (uint64_t i = 0; i < num && s.ok(); i++) write(rnd.Uniform(num), false);
    } else if (benchmark == "fillsync") {
      const uint64_t n = std::max<uint64_t>(1000, num / 1000);
      for (uint64_t i = 0; i < n && s.ok(); i++) write(rnd.Uniform(num), true);
    } else if (benchmark == "readrandom" || benchmark == "readmissing" ||
               benchmark == "readwhilewriting") {
      std::atomic<bool> stop{false};
      std::thread writer;
      absl::Status writer_status;
      if (benchmark == "readwhilewriting") {
        writer = std::thread([&] {
          Random wrnd(flags_.seed * 7);
          ValueSource wvalues(flags_.seed * 11);
          while (!stop && writer_status.ok()) {
            writer_status =
                db_->Put(Key(wrnd.Uniform(num)), wvalues.Next(flags_.value_size), false);
          }
        });
      }
      std::string value;
      const bool missing = benchmark == "readmissing";
      for (uint64_t i = 0; i < reads && s.ok(); i++) {
        std::string key = Key(rnd.Uniform(num));
        if (missing) key += ".";
        absl::Status g;
        timed([&] { g = db_->Get(key, &value); });
        if (g.ok()) {
          r.found++;
          r.bytes += key.size() + value.size();
        } else if (!absl::IsNotFound(g)) {
          s = g;
        }
      }
      stop = true;
      if (writer.joinable()) writer.join();
      if (s.ok()) s = writer_status;
      r.ops = reads;
    } else if (benchmark == "readseq") {
      auto n = db_->ScanAll(&r.bytes);
      if (!n.ok()) return n.status();
      r.ops = *n;
    } else if (benchmark == "seekrandom") {
      for (uint64_t i = 0; i < reads && s.ok(); i++) {
        std::string key = Key(rnd.Uniform(num));
        timed([&] { s = db_->SeekAndRead(key, 1); });
      }
      r.ops = reads;
    } else {
      return absl::InvalidArgumentError("unknown benchmark " + benchmark);
    }
    r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (!s.ok()) return s;
    if (r.ops == 0) r.ops = nanos.size();
    Percentiles(&nanos, &r);
    if (fresh || benchmark == "overwrite") {
      // Let compactions settle so write amplification counts the whole cost of the load,
      // and the reads that follow see a settled tree on every engine.
      CAIRN_RETURN_IF_ERROR(db_->WaitForBackground());
      const double table_bytes = db_->TableBytesWritten();
      if (table_bytes >= 0 && user_bytes_ > 0) r.write_amp = table_bytes / user_bytes_;
      const int64_t unflushed = db_->UnflushedEntries();
      if (r.write_amp >= 0 && unflushed >= 0 && static_cast<uint64_t>(unflushed) < r.ops) {
        const double flushed_share = 1.0 - static_cast<double>(unflushed) / r.ops;
        r.write_amp_flushed = table_bytes / (user_bytes_ * flushed_share);
      }
    }
    return r;
  }

  std::string Stats() { return db_ == nullptr ? "" : db_->Stats(); }

 private:
  const Flags& flags_;
  const std::string engine_name_;
  ValueSource values_;
  std::unique_ptr<BenchEngine> db_;
  uint64_t user_bytes_ = 0;
};

void PrintResult(const Result& r) {
  std::printf("%-8s %-17s %11.0f ops/s %8.1f MB/s  p50 %8.2f  p99 %8.2f  p99.9 %9.2f us",
              r.engine.c_str(), r.benchmark.c_str(), r.ops_per_sec(), r.mb_per_sec(), r.p50_us,
              r.p99_us, r.p999_us);
  if (r.write_amp >= 0) std::printf("  write-amp %.3f", r.write_amp);
  if (r.write_amp_flushed >= 0) std::printf(" (%.3f of flushed data)", r.write_amp_flushed);
  if (r.found > 0) std::printf("  (%llu found)", static_cast<unsigned long long>(r.found));
  std::printf("\n");
  std::fflush(stdout);
}

int Main(int argc, char** argv) {
  Flags f;
  CLI::App app{"cairn-bench: cairn and its baselines on the same workloads, side by side"};
  app.require_subcommand(1);
  CLI::App* engine = app.add_subcommand("engine", "Storage engine workloads (db_bench style)");
  engine->add_option("--engines", f.engines, "Comma-separated: cairn,rocksdb,leveldb");
  engine->add_option("--benchmarks", f.benchmarks, "Comma-separated workloads, run in order");
  engine->add_option("--num", f.num, "Keys in the key space / operations per fill");
  engine->add_option("--reads", f.reads, "Operations per read workload (default: --num)");
  engine->add_option("--value-size", f.value_size, "Value bytes (keys are 16 bytes)");
  engine->add_option("--db", f.db, "Directory for the databases (wiped)");
  engine->add_option("--json", f.json, "Also write the results as JSON to this file");
  engine->add_option("--cache-size", f.config.block_cache_bytes, "Block cache bytes");
  engine->add_option("--write-buffer-size", f.config.write_buffer_bytes, "Memtable bytes");
  engine->add_option("--bloom-bits", f.config.bloom_bits_per_key, "Bloom bits per key");
  engine->add_option("--seed", f.seed, "Random seed");
  engine->add_option("--min-blob-size", f.config.cairn_min_blob_size,
                     "cairn: values of this many bytes or more go to blob files (0: off)");
  engine->add_option("--memtable-hash-index", f.config.cairn_memtable_hash_index,
                     "cairn: keep a hash index over the memtable (Options::memtable_hash_index)");
  engine->add_flag("--stats", f.stats, "Print each engine's own statistics after every workload");
  engine->add_flag("--use-existing", f.use_existing,
                   "Read workloads open the database --db already holds (fills still wipe it)");
  engine->add_option("--rounds", f.rounds, "Run every engine this many times, alternating order")
      ->check(CLI::Range(1, 99));
  CLI11_PARSE(app, argc, argv);

  std::vector<std::string> engines = absl::StrSplit(f.engines, ',');
  std::vector<std::string> benchmarks = absl::StrSplit(f.benchmarks, ',');
  std::printf(
      "cairn-bench: %llu keys, 16-byte keys, %zu-byte values, lz4 (leveldb: snappy), "
      "%llu MiB block cache, %d bloom bits, WAL on without per-write sync\n",
      static_cast<unsigned long long>(f.num), f.value_size,
      static_cast<unsigned long long>(f.config.block_cache_bytes >> 20),
      f.config.bloom_bits_per_key);
  // Machine speed drifts on shared VMs: with --rounds N the engines run N times, the order
  // reversed every other round, and the run with the median throughput is reported.
  std::map<std::pair<std::string, std::string>, std::vector<Result>> runs;
  for (int round = 0; round < f.rounds; round++) {
    std::vector<std::string> order = engines;
    if (round % 2 == 1) std::reverse(order.begin(), order.end());
    for (const auto& e : order) {
      Runner runner(f, e);
      for (const auto& b : benchmarks) {
        auto r = runner.Run(b);
        if (!r.ok()) {
          std::fprintf(stderr, "%s %s: %s\n", e.c_str(), b.c_str(), r.status().ToString().c_str());
          return 1;
        }
        PrintResult(*r);
        if (f.stats) std::printf("%s\n", runner.Stats().c_str());
        runs[{e, b}].push_back(*r);
      }
    }
  }
  std::map<std::pair<std::string, std::string>, Result> results;
  for (auto& [key, v] : runs) {
    std::sort(v.begin(), v.end(),
              [](const Result& a, const Result& b) { return a.ops_per_sec() < b.ops_per_sec(); });
    results[key] = v[v.size() / 2];
  }
  if (f.rounds > 1) {
    std::printf("\nmedians of %d rounds:\n", f.rounds);
    for (const auto& e : engines) {
      for (const auto& b : benchmarks) PrintResult(results[{e, b}]);
    }
  }

  std::printf("\nratios (cairn / baseline; > 1 means cairn is faster):\n");
  for (const auto& b : benchmarks) {
    auto cairn = results.find({"cairn", b});
    if (cairn == results.end()) continue;
    for (const auto& e : engines) {
      if (e == "cairn") continue;
      auto base = results.find({e, b});
      if (base == results.end() || base->second.ops_per_sec() == 0) continue;
      std::printf("  %-17s vs %-8s throughput %5.2fx   p99 latency %5.2fx", b.c_str(), e.c_str(),
                  cairn->second.ops_per_sec() / base->second.ops_per_sec(),
                  cairn->second.p99_us > 0 ? base->second.p99_us / cairn->second.p99_us : 0.0);
      if (cairn->second.write_amp >= 0 && base->second.write_amp >= 0) {
        std::printf("   write-amp %.3f vs %.3f", cairn->second.write_amp, base->second.write_amp);
      }
      if (cairn->second.write_amp_flushed >= 0 && base->second.write_amp_flushed >= 0) {
        std::printf(" (of flushed data %.3f vs %.3f)", cairn->second.write_amp_flushed,
                    base->second.write_amp_flushed);
      }
      std::printf("\n");
    }
  }

  if (!f.json.empty()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& [key, r] : results) {
      out.push_back({{"engine", r.engine},
                     {"benchmark", r.benchmark},
                     {"ops_per_sec", r.ops_per_sec()},
                     {"mb_per_sec", r.mb_per_sec()},
                     {"p50_us", r.p50_us},
                     {"p99_us", r.p99_us},
                     {"p999_us", r.p999_us},
                     {"write_amp", r.write_amp},
                     {"write_amp_flushed", r.write_amp_flushed},
                     {"ops", r.ops},
                     {"num", f.num},
                     {"value_size", f.value_size}});
    }
    std::ofstream(f.json) << out.dump(2) << "\n";
  }
  return 0;
}

}  // namespace
}  // namespace cairn::bench

int main(int argc, char** argv) {
  cairn::InitProcess();
  return cairn::bench::Main(argc, argv);
}
