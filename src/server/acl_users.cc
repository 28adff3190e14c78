#include "server/acl_users.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace cairn::server {
namespace {

std::shared_ptr<const acl::User> Publishable(acl::User u) {
  u.unrestricted = u.ComputeUnrestricted();
  return std::make_shared<const acl::User>(std::move(u));
}

acl::User DefaultUser() {
  acl::User u("default");
  for (const char* op : {"on", "nopass", "~*", "&*", "+@all"}) u.Apply(op);
  return u;
}

}  // namespace

AclUsers::AclUsers() {
  absl::MutexLock l(&mu_);
  users_["default"] = Publishable(DefaultUser());
  PublishLocked();
}

void AclUsers::PublishLocked() {
  version_.fetch_add(1, std::memory_order_acq_rel);
  const auto& d = users_.at("default");
  auth_required_.store(!d->nopass || !d->enabled, std::memory_order_relaxed);
}

std::shared_ptr<const acl::User> AclUsers::Find(std::string_view name) const {
  absl::MutexLock l(&mu_);
  auto it = users_.find(std::string(name));
  return it == users_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<const acl::User>> AclUsers::All() const {
  absl::MutexLock l(&mu_);
  std::vector<std::shared_ptr<const acl::User>> out;
  for (const auto& [name, u] : users_) out.push_back(u);
  return out;
}

std::string AclUsers::SetUser(std::string_view name, const std::vector<std::string_view>& ops) {
  std::vector<std::string> merged;
  std::string error;
  if (!acl::MergeSelectorArgs(ops, &merged, &error)) return error;
  absl::MutexLock l(&mu_);
  auto it = users_.find(std::string(name));
  acl::User u = it == users_.end() ? acl::User(std::string(name)) : *it->second;
  for (const std::string& op : merged) {
    if (std::string e = u.Apply(op); !e.empty()) {
      // Redis formats the modifier with %.*s: it ends at a NUL.
      return absl::StrCat("Error in ACL SETUSER modifier '", op.substr(0, op.find('\0')), "': ", e);
    }
  }
  users_[std::string(name)] = Publishable(std::move(u));
  PublishLocked();
  return "";
}

int AclUsers::DelUsers(const std::vector<std::string_view>& names) {
  absl::MutexLock l(&mu_);
  int n = 0;
  for (std::string_view name : names) {
    if (name == "default") continue;
    n += static_cast<int>(users_.erase(std::string(name)));
  }
  if (n > 0) PublishLocked();
  return n;
}

void AclUsers::ApplyShorthands(const std::string& requirepass,
                               const std::vector<std::pair<std::string, std::string>>& users) {
  absl::MutexLock l(&mu_);
  if (requirepass == applied_requirepass_ && users == applied_users_) return;
  // Users the option named before and names no more go away (their clients then have no
  // rights), as the option was their only definition.
  for (const auto& old : applied_users_) {
    const bool still = std::any_of(users.begin(), users.end(),
                                   [&](const auto& u) { return u.first == old.first; });
    if (!still && old.first != "default") users_.erase(old.first);
  }
  const bool pass_changed = requirepass != applied_requirepass_;
  applied_requirepass_ = requirepass;
  applied_users_ = users;
  // Only the option that changed is applied: a change of users never touches default's
  // passwords (it used to reset them, and to make default nopass when users became empty).
  acl::User d = *users_.at("default");
  if (pass_changed) {  // as Redis's CONFIG SET requirepass: resetpass, then >pw or nopass
    d.Apply("resetpass");
    if (!requirepass.empty()) {
      d.Apply(">" + requirepass);
      d.Apply("on");
    } else if (users.empty()) {
      d.Apply("nopass");
      d.Apply("on");
    } else {
      d.Apply("off");  // users without requirepass: default cannot be used (cairn's rule)
    }
  } else if (requirepass.empty() && !users.empty() && d.enabled && d.nopass) {
    // Users configured while default is open without a password (as at startup): close it.
    d.Apply("resetpass");
    d.Apply("off");
  }
  users_["default"] = Publishable(std::move(d));
  for (const auto& [name, password] : users) {
    auto it = users_.find(name);
    acl::User u = it == users_.end() ? acl::User(name) : *it->second;
    for (const std::string& op : {std::string("on"), std::string("resetpass"), ">" + password,
                                  std::string("~*"), std::string("&*"), std::string("+@all")}) {
      if (op == "~*" && u.root.allkeys()) continue;
      if (op == "&*" && u.root.allchannels()) continue;
      u.Apply(op);
    }
    users_[name] = Publishable(std::move(u));
  }
  PublishLocked();
}

std::string AclUsers::LoadFile(const std::string& path) {
  absl::MutexLock file_lock(&file_mu_);
  std::ifstream in(path);
  if (!in) {
    return absl::StrCat("Error loading ACLs, opening file '", path, "': No such file or directory");
  }
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string text = buf.str();
  std::map<std::string, std::shared_ptr<const acl::User>> loaded;
  std::string errors;
  int linenum = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    linenum++;
    std::string line(absl::StripAsciiWhitespace(raw));
    if (line.empty()) continue;
    std::vector<std::string> argv = absl::StrSplit(line, ' ');
    if (argv[0] != "user" || argv.size() < 2) {
      absl::StrAppend(&errors, path, ":", linenum,
                      " should start with user keyword followed by the username. ");
      continue;
    }
    if (loaded.count(argv[1])) {
      absl::StrAppend(&errors, "WARNING: Duplicate user '", argv[1], "' found on line ", linenum,
                      ". ");
      continue;
    }
    acl::User u(argv[1]);
    std::vector<std::string_view> ops(argv.begin() + 2, argv.end());
    std::vector<std::string> merged;
    std::string merge_error;
    if (!acl::MergeSelectorArgs(ops, &merged, &merge_error)) {
      absl::StrAppend(&errors, path, ":", linenum,
                      ": Unmatched parenthesis in selector definition.");
      merged.clear();
    }
    // As Redis: unknown commands are named, each; of other errors only the first.
    bool syntax_error = false;
    for (std::string& op : merged) {
      op = std::string(absl::StripAsciiWhitespace(op));
      if (std::string e = u.Apply(op); !e.empty()) {
        if (e == "Unknown command or category name in ACL") {
          absl::StrAppend(&errors, path, ":", linenum, ": Error in applying operation '", op,
                          "': ", e, ". ");
        } else if (!syntax_error) {
          absl::StrAppend(&errors, path, ":", linenum, ": ", e, ". ");
          syntax_error = true;
        }
      }
    }
    loaded[argv[1]] = Publishable(std::move(u));
  }
  if (!errors.empty()) {
    return errors +
           "WARNING: ACL errors detected, no change to the previously active ACL rules was "
           "performed";
  }
  if (!loaded.count("default")) loaded["default"] = Publishable(DefaultUser());
  absl::MutexLock l(&mu_);
  users_ = std::move(loaded);
  PublishLocked();
  return "";
}

std::string AclUsers::SaveFile(const std::string& path) {
  absl::MutexLock file_lock(&file_mu_);
  std::string text;
  for (const auto& u : All()) absl::StrAppend(&text, u->Describe(), "\n");
  constexpr const char* kSaveError =
      "There was an error trying to save the ACLs. Please check the server logs for more "
      "information";
  // A fresh name (pid and time, as Redis) created with O_EXCL|O_NOFOLLOW: a file or symlink
  // planted at a predictable name is never followed nor overwritten.
  const std::string tmp = absl::StrCat(
      path, ".tmp-", getpid(), "-",
      std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    spdlog::warn("ACL SAVE: cannot create {}: {}", tmp, std::strerror(errno));
    return kSaveError;
  }
  size_t done = 0;
  bool ok = true;
  while (ok && done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<size_t>(n);
  }
  ok = ok && fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    unlink(tmp.c_str());
    return kSaveError;
  }
  // The rename itself is durable once the directory is synced.
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  if (int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return "";
}

void AclUsers::Log(std::string_view reason, std::string_view context, std::string_view object,
                   std::string_view username, int64_t now_ms, std::string client_info,
                   size_t max_len) {
  absl::MutexLock l(&mu_);
  int toscan = 10;  // Redis groups with one of the 10 most recent entries only
  for (auto it = log_.begin(); it != log_.end() && toscan-- > 0; ++it) {
    if (it->reason == reason && it->context == context && it->object == object &&
        it->username == username && now_ms - it->ctime_ms <= 60000) {
      AclLogEntry e = std::move(*it);
      log_.erase(it);
      e.count++;
      e.ctime_ms = now_ms;
      e.client_info = std::move(client_info);
      log_.push_front(std::move(e));
      return;
    }
  }
  log_.push_front(AclLogEntry{1, std::string(reason), std::string(context), std::string(object),
                              std::string(username), now_ms, std::move(client_info)});
  while (log_.size() > max_len) log_.pop_back();
}

std::vector<AclLogEntry> AclUsers::LogEntries(size_t count) const {
  absl::MutexLock l(&mu_);
  std::vector<AclLogEntry> out;
  for (size_t i = 0; i < log_.size() && i < count; i++) out.push_back(log_[i]);
  return out;
}

void AclUsers::ResetLog() {
  absl::MutexLock l(&mu_);
  log_.clear();
}

}  // namespace cairn::server
