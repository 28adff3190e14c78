#include "cluster/anti_entropy.h"

#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "cluster/registers.h"
#include "cluster/ring.h"
#include "cluster/versions.h"
#include "spdlog/spdlog.h"

namespace cairn::cluster {
namespace {

constexpr int kAllDatabases = 2 * kRegisterSpace;
constexpr size_t kScanChunk = 512;
constexpr size_t kRepairChunk = 256;             // keys read and written back per message
constexpr int64_t kServedTreeMs = 120 * 1000;    // how long a tree built for a peer is kept
constexpr size_t kMaxTombstonesPerRound = 100000;  // lone tombstones a round may mark

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

uint64_t KeyHash(int db, std::string_view key) {
  return XXH3_64bits_withSeed(key.data(), key.size(), static_cast<uint64_t>(db) + 1);
}

uint32_t LeafOf(uint64_t key_hash) {
  return static_cast<uint32_t>(key_hash >> 46);  // top 18 bits: 2^18 leaves
}
static_assert(AntiEntropy::kLeaves == (1u << 18));
static_assert(AntiEntropy::kFanout * AntiEntropy::kFanout * AntiEntropy::kFanout == (1u << 18));

// A key's part of its leaf's hash: its identity and its versions.
uint64_t Contribution(uint64_t key_hash, uint64_t digest) {
  return key_hash ^ (digest * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull);
}

// Walks every key of every database in order: fn(db, key, versions); stops at an error.
absl::Status WalkAll(ReplicaStore* store, const std::function<bool()>& stopping,
                     const std::function<void(int, const std::string&, const VersionList&)>& fn) {
  for (int db = 0; db < kAllDatabases; db++) {
    std::string start;
    while (true) {
      if (stopping()) return absl::CancelledError("stopping");
      std::vector<std::pair<std::string, VersionList>> chunk;
      bool more = false;
      CAIRN_RETURN_IF_ERROR(store->Scan(db, start, kScanChunk, &chunk, &more));
      for (const auto& [key, versions] : chunk) fn(db, key, versions);
      if (!more || chunk.empty()) break;
      start = chunk.back().first + std::string(1, '\0');
    }
  }
  return absl::OkStatus();
}

bool Shares(const Ring& ring, int replicas, int db, const std::string& key, int self, int peer) {
  bool has_self = false, has_peer = false;
  for (int m : ring.PreferenceList(PlacementKey(db, key), replicas)) {
    has_self |= m == self;
    has_peer |= m == peer;
  }
  return has_self && has_peer;
}

}  // namespace

AntiEntropy::AntiEntropy(Options options, Membership* membership, Transport* transport,
                         ReplicaStore* store)
    : options_(std::move(options)), membership_(membership), transport_(transport), store_(store) {}

AntiEntropy::~AntiEntropy() { Stop(); }

void AntiEntropy::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void AntiEntropy::Halt() {
  absl::MutexLock l(&mu_);
  stopping_ = true;
}

void AntiEntropy::Stop() {
  Halt();
  if (thread_.joinable()) thread_.join();
}

void AntiEntropy::RequestRound() {
  absl::MutexLock l(&mu_);
  asked_ = true;
}

void AntiEntropy::Loop() {
  int64_t last_round = NowMs();
  while (true) {
    bool asked;
    {
      absl::MutexLock l(&mu_);
      auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || asked_; };
      mu_.AwaitWithTimeout(absl::Condition(&wake), absl::Milliseconds(500));
      if (stopping_) return;
      asked = asked_;
    }
    const bool due = options_.interval > absl::ZeroDuration() &&
                     NowMs() - last_round >= absl::ToInt64Milliseconds(options_.interval);
    if (!asked && !due) continue;
    if (!membership_->Settled()) continue;  // no round during a change: the ring moves
    {
      absl::MutexLock l(&mu_);
      asked_ = false;
    }
    last_round = NowMs();
    Round();
  }
}

void AntiEntropy::Round() {
  const int64_t start = NowMs();
  stats_.running = true;
  const Membership::Placement p = membership_->placement();
  const Ring& ring = *p.current;
  std::vector<std::string> peers;
  for (const Member& m : ring.members()) {
    if (m.id != membership_->self_id() && membership_->IsAlive(m.id)) peers.push_back(m.id);
  }
  // Each peer's tree is built just before its exchange: a tree built at the start of the
  // round would show every key written since as a difference.
  std::shuffle(peers.begin(), peers.end(), std::mt19937_64(static_cast<uint64_t>(NowMs())));
  // Lone tombstones of the first walk, and how many peers confirmed each (KeyId order).
  std::map<KeyId, pb::Record> tombstones;
  std::map<KeyId, int> confirmed;
  bool complete = true;  // every peer exchanged with
  for (const std::string& peer : peers) {
    if (Stopping() || !membership_->Settled() || membership_->placement().ring != p.ring) {
      complete = false;
      break;
    }
    std::map<std::string, Leaves> trees;
    const bool first = &peer == &peers.front();
    if (absl::Status s = BuildTrees(ring, {peer}, &trees,
                                    first && options_.clock != nullptr ? &tombstones : nullptr);
        !s.ok()) {
      spdlog::warn("anti-entropy: {}", s.ToString());
      complete = false;
      break;
    }
    stats_.exchanges++;
    std::map<KeyId, bool> differ;
    if (!Exchange(peer, trees[peer], p, &differ)) {
      stats_.failed_exchanges++;
      complete = false;
      continue;
    }
    // The peer holds each lone tombstone it shares with this node, unless the key
    // differed (or, past the grace period, the peer has none: it collected it).
    const int self = ring.IndexOf(membership_->self_id()), other = ring.IndexOf(peer);
    for (const auto& [k, tombstone] : tombstones) {
      if (!Shares(ring, options_.replicas, k.first, k.second, self, other)) continue;
      auto it = differ.find(k);
      if (it == differ.end() || (it->second && PastGrace(tombstone))) confirmed[k]++;
    }
  }
  // Every other replica confirmed: this node's copy is seen by all (each replica marks
  // its own in its own rounds).
  complete = complete && membership_->Settled() && membership_->placement().ring == p.ring;
  if (marked_.size() > 4 * kMaxTombstonesPerRound) marked_.clear();  // collected by now, mostly
  for (const auto& [k, tombstone] : tombstones) {
    if (!complete) break;
    const size_t others = ring.PreferenceList(PlacementKey(k.first, k.second), options_.replicas).size() - 1;
    if (static_cast<size_t>(confirmed[k]) != others) continue;
    if (store_->MarkTombstoneSeen(k.first, k.second, tombstone).ok()) {
      stats_.tombstones_marked++;
      marked_.insert({k, tombstone.version()});
    }
  }
  stats_.rounds++;
  stats_.last_round_ms = NowMs() - start;
  stats_.running = false;
}

bool AntiEntropy::PastGrace(const pb::Record& tombstone) const {
  if (options_.clock == nullptr) return false;
  const uint64_t written = HybridClock::Physical(tombstone.version());
  const uint64_t now = HybridClock::Physical(options_.clock->Now());
  return now >= written &&
         now - written >= static_cast<uint64_t>(absl::ToInt64Milliseconds(options_.tombstone_grace));
}

absl::Status AntiEntropy::BuildTrees(const Ring& ring, const std::vector<std::string>& peers,
                                     std::map<std::string, Leaves>* trees,
                                     std::map<KeyId, pb::Record>* tombstones) {
  const int self = ring.IndexOf(membership_->self_id());
  std::map<int, Leaves*> by_index;
  for (const std::string& peer : peers) {
    Leaves& leaves = (*trees)[peer];
    leaves.assign(kLeaves, 0);
    const int index = ring.IndexOf(peer);
    if (index >= 0) by_index[index] = &leaves;
  }
  return WalkAll(store_, [this] { return Stopping(); },
                 [&](int db, const std::string& key, const VersionList& versions) {
    std::vector<int> owners = ring.PreferenceList(PlacementKey(db, key), options_.replicas);
    if (std::find(owners.begin(), owners.end(), self) == owners.end()) return;
    if (tombstones != nullptr && versions.size() == 1 && versions[0].tombstone() &&
        tombstones->size() < kMaxTombstonesPerRound &&
        !marked_.contains({KeyId(db, key), versions[0].version()})) {
      tombstones->emplace(KeyId(db, key), versions[0]);
    }
    const uint64_t h = KeyHash(db, key);
    const uint64_t c = Contribution(h, VersionsDigest(versions));
    for (int m : owners) {
      auto it = by_index.find(m);
      if (it != by_index.end()) (*it->second)[LeafOf(h)] ^= c;
    }
  });
}

absl::Status AntiEntropy::KeysIn(const Ring& ring, const std::string& peer,
                                 const std::set<uint32_t>& leaves,
                                 std::map<std::pair<int, std::string>, uint64_t>* out) {
  const int self = ring.IndexOf(membership_->self_id());
  const int other = ring.IndexOf(peer);
  return WalkAll(store_, [this] { return Stopping(); },
                 [&](int db, const std::string& key, const VersionList& versions) {
    const uint64_t h = KeyHash(db, key);
    if (!leaves.contains(LeafOf(h))) return;
    if (!Shares(ring, options_.replicas, db, key, self, other)) return;
    (*out)[{db, key}] = VersionsDigest(versions);
  });
}

std::vector<uint64_t> AntiEntropy::Level(const Leaves& leaves, uint32_t depth,
                                         const std::vector<uint32_t>& parents) {
  // A twig's hash: of its 64 leaves; a branch's: of its 64 twigs' hashes.
  auto twig = [&](uint32_t t) {
    return XXH3_64bits(&leaves[t * kFanout], kFanout * sizeof(uint64_t));
  };
  auto branch = [&](uint32_t b) {
    uint64_t twigs[kFanout];
    for (uint32_t i = 0; i < kFanout; i++) twigs[i] = twig(b * kFanout + i);
    return XXH3_64bits(twigs, sizeof(twigs));
  };
  std::vector<uint64_t> out;
  if (depth == 0) {
    for (uint32_t b = 0; b < kFanout; b++) out.push_back(branch(b));
    return out;
  }
  for (uint32_t p : parents) {
    for (uint32_t i = 0; i < kFanout; i++) {
      out.push_back(depth == 1 ? twig(p * kFanout + i) : leaves[(p * kFanout + i)]);
    }
  }
  return out;
}

absl::StatusOr<pb::AaeReply> AntiEntropy::Serve(const pb::AaeRequest& request) {
  const Membership::Placement p = membership_->placement();
  if (p.HasPending() || p.ring != request.ring()) {
    return absl::FailedPreconditionError("this node serves from another ring, or a change is under way");
  }
  const Ring& ring = *p.current;
  if (ring.IndexOf(request.from()) < 0) return absl::InvalidArgumentError("not a member of the ring");
  pb::AaeReply reply;
  if (request.leaves_size() > static_cast<int>(kLeaves) || request.parents_size() > 4096) {
    return absl::InvalidArgumentError("too many tree nodes in one request");
  }
  if (request.leaves_size() > 0) {
    for (uint32_t leaf : request.leaves()) {
      if (leaf >= kLeaves) return absl::InvalidArgumentError("leaf out of range");
    }
    std::set<uint32_t> leaves(request.leaves().begin(), request.leaves().end());
    std::map<std::pair<int, std::string>, uint64_t> keys;
    CAIRN_RETURN_IF_ERROR(KeysIn(ring, request.from(), leaves, &keys));
    for (const auto& [k, digest] : keys) {
      pb::AaeKey* key = reply.add_keys();
      key->set_db(k.first);
      key->set_key(k.second);
      key->set_digest(digest);
    }
    return reply;
  }
  if (request.depth() > 2) return absl::InvalidArgumentError("depth out of range");
  const uint32_t parents_below = request.depth() == 1 ? kFanout : kFanout * kFanout;
  for (uint32_t parent : request.parents()) {
    if (parent >= parents_below) return absl::InvalidArgumentError("tree node out of range");
  }
  Leaves leaves;
  {
    absl::MutexLock l(&mu_);
    std::erase_if(served_, [](const auto& s) { return NowMs() - s.second.built_ms >= kServedTreeMs; });
    auto it = served_.find(request.from());
    const bool fresh = it != served_.end() && it->second.ring == p.ring &&
                       NowMs() - it->second.built_ms < kServedTreeMs;
    if (fresh && request.depth() > 0) leaves = it->second.leaves;  // depth 0 starts anew
  }
  if (leaves.empty()) {
    std::map<std::string, Leaves> trees;
    CAIRN_RETURN_IF_ERROR(BuildTrees(ring, {request.from()}, &trees));
    leaves = std::move(trees[request.from()]);
    absl::MutexLock l(&mu_);
    Served& s = served_[request.from()];
    s.ring = p.ring;
    s.built_ms = NowMs();
    s.leaves = leaves;
  }
  const std::vector<uint32_t> parents(request.parents().begin(), request.parents().end());
  for (uint64_t h : Level(leaves, request.depth(), parents)) reply.add_hashes(h);
  return reply;
}

absl::StatusOr<pb::Envelope> AntiEntropy::Call(const std::string& peer, pb::Envelope request) {
  stats_.bytes_sent += request.ByteSizeLong();
  auto reply = transport_->CallAndWait(membership_->AddressOf(peer), std::move(request), options_.timeout);
  if (!reply.ok()) return reply.status();
  stats_.bytes_received += reply->ByteSizeLong();
  if (reply->has_error()) return absl::UnavailableError(reply->error().message());
  return reply;
}

bool AntiEntropy::Exchange(const std::string& peer, const Leaves& mine,
                           const Membership::Placement& p, std::map<KeyId, bool>* differing_keys) {
  auto step = [&](uint32_t depth, const std::vector<uint32_t>& parents,
                  const std::vector<uint32_t>& leaves) -> absl::StatusOr<pb::AaeReply> {
    pb::Envelope request;
    pb::AaeRequest* q = request.mutable_aae();
    q->set_from(membership_->self_id());
    q->set_ring(p.ring);
    q->set_depth(depth);
    for (uint32_t n : parents) q->add_parents(n);
    for (uint32_t l : leaves) q->add_leaves(l);
    auto reply = Call(peer, std::move(request));
    if (!reply.ok()) return reply.status();
    if (!reply->has_aae_result()) return absl::UnavailableError("unexpected reply");
    return std::move(*reply->mutable_aae_result());
  };
  // 1-3. Down the tree, level by level, into the nodes that differ.
  std::vector<uint32_t> differing;  // node indices at the current depth
  for (uint32_t depth = 0; depth <= 2; depth++) {
    std::vector<uint32_t> next;
    const size_t per_call = depth == 0 ? 1 : 256;  // parents per message
    const size_t parents = depth == 0 ? 1 : differing.size();
    for (size_t i = 0; i < parents; i += per_call) {
      std::vector<uint32_t> part;
      if (depth > 0) {
        part.assign(differing.begin() + static_cast<long>(i),
                    differing.begin() + static_cast<long>(std::min(differing.size(), i + per_call)));
      }
      auto got = step(depth, part, {});
      const std::vector<uint64_t> ours = Level(mine, depth, part);
      if (!got.ok() || got->hashes_size() != static_cast<int>(ours.size())) return false;
      for (size_t j = 0; j < ours.size(); j++) {
        if (got->hashes(static_cast<int>(j)) == ours[j]) continue;
        next.push_back(depth == 0 ? static_cast<uint32_t>(j)
                                  : part[j / kFanout] * kFanout + static_cast<uint32_t>(j % kFanout));
      }
    }
    differing = std::move(next);
    if (differing.empty()) return true;
  }
  const std::set<uint32_t> leaves(differing.begin(), differing.end());
  stats_.leaves_differing += leaves.size();
  // 3. Keys of the leaves that differ, both sides.
  std::map<std::pair<int, std::string>, uint64_t> theirs, ours;
  std::vector<uint32_t> leaf_list(leaves.begin(), leaves.end());
  {
    auto got = step(0, {}, leaf_list);  // one walk of the peer's keys
    if (!got.ok()) return false;
    for (const pb::AaeKey& k : got->keys()) theirs[{k.db(), k.key()}] = k.digest();
  }
  if (!KeysIn(*p.current, peer, leaves, &ours).ok()) return false;
  std::vector<std::pair<int, std::string>> differ;
  for (const auto& [k, digest] : theirs) {
    auto it = ours.find(k);
    if (it == ours.end() || it->second != digest) differ.push_back(k);
  }
  for (const auto& [k, digest] : ours) {
    if (!theirs.contains(k)) differ.push_back(k);
  }
  for (const auto& k : differ) (*differing_keys)[k] = !theirs.contains(k);
  stats_.keys_compared += theirs.size() + ours.size();
  // 4. Each key that differs: the peer's versions merged here, the merge written back.
  pb::Envelope write;
  size_t write_bytes = 0;
  auto flush = [&]() {
    if (!write.has_write_batch()) return true;
    const bool ok = Call(peer, std::move(write)).ok();
    write = pb::Envelope();
    write_bytes = 0;
    return ok;
  };
  for (size_t i = 0; i < differ.size();) {
    // The ring this exchange compared for must still be the one: a change starting now
    // has transfers that must not miss what is written below.
    const Membership::Placement now = membership_->placement();
    if (now.HasPending() || now.ring != p.ring || Stopping()) return false;
    const size_t end = std::min(differ.size(), i + kRepairChunk);
    pb::Envelope read;
    for (size_t j = i; j < end; j++) {
      pb::ReplicaRead* r = read.mutable_read_batch()->add_reads();
      r->set_db(differ[j].first);
      r->set_key(differ[j].second);
    }
    auto got = Call(peer, std::move(read));
    // A reply may stop early (a size budget): the rest is asked for next.
    if (!got.ok() || !got->has_read_batch_result() || got->read_batch_result().results_size() == 0 ||
        got->read_batch_result().results_size() > static_cast<int>(end - i)) {
      return false;
    }
    const size_t answered = static_cast<size_t>(got->read_batch_result().results_size());
    for (size_t j = i; j < i + answered; j++) {
      const auto& [db, key] = differ[j];
      const pb::ReplicaReadResult& theirs_now = got->read_batch_result().results(static_cast<int>(j - i));
      bool changed = false;
      VersionList versions(theirs_now.versions().begin(), theirs_now.versions().end());
      if (!versions.empty() && !store_->Apply(db, key, versions, &changed).ok()) return false;
      auto merged = store_->Read(db, key);
      if (!merged.ok()) return false;
      if (VersionsDigest(*merged) != VersionsDigest(versions) || changed) stats_.keys_repaired++;
      if (merged->empty() || VersionsDigest(*merged) == VersionsDigest(versions)) continue;
      // A lone tombstone past the grace period stays off a replica that has none: that
      // replica collected it (or never held the key), and would only collect it again.
      if (versions.empty() && merged->size() == 1 && (*merged)[0].tombstone() &&
          PastGrace((*merged)[0])) {
        continue;
      }
      pb::ReplicaWrite* w = write.mutable_write_batch()->add_writes();
      w->set_db(db);
      w->set_key(key);
      for (const pb::Record& r : *merged) *w->add_versions() = r;
      write_bytes += w->ByteSizeLong();
      if (write_bytes >= (1u << 20) && !flush()) return false;  // about 1 MiB a message
    }
    i += answered;
  }
  if (!flush()) return false;
  return true;
}

}  // namespace cairn::cluster
