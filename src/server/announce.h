// The address a cluster node tells the others to reach it at (announce-address;
// docs/cluster.md, "Addresses"). A node bound to every interface (0.0.0.0 or ::) must
// never announce that: no peer can connect to it.
#ifndef CAIRN_SERVER_ANNOUNCE_H_
#define CAIRN_SERVER_ANNOUNCE_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace cairn::server {

// Whether host is a numeric address meaning "every interface" (0.0.0.0, ::).
bool IsUnspecifiedAddress(std::string_view host);

// The host part of this node's announced addresses, without brackets (JoinHostPort,
// base/host_port.h, brackets an IPv6 address with its port): announce_address if set;
// else bind, unless bind is unspecified: then the local address of the route to the first
// seed (host:port or [v6]:port, comma-separated) that has one, which is how that seed's
// host reaches this one; an IPv4 route only when bind is 0.0.0.0, which listens on IPv4
// alone. InvalidArgument, telling the operator to set announce-address, if
// announce_address is itself unspecified or no address can be found. May resolve seed
// names (blocks): call at startup only.
absl::StatusOr<std::string> AnnouncedHost(std::string_view bind, std::string_view announce_address,
                                          std::string_view seeds);

}  // namespace cairn::server

#endif  // CAIRN_SERVER_ANNOUNCE_H_
