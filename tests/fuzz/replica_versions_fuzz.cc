// libFuzzer target for what a replica accepts from other nodes and from its own disk
// (docs/cluster.md, "Versions and siblings"), and for the merge of versions itself.
//
// 1. The input as a pb::Versions (a key's versions as stored, and as ReplicaWrite and
//    Hint carry them), however malformed: merging never crashes and keeps an antichain
//    (no kept version supersedes another); every string or collection value either loads
//    into a KeySnapshot or is refused as corruption, and one that loads exports to a value
//    that loads again and exports the same.
// 2. The input as a history of writes, as coordinators make them: each op picks a node
//    and which earlier versions its writer had seen (the context, closed as a version
//    vector is: seeing a node's write means seeing that node's earlier ones), and gets a
//    new dot.
//    Merging the versions in input order, reversed, and rotated gives the same set; it is
//    an antichain; every version is kept or superseded by a kept one; merging any again
//    changes nothing; a write that saw everything supersedes all.
// A violation aborts, which libFuzzer reports as a crash.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "cluster/cluster.pb.h"
#include "cluster/versions.h"
#include "fuzz_util.h"
#include "server/key_snapshot.h"

namespace cairn {
namespace {

using fuzz::Check;
namespace pb = cluster::pb;

// Clocks from the wire are sorted and free of duplicates when nodes send them; make the
// fuzzer's so too, keeping the largest counter of a duplicated node.
void Normalize(pb::Record* r) { *r->mutable_clock() = cluster::NormalizeClock(r->clock()); }

void CheckAntichain(const std::vector<pb::Record>& merged) {
  for (size_t i = 0; i < merged.size(); i++) {
    for (size_t j = 0; j < merged.size(); j++) {
      if (i == j) continue;
      Check(cluster::Relate(merged[i], merged[j]) == cluster::ClockOrder::kConcurrent,
            "kept versions are not concurrent");
    }
    std::vector<pb::Record> again = merged;
    Check(!cluster::MergeVersion(&again, merged[i]), "a kept version merged again changed the set");
  }
}

std::vector<pb::Record> MergeAll(const std::vector<pb::Record>& input) {
  std::vector<pb::Record> merged;
  for (const pb::Record& r : input) cluster::MergeVersion(&merged, r);
  return merged;
}

void CheckParsed(std::vector<pb::Record> input) {
  for (pb::Record& r : input) Normalize(&r);
  CheckAntichain(MergeAll(input));
}

void CheckHistory(const uint8_t* data, size_t size) {
  std::vector<pb::Record> writes;
  uint64_t counter = 0;
  for (size_t i = 0; i + 1 < size && writes.size() < cluster::kMaxSiblings; i += 2) {
    std::vector<pb::Record> seen;
    for (int bit = 0; bit < 8; bit++) {
      if ((data[i + 1] >> bit & 1) && static_cast<size_t>(bit) < writes.size()) {
        seen.push_back(writes[writes.size() - 1 - bit]);
      }
    }
    // A context is a version vector: it covers every write of a node up to its counter,
    // so a writer who saw a node's write saw that node's earlier ones (the model's reads
    // are quorum reads, which return every acknowledged write). Close `seen` under that.
    cluster::Clock context = cluster::MergedClock(seen);
    for (bool grew = true; grew;) {
      grew = false;
      for (const pb::Record& w : writes) {
        if (cluster::CounterOf(context, w.dot().node()) < w.dot().counter()) continue;
        const cluster::Clock before = context;
        cluster::Merge(&context, cluster::FullClock(w));
        grew |= cluster::Compare(context, before) != cluster::ClockOrder::kEqual;
      }
    }
    pb::Record w;
    *w.mutable_clock() = context;
    w.mutable_dot()->set_node(std::string(1, static_cast<char>('a' + data[i] % 4)));
    w.mutable_dot()->set_counter(++counter);
    w.set_version(counter);
    w.set_tombstone(data[i] & 0x80);
    w.set_value(std::to_string(counter));
    writes.push_back(w);
  }
  if (writes.empty()) return;
  const std::vector<pb::Record> merged = MergeAll(writes);
  CheckAntichain(merged);
  std::vector<pb::Record> order = writes;
  std::reverse(order.begin(), order.end());
  Check(cluster::SameVersions(MergeAll(order), merged), "merge depends on arrival order");
  std::rotate(order.begin(), order.begin() + order.size() / 2, order.end());
  const std::vector<pb::Record> rotated = MergeAll(order);
  Check(cluster::SameVersions(rotated, merged), "merge depends on arrival order");
  Check(cluster::VersionsDigest(rotated) == cluster::VersionsDigest(merged), "equal sets digest differently");
  for (const pb::Record& w : writes) {
    bool covered = false;
    for (const pb::Record& m : merged) {
      const auto o = cluster::Relate(m, w);
      covered |= o == cluster::ClockOrder::kAfter || o == cluster::ClockOrder::kEqual;
    }
    Check(covered, "a write is neither kept nor superseded");
    std::vector<pb::Record> again = merged;
    Check(!cluster::MergeVersion(&again, w), "merging a write again changed the set");
  }
  pb::Record all;
  *all.mutable_clock() = cluster::MergedClock(merged);
  all.mutable_dot()->set_node("z");
  all.mutable_dot()->set_counter(++counter);
  std::vector<pb::Record> resolved = merged;
  cluster::MergeVersion(&resolved, all);
  Check(resolved.size() == 1 && resolved[0].dot().node() == "z", "a write that saw all did not supersede all");
}

void CheckSnapshot(const pb::Record& record) {
  server::KeySnapshot snapshot(0, "k", /*now_ms=*/1);
  if (!snapshot.Load(record).ok()) return;  // refused: fine
  auto exported = snapshot.Export();
  Check(exported.ok(), "a loaded value does not export");
  if (!exported->has_value()) return;  // expired
  server::KeySnapshot again(0, "k", 1);
  Check(again.Load(**exported).ok(), "an exported value does not load");
  auto twice = again.Export();
  Check(twice.ok() && twice->has_value() &&
            (*twice)->SerializeAsString() == (*exported)->SerializeAsString(),
        "export is not stable");
}

}  // namespace
}  // namespace cairn

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace pb = cairn::cluster::pb;
  if (size > (1 << 16)) return 0;
  cairn::CheckHistory(data, size);
  pb::Versions versions;
  if (!versions.ParseFromArray(data, static_cast<int>(size)) || versions.versions_size() > 64) {
    return 0;
  }
  std::vector<pb::Record> input(versions.versions().begin(), versions.versions().end());
  for (const pb::Record& r : input) {
    if (r.clock_size() > 64) return 0;
  }
  cairn::CheckParsed(input);
  for (const pb::Record& r : input) cairn::CheckSnapshot(r);
  return 0;
}
