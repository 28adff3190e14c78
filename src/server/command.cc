#include "server/command.h"

#include <chrono>
#include <cmath>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "server/cluster_mode.h"

namespace cairn::server {

// --- registry ---------------------------------------------------------------------------

void ClientRegistry::Add(std::shared_ptr<ClientState> c) {
  absl::MutexLock l(&mu_);
  clients_[c->id] = std::move(c);
}

void ClientRegistry::Remove(uint64_t id) {
  absl::MutexLock l(&mu_);
  clients_.erase(id);
}

std::shared_ptr<ClientState> ClientRegistry::Find(uint64_t id) const {
  absl::MutexLock l(&mu_);
  auto it = clients_.find(id);
  return it == clients_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<ClientState>> ClientRegistry::All() const {
  absl::MutexLock l(&mu_);
  std::vector<std::shared_ptr<ClientState>> out;
  out.reserve(clients_.size());
  for (const auto& [id, c] : clients_) out.push_back(c);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a->id < b->id; });
  return out;
}

size_t ClientRegistry::size() const {
  absl::MutexLock l(&mu_);
  return clients_.size();
}

uint64_t CursorTable::Save(std::string resume_key) {
  absl::MutexLock l(&mu_);
  const uint64_t id = next_++;
  cursors_[id] = std::move(resume_key);
  // Cursors are issued in increasing order: the oldest has the smallest id.
  if (cursors_.size() > kMaxCursors) cursors_.erase(id - kMaxCursors);
  return id;
}

bool CursorTable::Lookup(uint64_t cursor, std::string* resume_key) const {
  absl::MutexLock l(&mu_);
  auto it = cursors_.find(cursor);
  if (it == cursors_.end()) return false;
  *resume_key = it->second;
  return true;
}

// --- shared helpers -------------------------------------------------------------------

bool ParseScanOptions(CommandContext& c, size_t first, bool allow_type, ScanOptions* o) {
  for (size_t i = first; i < c.args.size(); i++) {
    const std::string opt = Lower(c.args[i]);
    if (i + 1 >= c.args.size()) {
      c.out.Error(kErrSyntax);
      return false;
    }
    if (opt == "match") {
      o->pattern = c.args[++i];
      o->has_pattern = o->pattern != "*";
    } else if (opt == "count") {
      if (!ParseInt64(c.args[++i], &o->count)) {
        c.out.Error(kErrNotInteger);
        return false;
      }
      if (o->count < 1) {
        c.out.Error(kErrSyntax);
        return false;
      }
    } else if (allow_type && opt == "type") {
      o->type = Lower(c.args[++i]);
      o->has_type = true;
    } else {
      c.out.Error(kErrSyntax);
      return false;
    }
  }
  return true;
}

// --- table ------------------------------------------------------------------------------

const CommandTable& CommandTable::Get() {
  static const CommandTable* table = new CommandTable();
  return *table;
}

CommandTable::CommandTable() {
  RegisterStringCommands(&all_);
  RegisterBitmapCommands(&all_);
  RegisterHllCommands(&all_);
  RegisterKeyspaceCommands(&all_);
  RegisterDumpCommands(&all_);
  RegisterConnectionCommands(&all_);
  RegisterServerCommands(&all_);
  RegisterHashCommands(&all_);
  RegisterListCommands(&all_);
  RegisterSetCommands(&all_);
  RegisterZSetCommands(&all_);
  RegisterTransactionCommands(&all_);
  RegisterScriptingCommands(&all_);
  RegisterPubSubCommands(&all_);
  RegisterStreamCommands(&all_);
  RegisterGeoCommands(&all_);
  RegisterSortCommands(&all_);
  RegisterClusterCommands(&all_);
  RegisterAclCommands(&all_);
  for (const CommandSpec* spec : all_) by_name_[spec->name] = spec;
}

const CommandSpec* CommandTable::Find(std::string_view name) const {
  // Command names are short: lower-case into a stack buffer, no allocation.
  char buf[32];
  if (name.size() > sizeof(buf)) return nullptr;
  for (size_t i = 0; i < name.size(); i++) buf[i] = absl::ascii_tolower(name[i]);
  auto it = by_name_.find(absl::string_view(buf, name.size()));
  return it == by_name_.end() ? nullptr : it->second;
}

std::vector<std::string_view> CommandTable::Keys(const CommandSpec& spec,
                                                 const std::vector<std::string_view>& args) {
  std::vector<std::string_view> keys;
  const int argc = static_cast<int>(args.size());
  if (spec.first_key > 0) {
    const int last = spec.last_key < 0 ? argc + spec.last_key : spec.last_key;
    for (int i = spec.first_key; i <= last && i < argc; i += spec.step) keys.push_back(args[i]);
  }
  if (spec.keys_after != nullptr) {
    // XREADGROUP's GROUP group consumer come first (either may be named "streams").
    const int from = std::string_view(spec.name) == "xreadgroup" ? 4 : 1;
    for (int i = from; i < argc; i++) {
      if (Lower(args[i]) != spec.keys_after) continue;
      const int rest = argc - i - 1;
      if (rest > 0 && rest % 2 == 0) {
        for (int k = 0; k < rest / 2; k++) keys.push_back(args[i + 1 + k]);
      }
      break;
    }
  }
  int64_t n;
  if (spec.numkeys_at > 0 && spec.numkeys_at < argc && ParseInt64(args[spec.numkeys_at], &n) &&
      n > 0 && n <= argc - 1 - spec.numkeys_at) {
    for (int i = 0; i < n; i++) keys.push_back(args[spec.numkeys_at + 1 + i]);
  }
  if (spec.more_keys != nullptr) spec.more_keys(args, &keys);
  return keys;
}

// --- helpers ----------------------------------------------------------------------------

bool ParseInt64(std::string_view s, int64_t* v) {
  // Redis's string2ll: no spaces, no '+', no leading zeros, fits in 64 bits.
  if (s.empty() || s.size() > 20) return false;
  if (s.size() == 1 && s[0] == '0') {
    *v = 0;
    return true;
  }
  size_t i = 0;
  bool negative = false;
  if (s[0] == '-') {
    negative = true;
    i = 1;
    if (s.size() == 1) return false;
  }
  if (s[i] < '1' || s[i] > '9') return false;
  uint64_t x = 0;
  for (; i < s.size(); i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    const uint64_t d = static_cast<uint64_t>(s[i] - '0');
    if (x > (UINT64_MAX - d) / 10) return false;
    x = x * 10 + d;
  }
  if (negative) {
    if (x > uint64_t{1} << 63) return false;
    *v = static_cast<int64_t>(-x);
  } else {
    if (x > static_cast<uint64_t>(INT64_MAX)) return false;
    *v = static_cast<int64_t>(x);
  }
  return true;
}

bool ParseDouble(std::string_view s, double* v) {
  // Redis's string2d/strtold: the whole string, no leading space, not NaN.
  if (s.empty() || s.size() > 5000 || std::isspace(static_cast<unsigned char>(s[0]))) return false;
  std::string z(s);
  char* end = nullptr;
  errno = 0;
  const double d = std::strtod(z.c_str(), &end);
  if (end != z.c_str() + z.size() || std::isnan(d)) return false;
  // Overflow (to HUGE_VAL) and underflow to zero are refused; a denormal result is fine.
  if (errno == ERANGE && (std::isinf(d) || d == 0)) return false;
  *v = d;
  return true;
}

std::string Lower(std::string_view s) {
  return absl::AsciiStrToLower(absl::string_view(s.data(), s.size()));
}

void ReplyBadSubcommand(CommandContext& c) {
  const std::string sub = Lower(c.args[1]);
  static const char* const kKnown[] = {"client|id",     "client|getname", "client|setname",
                                       "client|info",   "client|list",    "client|kill",
                                       "client|tracking", "client|trackinginfo", "client|getredir",
                                       "client|caching",
                                       "config|get",    "config|set",     "config|resetstat",
                                       "command|count", "command|info",   "command|docs"};
  const std::string full = absl::StrCat(Lower(c.args[0]), "|", sub);
  for (const char* known : kKnown) {
    if (full == known) {
      c.out.Error(absl::StrCat("ERR wrong number of arguments for '", full, "' command"));
      return;
    }
  }
  std::string upper = std::string(c.args[0]);
  for (char& ch : upper) ch = absl::ascii_toupper(ch);
  c.out.Error(absl::StrCat("ERR unknown subcommand '", std::string(c.args[1]).substr(0, 128),
                           "'. Try ", upper, " HELP."));
}

void ReplyStatusError(protocol::ReplyWriter& out, const absl::Status& s) {
  std::string msg(s.message());
  for (char& c : msg) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  if (const ErrorKind kind = KindOf(s); kind != ErrorKind::kGeneric) {
    out.Error(absl::StrCat(ToAbsl(ErrorCode(kind)), " ", msg));  // -NOQUORUM ..., like -MOVED
  } else if (absl::IsResourceExhausted(s)) {
    out.Error("OOM " + msg);
  } else {
    out.Error("ERR " + msg);
  }
}

// --- dispatch ---------------------------------------------------------------------------

namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void UnknownCommand(const std::vector<std::string_view>& args, protocol::ReplyWriter& out) {
  // Redis 7.0: "ERR unknown command 'x', with args beginning with: 'a' 'b' "
  // Redis formats each with "%.128s": an argument ends at its first NUL byte.
  auto quoted = [](std::string_view a) { return std::string(a.substr(0, std::min<size_t>(128, a.find('\0')))); };
  std::string msg = absl::StrCat("ERR unknown command '", quoted(args[0]),
                                 "', with args beginning with: ");
  for (size_t i = 1; i < args.size() && msg.size() < 512; i++) {
    absl::StrAppend(&msg, "'", quoted(args[i]), "' ");
  }
  for (char& c : msg) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  out.Error(msg);
}

}  // namespace

bool NeedsAuth(const ServerContext& server, const ClientState& client) {
  return !client.authenticated && server.acl->auth_required();
}

// --- ACL ----------------------------------------------------------------------------------

const acl::User* ClientAclUser(ServerContext& server, ClientState& client) {
  if (client.acl_user == nullptr) return nullptr;
  const uint64_t v = server.acl->version();
  if (v != client.acl_version) {
    std::shared_ptr<const acl::User> u = server.acl->Find(client.acl_user->name);
    if (u == nullptr) u = std::make_shared<const acl::User>(client.acl_user->name);  // no rights
    client.acl_user = std::move(u);
    client.acl_version = v;
  }
  return client.acl_user.get();
}

void SetClientUser(ServerContext& server, ClientState& client,
                   std::shared_ptr<const acl::User> user) {
  if (user == nullptr) user = std::make_shared<const acl::User>("default");
  {
    absl::MutexLock l(&client.mu);
    client.user = user->name;
  }
  client.acl_version = server.acl->version();
  client.acl_user = std::move(user);
}

void AclLogDenial(ServerContext& server, ClientState& client, std::string_view reason,
                  std::string_view context, std::string_view object, std::string_view username) {
  const int64_t now = server.now_ms ? server.now_ms() : NowMs();
  server.acl->Log(reason, context, object, username, now, ClientInfoLine(client, now),
                  static_cast<size_t>(std::max(0, server.config->Get().acllog_max_len)));
}

void ApplyAclConfig(ServerContext& server) {
  const ServerConfig cfg = server.config->Get();
  acl::SetPubsubDefault(cfg.acl_pubsub_default == "allchannels");
  server.acl->ApplyShorthands(cfg.requirepass, cfg.users);
}

namespace {

// SORT's BY (with a pattern) and GET read keys the arguments do not name: Redis then
// requires read access to every key.
const char* SortPatternOption(const std::vector<std::string_view>& args) {
  for (size_t j = 2; j + 1 < args.size(); j++) {
    const std::string opt = Lower(args[j]);
    if (opt == "limit") {
      j += 2;
    } else if (opt == "store") {
      j++;
    } else if (opt == "by") {
      if (args[j + 1].find('*') != std::string_view::npos) return "BY";
      j++;
    } else if (opt == "get") {
      return "GET";
    }
  }
  return nullptr;
}

}  // namespace

namespace {

// AclRefusal's one set of rules, for a command line now or (exec_recheck) for a queued one
// checked again at EXEC: then a denial gets Redis's "ACLs rules changed" reply.
std::string Refusal(ServerContext& server, ClientState& client, const acl::User* u,
                    const CommandSpec& spec, const std::vector<std::string_view>& args,
                    bool exec_recheck) {
  const int id = acl::CommandId(args);
  int idx = 0;
  const acl::Verdict v = u->Check(id, args, &idx);
  if (v != acl::Verdict::kOk) {
    const char* context = client.script                                          ? "lua"
                          : (client.in_multi || client.in_exec || exec_recheck) ? "multi"
                                                                                 : "toplevel";
    const std::string object =
        v == acl::Verdict::kCommand ? (id >= 0 ? acl::CommandName(id) : spec.name) : std::string(args[idx]);
    const char* reason = v == acl::Verdict::kCommand ? "command"
                         : v == acl::Verdict::kKey   ? "key"
                                                     : "channel";
    AclLogDenial(server, client, reason, context, object, u->name);
    if (client.script) {
      return v == acl::Verdict::kCommand
                 ? "ERR The user executing the script can't run this command or subcommand"
             : v == acl::Verdict::kKey
                 ? "ERR The user executing the script can't access at least one of the keys "
                   "mentioned in the command arguments"
                 : "ERR The user executing the script can't publish to the channel mentioned in "
                   "the command";
    }
    if (client.in_exec || exec_recheck) {
      return absl::StrCat(
          "NOPERM ACLs rules changed between the moment the transaction was accumulated and "
          "the EXEC call. This command is no longer allowed for the following reason: ",
          v == acl::Verdict::kCommand ? "no permission to execute the command or subcommand"
          : v == acl::Verdict::kKey   ? "no permission to touch the specified keys"
                                      : "no permission to access one of the channels used as arguments");
    }
    if (v == acl::Verdict::kCommand) {
      return absl::StrCat("NOPERM this user has no permissions to run the '", object, "' command");
    }
    return v == acl::Verdict::kKey
               ? "NOPERM this user has no permissions to access one of the keys used as arguments"
               : "NOPERM this user has no permissions to access one of the channels used as "
                 "arguments";
  }
  const std::string_view name = spec.name;
  if (name == "cairn.replica" || name == "cairn.fcall") {
    // Commands between nodes: a restricted user could use them to step around its rules.
    return absl::StrCat("NOPERM this user has no permissions to run the '", spec.name,
                        "' command (internal commands need every right)");
  }
  if (server.cluster != nullptr && (spec.flags & kScript)) {
    return "NOPERM in cluster mode a script runs on another node, where this user's ACL rules "
           "are not checked: only a user with every right may run scripts";
  }
  if (server.cluster != nullptr && name == "exec" && client.in_multi) {
    // The queued commands run on a replica: every rule is checked again here, as when
    // they were queued.
    for (const auto& line : client.queued) {
      const std::vector<std::string_view> q(line.begin(), line.end());
      const CommandSpec* qspec = q.empty() ? nullptr : CommandTable::Get().Find(Lower(q[0]));
      if (qspec == nullptr) continue;  // never queued: refused with the unknown command
      if (std::string e = Refusal(server, client, u, *qspec, q, /*exec_recheck=*/true); !e.empty()) {
        return e;
      }
    }
  }
  if (name == "sort" || name == "sort_ro") {
    if (const char* opt = SortPatternOption(args); opt != nullptr && !u->FullKeyRead(id, args)) {
      return absl::StrCat("ERR ", opt, " option of SORT denied due to insufficient ACL permissions.");
    }
  } else if (name == "cairn.range" && !u->FullKeyRead(id, args)) {
    // It lists keys (and values) of a whole range: like SORT's GET, only for a user who may
    // read every key.
    return "NOPERM this user has no permissions to read every key, which 'cairn.range' needs";
  }
  return "";
}

}  // namespace

std::string AclRefusal(ServerContext& server, ClientState& client, const CommandSpec& spec,
                       const std::vector<std::string_view>& args) {
  const acl::User* u = ClientAclUser(server, client);
  if (u == nullptr || u->unrestricted) return "";
  return Refusal(server, client, u, spec, args, /*exec_recheck=*/false);
}

namespace {

// Commands that run at once inside MULTI instead of being queued.
bool RunsInMulti(const CommandSpec* spec) {
  static const CommandSpec* const kImmediate[] = {
      CommandTable::Get().Find("exec"),  CommandTable::Get().Find("discard"),
      CommandTable::Get().Find("multi"), CommandTable::Get().Find("watch"),
      CommandTable::Get().Find("quit"),  CommandTable::Get().Find("reset"),
  };
  for (const CommandSpec* s : kImmediate) {
    if (s == spec) return true;
  }
  return false;
}

// What other clients may still run while a script runs past busy-reply-threshold, as in
// Redis: killing it, shutting down, authenticating, and FUNCTION STATS.
bool AllowedWhileBusy(const CommandSpec& spec, const std::vector<std::string_view>& args) {
  const std::string_view name = spec.name;
  if (name == "auth" || name == "hello" || name == "shutdown" || name == "quit") return true;
  if ((name == "script" || name == "function") && args.size() >= 2) {
    const std::string sub = Lower(args[1]);
    return sub == "kill" || (name == "function" && sub == "stats");
  }
  return false;
}

// What a RESP2 client in subscribed mode may still run.
bool AllowedWhenSubscribed(const CommandSpec& spec) {
  static const char* const kAllowed[] = {"subscribe",    "psubscribe", "ssubscribe", "unsubscribe",
                                         "punsubscribe", "sunsubscribe", "ping",     "quit",
                                         "reset"};
  for (const char* name : kAllowed) {
    if (std::string_view(spec.name) == name) return true;
  }
  return false;
}

}  // namespace

void FeedMonitors(ServerContext& server, const ClientState& client, const CommandSpec& spec,
                  const std::vector<std::string_view>& args) {
  const int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  server.monitors->Feed(client, client.db.load(std::memory_order_relaxed), spec, args, now_us);
}

void ExecuteCommand(ServerContext& server, ClientState& client,
                    const std::vector<std::string_view>& args, protocol::ReplyWriter& out) {
  const CommandSpec* spec = CommandTable::Get().Find(args[0]);
  // A command refused before it runs; inside MULTI it also dooms the transaction.
  auto refuse = [&](CommandStats* stats, std::string_view message) {
    // A refused command still ends CLIENT CACHING's turn, as in Redis.
    if (client.tracking.load(std::memory_order_relaxed) && !client.script && !client.in_multi &&
        (spec == nullptr || std::string_view(spec->name) != "client")) {
      server.tracking.ClearCaching(client.id);
    }
    if (stats != nullptr) stats->rejected.fetch_add(1, std::memory_order_relaxed);
    if (spec != nullptr && std::string_view(spec->name) == "exec") {
      // Redis discards the transaction (and the watched keys) then, naming the error,
      // inside MULTI or not.
      client.in_multi = false;
      client.multi_error = false;
      client.queued.clear();
      server.watches.UnwatchAll(&client);
      if (message.starts_with("ERR ")) message.remove_prefix(4);
      out.Error("EXECABORT Transaction discarded because of: " + std::string(message));
      return;
    }
    if (client.in_multi) client.multi_error = true;
    out.Error(message);
  };
  if (spec == nullptr) {
    if (client.in_multi) client.multi_error = true;
    UnknownCommand(args, out);
    return;
  }
  CommandStats* stats = server.stats.ForCommand(spec);
  client.last_command.store(spec, std::memory_order_relaxed);
  if (spec->flags & kContainer) {
    absl::MutexLock l(&client.mu);
    client.last_subcommand = args.size() > 1 ? Lower(args[1].substr(0, 32)) : "";
  }
  const int argc = static_cast<int>(args.size());
  // Read once: the clock costs ~50 ns a read on these VMs, a tenth of a pipelined GET.
  const int64_t now_ms = server.now_ms ? server.now_ms() : NowMs();
  // A blocked command tried again waits for the script instead (a BLPOP keeps waiting),
  // except inside it (ServingClientsInsideScript).
  if (bool function = false;
      !client.in_exec &&
      (ServingClientsInsideScript() ||
       (!client.block_retry &&
        server.scripts->Busy(now_ms, server.config->busy_reply_threshold(), &function))) &&
      !AllowedWhileBusy(*spec, args)) {
    return refuse(stats, function ? "BUSY Redis is busy running a script. You can only call "
                                    "FUNCTION KILL or SHUTDOWN NOSAVE."
                                  : "BUSY Redis is busy running a script. You can only call SCRIPT "
                                    "KILL or SHUTDOWN NOSAVE.");
  }
  if (!client.in_exec && client.protocol.load(std::memory_order_relaxed) == 2 && client.subscriptions() > 0 &&
      !AllowedWhenSubscribed(*spec)) {
    std::string name = spec->name;
    if ((spec->flags & kContainer) && args.size() > 1) name += "|" + Lower(args[1]);
    return refuse(stats, absl::StrCat("ERR Can't execute '", name,
                                      "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
                                      "RESET are allowed in this context"));
  }
  if ((spec->arity > 0 && argc != spec->arity) || (spec->arity < 0 && argc < -spec->arity)) {
    return refuse(stats,
                  absl::StrCat("ERR wrong number of arguments for '", spec->name, "' command"));
  }
  if (!(spec->flags & kNoAuth) && NeedsAuth(server, client)) {
    return refuse(stats, "NOAUTH Authentication required.");
  }
  if (client.acl_user != nullptr && !(client.acl_user->unrestricted &&
                                      client.acl_version == server.acl->version())) {
    if (std::string error = AclRefusal(server, client, *spec, args); !error.empty()) {
      if (client.script) {
        out.Error(error);  // the script's caller sees it as redis.call's error
        return;
      }
      if (client.in_exec) {
        stats->rejected.fetch_add(1, std::memory_order_relaxed);
        out.Error(error);
        return;
      }
      return refuse(stats, error);
    }
  }
  if ((spec->flags & kDenyOom) && server.used_memory) {
    const uint64_t limit = server.config->maxmemory();
    if (limit > 0 && server.used_memory() > limit) {
      return refuse(stats, "OOM command not allowed when used memory > 'maxmemory'.");
    }
  }
  if (spec->flags & kWrite) {
    // Redis refuses writes the same way while its AOF cannot be written; the engine
    // resumes by itself once the disk recovers (engine::Options::error_recovery_interval_ms).
    if (absl::Status e = server.backend->BackgroundError(); !e.ok()) {
      std::string why(e.message());
      for (char& ch : why) {
        if (ch == '\r' || ch == '\n') ch = ' ';
      }
      return refuse(stats, "MISCONF Errors writing to the AOF file: " + why);
    }
  }
  if (client.in_multi && (spec->flags & kNoMulti)) {
    return refuse(stats, "ERR Command not allowed inside a transaction");
  }
  if (client.in_multi && !RunsInMulti(spec)) {
    if (server.cluster != nullptr) {
      if (std::string error = ClusterQueueError(client, *spec, args); !error.empty()) {
        client.multi_error = true;
        return refuse(stats, error);
      }
    }
    client.queued.emplace_back(args.begin(), args.end());
    out.SimpleString("QUEUED");
    return;
  }
  // MONITOR: a script is fed before it runs, so its commands follow it; the rest after.
  const bool script_call = spec->flags & kScript;
  // (A cluster's EXEC feeds itself, after its commands: cluster_mode.cc.)
  const bool monitored = !(spec->flags & kAdmin) && !client.block_retry &&
                         !(server.cluster != nullptr && std::string_view(spec->name) == "exec");
  if (monitored && script_call && server.monitors->any()) FeedMonitors(server, client, *spec, args);
  // CLIENT TRACKING: invalidations this command causes name it as their writer (NOLOOP),
  // and BCAST's go out when it ends. A tracking client's keys are remembered before the
  // command reads them: a write racing it on another thread then invalidates them (at
  // worst once too often), never leaving a value read before it cached for good.
  Tracking::CommandScope tracking_scope(server.tracking, client.id);
  const bool tracks = client.tracking.load(std::memory_order_relaxed);
  if (tracks && (spec->flags & kReadOnly) && !(spec->flags & kScript)) {
    server.tracking.Remember(client.id, CommandTable::Keys(*spec, args));
  }
  const auto start = std::chrono::steady_clock::now();
  const size_t out_before = out.buffer()->size();
  CommandContext ctx{server, client, args, out, now_ms, {}};
  try {
    if (server.cluster != nullptr && DispatchInCluster(*server.cluster, ctx, *spec)) {
      // Ran through the cluster (or was refused there). Clients blocked here on its keys
      // try again now rather than at their next poll.
      if ((spec->flags & kWrite) && !client.block.active) {  // a blocked command wrote nothing
        const int db = client.db.load(std::memory_order_relaxed);
        for (std::string_view k : CommandTable::Keys(*spec, args)) server.blocking.Signal(db, k);
      }
    } else if ((spec->flags & (kWrite | kLockKeys)) && !(spec->flags & kNoLock)) {
      const int db = client.db.load(std::memory_order_relaxed);
      const std::vector<std::string_view> keys = CommandTable::Keys(*spec, args);
      KeyLocks::Guard guard(&server.locks, db, keys);
      spec->handler(ctx);
      if ((spec->flags & kWrite) && !client.block.active) {  // a blocked command wrote nothing
        // Under the key locks: a waiter that checks these keys next sees the write.
        // Commands that write through CollectionBatch (those of collections, geo sets,
        // and SORT ... STORE) record what they changed.
        const std::string_view group = spec->group;
        if (group == "hash" || group == "list" || group == "set" || group == "sorted_set" ||
            group == "geo" || std::string_view(spec->name) == "sort") {
          for (const std::string& k : ctx.written) {
            server.watches.Touch(db, k);
            server.blocking.Signal(db, k);
          }
        } else {
          for (std::string_view k : keys) {
            server.watches.Touch(db, k);
            server.blocking.Signal(db, k);
          }
        }
      }
    } else {
      spec->handler(ctx);
    }
  } catch (const std::bad_alloc&) {
    // (A reply given later may have moved what was before it out of the buffer.)
    if (out.buffer()->size() >= out_before) out.buffer()->resize(out_before);
    out.Error("OOM out of memory while running the command");
  } catch (const std::exception& e) {
    if (out.buffer()->size() >= out_before) out.buffer()->resize(out_before);
    out.Error(absl::StrCat("ERR internal error: ", e.what()));
  }
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - start)
                          .count();
  if (monitored && !script_call && server.monitors->any()) FeedMonitors(server, client, *spec, args);
  // CLIENT CACHING lasts for the next command, or the transaction it starts.
  if (tracks && !client.script && !client.in_multi && !client.in_exec && std::string_view(spec->name) != "client") {
    server.tracking.ClearCaching(client.id);
  }
  stats->calls.fetch_add(1, std::memory_order_relaxed);
  stats->micros.Record(static_cast<uint64_t>(micros));
  if (const int slow = server.config->slowlog_log_slower_than();
      slow >= 0 && micros >= slow && !client.script) {
    std::string name;
    {
      absl::MutexLock l(&client.mu);
      name = client.name;
    }
    server.slowlog.Record(micros, slow, static_cast<size_t>(server.config->slowlog_max_len()),
                          ctx.now_ms, args, client.addr, name);
  }
  if (const int ms = server.config->latency_monitor_threshold(); ms > 0 && micros / 1000 >= ms) {
    server.slowlog.RecordLatency("command", micros / 1000, ctx.now_ms);
  }
  if (out.buffer()->size() > out_before && (*out.buffer())[out_before] == '-') {
    stats->failed.fetch_add(1, std::memory_order_relaxed);
  }
  server.stats.commands_processed.fetch_add(1, std::memory_order_relaxed);
}

// --- pipelines --------------------------------------------------------------------------

bool PipelineExecutor::Deferrable(const std::vector<std::string_view>& args) {
  if (args.size() != 3 || args[0].size() != 3) return false;
  // A large value goes to SET itself, which stores it without copying it (batching
  // would copy it twice, into the Record and the batch).
  if (args[2].size() >= kLargeValueBytes) return false;
  if (absl::ascii_tolower(args[0][0]) != 's' || absl::ascii_tolower(args[0][1]) != 'e' ||
      absl::ascii_tolower(args[0][2]) != 't') {
    return false;
  }
  // Whatever would make ExecuteCommand refuse or reply differently runs there instead
  // (BUSY while a script runs: its thread may be this one, serving clients from inside it).
  if (server_.scripts->running() > 0) return false;
  if (client_.in_multi || NeedsAuth(server_, client_) || server_.cluster != nullptr) return false;
  if (client_.tracking.load(std::memory_order_relaxed)) return false;  // CLIENT CACHING's turn
  if (const acl::User* u = ClientAclUser(server_, client_); u != nullptr && !u->unrestricted) {
    // A SET this user may not run goes to ExecuteCommand, which refuses and logs it.
    static const int set_id = acl::CommandIdByName("set");
    int idx = 0;
    if (u->Check(set_id, args, &idx) != acl::Verdict::kOk) return false;
  }
  if (server_.used_memory) {
    const uint64_t limit = server_.config->maxmemory();
    if (limit > 0 && server_.used_memory() > limit) return false;
  }
  if (!server_.backend->BackgroundError().ok()) return false;
  const int db = client_.db.load(std::memory_order_relaxed);
  if (!pending_.empty() && db != pending_db_) return false;
  return true;
}

void PipelineExecutor::Execute(const std::vector<std::string_view>& args) {
  if (Deferrable(args)) {
    pending_db_ = client_.db.load(std::memory_order_relaxed);
    pending_.push_back(store::Mutation::Put(
        pending_db_, std::string(args[1]),
        store::Record{store::ValueType::kString, 0, std::string(args[2])}));
    pending_bytes_ += args[1].size() + args[2].size();
    // Bounded, so a batch stays far below the engine's 1 GiB write limit.
    if (pending_.size() >= 1024 || pending_bytes_ >= (16 << 20)) Flush();
    return;
  }
  Flush();
  ExecuteCommand(server_, client_, args, out_);
}

void PipelineExecutor::Flush() {
  if (pending_.empty()) return;
  static const CommandSpec* set_spec = CommandTable::Get().Find("set");
  client_.last_command.store(set_spec, std::memory_order_relaxed);
  CommandStats* stats = server_.stats.ForCommand(set_spec);
  const auto start = std::chrono::steady_clock::now();
  absl::Status s;
  try {
    std::vector<std::string_view> keys;
    keys.reserve(pending_.size());
    for (const auto& m : pending_) keys.push_back(m.key);
    KeyLocks::Guard guard(&server_.locks, pending_db_, keys);
    s = server_.backend->Apply(pending_);
    if (s.ok()) {
      Tracking::CommandScope tracking_scope(server_.tracking, client_.id);
      for (std::string_view k : keys) {
        server_.watches.Touch(pending_db_, k);
        server_.blocking.Signal(pending_db_, k);
      }
    }
  } catch (const std::bad_alloc&) {
    s = absl::ResourceExhaustedError("out of memory while running the command");
  }
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - start)
                          .count();
  const uint64_t n = pending_.size();
  // SLOWLOG: each SET of the batch took its share of the batch's time.
  if (const int slow = server_.config->slowlog_log_slower_than();
      slow >= 0 && static_cast<int64_t>(micros) / static_cast<int64_t>(n) >= slow) {
    std::string name;
    {
      absl::MutexLock l(&client_.mu);
      name = client_.name;
    }
    const int64_t now = server_.now_ms ? server_.now_ms() : NowMs();
    for (const auto& m : pending_) {
      server_.slowlog.Record(static_cast<int64_t>(micros) / static_cast<int64_t>(n), slow,
                             static_cast<size_t>(server_.config->slowlog_max_len()), now,
                             {"SET", m.key, m.record.value}, client_.addr, name);
    }
  }
  if (server_.monitors->any()) {
    for (const auto& m : pending_) {
      FeedMonitors(server_, client_, *set_spec, {"SET", m.key, m.record.value});
    }
  }
  for (uint64_t i = 0; i < n; i++) {
    if (s.ok()) {
      out_.SimpleString("OK");
    } else {
      ReplyStatusError(out_, s);
    }
    stats->micros.Record(static_cast<uint64_t>(micros) / n);
  }
  stats->calls.fetch_add(n, std::memory_order_relaxed);
  if (!s.ok()) stats->failed.fetch_add(n, std::memory_order_relaxed);
  server_.stats.commands_processed.fetch_add(n, std::memory_order_relaxed);
  pending_.clear();
  pending_bytes_ = 0;
}

}  // namespace cairn::server
