// BackupEngine: full and incremental backups, verification, restore and retention.
#include "cairn/engine/backup.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/status.h"
#include "cairn/engine/check.h"
#include "cairn/engine/db.h"
#include "engine/db_test_util.h"

namespace cairn::engine {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<DB> OpenOrDie(const std::string& dir) {
  Options options;
  options.write_buffer_size = 64 << 10;
  auto db = DB::Open(options, dir);
  EXPECT_TRUE(db.ok()) << db.status();
  return db.ok() ? std::move(*db) : nullptr;
}

std::unique_ptr<BackupEngine> OpenBackups(const std::string& root) {
  auto b = BackupEngine::Open(Env::Default(), root, /*create=*/true);
  EXPECT_TRUE(b.ok()) << b.status();
  return b.ok() ? std::move(*b) : nullptr;
}

void FlipByte(const std::string& path, uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x20);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

TEST(BackupTest, RestoredCopyHoldsEveryWriteUpToTheBackupsSequence) {
  TempDir src, root, to;
  auto db = OpenOrDie(src.path());
  for (int i = 0; i < 20000; i++) {
    ASSERT_TRUE(db->Put({}, absl::StrFormat("k%06d", i), absl::StrFormat("v%d", i)).ok());
  }
  absl::Status st;
  const auto before = ScanAll(db.get(), &st);
  auto backups = OpenBackups(root.path());
  uint64_t last_done = 0, last_total = 0;
  auto info = backups->CreateBackup(db.get(), src.path() + "/backup-scratch",
                                    [&](uint64_t done, uint64_t total) {
                                      EXPECT_GE(done, last_done);
                                      last_done = done;
                                      last_total = total;
                                    });
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->id, 1u);
  EXPECT_EQ(info->sequence, 20000u);
  EXPECT_EQ(last_done, last_total);
  EXPECT_EQ(info->size, last_total);
  EXPECT_FALSE(fs::exists(src.path() + "/backup-scratch"));
  for (int i = 0; i < 20000; i++)
    ASSERT_TRUE(db->Put({}, absl::StrFormat("k%06d", i), "later").ok());

  ASSERT_TRUE(backups->Verify(1).ok());
  ASSERT_TRUE(backups->Restore(1, to.path()).ok());
  auto copy = OpenOrDie(to.path());
  EXPECT_EQ(ScanAll(copy.get(), &st), before);
  EXPECT_EQ(*copy->GetProperty("cairn.last-sequence"), "20000");
  // A target named with a trailing slash is the same directory.
  TempDir to2;
  ASSERT_TRUE(backups->Restore(1, to2.path() + "/").ok());
  EXPECT_TRUE(fs::exists(to2.path() + "/CURRENT"));
  // A second restore into a directory with files is refused.
  EXPECT_TRUE(absl::IsFailedPrecondition(backups->Restore(1, to.path())));
}

TEST(BackupTest, IncrementalBackupSharesUnchangedTables) {
  TempDir src, root;
  auto db = OpenOrDie(src.path());
  for (int i = 0; i < 20000; i++) ASSERT_TRUE(db->Put({}, absl::StrFormat("k%06d", i), "v").ok());
  ASSERT_TRUE(db->CompactRange(nullptr, nullptr).ok());
  auto backups = OpenBackups(root.path());
  auto first = backups->CreateBackup(db.get(), src.path() + "/scratch");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->new_bytes, first->size);
  for (int i = 0; i < 200; i++)
    ASSERT_TRUE(db->Put({}, absl::StrFormat("k%06d", i * 100), "w").ok());
  auto second = backups->CreateBackup(db.get(), src.path() + "/scratch");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->id, 2u);
  // Only the new table of the 200 changed keys and the MANIFEST/CURRENT are copied.
  EXPECT_LT(second->new_bytes * 10, first->size) << second->new_bytes << " of " << second->size;
  auto list = backups->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1].new_bytes, second->new_bytes);
}

TEST(BackupTest, FlippedByteIsReportedByVerifyAndRefusedByRestore) {
  TempDir src, root, to;
  auto db = OpenOrDie(src.path());
  for (int i = 0; i < 5000; i++)
    ASSERT_TRUE(db->Put({}, absl::StrFormat("k%06d", i), "value").ok());
  auto backups = OpenBackups(root.path());
  auto info = backups->CreateBackup(db.get(), src.path() + "/scratch");
  ASSERT_TRUE(info.ok()) << info.status();
  std::string table;
  for (const auto& f : info->files) {
    if (f.path.rfind("shared/", 0) == 0) table = f.path;
  }
  ASSERT_FALSE(table.empty());
  FlipByte(root.path() + "/" + table, 100);
  absl::Status v = backups->Verify(info->id);
  EXPECT_TRUE(IsCorruption(v)) << v;
  EXPECT_NE(v.message().find(table), absl::string_view::npos) << v;
  absl::Status r = backups->Restore(info->id, to.path());
  EXPECT_TRUE(IsCorruption(r)) << r;
  EXPECT_FALSE(fs::exists(to.path()));
  EXPECT_FALSE(fs::exists(to.path() + ".restoring"));
}

TEST(BackupTest, DamagedMetaFileIsCorruption) {
  TempDir src, root;
  auto db = OpenOrDie(src.path());
  ASSERT_TRUE(db->Put({}, "k", "v").ok());
  auto backups = OpenBackups(root.path());
  ASSERT_TRUE(backups->CreateBackup(db.get(), src.path() + "/scratch").ok());
  FlipByte(root.path() + "/meta/1", 30);
  EXPECT_TRUE(IsCorruption(backups->Get(1).status()));
  EXPECT_TRUE(IsCorruption(backups->Verify(1)));
  EXPECT_TRUE(absl::IsNotFound(backups->Verify(7)));
}

TEST(BackupTest, MetaRoundTripAndVersionCheck) {
  BackupInfo info;
  info.id = 3;
  info.timestamp_ms = 1765000000123;
  info.sequence = 42;
  info.files.push_back({"000007.sst", "shared/000007_10_00000000000000ff.sst", 10, 255});
  info.files.push_back({"CURRENT", "private/3/CURRENT", 16, 1});
  const std::string text = EncodeBackupMeta(info);
  auto back = DecodeBackupMeta(text);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->id, 3u);
  EXPECT_EQ(back->timestamp_ms, info.timestamp_ms);
  EXPECT_EQ(back->size, 26u);
  ASSERT_EQ(back->files.size(), 2u);
  EXPECT_EQ(back->files[0].checksum, 255u);
  std::string v2 = text;
  v2.replace(v2.find(" 1\n"), 3, " 2\n");
  EXPECT_TRUE(IsCorruption(DecodeBackupMeta(v2).status()));  // checksum (or version) refuses it
  EXPECT_TRUE(IsCorruption(DecodeBackupMeta(text.substr(0, text.size() / 2)).status()));
}

TEST(BackupTest, PurgeKeepsTheNewestAndDeletesUnusedSharedFiles) {
  TempDir src, root, to;
  auto db = OpenOrDie(src.path());
  auto backups = OpenBackups(root.path());
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < 3000; i++) {
      ASSERT_TRUE(db->Put({}, absl::StrFormat("k%06d", i), absl::StrFormat("r%d", round)).ok());
    }
    ASSERT_TRUE(db->CompactRange(nullptr, nullptr).ok());
    ASSERT_TRUE(backups->CreateBackup(db.get(), src.path() + "/scratch").ok());
  }
  auto all = backups->List();
  ASSERT_TRUE(all.ok());
  uint64_t freed = 0;
  auto deleted = backups->Purge(1, &freed);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, (std::vector<uint32_t>{1, 2}));
  EXPECT_GT(freed, 0u);
  auto left = backups->List();
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].id, 3u);
  size_t shared = 0;
  for (const auto& e : fs::directory_iterator(root.path() + "/shared")) {
    (void)e;
    shared++;
  }
  size_t named = 0;
  for (const auto& f : (*left)[0].files) named += f.path.rfind("shared/", 0) == 0 ? 1 : 0;
  EXPECT_EQ(shared, named);
  EXPECT_FALSE(fs::exists(root.path() + "/private/1"));
  ASSERT_TRUE(backups->Verify(3).ok());
  ASSERT_TRUE(backups->Restore(3, to.path()).ok());
  auto copy = OpenOrDie(to.path());
  EXPECT_EQ(GetOrStatus(copy.get(), "k000001"), "r2");
}

TEST(BackupTest, SecondEngineOnOneDirectoryIsRefused) {
  TempDir root;
  auto a = OpenBackups(root.path());
  auto b = BackupEngine::Open(Env::Default(), root.path(), true);
  EXPECT_TRUE(absl::IsFailedPrecondition(b.status())) << b.status();
  EXPECT_TRUE(
      absl::IsNotFound(BackupEngine::Open(Env::Default(), root.path() + "/x", false).status()));
}

// Writes continue while the backup runs: the restored copy holds exactly the writes up to
// the backup's sequence (keys are written in order, so a prefix of them).
TEST(BackupTest, BackupUnderWritesIsAPrefixOfTheWrites) {
  TempDir src, root, to;
  auto db = OpenOrDie(src.path());
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::thread writer([&] {
    for (int i = 0; !stop.load(); i++) {
      ASSERT_TRUE(db->Put({}, absl::StrFormat("k%08d", i), "v").ok());
      written.store(i + 1);
    }
  });
  while (written.load() < 20000) std::this_thread::yield();
  auto backups = OpenBackups(root.path());
  const int acked_before = written.load();
  auto info = backups->CreateBackup(db.get(), src.path() + "/scratch");
  stop = true;
  writer.join();
  ASSERT_TRUE(info.ok()) << info.status();
  ASSERT_TRUE(backups->Restore(info->id, to.path()).ok());
  auto copy = OpenOrDie(to.path());
  absl::Status st;
  const auto keys = ScanAll(copy.get(), &st);
  EXPECT_EQ(keys.size(), info->sequence);
  EXPECT_GE(keys.size(), static_cast<size_t>(acked_before));
  int i = 0;
  for (const auto& [k, v] : keys) ASSERT_EQ(k, absl::StrFormat("k%08d", i++));
}

TEST(BackupTest, TruncatedSharedTableIsCopiedAgainNotReused) {
  TempDir src, root;
  auto db = OpenOrDie(src.path());
  for (int i = 0; i < 20000; i++) ASSERT_TRUE(db->Put({}, absl::StrFormat("k%06d", i), "v").ok());
  ASSERT_TRUE(db->CompactRange(nullptr, nullptr).ok());
  auto backups = OpenBackups(root.path());
  auto first = backups->CreateBackup(db.get(), src.path() + "/scratch");
  ASSERT_TRUE(first.ok()) << first.status();
  // A shared table cut short (a full disk, a bad copy by hand): Verify reports it ...
  std::string table;
  for (const auto& f : first->files) {
    if (f.path.rfind("shared/", 0) == 0) table = root.path() + "/" + f.path;
  }
  ASSERT_FALSE(table.empty());
  fs::resize_file(table, fs::file_size(table) / 2);
  EXPECT_FALSE(backups->Verify(first->id).ok());
  // ... and the next backup, which names the same table, copies it again instead of
  // pointing at the broken file (a backup that could not be restored, reported as made).
  ASSERT_TRUE(db->Put({}, "new", "x").ok());
  auto second = backups->CreateBackup(db.get(), src.path() + "/scratch");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(backups->Verify(second->id).ok()) << backups->Verify(second->id);
  EXPECT_TRUE(backups->Verify(first->id).ok());  // the same content, whole again
}

std::unique_ptr<DB> OpenWithBlobs(const std::string& dir) {
  Options options;
  options.write_buffer_size = 256 << 10;
  options.min_blob_size = 1000;
  options.blob_file_size = 256 << 10;  // several sealed files and an active one
  auto db = DB::Open(options, dir);
  EXPECT_TRUE(db.ok()) << db.status();
  return db.ok() ? std::move(*db) : nullptr;
}

std::string LargeValue(int i) { return std::string(20000 + i, static_cast<char>('a' + i % 26)); }

// Every key's value read back from a restored copy of backup id.
void ExpectRestoredValues(BackupEngine* backups, uint32_t id, int keys) {
  TempDir to;
  ASSERT_TRUE(backups->Restore(id, to.path()).ok());
  auto copy = OpenWithBlobs(to.path());
  ASSERT_NE(copy, nullptr);
  for (int i = 0; i < keys; i++) {
    std::string v;
    ASSERT_TRUE(copy->Get({}, absl::StrFormat("big%04d", i), &v).ok())
        << "backup " << id << " key " << i;
    ASSERT_EQ(v, LargeValue(i)) << "backup " << id << " key " << i;
  }
  std::string v;
  EXPECT_TRUE(absl::IsNotFound(copy->Get({}, absl::StrFormat("big%04d", keys), &v)));
}

// Blob files (large values) are shared between backups as tables are: the second backup
// copies the blob files written since the first (and the active file, which grew), not
// the sealed ones the first already holds.
TEST(BackupTest, IncrementalBackupSharesSealedBlobFiles) {
  TempDir src, root;
  auto db = OpenWithBlobs(src.path());
  for (int i = 0; i < 100; i++) {
    ASSERT_TRUE(db->Put({}, absl::StrFormat("big%04d", i), LargeValue(i)).ok());
  }
  auto backups = OpenBackups(root.path());
  auto first = backups->CreateBackup(db.get(), src.path() + "/scratch");
  ASSERT_TRUE(first.ok()) << first.status();
  std::set<std::string> first_blobs;
  uint64_t blob_bytes = 0;
  for (const auto& f : first->files) {
    if (f.name.ends_with(".blob")) {
      EXPECT_TRUE(f.path.starts_with("shared/")) << f.path;
      first_blobs.insert(f.path);
      blob_bytes += f.size;
    }
  }
  ASSERT_GE(first_blobs.size(), 5u);
  for (int i = 100; i < 120; i++) {
    ASSERT_TRUE(db->Put({}, absl::StrFormat("big%04d", i), LargeValue(i)).ok());
  }
  auto second = backups->CreateBackup(db.get(), src.path() + "/scratch");
  ASSERT_TRUE(second.ok()) << second.status();
  size_t reused = 0;
  for (const auto& f : second->files) reused += first_blobs.count(f.path);
  // All but the file that was active at the first backup are shared.
  EXPECT_GE(reused, first_blobs.size() - 1);
  // New: 20 values (~400 KB), at most one grown active file (256 KB) and the tables.
  EXPECT_LT(second->new_bytes, 1200u << 10) << second->new_bytes << " of " << second->size;
  EXPECT_GT(blob_bytes, 1900u << 10);
  ASSERT_TRUE(backups->Verify(first->id).ok());
  ASSERT_TRUE(backups->Verify(second->id).ok());
  ExpectRestoredValues(backups.get(), first->id, 100);
  ExpectRestoredValues(backups.get(), second->id, 120);
}

// The active blob file keeps growing through the checkpoint's hard link while the backup
// reads it: the backup takes the length it found first, checksummed and copied alike.
TEST(BackupTest, ActiveBlobFileGrowingDuringTheBackupIsCopiedToOneLength) {
  TempDir src, root, to;
  auto db = OpenWithBlobs(src.path());
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::thread writer([&] {
    for (int i = 0; !stop.load(); i++) {
      ASSERT_TRUE(db->Put({}, absl::StrFormat("big%06d", i), LargeValue(i)).ok());
      written.store(i + 1);
    }
  });
  while (written.load() < 50) std::this_thread::yield();
  auto backups = OpenBackups(root.path());
  std::vector<absl::StatusOr<BackupInfo>> infos;
  for (int round = 0; round < 3; round++) {
    infos.push_back(backups->CreateBackup(db.get(), src.path() + "/scratch"));
  }
  stop = true;
  writer.join();
  for (const auto& info : infos) {
    ASSERT_TRUE(info.ok()) << info.status();
    ASSERT_TRUE(backups->Verify(info->id).ok()) << backups->Verify(info->id);
  }
  ASSERT_TRUE(backups->Restore(infos.back()->id, to.path()).ok());
  // The active file's copy may end in a record the backup's length cut short (one no
  // table of the checkpoint refers to): a check finds no problem with it.
  auto report = CheckDB(to.path(), Options());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->problems.empty()) << report->problems.front();
  auto copy = OpenWithBlobs(to.path());
  absl::Status st;
  const auto keys = ScanAll(copy.get(), &st);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(keys.size(), infos.back()->sequence);
  int i = 0;
  for (const auto& [k, v] : keys) {
    ASSERT_EQ(k, absl::StrFormat("big%06d", i));
    ASSERT_EQ(v, LargeValue(i++));
  }
}

// A shared file of the right name and size whose content was damaged since (a flipped
// byte: Verify reports it) is not trusted by the next backup: it is copied again, so the
// new backup restores, and the older one is mended. Tables and blob files alike.
TEST(BackupTest, DamagedSharedFileOfTheRightSizeIsCopiedAgainNotReused) {
  TempDir src, root;
  auto db = OpenWithBlobs(src.path());
  for (int i = 0; i < 40; i++) {
    ASSERT_TRUE(db->Put({}, absl::StrFormat("big%04d", i), LargeValue(i)).ok());
  }
  for (int i = 0; i < 5000; i++) {
    ASSERT_TRUE(db->Put({}, absl::StrFormat("k%06d", i), "v").ok());
  }
  ASSERT_TRUE(db->CompactRange(nullptr, nullptr).ok());
  auto backups = OpenBackups(root.path());
  auto first = backups->CreateBackup(db.get(), src.path() + "/scratch");
  ASSERT_TRUE(first.ok()) << first.status();
  std::string table, blob;
  for (const auto& f : first->files) {
    if (f.path.ends_with(".sst")) table = root.path() + "/" + f.path;
    if (f.path.ends_with(".blob") && blob.empty()) blob = root.path() + "/" + f.path;
  }
  ASSERT_FALSE(table.empty());
  ASSERT_FALSE(blob.empty());
  FlipByte(table, 100);
  FlipByte(blob, 5000);
  EXPECT_FALSE(backups->Verify(first->id).ok());
  ASSERT_TRUE(db->Put({}, "new", "x").ok());
  auto second = backups->CreateBackup(db.get(), src.path() + "/scratch");
  ASSERT_TRUE(second.ok()) << second.status();
  bool names_table = false, names_blob = false;
  for (const auto& f : second->files) {
    names_table = names_table || root.path() + "/" + f.path == table;
    names_blob = names_blob || root.path() + "/" + f.path == blob;
  }
  ASSERT_TRUE(names_table && names_blob);  // the same content, so the same names
  EXPECT_TRUE(backups->Verify(second->id).ok()) << backups->Verify(second->id);
  EXPECT_TRUE(backups->Verify(first->id).ok()) << backups->Verify(first->id);
  ExpectRestoredValues(backups.get(), second->id, 40);
}

// A mount point as the file system shows it: the directory cannot be removed (EBUSY), and
// nothing is renamed into or out of it across its boundary (EXDEV).
class MountPointEnv : public EnvWrapper {
 public:
  MountPointEnv(Env* target, std::string mount) : EnvWrapper(target), mount_(std::move(mount)) {}
  absl::Status RemoveDir(const std::string& dir) override {
    if (Norm(dir) == mount_) return absl::UnavailableError(dir + ": Device or resource busy");
    return EnvWrapper::RemoveDir(dir);
  }
  absl::Status RenameFile(const std::string& src, const std::string& dst) override {
    if (Inside(src) != Inside(dst) || Norm(dst) == mount_ || Norm(src) == mount_) {
      return absl::InternalError(src + ": Invalid cross-device link");
    }
    return EnvWrapper::RenameFile(src, dst);
  }

 private:
  static std::string Norm(const std::string& p) { return fs::path(p).lexically_normal().string(); }
  bool Inside(const std::string& p) const { return Norm(p).rfind(mount_ + "/", 0) == 0; }
  const std::string mount_;
};

// restore into an existing empty directory (a fresh mount point; lost+found allowed):
// the files land in it, nothing is left beside or inside it, and a failed restore leaves
// it empty.
TEST(BackupTest, RestoreIntoAnEmptyMountPoint) {
  TempDir src, root, mount;
  auto db = OpenOrDie(src.path());
  for (int i = 0; i < 3000; i++) {
    ASSERT_TRUE(db->Put({}, absl::StrFormat("k%06d", i), absl::StrFormat("v%d", i)).ok());
  }
  absl::Status st;
  const auto before = ScanAll(db.get(), &st);
  auto backups = OpenBackups(root.path());
  auto info = backups->CreateBackup(db.get(), src.path() + "/scratch");
  ASSERT_TRUE(info.ok()) << info.status();
  fs::create_directories(mount.path() + "/lost+found");
  MountPointEnv env(Env::Default(), fs::path(mount.path()).lexically_normal().string());
  backups.reset();
  auto b = BackupEngine::Open(&env, root.path(), /*create=*/false);
  ASSERT_TRUE(b.ok()) << b.status();
  // A damaged backup: refused, and the mount point is left as it was.
  std::string table;
  for (const auto& f : info->files) {
    if (f.path.ends_with(".sst")) table = root.path() + "/" + f.path;
  }
  FlipByte(table, 100);
  EXPECT_TRUE(absl::IsDataLoss((*b)->Restore(info->id, mount.path())));
  EXPECT_EQ(std::distance(fs::directory_iterator(mount.path()), fs::directory_iterator()), 1);
  FlipByte(table, 100);  // mended
  absl::Status restored = (*b)->Restore(info->id, mount.path() + "/");
  ASSERT_TRUE(restored.ok()) << restored;
  EXPECT_FALSE(fs::exists(mount.path() + "/.cairn-restoring"));
  EXPECT_FALSE(fs::exists(mount.path() + ".restoring"));
  auto copy = OpenOrDie(mount.path());
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(ScanAll(copy.get(), &st), before);
  copy.reset();
  // Not empty any more: refused.
  EXPECT_TRUE(absl::IsFailedPrecondition((*b)->Restore(info->id, mount.path())));
}

// Records the directory operations, in order, to check what is made durable when.
class DirOpsEnv : public EnvWrapper {
 public:
  explicit DirOpsEnv(Env* target) : EnvWrapper(target) {}
  absl::Status CreateDir(const std::string& dir) override {
    ops.push_back("mkdir " + Norm(dir));
    return EnvWrapper::CreateDir(dir);
  }
  absl::Status SyncDir(const std::string& dir) override {
    ops.push_back("sync " + Norm(dir));
    return EnvWrapper::SyncDir(dir);
  }
  absl::Status RenameFile(const std::string& src, const std::string& dst) override {
    ops.push_back("rename " + Norm(dst));
    return EnvWrapper::RenameFile(src, dst);
  }
  static std::string Norm(const std::string& p) { return fs::path(p).lexically_normal().string(); }
  // Whether every directory created before ops[end] had its parent synced after its
  // creation and before ops[end].
  ::testing::AssertionResult CreatedDirsDurableBefore(size_t end) const {
    for (size_t i = 0; i < end; i++) {
      if (ops[i].rfind("mkdir ", 0) != 0) continue;
      std::string parent = fs::path(ops[i].substr(6)).parent_path().string();
      bool synced = false;
      for (size_t j = i + 1; j < end && !synced; j++) synced = ops[j] == "sync " + parent;
      if (!synced) {
        return ::testing::AssertionFailure() << ops[i] << " not made durable before " << ops[end];
      }
    }
    return ::testing::AssertionSuccess();
  }
  size_t Find(const std::string& op) const {
    for (size_t i = 0; i < ops.size(); i++) {
      if (ops[i] == op) return i;
    }
    return ops.size();
  }
  std::vector<std::string> ops;
};

TEST(BackupTest, DirectoriesAreSyncedBeforeTheMetaFileAndAfterARestore) {
  TempDir src, parent;
  fs::create_directories(parent.path());
  auto db = OpenOrDie(src.path());
  for (int i = 0; i < 2000; i++) {
    ASSERT_TRUE(db->Put({}, absl::StrFormat("k%06d", i), "v").ok());
  }
  DirOpsEnv env(Env::Default());
  const std::string root = parent.path() + "/backups";
  auto b = BackupEngine::Open(&env, root, /*create=*/true);
  ASSERT_TRUE(b.ok()) << b.status();
  auto info = (*b)->CreateBackup(db.get(), src.path() + "/backup-scratch");
  ASSERT_TRUE(info.ok()) << info.status();
  // The backup exists once its meta file is renamed into place: the directories its files
  // are in (root, meta, shared, private, private/1) must be durable by then.
  const size_t meta = env.Find("rename " + DirOpsEnv::Norm(root + "/meta/1"));
  ASSERT_LT(meta, env.ops.size());
  EXPECT_TRUE(env.CreatedDirsDurableBefore(meta));
  // A restore's directory, renamed into place, is durable when Restore returns.
  env.ops.clear();
  const std::string to = parent.path() + "/restored";
  ASSERT_TRUE((*b)->Restore(info->id, to).ok());
  const size_t renamed = env.Find("rename " + DirOpsEnv::Norm(to));
  ASSERT_LT(renamed, env.ops.size());
  bool synced = false;
  for (size_t j = renamed + 1; j < env.ops.size(); j++) {
    synced = synced || env.ops[j] == "sync " + DirOpsEnv::Norm(parent.path());
  }
  EXPECT_TRUE(synced) << "the restored directory's parent is not synced after the rename";
}

// Into an existing empty directory, the files are renamed out of the temporary directory
// inside it: every one is durable in it (the directory synced) before CURRENT is renamed,
// and CURRENT's rename is synced too. A restore the machine stopped half way through the
// renames (the backup's files in the directory, no CURRENT yet) is run again from scratch;
// a file that is not the backup's is never cleared.
TEST(BackupTest, RestoreIntoAMountPointSyncsBeforeCurrentAndReruns) {
  TempDir src, root, mount;
  auto db = OpenOrDie(src.path());
  for (int i = 0; i < 2000; i++) {
    ASSERT_TRUE(db->Put({}, absl::StrFormat("k%06d", i), absl::StrFormat("v%d", i)).ok());
  }
  absl::Status st;
  const auto before = ScanAll(db.get(), &st);
  auto backups = OpenBackups(root.path());
  auto info = backups->CreateBackup(db.get(), src.path() + "/scratch");
  ASSERT_TRUE(info.ok()) << info.status();
  backups.reset();
  const std::string to = fs::path(mount.path()).lexically_normal().string();
  fs::create_directories(to + "/lost+found");
  MountPointEnv mount_env(Env::Default(), to);
  DirOpsEnv env(&mount_env);
  auto b = BackupEngine::Open(&env, root.path(), /*create=*/false);
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE((*b)->Restore(info->id, to).ok());
  const size_t current = env.Find("rename " + to + "/CURRENT");
  ASSERT_LT(current, env.ops.size());
  size_t last_other = 0;  // the last rename of another file
  for (size_t i = 0; i < current; i++) {
    if (env.ops[i].rfind("rename " + to + "/", 0) == 0) last_other = i;
  }
  ASSERT_GT(last_other, 0u);
  bool synced_before = false, synced_after = false;
  for (size_t i = last_other + 1; i < current; i++) synced_before |= env.ops[i] == "sync " + to;
  for (size_t i = current + 1; i < env.ops.size(); i++) synced_after |= env.ops[i] == "sync " + to;
  EXPECT_TRUE(synced_before) << "CURRENT renamed before the other files are durable";
  EXPECT_TRUE(synced_after) << "CURRENT's rename is not synced";

  // The machine stopped after some renames: CURRENT and one table still in the
  // temporary directory, the rest in to.
  std::string table;
  for (const auto& f : info->files) {
    if (f.name.ends_with(".sst")) table = f.name;
  }
  ASSERT_FALSE(table.empty());
  fs::create_directories(to + "/.cairn-restoring");
  fs::rename(to + "/CURRENT", to + "/.cairn-restoring/CURRENT");
  fs::rename(to + "/" + table, to + "/.cairn-restoring/" + table);
  // Not the backup's: refused, and nothing removed.
  { std::ofstream(to + "/notes.txt") << "mine"; }
  EXPECT_TRUE(absl::IsFailedPrecondition((*b)->Restore(info->id, to)));
  EXPECT_TRUE(fs::exists(to + "/notes.txt"));
  fs::remove(to + "/notes.txt");
  st = (*b)->Restore(info->id, to);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_FALSE(fs::exists(to + "/.cairn-restoring"));
  auto copy = OpenOrDie(to);
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(ScanAll(copy.get(), &st), before);
}

}  // namespace
}  // namespace cairn::engine
