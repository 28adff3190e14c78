// Quorum reads and writes between in-process nodes on loopback (real transports and
// gossip, in-memory replica stores, a test clock for failure detection).
#include "cluster/coordinator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cluster/asio_transport.h"

namespace cairn::cluster {
namespace {

std::atomic<int64_t> clock_ms{5'000'000};

// The transport is declared last so it is destroyed first: its handler uses the rest.
struct Node {
  std::string id;
  MemoryReplicaStore store;
  HybridClock hlc;
  std::unique_ptr<Membership> membership;
  std::unique_ptr<Coordinator> coordinator;
  std::unique_ptr<AsioTransport> transport;
};

class CoordinatorTest : public ::testing::Test {
 protected:
  Node* Start(const std::string& id) {
    auto node = std::make_unique<Node>();
    Node* raw = node.get();
    raw->id = id;
    AsioTransport::Options t;
    t.port = 0;
    auto transport = AsioTransport::Start(t, [raw](pb::Envelope request, Transport::Respond respond) {
      if (request.has_gossip()) {
        pb::Envelope reply;
        *reply.mutable_gossip() = raw->membership->HandleGossip(request.gossip());
        return respond(std::move(reply));
      }
      if (!raw->coordinator->Handle(request, respond)) respond(pb::Envelope());
    });
    EXPECT_TRUE(transport.ok());
    raw->transport = std::move(*transport);
    pb::NodeState self;
    self.set_id(id);
    self.set_cluster_address(absl::StrCat("127.0.0.1:", raw->transport->port()));
    self.set_weight(1);
    self.set_generation(nodes_.size() + 1);
    self.set_incarnation(1);
    Membership::Options m;
    if (!nodes_.empty()) m.seeds = {nodes_[0]->membership->AddressOf(nodes_[0]->id)};
    m.now_ms = [] { return clock_ms.load(); };
    m.rpc_timeout = absl::Milliseconds(300);
    raw->membership = std::make_unique<Membership>(m, self, raw->transport.get());
    Coordinator::Options c;
    c.timeout = absl::Milliseconds(500);
    raw->coordinator = std::make_unique<Coordinator>(c, raw->membership.get(), raw->transport.get(),
                                                     &raw->store, &raw->hlc);
    nodes_.push_back(std::move(node));
    return raw;
  }
  void Gossip(int rounds) {
    for (int r = 0; r < rounds; r++) {
      clock_ms += 1000;
      for (auto& n : nodes_) {
        if (n != nullptr) n->membership->GossipRound();
      }
    }
  }
  void Kill(Node* node) {
    for (auto& n : nodes_) {
      if (n.get() == node) n.reset();
    }
  }
  static pb::Record Value(const std::string& v) {
    pb::Record r;
    r.set_value(v);
    return r;
  }

  std::vector<std::unique_ptr<Node>> nodes_;
};

TEST_F(CoordinatorTest, AKeyWrittenThroughOneNodeIsReadThroughAnother) {
  Node* a = Start("a");
  Start("b");
  Node* c = Start("c");
  Start("d");
  Start("e");
  Gossip(6);
  for (int i = 0; i < 200; i++) {
    ASSERT_TRUE(a->coordinator->Write(0, absl::StrCat("key", i), Value(absl::StrCat("v", i)), 2).ok());
  }
  for (int i = 0; i < 200; i++) {
    auto r = c->coordinator->Read(0, absl::StrCat("key", i), 2);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->value(), absl::StrCat("v", i));
  }
  // Each key is on exactly N=3 of the 5 nodes: 600 copies in all.
  size_t copies = 0;
  for (auto& n : nodes_) copies += n->store.size();
  EXPECT_EQ(copies, 600u);
  EXPECT_TRUE(absl::IsNotFound(c->coordinator->Read(0, "never", 2).status()));
}

TEST_F(CoordinatorTest, ScanPagesThroughEveryNodesKeysExactlyOnceInOrder) {
  Node* a = Start("a");
  Start("b");
  Node* c = Start("c");
  Start("d");
  Start("e");
  Gossip(6);
  std::set<std::string> written;
  for (int i = 0; i < 500; i++) {
    const std::string key = absl::StrCat("key", 1000 + i);
    ASSERT_TRUE(a->coordinator->Write(0, key, Value("v"), 2).ok());
    written.insert(key);
  }
  std::vector<std::string> seen;
  std::string start, next;
  std::vector<std::pair<std::string, pb::Record>> page;
  do {
    ASSERT_TRUE(c->coordinator->Scan(0, start, 37, &page, &next).ok());
    for (const auto& [key, rec] : page) seen.push_back(key);
    start = next;
  } while (!next.empty());
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), written);
  EXPECT_EQ(seen.size(), written.size());  // no key twice
}

TEST_F(CoordinatorTest, ARingSmallerThanTheQuorumRefusesInsteadOfShrinkingIt) {
  // Found in review: W and R were capped at the ring's size, so a node alone (started
  // before hearing from its seeds) acknowledged W=2 writes stored only on itself.
  Node* a = Start("a");
  absl::Status s = a->coordinator->Write(0, "k", Value("v"), 2);
  EXPECT_EQ(s.message(), "NOQUORUM write needs 2 replicas, 1 up (N=3)");
  EXPECT_EQ(a->store.size(), 0u);
  EXPECT_EQ(a->coordinator->Read(0, "k", 2).status().message(),
            "NOQUORUM read needs 2 replicas, 1 up (N=3)");
  EXPECT_TRUE(a->coordinator->Write(0, "k", Value("v"), 1).ok());  // W=1 asks for one
}

TEST_F(CoordinatorTest, NewestVersionWinsAndDeletesAreTombstones) {
  Node* a = Start("a");
  Node* b = Start("b");
  Start("c");
  Gossip(5);
  // One coordinator's writes are ordered by its hybrid clock.
  ASSERT_TRUE(a->coordinator->Write(0, "k", Value("first"), 2).ok());
  ASSERT_TRUE(a->coordinator->Write(0, "k", Value("second"), 2).ok());
  EXPECT_EQ(b->coordinator->Read(0, "k", 2)->value(), "second");
  // Another coordinator's later write (its clock a few ms on) wins too.
  absl::SleepFor(absl::Milliseconds(3));
  ASSERT_TRUE(b->coordinator->Write(0, "k", Value("third"), 2).ok());
  EXPECT_EQ(a->coordinator->Read(0, "k", 3)->value(), "third");
  pb::Record tombstone;
  tombstone.set_tombstone(true);
  ASSERT_TRUE(a->coordinator->Write(0, "k", tombstone, 3).ok());
  EXPECT_TRUE(absl::IsNotFound(b->coordinator->Read(0, "k", 3).status()));
}

TEST_F(CoordinatorTest, WithOneNodeDownW2SucceedsW3FailsWithNoQuorum) {
  Node* a = Start("a");
  Node* b = Start("b");
  Node* c = Start("c");
  Gossip(5);
  for (int i = 0; i < 50; i++) {
    ASSERT_TRUE(a->coordinator->Write(0, absl::StrCat("k", i), Value("before"), 2).ok());
  }
  Kill(c);
  // Before the failure is detected: the call to c fails, W=2 still holds.
  ASSERT_TRUE(a->coordinator->Write(0, "early", Value("x"), 2).ok());
  Gossip(20);
  ASSERT_FALSE(a->membership->IsAlive("c"));
  for (int i = 0; i < 50; i++) {
    ASSERT_TRUE(a->coordinator->Write(0, absl::StrCat("k", i), Value("after"), 2).ok());
    auto r = b->coordinator->Read(0, absl::StrCat("k", i), 2);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->value(), "after");
  }
  absl::Status s = a->coordinator->Write(0, "k0", Value("all three"), 3);
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_EQ(s.message(), "NOQUORUM write needs 3 replicas, 2 up (N=3)");
  EXPECT_EQ(b->coordinator->Read(0, "k0", 2)->value(), "after");  // nothing was written
  auto r3 = a->coordinator->Read(0, "k0", 3);
  EXPECT_EQ(r3.status().message(), "NOQUORUM read needs 3 replicas, 2 up (N=3)");
  EXPECT_GE(a->coordinator->stats().quorum_failures.load(), 2u);
}

}  // namespace
}  // namespace cairn::cluster
