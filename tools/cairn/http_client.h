// A blocking HTTP/1.1 client for the CLI (Boost.Beast), one request per connection.
#ifndef CAIRN_TOOLS_CAIRN_HTTP_CLIENT_H_
#define CAIRN_TOOLS_CAIRN_HTTP_CLIENT_H_

#include <string>

namespace cairn::tools {

// A request to host:port (method "GET", "POST", ...); the body of a 2xx answer, or a
// std::runtime_error with the server's error message. timeout_s bounds the whole exchange.
std::string HttpCall(const std::string& method, const std::string& host, int port,
                     const std::string& target, int timeout_s = 10);

}  // namespace cairn::tools

#endif  // CAIRN_TOOLS_CAIRN_HTTP_CLIENT_H_
