// CLIENT TRACKING: server-assisted client-side caching (Redis 7 semantics).
//
// Default mode: the keys a tracking client reads (commands flagged kReadOnly; with OPTIN
// only after CLIENT CACHING yes, with OPTOUT unless CLIENT CACHING no) are remembered;
// the first write of such a key afterwards (by any client; not by itself with NOLOOP)
// sends it one invalidation message naming the key and forgets the pair. BCAST mode:
// every write of a key that starts with one of its prefixes (or of any key: no prefix)
// is announced, the keys one command wrote in one message. FLUSHDB, FLUSHALL and SWAPDB
// send every tracking client a null invalidation. The tracking table is by key name,
// across databases, as Redis's.
//
// Messages go to the tracking client over RESP3 (a push: invalidate [keys]) or to the
// client it redirects to: over RESP3 the same push, over RESP2 a message on the
// __redis__:invalidate channel if it is subscribed to it (else nothing, as in Redis).
// A redirect to a client that has gone is reported once per invalidation to a RESP3
// tracking client as a tracking-redir-broken push.
//
// Writers reach Invalidate through WatchTable::Touch (every write path already calls it).
// Cluster mode refuses CLIENT TRACKING: writes coordinated by other nodes never pass
// through this node's Touch.
//
// Thread-safe. Costs one relaxed atomic load per write while no client tracks; commands
// of clients that do not track never take its lock.
#ifndef CAIRN_SERVER_TRACKING_H_
#define CAIRN_SERVER_TRACKING_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"

namespace cairn::server {

struct ClientState;
class ClientRegistry;

struct TrackingOptions {
  bool bcast = false, optin = false, optout = false, noloop = false;
  uint64_t redirect = 0;  // 0: the client itself
  std::vector<std::string> prefixes;  // BCAST: sorted; "" (every key) when none was given
  // CLIENT CACHING yes (1) / no (-1) for the next command (or transaction); 0: unset.
  int caching = 0;
};

class Tracking {
 public:
  explicit Tracking(ClientRegistry* clients) : clients_(clients) {}

  // CLIENT TRACKING ON (options already checked) and OFF; OFF also at RESET and close.
  // They set ClientState::tracking, which commands check before anything here.
  void Enable(ClientState& client, TrackingOptions options);
  void Disable(ClientState& client);
  // The client's options; false if it does not track.
  bool OptionsOf(uint64_t client_id, TrackingOptions* options) const;
  bool any() const { return tracking_.load(std::memory_order_relaxed) > 0; }
  // Clients with tracking on (INFO tracking_clients).
  int clients() const { return tracking_.load(std::memory_order_relaxed); }

  // After a read-only command (of a script too: its caller's) of a tracking client in
  // default mode: its keys, unless OPTIN without CLIENT CACHING yes or OPTOUT with no.
  void Remember(uint64_t client_id, const std::vector<std::string_view>& keys);
  // CLIENT CACHING yes|no; and its end, after the command (or EXEC) that follows.
  void SetCaching(uint64_t client_id, bool yes);
  void ClearCaching(uint64_t client_id);
  // A write of key by `writer` (0: none, e.g. HTTP).
  void Invalidate(std::string_view key, uint64_t writer);
  // FLUSHDB / FLUSHALL / SWAPDB: a null invalidation to every tracking client.
  void InvalidateAll();

  // The keys of the table are bounded, as Redis's tracking-table-max-keys: past it, keys
  // are dropped with an invalidation to their clients.
  static constexpr size_t kMaxKeys = 1'000'000;

  // While a command runs on this thread (scoped, nesting: a script's or EXEC's commands
  // inside their caller's): its client is the writer of what it writes (NOLOOP), and
  // BCAST announcements are gathered and sent when the outermost one ends, one message
  // per client and prefix, each key once.
  class CommandScope {
   public:
    CommandScope(Tracking& tracking, uint64_t writer);
    ~CommandScope();
    CommandScope(const CommandScope&) = delete;
    CommandScope& operator=(const CommandScope&) = delete;

   private:
    Tracking& tracking_;
  };
  // The client of the command running on this thread (0: none).
  static uint64_t writer();

 private:
  // Sends `keys` (nullptr: null, a flush) to the client tracking as `id`.
  void Send(uint64_t id, const TrackingOptions& options, const std::vector<std::string>* keys);
  // The BCAST keys this thread's command gathered (CommandScope's end).
  void SendPending();

  ClientRegistry* const clients_;
  std::atomic<int> tracking_{0};
  std::atomic<int> bcast_{0};  // of them, in BCAST mode
  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, TrackingOptions> options_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, absl::flat_hash_set<uint64_t>> table_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cairn::server

#endif  // CAIRN_SERVER_TRACKING_H_
