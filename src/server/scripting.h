// Lua scripting as Redis 7 has it: EVAL scripts (cached by SHA1), FUNCTION libraries and
// the Lua environment they run in (redis.call/pcall, the cjson, cmsgpack, bit and struct
// libraries, Redis's type conversions both ways, a read-only global table).
//
// Threads: a script runs on the thread of the command that runs it (EVAL's, or in cluster
// mode the replica's executor), in one of a pool of Lua states, so scripts of different
// hash tags may run at once in cluster mode. Atomicity is the caller's: a single node runs
// a script holding every key stripe (KeyLocks::Guard), cluster mode runs it in the queue of
// its hash tag. Every public method is thread-safe.
//
// Errors: a script's failure is its reply (Redis's error strings); nothing throws.
#ifndef CAIRN_SERVER_SCRIPTING_H_
#define CAIRN_SERVER_SCRIPTING_H_

#include <atomic>
#include <functional>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace cairn::server {

struct CommandContext;
struct CommandSpec;
struct LuaState;

class ScriptEngine {
 public:
  ScriptEngine();
  ~ScriptEngine();
  ScriptEngine(const ScriptEngine&) = delete;
  ScriptEngine& operator=(const ScriptEngine&) = delete;

  static std::string Sha1Hex(std::string_view data);

  // --- EVAL scripts ---
  // SCRIPT LOAD: compiles body (the error is Redis's "ERR Error compiling script ...")
  // and caches it; returns its SHA1.
  absl::StatusOr<std::string> Load(std::string_view body);
  std::optional<std::string> Body(std::string_view sha) const;  // sha in any case
  // Caches body as EVAL does, without compiling it (cluster mode: the replica runs it).
  void Remember(std::string_view body);
  void Flush();  // SCRIPT FLUSH
  // EVAL body / EVALSHA sha (the body then from the cache): c.args are the command's, keys
  // and arguments from args[2] on. read_only: EVAL_RO/EVALSHA_RO. Replies on c.out.
  void Eval(CommandContext& c, bool by_sha, bool read_only);

  // --- functions ---
  // FUNCTION LOAD [REPLACE] code: the library's name, or the error to reply.
  absl::StatusOr<std::string> LoadLibrary(std::string_view code, bool replace);
  absl::Status DeleteLibrary(std::string_view name);
  void FlushLibraries();
  // FCALL / FCALL_RO.
  void Call(CommandContext& c, bool read_only);
  // The code of the library holding function (cluster mode forwards it with the call).
  std::optional<std::string> LibraryCodeOf(std::string_view function) const;
  // CAIRN.FCALL code RO|RW function numkeys key... arg...: a call forwarded by another
  // node with its library's code, which this node loads (and caches) without listing it.
  void CallForwarded(CommandContext& c);
  // FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE] and FUNCTION STATS, as replies.
  void ListLibraries(CommandContext& c, std::string_view pattern, bool with_code) const;
  void Stats(CommandContext& c) const;
  // FUNCTION DUMP payload (format in docs/commands.md) and FUNCTION RESTORE of one.
  std::string Dump() const;
  absl::Status Restore(std::string_view payload, std::string_view policy);
  // Every library's code, in name order.
  std::vector<std::string> LibraryCodes() const;
  // Keeps the libraries in the file at path (FUNCTION DUMP's format): loads it now (no
  // file: none) and, from then on, rewrites it (synced, then renamed into place) after
  // every change. Call once, before commands run.
  absl::Status KeepLibrariesIn(const std::string& path);

  // --- running scripts ---
  enum class KillResult { kNotBusy, kKilled, kUnkillable, kWrongKind };
  // SCRIPT KILL (functions=false) or FUNCTION KILL (true): stops the scripts running
  // now that have not written.
  KillResult Kill(bool functions);
  // SHUTDOWN: stops every running script, written or not.
  void KillAll();
  // Whether a script has run longer than threshold_ms (other clients are then answered
  // BUSY, as Redis answers them); *function: the oldest such is a function.
  bool Busy(int64_t now_ms, int64_t threshold_ms, bool* function) const;
  int64_t scripts_cached() const;
  int running() const { return running_count_.load(std::memory_order_relaxed); }

  struct Running {
    int64_t start_ms = 0;
    bool function = false;
    std::string name;  // the function's, for FUNCTION STATS
    std::vector<std::string> command;  // the FCALL or EVAL line
    std::atomic<bool> kill{false};
    std::atomic<bool> wrote{false};
  };

 private:
  struct Library;
  struct Function {
    std::string name;
    std::string library;
    std::string description;
    bool no_writes = false;
    bool allow_oom = false;
    std::vector<std::string> flags;  // as registered, for FUNCTION LIST
  };
  LuaState* Acquire();
  void Release(LuaState* state);
  // Runs the function at the top of lua's stack (EVAL's script, or FCALL's function)
  // with the numkeys keys after args[numkeys_at] and the arguments after them.
  void Run(CommandContext& c, LuaState* lua, const std::string& chunk_id, const Function* function,
           size_t numkeys_at, size_t numkeys, bool read_only);
  absl::StatusOr<std::shared_ptr<Library>> ParseLibrary(std::string_view code) const;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::string> scripts_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;  // bumped by a flush or a library change
  std::vector<LuaState*> idle_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<Library>> libraries_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Function> functions_ ABSL_GUARDED_BY(mu_);  // by lower-case name
  absl::flat_hash_map<std::string, std::shared_ptr<Library>> forwarded_ ABSL_GUARDED_BY(mu_);
  std::vector<Running*> running_ ABSL_GUARDED_BY(mu_);
  std::atomic<int> running_count_{0};
  std::function<void()> on_change_;
};

std::shared_ptr<ScriptEngine> NewScriptEngine();

// A script that runs past busy-reply-threshold calls this thread's poller now and then
// (about every millisecond) so that the other clients of its I/O thread are served
// meanwhile, as Redis serves clients from inside a long script: they are answered BUSY,
// or run SCRIPT KILL, FUNCTION KILL, SHUTDOWN. Set by each I/O thread of a single node
// (poll its io_context); unset (null) elsewhere.
void SetScriptBusyPoller(std::function<void()> poll);
// Whether this thread is serving other clients from inside a script (the poller above):
// whatever runs then must not touch data (the script holds the keyspace, and this
// thread's Guards lock nothing), so commands are answered BUSY.
bool ServingClientsInsideScript();

}  // namespace cairn::server

#endif  // CAIRN_SERVER_SCRIPTING_H_
