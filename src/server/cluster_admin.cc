// The topology endpoints of the HTTP API (cluster_mode.h, ClusterTopologyRequest;
// docs/http-api.md): plan, ring, transfers and repair to look, leave, remove, replace, reweight,
// cancel and repair to act. Everything here asks Membership, Transfers or AntiEntropy.
#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "cluster/anti_entropy.h"
#include "cluster/coordinator.h"
#include "cluster/membership.h"
#include "cluster/transfers.h"
#include "server/cluster_mode.h"
#include "spdlog/spdlog.h"

namespace cairn::server {

namespace pb = cluster::pb;

std::pair<int, std::string> ClusterTopologyRequest(
    ClusterNode& node, std::string_view method, std::string_view action,
    const std::function<const std::string*(std::string_view)>& param) {
  using nlohmann::json;
  auto reply = [](int status, const json& body) {
    return std::pair<int, std::string>(
        status, body.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
  };
  auto error = [&](const absl::Status& s) {
    int status = 500;
    switch (s.code()) {
      case absl::StatusCode::kInvalidArgument: status = 400; break;
      case absl::StatusCode::kNotFound: status = 404; break;
      case absl::StatusCode::kFailedPrecondition: status = 409; break;
      default: break;
    }
    return reply(status, json{{"error", std::string(s.message())}, {"status", status}});
  };
  cluster::Membership& membership = node.membership();
  const int n = node.coordinator().options().replicas;
  const std::string* target = param("node");
  const bool self_target = target == nullptr || *target == node.id();
  auto weight_param = [&](double* weight) -> absl::Status {
    const std::string* w = param("weight");
    if (w == nullptr || !absl::SimpleAtod(*w, weight) || !(*weight > 0)) {
      return absl::InvalidArgumentError("weight must be a number above 0 (?weight=2)");
    }
    return absl::OkStatus();
  };
  if (action == "transfers") {
    if (method != "GET") return error(absl::InvalidArgumentError("use GET"));
    const auto p = node.transfers().progress();
    json sources = json::array();
    for (const auto& src : p.sources) {
      sources.push_back({{"from", src.id}, {"keys", src.keys}, {"bytes", src.bytes},
                         {"done", src.done}, {"error", src.error}});
    }
    json members = json::array();
    const auto placement = membership.placement();
    for (const auto& m : membership.Members()) {
      members.push_back({{"id", m.state.id()},
                         {"status", cluster::MemberStatusName(m.state.status())},
                         {"alive", m.alive},
                         {"ready", placement.HasPending() && m.state.ready() == placement.fingerprint}});
    }
    return reply(200, json{{"node", node.id()},
                           {"pending_change", membership.PendingChange()},
                           {"receiving", p.fingerprint != 0},
                           {"receiving_fraction", p.fraction},
                           {"sources", sources},
                           {"rate_bytes_per_second", p.rate_bytes},
                           {"keys_received", p.keys_received},
                           {"bytes_received", p.bytes_received},
                           {"cleaning_up", p.cleaning},
                           {"keys_handed_off", p.keys_handed_off},
                           {"keys_dropped", p.keys_dropped},
                           {"members", members}});
  }
  if (action == "ring") {
    // The token ranges of each member, for the dashboard's ring: a token at position p
    // of member m makes m the primary of (previous token, p]. Positions are sent as
    // fractions of the ring (a JSON number cannot hold every 64-bit integer).
    if (method != "GET") return error(absl::InvalidArgumentError("use GET"));
    auto ring = membership.ring();
    const std::vector<double> primary = ring->Ownership(1);
    json members = json::array();
    std::vector<int> counts(ring->members().size(), 0);
    json tokens = json::array();
    for (const auto& t : ring->tokens()) {
      counts[t.member]++;
      tokens.push_back(json::array({static_cast<double>(t.position) / 18446744073709551616.0, t.member}));
    }
    for (size_t i = 0; i < ring->members().size(); i++) {
      members.push_back({{"id", ring->members()[i].id},
                         {"rack", ring->members()[i].rack},
                         {"tokens", counts[i]},
                         {"owns_primary", primary[i]}});
    }
    return reply(200, json{{"node", node.id()},
                           {"ring_version", membership.ring_version()},
                           {"replicas", n},
                           {"members", members},
                           {"tokens", tokens}});
  }
  if (action == "repair") {
    auto& st = node.anti_entropy().stats();
    if (method == "POST") node.anti_entropy().RequestRound();
    else if (method != "GET") return error(absl::InvalidArgumentError("use GET or POST"));
    return reply(method == "POST" ? 202 : 200,
                 json{{"node", node.id()},
                      {"running", st.running.load()},
                      {"rounds", st.rounds.load()},
                      {"exchanges", st.exchanges.load()},
                      {"failed_exchanges", st.failed_exchanges.load()},
                      {"leaves_differing", st.leaves_differing.load()},
                      {"keys_compared", st.keys_compared.load()},
                      {"keys_repaired", st.keys_repaired.load()},
                      {"tombstones_marked", st.tombstones_marked.load()},
                      {"bytes_sent", st.bytes_sent.load()},
                      {"bytes_received", st.bytes_received.load()},
                      {"last_round_ms", st.last_round_ms.load()}});
  }
  if (action == "plan") {
    if (method != "GET") return error(absl::InvalidArgumentError("use GET"));
    const std::string* change = param("change");
    if (change == nullptr) {
      return error(absl::InvalidArgumentError(
          "say which change: ?change=leave|remove|replace|reweight&node=ID"));
    }
    const std::string id = target != nullptr ? *target : node.id();
    double weight = 0;
    pb::NodeState::Status status = pb::NodeState::NORMAL;
    if (*change == "leave") {
      status = pb::NodeState::DEPARTING;
    } else if (*change == "remove") {
      status = pb::NodeState::REMOVED;
    } else if (*change == "reweight") {
      if (absl::Status s = weight_param(&weight); !s.ok()) return error(s);
    } else if (*change != "replace") {
      return error(absl::InvalidArgumentError("change must be leave, remove, replace or reweight"));
    }
    if (*change == "replace" && self_target) {
      return error(absl::InvalidArgumentError("say which member this node replaces: ?node=ID"));
    }
    auto next = *change == "replace" ? membership.ReplacementRing(id)
                                     : membership.RingWith(id, status, weight);
    if (!next.ok()) return error(next.status());
    auto current = membership.ring();
    const std::vector<double> before = current->Ownership(n);
    const std::vector<double> after = (*next)->Ownership(n);
    json members = json::array();
    double moving = 0;
    for (const auto& m : membership.Members()) {
      const std::string& mid = m.state.id();
      const int i = current->IndexOf(mid), j = (*next)->IndexOf(mid);
      double receives = 0;
      if (j >= 0) {
        for (const auto& [from, arcs] : cluster::ArcsToReceive(*current, **next, mid, n)) {
          receives = std::max(receives, arcs.Fraction());
        }
      }
      moving += receives;
      if (i < 0 && j < 0) continue;
      members.push_back({{"id", mid},
                         {"owns_now", i >= 0 ? before[i] : 0.0},
                         {"owns_after", j >= 0 ? after[j] : 0.0},
                         {"receives", receives}});
    }
    return reply(200, json{{"change", *change},
                           {"node", id},
                           {"pending_change", membership.PendingChange()},
                           {"copies_moving", moving},
                           {"members", members},
                           {"commit", "POST /v1/cluster/" + *change + "?node=" + id +
                                          (weight > 0 ? "&weight=" + absl::StrCat(weight) : "")}});
  }
  if (method != "POST") return error(absl::InvalidArgumentError("use POST to make a change"));
  absl::Status s;
  if (action == "leave") {
    if (!self_target) {
      return error(absl::InvalidArgumentError(
          "ask the node that leaves (its own HTTP port): it streams its data away"));
    }
    s = membership.Decommission();
  } else if (action == "remove") {
    if (target == nullptr) return error(absl::InvalidArgumentError("say which node: ?node=ID"));
    s = membership.Remove(*target);
  } else if (action == "replace") {
    if (self_target) {
      return error(absl::InvalidArgumentError(
          "ask the new node (its own HTTP port) and say which member it replaces: ?node=ID"));
    }
    s = membership.Replace(*target);
  } else if (action == "reweight") {
    if (!self_target) {
      return error(absl::InvalidArgumentError("ask the node whose weight changes (its own HTTP port)"));
    }
    double weight = 0;
    s = weight_param(&weight);
    if (s.ok()) s = membership.Reweight(weight);
  } else if (action == "cancel") {
    if (!self_target) {
      return error(absl::InvalidArgumentError("ask the node whose change it is (its own HTTP port)"));
    }
    s = membership.Cancel();
  } else {
    return error(absl::NotFoundError(absl::StrCat("no such cluster action: ", ToAbsl(action))));
  }
  if (!s.ok()) return error(s);
  spdlog::info("cluster: {} {} requested; pending: {}", action, target ? *target : node.id(),
               membership.PendingChange());
  return reply(202, json{{"accepted", std::string(action)},
                         {"pending_change", membership.PendingChange()}});
}

}  // namespace cairn::server
