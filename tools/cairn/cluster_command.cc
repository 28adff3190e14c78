#include "cluster_command.h"

#include <utility>  // before Asio: Boost 1.74 + GCC 12 in C++20 misses it

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/str_format.h"

namespace cairn::tools {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using boost::asio::ip::tcp;

struct Args {
  CLI::App* cmd = nullptr;
  CLI::App* status = nullptr;
  std::string host = "127.0.0.1";
  int http_port = 7380;
  std::string key;
};

Args& TheArgs() {
  static Args args;
  return args;
}

// GET target from host:port; the body, or an exception.
std::string HttpGet(const std::string& host, int port, const std::string& target) {
  boost::asio::io_context io;
  tcp::resolver resolver(io);
  beast::tcp_stream stream(io);
  stream.expires_after(std::chrono::seconds(10));
  stream.connect(resolver.resolve(host, std::to_string(port)));
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, host);
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  if (res.result_int() != 200) {
    throw std::runtime_error(absl::StrFormat("HTTP %d: %s", res.result_int(), res.body()));
  }
  return res.body();
}

std::string Escape(const std::string& key) {
  std::string out;
  for (unsigned char c : key) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += absl::StrFormat("%%%02X", c);
    }
  }
  return out;
}

}  // namespace

CLI::App* AddClusterCommand(CLI::App* app) {
  Args& a = TheArgs();
  a.cmd = app->add_subcommand("cluster", "Inspect a running cluster through one of its nodes");
  a.cmd->require_subcommand(1);
  a.status = a.cmd->add_subcommand(
      "status", "Members, their state, racks and ownership; with --key, its preference list");
  a.status->add_option("--host", a.host, "Any node's address (default 127.0.0.1)");
  a.status->add_option("--http-port", a.http_port, "That node's HTTP port (default 7380)");
  a.status->add_option("--key", a.key, "Also print the replicas of this key");
  return a.cmd;
}

int RunClusterCommand() {
  Args& a = TheArgs();
  try {
    std::string target = "/v1/cluster";
    if (!a.key.empty()) target += "?key=" + Escape(a.key);
    const nlohmann::json s = nlohmann::json::parse(HttpGet(a.host, a.http_port, target));
    std::printf("asked %s; N=%d W=%d R=%d; ring version %d; quorum failures %d\n",
                s["node"].get<std::string>().c_str(), s["replicas"].get<int>(),
                s["write_quorum"].get<int>(), s["read_quorum"].get<int>(),
                s["ring_version"].get<int>(), s["quorum_failures"].get<int>());
    std::printf("%-16s %-5s %-8s %-10s %-7s %-6s %-22s %-22s %s\n", "ID", "STATE", "STATUS",
                "RACK", "WEIGHT", "OWNS", "CLUSTER", "RESP", "HTTP");
    for (const auto& m : s["members"]) {
      std::printf("%-16s %-5s %-8s %-10s %-7.2f %5.1f%% %-22s %-22s %s\n",
                  m["id"].get<std::string>().c_str(), m["state"].get<std::string>().c_str(),
                  m["status"].get<std::string>().c_str(), m["rack"].get<std::string>().c_str(),
                  m["weight"].get<double>(), 100 * m["owns_with_replicas"].get<double>() /
                                                 std::max(1, s["replicas"].get<int>()),
                  m["cluster_address"].get<std::string>().c_str(),
                  m["resp_address"].get<std::string>().c_str(),
                  m["http_address"].get<std::string>().c_str());
    }
    if (s.contains("preference_list")) {
      std::string list;
      for (const auto& id : s["preference_list"]) {
        if (!list.empty()) list += ", ";
        list += id.get<std::string>();
      }
      std::printf("replicas of %s: %s\n", a.key.c_str(), list.c_str());
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cairn cluster status: %s\n", e.what());
    return 2;
  }
}

}  // namespace cairn::tools
