#include "cluster/sim/fiber.h"

#include <cstdio>
#include <cstdlib>
#include <utility>

namespace cairn::cluster::sim {
namespace {
thread_local Fiber* current_fiber = nullptr;
}  // namespace

Fiber::Fiber(std::function<void()> body) : body_(std::move(body)) {}

Fiber::~Fiber() {
  bool started;
  {
    absl::MutexLock l(&mu_);
    quitting_ = true;
    started = started_;
  }
  // A parked body sees quitting() and returns; one waiting for a reply was woken by the
  // caller (its transport's calls were cancelled) and returns the same way.
  for (int turns = 0; started && !finished(); turns++) {
    if (turns == 1000) {
      // It waits for something no one will wake (a call the node's crash did not cancel):
      // a bug of the simulator, which would otherwise hang here.
      std::fprintf(stderr, "fiber: the body does not end when asked to\n");
      std::abort();
    }
    Resume();
  }
  if (thread_.joinable()) thread_.join();
}

Fiber* Fiber::Current() { return current_fiber; }

void Fiber::Resume() {
  absl::MutexLock l(&mu_);
  if (finished_) return;
  if (!started_) {
    started_ = true;
    thread_ = std::thread([this] { Main(); });
  }
  parked_ = false;
  fiber_turn_ = true;
  mu_.Await(absl::Condition(
      +[](bool* fiber_turn) { return !*fiber_turn; }, &fiber_turn_));
}

void Fiber::Yield(bool parked) {
  absl::MutexLock l(&mu_);
  parked_ = parked;
  fiber_turn_ = false;
  mu_.Await(absl::Condition(&fiber_turn_));
}

void Fiber::Main() {
  {
    absl::MutexLock l(&mu_);
    mu_.Await(absl::Condition(&fiber_turn_));
  }
  current_fiber = this;
  body_();
  absl::MutexLock l(&mu_);
  finished_ = true;
  parked_ = false;
  fiber_turn_ = false;
}

bool Fiber::idle() const {
  absl::MutexLock l(&mu_);
  return parked_ && !finished_;
}

bool Fiber::finished() const {
  absl::MutexLock l(&mu_);
  return finished_;
}

bool Fiber::quitting() const {
  absl::MutexLock l(&mu_);
  return quitting_;
}

}  // namespace cairn::cluster::sim
