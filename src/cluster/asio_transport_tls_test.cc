// The transport with tls-cluster's mutual TLS on loopback (certificates made with the
// openssl command line), alone and under the secret's handshake.
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cluster/asio_transport.h"
#include "gtest/gtest.h"
#include "net/tls_context.h"

namespace cairn::cluster {
namespace {

class AsioTransportTlsTest : public ::testing::Test {
 protected:
  // The cluster CA and a node certificate of it; another CA and a certificate of that.
  static void SetUpTestSuite() {
    dir_ = new std::string(std::filesystem::temp_directory_path() /
                           ("asio_transport_tls_test_" + std::to_string(getpid())));
    std::filesystem::create_directories(*dir_);
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    const std::string script =
        "(cd " + *dir_ + " && openssl req -x509" + ec +
        " -keyout ca.key -out ca.crt -days 2 -subj /CN=cluster-ca"
        " && openssl req -x509" +
        ec +
        " -keyout other.key -out other.crt -days 2 -subj /CN=other"
        " && openssl req" +
        ec +
        " -keyout node.key -out node.csr -subj /CN=node"
        " && openssl x509 -req -in node.csr -CA ca.crt -CAkey ca.key -set_serial 1 -out node.crt"
        " -days 2"
        " && openssl req" +
        ec +
        " -keyout stranger.key -out stranger.csr -subj /CN=stranger"
        " && openssl x509 -req -in stranger.csr -CA other.crt -CAkey other.key -set_serial 2"
        " -out stranger.crt -days 2) >/dev/null 2>&1";
    ASSERT_EQ(std::system(script.c_str()), 0) << script;
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }

  // A transport whose connections run TLS with `cert` (node or stranger), trusting the
  // cluster CA; secret: also the secret's handshake.
  static std::unique_ptr<AsioTransport> Start(const std::string& cert, Transport::Handler handler,
                                              std::string secret = "") {
    net::TlsSettings s;
    s.cert_file = *dir_ + "/" + cert + ".crt";
    s.key_file = *dir_ + "/" + cert + ".key";
    s.ca_cert_file = *dir_ + "/ca.crt";
    s.role = net::TlsRole::kServer;
    auto server = net::BuildTlsContext(s);
    s.role = net::TlsRole::kClient;
    auto client = net::BuildTlsContext(s);
    EXPECT_TRUE(server.ok() && client.ok()) << server.status() << client.status();
    AsioTransport::Options o;
    o.port = 0;
    o.tls = [server = *server, client = *client](bool accepting) {
      return accepting ? server : client;
    };
    if (!secret.empty()) o.secrets = [secret] { return std::vector<std::string>{secret}; };
    auto t = AsioTransport::Start(o, std::move(handler));
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? std::move(*t) : nullptr;
  }

  static std::string* dir_;
};
std::string* AsioTransportTlsTest::dir_ = nullptr;

void Echo(pb::Envelope request, Transport::Respond respond) {
  pb::Envelope reply;
  reply.mutable_read_result()->add_versions()->set_value("v:" + request.read().key());
  respond(std::move(reply));
}

absl::StatusOr<pb::Envelope> Read(Transport& t, int port, const std::string& key) {
  pb::Envelope env;
  env.mutable_read()->set_key(key);
  std::promise<absl::StatusOr<pb::Envelope>> promise;
  auto future = promise.get_future();
  t.Call(absl::StrCat("127.0.0.1:", port), std::move(env), absl::Seconds(5),
         [&promise](absl::StatusOr<pb::Envelope> r) { promise.set_value(std::move(r)); });
  return future.get();
}

TEST_F(AsioTransportTlsTest, NodesOfTheClusterCaTalk) {
  auto server = Start("node", Echo);
  auto client = Start("node", Echo);
  for (int i = 0; i < 20; i++) {
    auto r = Read(*client, server->port(), absl::StrCat("k", i));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->read_result().versions(0).value(), absl::StrCat("v:k", i));
  }
  EXPECT_EQ(server->auth_failures(), 0u);
}

TEST_F(AsioTransportTlsTest, TlsAndTheSecretTogether) {
  auto server = Start("node", Echo, "s");
  auto client = Start("node", Echo, "s");
  auto r = Read(*client, server->port(), "k");
  ASSERT_TRUE(r.ok()) << r.status();
  auto wrong = Start("node", Echo, "guess");
  EXPECT_FALSE(Read(*wrong, server->port(), "k").ok());
}

TEST_F(AsioTransportTlsTest, ACertificateOfAnotherCaOrNoTlsIsRefused) {
  std::atomic<int> served{0};
  auto server = Start("node", [&served](pb::Envelope request, Transport::Respond respond) {
    served++;
    Echo(std::move(request), std::move(respond));
  });
  auto stranger = Start("stranger", Echo);
  auto r = Read(*stranger, server->port(), "k");
  // Under TLS 1.3 the dialer's handshake is done before the listener checked its
  // certificate: its call may have left (so not NotSent), and fails with the alert.
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  EXPECT_GE(stranger->auth_failures(), 1u) << "the alert is counted by the dialer too";
  AsioTransport::Options no_tls;
  no_tls.port = 0;
  auto plain = AsioTransport::Start(no_tls, Echo);
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(Read(**plain, server->port(), "k").ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (server->auth_failures() < 2 && absl::Now() < deadline)
    absl::SleepFor(absl::Milliseconds(10));
  EXPECT_GE(server->auth_failures(), 2u);
  EXPECT_EQ(served.load(), 0);
}

}  // namespace
}  // namespace cairn::cluster
