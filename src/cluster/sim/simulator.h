// The cluster simulator (docs/simulator.md): several nodes' production code (coordinator,
// membership, hinted handoff, tombstone collection, replicas on the engine over the
// fault-injecting Env) on one thread, over a simulated network and clock, under a
// generated workload and generated faults. Everything that varies comes from the seed:
// a run replays exactly, and a failing seed is a reproducer.
//
// The network delays each message (so reorders them), loses and duplicates some, and
// cuts links (partitions of the nodes in two, one-way cuts). Nodes crash, losing what
// their Env had not synced, and restart. Each node's clock is skewed. Clients write,
// delete and read keys, increment counters and add and remove members of a set (its
// registers, cluster/registers.h), through any node, as the server's commands do.
//
// With topology_changes, nodes join, leave and are removed meanwhile, their ranges moving
// by the production Transfers (on threads that take turns with the event loop: fiber.h).
//
// After the workload, every fault is healed, the cluster is left quiet (and every change
// completes), every key is read once at R=N with repair, and the run is checked:
//   - no acknowledged write is lost (a read at R after an acknowledgement, and the final
//     read, return that write or a later one: W+R>N);
//   - every acknowledged increment counts, and none counts twice;
//   - the replicas of every key agree;
//   - a deleted key stays deleted once its tombstones are collected;
//   - merging the replicas' versions is idempotent and independent of order;
//   - with topology changes: every change completes, and no node keeps a key it does
//     not own once the old owners have cleaned up.
#ifndef CAIRN_CLUSTER_SIM_SIMULATOR_H_
#define CAIRN_CLUSTER_SIM_SIMULATOR_H_

#include <cstdint>
#include <string>
#include <vector>

namespace cairn::cluster::sim {

struct Options {
  uint64_t seed = 1;
  int nodes = 4;
  int replicas = 3, write_quorum = 2, read_quorum = 2;  // N, W, R (W + R > N)
  int64_t workload_ms = 20000;  // simulated time of the workload
  int clients = 4;
  int keys_per_client = 6;
  int counters = 3;
  int members_per_client = 3;  // of the one set every client writes members of
  // The network: each message's delay is uniform in [min, max].
  int64_t min_delay_us = 100, max_delay_us = 15000;
  double loss = 0.01, duplication = 0.01;
  // Faults, per simulated second: a partition (or a one-way cut), a crash.
  double partitions_per_s = 0.15, crashes_per_s = 0.08;
  int64_t max_skew_ms = 20;  // each node's clock is off by up to this, either way
  // Topology changes during the workload (docs/simulator.md, "Topology changes"): a
  // new node joins, a node leaves (decommission), a node dies for good and is removed,
  // another joins; each waits for the one before. The cluster then has `nodes` members.
  bool topology_changes = false;
  // Test-only switches, for the check that the simulator catches what they break.
  bool read_repair = true;
  bool hinted_handoff = true;
  // Old owners hand off only keys written within the hint window (Transfers::Options::
  // hand_off_window); false: every key, however old.
  bool hand_off_window = true;
  // Where the nodes keep their data (a directory of its own per run is made in it).
  std::string dir = "/tmp";
};

struct Report {
  uint64_t seed = 0;
  std::vector<std::string> violations;  // empty: the run held every invariant
  int64_t simulated_ms = 0;
  uint64_t operations = 0, acknowledged = 0;
  uint64_t messages = 0, dropped = 0, duplicated = 0;
  uint64_t partitions = 0, crashes = 0;
  uint64_t joins = 0, leaves = 0, removals = 0;  // topology changes made (and completed)
  // Of every client-visible outcome in order (each operation's result, each final read):
  // two runs of a seed replay exactly only if theirs are equal.
  uint64_t outcomes_digest = 0;
  bool ok() const { return violations.empty(); }
  // One line: the figures, and the violations if any.
  std::string Summary() const;
};

// Runs one seed.
Report Run(const Options& options);

}  // namespace cairn::cluster::sim

#endif  // CAIRN_CLUSTER_SIM_SIMULATOR_H_
