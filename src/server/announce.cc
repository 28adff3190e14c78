#include "server/announce.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/host_port.h"
#include "base/status.h"

namespace cairn::server {
namespace {

// The local address a datagram to host:port would leave from ("" if none): connect()
// on a UDP socket picks the route and the source address without sending anything.
// family: AF_INET for a node bound to 0.0.0.0 (it listens on IPv4 only), else AF_UNSPEC.
std::string SourceAddressTowards(const std::string& host, const std::string& port, int family) {
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0) return "";
  std::string out;
  for (addrinfo* a = found; a != nullptr && out.empty(); a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    sockaddr_storage local{};
    socklen_t len = sizeof(local);
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0) {
      char text[INET6_ADDRSTRLEN] = {};
      const void* raw =
          local.ss_family == AF_INET6
              ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr)
              : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&local)->sin_addr);
      if (inet_ntop(local.ss_family, raw, text, sizeof(text)) != nullptr &&
          !IsUnspecifiedAddress(text)) {
        out = text;
      }
    }
    close(fd);
  }
  freeaddrinfo(found);
  return out;
}

// host without the brackets an IPv6 address may be written in ("[::1]" -> "::1").
std::string Unbracketed(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::string(host);
}

}  // namespace

bool IsUnspecifiedAddress(std::string_view host) {
  const std::string h(absl::StripSuffix(absl::StripPrefix(ToAbsl(host), "["), "]"));
  in_addr v4;
  in6_addr v6;
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) return v4.s_addr == htonl(INADDR_ANY);
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1)
    return std::memcmp(&v6, &in6addr_any, sizeof(v6)) == 0;
  return false;
}

absl::StatusOr<std::string> AnnouncedHost(std::string_view bind, std::string_view announce_address,
                                          std::string_view seeds) {
  if (!announce_address.empty()) {
    if (IsUnspecifiedAddress(announce_address)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "announce-address ", ToAbsl(announce_address),
          " means every interface, which no other node can connect to: set it to the address "
          "the other nodes reach this one at"));
    }
    return Unbracketed(announce_address);
  }
  if (!IsUnspecifiedAddress(bind)) return Unbracketed(bind);
  in_addr v4;
  const int family = inet_pton(AF_INET, std::string(bind).c_str(), &v4) == 1 ? AF_INET : AF_UNSPEC;
  for (absl::string_view seed : absl::StrSplit(ToAbsl(seeds), ',', absl::SkipWhitespace())) {
    seed = absl::StripAsciiWhitespace(seed);
    std::string host;
    int port = 0;
    if (!SplitHostPort(std::string_view(seed.data(), seed.size()), &host, &port)) continue;
    if (std::string source = SourceAddressTowards(host, std::to_string(port), family);
        !source.empty()) {
      return source;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "bind is ", ToAbsl(bind),
      " (every interface), which the other nodes cannot connect to, and no seed tells which "
      "address they reach this node at: set announce-address (and announce-port behind NAT)"));
}

}  // namespace cairn::server
