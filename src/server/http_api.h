// The HTTP/JSON API (Boost.Beast) on the server's I/O threads: GET/PUT/DELETE
// /v1/kv/{key}, GET /v1/kv (range scan), POST /v1/batch, GET /metrics, GET /healthz,
// GET /v1/stats, and the web dashboard at / (dashboard.h). docs/http-api.md documents every endpoint.
#ifndef CAIRN_SERVER_HTTP_API_H_
#define CAIRN_SERVER_HTTP_API_H_

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "server/command.h"

namespace cairn::server {

class IoPool;

// A request and response in plain types: the routing and handlers are testable without
// sockets (HandleHttpRequest), and the Beast session (http_api.cc) only moves bytes.
struct HttpRequest {
  std::string method;  // "GET", "PUT", ...
  std::string target;  // path and query, still percent-encoded
  std::string body;
  std::string authorization;  // the Authorization header, if any
  bool from_loopback = true;  // the client or the listening address is loopback
  std::string if_none_match = {};  // the If-None-Match header, if any (the dashboard's assets)
  std::string range = {};  // the Range header, if any (GET /v1/kv/{key})
};
struct HttpResponse {
  HttpResponse() = default;
  HttpResponse(int s, std::string type, std::string b)
      : status(s), content_type(std::move(type)), body(std::move(b)) {}
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers = {};  // more headers (ETag, ...)
  std::string content_range;  // Content-Range header (206, 416), if not empty
  bool accept_ranges = false;  // Accept-Ranges: bytes
  // A large value sent from the engine's reader in chunks instead of body: stream_length
  // bytes from stream_offset. A damaged chunk ends the connection mid-body.
  std::shared_ptr<engine::ValueReader> stream;
  uint64_t stream_offset = 0;
  uint64_t stream_length = 0;
  // The answer to a HEAD: the headers a GET would get, Content-Length included, and no
  // body (set by the session from the body or stream above, which it then drops).
  bool head = false;
  uint64_t head_length = 0;
};

HttpResponse HandleHttpRequest(ServerContext& server, const HttpRequest& request);
// Protected mode and credentials, from the request line and headers alone (the session
// checks them before reading a body): the refusal, or nullopt to go on.
std::optional<HttpResponse> CheckHttpAccess(ServerContext& server, const HttpRequest& request);

class HttpListener {
 public:
  // Binds bind:port (0: any free port) and accepts on pool's first context.
  static absl::StatusOr<std::unique_ptr<HttpListener>> Start(ServerContext* server, IoPool* pool,
                                                             const std::string& bind, int port);
  virtual ~HttpListener() = default;
  virtual int port() const = 0;
  // Stops accepting and closes open sessions.
  virtual void Stop() = 0;
};

}  // namespace cairn::server

#endif  // CAIRN_SERVER_HTTP_API_H_
