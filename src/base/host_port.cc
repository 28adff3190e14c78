#include "base/host_port.h"

#include <charconv>

namespace cairn {

std::string JoinHostPort(std::string_view host, int port) {
  const bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  std::string out;
  if (!bracketed && host.find(':') != std::string_view::npos) {
    out.append("[").append(host).append("]");
  } else {
    out.append(host);
  }
  return out.append(":").append(std::to_string(port));
}

bool SplitHostPort(std::string_view address, std::string* host, int* port) {
  std::string_view h, p;
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    if (close == std::string_view::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      return false;
    }
    h = address.substr(1, close - 1);
    p = address.substr(close + 2);
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string_view::npos) return false;
    h = address.substr(0, colon);
    p = address.substr(colon + 1);
  }
  int v = 0;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
  if (h.empty() || p.empty() || ec != std::errc() || end != p.data() + p.size() || v < 1 ||
      v > 65535) {
    return false;
  }
  *host = std::string(h);
  *port = v;
  return true;
}

}  // namespace cairn
