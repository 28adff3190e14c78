// PeerAuth: the mutual HMAC-SHA256 challenge-response that opens every cluster
// connection when cluster-secret is set (docs/formats/cluster-auth.md, version 2;
// docs/cluster-security.md for what it protects and what it does not).
//
//   dialer -> listener  HELLO      nonce_d, dialer id, target (the address dialed)
//   listener -> dialer  CHALLENGE  nonce_l, listener id (no proof)
//   dialer -> listener  PROOF      dialer proofs (one per secret it holds, current first)
//   listener -> dialer  ACCEPTED   listener proof (by the secret the dialer's proof matched)
//
// A party not yet authenticated never receives a proof: the listener proves the secret
// only to a dialer that proved it first, and the dialer sends and reads no cluster frame
// before it checked the listener's proof in ACCEPTED. (A recorded handshake still allows
// an eavesdropper to guess the secret offline: secrets must be long and random.)
//
// A proof is HMAC-SHA256(secret, transcript(label)), where the transcript binds the
// direction label ("dialer"/"listener"), the dialer's id, the target address, the
// listener's id and both nonces. The dialer proves with every secret it holds (the first
// is the current one); the listener accepts a proof made with any of its own and answers
// with a proof by that secret, which the dialer accepts if it is one of its own, so
// "new,old" on some nodes and "old" on others still connect during a rotation. The listener refuses a
// HELLO whose target is not its own advertised address: a proof made for A->M cannot be
// relayed by M to B.
//
// Pure state machines over bytes (no I/O, no clock): the transport feeds what it reads
// and writes what they produce. Not thread-safe; one per connection.
#ifndef CAIRN_CLUSTER_PEER_AUTH_H_
#define CAIRN_CLUSTER_PEER_AUTH_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace cairn::cluster {

inline constexpr size_t kAuthNonceBytes = 32;
inline constexpr size_t kAuthMacBytes = 32;
inline constexpr size_t kAuthHeaderBytes = 8;  // magic(4) version(1) type(1) length(2)
inline constexpr size_t kAuthMaxBody = 2048;
inline constexpr size_t kMaxClusterSecrets = 4;
inline constexpr uint8_t kAuthVersion = 2;
// The shortest secret cluster-secret accepts (ParseClusterSecrets).
inline constexpr size_t kMinClusterSecretLength = 16;
// "CNAH": read as a frame length (message.h) it is over kMaxFrameBytes, so a node without
// a secret closes a connection that starts a handshake, and one with a secret never
// mistakes a frame for a HELLO.
inline constexpr char kAuthMagic[4] = {'C', 'N', 'A', 'H'};

// cluster-secret's value: comma-separated secrets, the first the current one. Empty: no
// authentication. InvalidArgument for a secret shorter than kMinClusterSecretLength (an
// empty one included) or more than kMaxClusterSecrets.
absl::StatusOr<std::vector<std::string>> ParseClusterSecrets(std::string_view value);

// Fills n bytes with randomness; the default draws from OpenSSL's RAND_bytes.
using NonceSource = std::function<bool(uint8_t* out, size_t n)>;

enum class AuthLabel { kDialer, kListener };

struct AuthTranscript {
  std::string dialer_id;
  std::string target;  // the listener's advertised cluster address, as the dialer dialed it
  std::string listener_id;
  std::array<uint8_t, kAuthNonceBytes> dialer_nonce{};
  std::array<uint8_t, kAuthNonceBytes> listener_nonce{};
};

// HMAC-SHA256(secret, the transcript's MAC input for label). Exposed for tests.
std::array<uint8_t, kAuthMacBytes> AuthProof(const std::string& secret, AuthLabel label,
                                             const AuthTranscript& t);

struct AuthStep {
  enum State { kNeedMore, kDone, kRefused } state = kNeedMore;
  std::string reason;  // kRefused: why, for the log
};

// The side that opened the connection.
class DialerHandshake {
 public:
  // REQUIRES: secrets non-empty.
  DialerHandshake(std::vector<std::string> secrets, std::string dialer_id, std::string target,
                  NonceSource nonces = nullptr);
  // The first message (HELLO); call once, before Receive.
  std::string Start();
  // Feeds bytes read; *consumed: how many of them the handshake used (the rest are the
  // peer's cluster frames, after kDone). Bytes to send are appended to *out.
  AuthStep Receive(std::string_view in, size_t* consumed, std::string* out);
  const std::string& listener_id() const { return t_.listener_id; }

 private:
  std::vector<std::string> secrets_;
  AuthTranscript t_;
  NonceSource nonces_;
  int stage_ = 0;  // 0: not started, 1: HELLO sent, 2: PROOF sent, 3: done, 4: refused
};

// The side that accepted the connection.
class ListenerHandshake {
 public:
  // REQUIRES: secrets non-empty. address: this node's advertised cluster address.
  ListenerHandshake(std::vector<std::string> secrets, std::string listener_id, std::string address,
                    NonceSource nonces = nullptr);
  AuthStep Receive(std::string_view in, size_t* consumed, std::string* out);
  const std::string& dialer_id() const { return t_.dialer_id; }

 private:
  std::vector<std::string> secrets_;
  std::string address_;
  AuthTranscript t_;
  NonceSource nonces_;
  int stage_ = 0;  // 0: waiting for HELLO, 1: for PROOF, 2: done, 3: refused
};

}  // namespace cairn::cluster

#endif  // CAIRN_CLUSTER_PEER_AUTH_H_
