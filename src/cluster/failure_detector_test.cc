#include "cluster/failure_detector.h"

#include <gtest/gtest.h>

#include "base/random.h"

namespace cairn::cluster {
namespace {

TEST(PhiAccrualTest, NothingIsSuspectedBeforeTheFirstHeartbeat) {
  PhiAccrualDetector d;
  EXPECT_EQ(d.Phi(1'000'000), 0);
  EXPECT_TRUE(d.IsAvailable(1'000'000));
}

TEST(PhiAccrualTest, RegularHeartbeatsThenSilence) {
  PhiAccrualDetector d;
  int64_t t = 0;
  for (int i = 0; i < 100; i++, t += 1000) d.Heartbeat(t);
  const int64_t last = t - 1000;
  EXPECT_NEAR(d.mean_ms(), 1000, 1e-9);
  EXPECT_LT(d.Phi(last + 500), 0.1);   // early: nothing suspicious
  EXPECT_LT(d.Phi(last + 1000), 0.5);  // on time
  EXPECT_TRUE(d.IsAvailable(last + 1200));
  EXPECT_FALSE(d.IsAvailable(last + 2000));  // 10 deviations late (the 100 ms floor)
  // Phi only grows with silence.
  double previous = 0;
  for (int64_t ms = 0; ms <= 1500; ms += 10) {
    const double phi = d.Phi(last + ms);
    EXPECT_GE(phi, previous);
    previous = phi;
  }
  d.Heartbeat(last + 5000);  // back: suspicion drops at once
  EXPECT_LT(d.Phi(last + 5000), 0.1);
}

TEST(PhiAccrualTest, JitterTakesLongerToSuspect) {
  PhiAccrualDetector steady, jittery;
  Random rnd(3);
  int64_t a = 0, b = 0;
  for (int i = 0; i < 500; i++) {
    steady.Heartbeat(a += 1000);
    jittery.Heartbeat(b += 500 + static_cast<int64_t>(rnd.Uniform(1001)));  // 500..1500 ms
  }
  EXPECT_GT(jittery.std_dev_ms(), 250);
  EXPECT_GT(steady.Phi(a + 1800), jittery.Phi(b + 1800));
  EXPECT_FALSE(steady.IsAvailable(a + 2200));
  EXPECT_TRUE(jittery.IsAvailable(b + 2200));
  EXPECT_FALSE(jittery.IsAvailable(b + 6000));
}

TEST(PhiAccrualTest, TheWindowForgetsOldIntervals) {
  PhiAccrualDetector::Options o;
  o.window = 10;
  PhiAccrualDetector d(o);
  int64_t t = 0;
  for (int i = 0; i < 50; i++) d.Heartbeat(t += 100);
  for (int i = 0; i < 10; i++) d.Heartbeat(t += 2000);  // the link slowed down
  EXPECT_NEAR(d.mean_ms(), 2000, 1e-9);
  EXPECT_TRUE(d.IsAvailable(t + 2100));
}

TEST(PhiAccrualTest, AcceptablePauseShiftsSuspicion) {
  PhiAccrualDetector::Options o;
  o.acceptable_pause_ms = 3000;
  PhiAccrualDetector paused(o), plain;
  for (int64_t t = 0; t <= 100'000; t += 1000) {
    paused.Heartbeat(t);
    plain.Heartbeat(t);
  }
  EXPECT_FALSE(plain.IsAvailable(100'000 + 3000));
  EXPECT_TRUE(paused.IsAvailable(100'000 + 3000));
}

}  // namespace
}  // namespace cairn::cluster
