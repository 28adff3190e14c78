// WATCH: optimistic locking for MULTI/EXEC. A client watches keys; any write to one of
// them (by any client, itself included) before its EXEC marks it dirty, and EXEC then
// runs nothing and answers nil. Writers call Touch for the keys they wrote; it costs one
// atomic load while nobody watches anything.
#ifndef CAIRN_SERVER_WATCH_H_
#define CAIRN_SERVER_WATCH_H_

#include <atomic>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace cairn::server {

struct ClientState;

class Tracking;

class WatchTable {
 public:
  // tracking: told of every key Touch is told of (CLIENT TRACKING); may be null.
  explicit WatchTable(Tracking* tracking = nullptr) : tracking_(tracking) {}

  void Watch(ClientState* client, int db, std::string_view key);
  // Forgets every key client watches (EXEC, DISCARD, UNWATCH, RESET, disconnect).
  void UnwatchAll(ClientState* client);
  // Marks the watchers of key (of every key of db; of every key) dirty.
  void Touch(int db, std::string_view key);
  void TouchDb(int db);
  void TouchAll();

 private:
  Tracking* const tracking_;
  std::atomic<size_t> count_{0};  // watched (db, key) pairs
  absl::Mutex mu_;
  absl::flat_hash_map<std::pair<int, std::string>, std::vector<ClientState*>> watchers_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace cairn::server

#endif  // CAIRN_SERVER_WATCH_H_
