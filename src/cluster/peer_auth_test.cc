#include "cluster/peer_auth.h"

#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace cairn::cluster {
namespace {

const std::string kB = "127.0.0.1:7002";  // the listener's advertised address
const std::string kM = "127.0.0.1:7003";

struct Outcome {
  AuthStep dialer, listener;
  std::vector<std::string> dialer_sent;  // each message the dialer wrote, in order
};

// Runs a dialer and a listener against each other in memory.
Outcome Converse(DialerHandshake* d, ListenerHandshake* l) {
  Outcome o;
  std::string to_listener = d->Start(), to_dialer;
  o.dialer_sent.push_back(to_listener);
  for (int round = 0; round < 4; round++) {
    size_t used = 0;
    o.listener = l->Receive(to_listener, &used, &to_dialer);
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
  // The dialer sees first that the listener cannot prove its secret; it sends no proof.
  EXPECT_EQ(o.dialer.state, AuthStep::kRefused);
  EXPECT_NE(o.listener.state, AuthStep::kDone);
  // A dialer that skips the check and sends its (wrong) proof anyway is refused.
  ListenerHandshake l2({"s3cret"}, "node-b", kB);
  DialerHandshake d2({"wrong"}, "node-a", kB);
  std::string challenge;
  size_t used;
  ASSERT_EQ(l2.Receive(d2.Start(), &used, &challenge).state, AuthStep::kNeedMore);
  AuthTranscript t;
  t.dialer_id = "node-a";
  t.target = kB;
  t.listener_id = "node-b";
  // Forge a PROOF message with a MAC under the wrong secret (nonces do not matter: wrong).
  std::string proof(kAuthMagic, 4);
  proof += std::string{char(kAuthVersion), char(3), char(0), char(1 + kAuthMacBytes), char(1)};
  const auto mac = AuthProof("wrong", AuthLabel::kDialer, t);
  proof.append(reinterpret_cast<const char*>(mac.data()), mac.size());
  std::string out;
  const AuthStep s = l2.Receive(proof, &used, &out);
  EXPECT_EQ(s.state, AuthStep::kRefused);
  EXPECT_TRUE(out.empty());
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

TEST(PeerAuth, ListenerProofCannotBeReflected) {
  // An attacker dials B, receives B's CHALLENGE (with B's listener proof over this very
  // transcript) and sends the same MAC back as its dialer proof.
  ListenerHandshake l({"s3cret"}, "node-b", kB);
  DialerHandshake attacker({"unknown"}, "node-a", kB);
  std::string challenge;
  size_t used;
  ASSERT_EQ(l.Receive(attacker.Start(), &used, &challenge).state, AuthStep::kNeedMore);
  ASSERT_GT(challenge.size(), kAuthHeaderBytes + kAuthMacBytes);
  const std::string mac = challenge.substr(challenge.size() - kAuthMacBytes);
  std::string proof(kAuthMagic, 4);
  proof += std::string{char(kAuthVersion), char(3), char(0), char(1 + kAuthMacBytes), char(1)};
  proof += mac;
  std::string out;
  EXPECT_EQ(l.Receive(proof, &used, &out).state, AuthStep::kRefused);
}

TEST(PeerAuth, ProofCannotBeRelayedToAnotherNode) {
  // Honest A dials M (without the secret), which opens its own connection to B and
  // relays. If M forwards A's HELLO as is, B refuses it: the target is M, not B.
  DialerHandshake a({"s3cret"}, "node-a", kM);
  const std::string hello = a.Start();
  {
    ListenerHandshake b({"s3cret"}, "node-b", kB);
    std::string out;
    size_t used;
    const AuthStep s = b.Receive(hello, &used, &out);
    EXPECT_EQ(s.state, AuthStep::kRefused);
    EXPECT_TRUE(out.empty());
  }
  // If M rewrites the target to B, B's proof is over B's address: A (who dialed M)
  // refuses it, so it never proves; and a proof A made for the connection to M, with
  // B's nonces, is refused by B.
  ListenerHandshake b({"s3cret"}, "node-b", kB);
  DialerHandshake m_to_b({"unknown"}, "node-a", kB);
  std::string m_hello = m_to_b.Start();
  std::string challenge;
  size_t used;
  ASSERT_EQ(b.Receive(m_hello, &used, &challenge).state, AuthStep::kNeedMore);
  std::string out;
  EXPECT_EQ(a.Receive(challenge, &used, &out).state, AuthStep::kRefused);
  EXPECT_TRUE(out.empty());
  // The strongest relay: A's proof over every field B saw except the target (A meant M).
  AuthTranscript t;
  t.dialer_id = "node-a";
  t.target = kM;
  t.listener_id = "node-b";
  std::memcpy(t.dialer_nonce.data(), m_hello.data() + kAuthHeaderBytes, kAuthNonceBytes);
  std::memcpy(t.listener_nonce.data(), challenge.data() + kAuthHeaderBytes, kAuthNonceBytes);
  const auto mac = AuthProof("s3cret", AuthLabel::kDialer, t);
  std::string proof(kAuthMagic, 4);
  proof += std::string{char(kAuthVersion), char(3), char(0), char(1 + kAuthMacBytes), char(1)};
  proof.append(reinterpret_cast<const char*>(mac.data()), mac.size());
  EXPECT_EQ(b.Receive(proof, &used, &out).state, AuthStep::kRefused);
  // The same MAC with B as the target is what B wants: the test's forgery is faithful.
  ListenerHandshake b2({"s3cret"}, "node-b", kB, [](uint8_t* p, size_t n) {
    std::memset(p, 7, n);
    return true;
  });
  std::string c2;
  ASSERT_EQ(b2.Receive(m_hello, &used, &c2).state, AuthStep::kNeedMore);
  t.target = kB;
  std::memset(t.listener_nonce.data(), 7, kAuthNonceBytes);
  const auto good = AuthProof("s3cret", AuthLabel::kDialer, t);
  std::string p2(kAuthMagic, 4);
  p2 += std::string{char(kAuthVersion), char(3), char(0), char(1 + kAuthMacBytes), char(1)};
  p2.append(reinterpret_cast<const char*>(good.data()), good.size());
  EXPECT_EQ(b2.Receive(p2, &used, &out).state, AuthStep::kDone);
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
  // Once the old secret is dropped everywhere, a node that only knows it is out.
  DialerHandshake d({"old"}, "node-a", kB);
  ListenerHandshake l({"new"}, "node-b", kB);
  EXPECT_EQ(Converse(&d, &l).dialer.state, AuthStep::kRefused);
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
  EXPECT_EQ(*ParseClusterSecrets("new,old"), (std::vector<std::string>{"new", "old"}));
  EXPECT_FALSE(ParseClusterSecrets("new,").ok());
  EXPECT_FALSE(ParseClusterSecrets("a,b,c,d,e").ok());
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
