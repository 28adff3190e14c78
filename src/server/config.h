// Server configuration: one table of options (name, Redis-compatible aliases, type,
// default, whether CONFIG SET may change it at run time). The same table drives the TOML
// file (--config), the command-line flags (--port 7400) and CONFIG GET/SET, so an option
// is declared exactly once (config.cc). docs/configuration.md lists them.
#ifndef CAIRN_SERVER_CONFIG_H_
#define CAIRN_SERVER_CONFIG_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "net/tls_context.h"

namespace cairn::server {

// A port option set to "auto": any free port, chosen by the kernel when the server binds
// (tests; the ready log line and CONFIG GET then tell the port).
inline constexpr int kAutoPort = -1;

struct ServerConfig {
  std::string bind = "127.0.0.1";
  int port = 7379;       // 0: no plain RESP port (Redis's meaning); kAutoPort
  int http_port = 7380;  // 0: no HTTP API; kAutoPort
  // TLS (docs/tls.md), with Redis 7's names and defaults. The TLS context is built when
  // tls_port is set or http_tls is on; CONFIG SET of any tls-* option rebuilds it.
  int tls_port = 0;  // 0: off; kAutoPort
  std::string tls_cert_file, tls_key_file, tls_key_file_pass;
  std::string tls_ca_cert_file, tls_ca_cert_dir;
  std::string tls_auth_clients = "yes";  // yes | no | optional
  std::string tls_protocols;             // empty: "TLSv1.2 TLSv1.3"
  std::string tls_ciphers, tls_ciphersuites;
  bool tls_prefer_server_ciphers = false;
  std::string tls_dh_params_file;
  bool tls_session_caching = true;
  int tls_session_cache_size = 20480;
  int tls_session_cache_timeout = 300;
  bool http_tls = false;  // the HTTP port speaks HTTPS only, with the tls-* certificates
  std::string dir = "./cairn-data";
  // Where SAVE and BGSAVE write their backups (docs/backup.md); empty: <dir>/backups.
  std::string backup_dir;
  std::string wal_sync = "everysec";  // always | everysec | none
  // DEBUG: "no", "yes", or "local" (loopback clients only). Startup only, as in Redis;
  // when enabled the engine runs over a fault-injecting Env (DEBUG FAULT-INJECT).
  std::string enable_debug_command = "no";
  int io_threads = 0;                 // 0: IoThreadsFor(cores)
  std::string requirepass;
  std::vector<std::pair<std::string, std::string>> users;  // ACL users: name, password
  std::string aclfile;  // ACL LOAD/SAVE's file (empty: none); loaded at startup
  int acllog_max_len = 128;
  std::string acl_pubsub_default = "resetchannels";  // or allchannels: new users' channels
  bool protected_mode = true;
  uint64_t maxmemory = 0;  // bytes; 0: no limit
  int maxclients = 10000;
  int databases = 16;
  uint64_t block_cache_size = 256 << 20;
  uint64_t write_buffer_size = 64 << 20;
  uint64_t row_cache_size = 0;
  uint64_t blob_min_size = 64 << 10;  // engine::Options::min_blob_size
  bool memtable_hash_index = true;
  int timeout = 0;  // seconds a client may stay idle; 0: forever
  uint64_t proto_max_bulk_len = 512 << 20;
  uint64_t client_query_buffer_limit = 1ull << 30;
  // Per client, reply bytes produced by one batch of pipelined commands; 0: no limit.
  // Above the largest value a client may store (proto-max-bulk-len), so any value written
  // can be read back.
  uint64_t client_output_buffer_limit = 1ull << 30;
  uint64_t pubsub_output_buffer_limit = 32ull << 20;  // a subscriber's pending messages
  std::string loglevel = "notice";
  std::string logfile;  // empty: stderr

  // Cluster mode (docs/cluster.md). Startup only.
  bool cluster = false;
  std::string node_id;        // default: host:cluster-port
  int cluster_port = 7381;    // 0: any free port (tests)
  // What the other nodes are told to reach this one at (nodes behind NAT, or bound to
  // 0.0.0.0): empty: the bind address (docs/cluster.md, "Addresses"); 0: the bound port.
  std::string announce_address;
  int announce_port = 0;
  std::string seeds;          // comma-separated cluster addresses
  std::string cluster_replace;  // a dead member this new node takes the place of
  std::string cluster_name = "cairn";
  // Comma-separated shared secrets for the cluster handshake (docs/cluster-security.md):
  // the first proves, any accepts. Empty: none. CONFIG SET applies to new connections.
  std::string cluster_secret;
  // Mutual TLS between nodes (docs/cluster-security.md): each node presents its
  // certificate and requires the peer's to chain to the CA file. tls-cluster is startup
  // only; the files are read again on CONFIG SET (new connections).
  bool tls_cluster = false;
  std::string tls_cluster_cert_file;
  std::string tls_cluster_key_file;
  std::string tls_cluster_ca_cert_file;
  std::string rack;
  std::string weight = "1";   // > 0
  int replicas = 3;           // N
  int write_quorum = 2;       // W
  int read_quorum = 2;        // R
  bool hinted_handoff = true;
  // Redis's encoding and tuning knobs that have no meaning here (config.cc's kKnobs):
  // accepted, checked, kept and reported, as Dragonfly does. Set ones only; the rest
  // report Redis's default.
  std::map<std::string, std::string> knobs;
  int busy_reply_threshold = 5000;
  int slowlog_log_slower_than = 10000;  // microseconds; -1: never, 0: every command
  int slowlog_max_len = 128;
  int hz = 10;  // active expiry passes per second (clamped to 1..500 where used)
  int latency_monitor_threshold = 0;  // milliseconds; 0: off  // ms a script runs before others are answered BUSY
  int hint_window = 10800;       // seconds a hint is kept for a down replica
  int max_clock_drift = 300;     // seconds an observed timestamp may lead the wall clock
  int tombstone_grace = 86400;   // seconds before an acknowledged tombstone is collected (> hint_window)
  uint64_t transfer_rate = 64 << 20;
  int anti_entropy_interval = 600;  // seconds between anti-entropy rounds (0: only when asked)  // bytes per second a node receives ranges at (0: no limit)
};

// The configuration of a running server. Thread-safe: CONFIG SET may run while other
// threads read a snapshot with Get().
class Config {
 public:
  Config() { Publish(values_); }
  explicit Config(ServerConfig initial) : values_(std::move(initial)) { Publish(values_); }

  // A copy of the current values.
  ServerConfig Get() const;

  // Values read on every command, without the lock or a copy.
  uint64_t maxmemory() const { return maxmemory_.load(std::memory_order_relaxed); }
  uint64_t client_output_buffer_limit() const {
    return output_limit_.load(std::memory_order_relaxed);
  }
  uint64_t client_query_buffer_limit() const {
    return query_limit_.load(std::memory_order_relaxed);
  }
  int timeout() const { return timeout_.load(std::memory_order_relaxed); }
  uint64_t pubsub_output_buffer_limit() const { return pubsub_limit_.load(std::memory_order_relaxed); }
  int slowlog_log_slower_than() const { return slowlog_us_.load(std::memory_order_relaxed); }
  int slowlog_max_len() const { return slowlog_len_.load(std::memory_order_relaxed); }
  int latency_monitor_threshold() const { return latency_ms_.load(std::memory_order_relaxed); }
  int64_t busy_reply_threshold() const { return busy_threshold_.load(std::memory_order_relaxed); }
  // requirepass or users set: clients must authenticate.
  bool auth_required() const { return auth_required_.load(std::memory_order_relaxed); }

  // Sets option `name` (or an alias) from its text form, as in the TOML file or on the
  // command line. InvalidArgument names the option and the problem.
  absl::Status Set(std::string_view name, std::string_view value, bool at_runtime);
  // CONFIG GET: (name, value) for every option whose name matches the glob pattern.
  std::vector<std::pair<std::string, std::string>> Match(std::string_view pattern) const;
  // Loads a TOML file: every key is an option name.
  absl::Status LoadFile(const std::string& path);

  // Every option name and its help text (for --help and docs).
  static std::vector<std::pair<std::string, std::string>> Options();

 private:
  void Publish(const ServerConfig& v) {
    maxmemory_.store(v.maxmemory, std::memory_order_relaxed);
    output_limit_.store(v.client_output_buffer_limit, std::memory_order_relaxed);
    query_limit_.store(v.client_query_buffer_limit, std::memory_order_relaxed);
    auth_required_.store(!v.requirepass.empty() || !v.users.empty(), std::memory_order_relaxed);
    timeout_.store(v.timeout, std::memory_order_relaxed);
    busy_threshold_.store(v.busy_reply_threshold, std::memory_order_relaxed);
    pubsub_limit_.store(v.pubsub_output_buffer_limit, std::memory_order_relaxed);
    slowlog_us_.store(v.slowlog_log_slower_than, std::memory_order_relaxed);
    slowlog_len_.store(v.slowlog_max_len, std::memory_order_relaxed);
    latency_ms_.store(v.latency_monitor_threshold, std::memory_order_relaxed);
  }

  mutable absl::Mutex mu_;
  ServerConfig values_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> maxmemory_{0}, output_limit_{0}, query_limit_{0};
  std::atomic<bool> auth_required_{false};
  std::atomic<int> timeout_{0};
  std::atomic<int64_t> busy_threshold_{5000};
  std::atomic<uint64_t> pubsub_limit_{32ull << 20};
  std::atomic<int> slowlog_us_{10000}, slowlog_len_{128}, latency_ms_{0};
};

// Whether the options ask for a TLS context (a TLS port or HTTPS), and its settings.
bool TlsWanted(const ServerConfig& c);
net::TlsSettings ServerTlsSettings(const ServerConfig& c);

// The I/O threads for io-threads 0 on a machine with `cores` cores: one per core, but one
// on two cores or fewer, where a second I/O thread competes with the clients and the
// engine's threads for a core and its waits show up as milliseconds of tail latency
// (docs/configuration.md#io-threads).
int IoThreadsFor(unsigned cores);

// "64mb", "1gb", "100" (Redis's memory units: k=1000, kb=1024, ...).
absl::Status ParseMemory(std::string_view text, uint64_t* bytes);

}  // namespace cairn::server

#endif  // CAIRN_SERVER_CONFIG_H_
