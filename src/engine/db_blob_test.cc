// Key-value separation: large values in blob files, read back whole and in pieces, after
// reopening, through iterators and checkpoints; damage is reported, never read; garbage
// collection deletes dead blob files.
#include <filesystem>
#include <fstream>

#include "base/status.h"
#include "cairn/engine/check.h"
#include "engine/blob_format.h"
#include "engine/db_test_util.h"

namespace cairn::engine {
namespace {

namespace fs = std::filesystem;

std::string Big(char seed, size_t n) {
  std::string v(n, '\0');
  for (size_t i = 0; i < n; i++) v[i] = static_cast<char>(seed + i * 31 + (i >> 12));
  return v;
}

std::vector<std::string> BlobFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".blob") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

class BlobTest : public ::testing::Test {
 protected:
  BlobTest() {
    options_.min_blob_size = 1000;
    options_.blob_file_size = 1 << 20;
  }
  void Open() {
    db_.reset();
    auto db = DB::Open(options_, dir_.path());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
  }
  TempDir dir_;
  Options options_;
  std::unique_ptr<DB> db_;
};

TEST_F(BlobTest, LargeValuesGoToBlobFilesAndReadBack) {
  Open();
  const std::string big = Big('a', 300000), small = "tiny";
  ASSERT_TRUE(db_->Put({}, "big", big).ok());
  ASSERT_TRUE(db_->Put({}, "small", small).ok());
  EXPECT_EQ(BlobFiles(dir_.path()).size(), 1u);
  EXPECT_EQ(GetOrStatus(db_.get(), "big"), big);
  EXPECT_EQ(GetOrStatus(db_.get(), "small"), small);
  // Replayed from the WAL, then from a table.
  Open();
  EXPECT_EQ(GetOrStatus(db_.get(), "big"), big);
  ASSERT_TRUE(db_->Flush().ok());
  Open();
  EXPECT_EQ(GetOrStatus(db_.get(), "big"), big);
  absl::Status s;
  auto all = ScanAll(db_.get(), &s);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(all["big"], big);
  EXPECT_EQ(all["small"], small);
}

TEST_F(BlobTest, PartsBatchesAndExpiry) {
  Open();
  const std::string head = "h", body = Big('b', 200000);
  const std::string_view parts[] = {head, body};
  ASSERT_TRUE(db_->PutParts({}, "parts", parts, 0).ok());
  EXPECT_EQ(GetOrStatus(db_.get(), "parts"), head + body);
  WriteBatch batch;
  batch.Put("b1", Big('c', 5000));
  batch.Put("b2", "small");
  batch.Delete("parts");
  ASSERT_TRUE(db_->Write({}, batch).ok());
  EXPECT_EQ(GetOrStatus(db_.get(), "b1"), Big('c', 5000));
  EXPECT_EQ(GetOrStatus(db_.get(), "b2"), "small");
  EXPECT_EQ(GetOrStatus(db_.get(), "parts"), "NOT_FOUND");
  ASSERT_TRUE(db_->PutParts({}, "gone", parts, 1).ok());  // expired in 1970
  EXPECT_EQ(GetOrStatus(db_.get(), "gone"), "NOT_FOUND");
  ASSERT_TRUE(db_->PutParts({}, "later", parts, uint64_t{1} << 62).ok());
  EXPECT_EQ(GetOrStatus(db_.get(), "later"), head + body);
}

TEST_F(BlobTest, ReaderReadsAnyRange) {
  Open();
  const std::string big = Big('r', 3 * (64 << 10) + 17);
  ASSERT_TRUE(db_->Put({}, "k", big).ok());
  auto reader = db_->GetReader({}, "k");
  ASSERT_TRUE(reader.ok()) << reader.status();
  ASSERT_EQ((*reader)->size(), big.size());
  for (auto [off, n] : {std::pair<size_t, size_t>{0, 10},
                        {65530, 20},
                        {100000, 90000},
                        {big.size() - 5, 5},
                        {0, big.size()}}) {
    std::string got(n, '\0');
    absl::Status s = (*reader)->Read(off, n, got.data());
    ASSERT_TRUE(s.ok()) << off << " " << n << " " << s;
    EXPECT_EQ(got, big.substr(off, n)) << off;
  }
  std::string one(1, '\0');
  EXPECT_FALSE((*reader)->Read(big.size(), 1, one.data()).ok());
  // Overwritten and collected: the open reader still reads the old value.
  ASSERT_TRUE(db_->Put({}, "k", "small now").ok());
  ASSERT_TRUE(db_->CompactRange(nullptr, nullptr).ok());
  std::string got(big.size(), '\0');
  ASSERT_TRUE((*reader)->Read(0, big.size(), got.data()).ok());
  EXPECT_EQ(got, big);
  auto small = db_->GetReader({}, "k");
  ASSERT_TRUE(small.ok());
  EXPECT_EQ((*small)->size(), 9u);
  EXPECT_TRUE(absl::IsNotFound(db_->GetReader({}, "absent").status()));
}

TEST_F(BlobTest, FlippedByteIsCorruptionNeverWrongData) {
  Open();
  const std::string big = Big('x', 200000);
  ASSERT_TRUE(db_->Put({}, "k", big).ok());
  ASSERT_TRUE(db_->Flush().ok());
  db_.reset();
  auto files = BlobFiles(dir_.path());
  ASSERT_EQ(files.size(), 1u);
  const auto size = fs::file_size(files[0]);
  // Header, record header, key, first chunk, a middle chunk's checksum, the last byte.
  for (uint64_t at : {uint64_t{3}, uint64_t{20}, uint64_t{33}, uint64_t{1000},
                      uint64_t{16 + 16 + 1 + 65536 + 2}, size - 1}) {
    std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(at));
    char c;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(at));
    f.put(static_cast<char>(c ^ 0x40));
    f.close();
    auto report = CheckDB(dir_.path(), options_);
    ASSERT_TRUE(report.ok());
    EXPECT_FALSE(report->problems.empty()) << "flip at " << at;
    Open();
    std::string value;
    absl::Status s = db_->Get({}, "k", &value);
    EXPECT_TRUE(IsCorruption(s)) << "flip at " << at << ": " << s;
    absl::Status it_status;
    auto all = ScanAll(db_.get(), &it_status);
    EXPECT_TRUE(IsCorruption(it_status)) << "flip at " << at;
    auto reader = db_->GetReader({}, "k");
    if (reader.ok()) {
      std::string got(big.size(), '\0');
      EXPECT_TRUE(IsCorruption((*reader)->Read(0, big.size(), got.data()))) << at;
    } else {
      EXPECT_TRUE(IsCorruption(reader.status())) << at;
    }
    db_.reset();
    // Undo for the next flip.
    std::fstream g(files[0], std::ios::in | std::ios::out | std::ios::binary);
    g.seekp(static_cast<std::streamoff>(at));
    g.put(c);
  }
  Open();
  EXPECT_EQ(GetOrStatus(db_.get(), "k"), big);
}

TEST_F(BlobTest, MissingBlobFileIsReportedByCheck) {
  Open();
  ASSERT_TRUE(db_->Put({}, "k", Big('m', 5000)).ok());
  ASSERT_TRUE(db_->Flush().ok());
  db_.reset();
  for (const auto& f : BlobFiles(dir_.path())) fs::remove(f);
  auto report = CheckDB(dir_.path(), options_);
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->problems.size(), 1u);
  EXPECT_NE(report->problems[0].detail.find("missing"), std::string::npos);
  Open();
  std::string value;
  EXPECT_TRUE(IsCorruption(db_->Get({}, "k", &value)));
}

// A crash (kill -9) in the middle of an append leaves the newest blob file with a record
// cut short at its end: never acknowledged, nothing refers to it. The check warns of it,
// wherever the cut falls; a cut into a record that a table or a WAL refers to is damage.
TEST_F(BlobTest, CheckTellsATornTailFromDamageToAcknowledgedRecords) {
  Open();
  const std::string flushed = Big('t', 100000), in_wal = Big('w', 70000);
  ASSERT_TRUE(db_->Put({}, "flushed", flushed).ok());
  ASSERT_TRUE(db_->Flush().ok());
  ASSERT_TRUE(db_->Put({}, "in_wal", in_wal).ok());  // referred to by the WAL only
  db_.reset();
  auto files = BlobFiles(dir_.path());
  ASSERT_EQ(files.size(), 1u);
  const uint64_t size = fs::file_size(files[0]);
  const uint64_t wal_record_at = size - BlobRecordSize(6, in_wal.size());
  // The record an interrupted append left: header, key, value, each cut anywhere.
  const std::string torn_value = Big('x', 200000);
  std::string record = BlobRecordHeader("torn", torn_value.size()) + "torn" + torn_value;
  for (size_t cut : {size_t{3}, size_t{16}, size_t{18}, size_t{20}, size_t{5000}, size_t{70000}}) {
    fs::resize_file(files[0], size);
    {
      std::ofstream f(files[0], std::ios::app | std::ios::binary);
      f.write(record.data(), static_cast<std::streamsize>(cut));
    }
    auto report = CheckDB(dir_.path(), options_);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->problems.empty()) << "cut " << cut << ": " << report->problems[0];
    ASSERT_EQ(report->warnings.size(), 1u) << "cut " << cut;
    EXPECT_EQ(report->warnings[0].offset, size) << "cut " << cut;
    EXPECT_NE(report->warnings[0].detail.find("cut short"), std::string::npos);
    EXPECT_EQ(report->blob_records, 2u);
  }
  Open();  // the torn record harms no read
  EXPECT_TRUE(GetOrStatus(db_.get(), "flushed") == flushed);
  EXPECT_TRUE(GetOrStatus(db_.get(), "in_wal") == in_wal);
  db_.reset();
  // Acknowledged records cut short: the one the WAL names, then (the WAL's record gone
  // whole) the one a table names.
  for (uint64_t end : {size - 1, wal_record_at + 20, wal_record_at, wal_record_at - 9}) {
    fs::resize_file(files[0], end);
    auto report = CheckDB(dir_.path(), options_);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_EQ(report->problems.size(), 1u) << "cut at " << end;
  }
}

// After a power failure the unsynced tail of a blob file may be there at full length but
// hold zeros or stale pages: a checksum mismatch where nothing refers to the bytes is a torn
// tail (a warning, the scan stops), while the same damage in a referenced record is damage.
TEST_F(BlobTest, CheckTakesAnUnreferencedTailWithBadChecksumsForATornTail) {
  Open();
  const std::string flushed = Big('t', 100000);
  ASSERT_TRUE(db_->Put({}, "flushed", flushed).ok());
  ASSERT_TRUE(db_->Flush().ok());
  db_.reset();
  auto files = BlobFiles(dir_.path());
  ASSERT_EQ(files.size(), 1u);
  const uint64_t size = fs::file_size(files[0]);
  const std::string lost_value = Big('x', 200000);
  const std::string record = BlobRecordHeader("lost", lost_value.size()) + "lost" + lost_value;
  std::string stale_chunk = record;  // header intact, a value chunk's pages stale
  stale_chunk[record.size() / 2] ^= 0x55;
  // Zeros of full length, then a header intact and a chunk damaged, then two records'
  // worth of zeros (the scan stops at the first).
  for (const std::string& tail :
       {std::string(record.size(), '\0'), stale_chunk, std::string(2 * record.size(), '\0')}) {
    fs::resize_file(files[0], size);
    {
      std::ofstream f(files[0], std::ios::app | std::ios::binary);
      f.write(tail.data(), static_cast<std::streamsize>(tail.size()));
    }
    auto report = CheckDB(dir_.path(), options_);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->problems.empty()) << report->problems[0];
    ASSERT_EQ(report->warnings.size(), 1u);
    EXPECT_EQ(report->warnings[0].offset, size);
    EXPECT_EQ(report->blob_records, 1u);
  }
  Open();
  EXPECT_TRUE(GetOrStatus(db_.get(), "flushed") == flushed);
  db_.reset();
  // The referenced record's own bytes damaged: a problem.
  fs::resize_file(files[0], size);
  {
    std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size - 5000));
    f.put('\x7f');
  }
  auto report = CheckDB(dir_.path(), options_);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->problems.size(), 1u);
}

TEST_F(BlobTest, GarbageCollectionDeletesDeadFilesAndKeepsLiveValues) {
  options_.blob_file_size = 256 << 10;
  Open();
  // Four values a file: 20 values fill 5 files.
  for (int i = 0; i < 20; i++) {
    ASSERT_TRUE(db_->Put({}, "k" + std::to_string(i), Big(static_cast<char>(i), 70000)).ok());
  }
  ASSERT_TRUE(db_->Flush().ok());
  Open();  // seals the active file
  const auto before = BlobFiles(dir_.path());
  ASSERT_GE(before.size(), 5u);
  // Every other value overwritten with a small one, one in four deleted: each old file
  // keeps a quarter of its bytes live.
  for (int i = 0; i < 20; i += 2) ASSERT_TRUE(db_->Put({}, "k" + std::to_string(i), "s").ok());
  for (int i = 1; i < 20; i += 4) ASSERT_TRUE(db_->Delete({}, "k" + std::to_string(i)).ok());
  // The first compaction drops the dead references, which shows the files' garbage; the
  // second rewrites the live values out of them.
  ASSERT_TRUE(db_->CompactRange(nullptr, nullptr).ok());
  ASSERT_TRUE(db_->CompactRange(nullptr, nullptr).ok());
  // Files under half live were rewritten: none of the first files remain.
  for (const auto& f : before) EXPECT_FALSE(fs::exists(f)) << f;
  for (int i = 0; i < 20; i++) {
    const std::string key = "k" + std::to_string(i);
    const std::string want = i % 2 == 0   ? "s"
                             : i % 4 == 1 ? "NOT_FOUND"
                                          : Big(static_cast<char>(i), 70000);
    EXPECT_EQ(GetOrStatus(db_.get(), key), want) << key;
  }
  auto counters = db_->GetProperty("cairn.counters");
  ASSERT_TRUE(counters.has_value());
  EXPECT_NE(counters->find("blob_files_deleted"), std::string::npos);
  Open();
  for (int i = 3; i < 20; i += 4) {
    EXPECT_EQ(GetOrStatus(db_.get(), "k" + std::to_string(i)), Big(static_cast<char>(i), 70000));
  }
  auto report = CheckDB(dir_.path(), options_);
  ASSERT_FALSE(report.ok());  // locked: the database is open
  db_.reset();
  report = CheckDB(dir_.path(), options_);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->problems.empty()) << report->problems[0];
  EXPECT_EQ(report->blob_records, 5u);  // the live values, rewritten
}

// An iterator holds the memtable it was opened on. Once that memtable is flushed and
// retired (its overwritten values left out of the table), the blob files it names must
// outlive it: the iterator still reads the old values, intact.
TEST_F(BlobTest, IteratorOnRetiredMemtableKeepsItsBlobFiles) {
  options_.blob_file_size = 256 << 10;
  options_.blob_garbage_collection_threshold = 0.5;
  Open();
  // Four values fill the first blob file; the fifth seals it and starts another.
  for (int i = 0; i < 5; i++) {
    ASSERT_TRUE(db_->Put({}, "k" + std::to_string(i), Big(static_cast<char>('a' + i), 70000)).ok());
  }
  const auto first_files = BlobFiles(dir_.path());
  ASSERT_EQ(first_files.size(), 2u);
  auto it = db_->NewIterator({});
  auto reader = db_->GetReader({}, "k1");  // opened before: must read on regardless
  ASSERT_TRUE(reader.ok()) << reader.status();
  // Every value overwritten or deleted: the flush writes none of the old references,
  // compaction and garbage collection find the first file dead.
  for (int i = 0; i < 5; i += 2) ASSERT_TRUE(db_->Put({}, "k" + std::to_string(i), "s").ok());
  for (int i = 1; i < 5; i += 2) ASSERT_TRUE(db_->Delete({}, "k" + std::to_string(i)).ok());
  ASSERT_TRUE(db_->Flush().ok());
  ASSERT_TRUE(db_->Put({}, "z", Big('z', 300000)).ok());  // another blob file or two
  ASSERT_TRUE(db_->Flush().ok());
  ASSERT_TRUE(db_->CompactRange(nullptr, nullptr).ok());
  ASSERT_TRUE(db_->CompactRange(nullptr, nullptr).ok());
  EXPECT_TRUE(fs::exists(first_files[0])) << "deleted under an open iterator";
  int n = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next(), n++) {
    ASSERT_EQ(it->key(), "k" + std::to_string(n));
    ASSERT_TRUE(it->value() == Big(static_cast<char>('a' + n), 70000))
        << it->key() << ": " << it->status();
  }
  EXPECT_TRUE(it->status().ok()) << it->status();
  EXPECT_EQ(n, 5);
  std::string got(70000, '\0');
  ASSERT_TRUE((*reader)->Read(0, got.size(), got.data()).ok());
  EXPECT_TRUE(got == Big('b', 70000));
  // Released: the next cleanup deletes the dead file.
  it.reset();
  ASSERT_TRUE(db_->Put({}, "y", "small").ok());
  ASSERT_TRUE(db_->Flush().ok());
  EXPECT_FALSE(fs::exists(first_files[0]));
  EXPECT_TRUE(GetOrStatus(db_.get(), "z") == Big('z', 300000));
  EXPECT_EQ(GetOrStatus(db_.get(), "k0"), "s");
}

TEST_F(BlobTest, CheckpointIncludesBlobFiles) {
  Open();
  const std::string big = Big('p', 150000);
  ASSERT_TRUE(db_->Put({}, "k", big).ok());
  TempDir copy;
  ASSERT_TRUE(db_->Checkpoint(copy.path()).ok());
  ASSERT_TRUE(db_->Put({}, "k", "later").ok());
  ASSERT_TRUE(db_->CompactRange(nullptr, nullptr).ok());
  db_.reset();
  auto db = DB::Open(options_, copy.path());
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ(GetOrStatus(db->get(), "k"), big);
}

}  // namespace
}  // namespace cairn::engine
