// BackupEngine (include/cairn/engine/backup.h); formats in docs/formats/backup.md.
#include "cairn/engine/backup.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "base/checksum.h"
#include "base/status.h"
#include "engine/filename.h"

namespace cairn::engine {
namespace {

constexpr size_t kChunk = 1 << 20;
constexpr const char* kMagic = "cairn-backup-meta";
constexpr int kFormatVersion = 1;
// Where Restore fills an existing (empty) target directory before moving the files up.
constexpr const char* kRestoringDir = ".cairn-restoring";

std::string Hex(uint64_t v) { return absl::StrFormat("%016x", v); }

bool ParseU64(std::string_view s, uint64_t* v, int base = 10) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *v, base);
  return ec == std::errc() && ptr == s.data() + s.size();
}

constexpr uint64_t kWhole = UINT64_MAX;

// Reads src (its first limit bytes) in chunks, handing each to sink, and returns the
// chained checksum.
absl::StatusOr<uint64_t> ReadChunks(Env* env, const std::string& src, uint64_t* size,
                                    const std::function<absl::Status(std::string_view)>& sink,
                                    uint64_t limit = kWhole) {
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<SequentialFile> in, env->NewSequentialFile(src));
  std::string scratch(kChunk, '\0');
  uint64_t h = 0, n = 0;
  while (n < limit) {
    std::string_view got;
    CAIRN_RETURN_IF_ERROR(
        in->Read(static_cast<size_t>(std::min<uint64_t>(kChunk, limit - n)), &got, scratch.data()));
    if (got.empty()) break;
    h = Hash64(got, h);
    n += got.size();
    if (sink) CAIRN_RETURN_IF_ERROR(sink(got));
  }
  *size = n;
  return h;
}

// Copies src (its first limit bytes) to dst (through dst + ".tmp", synced, renamed);
// returns the checksum of what was copied and its size.
absl::StatusOr<uint64_t> CopyFile(Env* env, const std::string& src, const std::string& dst,
                                  uint64_t* size, const std::function<void(uint64_t)>& copied,
                                  uint64_t limit = kWhole) {
  const std::string tmp = dst + ".tmp";
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> out, env->NewWritableFile(tmp));
  auto h = ReadChunks(
      env, src, size,
      [&](std::string_view chunk) {
        if (copied) copied(chunk.size());
        return out->Append(chunk);
      },
      limit);
  absl::Status st = h.status();
  if (st.ok()) st = out->Sync();
  if (st.ok()) st = out->Close();
  if (st.ok()) st = env->RenameFile(tmp, dst);
  if (!st.ok()) {
    (void)env->RemoveFile(tmp);
    return st;
  }
  return *h;
}

absl::Status WriteWholeFile(Env* env, const std::string& path, std::string_view data) {
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> out, env->NewWritableFile(path));
  CAIRN_RETURN_IF_ERROR(out->Append(data));
  CAIRN_RETURN_IF_ERROR(out->Sync());
  return out->Close();
}

absl::StatusOr<std::string> ReadWholeFile(Env* env, const std::string& path) {
  std::string data;
  uint64_t size = 0;
  auto h = ReadChunks(env, path, &size, [&](std::string_view chunk) {
    data.append(chunk);
    return absl::OkStatus();
  });
  if (!h.ok()) return h.status();
  return data;
}

// Removes dir and the files in it (one level: the layouts here have no deeper trees).
absl::Status RemoveTree(Env* env, const std::string& dir) {
  if (!env->FileExists(dir)) return absl::OkStatus();
  CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> children, env->GetChildren(dir));
  for (const auto& c : children) CAIRN_RETURN_IF_ERROR(env->RemoveFile(dir + "/" + c));
  return env->RemoveDir(dir);
}

// The directory that holds path ("." for a relative name without one).
std::string ParentDir(const std::string& path) {
  const size_t slash = path.find_last_not_of('/') == std::string::npos
                           ? std::string::npos
                           : path.rfind('/', path.find_last_not_of('/'));
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Creates dir if it does not exist, and makes its entry durable (its parent synced).
absl::Status EnsureDir(Env* env, const std::string& dir) {
  if (env->FileExists(dir)) return absl::OkStatus();
  CAIRN_RETURN_IF_ERROR(env->CreateDir(dir));
  return env->SyncDir(ParentDir(dir));
}

// Whether path holds f's contents: its size and checksum (read whole: a shared file
// damaged since an earlier backup wrote it must not be trusted by the next one).
bool HoldsIntactCopy(Env* env, const std::string& path, const BackupFile& f) {
  auto held = env->GetFileSize(path);
  if (!held.ok() || *held != f.size) return false;
  uint64_t size = 0;
  auto h = ReadChunks(env, path, &size, nullptr);
  return h.ok() && *h == f.checksum && size == f.size;
}

}  // namespace

absl::StatusOr<uint64_t> BackupChecksum(Env* env, const std::string& path, uint64_t* size) {
  return ReadChunks(env, path, size, nullptr);
}

std::string EncodeBackupMeta(const BackupInfo& info) {
  std::string out = absl::StrCat(kMagic, " ", kFormatVersion, "\n");
  absl::StrAppend(&out, "id ", info.id, "\n", "timestamp_ms ", info.timestamp_ms, "\n", "sequence ",
                  info.sequence, "\n", "new_bytes ", info.new_bytes, "\n", "duration_ms ",
                  info.duration_ms, "\n", "files ", info.files.size(), "\n");
  for (const auto& f : info.files) {
    absl::StrAppend(&out, "file ", f.size, " ", Hex(f.checksum), " ", f.path, " ", f.name, "\n");
  }
  absl::StrAppend(&out, "checksum ", Hex(Hash64(out)), "\n");
  return out;
}

absl::StatusOr<BackupInfo> DecodeBackupMeta(std::string_view text) {
  auto bad = [](std::string_view why) {
    return CorruptionError(absl::StrCat("backup meta file: ", ToAbsl(why)));
  };
  // The checksum line covers every byte before it.
  const size_t last = text.rfind("checksum ");
  if (last == std::string_view::npos || (last > 0 && text[last - 1] != '\n')) {
    return bad("no checksum line");
  }
  std::string_view sum = text.substr(last + 9);
  if (!sum.empty() && sum.back() == '\n') sum.remove_suffix(1);
  uint64_t want = 0;
  if (!ParseU64(sum, &want, 16) || sum.size() != 16) return bad("malformed checksum line");
  if (Hash64(text.substr(0, last)) != want) return bad("checksum mismatch");
  std::vector<absl::string_view> lines =
      absl::StrSplit(ToAbsl(text.substr(0, last)), '\n', absl::SkipEmpty());
  if (lines.empty()) return bad("empty");
  std::vector<absl::string_view> head = absl::StrSplit(lines[0], ' ');
  if (head.size() != 2 || head[0] != kMagic) return bad("bad magic");
  uint64_t version = 0;
  if (!ParseU64(std::string_view(head[1].data(), head[1].size()), &version) ||
      version != kFormatVersion) {
    return bad(absl::StrCat("unsupported format version ", head[1]));
  }
  BackupInfo info;
  uint64_t nfiles = 0;
  bool saw_files = false;
  for (size_t i = 1; i < lines.size(); i++) {
    std::vector<absl::string_view> w = absl::StrSplit(lines[i], ' ');
    auto num = [&](size_t at, uint64_t* v, int base = 10) {
      return at < w.size() && ParseU64(std::string_view(w[at].data(), w[at].size()), v, base);
    };
    uint64_t v = 0;
    if (w[0] == "file" && w.size() == 5) {
      BackupFile f;
      if (!num(1, &f.size) || !num(2, &f.checksum, 16)) return bad("malformed file line");
      f.path = std::string(w[3]);
      f.name = std::string(w[4]);
      if (f.path.find("..") != std::string::npos || f.name.find('/') != std::string::npos) {
        return bad("a file path leaves the backup");
      }
      info.files.push_back(std::move(f));
      continue;
    }
    if (w.size() != 2 || !num(1, &v)) return bad(absl::StrCat("malformed line: ", lines[i]));
    if (w[0] == "id") {
      info.id = static_cast<uint32_t>(v);
    } else if (w[0] == "timestamp_ms") {
      info.timestamp_ms = static_cast<int64_t>(v);
    } else if (w[0] == "sequence") {
      info.sequence = v;
    } else if (w[0] == "new_bytes") {
      info.new_bytes = v;
    } else if (w[0] == "duration_ms") {
      info.duration_ms = v;
    } else if (w[0] == "files") {
      nfiles = v;
      saw_files = true;
    }  // other keys: added by later minor versions, ignored
  }
  if (!saw_files || nfiles != info.files.size()) return bad("file count differs");
  for (const auto& f : info.files) info.size += f.size;
  return info;
}

BackupEngine::BackupEngine(Env* env, std::string root, std::unique_ptr<FileLock> lock)
    : env_(env), root_(std::move(root)), lock_(std::move(lock)) {}

BackupEngine::~BackupEngine() = default;

absl::StatusOr<std::unique_ptr<BackupEngine>> BackupEngine::Open(Env* env, const std::string& root,
                                                                 bool create) {
  if (!env->FileExists(root)) {
    if (!create) return absl::NotFoundError(absl::StrCat("no backup directory ", root));
    CAIRN_RETURN_IF_ERROR(EnsureDir(env, root));
  }
  for (const char* sub : {"/meta", "/shared", "/private"}) {
    if (!create && !env->FileExists(root + sub)) {
      return absl::NotFoundError(
          absl::StrCat(root, " is not a backup directory (no ", sub + 1, ")"));
    }
    CAIRN_RETURN_IF_ERROR(EnsureDir(env, root + sub));
  }
  auto lock = env->LockFile(root + "/LOCK");
  if (!lock.ok()) {
    if (absl::IsFailedPrecondition(lock.status())) {
      return absl::FailedPreconditionError(
          absl::StrCat("backup directory ", root, " is in use by another backup"));
    }
    return lock.status();
  }
  return std::unique_ptr<BackupEngine>(new BackupEngine(env, root, std::move(*lock)));
}

absl::StatusOr<std::vector<uint32_t>> BackupEngine::Ids() {
  CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> names, env_->GetChildren(root_ + "/meta"));
  std::vector<uint32_t> ids;
  for (const auto& n : names) {
    uint64_t id = 0;
    if (ParseU64(n, &id) && id > 0 && id <= UINT32_MAX) ids.push_back(static_cast<uint32_t>(id));
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

absl::StatusOr<BackupInfo> BackupEngine::Get(uint32_t id) {
  const std::string path = absl::StrCat(root_, "/meta/", id);
  if (!env_->FileExists(path)) return absl::NotFoundError(absl::StrCat("no backup ", id));
  CAIRN_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(env_, path));
  auto info = DecodeBackupMeta(text);
  if (!info.ok()) return Annotate(info.status(), path);
  if (info->id != id) return CorruptionError(absl::StrCat(path, ": names backup ", info->id));
  return info;
}

absl::StatusOr<std::vector<BackupInfo>> BackupEngine::List() {
  CAIRN_ASSIGN_OR_RETURN(std::vector<uint32_t> ids, Ids());
  std::vector<BackupInfo> out;
  for (uint32_t id : ids) {
    CAIRN_ASSIGN_OR_RETURN(BackupInfo info, Get(id));
    out.push_back(std::move(info));
  }
  return out;
}

absl::Status BackupEngine::WriteMeta(const BackupInfo& info) {
  const std::string path = absl::StrCat(root_, "/meta/", info.id);
  CAIRN_RETURN_IF_ERROR(WriteWholeFile(env_, path + ".tmp", EncodeBackupMeta(info)));
  CAIRN_RETURN_IF_ERROR(env_->RenameFile(path + ".tmp", path));
  return env_->SyncDir(root_ + "/meta");
}

absl::StatusOr<BackupInfo> BackupEngine::CreateBackup(DB* db, const std::string& scratch_dir,
                                                      const BackupProgress& progress) {
  const uint64_t start = env_->NowMicros();
  // A scratch directory an interrupted backup left behind goes first.
  CAIRN_RETURN_IF_ERROR(RemoveTree(env_, scratch_dir));
  const int64_t now_ms = static_cast<int64_t>(env_->NowUnixMicros() / 1000);
  auto seq = db->Checkpoint(scratch_dir);
  if (!seq.ok()) {
    (void)RemoveTree(env_, scratch_dir);
    return seq.status();
  }
  auto info = CreateFromCheckpoint(scratch_dir, *seq, now_ms, progress);
  absl::Status removed = RemoveTree(env_, scratch_dir);
  if (!info.ok()) return info.status();
  CAIRN_RETURN_IF_ERROR(removed);
  info->duration_ms = (env_->NowMicros() - start) / 1000;
  CAIRN_RETURN_IF_ERROR(WriteMeta(*info));  // again, with the checkpoint's time counted
  return info;
}

absl::StatusOr<BackupInfo> BackupEngine::CreateFromCheckpoint(const std::string& checkpoint_dir,
                                                              uint64_t sequence,
                                                              int64_t timestamp_ms,
                                                              const BackupProgress& progress) {
  const uint64_t start = env_->NowMicros();
  CAIRN_ASSIGN_OR_RETURN(std::vector<uint32_t> ids, Ids());
  BackupInfo info;
  info.id = ids.empty() ? 1 : ids.back() + 1;
  info.timestamp_ms = timestamp_ms;
  info.sequence = sequence;
  CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> names, env_->GetChildren(checkpoint_dir));
  std::sort(names.begin(), names.end());
  // Sizes first, as near the checkpoint as can be: the blob file that was the database's
  // active one is a hard link that keeps growing, and only these bytes of it are backed up
  // (they hold every record the checkpoint's tables refer to; later ones are not named).
  std::map<std::string, uint64_t> sizes;
  uint64_t total = 0, done = 0;
  for (const auto& n : names) {
    CAIRN_ASSIGN_OR_RETURN(sizes[n], env_->GetFileSize(checkpoint_dir + "/" + n));
    total += sizes[n];
  }
  const std::string private_rel = absl::StrCat("private/", info.id);
  const std::string private_dir = root_ + "/" + private_rel;
  CAIRN_RETURN_IF_ERROR(RemoveTree(env_, private_dir));  // an interrupted backup's
  CAIRN_RETURN_IF_ERROR(env_->CreateDir(private_dir));
  auto report = [&](uint64_t n) {
    done += n;
    if (progress) progress(done, total);
  };
  for (const auto& n : names) {
    const std::string src = checkpoint_dir + "/" + n;
    uint64_t number = 0;
    FileType type;
    BackupFile f;
    f.name = n;
    if (ParseFileName(n, &number, &type) && (type == FileType::kTable || type == FileType::kBlob)) {
      // Named by content: read it once to learn its checksum, copy it only if no earlier
      // backup holds it intact (a copy cut short or damaged is copied again, replacing it:
      // the new backup must not depend on it, and the older ones are mended). Tables and
      // sealed blob files never change; the active blob file only grows, so its first
      // sizes[n] bytes are as immutable, and once it grew it is another name.
      const uint64_t length = sizes[n];
      CAIRN_ASSIGN_OR_RETURN(f.checksum, ReadChunks(env_, src, &f.size, nullptr, length));
      if (f.size != length) return IOError(absl::StrCat(src, " shrank while it was backed up"));
      f.path = absl::StrFormat("shared/%06u_%u_%s.%s", number, f.size, Hex(f.checksum),
                               type == FileType::kTable ? "sst" : "blob");
      const std::string dst = root_ + "/" + f.path;
      if (!HoldsIntactCopy(env_, dst, f)) {
        uint64_t size = 0;
        CAIRN_ASSIGN_OR_RETURN(uint64_t h, CopyFile(env_, src, dst, &size, nullptr, length));
        if (h != f.checksum || size != f.size) {
          (void)env_->RemoveFile(dst);
          return IOError(absl::StrCat(src, " changed while it was backed up"));
        }
        info.new_bytes += f.size;
      }
      report(f.size);
    } else {
      f.path = private_rel + "/" + n;
      CAIRN_ASSIGN_OR_RETURN(f.checksum,
                             CopyFile(env_, src, root_ + "/" + f.path, &f.size, report));
      info.new_bytes += f.size;
    }
    info.size += f.size;
    info.files.push_back(std::move(f));
  }
  CAIRN_RETURN_IF_ERROR(env_->SyncDir(root_ + "/shared"));
  CAIRN_RETURN_IF_ERROR(env_->SyncDir(private_dir));
  CAIRN_RETURN_IF_ERROR(env_->SyncDir(root_ + "/private"));  // private_dir's own entry
  info.duration_ms = (env_->NowMicros() - start) / 1000;
  CAIRN_RETURN_IF_ERROR(WriteMeta(info));
  return info;
}

absl::Status BackupEngine::Verify(uint32_t id, const BackupProgress& progress) {
  CAIRN_ASSIGN_OR_RETURN(BackupInfo info, Get(id));
  uint64_t done = 0;
  for (const auto& f : info.files) {
    const std::string path = root_ + "/" + f.path;
    uint64_t size = 0;
    auto h = BackupChecksum(env_, path, &size);
    if (!h.ok()) {
      return CorruptionError(
          absl::StrCat("backup ", id, ": file ", f.path, " unreadable: ", h.status().message()));
    }
    if (size != f.size) {
      return CorruptionError(absl::StrCat("backup ", id, ": file ", f.path, " has ", size,
                                          " bytes, the meta file says ", f.size));
    }
    if (*h != f.checksum) {
      return CorruptionError(absl::StrCat("backup ", id, ": file ", f.path,
                                          ": checksum mismatch (expected ", Hex(f.checksum),
                                          ", found ", Hex(*h), ")"));
    }
    done += size;
    if (progress) progress(done, info.size);
  }
  return absl::OkStatus();
}

absl::Status BackupEngine::Restore(uint32_t id, const std::string& to_dir,
                                   const BackupProgress& progress) {
  std::string to = to_dir;  // "dir/" would put the temporary directory inside dir
  while (to.size() > 1 && to.back() == '/') to.pop_back();
  CAIRN_ASSIGN_OR_RETURN(BackupInfo info, Get(id));
  // A new directory is filled beside to and renamed into place whole. An existing empty
  // one (a fresh mount point, which can be neither removed nor renamed onto from another
  // file system) is filled through a directory inside it, whose files are renamed into
  // it once all are checked, CURRENT last.
  const bool existing = env_->FileExists(to);
  if (existing) {
    CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> children, env_->GetChildren(to));
    std::set<std::string> ours;
    for (const auto& f : info.files) {
      if (f.name != "CURRENT") ours.insert(f.name);
    }
    // A restore of this backup stopped among its renames leaves its files, no CURRENT
    // (moved last): no database yet, so they are cleared and the restore runs again.
    std::vector<std::string> leftovers;
    for (const auto& c : children) {
      if (c == kRestoringDir || c == "lost+found") continue;  // an interrupted restore's; fsck's
      if (!ours.contains(c)) {
        return absl::FailedPreconditionError(
            absl::StrCat("restore target ", to, " exists and is not empty"));
      }
      leftovers.push_back(c);
    }
    for (const auto& c : leftovers) CAIRN_RETURN_IF_ERROR(env_->RemoveFile(to + "/" + c));
    if (!leftovers.empty()) CAIRN_RETURN_IF_ERROR(env_->SyncDir(to));
  }
  const std::string tmp = existing ? absl::StrCat(to, "/", kRestoringDir) : to + ".restoring";
  CAIRN_RETURN_IF_ERROR(RemoveTree(env_, tmp));
  CAIRN_RETURN_IF_ERROR(env_->CreateDir(tmp));
  uint64_t done = 0;
  absl::Status st;
  for (const auto& f : info.files) {
    uint64_t size = 0;
    auto h = CopyFile(env_, root_ + "/" + f.path, tmp + "/" + f.name, &size, [&](uint64_t n) {
      done += n;
      if (progress) progress(done, info.size);
    });
    if (!h.ok()) {
      st = CorruptionError(
          absl::StrCat("backup ", id, ": file ", f.path, " unreadable: ", h.status().message()));
    } else if (size != f.size || *h != f.checksum) {
      st = CorruptionError(absl::StrCat(
          "backup ", id, ": file ", f.path, " fails verification (expected ", f.size, " bytes, ",
          Hex(f.checksum), "; found ", size, " bytes, ", Hex(*h), "): nothing restored"));
    }
    if (!st.ok()) break;
  }
  if (st.ok()) st = env_->SyncDir(tmp);
  if (st.ok() && !existing) {
    st = env_->RenameFile(tmp, to);
    if (st.ok()) return env_->SyncDir(ParentDir(to));  // the rename itself
  }
  std::vector<std::string> moved;
  auto move = [&](const std::string& n) {
    if (!st.ok() || !env_->FileExists(tmp + "/" + n)) return;
    st = env_->RenameFile(tmp + "/" + n, to + "/" + n);
    if (st.ok()) moved.push_back(n);
  };
  for (const auto& f : info.files) {
    if (f.name != "CURRENT") move(f.name);
  }
  // CURRENT last, once every other file is durable in to: the directory is no database
  // until it is there, and then a whole one.
  if (st.ok()) st = env_->SyncDir(to);
  if (st.ok()) st = env_->SyncDir(tmp);
  move("CURRENT");
  if (st.ok()) st = env_->RemoveDir(tmp);
  if (st.ok()) return env_->SyncDir(to);
  for (const auto& n : moved) (void)env_->RemoveFile(to + "/" + n);  // to as it was
  (void)RemoveTree(env_, tmp);
  return st;
}

absl::StatusOr<std::vector<uint32_t>> BackupEngine::Purge(size_t keep, uint64_t* bytes_freed) {
  CAIRN_ASSIGN_OR_RETURN(std::vector<uint32_t> ids, Ids());
  std::vector<uint32_t> deleted;
  uint64_t freed = 0;
  // The meta file goes first: from then on the backup does not exist.
  while (ids.size() > keep) {
    const uint32_t id = ids.front();
    ids.erase(ids.begin());
    CAIRN_RETURN_IF_ERROR(env_->RemoveFile(absl::StrCat(root_, "/meta/", id)));
    deleted.push_back(id);
  }
  CAIRN_RETURN_IF_ERROR(env_->SyncDir(root_ + "/meta"));
  std::set<std::string> used;
  std::set<std::string> live_private;
  for (uint32_t id : ids) {
    CAIRN_ASSIGN_OR_RETURN(BackupInfo info, Get(id));
    for (const auto& f : info.files) used.insert(f.path);
    live_private.insert(absl::StrCat(id));
  }
  CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> shared, env_->GetChildren(root_ + "/shared"));
  for (const auto& n : shared) {
    if (used.count("shared/" + n) > 0) continue;
    const std::string path = root_ + "/shared/" + n;
    auto size = env_->GetFileSize(path);
    CAIRN_RETURN_IF_ERROR(env_->RemoveFile(path));
    if (size.ok()) freed += *size;
  }
  CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> priv, env_->GetChildren(root_ + "/private"));
  for (const auto& n : priv) {
    if (live_private.count(n) > 0) continue;
    const std::string dir = root_ + "/private/" + n;
    if (auto children = env_->GetChildren(dir); children.ok()) {
      for (const auto& c : *children) {
        if (auto size = env_->GetFileSize(dir + "/" + c); size.ok()) freed += *size;
      }
    }
    CAIRN_RETURN_IF_ERROR(RemoveTree(env_, dir));
  }
  CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> metas, env_->GetChildren(root_ + "/meta"));
  for (const auto& n : metas) {
    if (n.size() > 4 && n.substr(n.size() - 4) == ".tmp") {
      (void)env_->RemoveFile(root_ + "/meta/" + n);
    }
  }
  if (bytes_freed != nullptr) *bytes_freed = freed;
  return deleted;
}

}  // namespace cairn::engine
