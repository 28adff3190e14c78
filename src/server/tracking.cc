#include "server/tracking.h"

#include <map>
#include <memory>
#include <set>

#include "absl/strings/str_cat.h"
#include "server/command.h"

namespace cairn::server {

namespace {

// By (client, prefix): Redis sends a BCAST client one message per prefix, each key once.
using Pending = std::map<std::pair<uint64_t, std::string>, std::set<std::string>>;

// The command running on this thread: its client (for NOLOOP) and the BCAST keys it
// wrote, sent when it ends.
thread_local int depth = 0;
thread_local uint64_t writer_id = 0;
thread_local Pending* pending = nullptr;

void AppendBulk(std::string* out, std::string_view s) {
  absl::StrAppend(out, "$", s.size(), "\r\n");
  out->append(s);
  out->append("\r\n");
}

}  // namespace

void Tracking::Enable(ClientState& client, TrackingOptions options) {
  absl::MutexLock l(&mu_);
  const bool bcast = options.bcast;
  auto [it, added] = options_.try_emplace(client.id);
  if (!added && it->second.bcast) bcast_.fetch_sub(1, std::memory_order_relaxed);
  it->second = std::move(options);
  if (bcast) bcast_.fetch_add(1, std::memory_order_relaxed);
  if (added) tracking_.fetch_add(1, std::memory_order_relaxed);
  client.tracking.store(true, std::memory_order_relaxed);
}

void Tracking::Disable(ClientState& client) {
  if (!client.tracking.exchange(false)) return;
  absl::MutexLock l(&mu_);
  auto it = options_.find(client.id);
  if (it == options_.end()) return;
  if (it->second.bcast) bcast_.fetch_sub(1, std::memory_order_relaxed);
  options_.erase(it);
  tracking_.fetch_sub(1, std::memory_order_relaxed);
}

bool Tracking::OptionsOf(uint64_t client_id, TrackingOptions* options) const {
  absl::MutexLock l(&mu_);
  auto it = options_.find(client_id);
  if (it == options_.end()) return false;
  *options = it->second;
  return true;
}

void Tracking::Remember(uint64_t client_id, const std::vector<std::string_view>& keys) {
  // Keys dropped past the bound, with the clients to tell.
  std::vector<std::pair<std::string, std::vector<std::pair<uint64_t, TrackingOptions>>>> evicted;
  {
    absl::MutexLock l(&mu_);
    auto o = options_.find(client_id);
    if (o == options_.end() || o->second.bcast) return;
    const int caching = o->second.caching;
    if ((o->second.optin && caching != 1) || (o->second.optout && caching == -1)) return;
    for (std::string_view k : keys) table_[std::string(k)].insert(client_id);
    while (table_.size() > kMaxKeys) {
      auto victim = table_.begin();  // an arbitrary one, as Redis's random eviction
      auto& tell = evicted.emplace_back(victim->first, std::vector<std::pair<uint64_t, TrackingOptions>>()).second;
      for (uint64_t id : victim->second) {
        if (auto to = options_.find(id); to != options_.end() && !to->second.bcast) tell.emplace_back(id, to->second);
      }
      table_.erase(victim);
    }
  }
  for (const auto& [key, tell] : evicted) {
    const std::vector<std::string> one{key};
    for (const auto& [id, o] : tell) Send(id, o, &one);
  }
}

void Tracking::SetCaching(uint64_t client_id, bool yes) {
  absl::MutexLock l(&mu_);
  if (auto o = options_.find(client_id); o != options_.end()) o->second.caching = yes ? 1 : -1;
}

void Tracking::ClearCaching(uint64_t client_id) {
  absl::MutexLock l(&mu_);
  if (auto o = options_.find(client_id); o != options_.end()) o->second.caching = 0;
}

void Tracking::Invalidate(std::string_view key, uint64_t writer) {
  std::vector<std::pair<uint64_t, TrackingOptions>> now;
  {
    absl::MutexLock l(&mu_);
    if (auto it = table_.find(std::string(key)); it != table_.end()) {
      for (uint64_t id : it->second) {
        auto o = options_.find(id);
        if (o == options_.end() || o->second.bcast) continue;  // stopped tracking since
        if (o->second.noloop && id == writer) continue;
        now.emplace_back(id, o->second);
      }
      table_.erase(it);  // one message per read: the client reads it again to track it
    }
    if (bcast_.load(std::memory_order_relaxed) > 0) {
      for (const auto& [id, o] : options_) {
        if (!o.bcast || (o.noloop && id == writer)) continue;
        const std::string* prefix = nullptr;  // prefixes never overlap: at most one
        for (const std::string& p : o.prefixes) {
          if (key.starts_with(p)) prefix = &p;
        }
        if (prefix == nullptr) continue;
        if (depth > 0 && pending != nullptr) {
          (*pending)[{id, *prefix}].emplace(key);
        } else {
          now.emplace_back(id, o);  // outside a command (HTTP): at once
        }
      }
    }
  }
  const std::vector<std::string> one{std::string(key)};
  for (const auto& [id, o] : now) Send(id, o, &one);
}

void Tracking::InvalidateAll() {
  std::vector<std::pair<uint64_t, TrackingOptions>> all;
  {
    absl::MutexLock l(&mu_);
    table_.clear();
    all.assign(options_.begin(), options_.end());
  }
  for (const auto& [id, o] : all) Send(id, o, nullptr);
}

Tracking::CommandScope::CommandScope(Tracking& tracking, uint64_t writer) : tracking_(tracking) {
  if (depth++ > 0) return;
  writer_id = writer;
  static thread_local Pending storage;
  storage.clear();
  pending = &storage;
}

Tracking::CommandScope::~CommandScope() {
  if (--depth > 0) return;
  writer_id = 0;
  tracking_.SendPending();
}

void Tracking::SendPending() {
  if (pending == nullptr) return;
  Pending batch;
  batch.swap(*pending);
  pending = nullptr;
  for (auto& [to, keys] : batch) {
    TrackingOptions o;
    const std::vector<std::string> list(keys.begin(), keys.end());
    if (OptionsOf(to.first, &o)) Send(to.first, o, &list);
  }
}

uint64_t Tracking::writer() { return writer_id; }

void Tracking::Send(uint64_t id, const TrackingOptions& options, const std::vector<std::string>* keys) {
  std::string payload;
  if (keys == nullptr) {
    payload = "_\r\n";
  } else {
    absl::StrAppend(&payload, "*", keys->size(), "\r\n");
    for (const std::string& k : *keys) AppendBulk(&payload, k);
  }
  const std::shared_ptr<ClientState> target = clients_->Find(options.redirect != 0 ? options.redirect : id);
  if (target == nullptr) {
    // The redirect's client has gone: a RESP3 tracking client hears of it.
    const std::shared_ptr<ClientState> self = clients_->Find(id);
    if (self == nullptr || !self->push || self->protocol.load(std::memory_order_relaxed) != 3) return;
    const std::string broken = absl::StrCat(">2\r\n$21\r\ntracking-redir-broken\r\n:", options.redirect, "\r\n");
    self->push(PubSub::Kind::kTracking, "", broken, broken);
    return;
  }
  if (!target->push) return;
  if (target->protocol.load(std::memory_order_relaxed) == 3) {
    const std::string push = ">2\r\n$10\r\ninvalidate\r\n" + payload;
    target->push(PubSub::Kind::kTracking, "", push, push);
  } else if (options.redirect != 0) {
    // RESP2: a message on __redis__:invalidate, delivered if the client subscribed to it.
    const std::string message = "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n" +
                                (keys == nullptr ? std::string("$-1\r\n") : payload);
    target->push(PubSub::Kind::kChannel, "__redis__:invalidate", message, message);
  }
}

}  // namespace cairn::server
