#include "server/watch.h"

#include <algorithm>

#include "server/command.h"
#include "server/tracking.h"

namespace cairn::server {

void WatchTable::Watch(ClientState* client, int db, std::string_view key) {
  absl::MutexLock l(&mu_);
  auto& list = watchers_[{db, std::string(key)}];
  if (std::find(list.begin(), list.end(), client) == list.end()) list.push_back(client);
  count_.store(watchers_.size(), std::memory_order_relaxed);
}

void WatchTable::UnwatchAll(ClientState* client) {
  client->watched_contexts.clear();
  if (client->watched.empty()) {
    client->watch_dirty.store(false);
    return;
  }
  absl::MutexLock l(&mu_);
  for (const auto& w : client->watched) {
    auto it = watchers_.find({w.db, w.key});
    if (it == watchers_.end()) continue;
    std::erase(it->second, client);
    if (it->second.empty()) watchers_.erase(it);
  }
  count_.store(watchers_.size(), std::memory_order_relaxed);
  client->watched.clear();
  client->watch_dirty.store(false);
}

void WatchTable::Touch(int db, std::string_view key) {
  if (tracking_ != nullptr && tracking_->any()) tracking_->Invalidate(key, Tracking::writer());
  if (count_.load(std::memory_order_relaxed) == 0) return;
  absl::MutexLock l(&mu_);
  auto it = watchers_.find({db, std::string(key)});
  if (it == watchers_.end()) return;
  for (ClientState* c : it->second) c->watch_dirty.store(true);
}

void WatchTable::TouchDb(int db) {
  if (count_.load(std::memory_order_relaxed) == 0) return;
  absl::MutexLock l(&mu_);
  for (auto& [k, list] : watchers_) {
    if (k.first != db) continue;
    for (ClientState* c : list) c->watch_dirty.store(true);
  }
}

void WatchTable::TouchAll() {
  if (count_.load(std::memory_order_relaxed) == 0) return;
  absl::MutexLock l(&mu_);
  for (auto& [k, list] : watchers_) {
    for (ClientState* c : list) c->watch_dirty.store(true);
  }
}

}  // namespace cairn::server
