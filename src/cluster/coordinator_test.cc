// Quorum reads and writes between in-process nodes on loopback (real transports and
// gossip, in-memory replica stores, a test clock for failure detection).
#include "cluster/coordinator.h"

#include "base/status.h"

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
                                                     &raw->store, &raw->hlc, /*hints=*/nullptr);
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
  // A version `node` wrote on top of base (its context: base's whole history).
  static pb::Record After(const pb::Record& base, const std::string& node, const std::string& value,
                          uint64_t version) {
    pb::Record r;
    *r.mutable_clock() = FullClock(base);
    r.mutable_dot()->set_node(node);
    r.mutable_dot()->set_counter(version);
    r.set_version(version);
    r.set_value(value);
    return r;
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
  absl::Status s = a->coordinator->Write(0, "k", Value("v"), 2).status();
  EXPECT_EQ(s.message(), "write needs 2 replicas, 1 up (N=3)");
  EXPECT_EQ(KindOf(s), ErrorKind::kNoQuorum);  // the kind is typed, not in the text
  EXPECT_EQ(a->store.size(), 0u);
  EXPECT_EQ(a->coordinator->Read(0, "k", 2).status().message(),
            "read needs 2 replicas, 1 up (N=3)");
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
  absl::Status s = a->coordinator->Write(0, "k0", Value("all three"), 3).status();
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_EQ(s.message(), "write needs 3 replicas, 2 up (N=3)");
  EXPECT_EQ(KindOf(s), ErrorKind::kNoQuorum);
  EXPECT_EQ(b->coordinator->Read(0, "k0", 2)->value(), "after");  // nothing was written
  auto r3 = a->coordinator->Read(0, "k0", 3);
  EXPECT_EQ(r3.status().message(), "read needs 3 replicas, 2 up (N=3)");
  EXPECT_EQ(KindOf(r3.status()), ErrorKind::kNoQuorum);
  EXPECT_GE(a->coordinator->stats().quorum_failures.load(), 2u);
}

TEST_F(CoordinatorTest, AReadRepairsAStaleReplicaBeforeAnsweringWhenAskedTo) {
  Node* a = Start("a");
  Node* b = Start("b");
  Node* c = Start("c");
  Gossip(5);
  auto first = a->coordinator->Write(0, "k", Value("first"), 3);
  ASSERT_TRUE(first.ok()) << first.status();
  // c misses the second write (as if it had been down): only a and b get it.
  const pb::Record second = After(*first, "a", "second", first->version() + 1);
  bool changed;
  ASSERT_TRUE(a->store.Apply(0, "k", {second}, &changed).ok());
  ASSERT_TRUE(b->store.Apply(0, "k", {second}, &changed).ok());
  EXPECT_EQ((*c->store.Read(0, "k"))[0].value(), "first");
  auto r = b->coordinator->Read(0, "k", 2, Coordinator::Repair::kSync);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->value(), "second");
  EXPECT_EQ((*c->store.Read(0, "k"))[0].value(), "second");  // repaired before the answer
  EXPECT_GE(b->coordinator->stats().read_repairs.load(), 1u);
}

TEST_F(CoordinatorTest, AnAsyncReadRepairReachesAMissingReplicaAfterTheAnswer) {
  Node* a = Start("a");
  Node* b = Start("b");
  Node* c = Start("c");
  Gossip(5);
  auto w = a->coordinator->Write(0, "k", Value("v"), 3);
  ASSERT_TRUE(w.ok());
  // c lost the key altogether.
  c->store.Forget(0, "k");
  ASSERT_TRUE(c->store.Read(0, "k")->empty());
  ASSERT_TRUE(b->coordinator->Read(0, "k", 1).ok());
  for (int i = 0; i < 200 && c->store.Read(0, "k")->empty(); i++) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_EQ(c->store.Read(0, "k")->size(), 1u);
  EXPECT_EQ((*c->store.Read(0, "k"))[0].value(), "v");
}

TEST_F(CoordinatorTest, ConcurrentVersionsAreSiblingsUntilAWriteWithTheirContext) {
  Node* a = Start("a");
  Node* b = Start("b");
  Node* c = Start("c");
  Gossip(5);
  auto base = a->coordinator->Write(0, "k", Value("base"), 3);
  ASSERT_TRUE(base.ok());
  // Two versions written on base by different nodes that had not seen each other's.
  const pb::Record left = After(*base, "a", "left", base->version() + 10);
  const pb::Record right = After(*base, "c", "right", base->version() + 5);
  bool changed;
  ASSERT_TRUE(a->store.Apply(0, "k", {left}, &changed).ok());
  ASSERT_TRUE(c->store.Apply(0, "k", {right}, &changed).ok());
  auto v = b->coordinator->ReadVersions(0, "k", 3, Coordinator::Repair::kSync);
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->versions.size(), 2u);
  EXPECT_EQ(b->coordinator->Read(0, "k", 3)->value(), "left");  // last writer wins on RESP
  for (Node* n : {a, b, c}) EXPECT_EQ(n->store.Read(0, "k")->size(), 2u) << n->id;
  // A write with the read's context supersedes both, on every replica.
  pb::Context context;
  *context.mutable_clock() = v->context;
  auto resolved = c->coordinator->Write(0, "k", Value("resolved"), 3, &context);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  for (Node* n : {a, b, c}) {
    auto stored = n->store.Read(0, "k");
    ASSERT_EQ(stored->size(), 1u) << n->id;
    EXPECT_EQ((*stored)[0].value(), "resolved");
  }
  // A write without context through any node supersedes what its coordinator holds.
  ASSERT_TRUE(b->coordinator->Write(0, "k", Value("blind"), 3).ok());
  EXPECT_EQ(a->store.Read(0, "k")->size(), 1u);
}

TEST_F(CoordinatorTest, AWriteWithAnOldContextDoesNotDropAWriteItNeverSaw) {
  // Found in review: with plain vector clocks the coordinating replica's counter made a
  // write with an old context look newer than a write it never saw, and dropped it.
  Node* a = Start("a");
  Start("b");
  Start("c");
  Gossip(5);
  ASSERT_TRUE(a->coordinator->Write(0, "k", Value("read"), 3).ok());
  auto read = a->coordinator->ReadVersions(0, "k", 3);
  ASSERT_TRUE(read.ok());
  ASSERT_TRUE(a->coordinator->Write(0, "k", Value("acknowledged meanwhile"), 3).ok());
  pb::Context context;
  *context.mutable_clock() = read->context;
  ASSERT_TRUE(a->coordinator->Write(0, "k", Value("from the old read"), 3, &context).ok());
  auto now = a->coordinator->ReadVersions(0, "k", 3, Coordinator::Repair::kSync);
  ASSERT_TRUE(now.ok());
  std::vector<std::string> values;
  for (const auto& v : now->versions) values.push_back(v.value());
  std::sort(values.begin(), values.end());
  EXPECT_EQ(values, (std::vector<std::string>{"acknowledged meanwhile", "from the old read"}));
  // A context from the future is refused rather than trusted.
  pb::Context forged;
  Advance(forged.mutable_clock(), "a", UINT64_MAX, 0);
  EXPECT_TRUE(absl::IsInvalidArgument(a->coordinator->Write(0, "k", Value("x"), 2, &forged).status()));
}

TEST_F(CoordinatorTest, ATombstoneStoredByEveryReplicaIsMarkedAndCollectedAfterTheGrace) {
  Node* a = Start("a");
  Node* b = Start("b");
  Node* c = Start("c");
  Gossip(5);
  ASSERT_TRUE(a->coordinator->Write(0, "k", Value("v"), 3).ok());
  pb::Record tombstone;
  tombstone.set_tombstone(true);
  auto t = b->coordinator->Write(0, "k", tombstone, 3);
  ASSERT_TRUE(t.ok());
  const uint64_t far = t->version() + HybridClock::FromMillis(10'000);
  for (Node* n : {a, b, c}) {
    size_t collected = 0;
    for (int i = 0; i < 200 && collected == 0; i++) {  // the marks arrive asynchronously
      collected = *n->store.CollectTombstones(far, 5'000);
      if (collected == 0) absl::SleepFor(absl::Milliseconds(5));
    }
    EXPECT_EQ(collected, 1u) << n->id;
    EXPECT_TRUE(n->store.Read(0, "k")->empty()) << n->id;
  }
}

}  // namespace
}  // namespace cairn::cluster
