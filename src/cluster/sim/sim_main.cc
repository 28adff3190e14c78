// cairn-sim: runs the cluster simulator over a range of seeds (docs/simulator.md).
//
//   cairn-sim --seed 42                 one seed, its summary
//   cairn-sim --seeds 10000 [--from 1]  a soak: every seed, the failures, the totals
#include <cstdio>

#include <CLI/CLI.hpp>

#include "cluster/sim/simulator.h"

int main(int argc, char** argv) {
  CLI::App app("cairn-sim: the cluster simulator");
  uint64_t seed = 0, from = 1, seeds = 100;
  bool no_read_repair = false, no_hints = false, verbose = false;
  cairn::cluster::sim::Options o;
  app.add_option("--seed", seed, "run this seed only");
  app.add_option("--from", from, "first seed of a soak");
  app.add_option("--seeds", seeds, "how many seeds a soak runs");
  app.add_option("--nodes", o.nodes);
  app.add_option("--workload-ms", o.workload_ms, "simulated milliseconds of workload per seed");
  app.add_option("--dir", o.dir, "where nodes keep their data (tmpfs is fastest)");
  app.add_flag("--topology", o.topology_changes, "nodes join, leave and are removed meanwhile");
  bool no_window = false;
  app.add_flag("--no-hand-off-window", no_window, "test-only: old owners hand off keys of any age");
  app.add_flag("--no-read-repair", no_read_repair, "test-only: read repair off");
  app.add_flag("--no-hinted-handoff", no_hints, "test-only: hinted handoff off");
  app.add_flag("-v,--verbose", verbose, "print every seed's summary");
  CLI11_PARSE(app, argc, argv);
  o.read_repair = !no_read_repair;
  o.hinted_handoff = !no_hints;
  o.hand_off_window = !no_window;
  if (seed != 0) {
    from = seed;
    seeds = 1;
    verbose = true;
  }
  uint64_t failed = 0, ms = 0, ops = 0, acked = 0, messages = 0, dropped = 0, duplicated = 0,
           partitions = 0, crashes = 0;
  for (uint64_t s = from; s < from + seeds; s++) {
    o.seed = s;
    const cairn::cluster::sim::Report r = cairn::cluster::sim::Run(o);
    if (verbose || !r.ok()) std::printf("%s\n", r.Summary().c_str());
    failed += !r.ok();
    ms += static_cast<uint64_t>(r.simulated_ms);
    ops += r.operations;
    acked += r.acknowledged;
    messages += r.messages;
    dropped += r.dropped;
    duplicated += r.duplicated;
    partitions += r.partitions;
    crashes += r.crashes;
  }
  std::printf("%llu seeds from %llu: %llu failed; %llu simulated s, %llu operations (%llu acknowledged), "
              "%llu messages (%llu dropped, %llu duplicated), %llu partitions, %llu crashes\n",
              (unsigned long long)seeds, (unsigned long long)from, (unsigned long long)failed,
              (unsigned long long)(ms / 1000), (unsigned long long)ops, (unsigned long long)acked,
              (unsigned long long)messages, (unsigned long long)dropped,
              (unsigned long long)duplicated, (unsigned long long)partitions,
              (unsigned long long)crashes);
  return failed == 0 ? 0 : 1;
}
