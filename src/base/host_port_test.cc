#include "base/host_port.h"

#include <gtest/gtest.h>

namespace cairn {
namespace {

TEST(HostPortTest, IPv6IsBracketedAndReadBack) {
  EXPECT_EQ(JoinHostPort("::1", 7381), "[::1]:7381");
  EXPECT_EQ(JoinHostPort("[2001:db8::1]", 7381), "[2001:db8::1]:7381");  // once
  EXPECT_EQ(JoinHostPort("10.0.0.2", 7381), "10.0.0.2:7381");
  EXPECT_EQ(JoinHostPort("node1.example", 80), "node1.example:80");
  for (const char* host : {"::1", "2001:db8::7381", "fe80::1", "10.0.0.2", "node1"}) {
    std::string h;
    int p = 0;
    ASSERT_TRUE(SplitHostPort(JoinHostPort(host, 7381), &h, &p)) << host;
    EXPECT_EQ(h, host);
    EXPECT_EQ(p, 7381);
  }
}

TEST(HostPortTest, BadAddressesAreRefused) {
  std::string h;
  int p = 0;
  for (const char* bad : {"", "host", "host:", ":7381", "host:0", "host:65536", "host:7x", "[::1]",
                          "[::1]7381", "[::1", "[]:7381"}) {
    EXPECT_FALSE(SplitHostPort(bad, &h, &p)) << bad;
  }
  // What versions before brackets wrote: the last group is the port.
  ASSERT_TRUE(SplitHostPort("::1:7381", &h, &p));
  EXPECT_EQ(h, "::1");
  EXPECT_EQ(p, 7381);
}

}  // namespace
}  // namespace cairn
