// The HTTP API's routing and handlers, in-process (tests/server/test_http.py drives the
// real listener).
#include "server/http_api.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "server/command_test_util.h"
#include "server/metrics.h"

namespace cairn::server {
namespace {

HttpResponse Do(CommandHarness& h, std::string method, std::string target, std::string body = "",
                std::string auth = "", bool loopback = true) {
  HttpRequest r{std::move(method), std::move(target), std::move(body), std::move(auth), loopback,
                {}};
  return HandleHttpRequest(h.context(), r);
}

TEST(HttpApiTest, KeyRoundTripScanAndBatch) {
  CommandHarness h;
  EXPECT_EQ(Do(h, "PUT", "/v1/kv/a%00b", "v1").status, 200);
  HttpResponse got = Do(h, "GET", "/v1/kv/a%00b");
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.body, "v1");
  EXPECT_EQ(h.Run({"GET", std::string("a\0b", 3)}), "\"v1\"");
  EXPECT_EQ(Do(h, "GET", "/v1/kv/missing").status, 404);
  EXPECT_EQ(Do(h, "GET", "/v1/kv/bad%zz").status, 400);
  EXPECT_EQ(Do(h, "PUT", "/v1/kv/t?ttl=0", "x").status, 400);
  EXPECT_EQ(Do(h, "PUT", "/v1/kv/t?ttl=99999999999999999", "x").status, 400);
  EXPECT_EQ(Do(h, "POST", "/v1/kv/a").status, 405);
  EXPECT_EQ(Do(h, "POST", "/v1/batch", "{not json").status, 400);
  // An invalid op anywhere applies nothing.
  EXPECT_EQ(Do(h, "POST", "/v1/batch",
               R"({"ops":[{"op":"put","key":"x","value":"1"},{"op":"frob","key":"y"}]})")
                .status,
            400);
  EXPECT_EQ(h.Run({"EXISTS", "x"}), "(integer) 0");
  EXPECT_EQ(Do(h, "POST", "/v1/batch",
               R"({"ops":[{"op":"put","key":"x","value":"1"},{"op":"delete","key":"a\u0000b"}]})")
                .status,
            200);
  EXPECT_EQ(h.Run({"EXISTS", "x", std::string("a\0b", 3)}), "(integer) 1");
  HttpResponse scan = Do(h, "GET", "/v1/kv?limit=10");
  EXPECT_EQ(scan.status, 200);
  EXPECT_NE(scan.body.find("\"key\":\"x\""), std::string::npos) << scan.body;
  EXPECT_EQ(Do(h, "GET", "/nope").status, 404);
  EXPECT_EQ(Do(h, "GET", "/healthz").status, 200);
  EXPECT_NE(Do(h, "GET", "/metrics").body.find("cairn_commands_processed_total"),
            std::string::npos);
}

// Every metric of the registry (metrics.h) shows the same value in INFO, /metrics and
// /v1/stats.
TEST(HttpApiTest, InfoMetricsAndStatsRenderEveryRegisteredMetricAlike) {
  CommandHarness h;
  h.context().used_memory = [] { return uint64_t{12345}; };
  h.Run({"SET", "k", "v"});
  h.Run({"GET", "k"});
  h.Run({"GET", "missing"});
  h.Run({"INCR", "k"});  // an error reply
  h.context().stats.bytes_in += 77;
  h.context().stats.protocol_errors += 3;
  const std::string info = h.Run({"INFO", "everything"});
  const std::string prometheus = Do(h, "GET", "/metrics").body;
  const nlohmann::json stats = nlohmann::json::parse(Do(h, "GET", "/v1/stats").body);
  for (const ServerMetric& m : ServerMetrics()) {
    // Read now: INFO and the HTTP requests above changed some counters since.
    const uint64_t value = m.value(h.context());
    SCOPED_TRACE(m.info);
    ASSERT_TRUE(stats.contains(m.json));
    const std::string prom_line =
        absl::StrCat("\ncairn_", m.prometheus, " ");
    const size_t at = prometheus.find(prom_line);
    ASSERT_NE(at, std::string::npos);
    const size_t info_at = info.find(absl::StrCat(m.info, ":"));
    ASSERT_NE(info_at, std::string::npos);
    if (std::string_view(m.info).starts_with("total_commands") || std::string_view(m.info) == "http_requests" ||
        std::string_view(m.info).starts_with("total_net")) {
      continue;  // moved by the requests that read them
    }
    EXPECT_EQ(stats[m.json].get<uint64_t>(), value);
    EXPECT_EQ(prometheus.substr(at + prom_line.size(), prometheus.find('\n', at + 1) - at - prom_line.size()),
              std::to_string(value));
    EXPECT_NE(info.find(absl::StrCat(m.info, ":", value, "\r\n")), std::string::npos);
  }
  EXPECT_EQ(ServerMetrics().size(), 13u);
  EXPECT_NE(info.find("keyspace_misses:1\r\n"), std::string::npos);
  EXPECT_NE(info.find("protocol_errors:3\r\n"), std::string::npos);
  EXPECT_NE(info.find("used_memory:12345\r\n"), std::string::npos);
}

TEST(HttpApiTest, InvalidUtf8GoesOutAsBase64) {
  CommandHarness h;
  for (std::string key : {std::string("\xc0\x80", 2), std::string("\xed\xa0\x80", 3),
                          std::string("\xf5\x80\x80\x80", 4), std::string("\xff", 1)}) {
    h.Run({"FLUSHDB"});
    h.Run({"SET", key, key});
    HttpResponse scan = Do(h, "GET", "/v1/kv");
    EXPECT_EQ(scan.status, 200) << scan.body;
    EXPECT_NE(scan.body.find("key_base64"), std::string::npos) << scan.body;
    EXPECT_NE(scan.body.find("value_base64"), std::string::npos) << scan.body;
  }
}

TEST(HttpApiTest, ErrorNamingABytePathThatIsNotUtf8IsAJsonErrorNotA500) {
  // Found by http_request_fuzz: the 404's message quoted the path, and dumping a
  // non-UTF-8 string threw; the session turned that into a 500.
  CommandHarness h;
  HttpResponse r = Do(h, "GET", "/\xff\xfe?x=1");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("no such endpoint"), std::string::npos) << r.body;
  r = Do(h, "POST", "/v1/batch", "{\"ops\":[{\"op\":\"\xff\"}]}");
  EXPECT_EQ(r.status, 400) << r.body;
}

TEST(HttpApiTest, CredentialsAndProtectedMode) {
  ServerConfig cfg;
  cfg.requirepass = "pw";
  cfg.users = {{"alice", "a1"}};
  CommandHarness h(cfg);
  EXPECT_EQ(Do(h, "GET", "/v1/kv/k").status, 401);
  EXPECT_EQ(Do(h, "GET", "/v1/kv/k", "", "Bearer nope").status, 401);
  EXPECT_EQ(Do(h, "GET", "/v1/kv/k", "", "Bearer pw").status, 404);
  EXPECT_EQ(Do(h, "GET", "/v1/kv/k", "", "Basic YWxpY2U6YTE=").status, 404);  // alice:a1
  EXPECT_EQ(Do(h, "GET", "/v1/kv/k", "", "Basic YWxpY2U6eA==").status, 401);  // alice:x
  EXPECT_EQ(Do(h, "GET", "/healthz").status, 200);

  CommandHarness open;  // no password, protected mode on (the default)
  EXPECT_EQ(Do(open, "GET", "/v1/kv/k", "", "", /*loopback=*/false).status, 403);
  EXPECT_EQ(Do(open, "GET", "/v1/kv/k", "", "", /*loopback=*/true).status, 404);
}

}  // namespace
}  // namespace cairn::server
