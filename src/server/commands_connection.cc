// Connection commands (Redis 7 semantics): PING ECHO HELLO AUTH SELECT QUIT RESET CLIENT.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/command.h"

namespace cairn::server {
namespace {

void Ping(CommandContext& c) {
  if (c.args.size() > 2) return c.out.Error("ERR wrong number of arguments for 'ping' command");
  if (c.client.subscriptions() > 0 && c.out.protocol() == 2) {  // Redis's reply in subscribed mode
    c.out.ArrayHeader(2);
    c.out.Bulk("pong");
    return c.out.Bulk(c.args.size() == 2 ? c.args[1] : "");
  }
  c.args.size() == 2 ? c.out.Bulk(c.args[1]) : c.out.SimpleString("PONG");
}

void Echo(CommandContext& c) { c.out.Bulk(c.args[1]); }

// Returns false after replying with the error (and logging the failure in ACL LOG).
bool Authenticate(CommandContext& c, std::string_view user, std::string_view pass) {
  std::shared_ptr<const acl::User> u = c.server.acl->Find(user);
  if (u == nullptr || !u->enabled || !u->CheckPassword(pass)) {
    AclLogDenial(c.server, c.client, "auth", c.client.in_multi ? "multi" : "toplevel", c.args[0],
                 user);
    c.out.Error("WRONGPASS invalid username-password pair or user is disabled.");
    return false;
  }
  SetClientUser(c.server, c.client, std::move(u));
  c.client.authenticated = true;
  return true;
}

void Auth(CommandContext& c) {
  if (c.args.size() > 3) return c.out.Error(kErrSyntax);
  if (c.args.size() == 2) {
    // Redis keeps the old error of AUTH <password> when default needs none.
    std::shared_ptr<const acl::User> d = c.server.acl->Find("default");
    if (d != nullptr && d->nopass) {
      return c.out.Error(
          "ERR AUTH <password> called without any password configured for the default user. "
          "Are you sure your configuration is correct?");
    }
  }
  const std::string_view user = c.args.size() == 3 ? c.args[1] : "default";
  if (Authenticate(c, user, c.args.back())) c.out.SimpleString("OK");
}

bool ValidName(std::string_view name) {
  for (char ch : name) {
    if (ch < '!' || ch > '~') return false;  // Redis: no spaces, newlines, specials
  }
  return true;
}

// HELLO [protover [AUTH user pass] [SETNAME name]]
void Hello(CommandContext& c) {
  int proto = c.client.protocol.load();
  size_t i = 1;
  if (c.args.size() >= 2) {
    int64_t v;
    if (!ParseInt64(c.args[1], &v)) {
      return c.out.Error("ERR Protocol version is not an integer or out of range");
    }
    if (v < 2 || v > 3) return c.out.Error("NOPROTO unsupported protocol version");
    proto = static_cast<int>(v);
    i = 2;
  }
  std::string setname;
  bool has_setname = false;
  bool has_auth = false;
  std::string_view auth_user, auth_pass;
  for (; i < c.args.size(); i++) {
    const std::string opt = Lower(c.args[i]);
    if (opt == "auth" && i + 2 < c.args.size()) {
      has_auth = true;
      auth_user = c.args[i + 1];
      auth_pass = c.args[i + 2];
      i += 2;
    } else if (opt == "setname" && i + 1 < c.args.size()) {
      setname = std::string(c.args[++i]);
      has_setname = true;
      if (!ValidName(setname)) {
        return c.out.Error(
            "ERR Client names cannot contain spaces, newlines or special characters.");
      }
    } else {
      return c.out.Error(
          absl::StrCat("ERR Syntax error in HELLO option '", std::string(c.args[i]), "'"));
    }
  }
  // Every option is parsed before anything takes effect, as in Redis.
  if (has_auth && !Authenticate(c, auth_user, auth_pass)) return;
  if (NeedsAuth(c.server, c.client)) {
    return c.out.Error(
        "NOAUTH HELLO must be called with the client already authenticated, "
        "otherwise the HELLO <proto> AUTH <user> <pass> option can be used to "
        "authenticate the client and select the RESP protocol version at the "
        "same time");
  }
  if (has_setname) {
    absl::MutexLock l(&c.client.mu);
    c.client.name = setname;
  }
  c.client.protocol = proto;
  c.out.set_protocol(proto);
  c.out.MapHeader(7);
  c.out.Bulk("server");
  c.out.Bulk("redis");  // what clients check for; INFO says cairn
  c.out.Bulk("version");
  c.out.Bulk("7.0.15");
  c.out.Bulk("proto");
  c.out.Integer(proto);
  c.out.Bulk("id");
  c.out.Integer(static_cast<int64_t>(c.client.id));
  c.out.Bulk("mode");
  c.out.Bulk("standalone");
  c.out.Bulk("role");
  c.out.Bulk("master");
  c.out.Bulk("modules");
  c.out.ArrayHeader(0);
}

void Select(CommandContext& c) {
  int64_t v;
  if (!ParseInt64(c.args[1], &v)) return c.out.Error(kErrNotInteger);
  if (v < 0 || v >= c.server.config->Get().databases) {
    return c.out.Error("ERR DB index is out of range");
  }
  c.client.db.store(static_cast<int>(v));
  c.out.SimpleString("OK");
}

void Quit(CommandContext& c) {
  c.client.close_after_reply = true;
  c.out.SimpleString("OK");
}

void Reset(CommandContext& c) {
  c.server.pubsub->RemoveClient(&c.client);
  if (c.client.monitor.exchange(false)) c.server.monitors->Remove(&c.client);
  c.server.tracking.Disable(c.client);
  c.client.channels.clear();
  c.client.patterns.clear();
  c.client.shard_channels.clear();
  c.client.in_multi = false;
  c.client.multi_error = false;
  c.client.queued.clear();
  c.server.watches.UnwatchAll(&c.client);
  c.client.db.store(0);
  c.client.protocol = 2;
  c.out.set_protocol(2);
  {
    absl::MutexLock l(&c.client.mu);
    c.client.name.clear();
  }
  c.client.authenticated = !c.server.acl->auth_required();
  SetClientUser(c.server, c.client, c.server.acl->Find("default"));
  c.out.SimpleString("RESET");
}

}  // namespace

std::string ClientInfoLine(const ClientState& cl, int64_t now_ms) {
  std::string name, sub, user;
  {
    absl::MutexLock l(&cl.mu);
    name = cl.name;
    sub = cl.last_subcommand;
    user = cl.user;
  }
  const CommandSpec* last = cl.last_command.load(std::memory_order_relaxed);
  std::string cmd = last != nullptr ? last->name : "NULL";
  if (last != nullptr && (last->flags & kContainer) && !sub.empty())
    absl::StrAppend(&cmd, "|", sub);
  return absl::StrCat("id=", cl.id, " addr=", cl.addr, " laddr=", cl.laddr, " name=", name,
                      " age=", (now_ms - cl.created_ms) / 1000,
                      " idle=", (now_ms - cl.last_active_ms.load()) / 1000,
                      " flags=N db=", cl.db.load(), " cmd=", cmd, " user=", user,
                      " resp=", cl.protocol.load(), "\n");
}

namespace {

// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]
// (tracking.h), with Redis's checks in Redis's order.
void ClientTracking(CommandContext& c) {
  if (c.client.script) return c.out.Error("ERR This Redis command is not allowed from script");
  TrackingOptions o;
  bool redirect_given = false;
  for (size_t j = 3; j < c.args.size(); j++) {
    const std::string opt = Lower(c.args[j]);
    const bool more = j + 1 < c.args.size();
    if (opt == "redirect" && more) {
      if (redirect_given) return c.out.Error("ERR A client can only redirect to a single other client");
      int64_t id;
      if (!ParseInt64(c.args[++j], &id)) return c.out.Error(std::string(kErrNotInteger));
      if (id <= 0 || c.server.clients.Find(static_cast<uint64_t>(id)) == nullptr) {
        return c.out.Error("ERR The client ID you want redirect to does not exist");
      }
      o.redirect = static_cast<uint64_t>(id);
      redirect_given = true;
    } else if (opt == "bcast") {
      o.bcast = true;
    } else if (opt == "optin") {
      o.optin = true;
    } else if (opt == "optout") {
      o.optout = true;
    } else if (opt == "noloop") {
      o.noloop = true;
    } else if (opt == "prefix" && more) {
      o.prefixes.emplace_back(c.args[++j]);
    } else {
      return c.out.Error(kErrSyntax);
    }
  }
  const std::string mode = Lower(c.args[2]);
  if (mode == "off") {
    c.server.tracking.Disable(c.client);
    return c.out.SimpleString("OK");
  }
  if (mode != "on") return c.out.Error(kErrSyntax);
  if (c.server.cluster != nullptr) {
    return c.out.Error("ERR CLIENT TRACKING is not supported in cluster mode: writes coordinated by other "
                       "nodes would not invalidate this node's clients");
  }
  if (c.client.killed.load(std::memory_order_relaxed)) return c.out.Error("ERR the connection is closing");
  if (!o.bcast && !o.prefixes.empty()) return c.out.Error("ERR PREFIX option requires BCAST mode to be enabled");
  TrackingOptions old;
  const bool tracking = c.server.tracking.OptionsOf(c.client.id, &old);
  if (tracking && old.bcast != o.bcast) {
    return c.out.Error(
        "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then "
        "re-enabling it with a different mode.");
  }
  if (o.bcast && (o.optin || o.optout)) return c.out.Error("ERR OPTIN and OPTOUT are not compatible with BCAST");
  if (o.optin && o.optout) return c.out.Error("ERR You can't specify both OPTIN mode and OPTOUT mode");
  if (tracking && ((o.optin && old.optout) || (o.optout && old.optin))) {
    return c.out.Error(
        "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then "
        "re-enabling it with a different mode.");
  }
  if (o.bcast) {
    // Prefixes of one client must not overlap: one key would be announced twice. No
    // prefix is the empty one: every key.
    const auto overlap = [](const std::string& a, const std::string& b) {
      return a.starts_with(b) || b.starts_with(a);
    };
    std::vector<std::string> existing = tracking ? old.prefixes : std::vector<std::string>();
    for (size_t i = 0; i < o.prefixes.size(); i++) {
      for (const std::string& e : existing) {
        if (overlap(o.prefixes[i], e)) {
          return c.out.Error(absl::StrCat("ERR Prefix '", o.prefixes[i], "' overlaps with an existing prefix '", e,
                                          "'. Prefixes for a single client must not overlap."));
        }
      }
      for (size_t j = i + 1; j < o.prefixes.size(); j++) {
        if (overlap(o.prefixes[i], o.prefixes[j])) {
          return c.out.Error(absl::StrCat("ERR Prefix '", o.prefixes[i], "' overlaps with another provided prefix '",
                                          o.prefixes[j], "'. Prefixes for a single client must not overlap."));
        }
      }
    }
    if (o.prefixes.empty()) o.prefixes.push_back("");
    // BCAST again adds its prefixes to those it has.
    for (const std::string& e : existing) {
      if (std::find(o.prefixes.begin(), o.prefixes.end(), e) == o.prefixes.end()) o.prefixes.push_back(e);
    }
    std::sort(o.prefixes.begin(), o.prefixes.end());  // TRACKINGINFO lists them in order, as Redis's tree
  }
  c.server.tracking.Enable(c.client, std::move(o));
  c.out.SimpleString("OK");
}

void ClientTrackingInfo(CommandContext& c) {
  TrackingOptions o;
  const bool on = c.server.tracking.OptionsOf(c.client.id, &o);
  std::vector<std::string> flags;
  if (!on) {
    flags.push_back("off");
  } else {
    flags.push_back("on");
    if (o.bcast) flags.push_back("bcast");
    if (o.optin) flags.push_back("optin");
    if (o.optout) flags.push_back("optout");
    if (o.caching == 1) flags.push_back("caching-yes");
    if (o.caching == -1) flags.push_back("caching-no");
    if (o.noloop) flags.push_back("noloop");
    if (o.redirect != 0 && c.server.clients.Find(o.redirect) == nullptr) flags.push_back("broken_redirect");
  }
  c.out.MapHeader(3);
  c.out.Bulk("flags");
  c.out.SetHeader(flags.size());
  for (const std::string& f : flags) c.out.Bulk(f);
  c.out.Bulk("redirect");
  c.out.Integer(on ? static_cast<int64_t>(o.redirect) : -1);
  c.out.Bulk("prefixes");
  c.out.ArrayHeader(o.prefixes.size());
  for (const std::string& p : o.prefixes) c.out.Bulk(p);
}

void ClientCmd(CommandContext& c) {
  const std::string sub = Lower(c.args[1]);
  if (sub == "tracking" && c.args.size() >= 3) return ClientTracking(c);
  if (sub == "trackinginfo" && c.args.size() == 2) return ClientTrackingInfo(c);
  if (sub == "getredir" && c.args.size() == 2) {
    TrackingOptions o;
    return c.out.Integer(c.server.tracking.OptionsOf(c.client.id, &o) ? static_cast<int64_t>(o.redirect) : -1);
  }
  if (sub == "caching" && c.args.size() == 3) {
    if (c.client.script) return c.out.Error("ERR This Redis command is not allowed from script");
    TrackingOptions o;
    if (!c.server.tracking.OptionsOf(c.client.id, &o)) {
      return c.out.Error(
          "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode "
          "enabled");
    }
    const std::string opt = Lower(c.args[2]);
    if (opt == "yes") {
      if (!o.optin) return c.out.Error("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.");
    } else if (opt == "no") {
      if (!o.optout) return c.out.Error("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.");
    } else {
      return c.out.Error(kErrSyntax);
    }
    c.server.tracking.SetCaching(c.client.id, opt == "yes");
    return c.out.SimpleString("OK");
  }
  if (sub == "id" && c.args.size() == 2) return c.out.Integer(static_cast<int64_t>(c.client.id));
  if (sub == "getname" && c.args.size() == 2) {
    std::string name;
    {
      absl::MutexLock l(&c.client.mu);
      name = c.client.name;
    }
    return name.empty() ? c.out.Null() : c.out.Bulk(name);
  }
  if (sub == "setname" && c.args.size() == 3) {
    if (!ValidName(c.args[2])) {
      return c.out.Error("ERR Client names cannot contain spaces, newlines or special characters.");
    }
    absl::MutexLock l(&c.client.mu);
    c.client.name = std::string(c.args[2]);
    return c.out.SimpleString("OK");
  }
  if (sub == "info" && c.args.size() == 2) {
    return c.out.Verbatim(ClientInfoLine(c.client, c.now_ms));
  }
  if (sub == "list") {
    // CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id ...]
    std::vector<uint64_t> ids;
    bool none = false;  // cairn has only normal clients
    for (size_t i = 2; i < c.args.size(); i++) {
      const std::string opt = Lower(c.args[i]);
      if (opt == "type" && i + 1 < c.args.size()) {
        const std::string type = Lower(c.args[++i]);
        if (type != "normal" && type != "master" && type != "replica" && type != "pubsub") {
          return c.out.Error(
              absl::StrCat("ERR Unknown client type '", std::string(c.args[i]), "'"));
        }
        none = type != "normal";
      } else if (opt == "id" && i + 1 < c.args.size()) {
        for (i++; i < c.args.size(); i++) {
          int64_t id;
          if (!ParseInt64(c.args[i], &id) || id <= 0) return c.out.Error("ERR Invalid client ID");
          ids.push_back(static_cast<uint64_t>(id));
        }
      } else {
        return c.out.Error(kErrSyntax);
      }
    }
    std::string text;
    for (const auto& cl : c.server.clients.All()) {
      if (none) break;
      if (!ids.empty() && std::find(ids.begin(), ids.end(), cl->id) == ids.end()) continue;
      absl::StrAppend(&text, ClientInfoLine(*cl, c.now_ms));
    }
    return c.out.Verbatim(text);
  }
  if (sub == "kill" && c.args.size() >= 3) {
    // CLIENT KILL addr (old form: OK or error) or filters: ID id, ADDR a, LADDR a, USER u,
    // SKIPME yes|no (new form: the number killed).
    const bool old_form = c.args.size() == 3;
    uint64_t id = 0;
    std::string addr, laddr, user;
    bool skipme = true;
    if (old_form) {
      addr = std::string(c.args[2]);
    } else {
      if (c.args.size() % 2 != 0) return c.out.Error(kErrSyntax);
      for (size_t i = 2; i + 1 < c.args.size(); i += 2) {
        const std::string f = Lower(c.args[i]);
        const std::string_view v = c.args[i + 1];
        int64_t n;
        if (f == "id") {
          if (!ParseInt64(v, &n) || n <= 0)
            return c.out.Error("ERR client-id should be greater than 0");
          id = static_cast<uint64_t>(n);
        } else if (f == "addr") {
          addr = std::string(v);
        } else if (f == "laddr") {
          laddr = std::string(v);
        } else if (f == "user") {
          user = std::string(v);
        } else if (f == "skipme") {
          const std::string b = Lower(v);
          if (b != "yes" && b != "no") return c.out.Error(kErrSyntax);
          skipme = b == "yes";
        } else {
          return c.out.Error(kErrSyntax);
        }
      }
    }
    int64_t killed = 0;
    for (const auto& cl : c.server.clients.All()) {
      if (id != 0 && cl->id != id) continue;
      if (!addr.empty() && cl->addr != addr) continue;
      if (!laddr.empty() && cl->laddr != laddr) continue;
      if (!user.empty()) {
        absl::MutexLock l(&cl->mu);
        if (cl->user != user) continue;
      }
      if (cl.get() == &c.client) {
        if (skipme && !old_form) continue;
        c.client.close_after_reply = true;  // killing yourself: after this reply
      } else {
        cl->killed.store(true);
        if (cl->kill) cl->kill();
      }
      killed++;
    }
    if (old_form) return killed > 0 ? c.out.SimpleString("OK") : c.out.Error("ERR No such client");
    return c.out.Integer(killed);
  }
  ReplyBadSubcommand(c);
}

const CommandSpec kCommands[] = {
    {"ping", -1, kFast | kPure, 0, 0, 0, Ping, "connection", "Returns the server's liveliness response."},
    {"echo", 2, kFast | kPure, 0, 0, 0, Echo, "connection", "Returns the given string."},
    {"hello", -1, kNoAuth | kFast | kNoScript, 0, 0, 0, Hello, "connection", "Handshakes with the server."},
    {"auth", -2, kNoAuth | kFast | kNoScript, 0, 0, 0, Auth, "connection", "Authenticates the connection."},
    {"select", 2, kFast, 0, 0, 0, Select, "connection", "Changes the selected database."},
    {"quit", -1, kNoAuth | kFast, 0, 0, 0, Quit, "connection", "Closes the connection."},
    {"reset", 1, kNoAuth | kFast, 0, 0, 0, Reset, "connection", "Resets the connection."},
    {"client", -2, kAdmin | kContainer, 0, 0, 0, ClientCmd, "connection",
     "ID, GETNAME, SETNAME, INFO, LIST and KILL of client connections."},
};

}  // namespace

void RegisterConnectionCommands(std::vector<const CommandSpec*>* table) {
  for (const CommandSpec& c : kCommands) table->push_back(&c);
}

}  // namespace cairn::server
