#include "cluster/peer_auth.h"

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace cairn::cluster {
namespace {

const std::string kB = "127.0.0.1:7002";  // the listener's advertised address
const std::string kM = "127.0.0.1:7003";

// A handshake message as the wire has it (docs/formats/cluster-auth.md).
std::string Msg(int type, const std::string& body) {
  std::string m(kAuthMagic, 4);
  m += std::string{char(kAuthVersion), char(type), char(body.size() >> 8), char(body.size() & 0xff)};
  return m + body;
}

// A proof list of one MAC.
std::string OneMac(const std::array<uint8_t, kAuthMacBytes>& mac) {
  return std::string(1, char(1)) + std::string(reinterpret_cast<const char*>(mac.data()), mac.size());
}

NonceSource Fixed(uint8_t v) {
  return [v](uint8_t* p, size_t n) {
    std::memset(p, v, n);
    return true;
  };
}

struct Outcome {
  AuthStep dialer, listener;
  std::vector<std::string> dialer_sent;  // each message the dialer wrote, in order
  std::string listener_sent;             // every byte the listener wrote
};

// Runs a dialer and a listener against each other in memory.
Outcome Converse(DialerHandshake* d, ListenerHandshake* l) {
  Outcome o;
  std::string to_listener = d->Start(), to_dialer;
  o.dialer_sent.push_back(to_listener);
  for (int round = 0; round < 4; round++) {
    size_t used = 0;
    const size_t before = to_dialer.size();
    o.listener = l->Receive(to_listener, &used, &to_dialer);
    o.listener_sent += to_dialer.substr(before);
    to_listener.erase(0, used);
    if (o.listener.state == AuthStep::kRefused) break;
    std::string out;
    o.dialer = d->Receive(to_dialer, &used, &out);
    to_dialer.erase(0, used);
    if (!out.empty()) o.dialer_sent.push_back(out);
    to_listener += out;
    if (o.dialer.state == AuthStep::kRefused) break;
    if (o.dialer.state == AuthStep::kDone && o.listener.state == AuthStep::kDone) break;
  }
  return o;
}

TEST(PeerAuth, SameSecretPasses) {
  DialerHandshake d({"s3cret"}, "node-a", kB);
  ListenerHandshake l({"s3cret"}, "node-b", kB);
  const Outcome o = Converse(&d, &l);
  EXPECT_EQ(o.dialer.state, AuthStep::kDone) << o.dialer.reason;
  EXPECT_EQ(o.listener.state, AuthStep::kDone) << o.listener.reason;
  EXPECT_EQ(d.listener_id(), "node-b");
  EXPECT_EQ(l.dialer_id(), "node-a");
}

TEST(PeerAuth, WrongSecretFailsBothWays) {
  DialerHandshake d({"wrong"}, "node-a", kB);
  ListenerHandshake l({"s3cret"}, "node-b", kB);
  const Outcome o = Converse(&d, &l);
  // The listener sees first that the dialer cannot prove the secret; the dialer never
  // gets to the end.
  EXPECT_EQ(o.listener.state, AuthStep::kRefused);
  EXPECT_NE(o.dialer.state, AuthStep::kDone);
  ASSERT_EQ(o.dialer_sent.size(), 2u);  // HELLO, PROOF
}

TEST(PeerAuth, AnUnauthenticatedDialerReceivesNoProof) {
  // An attacker without the secret dials B and runs the whole handshake: every byte B
  // writes back holds no MAC by the secret (nothing to guess it from offline).
  DialerHandshake d({"attacker-guess-000"}, "node-a", kB, Fixed(1));
  ListenerHandshake l({"s3cret", "older-secret"}, "node-b", kB, Fixed(2));
  const Outcome o = Converse(&d, &l);
  EXPECT_EQ(o.listener.state, AuthStep::kRefused);
  // All B wrote is the CHALLENGE: header, listener nonce, listener id, nothing more.
  EXPECT_EQ(o.listener_sent.size(), kAuthHeaderBytes + kAuthNonceBytes + 2 + 6);
  AuthTranscript t;
  t.dialer_id = "node-a";
  t.target = kB;
  t.listener_id = "node-b";
  t.dialer_nonce.fill(1);
  t.listener_nonce.fill(2);
  for (const std::string secret : {"s3cret", "older-secret"}) {
    for (AuthLabel label : {AuthLabel::kDialer, AuthLabel::kListener}) {
      const auto mac = AuthProof(secret, label, t);
      EXPECT_EQ(o.listener_sent.find(std::string(reinterpret_cast<const char*>(mac.data()), mac.size())),
                std::string::npos);
    }
  }
  // A wrong PROOF sent by hand gets nothing back either.
  ListenerHandshake l2({"s3cret"}, "node-b", kB, Fixed(2));
  std::string challenge, out;
  size_t used;
  ASSERT_EQ(l2.Receive(DialerHandshake({"x"}, "node-a", kB, Fixed(1)).Start(), &used, &challenge).state,
            AuthStep::kNeedMore);
  EXPECT_EQ(l2.Receive(Msg(3, OneMac(AuthProof("wrong", AuthLabel::kDialer, t))), &used, &out).state,
            AuthStep::kRefused);
  EXPECT_TRUE(out.empty());
  // With the right secret the same exchange ends in ACCEPTED carrying the listener's proof.
  ListenerHandshake l3({"s3cret"}, "node-b", kB, Fixed(2));
  challenge.clear();
  ASSERT_EQ(l3.Receive(DialerHandshake({"x"}, "node-a", kB, Fixed(1)).Start(), &used, &challenge).state,
            AuthStep::kNeedMore);
  EXPECT_EQ(l3.Receive(Msg(3, OneMac(AuthProof("s3cret", AuthLabel::kDialer, t))), &used, &out).state,
            AuthStep::kDone);
  EXPECT_EQ(out, Msg(4, OneMac(AuthProof("s3cret", AuthLabel::kListener, t))));
}

TEST(PeerAuth, TheDialerRefusesAListenerWhoseProofIsWrong) {
  // A fake listener (no secret) answers HELLO with a CHALLENGE, takes the dialer's PROOF
  // and answers ACCEPTED with a MAC it cannot make right.
  AuthTranscript t;
  t.dialer_id = "node-a";
  t.target = kB;
  t.listener_id = "node-b";
  t.dialer_nonce.fill(1);
  t.listener_nonce.fill(2);
  const std::string challenge =
      Msg(2, std::string(kAuthNonceBytes, char(2)) + std::string{char(0), char(6)} + "node-b");
  const std::array<uint8_t, kAuthMacBytes> zeros{};
  const std::string bad_accepted[] = {
      Msg(4, OneMac(AuthProof("wrong", AuthLabel::kListener, t))),  // another secret
      Msg(4, OneMac(AuthProof("s3cret", AuthLabel::kDialer, t))),   // the dialer's own, reflected
      Msg(4, OneMac(zeros)),
      Msg(4, ""),  // no proof at all (version 1's ACCEPTED)
      Msg(4, std::string(1, char(0))),
  };
  for (const std::string& accepted : bad_accepted) {
    DialerHandshake d({"s3cret"}, "node-a", kB, Fixed(1));
    d.Start();
    std::string out;
    size_t used;
    ASSERT_EQ(d.Receive(challenge, &used, &out).state, AuthStep::kNeedMore);
    // What the dialer sent is its proof: the test's transcript is the real one.
    ASSERT_EQ(out, Msg(3, OneMac(AuthProof("s3cret", AuthLabel::kDialer, t))));
    out.clear();
    const AuthStep s = d.Receive(accepted, &used, &out);
    EXPECT_EQ(s.state, AuthStep::kRefused);
    EXPECT_TRUE(out.empty());
    // Refused for good: a frame after it is not taken as authenticated.
    EXPECT_EQ(d.Receive(std::string("\0\0\0\x05gossip", 10), &used, &out).state, AuthStep::kRefused);
  }
  // The right proof passes (the forgeries above are faithful but for the MAC).
  DialerHandshake d({"s3cret"}, "node-a", kB, Fixed(1));
  d.Start();
  std::string out;
  size_t used;
  ASSERT_EQ(d.Receive(challenge, &used, &out).state, AuthStep::kNeedMore);
  EXPECT_EQ(d.Receive(Msg(4, OneMac(AuthProof("s3cret", AuthLabel::kListener, t))), &used, &out).state,
            AuthStep::kDone);
  // And a real listener's ACCEPTED with one byte of its MAC flipped is refused.
  DialerHandshake d2({"s3cret"}, "node-a", kB);
  ListenerHandshake l({"s3cret"}, "node-b", kB);
  std::string to_l = d2.Start(), to_d, to_l2;
  ASSERT_EQ(l.Receive(to_l, &used, &to_d).state, AuthStep::kNeedMore);
  ASSERT_EQ(d2.Receive(to_d, &used, &to_l2).state, AuthStep::kNeedMore);
  std::string accepted;
  ASSERT_EQ(l.Receive(to_l2, &used, &accepted).state, AuthStep::kDone);
  accepted.back() ^= 1;
  out.clear();
  EXPECT_EQ(d2.Receive(accepted, &used, &out).state, AuthStep::kRefused);
}

TEST(PeerAuth, NoHandshakeIsRefusedAtTheFirstByte) {
  ListenerHandshake l({"s3cret"}, "node-b", kB);
  std::string out;
  size_t used;
  // A frame: fixed32 length, then an Envelope.
  const AuthStep s = l.Receive(std::string("\0\0\0\x05gossip", 10), &used, &out);
  EXPECT_EQ(s.state, AuthStep::kRefused);
  EXPECT_TRUE(out.empty());
}

TEST(PeerAuth, RecordedHandshakeCannotBeReplayed) {
  DialerHandshake d({"s3cret"}, "node-a", kB);
  ListenerHandshake l({"s3cret"}, "node-b", kB);
  const Outcome o = Converse(&d, &l);
  ASSERT_EQ(o.listener.state, AuthStep::kDone);
  ASSERT_EQ(o.dialer_sent.size(), 2u);  // HELLO, PROOF
  // The attacker replays the recorded HELLO and PROOF to a new connection.
  ListenerHandshake fresh({"s3cret"}, "node-b", kB);
  std::string out;
  size_t used;
  ASSERT_EQ(fresh.Receive(o.dialer_sent[0], &used, &out).state, AuthStep::kNeedMore);
  const AuthStep s = fresh.Receive(o.dialer_sent[1], &used, &out);
  EXPECT_EQ(s.state, AuthStep::kRefused) << "a fresh listener nonce must void the old proof";
}

TEST(PeerAuth, DialerProofCannotBeReflected) {
  // An attacker dials B with a HELLO, gets B's CHALLENGE, and sends back as its proof the
  // only MAC material in sight: none (B sends none), so a dialer-labelled MAC by another
  // secret, or B's own listener MAC, must both fail.
  ListenerHandshake l({"s3cret"}, "node-b", kB, Fixed(2));
  std::string challenge;
  size_t used;
  ASSERT_EQ(l.Receive(DialerHandshake({"x"}, "node-a", kB, Fixed(1)).Start(), &used, &challenge).state,
            AuthStep::kNeedMore);
  AuthTranscript t;
  t.dialer_id = "node-a";
  t.target = kB;
  t.listener_id = "node-b";
  t.dialer_nonce.fill(1);
  t.listener_nonce.fill(2);
  std::string out;
  EXPECT_EQ(l.Receive(Msg(3, OneMac(AuthProof("s3cret", AuthLabel::kListener, t))), &used, &out).state,
            AuthStep::kRefused);
  EXPECT_TRUE(out.empty());
}

TEST(PeerAuth, ProofCannotBeRelayedToAnotherNode) {
  // Honest A dials M (without the secret), which opens its own connection to B and
  // relays. If M forwards A's HELLO as is, B refuses it: the target is M, not B.
  DialerHandshake a({"s3cret"}, "node-a", kM, Fixed(1));
  const std::string hello = a.Start();
  {
    ListenerHandshake b({"s3cret"}, "node-b", kB);
    std::string out;
    size_t used;
    const AuthStep s = b.Receive(hello, &used, &out);
    EXPECT_EQ(s.state, AuthStep::kRefused);
    EXPECT_TRUE(out.empty());
  }
  // If M rewrites the target to B (same nonce, same id), forwards B's CHALLENGE to A and
  // A's PROOF to B, B refuses the proof: A made it for the target M.
  ListenerHandshake b({"s3cret"}, "node-b", kB);
  const std::string m_hello = DialerHandshake({"unknown"}, "node-a", kB, Fixed(1)).Start();
  std::string challenge;
  size_t used;
  ASSERT_EQ(b.Receive(m_hello, &used, &challenge).state, AuthStep::kNeedMore);
  std::string proof;
  ASSERT_EQ(a.Receive(challenge, &used, &proof).state, AuthStep::kNeedMore);
  ASSERT_FALSE(proof.empty());
  std::string out;
  EXPECT_EQ(b.Receive(proof, &used, &out).state, AuthStep::kRefused);
  EXPECT_TRUE(out.empty());
  // The same exchange, A having dialed B itself, passes: the relay is refused for the
  // target alone.
  ListenerHandshake b2({"s3cret"}, "node-b", kB);
  DialerHandshake a2({"s3cret"}, "node-a", kB, Fixed(1));
  ASSERT_EQ(a2.Start(), m_hello);
  challenge.clear();
  proof.clear();
  ASSERT_EQ(b2.Receive(m_hello, &used, &challenge).state, AuthStep::kNeedMore);
  ASSERT_EQ(a2.Receive(challenge, &used, &proof).state, AuthStep::kNeedMore);
  EXPECT_EQ(b2.Receive(proof, &used, &out).state, AuthStep::kDone);
}

TEST(PeerAuth, RotationAcceptsTheOldSecret) {
  // Mid-rotation: some nodes hold "new,old", others still "old", others already "new".
  struct Pair {
    std::vector<std::string> dialer, listener;
  };
  const Pair can_talk[] = {
      {{"new", "old"}, {"old"}}, {{"old"}, {"new", "old"}},        {{"new"}, {"new", "old"}},
      {{"new", "old"}, {"new"}}, {{"new", "old"}, {"new", "old"}},
  };
  for (const auto& [dialer, listener] : can_talk) {
    DialerHandshake d(dialer, "node-a", kB);
    ListenerHandshake l(listener, "node-b", kB);
    const Outcome o = Converse(&d, &l);
    EXPECT_EQ(o.dialer.state, AuthStep::kDone) << dialer[0] << " -> " << listener[0];
    EXPECT_EQ(o.listener.state, AuthStep::kDone) << dialer[0] << " -> " << listener[0];
  }
  // The listener answers with the secret the dialer proved, not its own current one: a
  // listener on "new,old" proves "old" to a dialer that only holds "old".
  {
    DialerHandshake d({"old"}, "node-a", kB, Fixed(1));
    ListenerHandshake l({"new", "old"}, "node-b", kB, Fixed(2));
    const Outcome o = Converse(&d, &l);
    AuthTranscript t;
    t.dialer_id = "node-a";
    t.target = kB;
    t.listener_id = "node-b";
    t.dialer_nonce.fill(1);
    t.listener_nonce.fill(2);
    EXPECT_NE(o.listener_sent.find(Msg(4, OneMac(AuthProof("old", AuthLabel::kListener, t)))),
              std::string::npos);
  }
  // Once the old secret is dropped everywhere, a node that only knows it is out.
  DialerHandshake d({"old"}, "node-a", kB);
  ListenerHandshake l({"new"}, "node-b", kB);
  const Outcome o = Converse(&d, &l);
  EXPECT_EQ(o.listener.state, AuthStep::kRefused);
  EXPECT_NE(o.dialer.state, AuthStep::kDone);
}

TEST(PeerAuth, WhatAPeerClaimsIsLoggedSafely) {
  DialerHandshake d({"wrong"}, "evil\n[warning] forged line", "127.0.0.1:7002\r\nmore");
  ListenerHandshake l({"s3cret"}, "node-b", kB);
  std::string out;
  size_t used;
  const AuthStep s = l.Receive(d.Start(), &used, &out);
  ASSERT_EQ(s.state, AuthStep::kRefused);
  EXPECT_EQ(s.reason.find_first_of("\r\n"), std::string::npos) << s.reason;
}

TEST(PeerAuth, ParseClusterSecrets) {
  EXPECT_TRUE(ParseClusterSecrets("")->empty());
  const std::string n(16, 'n'), o(40, 'o');
  EXPECT_EQ(*ParseClusterSecrets(n + "," + o), (std::vector<std::string>{n, o}));
  EXPECT_FALSE(ParseClusterSecrets(n + ",").ok());
  EXPECT_FALSE(ParseClusterSecrets(absl::StrCat(n, ",", n, ",", n, ",", n, ",", n)).ok());
  // Shorter than 16 characters: refused, with a message saying why.
  const auto short_one = ParseClusterSecrets(n + ",0123456789abcde");
  ASSERT_FALSE(short_one.ok());
  EXPECT_NE(short_one.status().message().find("at least 16"), std::string::npos) << short_one.status();
  EXPECT_FALSE(ParseClusterSecrets("s3cret").ok());
}

TEST(PeerAuth, BytesArriveOneAtATime) {
  DialerHandshake d({"s3cret"}, "node-a", kB);
  ListenerHandshake l({"s3cret"}, "node-b", kB);
  std::string hello = d.Start(), in, challenge;
  size_t used = 0;
  AuthStep s;
  for (char c : hello) {
    in.push_back(c);
    s = l.Receive(in, &used, &challenge);
    in.erase(0, used);
    ASSERT_NE(s.state, AuthStep::kRefused) << s.reason;
  }
  ASSERT_FALSE(challenge.empty());
  std::string proof;
  // The CHALLENGE and the start of the next message in one read: only the CHALLENGE is
  // consumed.
  EXPECT_EQ(d.Receive(challenge + std::string(kAuthMagic, 2), &used, &proof).state,
            AuthStep::kNeedMore);
  EXPECT_EQ(used, challenge.size());
}

}  // namespace
}  // namespace cairn::cluster
