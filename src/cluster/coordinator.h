// Coordinator: any node serves any key by asking the key's replicas (docs/cluster.md,
// "Quorums" and "Versions"), as in Dynamo.
//
// Writes. A write is coordinated by one of the key's replicas: this node if it is one,
// else the first live one in the preference list (the request is forwarded there). The
// coordinating replica gives the new version a vector clock that descends every version
// it holds (or, for a write carrying a client's causal context, descends that context)
// with its own entry advanced, stores it, and sends it to the other replicas; the write
// succeeds once W replicas stored it. A replica that is down, or does not answer, gets a
// hint instead: kept by the next live node on the ring past the key's N (or by this node
// if there is none) and delivered when it is back (Maintenance). Hints do not count
// towards W.
//
// Reads. A read asks every live replica for its versions and answers from the first R:
// their merge (siblings when writes were concurrent). Replicas whose versions differ from
// the merge of all answers are repaired by writing the merge back to them: after the reply
// (Repair::kAsync) or before it (Repair::kSync).
//
// Fewer than W (R) replicas alive is refused before anything is sent; fewer than W (R)
// answering within the timeout fails (the replicas that stored the write keep it, as in
// Dynamo). Both are Unavailable with a message starting "NOQUORUM", which the server passes
// on as the error `-NOQUORUM ...` (HTTP 503).
#ifndef CAIRN_CLUSTER_COORDINATOR_H_
#define CAIRN_CLUSTER_COORDINATOR_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/histogram.h"

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cluster/hint_store.h"
#include "cluster/hlc.h"
#include "cluster/membership.h"
#include "cluster/replica_store.h"
#include "cluster/transport.h"

namespace cairn::cluster {

// Databases a key may be in (the engine key keeps the index in one byte).
inline constexpr int kMaxDatabases = 256;

class Coordinator {
 public:
  struct Options {
    int replicas = 3;  // N
    absl::Duration timeout = absl::Seconds(2);
    // Runs work that a transport callback needs done but must not do on the transport's
    // thread (engine writes: hints, repairs, tombstone marks). Null: run it inline.
    std::function<void(std::function<void()>)> run_later;
    // Test-only: false turns read repair off (the simulator's check that it catches the
    // replicas it leaves apart).
    bool read_repair = true;
  };
  struct Stats {
    std::atomic<uint64_t> writes{0}, reads{0}, quorum_failures{0};
    std::atomic<uint64_t> write_micros{0}, read_micros{0};  // total fan-out latency
    Histogram write_latency, read_latency;                   // microseconds, per request
    std::atomic<uint64_t> forwarded{0};       // writes sent to a replica to coordinate
    std::atomic<uint64_t> read_repairs{0};    // replicas sent the merge by a read
    std::atomic<uint64_t> sibling_reads{0};   // reads that found concurrent versions
    std::atomic<uint64_t> hints_sent{0};      // hints handed to another node
    std::atomic<uint64_t> hints_kept{0};      // hints this node kept for a replica
    std::atomic<uint64_t> hint_failures{0};   // hints that could not be stored anywhere
    std::atomic<uint64_t> tombstones_seen{0}; // tombstones every replica acknowledged
  };
  enum class Repair { kAsync, kSync };
  struct ReadResult {
    VersionList versions;  // canonical order, tombstones included; empty: no such key
    Clock context;         // the merge of their clocks
  };

  // hints: where this node keeps hints (null: writes for down replicas are not hinted).
  Coordinator(Options options, Membership* membership, Transport* transport,
              ReplicaStore* local, HybridClock* clock, HintStore* hints);

  // The transport handler's part for replica requests. Returns false if the request is
  // not one of them.
  bool Handle(const pb::Envelope& request, Transport::Respond& respond);

  // The calls below never wait: each calls done exactly once, either before it returns (a
  // refusal, or a quorum this node's own replica makes) or on the thread the deciding
  // replica's answer arrives on (a transport thread: done must not block). The blocking
  // forms after them wait for that and are for threads that may block (never a transport
  // or I/O thread).
  using WriteDone = std::function<void(absl::StatusOr<pb::Record>)>;
  using ReadDone = std::function<void(absl::StatusOr<ReadResult>)>;
  using RecordDone = std::function<void(absl::StatusOr<pb::Record>)>;
  using StatusDone = std::function<void(absl::Status)>;

  // Writes record (value, type, expiry or tombstone) as a new version of the key; OK with
  // the version written (its hybrid timestamp and clock set) once w replicas stored it.
  // context: the client's causal context (the clock of the versions it read); nullopt:
  // the new version supersedes whatever the coordinating replica holds.
  void WriteAsync(int db, std::string key, pb::Record record, int w,
                  std::optional<pb::Context> context, WriteDone done);
  absl::StatusOr<pb::Record> Write(int db, std::string_view key, pb::Record record, int w,
                                   const pb::Context* context = nullptr);
  // Several writes as Write makes them, sent all at once rather than one after another
  // (the members a command changed: cluster/registers.h). This node must be a replica of
  // every key. OK once each reached w replicas; otherwise the first failure (the writes
  // that reached their replicas stay, as a failed Write's do).
  struct WriteOp {
    std::string key;
    pb::Record record;
    std::optional<pb::Context> context;  // nullopt: supersede what this replica holds
  };
  void WriteManyAsync(int db, std::vector<WriteOp> ops, int w, StatusDone done);
  absl::Status WriteMany(int db, std::vector<WriteOp> ops, int w);
  // The key's versions merged from r replicas (or more that answered as fast). With
  // Repair::kSync, after every replica asked answered (or timed out) and the stale ones
  // were repaired.
  void ReadVersionsAsync(int db, std::string key, int r, Repair repair, ReadDone done);
  absl::StatusOr<ReadResult> ReadVersions(int db, std::string_view key, int r,
                                          Repair repair = Repair::kAsync);
  // The version RESP serves: the last writer's among ReadVersions; NotFound if there is
  // none or it is a tombstone.
  void ReadAsync(int db, std::string key, int r, Repair repair, RecordDone done);
  absl::StatusOr<pb::Record> Read(int db, std::string_view key, int r,
                                  Repair repair = Repair::kAsync);

  // One page of db's keys from every live node, merged: for each key the last writer's
  // version among the replicas that answered (tombstones and expired ones included; the
  // caller filters). Keys are >= start and in order; *next is where the next page starts
  // (empty: done). A page holds what every node returned up to the smallest last key of a
  // node that had more, so no key is skipped. Fails if a live node does not answer.
  absl::Status Scan(int db, const std::string& start, size_t limit,
                    std::vector<std::pair<std::string, pb::Record>>* page, std::string* next);

  const Options& options() const { return options_; }
  Stats& stats() { return stats_; }

 private:
  struct WriteFanout;
  struct ReadFanout;
  struct ForwardState;

  int LiveReplicas(const Ring& ring, const std::vector<int>& replicas);
  // Sends a replica write or read. Those a thread makes to one node in one turn of its
  // event loop (Transport::Defer) leave as one batch message, answered as one.
  void CallReplica(const std::string& address, pb::Envelope request, absl::Duration timeout,
                   Transport::Done done);
  struct Outbox;  // CallReplica's requests to one node, not yet sent
  void SendOutbox(const std::string& address, bool write, Outbox box);
  // How long a replica may take to store a write: the timeout, plus time to move and
  // write a large value (16 MB/s: a 100 MB value gets about 6 s more).
  absl::Duration TimeoutFor(size_t bytes) const {
    return options_.timeout + absl::Milliseconds(static_cast<int64_t>(bytes >> 14));
  }
  absl::Duration TimeoutFor(const pb::Record& record) const { return TimeoutFor(record.ByteSizeLong()); }
  bool IsSelf(const std::string& id) const { return id == membership_->self_id(); }
  // Gives record its version and clock, stores it here and sends it to the other
  // replicas; the fan-out settles when w stored it or that became impossible.
  // ring and replicas: the key's preference list, if the caller has it already.
  absl::StatusOr<std::shared_ptr<WriteFanout>> Coordinate(int db, std::string_view key,
                                                          pb::Record record, int w,
                                                          const pb::Context* context,
                                                          const Ring* ring = nullptr,
                                                          const std::vector<int>* replicas = nullptr);
  // Sends the write to the next live replica in s's list to coordinate; done when one
  // answered, or none could.
  void ForwardNext(std::shared_ptr<ForwardState> s);
  // How long a blocking form waits for its call's done (which the transport's deadlines
  // guarantee well before).
  absl::Duration WaitLimit(size_t bytes) const { return 4 * TimeoutFor(bytes) + absl::Seconds(5); }
  // Hands a write for the down replica `target` to the next live node past the key's
  // replicas (or keeps it here).
  void Hint(const std::string& target, int db, std::string_view key, const VersionList& versions);
  void KeepHint(const pb::Hint& hint);
  // Sends versions to the replicas whose answers differ from them; done(ok count) after
  // all answered (immediately if none differs).
  void RepairReplicas(const std::shared_ptr<ReadFanout>& f, std::function<void()> done);
  void TombstoneSeenByAll(int db, const std::string& key, const pb::Record& tombstone,
                          const std::vector<std::string>& replicas);
  absl::Mutex& KeyLock(int db, std::string_view key);
  void RunLater(std::function<void()> fn);

  static uint64_t NextSerial();
  const uint64_t serial_;  // unique in the process (CallReplica's outboxes)
  Options options_;
  Membership* const membership_;
  Transport* const transport_;
  ReplicaStore* const local_;
  HybridClock* const clock_;
  HintStore* const hints_;
  Stats stats_;
  // Serializes coordinated writes of one key on this node: each reads the versions the
  // previous one stored, so its clock descends them.
  std::array<absl::Mutex, 64> key_locks_;
};

}  // namespace cairn::cluster

#endif  // CAIRN_CLUSTER_COORDINATOR_H_
