// cairn-server: the engine, the local backend, and the RESP and HTTP listeners on a pool
// of Boost.Asio I/O threads. A connection lives on one I/O thread for its whole life:
// the thread that reads a request also runs the command and writes the reply (no
// thread handoff on the request path: on these machines a cross-core wake-up costs
// ~100 us).
#ifndef CAIRN_SERVER_SERVER_H_
#define CAIRN_SERVER_SERVER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "server/config.h"

namespace cairn::server {

class Server {
 public:
  // Opens the data directory, binds the ports and starts serving.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerConfig& config);
  virtual ~Server() = default;

  // Blocks until the server stops (SHUTDOWN, SIGTERM/SIGINT via RequestStop).
  virtual void Wait() = 0;
  // Stops accepting, finishes the commands in flight, syncs the WAL, closes the engine.
  // Thread-safe and idempotent; also callable from a signal-handling thread.
  virtual void RequestStop() = 0;
  // Builds a new TLS context from the current tls-* options (SIGHUP): new connections use
  // it; open ones keep theirs. On error the current context stays and the error is
  // returned (and logged). Thread-safe.
  virtual absl::Status ReloadTls() = 0;
  // The ports actually bound (useful with "auto").
  virtual int port() const = 0;
  virtual int http_port() const = 0;
};

}  // namespace cairn::server

#endif  // CAIRN_SERVER_SERVER_H_
