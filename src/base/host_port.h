// "host:port" text, as cluster addresses, seeds and announced addresses are written: an
// IPv6 address goes in brackets ("[2001:db8::1]:7381", RFC 3986), or its colons would run
// into the port's.
#ifndef CAIRN_BASE_HOST_PORT_H_
#define CAIRN_BASE_HOST_PORT_H_

#include <string>
#include <string_view>

namespace cairn {

// host (a name, an IPv4 address, or an IPv6 address with or without brackets) and port
// joined: "[::1]:7381", "10.0.0.2:7381", "node1:7381".
std::string JoinHostPort(std::string_view host, int port);

// The inverse of JoinHostPort: host without brackets, port in 1..65535. False if address
// has no port or a bad one, or an unclosed bracket. An IPv6 address without brackets
// ("::1:7381", as versions before brackets wrote it) is read with its last group as the port.
bool SplitHostPort(std::string_view address, std::string* host, int* port);

}  // namespace cairn

#endif  // CAIRN_BASE_HOST_PORT_H_
