// The Lua engine behind EVAL and FCALL (scripting.h).
//
// Each LuaState is a sandbox built once: the base, table, string and math libraries
// without their file and environment functions, cjson and bit from Debian, cmsgpack and
// struct (lua_libs.h), the redis table, and a global table scripts can read but not change
// (its library tables too): a script's global write or unknown global read is Redis's
// error. Compiled scripts and loaded libraries stay in the state, keyed by SHA1 and
// function name, until SCRIPT FLUSH or a library change (a generation number).
//
// redis.call runs the command through ExecuteCommand with a client of the script's own
// (its database, its RESP version, non-blocking as in MULTI), into a buffer whose RESP is
// then turned into Lua values; the script's result goes the other way into the caller's
// reply. Lua raises errors with longjmp: the C functions Lua calls keep C++ objects in
// scopes that end before any call that may raise.
#include "server/scripting.h"

#include <openssl/sha.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/checksum.h"
#include "base/glob.h"
#include "base/status.h"
#include "cairn/env.h"
#include "server/command.h"
#include "server/lua_libs.h"
#include "spdlog/spdlog.h"

extern "C" {
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <lua5.1/lua-bitop.h>
#include <lua5.1/lua-cjson.h>
}

namespace cairn::server {

struct LuaState {
  lua_State* L = nullptr;
  uint64_t generation = 0;      // the engine's, when the caches below were filled
  int real_globals = LUA_NOREF;  // the globals table itself (scripts see a read-only proxy)
  int scripts = LUA_NOREF;       // SHA1 -> compiled EVAL script
  int functions = LUA_NOREF;     // function name -> callback, of every loaded library
  int forwarded = LUA_NOREF;     // library SHA1 -> {function name -> callback} (CAIRN.FCALL)
  ~LuaState() {
    if (L != nullptr) lua_close(L);
  }
};

struct ScriptEngine::Library {
  std::string name;
  std::string code;
  std::vector<Function> functions;
};

namespace {

constexpr char kVersion[] = "7.0.15";
constexpr int kVersionNum = 0x07000f;
constexpr char kReadonlyMarker[] = "__cairn_readonly";
constexpr char kRealField[] = "__cairn_real";  // a read-only proxy's table

// --- the run a Lua C function belongs to --------------------------------------------------

struct ScriptRun {
  CommandContext* c = nullptr;
  ClientState client;
  bool read_only = false;
  bool allow_oom = false;
  int resp = 2;  // redis.setresp
  ScriptEngine::Running* running = nullptr;
};
thread_local ScriptRun* current_run = nullptr;
thread_local std::function<void()> busy_poller;  // destroyed with its thread
thread_local bool polling = false;

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// FUNCTION LOAD's collector of redis.register_function.
struct Registration {
  std::vector<std::tuple<std::string, std::string, std::vector<std::string>>> functions;  // name, description, flags
  int table_ref = LUA_NOREF;  // name -> callback, in the loading state
  std::string error;
  // Loading a library may take this long (Redis's FUNCTION LOAD timeout).
  int64_t deadline_ms = WallMs() + 500;
};
thread_local Registration* current_registration = nullptr;
// The text of the last error redis.call raised on this thread (see RedisCallOrPcall).
thread_local std::string last_call_error;

// Raises a Lua error that is a table {err = message}, as redis.call's errors are.
int RaiseErrorTable(lua_State* L, const char* message) {
  lua_newtable(L);
  lua_pushstring(L, message);
  lua_setfield(L, -2, "err");
  return lua_error(L);
}

void PushErrorTable(lua_State* L, const char* message, size_t len) {
  lua_newtable(L);
  lua_pushlstring(L, message, len);
  lua_setfield(L, -2, "err");
}

// --- RESP -> Lua --------------------------------------------------------------------------

bool ReadLine(std::string_view data, size_t* pos, std::string_view* line) {
  const size_t end = data.find("\r\n", *pos);
  if (end == std::string_view::npos) return false;
  *line = data.substr(*pos, end - *pos);
  *pos = end + 2;
  return true;
}

// Pushes the reply at *pos as Redis converts it for a script (RESP2 rules, and RESP3's
// when the script asked for it with redis.setresp(3)).
bool PushReply(lua_State* L, std::string_view data, size_t* pos) {
  if (!lua_checkstack(L, 4) || *pos >= data.size()) return false;
  const char type = data[(*pos)++];
  std::string_view line;
  if (!ReadLine(data, pos, &line)) return false;
  int64_t n = 0;
  switch (type) {
    case '+':
      lua_newtable(L);
      lua_pushlstring(L, line.data(), line.size());
      lua_setfield(L, -2, "ok");
      return true;
    case '-':
      PushErrorTable(L, line.data(), line.size());
      return true;
    case ':':
      if (!absl::SimpleAtoi(ToAbsl(line), &n)) return false;
      lua_pushnumber(L, static_cast<lua_Number>(n));
      return true;
    case '$':
    case '=':
      if (!absl::SimpleAtoi(ToAbsl(line), &n)) return false;
      if (n < 0) {
        lua_pushboolean(L, 0);
        return true;
      }
      if (*pos + static_cast<size_t>(n) + 2 > data.size()) return false;
      if (type == '=') {  // RESP3 verbatim: {verbatim_string = {format = "txt", string = ...}}
        lua_newtable(L);
        lua_newtable(L);
        lua_pushlstring(L, data.data() + *pos, std::min<size_t>(3, static_cast<size_t>(n)));
        lua_setfield(L, -2, "format");
        const size_t skip = std::min<size_t>(4, static_cast<size_t>(n));
        lua_pushlstring(L, data.data() + *pos + skip, static_cast<size_t>(n) - skip);
        lua_setfield(L, -2, "string");
        lua_setfield(L, -2, "verbatim_string");
      } else {
        lua_pushlstring(L, data.data() + *pos, static_cast<size_t>(n));
      }
      *pos += static_cast<size_t>(n) + 2;
      return true;
    case '*':
    case '~':
    case '>': {
      if (!absl::SimpleAtoi(ToAbsl(line), &n)) return false;
      if (n < 0) {
        lua_pushboolean(L, 0);
        return true;
      }
      if (type == '~') lua_newtable(L);
      lua_newtable(L);
      for (int64_t i = 1; i <= n; i++) {
        if (!PushReply(L, data, pos)) return false;
        if (type == '~') {
          lua_pushboolean(L, 1);
          lua_rawset(L, -3);
        } else {
          lua_rawseti(L, -2, static_cast<int>(i));
        }
      }
      if (type == '~') lua_setfield(L, -2, "set");
      return true;
    }
    case '%': {
      if (!absl::SimpleAtoi(ToAbsl(line), &n) || n < 0) return false;
      lua_newtable(L);
      lua_newtable(L);
      for (int64_t i = 0; i < n; i++) {
        if (!PushReply(L, data, pos) || !PushReply(L, data, pos)) return false;
        lua_rawset(L, -3);
      }
      lua_setfield(L, -2, "map");
      return true;
    }
    case '_':
      lua_pushnil(L);
      return true;
    case '#':
      lua_pushboolean(L, line == "t");
      return true;
    case ',': {
      double d = 0;
      if (line == "inf") {
        d = HUGE_VAL;
      } else if (line == "-inf") {
        d = -HUGE_VAL;
      } else if (line == "nan") {
        d = NAN;
      } else if (!absl::SimpleAtod(ToAbsl(line), &d)) {
        return false;
      }
      lua_newtable(L);
      lua_pushnumber(L, d);
      lua_setfield(L, -2, "double");
      return true;
    }
    case '(':
      lua_newtable(L);
      lua_pushlstring(L, line.data(), line.size());
      lua_setfield(L, -2, "big_number");
      return true;
    default:
      return false;
  }
}

// --- Lua -> RESP --------------------------------------------------------------------------

// Pushes t[name] without metamethods: a script's result is read outside any protected
// call, where a metamethod's error would abort the process.
void RawField(lua_State* L, int idx, const char* name) {
  lua_pushstring(L, name);
  lua_rawget(L, idx);
}

// The table field name of the value at idx, if it is a string.
bool StringField(lua_State* L, int idx, const char* name, std::string* out) {
  if (idx < 0) idx = lua_gettop(L) + idx + 1;
  RawField(L, idx, name);
  const bool is = lua_type(L, -1) == LUA_TSTRING;
  if (is) {
    size_t n = 0;
    const char* s = lua_tolstring(L, -1, &n);
    out->assign(s, n);
  }
  lua_pop(L, 1);
  return is;
}

void WriteValue(lua_State* L, int idx, protocol::ReplyWriter& out, int resp, int depth) {
  if (idx < 0) idx = lua_gettop(L) + idx + 1;
  if (depth > 1000 || !lua_checkstack(L, 4)) {
    out.Error("ERR reached lua stack limit");
    return;
  }
  switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
      size_t n = 0;
      const char* s = lua_tolstring(L, idx, &n);
      return out.Bulk(std::string_view(s, n));
    }
    case LUA_TBOOLEAN:
      if (resp == 3) return out.Bool(lua_toboolean(L, idx));
      if (lua_toboolean(L, idx)) return out.Integer(1);
      return out.Null();
    case LUA_TNUMBER:
      return out.Integer(static_cast<int64_t>(lua_tonumber(L, idx)));
    case LUA_TTABLE: {
      std::string s;
      if (StringField(L, idx, "err", &s)) return out.Error(s);
      if (StringField(L, idx, "ok", &s)) return out.SimpleString(s);
      RawField(L, idx, "double");
      if (lua_type(L, -1) == LUA_TNUMBER) {
        const double d = lua_tonumber(L, -1);
        lua_pop(L, 1);
        return out.Double(d);
      }
      lua_pop(L, 1);
      if (StringField(L, idx, "big_number", &s)) {
        if (out.protocol() == 3) {
          out.buffer()->append("(" + s + "\r\n");
          return;
        }
        return out.Bulk(s);
      }
      RawField(L, idx, "map");
      if (lua_type(L, -1) == LUA_TTABLE) {
        size_t pairs = 0;
        lua_pushnil(L);
        while (lua_next(L, -2) != 0) {
          lua_pop(L, 1);
          pairs++;
        }
        out.MapHeader(pairs);
        lua_pushnil(L);
        while (lua_next(L, -2) != 0) {
          WriteValue(L, -2, out, resp, depth + 1);
          WriteValue(L, -1, out, resp, depth + 1);
          lua_pop(L, 1);
        }
        lua_pop(L, 1);
        return;
      }
      lua_pop(L, 1);
      RawField(L, idx, "set");
      if (lua_type(L, -1) == LUA_TTABLE) {
        size_t n = 0;
        lua_pushnil(L);
        while (lua_next(L, -2) != 0) {
          lua_pop(L, 1);
          n++;
        }
        out.SetHeader(n);
        lua_pushnil(L);
        while (lua_next(L, -2) != 0) {
          lua_pop(L, 1);
          WriteValue(L, -1, out, resp, depth + 1);
        }
        lua_pop(L, 1);
        return;
      }
      lua_pop(L, 1);
      // An array: up to its first nil.
      size_t n = 0;
      for (;;) {
        lua_rawgeti(L, idx, static_cast<int>(n + 1));
        const bool nil = lua_isnil(L, -1);
        lua_pop(L, 1);
        if (nil) break;
        n++;
      }
      out.ArrayHeader(n);
      for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, static_cast<int>(i));
        WriteValue(L, -1, out, resp, depth + 1);
        lua_pop(L, 1);
      }
      return;
    }
    default:
      return out.Null();
  }
}

// --- redis.* ------------------------------------------------------------------------------

// Runs redis.call's command; an empty *error means the reply is in *reply.
void RunCommandFromScript(lua_State* L, int argc, std::string* reply, std::string* error) {
  ScriptRun* run = current_run;
  if (run == nullptr) {
    *error = "ERR redis.call is not available while loading a library";
    return;
  }
  if (argc == 0) {
    *error = "ERR Please specify at least one argument for this redis lib call";
    return;
  }
  std::vector<std::string> owned(static_cast<size_t>(argc));
  for (int i = 1; i <= argc; i++) {
    const int t = lua_type(L, i);
    if (t == LUA_TNUMBER) {
      char buf[64];  // as Redis 7.0 formats a number argument
      const int n = std::snprintf(buf, sizeof(buf), "%.17g", static_cast<double>(lua_tonumber(L, i)));
      owned[static_cast<size_t>(i - 1)].assign(buf, static_cast<size_t>(n));
    } else if (t == LUA_TSTRING) {
      size_t n = 0;
      const char* s = lua_tolstring(L, i, &n);
      owned[static_cast<size_t>(i - 1)].assign(s, n);
    } else {
      *error = "ERR Lua redis lib command arguments must be strings or integers";
      return;
    }
  }
  std::vector<std::string_view> args(owned.begin(), owned.end());
  const CommandSpec* spec = CommandTable::Get().Find(args[0]);
  if (spec == nullptr) {
    *error = "ERR Unknown Redis command called from script";
    return;
  }
  const int n = static_cast<int>(args.size());
  if ((spec->arity > 0 && n != spec->arity) || (spec->arity < 0 && n < -spec->arity)) {
    *error = "ERR Wrong number of args calling Redis command from script";
    return;
  }
  if (spec->flags & (kNoScript | kBlocking)) {  // Redis 7 refuses BLPOP and the like too
    *error = "ERR This Redis command is not allowed from script";
    return;
  }
  if (spec->flags & kWrite) {
    if (run->read_only) {
      *error = "ERR Write commands are not allowed from read-only scripts.";
      return;
    }
    if (!run->allow_oom && (spec->flags & kDenyOom) && run->c->server.used_memory) {
      const uint64_t limit = run->c->server.config->maxmemory();
      if (limit > 0 && run->c->server.used_memory() > limit) {
        *error = "OOM command not allowed when used memory > 'maxmemory'.";
        return;
      }
    }
  }
  if (run->c->server.script_command_check) {
    *error = run->c->server.script_command_check(*spec, args);
    if (!error->empty()) return;
  }
  if (spec->flags & kWrite) run->running->wrote.store(true, std::memory_order_relaxed);
  protocol::ReplyWriter out(reply, run->resp);
  ExecuteCommand(run->c->server, run->client, args, out);
}

int RedisCallOrPcall(lua_State* L, bool raise) {
  const int argc = lua_gettop(L);
  bool failed = false;
  {
    std::string reply, error;
    RunCommandFromScript(L, argc, &reply, &error);
    if (!error.empty()) {
      PushErrorTable(L, error.data(), error.size());
    } else {
      size_t pos = 0;
      if (!PushReply(L, reply, &pos)) {
        lua_settop(L, argc);
        const std::string bad = "ERR a reply the script cannot read";
        PushErrorTable(L, bad.data(), bad.size());
      }
    }
    if (lua_type(L, -1) == LUA_TTABLE) {
      lua_getfield(L, -1, "err");
      failed = lua_type(L, -1) == LUA_TSTRING;
      lua_pop(L, 1);
    }
  }
  if (failed && raise) {
    // Raised as its text, as Redis 7.0 does (pcall(redis.call, ...) gets a string);
    // remembered, so the error handler gives it without Lua's "ERR " and position.
    lua_getfield(L, -1, "err");
    size_t n = 0;
    const char* s = lua_tolstring(L, -1, &n);
    last_call_error.assign(s, n);
    return lua_error(L);
  }
  return 1;
}

int RedisCall(lua_State* L) { return RedisCallOrPcall(L, true); }
int RedisPcall(lua_State* L) { return RedisCallOrPcall(L, false); }

int RedisSha1hex(lua_State* L) {
  if (lua_gettop(L) != 1) return luaL_error(L, "wrong number of arguments");
  size_t n = 0;
  const char* s = lua_tolstring(L, 1, &n);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(s == nullptr ? "" : s), s == nullptr ? 0 : n, digest);
  char hex[2 * SHA_DIGEST_LENGTH];
  for (int i = 0; i < SHA_DIGEST_LENGTH; i++) {
    hex[2 * i] = "0123456789abcdef"[digest[i] >> 4];
    hex[2 * i + 1] = "0123456789abcdef"[digest[i] & 15];
  }
  lua_pushlstring(L, hex, sizeof(hex));
  return 1;
}

// redis.error_reply(msg): {err = msg}, with "ERR " before a message without an error code.
int RedisErrorReply(lua_State* L) {
  if (lua_gettop(L) != 1 || lua_type(L, 1) != LUA_TSTRING) {
    return luaL_error(L, "wrong number or type of arguments");
  }
  size_t n = 0;
  const char* s = lua_tolstring(L, 1, &n);
  if (n > 0 && s[0] == '-') {
    s++;
    n--;
  }
  lua_newtable(L);
  if (std::memchr(s, ' ', n) == nullptr) {
    lua_pushstring(L, "ERR ");
    lua_pushlstring(L, s, n);
    lua_concat(L, 2);
  } else {
    lua_pushlstring(L, s, n);
  }
  lua_setfield(L, -2, "err");
  return 1;
}

int RedisStatusReply(lua_State* L) {
  if (lua_gettop(L) != 1 || lua_type(L, 1) != LUA_TSTRING) {
    return luaL_error(L, "wrong number or type of arguments");
  }
  lua_newtable(L);
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "ok");
  return 1;
}

int RedisLog(lua_State* L) {
  const int argc = lua_gettop(L);
  if (argc < 2) return luaL_error(L, "redis.log() requires two arguments or more.");
  if (!lua_isnumber(L, 1)) return luaL_error(L, "First argument must be a number (log level).");
  const int level = static_cast<int>(lua_tonumber(L, 1));
  if (level < 0 || level > 3) return luaL_error(L, "Invalid debug level.");
  {
    std::string text;
    for (int i = 2; i <= argc; i++) {
      size_t n = 0;
      const char* s = lua_tolstring(L, i, &n);
      if (s == nullptr) continue;
      if (i > 2) text += ' ';
      text.append(s, n);
    }
    static const spdlog::level::level_enum kLevels[] = {spdlog::level::debug, spdlog::level::debug,
                                                        spdlog::level::info, spdlog::level::warn};
    spdlog::log(kLevels[level], "script: {}", text);
  }
  return 0;
}

int RedisSetresp(lua_State* L) {
  if (lua_gettop(L) != 1) return luaL_error(L, "redis.setresp() requires one argument.");
  const int v = static_cast<int>(lua_tonumber(L, 1));
  if (v != 2 && v != 3) return luaL_error(L, "RESP version must be 2 or 3.");
  if (current_run != nullptr) {
    current_run->resp = v;
    current_run->client.protocol.store(v);
  }
  return 0;
}

// Effects are what cairn replicates; these calls are accepted for the scripts of Redis 5
// and 6 that make them.
int RedisSetRepl(lua_State* L) {
  if (lua_gettop(L) != 1) return luaL_error(L, "redis.set_repl() requires one argument.");
  const int v = static_cast<int>(lua_tonumber(L, 1));
  if (v < 0 || v > 3) return luaL_error(L, "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.");
  return 0;
}
int RedisTrue(lua_State* L) {
  lua_pushboolean(L, 1);
  return 1;
}
int RedisFalse(lua_State* L) {
  lua_pushboolean(L, 0);
  return 1;
}
int RedisNothing(lua_State*) { return 0; }

int RedisAclCheckCmd(lua_State* L) {
  if (lua_gettop(L) < 1 || lua_type(L, 1) != LUA_TSTRING) {
    return luaL_error(L, "Please specify at least one argument for this redis lib call");
  }
  if (CommandTable::Get().Find(lua_tostring(L, 1)) == nullptr) {
    return luaL_error(L, "Invalid command passed to redis.acl_check_cmd()");
  }
  const int argc = lua_gettop(L);
  std::vector<std::string> owned;
  for (int i = 1; i <= argc; i++) {
    size_t n = 0;
    const char* s = lua_tolstring(L, i, &n);
    owned.emplace_back(s == nullptr ? "" : std::string(s, n));
  }
  const std::vector<std::string_view> args(owned.begin(), owned.end());
  ScriptRun* run = current_run;
  const acl::User* user =
      run == nullptr ? nullptr : ClientAclUser(run->c->server, run->client);
  int idx = 0;
  lua_pushboolean(L, user == nullptr || user->unrestricted ||
                         user->Check(acl::CommandId(args), args, &idx) == acl::Verdict::kOk);
  return 1;
}

// Raises message without a position (Redis's errors of redis.register_function).
int RaisePlain(lua_State* L, const char* message) {
  lua_pushstring(L, message);
  return lua_error(L);
}

// redis.register_function(name, callback) or redis.register_function{function_name=,
// callback=, flags=, description=}: only while FUNCTION LOAD runs the library.
int RedisRegisterFunction(lua_State* L) {
  Registration* reg = current_registration;
  if (reg == nullptr) return RaisePlain(L, "redis.register_function can only be called on FUNCTION LOAD command");
  const int argc = lua_gettop(L);
  if (argc == 1) {
    if (!lua_istable(L, 1)) {
      return RaisePlain(L, "calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).");
    }
    lua_getfield(L, 1, "function_name");
    lua_getfield(L, 1, "callback");
    lua_getfield(L, 1, "flags");
    lua_getfield(L, 1, "description");
    lua_pushnil(L);
    while (lua_next(L, 1) != 0) {
      lua_pop(L, 1);
      const char* k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
      if (std::strcmp(k, "function_name") != 0 && std::strcmp(k, "callback") != 0 &&
          std::strcmp(k, "flags") != 0 && std::strcmp(k, "description") != 0) {
        return RaisePlain(L, "unknown argument given to redis.register_function");
      }
    }
  } else if (argc == 2) {
    lua_pushnil(L);
    lua_pushnil(L);  // name, callback, flags, description at 1..4
  } else {
    return RaisePlain(L, "wrong number of arguments to redis.register_function");
  }
  const int base = argc == 1 ? 2 : 1;
  if (lua_type(L, base) != LUA_TSTRING) return RaisePlain(L, "function_name argument given to redis.register_function must be a string");
  if (!lua_isfunction(L, base + 1)) return RaisePlain(L, "callback argument given to redis.register_function must be a function");
  const int flags_at = base + 2, description_at = base + 3;
  if (!lua_isnil(L, flags_at) && !lua_istable(L, flags_at)) return RaisePlain(L, "flags argument to redis.register_function must be a table representing function flags");
  if (!lua_isnil(L, description_at) && lua_type(L, description_at) != LUA_TSTRING) return RaisePlain(L, "description argument given to redis.register_function must be a string");
  const char* name = lua_tostring(L, base);
  for (const char* p = name; *p != '\0'; p++) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(*p)) && *p != '_') {
      return RaisePlain(L, "Function names can only contain letters, numbers, or underscores(_) and must be at least one character long");
    }
  }
  if (*name == '\0') return RaisePlain(L, "Function names can only contain letters, numbers, or underscores(_) and must be at least one character long");
  bool duplicate = false, bad_flag = false;
  {
    std::vector<std::string> flags;
    if (lua_istable(L, flags_at)) {
      for (int i = 1;; i++) {
        lua_rawgeti(L, flags_at, i);
        if (lua_isnil(L, -1)) {
          lua_pop(L, 1);
          break;
        }
        const std::string flag = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
        lua_pop(L, 1);
        if (flag != "no-writes" && flag != "allow-oom" && flag != "allow-stale" &&
            flag != "no-cluster" && flag != "allow-cross-slot-keys") {
          bad_flag = true;
        }
        flags.push_back(flag);
      }
    }
    for (const auto& f : reg->functions) {
      if (Lower(std::get<0>(f)) == Lower(name)) duplicate = true;
    }
    if (!duplicate && !bad_flag) {
      reg->functions.emplace_back(name, lua_isnil(L, description_at) ? "" : lua_tostring(L, description_at),
                                  std::move(flags));
    }
  }
  if (bad_flag) return RaisePlain(L, "unknown flag given");
  if (duplicate) return RaisePlain(L, "Function already exists in the library");
  lua_rawgeti(L, LUA_REGISTRYINDEX, reg->table_ref);
  lua_pushvalue(L, base);
  lua_pushvalue(L, base + 1);
  lua_rawset(L, -3);
  return 0;
}

// --- the sandbox --------------------------------------------------------------------------

int ReadonlyNewindex(lua_State* L) { return luaL_error(L, "Attempt to modify a readonly table"); }

// __index of the globals proxy: the real globals, and Redis's error for a name that is not
// there.
int GlobalsIndex(lua_State* L) {
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));
  if (!lua_isnil(L, -1)) return 1;
  const char* name = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "?";
  return luaL_error(L, "Script attempted to access nonexistent global variable '%s'", name);
}

// rawset refuses read-only tables.
int SafeRawset(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  if (lua_getmetatable(L, 1)) {
    lua_getfield(L, -1, kReadonlyMarker);
    const bool ro = lua_toboolean(L, -1);
    lua_pop(L, 2);
    if (ro) {
      lua_pushstring(L, "Attempt to modify a readonly table");
      return lua_error(L);
    }
  }
  luaL_checkany(L, 2);
  luaL_checkany(L, 3);
  lua_settop(L, 3);
  lua_rawset(L, 1);
  return 1;
}

// Replaces the table at the top by a read-only proxy of it. index: __index (a table, or a
// C function with the table as upvalue).
void MakeReadonly(lua_State* L, lua_CFunction index) {
  const int real = lua_gettop(L);
  lua_newtable(L);  // proxy
  lua_newtable(L);  // its metatable
  if (index != nullptr) {
    lua_pushvalue(L, real);
    lua_pushcclosure(L, index, 1);
  } else {
    lua_pushvalue(L, real);
  }
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, ReadonlyNewindex);
  lua_setfield(L, -2, "__newindex");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_pushboolean(L, 1);
  lua_setfield(L, -2, kReadonlyMarker);
  lua_pushvalue(L, real);
  lua_setfield(L, -2, kRealField);
  lua_setmetatable(L, -2);
  lua_replace(L, real);
}

// Replaces the argument at idx, if it is a read-only proxy, by the table behind it: next,
// pairs, ipairs and rawget see a library's contents as Redis's read-only tables show them.
void SeeThrough(lua_State* L, int idx) {
  if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx)) return;
  lua_pushstring(L, kRealField);
  lua_rawget(L, -2);
  if (lua_istable(L, -1)) {
    lua_replace(L, idx);
    lua_pop(L, 1);
  } else {
    lua_pop(L, 2);
  }
}

int SandboxNext(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  SeeThrough(L, 1);
  lua_settop(L, 2);
  if (lua_next(L, 1)) return 2;
  lua_pushnil(L);
  return 1;
}

int SandboxPairs(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_pushcfunction(L, SandboxNext);
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  return 3;
}

int IpairsStep(lua_State* L) {
  const int i = static_cast<int>(luaL_checkinteger(L, 2)) + 1;
  lua_pushinteger(L, i);
  lua_rawgeti(L, 1, i);
  return lua_isnil(L, -1) ? 0 : 2;
}

int SandboxIpairs(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  SeeThrough(L, 1);
  lua_pushcfunction(L, IpairsStep);
  lua_pushvalue(L, 1);
  lua_pushinteger(L, 0);
  return 3;
}

int SandboxRawget(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checkany(L, 2);
  SeeThrough(L, 1);
  lua_settop(L, 2);
  lua_rawget(L, 1);
  return 1;
}

void SetFunction(lua_State* L, const char* name, lua_CFunction fn) {
  lua_pushcfunction(L, fn);
  lua_setfield(L, -2, name);
}

void SetNumber(lua_State* L, const char* name, double v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, name);
}

void OpenLib(lua_State* L, lua_CFunction open, const char* name) {
  lua_pushcfunction(L, open);
  lua_pushstring(L, name);
  lua_call(L, 1, 0);
}

void RequireInto(lua_State* L, lua_CFunction open, const char* name) {
  lua_pushcfunction(L, open);
  lua_call(L, 0, 1);
  lua_setglobal(L, name);
}

// Counts instructions: stops a killed script (and keeps stopping it: a pcall in the
// script cannot swallow the kill).
void Hook(lua_State* L, lua_Debug*) {
  ScriptRun* run = current_run;
  if (run == nullptr && current_registration != nullptr && WallMs() > current_registration->deadline_ms) {
    lua_pushstring(L, "FUNCTION LOAD timeout");
    lua_error(L);
  }
  if (run == nullptr || run->running == nullptr) return;
  if (busy_poller && !polling && !run->running->kill.load()) {
    const int64_t threshold = run->c->server.config->busy_reply_threshold();
    if (threshold > 0 && WallMs() - run->running->start_ms > threshold) {
      polling = true;
      busy_poller();
      polling = false;
    }
  }
  if (!run->running->kill.load()) return;
  lua_sethook(L, Hook, LUA_MASKLINE, 0);
  RaiseErrorTable(L, "ERR Script killed by user with SCRIPT KILL...");
}

// The error handler of every run: {err = "ERR ...", source = , line = } of where it was
// raised, as Redis's.
int ErrorHandler(lua_State* L) {
  lua_Debug ar;
  bool have = false;
  if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "nSl", &ar)) {
    have = true;
    if (std::strcmp(ar.what, "C") == 0) have = lua_getstack(L, 2, &ar) && lua_getinfo(L, "nSl", &ar);
  }
  if (lua_type(L, 1) == LUA_TSTRING && last_call_error == lua_tostring(L, 1)) {
    lua_newtable(L);  // redis.call's error, uncaught: {err = its text}
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "err");
    lua_replace(L, 1);
    lua_settop(L, 1);
  } else if (lua_type(L, 1) != LUA_TTABLE) {
    const char* msg = lua_tostring(L, 1);
    lua_newtable(L);
    lua_pushstring(L, "ERR ");
    lua_pushstring(L, msg == nullptr ? "(error object is not a string)" : msg);
    lua_concat(L, 2);
    lua_setfield(L, -2, "err");
    lua_replace(L, 1);
    lua_settop(L, 1);
  }
  if (have) {
    lua_pushstring(L, ar.source);
    lua_setfield(L, 1, "source");
    lua_pushnumber(L, ar.currentline);
    lua_setfield(L, 1, "line");
  }
  return 1;
}

LuaState* NewState() {
  auto* s = new LuaState;
  lua_State* L = luaL_newstate();
  s->L = L;
  OpenLib(L, luaopen_base, "");
  OpenLib(L, luaopen_table, LUA_TABLIBNAME);
  OpenLib(L, luaopen_string, LUA_STRLIBNAME);
  OpenLib(L, luaopen_math, LUA_MATHLIBNAME);
  RequireInto(L, luaopen_cjson, "cjson");
  RequireInto(L, luaopen_bit, "bit");
  RequireInto(L, OpenCmsgpack, "cmsgpack");
  RequireInto(L, OpenStruct, "struct");
  for (const char* name : {"print", "dofile", "loadfile", "getfenv", "setfenv", "newproxy", "module", "require"}) {
    lua_pushnil(L);
    lua_setglobal(L, name);
  }
  lua_pushcfunction(L, SafeRawset);
  lua_setglobal(L, "rawset");
  lua_pushcfunction(L, SandboxNext);
  lua_setglobal(L, "next");
  lua_pushcfunction(L, SandboxPairs);
  lua_setglobal(L, "pairs");
  lua_pushcfunction(L, SandboxIpairs);
  lua_setglobal(L, "ipairs");
  lua_pushcfunction(L, SandboxRawget);
  lua_setglobal(L, "rawget");
  lua_newtable(L);
  SetFunction(L, "call", RedisCall);
  SetFunction(L, "pcall", RedisPcall);
  SetFunction(L, "sha1hex", RedisSha1hex);
  SetFunction(L, "error_reply", RedisErrorReply);
  SetFunction(L, "status_reply", RedisStatusReply);
  SetFunction(L, "log", RedisLog);
  SetFunction(L, "setresp", RedisSetresp);
  SetFunction(L, "set_repl", RedisSetRepl);
  SetFunction(L, "replicate_commands", RedisTrue);
  SetFunction(L, "breakpoint", RedisFalse);
  SetFunction(L, "debug", RedisNothing);
  SetFunction(L, "acl_check_cmd", RedisAclCheckCmd);
  SetFunction(L, "register_function", RedisRegisterFunction);
  SetNumber(L, "LOG_DEBUG", 0);
  SetNumber(L, "LOG_VERBOSE", 1);
  SetNumber(L, "LOG_NOTICE", 2);
  SetNumber(L, "LOG_WARNING", 3);
  SetNumber(L, "REPL_NONE", 0);
  SetNumber(L, "REPL_AOF", 1);
  SetNumber(L, "REPL_SLAVE", 2);
  SetNumber(L, "REPL_REPLICA", 2);
  SetNumber(L, "REPL_ALL", 3);
  SetNumber(L, "REDIS_VERSION_NUM", kVersionNum);
  lua_pushstring(L, kVersion);
  lua_setfield(L, -2, "REDIS_VERSION");
  lua_setglobal(L, "redis");
  // Library tables, then the globals, become read-only.
  for (const char* name : {"string", "table", "math", "coroutine", "cjson", "bit", "cmsgpack", "struct", "redis"}) {
    lua_getglobal(L, name);
    MakeReadonly(L, nullptr);
    lua_setglobal(L, name);
  }
  // Strings' methods are the read-only string table, and their metatable is read-only:
  // getmetatable('').__index cannot reach the real one.
  lua_pushstring(L, "");
  lua_getmetatable(L, -1);
  lua_getglobal(L, "string");
  lua_setfield(L, -2, "__index");
  lua_pushvalue(L, -1);
  MakeReadonly(L, nullptr);
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 2);
  lua_pushvalue(L, LUA_GLOBALSINDEX);
  lua_pushvalue(L, -1);
  s->real_globals = luaL_ref(L, LUA_REGISTRYINDEX);
  MakeReadonly(L, GlobalsIndex);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_GLOBALSINDEX, "_G");  // _G names the proxy
  lua_replace(L, LUA_GLOBALSINDEX);          // chunks loaded from now on see the proxy
  lua_newtable(L);
  s->scripts = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_newtable(L);
  s->functions = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_newtable(L);
  s->forwarded = luaL_ref(L, LUA_REGISTRYINDEX);
  return s;
}

// The non-empty fields of text between separators.
std::vector<std::string_view> Split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(sep, start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// A script's text with its first line (a shebang) blanked, so line numbers still count it.
std::string WithoutShebang(std::string_view body) {
  if (!body.starts_with("#!")) return std::string(body);
  const size_t nl = body.find('\n');
  return nl == std::string_view::npos ? std::string() : std::string(body.substr(nl));
}

// Compiles body and leaves the function on the stack; false: the compiler's message.
bool Compile(lua_State* L, std::string_view body, const char* chunk_name, std::string* error) {
  const std::string text = WithoutShebang(body);
  if (luaL_loadbuffer(L, text.data(), text.size(), chunk_name) != 0) {
    const char* msg = lua_tostring(L, -1);
    *error = msg == nullptr ? "" : msg;
    lua_pop(L, 1);
    return false;
  }
  return true;
}

void SetArray(lua_State* L, int table_ref, const char* name, const std::vector<std::string_view>& args,
              size_t from, size_t to) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, table_ref);
  lua_createtable(L, static_cast<int>(to - from), 0);
  for (size_t i = from; i < to; i++) {
    lua_pushlstring(L, args[i].data(), args[i].size());
    lua_rawseti(L, -2, static_cast<int>(i - from + 1));
  }
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
}

// EVAL's shebang flags: "#!lua flags=no-writes,allow-oom". Returns the error, if any.
std::string ParseShebang(std::string_view body, bool* no_writes, bool* allow_oom) {
  if (!body.starts_with("#!")) return "";
  std::string_view line = body.substr(2, body.find('\n') == std::string_view::npos ? body.size() - 2 : body.find('\n') - 2);
  std::vector<std::string_view> parts = Split(line, ' ');
  if (parts.empty() || parts[0] != "lua") {
    return absl::StrCat("ERR Unexpected engine in script shebang: #!", parts.empty() ? "" : std::string(parts[0]));
  }
  for (size_t i = 1; i < parts.size(); i++) {
    if (!parts[i].starts_with("flags=")) return absl::StrCat("ERR Unknown lua shebang option: ", std::string(parts[i]));
    for (std::string_view f : Split(parts[i].substr(6), ',')) {
      if (f == "no-writes") {
        *no_writes = true;
      } else if (f == "allow-oom") {
        *allow_oom = true;
      } else if (f != "allow-stale" && f != "no-cluster" && f != "allow-cross-slot-keys") {
        return absl::StrCat("ERR Unexpected flag in script shebang: ", std::string(f));
      }
    }
  }
  return "";
}

}  // namespace

// --- the engine ---------------------------------------------------------------------------

std::shared_ptr<ScriptEngine> NewScriptEngine() { return std::make_shared<ScriptEngine>(); }

ScriptEngine::ScriptEngine() = default;

ScriptEngine::~ScriptEngine() {
  for (LuaState* s : idle_) delete s;
}

std::string ScriptEngine::Sha1Hex(std::string_view data) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  std::string hex(2 * SHA_DIGEST_LENGTH, '0');
  for (int i = 0; i < SHA_DIGEST_LENGTH; i++) {
    hex[2 * i] = "0123456789abcdef"[digest[i] >> 4];
    hex[2 * i + 1] = "0123456789abcdef"[digest[i] & 15];
  }
  return hex;
}

LuaState* ScriptEngine::Acquire() {
  LuaState* s = nullptr;
  uint64_t generation;
  {
    absl::MutexLock l(&mu_);
    generation = generation_;
    if (!idle_.empty()) {
      s = idle_.back();
      idle_.pop_back();
    }
  }
  if (s == nullptr) s = NewState();
  if (s->generation != generation) {
    // A flush or a library change since: the compiled scripts and functions go.
    lua_newtable(s->L);
    lua_rawseti(s->L, LUA_REGISTRYINDEX, s->scripts);
    lua_newtable(s->L);
    lua_rawseti(s->L, LUA_REGISTRYINDEX, s->functions);
    lua_gc(s->L, LUA_GCCOLLECT, 0);
    s->generation = generation;
    // Every library's functions, loaded again in this state.
    std::vector<std::string> codes = LibraryCodes();
    for (const std::string& code : codes) {
      Registration reg;
      reg.table_ref = s->functions;
      current_registration = &reg;
      std::string error;
      lua_pushcfunction(s->L, ErrorHandler);
      if (Compile(s->L, code, "@user_function", &error)) {
        lua_sethook(s->L, Hook, LUA_MASKCOUNT, 100000);
        if (lua_pcall(s->L, 0, 0, -2) != 0) lua_pop(s->L, 1);
        lua_sethook(s->L, nullptr, 0, 0);
      }
      lua_settop(s->L, 0);
      current_registration = nullptr;
    }
  }
  return s;
}

void ScriptEngine::Release(LuaState* state) {
  lua_settop(state->L, 0);
  absl::MutexLock l(&mu_);
  // A few states are kept (the threads that run scripts at once); others are closed.
  if (idle_.size() < 8 && state->generation == generation_) {
    idle_.push_back(state);
    return;
  }
  delete state;
}

absl::StatusOr<std::string> ScriptEngine::Load(std::string_view body) {
  bool no_writes = false, allow_oom = false;
  if (std::string e = ParseShebang(body, &no_writes, &allow_oom); !e.empty()) {
    return absl::InvalidArgumentError(e.substr(4));
  }
  LuaState* s = Acquire();
  std::string error;
  const bool ok = Compile(s->L, body, "@user_script", &error);
  lua_settop(s->L, 0);
  Release(s);
  if (!ok) return absl::InvalidArgumentError("Error compiling script (new function): " + error);
  std::string sha = Sha1Hex(body);
  absl::MutexLock l(&mu_);
  scripts_.emplace(sha, std::string(body));
  return sha;
}

std::optional<std::string> ScriptEngine::Body(std::string_view sha) const {
  std::string lower(sha);
  absl::AsciiStrToLower(&lower);
  absl::MutexLock l(&mu_);
  auto it = scripts_.find(lower);
  if (it == scripts_.end()) return std::nullopt;
  return it->second;
}

void ScriptEngine::Remember(std::string_view body) {
  std::string sha = Sha1Hex(body);
  absl::MutexLock l(&mu_);
  if (!scripts_.contains(sha)) scripts_.emplace(std::move(sha), std::string(body));
}

void ScriptEngine::Flush() {
  absl::MutexLock l(&mu_);
  scripts_.clear();
  generation_++;
}

int64_t ScriptEngine::scripts_cached() const {
  absl::MutexLock l(&mu_);
  return static_cast<int64_t>(scripts_.size());
}

void ScriptEngine::Eval(CommandContext& c, bool by_sha, bool read_only) {
  int64_t numkeys = 0;
  if (!ParseInt64(c.args[2], &numkeys)) return c.out.Error(kErrNotInteger);
  if (numkeys < 0) return c.out.Error("ERR Number of keys can't be negative");
  if (numkeys > static_cast<int64_t>(c.args.size()) - 3) {
    return c.out.Error("ERR Number of keys can't be greater than number of args");
  }
  std::string body, sha;
  if (by_sha) {
    std::optional<std::string> found = c.args[1].size() == 40 ? Body(c.args[1]) : std::nullopt;
    if (!found) return c.out.Error("NOSCRIPT No matching script. Please use EVAL.");
    body = std::move(*found);
    sha = std::string(c.args[1]);
    absl::AsciiStrToLower(&sha);
  } else {
    body = std::string(c.args[1]);
    sha = Sha1Hex(body);
  }
  bool no_writes = false, allow_oom = false;
  if (std::string e = ParseShebang(body, &no_writes, &allow_oom); !e.empty()) return c.out.Error(e);
  if (!body.starts_with("#!")) allow_oom = true;  // Redis's compatibility mode
  LuaState* s = Acquire();
  lua_State* L = s->L;
  // The compiled script, from this state's cache or compiled now (and cached by EVAL, as
  // Redis caches every script it runs).
  lua_rawgeti(L, LUA_REGISTRYINDEX, s->scripts);
  lua_getfield(L, -1, sha.c_str());
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    std::string error;
    if (!Compile(L, body, "@user_script", &error)) {
      lua_settop(L, 0);
      Release(s);
      return c.out.Error("ERR Error compiling script (new function): " + error);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, sha.c_str());
    if (!by_sha) {
      absl::MutexLock l(&mu_);
      scripts_.emplace(sha, body);
    }
  }
  lua_remove(L, -2);
  Function flags;
  flags.no_writes = no_writes || read_only;
  flags.allow_oom = allow_oom;
  Run(c, s, sha, &flags, 2, static_cast<size_t>(numkeys), read_only);
  Release(s);
}

// Runs the function at the top of the state's stack with KEYS/ARGV (EVAL) or (keys, args)
// arguments (FCALL: function->name set), and replies.
void ScriptEngine::Run(CommandContext& c, LuaState* s, const std::string& chunk_id,
                       const Function* function, size_t numkeys_at, size_t numkeys, bool read_only) {
  lua_State* L = s->L;
  const bool is_function = !function->name.empty();
  Running running;
  running.start_ms = c.now_ms;
  running.function = is_function;
  running.name = is_function ? function->name : "";
  running.command.assign(c.args.begin(), c.args.end());
  {
    absl::MutexLock l(&mu_);
    running_.push_back(&running);
  }
  running_count_.fetch_add(1);
  auto run = std::make_unique<ScriptRun>();
  run->c = &c;
  run->client.db.store(c.client.db.load());
  run->client.protocol.store(2);
  run->client.authenticated = true;
  // The script's commands are checked against its caller's ACL user.
  run->client.acl_user = c.client.acl_user;
  run->client.acl_version = c.client.acl_version;
  {
    absl::MutexLock l(&c.client.mu);
    const std::string user = c.client.user;
    absl::MutexLock l2(&run->client.mu);
    run->client.user = user;
  }
  run->client.in_exec = true;  // blocking commands do not block, as in MULTI
  run->client.script = true;
  run->client.id = c.client.id;
  run->read_only = function->no_writes || read_only;
  run->allow_oom = function->allow_oom;
  run->running = &running;
  ScriptRun* outer = current_run;
  current_run = run.get();

  const int fn = lua_gettop(L);
  lua_pushcfunction(L, ErrorHandler);
  lua_insert(L, fn);  // handler below the function
  const size_t first_key = numkeys_at + 1, first_arg = first_key + numkeys;
  if (is_function) {
    lua_createtable(L, static_cast<int>(numkeys), 0);
    for (size_t i = 0; i < numkeys; i++) {
      lua_pushlstring(L, c.args[first_key + i].data(), c.args[first_key + i].size());
      lua_rawseti(L, -2, static_cast<int>(i + 1));
    }
    lua_createtable(L, static_cast<int>(c.args.size() - first_arg), 0);
    for (size_t i = first_arg; i < c.args.size(); i++) {
      lua_pushlstring(L, c.args[i].data(), c.args[i].size());
      lua_rawseti(L, -2, static_cast<int>(i - first_arg + 1));
    }
  } else {
    SetArray(L, s->real_globals, "KEYS", c.args, first_key, first_arg);
    SetArray(L, s->real_globals, "ARGV", c.args, first_arg, c.args.size());
  }
  lua_sethook(L, Hook, LUA_MASKCOUNT, 100000);
  const int status = lua_pcall(L, is_function ? 2 : 0, 1, fn);
  lua_sethook(L, nullptr, 0, 0);
  current_run = outer;
  if (status == 0) {
    WriteValue(L, -1, c.out, run->resp, 0);
  } else if (lua_type(L, -1) == LUA_TTABLE) {
    std::string err, source;
    if (!StringField(L, -1, "err", &err)) err = "ERR unknown error";
    if (StringField(L, -1, "source", &source)) {
      RawField(L, lua_gettop(L), "line");
      const int line = static_cast<int>(lua_tonumber(L, -1));
      lua_pop(L, 1);
      absl::StrAppend(&err, " script: ", is_function ? function->name : chunk_id, ", on ", source, ":", line, ".");
    }
    c.out.Error(err);
  } else {
    const char* msg = lua_tostring(L, -1);
    c.out.Error(absl::StrCat("ERR ", msg == nullptr ? "script error" : msg));
  }
  lua_settop(L, 0);
  if (!is_function) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->real_globals);
    lua_pushnil(L);
    lua_setfield(L, -2, "KEYS");
    lua_pushnil(L);
    lua_setfield(L, -2, "ARGV");
    lua_pop(L, 1);
  }
  lua_gc(L, LUA_GCSTEP, 1);
  running_count_.fetch_sub(1);
  absl::MutexLock l(&mu_);
  running_.erase(std::find(running_.begin(), running_.end(), &running));
}

ScriptEngine::KillResult ScriptEngine::Kill(bool functions) {
  absl::MutexLock l(&mu_);
  if (running_.empty()) return KillResult::kNotBusy;
  // Redis's order of checks, on the script running longest (one, on a single node).
  const Running* oldest = running_.front();
  if (oldest->wrote.load()) return KillResult::kUnkillable;
  if (oldest->function != functions) return KillResult::kWrongKind;
  for (Running* r : running_) {
    if (r->function == functions && !r->wrote.load()) r->kill.store(true);
  }
  return KillResult::kKilled;
}

void ScriptEngine::KillAll() {
  absl::MutexLock l(&mu_);
  for (Running* r : running_) r->kill.store(true);
}

bool ServingClientsInsideScript() { return polling; }

void SetScriptBusyPoller(std::function<void()> poll) { busy_poller = std::move(poll); }

bool ScriptEngine::Busy(int64_t now_ms, int64_t threshold_ms, bool* function) const {
  if (running_count_.load(std::memory_order_relaxed) == 0 || threshold_ms <= 0) return false;
  absl::MutexLock l(&mu_);
  for (const Running* r : running_) {
    if (now_ms - r->start_ms > threshold_ms) {
      *function = r->function;
      return true;
    }
  }
  return false;
}

// --- functions ----------------------------------------------------------------------------

absl::StatusOr<std::string> ScriptEngine::LoadLibrary(std::string_view code, bool replace) {
  auto parsed = ParseLibrary(code);
  if (!parsed.ok()) return parsed.status();
  std::shared_ptr<Library> lib = *parsed;
  const std::string name = lib->name;
  {
    absl::MutexLock l(&mu_);
    if (!replace && libraries_.contains(name)) {
      return absl::InvalidArgumentError(absl::StrCat("Library '", name, "' already exists"));
    }
    for (const Function& f : lib->functions) {
      auto it = functions_.find(Lower(f.name));
      if (it != functions_.end() && it->second.library != name) {
        return absl::InvalidArgumentError(absl::StrCat("Function ", f.name, " already exists"));
      }
    }
    if (auto old = libraries_.find(name); old != libraries_.end()) {
      for (const Function& f : old->second->functions) functions_.erase(Lower(f.name));
    }
    for (const Function& f : lib->functions) functions_[Lower(f.name)] = f;
    libraries_[name] = lib;
    generation_++;
  }
  if (on_change_) on_change_();
  return name;
}

absl::StatusOr<std::shared_ptr<ScriptEngine::Library>> ScriptEngine::ParseLibrary(std::string_view code) const {
  // "#!lua name=<library>" on the first line.
  if (!code.starts_with("#!")) return absl::InvalidArgumentError("Missing library metadata");
  const size_t nl = code.find('\n');
  std::string_view shebang = code.substr(2, (nl == std::string_view::npos ? code.size() : nl) - 2);
  std::vector<std::string_view> parts = Split(shebang, ' ');
  if (parts.empty()) return absl::InvalidArgumentError("Missing library metadata");
  if (parts[0] != "lua") return absl::InvalidArgumentError(absl::StrCat("Engine '", std::string(parts[0]), "' not found"));
  std::string name;
  for (size_t i = 1; i < parts.size(); i++) {
    if (!parts[i].starts_with("name=")) {
      return absl::InvalidArgumentError(absl::StrCat("Invalid metadata value given: ", std::string(parts[i])));
    }
    name = std::string(parts[i].substr(5));
  }
  if (name.empty()) return absl::InvalidArgumentError("Library name was not given");
  for (char ch : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(ch)) && ch != '_') {
      return absl::InvalidArgumentError(
          "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long");
    }
  }
  // Run the code in a fresh state to learn its functions.
  std::unique_ptr<LuaState> s(NewState());
  lua_State* L = s->L;
  Registration reg;
  lua_newtable(L);
  reg.table_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushcfunction(L, ErrorHandler);
  std::string error;
  if (!Compile(L, code, "@user_function", &error)) {
    return absl::InvalidArgumentError("Error compiling function: " + error);
  }
  Registration* outer = current_registration;
  current_registration = &reg;
  lua_sethook(L, Hook, LUA_MASKCOUNT, 100000);
  const int status = lua_pcall(L, 0, 0, 1);
  lua_sethook(L, nullptr, 0, 0);
  current_registration = outer;
  if (status != 0) {
    std::string err;
    if (lua_type(L, -1) != LUA_TTABLE || !StringField(L, -1, "err", &err)) err = "ERR unknown error";
    return absl::InvalidArgumentError("Error registering functions: " + err);
  }
  if (reg.functions.empty()) return absl::InvalidArgumentError("No functions registered");
  auto lib = std::make_shared<Library>();
  lib->name = name;
  lib->code = std::string(code);
  for (auto& [fname, description, flags] : reg.functions) {
    Function f;
    f.name = fname;
    f.library = name;
    f.description = description;
    for (const char* known : {"no-writes", "allow-oom", "allow-stale", "no-cluster", "allow-cross-slot-keys"}) {
      if (std::find(flags.begin(), flags.end(), known) != flags.end()) f.flags.push_back(known);
    }
    for (const std::string& flag : flags) {
      if (flag == "no-writes") f.no_writes = true;
      if (flag == "allow-oom") f.allow_oom = true;
    }
    lib->functions.push_back(std::move(f));
  }
  return lib;
}

absl::Status ScriptEngine::DeleteLibrary(std::string_view name) {
  {
    absl::MutexLock l(&mu_);
    auto it = libraries_.find(std::string(name));
    if (it == libraries_.end()) return absl::NotFoundError("Library not found");
    for (const Function& f : it->second->functions) functions_.erase(Lower(f.name));
    libraries_.erase(it);
    generation_++;
  }
  if (on_change_) on_change_();
  return absl::OkStatus();
}

void ScriptEngine::FlushLibraries() {
  {
    absl::MutexLock l(&mu_);
    libraries_.clear();
    functions_.clear();
    generation_++;
  }
  if (on_change_) on_change_();
}

std::vector<std::string> ScriptEngine::LibraryCodes() const {
  absl::MutexLock l(&mu_);
  std::vector<std::string> codes;
  for (const auto& [name, lib] : libraries_) codes.push_back(lib->code);
  return codes;
}

namespace {
// FCALL's numkeys at args[at]: false after replying Redis's error.
bool CheckNumkeys(CommandContext& c, size_t at, int64_t* numkeys) {
  if (!ParseInt64(c.args[at], numkeys)) {
    c.out.Error("ERR Bad number of keys provided");
    return false;
  }
  if (*numkeys < 0) {
    c.out.Error("ERR Number of keys can't be negative");
    return false;
  }
  if (*numkeys > static_cast<int64_t>(c.args.size() - at - 1)) {
    c.out.Error("ERR Number of keys can't be greater than number of args");
    return false;
  }
  return true;
}
}  // namespace

void ScriptEngine::Call(CommandContext& c, bool read_only) {
  Function f;
  {
    absl::MutexLock l(&mu_);
    auto it = functions_.find(Lower(c.args[1]));
    if (it == functions_.end()) return c.out.Error("ERR Function not found");
    f = it->second;
  }
  int64_t numkeys = 0;
  if (!CheckNumkeys(c, 2, &numkeys)) return;
  if (read_only && !f.no_writes) {
    return c.out.Error("ERR Can not execute a script with write flag using *_ro command.");
  }
  LuaState* s = Acquire();
  lua_rawgeti(s->L, LUA_REGISTRYINDEX, s->functions);
  lua_getfield(s->L, -1, f.name.c_str());
  lua_remove(s->L, -2);
  if (!lua_isfunction(s->L, -1)) {
    lua_settop(s->L, 0);
    Release(s);
    return c.out.Error("ERR Function not found");
  }
  Run(c, s, f.name, &f, 2, static_cast<size_t>(numkeys), read_only);
  Release(s);
}

std::optional<std::string> ScriptEngine::LibraryCodeOf(std::string_view function) const {
  absl::MutexLock l(&mu_);
  auto it = functions_.find(Lower(function));
  if (it == functions_.end()) return std::nullopt;
  auto lib = libraries_.find(it->second.library);
  if (lib == libraries_.end()) return std::nullopt;
  return lib->second->code;
}

void ScriptEngine::CallForwarded(CommandContext& c) {
  // CAIRN.FCALL code RO|RW function numkeys key... arg...
  int64_t numkeys = 0;
  if (!CheckNumkeys(c, 4, &numkeys)) return;
  const std::string_view code = c.args[1];
  const bool read_only = Lower(c.args[2]) == "ro";
  const std::string sha = Sha1Hex(code);
  std::shared_ptr<Library> lib;
  {
    absl::MutexLock l(&mu_);
    if (auto it = forwarded_.find(sha); it != forwarded_.end()) lib = it->second;
  }
  if (lib == nullptr) {
    auto parsed = ParseLibrary(code);
    if (!parsed.ok()) return c.out.Error("ERR " + std::string(parsed.status().message()));
    lib = *parsed;
    absl::MutexLock l(&mu_);
    if (forwarded_.size() >= 256) forwarded_.clear();
    forwarded_[sha] = lib;
  }
  const Function* f = nullptr;
  for (const Function& candidate : lib->functions) {
    if (Lower(candidate.name) == Lower(c.args[3])) f = &candidate;
  }
  if (f == nullptr) return c.out.Error("ERR Function not found");
  if (read_only && !f->no_writes) {
    return c.out.Error("ERR Can not execute a script with write flag using *_ro command.");
  }
  LuaState* s = Acquire();
  lua_State* L = s->L;
  // This state's functions of that library: loaded once per state.
  lua_rawgeti(L, LUA_REGISTRYINDEX, s->forwarded);
  lua_getfield(L, -1, sha.c_str());
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    Registration reg;
    reg.table_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    Registration* outer = current_registration;
    current_registration = &reg;
    lua_pushcfunction(L, ErrorHandler);
    std::string error;
    if (Compile(L, code, "@user_function", &error)) {
      lua_sethook(L, Hook, LUA_MASKCOUNT, 100000);
      if (lua_pcall(L, 0, 0, -2) != 0) lua_pop(L, 1);
      lua_sethook(L, nullptr, 0, 0);
    }
    lua_pop(L, 1);  // the handler
    current_registration = outer;
    luaL_unref(L, LUA_REGISTRYINDEX, reg.table_ref);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, sha.c_str());
  }
  lua_getfield(L, -1, f->name.c_str());
  lua_replace(L, 1);
  lua_settop(L, 1);
  if (!lua_isfunction(L, -1)) {
    lua_settop(L, 0);
    Release(s);
    return c.out.Error("ERR Function not found");
  }
  Run(c, s, f->name, f, 4, static_cast<size_t>(numkeys), read_only);
  Release(s);
}

void ScriptEngine::ListLibraries(CommandContext& c, std::string_view pattern, bool with_code) const {
  std::vector<std::shared_ptr<Library>> libs;
  {
    absl::MutexLock l(&mu_);
    for (const auto& [name, lib] : libraries_) libs.push_back(lib);
  }
  std::vector<std::shared_ptr<Library>> shown;
  for (auto& lib : libs) {
    if (pattern.empty() || GlobMatch(pattern, lib->name, /*nocase=*/true)) shown.push_back(lib);
  }
  c.out.ArrayHeader(shown.size());
  for (const auto& lib : shown) {
    c.out.MapHeader(with_code ? 4 : 3);
    c.out.Bulk("library_name");
    c.out.Bulk(lib->name);
    c.out.Bulk("engine");
    c.out.Bulk("LUA");
    c.out.Bulk("functions");
    c.out.ArrayHeader(lib->functions.size());
    for (const Function& f : lib->functions) {
      c.out.MapHeader(3);
      c.out.Bulk("name");
      c.out.Bulk(f.name);
      c.out.Bulk("description");
      if (f.description.empty()) {
        c.out.Null();
      } else {
        c.out.Bulk(f.description);
      }
      c.out.Bulk("flags");
      c.out.SetHeader(f.flags.size());
      for (const std::string& flag : f.flags) c.out.SimpleString(flag);
    }
    if (with_code) {
      c.out.Bulk("library_code");
      c.out.Bulk(lib->code);
    }
  }
}

void ScriptEngine::Stats(CommandContext& c) const {
  absl::MutexLock l(&mu_);
  c.out.MapHeader(2);
  c.out.Bulk("running_script");
  const Running* fn = nullptr;
  for (const Running* r : running_) {
    if (r->function) fn = r;
  }
  if (fn == nullptr) {
    c.out.Null();
  } else {
    c.out.MapHeader(3);
    c.out.Bulk("name");
    c.out.Bulk(fn->name);
    c.out.Bulk("command");
    c.out.ArrayHeader(fn->command.size());
    for (const std::string& a : fn->command) c.out.Bulk(a);
    c.out.Bulk("duration_ms");
    c.out.Integer(c.now_ms - fn->start_ms);
  }
  c.out.Bulk("engines");
  c.out.MapHeader(1);
  c.out.Bulk("LUA");
  c.out.MapHeader(2);
  c.out.Bulk("libraries_count");
  c.out.Integer(static_cast<int64_t>(libraries_.size()));
  c.out.Bulk("functions_count");
  c.out.Integer(static_cast<int64_t>(functions_.size()));
}

absl::Status ScriptEngine::KeepLibrariesIn(const std::string& path) {
  Env* env = Env::Default();
  std::string data;
  absl::Status s = ReadFileToString(env, path, &data);
  if (s.ok()) {
    s = Restore(data, "flush");
    if (!s.ok()) return absl::DataLossError(absl::StrCat(path, ": ", s.message()));
  } else if (!absl::IsNotFound(s)) {
    return s;
  }
  on_change_ = [this, path] {
    Env* env = Env::Default();
    const std::string tmp = path + ".tmp";
    absl::Status s = WriteStringToFileSync(env, Dump(), tmp);
    if (s.ok()) s = env->RenameFile(tmp, path);
    if (!s.ok()) spdlog::error("functions: could not save {}: {}", path, s.ToString());
  };
  return absl::OkStatus();
}

// FUNCTION DUMP's payload: "CAIRNFN1", then per library a 4-byte little-endian length and
// its code, then the Checksum32 (base/checksum.h) of everything before (4 bytes little-endian).
std::string ScriptEngine::Dump() const {
  std::string out = "CAIRNFN1";
  for (const std::string& code : LibraryCodes()) {
    const uint32_t n = static_cast<uint32_t>(code.size());
    for (int i = 0; i < 4; i++) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    out += code;
  }
  const uint32_t crc = Checksum32(out);
  for (int i = 0; i < 4; i++) out.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  return out;
}

absl::Status ScriptEngine::Restore(std::string_view payload, std::string_view policy) {
  const absl::Status bad = absl::InvalidArgumentError("DUMP payload version or checksum are wrong");
  if (payload.size() < 12 || !payload.starts_with("CAIRNFN1")) return bad;
  const std::string_view body = payload.substr(0, payload.size() - 4);
  uint32_t crc = 0;
  for (int i = 0; i < 4; i++) crc |= static_cast<uint32_t>(static_cast<uint8_t>(payload[payload.size() - 4 + i])) << (8 * i);
  if (crc != Checksum32(body)) return bad;
  std::vector<std::string> codes;
  for (size_t pos = 8; pos < body.size();) {
    if (pos + 4 > body.size()) return bad;
    uint32_t n = 0;
    for (int i = 0; i < 4; i++) n |= static_cast<uint32_t>(static_cast<uint8_t>(body[pos + i])) << (8 * i);
    pos += 4;
    if (n > body.size() - pos) return bad;
    codes.emplace_back(body.substr(pos, n));
    pos += n;
  }
  std::string p(policy);
  absl::AsciiStrToLower(&p);
  // Checked on a scratch engine first, so a failure changes nothing.
  ScriptEngine trial;
  std::vector<std::string> keep = p == "flush" ? std::vector<std::string>() : LibraryCodes();
  for (const std::string& code : keep) {
    if (auto r = trial.LoadLibrary(code, false); !r.ok()) return r.status();
  }
  for (const std::string& code : codes) {
    auto r = trial.LoadLibrary(code, p == "replace");
    if (!r.ok()) return r.status();
  }
  {
    absl::MutexLock l(&mu_);
    absl::MutexLock t(&trial.mu_);
    libraries_ = trial.libraries_;
    functions_ = trial.functions_;
    generation_++;
  }
  if (on_change_) on_change_();
  return absl::OkStatus();
}

}  // namespace cairn::server
