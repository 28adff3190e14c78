#include "server/http_api.h"

#include "server/io_pool.h"  // first: Asio

#include <spdlog/spdlog.h>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status.h"
#include "cluster/coordinator.h"
#include "cluster/ring.h"
#include "cluster/type_merge.h"
#include "server/cluster_mode.h"
#include "server/dashboard.h"
#include "server/memory_release.h"
#include "server/key_snapshot.h"
#include "server/info.h"
#include "server/backups.h"
#include "server/metrics.h"
#include "store/local_backend.h"

namespace cairn::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using nlohmann::json;

// --- helpers ----------------------------------------------------------------------------

HttpResponse Json(int status, const json& body) {
  // Strings from the request (a path, a key, a JSON op) may hold bytes that are not
  // UTF-8: they are replaced by U+FFFD rather than failing the response (found by
  // http_request_fuzz: a 404 for such a path threw, and the client got a 500).
  return HttpResponse{status, "application/json",
                      body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n"};
}
HttpResponse Error(int status, std::string_view message) {
  return Json(status, json{{"error", std::string(message)}, {"status", status}});
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding ("+" stays "+": keys are path segments, not form fields, except in
// query strings where form encoding turns spaces into '+').
bool PercentDecode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); i++) {
    if (in[i] == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = HexValue(in[i + 1]), lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (in[i] == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(in[i]);
    }
  }
  return true;
}

// Strict UTF-8 (what a JSON string may hold): no overlong forms, no surrogates, nothing
// above U+10FFFF.
bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      i++;
      continue;
    }
    int extra;
    uint32_t cp, min;
    if ((c >> 5) == 0x6) {
      extra = 1, cp = c & 0x1f, min = 0x80;
    } else if ((c >> 4) == 0xe) {
      extra = 2, cp = c & 0x0f, min = 0x800;
    } else if ((c >> 3) == 0x1e) {
      extra = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (s.size() - i <= static_cast<size_t>(extra)) return false;
    for (int k = 1; k <= extra; k++) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 0x2) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += extra + 1;
  }
  return true;
}

// A key or value in JSON: a string when it is valid UTF-8, else base64 under name_base64.
void PutBytes(json* obj, const char* name, std::string_view bytes) {
  if (ValidUtf8(bytes)) {
    (*obj)[name] = std::string(bytes);
  } else {
    (*obj)[std::string(name) + "_base64"] = absl::Base64Escape(ToAbsl(bytes));
  }
}

// Reads "name" or "name_base64" from a JSON object.
bool GetBytes(const json& obj, const char* name, std::string* out) {
  if (auto it = obj.find(name); it != obj.end() && it->is_string()) {
    *out = it->get<std::string>();
    return true;
  }
  if (auto it = obj.find(std::string(name) + "_base64"); it != obj.end() && it->is_string()) {
    return absl::Base64Unescape(it->get<std::string>(), out);
  }
  return false;
}

struct Query {
  std::vector<std::pair<std::string, std::string>> params;
  const std::string* Find(std::string_view name) const {
    for (const auto& [k, v] : params) {
      if (k == name) return &v;
    }
    return nullptr;
  }
};

bool ParseQuery(std::string_view q, Query* out) {
  for (absl::string_view part : absl::StrSplit(ToAbsl(q), '&', absl::SkipEmpty())) {
    const size_t eq = part.find('=');
    std::string k, v;
    if (!PercentDecode(
            std::string_view(part.data(), eq == absl::string_view::npos ? part.size() : eq), true,
            &k))
      return false;
    if (eq != absl::string_view::npos &&
        !PercentDecode(std::string_view(part.data() + eq + 1, part.size() - eq - 1), true, &v)) {
      return false;
    }
    out->params.emplace_back(std::move(k), std::move(v));
  }
  return true;
}

// The ACL user of a request: Basic user:password, or Bearer user:password or password
// (the default user's); no header: default if it needs no password. null: refused (401).
std::shared_ptr<const acl::User> HttpUser(ServerContext& server, std::string_view header) {
  auto check = [&](std::string_view user, std::string_view pass) -> std::shared_ptr<const acl::User> {
    std::shared_ptr<const acl::User> u = server.acl->Find(user);
    if (u == nullptr || !u->enabled || !u->CheckPassword(pass)) return nullptr;
    return u;
  };
  auto split = [&](std::string_view cred, bool password_alone) -> std::shared_ptr<const acl::User> {
    const size_t colon = cred.find(':');
    if (colon != std::string_view::npos) {
      if (auto u = check(cred.substr(0, colon), cred.substr(colon + 1))) return u;
    }
    return password_alone ? check("default", cred) : nullptr;
  };
  if (header.empty()) return server.acl->auth_required() ? nullptr : server.acl->Find("default");
  if (header.substr(0, 7) == "Bearer ") return split(header.substr(7), true);
  if (header.substr(0, 6) == "Basic ") {
    std::string decoded;
    if (!absl::Base64Unescape(ToAbsl(header.substr(6)), &decoded)) return nullptr;
    return split(decoded, false);
  }
  return nullptr;
}

// Whether user may run the command line args; the refusal (403) if not.
std::optional<HttpResponse> DeniedTo(const acl::User& user, const std::vector<std::string_view>& args,
                                     bool full_key_read = false) {
  if (user.unrestricted) return std::nullopt;
  const int id = acl::CommandId(args);
  int idx = 0;
  const acl::Verdict v = user.Check(id, args, &idx);
  std::string why;
  if (v == acl::Verdict::kCommand) {
    why = absl::StrCat("NOPERM this user has no permissions to run the '", acl::CommandName(id),
                       "' command");
  } else if (v == acl::Verdict::kKey) {
    why = "NOPERM this user has no permissions to access one of the keys used as arguments";
  } else if (v == acl::Verdict::kChannel) {
    why = "NOPERM this user has no permissions to access one of the channels used as arguments";
  } else if (full_key_read && !user.FullKeyRead(id, args)) {
    why = "NOPERM this user has no permissions to read every key, which a listing needs";
  } else {
    return std::nullopt;
  }
  return Error(403, why);
}

// Whether user may use database db (other than 0, where every connection starts): only if it
// may run SELECT db; the refusal (403) if not.
std::optional<HttpResponse> DbDenied(const acl::User& user, int db) {
  if (db == 0 || user.unrestricted) return std::nullopt;
  const std::string arg = std::to_string(db);
  return DeniedTo(user, {"select", arg});
}

bool ParseDb(const Query& q, const ServerConfig& cfg, int* db) {
  *db = 0;
  const std::string* v = q.Find("db");
  if (v == nullptr) return true;
  return absl::SimpleAtoi(*v, db) && *db >= 0 && *db < cfg.databases;
}

int StatusFor(const absl::Status& s) {
  if (absl::IsNotFound(s)) return 404;
  if (absl::IsInvalidArgument(s)) return 400;
  if (absl::IsResourceExhausted(s)) return 507;
  if (absl::IsUnavailable(s)) return 503;
  return 500;
}

// Why a write must be refused before it starts: memory over maxmemory (507, as
// Redis's OOM), or a store turned read-only by a failed disk write (503, until it
// resumes; the reason is the engine's error).
std::optional<HttpResponse> RefuseWrite(ServerContext& server, const ServerConfig& cfg) {
  if (cfg.maxmemory > 0 && server.used_memory && server.used_memory() > cfg.maxmemory) {
    return Error(507, "used memory > 'maxmemory'");
  }
  if (absl::Status s = server.backend->BackgroundError(); !s.ok()) {
    return Error(503, absl::StrCat("read-only after a failed disk write: ", s.message()));
  }
  return std::nullopt;
}

int64_t NowMs(const ServerContext& server) {
  return server.now_ms ? server.now_ms() : store::SystemNowMs();
}

// A single byte range of a Range header (RFC 9110 14.1.2): "bytes=a-b", "bytes=a-",
// "bytes=-n". kNone (serve the whole value) for no header, another unit, several ranges
// or a malformed one, as a server that ignores Range may; kUnsatisfiable when the first
// byte is past the end (416).
enum class RangeKind { kNone, kRange, kUnsatisfiable };
// A GET of a value larger than this streams it in pieces of this size.
constexpr uint64_t kStreamChunk = 1 << 20;
RangeKind ParseByteRange(std::string_view header, uint64_t size, uint64_t* first,
                         uint64_t* last) {
  constexpr std::string_view kPrefix = "bytes=";
  if (header.substr(0, kPrefix.size()) != kPrefix) return RangeKind::kNone;
  std::string_view spec = header.substr(kPrefix.size());
  if (spec.find(',') != std::string_view::npos) return RangeKind::kNone;
  const size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return RangeKind::kNone;
  const std::string_view a = spec.substr(0, dash), b = spec.substr(dash + 1);
  uint64_t x = 0, y = 0;
  auto number = [](std::string_view t, uint64_t* v) {
    if (t.empty() || t.size() > 19) return false;
    for (char ch : t) {
      if (ch < '0' || ch > '9') return false;
    }
    return absl::SimpleAtoi(ToAbsl(t), v);
  };
  if (a.empty()) {  // the last y bytes
    if (!number(b, &y)) return RangeKind::kNone;
    if (y == 0 || size == 0) return RangeKind::kUnsatisfiable;
    *first = size - std::min(y, size);
    *last = size - 1;
    return RangeKind::kRange;
  }
  if (!number(a, &x) || (!b.empty() && !number(b, &y))) return RangeKind::kNone;
  if (!b.empty() && y < x) return RangeKind::kNone;
  if (x >= size) return RangeKind::kUnsatisfiable;
  *first = x;
  *last = b.empty() ? size - 1 : std::min(y, size - 1);
  return RangeKind::kRange;
}

// --- handlers ---------------------------------------------------------------------------

HttpResponse KeyRequest(ServerContext& server, const HttpRequest& req, const std::string& key,
                        const Query& q, const ServerConfig& cfg) {
  int db;
  if (!ParseDb(q, cfg, &db)) return Error(400, "db must be a database index");
  if (req.method == "GET" || req.method == "HEAD") {
    // Read through the engine's reader: a Range reads only its bytes (verified chunk by
    // chunk), the whole value goes straight into the response body.
    store::RecordView header;
    std::unique_ptr<engine::ValueReader> payload;
    absl::Status s = server.backend->GetPayload(db, key, &header, &payload);
    if (absl::IsNotFound(s)) {
      server.stats.keyspace_misses.fetch_add(1, std::memory_order_relaxed);
      return Error(404, "key not found");
    }
    if (!s.ok()) return Error(StatusFor(s), std::string(s.message()));
    server.stats.keyspace_hits.fetch_add(1, std::memory_order_relaxed);
    if (header.type != store::ValueType::kString) {
      // A hash, list, set or sorted set has no single value to return.
      return Error(409, absl::StrCat("WRONGTYPE the key holds a ",
                                     ToAbsl(store::TypeName(header.type)), ", not a string"));
    }
    const uint64_t size = payload->size();
    uint64_t first = 0, last = size == 0 ? 0 : size - 1;
    HttpResponse resp{200, "application/octet-stream", {}};
    resp.accept_ranges = true;
    // RFC 9110 defines Range for GET only: a HEAD describes the whole value.
    const std::string_view range = req.method == "GET" ? std::string_view(req.range) : "";
    switch (ParseByteRange(range, size, &first, &last)) {
      case RangeKind::kNone:
        break;
      case RangeKind::kUnsatisfiable:
        resp = Error(416, "range not satisfiable");
        resp.content_range = absl::StrCat("bytes */", size);
        return resp;
      case RangeKind::kRange:
        resp.status = 206;
        resp.content_range = absl::StrCat("bytes ", first, "-", last, "/", size);
        break;
    }
    const uint64_t n = size == 0 ? 0 : last - first + 1;
    if (n > kStreamChunk || req.method == "HEAD") {
      // Sent chunk by chunk from the blob file: memory stays one chunk, not the value.
      // (A HEAD reads none of it: only the length is answered.)
      resp.stream = std::move(payload);
      resp.stream_offset = first;
      resp.stream_length = n;
      return resp;
    }
    resp.body.resize(n);
    if (absl::Status r = payload->Read(first, n, resp.body.data()); !r.ok()) {
      return Error(StatusFor(r), std::string(r.message()));
    }
    return resp;
  }
  if (req.method == "PUT") {
    if (auto refused = RefuseWrite(server, cfg)) return *refused;
    if (req.body.size() > cfg.proto_max_bulk_len) return Error(413, "value too large");
    int64_t expire_at_ms = 0;
    if (const std::string* ttl = q.Find("ttl")) {
      int64_t seconds;
      if (!absl::SimpleAtoi(*ttl, &seconds) || seconds <= 0 ||
          seconds > store::kMaxExpireAtMs / 2000) {
        return Error(400, "ttl must be a positive number of seconds");
      }
      expire_at_ms = NowMs(server) + seconds * 1000;
    }
    KeyLocks::Guard guard(&server.locks, db, {key});
    // The body as it is: a large value goes from the request buffer to a blob file.
    absl::Status s =
        server.backend->PutPayload(db, key, store::ValueType::kString, expire_at_ms, req.body);
    if (!s.ok()) return Error(StatusFor(s), std::string(s.message()));
    server.watches.Touch(db, key);
    return Json(200, json{{"result", "ok"}});
  }
  if (req.method == "DELETE") {
    if (absl::Status s = server.backend->BackgroundError(); !s.ok()) {
      return Error(503, absl::StrCat("read-only after a failed disk write: ", s.message()));
    }
    KeyLocks::Guard guard(&server.locks, db, {key});
    store::Record r;
    absl::Status s = server.backend->Get(db, key, &r);
    if (absl::IsNotFound(s)) return Json(200, json{{"deleted", 0}});
    if (s.ok()) s = server.backend->Delete(db, key);
    if (!s.ok()) return Error(StatusFor(s), std::string(s.message()));
    server.watches.Touch(db, key);
    return Json(200, json{{"deleted", 1}});
  }
  return Error(405, "method not allowed: use GET, PUT or DELETE");
}

// The range read's query: db, start, end, prefix, limit and values (docs/http-api.md).
struct ScanQuery {
  int db = 0;
  std::string start, end, prefix;
  int64_t limit = 100;
  bool values = true;
};

// The error response for a bad parameter, or nullopt.
std::optional<HttpResponse> ParseScanQuery(const Query& q, const ServerConfig& cfg, ScanQuery* out) {
  if (!ParseDb(q, cfg, &out->db)) return Error(400, "db must be a database index");
  if (const std::string* v = q.Find("start")) out->start = *v;
  if (const std::string* v = q.Find("end")) out->end = *v;
  if (const std::string* v = q.Find("prefix")) out->prefix = *v;
  if (const std::string* v = q.Find("limit")) {
    if (!absl::SimpleAtoi(*v, &out->limit) || out->limit < 0 || out->limit > 100000) {
      return Error(400, "limit must be between 0 and 100000");
    }
  }
  if (const std::string* v = q.Find("values")) out->values = *v != "false" && *v != "0";
  if (out->start < out->prefix) out->start = out->prefix;
  return std::nullopt;
}

HttpResponse Scan(ServerContext& server, const Query& q, const ServerConfig& cfg) {
  ScanQuery sq;
  if (auto bad = ParseScanQuery(q, cfg, &sq)) return *bad;
  const int db = sq.db;
  std::string start = sq.start;
  const std::string& end = sq.end;
  const std::string& prefix = sq.prefix;
  const int64_t limit = sq.limit;
  const bool values = sq.values;
  json items = json::array();
  std::string next;
  int64_t n = 0;
  absl::Status s =
      server.backend->Scan(db, start, end, [&](std::string_view k, const store::RecordView& r) {
        if (k.substr(0, prefix.size()) != prefix) return false;
        if (n == limit) {
          next.assign(k.data(), k.size());
          return false;
        }
        n++;
        json item = json::object();
        PutBytes(&item, "key", k);
        if (r.type != store::ValueType::kString) {
          item["type"] = std::string(store::TypeName(r.type));  // no single value to show
        } else if (values) {
          PutBytes(&item, "value", r.value);
        }
        if (r.expire_at_ms != 0) item["expire_at_ms"] = r.expire_at_ms;
        items.push_back(std::move(item));
        return true;
      });
  if (!s.ok()) return Error(StatusFor(s), std::string(s.message()));
  json out{{"items", std::move(items)}, {"count", n}};
  if (!next.empty()) PutBytes(&out, "next", next);  // pass as start= to continue
  return Json(200, out);
}

// A batch in cluster mode: its keys must share a hash tag; it runs as one transaction
// (SET / DEL lines) on the tag's replica, under its lock of the tag, so no other command
// of the tag interleaves. Its keys are then written to their replicas one by one: a
// quorum failure part way leaves the earlier keys written (on at least that replica), as
// any failed quorum write in Dynamo (docs/cluster.md, Limits).
HttpResponse ClusterBatch(ServerContext& server, int db, const std::vector<store::Mutation>& batch) {
  if (batch.empty()) return Json(200, json{{"applied", 0}});
  cluster::pb::ExecuteCommand q;
  q.set_db(db);
  q.set_w(server.cluster->default_w());
  q.set_r(server.cluster->default_r());
  q.set_protocol(2);
  q.set_now_ms(NowMs(server));
  q.set_exec(true);
  for (const store::Mutation& m : batch) {
    if (cluster::HashTag(m.key) != cluster::HashTag(batch[0].key)) {
      return Error(400, "CROSSSLOT Keys in request don't hash to the same slot (a batch in "
                        "cluster mode takes keys of one hash tag)");
    }
    cluster::pb::CommandLine* line = q.add_transaction();
    if (m.kind == store::Mutation::Kind::kPut) {
      line->add_args("SET");
      line->add_args(m.key);
      line->add_args(m.record.value);
      if (m.record.expire_at_ms > 0) {
        line->add_args("PXAT");
        line->add_args(std::to_string(m.record.expire_at_ms));
      }
    } else {
      line->add_args("DEL");
      line->add_args(m.key);
    }
  }
  const std::string reply = ExecuteOnReplica(*server.cluster, batch[0].key, q).reply();
  // The reply is EXEC's array of +OK and :n, or one error (its RESP code picks the status).
  if (!reply.empty() && reply[0] == '-') {
    // The RESP error's code picks the status, as StatusFor does for a status.
    std::string text = reply.substr(1, reply.find('\r') - 1);
    const std::string code = text.substr(0, text.find(' '));
    const int status = code == "NOQUORUM" || code == "MISCONF" ? 503 : code == "OOM" ? 507 : 500;
    return Error(status, std::move(text));
  }
  if (reply.find("\r\n-") != std::string::npos) return Error(500, "a batch operation failed: " + reply);
  return Json(200, json{{"applied", batch.size()}});
}

// POST /v1/batch {"ops": [{"op": "put", "key": k, "value": v, "ttl": s}, {"op": "delete",
// "key": k}], "db": 0}: applied atomically.
HttpResponse Batch(ServerContext& server, const HttpRequest& req, const ServerConfig& cfg,
                   const acl::User& user) {
  json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) return Error(400, "body must be a JSON object");
  int db = 0;
  if (auto it = body.find("db"); it != body.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() >= cfg.databases) {
      return Error(400, "db must be a database index");
    }
    db = it->get<int>();
    if (auto denied = DbDenied(user, db)) return *denied;
  }
  auto ops = body.find("ops");
  if (ops == body.end() || !ops->is_array()) return Error(400, "'ops' must be an array");
  if (ops->size() > 100000) return Error(413, "too many operations (at most 100000)");
  std::vector<store::Mutation> batch;
  std::vector<std::string_view> keys;
  bool writes = false;
  for (size_t i = 0; i < ops->size(); i++) {
    const json& op = (*ops)[i];
    if (!op.is_object() || !op.contains("op") || !op["op"].is_string()) {
      return Error(400, absl::StrCat("ops[", i, "]: needs \"op\": \"put\" or \"delete\""));
    }
    store::Mutation m;
    m.db = db;
    if (!GetBytes(op, "key", &m.key))
      return Error(400, absl::StrCat("ops[", i, "]: needs \"key\""));
    const std::string kind = op["op"].get<std::string>();
    if (kind == "put") {
      writes = true;
      m.kind = store::Mutation::Kind::kPut;
      if (!GetBytes(op, "value", &m.record.value)) {
        return Error(400, absl::StrCat("ops[", i, "]: needs \"value\""));
      }
      if (auto ttl = op.find("ttl"); ttl != op.end()) {
        if (!ttl->is_number_integer() || ttl->get<int64_t>() <= 0 ||
            ttl->get<int64_t>() > store::kMaxExpireAtMs / 2000) {
          return Error(400, absl::StrCat("ops[", i, "]: ttl must be a positive integer"));
        }
        m.record.expire_at_ms = NowMs(server) + ttl->get<int64_t>() * 1000;
      }
    } else if (kind == "delete") {
      m.kind = store::Mutation::Kind::kDelete;
    } else {
      return Error(400, absl::StrCat("ops[", i, "]: unknown op '", kind, "'"));
    }
    if (auto denied = DeniedTo(user, m.kind == store::Mutation::Kind::kPut
                                         ? std::vector<std::string_view>{"set", m.key, "v"}
                                         : std::vector<std::string_view>{"del", m.key})) {
      return *denied;
    }
    batch.push_back(std::move(m));
  }
  if (writes) {
    if (auto refused = RefuseWrite(server, cfg)) return *refused;
  }
  if (server.cluster != nullptr) return ClusterBatch(server, db, batch);
  for (const auto& m : batch) keys.push_back(m.key);
  KeyLocks::Guard guard(&server.locks, db, keys);
  absl::Status s = server.backend->Apply(batch);
  if (!s.ok()) return Error(StatusFor(s), std::string(s.message()));
  for (std::string_view k : keys) server.watches.Touch(db, k);
  return Json(200, json{{"applied", batch.size()}});
}

HttpResponse Metrics(ServerContext& server) {
  return HttpResponse{200, "text/plain; version=0.0.4", PrometheusMetrics(server)};
}

HttpResponse Stats(ServerContext& server) {
  const ServerStats& st = server.stats;
  json commands = json::object();
  for (const auto& c : st.commands()) {
    if (c->calls.load() == 0) continue;
    commands[c->name] = json{{"calls", c->calls.load()},
                             {"failed", c->failed.load()},
                             {"p50_us", c->micros.Percentile(0.5)},
                             {"p99_us", c->micros.Percentile(0.99)},
                             {"p999_us", c->micros.Percentile(0.999)}};
  }
  json out = json::object();
  for (const ServerMetric& m : ServerMetrics()) out[m.json] = m.value(server);
  out["commands"] = std::move(commands);
  out["engine"] = server.backend->Property("cairn.stats").value_or("");
  AddDashboardStats(server, &out);
  return Json(200, out);
}

// --- cluster mode: the same API through the quorum coordinator (docs/cluster.md) --------

// The w and r query parameters: 1..N; absent: the server's quorums.
bool ParseQuorums(const Query& q, const ClusterNode& node, int n, int* w, int* r) {
  *w = node.default_w();
  *r = node.default_r();
  for (auto [name, out] : {std::pair<const char*, int*>{"w", w}, {"r", r}}) {
    if (const std::string* v = q.Find(name)) {
      if (!absl::SimpleAtoi(*v, out) || *out < 1 || *out > n) return false;
    }
  }
  return true;
}

HttpResponse QuorumError(const absl::Status& s) {
  if (const ErrorKind kind = KindOf(s); kind != ErrorKind::kGeneric) {
    return Error(kind == ErrorKind::kNoQuorum ? 503 : 400,
                 absl::StrCat(ToAbsl(ErrorCode(kind)), " ", s.message()));
  }
  return Error(absl::IsUnavailable(s) ? 503 : StatusFor(s), std::string(s.message()));
}

// The causal context of versions, as clients see it: web-safe base64 of a pb::Context.
std::string EncodeContext(const cluster::Clock& clock) {
  cluster::pb::Context context;
  *context.mutable_clock() = clock;
  std::string out;
  absl::WebSafeBase64Escape(context.SerializeAsString(), &out);
  return out;
}

bool DecodeContext(const std::string& text, cluster::pb::Context* context) {
  std::string bytes;
  return text.size() < 16384 && absl::WebSafeBase64Unescape(text, &bytes) &&
         context->ParseFromString(bytes) && context->clock_size() <= 64;
}

// A chunked string's value (pb::Record.chunked), assembled on the key's replica from its
// chunk registers (GET there). nullopt: absent by then. Errors: the replica's.
absl::StatusOr<std::optional<std::string>> ChunkedValue(ServerContext& server, int db,
                                                        const std::string& key, int r) {
  cluster::pb::ExecuteCommand q;
  q.set_db(db);
  q.set_w(server.cluster->default_w());
  q.set_r(r);
  q.set_protocol(2);
  q.set_now_ms(NowMs(server));
  q.add_args("GET");
  q.add_args(key);
  const std::string reply = ExecuteOnReplica(*server.cluster, key, q).reply();
  int64_t n = -1;
  const size_t eol = reply.find("\r\n");
  if (reply.size() > 1 && reply[0] == '$' && eol != std::string::npos &&
      absl::SimpleAtoi(absl::string_view(reply).substr(1, eol - 1), &n)) {
    if (n < 0) return std::optional<std::string>();
    if (reply.size() >= eol + 2 + static_cast<size_t>(n)) return std::optional<std::string>(reply.substr(eol + 2, n));
  }
  const std::string text = reply.substr(reply.empty() ? 0 : 1, eol == std::string::npos ? std::string::npos : eol - 1);
  return absl::UnavailableError(text.empty() ? "no reply from the key's replica" : text);
}

// GET/PUT/DELETE /v1/kv/{key} in cluster mode. GET ?siblings=true answers every
// concurrent version with the causal context; a PUT or DELETE with ?context= supersedes
// exactly the versions that context covers (as in Dynamo and Riak). ?repair=sync: a read
// repairs stale replicas before answering.
HttpResponse ClusterKeyRequest(ServerContext& server, const HttpRequest& req, const std::string& key,
                               const Query& q, const ServerConfig& cfg) {
  ClusterNode& node = *server.cluster;
  cluster::Coordinator& coordinator = node.coordinator();
  int db, w, r;
  if (!ParseDb(q, cfg, &db)) return Error(400, "db must be a database index");
  if (!ParseQuorums(q, node, coordinator.options().replicas, &w, &r)) {
    return Error(400, absl::StrCat("w and r must be between 1 and N (", coordinator.options().replicas, ")"));
  }
  cluster::pb::Context context;
  const std::string* context_text = q.Find("context");
  if (context_text != nullptr && !DecodeContext(*context_text, &context)) {
    return Error(400, "context is not a causal context returned by this API");
  }
  const cluster::pb::Context* ctx = context_text != nullptr ? &context : nullptr;
  cluster::Coordinator::Repair repair = cluster::Coordinator::Repair::kAsync;
  if (const std::string* v = q.Find("repair")) {
    if (*v != "sync" && *v != "async") return Error(400, "repair must be sync or async");
    if (*v == "sync") repair = cluster::Coordinator::Repair::kSync;
  }
  const int64_t now = NowMs(server);
  auto live = [&](const cluster::pb::Record& rec) {
    return !rec.tombstone() && (rec.expire_at_ms() == 0 || rec.expire_at_ms() > now);
  };
  if (req.method == "GET" || req.method == "HEAD") {
    auto read = coordinator.ReadVersions(db, key, r, repair);
    if (!read.ok()) return QuorumError(read.status());
    if (const std::string* v = q.Find("siblings"); v != nullptr && *v == "true") {
      json siblings = json::array();
      for (const cluster::pb::Record& rec : read->versions) {
        if (!live(rec)) continue;
        json item = json::object();
        if (const std::string_view type = ReplicatedTypeName(rec); type != "string") {
          item["type"] = std::string(type);  // a collection has no single value to show
        } else if (rec.chunked()) {
          // Siblings of a chunked string share its chunks: the value is theirs, merged.
          auto value = ChunkedValue(server, db, key, r);
          if (!value.ok()) return QuorumError(value.status());
          if (*value) PutBytes(&item, "value", **value);
        } else {
          PutBytes(&item, "value", rec.value());
        }
        item["timestamp_ms"] = cluster::HybridClock::Physical(rec.version());
        item["version"] = rec.version();
        if (rec.expire_at_ms() != 0) item["expire_at_ms"] = rec.expire_at_ms();
        siblings.push_back(std::move(item));
      }
      json out{{"context", EncodeContext(read->context)}};
      if (siblings.empty()) {
        out["error"] = "key not found";
        return Json(404, out);
      }
      out["siblings"] = std::move(siblings);
      return Json(200, out);
    }
    auto merged = cluster::MergeForRead(read->versions);  // counters merge their siblings
    if (!merged.ok()) return Error(500, std::string(merged.status().message()));
    if (!merged->has_value() || !live(**merged)) {
      server.stats.keyspace_misses.fetch_add(1, std::memory_order_relaxed);
      return Error(404, "key not found");
    }
    server.stats.keyspace_hits.fetch_add(1, std::memory_order_relaxed);
    if (const std::string_view type = ReplicatedTypeName(**merged); type != "string") {
      return Error(409, absl::StrCat("WRONGTYPE the key holds a ", ToAbsl(type), ", not a string"));
    }
    if ((*merged)->chunked()) {
      auto value = ChunkedValue(server, db, key, r);
      if (!value.ok()) return QuorumError(value.status());
      if (!*value) return Error(404, "key not found");
      return HttpResponse{200, "application/octet-stream", std::move(**value)};
    }
    return HttpResponse{200, "application/octet-stream", (*merged)->value()};
  }
  if (req.method == "PUT") {
    if (auto refused = RefuseWrite(server, cfg)) return *refused;
    if (req.body.size() > cfg.proto_max_bulk_len) return Error(413, "value too large");
    cluster::pb::Record rec;
    rec.set_type(static_cast<uint32_t>(store::ValueType::kString));
    rec.set_value(req.body);
    if (const std::string* ttl = q.Find("ttl")) {
      int64_t seconds;
      if (!absl::SimpleAtoi(*ttl, &seconds) || seconds <= 0 ||
          seconds > store::kMaxExpireAtMs / 2000) {
        return Error(400, "ttl must be a positive number of seconds");
      }
      rec.set_expire_at_ms(now + seconds * 1000);
    }
    auto written = coordinator.Write(db, key, std::move(rec), w, ctx);
    if (!written.ok()) return QuorumError(written.status());
    // The context of what this write leaves: its own history, dot included.
    return Json(200, json{{"result", "ok"}, {"context", EncodeContext(cluster::FullClock(*written))}});
  }
  if (req.method == "DELETE") {
    if (ctx == nullptr) {  // Redis's DEL: 0 if there was nothing to delete
      auto rec = coordinator.Read(db, key, r, repair);
      if (!rec.ok() && !absl::IsNotFound(rec.status())) return QuorumError(rec.status());
      if (!rec.ok() || !live(*rec)) return Json(200, json{{"deleted", 0}});
    }
    cluster::pb::Record tombstone;
    tombstone.set_tombstone(true);
    auto written = coordinator.Write(db, key, std::move(tombstone), w, ctx);
    if (!written.ok()) return QuorumError(written.status());
    return Json(200, json{{"deleted", 1}});
  }
  return Error(405, "method not allowed: use GET, PUT or DELETE");
}

// GET /v1/kv in cluster mode: the keys of every live node, merged (Coordinator::Scan).
HttpResponse ClusterScan(ServerContext& server, const Query& q, const ServerConfig& cfg) {
  ScanQuery sq;
  if (auto bad = ParseScanQuery(q, cfg, &sq)) return *bad;
  const int db = sq.db;
  std::string start = sq.start;
  const std::string& end = sq.end;
  const std::string& prefix = sq.prefix;
  const int64_t limit = sq.limit;
  const bool values = sq.values;
  const int64_t now = NowMs(server);
  json items = json::array();
  std::string next;
  std::vector<std::pair<std::string, cluster::pb::Record>> page;
  bool done = false;
  while (!done) {
    std::string page_next;
    absl::Status s = server.cluster->coordinator().Scan(db, start, 1000, &page, &page_next);
    if (!s.ok()) return QuorumError(s);
    for (auto& [k, rec] : page) {
      if ((!end.empty() && k >= end) || k.compare(0, prefix.size(), prefix) != 0) {
        done = true;
        break;
      }
      if (rec.tombstone() || (rec.expire_at_ms() != 0 && rec.expire_at_ms() <= now)) continue;
      if (static_cast<int64_t>(items.size()) == limit) {
        next = k;
        done = true;
        break;
      }
      json item = json::object();
      PutBytes(&item, "key", k);
      if (const std::string_view type = ReplicatedTypeName(rec); type != "string") {
        item["type"] = std::string(type);  // no single value to show
      } else if (values && rec.chunked()) {
        auto value = ChunkedValue(server, db, k, server.cluster->default_r());
        if (!value.ok()) return QuorumError(value.status());
        if (*value) PutBytes(&item, "value", **value);
      } else if (values) {
        PutBytes(&item, "value", rec.value());
      }
      if (rec.expire_at_ms() != 0) item["expire_at_ms"] = rec.expire_at_ms();
      items.push_back(std::move(item));
    }
    if (page_next.empty()) done = true;
    start = std::move(page_next);
  }
  json out{{"items", items}, {"count", items.size()}};
  if (!next.empty()) PutBytes(&out, "next", next);
  return Json(200, out);
}

// POST /v1/backup?dest=DIR starts a backup of this node into DIR (an absolute path on the
// server's machine); GET /v1/backup: the one under way, or the last one (docs/backup.md).
HttpResponse Backup(ServerContext& server, const HttpRequest& req, const Query& q) {
  if (server.backups == nullptr) return Error(404, "backups are not available here");
  if (req.method == "POST") {
    const std::string* dest = q.Find("dest");
    if (dest == nullptr || dest->empty() || (*dest)[0] != '/') {
      return Error(400, "dest: an absolute directory path is required");
    }
    absl::Status st = server.backups->StartBackground(*dest);
    if (absl::IsFailedPrecondition(st)) return Error(409, "a backup is already in progress");
    if (!st.ok()) return Error(500, std::string(st.message()));
    return Json(202, json{{"started_ms", server.backups->state().started_ms}, {"dest", *dest}});
  }
  if (req.method != "GET") return Error(405, "method not allowed: use GET or POST");
  const BackupService::State b = server.backups->state();
  json out{{"in_progress", b.in_progress},         {"dest", b.dest},
           {"started_ms", b.started_ms},           {"done_bytes", b.done_bytes},
           {"total_bytes", b.total_bytes},         {"last_ok", b.last_ok},
           {"last_error", b.last_error},           {"last_save_ms", b.last_save_ms},
           {"changes_since_last_save", server.backups->ChangesSinceLastSave()}};
  if (b.have_last) {
    out["last"] = json{{"id", b.last.id},
                       {"timestamp_ms", b.last.timestamp_ms},
                       {"sequence", b.last.sequence},
                       {"size", b.last.size},
                       {"new_bytes", b.last.new_bytes},
                       {"duration_ms", b.last.duration_ms}};
  }
  return Json(200, out);
}

}  // namespace

std::optional<HttpResponse> CheckHttpAccess(ServerContext& server, const HttpRequest& req) {
  std::string_view path = std::string_view(req.target).substr(0, req.target.find('?'));
  if (path == "/healthz") return std::nullopt;
  const ServerConfig cfg = server.config->Get();
  if (cfg.protected_mode && !server.acl->auth_required() && !req.from_loopback) {
    // Same rule as RESP: with no password, only loopback clients are served.
    return Error(403, "protected mode: no password is set, so only loopback clients are served");
  }
  if (HttpUser(server, req.authorization) == nullptr) {
    return Error(401, "authentication required");
  }
  return std::nullopt;
}

HttpResponse HandleHttpRequest(ServerContext& server, const HttpRequest& req) {
  server.stats.http_requests.fetch_add(1, std::memory_order_relaxed);
  const ServerConfig cfg = server.config->Get();
  std::string_view target = req.target;
  const size_t qmark = target.find('?');
  std::string_view path = target.substr(0, qmark);
  Query q;
  if (qmark != std::string_view::npos && !ParseQuery(target.substr(qmark + 1), &q)) {
    return Error(400, "malformed query string");
  }
  if (path == "/healthz") {
    if (req.method != "GET" && req.method != "HEAD") return Error(405, "method not allowed");
    return Json(200, json{{"status", "ok"}});
  }
  if (auto denied = CheckHttpAccess(server, req)) return *denied;
  // Each route is checked as the command it performs (docs/acl.md).
  const std::shared_ptr<const acl::User> user = HttpUser(server, req.authorization);
  if (user == nullptr) return Error(401, "authentication required");
  if (!user->unrestricted) {
    std::optional<HttpResponse> denied;
    std::string key;
    if (path == "/metrics" || path == "/v1/stats" || IsDashboardPath(path) || (path.substr(0, 11) == "/v1/cluster" && req.method == "GET")) {
      denied = DeniedTo(*user, {"info"});
    } else if (path.substr(0, 12) == "/v1/cluster/") {
      denied = DeniedTo(*user, {"config", "set", "cluster", "x"});
    } else if (path == "/v1/backup") {
      denied = DeniedTo(*user, {req.method == "GET" ? "info" : "bgsave"});
      // POST names the directory too, which over RESP takes CONFIG SET backup-dir.
      if (!denied && req.method != "GET") {
        denied = DeniedTo(*user, {"config", "set", "backup-dir", "x"});
      }
    } else if (path == "/v1/kv" || path == "/v1/kv/") {
      denied = DeniedTo(*user, {"scan", "0"});
      if (!denied) denied = DeniedTo(*user, {"get", "*"}, /*full_key_read=*/true);
    } else if (path.substr(0, 7) == "/v1/kv/" && PercentDecode(path.substr(7), false, &key)) {
      if (req.method == "PUT") {
        denied = DeniedTo(*user, {"set", key, "v"});
      } else if (req.method == "DELETE") {
        denied = DeniedTo(*user, {"del", key});
      } else {
        denied = DeniedTo(*user, {"get", key});
      }
    }
    // Another database than 0 is reached as SELECT would reach it.
    int db = 0;
    if (const std::string* v = q.Find("db"); !denied && v != nullptr && absl::SimpleAtoi(*v, &db)) {
      denied = DbDenied(*user, db);
    }
    if (denied) return *denied;
  }
  if (IsDashboardPath(path)) return DashboardRequest(req, path);
  if (path == "/metrics")
    return req.method == "GET" ? Metrics(server) : Error(405, "method not allowed");
  if (path == "/v1/stats")
    return req.method == "GET" ? Stats(server) : Error(405, "method not allowed");
  if (path == "/v1/backup") return Backup(server, req, q);
  if (path == "/v1/cluster") {
    if (req.method != "GET") return Error(405, "method not allowed: use GET");
    if (server.cluster == nullptr) return Error(404, "not in cluster mode");
    return HttpResponse{200, "application/json", ClusterStatusJson(*server.cluster, q.Find("key"))};
  }
  if (path.substr(0, 12) == "/v1/cluster/") {
    if (server.cluster == nullptr) return Error(404, "not in cluster mode");
    auto [status, body] = ClusterTopologyRequest(
        *server.cluster, req.method, path.substr(12),
        [&q](std::string_view name) { return q.Find(name); });
    return HttpResponse{status, "application/json", std::move(body)};
  }
  if (server.cluster != nullptr) {
    if (path == "/v1/kv" || path == "/v1/kv/") {
      return req.method == "GET" ? ClusterScan(server, q, cfg)
                                 : Error(405, "method not allowed: use GET");
    }
    if (path.substr(0, 7) == "/v1/kv/") {
      std::string key;
      if (!PercentDecode(path.substr(7), false, &key))
        return Error(400, "malformed percent-encoding in key");
      return ClusterKeyRequest(server, req, key, q, cfg);
    }
  }
  if (path == "/v1/kv" || path == "/v1/kv/") {
    return req.method == "GET" ? Scan(server, q, cfg) : Error(405, "method not allowed: use GET");
  }
  if (path.substr(0, 7) == "/v1/kv/") {
    std::string key;
    if (!PercentDecode(path.substr(7), false, &key))
      return Error(400, "malformed percent-encoding in key");
    return KeyRequest(server, req, key, q, cfg);
  }
  if (path == "/v1/batch") {
    return req.method == "POST" ? Batch(server, req, cfg, *user)
                                : Error(405, "method not allowed: use POST");
  }
  return Error(404, absl::StrCat("no such endpoint: ", ToAbsl(path)));
}

namespace {

// Bytes of request line and headers a request may take (docs/http-api.md).
constexpr size_t kMaxHeaderBytes = 64 << 10;

// A request body in a std::string that grows with the bytes that arrive. Beast's
// string_body reserves the announced Content-Length up front, so one idle client
// announcing 512 MiB held 512 MiB (and pushed every RESP write past maxmemory).
struct ArrivingStringBody {
  using value_type = std::string;
  class reader {
   public:
    template <bool kIsRequest, class Fields>
    reader(http::header<kIsRequest, Fields>&, value_type& body) : body_(body) {}
    void init(const boost::optional<std::uint64_t>& length, beast::error_code& ec) {
      if (length) {
        length_ = *length;
        body_.reserve(std::min<std::uint64_t>(*length, 64 << 10));
      }
      ec = {};
    }
    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, beast::error_code& ec) {
      std::size_t n = 0;
      try {
        // Once 1 MiB of a large body arrived, the rest is reserved at once: doubling
        // would hold the old and the new buffer together (1.5x the value at the end).
        if (length_ > (1 << 20) && body_.size() >= (1 << 20) && body_.capacity() < length_) {
          body_.reserve(length_);
        }
        for (auto b : beast::buffers_range_ref(buffers)) {
          body_.append(static_cast<const char*>(b.data()), b.size());
          n += b.size();
        }
      } catch (const std::bad_alloc&) {
        ec = http::error::buffer_overflow;  // as Beast's string_body does
        return n;
      }
      ec = {};
      return n;
    }
    void finish(beast::error_code& ec) { ec = {}; }

   private:
    value_type& body_;
    std::uint64_t length_ = 0;  // announced Content-Length; 0: none (chunked)
  };
};

// A TLS client has this long to finish its handshake, and any client this long to send
// the header of its first request.
constexpr std::chrono::seconds kTlsHandshakeTimeout(10);
constexpr std::chrono::seconds kFirstRequestTimeout(10);

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One HTTP connection (keep-alive), on one I/O thread, over a beast::tcp_stream (HTTP)
// or a TlsStream (HTTPS). Counted against maxclients while it lives.
template <class Stream>
class HttpSession : public std::enable_shared_from_this<HttpSession<Stream>> {
 public:
  // over_limit: past maxclients; the request gets a 503 and the connection closes.
  HttpSession(Stream stream, std::shared_ptr<asio::ssl::context> context, ServerContext* server,
              bool over_limit)
      : context_(std::move(context)),
        stream_(std::move(stream)),
        server_(server),
        over_limit_(over_limit) {
    server_->http_connections.fetch_add(1, std::memory_order_relaxed);
  }
  ~HttpSession() { server_->http_connections.fetch_sub(1, std::memory_order_relaxed); }

  void Start() {
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      socket().expires_after(kTlsHandshakeTimeout);
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->Close();
                                self->Read();
                              });
    } else {
      Read();
    }
  }
  void Close() {
    beast::error_code ec;
    socket().socket().shutdown(tcp::socket::shutdown_both, ec);
    socket().socket().close(ec);
  }

 private:
  beast::tcp_stream& socket() { return beast::get_lowest_layer(stream_); }

  // The header first: access is checked before a body is read (an unauthenticated
  // client cannot make the server buffer a large body), then the body.
  void Read() {
    const ServerConfig cfg = server_->config->Get();
    parser_.emplace();
    parser_->body_limit(cfg.proto_max_bulk_len + (1 << 20));
    parser_->header_limit(kMaxHeaderBytes);
    header_bytes_ = 0;
    // Past maxclients: a second for the request its 503 answers, so refused connections
    // do not hold descriptors for long. Before a first request passed the access check, at
    // most kFirstRequestTimeout: a connection that never says who it is cannot keep a
    // maxclients slot from authenticated clients.
    const int idle = cfg.timeout > 0 ? cfg.timeout : 300;
    socket().expires_after(over_limit_ ? std::chrono::seconds(1)
                           : admitted_ ? std::chrono::seconds(idle)
                                       : std::min(kFirstRequestTimeout, std::chrono::seconds(idle)));
    ReadHeader();
  }

  // Reads and parses until the header is complete, counting every byte of it: Beast's
  // header_limit (1.74) bounds only the bytes not yet parsed, and its read operations
  // keep reading until the header ends, so many short header lines (or a header that
  // never ends) would otherwise grow without bound. Bytes already buffered (a pipelined
  // request) are parsed first.
  void ReadHeader() {
    while (buffer_.size() > 0 && !parser_->is_header_done()) {
      beast::error_code ec;
      const size_t n = parser_->put(buffer_.data(), ec);
      buffer_.consume(n);
      header_bytes_ += n;
      if (ec == http::error::need_more) break;
      if (ec) return Failed(ec);
    }
    if (header_bytes_ + buffer_.size() > kMaxHeaderBytes) {
      return Failed(http::error::header_limit);
    }
    if (!parser_->is_header_done()) {
      auto self = this->shared_from_this();
      stream_.async_read_some(buffer_.prepare(16 << 10),
                              [self](beast::error_code ec, size_t n) {
                                if (ec) return self->Failed(ec);  // eof: Close()
                                self->buffer_.commit(n);
                                self->ReadHeader();
                              });
      return;
    }
    OnHeader();
  }

  void OnHeader() {
    if (over_limit_) {
      server_->stats.connections_rejected.fetch_add(1, std::memory_order_relaxed);
      return Reply(Error(503, "max number of clients reached"), false);
    }
    HttpRequest head = Head();
    if (auto denied = CheckHttpAccess(*server_, head)) {
      return Reply(std::move(*denied), false);  // the body is never read
    }
    admitted_ = true;
    http::async_read(stream_, buffer_, *parser_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->Failed(ec);
      self->Serve();
    });
  }

  void Failed(beast::error_code ec) {
    if (ec == http::error::end_of_stream) return Close();
    if (ec == http::error::body_limit) return Reply(Error(413, "request body too large"), false);
    if (ec != beast::error::timeout && ec != asio::error::operation_aborted &&
        ec != asio::error::eof && ec != asio::error::connection_reset) {
      return Reply(Error(400, absl::StrCat("bad request: ", ec.message())), false);
    }
    Close();
  }

  // The request line and headers as an HttpRequest (no body yet).
  HttpRequest Head() {
    auto& msg = parser_->get();
    HttpRequest req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    beast::error_code addr_ec;
    const auto remote = socket().socket().remote_endpoint(addr_ec);
    const auto local = socket().socket().local_endpoint(addr_ec);
    req.from_loopback = addr_ec || remote.address().is_loopback() || local.address().is_loopback();
    if (auto it = msg.find(http::field::authorization); it != msg.end()) {
      req.authorization = std::string(it->value());
    }
    if (auto it = msg.find(http::field::if_none_match); it != msg.end()) {
      req.if_none_match = std::string(it->value());
    }
    if (auto it = msg.find(http::field::range); it != msg.end()) req.range = std::string(it->value());
    return req;
  }

  void Serve() {
    auto& msg = parser_->get();
    HttpRequest req = Head();
    req.body = std::move(msg.body());
    // A large body (a PUT of a large value) goes back to the OS once answered.
    struct ReleaseBody {
      HttpRequest* req;
      ~ReleaseBody() { ReleaseLargeBuffer(&req->body); }
    } release_body{&req};
    const bool keep_alive = msg.keep_alive();
    if (server_->cluster != nullptr) {
      // Requests in cluster mode wait for replicas: on a thread that may, never this I/O
      // thread, where the replicas' answers arrive.
      auto self = this->shared_from_this();
      auto shared = std::make_shared<HttpRequest>(std::move(req));
      const bool posted = server_->cluster->RunBlocking([self, shared, keep_alive] {
        HttpResponse resp = self->Answer(*shared);
        asio::post(self->stream_.get_executor(), [self, resp = std::move(resp), keep_alive]() mutable {
          self->Reply(std::move(resp), keep_alive);
        });
      });
      if (!posted) Reply(Error(503, "server is shutting down"), false);
      return;
    }
    Reply(Answer(req), keep_alive);
  }

  HttpResponse Answer(const HttpRequest& req) {
    HttpResponse resp;
    bool function = false;
    if (ServingClientsInsideScript() ||
        server_->scripts->Busy(NowMs(*server_), server_->config->busy_reply_threshold(), &function)) {
      return Error(503, "BUSY a script is running past busy-reply-threshold (SCRIPT KILL stops it)");
    }
    const uint64_t writes_before = server_->backend->DeferredWritesOnThisThread();
    try {
      resp = HandleHttpRequest(*server_, req);
    } catch (const std::exception& e) {
      resp = Error(500, absl::StrCat("internal error: ", e.what()));
    }
    // Writes are acknowledged only once in the OS (see the backend's FlushWrites); a
    // request that wrote nothing is answered even while the WAL cannot be written.
    if (server_->backend->DeferredWritesOnThisThread() != writes_before) {
      if (absl::Status s = server_->backend->FlushWrites(); !s.ok()) {
        resp = Error(503, absl::StrCat("write not made durable: ", s.message()));
      }
    }
    if (req.method == "HEAD") {
      resp.head = true;
      resp.head_length = resp.stream != nullptr ? resp.stream_length : resp.body.size();
      resp.body.clear();
      resp.stream.reset();
    }
    return resp;
  }

  // The headers every answer carries, streamed or not.
  template <class Message>
  static void SetHeaders(const HttpResponse& r, bool keep_alive, Message* res) {
    res->set(http::field::server, "cairn");
    res->set(http::field::content_type, r.content_type);
    if (r.status == 401) res->set(http::field::www_authenticate, "Basic realm=\"cairn\"");
    for (const auto& [name, value] : r.headers) res->set(name, value);
    if (!r.content_range.empty()) res->set(http::field::content_range, r.content_range);
    if (r.accept_ranges) res->set(http::field::accept_ranges, "bytes");
    res->keep_alive(keep_alive);
  }

  // A large value: the header, then chunks read from the engine one at a time (Beast's
  // buffer_body), each verified by the reader before it is sent.
  struct Streaming {
    http::response<http::buffer_body> res;
    http::response_serializer<http::buffer_body> sr{res};
    std::shared_ptr<engine::ValueReader> reader;
    uint64_t offset = 0, left = 0;
    std::string chunk;
    Streaming(HttpResponse&& r, bool keep_alive) : res(static_cast<http::status>(r.status), 11) {
      SetHeaders(r, keep_alive, &res);
      res.content_length(r.stream_length);
      res.body().data = nullptr;
      res.body().more = true;
      reader = std::move(r.stream);
      offset = r.stream_offset;
      left = r.stream_length;
    }
  };

  void StreamReply(HttpResponse r, bool keep_alive) {
    auto st = std::make_shared<Streaming>(std::move(r), keep_alive);
    auto self = this->shared_from_this();
    http::async_write_header(stream_, st->sr, [self, st](beast::error_code ec, size_t n) {
      self->server_->stats.bytes_out.fetch_add(n, std::memory_order_relaxed);
      if (ec) return self->Close();
      self->StreamNext(st);
    });
  }

  void StreamNext(std::shared_ptr<Streaming> st) {
    if (st->left == 0) {
      st->res.body().data = nullptr;
      st->res.body().size = 0;
      st->res.body().more = false;
    } else {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(st->left, kStreamChunk));
      st->chunk.resize(n);
      if (absl::Status s = st->reader->Read(st->offset, n, st->chunk.data()); !s.ok()) {
        // The status line is out: all that is left is to cut the body short.
        spdlog::error("HTTP GET of a large value stopped: {}", s.ToString());
        return Close();
      }
      st->offset += n;
      st->left -= n;
      st->res.body().data = st->chunk.data();
      st->res.body().size = n;
      st->res.body().more = st->left > 0;
    }
    auto self = this->shared_from_this();
    http::async_write(stream_, st->sr, [self, st](beast::error_code ec, size_t n) {
      self->server_->stats.bytes_out.fetch_add(n, std::memory_order_relaxed);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) return self->Close();
      if (!st->sr.is_done()) return self->StreamNext(st);
      if (!st->res.keep_alive()) return self->Close();
      self->Read();
    });
  }

  // HEAD: the GET's headers and Content-Length, no body.
  void HeadReply(const HttpResponse& r, bool keep_alive) {
    auto res = std::make_shared<http::response<http::empty_body>>(
        static_cast<http::status>(r.status), 11);
    SetHeaders(r, keep_alive, res.get());
    res->content_length(r.head_length);
    auto self = this->shared_from_this();
    http::async_write(stream_, *res, [self, res](beast::error_code ec, size_t n) {
      self->server_->stats.bytes_out.fetch_add(n, std::memory_order_relaxed);
      if (ec || !res->keep_alive()) return self->Close();
      self->Read();
    });
  }

  void Reply(HttpResponse r, bool keep_alive) {
    if (r.head) return HeadReply(r, keep_alive);
    if (r.stream != nullptr) return StreamReply(std::move(r), keep_alive);
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.status), 11);
    SetHeaders(r, keep_alive, res.get());
    res->body() = std::move(r.body);
    res->prepare_payload();
    auto self = this->shared_from_this();
    http::async_write(stream_, *res, [self, res](beast::error_code ec, size_t n) {
      self->server_->stats.bytes_out.fetch_add(n, std::memory_order_relaxed);
      ReleaseLargeBuffer(&res->body());  // a large value's reply goes back to the OS now
      if (ec || !res->keep_alive()) return self->Close();
      self->Read();
    });
  }

  std::shared_ptr<asio::ssl::context> context_;  // HTTPS: outlives stream_
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<ArrivingStringBody>> parser_;
  size_t header_bytes_ = 0;  // of the request being read
  ServerContext* const server_;
  const bool over_limit_;
  bool admitted_ = false;  // a request of this connection passed CheckHttpAccess
};

class HttpListenerImpl final : public HttpListener {
 public:
  HttpListenerImpl(ServerContext* server, IoPool* pool)
      : server_(server), pool_(pool), acceptor_(pool->First()) {}

  absl::Status Listen(const std::string& bind, int port) {
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(bind, ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("bad bind address '", bind, "'"));
    const tcp::endpoint endpoint(address, static_cast<uint16_t>(port));
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", bind, ":", port, ": ", ec.message()));
    }
    port_ = acceptor_.local_endpoint().port();
    Accept();
    return absl::OkStatus();
  }
  int port() const override { return port_; }
  void Stop() override {
    asio::post(acceptor_.get_executor(), [this] {
      boost::system::error_code ec;
      acceptor_.close(ec);
    });
  }

 private:
  void Accept() {
    acceptor_.async_accept(pool_->Next(), [this](boost::system::error_code ec, tcp::socket s) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
      if (!ec) Serve(std::move(s));
      Accept();
    });
  }

  // On the accepting thread; the session runs on the socket's thread (Next()).
  void Serve(tcp::socket s) {
    const ServerConfig cfg = server_->config->Get();
    const bool over_limit = server_->connections() >= static_cast<size_t>(cfg.maxclients);
    auto executor = s.get_executor();
    if (!cfg.http_tls) {
      auto session = std::make_shared<HttpSession<beast::tcp_stream>>(
          beast::tcp_stream(std::move(s)), nullptr, server_, over_limit);
      asio::post(executor, [session] { session->Start(); });
      return;
    }
    auto context = server_->tls.Get();
    if (over_limit || context == nullptr) {
      // Refused before the handshake: it costs no cryptography (no 503 without TLS).
      if (over_limit) server_->stats.connections_rejected.fetch_add(1, std::memory_order_relaxed);
      boost::system::error_code ec;
      s.close(ec);
      return;
    }
    auto session = std::make_shared<HttpSession<TlsStream>>(
        TlsStream(std::move(s), *context), context, server_, false);
    asio::post(executor, [session] { session->Start(); });
  }

  ServerContext* const server_;
  IoPool* const pool_;
  tcp::acceptor acceptor_;
  int port_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<HttpListener>> HttpListener::Start(ServerContext* server,
                                                                  IoPool* pool,
                                                                  const std::string& bind,
                                                                  int port) {
  auto listener = std::make_unique<HttpListenerImpl>(server, pool);
  if (absl::Status s = listener->Listen(bind, port); !s.ok()) return s;
  return std::unique_ptr<HttpListener>(std::move(listener));
}

}  // namespace cairn::server
