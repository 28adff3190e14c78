#include "server/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "engine/db_test_util.h"

namespace cairn::server {
namespace {

TEST(ConfigTest, DefaultsAliasesAndValidation) {
  Config c;
  EXPECT_EQ(c.Get().port, 7379);
  EXPECT_EQ(c.Get().bind, "127.0.0.1");
  EXPECT_TRUE(c.Set("appendfsync", "always", false).ok());
  EXPECT_EQ(c.Get().wal_sync, "always");
  EXPECT_TRUE(c.Set("appendfsync", "no", false).ok());
  EXPECT_EQ(c.Get().wal_sync, "none");
  EXPECT_FALSE(c.Set("wal-sync", "sometimes", false).ok());
  EXPECT_FALSE(c.Set("port", "70000", false).ok());
  EXPECT_FALSE(c.Set("nope", "1", false).ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(c.Set("port", "1", /*at_runtime=*/true)));
  EXPECT_TRUE(c.Set("maxmemory", "100mb", true).ok());
  EXPECT_EQ(c.Get().maxmemory, 100u << 20);
  EXPECT_TRUE(c.Set("users", "alice:a1,bob:b2", true).ok());
  ASSERT_EQ(c.Get().users.size(), 2u);
  EXPECT_EQ(c.Get().users[1].second, "b2");
  EXPECT_TRUE(c.Set("appendonly", "yes", false).ok());
  EXPECT_FALSE(c.Set("appendonly", "no", false).ok());
  EXPECT_EQ(c.Match("appendonly")[0].second, "yes");
  const auto matched = c.Match("max*");
  // maxmemory, maxclients, max-clock-drift, and Redis's knobs maxmemory-policy,
  // maxmemory-samples, maxmemory-eviction-tenacity
  EXPECT_EQ(matched.size(), 6u);
  // A knob is checked as Redis checks it, kept and reported; others stay at Redis's default.
  EXPECT_TRUE(c.Set("hash-max-ziplist-entries", "256", true).ok());
  EXPECT_EQ(c.Match("hash-max-listpack-entries")[0].second, "256");
  EXPECT_FALSE(c.Set("hash-max-listpack-entries", "many", true).ok());
  EXPECT_EQ(c.Match("zset-max-listpack-value")[0].second, "64");
  EXPECT_FALSE(c.Set("notify-keyspace-events", "KEA", true).ok());
}

TEST(ConfigTest, IoThreadsDefaultIsOneOnTwoCoresOrFewer) {
  EXPECT_EQ(IoThreadsFor(0), 1);  // hardware_concurrency() may not know
  EXPECT_EQ(IoThreadsFor(1), 1);
  EXPECT_EQ(IoThreadsFor(2), 1);
  EXPECT_EQ(IoThreadsFor(3), 3);
  EXPECT_EQ(IoThreadsFor(16), 16);
  EXPECT_EQ(IoThreadsFor(512), 128);  // io-threads' own bound
}

TEST(ConfigTest, PortsAndTlsOptions) {
  Config c;
  EXPECT_TRUE(c.Set("port", "auto", false).ok());
  EXPECT_EQ(c.Get().port, kAutoPort);
  EXPECT_EQ(c.Match("port")[0].second, "auto");
  EXPECT_TRUE(c.Set("port", "0", false).ok());  // off, as in Redis
  EXPECT_EQ(c.Get().port, 0);
  EXPECT_FALSE(c.Set("tls-port", "-1", true).ok());
  EXPECT_TRUE(c.Set("tls-port", "6380", /*at_runtime=*/true).ok());
  EXPECT_FALSE(TlsWanted(Config().Get()));
  EXPECT_TRUE(TlsWanted(c.Get()));

  EXPECT_EQ(c.Get().tls_auth_clients, "yes");
  EXPECT_EQ(ServerTlsSettings(c.Get()).verify, net::PeerVerify::kRequired);
  EXPECT_TRUE(c.Set("tls-auth-clients", "OPTIONAL", true).ok());
  EXPECT_EQ(ServerTlsSettings(c.Get()).verify, net::PeerVerify::kOptional);
  EXPECT_TRUE(c.Set("tls-auth-clients", "no", true).ok());
  EXPECT_EQ(ServerTlsSettings(c.Get()).verify, net::PeerVerify::kNone);
  absl::Status bad = c.Set("tls-auth-clients", "maybe", true);
  EXPECT_NE(bad.message().find("must be one of the following: no, yes, optional"),
            std::string::npos) << bad;

  EXPECT_TRUE(c.Set("tls-protocols", "TLSv1.2 TLSv1.3", true).ok());
  EXPECT_FALSE(c.Set("tls-protocols", "TLSv1.2 SSLv3", true).ok());
  EXPECT_EQ(c.Get().tls_protocols, "TLSv1.2 TLSv1.3");
  EXPECT_TRUE(c.Set("tls-session-cache-size", "100", true).ok());
  EXPECT_EQ(ServerTlsSettings(c.Get()).session_cache_size, 100);
  EXPECT_TRUE(c.Set("tls-key-file-pass", "pw", true).ok());
  EXPECT_EQ(ServerTlsSettings(c.Get()).key_file_pass, "pw");
  EXPECT_TRUE(c.Set("http-tls", "yes", true).ok());
  EXPECT_TRUE(c.Set("tls-port", "0", true).ok());
  EXPECT_TRUE(TlsWanted(c.Get()));  // HTTPS still needs the context
}

TEST(ConfigTest, MemoryUnitsLikeRedis) {
  uint64_t b;
  ASSERT_TRUE(ParseMemory("1k", &b).ok());
  EXPECT_EQ(b, 1000u);
  ASSERT_TRUE(ParseMemory("1KB", &b).ok());
  EXPECT_EQ(b, 1024u);
  ASSERT_TRUE(ParseMemory("2gb", &b).ok());
  EXPECT_EQ(b, 2ull << 30);
  EXPECT_FALSE(ParseMemory("x", &b).ok());
  EXPECT_FALSE(ParseMemory("-1", &b).ok());
  EXPECT_FALSE(ParseMemory("99999999999999999999gb", &b).ok());
}

TEST(ConfigTest, TomlFileSetsOptionsAndReportsErrors) {
  engine::TempDir dir;
  std::filesystem::create_directories(dir.path());
  const std::string path = dir.path() + "/cairn.toml";
  std::ofstream(path) << "port = 7400\nappendfsync = \"always\"\nprotected-mode = false\n"
                         "users = [\"alice:x\"]\nmaxmemory = \"2mb\"\n";
  Config c;
  absl::Status loaded = c.LoadFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded;
  EXPECT_EQ(c.Get().port, 7400);
  EXPECT_EQ(c.Get().wal_sync, "always");
  EXPECT_FALSE(c.Get().protected_mode);
  EXPECT_EQ(c.Get().users.size(), 1u);
  EXPECT_EQ(c.Get().maxmemory, 2u << 20);
  std::ofstream(path) << "port = \"high\"\n";
  absl::Status s = Config().LoadFile(path);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("port"), std::string::npos) << s;
  std::ofstream(path) << "port = = 1\n";
  EXPECT_FALSE(Config().LoadFile(path).ok());
}

TEST(ConfigTest, ClusterSecretAndTlsOptions) {
  Config c;
  const std::string kNewOld = "new-secret-0123456789,old-secret-0123456789";
  EXPECT_TRUE(c.Set("cluster-secret", kNewOld, /*at_runtime=*/true).ok());
  EXPECT_EQ(c.Get().cluster_secret, kNewOld);
  EXPECT_FALSE(c.Set("cluster-secret", "new-secret-0123456789,,old-secret-0123456789", true).ok());
  EXPECT_FALSE(c.Set("cluster-secret", "aaaaaaaaaaaaaaaa,bbbbbbbbbbbbbbbb,cccccccccccccccc,"
                                       "dddddddddddddddd,eeeeeeeeeeeeeeee", true).ok());  // five
  EXPECT_FALSE(c.Set("cluster-secret", "new,old", true).ok());  // shorter than 16
  EXPECT_FALSE(c.Set("cluster-secret", "new-secret-0123456789,old", true).ok());
  EXPECT_EQ(c.Get().cluster_secret, kNewOld);  // unchanged
  EXPECT_TRUE(c.Set("cluster-secret", "", true).ok());
  EXPECT_FALSE(c.Set("tls-cluster", "yes", /*at_runtime=*/true).ok());  // startup only
  EXPECT_TRUE(c.Set("tls-cluster", "yes", /*at_runtime=*/false).ok());
  EXPECT_TRUE(c.Set("tls-cluster-ca-cert-file", "/etc/cairn/ca.pem", true).ok());
  EXPECT_EQ(c.Get().tls_cluster_ca_cert_file, "/etc/cairn/ca.pem");
}

}  // namespace
}  // namespace cairn::server
