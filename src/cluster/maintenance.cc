#include "cluster/maintenance.h"

#include <algorithm>
#include <memory>

namespace cairn::cluster {

Maintenance::Maintenance(Options options, Membership* membership, Transport* transport,
                         HintStore* hints, ReplicaStore* store, HybridClock* clock)
    : options_(options),
      membership_(membership),
      transport_(transport),
      hints_(hints),
      store_(store),
      clock_(clock) {}

Maintenance::~Maintenance() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void Maintenance::Start() {
  thread_ = std::thread([this] {
    absl::MutexLock l(&mu_);
    while (!stop_) {
      mu_.AwaitWithTimeout(absl::Condition(&stop_), options_.interval);
      if (stop_) break;
      mu_.Unlock();
      RunOnce();
      mu_.Lock();
    }
  });
}

void Maintenance::RunOnce() {
  DeliverHints();
  auto collected = store_->CollectTombstones(
      clock_->Now(), static_cast<uint64_t>(absl::ToInt64Milliseconds(options_.tombstone_grace)));
  if (collected.ok()) stats_.tombstones_collected += *collected;
}

absl::Status Maintenance::Deliver(const std::string& address, const pb::Hint& hint) {
  pb::Envelope request;
  pb::ReplicaWrite* w = request.mutable_write();
  w->set_db(hint.db());
  w->set_key(hint.key());
  *w->mutable_versions() = hint.versions();
  auto reply = transport_->CallAndWait(address, std::move(request), options_.timeout);
  if (!reply.ok()) return reply.status();
  if (!reply->has_write_result()) return absl::UnavailableError(reply->error().message());
  return absl::OkStatus();
}

void Maintenance::DeliverHints() {
  if (hints_ == nullptr) return;
  const int64_t now_ms = static_cast<int64_t>(HybridClock::Physical(clock_->Now()));
  const int64_t window_ms = absl::ToInt64Milliseconds(options_.hint_window);
  for (const auto& [target, count] : hints_->Backlog()) {
    const bool alive = membership_->IsAlive(target);
    std::vector<std::pair<std::string, pb::Hint>> batch;
    // Expired hints go whether or not the target is up; live ones only to a live target.
    while (hints_->Pending(target, 64, &batch).ok() && !batch.empty()) {
      bool stalled = false;
      for (const auto& [hint_key, hint] : batch) {
        // A hint's age is that of the newest version it carries (not of the hint, which
        // may be made a timeout later): tombstone-grace > hint-window then guarantees no
        // hint older than a collected tombstone is still delivered.
        int64_t written_ms = 0;
        for (const pb::Record& r : hint.versions()) {
          written_ms = std::max(written_ms, static_cast<int64_t>(HybridClock::Physical(r.version())));
        }
        if (now_ms - written_ms > window_ms || written_ms > now_ms + clock_->max_drift_ms()) {
          if (!hints_->Remove(target, hint_key).ok()) {
            stalled = true;
            break;
          }
          stats_.hints_expired++;
          continue;
        }
        if (!alive) {
          stalled = true;
          break;
        }
        if (!Deliver(membership_->AddressOf(target), hint).ok()) {
          stats_.hint_delivery_failures++;
          stalled = true;
          break;
        }
        if (!hints_->Remove(target, hint_key).ok()) {
          stalled = true;
          break;
        }
        stats_.hints_delivered++;
        absl::MutexLock l(&mu_);
        if (stop_) return;
      }
      if (stalled) break;
      absl::MutexLock l(&mu_);
      if (stop_) return;
    }
  }
}

}  // namespace cairn::cluster
