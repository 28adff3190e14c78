// cairn-server: a Redis-compatible key-value server on the cairn engine.
//
//   cairn-server                      # 127.0.0.1:7379 (RESP), :7380 (HTTP), ./cairn-data
//   cairn-server --config cairn.toml --port 7400 --wal-sync always
//
// Every configuration option (docs/configuration.md) is a TOML key and a flag.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <map>
#include <thread>

#include <spdlog/spdlog.h>

#include "base/process.h"
#include "server/config.h"
#include "server/log_file.h"
#include "server/server.h"
#include "server/version.h"

int main(int argc, char** argv) {
  cairn::InitProcess();
  CLI::App app{"cairn-server: Redis-compatible key-value server on the cairn engine"};
  std::string config_file;
  app.add_option("--config", config_file, "TOML configuration file");
  app.set_version_flag("--version", std::string("cairn-server ") + cairn::server::kCairnVersion +
                                        " (Redis " + cairn::server::kRedisVersion + " protocol)");
  // One flag per option; applied after the file, so flags win.
  std::map<std::string, std::string> flags;
  for (const auto& [name, help] : cairn::server::Config::Options()) {
    app.add_option("--" + name, flags[name], help);
  }
  CLI11_PARSE(app, argc, argv);

  cairn::server::Config config;
  if (!config_file.empty()) {
    if (absl::Status s = config.LoadFile(config_file); !s.ok()) {
      std::fprintf(stderr, "cairn-server: %s\n", std::string(s.message()).c_str());
      return 2;
    }
  }
  for (const auto& [name, value] : flags) {
    if (app.count("--" + name) == 0) continue;
    if (absl::Status s = config.Set(name, value, /*at_runtime=*/false); !s.ok()) {
      std::fprintf(stderr, "cairn-server: %s\n", std::string(s.message()).c_str());
      return 2;
    }
  }
  const cairn::server::ServerConfig cfg = config.Get();
  // Signals are handled by a dedicated thread (sigwait), never inside a handler. Blocked
  // before any thread starts (the log's flusher included), so every thread inherits it.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::shared_ptr<cairn::server::ReopenableFileSink> log_file;
  if (!cfg.logfile.empty()) {
    try {
      log_file = std::make_shared<cairn::server::ReopenableFileSink>(cfg.logfile);
      spdlog::set_default_logger(std::make_shared<spdlog::logger>("cairn", log_file));
      spdlog::flush_every(std::chrono::seconds(1));
    } catch (const spdlog::spdlog_ex& e) {
      std::fprintf(stderr, "cairn-server: cannot open log file: %s\n", e.what());
      return 2;
    }
  }
  if (cfg.loglevel == "debug") spdlog::set_level(spdlog::level::debug);
  if (cfg.loglevel == "warning") spdlog::set_level(spdlog::level::warn);

  auto server = cairn::server::Server::Start(cfg);
  if (!server.ok()) {
    spdlog::error("cannot start: {}", server.status().ToString());
    return 1;
  }
  std::atomic<bool> stopped{false};
  std::thread signals([&set, &stopped, &log_file, s = server->get()] {
    int sig = 0;
    // SIGHUP reopens the log file (after logrotate moved it) and reloads the TLS
    // certificates; it never stops the server.
    while (sigwait(&set, &sig) == 0 && sig == SIGHUP && !stopped.load()) {
      if (log_file != nullptr) {
        try {
          log_file->Reopen();
        } catch (const spdlog::spdlog_ex& e) {
          std::fprintf(stderr, "cairn-server: cannot reopen the log file: %s\n", e.what());
        }
      }
      spdlog::info("received SIGHUP: log file reopened, reloading the TLS certificates");
      (void)s->ReloadTls();  // logged; the current certificates stay on error
    }
    if (stopped.load()) return;  // the wake-up below, after a SHUTDOWN
    spdlog::info("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    s->RequestStop();  // idempotent
  });
  (*server)->Wait();  // stopped: WAL synced, engine closed
  stopped.store(true);
  // Stopped by SHUTDOWN, the signal thread still waits: wake it, then let it go first.
  pthread_kill(signals.native_handle(), SIGTERM);
  signals.join();
  server->reset();
  return 0;
}
