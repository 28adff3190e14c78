#include "cluster/asio_transport.h"

#include <utility>  // before Asio: Boost 1.74 + GCC 12 in C++20 misses it

#include <boost/asio.hpp>
#include <chrono>
#include <deque>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cluster/message.h"

namespace cairn::cluster {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  return std::chrono::microseconds(absl::ToInt64Microseconds(d));
}

// "host:port" -> host, port.
bool SplitAddress(const std::string& address, std::string* host, std::string* port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) return false;
  *host = address.substr(0, colon);
  *port = address.substr(colon + 1);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);  // [::1]:7381
  }
  int p;
  return absl::SimpleAtoi(*port, &p) && p > 0 && p < 65536;
}

}  // namespace

class AsioTransport::Impl {
 public:
  Impl(const Options& options, Handler handler)
      : options_(options),
        handler_(std::move(handler)),
        acceptor_(io_),
        workers_(std::max(1, options.handler_threads)),
        guard_(asio::make_work_guard(io_)) {}

  absl::Status Listen() {
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(options_.bind, ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("bad bind address ", options_.bind));
    tcp::endpoint endpoint(address, static_cast<unsigned short>(options_.port));
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", options_.bind, ":", options_.port, ": ", ec.message()));
    }
    port_ = acceptor_.local_endpoint().port();
    Accept();
    thread_ = std::thread([this] { io_.run(); });
    return absl::OkStatus();
  }

  void Shutdown() {
    asio::post(io_, [this] {
      stopped_ = true;
      boost::system::error_code ec;
      acceptor_.close(ec);
      for (auto& [address, peer] : peers_) peer->Close(absl::CancelledError("transport shut down"));
      for (auto& weak : sessions_) {
        if (auto s = weak.lock()) s->Close();
      }
      guard_.reset();
    });
    if (thread_.joinable()) thread_.join();
    workers_.join();
  }

  int port() const { return port_; }

  void Call(const std::string& address, pb::Envelope request, absl::Duration timeout, Done done) {
    asio::post(io_, [this, address, request = std::move(request), timeout,
                     done = std::move(done)]() mutable {
      // A callback of a call cancelled by Shutdown may call again: refuse, or the new
      // connection would keep the I/O thread (and the destructor) waiting.
      if (stopped_) return done(absl::CancelledError("transport shut down"));
      auto it = peers_.find(address);
      if (it == peers_.end()) {
        it = peers_.emplace(address, std::make_shared<Peer>(this, address)).first;
      }
      it->second->Send(std::move(request), timeout, std::move(done));
    });
  }

  std::map<std::string, PeerStats> Stats() {
    absl::MutexLock l(&stats_mu_);
    return stats_;
  }

 private:
  // An outgoing connection and the calls waiting on it. Lives on the io thread.
  class Peer : public std::enable_shared_from_this<Peer> {
   public:
    Peer(Impl* impl, std::string address)
        : impl_(impl), address_(std::move(address)), socket_(impl->io_), timer_(impl->io_) {}

    void Send(pb::Envelope request, absl::Duration timeout, Done done) {
      impl_->Count(address_, [](PeerStats& s) { s.calls++; });
      if (NowMicros() < retry_after_micros_) {
        return Fail(std::move(done), NotSent(absl::UnavailableError(absl::StrCat(
                                         "cluster peer ", address_, " unreachable: ", last_error_))));
      }
      const uint64_t id = next_id_++;
      request.set_request_id(id);
      request.set_is_reply(false);
      std::string frame;
      AppendFrame(request, &frame);
      // The bound is on the backlog: one message larger than it (a 100 MB value) still
      // goes when nothing else is waiting.
      if (queued_bytes_ > 0 && queued_bytes_ + frame.size() > impl_->options_.max_queued_bytes) {
        return Fail(std::move(done),
                    absl::ResourceExhaustedError(absl::StrCat(
                        "cluster peer ", address_, ": ", queued_bytes_, " bytes already queued")));
      }
      Pending& p = pending_[id];
      p.done = std::move(done);
      p.start_micros = NowMicros();
      p.timer = std::make_unique<asio::steady_timer>(impl_->io_, ToChrono(timeout));
      p.timer->async_wait([self = shared_from_this(), id](boost::system::error_code ec) {
        if (ec) return;  // answered or cancelled
        self->Finish(id, absl::DeadlineExceededError(
                             absl::StrCat("cluster peer ", self->address_, " did not answer in time")));
      });
      queued_bytes_ += frame.size();
      out_.push_back(std::move(frame));
      if (state_ == State::kIdle) {
        Connect();
      } else if (state_ == State::kConnected) {
        Write();
      }
    }

    void Close(const absl::Status& why) {
      gen_++;  // completions of this connection's operations are ignored from now on
      boost::system::error_code ec;
      socket_.close(ec);
      timer_.cancel();
      state_ = State::kIdle;
      writing_ = false;
      out_.clear();
      queued_bytes_ = 0;
      in_.clear();
      auto pending = std::move(pending_);
      pending_.clear();
      for (auto& [id, p] : pending) {
        p.timer->cancel();
        Fail(std::move(p.done), why);
      }
      impl_->Count(address_, [](PeerStats& s) { s.connected = false; });
    }

   private:
    enum class State { kIdle, kConnecting, kConnected };
    struct Pending {
      Done done;
      std::unique_ptr<asio::steady_timer> timer;
      int64_t start_micros = 0;
    };

    void Fail(Done done, const absl::Status& s) {
      impl_->Count(address_, [&](PeerStats& st) {
        st.errors++;
        if (absl::IsDeadlineExceeded(s)) st.timeouts++;
      });
      done(s);
    }

    void Finish(uint64_t id, absl::StatusOr<pb::Envelope> reply) {
      auto it = pending_.find(id);
      if (it == pending_.end()) return;
      Pending p = std::move(it->second);
      pending_.erase(it);
      p.timer->cancel();
      if (!reply.ok()) return Fail(std::move(p.done), reply.status());
      const int64_t micros = NowMicros() - p.start_micros;
      impl_->Count(address_, [&](PeerStats& st) { st.latency_micros_total += micros; });
      p.done(std::move(reply));
    }

    void Connect() {
      std::string host, port;
      if (!SplitAddress(address_, &host, &port)) {
        return Broken(absl::InvalidArgumentError(absl::StrCat("bad peer address '", address_, "'")));
      }
      state_ = State::kConnecting;
      auto self = shared_from_this();
      const uint64_t gen = gen_;
      timer_.expires_after(ToChrono(impl_->options_.connect_timeout));
      timer_.async_wait([self, gen](boost::system::error_code ec) {
        if (!ec && gen == self->gen_ && self->state_ == State::kConnecting) {
          boost::system::error_code ignored;
          self->socket_.close(ignored);  // the connect handler sees operation_aborted
        }
      });
      auto resolver = std::make_shared<tcp::resolver>(impl_->io_);
      resolver->async_resolve(
          host, port,
          [self, resolver, gen](boost::system::error_code ec, tcp::resolver::results_type r) {
            if (gen != self->gen_) return;
            if (ec) return self->Broken(absl::UnavailableError(ec.message()));
            asio::async_connect(self->socket_, r,
                                [self, gen](boost::system::error_code ec, const tcp::endpoint&) {
                                  if (gen != self->gen_) return;
                                  self->timer_.cancel();
                                  if (ec) {
                                    return self->Broken(absl::UnavailableError(
                                        ec == asio::error::operation_aborted ? "connect timed out"
                                                                             : ec.message()));
                                  }
                                  boost::system::error_code ignored;
                                  self->socket_.set_option(tcp::no_delay(true), ignored);
                                  self->state_ = State::kConnected;
                                  self->impl_->Count(self->address_,
                                                     [](PeerStats& s) { s.connected = true; });
                                  self->Read();
                                  self->Write();
                                });
          });
    }

    // The connection failed or broke: every waiting call fails; the next call reconnects
    // (after the backoff, if connecting failed).
    void Broken(const absl::Status& why) {
      const bool connecting = state_ == State::kConnecting;
      last_error_ = std::string(why.message());
      if (connecting) {
        retry_after_micros_ =
            NowMicros() + absl::ToInt64Microseconds(impl_->options_.reconnect_backoff);
      }
      // Calls waiting for a connection that never came were never sent.
      absl::Status status = absl::UnavailableError(
          absl::StrCat("cluster peer ", address_, (connecting ? " unreachable: " : " connection lost: "),
                       last_error_));
      Close(connecting ? NotSent(std::move(status)) : std::move(status));
    }

    // The frame being written is owned by its completion handler, so closing the
    // connection (which clears out_) never frees bytes the socket may still be reading.
    void Write() {
      if (writing_ || out_.empty() || state_ != State::kConnected) return;
      writing_ = true;
      auto frame = std::make_shared<std::string>(std::move(out_.front()));
      out_.pop_front();
      asio::async_write(socket_, asio::buffer(*frame),
                        [self = shared_from_this(), frame, gen = gen_](boost::system::error_code ec,
                                                                      size_t) {
                          if (gen != self->gen_) return;
                          self->writing_ = false;
                          if (ec) return self->Broken(absl::UnavailableError(ec.message()));
                          self->queued_bytes_ -= frame->size();
                          self->Write();
                        });
    }

    void Read() {
      const size_t at = in_.size();
      in_.resize(at + (64 << 10));
      socket_.async_read_some(
          asio::buffer(in_.data() + at, 64 << 10),
          [self = shared_from_this(), at, gen = gen_](boost::system::error_code ec, size_t n) {
            if (gen != self->gen_) return;
            self->in_.resize(at + n);
            if (ec) return self->Broken(absl::UnavailableError(ec.message()));
            size_t pos = 0;
            while (true) {
              pb::Envelope reply;
              size_t consumed, wanted;
              absl::Status error;
              const FrameResult r =
                  ParseFrame(std::string_view(self->in_).substr(pos), &reply, &consumed, &wanted, &error);
              if (r == FrameResult::kError) return self->Broken(absl::UnavailableError(error.message()));
              if (r == FrameResult::kNeedMore) break;
              pos += consumed;
              const uint64_t id = reply.request_id();  // before the move below
              self->Finish(id, std::move(reply));
              if (self->state_ != State::kConnected) return;
            }
            self->in_.erase(0, pos);
            self->Read();
          });
    }

    Impl* const impl_;
    const std::string address_;
    tcp::socket socket_;
    asio::steady_timer timer_;  // the connect deadline
    State state_ = State::kIdle;
    std::deque<std::string> out_;
    size_t queued_bytes_ = 0;
    bool writing_ = false;
    uint64_t gen_ = 0;  // bumped by Close: one per connection
    std::string in_;
    absl::flat_hash_map<uint64_t, Pending> pending_;
    uint64_t next_id_ = 1;
    int64_t retry_after_micros_ = 0;
    std::string last_error_;
  };

  // A connection a peer made: requests in, replies out. Lives on the io thread.
  class Session : public std::enable_shared_from_this<Session> {
   public:
    Session(Impl* impl, tcp::socket socket) : impl_(impl), socket_(std::move(socket)) {}

    void Start() {
      boost::system::error_code ignored;
      socket_.set_option(tcp::no_delay(true), ignored);
      Read();
    }
    void Close() {
      boost::system::error_code ignored;
      socket_.close(ignored);
      closed_ = true;
    }

    // Queues a reply (on the io thread).
    void Reply(pb::Envelope reply) {
      if (closed_) return;
      std::string frame;
      AppendFrame(reply, &frame);
      out_.push_back(std::move(frame));
      Write();
    }

   private:
    void Read() {
      const size_t at = in_.size();
      in_.resize(at + (64 << 10));
      socket_.async_read_some(
          asio::buffer(in_.data() + at, 64 << 10),
          [self = shared_from_this(), at](boost::system::error_code ec, size_t n) {
            self->in_.resize(at + n);
            if (ec) return self->Close();
            size_t pos = 0;
            while (true) {
              pb::Envelope request;
              size_t consumed, wanted;
              absl::Status error;
              const FrameResult r = ParseFrame(std::string_view(self->in_).substr(pos), &request,
                                               &consumed, &wanted, &error);
              if (r == FrameResult::kError) return self->Close();  // not a cairn node
              if (r == FrameResult::kNeedMore) break;
              pos += consumed;
              self->Dispatch(std::move(request));
            }
            self->in_.erase(0, pos);
            self->Read();
          });
    }

    void Dispatch(pb::Envelope request) {
      const uint64_t id = request.request_id();
      std::weak_ptr<Session> weak = shared_from_this();
      Impl* impl = impl_;
      Respond respond = [impl, weak, id](pb::Envelope reply) {
        reply.set_request_id(id);
        reply.set_is_reply(true);
        asio::post(impl->io_, [weak, reply = std::move(reply)]() mutable {
          if (auto self = weak.lock()) self->Reply(std::move(reply));
        });
      };
      asio::post(impl_->workers_, [impl, request = std::move(request),
                                   respond = std::move(respond)]() mutable {
        impl->handler_(std::move(request), std::move(respond));
      });
    }

    void Write() {
      if (writing_ || out_.empty() || closed_) return;
      writing_ = true;
      auto frame = std::make_shared<std::string>(std::move(out_.front()));
      out_.pop_front();
      asio::async_write(socket_, asio::buffer(*frame),
                        [self = shared_from_this(), frame](boost::system::error_code ec, size_t) {
                          self->writing_ = false;
                          if (ec) return self->Close();
                          self->Write();
                        });
    }

    Impl* const impl_;
    tcp::socket socket_;
    std::string in_;
    std::deque<std::string> out_;
    bool writing_ = false, closed_ = false;
  };

  void Accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      if (ec) {
        if (ec != asio::error::operation_aborted) Accept();
        return;
      }
      auto session = std::make_shared<Session>(this, std::move(socket));
      sessions_.erase(std::remove_if(sessions_.begin(), sessions_.end(),
                                     [](const std::weak_ptr<Session>& w) { return w.expired(); }),
                      sessions_.end());
      sessions_.push_back(session);
      session->Start();
      Accept();
    });
  }

  template <typename Fn>
  void Count(const std::string& address, Fn&& fn) {
    absl::MutexLock l(&stats_mu_);
    fn(stats_[address]);
  }

  const Options options_;
  const Handler handler_;
  asio::io_context io_{1};
  tcp::acceptor acceptor_;
  asio::thread_pool workers_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::thread thread_;
  int port_ = 0;
  bool stopped_ = false;  // set on the I/O thread by Shutdown
  std::map<std::string, std::shared_ptr<Peer>> peers_;  // io thread only
  std::vector<std::weak_ptr<Session>> sessions_;       // io thread only
  absl::Mutex stats_mu_;
  std::map<std::string, PeerStats> stats_ ABSL_GUARDED_BY(stats_mu_);
};

absl::StatusOr<std::unique_ptr<AsioTransport>> AsioTransport::Start(const Options& options,
                                                                    Handler handler) {
  auto impl = std::make_unique<Impl>(options, std::move(handler));
  if (absl::Status s = impl->Listen(); !s.ok()) return s;
  return std::unique_ptr<AsioTransport>(new AsioTransport(std::move(impl)));
}

AsioTransport::AsioTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AsioTransport::~AsioTransport() { impl_->Shutdown(); }

void AsioTransport::Call(const std::string& address, pb::Envelope request, absl::Duration timeout,
                         Done done) {
  impl_->Call(address, std::move(request), timeout, std::move(done));
}

int AsioTransport::port() const { return impl_->port(); }

std::map<std::string, AsioTransport::PeerStats> AsioTransport::Stats() { return impl_->Stats(); }

}  // namespace cairn::cluster
