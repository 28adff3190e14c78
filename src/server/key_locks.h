// Striped key locks: read-modify-write and multi-key commands lock the stripes of the
// keys they touch, so concurrent commands on the same keys run one after another (Redis
// runs every command alone; cairn runs commands on many threads). Stripes are always
// taken in index order, so two multi-key commands cannot deadlock. A Guard of keys also
// holds one whole-keyspace lock shared; a thread holding it exclusively (EXEC, FLUSHDB,
// EVAL) may run commands that take stripes of their own: those Guards then lock nothing.
#ifndef CAIRN_SERVER_KEY_LOCKS_H_
#define CAIRN_SERVER_KEY_LOCKS_H_

#include <algorithm>
#include <array>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "base/checksum.h"

namespace cairn::server {

class KeyLocks {
 public:
  static constexpr size_t kStripes = 1024;

  // Holds the stripes of a set of keys (in one database) until destroyed.
  class Guard {
   public:
    Guard(KeyLocks* locks, int db,
          const std::vector<std::string_view>& keys) ABSL_NO_THREAD_SAFETY_ANALYSIS
        : locks_(locks) {
      if (holds_all_) return;
      LockShared();
      for (std::string_view k : keys) stripes_.push_back(Stripe(db, k));
      std::sort(stripes_.begin(), stripes_.end());
      stripes_.erase(std::unique(stripes_.begin(), stripes_.end()), stripes_.end());
      for (size_t s : stripes_) locks_->mu_[s].Lock();
    }
    // Keys in several databases (MOVE): one sorted set of stripes, one lock order.
    Guard(KeyLocks* locks,
          const std::vector<std::pair<int, std::string_view>>& keys) ABSL_NO_THREAD_SAFETY_ANALYSIS
        : locks_(locks) {
      if (holds_all_) return;
      LockShared();
      for (const auto& [db, k] : keys) stripes_.push_back(Stripe(db, k));
      std::sort(stripes_.begin(), stripes_.end());
      stripes_.erase(std::unique(stripes_.begin(), stripes_.end()), stripes_.end());
      for (size_t s : stripes_) locks_->mu_[s].Lock();
    }
    // Every stripe: for commands that touch a whole database (FLUSHDB, SWAPDB).
    // Taking the whole-keyspace lock exclusively excludes every Guard of keys (each holds it
    // shared): one lock, not kStripes, so a script (EVAL holds this) costs what a command does.
    explicit Guard(KeyLocks* locks) ABSL_NO_THREAD_SAFETY_ANALYSIS : locks_(locks) {
      if (holds_all_) return;
      locks_->all_.Lock();
      holds_all_ = all_ = true;
    }
    ~Guard() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      for (auto it = stripes_.rbegin(); it != stripes_.rend(); ++it) locks_->mu_[*it].Unlock();
      if (all_) {
        locks_->all_.Unlock();
        holds_all_ = false;
      } else if (shared_) {
        locks_->all_.ReaderUnlock();
      }
    }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;

   private:
    void LockShared() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      locks_->all_.ReaderLock();
      shared_ = true;
    }
    KeyLocks* const locks_;
    std::vector<size_t> stripes_;
    bool all_ = false;     // this Guard holds the whole keyspace
    bool shared_ = false;  // this Guard holds all_ shared (and its stripes)
  };

 private:
  static size_t Stripe(int db, std::string_view key) {
    return (Hash64(key) + static_cast<uint64_t>(db) * 0x9e3779b97f4a7c15ull) % kStripes;
  }
  std::array<absl::Mutex, kStripes> mu_;
  absl::Mutex all_;  // exclusive: the whole keyspace; shared: by every Guard of keys
  // This thread holds every stripe (of some KeyLocks: a server has one).
  static inline thread_local bool holds_all_ = false;
};

}  // namespace cairn::server

#endif  // CAIRN_SERVER_KEY_LOCKS_H_
