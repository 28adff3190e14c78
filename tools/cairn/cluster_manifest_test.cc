// The cluster backup manifest survives a power failure once `cairn cluster backup` said it
// was written: its data synced before the rename, the directory after it.
#include "cluster_manifest.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "base/fault_injection_env.h"

namespace cairn::tools {
namespace {

namespace fs = std::filesystem;

// Records the renames and directory syncs, in order.
class DirOpsEnv : public EnvWrapper {
 public:
  explicit DirOpsEnv(Env* target) : EnvWrapper(target) {}
  absl::Status CreateDir(const std::string& dir) override {
    ops.push_back("mkdir " + dir);
    return EnvWrapper::CreateDir(dir);
  }
  absl::Status SyncDir(const std::string& dir) override {
    ops.push_back("sync " + dir);
    return EnvWrapper::SyncDir(dir);
  }
  absl::Status RenameFile(const std::string& src, const std::string& dst) override {
    ops.push_back("rename " + dst);
    return EnvWrapper::RenameFile(src, dst);
  }
  absl::Status LinkFile(const std::string& src, const std::string& dst) override {
    ops.push_back("publish " + dst);
    return EnvWrapper::LinkFile(src, dst);
  }
  size_t Find(const std::string& op) const {
    for (size_t i = 0; i < ops.size(); i++) {
      if (ops[i] == op) return i;
    }
    return ops.size();
  }
  std::vector<std::string> ops;
};

class ClusterManifestTest : public ::testing::Test {
 protected:
  ClusterManifestTest() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dest_ = (fs::temp_directory_path() /
             ("cairn_manifest_" + std::to_string(::getpid()) + "_" + info->name()))
                .string();
    fs::remove_all(dest_);
    fs::create_directories(dest_);
  }
  ~ClusterManifestTest() override { fs::remove_all(dest_); }
  std::string dest_;
};

TEST_F(ClusterManifestTest, SurvivesAPowerFailureOnceWritten) {
  FaultInjectionEnv faults(Env::Default());
  DirOpsEnv env(&faults);
  const std::string text = "{\"format\": \"cairn-cluster-backup\", \"version\": 1}\n";
  auto n = WriteClusterManifest(&env, dest_, text);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 1);
  faults.SetFilesystemActive(false);
  ASSERT_TRUE(faults.DropUnsyncedData().ok());
  faults.SetFilesystemActive(true);
  std::string got;
  ASSERT_TRUE(ReadFileToString(Env::Default(), dest_ + "/clusters/1.json", &got).ok());
  EXPECT_EQ(got, text);  // synced before the rename: not an empty file after the crash
  // The rename itself is durable: the directory is synced after it, and the new
  // directory's entry in dest after its creation.
  size_t renamed = env.Find("rename " + dest_ + "/clusters/1.json");
  if (renamed == env.ops.size()) renamed = env.Find("publish " + dest_ + "/clusters/1.json");
  ASSERT_LT(renamed, env.ops.size()) << ::testing::PrintToString(env.ops);
  const size_t synced = env.Find("sync " + dest_ + "/clusters");
  EXPECT_TRUE(synced < env.ops.size() && synced > renamed) << ::testing::PrintToString(env.ops);
  const size_t made = env.Find("mkdir " + dest_ + "/clusters");
  const size_t parent = env.Find("sync " + dest_);
  EXPECT_TRUE(made < env.ops.size() && parent < env.ops.size() && parent > made)
      << ::testing::PrintToString(env.ops);
  EXPECT_FALSE(fs::exists(dest_ + "/clusters/1.json.tmp"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dest_ + "/clusters"), fs::directory_iterator()),
            1);  // no temporary file left
}

// Sees none of the manifests: as two cluster backups running at once, each looking before
// the other published.
class BlindEnv : public EnvWrapper {
 public:
  explicit BlindEnv(Env* target) : EnvWrapper(target) {}
  bool FileExists(const std::string& path) override {
    return path.ends_with(".json") ? false : EnvWrapper::FileExists(path);
  }
};

TEST_F(ClusterManifestTest, TwoWritersPickingTheSameNumberBothKeepTheirs) {
  BlindEnv env(Env::Default());
  auto first = WriteClusterManifest(&env, dest_, "a");
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = WriteClusterManifest(&env, dest_, "b");  // also tries 1.json first
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*first, 1);
  EXPECT_EQ(*second, 2);
  std::string got;
  ASSERT_TRUE(ReadFileToString(Env::Default(), dest_ + "/clusters/1.json", &got).ok());
  EXPECT_EQ(got, "a");
  ASSERT_TRUE(ReadFileToString(Env::Default(), dest_ + "/clusters/2.json", &got).ok());
  EXPECT_EQ(got, "b");
}

TEST_F(ClusterManifestTest, TakesTheNextFreeNumber) {
  ASSERT_TRUE(WriteClusterManifest(Env::Default(), dest_, "a").ok());
  auto second = WriteClusterManifest(Env::Default(), dest_, "b");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, 2);
  std::string got;
  ASSERT_TRUE(ReadFileToString(Env::Default(), dest_ + "/clusters/1.json", &got).ok());
  EXPECT_EQ(got, "a");
}

}  // namespace
}  // namespace cairn::tools
