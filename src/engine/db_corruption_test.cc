// Damaged files never yield a wrong value. Bytes are flipped at random positions of
// each kind of file of a real database; the damaged copy must either refuse to open
// with Corruption, or answer every read with the right value or an error.
//
// The sweep (CorruptionSweepTest) flips bytes across every region of every file — each
// table's data blocks, index, metaindex, filter and footer, the WAL, the MANIFEST and
// CURRENT — and also requires `cairn db check` (CheckDB) to name the file, the offset
// and the kind of region of each flip. In CI it takes a sample of each region; the
// whole sweep, every byte of every file, is
//   CAIRN_CORRUPTION_SWEEP=full build/bin/engine_db_test --gtest_filter='CorruptionSweep*'
// (docs/RELIABILITY.md).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "absl/strings/str_format.h"
#include "base/random.h"
#include "base/status.h"
#include "cairn/engine/check.h"
#include "cairn/engine/db.h"
#include "engine/block.h"
#include "engine/db_test_util.h"
#include "engine/filename.h"
#include "engine/format.h"

namespace cairn::engine {
namespace {

namespace fs = std::filesystem;

class CorruptionTest : public ::testing::Test {
 protected:
  static constexpr int kKeys = 400;

  // Three tables with overlapping keys and deletes, plus writes still in the WAL.
  void SetUp() override {
    Options options;
    auto db = DB::Open(options, source_.path());
    ASSERT_TRUE(db.ok());
    for (int round = 0; round < 4; round++) {
      for (int i = round; i < kKeys; i += 1 + round) {
        std::string k = absl::StrFormat("key%04d", i);
        if (round > 0 && i % 7 == 0) {
          ASSERT_TRUE((*db)->Delete({}, k).ok());
          final_.erase(k);
        } else {
          std::string v = absl::StrFormat("v%d-%d-%s", round, i, std::string(i % 50, 'x'));
          ASSERT_TRUE((*db)->Put({}, k, v).ok());
          final_[k] = v;
          history_[k].insert(v);
        }
      }
      if (round < 3) {
        ASSERT_TRUE((*db)->Flush().ok());
      }
    }
  }

  // Copies the source, flips the byte at offset of file `name`, opens and reads it all.
  // *check (if given) receives what CheckDB reported on the damaged copy.
  void DamageAndVerify(const std::string& name, uint64_t offset, bool wal,
                       CheckReport* check = nullptr) {
    TempDir copy;
    fs::copy(source_.path(), copy.path());
    {
      std::fstream f(copy.path() + "/" + name, std::ios::in | std::ios::out | std::ios::binary);
      f.seekg(offset);
      char c;
      f.read(&c, 1);
      c ^= static_cast<char>(1 << (offset % 8));
      f.seekp(offset);
      f.write(&c, 1);
    }
    auto report = CheckDB(copy.path(), {});  // must not crash either
    ASSERT_TRUE(report.ok() || IsCorruption(report.status())) << report.status();
    if (check != nullptr) {
      ASSERT_TRUE(report.ok()) << report.status();
      *check = std::move(*report);
    }

    auto db = DB::Open(Options(), copy.path());
    if (!db.ok()) {
      EXPECT_TRUE(IsCorruption(db.status()) || absl::IsNotFound(db.status()))
          << name << "@" << offset << ": " << db.status();
      return;
    }
    opened_++;
    for (int i = 0; i < kKeys; i++) {
      std::string k = absl::StrFormat("key%04d", i);
      std::string got = GetOrStatus(db->get(), k);
      if (got.starts_with("ERROR")) {
        EXPECT_TRUE(got.find("corruption") != std::string::npos) << got;
        continue;
      }
      auto it = final_.find(k);
      if (wal) {
        // A damaged WAL tail is dropped like a torn tail: older values may come back,
        // but never a value that was not written to this key.
        EXPECT_TRUE(got == "NOT_FOUND" || history_[k].contains(got)) << k << " = " << got;
      } else {
        EXPECT_EQ(got, it == final_.end() ? "NOT_FOUND" : it->second)
            << name << "@" << offset << " " << k;
      }
    }
    auto iter = (*db)->NewIterator({});
    for (iter->SeekToFirst(); iter->Valid(); iter->Next()) {
      std::string k(iter->key()), v(iter->value());
      if (wal) {
        EXPECT_TRUE(history_[k].contains(v)) << k << " = " << v;
      } else {
        EXPECT_EQ(final_[k], v) << name << "@" << offset;
      }
    }
    if (!iter->status().ok()) {
      EXPECT_TRUE(IsCorruption(iter->status())) << iter->status();
    }
  }

  // Calls fn(name, size) for every non-empty file of the type; expects at least one.
  template <typename Fn>
  void ForEachFileOfType(FileType want, Fn&& fn) {
    int files = 0;
    for (const auto& e : fs::directory_iterator(source_.path())) {
      uint64_t number;
      FileType type;
      const std::string name = e.path().filename().string();
      if (!ParseFileName(name, &number, &type) || type != want) continue;
      const uint64_t size = fs::file_size(e.path());
      if (size == 0) continue;
      files++;
      fn(name, size);
    }
    EXPECT_GT(files, 0);
  }

  // Every byte of every file of the type, each with one bit flipped.
  void DamageEveryByteOfType(FileType want) {
    ForEachFileOfType(want, [&](const std::string& name, uint64_t size) {
      for (uint64_t offset = 0; offset < size; offset++) {
        ASSERT_NO_FATAL_FAILURE(DamageAndVerify(name, offset, /*wal=*/false));
      }
    });
  }

  void DamageFilesOfType(FileType want, int positions) {
    Random rnd(static_cast<uint64_t>(want) + 17);
    ForEachFileOfType(want, [&](const std::string& name, uint64_t size) {
      for (int i = 0; i < positions; i++) {
        // Half the flips land in the last 100 bytes, where footers and trailers live.
        uint64_t offset = rnd.OneIn(2) ? rnd.Uniform(size)
                                       : size - 1 - rnd.Uniform(std::min<uint64_t>(size, 100));
        ASSERT_NO_FATAL_FAILURE(DamageAndVerify(name, offset, want == FileType::kLog));
      }
    });
  }

  TempDir source_;
  std::map<std::string, std::string> final_;
  std::map<std::string, std::set<std::string>> history_;
  int opened_ = 0;
};

TEST_F(CorruptionTest, DamagedTablesNeverReturnWrongValues) {
  DamageFilesOfType(FileType::kTable, 60);
  EXPECT_GT(opened_, 0);  // tables open lazily: most damaged copies open, reads catch it
}

TEST_F(CorruptionTest, DamagedWalNeverReturnsGarbage) { DamageFilesOfType(FileType::kLog, 80); }

TEST_F(CorruptionTest, DamagedManifestNeverOpensWrong) {
  // A MANIFEST with several edits (one per flush), each byte damaged in turn.
  DamageEveryByteOfType(FileType::kManifest);
}

TEST_F(CorruptionTest, DamagedCurrentNeverOpensWrong) { DamageEveryByteOfType(FileType::kCurrent); }

// The regions of a table, from its footer, metaindex and index: [start, end) and the kind
// CheckDB must name for damage inside it.
struct Region {
  uint64_t start, end;
  std::string kind;
};

std::vector<Region> TableRegions(const std::string& path) {
  std::vector<Region> regions;
  auto file = Env::Default()->NewRandomAccessFile(path);
  const uint64_t size = fs::file_size(path);
  EXPECT_TRUE(file.ok());
  const uint64_t data_end = size - Footer::kEncodedLength;
  char space[Footer::kEncodedLength];
  std::string_view bytes;
  Footer footer;
  EXPECT_TRUE((*file)->Read(data_end, Footer::kEncodedLength, &bytes, space).ok());
  EXPECT_TRUE(footer.DecodeFrom(bytes).ok());
  auto block = [&](const BlockHandle& h, const char* kind) {
    regions.push_back({h.offset, h.offset + h.size + kBlockTrailerSize, kind});
    auto contents = ReadBlock(file->get(), h);
    EXPECT_TRUE(contents.ok());
    return std::make_shared<const Block>(std::move(*contents));
  };
  auto meta = Block::NewIterator(block(footer.metaindex, "metaindex block"), CompareBytewise);
  for (meta->SeekToFirst(); meta->Valid(); meta->Next()) {
    BlockHandle h;
    std::string_view v = meta->value();
    EXPECT_TRUE(h.DecodeFrom(&v).ok());
    block(h, "filter block");
  }
  auto index = Block::NewIterator(block(footer.index, "index block"), CompareInternalKeys);
  for (index->SeekToFirst(); index->Valid(); index->Next()) {
    BlockHandle h;
    std::string_view v = index->value();
    EXPECT_TRUE(h.DecodeFrom(&v).ok());
    block(h, "data block");
  }
  regions.push_back({data_end, size, "footer"});
  std::sort(regions.begin(), regions.end(),
            [](const Region& a, const Region& b) { return a.start < b.start; });
  return regions;
}

class CorruptionSweepTest : public CorruptionTest {
 protected:
  // Offsets to flip in [start, end): all of them in the full sweep; otherwise the first
  // and last bytes (lengths, trailers) and a sample between.
  static std::vector<uint64_t> Offsets(uint64_t start, uint64_t end) {
    static const bool full = [] {
      const char* v = std::getenv("CAIRN_CORRUPTION_SWEEP");
      return v != nullptr && std::string(v) == "full";
    }();
    std::vector<uint64_t> out;
    const uint64_t step = full ? 1 : std::max<uint64_t>(1, (end - start) / 12);
    for (uint64_t o = start; o < end; o += step) out.push_back(o);
    for (uint64_t o = end > start + 8 ? end - 8 : start; o < end; o++) out.push_back(o);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }
  // The problems and warnings naming `file`.
  static std::vector<CheckProblem> Naming(const CheckReport& r, const std::string& file) {
    std::vector<CheckProblem> out;
    for (const auto* list : {&r.problems, &r.warnings}) {
      for (const auto& p : *list) {
        if (p.file == file) out.push_back(p);
      }
    }
    return out;
  }
  static std::string Describe(const CheckReport& r) {
    std::string out;
    for (const auto& p : r.problems) out += "\n  problem: " + p.ToString();
    for (const auto& p : r.warnings) out += "\n  warning: " + p.ToString();
    return out.empty() ? " nothing reported" : out;
  }
  uint64_t flips_ = 0;
};

TEST_F(CorruptionSweepTest, EveryTableFlipIsNamedWithItsRegionAndNeverReadWrong) {
  std::set<std::string> kinds;
  ForEachFileOfType(FileType::kTable, [&](const std::string& name, uint64_t) {
    for (const Region& region : TableRegions(source_.path() + "/" + name)) {
      kinds.insert(region.kind);
      for (uint64_t offset : Offsets(region.start, region.end)) {
        CheckReport report;
        ASSERT_NO_FATAL_FAILURE(DamageAndVerify(name, offset, /*wal=*/false, &report));
        flips_++;
        // A table's every byte is under a checksum: the flip is a problem, in its region.
        bool named = false;
        for (const auto& p : report.problems) {
          named |= p.file == name && p.offset == region.start && p.kind == region.kind;
        }
        ASSERT_TRUE(named) << name << " offset " << offset << " in the " << region.kind
                           << " at " << region.start << ":" << Describe(report);
      }
    }
  });
  EXPECT_EQ(kinds, (std::set<std::string>{"data block", "filter block", "footer", "index block",
                                          "metaindex block"}));
  std::printf("table flips: %llu, every one named\n", static_cast<unsigned long long>(flips_));
}

TEST_F(CorruptionSweepTest, EveryWalFlipIsNamedAndNeverReadWrong) {
  ForEachFileOfType(FileType::kLog, [&](const std::string& name, uint64_t size) {
    for (uint64_t offset : Offsets(0, size)) {
      CheckReport report;
      ASSERT_NO_FATAL_FAILURE(DamageAndVerify(name, offset, /*wal=*/true, &report));
      flips_++;
      // A problem (intact records follow the damage: Open refuses) or a warning (a torn
      // tail: Open drops it and says so in cairn.recovery), at or before the flip.
      bool named = false;
      for (const auto& p : Naming(report, name)) {
        named |= p.kind == "WAL record" && p.offset <= offset;
      }
      ASSERT_TRUE(named) << name << " offset " << offset << ":" << Describe(report);
    }
  });
  std::printf("WAL flips: %llu, every one named\n", static_cast<unsigned long long>(flips_));
}

TEST_F(CorruptionSweepTest, EveryManifestAndCurrentFlipIsNamed) {
  for (FileType type : {FileType::kManifest, FileType::kCurrent}) {
    ForEachFileOfType(type, [&](const std::string& name, uint64_t size) {
      for (uint64_t offset : Offsets(0, size)) {
        CheckReport report;
        ASSERT_NO_FATAL_FAILURE(DamageAndVerify(name, offset, /*wal=*/false, &report));
        flips_++;
        bool named = false;
        for (const auto& p : Naming(report, name)) {
          named |= type == FileType::kCurrent ? p.kind == "CURRENT"
                                              : p.kind.starts_with("MANIFEST") && p.offset <= offset;
        }
        ASSERT_TRUE(named) << name << " offset " << offset << ":" << Describe(report);
      }
    });
  }
  std::printf("MANIFEST and CURRENT flips: %llu, every one named\n",
              static_cast<unsigned long long>(flips_));
}

}  // namespace
}  // namespace cairn::engine
