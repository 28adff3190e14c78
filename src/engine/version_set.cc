#include "engine/version_set.h"

#include <algorithm>
#include <limits>
#include <map>

#include "absl/strings/str_cat.h"
#include "base/coding.h"
#include "base/status.h"
#include "engine/filename.h"
#include "engine/two_level_iterator.h"
#include "engine/wal_reader.h"

namespace cairn::engine {
namespace {

// Iterates a sorted, disjoint level's tables: key() is a table's largest internal key,
// value() its position in the list (fixed64).
class FileListIterator final : public Iterator {
 public:
  explicit FileListIterator(std::shared_ptr<const Version::FileList> files)
      : files_(std::move(files)), index_(files_->size()) {}
  bool Valid() const override { return index_ < files_->size(); }
  void Seek(std::string_view target) override {
    auto it = std::lower_bound(
        files_->begin(), files_->end(), target,
        [](const auto& f, std::string_view k) { return CompareInternalKeys(f->largest, k) < 0; });
    Set(it - files_->begin());
  }
  void SeekToFirst() override { Set(0); }
  void SeekToLast() override { Set(files_->empty() ? 0 : files_->size() - 1); }
  void Next() override { Set(index_ + 1); }
  void Prev() override { Set(index_ == 0 ? files_->size() : index_ - 1); }
  std::string_view key() const override { return (*files_)[index_]->largest; }
  std::string_view value() const override { return std::string_view(value_, sizeof(value_)); }
  absl::Status status() const override { return absl::OkStatus(); }

 private:
  void Set(size_t index) {
    index_ = std::min(index, files_->size());
    EncodeFixed64(value_, index_);
  }
  const std::shared_ptr<const Version::FileList> files_;
  size_t index_;
  char value_[8];
};

std::unique_ptr<Iterator> NewFileListIterator(std::shared_ptr<const Version::FileList> files) {
  return std::make_unique<FileListIterator>(std::move(files));
}

}  // namespace

absl::Status Version::Get(const LookupKey& key, uint64_t now, std::string* value,
                          bool* compaction_due, bool* blob) const {
  const std::string_view user_key = key.user_key();
  const std::string_view ikey = key.internal_key();
  // The first table searched, while its search found nothing (level, index).
  int first_level = -1;
  size_t first_index = 0;
  auto charge = [&] {
    if (first_level < 0) return;
    const auto& f = files_[first_level][first_index];
    int64_t none = -1;
    if (f->allowed_seeks.Spend() && seek_compaction_.load(std::memory_order_relaxed) == -1 &&
        seek_compaction_.compare_exchange_strong(
            none, (int64_t{first_level} << 32) | static_cast<int64_t>(first_index)) &&
        compaction_due != nullptr) {
      *compaction_due = true;
    }
    first_level = -2;  // charged: nothing more to do for this read
  };
  for (int level = 0; level < kNumLevels; level++) {
    const FileList& files = files_[level];
    size_t begin = 0, end = files.size();
    if (level > 0 && !files.empty()) {
      // Sorted and disjoint: only the first table whose largest key >= key can hold it.
      auto it = std::lower_bound(
          files.begin(), files.end(), ikey,
          [](const auto& f, std::string_view k) { return CompareInternalKeys(f->largest, k) < 0; });
      begin = it - files.begin();
      end = std::min(end, begin + 1);
    }
    for (size_t i = begin; i < end; i++) {
      const auto& f = files[i];
      if (user_key.compare(ExtractUserKey(f->smallest)) < 0 ||
          user_key.compare(ExtractUserKey(f->largest)) > 0) {
        continue;
      }
      if (first_level == -1) {
        first_level = level;
        first_index = i;
      } else {
        charge();
      }
      TableEntry entry;
      CAIRN_RETURN_IF_ERROR(table_cache_->GetEntry(*f, key, &entry));
      if (!entry.found) continue;
      std::string_view v;
      enum { kFound, kDeleted, kCorrupt } state = kCorrupt;
      switch (ResolveEntry(entry.type, entry.stored, now, &v)) {
        case EntryState::kValue:
          state = kFound;
          value->assign(v.data(), v.size());
          break;
        case EntryState::kAbsent:
          state = kDeleted;
          break;
        case EntryState::kCorrupt:
          break;
        case EntryState::kBlob:
          if (blob != nullptr) {
            *blob = true;
            state = kFound;
            value->assign(v.data(), v.size());
          }
          break;
      }
      switch (state) {
        case kFound:
          return absl::OkStatus();
        case kDeleted:
          return absl::NotFoundError("");
        case kCorrupt:
          return CorruptionError(absl::StrCat("bad entry in table ", f->number));
      }
    }
  }
  return absl::NotFoundError("");
}

std::shared_ptr<const FileMetaData> Version::seek_compaction_file(int* level) const {
  const int64_t packed = seek_compaction_.load(std::memory_order_relaxed);
  if (packed < 0) return nullptr;
  *level = static_cast<int>(packed >> 32);
  return files_[*level][static_cast<size_t>(packed & 0xffffffff)];
}

void Version::AddIterators(std::vector<std::unique_ptr<Iterator>>* iters) const {
  auto open = [this](const FileMetaData& f) -> std::unique_ptr<Iterator> {
    auto table = table_cache_->Get(f.number, f.file_size);
    return table.ok() ? (*table)->NewIterator() : NewErrorIterator(table.status());
  };
  for (const auto& f : files_[0]) iters->push_back(open(*f));
  for (int level = 1; level < kNumLevels; level++) {
    if (files_[level].empty()) continue;
    // A sorted, disjoint level reads as one sequence: an index over its tables (key:
    // largest key, value: position) whose entries open one table at a time.
    auto files = std::make_shared<const FileList>(files_[level]);
    iters->push_back(
        NewTwoLevelIterator(NewFileListIterator(files), [files, open](std::string_view pos) {
          return open(*(*files)[DecodeFixed64(pos.data())]);
        }));
  }
}

VersionSet::VersionSet(Env* env, std::string dir, TableCache* table_cache)
    : env_(env),
      dir_(std::move(dir)),
      table_cache_(table_cache),
      current_(std::make_shared<Version>(table_cache)) {}

absl::Status VersionSet::CreateNew(Env* env, const std::string& dir) {
  VersionEdit edit;
  edit.SetLogNumber(0);
  edit.SetNextFileNumber(2);
  edit.SetLastSequence(0);
  std::string record;
  edit.EncodeTo(&record);
  const std::string manifest = ManifestFileName(dir, 1);
  CAIRN_ASSIGN_OR_RETURN(auto file, env->NewWritableFile(manifest));
  wal::Writer log(std::move(file));
  absl::Status s = log.AddRecord(record);
  if (s.ok()) s = log.file()->Sync();
  if (s.ok()) s = log.file()->Close();
  // If CURRENT's update fails, CURRENT may already name the new MANIFEST: keep it.
  if (s.ok()) s = SetCurrentFile(env, dir, 1);
  return s;
}

void VersionSet::MarkFileNumberUsed(uint64_t n) {
  uint64_t cur = next_file_number_.load();
  while (cur <= n && !next_file_number_.compare_exchange_weak(cur, n + 1)) {
  }
}

std::shared_ptr<Version> VersionSet::Apply(const Version& base, const VersionEdit& edit) const {
  auto v = std::make_shared<Version>(table_cache_);
  for (int level = 0; level < kNumLevels; level++) {
    for (const auto& f : base.files_[level]) {
      if (!edit.deleted_files().contains({level, f->number})) v->files_[level].push_back(f);
    }
  }
  for (const auto& [level, f] : edit.new_files()) {
    auto added = std::make_shared<FileMetaData>(f);
    // LevelDB's estimate: one read that searches a table in vain costs about as much as
    // compacting 16 KiB of it, so after file_size / 16 KiB such reads (at least 100)
    // merging the table down is cheaper than leaving it.
    added->allowed_seeks.Reset(std::max<int64_t>(100, static_cast<int64_t>(f.file_size / 16384)));
    v->files_[level].push_back(std::move(added));
  }
  std::sort(v->files_[0].begin(), v->files_[0].end(), [](const auto& a, const auto& b) {
    return a->largest_seq != b->largest_seq ? a->largest_seq > b->largest_seq
                                            : a->number > b->number;
  });
  for (int level = 1; level < kNumLevels; level++) {
    std::sort(v->files_[level].begin(), v->files_[level].end(), [](const auto& a, const auto& b) {
      return CompareInternalKeys(a->smallest, b->smallest) < 0;
    });
  }
  return v;
}

absl::Status VersionSet::Recover() {
  std::string current;
  CAIRN_RETURN_IF_ERROR(ReadFileToString(env_, CurrentFileName(dir_), &current));
  if (current.empty() || current.back() != '\n') {
    return CorruptionError("CURRENT file does not end with a newline");
  }
  current.pop_back();
  uint64_t manifest_number;
  FileType type;
  if (!ParseFileName(current, &manifest_number, &type) || type != FileType::kManifest) {
    return CorruptionError(absl::StrCat("CURRENT names a bad file: ", current));
  }
  const std::string manifest = dir_ + "/" + current;
  auto file = env_->NewSequentialFile(manifest);
  if (!file.ok()) {
    return absl::IsNotFound(file.status())
               ? CorruptionError(absl::StrCat("CURRENT points to missing ", current))
               : file.status();
  }

  wal::DamageSummary reporter;
  wal::Reader reader(std::move(*file), &reporter);
  std::shared_ptr<Version> v = std::make_shared<Version>(table_cache_);
  std::optional<uint64_t> log_number, next_file, last_seq;
  std::string scratch;
  std::string_view record;
  while (reader.ReadRecord(&record, &scratch)) {
    if (reporter.damaged) {
      return CorruptionError(
          absl::StrCat(current, " is damaged before its end: ", reporter.first_reason));
    }
    VersionEdit edit;
    absl::Status s = edit.DecodeFrom(record);
    if (!s.ok()) return Annotate(s, current);
    v = Apply(*v, edit);
    if (edit.log_number()) log_number = edit.log_number();
    if (edit.next_file_number()) next_file = edit.next_file_number();
    if (edit.last_sequence()) last_seq = edit.last_sequence();
  }
  CAIRN_RETURN_IF_ERROR(reader.status());
  if (!log_number || !next_file || !last_seq) {
    return CorruptionError(absl::StrCat(current, " lacks log number, next file or sequence"));
  }
  // MarkFileNumberUsed(n) sets the counter to n + 1: the largest number would wrap it to
  // 0, and new files would take the numbers of live ones. No writer hands that number out.
  uint64_t largest = std::max(manifest_number, *log_number);
  for (int level = 0; level < kNumLevels; level++) {
    for (const auto& f : v->files_[level]) largest = std::max(largest, f->number);
  }
  if (largest == std::numeric_limits<uint64_t>::max()) {
    return CorruptionError(absl::StrCat(current, " names file number ", largest));
  }
  // Only the MANIFEST a new database starts with lacks a log number: every later one
  // begins with a snapshot that carries it.
  if (*log_number == 0 && manifest_number != 1) {
    return CorruptionError(absl::StrCat(current, " names no WAL: its first record is damaged"));
  }
  // The WAL named by the last edit exists until a later edit replaces it. If it is
  // gone, a later edit was applied and then lost (damaged or cut from the MANIFEST):
  // opening would silently drop that edit's tables.
  if (*log_number != 0 && !env_->FileExists(LogFileName(dir_, *log_number))) {
    return CorruptionError(
        absl::StrCat(current, " is missing edits: WAL ", *log_number, " it names is gone",
                     reporter.damaged ? absl::StrCat(" (", reporter.first_reason, ")") : ""));
  }
  if (reporter.damaged) {
    recovery_note_ =
        absl::StrCat(current, ": dropped a damaged tail (", reporter.first_reason, ")");
  }
  log_number_ = *log_number;
  next_file_number_ = *next_file;
  last_sequence_ = *last_seq;
  manifest_file_number_ = manifest_number;
  MarkFileNumberUsed(manifest_number);
  MarkFileNumberUsed(log_number_);
  for (int level = 0; level < kNumLevels; level++) {
    for (const auto& f : v->files_[level]) MarkFileNumberUsed(f->number);
  }
  std::atomic_store(&current_, std::shared_ptr<const Version>(std::move(v)));
  return absl::OkStatus();
}

std::string VersionSet::EncodeSnapshot(const Version& v, uint64_t log_number) const {
  VersionEdit edit;
  for (int level = 0; level < kNumLevels; level++) {
    for (const auto& f : v.files_[level]) edit.AddFile(level, *f);
  }
  edit.SetLogNumber(log_number);
  edit.SetNextFileNumber(next_file_number_.load());
  edit.SetLastSequence(LastSequence());
  std::string record;
  edit.EncodeTo(&record);
  return record;
}

absl::Status VersionSet::LogAndApply(VersionEdit* edit) {
  if (!edit->log_number()) edit->SetLogNumber(log_number_);
  edit->SetLastSequence(LastSequence());
  std::shared_ptr<const Version> next = Apply(*current(), *edit);

  std::optional<uint64_t> new_manifest;
  std::string record;
  if (manifest_log_ == nullptr) {
    // A new MANIFEST starts with the whole new state in one record, so no damage to
    // its tail can leave a state without a log number or with only part of the files.
    new_manifest = NewFileNumber();
    CAIRN_ASSIGN_OR_RETURN(auto file, env_->NewWritableFile(ManifestFileName(dir_, *new_manifest)));
    manifest_log_ = std::make_unique<wal::Writer>(std::move(file));
    record = EncodeSnapshot(*next, *edit->log_number());
  } else {
    edit->SetNextFileNumber(next_file_number_.load());
    edit->EncodeTo(&record);
  }
  absl::Status s = manifest_log_->AddRecord(record);
  if (s.ok()) s = manifest_log_->file()->Sync();
  if (s.ok() && new_manifest) s = SetCurrentFile(env_, dir_, *new_manifest);
  if (!s.ok()) {
    // The MANIFEST's state on disk is unknown: start a fresh one next time. A new
    // MANIFEST is not deleted: CURRENT may already name it (the rename succeeded and
    // the directory sync failed). Recovery deletes it if CURRENT does not.
    manifest_log_.reset();
    return s;
  }
  if (new_manifest) manifest_file_number_ = *new_manifest;
  log_number_ = *edit->log_number();
  // The version being replaced may still be read: its tables must outlive it.
  versions_in_use_.push_back(current());
  std::atomic_store(&current_, std::move(next));
  return absl::OkStatus();
}

absl::Status VersionSet::WriteCheckpointManifest(const std::string& dir, const Version& v,
                                                 SequenceNumber last_sequence) const {
  VersionEdit edit;
  for (int level = 0; level < kNumLevels; level++) {
    for (const auto& f : v.files_[level]) edit.AddFile(level, *f);
  }
  edit.SetLogNumber(0);  // a checkpoint has no WAL: everything is in its tables
  edit.SetNextFileNumber(next_file_number_.load());
  edit.SetLastSequence(last_sequence);
  std::string record;
  edit.EncodeTo(&record);
  CAIRN_ASSIGN_OR_RETURN(auto file, env_->NewWritableFile(ManifestFileName(dir, 1)));
  wal::Writer log(std::move(file));
  CAIRN_RETURN_IF_ERROR(log.AddRecord(record));
  CAIRN_RETURN_IF_ERROR(log.file()->Sync());
  CAIRN_RETURN_IF_ERROR(log.file()->Close());
  return SetCurrentFile(env_, dir, 1);
}

void VersionSet::AddLiveFiles(std::set<uint64_t>* live, std::set<uint64_t>* blob_files) {
  auto add = [live, blob_files](const Version& v) {
    for (int level = 0; level < kNumLevels; level++) {
      for (const auto& f : v.files_[level]) {
        live->insert(f->number);
        if (blob_files == nullptr) continue;
        for (const auto& ref : f->blob_refs) blob_files->insert(ref.first);
      }
    }
  };
  add(*current());
  std::erase_if(versions_in_use_, [&](const std::weak_ptr<const Version>& w) {
    auto v = w.lock();
    if (v == nullptr) return true;
    add(*v);
    return false;
  });
}

}  // namespace cairn::engine
