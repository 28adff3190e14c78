// Scripting (Redis 7 semantics): EVAL EVALSHA EVAL_RO EVALSHA_RO SCRIPT FUNCTION FCALL
// FCALL_RO. The engine is scripting.h; these are the commands' argument handling and
// replies. A script runs holding every key stripe, so it is atomic as in Redis: no other
// client's write or locked read interleaves with its commands.
#include "absl/strings/str_cat.h"
#include "server/command.h"
#include "server/scripting.h"

namespace cairn::server {
namespace {

void RunEval(CommandContext& c, bool by_sha, bool read_only) {
  KeyLocks::Guard all(&c.server.locks, /*script=*/true);
  c.server.scripts->Eval(c, by_sha, read_only);
}

void Eval(CommandContext& c) { RunEval(c, false, false); }
void EvalSha(CommandContext& c) { RunEval(c, true, false); }
void EvalRo(CommandContext& c) { RunEval(c, false, true); }
void EvalShaRo(CommandContext& c) { RunEval(c, true, true); }

void RunFcall(CommandContext& c, bool read_only) {
  KeyLocks::Guard all(&c.server.locks, /*script=*/true);
  c.server.scripts->Call(c, read_only);
}
void Fcall(CommandContext& c) { RunFcall(c, false); }
void CairnFcall(CommandContext& c) {
  KeyLocks::Guard all(&c.server.locks, /*script=*/true);
  c.server.scripts->CallForwarded(c);
}
void FcallRo(CommandContext& c) { RunFcall(c, true); }

void ReplyKill(CommandContext& c, ScriptEngine::KillResult r, bool function_kill) {
  switch (r) {
    case ScriptEngine::KillResult::kKilled:
      return c.out.SimpleString("OK");
    case ScriptEngine::KillResult::kUnkillable:
      return c.out.Error(
          "UNKILLABLE Sorry the script already executed write commands against the dataset. You can "
          "either wait the script termination or kill the server in a hard way using the SHUTDOWN "
          "NOSAVE command.");
    case ScriptEngine::KillResult::kWrongKind:  // Redis: the other kind's BUSY
      return c.out.Error(function_kill ? "BUSY Redis is busy running a script. You can only call "
                                         "SCRIPT KILL or SHUTDOWN NOSAVE."
                                       : "BUSY Redis is busy running a script. You can only call "
                                         "FUNCTION KILL or SHUTDOWN NOSAVE.");
    case ScriptEngine::KillResult::kNotBusy:
      return c.out.Error("NOTBUSY No scripts in execution right now.");
  }
}

// SYNC or ASYNC after FLUSH (both flush at once here).
bool FlushMode(CommandContext& c, const char* command) {
  if (c.args.size() == 2) return true;
  const std::string mode = c.args.size() == 3 ? Lower(c.args[2]) : "";
  if (mode == "sync" || mode == "async") return true;
  c.out.Error(absl::StrCat("ERR ", command, " only support SYNC|ASYNC option"));
  return false;
}

void Script(CommandContext& c) {
  const std::string sub = Lower(c.args[1]);
  ScriptEngine& engine = *c.server.scripts;
  if (sub == "load" && c.args.size() == 3) {
    auto sha = engine.Load(c.args[2]);
    if (!sha.ok()) return c.out.Error("ERR " + std::string(sha.status().message()));
    return c.out.Bulk(*sha);
  }
  if (sub == "exists" && c.args.size() >= 3) {
    c.out.ArrayHeader(c.args.size() - 2);
    for (size_t i = 2; i < c.args.size(); i++) {
      c.out.Integer(c.args[i].size() == 40 && engine.Body(c.args[i]).has_value() ? 1 : 0);
    }
    return;
  }
  if (sub == "flush" && c.args.size() <= 3) {
    if (!FlushMode(c, "SCRIPT FLUSH")) return;
    engine.Flush();
    return c.out.SimpleString("OK");
  }
  if (sub == "kill" && c.args.size() == 2) return ReplyKill(c, engine.Kill(false), false);
  if (sub == "help" && c.args.size() == 2) {
    return c.out.BulkArray({"SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                            "EXISTS <sha1> [<sha1> ...]", "FLUSH [ASYNC|SYNC]", "KILL", "LOAD <script>",
                            "HELP"});
  }
  ReplyBadSubcommand(c);
}

void Function(CommandContext& c) {
  const std::string sub = Lower(c.args[1]);
  ScriptEngine& engine = *c.server.scripts;
  if (sub == "load" && c.args.size() >= 3) {
    bool replace = false;
    size_t i = 2;
    if (c.args.size() == 4) {
      if (Lower(c.args[2]) != "replace") return c.out.Error(absl::StrCat("ERR Unknown option given: ", std::string(c.args[2])));
      replace = true;
      i = 3;
    } else if (c.args.size() > 4) {
      return c.out.Error(kErrSyntax);
    }
    auto name = engine.LoadLibrary(c.args[i], replace);
    if (!name.ok()) return c.out.Error("ERR " + std::string(name.status().message()));
    return c.out.Bulk(*name);
  }
  if (sub == "list") {
    std::string_view pattern;
    bool with_code = false;
    for (size_t i = 2; i < c.args.size(); i++) {
      const std::string opt = Lower(c.args[i]);
      if (opt == "withcode" && !with_code) {
        with_code = true;
      } else if (opt == "libraryname" && i + 1 < c.args.size() && pattern.empty()) {
        pattern = c.args[++i];
      } else {
        return c.out.Error(absl::StrCat("ERR Unknown argument ", std::string(c.args[i])));
      }
    }
    return engine.ListLibraries(c, pattern, with_code);
  }
  if (sub == "delete" && c.args.size() == 3) {
    absl::Status s = engine.DeleteLibrary(c.args[2]);
    if (!s.ok()) return c.out.Error("ERR " + std::string(s.message()));
    return c.out.SimpleString("OK");
  }
  if (sub == "flush" && c.args.size() <= 3) {
    if (!FlushMode(c, "FUNCTION FLUSH")) return;
    engine.FlushLibraries();
    return c.out.SimpleString("OK");
  }
  if (sub == "dump" && c.args.size() == 2) return c.out.Bulk(engine.Dump());
  if (sub == "restore" && (c.args.size() == 3 || c.args.size() == 4)) {
    std::string policy = c.args.size() == 4 ? Lower(c.args[3]) : "append";
    if (policy != "append" && policy != "replace" && policy != "flush") {
      return c.out.Error("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.");
    }
    absl::Status s = engine.Restore(c.args[2], policy);
    if (!s.ok()) return c.out.Error("ERR " + std::string(s.message()));
    return c.out.SimpleString("OK");
  }
  if (sub == "stats" && c.args.size() == 2) return engine.Stats(c);
  if (sub == "kill" && c.args.size() == 2) return ReplyKill(c, engine.Kill(true), true);
  if (sub == "help" && c.args.size() == 2) {
    return c.out.BulkArray({"FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                            "LOAD [REPLACE] <FUNCTION CODE>", "DELETE <LIBRARY NAME>",
                            "LIST [LIBRARYNAME PATTERN] [WITHCODE]", "FLUSH [ASYNC|SYNC]", "DUMP",
                            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]", "STATS", "KILL", "HELP"});
  }
  ReplyBadSubcommand(c);
}

constexpr uint32_t kScriptFlags = kScript | kNoLock | kNoScript;

const CommandSpec kCommands[] = {
    {"eval", -3, kScriptFlags, 0, 0, 0, Eval, "scripting", "Executes a server-side Lua script.", 2},
    {"evalsha", -3, kScriptFlags, 0, 0, 0, EvalSha, "scripting",
     "Executes a server-side Lua script by SHA1 digest.", 2},
    {"eval_ro", -3, kScriptFlags | kReadOnly, 0, 0, 0, EvalRo, "scripting",
     "Executes a read-only server-side Lua script.", 2},
    {"evalsha_ro", -3, kScriptFlags | kReadOnly, 0, 0, 0, EvalShaRo, "scripting",
     "Executes a read-only server-side Lua script by SHA1 digest.", 2},
    {"fcall", -3, kScriptFlags, 0, 0, 0, Fcall, "scripting", "Invokes a function.", 2},
    {"fcall_ro", -3, kScriptFlags | kReadOnly, 0, 0, 0, FcallRo, "scripting",
     "Invokes a read-only function.", 2},
    {"cairn.fcall", -5, kScriptFlags, 0, 0, 0, CairnFcall, "scripting",
     "FCALL forwarded by another node with its library: code RO|RW function numkeys key... arg...", 4},
    {"script", -2, kContainer | kNoLock | kNoScript, 0, 0, 0, Script, "scripting",
     "Manages the server-side Lua script cache (LOAD, EXISTS, FLUSH, KILL)."},
    {"function", -2, kContainer | kNoLock | kNoScript, 0, 0, 0, Function, "scripting",
     "Manages function libraries (LOAD, LIST, DELETE, FLUSH, DUMP, RESTORE, STATS, KILL)."},
};

}  // namespace

void RegisterScriptingCommands(std::vector<const CommandSpec*>* table) {
  for (const CommandSpec& spec : kCommands) table->push_back(&spec);
}

}  // namespace cairn::server
