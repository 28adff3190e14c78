#include "server/pubsub.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/glob.h"
#include "base/status.h"
#include "server/command.h"

namespace cairn::server {
namespace {

// A message as RESP2 (an array) and RESP3 (a push) of bulk strings.
std::pair<std::string, std::string> Format(std::initializer_list<std::string_view> items) {
  std::string body;
  for (std::string_view s : items) absl::StrAppend(&body, "$", s.size(), "\r\n", ToAbsl(s), "\r\n");
  const std::string n = absl::StrCat(items.size(), "\r\n");
  return {absl::StrCat("*", n, body), absl::StrCat(">", n, body)};
}

}  // namespace

PubSub::Subscribers_& PubSub::Of(Kind kind) {
  return kind == Kind::kChannel ? channels_ : kind == Kind::kPattern ? patterns_ : shard_channels_;
}
const PubSub::Subscribers_& PubSub::Of(Kind kind) const {
  return kind == Kind::kChannel ? channels_ : kind == Kind::kPattern ? patterns_ : shard_channels_;
}

bool PubSub::Add(ClientState* client, Kind kind, const std::string& name) {
  absl::MutexLock l(&mu_);
  return Of(kind)[name].insert(client).second;
}

bool PubSub::Remove(ClientState* client, Kind kind, const std::string& name) {
  absl::MutexLock l(&mu_);
  Subscribers_& m = Of(kind);
  auto it = m.find(name);
  if (it == m.end() || it->second.erase(client) == 0) return false;
  if (it->second.empty()) m.erase(it);
  return true;
}

void PubSub::RemoveClient(ClientState* client) {
  absl::MutexLock l(&mu_);
  for (Subscribers_* m : {&channels_, &patterns_, &shard_channels_}) {
    for (auto it = m->begin(); it != m->end();) {
      it->second.erase(client);
      if (it->second.empty()) {
        m->erase(it++);
      } else {
        ++it;
      }
    }
  }
}

std::vector<std::pair<PubSub::Kind, std::string>> PubSub::SubscriptionsOf(
    const ClientState* client) const {
  absl::MutexLock l(&mu_);
  std::vector<std::pair<Kind, std::string>> out;
  const std::pair<Kind, const Subscribers_*> maps[] = {
      {Kind::kChannel, &channels_}, {Kind::kPattern, &patterns_}, {Kind::kShard, &shard_channels_}};
  for (const auto& [kind, m] : maps) {
    for (const auto& [name, clients] : *m) {
      if (clients.contains(const_cast<ClientState*>(client))) out.emplace_back(kind, name);
    }
  }
  return out;
}

int64_t PubSub::Publish(std::string_view channel, std::string_view message, bool sharded, bool forward) {
  int64_t receivers = 0;
  std::function<void(std::string, std::string, bool)> send_on;
  {
    absl::MutexLock l(&mu_);
    const Subscribers_& direct = sharded ? shard_channels_ : channels_;
    if (auto it = direct.find(ToAbsl(channel)); it != direct.end()) {
      const auto [resp2, resp3] = Format({sharded ? "smessage" : "message", channel, message});
      const Kind kind = sharded ? Kind::kShard : Kind::kChannel;
      const std::string name(channel);
      for (ClientState* c : it->second) {
        if (c->push) c->push(kind, name, resp2, resp3);
        receivers++;
      }
    }
    if (!sharded) {
      for (const auto& [pattern, clients] : patterns_) {
        if (!GlobMatch(pattern, channel)) continue;
        const auto [resp2, resp3] = Format({"pmessage", pattern, channel, message});
        for (ClientState* c : clients) {
          if (c->push) c->push(Kind::kPattern, pattern, resp2, resp3);
          receivers++;
        }
      }
    }
    if (forward) send_on = forward_;
  }
  if (send_on) send_on(std::string(channel), std::string(message), sharded);
  return receivers;
}

int64_t PubSub::Receivers(std::string_view channel, bool sharded) const {
  absl::MutexLock l(&mu_);
  const Subscribers_& direct = sharded ? shard_channels_ : channels_;
  auto it = direct.find(ToAbsl(channel));
  int64_t n = it == direct.end() ? 0 : static_cast<int64_t>(it->second.size());
  if (!sharded) {
    for (const auto& [pattern, clients] : patterns_) {
      if (GlobMatch(pattern, channel)) n += static_cast<int64_t>(clients.size());
    }
  }
  return n;
}

std::vector<std::string> PubSub::Channels(std::string_view pattern, bool sharded) const {
  absl::MutexLock l(&mu_);
  std::vector<std::string> out;
  for (const auto& [name, clients] : sharded ? shard_channels_ : channels_) {
    if (pattern.empty() || GlobMatch(pattern, name)) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

int64_t PubSub::Subscribers(std::string_view channel, bool sharded) const {
  absl::MutexLock l(&mu_);
  const Subscribers_& m = sharded ? shard_channels_ : channels_;
  auto it = m.find(ToAbsl(channel));
  return it == m.end() ? 0 : static_cast<int64_t>(it->second.size());
}

int64_t PubSub::Patterns() const {
  absl::MutexLock l(&mu_);
  return static_cast<int64_t>(patterns_.size());
}

}  // namespace cairn::server
