// Pub/sub: which clients listen on which channels, patterns and shard channels, and the
// delivery of a published message to them (Redis 7 semantics).
//
// A subscriber's connection gives its ClientState a push function that queues bytes on
// the connection's own thread (server.cc); Publish calls it for every receiver, under
// this registry's lock, so a client unsubscribing or closing (RemoveClient) never races
// a delivery. Messages are formatted once per RESP version.
//
// Cluster mode: a message published on any node reaches subscribers on every node: the
// forward hook (set by the cluster node) sends it to the other members, which deliver it
// with forward=false. PUBLISH's count is of this node's receivers, as in Redis Cluster.
//
// Thread-safe.
#ifndef CAIRN_SERVER_PUBSUB_H_
#define CAIRN_SERVER_PUBSUB_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"

namespace cairn::server {

struct ClientState;

class PubSub {
 public:
  // kMonitor: a MONITOR line (monitor.h), kTracking: a CLIENT TRACKING push
  // (tracking.h), through the same ClientState::push; not subscriptions (never
  // Add/Remove'd here).
  enum class Kind { kChannel, kPattern, kShard, kMonitor, kTracking };

  // Adds or removes one subscription of client; false if it already had it (or, for
  // Remove, did not). The client's own sets (ClientState) are the caller's.
  bool Add(ClientState* client, Kind kind, const std::string& name);
  bool Remove(ClientState* client, Kind kind, const std::string& name);
  // Every subscription of a closing client.
  void RemoveClient(ClientState* client);
  // The client's subscriptions (any thread: ACL changes check them).
  std::vector<std::pair<Kind, std::string>> SubscriptionsOf(const ClientState* client) const;

  // Delivers message to the subscribers of channel (and of matching patterns unless
  // sharded) on this node; returns how many received it. forward: also to the other
  // nodes of a cluster.
  int64_t Publish(std::string_view channel, std::string_view message, bool sharded, bool forward = true);

  // How many of this node's clients Publish would deliver to now.
  int64_t Receivers(std::string_view channel, bool sharded) const;
  // PUBSUB CHANNELS / SHARDCHANNELS [pattern], NUMSUB / SHARDNUMSUB, NUMPAT.
  std::vector<std::string> Channels(std::string_view pattern, bool sharded) const;
  int64_t Subscribers(std::string_view channel, bool sharded) const;
  int64_t Patterns() const;

  // Cluster mode: sends a message published here to the other nodes.
  void set_forward(std::function<void(std::string channel, std::string message, bool sharded)> f) {
    absl::MutexLock l(&mu_);
    forward_ = std::move(f);
  }

 private:
  using Subscribers_ = absl::flat_hash_map<std::string, absl::flat_hash_set<ClientState*>>;
  Subscribers_& Of(Kind kind) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const Subscribers_& Of(Kind kind) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  Subscribers_ channels_ ABSL_GUARDED_BY(mu_);
  Subscribers_ patterns_ ABSL_GUARDED_BY(mu_);
  Subscribers_ shard_channels_ ABSL_GUARDED_BY(mu_);
  std::function<void(std::string, std::string, bool)> forward_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cairn::server

#endif  // CAIRN_SERVER_PUBSUB_H_
