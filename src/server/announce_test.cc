#include "server/announce.h"

#include <gtest/gtest.h>

#include "base/host_port.h"

namespace cairn::server {
namespace {

TEST(AnnounceTest, UnspecifiedAddresses) {
  EXPECT_TRUE(IsUnspecifiedAddress("0.0.0.0"));
  EXPECT_TRUE(IsUnspecifiedAddress("::"));
  EXPECT_TRUE(IsUnspecifiedAddress("[::]"));
  EXPECT_FALSE(IsUnspecifiedAddress("127.0.0.1"));
  EXPECT_FALSE(IsUnspecifiedAddress("::1"));
  EXPECT_FALSE(IsUnspecifiedAddress("node1.example"));
}

TEST(AnnounceTest, AnnounceAddressThenBindThenTheRouteToASeed) {
  EXPECT_EQ(*AnnouncedHost("0.0.0.0", "203.0.113.7", ""), "203.0.113.7");  // behind NAT
  EXPECT_EQ(*AnnouncedHost("127.0.0.1", "", ""), "127.0.0.1");
  // Bound to every interface: the address this host reaches the seed from.
  EXPECT_EQ(*AnnouncedHost("0.0.0.0", "", "127.0.0.1:7381"), "127.0.0.1");
  // A seed that is not host:port is skipped for the next one.
  EXPECT_EQ(*AnnouncedHost("0.0.0.0", "", "garbage, 127.0.0.1:7381"), "127.0.0.1");
  // Bound to 0.0.0.0 the node listens on IPv4 only: a seed reached over IPv6 (a literal, or
  // a name resolving to an IPv6 address first) must not make it announce an IPv6 address.
  EXPECT_EQ(*AnnouncedHost("0.0.0.0", "", "[::1]:7381,127.0.0.1:7381"), "127.0.0.1");
  EXPECT_FALSE(AnnouncedHost("0.0.0.0", "", "[::1]:7381").ok());
  // Bound to :: (both families): the IPv6 route is fine.
  EXPECT_EQ(*AnnouncedHost("::", "", "[::1]:7381"), "::1");
}

// An IPv6 announced host is bracketed where it meets a port, and read back as it was:
// "2001:db8::1:7381" would be another address (or a port of 1).
TEST(AnnounceTest, IPv6AddressesAreBracketedWithTheirPortAndParsedBack) {
  for (const char* announce : {"2001:db8::1", "[2001:db8::1]"}) {
    auto host = AnnouncedHost("0.0.0.0", announce, "");
    ASSERT_TRUE(host.ok()) << host.status();
    EXPECT_EQ(*host, "2001:db8::1");
    const std::string address = JoinHostPort(*host, 7381);
    EXPECT_EQ(address, "[2001:db8::1]:7381");
    std::string back;
    int port = 0;
    ASSERT_TRUE(SplitHostPort(address, &back, &port));
    EXPECT_EQ(back, "2001:db8::1");
    EXPECT_EQ(port, 7381);
  }
  auto bound = AnnouncedHost("::1", "", "");
  ASSERT_TRUE(bound.ok());
  EXPECT_EQ(JoinHostPort(*bound, 7379), "[::1]:7379");
  // Bound to :: and routed over IPv6 to a bracketed seed: the source address, bracketed.
  auto routed = AnnouncedHost("::", "", "[::1]:7381");
  ASSERT_TRUE(routed.ok()) << routed.status();
  EXPECT_EQ(JoinHostPort(*routed, 7381), "[::1]:7381");
  EXPECT_EQ(JoinHostPort(*AnnouncedHost("10.0.0.2", "", ""), 7381), "10.0.0.2:7381");
  // A bracketed wildcard is still the wildcard.
  EXPECT_FALSE(AnnouncedHost("127.0.0.1", "[::]", "").ok());
}

TEST(AnnounceTest, NeverTheWildcard) {
  auto no_seed = AnnouncedHost("0.0.0.0", "", "");
  ASSERT_FALSE(no_seed.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(no_seed.status()));
  EXPECT_NE(no_seed.status().message().find("set announce-address"), std::string::npos);
  EXPECT_FALSE(AnnouncedHost("::", "", "").ok());
  auto wildcard = AnnouncedHost("127.0.0.1", "0.0.0.0", "");
  ASSERT_FALSE(wildcard.ok());
  EXPECT_NE(wildcard.status().message().find("announce-address 0.0.0.0"), std::string::npos);
}

}  // namespace
}  // namespace cairn::server
