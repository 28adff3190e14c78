// Transport: how cluster code reaches other nodes. Membership and the coordinator use
// only this interface (shared/DESIGN.md, "Testable by construction"); production plugs in
// AsioTransport (persistent TCP, asio_transport.h), tests may plug in a simulated network.
#ifndef CAIRN_CLUSTER_TRANSPORT_H_
#define CAIRN_CLUSTER_TRANSPORT_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cluster/cluster.pb.h"

namespace cairn::cluster {

class Transport {
 public:
  // Called exactly once with the reply, or with: DeadlineExceeded (no reply within the
  // timeout), Unavailable (the node cannot be reached, or the connection broke),
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
};

}  // namespace cairn::cluster

#endif  // CAIRN_CLUSTER_TRANSPORT_H_
