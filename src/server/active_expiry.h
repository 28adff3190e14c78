// Active expiry, as Redis's activeExpireCycle: a background thread deletes the keys whose
// expiry passed, `hz` times a second, and counts them (INFO expired_keys). Readers never
// see an expired key either way (the store hides it from its expiry on); this pass is what
// deletes it, counts it once, and tells CLIENT TRACKING, as Redis does when it expires a
// key. (WATCH needs no telling: EXEC already fails when a key that was live when watched
// has expired, and a key watched once expired must not fail it, as in Redis.) Keys come
// from the store's expiry index (store/record.h), oldest expiry first; each is deleted
// under its key lock, so no write to it races the check.
//
// Single node only: a cluster replica keeps an expired version (it must not resurrect an
// older copy elsewhere), so nothing is deleted by expiry there and nothing counted.
#ifndef CAIRN_SERVER_ACTIVE_EXPIRY_H_
#define CAIRN_SERVER_ACTIVE_EXPIRY_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace cairn::server {

struct ServerContext;

class ActiveExpiry {
 public:
  // Runs until destroyed. server must outlive this object.
  explicit ActiveExpiry(ServerContext* server);
  ~ActiveExpiry();  // stops the thread and waits for it
  ActiveExpiry(const ActiveExpiry&) = delete;
  ActiveExpiry& operator=(const ActiveExpiry&) = delete;

  // One pass, as the thread runs it: deletes keys whose expiry is at or before now_ms,
  // from the index entry after *cursor on (empty: from the first), until none is left or
  // `budget` has been spent; leaves *cursor at the last entry it dealt with. Returns the
  // keys deleted. Any thread (passes are serialized); tests call it directly.
  static uint64_t RunOnce(ServerContext& server, int64_t now_ms, std::chrono::microseconds budget,
                          std::string* cursor);

 private:
  void Loop();

  ServerContext* const server_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace cairn::server

#endif  // CAIRN_SERVER_ACTIVE_EXPIRY_H_
