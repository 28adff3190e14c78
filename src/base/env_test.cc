#include <gtest/gtest.h>

#include <filesystem>

#include "base/fault_injection_env.h"
#include "base/status.h"
#include "cairn/env.h"

namespace cairn {
namespace {

class EnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("cairn_env_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    ASSERT_TRUE(env_->CreateDir(dir_).ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Path(const std::string& name) { return dir_ + "/" + name; }

  Env* env_ = Env::Default();
  std::string dir_;
};

TEST_F(EnvTest, WriteReadRenameRemove) {
  ASSERT_TRUE(WriteStringToFileSync(env_, "hello world", Path("a")).ok());
  std::string data;
  ASSERT_TRUE(ReadFileToString(env_, Path("a"), &data).ok());
  EXPECT_EQ(data, "hello world");
  EXPECT_EQ(*env_->GetFileSize(Path("a")), 11u);

  auto raf = env_->NewRandomAccessFile(Path("a"));
  ASSERT_TRUE(raf.ok());
  char scratch[16];
  std::string_view got;
  ASSERT_TRUE((*raf)->Read(6, 5, &got, scratch).ok());
  EXPECT_EQ(got, "world");
  ASSERT_TRUE((*raf)->Read(9, 10, &got, scratch).ok());
  EXPECT_EQ(got, "ld");  // short read at end of file

  ASSERT_TRUE(env_->RenameFile(Path("a"), Path("b")).ok());
  EXPECT_FALSE(env_->FileExists(Path("a")));
  auto children = env_->GetChildren(dir_);
  ASSERT_TRUE(children.ok());
  EXPECT_EQ(*children, std::vector<std::string>{"b"});
  ASSERT_TRUE(env_->RemoveFile(Path("b")).ok());
  EXPECT_TRUE(absl::IsNotFound(env_->RemoveFile(Path("b"))));
  EXPECT_TRUE(absl::IsNotFound(env_->NewSequentialFile(Path("b")).status()));
}

TEST_F(EnvTest, MappedFileReadsLikePreadAndSurvivesUnlink) {
  std::string contents;
  for (int i = 0; i < 10000; i++) contents += std::to_string(i);
  ASSERT_TRUE(WriteStringToFileSync(env_, contents, Path("m")).ok());
  auto mapped = env_->NewMappedFile(Path("m"));
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  EXPECT_TRUE((*mapped)->IsMapped());
  std::string_view got;
  ASSERT_TRUE((*mapped)->Read(0, contents.size(), &got, nullptr).ok());
  EXPECT_EQ(got, contents);
  ASSERT_TRUE((*mapped)->Read(1000, 37, &got, nullptr).ok());
  EXPECT_EQ(got, contents.substr(1000, 37));
  ASSERT_TRUE((*mapped)->Read(contents.size() - 3, 10, &got, nullptr).ok());
  EXPECT_EQ(got, contents.substr(contents.size() - 3));  // short read at end of file
  ASSERT_TRUE((*mapped)->Read(contents.size() + 5, 10, &got, nullptr).ok());
  EXPECT_TRUE(got.empty());
  // Tables are deleted while readers still hold them: the mapping stays readable.
  ASSERT_TRUE(env_->RemoveFile(Path("m")).ok());
  ASSERT_TRUE((*mapped)->Read(5, 4, &got, nullptr).ok());
  EXPECT_EQ(got, contents.substr(5, 4));

  // An empty file cannot be mapped: it is served by pread instead.
  ASSERT_TRUE(WriteStringToFileSync(env_, "", Path("empty")).ok());
  auto empty = env_->NewMappedFile(Path("empty"));
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE((*empty)->IsMapped());
  EXPECT_TRUE(absl::IsNotFound(env_->NewMappedFile(Path("missing")).status()));
}

TEST_F(EnvTest, LockIsExclusiveEvenWithinOneProcess) {
  auto l1 = env_->LockFile(Path("LOCK"));
  ASSERT_TRUE(l1.ok());
  auto l2 = env_->LockFile(Path("LOCK"));
  EXPECT_TRUE(absl::IsFailedPrecondition(l2.status())) << l2.status();
  l1->reset();
  EXPECT_TRUE(env_->LockFile(Path("LOCK")).ok());
}

TEST_F(EnvTest, FaultEnvDropsUnsyncedTailsAndUnsyncedFiles) {
  FaultInjectionEnv fenv(env_);
  ASSERT_TRUE(fenv.SyncDir(dir_).ok());
  {
    auto f = fenv.NewWritableFile(Path("durable"));
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Append("synced-").ok());
    ASSERT_TRUE((*f)->Sync().ok());
    ASSERT_TRUE(fenv.SyncDir(dir_).ok());
    ASSERT_TRUE((*f)->Append("lost").ok());
    ASSERT_TRUE((*f)->Close().ok());
  }
  {
    auto f = fenv.NewWritableFile(Path("never-dir-synced"));
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Append("data").ok());
    ASSERT_TRUE((*f)->Sync().ok());
    ASSERT_TRUE((*f)->Close().ok());
  }
  EXPECT_EQ(fenv.UnsyncedBytes(), 4u + 4u);
  ASSERT_TRUE(fenv.DropUnsyncedData().ok());
  std::string data;
  ASSERT_TRUE(ReadFileToString(env_, Path("durable"), &data).ok());
  EXPECT_EQ(data, "synced-");
  EXPECT_FALSE(env_->FileExists(Path("never-dir-synced")));
}

TEST_F(EnvTest, FaultEnvInactiveFailsWritesAndCrashAfterCounts) {
  FaultInjectionEnv fenv(env_);
  auto f = fenv.NewWritableFile(Path("x"));
  ASSERT_TRUE(f.ok());
  fenv.CrashAfterWrites(2);
  EXPECT_TRUE((*f)->Append("1").ok());
  EXPECT_TRUE((*f)->Append("2").ok());
  EXPECT_FALSE((*f)->Append("3").ok());
  EXPECT_FALSE(fenv.NewWritableFile(Path("y")).ok());
  fenv.SetFilesystemActive(true);
  EXPECT_TRUE((*f)->Append("4").ok());
}

}  // namespace
}  // namespace cairn
