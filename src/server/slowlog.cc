#include "server/slowlog.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "server/monitor.h"

namespace cairn::server {

void SlowLog::Record(int64_t micros, int64_t threshold_us, size_t max_len, int64_t now_ms,
                     const std::vector<std::string_view>& args, const std::string& addr,
                     const std::string& name) {
  if (threshold_us < 0 || micros < threshold_us) return;
  Entry e;
  e.unix_seconds = now_ms / 1000;
  e.micros = micros;
  e.addr = addr;
  e.name = name;
  // Redis keeps 32 arguments (the last says how many more) of 128 bytes each.
  const size_t shown = std::min<size_t>(args.size(), 32);
  std::string command = args.empty() ? std::string() : std::string(args[0].substr(0, 16));
  absl::AsciiStrToLower(&command);
  for (size_t i = 0; i < shown; i++) {
    if (i > 0 && RedactedArgument(command, args, i)) {
      e.args.emplace_back("(redacted)");
      continue;
    }
    if (i == 31 && args.size() > 32) {
      e.args.push_back(absl::StrCat("... (", args.size() - 31, " more arguments)"));
      break;
    }
    std::string_view a = args[i];
    if (a.size() > 128) {
      e.args.push_back(absl::StrCat(std::string(a.substr(0, 128)), "... (", a.size() - 128, " more bytes)"));
    } else {
      e.args.emplace_back(a);
    }
  }
  absl::MutexLock l(&mu_);
  e.id = next_id_++;
  entries_.push_front(std::move(e));
  while (entries_.size() > max_len) entries_.pop_back();
}

void SlowLog::RecordLatency(std::string_view event, int64_t ms, int64_t now_ms) {
  absl::MutexLock l(&mu_);
  auto it = events_.find(event);
  if (it == events_.end()) it = events_.emplace(std::string(event), Event()).first;
  Event& ev = it->second;
  const int64_t second = now_ms / 1000;
  if (!ev.samples.empty() && ev.samples.back().unix_seconds == second) {
    ev.samples.back().ms = std::max(ev.samples.back().ms, ms);
  } else {
    ev.samples.push_back({second, ms});
    if (ev.samples.size() > 160) ev.samples.pop_front();
  }
  ev.max_ms = std::max(ev.max_ms, ms);
}

std::vector<SlowLog::Entry> SlowLog::Get(size_t count) const {
  absl::MutexLock l(&mu_);
  const size_t n = std::min(count, entries_.size());
  return std::vector<Entry>(entries_.begin(), entries_.begin() + static_cast<long>(n));
}

size_t SlowLog::size() const {
  absl::MutexLock l(&mu_);
  return entries_.size();
}

void SlowLog::Reset() {
  absl::MutexLock l(&mu_);
  entries_.clear();
}

std::vector<SlowLog::Latest> SlowLog::LatencyLatest() const {
  absl::MutexLock l(&mu_);
  std::vector<Latest> out;
  for (const auto& [name, ev] : events_) {
    if (ev.samples.empty()) continue;
    out.push_back({name, ev.samples.back(), ev.max_ms});
  }
  return out;
}

std::vector<SlowLog::Sample> SlowLog::LatencyHistory(std::string_view event) const {
  absl::MutexLock l(&mu_);
  auto it = events_.find(event);
  if (it == events_.end()) return {};
  return std::vector<Sample>(it->second.samples.begin(), it->second.samples.end());
}

int64_t SlowLog::LatencyReset(const std::vector<std::string_view>& events) {
  absl::MutexLock l(&mu_);
  if (events.empty()) {
    const int64_t n = static_cast<int64_t>(events_.size());
    events_.clear();
    return n;
  }
  int64_t n = 0;
  for (std::string_view e : events) {
    auto it = events_.find(e);
    if (it != events_.end()) {
      events_.erase(it);
      n++;
    }
  }
  return n;
}

}  // namespace cairn::server
