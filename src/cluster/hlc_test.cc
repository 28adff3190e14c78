#include "cluster/hlc.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>
#include <vector>

namespace cairn::cluster {
namespace {

TEST(HybridClockTest, FollowsTheWallClockAndNeverGoesBack) {
  int64_t wall = 1'700'000'000'000;
  HybridClock clock([&wall] { return wall; });
  const uint64_t a = clock.Now();
  EXPECT_EQ(HybridClock::Physical(a), static_cast<uint64_t>(wall));
  const uint64_t b = clock.Now();  // same millisecond: the counter moves
  EXPECT_GT(b, a);
  EXPECT_EQ(HybridClock::Physical(b), static_cast<uint64_t>(wall));
  wall -= 5000;  // the wall clock is set back 5 s
  const uint64_t c = clock.Now();
  EXPECT_GT(c, b);
  wall += 10000;
  const uint64_t d = clock.Now();
  EXPECT_EQ(HybridClock::Physical(d), static_cast<uint64_t>(wall));
}

TEST(HybridClockTest, AWriteAfterSeeingAnotherNodesVersionIsNewerDespiteSkew) {
  int64_t fast_wall = 1'700'000'060'000, slow_wall = 1'700'000'000'000;  // 60 s apart
  HybridClock fast([&] { return fast_wall; }), slow([&] { return slow_wall; });
  const uint64_t written_on_fast = fast.Now();
  slow.Observe(written_on_fast);  // the slow node reads that version
  const uint64_t overwrite = slow.Now();
  EXPECT_GT(overwrite, written_on_fast);  // so its overwrite wins, as it should
  slow.Observe(1);  // older timestamps change nothing
  EXPECT_GT(slow.Now(), overwrite);
}

TEST(HybridClockTest, ConcurrentCallersGetDistinctIncreasingTimestamps) {
  HybridClock clock([] { return int64_t{1'700'000'000'000}; });
  std::vector<std::vector<uint64_t>> got(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; i++) got[t].push_back(clock.Now());
    });
  }
  for (auto& t : threads) t.join();
  std::vector<uint64_t> all;
  for (const auto& v : got) {
    for (size_t i = 1; i < v.size(); i++) EXPECT_GT(v[i], v[i - 1]);
    all.insert(all.end(), v.begin(), v.end());
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::unique(all.begin(), all.end()), all.end());
}

}  // namespace
}  // namespace cairn::cluster
