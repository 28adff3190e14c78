// SAVE, BGSAVE, LASTSAVE and INFO persistence over BackupService, in process.
#include "server/backups.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "server/command_test_util.h"

namespace cairn::server {
namespace {

std::string InfoField(CommandHarness& h, const std::string& name) {
  const std::string info = h.Run({"INFO", "persistence"});
  const size_t at = info.find(name + ":");
  if (at == std::string::npos) return "<missing>";
  const size_t end = info.find_first_of("\\\r\"", at);
  return info.substr(at + name.size() + 1, end - at - name.size() - 1);
}

TEST(BackupServiceTest, SaveWritesABackupAndResetsTheChangeCount) {
  CommandHarness h;
  engine::TempDir scratch_parent, backups;
  std::filesystem::create_directories(scratch_parent.path());
  BackupService service(h.db(), scratch_parent.path(), h.context().backend);
  h.context().backups = &service;
  ASSERT_EQ(h.Run({"CONFIG", "SET", "backup-dir", backups.path()}), "OK");
  for (int i = 0; i < 100; i++) h.Run({"SET", "k" + std::to_string(i), "v"});
  EXPECT_EQ(InfoField(h, "rdb_changes_since_last_save"), "100");
  const std::string sequence = *h.db()->GetProperty("cairn.last-sequence");
  EXPECT_EQ(h.Run({"SAVE"}), "OK");
  EXPECT_EQ(InfoField(h, "rdb_changes_since_last_save"), "0");
  EXPECT_EQ(InfoField(h, "rdb_last_bgsave_status"), "ok");
  EXPECT_EQ(InfoField(h, "backup_last_id"), "1");
  EXPECT_EQ(InfoField(h, "backup_last_sequence"), sequence);
  EXPECT_EQ(h.Run({"LASTSAVE"}),
            "(integer) " + std::to_string(service.state().last_save_ms / 1000));
  h.Run({"SET", "after", "v"});
  EXPECT_EQ(InfoField(h, "rdb_changes_since_last_save"), "1");
  auto engine = engine::BackupEngine::Open(Env::Default(), backups.path(), false);
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_TRUE((*engine)->Verify(1).ok());
  EXPECT_FALSE(std::filesystem::exists(scratch_parent.path() + "/backup-scratch"));
}

TEST(BackupServiceTest, FailedSaveIsAnErrorAndTheStatusSaysSo) {
  CommandHarness h;
  engine::TempDir scratch_parent, backups;
  std::filesystem::create_directories(scratch_parent.path());
  BackupService service(h.db(), scratch_parent.path(), h.context().backend);
  h.context().backups = &service;
  // A directory under a regular file cannot be created.
  std::filesystem::create_directories(backups.path());
  { std::ofstream(backups.path() + "/file") << "x"; }
  ASSERT_EQ(h.Run({"CONFIG", "SET", "backup-dir", backups.path() + "/file/sub"}), "OK");
  const std::string reply = h.Run({"SAVE"});
  EXPECT_EQ(reply.rfind("(error) ERR ", 0), 0u) << reply;
  EXPECT_EQ(InfoField(h, "rdb_last_bgsave_status"), "err");
  EXPECT_EQ(h.Run({"BGSAVE", "now"}), "(error) ERR syntax error");
}

TEST(BackupServiceTest, OneBackupAtATime) {
  CommandHarness h;
  engine::TempDir scratch_parent, backups;
  std::filesystem::create_directories(scratch_parent.path());
  BackupService service(h.db(), scratch_parent.path(), h.context().backend);
  h.context().backups = &service;
  ASSERT_EQ(h.Run({"CONFIG", "SET", "backup-dir", backups.path()}), "OK");
  EXPECT_EQ(h.Run({"BGSAVE"}), "Background saving started");
  // Whether the second one finds the first running depends on timing; either answer is
  // Redis's, and the state must end consistent.
  const std::string second = h.Run({"BGSAVE"});
  EXPECT_TRUE(second == "Background saving started" ||
              second == "(error) ERR Background save already in progress")
      << second;
  for (int i = 0; i < 500 && service.state().in_progress; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(service.state().in_progress);
  EXPECT_TRUE(service.state().last_ok) << service.state().last_error;
  EXPECT_EQ(InfoField(h, "rdb_bgsave_in_progress"), "0");
  auto engine = engine::BackupEngine::Open(Env::Default(), backups.path(), false);
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto list = (*engine)->List();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), second == "Background saving started" ? 2u : 1u);
}

}  // namespace
}  // namespace cairn::server
