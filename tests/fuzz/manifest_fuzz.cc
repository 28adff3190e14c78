// libFuzzer target for the MANIFEST's parsers (docs/formats/manifest.md). Input: either
// one encoded VersionEdit or a MANIFEST file (edits in WAL framing); every input is tried
// as both.
//
// As an edit: VersionEdit::DecodeFrom. As a MANIFEST: VersionSet::Recover, which reads
// CURRENT and the MANIFEST through an Env (here one in memory) and needs no DB. The
// MANIFEST is read as it is and, when that changes it, once more with every header_check
// and checksum repaired (RepairLogFraming), so mutated edits get past the checksums.
//
// Invariants checked (a violation aborts, which libFuzzer reports as a crash):
//  - DecodeFrom fails only with Corruption ("version edit: ..."); an edit that decodes
//    re-encodes (EncodeTo) to bytes no longer than the input that decode to the same edit
//    and re-encode to the same bytes; decoding into a used edit equals decoding into a
//    fresh one;
//  - Recover fails only with Corruption, and exactly when the rules of manifest.md say it
//    must: damage followed by a record, an edit that does not decode, a missing log number,
//    next file number or last sequence, file number 2^64-1 in use (it would wrap the next
//    file number to 0), log number 0 outside MANIFEST-000001, or a missing WAL. These are
//    checked against the records wal::Reader returns, decoded and applied here
//    independently;
//  - after Recover, the live tables per level are those the edits leave, levels 1+ sorted
//    by smallest key; log number, last sequence and next file number are the last edits'
//    values, and the next file number is above every number in use.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "engine/dbformat.h"
#include "engine/filename.h"
#include "engine/table_cache.h"
#include "engine/version_edit.h"
#include "engine/version_set.h"
#include "engine/wal_reader.h"
#include "fuzz_util.h"

namespace cairn::engine {
namespace {

using fuzz::Check;

// ---- Edits -------------------------------------------------------------------------

bool SameFile(const FileMetaData& a, const FileMetaData& b) {
  return a.number == b.number && a.file_size == b.file_size && a.smallest == b.smallest &&
         a.largest == b.largest && a.smallest_seq == b.smallest_seq &&
         a.largest_seq == b.largest_seq;
}

bool SameEdit(const VersionEdit& a, const VersionEdit& b) {
  if (a.log_number() != b.log_number() || a.next_file_number() != b.next_file_number() ||
      a.last_sequence() != b.last_sequence() || a.deleted_files() != b.deleted_files() ||
      a.new_files().size() != b.new_files().size()) {
    return false;
  }
  for (size_t i = 0; i < a.new_files().size(); i++) {
    if (a.new_files()[i].first != b.new_files()[i].first ||
        !SameFile(a.new_files()[i].second, b.new_files()[i].second)) {
      return false;
    }
  }
  return true;
}

void CheckEdit(const VersionEdit& e) {
  for (const auto& [level, number] : e.deleted_files()) {
    Check(level >= 0 && level < kNumLevels, "decoded a deleted file at a bad level");
  }
  for (const auto& [level, f] : e.new_files()) {
    Check(level >= 0 && level < kNumLevels, "decoded a new file at a bad level");
    Check(f.smallest.size() >= 8 && f.largest.size() >= 8, "decoded a key shorter than 8 bytes");
  }
}

void FuzzEdit(std::string_view input) {
  VersionEdit edit;
  const absl::Status s = edit.DecodeFrom(input);
  fuzz::CheckCorruptionOrOk(s, "DecodeFrom: error other than Corruption");
  Check(s.ok() || s.message().find("version edit: ") != std::string_view::npos,
        "DecodeFrom: error without its prefix");

  // Decoding replaces whatever the edit held.
  VersionEdit used;
  used.SetLogNumber(1);
  used.SetLastSequence(2);
  used.RemoveFile(3, 4);
  FileMetaData f;
  f.number = 5;
  f.smallest = f.largest = std::string(8, 'k');
  used.AddFile(1, f);
  Check(used.DecodeFrom(input) == s, "decoding into a used edit: another status");
  if (!s.ok()) return;
  Check(SameEdit(edit, used), "decoding into a used edit: another edit");
  CheckEdit(edit);

  std::string encoded;
  edit.EncodeTo(&encoded);
  Check(encoded.size() <= input.size(), "re-encoded edit is longer than its input");
  VersionEdit again;
  Check(again.DecodeFrom(encoded).ok(), "re-encoded edit does not decode");
  Check(SameEdit(edit, again), "re-encoded edit decodes to another edit");
  std::string reencoded;
  again.EncodeTo(&reencoded);
  Check(reencoded == encoded, "encoding is not stable");
}

// ---- MANIFEST files ----------------------------------------------------------------

// The files of one database directory, in memory; only what VersionSet::Recover uses.
class MemEnv final : public Env {
 public:
  // logs_exist: whether FileExists says yes to WAL files.
  explicit MemEnv(bool logs_exist) : logs_exist_(logs_exist) {}
  void Put(const std::string& path, std::string data) { files_[path] = std::move(data); }

  absl::StatusOr<std::unique_ptr<SequentialFile>> NewSequentialFile(
      const std::string& path) override {
    auto it = files_.find(path);
    if (it == files_.end()) return absl::NotFoundError(path);
    return std::make_unique<fuzz::StringSequentialFile>(it->second);
  }
  bool FileExists(const std::string& path) override {
    if (files_.contains(path)) return true;
    uint64_t number;
    FileType type;
    const std::string name = path.substr(path.rfind('/') + 1);
    return logs_exist_ && ParseFileName(name, &number, &type) && type == FileType::kLog;
  }

  absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string&) override {
    return Unused();
  }
  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string&) override {
    return Unused();
  }
  absl::StatusOr<std::vector<std::string>> GetChildren(const std::string&) override {
    return Unused();
  }
  absl::Status RemoveFile(const std::string&) override { return Unused(); }
  absl::Status CreateDir(const std::string&) override { return Unused(); }
  absl::Status RemoveDir(const std::string&) override { return Unused(); }
  absl::StatusOr<uint64_t> GetFileSize(const std::string&) override { return Unused(); }
  absl::Status RenameFile(const std::string&, const std::string&) override { return Unused(); }
  absl::Status TruncateFile(const std::string&, uint64_t) override { return Unused(); }
  absl::Status LinkFile(const std::string&, const std::string&) override { return Unused(); }
  absl::Status SyncDir(const std::string&) override { return Unused(); }
  absl::StatusOr<std::unique_ptr<FileLock>> LockFile(const std::string&) override {
    return Unused();
  }
  uint64_t NowMicros() override { return 0; }
  uint64_t NowUnixMicros() override { return 0; }
  void SleepForMicros(uint64_t) override {}

 private:
  static absl::Status Unused() {
    fuzz::Violation("VersionSet::Recover used an Env call it should not need");
  }
  const bool logs_exist_;
  std::map<std::string, std::string> files_;
};

// What Recover must make of the MANIFEST, worked out from the records wal::Reader returns.
struct Expected {
  bool ok = true;
  uint64_t log_number = 0, next_file = 0, last_sequence = 0;
  std::vector<std::vector<uint64_t>> levels = std::vector<std::vector<uint64_t>>(kNumLevels);
};

Expected Replay(std::string_view manifest, uint64_t manifest_number, bool logs_exist) {
  Expected out;
  wal::DamageSummary damage;
  wal::Reader reader(std::make_unique<fuzz::StringSequentialFile>(manifest), &damage);
  std::optional<uint64_t> log_number, next_file, last_sequence;
  std::string scratch;
  std::string_view record;
  while (reader.ReadRecord(&record, &scratch)) {
    VersionEdit edit;
    if (damage.damaged || !edit.DecodeFrom(record).ok()) {
      out.ok = false;  // damage before the end, or an edit that does not decode
      return out;
    }
    for (int level = 0; level < kNumLevels; level++) {
      std::erase_if(out.levels[level], [&](uint64_t n) {
        return edit.deleted_files().contains({level, n});
      });
    }
    for (const auto& [level, f] : edit.new_files()) out.levels[level].push_back(f.number);
    if (edit.log_number()) log_number = edit.log_number();
    if (edit.next_file_number()) next_file = edit.next_file_number();
    if (edit.last_sequence()) last_sequence = edit.last_sequence();
  }
  Check(reader.status().ok(), "I/O error from a file that cannot fail");
  if (!log_number || !next_file || !last_sequence) {
    out.ok = false;
    return out;
  }
  // The largest number in use would wrap the next file number to 0.
  uint64_t largest = std::max(manifest_number, *log_number);
  for (const auto& numbers : out.levels) {
    for (uint64_t n : numbers) largest = std::max(largest, n);
  }
  if (largest == std::numeric_limits<uint64_t>::max() ||
      (*log_number == 0 && manifest_number != 1) || (*log_number != 0 && !logs_exist)) {
    out.ok = false;
    return out;
  }
  out.log_number = *log_number;
  out.next_file = *next_file;
  out.last_sequence = *last_sequence;
  for (auto& numbers : out.levels) std::sort(numbers.begin(), numbers.end());
  return out;
}

void FuzzManifest(std::string_view manifest, uint64_t manifest_number, bool logs_exist) {
  const std::string dir = "/db";
  MemEnv env(logs_exist);
  const std::string path = ManifestFileName(dir, manifest_number);
  env.Put(CurrentFileName(dir), path.substr(dir.size() + 1) + "\n");
  env.Put(path, std::string(manifest));
  TableCache tables(&env, dir, 10, nullptr, 0, false);
  VersionSet versions(&env, dir, &tables);
  const absl::Status s = versions.Recover();
  fuzz::CheckCorruptionOrOk(s, "Recover: error other than Corruption");

  const Expected expected = Replay(manifest, manifest_number, logs_exist);
  Check(s.ok() == expected.ok, expected.ok ? "Recover failed on a good MANIFEST"
                                           : "Recover accepted a bad MANIFEST");
  if (!s.ok()) return;

  Check(versions.log_number() == expected.log_number, "Recover: another log number");
  Check(versions.LastSequence() == expected.last_sequence, "Recover: another last sequence");
  Check(versions.manifest_file_number() == manifest_number, "Recover: another MANIFEST number");
  const uint64_t next = versions.PeekNextFileNumber();
  Check(next >= expected.next_file, "Recover: next file number below the MANIFEST's");
  Check(next > manifest_number && next > expected.log_number,
        "Recover: next file number not above the MANIFEST's or the WAL's number");
  const auto v = versions.current();
  for (int level = 0; level < kNumLevels; level++) {
    const Version::FileList& files = v->files(level);
    std::vector<uint64_t> numbers;
    for (const auto& f : files) {
      numbers.push_back(f->number);
      Check(next > f->number, "Recover: next file number not above a live table's");
    }
    std::sort(numbers.begin(), numbers.end());
    Check(numbers == expected.levels[level], "Recover: other live tables than the edits leave");
    for (size_t i = 1; level > 0 && i < files.size(); i++) {
      Check(CompareInternalKeys(files[i - 1]->smallest, files[i]->smallest) <= 0,
            "Recover: a level above 0 not sorted by smallest key");
    }
  }
}

void FuzzManifestFile(std::string_view file) {
  // A new database's (or a checkpoint's) MANIFEST, where log number 0 is allowed, with no
  // WAL in the directory; and a later one, with its WAL.
  FuzzManifest(file, 1, false);
  FuzzManifest(file, 7, true);
}

}  // namespace
}  // namespace cairn::engine

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  cairn::engine::FuzzEdit(input);
  cairn::engine::FuzzManifestFile(input);
  const std::string repaired = cairn::fuzz::RepairLogFraming(input);
  if (repaired != input) cairn::engine::FuzzManifestFile(repaired);
  return 0;
}
