// MONITOR: the clients that watch every command this node runs, and the lines they get
// (Redis 7 semantics and format):
//
//   +<seconds>.<microseconds> [<db> <client address, or "lua">] "arg" "arg" ...
//
// each argument quoted with Redis's escapes (\" \\ \n \r \t \a \b, other bytes outside
// printable ASCII as \xHH). A command is fed after it ran, so a transaction's commands
// come before its EXEC; EVAL and its kin are fed before they run, so their scripts'
// commands follow them. Commands flagged kAdmin, commands refused before they ran, and
// a blocked command's retries are not fed; AUTH's and HELLO AUTH's credentials show as
// "(redacted)". A monitor is sent lines on its own thread through ClientState::push,
// disconnected past client-output-buffer-limit's normal class (MONITOR clients are normal
// clients in Redis).
//
// Thread-safe. Feeding costs one relaxed atomic load while no client monitors.
#ifndef CAIRN_SERVER_MONITOR_H_
#define CAIRN_SERVER_MONITOR_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"

namespace cairn::server {

struct ClientState;
struct CommandSpec;

class Monitors {
 public:
  // The client watches from now on; false if it already did.
  bool Add(ClientState* client);
  // A closing client, or RESET: it stops watching.
  void Remove(ClientState* client);
  bool any() const { return count_.load(std::memory_order_relaxed) > 0; }

  // Sends the line of a command that `from` ran in db to every monitor. now_us: the
  // wall clock in microseconds. Call only when any() (the check is the caller's, so
  // nothing is formatted otherwise).
  void Feed(const ClientState& from, int db, const CommandSpec& spec,
            const std::vector<std::string_view>& args, int64_t now_us);

  // The line itself (for tests): source is the client's address or "lua".
  static std::string Line(std::string_view source, int db, const CommandSpec& spec,
                          const std::vector<std::string_view>& args, int64_t now_us);

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_set<ClientState*> clients_ ABSL_GUARDED_BY(mu_);
  std::atomic<int> count_{0};
};

// Whether argument i of a command line (name: lower case) is a credential that MONITOR
// and SLOWLOG show as "(redacted)": AUTH's, HELLO's and MIGRATE's after AUTH, ACL
// SETUSER's name and rules.
bool RedactedArgument(std::string_view name, const std::vector<std::string_view>& args, size_t i);

}  // namespace cairn::server

#endif  // CAIRN_SERVER_MONITOR_H_
