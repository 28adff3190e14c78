#include "server/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "base/glob.h"
#include "base/status.h"
#include "cluster/peer_auth.h"

namespace cairn::server {
namespace {

using Setter = absl::Status (*)(ServerConfig&, std::string_view);
using Getter = std::string (*)(const ServerConfig&);

struct Option {
  const char* name;
  const char* aliases;  // comma-separated Redis names with the same meaning
  bool runtime;         // CONFIG SET may change it
  const char* help;
  Setter set;
  Getter get;
};

absl::Status Invalid(std::string_view what) {
  return absl::InvalidArgumentError(std::string(what));
}

template <int ServerConfig::*F, int Min, int Max>
absl::Status SetInt(ServerConfig& c, std::string_view v) {
  int x;
  if (!absl::SimpleAtoi(std::string(v), &x) || x < Min || x > Max) {
    return Invalid(absl::StrCat("argument must be an integer between ", Min, " and ", Max));
  }
  c.*F = x;
  return absl::OkStatus();
}
// hz: any non-negative int, kept clamped to 1..500 (CONFIG GET reports the clamped value,
// as Redis's does).
absl::Status SetHz(ServerConfig& c, std::string_view v) {
  if (absl::Status s = SetInt<&ServerConfig::hz, 0, 2147483647>(c, v); !s.ok()) return s;
  c.hz = std::clamp(c.hz, 1, 500);
  return absl::OkStatus();
}
template <int ServerConfig::*F>
std::string GetInt(const ServerConfig& c) {
  return absl::StrCat(c.*F);
}

template <uint64_t ServerConfig::*F>
absl::Status SetMemory(ServerConfig& c, std::string_view v) {
  return ParseMemory(v, &(c.*F));
}
template <uint64_t ServerConfig::*F>
std::string GetMemory(const ServerConfig& c) {
  return absl::StrCat(c.*F);
}

template <std::string ServerConfig::*F>
absl::Status SetString(ServerConfig& c, std::string_view v) {
  c.*F = std::string(v);
  return absl::OkStatus();
}
template <std::string ServerConfig::*F>
std::string GetString(const ServerConfig& c) {
  return c.*F;
}

template <bool ServerConfig::*F>
absl::Status SetBool(ServerConfig& c, std::string_view v) {
  const std::string s = absl::AsciiStrToLower(ToAbsl(v));
  if (s == "yes" || s == "true" || s == "1") {
    c.*F = true;
  } else if (s == "no" || s == "false" || s == "0") {
    c.*F = false;
  } else {
    return Invalid("argument must be 'yes' or 'no'");
  }
  return absl::OkStatus();
}
template <bool ServerConfig::*F>
std::string GetBool(const ServerConfig& c) {
  return c.*F ? "yes" : "no";
}

absl::Status SetWalSync(ServerConfig& c, std::string_view v) {
  const std::string s = absl::AsciiStrToLower(ToAbsl(v));
  if (s != "always" && s != "everysec" && s != "none" && s != "no") {
    return Invalid("argument must be one of: always, everysec, none");
  }
  c.wal_sync = s == "no" ? "none" : s;  // Redis's appendfsync says "no"
  return absl::OkStatus();
}

// A port: 0..65535, or "auto" (kAutoPort).
template <int ServerConfig::*F>
absl::Status SetPort(ServerConfig& c, std::string_view v) {
  if (absl::AsciiStrToLower(ToAbsl(v)) == "auto") {
    c.*F = kAutoPort;
    return absl::OkStatus();
  }
  return SetInt<F, 0, 65535>(c, v);
}
template <int ServerConfig::*F>
std::string GetPort(const ServerConfig& c) {
  return c.*F == kAutoPort ? "auto" : absl::StrCat(c.*F);
}

absl::Status SetTlsAuthClients(ServerConfig& c, std::string_view v) {
  const std::string s = absl::AsciiStrToLower(ToAbsl(v));
  if (s != "no" && s != "yes" && s != "optional") {
    return Invalid("argument(s) must be one of the following: no, yes, optional");
  }
  c.tls_auth_clients = s;
  return absl::OkStatus();
}

absl::Status SetTlsProtocols(ServerConfig& c, std::string_view v) {
  if (auto parsed = net::ParseTlsProtocols(v); !parsed.ok()) return parsed.status();
  c.tls_protocols = std::string(v);
  return absl::OkStatus();
}

absl::Status SetWeight(ServerConfig& c, std::string_view v) {
  double w;
  if (!absl::SimpleAtod(ToAbsl(v), &w) || !(w > 0) || w > 1000) {
    return Invalid("argument must be a number above 0 (at most 1000)");
  }
  c.weight = std::string(v);
  return absl::OkStatus();
}

absl::Status SetDebugCommand(ServerConfig& c, std::string_view v) {
  const std::string s = absl::AsciiStrToLower(ToAbsl(v));
  if (s != "no" && s != "yes" && s != "local") {
    return Invalid("argument must be one of: no, yes, local");
  }
  c.enable_debug_command = s;
  return absl::OkStatus();
}

absl::Status SetLogLevel(ServerConfig& c, std::string_view v) {
  const std::string s = absl::AsciiStrToLower(ToAbsl(v));
  if (s != "debug" && s != "verbose" && s != "notice" && s != "warning") {
    return Invalid("argument must be one of: debug, verbose, notice, warning");
  }
  c.loglevel = s;
  return absl::OkStatus();
}

absl::Status SetPubsubDefault(ServerConfig& c, std::string_view v) {
  const std::string s = absl::AsciiStrToLower(ToAbsl(v));
  if (s != "allchannels" && s != "resetchannels") {
    return Invalid("argument(s) must be one of the following: allchannels, resetchannels");
  }
  c.acl_pubsub_default = s;
  return absl::OkStatus();
}

// "name:password" entries separated by commas or spaces.
absl::Status SetUsers(ServerConfig& c, std::string_view v) {
  std::vector<std::pair<std::string, std::string>> users;
  for (absl::string_view entry :
       absl::StrSplit(ToAbsl(v), absl::ByAnyChar(", "), absl::SkipEmpty())) {
    const size_t colon = entry.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return Invalid("users are 'name:password' entries");
    }
    // As ACL SETUSER's names: no control whitespace nor NUL (they would break the aclfile).
    if (entry.find_first_of(absl::string_view("\t\r\n\v\f\0", 6)) != absl::string_view::npos) {
      return Invalid("user names and passwords cannot contain whitespace or null characters");
    }
    users.emplace_back(std::string(entry.substr(0, colon)), std::string(entry.substr(colon + 1)));
  }
  c.users = std::move(users);
  return absl::OkStatus();
}
std::string GetUsers(const ServerConfig& c) {
  std::vector<std::string> names;
  for (const auto& u : c.users) names.push_back(u.first + ":<hidden>");
  return absl::StrJoin(names, ",");
}

// The table. Runtime-mutable options are those the running server re-reads on use.
// Redis options whose value is fixed in cairn, answered by CONFIG GET so tools that ask
// (redis-benchmark asks for both) see the truth: there are no RDB snapshots, and every
// write goes to the WAL, cairn's append-only file.
absl::Status SetSave(ServerConfig&, std::string_view v) {
  return v.empty() ? absl::OkStatus() : Invalid("cairn takes no snapshots: only \"\" is accepted");
}
absl::Status SetAppendOnly(ServerConfig&, std::string_view v) {
  return absl::AsciiStrToLower(ToAbsl(v)) == "yes"
             ? absl::OkStatus()
             : Invalid("the WAL is always on in cairn: only yes is accepted");
}
std::string GetEmpty(const ServerConfig&) { return ""; }
std::string GetYes(const ServerConfig&) { return "yes"; }

// client-output-buffer-limit: bytes (the normal class), or Redis's classes in groups of
// four: "normal 0 0 0 replica 256mb 64mb 60 pubsub 32mb 8mb 60". The hard limit of
// normal (MONITOR clients too, as in Redis) and pubsub applies; soft limits and the
// replica class (no replicas) are accepted.
absl::Status SetOutputLimit(ServerConfig& c, std::string_view v) {
  uint64_t bytes;
  if (ParseMemory(v, &bytes).ok()) {
    c.client_output_buffer_limit = bytes;
    return absl::OkStatus();
  }
  std::vector<std::string> words;
  for (absl::string_view w : absl::StrSplit(absl::string_view(v.data(), v.size()), ' ', absl::SkipEmpty())) {
    words.emplace_back(w);
  }
  if (words.empty() || words.size() % 4 != 0) return Invalid("wrong number of arguments");
  ServerConfig trial = c;
  for (size_t i = 0; i < words.size(); i += 4) {
    std::string cls = words[i];
    absl::AsciiStrToLower(&cls);
    uint64_t hard, soft;
    int64_t seconds;
    if (!ParseMemory(words[i + 1], &hard).ok() || !ParseMemory(words[i + 2], &soft).ok() ||
        !absl::SimpleAtoi(words[i + 3], &seconds) || seconds < 0) {
      return Invalid("Invalid argument");
    }
    if (cls == "normal") {
      trial.client_output_buffer_limit = hard;
    } else if (cls == "pubsub") {
      trial.pubsub_output_buffer_limit = hard;
    } else if (cls != "replica" && cls != "slave") {
      return Invalid(absl::StrCat("Invalid client class specified in buffer limit configuration."));
    }
  }
  c = trial;
  return absl::OkStatus();
}

absl::Status SetClusterSecret(ServerConfig& c, std::string_view v) {
  if (absl::StatusOr<std::vector<std::string>> s = cluster::ParseClusterSecrets(v); !s.ok()) {
    return s.status();
  }
  c.cluster_secret = std::string(v);
  return absl::OkStatus();
}

const Option kOptions[] = {
    {"save", "", false, "Automatic RDB snapshot schedule: none in cairn (always empty; SAVE and BGSAVE take backups)", SetSave, GetEmpty},
    {"appendonly", "", false, "Append-only log: the WAL, always on (always yes)", SetAppendOnly,
     GetYes},
    {"bind", "", false, "Address to listen on (RESP and HTTP)", SetString<&ServerConfig::bind>,
     GetString<&ServerConfig::bind>},
    {"port", "", false, "RESP port (0: none, as Redis; auto: any free port)",
     SetPort<&ServerConfig::port>, GetPort<&ServerConfig::port>},
    {"http-port", "", false, "HTTP API port (0: off; auto: any free port)",
     SetPort<&ServerConfig::http_port>, GetPort<&ServerConfig::http_port>},
    {"tls-port", "", true, "RESP over TLS port (0: off; auto: any free port)",
     SetPort<&ServerConfig::tls_port>, GetPort<&ServerConfig::tls_port>},
    {"tls-cert-file", "", true, "Server certificate chain (PEM) for the TLS port and HTTPS",
     SetString<&ServerConfig::tls_cert_file>, GetString<&ServerConfig::tls_cert_file>},
    {"tls-key-file", "", true, "Private key of tls-cert-file (PEM)",
     SetString<&ServerConfig::tls_key_file>, GetString<&ServerConfig::tls_key_file>},
    {"tls-key-file-pass", "", true, "Password of an encrypted tls-key-file",
     SetString<&ServerConfig::tls_key_file_pass>, GetString<&ServerConfig::tls_key_file_pass>},
    {"tls-ca-cert-file", "", true, "CA certificates (PEM) that client certificates must chain to",
     SetString<&ServerConfig::tls_ca_cert_file>, GetString<&ServerConfig::tls_ca_cert_file>},
    {"tls-ca-cert-dir", "", true, "Directory of CA certificates (c_rehash layout)",
     SetString<&ServerConfig::tls_ca_cert_dir>, GetString<&ServerConfig::tls_ca_cert_dir>},
    {"tls-auth-clients", "", true,
     "Client certificates: yes (required), optional (verified if sent) or no",
     SetTlsAuthClients, GetString<&ServerConfig::tls_auth_clients>},
    {"tls-protocols", "", true,
     "Allowed protocols among TLSv1 TLSv1.1 TLSv1.2 TLSv1.3 (empty: TLSv1.2 TLSv1.3)",
     SetTlsProtocols, GetString<&ServerConfig::tls_protocols>},
    {"tls-ciphers", "", true, "TLSv1.2 cipher list (OpenSSL syntax; empty: OpenSSL's default)",
     SetString<&ServerConfig::tls_ciphers>, GetString<&ServerConfig::tls_ciphers>},
    {"tls-ciphersuites", "", true, "TLSv1.3 cipher suites (empty: OpenSSL's default)",
     SetString<&ServerConfig::tls_ciphersuites>, GetString<&ServerConfig::tls_ciphersuites>},
    {"tls-prefer-server-ciphers", "", true, "Choose the cipher by the server's preference",
     SetBool<&ServerConfig::tls_prefer_server_ciphers>,
     GetBool<&ServerConfig::tls_prefer_server_ciphers>},
    {"tls-dh-params-file", "", true, "DH parameters (PEM; empty: OpenSSL's built-in groups)",
     SetString<&ServerConfig::tls_dh_params_file>, GetString<&ServerConfig::tls_dh_params_file>},
    {"tls-session-caching", "", true, "Resumption of TLS sessions",
     SetBool<&ServerConfig::tls_session_caching>, GetBool<&ServerConfig::tls_session_caching>},
    {"tls-session-cache-size", "", true, "TLS sessions kept for resumption",
     SetInt<&ServerConfig::tls_session_cache_size, 0, 2147483647>,
     GetInt<&ServerConfig::tls_session_cache_size>},
    {"tls-session-cache-timeout", "", true, "Seconds a cached TLS session stays resumable",
     SetInt<&ServerConfig::tls_session_cache_timeout, 0, 2147483647>,
     GetInt<&ServerConfig::tls_session_cache_timeout>},
    {"http-tls", "", true, "The HTTP port speaks HTTPS only (tls-* certificates)",
     SetBool<&ServerConfig::http_tls>, GetBool<&ServerConfig::http_tls>},
    {"dir", "", false, "Data directory", SetString<&ServerConfig::dir>,
     GetString<&ServerConfig::dir>},
    {"backup-dir", "", true, "Backup directory of SAVE and BGSAVE (empty: <dir>/backups)",
     SetString<&ServerConfig::backup_dir>, GetString<&ServerConfig::backup_dir>},
    {"wal-sync", "appendfsync", false, "WAL sync policy: always, everysec or none", SetWalSync,
     GetString<&ServerConfig::wal_sync>},
    {"cluster", "", false, "Run as a node of a cluster (docs/cluster.md)",
     SetBool<&ServerConfig::cluster>, GetBool<&ServerConfig::cluster>},
    {"node-id", "", false, "This node's id in the cluster (default: host:cluster-port)",
     SetString<&ServerConfig::node_id>, GetString<&ServerConfig::node_id>},
    {"cluster-port", "", false, "Port of the cluster transport (0: any free port)",
     SetInt<&ServerConfig::cluster_port, 0, 65535>, GetInt<&ServerConfig::cluster_port>},
    {"announce-address", "cluster-announce-ip", false,
     "Address the other nodes reach this one at (empty: the bind address; required behind NAT)",
     SetString<&ServerConfig::announce_address>, GetString<&ServerConfig::announce_address>},
    {"announce-port", "cluster-announce-bus-port", false,
     "Cluster port the other nodes reach this one at (0: cluster-port as bound)",
     SetInt<&ServerConfig::announce_port, 0, 65535>, GetInt<&ServerConfig::announce_port>},
    {"seeds", "", false, "Cluster addresses to join through, host:port,host:port",
     SetString<&ServerConfig::seeds>, GetString<&ServerConfig::seeds>},
    {"cluster-replace", "", false,
     "A dead member's id: this new node takes its place (its tokens and ranges) once it sees it down",
     SetString<&ServerConfig::cluster_replace>, GetString<&ServerConfig::cluster_replace>},
    {"cluster-name", "", false, "Nodes of other clusters are ignored",
     SetString<&ServerConfig::cluster_name>, GetString<&ServerConfig::cluster_name>},
    {"cluster-secret", "", true,
     "Secrets cluster connections must prove, comma-separated: \"new,old\" during a rotation "
     "(empty: none; docs/cluster-security.md)",
     SetClusterSecret, GetString<&ServerConfig::cluster_secret>},
    {"tls-cluster", "", false,
     "Mutual TLS between nodes (tls-cluster-*-file, else tls-cert-file, tls-key-file, tls-ca-cert-file)",
     SetBool<&ServerConfig::tls_cluster>, GetBool<&ServerConfig::tls_cluster>},
    {"tls-cluster-cert-file", "", true, "This node's certificate chain (PEM) for tls-cluster (empty: tls-cert-file)",
     SetString<&ServerConfig::tls_cluster_cert_file>,
     GetString<&ServerConfig::tls_cluster_cert_file>},
    {"tls-cluster-key-file", "", true, "This node's private key (PEM) for tls-cluster (empty: tls-key-file)",
     SetString<&ServerConfig::tls_cluster_key_file>,
     GetString<&ServerConfig::tls_cluster_key_file>},
    {"tls-cluster-ca-cert-file", "", true,
     "CAs a peer's certificate must chain to under tls-cluster (empty: tls-ca-cert-file)",
     SetString<&ServerConfig::tls_cluster_ca_cert_file>,
     GetString<&ServerConfig::tls_cluster_ca_cert_file>},
    {"rack", "", false, "This node's rack: replicas spread over racks",
     SetString<&ServerConfig::rack>, GetString<&ServerConfig::rack>},
    {"weight", "", false, "This node's share of the data relative to others (> 0)", SetWeight,
     GetString<&ServerConfig::weight>},
    {"replicas", "", false, "Replicas of each key (N)", SetInt<&ServerConfig::replicas, 1, 16>,
     GetInt<&ServerConfig::replicas>},
    {"write-quorum", "", false, "Replicas that must store a write (W)",
     SetInt<&ServerConfig::write_quorum, 1, 16>, GetInt<&ServerConfig::write_quorum>},
    {"read-quorum", "", false, "Replicas that must answer a read (R)",
     SetInt<&ServerConfig::read_quorum, 1, 16>, GetInt<&ServerConfig::read_quorum>},
    {"hinted-handoff", "", false, "Keep writes for down replicas and deliver them later",
     SetBool<&ServerConfig::hinted_handoff>, GetBool<&ServerConfig::hinted_handoff>},
    {"hint-window", "", false, "Seconds a hint for a down replica is kept",
     SetInt<&ServerConfig::hint_window, 1, 30 * 86400>, GetInt<&ServerConfig::hint_window>},
    {"max-clock-drift", "", false,
     "Seconds a timestamp from another node may move this node's clock past its wall clock",
     SetInt<&ServerConfig::max_clock_drift, 0, 3600>, GetInt<&ServerConfig::max_clock_drift>},
    {"tombstone-grace", "", false,
     "Seconds before a delete every replica stored is collected (>= hint-window)",
     SetInt<&ServerConfig::tombstone_grace, 1, 365 * 86400>,
     GetInt<&ServerConfig::tombstone_grace>},
    {"transfer-rate", "", true,
     "Bytes per second a node receives ranges at during a topology change (0: no limit)",
     SetMemory<&ServerConfig::transfer_rate>, GetMemory<&ServerConfig::transfer_rate>},
    {"anti-entropy-interval", "", false,
     "Seconds between anti-entropy rounds with the other replicas (0: only cairn cluster repair)",
     SetInt<&ServerConfig::anti_entropy_interval, 0, 30 * 86400>,
     GetInt<&ServerConfig::anti_entropy_interval>},
    {"enable-debug-command", "", false,
     "DEBUG command: no, yes or local (loopback only); for tests (fault injection)",
     SetDebugCommand, GetString<&ServerConfig::enable_debug_command>},
    {"io-threads", "", false, "I/O threads (0: one per core)",
     SetInt<&ServerConfig::io_threads, 0, 128>, GetInt<&ServerConfig::io_threads>},
    {"requirepass", "", true, "Password of the default user (empty: none)",
     SetString<&ServerConfig::requirepass>, GetString<&ServerConfig::requirepass>},
    {"users", "", true, "ACL users as name:password,name:password", SetUsers, GetUsers},
    {"aclfile", "", false, "ACL users file (ACL LOAD / ACL SAVE; loaded at startup)",
     SetString<&ServerConfig::aclfile>, GetString<&ServerConfig::aclfile>},
    {"acllog-max-len", "", true, "Entries ACL LOG keeps",
     SetInt<&ServerConfig::acllog_max_len, 0, 1000000>, GetInt<&ServerConfig::acllog_max_len>},
    {"acl-pubsub-default", "", true,
     "Channels of new ACL users: resetchannels (none) or allchannels",
     SetPubsubDefault, GetString<&ServerConfig::acl_pubsub_default>},
    {"protected-mode", "", true, "Refuse non-loopback clients when no password is set",
     SetBool<&ServerConfig::protected_mode>, GetBool<&ServerConfig::protected_mode>},
    {"maxmemory", "", true, "Memory limit for writes (bytes, 0: none)",
     SetMemory<&ServerConfig::maxmemory>, GetMemory<&ServerConfig::maxmemory>},
    {"maxclients", "", true, "Maximum connected clients",
     SetInt<&ServerConfig::maxclients, 1, 1000000>, GetInt<&ServerConfig::maxclients>},
    {"databases", "", false, "Number of logical databases",
     SetInt<&ServerConfig::databases, 1, 256>, GetInt<&ServerConfig::databases>},
    {"block-cache-size", "", false, "Engine block cache (bytes)",
     SetMemory<&ServerConfig::block_cache_size>, GetMemory<&ServerConfig::block_cache_size>},
    {"write-buffer-size", "", false, "Engine memtable size (bytes)",
     SetMemory<&ServerConfig::write_buffer_size>, GetMemory<&ServerConfig::write_buffer_size>},
    {"row-cache-size", "", false, "Engine row cache (bytes, 0: off)",
     SetMemory<&ServerConfig::row_cache_size>, GetMemory<&ServerConfig::row_cache_size>},
    {"blob-min-size", "", false,
     "Values of this many bytes or more are kept in blob files, out of the LSM tree (0: never)",
     SetMemory<&ServerConfig::blob_min_size>, GetMemory<&ServerConfig::blob_min_size>},
    {"memtable-hash-index", "", false,
     "Hash index over the memtable: faster GETs of recent keys, slightly slower writes",
     SetBool<&ServerConfig::memtable_hash_index>, GetBool<&ServerConfig::memtable_hash_index>},
    {"busy-reply-threshold", "lua-time-limit", true,
     "Milliseconds a script runs before other clients are answered BUSY (0: never)",
     SetInt<&ServerConfig::busy_reply_threshold, 0, 100000000>,
     GetInt<&ServerConfig::busy_reply_threshold>},
    {"slowlog-log-slower-than", "", true,
     "SLOWLOG keeps commands that ran at least this many microseconds (-1: none, 0: all)",
     SetInt<&ServerConfig::slowlog_log_slower_than, -1, 2000000000>,
     GetInt<&ServerConfig::slowlog_log_slower_than>},
    {"hz", "", true,
     "Passes per second that delete keys whose expiry passed (Redis's hz; clamped to 1..500)",
     SetHz, GetInt<&ServerConfig::hz>},
    {"slowlog-max-len", "", true, "Entries SLOWLOG keeps",
     SetInt<&ServerConfig::slowlog_max_len, 0, 100000000>, GetInt<&ServerConfig::slowlog_max_len>},
    {"latency-monitor-threshold", "", true,
     "LATENCY records commands that ran at least this many milliseconds (0: off)",
     SetInt<&ServerConfig::latency_monitor_threshold, 0, 2000000000>,
     GetInt<&ServerConfig::latency_monitor_threshold>},
    {"timeout", "", true, "Close clients idle this many seconds (0: never)",
     SetInt<&ServerConfig::timeout, 0, 100000000>, GetInt<&ServerConfig::timeout>},
    {"proto-max-bulk-len", "", true, "Largest bulk string a client may send (bytes)",
     SetMemory<&ServerConfig::proto_max_bulk_len>, GetMemory<&ServerConfig::proto_max_bulk_len>},
    {"client-query-buffer-limit", "", true, "Largest pending request of a client (bytes)",
     SetMemory<&ServerConfig::client_query_buffer_limit>,
     GetMemory<&ServerConfig::client_query_buffer_limit>},
    {"client-output-buffer-limit", "", true,
     "Replies pending to one client before it is disconnected (bytes), or Redis's form "
     "'<class> <hard> <soft> <seconds> ...' (classes normal, which MONITOR clients are in, and pubsub; hard limits apply)",
     SetOutputLimit, GetMemory<&ServerConfig::client_output_buffer_limit>},
    {"pubsub-output-buffer-limit", "", true,
     "Messages pending to one subscriber before it is disconnected (bytes; 0: no limit)",
     SetMemory<&ServerConfig::pubsub_output_buffer_limit>,
     GetMemory<&ServerConfig::pubsub_output_buffer_limit>},
    {"loglevel", "", true, "debug, verbose, notice or warning", SetLogLevel,
     GetString<&ServerConfig::loglevel>},
    {"logfile", "", false, "Log file (empty: standard error)", SetString<&ServerConfig::logfile>,
     GetString<&ServerConfig::logfile>},
};

// Redis 7.0's knobs of encodings, rehashing, eviction sampling, persistence files and the
// like: cairn's storage has no such settings. CONFIG SET checks the value as Redis would
// (an integer, yes/no, a memory size, one of the words) and keeps it; CONFIG GET reports
// it (or Redis's default); nothing else reads it.
struct Knob {
  const char* name;
  const char* aliases;
  const char* default_value;
  enum Kind { kInt, kBool, kMemory, kWords, kText } kind;
  const char* words;  // kWords: the values allowed, '|'-separated
};

const Knob kKnobs[] = {
    {"hash-max-listpack-entries", "hash-max-ziplist-entries", "128", Knob::kInt, ""},
    {"hash-max-listpack-value", "hash-max-ziplist-value", "64", Knob::kInt, ""},
    {"list-max-listpack-size", "list-max-ziplist-size", "-2", Knob::kInt, ""},
    {"list-compress-depth", "", "0", Knob::kInt, ""},
    {"set-max-intset-entries", "", "512", Knob::kInt, ""},
    {"zset-max-listpack-entries", "zset-max-ziplist-entries", "128", Knob::kInt, ""},
    {"zset-max-listpack-value", "zset-max-ziplist-value", "64", Knob::kInt, ""},
    {"stream-node-max-bytes", "", "4096", Knob::kMemory, ""},
    {"stream-node-max-entries", "", "100", Knob::kInt, ""},
    {"hll-sparse-max-bytes", "", "3000", Knob::kMemory, ""},
    {"activerehashing", "", "yes", Knob::kBool, ""},
    {"activedefrag", "", "no", Knob::kBool, ""},
    {"dynamic-hz", "", "yes", Knob::kBool, ""},
    {"active-expire-effort", "", "1", Knob::kInt, ""},
    {"lazyfree-lazy-eviction", "", "no", Knob::kBool, ""},
    {"lazyfree-lazy-expire", "", "no", Knob::kBool, ""},
    {"lazyfree-lazy-server-del", "", "no", Knob::kBool, ""},
    {"lazyfree-lazy-user-del", "", "no", Knob::kBool, ""},
    {"lazyfree-lazy-user-flush", "", "no", Knob::kBool, ""},
    {"lfu-log-factor", "", "10", Knob::kInt, ""},
    {"lfu-decay-time", "", "1", Knob::kInt, ""},
    {"maxmemory-policy", "", "noeviction", Knob::kWords,
     "volatile-lru|volatile-lfu|volatile-random|volatile-ttl|allkeys-lru|allkeys-lfu|allkeys-random|noeviction"},
    {"maxmemory-samples", "", "5", Knob::kInt, ""},
    {"maxmemory-eviction-tenacity", "", "10", Knob::kInt, ""},
    {"latency-tracking", "", "yes", Knob::kBool, ""},
    {"tracking-table-max-keys", "", "1000000", Knob::kInt, ""},
    {"jemalloc-bg-thread", "", "yes", Knob::kBool, ""},
    {"no-appendfsync-on-rewrite", "", "no", Knob::kBool, ""},
    {"aof-use-rdb-preamble", "", "yes", Knob::kBool, ""},
    {"auto-aof-rewrite-percentage", "", "100", Knob::kInt, ""},
    {"auto-aof-rewrite-min-size", "", "67108864", Knob::kMemory, ""},
    {"rdbcompression", "", "yes", Knob::kBool, ""},
    {"rdbchecksum", "", "yes", Knob::kBool, ""},
    {"stop-writes-on-bgsave-error", "", "yes", Knob::kBool, ""},
    {"dbfilename", "", "dump.rdb", Knob::kText, ""},
    {"appendfilename", "", "appendonly.aof", Knob::kText, ""},
    {"lua-replicate-commands", "", "yes", Knob::kBool, ""},
    {"oom-score-adj", "", "no", Knob::kWords, "no|yes|relative|absolute"},
    {"client-query-buffer-limit-check", "", "yes", Knob::kBool, ""},
    {"notify-keyspace-events", "", "", Knob::kWords, ""},  // keyspace events: none here
};

const Knob* FindKnob(std::string_view name) {
  const std::string lower = absl::AsciiStrToLower(ToAbsl(name));
  for (const Knob& k : kKnobs) {
    if (lower == k.name) return &k;
    for (absl::string_view alias : absl::StrSplit(k.aliases, ',', absl::SkipEmpty())) {
      if (lower == alias) return &k;
    }
  }
  return nullptr;
}

absl::Status CheckKnob(const Knob& k, std::string_view value) {
  std::string v = absl::AsciiStrToLower(ToAbsl(value));
  switch (k.kind) {
    case Knob::kInt: {
      int64_t n;
      return absl::SimpleAtoi(v, &n) ? absl::OkStatus() : Invalid("argument couldn't be parsed into an integer");
    }
    case Knob::kBool:
      return v == "yes" || v == "no" ? absl::OkStatus() : Invalid("argument must be 'yes' or 'no'");
    case Knob::kMemory: {
      uint64_t bytes;
      return ParseMemory(v, &bytes);
    }
    case Knob::kWords:
      if (std::string_view(k.name) == "notify-keyspace-events") {
        return v.empty() ? absl::OkStatus() : Invalid("keyspace notifications are not supported by cairn");
      }
      for (absl::string_view w : absl::StrSplit(k.words, '|')) {
        if (v == w) return absl::OkStatus();
      }
      return Invalid("argument(s) must be one of the following: " +
                     std::string(absl::StrReplaceAll(k.words, {{"|", ", "}})));
    case Knob::kText:
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

const Option* Find(std::string_view name) {
  const std::string lower = absl::AsciiStrToLower(ToAbsl(name));
  for (const Option& o : kOptions) {
    if (lower == o.name) return &o;
    for (absl::string_view alias : absl::StrSplit(o.aliases, ',', absl::SkipEmpty())) {
      if (lower == alias) return &o;
    }
  }
  return nullptr;
}

}  // namespace

bool TlsWanted(const ServerConfig& c) { return c.tls_port != 0 || c.http_tls; }

net::TlsSettings ServerTlsSettings(const ServerConfig& c) {
  net::TlsSettings s;
  s.role = net::TlsRole::kServer;
  s.cert_file = c.tls_cert_file;
  s.key_file = c.tls_key_file;
  s.key_file_pass = c.tls_key_file_pass;
  s.ca_cert_file = c.tls_ca_cert_file;
  s.ca_cert_dir = c.tls_ca_cert_dir;
  s.verify = c.tls_auth_clients == "no"         ? net::PeerVerify::kNone
             : c.tls_auth_clients == "optional" ? net::PeerVerify::kOptional
                                                : net::PeerVerify::kRequired;
  s.protocols = c.tls_protocols;
  s.ciphers = c.tls_ciphers;
  s.ciphersuites = c.tls_ciphersuites;
  s.prefer_server_ciphers = c.tls_prefer_server_ciphers;
  s.dh_params_file = c.tls_dh_params_file;
  s.session_caching = c.tls_session_caching;
  s.session_cache_size = c.tls_session_cache_size;
  s.session_cache_timeout = c.tls_session_cache_timeout;
  return s;
}

absl::Status ParseMemory(std::string_view text, uint64_t* bytes) {
  std::string s = absl::AsciiStrToLower(absl::StripAsciiWhitespace(ToAbsl(text)));
  uint64_t mul = 1;
  struct Unit {
    const char* suffix;
    uint64_t mul;
  };
  static constexpr Unit kUnits[] = {{"kb", 1024},       {"mb", 1024 * 1024},
                                    {"gb", 1ull << 30}, {"k", 1000},
                                    {"m", 1000 * 1000}, {"g", 1000ull * 1000 * 1000}};
  for (const Unit& u : kUnits) {
    if (absl::EndsWith(s, u.suffix)) {
      s.resize(s.size() - std::string_view(u.suffix).size());
      mul = u.mul;
      break;
    }
  }
  uint64_t n;
  if (s.empty() || !absl::SimpleAtoi(s, &n) || (n != 0 && mul > UINT64_MAX / n)) {
    return Invalid("argument must be a memory value");
  }
  *bytes = n * mul;
  return absl::OkStatus();
}

ServerConfig Config::Get() const {
  absl::MutexLock l(&mu_);
  return values_;
}

absl::Status Config::Set(std::string_view name, std::string_view value, bool at_runtime) {
  const Option* o = Find(name);
  if (o == nullptr) {
    const Knob* k = FindKnob(name);
    if (k == nullptr) return absl::NotFoundError(absl::StrCat("unknown option '", ToAbsl(name), "'"));
    if (absl::Status s = CheckKnob(*k, value); !s.ok()) return s;  // Redis's words
    std::string v(value);
    if (k->kind == Knob::kBool || k->kind == Knob::kWords) absl::AsciiStrToLower(&v);
    absl::MutexLock l(&mu_);
    values_.knobs[k->name] = std::move(v);
    return absl::OkStatus();
  }
  if (at_runtime && !o->runtime) {
    return absl::FailedPreconditionError(
        absl::StrCat("can't set immutable config '", o->name, "'"));
  }
  absl::MutexLock l(&mu_);
  ServerConfig next = values_;
  if (absl::Status s = o->set(next, value); !s.ok()) {
    return Invalid(
        absl::StrCat("invalid value '", ToAbsl(value), "' for '", o->name, "': ", s.message()));
  }
  values_ = std::move(next);
  Publish(values_);
  return absl::OkStatus();
}

std::vector<std::pair<std::string, std::string>> Config::Match(std::string_view pattern) const {
  absl::MutexLock l(&mu_);
  std::vector<std::pair<std::string, std::string>> out;
  for (const Option& o : kOptions) {
    bool match = GlobMatch(pattern, o.name, /*nocase=*/true);
    for (absl::string_view alias : absl::StrSplit(o.aliases, ',', absl::SkipEmpty())) {
      if (GlobMatch(pattern, std::string_view(alias.data(), alias.size()), true)) {
        out.emplace_back(std::string(alias), o.get(values_));
      }
    }
    if (match) out.emplace_back(o.name, o.get(values_));
  }
  for (const Knob& k : kKnobs) {
    auto it = values_.knobs.find(k.name);
    const std::string value = it != values_.knobs.end() ? it->second : k.default_value;
    if (GlobMatch(pattern, k.name, /*nocase=*/true)) out.emplace_back(k.name, value);
    for (absl::string_view alias : absl::StrSplit(k.aliases, ',', absl::SkipEmpty())) {
      if (GlobMatch(pattern, std::string_view(alias.data(), alias.size()), true)) {
        out.emplace_back(std::string(alias), value);
      }
    }
  }
  return out;
}

absl::Status Config::LoadFile(const std::string& path) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return Invalid(
        absl::StrCat(path, ": ", ToAbsl(e.description()), " at line ", e.source().begin.line));
  }
  for (const auto& [key, node] : table) {
    std::string text;
    if (const auto* s = node.as_string()) {
      text = s->get();
    } else if (const auto* i = node.as_integer()) {
      text = absl::StrCat(i->get());
    } else if (const auto* b = node.as_boolean()) {
      text = b->get() ? "yes" : "no";
    } else if (const auto* a = node.as_array()) {
      std::vector<std::string> items;
      for (const auto& item : *a) {
        if (const auto* s = item.as_string()) items.push_back(s->get());
      }
      text = absl::StrJoin(items, ",");
    } else {
      return Invalid(
          absl::StrCat(path, ": option '", ToAbsl(key.str()), "' has an unsupported type"));
    }
    if (absl::Status s = Set(key.str(), text, /*at_runtime=*/false); !s.ok()) {
      return Invalid(absl::StrCat(path, ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

std::vector<std::pair<std::string, std::string>> Config::Options() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Option& o : kOptions) {
    std::string help = o.help;
    if (*o.aliases) absl::StrAppend(&help, " (alias: ", o.aliases, ")");
    if (o.runtime) absl::StrAppend(&help, " [CONFIG SET]");
    out.emplace_back(o.name, help);
  }
  return out;
}

int IoThreadsFor(unsigned cores) {
  if (cores <= 2) return 1;
  return static_cast<int>(std::min(cores, 128u));
}

}  // namespace cairn::server
