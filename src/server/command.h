// The command layer: what a command sees (its arguments, its client, the server's shared
// state, a reply writer) and the table that names every command with its arity, flags
// and key positions, as Redis's command table does. Commands are plain functions over a
// CommandContext; they never touch sockets, so tests run them in-process.
#ifndef CAIRN_SERVER_COMMAND_H_
#define CAIRN_SERVER_COMMAND_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "base/numbers.h"
#include "protocol/resp.h"
#include "server/acl_users.h"
#include "server/blocking.h"
#include "server/config.h"
#include "server/key_locks.h"
#include "server/monitor.h"
#include "server/pubsub.h"
#include "server/tracking.h"
#include "server/scripting.h"
#include "server/slowlog.h"
#include "server/stats.h"
#include "server/watch.h"
#include "store/backend.h"

namespace cairn {
class FaultInjectionEnv;
}  // namespace cairn

namespace cairn::server {
class BackupService;
class ClusterNode;
}  // namespace cairn::server

namespace cairn::server {

struct ClientState;

// A command's reply given after the command returned (cluster mode: once its replicas
// answered). Call it exactly once, from any thread. apply, if set, runs first on the
// client's own thread with its state (a blocking command that must wait sets
// ClientState::block there, and reply is then empty).
using ReplyLater = std::function<void(std::string reply, std::function<void(ClientState&)> apply)>;

// One connected client. Fields other threads read (CLIENT LIST) are atomics or guarded.
struct ClientState {
  uint64_t id = 0;
  std::string addr = "127.0.0.1:0", laddr = "127.0.0.1:0";
  int64_t created_ms = 0;
  std::atomic<int> db{0};
  std::atomic<int> protocol{2};
  bool authenticated = false;  // only the client's own thread reads and writes it
  // The ACL user (acl_users.h) as of acl_version of the users; null: an internal client
  // that may run anything (a cluster replica's executor). The client's own thread only;
  // ClientAclUser refreshes it after a change.
  std::shared_ptr<const acl::User> acl_user;
  uint64_t acl_version = 0;
  int cluster_w = 0, cluster_r = 0;  // CAIRN.CONSISTENCY; 0: the server's quorums
  bool cluster_sync_repair = false;  // CAIRN.CONSISTENCY ... REPAIR SYNC
  std::atomic<int64_t> last_active_ms{0};
  bool close_after_reply = false;  // QUIT, fatal protocol error, CLIENT KILL of itself
  std::atomic<bool> killed{false};
  // Called (from any thread) to close the connection; set by the connection.
  std::function<void()> kill;

  std::atomic<const struct CommandSpec*> last_command{nullptr};  // for CLIENT LIST

  // MULTI/EXEC and WATCH. Only the client's own thread uses these, except watch_dirty,
  // which any writer may set.
  bool in_multi = false;
  bool multi_error = false;  // a command was refused while queuing: EXEC aborts
  bool in_exec = false;
  // EXECs run so far, and the one whose BGSAVE started a backup: a second BGSAVE of that
  // transaction is "scheduled" as in Redis (which starts the save after EXEC), not refused.
  uint64_t execs = 0;
  uint64_t bgsave_exec = 0;
  std::vector<std::vector<std::string>> queued;
  struct Watched {
    int db;
    std::string key;
    int64_t expire_at_ms;  // the key's expiry when watched (0: none or absent)
  };
  std::vector<Watched> watched;
  // Cluster mode: the serialized cluster::pb::Context of each watched key (its versions'
  // merged clock when watched), parallel to watched; EXEC's replica compares them.
  std::vector<std::string> watched_contexts;
  std::atomic<bool> watch_dirty{false};

  // Blocking commands (blocking.h): set by a handler that must wait; the connection then
  // holds further commands until the wait ends.
  struct BlockState {
    bool active = false;
    int64_t deadline_ms = 0;  // Unix ms; 0: no timeout
    BlockedReply reply = BlockedReply::kNullArray;
    uint64_t ticket = 0;
    // Cluster mode: the keys live on other nodes, whose pushes do not wake this one, so
    // the command is also retried every poll_ms until the deadline (0: only when woken).
    int64_t poll_ms = 0;
    // The command line to try again, when it differs from the one sent (XREAD's "$"
    // becomes the ID it meant); empty: the same.
    std::vector<std::string> retry_args;
  };
  BlockState block;
  bool block_retry = false;
  bool script = false;  // a script's client (its commands are not SLOWLOG entries)  // the blocked command is being tried again (not refused BUSY)
  // Posts a retry of the blocked command to the client's thread; null where a client
  // cannot wait (in-process tests).
  std::function<void()> wake;
  // Reserves the running command's place among the client's replies and returns how to
  // fill it (ReplyLater); null where a client cannot take a reply later (HTTP requests,
  // in-process tests: they wait instead, on a thread that may). overlap_key: later
  // commands of the pipeline that name other overlap keys may run meanwhile (see
  // ClusterOverlapKey); empty: nothing runs until this reply is given.
  std::function<ReplyLater(std::string overlap_key)> defer;

  // Pub/sub (pubsub.h). The client's own thread changes the sets; push queues a
  // message on the connection (any thread: PubSub::Publish), given as RESP2 and RESP3;
  // null where a client cannot receive (HTTP, in-process tests): SUBSCRIBE is refused.
  std::set<std::string> channels, patterns, shard_channels;
  // kind and name: the subscription it came through (a channel's or a pattern's), which
  // the connection checks it still has when the message reaches its thread.
  std::function<void(PubSub::Kind kind, const std::string& name, const std::string& resp2,
                     const std::string& resp3)>
      push;
  size_t subscriptions() const { return channels.size() + patterns.size() + shard_channels.size(); }
  // MONITOR (monitor.h): the client is sent every command this node runs.
  std::atomic<bool> monitor{false};
  // CLIENT TRACKING is on (tracking.h keeps its options; set by Tracking::Enable/Disable).
  std::atomic<bool> tracking{false};

  mutable absl::Mutex mu;
  std::string name ABSL_GUARDED_BY(mu);
  std::string last_subcommand ABSL_GUARDED_BY(mu);  // of CLIENT, CONFIG, COMMAND
  std::string user ABSL_GUARDED_BY(mu) = "default";
};

// Connected clients, for CLIENT LIST / KILL and INFO clients.
class ClientRegistry {
 public:
  uint64_t NextId() { return next_id_.fetch_add(1, std::memory_order_relaxed); }
  void Add(std::shared_ptr<ClientState> c);
  void Remove(uint64_t id);
  std::vector<std::shared_ptr<ClientState>> All() const;
  std::shared_ptr<ClientState> Find(uint64_t id) const;  // null if gone
  size_t size() const;

 private:
  std::atomic<uint64_t> next_id_{1};
  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, std::shared_ptr<ClientState>> clients_ ABSL_GUARDED_BY(mu_);
};

// SCAN cursors: Redis cursors are integers, cairn's keyspace is ordered, so a cursor
// names the key a scan resumes at. The most recent kMaxCursors are kept.
class CursorTable {
 public:
  static constexpr size_t kMaxCursors = 100000;
  uint64_t Save(std::string resume_key);
  // false if the cursor is unknown (expired from the table, or never issued).
  bool Lookup(uint64_t cursor, std::string* resume_key) const;

 private:
  mutable absl::Mutex mu_;
  uint64_t next_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<uint64_t, std::string> cursors_ ABSL_GUARDED_BY(mu_);
};

// State shared by every command of a server.
struct ServerContext {
  store::Backend* backend = nullptr;
  Config* config = nullptr;
  ServerStats stats;
  KeyLocks locks;
  ClientRegistry clients;
  // CLIENT TRACKING's table (tracking.h); WatchTable::Touch, which every write calls,
  // invalidates through it.
  Tracking tracking{&clients};
  WatchTable watches{&tracking};
  BlockingKeys blocking;
  CursorTable cursors;
  // The active expiry's passes run (DEBUG SET-ACTIVE-EXPIRE 0 pauses them, as in Redis).
  std::atomic<bool> active_expire{true};
  int64_t start_ms = 0;
  std::string run_id;
  // The clock of commands (Unix ms); null: the system clock. Tests inject one.
  int64_t (*now_ms)() = nullptr;
  // SAVE, BGSAVE, LASTSAVE and POST /v1/backup (backups.h); null in in-process tests.
  BackupService* backups = nullptr;
  // Asks the server to stop (SHUTDOWN); null in in-process tests.
  std::function<void()> request_shutdown;
  // Current process memory in bytes (allocator statistics), for INFO and maxmemory.
  std::function<uint64_t()> used_memory;
  // The highest used_memory seen (sampled every 100 ms and at each maxmemory check).
  std::atomic<uint64_t> used_memory_peak{0};
  // Called after CONFIG SET changed options (the server applies what it can live).
  std::function<void()> on_config_change;
  // The engine's fault-injecting Env when enable-debug-command is on (DEBUG FAULT-INJECT);
  // null otherwise.
  FaultInjectionEnv* fault_env = nullptr;
  // This node in cluster mode (cluster_mode.h): data commands go through it; null when
  // the server runs as a single node.
  ClusterNode* cluster = nullptr;
  // Whether commands run in cluster mode (set on the replica's executor context, where
  // cluster is null): the few commands whose rules differ there (SORT's BY and GET
  // patterns) check it.
  bool cluster_mode = false;
  // Listening ports and threads, for INFO.
  int port = 0, http_port = 0, io_threads = 1;
  std::atomic<int> tls_port{0};
  // The TLS context new connections of the TLS port and of HTTPS use (docs/tls.md).
  net::TlsContextSlot tls;
  // Connections counted against maxclients besides the RESP clients: TLS handshakes
  // under way (RESP) and HTTP connections (HTTPS ones from their handshake on).
  std::atomic<int> tls_handshakes{0}, http_connections{0};
  size_t connections() const {
    return clients.size() + static_cast<size_t>(tls_handshakes.load(std::memory_order_relaxed)) +
           static_cast<size_t>(http_connections.load(std::memory_order_relaxed));
  }
  // Called by CONFIG SET with the options as they would be and the names set (lower
  // case), before anything is set: what must happen at once (a new TLS context, a port
  // bound) happens here, and an error (with the name it concerns in *culprit) refuses the
  // whole change. Null in in-process tests.
  std::function<absl::Status(const ServerConfig& next, const std::vector<std::string>& names,
                             std::string* culprit)>
      prepare_config;
  // ACL users and ACL LOG (shared with cluster mode's replica executor).
  std::shared_ptr<AclUsers> acl = std::make_shared<AclUsers>();
  // Cached EVAL scripts and FUNCTION libraries (scripting.h). Cluster mode's replica
  // executor shares the server's.
  std::shared_ptr<ScriptEngine> scripts = NewScriptEngine();
  // SLOWLOG and LATENCY.
  SlowLog slowlog;
  // Subscribers and delivery; shared likewise.
  std::shared_ptr<PubSub> pubsub = std::make_shared<PubSub>();
  std::shared_ptr<Monitors> monitors = std::make_shared<Monitors>();
  // Set where commands may run twice (a cluster replica's first try of a script that
  // turns out to need reads it did not prefetch): PUBLISH hands its message here, to be
  // delivered once the run stands, and answers this node's receivers.
  std::function<int64_t(std::string_view channel, std::string_view message, bool sharded)> publish_sink;
  // Set where scripts run on a replica of one hash tag (cluster mode): the error that
  // refuses a command a script calls (another tag's key, a command of the whole keyspace),
  // or empty after preparing to run it.
  std::function<std::string(const CommandSpec&, const std::vector<std::string_view>&)> script_command_check;
};

struct CommandContext {
  ServerContext& server;
  ClientState& client;
  const std::vector<std::string_view>& args;
  protocol::ReplyWriter& out;
  int64_t now_ms;  // the command's clock: one instant per command, like Redis
  // The keys a command of hashes, lists, sets or sorted sets changed (CollectionBatch::
  // Commit records them): WATCH and blocked clients hear only of these, as in Redis,
  // where a failed or no-op write, or a key only read (SUNIONSTORE's sources, BLPOP's
  // other keys), touches nothing. Other write commands touch all their keys.
  std::vector<std::string> written;
};

enum CommandFlag : uint32_t {
  kWrite = 1 << 0,     // modifies data: key locks, maxmemory check
  kReadOnly = 1 << 1,  // reads data
  kAdmin = 1 << 2,
  kNoAuth = 1 << 3,     // allowed before AUTH
  kFast = 1 << 4,       // O(1) or O(log n)
  kDenyOom = 1 << 5,    // refused past maxmemory
  kNoLock = 1 << 6,     // takes its own locks (several databases, whole keyspace)
  kContainer = 1 << 7,  // has subcommands (CLIENT LIST shows "client|list")
  // Reads several engine keys that must agree (a collection's metadata and members):
  // holds the key locks as a write does.
  kLockKeys = 1 << 8,
  // Adds to a number (INCR and its kin): in cluster mode the change is replicated as this
  // node's contribution to a counter (cluster/counter.h), so concurrent ones all count.
  kCounter = 1 << 9,
  kBlocking = 1 << 10,  // may wait for another client's write (BLPOP)
  // Acts on every key of a database (or of all) and names none (KEYS, FLUSHDB): in cluster
  // mode on every node, not on one key's replicas.
  kKeyspace = 1 << 11,
  // Changes a key's expiry and nothing else (EXPIRE, PERSIST, GETEX): in cluster mode a
  // counter it rewrites stays a counter, not a reset.
  kExpiryOnly = 1 << 12,
  // Answers from its arguments and the clock alone, touching no key and no connection
  // state (PING, ECHO, TIME): in cluster mode it may be queued in any transaction, which
  // runs it on the replica that runs the rest.
  kPure = 1 << 13,
  // Runs a Lua script (EVAL, FCALL): holds every key stripe while it runs; in cluster mode
  // runs on the replica of its declared keys' hash tag (of no key: of the empty tag).
  kScript = 1 << 14,
  // Refused inside a script (MULTI, WATCH, EVAL itself, SCRIPT, FUNCTION, SUBSCRIBE...).
  kNoScript = 1 << 15,
  // Changes part of a string in place (SETBIT, SETRANGE, APPEND, BITFIELD, PFADD): in
  // cluster mode a string it leaves longer than cluster::kChunkBytes is replicated by
  // chunk (pb::Record.chunked), so the change sends only the chunks it touched.
  kInPlace = 1 << 16,
  // Refused inside MULTI, dooming the transaction (SAVE), as Redis's no-multi flag.
  kNoMulti = 1 << 17,
};

using CommandHandler = void (*)(CommandContext& ctx);

struct CommandSpec {
  const char* name;  // lower case
  int arity;         // Redis convention: n exact, -n at least n (the name counts)
  uint32_t flags;
  int first_key, last_key, step;  // key positions (0: no keys; last -1: to the end)
  CommandHandler handler;
  const char* group;    // COMMAND DOCS group
  const char* summary;  // COMMAND DOCS summary
  // Keys counted by an argument (SINTERCARD numkeys key..., ZUNIONSTORE dst numkeys key...):
  // the position of that argument, the keys following it (0: none). Key positions of
  // every kind come from CommandTable::Keys, so locking, routing and CROSSSLOT checks
  // read the table, never a list of names.
  int numkeys_at = 0;
  // The position of an argument naming a second database whose key of the same name the
  // command also uses (MOVE key db); 0: none. Cluster mode runs such a command on the
  // key's replica with both databases' keys.
  int db_at = 0;
  // A keyword after which the first half of the remaining arguments are keys (XREAD's
  // and XREADGROUP's STREAMS key... id...); null: none.
  const char* keys_after = nullptr;
  // Keys found by reading the arguments (GEORADIUS's STORE key, SORT's STORE key), as
  // Redis's getkeys procedures find them: appended to *keys; null: none.
  void (*more_keys)(const std::vector<std::string_view>& args,
                    std::vector<std::string_view>* keys) = nullptr;
};

// Registers a group of commands (each commands_*.cc has one, listed in command.cc).
void RegisterStringCommands(std::vector<const CommandSpec*>* table);
void RegisterBitmapCommands(std::vector<const CommandSpec*>* table);
void RegisterHllCommands(std::vector<const CommandSpec*>* table);
void RegisterKeyspaceCommands(std::vector<const CommandSpec*>* table);
void RegisterDumpCommands(std::vector<const CommandSpec*>* table);
void RegisterConnectionCommands(std::vector<const CommandSpec*>* table);
void RegisterServerCommands(std::vector<const CommandSpec*>* table);
void RegisterHashCommands(std::vector<const CommandSpec*>* table);
void RegisterListCommands(std::vector<const CommandSpec*>* table);
void RegisterSetCommands(std::vector<const CommandSpec*>* table);
void RegisterZSetCommands(std::vector<const CommandSpec*>* table);
void RegisterTransactionCommands(std::vector<const CommandSpec*>* table);
void RegisterScriptingCommands(std::vector<const CommandSpec*>* table);
void RegisterPubSubCommands(std::vector<const CommandSpec*>* table);
void RegisterStreamCommands(std::vector<const CommandSpec*>* table);
void RegisterGeoCommands(std::vector<const CommandSpec*>* table);
void RegisterSortCommands(std::vector<const CommandSpec*>* table);
void RegisterClusterCommands(std::vector<const CommandSpec*>* table);
void RegisterAclCommands(std::vector<const CommandSpec*>* table);

// Every command, by lower-case name.
class CommandTable {
 public:
  static const CommandTable& Get();
  const CommandSpec* Find(std::string_view name) const;
  const std::vector<const CommandSpec*>& all() const { return all_; }
  // The key arguments of a command line by the spec's key positions (first..last by
  // step, then those a numkeys argument counts). A numkeys that is not a count of the
  // arguments that follow contributes no keys (the command itself then refuses it).
  static std::vector<std::string_view> Keys(const CommandSpec& spec,
                                            const std::vector<std::string_view>& args);

 private:
  CommandTable();
  std::vector<const CommandSpec*> all_;
  absl::flat_hash_map<std::string, const CommandSpec*> by_name_;
};

// Runs one command line: lookup, arity, authentication, memory limit, key locks,
// statistics, then the handler. Never throws; every failure is an error reply.
void ExecuteCommand(ServerContext& server, ClientState& client,
                    const std::vector<std::string_view>& args, protocol::ReplyWriter& out);

// Values from this size on take the large-value paths (docs/large-values.md): stored
// without being copied into a Record, replied to from the engine's reader. The engine's
// key-value separation (engine::Options::min_blob_size) starts at the same size.
inline constexpr size_t kLargeValueBytes = 64 << 10;

// Runs a connection's pipelined commands in order, as ExecuteCommand would, except that
// a run of consecutive plain SETs (SET key value) is applied as one atomic engine write:
// one WAL append and one group commit instead of one per command. Replies and the final
// state are those of running them one by one.
class PipelineExecutor {
 public:
  PipelineExecutor(ServerContext& server, ClientState& client, protocol::ReplyWriter& out)
      : server_(server), client_(client), out_(out) {}
  ~PipelineExecutor() { Flush(); }
  void Execute(const std::vector<std::string_view>& args);
  // Applies the deferred SETs and writes their replies.
  void Flush();

 private:
  bool Deferrable(const std::vector<std::string_view>& args);
  ServerContext& server_;
  ClientState& client_;
  protocol::ReplyWriter& out_;
  std::vector<store::Mutation> pending_;
  size_t pending_bytes_ = 0;
  int pending_db_ = 0;
};

// Sends the line of a command the client ran to this node's MONITOR clients (monitor.h;
// the caller checks server.monitors->any() first).
void FeedMonitors(ServerContext& server, const ClientState& client, const CommandSpec& spec,
                  const std::vector<std::string_view>& args);

// Shared helpers for command implementations.
// Redis 7's reply to an unknown subcommand of `command` (e.g. CLIENT) or to a wrong
// number of arguments for a known one.
void ReplyBadSubcommand(CommandContext& c);
bool ParseInt64(std::string_view s, int64_t* v);  // Redis's strict string2ll

// String values, for the commands of strings, bitmaps and HyperLogLog. ReadStringValue
// reads key in the client's database; false after replying with the error (WRONGTYPE for
// another type); absent is not an error: *found is false. Counts keyspace hits and
// misses. WriteStringValue stores r; false after replying with the error.
bool ReadStringValue(CommandContext& c, std::string_view key, store::Record* r, bool* found);
bool WriteStringValue(CommandContext& c, std::string_view key, const store::Record& r);
bool ParseDouble(std::string_view s, double* v);  // Redis's strict string2d (no spaces)
// INCRBYFLOAT's arithmetic (ParseLongDouble, FormatLongDouble) is in base/numbers.h.
// SCAN, HSCAN, SSCAN, ZSCAN options from args[first] on: MATCH pattern, COUNT n, and
// TYPE t where allowed. Returns false after replying with Redis's error.
struct ScanOptions {
  std::string_view pattern;
  bool has_pattern = false;  // a pattern other than "*"
  int64_t count = 10;
  std::string type;  // lower case
  bool has_type = false;
};
bool ParseScanOptions(CommandContext& c, size_t first, bool allow_type, ScanOptions* o);
// Whether the client must still authenticate (a password or users are configured and
// it has not).
bool NeedsAuth(const ServerContext& server, const ClientState& client);

// ACLs (acl.h). The client's user, refreshed if the users changed since it was read;
// null: an internal client (unrestricted). A deleted user reads as one with no rights.
const acl::User* ClientAclUser(ServerContext& server, ClientState& client);
// Logs the client as user `name` (AUTH, HELLO AUTH, RESET, a new connection).
void SetClientUser(ServerContext& server, ClientState& client,
                   std::shared_ptr<const acl::User> user);
// "" if the client may run the command line, else the error to refuse it with (NOPERM,
// or SORT's BY/GET message); the denial is in ACL LOG.
std::string AclRefusal(ServerContext& server, ClientState& client, const CommandSpec& spec,
                       const std::vector<std::string_view>& args);
// Adds an ACL LOG entry for the client (reason: command, key, channel, auth).
void AclLogDenial(ServerContext& server, ClientState& client, std::string_view reason,
                  std::string_view context, std::string_view object, std::string_view username);
// Applies the options requirepass, users, acl-pubsub-default to the ACL users (after
// startup and CONFIG SET).
void ApplyAclConfig(ServerContext& server);
// CLIENT LIST's line of a client (ACL LOG's client-info).
std::string ClientInfoLine(const ClientState& cl, int64_t now_ms);

// The one mapping of a status to a RESP error: "-<CODE> message" for a typed kind
// (base/status.h: -NOQUORUM, -CROSSSLOT), "-OOM ..." for ResourceExhausted, else "-ERR ...".
void ReplyStatusError(protocol::ReplyWriter& out, const absl::Status& s);
// The lower-cased text, for option parsing.
std::string Lower(std::string_view s);

// Whether this client may run DEBUG (enable-debug-command); replies the error if not.
bool DebugCommandAllowed(CommandContext& c);

inline constexpr std::string_view kErrSyntax = "ERR syntax error";
inline constexpr std::string_view kErrNotInteger = "ERR value is not an integer or out of range";
inline constexpr std::string_view kErrNotFloat = "ERR value is not a valid float";
inline constexpr std::string_view kErrWrongType =
    "WRONGTYPE Operation against a key holding the wrong kind of value";

}  // namespace cairn::server

#endif  // CAIRN_SERVER_COMMAND_H_
