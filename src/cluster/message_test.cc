#include "cluster/message.h"

#include <gtest/gtest.h>

#include "google/protobuf/util/message_differencer.h"

namespace cairn::cluster {
namespace {

using google::protobuf::util::MessageDifferencer;

pb::Envelope Sample() {
  pb::Envelope env;
  env.set_request_id(42);
  pb::Gossip* g = env.mutable_gossip();
  g->set_from("node-a");
  g->set_cluster_name("test");
  pb::NodeState* n = g->add_nodes();
  n->set_id("node-a");
  n->set_cluster_address("127.0.0.1:7381");
  n->set_rack("r1");
  n->set_weight(1.5);
  n->set_generation(1700000000000);
  n->set_incarnation(3);
  n->set_heartbeat(99);
  n->set_status(pb::NodeState::NORMAL);
  return env;
}

TEST(MessageTest, EveryMessageRoundTripsThroughAFrame) {
  std::vector<pb::Envelope> all;
  all.push_back(Sample());
  pb::Envelope w;
  w.set_request_id(7);
  w.mutable_write()->set_db(3);
  w.mutable_write()->set_key(std::string("k\0ey", 4));
  pb::Record* v = w.mutable_write()->add_versions();
  v->set_value(std::string(100000, '\xff'));
  v->set_expire_at_ms(123);
  v->set_version(1ull << 60);
  pb::ClockEntry* entry = v->add_clock();
  entry->set_node("node-a");
  entry->set_counter(42);
  entry->set_timestamp(1ull << 50);
  all.push_back(w);
  pb::Envelope c;
  c.mutable_coordinate()->set_key("k");
  *c.mutable_coordinate()->mutable_record() = *v;
  *c.mutable_coordinate()->mutable_context()->add_clock() = *entry;
  c.mutable_coordinate()->set_w(2);
  all.push_back(c);
  pb::Envelope h;
  h.mutable_hint()->set_target("node-b");
  *h.mutable_hint()->add_versions() = *v;
  h.mutable_hint()->set_created_ms(99);
  all.push_back(h);
  pb::Envelope t;
  *t.mutable_tombstone_seen()->mutable_tombstone() = *v;
  all.push_back(t);
  pb::Envelope r;
  r.set_is_reply(true);
  r.mutable_read_result()->set_found(true);
  r.mutable_read_result()->add_versions()->set_tombstone(true);
  all.push_back(r);
  pb::Envelope s;
  s.mutable_scan_result()->add_keys("a");
  s.mutable_scan_result()->add_keys("");
  s.mutable_scan_result()->set_next("b");
  all.push_back(s);
  pb::Envelope e;
  e.mutable_error()->set_code(pb::Error::UNAVAILABLE);
  e.mutable_error()->set_message("read-only");
  all.push_back(e);

  std::string stream;
  for (const auto& m : all) AppendFrame(m, &stream);
  // Whole, and fed one byte at a time: the same messages.
  for (size_t step : {stream.size(), size_t{1}}) {
    std::string buffer;
    size_t pos = 0, next = 0;
    std::vector<pb::Envelope> got;
    while (pos < stream.size() || !buffer.empty()) {
      if (pos < stream.size()) {
        const size_t n = std::min(step, stream.size() - pos);
        buffer.append(stream, pos, n);
        pos += n;
      }
      pb::Envelope env;
      size_t consumed, wanted;
      absl::Status error;
      const FrameResult res = ParseFrame(buffer, &env, &consumed, &wanted, &error);
      ASSERT_NE(res, FrameResult::kError) << error;
      if (res == FrameResult::kNeedMore) {
        ASSERT_GT(wanted, buffer.size());
        if (pos == stream.size()) FAIL() << "stream ended inside a frame";
        continue;
      }
      got.push_back(env);
      buffer.erase(0, consumed);
      next++;
    }
    ASSERT_EQ(got.size(), all.size());
    for (size_t i = 0; i < all.size(); i++) {
      EXPECT_TRUE(MessageDifferencer::Equals(got[i], all[i])) << i;
    }
  }
}

TEST(MessageTest, OversizedAndMalformedFramesAreErrors) {
  pb::Envelope env;
  size_t consumed, wanted;
  absl::Status error;
  // An announced 4 GiB frame is refused from its header alone.
  EXPECT_EQ(ParseFrame(std::string("\xff\xff\xff\xff", 4), &env, &consumed, &wanted, &error),
            FrameResult::kError);
  EXPECT_NE(error.message().find("cluster frame of 4294967295 bytes"), std::string::npos);
  // Bytes that are not an Envelope (a truncated varint field).
  std::string bad("\x00\x00\x00\x02\x08\xff", 6);
  EXPECT_EQ(ParseFrame(bad, &env, &consumed, &wanted, &error), FrameResult::kError);
  // A header announcing more than there is: wait.
  EXPECT_EQ(ParseFrame(std::string("\x00\x00\x01\x00", 4), &env, &consumed, &wanted, &error),
            FrameResult::kNeedMore);
  EXPECT_EQ(wanted, 4u + 256u);
}

}  // namespace
}  // namespace cairn::cluster
