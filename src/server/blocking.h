// Blocking commands (BLPOP, BRPOP, BLMOVE): a client whose lists are all empty waits for
// a push instead of getting an answer. Its command's handler registers it here, under
// the key locks of the keys it waits on, so a push that comes after the check cannot
// miss it; every write command wakes the waiters of the keys it wrote, which then run
// their command again on their own thread. A waiter that finds its keys empty again
// (another client was faster) goes back to waiting.
#ifndef CAIRN_SERVER_BLOCKING_H_
#define CAIRN_SERVER_BLOCKING_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace cairn::server {

struct CommandContext;

class BlockingKeys {
 public:
  // Registers a waiter on keys of db; wake is called (from any thread, at most once per
  // Signal) when one of them is written. Returns a ticket for Remove.
  uint64_t Add(int db, const std::vector<std::string_view>& keys, std::function<void()> wake);
  void Remove(uint64_t ticket);
  // Wakes (and unregisters) every waiter on key. Cheap when nobody waits.
  void Signal(int db, std::string_view key);
  size_t waiters() const { return count_.load(std::memory_order_relaxed); }

 private:
  struct Waiter {
    int db;
    std::vector<std::string> keys;
    std::function<void()> wake;
  };
  std::atomic<size_t> count_{0};
  absl::Mutex mu_;
  uint64_t next_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<uint64_t, Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::pair<int, std::string>, std::vector<uint64_t>> by_key_
      ABSL_GUARDED_BY(mu_);
};

// What a blocked command answers when its timeout passes.
enum class BlockedReply { kNullArray, kNull };

// Parses a blocking timeout in seconds (fractions allowed; 0: forever) into an absolute
// deadline in Unix ms (0: none). Replies Redis's error and returns false if invalid.
bool ParseBlockTimeout(CommandContext& c, std::string_view arg, int64_t* deadline_ms);

// Called by a blocking command that found nothing: makes the client wait on keys until
// deadline_ms. Inside MULTI/EXEC, or where the client cannot wait (in-process tests),
// replies the timeout answer at once, as Redis does in a transaction.
void Block(CommandContext& c, const std::vector<std::string_view>& keys, int64_t deadline_ms,
           BlockedReply reply);

}  // namespace cairn::server

#endif  // CAIRN_SERVER_BLOCKING_H_
