// The server's ACL users and ACL LOG. Users are immutable snapshots (shared_ptr<const
// User>): a change publishes a new one and bumps version(), so a client's thread checks
// its cached user with one atomic load and takes the lock only after a change.
//
// Thread-safe.
#ifndef CAIRN_SERVER_ACL_USERS_H_
#define CAIRN_SERVER_ACL_USERS_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/acl.h"

namespace cairn::server {

struct AclLogEntry {
  int64_t count = 1;
  std::string reason;   // command, key, channel, auth
  std::string context;  // toplevel, multi, lua
  std::string object;
  std::string username;
  int64_t ctime_ms = 0;
  std::string client_info;
};

class AclUsers {
 public:
  AclUsers();  // just "default": on nopass ~* &* +@all

  uint64_t version() const { return version_.load(std::memory_order_acquire); }
  // The user named name, or null.
  std::shared_ptr<const acl::User> Find(std::string_view name) const;
  // Every user, by name.
  std::vector<std::shared_ptr<const acl::User>> All() const;
  // Whether a new connection must authenticate (default is off or has passwords).
  bool auth_required() const { return auth_required_.load(std::memory_order_relaxed); }

  // ACL SETUSER: applies every op or none (then returns Redis's error line without "ERR ").
  std::string SetUser(std::string_view name, const std::vector<std::string_view>& ops);
  // ACL DELUSER: how many were removed; "default" is refused by the caller.
  int DelUsers(const std::vector<std::string_view>& names);

  // The requirepass and users options: default's password, and users with every right
  // (configured users without requirepass disable default, as cairn always did).
  // Does nothing if both are as last applied (at first: empty), so an aclfile's default
  // user stands when neither option is set.
  void ApplyShorthands(const std::string& requirepass,
                       const std::vector<std::pair<std::string, std::string>>& users);

  // ACL LOAD / SAVE with the aclfile. Load replaces every user or none; "" or Redis's
  // error text (without "ERR "). Serialized with each other.
  std::string LoadFile(const std::string& path);
  std::string SaveFile(const std::string& path);

  // ACL LOG.
  void Log(std::string_view reason, std::string_view context, std::string_view object,
           std::string_view username, int64_t now_ms, std::string client_info, size_t max_len);
  std::vector<AclLogEntry> LogEntries(size_t count) const;
  void ResetLog();

 private:
  void PublishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex file_mu_;  // one ACL LOAD or SAVE at a time
  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<const acl::User>> users_ ABSL_GUARDED_BY(mu_);
  std::deque<AclLogEntry> log_ ABSL_GUARDED_BY(mu_);
  std::string applied_requirepass_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, std::string>> applied_users_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> version_{1};
  std::atomic<bool> auth_required_{false};
};

}  // namespace cairn::server

#endif  // CAIRN_SERVER_ACL_USERS_H_
