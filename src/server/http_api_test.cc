// The HTTP API's routing and handlers, in-process (tests/server/test_http.py drives the
// real listener).
#include "server/http_api.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "server/command_test_util.h"
#include "server/metrics.h"
#include "base/status.h"
#include "server/ui_assets.h"

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
  EXPECT_EQ(ServerMetrics().size(), 20u);
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

TEST(HttpApiTest, DashboardAssetsWithTypesAndETags) {
  CommandHarness h;
  HttpResponse page = Do(h, "GET", "/");
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("/ui/dashboard.js"), std::string::npos);
  auto header = [](const HttpResponse& r, const std::string& name) {
    for (const auto& [n, v] : r.headers) {
      if (n == name) return v;
    }
    return std::string();
  };
  const std::string etag = header(page, "ETag");
  EXPECT_EQ(etag.size(), 22u) << etag;  // 20 hex digits, quoted
  EXPECT_EQ(header(page, "Cache-Control"), "no-cache");
  EXPECT_EQ(Do(h, "GET", "/ui/").body, page.body);
  // Each built-in asset is served under /ui/ with its type; the bytes are the file's.
  ASSERT_EQ(UiAssets().size(), 4u);
  for (const UiAsset& a : UiAssets()) {
    HttpResponse r = Do(h, "GET", absl::StrCat("/ui/", ToAbsl(a.name)));
    EXPECT_EQ(r.status, 200) << a.name;
    EXPECT_EQ(r.content_type, a.content_type);
    EXPECT_EQ(r.body, a.body);
    EXPECT_EQ(header(r, "ETag"), a.etag);
  }
  HttpRequest again{"GET", "/ui/dashboard.js", "", "", true};
  again.if_none_match = absl::StrCat("\"other\", W/", header(Do(h, "GET", "/ui/dashboard.js"), "ETag"));
  HttpResponse not_modified = HandleHttpRequest(h.context(), again);
  EXPECT_EQ(not_modified.status, 304);
  EXPECT_TRUE(not_modified.body.empty());
  again.if_none_match = "\"stale\"";
  EXPECT_EQ(HandleHttpRequest(h.context(), again).status, 200);
  EXPECT_EQ(Do(h, "GET", "/ui/missing.js").status, 404);
  EXPECT_EQ(Do(h, "POST", "/").status, 405);
}

TEST(HttpApiTest, DashboardNeedsCredentialsAndInfo) {
  ServerConfig cfg;
  cfg.requirepass = "pw";
  CommandHarness h(cfg);
  EXPECT_EQ(Do(h, "GET", "/").status, 401);
  EXPECT_EQ(Do(h, "GET", "/ui/dashboard.css").status, 401);
  EXPECT_EQ(Do(h, "GET", "/", "", "Bearer pw").status, 200);
  h.Run({"AUTH", "pw"});
  h.Run({"ACL", "SETUSER", "writer", "on", ">w", "~*", "+set"});
  HttpResponse denied = Do(h, "GET", "/", "", "Basic d3JpdGVyOnc=");  // writer:w
  EXPECT_EQ(denied.status, 403);
  EXPECT_NE(denied.body.find("NOPERM"), std::string::npos) << denied.body;
}

TEST(HttpApiTest, StatsCarryWhatTheDashboardShows) {
  CommandHarness h;
  h.Run({"SET", "k", "v"});
  h.Run({"GET", "k"});
  h.Run({"GET", "missing"});
  HttpResponse r = Do(h, "GET", "/v1/stats");
  ASSERT_EQ(r.status, 200);
  const nlohmann::json j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["cluster_mode"], false);
  EXPECT_EQ(j["caches"]["keyspace"]["hits"], 1);
  EXPECT_EQ(j["caches"]["keyspace"]["misses"], 1);
  EXPECT_DOUBLE_EQ(j["caches"]["keyspace"]["hit_rate"].get<double>(), 0.5);
  EXPECT_TRUE(j["caches"]["block_cache"].contains("capacity_bytes"));
  EXPECT_GE(j["compaction"]["levels"].size(), 2u);
  EXPECT_EQ(j["compaction"]["levels"][0]["level"], 0);
  EXPECT_TRUE(j["disk"].contains("dir_bytes"));
  EXPECT_TRUE(j.contains("instantaneous_ops_per_sec"));
}

// The dashboard polls /v1/stats every 2 s: the walk of the data directory (which holds the
// backups too by default) is not redone on every call, only once it is 30 s old.
TEST(HttpApiTest, StatsWalkTheDataDirectoryAtMostEvery30Seconds) {
  engine::TempDir data;
  std::filesystem::create_directories(data.path());
  ServerConfig cfg;
  cfg.dir = data.path();
  CommandHarness h(cfg);
  auto dir_bytes = [&] {
    HttpResponse r = Do(h, "GET", "/v1/stats");
    EXPECT_EQ(r.status, 200);
    return nlohmann::json::parse(r.body)["disk"]["dir_bytes"].get<uint64_t>();
  };
  const uint64_t before = dir_bytes();
  {
    std::ofstream f(data.path() + "/extra", std::ios::binary);
    f << std::string(4096, 'x');
  }
  EXPECT_EQ(dir_bytes(), before);  // within 30 s: the cached figure
  CommandHarness::AdvanceClock(31'000);
  EXPECT_EQ(dir_bytes(), before + 4096);
}

}  // namespace
}  // namespace cairn::server
