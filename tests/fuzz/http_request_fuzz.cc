// libFuzzer target for the HTTP request path: Boost.Beast's request parser with the
// limits the server's session sets, then access control (CheckHttpAccess), routing,
// percent-decoding, query and JSON batch parsing and the handlers (HandleHttpRequest),
// against a real engine in a temporary directory. Input: the bytes a client sends on one
// connection, possibly several keep-alive requests; the first byte picks the server's
// settings (a password, protected mode, a tiny proto-max-bulk-len) so those paths are
// reachable too.
//
// Invariants checked (a violation aborts, which libFuzzer reports as a crash):
//  - no exception escapes the handlers; every response status is in 200..599;
//  - a JSON response body parses as JSON, and an error response (>= 400) carries
//    {"error": <string>, "status": <its status>};
//  - a PUT answered 200 is read back by a GET of the same key with the same value;
//  - an unauthenticated request is refused with 401 before any handler runs.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cairn/engine/db.h"
#include "server/command.h"
#include "server/config.h"
#include "server/http_api.h"
#include "store/local_backend.h"

namespace cairn::server {
namespace {

namespace http = boost::beast::http;

[[noreturn]] void Violation(const char* what, const std::string& detail) {
  std::fprintf(stderr, "invariant violated: %s: %s\n", what, detail.c_str());
  std::abort();
}

// One engine and server context for the whole run (opening an engine per input would
// measure nothing but Open). Cleared every few thousand inputs to bound the disk used.
struct Fixture {
  Fixture() {
    char tmpl[] = "/tmp/cairn-http-fuzz-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) std::abort();
    dir = tmpl;
    engine::Options options;
    options.wal_sync = engine::WalSyncMode::kNone;
    options.write_buffer_size = 4 << 20;
    auto opened = engine::DB::Open(options, dir);
    if (!opened.ok()) std::abort();
    db = std::move(*opened);
    auto b = store::LocalBackend::Open(db.get());
    if (!b.ok()) std::abort();
    backend = std::move(*b);
    config = std::make_unique<Config>(ServerConfig{});
    ctx.backend = backend.get();
    ctx.config = config.get();
  }
  ~Fixture() {
    backend.reset();
    db.reset();
    (void)engine::DestroyDB(dir, {});
  }
  std::string dir;
  std::unique_ptr<engine::DB> db;
  std::unique_ptr<store::LocalBackend> backend;
  std::unique_ptr<Config> config;
  ServerContext ctx;
  uint64_t runs = 0;
};

void CheckResponse(const HttpResponse& r, const std::string& target) {
  if (r.status < 200 || r.status > 599) Violation("status out of range", target);
  if (r.content_type != "application/json") return;
  nlohmann::json body = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) Violation("JSON response does not parse", r.body);
  if (r.status >= 400) {
    if (!body.is_object() || !body.contains("error") || !body["error"].is_string() ||
        body.value("status", 0) != r.status) {
      Violation("error response lacks {error, status}", r.body);
    }
  }
}

// Serves one parsed request as the session does; returns false to close the connection.
bool Serve(Fixture& f, http::request<http::string_body>& msg, bool authenticated) {
  HttpRequest req;
  req.method = std::string(msg.method_string());
  req.target = std::string(msg.target());
  req.body = msg.body();
  req.from_loopback = true;
  if (auto it = msg.find(http::field::authorization); it != msg.end()) {
    req.authorization = std::string(it->value());
  }
  HttpResponse resp;
  if (auto denied = CheckHttpAccess(f.ctx, req)) {
    resp = *denied;
  } else {
    try {
      resp = HandleHttpRequest(f.ctx, req);
    } catch (const std::exception& e) {
      Violation("exception escaped HandleHttpRequest", e.what());
    }
  }
  CheckResponse(resp, req.target);
  if (!authenticated && resp.status != 401 && req.target.rfind("/healthz", 0) != 0 &&
      req.authorization.empty()) {
    // Without credentials only the health check may be answered (docs/http-api.md).
    Violation("an unauthenticated request was served", req.target);
  }
  if (req.method == "PUT" && resp.status == 200) {
    HttpRequest get = req;
    get.method = "GET";
    get.body.clear();
    HttpResponse back = HandleHttpRequest(f.ctx, get);
    if (back.status != 200 || back.body != req.body) {
      Violation("a stored value does not read back", req.target + " -> " + back.body);
    }
  }
  return msg.keep_alive();
}

}  // namespace
}  // namespace cairn::server

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cairn::server;  // NOLINT(google-build-using-namespace)
  static Fixture* fixture = new Fixture();  // lives for the process
  Fixture& f = *fixture;
  if (++f.runs % 5000 == 0) {
    for (int db = 0; db < 16; db++) (void)f.backend->Clear(db);
  }
  if (size == 0) return 0;
  const uint8_t settings = data[0];
  if (!f.config->Set("requirepass", (settings & 1) ? "secret" : "", true).ok() ||
      !f.config->Set("proto-max-bulk-len", (settings & 2) ? "16" : "512mb", true).ok()) {
    std::abort();
  }
  ApplyAclConfig(f.ctx);  // the default user's password, as CONFIG SET requirepass does
  const ServerConfig cfg = f.config->Get();
  const bool authenticated = cfg.requirepass.empty();

  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  while (!input.empty()) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(cfg.proto_max_bulk_len + (1 << 20));
    parser.header_limit(64 << 10);
    parser.eager(true);
    boost::beast::error_code ec;
    size_t used = 0;
    while (!parser.is_done() && used < input.size()) {
      const size_t n = parser.put(boost::asio::buffer(input.data() + used, input.size() - used), ec);
      used += n;
      if (ec == http::error::need_more) {
        ec = {};
        if (n == 0) break;
        continue;
      }
      if (ec) break;
    }
    if (!parser.is_done() && !ec) {
      parser.put_eof(ec);  // the client closed the connection
    }
    if (ec || !parser.is_done()) break;  // the session answers 400/413 and closes
    auto msg = parser.release();
    if (!Serve(f, msg, authenticated)) break;
    input.remove_prefix(used);
  }
  return 0;
}
