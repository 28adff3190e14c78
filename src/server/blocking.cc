#include "server/blocking.h"

#include <cmath>
#include <limits>

#include "server/command.h"

namespace cairn::server {

uint64_t BlockingKeys::Add(int db, const std::vector<std::string_view>& keys,
                           std::function<void()> wake) {
  absl::MutexLock l(&mu_);
  const uint64_t ticket = next_++;
  Waiter& w = waiters_[ticket];
  w.db = db;
  w.wake = std::move(wake);
  for (std::string_view k : keys) {
    w.keys.emplace_back(k);
    by_key_[{db, std::string(k)}].push_back(ticket);
  }
  count_.store(waiters_.size(), std::memory_order_relaxed);
  return ticket;
}

void BlockingKeys::Remove(uint64_t ticket) {
  absl::MutexLock l(&mu_);
  auto it = waiters_.find(ticket);
  if (it == waiters_.end()) return;
  for (const std::string& k : it->second.keys) {
    auto list = by_key_.find({it->second.db, k});
    if (list == by_key_.end()) continue;
    std::erase(list->second, ticket);
    if (list->second.empty()) by_key_.erase(list);
  }
  waiters_.erase(it);
  count_.store(waiters_.size(), std::memory_order_relaxed);
}

void BlockingKeys::Signal(int db, std::string_view key) {
  if (count_.load(std::memory_order_relaxed) == 0) return;
  std::vector<uint64_t> tickets;
  {
    absl::MutexLock l(&mu_);
    auto it = by_key_.find({db, std::string(key)});
    if (it == by_key_.end()) return;
    tickets = it->second;
  }
  // Each waiter unregisters itself when it runs again (or re-registers if it must wait).
  std::vector<std::function<void()>> wakes;
  {
    absl::MutexLock l(&mu_);
    for (uint64_t t : tickets) {
      auto w = waiters_.find(t);
      if (w != waiters_.end()) wakes.push_back(w->second.wake);
    }
  }
  for (auto& wake : wakes) wake();
}

bool ParseBlockTimeout(CommandContext& c, std::string_view arg, int64_t* deadline_ms) {
  long double precise;  // as Redis reads it: 1e-400 is a valid (tiny) timeout
  if (!ParseLongDouble(arg, &precise)) precise = std::numeric_limits<long double>::quiet_NaN();
  const double seconds = static_cast<double>(precise);
  if (std::isnan(seconds) || std::isinf(seconds) || seconds > 1e12) {
    c.out.Error("ERR timeout is not a float or out of range");
    return false;
  }
  if (seconds < 0) {
    c.out.Error("ERR timeout is negative");
    return false;
  }
  const int64_t ms = static_cast<int64_t>(std::ceil(seconds * 1000));
  *deadline_ms = ms == 0 ? 0 : c.now_ms + ms;
  return true;
}

void Block(CommandContext& c, const std::vector<std::string_view>& keys, int64_t deadline_ms,
           BlockedReply reply) {
  ClientState& client = c.client;
  if (client.in_exec || !client.wake) {
    if (reply == BlockedReply::kNullArray) {
      c.out.NullArray();
    } else {
      c.out.Null();
    }
    return;
  }
  client.block.active = true;
  client.block.deadline_ms = deadline_ms;
  client.block.reply = reply;
  client.block.poll_ms = 0;
  client.block.ticket = c.server.blocking.Add(client.db.load(std::memory_order_relaxed), keys,
                                              client.wake);
}

}  // namespace cairn::server
