// Transport: how cluster code reaches other nodes. Membership and the coordinator use
// only this interface (shared/DESIGN.md, "Testable by construction"); production plugs in
// AsioTransport (persistent TCP, asio_transport.h), tests may plug in a simulated network.
#ifndef CAIRN_CLUSTER_TRANSPORT_H_
#define CAIRN_CLUSTER_TRANSPORT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cluster/cluster.pb.h"

namespace cairn::cluster {

// A call that failed before any byte of its request left this node (the peer could not
// be connected to, or is partitioned away) carries this payload on its Unavailable
// status: sending it to another node instead cannot make it run twice.
inline constexpr char kNotSentPayload[] = "cairn.cluster/not-sent";
inline absl::Status NotSent(absl::Status s) {
  s.SetPayload(kNotSentPayload, absl::Cord("1"));
  return s;
}
inline bool WasNotSent(const absl::Status& s) { return s.GetPayload(kNotSentPayload).has_value(); }

// What a blocking call made on a transport thread gets instead of a deadlock (a bug:
// the caller should have used the asynchronous form).
inline absl::Status WaitOnTransportThread() {
  return absl::InternalError("a blocking cluster call on a transport thread (it would wait for itself)");
}

class Transport {
 public:
  // Called exactly once with the reply, or with: DeadlineExceeded (no reply within the
  // timeout), Unavailable (the node cannot be reached: NotSent; or the connection broke),
  // ResourceExhausted (too many bytes already queued for that node: back-pressure),
  // Cancelled (the transport is shutting down). Runs on a transport thread: do not block.
  using Done = std::function<void(absl::StatusOr<pb::Envelope> reply)>;
  // Sends a reply to the request being served. Callable once, from any thread.
  using Respond = std::function<void(pb::Envelope reply)>;
  // Serves a request from another node.
  using Handler = std::function<void(pb::Envelope request, Respond respond)>;

  virtual ~Transport() = default;

  // Sends request to the node at address ("host:port") and calls done once.
  virtual void Call(const std::string& address, pb::Envelope request, absl::Duration timeout,
                    Done done) = 0;

  // Runs fn on this thread once the current turn of its event loop is done, if the
  // calling thread runs the transport's loop (what it does in the turn can then leave
  // together); returns false, without running fn, on any other thread.
  virtual bool Defer(std::function<void()> fn) { return false; }

  // Whether the calling thread may wait for a call's outcome: not a thread that runs the
  // transport's sockets, where the reply would arrive.
  virtual bool MayWaitHere() const { return true; }

  // Call, waiting for the outcome (for threads that may block: MayWaitHere). A transport
  // whose threads take turns (the simulator's) waits its own way.
  virtual absl::StatusOr<pb::Envelope> CallAndWait(const std::string& address, pb::Envelope request,
                                           absl::Duration timeout) {
    if (!MayWaitHere()) return WaitOnTransportThread();
    struct Outcome {
      absl::Mutex mu;
      bool done ABSL_GUARDED_BY(mu) = false;
      absl::StatusOr<pb::Envelope> reply ABSL_GUARDED_BY(mu);
    };
    auto outcome = std::make_shared<Outcome>();  // the callback may outlive this call
    Call(address, std::move(request), timeout, [outcome](absl::StatusOr<pb::Envelope> reply) {
      absl::MutexLock l(&outcome->mu);
      outcome->reply = std::move(reply);
      outcome->done = true;
    });
    absl::MutexLock l(&outcome->mu);
    outcome->mu.AwaitWithTimeout(absl::Condition(&outcome->done), timeout + absl::Seconds(1));
    if (!outcome->done) return absl::DeadlineExceededError("no answer");
    return std::move(outcome->reply);
  }
};

}  // namespace cairn::cluster

#endif  // CAIRN_CLUSTER_TRANSPORT_H_
