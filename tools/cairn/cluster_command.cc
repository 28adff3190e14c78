#include "cluster_command.h"

#include <utility>  // before Asio: Boost 1.74 + GCC 12 in C++20 misses it

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <unistd.h>

#include "absl/strings/str_format.h"
#include "backup_command.h"
#include "http_client.h"

namespace cairn::tools {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using boost::asio::ip::tcp;

struct Args {
  CLI::App* cmd = nullptr;
  CLI::App* status = nullptr;
  CLI::App* plan = nullptr;
  CLI::App* leave = nullptr;
  CLI::App* remove = nullptr;
  CLI::App* reweight = nullptr;
  CLI::App* replace = nullptr;
  CLI::App* cancel = nullptr;
  CLI::App* transfers = nullptr;
  CLI::App* repair = nullptr;
  std::string host = "127.0.0.1";
  int http_port = 7380;
  std::string key;
  std::string change;  // plan: leave, remove, replace or reweight
  std::string node;
  double weight = 0;
  bool yes = false;    // commit the change, not only show its plan
  bool watch = false;  // transfers: until no change is under way
};

Args& TheArgs() {
  static Args args;
  return args;
}

std::string HttpRequest(http::verb verb, const std::string& host, int port,
                        const std::string& target) {
  return HttpCall(std::string(http::to_string(verb)), host, port, target);
}

std::string HttpGet(const std::string& host, int port, const std::string& target) {
  return HttpCall("GET", host, port, target);
}

std::string HumanBytes(double bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    u++;
  }
  return absl::StrFormat("%.1f %s", bytes, units[u]);
}

// The plan of a change: what each member owns before and after, what it receives.
void PrintPlan(const nlohmann::json& plan) {
  std::printf("plan: %s %s\n", plan["change"].get<std::string>().c_str(),
              plan["node"].get<std::string>().c_str());
  std::printf("%-16s %9s %9s %9s\n", "MEMBER", "OWNS NOW", "AFTER", "RECEIVES");
  for (const auto& m : plan["members"]) {
    std::printf("%-16s %8.1f%% %8.1f%% %8.1f%%\n", m["id"].get<std::string>().c_str(),
                100 * m["owns_now"].get<double>(), 100 * m["owns_after"].get<double>(),
                100 * m["receives"].get<double>());
  }
  std::printf("copies of the key space that move: %.2f (ownership counts every replica)\n",
              plan["copies_moving"].get<double>());
  const std::string pending = plan["pending_change"].get<std::string>();
  if (!pending.empty()) std::printf("another change is under way: %s\n", pending.c_str());
}

// One line per source and a bar for the whole, as a terminal shows it.
void PrintTransfers(const nlohmann::json& t, bool tty) {
  const std::string pending = t["pending_change"].get<std::string>();
  std::printf("%s: %s\n", t["node"].get<std::string>().c_str(),
              pending.empty() ? "no change under way" : ("under way: " + pending).c_str());
  for (const auto& m : t["members"]) {
    std::printf("  %-16s %-14s %-5s %s\n", m["id"].get<std::string>().c_str(),
                m["status"].get<std::string>().c_str(), m["alive"].get<bool>() ? "up" : "down",
                m["ready"].get<bool>() ? "has its ranges" : "");
  }
  if (t["receiving"].get<bool>()) {
    int done = 0, total = 0;
    for (const auto& s : t["sources"]) {
      total++;
      done += s["done"].get<bool>();
      std::printf("  from %-16s %10llu keys %12s %s%s\n", s["from"].get<std::string>().c_str(),
                  static_cast<unsigned long long>(s["keys"].get<uint64_t>()),
                  HumanBytes(s["bytes"].get<double>()).c_str(),
                  s["done"].get<bool>() ? "done" : "receiving",
                  s["error"].get<std::string>().empty()
                      ? ""
                      : (" (" + s["error"].get<std::string>() + ")").c_str());
    }
    const double rate = t["rate_bytes_per_second"].get<double>();
    const int width = 30;
    const int filled = total > 0 ? width * done / total : 0;
    std::printf("  [%s%s] %d/%d sources, %s/s, %.1f%% of the ring to receive\n",
                std::string(filled, '#').c_str(), std::string(width - filled, tty ? '.' : '-').c_str(),
                done, total, HumanBytes(rate).c_str(), 100 * t["receiving_fraction"].get<double>());
  }
  std::printf("  received %llu keys (%s) since start; handed off %llu, dropped %llu%s\n",
              static_cast<unsigned long long>(t["keys_received"].get<uint64_t>()),
              HumanBytes(t["bytes_received"].get<double>()).c_str(),
              static_cast<unsigned long long>(t["keys_handed_off"].get<uint64_t>()),
              static_cast<unsigned long long>(t["keys_dropped"].get<uint64_t>()),
              t["cleaning_up"].get<bool>() ? " (cleaning up)" : "");
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
  auto where = [&a](CLI::App* c) {
    c->add_option("--host", a.host, "The node's address (default 127.0.0.1)");
    c->add_option("--http-port", a.http_port, "Its HTTP port (default 7380)");
  };
  a.plan = a.cmd->add_subcommand("plan", "What a change would move, without making it");
  a.plan->add_option("change", a.change, "leave, remove, replace or reweight")->required()
      ->check(CLI::IsMember({"leave", "remove", "replace", "reweight"}));
  a.plan->add_option("--node", a.node, "The member it applies to (default: the node asked)");
  a.plan->add_option("--weight", a.weight, "reweight: the new weight");
  where(a.plan);
  a.leave = a.cmd->add_subcommand(
      "leave", "Decommission the node asked: its data moves to the others, then it owns nothing");
  a.leave->add_flag("--yes", a.yes, "Commit the change (without: show its plan)");
  where(a.leave);
  a.remove = a.cmd->add_subcommand(
      "remove", "Remove a dead member: its ranges are rebuilt from the other replicas");
  a.remove->add_option("node", a.node, "The member's id")->required();
  a.remove->add_flag("--yes", a.yes, "Commit the change (without: show its plan)");
  where(a.remove);
  a.replace = a.cmd->add_subcommand(
      "replace", "The node asked (new, joining) takes a dead member's place: its tokens and ranges");
  a.replace->add_option("node", a.node, "The dead member's id")->required();
  a.replace->add_flag("--yes", a.yes, "Commit the change (without: show its plan)");
  where(a.replace);
  a.reweight = a.cmd->add_subcommand("reweight", "Change the node asked's share of the data");
  a.reweight->add_option("weight", a.weight, "The new weight (> 0)")->required();
  a.reweight->add_flag("--yes", a.yes, "Commit the change (without: show its plan)");
  where(a.reweight);
  a.cancel = a.cmd->add_subcommand("cancel", "Stop the node asked's own leave or reweight");
  where(a.cancel);
  a.transfers = a.cmd->add_subcommand("transfers", "The change under way and its transfers");
  a.transfers->add_flag("--watch", a.watch, "Refresh every second until no change is under way");
  where(a.transfers);
  a.repair = a.cmd->add_subcommand(
      "repair", "Anti-entropy now: the node asked compares its keys with every other replica's");
  a.repair->add_flag("--wait", a.watch, "Wait for the round to end and print what it did");
  where(a.repair);
  AddClusterBackupCommands(a.cmd);
  return a.cmd;
}

namespace {

int RunChange(Args& a, const std::string& change) {
  std::string query = "?";
  if (!a.node.empty()) query += "node=" + Escape(a.node) + "&";
  if (change == "reweight") query += "weight=" + absl::StrFormat("%g", a.weight) + "&";
  const nlohmann::json plan = nlohmann::json::parse(
      HttpGet(a.host, a.http_port, "/v1/cluster/plan" + query + "change=" + change));
  PrintPlan(plan);
  if (!a.yes) {
    std::printf("not committed: run again with --yes to make this change\n");
    return 0;
  }
  const nlohmann::json done = nlohmann::json::parse(
      HttpRequest(http::verb::post, a.host, a.http_port, "/v1/cluster/" + change + query));
  std::printf("committed; under way: %s\nfollow it with: cairn cluster transfers --watch\n",
              done["pending_change"].get<std::string>().c_str());
  return 0;
}

int RunTransfers(Args& a) {
  const bool tty = isatty(fileno(stdout));
  while (true) {
    const nlohmann::json t =
        nlohmann::json::parse(HttpGet(a.host, a.http_port, "/v1/cluster/transfers"));
    if (tty && a.watch) std::printf("\033[2J\033[H");  // a fresh screen each second
    PrintTransfers(t, tty);
    std::fflush(stdout);
    if (!a.watch || t["pending_change"].get<std::string>().empty()) return 0;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

}  // namespace

int RunClusterCommand() {
  Args& a = TheArgs();
  if (int code = 0; RunClusterBackupCommands(&code)) return code;
  try {
    if (a.plan->parsed()) {
      std::string query = "?change=" + a.change;
      if (!a.node.empty()) query += "&node=" + Escape(a.node);
      if (a.weight > 0) query += "&weight=" + absl::StrFormat("%g", a.weight);
      PrintPlan(nlohmann::json::parse(HttpGet(a.host, a.http_port, "/v1/cluster/plan" + query)));
      return 0;
    }
    if (a.leave->parsed()) return RunChange(a, "leave");
    if (a.remove->parsed()) return RunChange(a, "remove");
    if (a.reweight->parsed()) return RunChange(a, "reweight");
    if (a.replace->parsed()) return RunChange(a, "replace");
    if (a.transfers->parsed()) return RunTransfers(a);
    if (a.repair->parsed()) {
      const uint64_t before = nlohmann::json::parse(HttpGet(a.host, a.http_port, "/v1/cluster/repair"))
                                  ["rounds"].get<uint64_t>();
      HttpRequest(http::verb::post, a.host, a.http_port, "/v1/cluster/repair");
      nlohmann::json st;
      do {
        if (!a.watch) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        st = nlohmann::json::parse(HttpGet(a.host, a.http_port, "/v1/cluster/repair"));
      } while (st["rounds"].get<uint64_t>() == before);
      if (!a.watch) {
        std::printf("repair started (follow it with: cairn cluster repair --wait)\n");
        return 0;
      }
      std::printf("repair round done in %lld ms: %llu exchanges (%llu failed), %llu keys "
                  "compared, %llu repaired, %s exchanged\n",
                  static_cast<long long>(st["last_round_ms"].get<int64_t>()),
                  static_cast<unsigned long long>(st["exchanges"].get<uint64_t>()),
                  static_cast<unsigned long long>(st["failed_exchanges"].get<uint64_t>()),
                  static_cast<unsigned long long>(st["keys_compared"].get<uint64_t>()),
                  static_cast<unsigned long long>(st["keys_repaired"].get<uint64_t>()),
                  HumanBytes(st["bytes_sent"].get<double>() + st["bytes_received"].get<double>()).c_str());
      return 0;
    }
    if (a.cancel->parsed()) {
      const nlohmann::json done = nlohmann::json::parse(
          HttpRequest(http::verb::post, a.host, a.http_port, "/v1/cluster/cancel"));
      std::printf("cancelled; under way now: %s\n", done["pending_change"].get<std::string>().c_str());
      return 0;
    }
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
    std::fprintf(stderr, "cairn cluster: %s\n", e.what());
    return 2;
  }
}

}  // namespace cairn::tools
