// The byte stream of one client connection: a plain TCP socket or TLS over one, behind
// one interface (Asio's AsyncReadStream and AsyncWriteStream), so a connection's state
// machine is written once. Included only by files that run connections (Asio and
// OpenSSL headers are expensive).
#ifndef CAIRN_SERVER_CLIENT_STREAM_H_
#define CAIRN_SERVER_CLIENT_STREAM_H_

#include <utility>  // before Asio: Boost 1.74 + GCC 12 in C++20 misses it

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <memory>

namespace cairn::server {

class ClientStream {
 public:
  using tcp = boost::asio::ip::tcp;
  using executor_type = tcp::socket::executor_type;

  // Plain TCP.
  explicit ClientStream(tcp::socket socket) : socket_(std::move(socket)) {}
  // TLS with `context` (kept alive by this stream: a reload of the certificates leaves
  // open connections on the context they started with). Handshake before any I/O.
  ClientStream(tcp::socket socket, std::shared_ptr<boost::asio::ssl::context> context)
      : socket_(socket.get_executor()),
        context_(std::move(context)),
        tls_(std::make_unique<boost::asio::ssl::stream<tcp::socket>>(std::move(socket),
                                                                     *context_)) {}

  bool tls() const { return tls_ != nullptr; }
  executor_type get_executor() { return socket_.get_executor(); }
  tcp::socket& socket() { return tls_ ? tls_->next_layer() : socket_; }

  // REQUIRES: tls(). Calls handler(error_code) once the handshake ended.
  template <class Handler>
  void AsyncHandshake(Handler&& handler) {
    tls_->async_handshake(boost::asio::ssl::stream_base::server, std::forward<Handler>(handler));
  }

  template <class Buffers, class Handler>
  void async_read_some(const Buffers& buffers, Handler&& handler) {
    if (tls_) {
      tls_->async_read_some(buffers, std::forward<Handler>(handler));
    } else {
      socket_.async_read_some(buffers, std::forward<Handler>(handler));
    }
  }
  template <class Buffers, class Handler>
  void async_write_some(const Buffers& buffers, Handler&& handler) {
    if (tls_) {
      tls_->async_write_some(buffers, std::forward<Handler>(handler));
    } else {
      socket_.async_write_some(buffers, std::forward<Handler>(handler));
    }
  }

  // Closes the socket at once, without a TLS close_notify: the peer sees the TCP stream
  // end (every reply due was written before; nothing waits on an unresponsive peer).
  void Close() {
    boost::system::error_code ec;
    socket().shutdown(tcp::socket::shutdown_both, ec);
    socket().close(ec);
  }

 private:
  tcp::socket socket_;  // plain; unused (never opened) with TLS
  std::shared_ptr<boost::asio::ssl::context> context_;
  std::unique_ptr<boost::asio::ssl::stream<tcp::socket>> tls_;
};

}  // namespace cairn::server

#endif  // CAIRN_SERVER_CLIENT_STREAM_H_
