#include "cluster/coordinator.h"

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/status.h"

namespace cairn::cluster {
namespace {

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The answers of one fan-out, shared with the transport callbacks that may outlive it.
struct Fanout {
  absl::Mutex mu;
  int ok ABSL_GUARDED_BY(mu) = 0;
  int failed ABSL_GUARDED_BY(mu) = 0;
  std::vector<pb::Record> records ABSL_GUARDED_BY(mu);  // reads: the versions found
  std::string last_error ABSL_GUARDED_BY(mu);

  // Counts one replica's answer: OK, or its error (from `who`, if a peer).
  void Count(const absl::Status& s, std::string_view who = "") ABSL_LOCKS_EXCLUDED(mu) {
    absl::MutexLock l(&mu);
    if (s.ok()) {
      ok++;
      return;
    }
    failed++;
    last_error = who.empty() ? std::string(s.message()) : absl::StrCat(ToAbsl(who), ": ", s.message());
  }
};

// Waits until `needed` answers succeeded, or that became impossible (of `total` asked),
// or the deadline passed. Returns the successes.
int Await(Fanout& f, int needed, int total, absl::Time deadline) {
  absl::MutexLock l(&f.mu);
  auto settled = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(f.mu) {
    return f.ok >= needed || total - f.failed < needed;
  };
  f.mu.AwaitWithDeadline(absl::Condition(&settled), deadline);
  return f.ok;
}

absl::Status NoQuorum(const char* what, int got, int needed, int n, const std::string& why) {
  return absl::UnavailableError(absl::StrCat("NOQUORUM ", what, " reached ", got, " of ", needed,
                                             " required replicas (N=", n, ")",
                                             why.empty() ? "" : absl::StrCat(": ", why)));
}

absl::Status Unreachable(const char* what, int up, int needed, int n) {
  return absl::UnavailableError(absl::StrCat("NOQUORUM ", what, " needs ", needed,
                                             " replicas, ", up, " up (N=", n, ")"));
}

}  // namespace

int Coordinator::LiveReplicas(const Ring& ring, const std::vector<int>& replicas) {
  int up = 0;
  for (int m : replicas) {
    const std::string& id = ring.members()[m].id;
    up += id == membership_->self_id() || membership_->IsAlive(id);
  }
  return up;
}

Coordinator::Coordinator(Options options, Membership* membership, Transport* transport,
                         ReplicaStore* local, HybridClock* clock)
    : options_(options),
      membership_(membership),
      transport_(transport),
      local_(local),
      clock_(clock) {}

bool Coordinator::Handle(const pb::Envelope& request, Transport::Respond& respond) {
  pb::Envelope reply;
  if (request.has_write()) {
    const pb::ReplicaWrite& w = request.write();
    clock_->Observe(w.record().version());
    bool applied = false;
    absl::Status s = local_->Apply(w.db(), w.key(), w.record(), &applied);
    if (s.ok()) {
      reply.mutable_write_result()->set_applied(applied);
    } else {
      reply.mutable_error()->set_code(pb::Error::UNAVAILABLE);
      reply.mutable_error()->set_message(std::string(s.message()));
    }
  } else if (request.has_read()) {
    auto r = local_->Read(request.read().db(), request.read().key());
    if (r.ok()) {
      reply.mutable_read_result()->set_found(true);
      *reply.mutable_read_result()->mutable_record() = std::move(*r);
    } else if (absl::IsNotFound(r.status())) {
      reply.mutable_read_result()->set_found(false);
    } else {
      reply.mutable_error()->set_code(pb::Error::UNAVAILABLE);
      reply.mutable_error()->set_message(std::string(r.status().message()));
    }
  } else if (request.has_scan()) {
    const pb::ReplicaScan& q = request.scan();
    std::vector<std::pair<std::string, pb::Record>> entries;
    bool more = false;
    absl::Status s = local_->Scan(q.db(), q.start(), std::min<uint32_t>(q.limit(), 100000),
                                  &entries, &more);
    if (s.ok()) {
      // A page stays far below the frame limit whatever the values' sizes: past 32 MiB
      // the rest waits for the next page.
      constexpr size_t kMaxPageBytes = size_t{32} << 20;
      pb::ReplicaScanResult* out = reply.mutable_scan_result();
      size_t bytes = 0;
      for (auto& [key, rec] : entries) {
        if (bytes > kMaxPageBytes) {
          more = true;
          break;
        }
        bytes += key.size() + rec.ByteSizeLong();
        out->add_keys(key);
        *out->add_records() = std::move(rec);
      }
      if (more && out->keys_size() > 0) out->set_next(out->keys(out->keys_size() - 1));
    } else {
      reply.mutable_error()->set_code(pb::Error::UNAVAILABLE);
      reply.mutable_error()->set_message(std::string(s.message()));
    }
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
  CAIRN_RETURN_IF_ERROR(local_->Scan(db, start, limit, &own.entries, &own.more));
  int asked = 0;
  for (const auto& m : membership_->Members()) {
    if (m.state.id() == membership_->self_id() || !m.alive ||
        m.state.status() != pb::NodeState::NORMAL) {
      continue;
    }
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
                         gather->error = absl::StrCat(
                             id, ": ", reply.ok() ? reply->error().message() : reply.status().message());
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
    return absl::UnavailableError(absl::StrCat("NOQUORUM scan: not every live node answered (",
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

absl::Status Coordinator::Write(int db, std::string_view key, pb::Record record, int w) {
  const int64_t start = NowMicros();
  stats_.writes++;
  auto ring = membership_->ring();
  const std::vector<int> replicas = ring->PreferenceList(key, options_.replicas);
  // Too few replicas up: refuse before writing anything (as Cassandra's Unavailable),
  // rather than leave a write on some replicas that the client is told failed.
  if (const int up = LiveReplicas(*ring, replicas); up < w || w == 0) {
    stats_.quorum_failures++;
    return Unreachable("write", up, w, options_.replicas);
  }
  record.set_version(clock_->Now());
  auto fanout = std::make_shared<Fanout>();
  int asked = 0;
  for (int m : replicas) {
    const std::string& id = ring->members()[m].id;
    if (id == membership_->self_id()) {
      asked++;
      bool applied;
      fanout->Count(local_->Apply(db, key, record, &applied));
      continue;
    }
    if (!membership_->IsAlive(id)) continue;
    asked++;
    pb::Envelope request;
    request.mutable_write()->set_db(db);
    request.mutable_write()->set_key(std::string(key));
    *request.mutable_write()->mutable_record() = record;
    transport_->Call(membership_->AddressOf(id), std::move(request), options_.timeout,
                     [fanout, id](absl::StatusOr<pb::Envelope> reply) {
                       if (reply.ok() && !reply->has_write_result()) {
                         reply = absl::UnavailableError(reply->error().message());
                       }
                       fanout->Count(reply.status(), id);
                     });
  }
  const int got = Await(*fanout, w, asked, absl::Now() + options_.timeout);
  stats_.write_micros += NowMicros() - start;
  if (got >= w && w > 0) return absl::OkStatus();
  stats_.quorum_failures++;
  absl::MutexLock l(&fanout->mu);
  return NoQuorum("write", got, w, options_.replicas, fanout->last_error);
}

absl::StatusOr<pb::Record> Coordinator::Read(int db, std::string_view key, int r) {
  const int64_t start = NowMicros();
  stats_.reads++;
  auto ring = membership_->ring();
  const std::vector<int> replicas = ring->PreferenceList(key, options_.replicas);
  if (const int up = LiveReplicas(*ring, replicas); up < r || r == 0) {
    stats_.quorum_failures++;
    return Unreachable("read", up, r, options_.replicas);
  }
  auto fanout = std::make_shared<Fanout>();
  int asked = 0;
  for (int m : replicas) {
    const std::string& id = ring->members()[m].id;
    if (id == membership_->self_id()) {
      asked++;
      auto local = local_->Read(db, key);
      absl::MutexLock l(&fanout->mu);
      if (local.ok() || absl::IsNotFound(local.status())) {
        fanout->ok++;
        if (local.ok()) fanout->records.push_back(std::move(*local));
      } else {
        fanout->failed++;
        fanout->last_error = std::string(local.status().message());
      }
      continue;
    }
    if (!membership_->IsAlive(id)) continue;
    asked++;
    pb::Envelope request;
    request.mutable_read()->set_db(db);
    request.mutable_read()->set_key(std::string(key));
    transport_->Call(membership_->AddressOf(id), std::move(request), options_.timeout,
                     [fanout, id](absl::StatusOr<pb::Envelope> reply) {
                       absl::MutexLock l(&fanout->mu);
                       if (reply.ok() && reply->has_read_result()) {
                         fanout->ok++;
                         if (reply->read_result().found()) {
                           fanout->records.push_back(reply->read_result().record());
                         }
                       } else {
                         fanout->failed++;
                         fanout->last_error = absl::StrCat(
                             id, ": ",
                             reply.ok() ? reply->error().message() : reply.status().message());
                       }
                     });
  }
  const int got = Await(*fanout, r, asked, absl::Now() + options_.timeout);
  stats_.read_micros += NowMicros() - start;
  absl::MutexLock l(&fanout->mu);
  if (got < r || r == 0) {
    stats_.quorum_failures++;
    return NoQuorum("read", got, r, options_.replicas, fanout->last_error);
  }
  const pb::Record* newest = nullptr;
  for (const pb::Record& rec : fanout->records) {
    if (newest == nullptr || Supersedes(rec, *newest)) newest = &rec;
  }
  if (newest == nullptr || newest->tombstone()) return absl::NotFoundError("no such key");
  clock_->Observe(newest->version());
  return *newest;
}

}  // namespace cairn::cluster
