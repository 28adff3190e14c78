#include "http_client.h"

#include <utility>  // before Asio: Boost 1.74 + GCC 12 in C++20 misses it

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "absl/strings/str_format.h"

namespace cairn::tools {

namespace beast = boost::beast;
namespace http = beast::http;
using boost::asio::ip::tcp;

std::string HttpCall(const std::string& method, const std::string& host, int port,
                     const std::string& target, int timeout_s) {
  boost::asio::io_context io;
  tcp::resolver resolver(io);
  beast::tcp_stream stream(io);
  stream.expires_after(std::chrono::seconds(timeout_s));
  stream.connect(resolver.resolve(host, std::to_string(port)));
  http::request<http::empty_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, host.find(':') == std::string::npos ? host : "[" + host + "]");
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  if (res.result_int() / 100 != 2) {
    std::string message = res.body();
    try {
      message = nlohmann::json::parse(res.body()).at("error").get<std::string>();
    } catch (const std::exception&) {
    }
    throw std::runtime_error(absl::StrFormat("HTTP %d: %s", res.result_int(), message));
  }
  return res.body();
}

}  // namespace cairn::tools
