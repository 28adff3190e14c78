#include "engine/blob_store.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/checksum.h"
#include "base/coding.h"
#include "base/status.h"

namespace cairn::engine {

std::string BlobFileName(const std::string& dir, uint64_t number) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "/%06llu.blob", static_cast<unsigned long long>(number));
  return dir + buf;
}

BlobStore::BlobStore(Env* env, std::string dir, uint64_t file_size_limit,
                     std::function<uint64_t()> new_file_number)
    : env_(env),
      dir_(std::move(dir)),
      file_size_limit_(file_size_limit),
      new_file_number_(std::move(new_file_number)) {}

BlobStore::~BlobStore() {
  absl::MutexLock l(&append_mu_);
  (void)SealLocked();
}

absl::StatusOr<BlobRef> BlobStore::Add(std::string_view key,
                                       std::span<const std::string_view> parts, bool sync) {
  uint64_t value_size = 0;
  for (std::string_view p : parts) value_size += p.size();
  // Chunks are asked for in order: walk the parts along.
  size_t part = 0, pos = 0;
  return AddImpl(key, value_size, sync,
                 [&](size_t n, std::string* scratch, std::string_view* piece) -> absl::Status {
                   while (part < parts.size() && pos == parts[part].size()) {
                     part++;
                     pos = 0;
                   }
                   if (parts[part].size() - pos >= n) {  // within one part: no copy
                     *piece = parts[part].substr(pos, n);
                     pos += n;
                     return absl::OkStatus();
                   }
                   scratch->clear();
                   while (scratch->size() < n) {
                     if (pos == parts[part].size()) {
                       part++;
                       pos = 0;
                       continue;
                     }
                     const size_t take = std::min(n - scratch->size(), parts[part].size() - pos);
                     scratch->append(parts[part].data() + pos, take);
                     pos += take;
                   }
                   *piece = *scratch;
                   return absl::OkStatus();
                 });
}

absl::StatusOr<BlobRef> BlobStore::AddFrom(std::string_view key, ValueReader* reader, bool sync) {
  uint64_t offset = 0;
  return AddImpl(key, reader->size(), sync,
                 [&](size_t n, std::string* scratch, std::string_view* piece) -> absl::Status {
                   scratch->resize(n);
                   CAIRN_RETURN_IF_ERROR(reader->Read(offset, n, scratch->data()));
                   offset += n;
                   *piece = *scratch;
                   return absl::OkStatus();
                 });
}

absl::StatusOr<BlobRef> BlobStore::AddImpl(std::string_view key, uint64_t value_size, bool sync,
                                           const ChunkSource& next_chunk) {
  absl::MutexLock append(&append_mu_);
  CAIRN_RETURN_IF_ERROR(sync_error());
  if (active_ != nullptr && active_size_ >= file_size_limit_) CAIRN_RETURN_IF_ERROR(SealLocked());
  if (active_ == nullptr) CAIRN_RETURN_IF_ERROR(OpenFileLocked());
  BlobRef ref;
  {
    absl::MutexLock state(&state_mu_);
    ref = BlobRef{active_number_, active_size_, value_size};
    in_flight_[ref.file]++;
  }
  // The long part: only appends wait for it.
  absl::Status s = AppendRecordLocked(key, value_size, next_chunk);
  active_size_ += BlobRecordSize(key.size(), value_size);
  absl::Status synced;
  if (s.ok() && sync) s = synced = active_->SyncData();
  {
    absl::MutexLock state(&state_mu_);
    NoteSyncErrorLocked(synced);
    bytes_written_ += BlobRecordSize(key.size(), value_size);
    if (s.ok()) {
      records_added_++;
      // Every earlier record is in this file or in a sealed (synced) one.
      if (sync) records_synced_ = records_added_;
      return ref;
    }
    if (--in_flight_[ref.file] == 0) in_flight_.erase(ref.file);
  }
  // The file's tail is unknown: never append to it again.
  (void)SealLocked();
  return s;
}

absl::Status BlobStore::OpenFileLocked() {
  const uint64_t number = new_file_number_();
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                         env_->NewWritableFile(BlobFileName(dir_, number)));
  const std::string header = BlobFileHeader();
  absl::Status s = file->Append(header);
  // The file's name must be durable before any WAL record names it.
  if (s.ok()) s = file->Flush();
  if (s.ok()) s = env_->SyncDir(dir_);
  if (!s.ok()) {
    file.reset();
    (void)env_->RemoveFile(BlobFileName(dir_, number));
    return s;
  }
  // Not deleted meanwhile: only sealed files are.
  active_ = std::move(file);
  active_size_ = header.size();
  absl::MutexLock state(&state_mu_);
  sync_file_ = active_;
  active_number_ = number;
  return absl::OkStatus();
}

absl::Status BlobStore::AppendRecordLocked(std::string_view key, uint64_t value_size,
                                           const ChunkSource& next_chunk) {
  CAIRN_RETURN_IF_ERROR(active_->Append(BlobRecordHeader(key, value_size)));
  CAIRN_RETURN_IF_ERROR(active_->Append(key));
  std::string scratch;
  for (uint64_t left = value_size; left > 0;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(left, kBlobChunkSize));
    left -= n;
    std::string_view piece;
    CAIRN_RETURN_IF_ERROR(next_chunk(n, &scratch, &piece));
    CAIRN_RETURN_IF_ERROR(active_->Append(piece));
    char crc[4];
    EncodeFixed32(crc, Checksum32(piece));
    CAIRN_RETURN_IF_ERROR(active_->Append(std::string_view(crc, 4)));
  }
  return active_->Flush();
}

void BlobStore::Release(uint64_t file) {
  absl::MutexLock l(&state_mu_);
  auto it = in_flight_.find(file);
  if (it != in_flight_.end() && --it->second == 0) in_flight_.erase(it);
}

absl::Status BlobStore::Sync() {
  std::shared_ptr<WritableFile> file;
  uint64_t target;
  {
    absl::MutexLock l(&state_mu_);
    // A sealed file whose sync failed may have lost records counted below: never OK.
    CAIRN_RETURN_IF_ERROR(sync_error_);
    target = records_added_;
    if (records_synced_ >= target) return absl::OkStatus();
    file = sync_file_;
  }
  // Records completed before this call are in `file`, handed to the OS, or in sealed
  // files, synced when sealed. SyncData may run alongside the appends of a later record.
  const absl::Status s = file != nullptr ? file->SyncData() : absl::OkStatus();
  absl::MutexLock l(&state_mu_);
  NoteSyncErrorLocked(s);
  CAIRN_RETURN_IF_ERROR(sync_error_);
  records_synced_ = std::max(records_synced_, target);
  return absl::OkStatus();
}

absl::Status BlobStore::sync_error() const {
  absl::MutexLock l(&state_mu_);
  return sync_error_;
}

void BlobStore::NoteSyncErrorLocked(const absl::Status& s) {
  if (!s.ok() && sync_error_.ok()) sync_error_ = s;
}

absl::Status BlobStore::Seal() {
  absl::MutexLock l(&append_mu_);
  return SealLocked();
}

absl::Status BlobStore::SealLocked() {
  if (active_ == nullptr) return absl::OkStatus();
  const absl::Status s = active_->Sync();
  {
    absl::MutexLock state(&state_mu_);
    sealed_[active_number_] = active_size_;
    NoteSyncErrorLocked(s);
    if (s.ok()) records_synced_ = records_added_;
    active_number_ = 0;
    sync_file_.reset();
  }
  // Closed by its destructor, once a Sync running on it (if any) lets go: SyncData must
  // not run concurrently with Close. Its data is durable; closing cannot lose it.
  active_.reset();
  active_size_ = 0;
  return s;
}

void BlobStore::AddProtectedFiles(std::set<uint64_t>* files) const {
  absl::MutexLock l(&state_mu_);
  if (active_number_ != 0) files->insert(active_number_);
  for (const auto& [file, n] : in_flight_) files->insert(file);
}

std::map<uint64_t, uint64_t> BlobStore::SealedFileSizes() const {
  absl::MutexLock l(&state_mu_);
  return sealed_;
}

void BlobStore::NoteFile(uint64_t number, uint64_t size) {
  absl::MutexLock l(&state_mu_);
  sealed_[number] = size;
}

void BlobStore::ForgetFile(uint64_t number) {
  absl::MutexLock l(&state_mu_);
  sealed_.erase(number);
}

uint64_t BlobStore::bytes_written() const {
  absl::MutexLock l(&state_mu_);
  return bytes_written_;
}

namespace {

// Reads a value's chunks from an open blob file, checking each.
class BlobValueReader final : public ValueReader {
 public:
  BlobValueReader(std::unique_ptr<RandomAccessFile> file, uint64_t file_number,
                  uint64_t chunks_offset, uint64_t size)
      : file_(std::move(file)),
        file_number_(file_number),
        chunks_offset_(chunks_offset),
        size_(size) {}

  uint64_t size() const override { return size_; }

  absl::Status Read(uint64_t offset, size_t n, char* dst) override {
    if (offset > size_ || n > size_ - offset) {
      return absl::InvalidArgumentError("read past the end of the value");
    }
    while (n > 0) {
      const uint64_t chunk = offset / kBlobChunkSize;
      CAIRN_RETURN_IF_ERROR(LoadChunk(chunk));
      const size_t within = static_cast<size_t>(offset - chunk * kBlobChunkSize);
      const size_t take = std::min(n, chunk_.size() - within);
      std::memcpy(dst, chunk_.data() + within, take);
      dst += take;
      offset += take;
      n -= take;
    }
    return absl::OkStatus();
  }

 private:
  absl::Status LoadChunk(uint64_t chunk) {
    if (loaded_ == chunk) return absl::OkStatus();
    loaded_ = UINT64_MAX;
    const size_t len =
        static_cast<size_t>(std::min<uint64_t>(kBlobChunkSize, size_ - chunk * kBlobChunkSize));
    scratch_.resize(len + 4);
    std::string_view got;
    CAIRN_RETURN_IF_ERROR(
        file_->Read(chunks_offset_ + chunk * (kBlobChunkSize + 4), len + 4, &got, scratch_.data()));
    if (got.size() != len + 4) {
      return CorruptionError(absl::StrCat("blob file ", file_number_, " cut short"));
    }
    if (DecodeFixed32(got.data() + len) != Checksum32(got.substr(0, len))) {
      return CorruptionError(absl::StrCat("blob file ", file_number_,
                                          ": checksum mismatch in chunk ", chunk,
                                          " of the value at offset ", chunks_offset_));
    }
    chunk_ = got.substr(0, len);
    loaded_ = chunk;
    return absl::OkStatus();
  }

  std::unique_ptr<RandomAccessFile> file_;
  const uint64_t file_number_;
  const uint64_t chunks_offset_;
  const uint64_t size_;
  std::string scratch_;
  std::string_view chunk_;
  uint64_t loaded_ = UINT64_MAX;
};

// Reads and checks the record header at offset (key and value size); returns where its
// chunks start.
absl::StatusOr<uint64_t> CheckRecord(const RandomAccessFile& file, uint64_t number, uint64_t offset,
                                     std::string_view key, uint64_t value_size) {
  std::string scratch(kBlobRecordHeaderSize + key.size(), '\0');
  std::string_view got;
  CAIRN_RETURN_IF_ERROR(file.Read(offset, scratch.size(), &got, scratch.data()));
  const std::string expected = BlobRecordHeader(key, value_size);
  if (got.size() != scratch.size() || got.substr(0, kBlobRecordHeaderSize) != expected ||
      got.substr(kBlobRecordHeaderSize) != key) {
    return CorruptionError(absl::StrCat("blob file ", number, ": bad record at offset ", offset,
                                        " (checksum, size or key mismatch)"));
  }
  return offset + scratch.size();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ValueReader>> BlobStore::NewReader(std::string_view key,
                                                                  const BlobRef& ref) const {
  auto file = env_->NewRandomAccessFile(BlobFileName(dir_, ref.file));
  if (!file.ok()) {
    if (absl::IsNotFound(file.status())) {
      return CorruptionError(absl::StrCat("blob file ", ref.file, " is missing"));
    }
    return file.status();
  }
  char header[kBlobHeaderSize];
  std::string_view got;
  CAIRN_RETURN_IF_ERROR((*file)->Read(0, kBlobHeaderSize, &got, header));
  if (absl::Status s = CheckBlobFileHeader(got); !s.ok()) {
    return CorruptionError(absl::StrCat("blob file ", ref.file, ": ", s.message()));
  }
  CAIRN_ASSIGN_OR_RETURN(uint64_t chunks, CheckRecord(**file, ref.file, ref.offset, key, ref.size));
  return std::unique_ptr<ValueReader>(
      new BlobValueReader(std::move(*file), ref.file, chunks, ref.size));
}

absl::Status BlobStore::Read(std::string_view key, const BlobRef& ref, std::string* value) const {
  CAIRN_ASSIGN_OR_RETURN(auto reader, NewReader(key, ref));
  value->resize(ref.size);
  return reader->Read(0, ref.size, value->data());
}

absl::Status VerifyBlobFile(Env* env, const std::string& path, uint64_t referenced_end,
                            BlobFileCheck* check) {
  CAIRN_ASSIGN_OR_RETURN(auto file, env->NewRandomAccessFile(path));
  CAIRN_ASSIGN_OR_RETURN(uint64_t size, env->GetFileSize(path));
  uint64_t offset = 0;
  // The record (or file header) at offset ends past the end of the file: a torn tail if
  // nothing refers to it or to anything after it, else damage.
  auto cut_short = [&](std::string_view what) -> absl::Status {
    if (offset >= referenced_end) {
      check->torn_tail = offset;
      return absl::OkStatus();
    }
    return CorruptionError(absl::StrCat(
        path, ": ", ToAbsl(what), " at offset ", offset, " cut short by the end of the file (",
        size, " bytes; a reference names bytes up to ", referenced_end, ")"));
  };
  // A record at offset fails a check. Past every referenced byte it is a torn tail too:
  // after a power failure an unsynced tail may be there at full length, holding zeros or
  // stale pages. The scan stops there.
  auto bad = [&](std::string_view what) -> absl::Status {
    if (offset >= referenced_end) {
      check->torn_tail = offset;
      return absl::OkStatus();
    }
    return CorruptionError(absl::StrCat(path, ": ", ToAbsl(what), " at offset ", offset));
  };
  std::string scratch(kBlobChunkSize + 4, '\0');
  std::string_view got;
  if (size < kBlobHeaderSize) return cut_short("file header");
  CAIRN_RETURN_IF_ERROR(file->Read(0, kBlobHeaderSize, &got, scratch.data()));
  CAIRN_RETURN_IF_ERROR(CheckBlobFileHeader(got));
  offset = kBlobHeaderSize;
  while (offset < size) {
    if (size - offset < kBlobRecordHeaderSize) return cut_short("record header");
    CAIRN_RETURN_IF_ERROR(file->Read(offset, kBlobRecordHeaderSize, &got, scratch.data()));
    const uint32_t crc = DecodeFixed32(got.data());
    const uint64_t value_size = DecodeFixed64(got.data() + 4);
    const uint32_t key_size = DecodeFixed32(got.data() + 12);
    // (Unchecked until the key is read: a size past the end is a torn tail only where
    // nothing refers to this record or a later one.)
    if (key_size > size - offset - kBlobRecordHeaderSize) return cut_short("record key");
    std::string body(got.substr(4));
    std::string key_scratch(key_size, '\0');
    CAIRN_RETURN_IF_ERROR(
        file->Read(offset + kBlobRecordHeaderSize, key_size, &got, key_scratch.data()));
    if (got.size() != key_size) return bad("record key cut short");
    body.append(got.data(), got.size());
    if (Checksum32(body) != crc) return bad("record header checksum mismatch");
    if (BlobRecordSize(key_size, value_size) > size - offset) return cut_short("record value");
    uint64_t chunk_at = offset + kBlobRecordHeaderSize + key_size;
    for (uint64_t left = value_size; left > 0;) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(left, kBlobChunkSize));
      CAIRN_RETURN_IF_ERROR(file->Read(chunk_at, n + 4, &got, scratch.data()));
      if (got.size() != n + 4 || DecodeFixed32(got.data() + n) != Checksum32(got.substr(0, n))) {
        return bad("value chunk checksum mismatch");
      }
      chunk_at += n + 4;
      left -= n;
    }
    check->records += 1;
    check->bytes += value_size;
    offset = chunk_at;
  }
  if (offset < referenced_end) {
    return CorruptionError(absl::StrCat(path, ": ends at offset ", offset,
                                        "; a reference names bytes up to ", referenced_end));
  }
  return absl::OkStatus();
}

}  // namespace cairn::engine
