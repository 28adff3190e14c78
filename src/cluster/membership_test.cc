// Gossip membership between nodes on loopback (real transports), with a test clock so
// failure detection is deterministic.
#include "cluster/membership.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cluster/asio_transport.h"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"

namespace cairn::cluster {
namespace {

std::atomic<int64_t> test_clock{1'000'000};

// The transport is declared last so it is destroyed first: its handler uses membership.
struct Node {
  std::unique_ptr<Membership> membership;
  std::string address;
  std::unique_ptr<AsioTransport> transport;
};

// A node whose transport answers gossip through its membership.
std::unique_ptr<Node> StartNode(const std::string& id, const std::vector<std::string>& seeds,
                                uint64_t generation, const std::string& rack = "",
                                bool instant_join = true, const std::string& replace = "",
                                absl::Duration log_interval = absl::Seconds(30)) {
  auto node = std::make_unique<Node>();
  Node* raw = node.get();
  AsioTransport::Options t;
  t.port = 0;
  auto transport = AsioTransport::Start(t, [raw](pb::Envelope request, Transport::Respond respond) {
    pb::Envelope reply;
    if (request.has_gossip() && raw->membership != nullptr) {
      *reply.mutable_gossip() = raw->membership->HandleGossip(request.gossip());
    }
    respond(std::move(reply));
  });
  EXPECT_TRUE(transport.ok());
  node->transport = std::move(*transport);
  node->address = absl::StrCat("127.0.0.1:", node->transport->port());
  pb::NodeState self;
  self.set_id(id);
  self.set_cluster_address(node->address);
  self.set_rack(rack);
  self.set_weight(1.0);
  self.set_generation(generation);
  self.set_incarnation(1);
  Membership::Options o;
  o.seeds = seeds;
  o.instant_join = instant_join;
  o.replace = replace;
  o.now_ms = [] { return test_clock.load(); };
  o.rpc_timeout = absl::Milliseconds(300);
  o.member_log_interval = log_interval;
  node->membership = std::make_unique<Membership>(o, self, node->transport.get());
  return node;
}

// Gossip rounds on every node, the clock moving 1 s per round.
void Rounds(std::vector<Node*> nodes, int rounds) {
  for (int r = 0; r < rounds; r++) {
    test_clock += 1000;
    for (Node* n : nodes) n->membership->GossipRound();
  }
}

std::set<std::string> AliveIds(Membership& m) {
  std::set<std::string> out;
  for (const auto& info : m.Members()) {
    if (info.alive) out.insert(info.state.id());
  }
  return out;
}

TEST(MembershipTest, NodesFindEachOtherThroughASeedAndAgreeOnTheRing) {
  auto a = StartNode("a", {}, 1);
  auto b = StartNode("b", {a->address}, 2);
  auto c = StartNode("c", {a->address}, 3);
  auto d = StartNode("d", {a->address, b->address}, 4);
  std::vector<Node*> all = {a.get(), b.get(), c.get(), d.get()};
  Rounds(all, 6);
  for (Node* n : all) {
    EXPECT_EQ(AliveIds(*n->membership), (std::set<std::string>{"a", "b", "c", "d"}))
        << n->membership->self_id();
    EXPECT_EQ(n->membership->ring()->members().size(), 4u);
  }
  // The same members give the same ring everywhere.
  for (Node* n : all) {
    const auto& ring = *n->membership->ring();
    const auto& reference = *a->membership->ring();
    ASSERT_EQ(ring.tokens().size(), reference.tokens().size());
    for (size_t i = 0; i < ring.tokens().size(); i += 97) {
      EXPECT_EQ(ring.tokens()[i].position, reference.tokens()[i].position);
    }
    EXPECT_EQ(n->membership->AddressOf("c"), c->address);
  }
}

TEST(MembershipTest, ACrashedNodeIsMarkedDownThenUpWhenItComesBack) {
  auto a = StartNode("a", {}, 1);
  auto b = StartNode("b", {a->address}, 2);
  auto c = StartNode("c", {a->address}, 3);
  Rounds({a.get(), b.get(), c.get()}, 5);
  ASSERT_TRUE(a->membership->IsAlive("c"));
  const std::string c_address = c->address;
  c.reset();  // kill: no LEAVING message
  // Heartbeats reach a node directly or relayed (the last one may arrive rounds after the
  // crash), and suspicion tolerates a 3 s pause (Membership::Options::detector): down
  // within 20 s of silence, not at the first missed beat.
  Rounds({a.get(), b.get()}, 20);
  EXPECT_FALSE(a->membership->IsAlive("c"));
  EXPECT_FALSE(b->membership->IsAlive("c"));
  // Still in the ring: a down member keeps its ranges.
  EXPECT_EQ(a->membership->ring()->members().size(), 3u);
  // Restarted on another port, with the next incarnation.
  auto c2 = StartNode("c", {a->address}, 3);
  Rounds({a.get(), b.get(), c2.get()}, 4);
  EXPECT_TRUE(a->membership->IsAlive("c"));
  EXPECT_TRUE(b->membership->IsAlive("c"));
  EXPECT_EQ(a->membership->AddressOf("c"), c2->address);
}

// The log lines written while it lives (the default logger's, captured).
class LogCapture {
 public:
  LogCapture()
      : previous_(spdlog::default_logger()),
        sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(out_)) {
    auto logger = std::make_shared<spdlog::logger>("capture", sink_);
    logger->set_pattern("%v");
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  // The lines that contain text.
  std::vector<std::string> Lines(const std::string& text) {
    spdlog::default_logger()->flush();
    std::vector<std::string> out;
    std::istringstream in(out_.str());
    for (std::string line; std::getline(in, line);) {
      if (line.find(text) != std::string::npos) out.push_back(line);
    }
    return out;
  }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

// A member going down and up again and again: at most member_log_burst (3) up/down lines
// within the interval (an hour here), the changes in between counted by the next line,
// which tells the state the member settled in once the interval allows.
TEST(MembershipTest, AFlappingMemberIsLoggedAtMostABurstPerInterval) {
  LogCapture log;
  auto a = StartNode("a", {}, 1, "", true, "", absl::Hours(1));
  auto b = StartNode("b", {a->address}, 2);
  Rounds({a.get(), b.get()}, 5);
  ASSERT_TRUE(a->membership->IsAlive("b"));
  const int64_t start = test_clock.load();
  int changes = 1;  // up
  for (int cycle = 0; cycle < 6; cycle++) {
    b.reset();
    for (int i = 0; i < 600 && a->membership->IsAlive("b"); i++) Rounds({a.get()}, 1);
    ASSERT_FALSE(a->membership->IsAlive("b"));
    b = StartNode("b", {a->address}, 2);
    for (int i = 0; i < 10 && !a->membership->IsAlive("b"); i++) Rounds({a.get(), b.get()}, 1);
    ASSERT_TRUE(a->membership->IsAlive("b"));
    changes += 2;
  }
  const int64_t flapping_s = (test_clock.load() - start) / 1000;
  ASSERT_LT(flapping_s, 3600);
  const auto during = log.Lines("cluster: member b is ");
  EXPECT_EQ(during.size(), 3u) << changes << " changes in " << flapping_s << " s; lines:\n"
                               << absl::StrJoin(during, "\n");
  // The first three changes are logged as they happen: up, down, up.
  ASSERT_GE(during.size(), 3u);
  EXPECT_NE(during[1].find("member b is down"), std::string::npos) << during[1];
  EXPECT_NE(during[2].find("member b is up"), std::string::npos) << during[2];
  Rounds({a.get(), b.get()}, 3601);  // settled: up
  const auto lines = log.Lines("cluster: member b is ");
  ASSERT_EQ(lines.size(), 4u) << absl::StrJoin(lines, "\n");
  EXPECT_NE(lines.back().find(absl::StrCat("member b is up (phi")), std::string::npos)
      << lines.back();
  EXPECT_NE(lines.back().find(absl::StrCat("; ", changes - 3, " up/down changes before it")),
            std::string::npos)
      << lines.back();
  // Quiet for an interval: the next change is logged at once.
  Rounds({a.get(), b.get()}, 3601);
  b.reset();
  for (int i = 0; i < 600 && a->membership->IsAlive("b"); i++) Rounds({a.get()}, 1);
  const auto after = log.Lines("cluster: member b is ");
  ASSERT_EQ(after.size(), 5u);
  EXPECT_NE(after.back().find("member b is down"), std::string::npos) << after.back();
}

TEST(MembershipTest, ALeavingNodeIsDownAtOnceButKeepsItsRanges) {
  // Found in review: dropping a node that stops cleanly (to restart) from the ring moved
  // its ranges to nodes that do not hold the data.
  auto a = StartNode("a", {}, 1);
  auto b = StartNode("b", {a->address}, 2);
  Rounds({a.get(), b.get()}, 4);
  ASSERT_EQ(a->membership->ring()->members().size(), 2u);
  b->membership->Stop();
  EXPECT_FALSE(a->membership->IsAlive("b"));
  EXPECT_EQ(a->membership->ring()->members().size(), 2u);
}

TEST(MembershipTest, AnotherClustersGossipIsIgnored) {
  auto a = StartNode("a", {}, 1);
  pb::Gossip foreign;
  foreign.set_cluster_name("other");
  pb::NodeState* s = foreign.add_nodes();
  s->set_id("intruder");
  s->set_status(pb::NodeState::NORMAL);
  a->membership->HandleGossip(foreign);
  EXPECT_EQ(a->membership->Members().size(), 1u);
}

}  // namespace
}  // namespace cairn::cluster

namespace cairn::cluster {
namespace {

uint64_t HeartbeatOf(Membership& m, const std::string& id) {
  for (const auto& info : m.Members()) {
    if (info.state.id() == id) return info.state.heartbeat();
  }
  return 0;
}

std::string StatusOf(Membership& m, const std::string& id) {
  for (const auto& info : m.Members()) {
    if (info.state.id() == id) return MemberStatusName(info.state.status());
  }
  return "";
}

// Each node marks ready whatever change it sees, until none is pending anywhere.
void CompleteChanges(std::vector<Node*> nodes) {
  for (int i = 0; i < 30; i++) {
    bool pending = false;
    for (Node* n : nodes) {
      const auto p = n->membership->placement();
      if (p.HasPending()) n->membership->SetReady(p.fingerprint);
      pending |= p.HasPending();
    }
    if (!pending) return;
    Rounds(nodes, 1);
  }
}

TEST(MembershipTopologyTest, AChangeMadeAgainAfterACancelIsAnotherChange) {
  auto a = StartNode("a", {}, 1);
  auto b = StartNode("b", {a->address}, 2);
  auto c = StartNode("c", {a->address}, 3);
  std::vector<Node*> all = {a.get(), b.get(), c.get()};
  Rounds(all, 4);
  ASSERT_TRUE(c->membership->Reweight(2).ok());
  Rounds(all, 2);
  const uint64_t first = a->membership->placement().fingerprint;
  ASSERT_NE(first, 0u);
  EXPECT_EQ(b->membership->placement().fingerprint, first);
  // Another change is refused meanwhile.
  EXPECT_EQ(a->membership->Decommission().code(), absl::StatusCode::kFailedPrecondition);
  a->membership->SetReady(first);
  b->membership->SetReady(first);
  ASSERT_TRUE(c->membership->Cancel().ok());
  Rounds(all, 2);
  EXPECT_FALSE(a->membership->placement().HasPending());
  ASSERT_TRUE(c->membership->Reweight(2).ok());
  Rounds(all, 2);
  const uint64_t second = a->membership->placement().fingerprint;
  EXPECT_NE(second, 0u);
  EXPECT_NE(second, first);  // a and b's readiness for the first does not complete it
  c->membership->SetReady(second);
  Rounds(all, 2);
  EXPECT_TRUE(c->membership->placement().HasPending());
  a->membership->SetReady(second);
  b->membership->SetReady(second);
  Rounds(all, 3);
  for (Node* n : all) {
    EXPECT_FALSE(n->membership->placement().HasPending()) << n->membership->self_id();
  }
  for (const auto& info : a->membership->Members()) {
    if (info.state.id() == "c") {
      EXPECT_EQ(info.state.weight(), 2);
    }
  }
}

TEST(MembershipTopologyTest, ALeavingNodeThatDiesAfterTheOthersAreReadyStillLeavesQuietly) {
  auto a = StartNode("a", {}, 1);
  auto b = StartNode("b", {a->address}, 2);
  auto c = StartNode("c", {a->address}, 3);
  std::vector<Node*> all = {a.get(), b.get(), c.get()};
  Rounds(all, 4);
  ASSERT_TRUE(c->membership->Decommission().ok());
  Rounds(all, 2);
  const uint64_t change = a->membership->placement().fingerprint;
  ASSERT_NE(change, 0u);
  c->transport->Shutdown();  // c is gone before it hears that the others are ready
  a->membership->SetReady(change);
  b->membership->SetReady(change);
  std::vector<Node*> live = {a.get(), b.get()};
  Rounds(live, 3);
  EXPECT_EQ(StatusOf(*a->membership, "c"), "left");
  EXPECT_EQ(StatusOf(*b->membership, "c"), "left");
  EXPECT_FALSE(a->membership->placement().HasPending());
  EXPECT_EQ(a->membership->ring()->members().size(), 2u);
  // No storm of announcements: a round bumps a's heartbeat about once.
  const uint64_t before = HeartbeatOf(*a->membership, "a");
  Rounds(live, 5);
  EXPECT_LE(HeartbeatOf(*a->membership, "a") - before, 10u);
}

TEST(MembershipTopologyTest, ADeadMemberCanBeRemovedDuringAChangeAndANewGenerationWaits) {
  auto a = StartNode("a", {}, 1);
  auto b = StartNode("b", {a->address}, 2);
  auto c = StartNode("c", {a->address}, 3);
  auto d = StartNode("d", {a->address}, 4);
  std::vector<Node*> all = {a.get(), b.get(), c.get(), d.get()};
  Rounds(all, 4);
  ASSERT_TRUE(c->membership->Reweight(3).ok());
  Rounds(all, 2);
  d->transport->Shutdown();
  std::vector<Node*> live = {a.get(), b.get(), c.get()};
  for (int i = 0; i < 40 && a->membership->IsAlive("d"); i++) Rounds(live, 1);  // seen down
  ASSERT_FALSE(a->membership->IsAlive("d"));
  EXPECT_EQ(a->membership->Remove("c").code(), absl::StatusCode::kFailedPrecondition);  // alive
  EXPECT_EQ(a->membership->Remove("a").code(), absl::StatusCode::kInvalidArgument);
  const absl::Status removed = a->membership->Remove("d");  // during c's reweight
  ASSERT_TRUE(removed.ok()) << removed;
  // Every node sees the same change (views converge), is ready for it, and it completes.
  auto same_change = [&] {
    const uint64_t fp = a->membership->placement().fingerprint;
    return fp != 0 && b->membership->placement().fingerprint == fp &&
           c->membership->placement().fingerprint == fp;
  };
  for (int i = 0; i < 10 && !same_change(); i++) Rounds(live, 1);
  ASSERT_TRUE(same_change());
  // Each node says it is ready for the change it sees, as its transfers would (a node
  // that completes first changes the others' rings: they become ready again).
  CompleteChanges(live);
  EXPECT_EQ(StatusOf(*b->membership, "d"), "removed");
  EXPECT_FALSE(b->membership->placement().HasPending())
      << b->membership->PendingChange() << " | a: " << a->membership->PendingChange()
      << " | c: " << c->membership->PendingChange() << " | c status at b: "
      << StatusOf(*b->membership, "c");
  EXPECT_EQ(b->membership->ring()->members().size(), 3u);

  // A new generation of a member that was not removed is not let in.
  auto b2 = StartNode("c", {a->address}, 99);  // c's id, an empty directory
  std::vector<Node*> with_new = {a.get(), b.get(), b2.get()};
  Rounds(with_new, 3);
  EXPECT_FALSE(b2->membership->Problem().empty());
  for (const auto& info : a->membership->Members()) {
    if (info.state.id() == "c") {
      EXPECT_EQ(info.state.generation(), 3u);
    }
  }
}

// The positions of a member's tokens in a ring.
std::vector<uint64_t> TokensOf(const Ring& ring, const std::string& id) {
  std::vector<uint64_t> out;
  const int index = ring.IndexOf(id);
  for (const auto& t : ring.tokens()) {
    if (static_cast<int>(t.member) == index) out.push_back(t.position);
  }
  return out;
}

TEST(MembershipTopologyTest, AReplacementTakesTheDeadMembersTokensAndNothingElseMoves) {
  auto a = StartNode("a", {}, 1);
  auto b = StartNode("b", {a->address}, 2);
  auto c = StartNode("c", {a->address}, 3);
  auto d = StartNode("d", {a->address}, 4);
  std::vector<Node*> all = {a.get(), b.get(), c.get(), d.get()};
  Rounds(all, 4);
  const auto before = a->membership->ring();
  ASSERT_EQ(before->members().size(), 4u);
  const std::vector<uint64_t> d_tokens = TokensOf(*before, "d");
  ASSERT_FALSE(d_tokens.empty());
  d->transport->Shutdown();
  std::vector<Node*> live = {a.get(), b.get(), c.get()};
  for (int i = 0; i < 40 && a->membership->IsAlive("d"); i++) Rounds(live, 1);
  ASSERT_FALSE(a->membership->IsAlive("d"));

  auto e = StartNode("e", {a->address}, 5, "", /*instant_join=*/false);
  live.push_back(e.get());
  Rounds(live, 3);
  EXPECT_EQ(StatusOf(*a->membership, "e"), "joining");
  // e heard of d through gossip: d counts as alive there until its silence shows.
  EXPECT_EQ(e->membership->Replace("d").code(), absl::StatusCode::kFailedPrecondition);
  for (int i = 0; i < 40 && e->membership->IsAlive("d"); i++) Rounds(live, 1);
  EXPECT_EQ(e->membership->Replace("zz").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(e->membership->Replace("b").code(), absl::StatusCode::kFailedPrecondition);  // alive
  EXPECT_EQ(a->membership->Replace("d").code(), absl::StatusCode::kFailedPrecondition);  // not new
  auto planned = e->membership->ReplacementRing("d");
  ASSERT_TRUE(planned.ok()) << planned.status();
  EXPECT_EQ(TokensOf(**planned, "e"), d_tokens);
  const absl::Status replaced = e->membership->Replace("d");
  ASSERT_TRUE(replaced.ok()) << replaced;
  EXPECT_EQ(e->membership->Replace("d").code(), absl::StatusCode::kFailedPrecondition);
  CompleteChanges(live);
  for (Node* n : live) {
    EXPECT_FALSE(n->membership->placement().HasPending()) << n->membership->self_id();
    EXPECT_EQ(StatusOf(*n->membership, "d"), "removed");
    EXPECT_EQ(StatusOf(*n->membership, "e"), "normal");
  }
  // The same tokens, so every key's replicas are the same but for e in d's place.
  const auto after = b->membership->ring();
  ASSERT_EQ(after->members().size(), 4u);
  EXPECT_EQ(TokensOf(*after, "e"), d_tokens);
  for (uint64_t pos = 0, i = 0; i < 2000; i++, pos += 0x9E3779B97F4A7C15ull) {
    std::vector<std::string> was, is;
    for (int m : before->PreferenceListAt(pos, 3)) {
      was.push_back(before->members()[m].id == "d" ? "e" : before->members()[m].id);
    }
    for (int m : after->PreferenceListAt(pos, 3)) is.push_back(after->members()[m].id);
    ASSERT_EQ(was, is) << pos;
  }
}

std::string PlacedAs(Membership& m, const std::string& id) {
  for (const auto& info : m.Members()) {
    if (info.state.id() == id) return info.state.placed_as();
  }
  return "?";
}

TEST(MembershipTopologyTest, ANodeStartedToReplaceWaitsOutsideTheRingsThenTakesThePlace) {
  auto a = StartNode("a", {}, 1);
  auto b = StartNode("b", {a->address}, 2);
  auto c = StartNode("c", {a->address}, 3);
  auto d = StartNode("d", {a->address}, 4);
  std::vector<Node*> all = {a.get(), b.get(), c.get(), d.get()};
  Rounds(all, 4);
  const std::vector<uint64_t> d_tokens = TokensOf(*a->membership->ring(), "d");
  d->transport->Shutdown();
  std::vector<Node*> live = {a.get(), b.get(), c.get()};
  for (int i = 0; i < 40 && a->membership->IsAlive("d"); i++) Rounds(live, 1);
  // Two new nodes, both started to replace d: one takes the place, the other joins.
  auto e = StartNode("e", {a->address}, 5, "", /*instant_join=*/false, /*replace=*/"d");
  auto f = StartNode("f", {a->address}, 6, "", /*instant_join=*/false, /*replace=*/"d");
  live.push_back(e.get());
  live.push_back(f.get());
  Rounds(live, 1);
  // Not in any ring while d looks alive to them: no change under way because of them.
  EXPECT_FALSE(a->membership->placement().HasPending()) << a->membership->PendingChange();
  for (int i = 0; i < 40 && (e->membership->IsAlive("d") || f->membership->IsAlive("d")); i++) {
    Rounds(live, 1);
  }
  Rounds(live, 3);
  CompleteChanges(live);
  EXPECT_EQ(StatusOf(*a->membership, "d"), "removed");
  EXPECT_EQ(StatusOf(*a->membership, "e"), "normal");
  EXPECT_EQ(StatusOf(*a->membership, "f"), "normal");
  const std::string e_as = PlacedAs(*a->membership, "e"), f_as = PlacedAs(*a->membership, "f");
  EXPECT_TRUE((e_as == "d") != (f_as == "d")) << e_as << " / " << f_as;
  const std::string winner = e_as == "d" ? "e" : "f";
  EXPECT_EQ(TokensOf(*b->membership->ring(), winner), d_tokens);
  EXPECT_EQ(b->membership->ring()->members().size(), 5u);
  EXPECT_EQ((winner == "e" ? f : e)->membership->Problem(), "");  // it joined: no problem left
  for (Node* n : live) EXPECT_FALSE(n->membership->placement().HasPending()) << n->membership->self_id();
}

TEST(MembershipTopologyTest, ANodeWaitingToReplaceNeitherHoldsUpNorJoinsAnotherChange) {
  auto a = StartNode("a", {}, 1);
  auto b = StartNode("b", {a->address}, 2);
  auto c = StartNode("c", {a->address}, 3);
  auto d = StartNode("d", {a->address}, 4);
  std::vector<Node*> all = {a.get(), b.get(), c.get(), d.get()};
  Rounds(all, 4);
  // d is alive: e waits. It has a ring from the start (of itself alone).
  auto e = StartNode("e", {a->address}, 5, "", /*instant_join=*/false, /*replace=*/"d");
  ASSERT_NE(e->membership->ring(), nullptr);
  all.push_back(e.get());
  Rounds(all, 2);
  ASSERT_TRUE(c->membership->Reweight(2).ok());
  for (int i = 0; i < 10 && a->membership->placement().HasPending(); i++) {
    for (Node* n : {a.get(), b.get(), c.get(), d.get()}) {  // e never says it is ready
      const auto p = n->membership->placement();
      if (p.HasPending()) n->membership->SetReady(p.fingerprint);
    }
    Rounds(all, 1);
  }
  EXPECT_FALSE(a->membership->placement().HasPending()) << a->membership->PendingChange();
  EXPECT_EQ(StatusOf(*a->membership, "e"), "joining");  // still waiting, in no ring
  EXPECT_EQ(StatusOf(*e->membership, "e"), "joining");
  EXPECT_EQ(a->membership->ring()->members().size(), 4u);
  EXPECT_EQ(PlacedAs(*e->membership, "e"), "d");
}

}  // namespace
}  // namespace cairn::cluster
