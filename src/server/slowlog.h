// SLOWLOG and LATENCY (Redis 7 semantics): the commands that ran longer than
// slowlog-log-slower-than, newest first, at most slowlog-max-len; and latency events
// (here "command": a command that took latency-monitor-threshold ms or more), each with
// its latest 160 samples, one per second. Thread-safe; Record is one relaxed atomic load
// when nothing is slow.
#ifndef CAIRN_SERVER_SLOWLOG_H_
#define CAIRN_SERVER_SLOWLOG_H_

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace cairn::server {

class SlowLog {
 public:
  struct Entry {
    uint64_t id = 0;
    int64_t unix_seconds = 0;
    int64_t micros = 0;
    std::vector<std::string> args;  // at most 32, each at most 128 bytes (Redis's cuts)
    std::string addr, name;
  };
  struct Sample {
    int64_t unix_seconds = 0;
    int64_t ms = 0;
  };

  // A command that ran micros; kept if at least threshold_us (negative: never).
  void Record(int64_t micros, int64_t threshold_us, size_t max_len, int64_t now_ms,
              const std::vector<std::string_view>& args, const std::string& addr, const std::string& name);
  // A latency event of ms milliseconds (LATENCY's "command" event).
  void RecordLatency(std::string_view event, int64_t ms, int64_t now_ms);

  std::vector<Entry> Get(size_t count) const;
  size_t size() const;
  void Reset();

  // LATENCY LATEST: (event, latest sample, max ms); LATENCY HISTORY event.
  struct Latest {
    std::string event;
    Sample latest;
    int64_t max_ms = 0;
  };
  std::vector<Latest> LatencyLatest() const;
  std::vector<Sample> LatencyHistory(std::string_view event) const;
  // LATENCY RESET [event...]: how many events were reset.
  int64_t LatencyReset(const std::vector<std::string_view>& events);

 private:
  mutable absl::Mutex mu_;
  std::deque<Entry> entries_ ABSL_GUARDED_BY(mu_);  // newest first
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
  struct Event {
    std::deque<Sample> samples;
    int64_t max_ms = 0;
  };
  std::map<std::string, Event, std::less<>> events_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cairn::server

#endif  // CAIRN_SERVER_SLOWLOG_H_
