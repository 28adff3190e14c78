#include "cluster/transfers.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "cairn/env.h"
#include "cluster/registers.h"
#include "cluster/versions.h"
#include "spdlog/spdlog.h"

namespace cairn::cluster {
namespace {

constexpr uint64_t kTop = std::numeric_limits<uint64_t>::max();
// Every database a replica store holds: user databases, then their registers.
constexpr int kAllDatabases = 2 * kRegisterSpace;
// Keys a page looks at (and skips, when outside the arcs) before it answers anyway.
constexpr uint64_t kMaxWalkPerPage = 20000;
constexpr size_t kScanChunk = 256;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::vector<std::string> IdsAt(const Ring& ring, uint64_t position, int n) {
  std::vector<std::string> ids;
  for (int m : ring.PreferenceListAt(position, n)) ids.push_back(ring.members()[m].id);
  return ids;
}

bool Has(const std::vector<std::string>& ids, const std::string& id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

size_t RecordBytes(const std::string& key, const VersionList& versions) {
  size_t bytes = key.size();
  for (const pb::Record& r : versions) bytes += r.ByteSizeLong();
  return bytes;
}

}  // namespace

ArcSet::ArcSet(const google::protobuf::RepeatedPtrField<pb::Arc>& arcs) {
  for (const pb::Arc& a : arcs) Add(a.start(), a.end());
  Normalize();
}

void ArcSet::Add(uint64_t start, uint64_t end) {
  // (start, end] as inclusive [lo, hi] pieces.
  if (start < end) {
    arcs_.emplace_back(start + 1, end);
    return;
  }
  if (start != kTop) arcs_.emplace_back(start + 1, kTop);  // wraps past the top
  arcs_.emplace_back(0, end);
}

void ArcSet::Normalize() {
  std::sort(arcs_.begin(), arcs_.end());
  std::vector<std::pair<uint64_t, uint64_t>> merged;
  for (const auto& a : arcs_) {
    if (!merged.empty() && (merged.back().second == kTop || a.first <= merged.back().second + 1)) {
      merged.back().second = std::max(merged.back().second, a.second);
    } else {
      merged.push_back(a);
    }
  }
  arcs_ = std::move(merged);
}

bool ArcSet::Contains(uint64_t position) const {
  // The first piece ending at or after position.
  auto it = std::lower_bound(arcs_.begin(), arcs_.end(), position,
                             [](const auto& a, uint64_t p) { return a.second < p; });
  return it != arcs_.end() && it->first <= position;
}

void ArcSet::AppendTo(google::protobuf::RepeatedPtrField<pb::Arc>* out) const {
  for (const auto& [lo, hi] : arcs_) {
    pb::Arc* a = out->Add();
    a->set_start(lo == 0 ? kTop : lo - 1);  // (top, hi] wraps to [0, hi]
    a->set_end(hi);
  }
}

double ArcSet::Fraction() const {
  long double covered = 0;
  for (const auto& [lo, hi] : arcs_) covered += static_cast<long double>(hi - lo) + 1;
  return static_cast<double>(covered / 18446744073709551616.0L);
}

std::map<std::string, ArcSet> ArcsToReceive(const Ring& current, const Ring& pending,
                                           const std::string& self, int n) {
  // Between two consecutive tokens of either ring, both rings' preference lists are
  // constant: each arc is judged at its end.
  std::vector<uint64_t> bounds;
  for (const auto& t : current.tokens()) bounds.push_back(t.position);
  for (const auto& t : pending.tokens()) bounds.push_back(t.position);
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  std::map<std::string, ArcSet> out;
  for (size_t i = 0; i < bounds.size(); i++) {
    const uint64_t end = bounds[i];
    const uint64_t start = i == 0 ? bounds.back() : bounds[i - 1];
    if (!Has(IdsAt(pending, end, n), self)) continue;
    const std::vector<std::string> owners = IdsAt(current, end, n);
    if (Has(owners, self)) continue;
    for (const std::string& id : owners) out[id].Add(start, end);
  }
  for (auto& [id, arcs] : out) arcs.Normalize();
  return out;
}

ReceivePlan PlanToReceive(const Ring& current, const Ring& pending, const std::string& self,
                          int n, const std::function<bool(const std::string&)>& alive) {
  std::vector<uint64_t> bounds;
  for (const auto& t : current.tokens()) bounds.push_back(t.position);
  for (const auto& t : pending.tokens()) bounds.push_back(t.position);
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  ReceivePlan plan;
  for (size_t i = 0; i < bounds.size(); i++) {
    const uint64_t end = bounds[i];
    const uint64_t start = i == 0 ? bounds.back() : bounds[i - 1];
    if (!Has(IdsAt(pending, end, n), self)) continue;
    std::vector<std::string> owners = IdsAt(current, end, n);
    if (Has(owners, self)) continue;
    auto primary = std::find_if(owners.begin(), owners.end(), alive);
    if (primary == owners.end()) primary = owners.begin();
    for (auto it = owners.begin(); it != owners.end(); ++it) {
      (it == primary ? plan.full : plan.digests)[*it].Add(start, end);
    }
  }
  for (auto* m : {&plan.full, &plan.digests}) {
    for (auto& [id, arcs] : *m) arcs.Normalize();
  }
  return plan;
}

Transfers::Transfers(Options options, Membership* membership, Transport* transport,
                     ReplicaStore* store)
    : options_(std::move(options)),
      membership_(membership),
      transport_(transport),
      store_(store) {
  if (options_.progress_path.empty()) return;
  std::string bytes;
  if (Env::Default()->FileExists(options_.progress_path) &&
      ReadFileToString(Env::Default(), options_.progress_path, &bytes).ok()) {
    absl::MutexLock l(&mu_);
    if (!saved_.ParseFromString(bytes)) {
      spdlog::warn("{} does not parse: transfers start over", options_.progress_path);
      saved_.Clear();
    }
  }
}

Transfers::~Transfers() { Stop(); }

void Transfers::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void Transfers::Halt() {
  absl::MutexLock l(&mu_);
  stopping_ = true;
}

void Transfers::Stop() {
  Halt();
  if (thread_.joinable()) thread_.join();
}

void Transfers::Loop() {
  while (true) {
    {
      absl::MutexLock l(&mu_);
      if (stopping_) return;
    }
    Step();
    absl::MutexLock l(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.interval);
  }
}

int64_t Transfers::Now() const { return options_.now_ms ? options_.now_ms() : NowMs(); }

void Transfers::Step() {
  const Membership::Placement placement = membership_->placement();
  if (const int64_t now = Now(); now >= next_problem_log_ms_) {
    if (std::string problem = membership_->Problem(); !problem.empty()) {
      spdlog::error("cluster: {}", problem);
      next_problem_log_ms_ = now + 30 * 1000;
    }
  }
  if (membership_->ring_version() != cleaned_ring_) {
    absl::MutexLock l(&mu_);
    progress_.cleaned = false;
  }
  if (placement.HasPending()) {
    settled_since_ms_ = -1;
    // Pulling starts once every coordinator writes to the pending replicas too: else a
    // write stored on a source after its page was sent would be missed.
    const int64_t now = Now();
    ClearArcsToReceive(placement);
    if (seen_change_ != placement.fingerprint) {
      if (membership_->EveryoneSees(placement.fingerprint)) {
        seen_change_ = placement.fingerprint;
        seen_change_ms_ = now;
      }
    } else if (now - seen_change_ms_ >= absl::ToInt64Milliseconds(options_.propagation_delay)) {
      if (Receive(placement)) membership_->SetReady(placement.fingerprint);
    }
  } else {
    {
      absl::MutexLock l(&mu_);
      progress_.fingerprint = 0;
      progress_.fraction = 0;
      progress_.sources.clear();
    }
    if (membership_->Settled()) {
      const int64_t now = Now();
      if (settled_since_ms_ < 0) settled_since_ms_ = now;
      const uint64_t version = membership_->ring_version();
      if (version != cleaned_ring_ && now >= next_cleanup_ms_ &&
          now - settled_since_ms_ >= absl::ToInt64Milliseconds(options_.cleanup_after)) {
        if (Cleanup(*placement.current)) {
          cleaned_ring_ = version;
          absl::MutexLock l(&mu_);
          progress_.cleaned = true;
          progress_.cleaned_ring_version = version;
        } else {
          // An owner was down: try again later.
          next_cleanup_ms_ = Now() + 30 * 1000;
        }
      }
    } else {
      settled_since_ms_ = -1;
    }
  }
}

absl::StatusOr<pb::TransferPage> Transfers::Serve(const pb::TransferPull& request) {
  const ArcSet arcs(request.arcs());
  pb::TransferPage page;
  int db = request.db();
  if (db < 0 || db > kAllDatabases) return absl::InvalidArgumentError("bad database in cursor");
  std::string after = request.after();
  bool started = request.started();
  const size_t max_bytes = std::clamp<size_t>(request.max_bytes(), 64 << 10, 16 << 20);
  size_t bytes = 0;
  uint64_t walked = 0;
  auto cursor = [&](bool done) {
    page.set_db(db);
    page.set_after(after);
    page.set_started(started);
    page.set_done(done);
    page.set_keys_walked(walked);
  };
  while (db < kAllDatabases) {
    std::vector<std::pair<std::string, VersionList>> chunk;
    bool more = false;
    const std::string start = started ? after + std::string(1, '\0') : std::string();
    CAIRN_RETURN_IF_ERROR(store_->Scan(db, start, kScanChunk, &chunk, &more));
    for (auto& [key, versions] : chunk) {
      walked++;
      after = key;
      started = true;
      if (arcs.Contains(Ring::Position(PlacementKey(db, key)))) {
        pb::TransferRecord* r = page.add_records();
        r->set_db(db);
        r->set_key(key);
        if (request.digests_only()) {
          bytes += key.size() + 16;
          r->set_digest(VersionsDigest(versions));
        } else {
          bytes += RecordBytes(key, versions);
          for (pb::Record& v : versions) *r->add_versions() = std::move(v);
        }
      }
      if (bytes >= max_bytes || walked >= kMaxWalkPerPage) {
        cursor(false);
        return page;
      }
    }
    if (!more) {
      db++;
      after.clear();
      started = false;
    }
  }
  cursor(true);
  return page;
}

bool Transfers::ClearArcsToReceive(const Membership::Placement& placement) {
  {
    absl::MutexLock l(&mu_);
    if (saved_.fingerprint() != placement.fingerprint) {
      saved_.Clear();
      saved_.set_fingerprint(placement.fingerprint);
      progress_.changes_received++;
    }
    if (saved_.cleared()) return true;
  }
  if (Now() < next_clear_ms_) return false;
  // Copies this node kept of the arcs it is to receive, from when it last owned them
  // (its cleanup had not run, or not finished), go as any copy of a range it does not
  // own goes (Cleanup). Left here, they would merge with what the pull brings, and a
  // value whose tombstone the owners collected since would come back (found by the
  // simulator). Done as soon as this node sees the change, before writes of the change
  // reach it if possible; a write of the change that reached it already is kept if
  // recent, else pulled again.
  const std::string& self = membership_->self_id();
  ArcSet gained;
  for (const auto& [from, arcs] : ArcsToReceive(*placement.current, *placement.pending, self,
                                                options_.replicas)) {
    for (const auto& [lo, hi] : arcs.pieces()) gained.Add(lo - 1, hi);
  }
  gained.Normalize();
  if (!gained.empty() && !Cleanup(*placement.current, &gained)) {
    next_clear_ms_ = Now() + 5000;  // no owner of some key up: later
    return false;
  }
  // What was dropped is durable before the file says so; every pull starts from the
  // beginning (pages kept by an older version of this file are pulled again).
  if (absl::Status s = store_->Sync(); !s.ok()) return false;
  {
    absl::MutexLock l(&mu_);
    if (saved_.fingerprint() != placement.fingerprint) return false;
    saved_.clear_sources();
    saved_.set_cleared(true);
  }
  SaveProgress();
  return true;
}

bool Transfers::Receive(const Membership::Placement& placement) {
  if (!ClearArcsToReceive(placement)) return false;
  const std::string& self = membership_->self_id();
  const ReceivePlan plan = PlanToReceive(
      *placement.current, *placement.pending, self, options_.replicas,
      [this](const std::string& id) { return membership_->IsAlive(id); });
  struct Source {
    std::string id;
    std::string name;  // its cursor's: the id, "#digests" added for a digest pull
    const ArcSet* arcs;
    bool digests;
  };
  std::vector<Source> sources;  // full pulls first: digests then compare with their keys
  for (const auto& [id, arcs] : plan.full) sources.push_back({id, id, &arcs, false});
  for (const auto& [id, arcs] : plan.digests) sources.push_back({id, id + "#digests", &arcs, true});
  {
    absl::MutexLock l(&mu_);
    if (saved_.fingerprint() != placement.fingerprint) {
      saved_.Clear();
      saved_.set_fingerprint(placement.fingerprint);
      progress_.changes_received++;
    }
    for (const Source& src : sources) {
      if (std::none_of(saved_.sources().begin(), saved_.sources().end(),
                       [&](const pb::TransferCursor& c) { return c.source() == src.name; })) {
        saved_.add_sources()->set_source(src.name);
      }
    }
    progress_.fingerprint = placement.fingerprint;
    double fraction = 0;
    for (const auto& [id, arcs] : plan.full) fraction += arcs.Fraction();
    progress_.fraction = fraction;
  }
  std::set<std::string> removing;  // members being removed: down for good
  for (const auto& m : membership_->Members()) {
    if (m.state.status() == pb::NodeState::REMOVING) removing.insert(m.state.id());
  }
  bool all_done = true;
  for (const Source& src : sources) {
    const std::string& id = src.id;
    const ArcSet& arcs = *src.arcs;
    auto find_cursor = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> pb::TransferCursor* {
      for (pb::TransferCursor& c : *saved_.mutable_sources()) {
        if (c.source() == src.name) return &c;
      }
      return nullptr;
    };
    pb::TransferCursor cursor;
    {
      absl::MutexLock l(&mu_);
      pb::TransferCursor* c = find_cursor();
      if (c->skipped() && membership_->IsAlive(id)) {
        // Skipped while it was down, and back before the change completed: pulled after
        // all (later skips count on it as a source that is up).
        const std::string name = c->source();
        c->Clear();
        c->set_source(name);
      }
      cursor = *c;
    }
    if (cursor.done()) continue;
    if (!membership_->IsAlive(id)) {
      // A down source is done without it if fewer than W of the current replicas of
      // every point of its arcs are down: an acknowledged write is on W of them, so then
      // on one that is up (a digest pull fetches whatever this node lacks). Otherwise the
      // pull waits for it (or for an operator to remove a member that is gone).
      bool covered = true;
      for (const auto& [lo, hi] : arcs.pieces()) {
        // A piece may join arcs of different co-owners: every boundary inside it is
        // checked (each arc ends at a token of either ring).
        std::vector<uint64_t> points = {lo, hi};
        for (const auto* r : {placement.current.get(), placement.pending.get()}) {
          for (const auto& t : r->tokens()) {
            if (t.position >= lo && t.position <= hi) points.push_back(t.position);
          }
        }
        for (uint64_t point : points) {
          // Every write acknowledged by W of the point's current replicas is on one of
          // the live ones only if fewer than W of them are down.
          // A member being removed never comes back: waiting for it would only stall
          // the change (what only it held is lost, whatever this node does).
          std::set<std::string> holders, live;
          bool may_return = false;
          for (const Source& other : sources) {
            if (!other.arcs->Contains(point)) continue;
            holders.insert(other.id);
            if (other.id != id && membership_->IsAlive(other.id)) {
              live.insert(other.id);
            } else if (!removing.contains(other.id)) {
              may_return = true;
            }
          }
          const int down = static_cast<int>(holders.size() - live.size());
          covered = covered && !live.empty() &&
                    (down < std::max(1, options_.write_quorum) || !may_return);
        }
      }
      absl::MutexLock l(&mu_);
      if (covered) {
        find_cursor()->set_done(true);
        find_cursor()->set_skipped(true);
        spdlog::warn("transfers: {} is down; its ranges come from the other replicas", id);
        continue;
      }
      all_done = false;
      continue;
    }
    while (true) {
      {
        absl::MutexLock l(&mu_);
        if (stopping_) return false;
      }
      if (membership_->placement().fingerprint != placement.fingerprint) return false;
      pb::Envelope request;
      pb::TransferPull* q = request.mutable_transfer_pull();
      arcs.AppendTo(q->mutable_arcs());
      q->set_db(cursor.db());
      q->set_after(cursor.after());
      q->set_started(cursor.started());
      q->set_max_bytes(options_.page_bytes);
      q->set_digests_only(src.digests);
      const int64_t pull_start_ms = Now();
      auto reply = transport_->CallAndWait(membership_->AddressOf(id), std::move(request),
                                           options_.timeout);
      absl::Status failure;
      if (!reply.ok()) {
        failure = reply.status();
      } else if (reply->has_error()) {
        failure = absl::UnavailableError(reply->error().message());
      } else if (!reply->has_transfer_page()) {
        failure = absl::UnavailableError("unexpected reply to a transfer pull");
      }
      pb::ReplicaWriteBatch batch;
      size_t bytes = 0;
      if (failure.ok() && src.digests) {
        // The keys whose versions here differ from the source's: fetched whole.
        bytes = reply->ByteSizeLong();
        std::vector<std::pair<int, std::string>> differ;
        for (const pb::TransferRecord& r : reply->transfer_page().records()) {
          auto mine = store_->Read(r.db(), r.key());
          if (!mine.ok()) {
            failure = mine.status();
            break;
          }
          if (VersionsDigest(*mine) != r.digest()) differ.emplace_back(r.db(), r.key());
        }
        for (size_t i = 0; failure.ok() && i < differ.size();) {
          pb::Envelope read;
          for (size_t j = i; j < std::min(differ.size(), i + 256); j++) {
            pb::ReplicaRead* rr = read.mutable_read_batch()->add_reads();
            rr->set_db(differ[j].first);
            rr->set_key(differ[j].second);
          }
          auto got = transport_->CallAndWait(membership_->AddressOf(id), std::move(read),
                                             options_.timeout);
          if (!got.ok() || !got->has_read_batch_result() ||
              got->read_batch_result().results_size() == 0) {
            failure = got.ok() ? absl::UnavailableError("unexpected reply to a read") : got.status();
            break;
          }
          for (pb::ReplicaReadResult& result : *got->mutable_read_batch_result()->mutable_results()) {
            if (i >= differ.size()) break;
            if (result.versions_size() > 0) {
              pb::ReplicaWrite* w = batch.add_writes();
              w->set_db(differ[i].first);
              w->set_key(differ[i].second);
              *w->mutable_versions() = std::move(*result.mutable_versions());
              bytes += w->ByteSizeLong();
            }
            i++;
          }
        }
        std::vector<bool> changed;
        if (failure.ok() && batch.writes_size() > 0) failure = store_->ApplyBatch(batch, &changed);
      } else if (failure.ok()) {
        for (pb::TransferRecord& r : *reply->mutable_transfer_page()->mutable_records()) {
          pb::ReplicaWrite* w = batch.add_writes();
          w->set_db(r.db());
          w->set_key(std::move(*r.mutable_key()));
          *w->mutable_versions() = std::move(*r.mutable_versions());
          bytes += w->ByteSizeLong();
        }
        std::vector<bool> changed;
        if (batch.writes_size() > 0) failure = store_->ApplyBatch(batch, &changed);
      }
      if (!failure.ok()) {
        absl::MutexLock l(&mu_);
        errors_[src.name] = std::string(failure.message());
        spdlog::warn("transfers: pulling from {}: {}", src.name, failure.ToString());
        all_done = false;
        break;
      }
      const pb::TransferPage& page = reply->transfer_page();
      {
        absl::MutexLock l(&mu_);
        errors_.erase(src.name);
        pb::TransferCursor* c = find_cursor();
        c->set_db(page.db());
        c->set_after(page.after());
        c->set_started(page.started());
        c->set_done(page.done());
        c->set_keys(c->keys() + batch.writes_size());
        c->set_bytes(c->bytes() + bytes);
        cursor = *c;
        progress_.keys_received += batch.writes_size();
        progress_.bytes_received += bytes;
      }
      // The cursor moves past these keys only once they are durable here.
      if (absl::Status s = store_->Sync(); !s.ok()) {
        spdlog::warn("transfers: {}", s.ToString());
        return false;
      }
      page_latency_.Record(static_cast<uint64_t>(std::max<int64_t>(0, Now() - pull_start_ms)) * 1000);
      SaveProgress();
      Throttle(bytes);
      if (page.done()) break;
    }
    if (!cursor.done()) all_done = false;
  }
  return all_done;
}

bool Transfers::Cleanup(const Ring& ring, const ArcSet* only) {
  const std::string& self = membership_->self_id();
  const uint64_t version = membership_->ring_version();
  {
    absl::MutexLock l(&mu_);
    progress_.cleaning = true;
  }
  struct Leaving {
    int db;
    std::string key;
    VersionList versions;  // what is dropped if still there
    VersionList handed;    // what the owners get: the versions written within the window
    std::vector<std::string> owners;
  };
  bool complete = true;
  // Hands off one chunk's keys to their owners, then drops those every owner stored.
  auto hand_off = [&](std::vector<Leaving>& leaving) {
    std::map<std::string, pb::ReplicaWriteBatch> batches;
    for (const Leaving& l : leaving) {
      for (const std::string& owner : l.owners) {
        pb::ReplicaWrite* w = batches[owner].add_writes();
        w->set_db(l.db);
        w->set_key(l.key);
        for (const pb::Record& r : l.handed) *w->add_versions() = r;
      }
    }
    std::set<std::string> stored_by;
    for (auto& [owner, batch] : batches) {
      pb::Envelope request;
      *request.mutable_write_batch() = std::move(batch);
      auto reply = transport_->CallAndWait(membership_->AddressOf(owner), std::move(request),
                                           options_.timeout);
      if (reply.ok() && reply->has_write_batch_result()) {
        stored_by.insert(owner);
      } else {
        complete = false;
      }
    }
    uint64_t handed = 0, dropped = 0;
    for (const Leaving& l : leaving) {
      if (!std::all_of(l.owners.begin(), l.owners.end(),
                       [&](const std::string& o) { return stored_by.contains(o); })) {
        continue;
      }
      handed++;
      auto gone = store_->Drop(l.db, l.key, l.versions);
      if (gone.ok() && *gone) {
        dropped++;
      } else if (only == nullptr) {
        complete = false;  // written since it was read (a late write): the next pass
      }  // (before a pull: a write of the change under way, which stays)
    }
    absl::MutexLock lock(&mu_);
    progress_.keys_handed_off += handed;
    progress_.keys_dropped += dropped;
    leaving.clear();
  };
  for (int db = 0; db < kAllDatabases && complete; db++) {
    std::string start;
    while (true) {
      {
        absl::MutexLock l(&mu_);
        if (stopping_) complete = false;
      }
      if (!complete || membership_->ring_version() != version) {
        complete = false;
        break;
      }
      std::vector<std::pair<std::string, VersionList>> chunk;
      bool more = false;
      if (!store_->Scan(db, start, kScanChunk, &chunk, &more).ok()) {
        complete = false;
        break;
      }
      std::vector<Leaving> leaving;
      for (auto& [key, versions] : chunk) {
        const uint64_t position = Ring::Position(PlacementKey(db, key));
        if (only != nullptr && !only->Contains(position)) continue;
        std::vector<std::string> owners = IdsAt(ring, position, options_.replicas);
        if (Has(owners, self)) continue;
        // Each version is handed off only if written within the window: an older one
        // may be shadowed at the owners by a tombstone collected since (a sibling of a
        // newer write must not ride along with it). A key with none such is dropped.
        VersionList handed;
        if (options_.clock != nullptr) {
          const uint64_t now_ms = HybridClock::Physical(options_.clock->Now());
          const uint64_t window_ms =
              static_cast<uint64_t>(absl::ToInt64Milliseconds(options_.hand_off_window));
          for (const pb::Record& r : versions) {
            const uint64_t written_ms = HybridClock::Physical(r.version());
            if (now_ms <= written_ms || now_ms - written_ms <= window_ms) handed.push_back(r);
          }
          if (handed.empty()) {
            auto gone = store_->Drop(db, key, versions);  // its owners had it by transfer
            if ((!gone.ok() || !*gone) && only == nullptr) complete = false;
            absl::MutexLock l(&mu_);
            if (gone.ok() && *gone) progress_.keys_dropped++;
            continue;
          }
        } else {
          handed = versions;
        }
        if (only != nullptr) {
          // Before a pull (Receive): the live owners get it (a member being removed is
          // down for good), and the pull brings it back.
          std::erase_if(owners, [&](const std::string& o) { return !membership_->IsAlive(o); });
          if (owners.empty()) {
            complete = false;
            continue;
          }
        } else if (!std::all_of(owners.begin(), owners.end(),
                                [&](const std::string& o) { return membership_->IsAlive(o); })) {
          complete = false;  // kept until every owner can take it
          continue;
        }
        leaving.push_back({db, key, std::move(versions), std::move(handed), std::move(owners)});
      }
      if (!leaving.empty()) hand_off(leaving);
      if (!more || chunk.empty()) break;
      start = chunk.back().first + std::string(1, '\0');
    }
  }
  absl::MutexLock l(&mu_);
  progress_.cleaning = false;
  return complete;
}

void Transfers::SaveProgress() {
  if (options_.progress_path.empty()) return;
  std::string bytes;
  {
    absl::MutexLock l(&mu_);
    bytes = saved_.SerializeAsString();
  }
  Env* env = Env::Default();
  const std::string tmp = options_.progress_path + ".tmp";
  absl::Status s = WriteStringToFileSync(env, bytes, tmp);
  if (s.ok()) s = env->RenameFile(tmp, options_.progress_path);
  if (!s.ok()) spdlog::warn("transfers: could not keep progress: {}", s.ToString());
}

void Transfers::Throttle(size_t bytes) {
  const int64_t now = Now();
  if (now - window_start_ms_ >= 1000) {
    absl::MutexLock l(&mu_);
    progress_.rate_bytes = window_start_ms_ > 0 ? window_bytes_ * 1000.0 / (now - window_start_ms_) : 0;
    window_start_ms_ = now;
    window_bytes_ = 0;
  }
  window_bytes_ += bytes;
  const int64_t rate = options_.rate ? options_.rate() : 0;
  if (rate <= 0) return;
  // Ahead of the rate: wait until the window's bytes are due.
  const int64_t due_ms = static_cast<int64_t>(window_bytes_ * 1000 / static_cast<uint64_t>(rate));
  const int64_t wait_ms = window_start_ms_ + due_ms - now;
  if (wait_ms <= 0) return;
  absl::MutexLock l(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(wait_ms));
}

Transfers::Progress Transfers::progress() {
  absl::MutexLock l(&mu_);
  Progress p = progress_;
  p.sources.clear();
  if (p.fingerprint != 0 && saved_.fingerprint() == p.fingerprint) {
    for (const pb::TransferCursor& c : saved_.sources()) {
      Source s;
      s.id = c.source();
      s.keys = c.keys();
      s.bytes = c.bytes();
      s.done = c.done();
      if (auto it = errors_.find(s.id); it != errors_.end()) s.error = it->second;
      p.sources.push_back(std::move(s));
    }
  }
  return p;
}

}  // namespace cairn::cluster
