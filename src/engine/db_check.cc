// CheckDB: walks every file of a database by its layout (docs/formats/), so that each
// problem names the file, the offset and the kind of region where it lies.
#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status.h"
#include "cairn/engine/check.h"
#include "engine/blob_store.h"
#include "engine/block.h"
#include "engine/bloom.h"
#include "engine/filename.h"
#include "engine/format.h"
#include "engine/table_cache.h"
#include "engine/version_edit.h"
#include "engine/version_set.h"
#include "engine/wal_reader.h"
#include "engine/write_batch_internal.h"

namespace cairn::engine {

std::string CheckProblem::ToString() const {
  return absl::StrFormat("%s at offset %d (%s): %s", file, offset, kind, detail);
}

std::ostream& operator<<(std::ostream& os, const CheckProblem& p) { return os << p.ToString(); }

namespace {

// Where, per blob file, the last record that something refers to ends: damage before
// that point is corruption, a record cut short after it a torn tail (VerifyBlobFile).
class BlobReferences {
 public:
  // stored: a kTypeBlobIndex entry's value (expiry, then the reference).
  void Add(std::string_view key, std::string_view stored) {
    BlobRef ref;
    if (stored.size() < 8 || !DecodeBlobRef(stored.substr(8), &ref).ok()) return;
    uint64_t& end = ends_[ref.file];
    end = std::max(end, ref.offset + BlobRecordSize(key.size(), ref.size));
  }
  uint64_t end(uint64_t file) const {
    auto it = ends_.find(file);
    return it == ends_.end() ? 0 : it->second;
  }

 private:
  std::map<uint64_t, uint64_t> ends_;
};

class ReferenceHandler final : public WriteBatch::Handler {
 public:
  explicit ReferenceHandler(BlobReferences* refs) : refs_(refs) {}
  void Put(std::string_view, std::string_view) override {}
  void Delete(std::string_view) override {}
  void PutBlobIndex(std::string_view key, std::string_view stored) override {
    refs_->Add(key, stored);
  }

 private:
  BlobReferences* const refs_;
};

class Checker {
 public:
  Checker(Env* env, std::string dir, CheckReport* report)
      : env_(env), dir_(std::move(dir)), report_(report) {}

  // CURRENT and every MANIFEST record. False if the MANIFEST's state cannot be trusted
  // (then tables and WALs are not checked against it).
  bool CheckManifest();
  void CheckTable(const FileMetaData& f);
  // Damage is a problem when intact records follow it, in this WAL or a later one (the
  // rule recovery applies); otherwise it is a torn tail that Open truncates: pending_
  // carries it to the next WAL.
  void CheckWal(uint64_t number);
  // Called after the last WAL.
  void FinishWals();
  // The blob references met in the tables and WALs checked so far.
  const BlobReferences& blob_references() const { return blob_refs_; }

 private:
  void Problem(const std::string& file, uint64_t offset, std::string_view kind,
               absl::string_view detail) {
    report_->problems.push_back(CheckProblem{file, offset, std::string(kind), std::string(detail)});
  }
  void Warning(const std::string& file, uint64_t offset, std::string_view kind,
               absl::string_view detail) {
    report_->warnings.push_back(CheckProblem{file, offset, std::string(kind), std::string(detail)});
  }
  void CheckDataBlock(const std::string& name, const RandomAccessFile* file, const BlockHandle& h,
                      std::string_view index_key, const FileMetaData& f, std::string_view filter,
                      bool first_block, std::string* prev, uint64_t* entries);

  Env* const env_;
  const std::string dir_;
  CheckReport* const report_;
  std::optional<CheckProblem> pending_;  // WAL damage with no intact record after it yet
  SequenceNumber wal_sequence_ = 0;      // last sequence of the previous WAL record
  BlobReferences blob_refs_;
};

bool Checker::CheckManifest() {
  std::string current;
  absl::Status s = ReadFileToString(env_, CurrentFileName(dir_), &current);
  if (!s.ok()) {
    Problem("CURRENT", 0, "CURRENT", s.message());
    return false;
  }
  uint64_t number;
  FileType type;
  if (current.empty() || current.back() != '\n' ||
      !ParseFileName(std::string_view(current).substr(0, current.size() - 1), &number, &type) ||
      type != FileType::kManifest) {
    Problem("CURRENT", 0, "CURRENT", "does not hold a MANIFEST name and a newline");
    return false;
  }
  const std::string name = current.substr(0, current.size() - 1);
  auto file = env_->NewSequentialFile(dir_ + "/" + name);
  if (!file.ok()) {
    Problem("CURRENT", 0, "CURRENT", absl::StrCat("names ", name, ": ", file.status().message()));
    return false;
  }
  wal::DamageSummary damage;
  wal::Reader reader(std::move(*file), &damage);
  std::string scratch;
  std::string_view record;
  bool ok = true, reported = false;
  while (reader.ReadRecord(&record, &scratch)) {
    if (damage.damaged && !reported) {
      Problem(name, damage.first_offset, "MANIFEST record",
              absl::StrCat(damage.first_reason, "; intact records follow"));
      reported = true;
      ok = false;
    }
    VersionEdit edit;
    if (absl::Status e = edit.DecodeFrom(record); !e.ok()) {
      Problem(name, reader.last_record_offset(), "MANIFEST record", e.message());
      ok = false;
    }
  }
  if (!reader.status().ok()) {
    Problem(name, reader.end_of_last_record(), "MANIFEST record", reader.status().message());
    return false;
  }
  if (damage.damaged && !reported) {
    // Open drops a damaged last edit when the state before it is complete (the WAL it
    // names still exists); VersionSet::Recover decides, below.
    Warning(name, damage.first_offset, "MANIFEST record",
            absl::StrCat(damage.first_reason, "; the last edit is dropped by the next open"));
  }
  return ok;
}

void Checker::CheckDataBlock(const std::string& name, const RandomAccessFile* file,
                             const BlockHandle& h, std::string_view index_key,
                             const FileMetaData& f, std::string_view filter, bool first_block,
                             std::string* prev, uint64_t* entries) {
  auto contents = ReadBlock(file, h);
  if (!contents.ok()) {
    Problem(name, h.offset, "data block", contents.status().message());
    return;
  }
  auto iter =
      Block::NewIterator(std::make_shared<const Block>(std::move(*contents)), CompareInternalKeys);
  std::string last;
  for (iter->SeekToFirst(); iter->Valid(); iter->Next()) {
    std::string_view key = iter->key();
    ParsedInternalKey parsed;
    std::string why;
    if (!ParseInternalKey(key, &parsed)) {
      why = "malformed internal key";
    } else if (!prev->empty() && CompareInternalKeys(*prev, key) >= 0) {
      why = "keys out of order";
    } else if (parsed.sequence < f.smallest_seq || parsed.sequence > f.largest_seq) {
      why = absl::StrCat("sequence ", parsed.sequence, " outside the MANIFEST's range");
    } else if (first_block && last.empty() && key != f.smallest) {
      why = "first key differs from the MANIFEST";
    } else if (!filter.empty() && !BloomFilterMayMatch(filter, parsed.user_key)) {
      why = "the filter block says a key of this block is absent";
    }
    if (!why.empty()) {
      Problem(name, h.offset, "data block", absl::StrCat(why, " at entry ", *entries));
      return;
    }
    if (parsed.type == kTypeBlobIndex) blob_refs_.Add(parsed.user_key, iter->value());
    prev->assign(key.data(), key.size());
    last.assign(key.data(), key.size());
    (*entries)++;
  }
  if (!iter->status().ok()) {
    Problem(name, h.offset, "data block", iter->status().message());
  } else if (last.empty()) {
    Problem(name, h.offset, "data block", "empty block");
  } else if (CompareInternalKeys(last, index_key) > 0) {
    Problem(name, h.offset, "data block", "holds keys past its index entry");
  }
}

void Checker::CheckTable(const FileMetaData& f) {
  const std::string name = absl::StrFormat("%06d.sst", f.number);
  const std::string path = TableFileName(dir_, f.number);
  auto size = env_->GetFileSize(path);
  if (!size.ok()) {
    Problem(name, 0, "table file",
            absl::StrCat("the MANIFEST names it: ", size.status().message()));
    return;
  }
  if (*size != f.file_size) {
    Problem(name, std::min(*size, f.file_size), "table file",
            absl::StrCat(*size, " bytes; the MANIFEST says ", f.file_size));
    return;
  }
  auto file = env_->NewRandomAccessFile(path);
  if (!file.ok()) {
    Problem(name, 0, "table file", file.status().message());
    return;
  }
  const RandomAccessFile* raf = file->get();
  report_->tables++;
  if (*size < Footer::kEncodedLength) {
    Problem(name, 0, "footer", "file too short to be a table");
    return;
  }
  const uint64_t data_end = *size - Footer::kEncodedLength;
  char footer_space[Footer::kEncodedLength];
  std::string_view footer_bytes;
  Footer footer;
  absl::Status s = raf->Read(data_end, Footer::kEncodedLength, &footer_bytes, footer_space);
  if (s.ok()) s = footer.DecodeFrom(footer_bytes);
  if (!s.ok()) {
    Problem(name, data_end, "footer", s.message());
    return;
  }
  auto inside = [&](const BlockHandle& h) {
    return h.offset <= data_end && h.size + kBlockTrailerSize <= data_end - h.offset;
  };
  if (!inside(footer.index)) {
    Problem(name, data_end, "footer", "index block handle points outside the table");
    return;
  }
  auto index_contents = ReadBlock(raf, footer.index);
  if (!index_contents.ok()) {
    Problem(name, footer.index.offset, "index block", index_contents.status().message());
    return;
  }
  BlockContents filter;
  if (footer.format_version >= kFirstBlockedBloomFormatVersion) {
    if (!inside(footer.metaindex)) {
      Problem(name, data_end, "footer", "metaindex block handle points outside the table");
      return;
    }
    auto meta_contents = ReadBlock(raf, footer.metaindex);
    if (!meta_contents.ok()) {
      Problem(name, footer.metaindex.offset, "metaindex block", meta_contents.status().message());
      return;
    }
    auto meta = Block::NewIterator(std::make_shared<const Block>(std::move(*meta_contents)),
                                   CompareBytewise);
    meta->Seek(kBloomFilterName);
    if (meta->Valid() && meta->key() == kBloomFilterName) {
      BlockHandle h;
      std::string_view encoded = meta->value();
      if (!h.DecodeFrom(&encoded).ok() || !inside(h)) {
        Problem(name, footer.metaindex.offset, "metaindex block", "bad filter block handle");
        return;
      }
      auto filter_contents = ReadBlock(raf, h);
      if (!filter_contents.ok()) {
        Problem(name, h.offset, "filter block", filter_contents.status().message());
        return;
      }
      filter = std::move(*filter_contents);
    }
    if (!meta->status().ok()) {
      Problem(name, footer.metaindex.offset, "metaindex block", meta->status().message());
      return;
    }
  }

  auto index = Block::NewIterator(std::make_shared<const Block>(std::move(*index_contents)),
                                  CompareInternalKeys);
  std::string prev;
  uint64_t entries = 0, next_offset = 0, blocks = 0;
  const size_t problems_before = report_->problems.size();
  for (index->SeekToFirst(); index->Valid(); index->Next()) {
    BlockHandle h;
    std::string_view encoded = index->value();
    // Data blocks are written back to back from offset 0: a gap or an overlap means an
    // index entry points somewhere a writer never put a block.
    if (!h.DecodeFrom(&encoded).ok() || !inside(h) || h.offset != next_offset) {
      Problem(name, footer.index.offset, "index block",
              absl::StrCat("the handle of data block ", blocks, " (offset ", h.offset,
                           ") is malformed, outside the table, or leaves a gap or an overlap"));
      return;
    }
    next_offset = h.offset + h.size + kBlockTrailerSize;
    CheckDataBlock(name, raf, h, index->key(), f, filter.data, blocks == 0, &prev, &entries);
    blocks++;
  }
  if (!index->status().ok()) {
    Problem(name, footer.index.offset, "index block", index->status().message());
    return;
  }
  if (report_->problems.size() != problems_before) return;
  if (entries == 0) {
    Problem(name, 0, "table file", "table is empty");
  } else if (prev != f.largest) {
    Problem(name, footer.index.offset, "index block",
            "the last key differs from the MANIFEST (a data block is missing from the index)");
  }
  report_->table_entries += entries;
}

void Checker::CheckWal(uint64_t number) {
  const std::string path = LogFileName(dir_, number);
  const std::string name = path.substr(dir_.size() + 1);
  auto file = env_->NewSequentialFile(path);
  if (!file.ok()) {
    Problem(name, 0, "WAL record", file.status().message());
    return;
  }
  report_->wal_files++;
  wal::DamageSummary damage;
  wal::Reader reader(std::move(*file), &damage);
  std::string scratch;
  std::string_view record;
  bool reported = false;
  while (reader.ReadRecord(&record, &scratch)) {
    if (pending_) {
      pending_->detail += "; intact records follow in a later WAL";
      report_->problems.push_back(std::move(*pending_));
      pending_.reset();
    }
    if (damage.damaged && !reported) {
      Problem(name, damage.first_offset, "WAL record",
              absl::StrCat(damage.first_reason, "; intact records follow"));
      reported = true;
    }
    WriteBatch batch;
    ReferenceHandler handler(&blob_refs_);
    absl::Status s = WriteBatchInternal::SetContents(&batch, record);
    if (s.ok()) s = batch.Iterate(&handler);
    if (s.ok() && batch.Count() > 0) {
      const SequenceNumber first = WriteBatchInternal::Sequence(batch);
      if (first <= wal_sequence_) {
        s = CorruptionError(
            absl::StrCat("starts at sequence ", first, ", not after ", wal_sequence_));
      }
      wal_sequence_ = first + batch.Count() - 1;
    }
    if (!s.ok()) Problem(name, reader.last_record_offset(), "WAL record", s.message());
    report_->wal_records++;
  }
  if (!reader.status().ok()) {
    Problem(name, reader.end_of_last_record(), "WAL record", reader.status().message());
  }
  if (damage.damaged && !reported) {
    pending_ =
        CheckProblem{name, damage.first_offset, "WAL record",
                     absl::StrFormat("%s (%d bytes)", damage.first_reason, damage.dropped_bytes)};
  }
}

void Checker::FinishWals() {
  if (!pending_) return;
  pending_->detail += "; a torn tail, dropped by the next open";
  report_->warnings.push_back(std::move(*pending_));
  pending_.reset();
}

}  // namespace

absl::StatusOr<CheckReport> CheckDB(const std::string& dir, const Options& options) {
  Env* env = options.env != nullptr ? options.env : Env::Default();
  if (!env->FileExists(CurrentFileName(dir))) {
    return absl::NotFoundError(absl::StrCat("no database in ", dir, " (CURRENT missing)"));
  }
  CAIRN_ASSIGN_OR_RETURN(auto lock, env->LockFile(LockFileName(dir)));
  CheckReport report;
  Checker checker(env, dir, &report);
  if (!checker.CheckManifest()) return report;

  // The MANIFEST's records are intact: the state they describe must hold too.
  TableCache cache(env, dir, /*max_open_files=*/64, /*block_cache=*/nullptr,
                   /*row_cache_bytes=*/0, /*mmap_reads=*/false);
  VersionSet versions(env, dir, &cache);
  if (absl::Status s = versions.Recover(); !s.ok()) {
    std::string current;
    (void)ReadFileToString(env, CurrentFileName(dir), &current);
    if (!current.empty()) current.pop_back();
    report.problems.push_back(
        CheckProblem{current, 0, "MANIFEST contents", std::string(s.message())});
    return report;
  }
  std::set<uint64_t> live, live_blobs;
  versions.AddLiveFiles(&live, &live_blobs);
  auto current = versions.current();
  for (int level = 0; level < kNumLevels; level++) {
    for (const auto& f : current->files(level)) checker.CheckTable(*f);
  }

  CAIRN_ASSIGN_OR_RETURN(auto children, env->GetChildren(dir));
  std::vector<uint64_t> logs, blobs;
  for (const auto& name : children) {
    uint64_t number;
    FileType type;
    if (!ParseFileName(name, &number, &type)) continue;
    if (type == FileType::kLog && number >= versions.log_number()) logs.push_back(number);
    if (type == FileType::kTable && !live.contains(number)) {
      report.warnings.push_back(
          CheckProblem{name, 0, "table file", "not referenced by the MANIFEST"});
    }
    if (type == FileType::kBlob) blobs.push_back(number);
  }
  std::sort(logs.begin(), logs.end());
  for (uint64_t number : logs) checker.CheckWal(number);
  checker.FinishWals();
  // Blob files last: the tables and WALs say which of their records are acknowledged.
  std::sort(blobs.begin(), blobs.end());
  for (uint64_t number : blobs) {
    live_blobs.erase(number);
    const std::string name = BlobFileName(dir, number).substr(dir.size() + 1);
    BlobFileCheck blob;
    absl::Status s = VerifyBlobFile(env, BlobFileName(dir, number),
                                    checker.blob_references().end(number), &blob);
    report.blob_files++;
    report.blob_records += blob.records;
    if (!s.ok()) {
      report.problems.push_back(CheckProblem{name, 0, "blob file", std::string(s.message())});
    } else if (blob.torn_tail != UINT64_MAX) {
      report.warnings.push_back(CheckProblem{
          name, blob.torn_tail, "blob file",
          "a record cut short (or unsynced: zeros, stale pages) at the end: an append a crash "
          "interrupted, never acknowledged (nothing refers to it)"});
    }
  }
  for (uint64_t number : live_blobs) {
    report.problems.push_back(CheckProblem{BlobFileName(dir, number).substr(dir.size() + 1), 0,
                                           "blob file", "missing (a table refers to it)"});
  }
  return report;
}

}  // namespace cairn::engine
