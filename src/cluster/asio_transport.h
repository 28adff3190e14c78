// AsioTransport: the cluster transport over TCP (docs/cluster.md, "Transport").
//
// The sockets run on the server's I/O threads (Options::contexts), as shards: each
// thread has its own persistent outgoing connection to each peer, made on its first call
// and again on the first call after it broke, so a call's reply arrives on the thread
// that made it and a client's command never changes threads on its way through the
// cluster. Calls are multiplexed on a connection by request id, each with its own
// deadline; the calls a thread makes to one peer in one turn of its event loop leave in
// one write. A call from a thread that runs no shard goes to the first shard. The bytes
// queued for a peer are bounded (Options::max_queued_bytes): past it a call fails at
// once with ResourceExhausted instead of growing memory (a single message larger than
// the bound is sent when nothing else is queued; frames are capped by message.h's
// kMaxFrameBytes). Requests from peers arrive on the connections they made, spread over
// the shards; the handler runs on the thread that read the request and must not block
// (work that waits goes to a pool of its own), and its reply goes back on the connection
// the request came on, in one write with the other replies of that turn.
#ifndef CAIRN_CLUSTER_ASIO_TRANSPORT_H_
#define CAIRN_CLUSTER_ASIO_TRANSPORT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "base/histogram.h"
#include "cluster/transport.h"

namespace boost::asio {
class io_context;
namespace ssl {
class context;
}  // namespace ssl
}  // namespace boost::asio

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
    // The threads that run the sockets, owned by the caller, running for the transport's
    // whole life (its destructor needs them to close the connections, unless stopped).
    // Empty: the transport runs one thread of its own.
    std::vector<boost::asio::io_context*> contexts;
    // Whether those threads run their loops (false: before they started, or after they
    // stopped; Shutdown then closes the connections itself). Null: always.
    std::function<bool()> loops_running;
    // Runs before replies to peers leave; if it fails they do not, and the connection is
    // closed (the store's WAL flush: a reply must not acknowledge a write the OS never
    // got). Null: none.
    std::function<absl::Status()> before_reply;

    // Authentication (peer_auth.h, docs/cluster-security.md). secrets is asked once per
    // new connection, so a change (CONFIG SET cluster-secret) applies to the connections
    // made after it; null or empty: no handshake. node_id is this node's id in it (empty:
    // the advertised address, bind:port, which a HELLO's target must equal).
    std::string node_id;
    std::function<std::vector<std::string>()> secrets;
    // A connection still unauthenticated after this long is closed.
    absl::Duration handshake_timeout = absl::Seconds(5);
    // Accepted connections whose handshakes (TLS, secret) are not done, at most; one
    // beyond is closed at once and counted in auth_failures (idle connections to the port
    // must not use up descriptors and memory).
    int max_handshakes = 64;
    // Asked once per accepted connection: whether one from a non-loopback address is
    // refused (protected mode with no secret and no TLS). Null: never.
    std::function<bool()> refuse_remote;
    // Mutual TLS (tls-cluster): the context of a connection accepted (accepting: true) or
    // dialed, asked once per connection, so a reload applies to the connections made
    // after it. The TLS handshake comes first, then the secret's (if any), both within
    // handshake_timeout. Null, or returning null: plain TCP.
    std::function<std::shared_ptr<boost::asio::ssl::context>(bool accepting)> tls;
  };

  // Per peer (by address), for metrics.
  struct PeerStats {
    uint64_t calls = 0, errors = 0, timeouts = 0;
    uint64_t latency_micros_total = 0;  // of calls answered
    bool connected = false;
  };

  // handler runs on the shard thread that read the request: it must not block.
  static absl::StatusOr<std::unique_ptr<AsioTransport>> Start(const Options& options,
                                                               Handler handler);
  // Closes every connection; calls still waiting get Cancelled, later ones fail at once.
  // Idempotent; the object stays usable (as a transport that refuses everything).
  void Shutdown();
  ~AsioTransport() override;

  void Call(const std::string& address, pb::Envelope request, absl::Duration timeout,
            Done done) override;

  bool MayWaitHere() const override { return !OnShardThread(); }
  bool Defer(std::function<void()> fn) override;
  int port() const;
  // Whether the calling thread runs one of the transport's shards (where nothing may
  // wait for a call: its reply would arrive on this very thread).
  bool OnShardThread() const;
  std::map<std::string, PeerStats> Stats();
  // Round-trip time of the calls answered, every peer (microseconds).
  const Histogram& call_latency() const;
  // Connections refused or given up for authentication (either side: a peer that could
  // not prove the secret, one whose proof we could not give, a handshake timeout, a
  // protected-mode refusal, one beyond Options::max_handshakes). Each is logged, at most
  // about one line a second.
  uint64_t auth_failures() const;

  class Impl;

 private:
  explicit AsioTransport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn::cluster

#endif  // CAIRN_CLUSTER_ASIO_TRANSPORT_H_
