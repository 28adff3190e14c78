#include "cluster/coordinator.h"

#include "cluster/registers.h"

#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "cluster/counter.h"
#include "cluster/type_merge.h"

namespace cairn::cluster {
namespace {

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

absl::Status NoQuorum(const char* what, int got, int needed, int n, const std::string& why) {
  return NoQuorumError(absl::StrCat(what, " reached ", got, " of ", needed,
                                             " required replicas (N=", n, ")",
                                             why.empty() ? "" : absl::StrCat(": ", why)));
}

absl::Status Unreachable(const char* what, int up, int needed, int n) {
  return NoQuorumError(absl::StrCat(what, " needs ", needed,
                                             " replicas, ", up, " up (N=", n, ")"));
}

pb::Envelope ErrorReply(pb::Error::Code code, absl::string_view message) {
  pb::Envelope reply;
  reply.mutable_error()->set_code(code);
  reply.mutable_error()->set_message(std::string(message));
  return reply;
}

// The error a reply carries instead of the expected body, or the transport's failure.
absl::Status ReplyFailure(const absl::StatusOr<pb::Envelope>& reply) {
  if (!reply.ok()) return reply.status();
  if (reply->has_error() && reply->error().code() == pb::Error::NOQUORUM) {
    return NoQuorumError(reply->error().message());
  }
  return absl::UnavailableError(reply->has_error() ? reply->error().message()
                                                   : std::string("unexpected reply"));
}

uint64_t NewestVersion(const VersionList& versions) {
  uint64_t v = 0;
  for (const pb::Record& r : versions) v = std::max(v, r.version());
  return v;
}

}  // namespace

// The answers to one write, shared with the transport callbacks that may outlive it.
struct Coordinator::WriteFanout {
  absl::Mutex mu;
  int needed ABSL_GUARDED_BY(mu) = 0;  // W
  int asked ABSL_GUARDED_BY(mu) = 0;   // replicas the write went to, this node included
  int ok ABSL_GUARDED_BY(mu) = 0;
  int failed ABSL_GUARDED_BY(mu) = 0;
  // During a topology change (Membership::Placement) the write counts twice: W of the
  // current replicas (above) and W of the pending ring's (below), so it is on W owners
  // both before and after the change completes (Cassandra counts pending replicas alike).
  bool has_pending ABSL_GUARDED_BY(mu) = false;
  int pending_asked ABSL_GUARDED_BY(mu) = 0;
  int pending_ok ABSL_GUARDED_BY(mu) = 0;
  int pending_failed ABSL_GUARDED_BY(mu) = 0;
  // Who counts where: id -> (a current replica, a pending-ring replica).
  std::vector<std::pair<std::string, std::pair<bool, bool>>> roles ABSL_GUARDED_BY(mu);
  std::string last_error ABSL_GUARDED_BY(mu);
  absl::Status first_failure ABSL_GUARDED_BY(mu);
  bool reply_error ABSL_GUARDED_BY(mu) = false;      // a forward answered with an error
  bool replica_refused ABSL_GUARDED_BY(mu) = false;  // ... and it was its quorum failing
  pb::Record written ABSL_GUARDED_BY(mu);
  // Called once, outside mu: when the write settles; when all of all_replicas stored it.
  std::function<void()> on_settled ABSL_GUARDED_BY(mu);
  std::function<void()> on_all_stored ABSL_GUARDED_BY(mu);
  int all_replicas ABSL_GUARDED_BY(mu) = 0;

  bool Succeeded() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return ok >= needed && (!has_pending || pending_ok >= needed);
  }
  bool Settled() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (Succeeded() || asked - failed < needed) return true;
    return has_pending && pending_asked - pending_failed < needed;
  }

  // Counts one replica's answer: OK, or its error (from `who`, if a peer; "" or this
  // node's id: this node).
  void Count(const absl::Status& s, std::string_view who = "", bool is_self = false)
      ABSL_LOCKS_EXCLUDED(mu) {
    std::function<void()> settled, all;
    {
      absl::MutexLock l(&mu);
      const bool was_settled = Settled();
      bool in_current = true, in_pending = true;
      for (const auto& [id, role] : roles) {
        if (id == who) std::tie(in_current, in_pending) = role;
      }
      if (s.ok()) {
        ok += in_current;
        pending_ok += in_pending;
      } else {
        failed += in_current;
        pending_failed += in_pending;
        if (first_failure.ok()) first_failure = s;
        last_error = who.empty() || is_self ? std::string(s.message())
                                            : absl::StrCat(ToAbsl(who), ": ", s.message());
      }
      if (!was_settled && Settled()) settled = std::move(on_settled);
      stored += s.ok();
      if (s.ok() && stored == all_replicas) all = std::move(on_all_stored);
    }
    if (settled) settled();
    if (all) all();
  }

  int stored ABSL_GUARDED_BY(mu) = 0;  // replicas that stored it, in either set

  void OnSettled(std::function<void()> fn) ABSL_LOCKS_EXCLUDED(mu) {
    {
      absl::MutexLock l(&mu);
      if (!Settled()) {
        on_settled = std::move(fn);
        return;
      }
    }
    fn();
  }

};

// The answers to one read: every replica's versions, for the reply and for repair.
struct Coordinator::ReadFanout {
  int db = 0;
  std::string key;
  std::vector<std::string> replicas;  // the key's preference list (ids)
  // No topology change was under way: the replicas read are all the key has (else the
  // pending ring's may still hold an older value, so a tombstone is not seen by all).
  bool only_owners = false;
  absl::Mutex mu;
  int asked ABSL_GUARDED_BY(mu) = 0;
  int ok ABSL_GUARDED_BY(mu) = 0;
  int failed ABSL_GUARDED_BY(mu) = 0;
  std::vector<std::pair<std::string, VersionList>> answers ABSL_GUARDED_BY(mu);
  std::string last_error ABSL_GUARDED_BY(mu);
  int needed ABSL_GUARDED_BY(mu) = 0;  // R
  // During a topology change a read counts twice, as a write does (WriteFanout): R of the
  // current replicas (asked, ok, failed count those) and R of the pending ring's. Then a
  // node that has not yet heard that the change completed, and still reads from the
  // current ring, also sees what the others write to the new ring alone.
  bool has_pending = false;
  std::vector<std::pair<std::string, std::pair<bool, bool>>> roles;  // id -> (current, pending)
  int total_asked ABSL_GUARDED_BY(mu) = 0;  // replicas asked, in either ring
  int answered ABSL_GUARDED_BY(mu) = 0;
  int pending_asked ABSL_GUARDED_BY(mu) = 0;
  int pending_ok ABSL_GUARDED_BY(mu) = 0;
  int pending_failed ABSL_GUARDED_BY(mu) = 0;
  std::function<void()> on_decided ABSL_GUARDED_BY(mu);  // R answered, or never will
  std::function<void()> on_all_answered ABSL_GUARDED_BY(mu);

  bool AllAnswered() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return answered == total_asked; }
  bool Succeeded() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return ok >= needed && (!has_pending || pending_ok >= needed);
  }
  bool Decided() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (Succeeded() || asked - failed < needed) return true;
    return has_pending && pending_asked - pending_failed < needed;
  }

  void Answer(const std::string& who, absl::StatusOr<VersionList> versions) ABSL_LOCKS_EXCLUDED(mu) {
    std::function<void()> decided, all;
    {
      absl::MutexLock l(&mu);
      const bool was_decided = Decided();
      bool in_current = true, in_pending = false;
      for (const auto& [id, role] : roles) {
        if (id == who) std::tie(in_current, in_pending) = role;
      }
      answered++;
      if (versions.ok()) {
        Canonicalize(&*versions);
        answers.emplace_back(who, std::move(*versions));
        ok += in_current;
        pending_ok += in_pending;
      } else {
        failed += in_current;
        pending_failed += in_pending;
        last_error = absl::StrCat(who, ": ", versions.status().message());
      }
      if (!was_decided && Decided()) decided = std::move(on_decided);
      if (AllAnswered()) all = std::move(on_all_answered);
    }
    if (decided) decided();
    if (all) all();
  }

  void OnDecided(std::function<void()> fn) ABSL_LOCKS_EXCLUDED(mu) {
    {
      absl::MutexLock l(&mu);
      if (!Decided()) {
        on_decided = std::move(fn);
        return;
      }
    }
    fn();
  }

  void OnAllAnswered(std::function<void()> fn) ABSL_LOCKS_EXCLUDED(mu) {
    {
      absl::MutexLock l(&mu);
      if (!AllAnswered()) {
        on_all_answered = std::move(fn);
        return;
      }
    }
    fn();
  }

  VersionList Merged() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    VersionList merged;
    for (const auto& [who, versions] : answers) {
      for (const pb::Record& r : versions) MergeVersion(&merged, r);
    }
    return merged;
  }
};

int Coordinator::LiveReplicas(const Ring& ring, const std::vector<int>& replicas) {
  int up = 0;
  for (int m : replicas) {
    const std::string& id = ring.members()[m].id;
    up += IsSelf(id) || membership_->IsAlive(id);
  }
  return up;
}

uint64_t Coordinator::NextSerial() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

namespace {

// A batch message stays small: records this large go alone, and a batch is sent once it
// holds this much (the rest of the turn starts another). A read batch's answer stops
// adding values past kMaxReadBatchReply; the reads left are asked again one by one.
constexpr size_t kAloneBytes = size_t{256} << 10;
constexpr size_t kMaxBatchBytes = size_t{1} << 20;
constexpr size_t kMaxReadBatchReply = size_t{16} << 20;

}  // namespace

struct Coordinator::Outbox {
  std::vector<pb::Envelope> requests;
  std::vector<Transport::Done> dones;
  absl::Duration timeout;
  size_t bytes = 0;
};

void Coordinator::SendOutbox(const std::string& address, bool write, Outbox box) {
  if (box.requests.empty()) return;
  if (box.requests.size() == 1) {
    return transport_->Call(address, std::move(box.requests[0]), box.timeout, std::move(box.dones[0]));
  }
  pb::Envelope batch;
  std::vector<pb::Envelope> reads;  // to ask again one by one if the answer stops short
  for (pb::Envelope& r : box.requests) {
    if (write) {
      *batch.mutable_write_batch()->add_writes() = std::move(*r.mutable_write());
    } else {
      *batch.mutable_read_batch()->add_reads() = r.read();
      reads.push_back(std::move(r));
    }
  }
  transport_->Call(address, std::move(batch), box.timeout,
                   [this, address, timeout = box.timeout, reads = std::move(reads),
                    dones = std::move(box.dones)](absl::StatusOr<pb::Envelope> reply) mutable {
                     const size_t n = dones.size();
                     const bool writes_ok = reply.ok() && reply->has_write_batch_result() &&
                                            static_cast<size_t>(reply->write_batch_result().applied_size()) == n;
                     const size_t answered =
                         reply.ok() && reply->has_read_batch_result()
                             ? std::min(n, static_cast<size_t>(reply->read_batch_result().results_size()))
                             : 0;
                     const bool reads_ok = reply.ok() && reply->has_read_batch_result();
                     for (size_t i = 0; i < n; i++) {
                       if (writes_ok) {
                         pb::Envelope one;
                         one.mutable_write_result()->set_applied(reply->write_batch_result().applied(i));
                         dones[i](std::move(one));
                       } else if (reads_ok && i < answered) {
                         pb::Envelope one;
                         *one.mutable_read_result() = std::move(*reply->mutable_read_batch_result()->mutable_results(i));
                         dones[i](std::move(one));
                       } else if (reads_ok) {
                         transport_->Call(address, std::move(reads[i]), timeout, std::move(dones[i]));
                       } else {
                         dones[i](reply);  // the failure, or the error it answered
                       }
                     }
                   });
}

void Coordinator::CallReplica(const std::string& address, pb::Envelope request,
                              absl::Duration timeout, Transport::Done done) {
  const bool write = request.has_write();
  if (!write && !request.has_read()) return transport_->Call(address, std::move(request), timeout, std::move(done));
  const size_t bytes = request.ByteSizeLong();
  if (bytes >= kAloneBytes) return transport_->Call(address, std::move(request), timeout, std::move(done));
  using Key = std::tuple<uint64_t, bool, std::string>;
  // This thread's requests of this turn, by coordinator (its serial: a coordinator made
  // where a destroyed one was never finds that one's), kind and node.
  thread_local std::map<Key, Outbox> outboxes;
  Key key(serial_, write, address);
  auto it = outboxes.find(key);
  if (it == outboxes.end()) {
    const bool deferred = transport_->Defer([this, key] {
      auto node = outboxes.extract(key);
      if (!node.empty()) SendOutbox(std::get<2>(key), std::get<1>(key), std::move(node.mapped()));
    });
    if (!deferred) return transport_->Call(address, std::move(request), timeout, std::move(done));
    it = outboxes.emplace(key, Outbox{{}, {}, timeout, 0}).first;
  }
  Outbox& box = it->second;
  box.requests.push_back(std::move(request));
  box.dones.push_back(std::move(done));
  box.timeout = std::max(box.timeout, timeout);
  box.bytes += bytes;
  if (box.bytes >= kMaxBatchBytes) {
    // Full: it goes now; the turn's next requests start another, which the flush takes.
    Outbox full = std::move(box);
    outboxes.erase(it);
    auto again = outboxes.emplace(key, Outbox{{}, {}, timeout, 0});
    (void)again;
    SendOutbox(address, write, std::move(full));
  }
}

Coordinator::Coordinator(Options options, Membership* membership, Transport* transport,
                         ReplicaStore* local, HybridClock* clock, HintStore* hints)
    : serial_(NextSerial()),
      options_(options),
      membership_(membership),
      transport_(transport),
      local_(local),
      clock_(clock),
      hints_(hints) {}

absl::Mutex& Coordinator::KeyLock(int db, std::string_view key) {
  const uint64_t h = XXH3_64bits_withSeed(key.data(), key.size(), static_cast<uint64_t>(db));
  return key_locks_[h % key_locks_.size()];
}

bool Coordinator::Handle(const pb::Envelope& request, Transport::Respond& respond) {
  pb::Envelope reply;
  if (request.has_write_batch()) {
    const pb::ReplicaWriteBatch& batch = request.write_batch();
    for (const pb::ReplicaWrite& w : batch.writes()) {
      if (w.db() < 0 || (w.db() >= kMaxDatabases && !IsRegisterDb(w.db()))) {
        return respond(ErrorReply(pb::Error::INVALID, "database index out of range")), true;
      }
      clock_->Observe(NewestVersion(VersionList(w.versions().begin(), w.versions().end())));
    }
    std::vector<bool> changed;
    absl::Status s = local_->ApplyBatch(batch, &changed);
    if (!s.ok()) return respond(ErrorReply(pb::Error::UNAVAILABLE, s.message())), true;
    for (bool c : changed) reply.mutable_write_batch_result()->add_applied(c);
    return respond(std::move(reply)), true;
  }
  if (request.has_read_batch()) {
    pb::ReplicaReadBatchResult* out = reply.mutable_read_batch_result();
    size_t bytes = 0;
    for (const pb::ReplicaRead& q : request.read_batch().reads()) {

      if (q.db() < 0 || (q.db() >= kMaxDatabases && !IsRegisterDb(q.db()))) {
        return respond(ErrorReply(pb::Error::INVALID, "database index out of range")), true;
      }
      auto r = local_->Read(q.db(), q.key());
      if (!r.ok()) return respond(ErrorReply(pb::Error::UNAVAILABLE, r.status().message())), true;
      pb::ReplicaReadResult one;
      one.set_found(!r->empty());
      for (pb::Record& rec : *r) *one.add_versions() = std::move(rec);
      // Past the budget the answer stops: the coordinator asks the rest one by one (a
      // large value alone, in a frame of its own).
      const size_t size = one.ByteSizeLong();
      if (out->results_size() > 0 && bytes + size > kMaxReadBatchReply) break;
      bytes += size;
      *out->add_results() = std::move(one);
    }
    return respond(std::move(reply)), true;
  }
  const int db = request.has_write()            ? request.write().db()
                 : request.has_read()           ? request.read().db()
                 : request.has_scan()           ? request.scan().db()
                 : request.has_coordinate()     ? request.coordinate().db()
                 : request.has_hint()           ? request.hint().db()
                 : request.has_tombstone_seen() ? request.tombstone_seen().db()
                                                : 0;
  if (db < 0 || (db >= kMaxDatabases && !IsRegisterDb(db))) {
    if (!(request.has_write() || request.has_read() || request.has_scan() || request.has_coordinate() ||
          request.has_hint() || request.has_tombstone_seen())) {
      return false;
    }
    return respond(ErrorReply(pb::Error::INVALID, "database index out of range")), true;
  }
  if (request.has_write()) {
    const pb::ReplicaWrite& w = request.write();
    VersionList versions(w.versions().begin(), w.versions().end());
    clock_->Observe(NewestVersion(versions));
    bool changed = false;
    absl::Status s = local_->Apply(w.db(), w.key(), versions, &changed);
    if (!s.ok()) return respond(ErrorReply(pb::Error::UNAVAILABLE, s.message())), true;
    reply.mutable_write_result()->set_applied(changed);
  } else if (request.has_read()) {
    auto r = local_->Read(request.read().db(), request.read().key());
    if (!r.ok()) return respond(ErrorReply(pb::Error::UNAVAILABLE, r.status().message())), true;
    pb::ReplicaReadResult* out = reply.mutable_read_result();
    out->set_found(!r->empty());
    for (pb::Record& rec : *r) *out->add_versions() = std::move(rec);
  } else if (request.has_scan()) {
    const pb::ReplicaScan& q = request.scan();
    std::vector<std::pair<std::string, VersionList>> entries;
    bool more = false;
    absl::Status s = local_->Scan(q.db(), q.start(), std::min<uint32_t>(q.limit(), 100000),
                                  &entries, &more);
    if (!s.ok()) return respond(ErrorReply(pb::Error::UNAVAILABLE, s.message())), true;
    // A page stays far below the frame limit whatever the values' sizes: past 32 MiB
    // the rest waits for the next page.
    constexpr size_t kMaxPageBytes = size_t{32} << 20;
    pb::ReplicaScanResult* out = reply.mutable_scan_result();
    size_t bytes = 0;
    for (auto& [key, versions] : entries) {
      if (bytes > kMaxPageBytes) {
        more = true;
        break;
      }
      if (q.all_versions()) {
        if (!q.prefix().empty() && !std::string_view(key).starts_with(q.prefix())) {
          more = false;
          break;
        }
        out->add_keys(key);
        pb::Versions* all = out->add_all();
        for (pb::Record& r : versions) {
          bytes += r.ByteSizeLong();
          *all->add_versions() = std::move(r);
        }
        bytes += key.size();
        continue;
      }
      const pb::Record* winner = Resolve(versions);
      if (winner == nullptr) continue;
      bytes += key.size() + winner->ByteSizeLong();
      out->add_keys(key);
      *out->add_records() = *winner;
    }
    if (more && out->keys_size() > 0) out->set_next(out->keys(out->keys_size() - 1));
  } else if (request.has_coordinate()) {
    const pb::CoordinateWrite& q = request.coordinate();
    clock_->Observe(q.record().version());
    auto f = Coordinate(q.db(), q.key(), q.record(), q.w(), q.has_context() ? &q.context() : nullptr);
    if (!f.ok()) {
      return respond(ErrorReply(KindOf(f.status()) == ErrorKind::kNoQuorum ? pb::Error::NOQUORUM
                                                                           : pb::Error::UNAVAILABLE,
                                f.status().message())),
             true;
    }
    const int n = options_.replicas;
    (*f)->OnSettled([weak = std::weak_ptr<WriteFanout>(*f), respond, n] {
      auto f = weak.lock();
      absl::MutexLock l(&f->mu);
      if (f->Succeeded()) {
        pb::Envelope ok;
        *ok.mutable_coordinate_result()->mutable_written() = f->written;
        return respond(std::move(ok));
      }
      respond(ErrorReply(pb::Error::NOQUORUM,
                         NoQuorum("write", f->ok, f->needed, n, f->last_error).message()));
    });
    return true;
  } else if (request.has_hint()) {
    if (hints_ == nullptr) {
      return respond(ErrorReply(pb::Error::UNAVAILABLE, "hinted handoff is off on this node")), true;
    }
    absl::Status s = hints_->Add(request.hint());
    if (!s.ok()) return respond(ErrorReply(pb::Error::UNAVAILABLE, s.message())), true;
    reply.mutable_hint_result();
  } else if (request.has_tombstone_seen()) {
    const pb::TombstoneSeen& t = request.tombstone_seen();
    absl::Status s = local_->MarkTombstoneSeen(t.db(), t.key(), t.tombstone());
    if (!s.ok()) return respond(ErrorReply(pb::Error::UNAVAILABLE, s.message())), true;
    reply.mutable_write_result()->set_applied(true);
  } else {
    return false;
  }
  respond(std::move(reply));
  return true;
}

absl::Status Coordinator::Scan(int db, const std::string& start, size_t limit,
                               std::vector<std::pair<std::string, pb::Record>>* page,
                               std::string* next) {
  page->clear();
  next->clear();
  if (!transport_->MayWaitHere()) return WaitOnTransportThread();
  struct Answer {
    std::vector<std::pair<std::string, pb::Record>> entries;
    bool more = false;
  };
  struct Gather {
    absl::Mutex mu;
    int pending ABSL_GUARDED_BY(mu) = 0;
    std::vector<Answer> answers ABSL_GUARDED_BY(mu);
    std::string error ABSL_GUARDED_BY(mu);
  };
  auto gather = std::make_shared<Gather>();
  Answer own;
  {
    std::vector<std::pair<std::string, VersionList>> local;
    CAIRN_RETURN_IF_ERROR(local_->Scan(db, start, limit, &local, &own.more));
    for (auto& [key, versions] : local) {
      if (const pb::Record* winner = Resolve(versions)) own.entries.emplace_back(key, *winner);
    }
  }
  int asked = 0;
  for (const auto& m : membership_->Members()) {
    if (IsSelf(m.state.id()) || !m.alive || m.state.status() != pb::NodeState::NORMAL) continue;
    asked++;
    pb::Envelope request;
    request.mutable_scan()->set_db(db);
    request.mutable_scan()->set_start(start);
    request.mutable_scan()->set_limit(static_cast<uint32_t>(limit));
    {
      absl::MutexLock l(&gather->mu);
      gather->pending++;
    }
    const std::string id = m.state.id();
    transport_->Call(m.state.cluster_address(), std::move(request), options_.timeout,
                     [gather, id](absl::StatusOr<pb::Envelope> reply) {
                       absl::MutexLock l(&gather->mu);
                       gather->pending--;
                       if (!reply.ok() || !reply->has_scan_result()) {
                         gather->error = absl::StrCat(id, ": ", ReplyFailure(reply).message());
                         return;
                       }
                       Answer a;
                       const auto& r = reply->scan_result();
                       for (int i = 0; i < r.keys_size() && i < r.records_size(); i++) {
                         a.entries.emplace_back(r.keys(i), r.records(i));
                       }
                       a.more = !r.next().empty();
                       gather->answers.push_back(std::move(a));
                     });
  }
  absl::MutexLock l(&gather->mu);
  auto done = [g = gather.get()]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return g->pending == 0; };
  gather->mu.AwaitWithTimeout(absl::Condition(&done), options_.timeout + absl::Seconds(1));
  if (gather->pending > 0 || !gather->error.empty()) {
    return NoQuorumError(absl::StrCat("scan: not every live node answered (",
                                               asked, " asked): ", gather->error));
  }
  gather->answers.push_back(std::move(own));
  // Keys past the smallest last key of a node that had more may be missing from this
  // page (that node has not listed them yet): they wait for the next page.
  std::optional<std::string> cutoff;
  for (const Answer& a : gather->answers) {
    if (a.more && !a.entries.empty() && (!cutoff || a.entries.back().first < *cutoff)) {
      cutoff = a.entries.back().first;
    }
  }
  std::map<std::string, pb::Record> merged;
  for (Answer& a : gather->answers) {
    for (auto& [key, rec] : a.entries) {
      if (cutoff && key > *cutoff) continue;
      auto [it, inserted] = merged.try_emplace(key, rec);
      if (!inserted && Supersedes(rec, it->second)) it->second = std::move(rec);
    }
  }
  for (auto& [key, rec] : merged) page->emplace_back(key, std::move(rec));
  if (cutoff) *next = *cutoff + std::string(1, '\0');  // the smallest key after it
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Coordinator::WriteFanout>> Coordinator::Coordinate(
    int db, std::string_view key, pb::Record record, int w, const pb::Context* context,
    const Ring* given_ring, const std::vector<int>* given_replicas) {
  // One look at the rings: the current ring's replicas and the pending ring's of the
  // same moment (a change completing in between would count W in neither).
  const Membership::Placement placement = membership_->placement();
  if (given_ring != placement.current.get()) given_replicas = nullptr;  // the ring moved on
  const Ring* ring = placement.current.get();
  std::vector<int> computed;
  if (given_replicas == nullptr) computed = ring->PreferenceList(PlacementKey(db, key), options_.replicas);
  const std::vector<int>& replicas = given_replicas != nullptr ? *given_replicas : computed;
  const std::string& self = membership_->self_id();
  // One look at who is alive: the replicas counted are the replicas asked. During a
  // topology change the pending ring's replicas of the key that are not current ones get
  // the write too (WriteFanout).
  std::vector<std::string> ids;
  std::vector<bool> alive;
  std::vector<std::pair<std::string, std::pair<bool, bool>>> roles;
  bool self_replica = false;
  for (int m : replicas) {
    ids.push_back(ring->members()[m].id);
    alive.push_back(IsSelf(ids.back()) || membership_->IsAlive(ids.back()));
    self_replica |= IsSelf(ids.back());
    roles.push_back({ids.back(), {true, false}});
  }
  const int current_up = static_cast<int>(std::count(alive.begin(), alive.end(), true));
  int pending_up = 0;
  if (placement.HasPending()) {
    const Ring& next = *placement.pending;
    for (int m : next.PreferenceList(PlacementKey(db, key), options_.replicas)) {
      const std::string& id = next.members()[m].id;
      auto it = std::find_if(roles.begin(), roles.end(), [&](const auto& r) { return r.first == id; });
      if (it != roles.end()) {
        // Asked once: a second look could see it otherwise, and count it where it was
        // not asked (or not count it where it was).
        pending_up += alive[static_cast<size_t>(it - roles.begin())];
        it->second.second = true;
        continue;
      }
      const bool up = IsSelf(id) || membership_->IsAlive(id);
      pending_up += up;
      ids.push_back(id);
      alive.push_back(up);
      self_replica |= IsSelf(id);
      roles.push_back({id, {false, true}});
    }
  }
  if (!self_replica) {
    // The forwarding node's ring differs from this one's (membership is changing): a
    // copy here would count towards W without being a replica.
    return absl::UnavailableError("this node is not a replica of the key (the ring is changing)");
  }
  if (current_up < w || w < 1) return Unreachable("write", current_up, w, options_.replicas);
  if (placement.HasPending() && pending_up < w) {
    return Unreachable("write (to the replicas of the ring being changed to)", pending_up, w,
                       options_.replicas);
  }
  Clock given;
  if (context != nullptr) given = NormalizeClock(context->clock());
  auto f = std::make_shared<WriteFanout>();
  {
    absl::MutexLock key_lock(&KeyLock(db, key));
    const uint64_t now = clock_->Now();
    // This node's entry of a context can only hold counters it gave (each is at most its
    // clock, which Observe below keeps ahead of them): a larger one would make this
    // node's later writes of the key look covered by it. Other nodes' entries cannot be
    // checked here (contexts are not signed; docs/cluster.md, Limits).
    if (CounterOf(given, self) > now) {
      return absl::InvalidArgumentError("context is not one this cluster gave");
    }
    // This node must keep what it coordinated (its later dots are computed from what it
    // holds): if it cannot store the write, nothing is sent. One read of what it holds
    // and the write, with no replica write of the key between them.
    absl::Status stored = local_->Update(db, key, [&](const VersionList& local) -> absl::StatusOr<pb::Record> {
      // The new version's context: what the client saw, or without one every version
      // this replica holds (it supersedes them). Its dot: this node, with a counter
      // above any this node gave the key before, so no two writes share a dot.
      Clock clock = context != nullptr ? std::move(given) : MergedClock(local);
      uint64_t counter = std::max(now, CounterOf(clock, self) + 1);
      for (const pb::Record& v : local) {
        counter = std::max(counter, CounterOf(FullClock(v), self) + 1);
      }
      if (record.has_counter() && record.counter().offset_version() == kOffsetOfThisWrite) {
        record.mutable_counter()->set_offset_version(now);
      }
      AbsorbCounters(local, clock, now, &record);
      Prune(&clock, kMaxClockEntries, "");
      record.set_version(now);
      *record.mutable_clock() = std::move(clock);
      record.mutable_dot()->set_node(self);
      record.mutable_dot()->set_counter(counter);
      record.mutable_dot()->set_timestamp(now);
      clock_->Observe(counter);  // later dots of this node come after this one
      return record;
    });
    if (!stored.ok()) return stored;
    {
      absl::MutexLock l(&f->mu);
      f->needed = w;
      f->written = record;
      f->all_replicas = static_cast<int>(ids.size());
      f->asked = current_up;
      f->has_pending = placement.HasPending();
      f->pending_asked = pending_up;
      f->roles = std::move(roles);
      if (record.tombstone() && replicas.size() == static_cast<size_t>(options_.replicas)) {
        f->on_all_stored = [this, db, k = std::string(key), record, ids] {
          RunLater([this, db, k, record, ids] { TombstoneSeenByAll(db, k, record, ids); });
        };
      }
    }
    f->Count(absl::OkStatus(), self, /*is_self=*/true);
  }
  for (size_t i = 0; i < ids.size(); i++) {
    const std::string& id = ids[i];
    if (IsSelf(id)) continue;
    if (!alive[i]) {
      Hint(id, db, key, {record});
      continue;
    }
    pb::Envelope request;
    request.mutable_write()->set_db(db);
    request.mutable_write()->set_key(std::string(key));
    *request.mutable_write()->add_versions() = record;
    CallReplica(membership_->AddressOf(id), std::move(request), TimeoutFor(record),
                     [this, f, id, db, k = std::string(key), record](absl::StatusOr<pb::Envelope> reply) {
                       const absl::Status s =
                           reply.ok() && reply->has_write_result() ? absl::OkStatus() : ReplyFailure(reply);
                       f->Count(s, id);
                       if (!s.ok()) RunLater([this, id, db, k, record] { Hint(id, db, k, {record}); });
                     });
  }
  return f;
}

void Coordinator::RunLater(std::function<void()> fn) {
  if (options_.run_later) return options_.run_later(std::move(fn));
  fn();
}

// A write this node is not a replica of, on its way to one that is.
struct Coordinator::ForwardState {
  int db = 0;
  std::string key;
  pb::Record record;
  int w = 0;
  std::optional<pb::Context> context;
  std::shared_ptr<const Ring> ring;
  std::vector<int> replicas;
  size_t next = 0;  // in replicas
  std::string why;  // the last replica's refusal
  WriteDone done;
};

void Coordinator::ForwardNext(std::shared_ptr<ForwardState> s) {
  while (s->next < s->replicas.size()) {
    const std::string id = s->ring->members()[s->replicas[s->next++]].id;
    if (!membership_->IsAlive(id)) continue;
    pb::Envelope request;
    pb::CoordinateWrite* q = request.mutable_coordinate();
    q->set_db(s->db);
    q->set_key(s->key);
    *q->mutable_record() = s->record;
    if (s->context) *q->mutable_context() = *s->context;
    q->set_w(s->w);
    stats_.forwarded++;
    // The replica waits up to the timeout for its own replicas: allow for that.
    const absl::Duration timeout = 2 * TimeoutFor(s->record);
    transport_->Call(membership_->AddressOf(id), std::move(request), timeout,
                     [this, s, id](absl::StatusOr<pb::Envelope> reply) {
                       if (reply.ok() && reply->has_coordinate_result()) {
                         return s->done(std::move(*reply->mutable_coordinate_result()->mutable_written()));
                       }
                       const absl::Status failure = ReplyFailure(reply);
                       if (reply.ok()) {
                         // The replica's quorum failed: that is the answer. It could not
                         // serve the write (starting, not a replica in its ring): the
                         // next live replica coordinates.
                         if (reply->error().code() == pb::Error::NOQUORUM) {
                           return s->done(absl::UnavailableError(failure.message()));
                         }
                         s->why = std::string(failure.message());
                         return ForwardNext(s);
                       }
                       s->why = absl::StrCat(id, ": ", failure.message());
                       // Never sent (no connection): the next live replica coordinates.
                       // The connection broke or the replica did not answer in time:
                       // whether it wrote is unknown, so no other replica writes a second
                       // version.
                       if (WasNotSent(failure)) return ForwardNext(s);
                       s->done(NoQuorum("write", 0, s->w, options_.replicas, s->why));
                     });
    return;
  }
  s->done(NoQuorum("write", 0, s->w, options_.replicas, s->why));
}

namespace {

// Where a blocking form waits for its asynchronous call.
template <typename T>
class Latch {
 public:
  void Set(T value) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    value_.emplace(std::move(value));
  }
  std::optional<T> Wait(absl::Duration limit) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    auto set = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return value_.has_value(); };
    mu_.AwaitWithTimeout(absl::Condition(&set), limit);
    return std::move(value_);
  }

 private:
  absl::Mutex mu_;
  std::optional<T> value_ ABSL_GUARDED_BY(mu_);
};

template <typename T, typename Start>
T WaitFor(const Transport& transport, absl::Duration limit, Start&& start) {
  if (!transport.MayWaitHere()) return T(WaitOnTransportThread());
  auto latch = std::make_shared<Latch<T>>();  // done may run after a wait that gave up
  start([latch](T value) { latch->Set(std::move(value)); });
  std::optional<T> value = latch->Wait(limit);
  if (!value) return T(absl::DeadlineExceededError("cluster call did not finish in time"));
  return std::move(*value);
}

}  // namespace

void Coordinator::WriteAsync(int db, std::string key, pb::Record record, int w,
                             std::optional<pb::Context> context, WriteDone done) {
  const int64_t start = NowMicros();
  stats_.writes++;
  auto ring = membership_->ring();
  std::vector<int> replicas = ring->PreferenceList(PlacementKey(db, key), options_.replicas);
  WriteDone finish = [this, start, done = std::move(done)](absl::StatusOr<pb::Record> result) {
    stats_.write_micros += NowMicros() - start;
    stats_.write_latency.Record(static_cast<uint64_t>(NowMicros() - start));
    if (KindOf(result.status()) == ErrorKind::kNoQuorum) stats_.quorum_failures++;
    if (result.ok()) clock_->Observe(result->version());
    done(std::move(result));
  };
  const bool self_replica = std::any_of(replicas.begin(), replicas.end(), [&](int m) {
    return IsSelf(ring->members()[m].id);
  });
  if (self_replica) {
    // Coordinate counts who is up (one look) and refuses too few before writing.
    auto f = Coordinate(db, key, std::move(record), w, context ? &*context : nullptr, ring.get(), &replicas);
    if (!f.ok()) return finish(f.status());
    // The fanout holds this callback: a weak reference, or neither is ever freed when a
    // call never completes (a process that dies, in the simulator).
    (*f)->OnSettled([weak = std::weak_ptr<WriteFanout>(*f), w, n = options_.replicas,
                     finish = std::move(finish)] {
      auto f = weak.lock();  // alive: the settling call holds it
      absl::StatusOr<pb::Record> result;
      {
        absl::MutexLock l(&f->mu);
        result = f->Succeeded() ? absl::StatusOr<pb::Record>(f->written)
                                    : NoQuorum("write", f->ok, w, n, f->last_error);
      }
      finish(std::move(result));
    });
    return;
  }
  // Too few replicas up: refuse before writing anything (as Cassandra's Unavailable),
  // rather than leave a write on some replicas that the client is told failed.
  if (const int up = LiveReplicas(*ring, replicas); up < w || w == 0) {
    return finish(Unreachable("write", up, w, options_.replicas));
  }
  auto s = std::make_shared<ForwardState>();
  s->db = db;
  s->key = std::move(key);
  s->record = std::move(record);
  s->w = w;
  s->context = std::move(context);
  s->ring = std::move(ring);
  s->replicas = std::move(replicas);
  s->done = std::move(finish);
  ForwardNext(std::move(s));
}

absl::StatusOr<pb::Record> Coordinator::Write(int db, std::string_view key, pb::Record record,
                                              int w, const pb::Context* context) {
  const size_t bytes = record.ByteSizeLong();
  std::optional<pb::Context> given;
  if (context != nullptr) given = *context;
  return WaitFor<absl::StatusOr<pb::Record>>(*transport_, WaitLimit(bytes), [&](WriteDone done) {
    WriteAsync(db, std::string(key), std::move(record), w, std::move(given), std::move(done));
  });
}

void Coordinator::WriteManyAsync(int db, std::vector<WriteOp> ops, int w, StatusDone done) {
  if (ops.empty()) return done(absl::OkStatus());
  const int64_t start = NowMicros();
  auto ring = membership_->ring();
  struct Gather {
    absl::Mutex mu;
    int pending ABSL_GUARDED_BY(mu) = 1;  // one for the loop below
    absl::Status result ABSL_GUARDED_BY(mu);
    StatusDone done;
  };
  auto gather = std::make_shared<Gather>();
  gather->done = std::move(done);
  // Counts one settled write (or the end of the loop); the last calls done.
  auto settle = [this, gather, start](const absl::Status& s) {
    absl::Status result;
    {
      absl::MutexLock l(&gather->mu);
      if (!s.ok() && gather->result.ok()) gather->result = s;
      if (--gather->pending > 0) return;
      result = gather->result;
    }
    stats_.write_micros += NowMicros() - start;
    stats_.write_latency.Record(static_cast<uint64_t>(NowMicros() - start));
    if (KindOf(result) == ErrorKind::kNoQuorum) stats_.quorum_failures++;
    gather->done(std::move(result));
  };
  absl::Status refused;
  for (WriteOp& op : ops) {
    stats_.writes++;
    const std::vector<int> replicas = ring->PreferenceList(PlacementKey(db, op.key), options_.replicas);
    if (const int up = LiveReplicas(*ring, replicas); up < w || w == 0) {
      refused = Unreachable("write", up, w, options_.replicas);
      break;
    }
    if (std::none_of(replicas.begin(), replicas.end(),
                     [&](int m) { return IsSelf(ring->members()[m].id); })) {
      refused = absl::FailedPreconditionError("WriteMany: this node is not a replica of the key");
      break;
    }
    auto f = Coordinate(db, op.key, std::move(op.record), w, op.context ? &*op.context : nullptr);
    if (!f.ok()) {
      refused = f.status();
      break;
    }
    {
      absl::MutexLock l(&gather->mu);
      gather->pending++;
    }
    (*f)->OnSettled([this, weak = std::weak_ptr<WriteFanout>(*f), w, settle] {
      auto f = weak.lock();
      absl::Status s;
      {
        absl::MutexLock l(&f->mu);
        if (f->Succeeded()) {
          clock_->Observe(f->written.version());
        } else {
          s = NoQuorum("write", f->ok, w, options_.replicas, f->last_error);
        }
      }
      settle(s);
    });
  }
  settle(refused);
}

absl::Status Coordinator::WriteMany(int db, std::vector<WriteOp> ops, int w) {
  size_t bytes = 0;
  for (const WriteOp& op : ops) bytes += op.record.ByteSizeLong();
  return WaitFor<absl::Status>(*transport_, WaitLimit(bytes), [&](StatusDone done) {
    WriteManyAsync(db, std::move(ops), w, std::move(done));
  });
}

void Coordinator::Hint(const std::string& target, int db, std::string_view key,
                       const VersionList& versions) {
  if (hints_ == nullptr) return;
  pb::Hint hint;
  hint.set_target(target);
  hint.set_db(db);
  hint.set_key(std::string(key));
  for (const pb::Record& r : versions) *hint.add_versions() = r;
  hint.set_created_ms(static_cast<int64_t>(HybridClock::Physical(clock_->Now())));
  // The next node on the ring past the key's replicas keeps it (Dynamo); with none
  // (fewer nodes than N + 1 up), this node does.
  auto ring = membership_->ring();
  const std::vector<int> walk = ring->PreferenceList(PlacementKey(db, key), static_cast<int>(ring->members().size()));
  for (size_t i = static_cast<size_t>(options_.replicas); i < walk.size(); i++) {
    const std::string& id = ring->members()[walk[i]].id;
    if (IsSelf(id)) break;
    if (!membership_->IsAlive(id)) continue;
    pb::Envelope request;
    *request.mutable_hint() = hint;
    stats_.hints_sent++;
    transport_->Call(membership_->AddressOf(id), std::move(request), options_.timeout,
                     [this, hint](absl::StatusOr<pb::Envelope> reply) {
                       if (!reply.ok() || !reply->has_hint_result()) {
                         RunLater([this, hint] { KeepHint(hint); });
                       }
                     });
    return;
  }
  KeepHint(hint);
}

void Coordinator::KeepHint(const pb::Hint& hint) {
  if (hints_ != nullptr && hints_->Add(hint).ok()) {
    stats_.hints_kept++;
  } else {
    stats_.hint_failures++;
  }
}

void Coordinator::TombstoneSeenByAll(int db, const std::string& key, const pb::Record& tombstone,
                                     const std::vector<std::string>& replicas) {
  stats_.tombstones_seen++;
  for (const std::string& id : replicas) {
    if (IsSelf(id)) {
      (void)local_->MarkTombstoneSeen(db, key, tombstone);  // a later read marks it again
      continue;
    }
    pb::Envelope request;
    pb::TombstoneSeen* t = request.mutable_tombstone_seen();
    t->set_db(db);
    t->set_key(key);
    *t->mutable_tombstone() = tombstone;
    transport_->Call(membership_->AddressOf(id), std::move(request), options_.timeout,
                     [](absl::StatusOr<pb::Envelope>) {});
  }
}

void Coordinator::RepairReplicas(const std::shared_ptr<ReadFanout>& f, std::function<void()> done) {
  if (!options_.read_repair) {
    if (done) done();
    return;
  }
  VersionList merged;
  std::vector<std::string> stale;
  bool all_hold_one_tombstone = false;
  {
    absl::MutexLock l(&f->mu);
    merged = f->Merged();
    for (const auto& [who, versions] : f->answers) {
      if (!SameVersions(versions, merged)) stale.push_back(who);
    }
    all_hold_one_tombstone = f->only_owners && stale.empty() && f->failed == 0 &&
                             f->answers.size() == static_cast<size_t>(options_.replicas) &&
                             f->replicas.size() == static_cast<size_t>(options_.replicas) &&
                             merged.size() == 1 && merged[0].tombstone();
  }
  if (all_hold_one_tombstone) TombstoneSeenByAll(f->db, f->key, merged[0], f->replicas);
  struct Pending {
    std::atomic<int> left;
    std::function<void()> done;
  };
  auto pending = std::make_shared<Pending>();
  pending->left = static_cast<int>(stale.size()) + 1;
  pending->done = std::move(done);
  auto finish = [pending] {
    if (--pending->left == 0 && pending->done) pending->done();
  };
  for (const std::string& id : stale) {
    stats_.read_repairs++;
    if (IsSelf(id)) {
      bool changed;
      (void)local_->Apply(f->db, f->key, merged, &changed);
      finish();
      continue;
    }
    pb::Envelope request;
    request.mutable_write()->set_db(f->db);
    request.mutable_write()->set_key(f->key);
    for (const pb::Record& r : merged) *request.mutable_write()->add_versions() = r;
    transport_->Call(membership_->AddressOf(id), std::move(request), options_.timeout,
                     [finish](absl::StatusOr<pb::Envelope>) { finish(); });
  }
  finish();
}

void Coordinator::ReadVersionsAsync(int db, std::string key, int r, Repair repair,
                                    ReadDone done) {
  const int64_t start = NowMicros();
  stats_.reads++;
  const Membership::Placement placement = membership_->placement();
  const std::shared_ptr<const Ring>& ring = placement.current;
  const std::vector<int> replicas = ring->PreferenceList(PlacementKey(db, key), options_.replicas);
  // One look at who is alive: the replicas counted are the replicas asked.
  std::vector<std::string> ids;
  std::vector<bool> alive;
  std::vector<std::pair<std::string, std::pair<bool, bool>>> roles;
  bool self_replica = false;
  for (int m : replicas) {
    ids.push_back(ring->members()[m].id);
    self_replica |= IsSelf(ids.back());
    alive.push_back(IsSelf(ids.back()) || membership_->IsAlive(ids.back()));
    roles.push_back({ids.back(), {true, false}});
  }
  const int current_up = static_cast<int>(std::count(alive.begin(), alive.end(), true));
  if (current_up < r || r == 0) {
    stats_.quorum_failures++;
    return done(Unreachable("read", current_up, r, options_.replicas));
  }
  int pending_up = 0;
  if (placement.HasPending()) {
    const Ring& next = *placement.pending;
    for (int m : next.PreferenceList(PlacementKey(db, key), options_.replicas)) {
      const std::string& id = next.members()[m].id;
      auto it = std::find_if(roles.begin(), roles.end(), [&](const auto& role) { return role.first == id; });
      if (it != roles.end()) {
        pending_up += alive[static_cast<size_t>(it - roles.begin())];  // asked once (as writes)
        it->second.second = true;
        continue;
      }
      const bool up = IsSelf(id) || membership_->IsAlive(id);
      pending_up += up;
      ids.push_back(id);
      alive.push_back(up);
      self_replica |= IsSelf(id);
      roles.push_back({id, {false, true}});
    }
    if (pending_up < r) {
      stats_.quorum_failures++;
      return done(Unreachable("read (from the replicas of the ring being changed to)", pending_up, r,
                              options_.replicas));
    }
  }
  auto f = std::make_shared<ReadFanout>();
  f->db = db;
  f->key = std::move(key);
  f->only_owners = !placement.HasPending();
  f->has_pending = placement.HasPending();
  f->roles = std::move(roles);
  {
    absl::MutexLock l(&f->mu);
    f->needed = r;
    f->replicas = std::move(ids);
    f->asked = current_up;
    f->pending_asked = pending_up;
    f->total_asked = static_cast<int>(std::count(alive.begin(), alive.end(), true));
  }
  // The answer from what the replicas said so far (at least R of them, or a failure).
  // Held by the fanout: weak references to it (see WriteAsync).
  std::weak_ptr<ReadFanout> weak = f;
  auto answer = [this, r, start, done = std::move(done)](const std::shared_ptr<ReadFanout>& f) {
    absl::StatusOr<ReadResult> result;
    {
      absl::MutexLock l(&f->mu);
      if (f->ok < r) {
        result = NoQuorum("read", f->ok, r, options_.replicas, f->last_error);
      } else if (!f->Succeeded()) {
        result = NoQuorum("read (from the replicas of the ring being changed to)", f->pending_ok, r,
                          options_.replicas, f->last_error);
      } else {
        result.emplace();
        result->versions = f->Merged();
      }
    }
    if (!result.ok()) {
      stats_.quorum_failures++;
    } else {
      if (result->versions.size() > 1) stats_.sibling_reads++;
      result->context = MergedClock(result->versions);
      clock_->Observe(NewestVersion(result->versions));
    }
    stats_.read_micros += NowMicros() - start;
    stats_.read_latency.Record(static_cast<uint64_t>(NowMicros() - start));
    done(std::move(result));
  };
  if (repair == Repair::kSync) {
    // Every replica answers (or times out) and the stale ones are repaired first.
    f->OnAllAnswered([this, weak, answer = std::move(answer)] {
      auto f = weak.lock();  // alive: the answering call holds it
      bool quorum;
      {
        absl::MutexLock l(&f->mu);
        quorum = f->Succeeded();
      }
      if (!quorum) return answer(f);
      RepairReplicas(f, [f, answer] { answer(f); });  // held by the repair, not by f
    });
  } else {
    f->OnDecided([weak, answer = std::move(answer)] { answer(weak.lock()); });
    // Once all answered, on that thread: replicas that differ get the merge.
    f->OnAllAnswered([this, weak] { RepairReplicas(weak.lock(), nullptr); });
  }
  if (self_replica) f->Answer(membership_->self_id(), local_->Read(db, f->key));
  for (size_t i = 0; i < f->replicas.size(); i++) {
    const std::string& id = f->replicas[i];
    if (IsSelf(id) || !alive[i]) continue;
    pb::Envelope request;
    request.mutable_read()->set_db(db);
    request.mutable_read()->set_key(f->key);
    CallReplica(membership_->AddressOf(id), std::move(request), options_.timeout,
                     [f, id](absl::StatusOr<pb::Envelope> reply) {
                       if (!reply.ok() || !reply->has_read_result()) {
                         return f->Answer(id, ReplyFailure(reply));
                       }
                       auto* v = reply->mutable_read_result()->mutable_versions();
                       f->Answer(id, VersionList(std::make_move_iterator(v->begin()),
                                                 std::make_move_iterator(v->end())));
                     });
  }
}

absl::StatusOr<Coordinator::ReadResult> Coordinator::ReadVersions(int db, std::string_view key,
                                                                  int r, Repair repair) {
  return WaitFor<absl::StatusOr<ReadResult>>(*transport_, WaitLimit(0), [&](ReadDone done) {
    ReadVersionsAsync(db, std::string(key), r, repair, std::move(done));
  });
}

void Coordinator::ReadAsync(int db, std::string key, int r, Repair repair, RecordDone done) {
  ReadVersionsAsync(db, std::move(key), r, repair,
                    [done = std::move(done)](absl::StatusOr<ReadResult> result) {
                      if (!result.ok()) return done(result.status());
                      auto merged = MergeForRead(result->versions);
                      if (!merged.ok()) return done(merged.status());
                      if (!merged->has_value()) return done(absl::NotFoundError("no such key"));
                      done(std::move(**merged));
                    });
}

absl::StatusOr<pb::Record> Coordinator::Read(int db, std::string_view key, int r, Repair repair) {
  return WaitFor<absl::StatusOr<pb::Record>>(*transport_, WaitLimit(0), [&](RecordDone done) {
    ReadAsync(db, std::string(key), r, repair, std::move(done));
  });
}

}  // namespace cairn::cluster
