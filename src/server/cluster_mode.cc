#include "server/cluster_mode.h"

#include <chrono>
#include <map>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "base/glob.h"
#include "base/status.h"
#include "cairn/env.h"
#include "cluster/asio_transport.h"
#include "cluster/coordinator.h"
#include "cluster/engine_replica_store.h"
#include "cluster/hint_store.h"
#include "cluster/hlc.h"
#include "cluster/maintenance.h"
#include "cluster/membership.h"
#include "cluster/partition_transport.h"
#include "cluster/vector_clock.h"
#include "store/record.h"

namespace cairn::server {

namespace pb = cluster::pb;

namespace {

int64_t UnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// <dir>/CLUSTER: "generation incarnation\n". The generation is kept from the first start
// (it orders token placement); the incarnation counts starts (a restart supersedes the
// heartbeats the others remember).
absl::Status LoadIdentity(const std::string& dir, uint64_t* generation, uint64_t* incarnation) {
  Env* env = Env::Default();
  const std::string path = dir + "/CLUSTER";
  std::string text;
  *generation = static_cast<uint64_t>(UnixMs());
  *incarnation = 1;
  if (env->FileExists(path)) {
    CAIRN_RETURN_IF_ERROR(ReadFileToString(env, path, &text));
    std::vector<std::string> parts = absl::StrSplit(absl::StripAsciiWhitespace(text), ' ');
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], generation) ||
        !absl::SimpleAtoi(parts[1], incarnation)) {
      return CorruptionError(absl::StrCat(path, " is not \"generation incarnation\""));
    }
    ++*incarnation;
  }
  return WriteStringToFileSync(env, absl::StrCat(*generation, " ", *incarnation, "\n"), path);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ClusterNode>> ClusterNode::Start(const ServerConfig& cfg,
                                                                engine::DB* db, int resp_port,
                                                                int http_port) {
  if (cfg.write_quorum > cfg.replicas || cfg.read_quorum > cfg.replicas) {
    return absl::InvalidArgumentError("write-quorum and read-quorum cannot exceed replicas");
  }
  if (cfg.tombstone_grace < cfg.hint_window) {
    // A hint of an older value delivered after its key's tombstone was collected would
    // bring the key back.
    return absl::InvalidArgumentError("tombstone-grace cannot be shorter than hint-window");
  }
  std::unique_ptr<ClusterNode> node(new ClusterNode());
  ClusterNode* raw = node.get();
  node->w_ = cfg.write_quorum;
  node->r_ = cfg.read_quorum;
  uint64_t generation, incarnation;
  CAIRN_RETURN_IF_ERROR(LoadIdentity(cfg.dir, &generation, &incarnation));

  cluster::AsioTransport::Options t;
  t.bind = cfg.bind;
  t.port = cfg.cluster_port;
  auto transport = cluster::AsioTransport::Start(
      t, [raw](pb::Envelope request, cluster::Transport::Respond respond) {
        if (!raw->ready_.load(std::memory_order_acquire)) {
          pb::Envelope reply;
          reply.mutable_error()->set_code(pb::Error::UNAVAILABLE);
          reply.mutable_error()->set_message("node starting");
          return respond(std::move(reply));
        }
        if (request.has_gossip()) {
          pb::Envelope reply;
          *reply.mutable_gossip() = raw->membership_->HandleGossip(request.gossip());
          return respond(std::move(reply));
        }
        if (raw->coordinator_->Handle(request, respond)) return;
        pb::Envelope reply;
        reply.mutable_error()->set_code(pb::Error::INVALID);
        reply.mutable_error()->set_message("unknown request");
        respond(std::move(reply));
      });
  if (!transport.ok()) return transport.status();
  const std::string address = absl::StrCat(cfg.bind, ":", (*transport)->port());
  node->id_ = cfg.node_id.empty() ? address : cfg.node_id;

  pb::NodeState self;
  self.set_id(node->id_);
  self.set_cluster_address(address);
  self.set_resp_address(absl::StrCat(cfg.bind, ":", resp_port));
  self.set_http_address(absl::StrCat(cfg.bind, ":", http_port));
  self.set_rack(cfg.rack);
  double weight = 1;
  (void)absl::SimpleAtod(cfg.weight, &weight);
  self.set_weight(weight);
  self.set_generation(generation);
  self.set_incarnation(incarnation);
  cluster::Membership::Options m;
  m.cluster_name = cfg.cluster_name;
  for (absl::string_view seed : absl::StrSplit(cfg.seeds, ',', absl::SkipWhitespace())) {
    m.seeds.emplace_back(absl::StripAsciiWhitespace(seed));
  }
  const bool sync = cfg.wal_sync == "always";
  node->clock_ = std::make_unique<cluster::HybridClock>();
  node->store_ = std::make_unique<cluster::EngineReplicaStore>(db, sync);
  if (cfg.hinted_handoff) {
    node->hints_ = std::make_unique<cluster::HintStore>(db, sync, node->clock_.get());
    CAIRN_RETURN_IF_ERROR(node->hints_->Open());
  }
  node->partition_ = std::make_unique<cluster::PartitionTransport>(transport->get());
  node->membership_ = std::make_unique<cluster::Membership>(m, self, node->partition_.get());
  cluster::Coordinator::Options c;
  c.replicas = cfg.replicas;
  node->coordinator_ = std::make_unique<cluster::Coordinator>(
      c, node->membership_.get(), node->partition_.get(), node->store_.get(), node->clock_.get(),
      node->hints_.get());
  cluster::Maintenance::Options mo;
  mo.hint_window = absl::Seconds(cfg.hint_window);
  mo.tombstone_grace = absl::Seconds(cfg.tombstone_grace);
  node->maintenance_ = std::make_unique<cluster::Maintenance>(
      mo, node->membership_.get(), node->partition_.get(), node->hints_.get(), node->store_.get(),
      node->clock_.get());
  node->transport_ = std::move(*transport);
  node->ready_.store(true, std::memory_order_release);
  node->membership_->Start();
  node->maintenance_->Start();
  return node;
}

ClusterNode::~ClusterNode() {
  maintenance_.reset();  // its thread calls through the transport
  if (membership_ != nullptr) membership_->Stop();
  transport_.reset();  // before what its handler uses
}

int ClusterNode::port() const { return transport_->port(); }

std::string ClusterInfo(ClusterNode& node) {
  auto ring = node.membership().ring();
  const auto members = node.membership().Members();
  const std::vector<double> share = ring->Ownership(node.coordinator().options().replicas);
  int alive = 0;
  for (const auto& m : members) alive += m.alive;
  std::string out = absl::StrCat(
      "cluster_enabled:1\r\n", "cluster_node_id:", node.id(), "\r\n",
      "cluster_members:", members.size(), "\r\n", "cluster_members_alive:", alive, "\r\n",
      "cluster_ring_members:", ring->members().size(), "\r\n",
      "cluster_ring_version:", node.membership().ring_version(), "\r\n",
      "cluster_replicas:", node.coordinator().options().replicas, "\r\n",
      "cluster_write_quorum:", node.default_w(), "\r\n", "cluster_read_quorum:", node.default_r(),
      "\r\n", "cluster_quorum_failures:", node.coordinator().stats().quorum_failures.load(), "\r\n");
  auto& st = node.coordinator().stats();
  absl::StrAppendFormat(&out, "cluster_writes:%d\r\ncluster_write_fanout_avg_us:%.1f\r\n",
                        st.writes.load(),
                        st.writes.load() ? double(st.write_micros.load()) / st.writes.load() : 0.0);
  absl::StrAppendFormat(&out, "cluster_reads:%d\r\ncluster_read_fanout_avg_us:%.1f\r\n",
                        st.reads.load(),
                        st.reads.load() ? double(st.read_micros.load()) / st.reads.load() : 0.0);
  const auto& ms = node.maintenance().stats();
  const cluster::HintStore* hints = node.hints();
  absl::StrAppend(
      &out, "cluster_forwarded_writes:", st.forwarded.load(), "\r\n",
      "cluster_read_repairs:", st.read_repairs.load(), "\r\n",
      "cluster_sibling_reads:", st.sibling_reads.load(), "\r\n",
      "cluster_siblings_dropped:", node.store().siblings_dropped(), "\r\n",
      "cluster_hinted_handoff:", hints != nullptr ? "on" : "off", "\r\n",
      "cluster_hints_pending:", hints != nullptr ? hints->backlog() : 0, "\r\n",
      "cluster_hints_stored:", hints != nullptr ? hints->stored_total() : 0, "\r\n",
      "cluster_hints_sent:", st.hints_sent.load(), "\r\n",
      "cluster_hints_delivered:", ms.hints_delivered.load(), "\r\n",
      "cluster_hints_expired:", ms.hints_expired.load(), "\r\n",
      "cluster_hint_delivery_failures:", ms.hint_delivery_failures.load(), "\r\n",
      "cluster_hint_failures:", st.hint_failures.load(), "\r\n",
      "cluster_tombstones_seen_by_all:", st.tombstones_seen.load(), "\r\n",
      "cluster_tombstones_collected:", ms.tombstones_collected.load(), "\r\n");
  int peer = 0;
  for (const auto& [address, p] : node.transport().Stats()) {
    const uint64_t answered = p.calls - p.errors;
    absl::StrAppendFormat(
        &out, "peer%d:address=%s,connected=%d,calls=%d,errors=%d,timeouts=%d,avg_latency_us=%.1f\r\n",
        peer++, address, p.connected ? 1 : 0, p.calls, p.errors, p.timeouts,
        answered ? double(p.latency_micros_total) / answered : 0.0);
  }
  for (size_t i = 0; i < members.size(); i++) {
    const auto& m = members[i];
    const int index = ring->IndexOf(m.state.id());
    absl::StrAppendFormat(&out, "member%d:id=%s,state=%s,cluster=%s,resp=%s,http=%s,rack=%s,owns=%.4f\r\n",
                          i, m.state.id(), m.alive ? "up" : "down", m.state.cluster_address(),
                          m.state.resp_address(), m.state.http_address(), m.state.rack(),
                          index >= 0 ? share[index] : 0.0);
  }
  return out;
}

std::string ClusterMetrics(ClusterNode& node) {
  std::string out;
  auto& st = node.coordinator().stats();
  absl::StrAppend(
      &out, "# TYPE cairn_cluster_quorum_failures_total counter\ncairn_cluster_quorum_failures_total ",
      st.quorum_failures.load(), "\n# TYPE cairn_cluster_fanout_seconds summary\n",
      "cairn_cluster_fanout_seconds_sum{op=\"write\"} ", st.write_micros.load() / 1e6, "\n",
      "cairn_cluster_fanout_seconds_count{op=\"write\"} ", st.writes.load(), "\n",
      "cairn_cluster_fanout_seconds_sum{op=\"read\"} ", st.read_micros.load() / 1e6, "\n",
      "cairn_cluster_fanout_seconds_count{op=\"read\"} ", st.reads.load(), "\n",
      "# TYPE cairn_cluster_forwarded_writes_total counter\ncairn_cluster_forwarded_writes_total ",
      st.forwarded.load(), "\n# TYPE cairn_cluster_read_repairs_total counter\n",
      "cairn_cluster_read_repairs_total ", st.read_repairs.load(),
      "\n# TYPE cairn_cluster_sibling_reads_total counter\ncairn_cluster_sibling_reads_total ",
      st.sibling_reads.load(), "\n# TYPE cairn_cluster_hints_pending gauge\n",
      "cairn_cluster_hints_pending ", node.hints() != nullptr ? node.hints()->backlog() : 0,
      "\n# TYPE cairn_cluster_hints_stored_total counter\ncairn_cluster_hints_stored_total ",
      node.hints() != nullptr ? node.hints()->stored_total() : 0,
      "\n# TYPE cairn_cluster_hints_delivered_total counter\ncairn_cluster_hints_delivered_total ",
      node.maintenance().stats().hints_delivered.load(),
      "\n# TYPE cairn_cluster_hints_expired_total counter\ncairn_cluster_hints_expired_total ",
      node.maintenance().stats().hints_expired.load(),
      "\n# TYPE cairn_cluster_tombstones_collected_total counter\n",
      "cairn_cluster_tombstones_collected_total ",
      node.maintenance().stats().tombstones_collected.load(), "\n",
      "# TYPE cairn_cluster_peer_calls_total counter\n",
      "# TYPE cairn_cluster_peer_errors_total counter\n",
      "# TYPE cairn_cluster_peer_timeouts_total counter\n",
      "# TYPE cairn_cluster_peer_latency_seconds_sum counter\n",
      "# TYPE cairn_cluster_peer_connected gauge\n");
  for (const auto& [peer, p] : node.transport().Stats()) {
    const std::string label = absl::StrCat("{peer=\"", peer, "\"} ");
    absl::StrAppend(&out, "cairn_cluster_peer_calls_total", label, p.calls, "\n",
                    "cairn_cluster_peer_errors_total", label, p.errors, "\n",
                    "cairn_cluster_peer_timeouts_total", label, p.timeouts, "\n",
                    "cairn_cluster_peer_latency_seconds_sum", label, p.latency_micros_total / 1e6,
                    "\n", "cairn_cluster_peer_connected", label, p.connected ? 1 : 0, "\n");
  }
  return out;
}

std::string ClusterStatusJson(ClusterNode& node, const std::string* key) {
  auto ring = node.membership().ring();
  const int n = node.coordinator().options().replicas;
  const std::vector<double> stored = ring->Ownership(n);
  const std::vector<double> primary = ring->Ownership(1);
  nlohmann::json members = nlohmann::json::array();
  for (const auto& m : node.membership().Members()) {
    const int index = ring->IndexOf(m.state.id());
    members.push_back({{"id", m.state.id()},
                       {"state", m.alive ? "up" : "down"},
                       {"status", pb::NodeState::Status_Name(m.state.status())},
                       {"cluster_address", m.state.cluster_address()},
                       {"resp_address", m.state.resp_address()},
                       {"http_address", m.state.http_address()},
                       {"rack", m.state.rack()},
                       {"weight", m.state.weight()},
                       {"phi", m.phi},
                       {"owns_primary", index >= 0 ? primary[index] : 0.0},
                       {"owns_with_replicas", index >= 0 ? stored[index] : 0.0}});
  }
  nlohmann::json out = {{"node", node.id()},
                        {"replicas", n},
                        {"write_quorum", node.default_w()},
                        {"read_quorum", node.default_r()},
                        {"ring_version", node.membership().ring_version()},
                        {"quorum_failures", node.coordinator().stats().quorum_failures.load()},
                        {"members", members}};
  if (key != nullptr) {
    nlohmann::json list = nlohmann::json::array();
    for (int m : ring->PreferenceList(*key, n)) list.push_back(ring->members()[m].id);
    out["key"] = *key;
    out["preference_list"] = list;
  }
  return out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// --- commands ---------------------------------------------------------------------------

namespace {

struct ClusterContext {
  ClusterNode& node;
  CommandContext& c;
  int db;
  int w, r;
  cluster::Coordinator::Repair repair;
};

void ReplyError(CommandContext& c, const absl::Status& s) {
  if (absl::StartsWith(s.message(), "NOQUORUM")) {
    return c.out.Error(std::string(s.message()));  // -NOQUORUM ..., like -MOVED: its own code
  }
  ReplyStatusError(c.out, s);
}

// The key's live value: nullopt if absent, deleted or expired.
absl::StatusOr<std::optional<pb::Record>> ReadKey(ClusterContext& x, std::string_view key) {
  auto r = x.node.coordinator().Read(x.db, key, x.r, x.repair);
  if (absl::IsNotFound(r.status())) return std::nullopt;
  if (!r.ok()) return r.status();
  if (r->expire_at_ms() > 0 && r->expire_at_ms() <= x.c.now_ms) return std::nullopt;
  return std::optional<pb::Record>(std::move(*r));
}

absl::Status WriteKey(ClusterContext& x, std::string_view key, std::string value,
                      int64_t expire_at_ms) {
  pb::Record rec;
  rec.set_type(static_cast<uint32_t>(store::ValueType::kString));
  rec.set_value(std::move(value));
  rec.set_expire_at_ms(expire_at_ms);
  return x.node.coordinator().Write(x.db, key, std::move(rec), x.w).status();
}

absl::Status DeleteKey(ClusterContext& x, std::string_view key) {
  pb::Record rec;
  rec.set_tombstone(true);
  return x.node.coordinator().Write(x.db, key, std::move(rec), x.w).status();
}

// Reads the key or replies with the error; false after replying.
bool Load(ClusterContext& x, std::string_view key, std::optional<pb::Record>* out) {
  auto r = ReadKey(x, key);
  if (!r.ok()) {
    ReplyError(x.c, r.status());
    return false;
  }
  *out = std::move(*r);
  return true;
}

bool Store(ClusterContext& x, std::string_view key, std::string value, int64_t expire_at_ms) {
  absl::Status s = WriteKey(x, key, std::move(value), expire_at_ms);
  if (s.ok()) return true;
  ReplyError(x.c, s);
  return false;
}

void Get(ClusterContext& x) {
  std::optional<pb::Record> rec;
  if (!Load(x, x.c.args[1], &rec)) return;
  rec ? x.c.out.Bulk(rec->value()) : x.c.out.Null();
}

// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]
void Set(ClusterContext& x) {
  auto& c = x.c;
  bool nx = false, xx = false, get = false, keepttl = false;
  int64_t expire_at = 0;
  for (size_t i = 3; i < c.args.size(); i++) {
    const std::string opt = absl::AsciiStrToLower(ToAbsl(c.args[i]));
    const bool has_next = i + 1 < c.args.size();
    if (opt == "nx" && !xx) {
      nx = true;
    } else if (opt == "xx" && !nx) {
      xx = true;
    } else if (opt == "get") {
      get = true;
    } else if (opt == "keepttl" && expire_at == 0) {
      keepttl = true;
    } else if ((opt == "ex" || opt == "px" || opt == "exat" || opt == "pxat") && has_next &&
               expire_at == 0 && !keepttl) {
      int64_t v;
      if (!ParseInt64(c.args[++i], &v)) return c.out.Error(kErrNotInteger);
      const int64_t unit = (opt == "ex" || opt == "exat") ? 1000 : 1;
      const bool absolute = opt == "exat" || opt == "pxat";
      if (v <= 0 || (unit == 1000 && v > store::kMaxExpireAtMs / 1000)) {
        return c.out.Error("ERR invalid expire time in 'set' command");
      }
      expire_at = std::min(v * unit + (absolute ? 0 : c.now_ms), store::kMaxExpireAtMs);
    } else {
      return c.out.Error(kErrSyntax);
    }
  }
  std::optional<pb::Record> old;
  if (nx || xx || get || keepttl) {
    if (!Load(x, c.args[1], &old)) return;
  }
  if ((nx && old) || (xx && !old)) return get && old ? c.out.Bulk(old->value()) : c.out.Null();
  if (keepttl && old) expire_at = old->expire_at_ms();
  if (!Store(x, c.args[1], std::string(c.args[2]), expire_at)) return;
  if (get) return old ? c.out.Bulk(old->value()) : c.out.Null();
  c.out.SimpleString("OK");
}

void SetNx(ClusterContext& x) {
  std::optional<pb::Record> old;
  if (!Load(x, x.c.args[1], &old)) return;
  if (old) return x.c.out.Integer(0);
  if (Store(x, x.c.args[1], std::string(x.c.args[2]), 0)) x.c.out.Integer(1);
}

void SetExGeneric(ClusterContext& x, int64_t unit) {
  int64_t v;
  if (!ParseInt64(x.c.args[2], &v)) return x.c.out.Error(kErrNotInteger);
  if (v <= 0 || (unit == 1000 && v > store::kMaxExpireAtMs / 1000)) {
    return x.c.out.Error(absl::StrCat("ERR invalid expire time in '",
                                      unit == 1000 ? "setex" : "psetex", "' command"));
  }
  const int64_t at = std::min(x.c.now_ms + v * unit, store::kMaxExpireAtMs);
  if (Store(x, x.c.args[1], std::string(x.c.args[3]), at)) x.c.out.SimpleString("OK");
}

void GetSet(ClusterContext& x) {
  std::optional<pb::Record> old;
  if (!Load(x, x.c.args[1], &old)) return;
  if (!Store(x, x.c.args[1], std::string(x.c.args[2]), 0)) return;
  old ? x.c.out.Bulk(old->value()) : x.c.out.Null();
}

void GetDel(ClusterContext& x) {
  std::optional<pb::Record> old;
  if (!Load(x, x.c.args[1], &old)) return;
  if (!old) return x.c.out.Null();
  if (absl::Status s = DeleteKey(x, x.c.args[1]); !s.ok()) return ReplyError(x.c, s);
  x.c.out.Bulk(old->value());
}

void MGet(ClusterContext& x) {
  std::vector<std::optional<pb::Record>> values;
  for (size_t i = 1; i < x.c.args.size(); i++) {
    std::optional<pb::Record> rec;
    if (!Load(x, x.c.args[i], &rec)) return;
    values.push_back(std::move(rec));
  }
  x.c.out.ArrayHeader(values.size());
  for (const auto& v : values) v ? x.c.out.Bulk(v->value()) : x.c.out.Null();
}

void MSet(ClusterContext& x) {
  if (x.c.args.size() % 2 != 1) {
    return x.c.out.Error("ERR wrong number of arguments for 'mset' command");
  }
  for (size_t i = 1; i < x.c.args.size(); i += 2) {
    if (!Store(x, x.c.args[i], std::string(x.c.args[i + 1]), 0)) return;
  }
  x.c.out.SimpleString("OK");
}

void Del(ClusterContext& x) {
  int64_t n = 0;
  absl::flat_hash_set<std::string_view> seen;
  for (size_t i = 1; i < x.c.args.size(); i++) {
    if (!seen.insert(x.c.args[i]).second) continue;
    std::optional<pb::Record> rec;
    if (!Load(x, x.c.args[i], &rec)) return;
    if (!rec) continue;
    if (absl::Status s = DeleteKey(x, x.c.args[i]); !s.ok()) return ReplyError(x.c, s);
    n++;
  }
  x.c.out.Integer(n);
}

void Exists(ClusterContext& x) {
  int64_t n = 0;
  for (size_t i = 1; i < x.c.args.size(); i++) {
    std::optional<pb::Record> rec;
    if (!Load(x, x.c.args[i], &rec)) return;
    n += rec.has_value();
  }
  x.c.out.Integer(n);
}

void IncrByGeneric(ClusterContext& x, int64_t delta) {
  std::optional<pb::Record> rec;
  if (!Load(x, x.c.args[1], &rec)) return;
  int64_t v = 0;
  if (rec && !ParseInt64(rec->value(), &v)) return x.c.out.Error(kErrNotInteger);
  if ((delta > 0 && v > INT64_MAX - delta) || (delta < 0 && v < INT64_MIN - delta)) {
    return x.c.out.Error("ERR increment or decrement would overflow");
  }
  v += delta;
  if (Store(x, x.c.args[1], absl::StrCat(v), rec ? rec->expire_at_ms() : 0)) x.c.out.Integer(v);
}

void IncrBy(ClusterContext& x) {
  int64_t d;
  if (!ParseInt64(x.c.args[2], &d)) return x.c.out.Error(kErrNotInteger);
  IncrByGeneric(x, d);
}

void DecrBy(ClusterContext& x) {
  int64_t d;
  if (!ParseInt64(x.c.args[2], &d) || d == INT64_MIN) return x.c.out.Error(kErrNotInteger);
  IncrByGeneric(x, -d);
}

void Append(ClusterContext& x) {
  std::optional<pb::Record> rec;
  if (!Load(x, x.c.args[1], &rec)) return;
  std::string value = rec ? rec->value() : "";
  value.append(x.c.args[2]);
  const int64_t n = static_cast<int64_t>(value.size());
  if (Store(x, x.c.args[1], std::move(value), rec ? rec->expire_at_ms() : 0)) x.c.out.Integer(n);
}

void StrLen(ClusterContext& x) {
  std::optional<pb::Record> rec;
  if (!Load(x, x.c.args[1], &rec)) return;
  x.c.out.Integer(rec ? static_cast<int64_t>(rec->value().size()) : 0);
}

// EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT key time (the NX/XX/GT/LT options are not taken).
void ExpireGeneric(ClusterContext& x, int64_t unit, bool absolute, const char* name) {
  int64_t v;
  if (!ParseInt64(x.c.args[2], &v)) return x.c.out.Error(kErrNotInteger);
  if (x.c.args.size() > 3) {
    return x.c.out.Error(absl::StrCat("ERR command '", name, "' options are not supported in cluster mode"));
  }
  if (unit == 1000 && (v > INT64_MAX / 1000 || v < INT64_MIN / 1000)) {
    return x.c.out.Error(absl::StrCat("ERR invalid expire time in '", name, "' command"));
  }
  int64_t at = v * unit;
  if (!absolute) {
    if ((at > 0 && x.c.now_ms > INT64_MAX - at) || (at < 0 && x.c.now_ms < INT64_MIN - at)) {
      return x.c.out.Error(absl::StrCat("ERR invalid expire time in '", name, "' command"));
    }
    at += x.c.now_ms;
  }
  std::optional<pb::Record> rec;
  if (!Load(x, x.c.args[1], &rec)) return;
  if (!rec) return x.c.out.Integer(0);
  absl::Status s = at <= x.c.now_ms
                       ? DeleteKey(x, x.c.args[1])
                       : WriteKey(x, x.c.args[1], rec->value(), std::min(at, store::kMaxExpireAtMs));
  if (!s.ok()) return ReplyError(x.c, s);
  x.c.out.Integer(1);
}

void TtlGeneric(ClusterContext& x, int64_t unit) {
  std::optional<pb::Record> rec;
  if (!Load(x, x.c.args[1], &rec)) return;
  if (!rec) return x.c.out.Integer(-2);
  if (rec->expire_at_ms() == 0) return x.c.out.Integer(-1);
  const int64_t left = rec->expire_at_ms() - x.c.now_ms;
  x.c.out.Integer(unit == 1000 ? (left + 500) / 1000 : left);
}

void Persist(ClusterContext& x) {
  std::optional<pb::Record> rec;
  if (!Load(x, x.c.args[1], &rec)) return;
  if (!rec || rec->expire_at_ms() == 0) return x.c.out.Integer(0);
  if (Store(x, x.c.args[1], rec->value(), 0)) x.c.out.Integer(1);
}

void Type(ClusterContext& x) {
  std::optional<pb::Record> rec;
  if (!Load(x, x.c.args[1], &rec)) return;
  x.c.out.SimpleString(rec ? "string" : "none");
}

// Calls fn(key) for every live key of the client's database, across all nodes, in key
// order, page by page (Coordinator::Scan), until fn returns false (then *resume is that
// key, which fn did not take) or the keys end (*resume empty).
// Replies with the error and returns false on failure.
template <typename Fn>
bool ForEachKey(ClusterContext& x, std::string start, Fn&& fn, std::string* resume = nullptr) {
  std::vector<std::pair<std::string, pb::Record>> page;
  std::string next;
  while (true) {
    if (absl::Status s = x.node.coordinator().Scan(x.db, start, 1000, &page, &next); !s.ok()) {
      ReplyError(x.c, s);
      return false;
    }
    for (auto& [key, rec] : page) {
      if (rec.tombstone() || (rec.expire_at_ms() > 0 && rec.expire_at_ms() <= x.c.now_ms)) continue;
      if (!fn(key)) {
        if (resume != nullptr) *resume = key;  // this key was not taken: start there
        return true;
      }
    }
    if (next.empty()) {
      if (resume != nullptr) resume->clear();
      return true;
    }
    start = std::move(next);
  }
}

void Keys(ClusterContext& x) {
  std::vector<std::string> keys;
  const std::string_view pattern = x.c.args[1];
  if (!ForEachKey(x, "", [&](const std::string& k) {
        if (GlobMatch(pattern, k)) keys.push_back(k);
        return true;
      })) {
    return;
  }
  x.c.out.ArrayHeader(keys.size());
  for (const auto& k : keys) x.c.out.Bulk(k);
}

void DbSize(ClusterContext& x) {
  int64_t n = 0;
  if (ForEachKey(x, "", [&](const std::string&) {
        n++;
        return true;
      })) {
    x.c.out.Integer(n);
  }
}

// SCAN cursor [MATCH pattern] [COUNT n] [TYPE string]: cursors name the key to resume at
// (the server's CursorTable), so keys added or removed meanwhile never make a key that
// stayed be missed.
void Scan(ClusterContext& x) {
  auto& c = x.c;
  uint64_t cursor;
  if (!absl::SimpleAtoi(ToAbsl(c.args[1]), &cursor)) return c.out.Error("ERR invalid cursor");
  ScanOptions o;
  if (!ParseScanOptions(c, 2, /*allow_type=*/true, &o)) return;
  std::string start;
  if (cursor != 0 && !c.server.cursors.Lookup(cursor, &start)) {
    // As Redis does for a cursor it never issued: start over.
    start.clear();
  }
  std::vector<std::string> keys;
  int64_t examined = 0;
  std::string resume;
  if (!ForEachKey(x, start, [&](const std::string& k) {
        if (examined++ >= o.count) return false;
        if ((!o.has_pattern || GlobMatch(o.pattern, k)) && (!o.has_type || o.type == "string")) {
          keys.push_back(k);
        }
        return true;
      }, &resume)) {
    return;
  }
  c.out.ArrayHeader(2);
  c.out.Bulk(resume.empty() ? std::string("0") : absl::StrCat(c.server.cursors.Save(resume)));
  c.out.ArrayHeader(keys.size());
  for (const auto& k : keys) c.out.Bulk(k);
}

// CAIRN.CONSISTENCY [W R [REPAIR SYNC|ASYNC]]: this connection's quorums (0 0: the
// server's defaults) and whether a read repairs stale replicas before answering.
void Consistency(ClusterContext& x) {
  auto& c = x.c;
  if (c.args.size() == 1) {
    c.out.ArrayHeader(3);
    c.out.Integer(x.w);
    c.out.Integer(x.r);
    c.out.Bulk(c.client.cluster_sync_repair ? "sync" : "async");
    return;
  }
  bool sync_repair = false;
  if (c.args.size() == 5 && Lower(c.args[3]) == "repair" &&
      (Lower(c.args[4]) == "sync" || Lower(c.args[4]) == "async")) {
    sync_repair = Lower(c.args[4]) == "sync";
  } else if (c.args.size() != 3) {
    return c.out.Error(c.args.size() == 5 ? std::string(kErrSyntax)
                                          : "ERR wrong number of arguments for 'cairn.consistency' command");
  }
  int64_t w, r;
  const int n = x.node.coordinator().options().replicas;
  if (!ParseInt64(c.args[1], &w) || !ParseInt64(c.args[2], &r) || w < 0 || r < 0 || w > n ||
      r > n) {
    return c.out.Error(absl::StrCat("ERR W and R must be integers between 1 and N (", n,
                                    "), or 0 for the server's defaults"));
  }
  c.client.cluster_w = static_cast<int>(w);
  c.client.cluster_r = static_cast<int>(r);
  c.client.cluster_sync_repair = sync_repair;
  c.out.SimpleString("OK");
}

// CAIRN.REPLICA GET key | DIGESTS cursor [COUNT n] | HINTS: this node's own replica data,
// read directly, not through the coordinator: for checks that replicas converged
// (tests/cluster/cluster_util.py) and for operators.
//   GET: each stored version as [value or nil (tombstone), hybrid timestamp, clock, expire_at_ms]
//   DIGESTS: [next cursor ("" at the end), [key, digest of its versions, ...]]
//   HINTS: [target node, hints waiting, ...]
void Replica(ClusterContext& x) {
  auto& c = x.c;
  const std::string sub = Lower(c.args[1]);
  if (sub == "get" && c.args.size() == 3) {
    auto versions = x.node.store().Read(x.db, c.args[2]);
    if (!versions.ok()) return ReplyError(c, versions.status());
    c.out.ArrayHeader(versions->size());
    for (const pb::Record& r : *versions) {
      c.out.ArrayHeader(4);
      r.tombstone() ? c.out.Null() : c.out.Bulk(r.value());
      c.out.Integer(static_cast<int64_t>(r.version()));
      c.out.Bulk(cluster::ClockString(r.clock()));
      c.out.Integer(r.expire_at_ms());
    }
    return;
  }
  if (sub == "digests" && (c.args.size() == 3 || c.args.size() == 5)) {
    int64_t count = 100;
    if (c.args.size() == 5 && (Lower(c.args[3]) != "count" || !ParseInt64(c.args[4], &count) ||
                               count < 1 || count > 100000)) {
      return c.out.Error(kErrSyntax);
    }
    std::vector<std::pair<std::string, cluster::VersionList>> entries;
    bool more = false;
    if (absl::Status s = x.node.store().Scan(x.db, c.args[2], static_cast<size_t>(count), &entries, &more);
        !s.ok()) {
      return ReplyError(c, s);
    }
    c.out.ArrayHeader(2);
    c.out.Bulk(more && !entries.empty() ? entries.back().first + std::string(1, '\0') : "");
    c.out.ArrayHeader(entries.size() * 2);
    for (const auto& [key, versions] : entries) {
      c.out.Bulk(key);
      c.out.Bulk(absl::StrFormat("%016x", cluster::VersionsDigest(versions)));
    }
    return;
  }
  if (sub == "hints" && c.args.size() == 2) {
    std::map<std::string, uint64_t> backlog;
    if (x.node.hints() != nullptr) backlog = x.node.hints()->Backlog();
    c.out.ArrayHeader(backlog.size() * 2);
    for (const auto& [target, n] : backlog) {
      c.out.Bulk(target);
      c.out.Integer(static_cast<int64_t>(n));
    }
    return;
  }
  c.out.Error("ERR unknown subcommand or wrong number of arguments for 'cairn.replica' command");
}

// DEBUG CLUSTER-PARTITION node [node ...] | DEBUG CLUSTER-HEAL: cuts this node's gossip
// and replica traffic to the named nodes (or restores it). Run on both sides to partition
// two nodes. For tests; allowed only with enable-debug-command.
void DebugCluster(ClusterContext& x) {
  auto& c = x.c;
  if (!DebugCommandAllowed(c)) return;
  const std::string sub = Lower(c.args[1]);
  std::set<std::string> blocked;
  if (sub == "cluster-partition") {
    if (c.args.size() < 3) {
      return c.out.Error("ERR wrong number of arguments for 'debug|cluster-partition' command");
    }
    for (size_t i = 2; i < c.args.size(); i++) {
      const std::string address = x.node.membership().AddressOf(std::string(c.args[i]));
      if (address.empty()) {
        return c.out.Error(absl::StrCat("ERR unknown node '", std::string(c.args[i]).substr(0, 128), "'"));
      }
      blocked.insert(address);
    }
  } else if (c.args.size() != 2) {
    return c.out.Error("ERR wrong number of arguments for 'debug|cluster-heal' command");
  }
  x.node.partition().Block(std::move(blocked));
  c.out.SimpleString("OK");
}

using Handler = void (*)(ClusterContext&);
struct ClusterCommand {
  const char* name;
  Handler handler;
};

const ClusterCommand kClusterCommands[] = {
    {"get", Get},
    {"set", Set},
    {"setnx", SetNx},
    {"setex", [](ClusterContext& x) { SetExGeneric(x, 1000); }},
    {"psetex", [](ClusterContext& x) { SetExGeneric(x, 1); }},
    {"getset", GetSet},
    {"getdel", GetDel},
    {"mget", MGet},
    {"mset", MSet},
    {"del", Del},
    {"unlink", Del},
    {"exists", Exists},
    {"incr", [](ClusterContext& x) { IncrByGeneric(x, 1); }},
    {"decr", [](ClusterContext& x) { IncrByGeneric(x, -1); }},
    {"incrby", IncrBy},
    {"decrby", DecrBy},
    {"append", Append},
    {"strlen", StrLen},
    {"expire", [](ClusterContext& x) { ExpireGeneric(x, 1000, false, "expire"); }},
    {"pexpire", [](ClusterContext& x) { ExpireGeneric(x, 1, false, "pexpire"); }},
    {"expireat", [](ClusterContext& x) { ExpireGeneric(x, 1000, true, "expireat"); }},
    {"pexpireat", [](ClusterContext& x) { ExpireGeneric(x, 1, true, "pexpireat"); }},
    {"ttl", [](ClusterContext& x) { TtlGeneric(x, 1000); }},
    {"pttl", [](ClusterContext& x) { TtlGeneric(x, 1); }},
    {"persist", Persist},
    {"type", Type},
    {"keys", Keys},
    {"dbsize", DbSize},
    {"scan", Scan},
    {"cairn.consistency", Consistency},
    {"cairn.replica", Replica},
};

// Data commands with no key arguments that act on a whole database or on the engine.
bool ActsOnData(const CommandSpec& spec) {
  static const char* const kKeyspaceWide[] = {
      "flushdb", "flushall", "dbsize", "scan",  "keys", "randomkey", "swapdb",
      "multi",   "exec",     "watch",  "unwatch", "discard", "move"};
  for (const char* name : kKeyspaceWide) {
    if (std::string_view(spec.name) == name) return true;
  }
  return spec.first_key > 0;
}

}  // namespace

bool DispatchInCluster(ClusterNode& node, CommandContext& c, const CommandSpec& spec) {
  ClusterContext x{node, c, c.client.db.load(std::memory_order_relaxed),
                   c.client.cluster_w > 0 ? c.client.cluster_w : node.default_w(),
                   c.client.cluster_r > 0 ? c.client.cluster_r : node.default_r(),
                   c.client.cluster_sync_repair ? cluster::Coordinator::Repair::kSync
                                                : cluster::Coordinator::Repair::kAsync};
  for (const ClusterCommand& cmd : kClusterCommands) {
    if (std::string_view(spec.name) == cmd.name) {
      cmd.handler(x);
      return true;
    }
  }
  if (std::string_view(spec.name) == "debug" && c.args.size() >= 2 &&
      absl::StartsWith(Lower(c.args[1]), "cluster-")) {
    DebugCluster(x);
    return true;
  }
  if (!ActsOnData(spec)) return false;
  c.out.Error(absl::StrCat("ERR '", spec.name,
                           "' is not supported in cluster mode yet (docs/cluster.md lists what is)"));
  return true;
}

// CAIRN.CONSISTENCY and CAIRN.REPLICA in single-node mode: there are no replicas.
void NeedsCluster(CommandContext& c) {
  c.out.Error(absl::StrCat("ERR ", absl::AsciiStrToUpper(ToAbsl(c.args[0])),
                           " needs cluster mode (cairn-server --cluster)"));
}

namespace {
const CommandSpec kCommands[] = {
    {"cairn.consistency", -1, kFast, 0, 0, 0, NeedsCluster, "cluster",
     "Sets (W R [REPAIR SYNC|ASYNC]) or shows this connection's quorums (cluster mode)."},
    {"cairn.replica", -2, 0, 0, 0, 0, NeedsCluster, "cluster",
     "GET key, DIGESTS cursor [COUNT n], HINTS: this node's replica data (cluster mode)."},
};
}  // namespace

void RegisterClusterCommands(std::vector<const CommandSpec*>* table) {
  for (const CommandSpec& c : kCommands) table->push_back(&c);
}

}  // namespace cairn::server
