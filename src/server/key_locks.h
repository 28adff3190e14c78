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
#include <atomic>
#include <functional>
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

  // What this thread does, a moment at a time, while it waits for a script's hold of the
  // keyspace (set by each I/O thread: serve its other clients; null: just wait).
  static void SetWaitHook(std::function<void()> hook) { wait_hook_ = std::move(hook); }

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
    // script: the holder may keep it for long (EVAL): waiters then wait with the wait hook.
    explicit Guard(KeyLocks* locks, bool script = false) ABSL_NO_THREAD_SAFETY_ANALYSIS
        : locks_(locks) {
      if (holds_all_) return;
      // Announced before it is taken: a waiter that finds the lock held by a script knows.
      if (script) locks_->scripts_.fetch_add(1, std::memory_order_acq_rel);
      script_ = script;
      locks_->all_.Lock();
      holds_all_ = all_ = true;
    }
    ~Guard() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      for (auto it = stripes_.rbegin(); it != stripes_.rend(); ++it) locks_->mu_[*it].Unlock();
      if (all_) {
        locks_->all_.Unlock();
        holds_all_ = false;
        if (script_) locks_->scripts_.fetch_sub(1, std::memory_order_acq_rel);
      } else if (shared_) {
        locks_->all_.ReaderUnlock();
      }
    }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;

   private:
    void LockShared() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      KeyLocks& k = *locks_;
      if (!k.all_.ReaderTryLock()) {
        if (k.scripts_.load(std::memory_order_acquire) > 0 && wait_hook_ && wait_depth_ < 8) {
          // A script has (or is about to take) the keyspace, maybe for long: this thread
          // serves its other clients meanwhile rather than stopping (they get BUSY once
          // the script runs past busy-reply-threshold, or run SCRIPT KILL).
          wait_depth_++;
          while (!k.all_.ReaderTryLock()) wait_hook_();
          wait_depth_--;
        } else {
          k.all_.ReaderLock();
        }
      }
      shared_ = true;
    }
    KeyLocks* const locks_;
    std::vector<size_t> stripes_;
    bool script_ = false;  // a script's Guard of the whole keyspace
    bool all_ = false;     // this Guard holds the whole keyspace
    bool shared_ = false;  // this Guard holds all_ shared (and its stripes)
  };

 private:
  static size_t Stripe(int db, std::string_view key) {
    return (Hash64(key) + static_cast<uint64_t>(db) * 0x9e3779b97f4a7c15ull) % kStripes;
  }
  std::array<absl::Mutex, kStripes> mu_;
  absl::Mutex all_;  // exclusive: the whole keyspace; shared: by every Guard of keys
  std::atomic<int> scripts_{0};  // script Guards holding or taking all_
  // This thread holds every stripe (of some KeyLocks: a server has one).
  static inline thread_local bool holds_all_ = false;
  static inline thread_local std::function<void()> wait_hook_;  // destroyed with its thread
  static inline thread_local int wait_depth_ = 0;
};

}  // namespace cairn::server

#endif  // CAIRN_SERVER_KEY_LOCKS_H_
