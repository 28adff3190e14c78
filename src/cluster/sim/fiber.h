// A thread that takes turns with the simulator's event loop (docs/simulator.md, "Threads
// that wait"): it runs only while the loop waits for it, so one thread runs at a time and
// a run replays. Code written for a thread of its own that waits for replies
// (Transport::CallAndWait: Transfers) runs on one unchanged: its wait hands the turn back
// to the loop, and the reply's event hands it over again.
//
//   Fiber f([&] { while (!f.quitting()) { transfers.Step(); f.Park(); } });
//   f.Resume();  // from the loop: runs the body until it parks, waits, or ends
//
// Resume is called from the loop's thread only; Park and WaitForTurn from the fiber's.
// Code on a fiber may wait only through its transport's CallAndWait (SimTransport hands
// the turn back there); any other wait (a mutex condition, Transport::MayWaitHere-guarded
// waits of other classes) would hold the turn and stop the whole simulation.
#ifndef CAIRN_CLUSTER_SIM_FIBER_H_
#define CAIRN_CLUSTER_SIM_FIBER_H_

#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace cairn::cluster::sim {

class Fiber {
 public:
  explicit Fiber(std::function<void()> body);
  // Asks the body to end (quitting()), resumes it until it has, and joins its thread.
  // The caller must first wake whatever it waits for (a call in flight: its reply).
  ~Fiber();

  // From the loop: runs the fiber until it parks, waits (WaitForTurn) or ends. Starts it
  // the first time.
  void Resume();
  // From the fiber: gives the turn back until the next Resume. `parked` says whether it
  // waits for nothing in particular (idle()) rather than for a reply.
  void Park() { Yield(true); }
  void WaitForTurn() { Yield(false); }

  bool idle() const;      // parked, or not started yet
  bool finished() const;  // the body returned
  bool quitting() const;  // the destructor runs: the body should return

  // The fiber whose thread calls this, or null (the loop's thread).
  static Fiber* Current();

 private:
  void Yield(bool parked);
  void Main();

  const std::function<void()> body_;
  mutable absl::Mutex mu_;
  bool fiber_turn_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool parked_ ABSL_GUARDED_BY(mu_) = true;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool quitting_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace cairn::cluster::sim

#endif  // CAIRN_CLUSTER_SIM_FIBER_H_
