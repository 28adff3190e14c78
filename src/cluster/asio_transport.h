// AsioTransport: the cluster transport over TCP (docs/cluster.md, "Transport").
//
// One thread runs the sockets. To each peer there is one persistent outgoing connection,
// made on the first call and again on the first call after it broke; calls are
// multiplexed on it by request id, each with its own deadline. The bytes queued for a
// peer are bounded (Options::max_queued_bytes): past it a call fails at once with
// ResourceExhausted instead of growing memory (a single message larger than the bound
// is sent when nothing else is queued; frames are capped by message.h's kMaxFrameBytes). Requests from peers arrive on the
// connections they made; the handler runs on a small worker pool, so a slow request (a
// synced engine write) does not hold up the sockets, and its reply goes back on the
// connection the request came on.
#ifndef CAIRN_CLUSTER_ASIO_TRANSPORT_H_
#define CAIRN_CLUSTER_ASIO_TRANSPORT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cluster/transport.h"

namespace cairn::cluster {

class AsioTransport final : public Transport {
 public:
  struct Options {
    std::string bind = "127.0.0.1";
    int port = 7381;  // 0: any free port (see port())
    size_t max_queued_bytes = size_t{64} << 20;  // per peer, not yet written
    absl::Duration connect_timeout = absl::Seconds(1);
    // After a failed connect, calls to that peer fail at once for this long.
    absl::Duration reconnect_backoff = absl::Milliseconds(200);
    int handler_threads = 2;
  };

  // Per peer (by address), for metrics.
  struct PeerStats {
    uint64_t calls = 0, errors = 0, timeouts = 0;
    uint64_t latency_micros_total = 0;  // of calls answered
    bool connected = false;
  };

  static absl::StatusOr<std::unique_ptr<AsioTransport>> Start(const Options& options,
                                                               Handler handler);
  // Closes every connection; calls still waiting get Cancelled.
  ~AsioTransport() override;

  void Call(const std::string& address, pb::Envelope request, absl::Duration timeout,
            Done done) override;

  int port() const;
  std::map<std::string, PeerStats> Stats();

  class Impl;

 private:
  explicit AsioTransport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn::cluster

#endif  // CAIRN_CLUSTER_ASIO_TRANSPORT_H_
