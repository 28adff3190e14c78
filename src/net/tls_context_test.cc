#include "net/tls_context.h"

#include <utility>  // before Asio

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

namespace cairn::net {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::ip::tcp;

// A CA, a server and a client certificate it signed, an encrypted copy of the server's
// key and a second, unrelated CA: made with the openssl command line.
class TlsContextTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(std::filesystem::temp_directory_path() /
                           ("tls_context_test_" + std::to_string(getpid())));
    std::filesystem::create_directories(*dir_);
    const std::string script =
        "cd " + *dir_ +
        " && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2"
        " -subj /CN=ca"
        " && openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.crt"
        " -days 2 -subj /CN=other"
        " && openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr"
        " -subj /CN=localhost"
        " && printf 'subjectAltName=IP:127.0.0.1,DNS:localhost' > san.ext"
        " && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial"
        " -out server.crt -days 2 -extfile san.ext"
        " && openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr"
        " -subj /CN=client"
        " && openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial"
        " -out client.crt -days 2"
        " && openssl pkey -in server.key -aes256 -passout pass:s3cret -out server_enc.key"
        " && openssl dhparam -dsaparam -out dh.pem 2048"
        " && echo garbage > garbage.pem) >/dev/null 2>&1";
    ASSERT_EQ(std::system(("(" + script).c_str()), 0) << script;
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }
  static std::string Path(const std::string& name) { return *dir_ + "/" + name; }

  static TlsSettings Server() {
    TlsSettings s;
    s.cert_file = Path("server.crt");
    s.key_file = Path("server.key");
    s.ca_cert_file = Path("ca.crt");
    return s;
  }
  static TlsSettings Client() {
    TlsSettings s;
    s.role = TlsRole::kClient;
    s.cert_file = Path("client.crt");
    s.key_file = Path("client.key");
    s.ca_cert_file = Path("ca.crt");
    return s;
  }

  // One handshake over loopback: the server's and the client's results.
  static std::pair<boost::system::error_code, boost::system::error_code> Handshake(
      const TlsSettings& server, const TlsSettings& client) {
    auto sctx = BuildTlsContext(server);
    auto cctx = BuildTlsContext(client);
    EXPECT_TRUE(sctx.ok()) << sctx.status();
    EXPECT_TRUE(cctx.ok()) << cctx.status();
    asio::io_context io;
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    boost::system::error_code server_ec, client_ec;
    std::thread accepting([&] {
      ssl::stream<tcp::socket> s(acceptor.accept(), **sctx);
      s.handshake(ssl::stream_base::server, server_ec);
      if (!server_ec) {
        char byte = 0;  // the client's verdict on TLSv1.3 comes after the handshake
        asio::read(s, asio::buffer(&byte, 1), server_ec);
      }
    });
    ssl::stream<tcp::socket> c(io, **cctx);
    c.lowest_layer().connect(acceptor.local_endpoint());
    c.handshake(ssl::stream_base::client, client_ec);
    if (!client_ec) asio::write(c, asio::buffer("x", 1), client_ec);
    accepting.join();
    return {server_ec, client_ec};
  }

  static std::string* dir_;
};
std::string* TlsContextTest::dir_ = nullptr;

TEST_F(TlsContextTest, ServerAndClientWithCertificates) {
  auto [server_ec, client_ec] = Handshake(Server(), Client());
  EXPECT_FALSE(server_ec) << server_ec.message();
  EXPECT_FALSE(client_ec) << client_ec.message();
}

TEST_F(TlsContextTest, RequiredClientCertificateMissing) {
  TlsSettings client = Client();
  client.cert_file.clear();
  client.key_file.clear();
  EXPECT_TRUE(Handshake(Server(), client).first);
  TlsSettings optional = Server();
  optional.verify = PeerVerify::kOptional;
  auto [server_ec, client_ec] = Handshake(optional, client);
  EXPECT_FALSE(server_ec) << server_ec.message();
  EXPECT_FALSE(client_ec) << client_ec.message();
}

TEST_F(TlsContextTest, ClientTrustingAnotherCaFails) {
  TlsSettings client = Client();
  client.ca_cert_file = Path("other.crt");
  EXPECT_TRUE(Handshake(Server(), client).second);
  client.verify = PeerVerify::kNone;  // trusts anything
  EXPECT_FALSE(Handshake(Server(), client).second);
}

TEST_F(TlsContextTest, ProtocolsMustOverlap) {
  TlsSettings server = Server();
  server.protocols = "TLSv1.3";
  TlsSettings client = Client();
  client.protocols = "tlsv1.2";
  auto [server_ec, client_ec] = Handshake(server, client);
  EXPECT_TRUE(server_ec);
  EXPECT_TRUE(client_ec);
  client.protocols = "TLSv1.2 TLSv1.3";
  EXPECT_FALSE(Handshake(server, client).second);
}

TEST_F(TlsContextTest, ParseProtocols) {
  EXPECT_EQ(*ParseTlsProtocols(""), kTlsV1_2 | kTlsV1_3);
  EXPECT_EQ(*ParseTlsProtocols("TLSv1.2"), kTlsV1_2);
  EXPECT_EQ(*ParseTlsProtocols(" tlsv1  TLSv1.1 "), kTlsV1 | kTlsV1_1);
  auto bad = ParseTlsProtocols("TLSv1.2 SSLv3");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'SSLv3'"), std::string::npos) << bad.status();
  TlsSettings s = Server();
  s.protocols = "TLSv2";
  EXPECT_FALSE(BuildTlsContext(s).ok());
}

TEST_F(TlsContextTest, BadFilesNameTheFile) {
  TlsSettings s = Server();
  s.cert_file = Path("missing.crt");
  auto r = BuildTlsContext(s);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("missing.crt"), std::string::npos) << r.status();

  s = Server();
  s.key_file = Path("garbage.pem");
  r = BuildTlsContext(s);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("garbage.pem"), std::string::npos) << r.status();

  s = Server();
  s.key_file = Path("client.key");  // another certificate's key
  r = BuildTlsContext(s);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("client.key"), std::string::npos) << r.status();

  s = Server();
  s.ca_cert_file = Path("nope.crt");
  r = BuildTlsContext(s);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("nope.crt"), std::string::npos) << r.status();

  s = Server();
  s.dh_params_file = Path("garbage.pem");
  EXPECT_FALSE(BuildTlsContext(s).ok());
  s.dh_params_file = Path("dh.pem");
  EXPECT_TRUE(BuildTlsContext(s).ok()) << BuildTlsContext(s).status();
}

TEST_F(TlsContextTest, MissingSettings) {
  TlsSettings s = Server();
  s.cert_file.clear();
  EXPECT_FALSE(BuildTlsContext(s).ok());
  s = Server();
  s.ca_cert_file.clear();
  EXPECT_FALSE(BuildTlsContext(s).ok());  // clients must be verified against something
  s.verify = PeerVerify::kNone;
  EXPECT_TRUE(BuildTlsContext(s).ok());
  s = Server();
  s.ciphers = "NO-SUCH-CIPHER";
  EXPECT_FALSE(BuildTlsContext(s).ok());
  s = Server();
  s.ciphersuites = "TLS_NO_SUCH";
  EXPECT_FALSE(BuildTlsContext(s).ok());
}

TEST_F(TlsContextTest, EncryptedKeyNeedsItsPassword) {
  // With stdin at end of file, a prompt would fail too; the test is that nothing prompts
  // or blocks, and the password setting is used.
  TlsSettings s = Server();
  s.key_file = Path("server_enc.key");
  auto r = BuildTlsContext(s);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("server_enc.key"), std::string::npos) << r.status();
  s.key_file_pass = "wrong";
  r = BuildTlsContext(s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().find("wrong"), std::string::npos) << r.status();
  s.key_file_pass = "s3cret";
  r = BuildTlsContext(s);
  ASSERT_TRUE(r.ok()) << r.status();
  auto [server_ec, client_ec] = Handshake(s, Client());
  EXPECT_FALSE(server_ec) << server_ec.message();
  EXPECT_FALSE(client_ec) << client_ec.message();
}

TEST_F(TlsContextTest, SlotSwapsForNewUsersOnly) {
  TlsContextSlot slot;
  EXPECT_EQ(slot.Get(), nullptr);
  auto first = *BuildTlsContext(Server());
  slot.Set(first);
  auto held = slot.Get();
  slot.Set(*BuildTlsContext(Server()));
  EXPECT_EQ(held, first);
  EXPECT_NE(slot.Get(), first);
}

}  // namespace
}  // namespace cairn::net
