#include "cluster/versions.h"

#include <xxhash.h>

#include <algorithm>

#include "cluster/hlc.h"

namespace cairn::cluster {
namespace {

bool SameDot(const pb::Record& a, const pb::Record& b) {
  return a.has_dot() == b.has_dot() &&
         (!a.has_dot() || (a.dot().node() == b.dot().node() && a.dot().counter() == b.dot().counter()));
}

bool SameRecord(const pb::Record& a, const pb::Record& b) {
  return a.version() == b.version() && a.tombstone() == b.tombstone() && a.value() == b.value() &&
         a.type() == b.type() && a.expire_at_ms() == b.expire_at_ms() && SameDot(a, b) &&
         Compare(a.clock(), b.clock()) == ClockOrder::kEqual;
}

ClockOrder ByCanonicalOrder(const pb::Record& a, const pb::Record& b) {
  return CanonicalBefore(a, b) ? ClockOrder::kAfter : ClockOrder::kBefore;
}

}  // namespace

bool CanonicalBefore(const pb::Record& a, const pb::Record& b) {
  if (Supersedes(a, b)) return true;
  if (Supersedes(b, a)) return false;
  if (a.type() != b.type()) return a.type() > b.type();
  if (a.expire_at_ms() != b.expire_at_ms()) return a.expire_at_ms() > b.expire_at_ms();
  if (a.dot().node() != b.dot().node()) return a.dot().node() > b.dot().node();
  if (a.dot().counter() != b.dot().counter()) return a.dot().counter() > b.dot().counter();
  return ClockString(a.clock()) > ClockString(b.clock());
}

Clock FullClock(const pb::Record& r) {
  Clock c = r.clock();
  if (r.has_dot()) Advance(&c, r.dot().node(), r.dot().counter(), r.dot().timestamp());
  return c;
}

Clock NormalizeClock(const Clock& clock) {
  Clock out;
  for (const pb::ClockEntry& e : clock) Advance(&out, e.node(), e.counter(), e.timestamp());
  return out;
}

ClockOrder Relate(const pb::Record& a, const pb::Record& b) {
  if (SameRecord(a, b)) return ClockOrder::kEqual;
  if (a.has_dot() && b.has_dot()) {
    if (SameDot(a, b)) return ByCanonicalOrder(a, b);  // one write, two contents: never expected
    const bool a_covers_b = CounterOf(a.clock(), b.dot().node()) >= b.dot().counter();
    const bool b_covers_a = CounterOf(b.clock(), a.dot().node()) >= a.dot().counter();
    if (a_covers_b != b_covers_a) return a_covers_b ? ClockOrder::kAfter : ClockOrder::kBefore;
    return a_covers_b ? ByCanonicalOrder(a, b) : ClockOrder::kConcurrent;
  }
  const ClockOrder o = Compare(FullClock(a), FullClock(b));
  return o == ClockOrder::kEqual ? ByCanonicalOrder(a, b) : o;
}

bool MergeVersion(std::vector<pb::Record>* versions, const pb::Record& incoming,
                  size_t* dropped) {
  for (const pb::Record& v : *versions) {
    const ClockOrder o = Relate(incoming, v);
    if (o == ClockOrder::kBefore || o == ClockOrder::kEqual) return false;
  }
  std::erase_if(*versions, [&](const pb::Record& v) { return Relate(incoming, v) == ClockOrder::kAfter; });
  versions->push_back(incoming);
  Canonicalize(versions);
  if (versions->size() > kMaxSiblings) {
    if (dropped != nullptr) *dropped += versions->size() - kMaxSiblings;
    versions->resize(kMaxSiblings);
  }
  return true;  // even if incoming was the one trimmed: the versions it superseded went
}

void Canonicalize(std::vector<pb::Record>* versions) {
  std::sort(versions->begin(), versions->end(), CanonicalBefore);
}

bool SameVersions(const std::vector<pb::Record>& a, const std::vector<pb::Record>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++) {
    if (!SameRecord(a[i], b[i])) return false;
  }
  return true;
}

uint64_t VersionsDigest(const std::vector<pb::Record>& versions) {
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  for (const pb::Record& r : versions) {
    const uint64_t fixed[4] = {r.version(), r.tombstone() ? 1u : 0u, r.type(),
                               static_cast<uint64_t>(r.expire_at_ms())};
    XXH3_64bits_update(state, fixed, sizeof(fixed));
    const uint64_t size = r.value().size();
    XXH3_64bits_update(state, &size, sizeof(size));
    XXH3_64bits_update(state, r.value().data(), r.value().size());
    const uint64_t dot[2] = {r.dot().node().size(), r.dot().counter()};
    XXH3_64bits_update(state, dot, sizeof(dot));
    XXH3_64bits_update(state, r.dot().node().data(), r.dot().node().size());
    for (const pb::ClockEntry& e : r.clock()) {
      XXH3_64bits_update(state, e.node().data(), e.node().size());
      const uint64_t c[2] = {e.node().size(), e.counter()};
      XXH3_64bits_update(state, c, sizeof(c));
    }
  }
  const uint64_t digest = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  return digest;
}

const pb::Record* Resolve(const std::vector<pb::Record>& versions) {
  const pb::Record* best = nullptr;
  for (const pb::Record& r : versions) {
    if (best == nullptr || CanonicalBefore(r, *best)) best = &r;
  }
  return best;
}

Clock MergedClock(const std::vector<pb::Record>& versions) {
  Clock out;
  for (const pb::Record& r : versions) Merge(&out, FullClock(r));
  return out;
}

bool TombstoneCollectable(const std::vector<pb::Record>& versions, const pb::Record& seen,
                          uint64_t now_hlc, uint64_t grace_ms) {
  if (versions.size() != 1 || !seen.tombstone() || !SameRecord(versions[0], seen)) return false;
  const uint64_t written = HybridClock::Physical(seen.version());
  const uint64_t now = HybridClock::Physical(now_hlc);
  return now >= written && now - written >= grace_ms;
}

}  // namespace cairn::cluster
