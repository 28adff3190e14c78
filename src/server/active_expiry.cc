#include "server/active_expiry.h"

#include <algorithm>
#include <string_view>
#include <vector>

#include "server/command.h"
#include "spdlog/spdlog.h"
#include "store/local_backend.h"

namespace cairn::server {
namespace {

// Keys read from the index per scan.
constexpr size_t kBatch = 64;

absl::Mutex pass_mu;  // one pass at a time (the thread and tests)

}  // namespace

ActiveExpiry::ActiveExpiry(ServerContext* server) : server_(server) {
  thread_ = std::thread([this] { Loop(); });
}

ActiveExpiry::~ActiveExpiry() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  thread_.join();
}

uint64_t ActiveExpiry::RunOnce(ServerContext& s, int64_t now_ms, std::chrono::microseconds budget) {
  absl::MutexLock pass(&pass_mu);
  const auto start = std::chrono::steady_clock::now();
  uint64_t deleted = 0;
  for (;;) {
    auto due = s.backend->ScanExpired(now_ms, kBatch);
    if (!due.ok()) {
      spdlog::debug("active expiry: reading the expiry index failed: {}", due.status().ToString());
      break;
    }
    bool failed = false;
    for (const store::ExpiredKey& e : *due) {
      KeyLocks::Guard guard(&s.locks, e.db, std::vector<std::string_view>{e.key});
      auto d = s.backend->DeleteExpired(e, {});
      if (!d.ok()) {
        // Read-only (MISCONF) or a failing disk: the next pass tries again.
        spdlog::debug("active expiry: deleting an expired key failed: {}", d.status().ToString());
        failed = true;
        break;
      }
      if (*d) {
        deleted++;
        s.stats.expired_keys.fetch_add(1, std::memory_order_relaxed);
        s.watches.Touch(e.db, e.key);
      }
    }
    (void)s.backend->FlushWrites();  // expired keys stay expired if a crash loses these
    if (failed || due->size() < kBatch || std::chrono::steady_clock::now() - start >= budget) {
      break;
    }
  }
  return deleted;
}

void ActiveExpiry::Loop() {
  for (;;) {
    // Redis's hz, clamped as Redis clamps it; a pass may take a quarter of each period.
    const int hz = std::clamp(server_->config->Get().hz, 1, 500);
    const auto period = std::chrono::microseconds(1'000'000 / hz);
    {
      absl::MutexLock l(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stop_),
                               absl::Microseconds(static_cast<int64_t>(period.count())))) {
        return;
      }
    }
    if (!server_->active_expire.load(std::memory_order_relaxed)) continue;
    const int64_t now = server_->now_ms ? server_->now_ms() : store::SystemNowMs();
    RunOnce(*server_, now, period / 4);
  }
}

}  // namespace cairn::server
