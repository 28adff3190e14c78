// OpenSSL contexts for every TLS endpoint of cairn (the RESP and HTTP listeners, the
// cluster transport): built from a plain struct of settings named after Redis 7's tls-*
// options, so each user maps its own configuration onto one builder. Only declarations
// of Asio's types here: the OpenSSL and Asio headers stay in tls_context.cc and in the
// files that run TLS streams.
#ifndef CAIRN_NET_TLS_CONTEXT_H_
#define CAIRN_NET_TLS_CONTEXT_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace cairn::net {

enum class TlsRole { kServer, kClient };

// Whether the peer must show a certificate signed by the configured CA.
// Server side, Redis's tls-auth-clients: no / optional (checked if sent) / yes.
// Client side: kNone accepts any server certificate; the others verify it.
enum class PeerVerify { kNone, kOptional, kRequired };

struct TlsSettings {
  TlsRole role = TlsRole::kServer;
  // PEM certificate chain and private key. Required for a server; optional for a client
  // (its certificate, when the server asks for one).
  std::string cert_file;
  std::string key_file;
  std::string key_file_pass;  // for an encrypted key; never logged nor shown
  // Trusted CAs for the peer's certificate: a PEM bundle and/or a c_rehash directory.
  // At least one is required unless verify is kNone.
  std::string ca_cert_file;
  std::string ca_cert_dir;
  PeerVerify verify = PeerVerify::kRequired;
  // Space-separated among TLSv1 TLSv1.1 TLSv1.2 TLSv1.3 (any case); empty: TLSv1.2 and
  // TLSv1.3.
  std::string protocols;
  std::string ciphers;       // TLSv1.2 and below (OpenSSL cipher list); empty: OpenSSL's
  std::string ciphersuites;  // TLSv1.3; empty: OpenSSL's
  bool prefer_server_ciphers = false;
  std::string dh_params_file;  // empty: OpenSSL's built-in groups (SSL_CTX_set_dh_auto)
  // Server side: resumption of sessions (session IDs and tickets).
  bool session_caching = true;
  int session_cache_size = 20480;
  int session_cache_timeout = 300;  // seconds
};

// Bit set of the protocols named by `text` (TlsSettings::protocols), or InvalidArgument
// naming the bad word.
absl::StatusOr<int> ParseTlsProtocols(std::string_view text);
inline constexpr int kTlsV1 = 1, kTlsV1_1 = 2, kTlsV1_2 = 4, kTlsV1_3 = 8;

// A new context, or InvalidArgument saying which setting or file failed and OpenSSL's
// reason. Never prompts: an encrypted key without the right key_file_pass fails.
// Thread-safe (no shared state); the context may be shared by any number of streams,
// each of which keeps it alive.
absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> BuildTlsContext(
    const TlsSettings& settings);

// The context new connections of one endpoint use; replaced when the certificates are
// reloaded. Connections already open keep the context they started with. Thread-safe.
class TlsContextSlot {
 public:
  std::shared_ptr<boost::asio::ssl::context> Get() const {
    absl::MutexLock l(&mu_);
    return context_;
  }
  void Set(std::shared_ptr<boost::asio::ssl::context> context) {
    absl::MutexLock l(&mu_);
    context_.swap(context);
  }

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> context_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cairn::net

#endif  // CAIRN_NET_TLS_CONTEXT_H_
