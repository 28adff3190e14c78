// ACL (Redis 7.0): SETUSER GETUSER DELUSER LIST USERS WHOAMI CAT LOG SAVE LOAD DRYRUN
// GENPASS HELP. The users live in ServerContext::acl (acl_users.h).
#include <openssl/rand.h>

#include "absl/strings/str_cat.h"
#include "server/command.h"

namespace cairn::server {
namespace {

void ReplyBadArgs(CommandContext& c, std::string_view sub) {
  c.out.Error(
      absl::StrCat("ERR wrong number of arguments for 'acl|", std::string(sub), "' command"));
}

// After a user changed or went away: clients of a deleted user are closed (Redis 7), as
// are subscribers whose channels the user may no longer use.
void DisconnectAfterChange(CommandContext& c, std::string_view name, bool deleted) {
  std::shared_ptr<const acl::User> u = deleted ? nullptr : c.server.acl->Find(name);
  for (const auto& other : c.server.clients.All()) {
    {
      absl::MutexLock l(&other->mu);
      if (other->user != name) continue;
    }
    bool close = deleted;
    if (!close && u != nullptr && !u->unrestricted) {
      for (const auto& [kind, channel] : c.server.pubsub->SubscriptionsOf(other.get())) {
        if (!u->ChannelAllowed(channel, kind == PubSub::Kind::kPattern)) close = true;
      }
    }
    if (!close) continue;
    if (other.get() == &c.client || other->id == c.client.id) {
      c.client.close_after_reply = true;
    } else if (other->kill) {
      other->kill();
    }
  }
}

void ReplySelector(CommandContext& c, const acl::Selector& s) {
  c.out.Bulk("commands");
  c.out.Bulk(s.CommandsText());
  c.out.Bulk("keys");
  c.out.Bulk(s.KeysText());
  c.out.Bulk("channels");
  c.out.Bulk(s.ChannelsText());
}

void GetUser(CommandContext& c) {
  std::shared_ptr<const acl::User> u = c.server.acl->Find(c.args[2]);
  if (u == nullptr) return c.out.Null();
  c.out.MapHeader(6);
  c.out.Bulk("flags");
  std::vector<std::string> flags = {u->enabled ? "on" : "off"};
  if (u->nopass) flags.push_back("nopass");
  if (u->sanitize == 2) flags.push_back("skip-sanitize-payload");
  if (u->sanitize == 1) flags.push_back("sanitize-payload");
  c.out.ArrayHeader(flags.size());
  for (const auto& f : flags) c.out.Bulk(f);
  c.out.Bulk("passwords");
  c.out.BulkArray(u->passwords);
  ReplySelector(c, u->root);
  c.out.Bulk("selectors");
  c.out.ArrayHeader(u->selectors.size());
  for (const acl::Selector& s : u->selectors) {
    c.out.MapHeader(3);
    ReplySelector(c, s);
  }
}

void Log(CommandContext& c) {
  int64_t count = 10;
  if (c.args.size() == 3) {
    if (Lower(c.args[2]) == "reset") {
      c.server.acl->ResetLog();
      return c.out.SimpleString("OK");
    }
    if (!ParseInt64(c.args[2], &count)) return c.out.Error(kErrNotInteger);
    if (count < 0) count = 0;
  }
  const int64_t now = c.now_ms;
  const auto entries = c.server.acl->LogEntries(static_cast<size_t>(count));
  c.out.ArrayHeader(entries.size());
  for (const AclLogEntry& e : entries) {
    c.out.MapHeader(7);
    c.out.Bulk("count");
    c.out.Integer(e.count);
    c.out.Bulk("reason");
    c.out.Bulk(e.reason);
    c.out.Bulk("context");
    c.out.Bulk(e.context);
    c.out.Bulk("object");
    c.out.Bulk(e.object);
    c.out.Bulk("username");
    c.out.Bulk(e.username);
    c.out.Bulk("age-seconds");
    c.out.Double(static_cast<double>(now - e.ctime_ms) / 1000.0);
    c.out.Bulk("client-info");
    c.out.Bulk(e.client_info);
  }
}

void DryRun(CommandContext& c) {
  std::shared_ptr<const acl::User> u = c.server.acl->Find(c.args[2]);
  if (u == nullptr) {
    return c.out.Error(absl::StrCat("ERR User '", std::string(c.args[2]), "' not found"));
  }
  const std::vector<std::string_view> args(c.args.begin() + 3, c.args.end());
  // Redis's command table decides (a command cairn does not run can still be asked about).
  const int id = acl::CommandId(args);
  const bool unknown_sub = id >= 0 && args.size() > 1 &&
                           std::string_view(acl::CommandName(id)).find('|') == std::string_view::npos &&
                           acl::CommandIdByName(Lower(args[0]) + "|help") >= 0;
  if (id < 0 || unknown_sub) {
    return c.out.Error(absl::StrCat("ERR Command '", std::string(args[0]), "' not found"));
  }
  int arity = acl::kCommandAcls[id].arity;
  if (arity == 0) {  // cairn's own
    const CommandSpec* spec = CommandTable::Get().Find(args[0]);
    arity = spec != nullptr ? spec->arity : -1;
  }
  const int argc = static_cast<int>(args.size());
  if ((arity > 0 && argc != arity) || (arity < 0 && argc < -arity)) {
    return c.out.Error(absl::StrCat("ERR wrong number of arguments for '", acl::CommandName(id),
                                    "' command"));
  }
  int idx = 0;
  const acl::Verdict v = u->Check(id, args, &idx);
  switch (v) {
    case acl::Verdict::kOk:
      return c.out.SimpleString("OK");
    case acl::Verdict::kCommand:
      return c.out.Bulk(absl::StrCat("This user has no permissions to run the '",
                                     acl::CommandName(id), "' command"));
    case acl::Verdict::kKey:
      return c.out.Bulk(absl::StrCat("This user has no permissions to access the '",
                                     std::string(args[idx]), "' key"));
    default:
      return c.out.Bulk(absl::StrCat("This user has no permissions to access the '",
                                     std::string(args[idx]), "' channel"));
  }
}

void Cat(CommandContext& c) {
  if (c.args.size() == 2) {
    c.out.ArrayHeader(acl::kCategoryCount);
    for (const char* name : acl::kCategoryNames) c.out.Bulk(name);
    return;
  }
  uint32_t cat = 0;
  const std::string want = Lower(c.args[2]);
  for (int i = 0; i < acl::kCategoryCount; i++) {
    if (want == acl::kCategoryNames[i]) cat = 1u << i;
  }
  if (cat == 0) {
    return c.out.Error(absl::StrCat("ERR Unknown category '", std::string(c.args[2]), "'"));
  }
  std::vector<std::string> names;
  for (size_t i = 0; i < acl::kCommandAclCount; i++) {
    if (acl::kCommandAcls[i].categories & cat) names.push_back(acl::kCommandAcls[i].name);
  }
  c.out.BulkArray(names);
}

void Help(CommandContext& c) {
  static const char* const kLines[] = {
      "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "CAT [<category>]",
      "    List all commands that belong to <category>, or all command categories",
      "    when no category is specified.",
      "DELUSER <username> [<username> ...]",
      "    Delete a list of users.",
      "DRYRUN <username> <command> [<arg> ...]",
      "    Returns whether the user can execute the given command without executing the command.",
      "GETUSER <username>",
      "    Get the user's details.",
      "GENPASS [<bits>]",
      "    Generate a secure 256-bit user password. The optional `bits` argument can",
      "    be used to specify a different size.",
      "LIST",
      "    Show users details in config file format.",
      "LOAD",
      "    Reload users from the ACL file.",
      "LOG [<count> | RESET]",
      "    Show the ACL log entries.",
      "SAVE",
      "    Save the current config to the ACL file.",
      "SETUSER <username> <attribute> [<attribute> ...]",
      "    Create or modify a user with the specified attributes.",
      "USERS",
      "    List all the registered usernames.",
      "WHOAMI",
      "    Return the current connection username.",
      "HELP",
      "    Prints this help.",
  };
  c.out.ArrayHeader(std::size(kLines));
  for (const char* line : kLines) c.out.SimpleString(line);
}

constexpr std::string_view kNoAclFile =
    "ERR This Redis instance is not configured to use an ACL file. You may want to specify "
    "users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a "
    "Redis configuration file set) in order to store users in the Redis configuration.";

void Acl(CommandContext& c) {
  const std::string sub = Lower(c.args[1]);
  const size_t argc = c.args.size();
  if (sub == "setuser") {
    if (argc < 3) return ReplyBadArgs(c, sub);
    const std::string_view name = c.args[2];
    if (acl::HasSpaces(name)) {
      return c.out.Error("ERR Usernames can't contain spaces or null characters");
    }
    const std::vector<std::string_view> ops(c.args.begin() + 3, c.args.end());
    if (std::string e = c.server.acl->SetUser(name, ops); !e.empty())
      return c.out.Error("ERR " + e);
    DisconnectAfterChange(c, name, false);
    return c.out.SimpleString("OK");
  }
  if (sub == "getuser") {
    if (argc != 3) return ReplyBadArgs(c, sub);
    return GetUser(c);
  }
  if (sub == "deluser") {
    if (argc < 3) return ReplyBadArgs(c, sub);
    std::vector<std::string_view> names(c.args.begin() + 2, c.args.end());
    for (std::string_view n : names) {
      if (n == "default") return c.out.Error("ERR The 'default' user cannot be removed");
    }
    std::vector<std::string_view> existing;
    for (std::string_view n : names) {
      if (c.server.acl->Find(n) != nullptr) existing.push_back(n);
    }
    const int removed = c.server.acl->DelUsers(names);
    for (std::string_view n : existing) DisconnectAfterChange(c, n, true);
    return c.out.Integer(removed);
  }
  if (sub == "list" || sub == "users") {
    if (argc != 2) return ReplyBadArgs(c, sub);
    const auto users = c.server.acl->All();
    c.out.ArrayHeader(users.size());
    for (const auto& u : users) c.out.Bulk(sub == "list" ? u->Describe() : u->name);
    return;
  }
  if (sub == "whoami") {
    if (argc != 2) return ReplyBadArgs(c, sub);
    absl::MutexLock l(&c.client.mu);
    return c.out.Bulk(c.client.user);
  }
  if (sub == "cat" && argc <= 3) return Cat(c);
  if (sub == "log" && argc <= 3) return Log(c);
  if (sub == "save" || sub == "load") {
    if (argc != 2) return ReplyBadArgs(c, sub);
    const std::string path = c.server.config->Get().aclfile;
    if (path.empty()) return c.out.Error(kNoAclFile);
    if (sub == "save") {
      if (std::string e = c.server.acl->SaveFile(path); !e.empty()) return c.out.Error("ERR " + e);
      return c.out.SimpleString("OK");
    }
    std::vector<std::string> before;
    for (const auto& u : c.server.acl->All()) {
      if (u->name != "default") before.push_back(u->name);
    }
    if (std::string e = c.server.acl->LoadFile(path); !e.empty()) return c.out.Error("ERR " + e);
    // As Redis: clients of every user but default were logged in as a user now replaced.
    for (const std::string& n : before) DisconnectAfterChange(c, n, true);
    return c.out.SimpleString("OK");
  }
  if (sub == "dryrun") {
    if (argc < 4) return ReplyBadArgs(c, sub);
    return DryRun(c);
  }
  if (sub == "genpass" && argc <= 3) {
    int64_t bits = 256;
    if (argc == 3 && (!ParseInt64(c.args[2], &bits) || bits <= 0 || bits > 4096)) {
      return c.out.Error(
          "ERR ACL GENPASS argument must be the number of bits for the output password, a "
          "positive number up to 4096");
    }
    const size_t chars = static_cast<size_t>((bits + 3) / 4);
    std::vector<unsigned char> bytes((chars + 1) / 2);
    RAND_bytes(bytes.data(), static_cast<int>(bytes.size()));
    static const char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char b : bytes) {
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 15]);
    }
    out.resize(chars);
    return c.out.Bulk(out);
  }
  if (sub == "help" && argc == 2) return Help(c);
  if (sub == "cat" || sub == "log" || sub == "genpass" || sub == "help") {
    return c.out.Error(absl::StrCat("ERR unknown subcommand or wrong number of arguments for '",
                                    std::string(c.args[1]), "'. Try ACL HELP."));
  }
  c.out.Error(absl::StrCat("ERR unknown subcommand '", std::string(c.args[1]).substr(0, 128),
                           "'. Try ACL HELP."));
}

const CommandSpec kAclCommands[] = {
    {"acl", -2, kAdmin | kContainer | kNoScript, 0, 0, 0, Acl, "server",
     "A container for Access List Control commands"},
};

}  // namespace

void RegisterAclCommands(std::vector<const CommandSpec*>* table) {
  for (const CommandSpec& spec : kAclCommands) table->push_back(&spec);
}

}  // namespace cairn::server
