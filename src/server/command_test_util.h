// In-process harness for command tests: a server context on a temporary engine, and
// Run({"SET", "k", "v"}) returning the reply in redis-cli's notation:
//   OK / PONG        simple strings          "v"        bulk strings (quoted)
//   (integer) 3      integers                (nil)      null
//   (error) ERR ...  errors                  [a, b]     arrays (elements joined by ", ")
//   {k: v}           RESP3 maps              (double) 1.5
#ifndef CAIRN_SERVER_COMMAND_TEST_UTIL_H_
#define CAIRN_SERVER_COMMAND_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/db_test_util.h"
#include "server/command.h"
#include "store/local_backend.h"

namespace cairn::server {

// Decodes one reply at *pos of a RESP byte string into the notation above.
std::string DescribeReply(const std::string& resp, size_t* pos);

class CommandHarness {
 public:
  // options: the engine's (memtable_hash_index is set, as cairn-server runs it).
  explicit CommandHarness(ServerConfig cfg = {}, engine::Options options = {});
  ~CommandHarness();

  // Runs one command as client `client` (0, 1, ...: separate connections).
  std::string Run(const std::vector<std::string>& args, int client = 0);
  ClientState& client(int i);
  ServerContext& context() { return ctx_; }
  engine::DB* db() { return db_.get(); }
  Config& config() { return config_; }
  // Simulates the clock moving on for the backend's expiry checks.
  static void AdvanceClock(int64_t ms);
  static int64_t Now();

 private:
  engine::TempDir dir_;
  std::unique_ptr<engine::DB> db_;
  std::unique_ptr<store::LocalBackend> backend_;
  Config config_;
  ServerContext ctx_;
  std::vector<std::unique_ptr<ClientState>> clients_;
};

}  // namespace cairn::server

#endif  // CAIRN_SERVER_COMMAND_TEST_UTIL_H_
