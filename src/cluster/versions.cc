#include "cluster/versions.h"

#include <xxhash.h>

#include <algorithm>

#include "cluster/hlc.h"

namespace cairn::cluster {
namespace {

bool SameRecord(const pb::Record& a, const pb::Record& b) {
  return a.version() == b.version() && a.tombstone() == b.tombstone() && a.value() == b.value() &&
         a.type() == b.type() && a.expire_at_ms() == b.expire_at_ms() &&
         Compare(a.clock(), b.clock()) == ClockOrder::kEqual;
}

// How incoming relates to a stored version: kAfter if it replaces it, kBefore (or
// kEqual) if it is obsolete, kConcurrent if both stay. Records without clocks, and the
// (never expected) equal clocks of two different writes, fall back to last writer wins.
ClockOrder Relate(const pb::Record& incoming, const pb::Record& stored) {
  ClockOrder o = Compare(incoming.clock(), stored.clock());
  if (o == ClockOrder::kEqual && !SameRecord(incoming, stored)) {
    return Supersedes(incoming, stored) ? ClockOrder::kAfter : ClockOrder::kBefore;
  }
  return o;
}

}  // namespace

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
  return true;
}

void Canonicalize(std::vector<pb::Record>* versions) {
  std::sort(versions->begin(), versions->end(),
            [](const pb::Record& a, const pb::Record& b) { return Supersedes(a, b); });
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
    if (best == nullptr || Supersedes(r, *best)) best = &r;
  }
  return best;
}

Clock MergedClock(const std::vector<pb::Record>& versions) {
  Clock out;
  for (const pb::Record& r : versions) Merge(&out, r.clock());
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
