#include "cluster/peer_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace cairn::cluster {

namespace {

enum MessageType : uint8_t { kHello = 1, kChallenge = 2, kProof = 3, kAccepted = 4 };

constexpr char kMacContext[] = "cairn-cluster-auth/2";

void PutU16(std::string* out, size_t v) {
  out->push_back(static_cast<char>((v >> 8) & 0xff));
  out->push_back(static_cast<char>(v & 0xff));
}

void PutString(std::string* out, const std::string& s) {
  PutU16(out, s.size());
  out->append(s);
}

template <size_t N>
void PutBytes(std::string* out, const std::array<uint8_t, N>& b) {
  out->append(reinterpret_cast<const char*>(b.data()), N);
}

std::string Message(MessageType type, const std::string& body) {
  std::string out(kAuthMagic, sizeof(kAuthMagic));
  out.push_back(static_cast<char>(kAuthVersion));
  out.push_back(static_cast<char>(type));
  PutU16(&out, body.size());
  out.append(body);
  return out;
}

// Reads fields off a message body; any read past its end marks it bad.
class Reader {
 public:
  explicit Reader(std::string_view body) : rest_(body) {}
  bool ok() const { return ok_; }
  bool done() const { return ok_ && rest_.empty(); }
  size_t U8() {
    if (rest_.empty()) return Bad();
    const size_t v = static_cast<uint8_t>(rest_[0]);
    rest_.remove_prefix(1);
    return v;
  }
  size_t U16() {
    if (rest_.size() < 2) return Bad();
    const size_t v = (size_t{static_cast<uint8_t>(rest_[0])} << 8) | static_cast<uint8_t>(rest_[1]);
    rest_.remove_prefix(2);
    return v;
  }
  std::string String() { return std::string(Take(U16())); }
  template <size_t N>
  void Bytes(std::array<uint8_t, N>* out) {
    const std::string_view b = Take(N);
    if (b.size() == N) std::memcpy(out->data(), b.data(), N);
  }

 private:
  size_t Bad() {
    ok_ = false;
    rest_ = {};
    return 0;
  }
  std::string_view Take(size_t n) {
    if (!ok_ || rest_.size() < n) {
      Bad();
      return {};
    }
    std::string_view v = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return v;
  }
  std::string_view rest_;
  bool ok_ = true;
};

// The message of `type` at the front of in: kNeedMore until it is all there, kRefused if
// it is not one, else kDone with *body and *consumed.
AuthStep ParseMessage(std::string_view in, MessageType type, std::string_view* body,
                      size_t* consumed) {
  if (in.empty()) return {};
  const size_t have = std::min(in.size(), sizeof(kAuthMagic));
  if (std::memcmp(in.data(), kAuthMagic, have) != 0) {
    return {AuthStep::kRefused, "no handshake (a plain cluster message, or not a cairn node)"};
  }
  if (in.size() < kAuthHeaderBytes) return {};
  if (static_cast<uint8_t>(in[4]) != kAuthVersion) {
    return {AuthStep::kRefused,
            absl::StrCat("handshake version ", static_cast<int>(static_cast<uint8_t>(in[4])),
                         " (this node speaks ", kAuthVersion, ")")};
  }
  if (static_cast<uint8_t>(in[5]) != type) {
    return {AuthStep::kRefused, absl::StrCat("handshake message ", static_cast<int>(in[5]),
                                             " where ", static_cast<int>(type), " was due")};
  }
  const size_t length = (size_t{static_cast<uint8_t>(in[6])} << 8) | static_cast<uint8_t>(in[7]);
  if (length > kAuthMaxBody) return {AuthStep::kRefused, "handshake message too long"};
  if (in.size() < kAuthHeaderBytes + length) return {};
  *body = in.substr(kAuthHeaderBytes, length);
  *consumed = kAuthHeaderBytes + length;
  return {AuthStep::kDone, ""};
}

bool DrawNonce(const NonceSource& source, std::array<uint8_t, kAuthNonceBytes>* out) {
  if (source) return source(out->data(), out->size());
  return RAND_bytes(out->data(), static_cast<int>(out->size())) == 1;
}

// Every secret's proof, the first secret's first.
std::string Proofs(const std::vector<std::string>& secrets, AuthLabel label,
                   const AuthTranscript& t) {
  std::string out;
  out.push_back(static_cast<char>(secrets.size()));
  for (const std::string& secret : secrets) PutBytes(&out, AuthProof(secret, label, t));
  return out;
}

// One proof, by secret.
std::string OneProof(const std::string& secret, AuthLabel label, const AuthTranscript& t) {
  std::string out;
  out.push_back(static_cast<char>(1));
  PutBytes(&out, AuthProof(secret, label, t));
  return out;
}

// Reads a count and that many proofs (the whole rest of the body); the index of the first
// of secrets that made one of them, or -1 (also for a malformed list).
int CheckProofs(Reader* r, const std::vector<std::string>& secrets, AuthLabel label,
                const AuthTranscript& t) {
  const size_t n = r->U8();
  if (!r->ok() || n == 0 || n > kMaxClusterSecrets) return -1;
  std::vector<std::array<uint8_t, kAuthMacBytes>> given(n);
  for (auto& p : given) r->Bytes(&p);
  if (!r->done()) return -1;
  int match = -1;
  for (size_t i = 0; i < secrets.size(); i++) {
    const auto want = AuthProof(secrets[i], label, t);
    // Every pair is compared (no early exit): the time taken does not say which matched.
    bool hit = false;
    for (const auto& p : given) hit |= CRYPTO_memcmp(p.data(), want.data(), kAuthMacBytes) == 0;
    if (hit && match < 0) match = static_cast<int>(i);
  }
  return match;
}

// What an unauthenticated peer claims, fit for a log line: printable ASCII, 64 bytes at
// most (no forged log lines).
std::string ForLog(const std::string& claimed) {
  std::string out;
  for (char c : claimed.substr(0, 64)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  return claimed.size() > 64 ? out + "..." : out;
}

AuthStep Refuse(int* stage, int refused, std::string reason) {
  *stage = refused;
  return {AuthStep::kRefused, std::move(reason)};
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ParseClusterSecrets(std::string_view value) {
  std::vector<std::string> out;
  if (value.empty()) return out;
  for (absl::string_view s : absl::StrSplit(absl::string_view(value.data(), value.size()), ',')) {
    if (s.empty()) return absl::InvalidArgumentError("cluster-secret: an empty secret in the list");
    if (s.size() < kMinClusterSecretLength) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cluster-secret: a secret of ", s.size(), " characters; at least ",
          kMinClusterSecretLength, " are required (use a long random string, e.g. the output of "
          "`openssl rand -hex 32`)"));
    }
    out.emplace_back(s);
  }
  if (out.size() > kMaxClusterSecrets) {
    return absl::InvalidArgumentError(
        absl::StrCat("cluster-secret: at most ", kMaxClusterSecrets, " secrets"));
  }
  return out;
}

std::array<uint8_t, kAuthMacBytes> AuthProof(const std::string& secret, AuthLabel label,
                                             const AuthTranscript& t) {
  std::string input(kMacContext, sizeof(kMacContext));  // with its NUL
  input.append(label == AuthLabel::kDialer ? "dialer" : "listener");
  input.push_back('\0');
  PutString(&input, t.dialer_id);
  PutString(&input, t.target);
  PutString(&input, t.listener_id);
  PutBytes(&input, t.dialer_nonce);
  PutBytes(&input, t.listener_nonce);
  std::array<uint8_t, kAuthMacBytes> mac{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac.data(), &len);
  return mac;
}

DialerHandshake::DialerHandshake(std::vector<std::string> secrets, std::string dialer_id,
                                 std::string target, NonceSource nonces)
    : secrets_(std::move(secrets)), nonces_(std::move(nonces)) {
  t_.dialer_id = std::move(dialer_id);
  t_.target = std::move(target);
}

std::string DialerHandshake::Start() {
  if (!DrawNonce(nonces_, &t_.dialer_nonce)) {
    stage_ = 4;
    return "";
  }
  stage_ = 1;
  std::string body;
  PutBytes(&body, t_.dialer_nonce);
  PutString(&body, t_.dialer_id);
  PutString(&body, t_.target);
  return Message(kHello, body);
}

AuthStep DialerHandshake::Receive(std::string_view in, size_t* consumed, std::string* out) {
  *consumed = 0;
  if (stage_ == 1) {
    std::string_view body;
    AuthStep step = ParseMessage(in, kChallenge, &body, consumed);
    if (step.state == AuthStep::kRefused) return Refuse(&stage_, 4, std::move(step.reason));
    if (step.state == AuthStep::kNeedMore) return step;
    Reader r(body);
    r.Bytes(&t_.listener_nonce);
    t_.listener_id = r.String();
    if (!r.done()) return Refuse(&stage_, 4, "malformed CHALLENGE");
    // The listener proves nothing yet: it does so in ACCEPTED, once we proved the secret.
    out->append(Message(kProof, Proofs(secrets_, AuthLabel::kDialer, t_)));
    stage_ = 2;
    size_t more = 0;
    step = Receive(in.substr(*consumed), &more, out);
    *consumed += more;
    return step;
  }
  if (stage_ == 2) {
    std::string_view body;
    AuthStep step = ParseMessage(in, kAccepted, &body, consumed);
    if (step.state == AuthStep::kRefused) return Refuse(&stage_, 4, std::move(step.reason));
    if (step.state == AuthStep::kNeedMore) return step;
    // No cluster frame is sent or read before the listener proved the secret.
    Reader r(body);
    if (CheckProofs(&r, secrets_, AuthLabel::kListener, t_) < 0) {
      return Refuse(&stage_, 4, "the listener did not prove the cluster secret");
    }
    stage_ = 3;
    return {AuthStep::kDone, ""};
  }
  if (stage_ == 3) return {AuthStep::kDone, ""};
  return {AuthStep::kRefused, stage_ == 0 ? "handshake not started" : "handshake failed"};
}

ListenerHandshake::ListenerHandshake(std::vector<std::string> secrets, std::string listener_id,
                                     std::string address, NonceSource nonces)
    : secrets_(std::move(secrets)), address_(std::move(address)), nonces_(std::move(nonces)) {
  t_.listener_id = std::move(listener_id);
}

AuthStep ListenerHandshake::Receive(std::string_view in, size_t* consumed, std::string* out) {
  *consumed = 0;
  if (stage_ == 0) {
    std::string_view body;
    AuthStep step = ParseMessage(in, kHello, &body, consumed);
    if (step.state == AuthStep::kRefused) return Refuse(&stage_, 3, std::move(step.reason));
    if (step.state == AuthStep::kNeedMore) return step;
    Reader r(body);
    r.Bytes(&t_.dialer_nonce);
    t_.dialer_id = r.String();
    t_.target = r.String();
    if (!r.done()) return Refuse(&stage_, 3, "malformed HELLO");
    if (t_.target != address_) {
      return Refuse(
          &stage_, 3,
          absl::StrCat("HELLO for ", ForLog(t_.target), ", not this node (", address_, ")"));
    }
    if (!DrawNonce(nonces_, &t_.listener_nonce)) return Refuse(&stage_, 3, "no random nonce");
    std::string reply;
    PutBytes(&reply, t_.listener_nonce);
    PutString(&reply, t_.listener_id);
    // No proof here: the dialer has proved nothing yet, and a proof would let anyone who
    // can connect guess the secret offline.
    out->append(Message(kChallenge, reply));
    stage_ = 1;
    size_t more = 0;
    step = Receive(in.substr(*consumed), &more, out);
    *consumed += more;
    return step;
  }
  if (stage_ == 1) {
    std::string_view body;
    AuthStep step = ParseMessage(in, kProof, &body, consumed);
    if (step.state == AuthStep::kRefused) return Refuse(&stage_, 3, std::move(step.reason));
    if (step.state == AuthStep::kNeedMore) return step;
    Reader r(body);
    const int matched = CheckProofs(&r, secrets_, AuthLabel::kDialer, t_);
    if (matched < 0) {
      return Refuse(
          &stage_, 3,
          absl::StrCat("dialer '", ForLog(t_.dialer_id), "' did not prove the cluster secret"));
    }
    // Our proof by the secret the dialer proved: one it holds, whatever the order of its
    // list or ours during a rotation.
    out->append(Message(kAccepted, OneProof(secrets_[matched], AuthLabel::kListener, t_)));
    stage_ = 2;
    return {AuthStep::kDone, ""};
  }
  if (stage_ == 2) return {AuthStep::kDone, ""};
  return {AuthStep::kRefused, "handshake failed"};
}

}  // namespace cairn::cluster
