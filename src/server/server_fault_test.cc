// The server over a failing disk (FaultInjectionEnv): writes are refused with Redis's
// MISCONF error while the engine is read-only, INFO says why, reads go on, HTTP writes get
// 503 with a JSON error, and everything works again once the disk recovers, without a
// restart.
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "base/fault_injection_env.h"
#include "server/command_test_util.h"
#include "server/http_api.h"

namespace cairn::server {
namespace {

class ServerFaultTest : public ::testing::Test {
 protected:
  static engine::Options Options(FaultInjectionEnv* env) {
    engine::Options options;
    options.env = env;
    options.error_recovery_interval_ms = 20;
    return options;
  }
  bool WaitUntilWritable() {
    for (int i = 0; i < 500; i++) {
      if (h_.context().backend->BackgroundError().ok()) return true;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }
  HttpResponse Http(const std::string& method, const std::string& target,
                    const std::string& body = "") {
    HttpRequest r;
    r.method = method;
    r.target = target;
    r.body = body;
    return HandleHttpRequest(h_.context(), r);
  }

  FaultInjectionEnv env_{Env::Default()};
  CommandHarness h_{ServerConfig{}, Options(&env_)};
};

TEST_F(ServerFaultTest, FullDiskRefusesWritesWithMisconfAndRecoversWithoutRestart) {
  ASSERT_EQ(h_.Run({"SET", "kept", "v1"}), "OK");
  ASSERT_EQ(h_.Run({"RPUSH", "list", "a", "b"}), "(integer) 2");
  env_.InjectFaults(FaultInjectionEnv::kFailWrites);  // the disk is full

  // The write that meets the full disk fails; every write after it is refused up front.
  const std::string first = h_.Run({"SET", "k", "v"});
  EXPECT_TRUE(absl::StartsWith(first, "(error) ")) << first;
  EXPECT_TRUE(absl::StrContains(first, "No space left on device")) << first;
  for (const std::vector<std::string>& cmd :
       std::vector<std::vector<std::string>>{{"SET", "k", "v"}, {"INCR", "n"}, {"DEL", "kept"},
                                             {"LPUSH", "list", "x"}, {"HSET", "h", "f", "v"}}) {
    const std::string reply = h_.Run(cmd);
    EXPECT_TRUE(absl::StartsWith(reply, "(error) MISCONF Errors writing to the AOF file: "))
        << cmd[0] << ": " << reply;
  }
  // Reads go on and see only acknowledged data.
  EXPECT_EQ(h_.Run({"GET", "kept"}), "\"v1\"");
  EXPECT_EQ(h_.Run({"GET", "k"}), "(nil)");
  EXPECT_EQ(h_.Run({"LRANGE", "list", "0", "-1"}), "[\"a\", \"b\"]");
  EXPECT_EQ(h_.Run({"PING"}), "PONG");
  const std::string info = h_.Run({"INFO", "persistence"});
  EXPECT_TRUE(absl::StrContains(info, "aof_last_write_status:err")) << info;
  EXPECT_TRUE(absl::StrContains(info, "engine_background_error:1")) << info;
  EXPECT_TRUE(absl::StrContains(info, "No space left on device")) << info;

  HttpResponse put = Http("PUT", "/v1/kv/h1", "x");
  EXPECT_EQ(put.status, 503);
  EXPECT_TRUE(absl::StrContains(put.body, "read-only after a failed disk write")) << put.body;
  EXPECT_EQ(Http("DELETE", "/v1/kv/kept").status, 503);
  EXPECT_EQ(Http("POST", "/v1/batch", R"({"ops":[{"op":"put","key":"b","value":"1"}]})").status,
            503);
  EXPECT_EQ(Http("GET", "/v1/kv/kept").body, "v1");

  env_.InjectFaults(0);  // space freed: the engine resumes by itself
  ASSERT_TRUE(WaitUntilWritable());
  EXPECT_EQ(h_.Run({"SET", "k", "v2"}), "OK");
  EXPECT_EQ(h_.Run({"GET", "k"}), "\"v2\"");
  EXPECT_EQ(h_.Run({"LPUSH", "list", "x"}), "(integer) 3");
  EXPECT_EQ(Http("PUT", "/v1/kv/h1", "x").status, 200);
  const std::string after = h_.Run({"INFO", "persistence"});
  EXPECT_TRUE(absl::StrContains(after, "aof_last_write_status:ok")) << after;
  EXPECT_TRUE(absl::StrContains(after, "engine_resumes:1")) << after;
}

TEST(ServerReadFaultTest, FailedReadsAnswerAnErrorNeverNilOrAWrongValue) {
  FaultInjectionEnv env(Env::Default());
  engine::Options options;
  options.env = &env;
  options.block_cache_size = 0;  // every read goes to the file
  options.use_mmap_reads = false;
  CommandHarness h(ServerConfig{}, options);
  for (int i = 0; i < 200; i++) {
    ASSERT_EQ(h.Run({"SET", "key" + std::to_string(i), "value" + std::to_string(i)}), "OK");
  }
  ASSERT_EQ(h.Run({"HSET", "h", "f", "v"}), "(integer) 1");
  ASSERT_TRUE(h.db()->Flush().ok());
  env.InjectFaults(FaultInjectionEnv::kFailReads, ".sst");
  for (const std::vector<std::string>& cmd : std::vector<std::vector<std::string>>{
           {"GET", "key7"}, {"EXISTS", "key8"}, {"HGET", "h", "f"}, {"STRLEN", "key9"}}) {
    const std::string reply = h.Run(cmd);
    EXPECT_TRUE(absl::StartsWith(reply, "(error) ERR IO error: ")) << cmd[0] << ": " << reply;
    EXPECT_TRUE(absl::StrContains(reply, "Input/output error")) << reply;
  }
  env.InjectFaults(0);
  EXPECT_EQ(h.Run({"GET", "key7"}), "\"value7\"");
  EXPECT_EQ(h.Run({"HGET", "h", "f"}), "\"v\"");
  EXPECT_EQ(h.Run({"SET", "key7", "new"}), "OK");  // a failed read does not stop writes
}

}  // namespace
}  // namespace cairn::server
