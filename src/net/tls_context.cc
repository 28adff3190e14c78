#include "net/tls_context.h"

#include <utility>  // before Asio: Boost 1.74 + GCC 12 in C++20 misses it

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace cairn::net {
namespace {

namespace ssl = boost::asio::ssl;

// OpenSSL's queued errors as one line (and the queue emptied), e.g.
// "error:0480006C:PEM routines::no start line".
std::string OpenSslErrors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown error" : out;
}

absl::Status Failed(std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(absl::string_view(what.data(), what.size()), ": ", OpenSslErrors()));
}

// The key's password from the settings, never from a terminal: without one an encrypted
// key fails to load (OpenSSL's default callback would prompt on stdin).
int PasswordCallback(char* buf, int size, int /*rwflag*/, void* userdata) {
  const auto* pass = static_cast<const std::string*>(userdata);
  if (pass == nullptr || pass->empty() || size <= 0) return 0;
  const int n = std::min<int>(size, static_cast<int>(pass->size()));
  std::memcpy(buf, pass->data(), static_cast<size_t>(n));
  return n;
}

absl::Status LoadDhParams(SSL_CTX* ctx, const std::string& file) {
  BIO* bio = BIO_new_file(file.c_str(), "r");
  if (bio == nullptr) return Failed(absl::StrCat("cannot open DH params file ", file));
  EVP_PKEY* params = PEM_read_bio_Parameters(bio, nullptr);
  BIO_free(bio);
  if (params == nullptr) return Failed(absl::StrCat("cannot read DH params file ", file));
  if (SSL_CTX_set0_tmp_dh_pkey(ctx, params) != 1) {  // takes params on success only
    EVP_PKEY_free(params);
    return Failed(absl::StrCat("cannot use the DH params of ", file));
  }
  return absl::OkStatus();
}

absl::Status Configure(const TlsSettings& s, SSL_CTX* ctx) {
  const bool server = s.role == TlsRole::kServer;
  if (server && s.cert_file.empty())
    return absl::InvalidArgumentError("no tls-cert-file configured");
  if (server && s.key_file.empty()) return absl::InvalidArgumentError("no tls-key-file configured");
  if (s.cert_file.empty() != s.key_file.empty()) {
    return absl::InvalidArgumentError("a certificate needs its key and a key its certificate");
  }
  if (s.verify != PeerVerify::kNone && s.ca_cert_file.empty() && s.ca_cert_dir.empty()) {
    return absl::InvalidArgumentError(
        server ? "either tls-ca-cert-file or tls-ca-cert-dir must be specified when "
                 "tls-auth-clients is yes or optional"
               : "either a CA certificate file or directory must be specified to verify the "
                 "server");
  }
  auto protocols = ParseTlsProtocols(s.protocols);
  if (!protocols.ok()) return protocols.status();

  long options = SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_COMPRESSION;
  if (!(*protocols & kTlsV1)) options |= SSL_OP_NO_TLSv1;
  if (!(*protocols & kTlsV1_1)) options |= SSL_OP_NO_TLSv1_1;
  if (!(*protocols & kTlsV1_2)) options |= SSL_OP_NO_TLSv1_2;
  if (!(*protocols & kTlsV1_3)) options |= SSL_OP_NO_TLSv1_3;
#ifdef SSL_OP_NO_CLIENT_RENEGOTIATION  // OpenSSL 3 refuses it unless allowed
  if (server) options |= SSL_OP_NO_CLIENT_RENEGOTIATION;
#endif
  if (server && s.prefer_server_ciphers) options |= SSL_OP_CIPHER_SERVER_PREFERENCE;
  SSL_CTX_set_options(ctx, options);
  // The settings' protocols only (asio's tls_* methods allow any version).
  const int lowest = (*protocols & kTlsV1)     ? TLS1_VERSION
                     : (*protocols & kTlsV1_1) ? TLS1_1_VERSION
                     : (*protocols & kTlsV1_2) ? TLS1_2_VERSION
                                               : TLS1_3_VERSION;
  const int highest = (*protocols & kTlsV1_3)   ? TLS1_3_VERSION
                      : (*protocols & kTlsV1_2) ? TLS1_2_VERSION
                      : (*protocols & kTlsV1_1) ? TLS1_1_VERSION
                                                : TLS1_VERSION;
  SSL_CTX_set_min_proto_version(ctx, lowest);
  SSL_CTX_set_max_proto_version(ctx, highest);

  if (!s.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, s.cert_file.c_str()) != 1) {
      return Failed(absl::StrCat("cannot load certificate ", s.cert_file));
    }
    // The password reaches OpenSSL only through this callback, only while the key loads.
    SSL_CTX_set_default_passwd_cb_userdata(ctx, const_cast<std::string*>(&s.key_file_pass));
    const int loaded = SSL_CTX_use_PrivateKey_file(ctx, s.key_file.c_str(), SSL_FILETYPE_PEM);
    // Asio's context deletes a non-null userdata as its own callback object.
    SSL_CTX_set_default_passwd_cb_userdata(ctx, nullptr);
    if (loaded != 1) {
      return Failed(absl::StrCat("cannot load private key ", s.key_file,
                                 s.key_file_pass.empty() ? " (no tls-key-file-pass given)" : ""));
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      return Failed(
          absl::StrCat("private key ", s.key_file, " does not match certificate ", s.cert_file));
    }
  }
  if (!s.ca_cert_file.empty() || !s.ca_cert_dir.empty()) {
    if (SSL_CTX_load_verify_locations(
            ctx, s.ca_cert_file.empty() ? nullptr : s.ca_cert_file.c_str(),
            s.ca_cert_dir.empty() ? nullptr : s.ca_cert_dir.c_str()) != 1) {
      return Failed(absl::StrCat("cannot load CA certificates from ",
                                 s.ca_cert_file.empty() ? s.ca_cert_dir : s.ca_cert_file));
    }
    if (server && !s.ca_cert_file.empty()) {
      // Tells clients which CAs their certificate should come from.
      if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(s.ca_cert_file.c_str())) {
        SSL_CTX_set_client_CA_list(ctx, names);
      }
      ERR_clear_error();
    }
  }
  if (!s.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, s.ciphers.c_str()) != 1) {
    return Failed(absl::StrCat("bad tls-ciphers '", s.ciphers, "'"));
  }
  if (!s.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx, s.ciphersuites.c_str()) != 1) {
    return Failed(absl::StrCat("bad tls-ciphersuites '", s.ciphersuites, "'"));
  }
  int mode = SSL_VERIFY_NONE;
  if (s.verify == PeerVerify::kOptional) mode = SSL_VERIFY_PEER;
  if (s.verify == PeerVerify::kRequired) {
    mode = server ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER;
  }
  SSL_CTX_set_verify(ctx, mode, nullptr);
  if (!server) return absl::OkStatus();

  if (s.session_caching) {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, s.session_cache_size);
    SSL_CTX_set_timeout(ctx, s.session_cache_timeout);
    static constexpr unsigned char kSessionContext[] = "cairn";
    SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  }
  if (!s.dh_params_file.empty()) return LoadDhParams(ctx, s.dh_params_file);
  SSL_CTX_set_dh_auto(ctx, 1);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int> ParseTlsProtocols(std::string_view text) {
  if (absl::StripAsciiWhitespace(absl::string_view(text.data(), text.size())).empty()) {
    return kTlsV1_2 | kTlsV1_3;
  }
  int set = 0;
  for (absl::string_view word :
       absl::StrSplit(absl::string_view(text.data(), text.size()), ' ', absl::SkipEmpty())) {
    const std::string w = absl::AsciiStrToLower(word);
    if (w == "tlsv1") {
      set |= kTlsV1;
    } else if (w == "tlsv1.1") {
      set |= kTlsV1_1;
    } else if (w == "tlsv1.2") {
      set |= kTlsV1_2;
    } else if (w == "tlsv1.3") {
      set |= kTlsV1_3;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid tls-protocols word '", word,
                       "': use a combination of 'TLSv1', 'TLSv1.1', 'TLSv1.2' and 'TLSv1.3'"));
    }
  }
  return set;
}

absl::StatusOr<std::shared_ptr<ssl::context>> BuildTlsContext(const TlsSettings& settings) {
  ERR_clear_error();
  std::shared_ptr<ssl::context> context;
  try {
    context = std::make_shared<ssl::context>(
        settings.role == TlsRole::kServer ? ssl::context::tls_server : ssl::context::tls_client);
  } catch (const boost::system::system_error& e) {
    return absl::InternalError(absl::StrCat("cannot create a TLS context: ", e.what()));
  }
  SSL_CTX* ctx = context->native_handle();
  SSL_CTX_set_default_passwd_cb(ctx, PasswordCallback);
  if (absl::Status s = Configure(settings, ctx); !s.ok()) {
    ERR_clear_error();
    return s;
  }
  return context;
}

}  // namespace cairn::net
