#include "cluster/asio_transport.h"

#include <utility>  // before Asio: Boost 1.74 + GCC 12 in C++20 misses it

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <queue>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/host_port.h"
#include "cluster/message.h"
#include "cluster/peer_auth.h"
#include "spdlog/spdlog.h"

namespace cairn::cluster {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string EndpointText(const tcp::endpoint& e) {
  return e.address().is_v6() ? absl::StrCat("[", e.address().to_string(), "]:", e.port())
                             : absl::StrCat(e.address().to_string(), ":", e.port());
}

std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  return std::chrono::microseconds(absl::ToInt64Microseconds(d));
}

// "host:port" -> host, port ("[::1]:7381" -> "::1", "7381").
bool SplitAddress(const std::string& address, std::string* host, std::string* port) {
  int p = 0;
  if (!SplitHostPort(address, host, &p)) return false;
  *port = std::to_string(p);
  return true;
}

// One TLS connection, keeping its context alive. Shared with every operation in flight on
// it, so a connection closed (and forgotten) while a read is pending is freed only once
// that read's handler ran.
struct TlsStream {
  TlsStream(std::shared_ptr<asio::ssl::context> c, tcp::socket s)
      : context(std::move(c)), stream(std::move(s), *context) {}
  std::shared_ptr<asio::ssl::context> context;
  asio::ssl::stream<tcp::socket> stream;
};

// A read or a whole write on a connection that is plain (tls null) or TLS.
template <class Handler>
void ReadSome(tcp::socket& plain, const std::shared_ptr<TlsStream>& tls, asio::mutable_buffer b,
              Handler handler) {
  if (tls == nullptr) return plain.async_read_some(b, std::move(handler));
  tls->stream.async_read_some(b, [keep = tls, handler = std::move(handler)](
                                     boost::system::error_code ec, size_t n) mutable {
    handler(ec, n);
  });
}
template <class Handler>
void WriteAll(tcp::socket& plain, const std::shared_ptr<TlsStream>& tls, asio::const_buffer b,
              Handler handler) {
  if (tls == nullptr) return asio::async_write(plain, b, std::move(handler));
  asio::async_write(tls->stream, b, [keep = tls, handler = std::move(handler)](
                                        boost::system::error_code ec, size_t n) mutable {
    handler(ec, n);
  });
}

std::string TlsError(const boost::system::error_code& ec) {
  std::string what = ec.message();
  if (ec.category() == asio::error::get_ssl_category()) {
    // OpenSSL's reason, e.g. "certificate verify failed".
    char buf[256];
    ERR_error_string_n(static_cast<unsigned long>(ec.value()), buf, sizeof(buf));
    what = buf;
  }
  return absl::StrCat("TLS handshake failed: ", what);
}

// Bytes read from a socket and not parsed yet. Grows to fit; the room a read fills is
// never zero-filled first (a std::string resized by 64 KiB per read was).
class InBuffer {
 public:
  // Room for at least `want` more bytes, at the end.
  char* Room(size_t want) {
    if (cap_ - len_ < want) {
      const size_t cap = std::max(cap_ * 2, len_ + want);
      std::unique_ptr<char[]> bigger(new char[cap]);
      if (len_ > 0) std::memcpy(bigger.get(), data_.get(), len_);
      data_ = std::move(bigger);
      cap_ = cap;
    }
    return data_.get() + len_;
  }
  size_t room() const { return cap_ - len_; }
  void Added(size_t n) { len_ += n; }
  std::string_view view() const { return std::string_view(data_.get(), len_); }
  void Consume(size_t n) {
    if (n < len_) std::memmove(data_.get(), data_.get() + n, len_ - n);
    len_ -= std::min(n, len_);
  }
  void clear() { len_ = 0; }

 private:
  std::unique_ptr<char[]> data_;
  size_t cap_ = 0, len_ = 0;
};

}  // namespace

class AsioTransport::Impl {
 public:
  Impl(const Options& options, Handler handler)
      : options_(options), handler_(std::move(handler)) {
    if (options_.contexts.empty()) {
      own_io_ = std::make_unique<asio::io_context>(1);
      own_guard_.emplace(asio::make_work_guard(*own_io_));
      options_.contexts.push_back(own_io_.get());
    }
    for (asio::io_context* io : options_.contexts) {
      shards_.push_back(std::make_shared<Shard>(io));
      shards_.back()->self = shards_.back();
    }
    acceptor_.emplace(*shards_[0]->io);
    accept_timer_.emplace(*shards_[0]->io);
  }

  absl::Status Listen() {
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(options_.bind, ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("bad bind address ", options_.bind));
    tcp::endpoint endpoint(address, static_cast<unsigned short>(options_.port));
    acceptor_->open(endpoint.protocol(), ec);
    if (!ec) acceptor_->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_->bind(endpoint, ec);
    if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", options_.bind, ":", options_.port, ": ", ec.message()));
    }
    port_ = acceptor_->local_endpoint().port();
    address_ = JoinHostPort(options_.bind, port_);
    node_id_ = options_.node_id.empty() ? address_ : options_.node_id;
    asio::post(*shards_[0]->io, [this] { Accept(); });
    if (own_io_ != nullptr) thread_ = std::thread([this] { own_io_->run(); });
    return absl::OkStatus();
  }

  // Closes every connection on its own thread (or here, if that thread's loop stopped)
  // and waits until each shard did.
  void Shutdown() {
    if (shut_down_.exchange(true)) return;
    struct Latch {
      absl::Mutex mu;
      int left ABSL_GUARDED_BY(mu) = 0;
    };
    auto latch = std::make_shared<Latch>();
    {
      absl::MutexLock l(&latch->mu);
      latch->left = static_cast<int>(shards_.size());
    }
    for (size_t i = 0; i < shards_.size(); i++) {
      Shard* shard = shards_[i].get();
      auto close = [this, shard, i, latch] {
        shard->stopped = true;
        if (i == 0) {
          boost::system::error_code ec;
          acceptor_->close(ec);
          accept_timer_->cancel();
        }
        for (auto& [address, peer] : shard->peers) peer->Close(absl::CancelledError("transport shut down"));
        for (auto& weak : shard->sessions) {
          if (auto s = weak.lock()) s->Close();
        }
        absl::MutexLock l(&latch->mu);
        latch->left--;
      };
      if (shard->io->stopped() || (options_.loops_running && !options_.loops_running())) {
        close();
      } else {
        asio::post(*shard->io, close);
      }
    }
    {
      absl::MutexLock l(&latch->mu);
      auto done = [&latch]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return latch->left == 0; };
      // A shard thread that never runs the close again (its loop was stopped while the
      // close waited in its queue) does not hold the destructor forever.
      latch->mu.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(10));
    }
    if (own_io_ != nullptr) {
      own_guard_.reset();
      own_io_->stop();
      if (thread_.joinable()) thread_.join();
    }
  }

  int port() const { return port_; }

  bool OnShardThread() const { return Current() != nullptr; }

  bool Defer(std::function<void()> fn) {
    Shard* shard = Current();
    if (shard == nullptr) return false;
    // After Shutdown closed this shard (on this thread) what was deferred is dropped:
    // its owners may be gone.
    std::shared_ptr<Shard> keep = shard->self.lock();
    asio::post(*shard->io, [keep, fn = std::move(fn)] {
      if (!keep->stopped) fn();
    });
    return true;
  }

  void Call(const std::string& address, pb::Envelope request, absl::Duration timeout, Done done) {
    if (Shard* shard = Current()) return shard->Call(this, address, std::move(request), timeout, std::move(done));
    Shard* shard = shards_[0].get();
    asio::post(*shard->io, [this, shard, address, request = std::move(request), timeout,
                            done = std::move(done)]() mutable {
      shard->Call(this, address, std::move(request), timeout, std::move(done));
    });
  }

  // Per outgoing connection; one address has one per shard.
  struct Counters {
    std::atomic<uint64_t> calls{0}, errors{0}, timeouts{0}, latency_micros_total{0};
    Histogram* latency = nullptr;  // the transport's, every peer's
    std::atomic<bool> connected{false};
  };
  std::shared_ptr<Counters> CountersFor(const std::string& address) {
    auto c = std::make_shared<Counters>();
    c->latency = &call_latency_;
    absl::MutexLock l(&stats_mu_);
    counters_[address].push_back(c);
    return c;
  }

  std::shared_ptr<asio::ssl::context> TlsContext(bool accepting) const {
    return options_.tls ? options_.tls(accepting) : nullptr;
  }

  std::vector<std::string> Secrets() const {
    return options_.secrets ? options_.secrets() : std::vector<std::string>{};
  }

  // Counts a refused or failed handshake and logs it, at most about once a second (a
  // scanner or a misconfigured node retrying must not flood the log).
  void AuthFailure(const std::string& peer, std::string_view reason) {
    auth_failures_.fetch_add(1, std::memory_order_relaxed);
    const int64_t now = NowMicros();
    int64_t last = last_auth_log_.load(std::memory_order_relaxed);
    if (now - last < 1000000 || !last_auth_log_.compare_exchange_strong(last, now)) {
      auth_unlogged_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    const uint64_t unlogged = auth_unlogged_.exchange(0, std::memory_order_relaxed);
    spdlog::warn("cluster connection with {} refused: {}{}", peer, reason,
                 unlogged == 0 ? std::string()
                               : absl::StrCat(" (and ", unlogged, " refusals not logged)"));
  }
  uint64_t auth_failures() const { return auth_failures_.load(std::memory_order_relaxed); }
  const Histogram& call_latency() const { return call_latency_; }

  std::map<std::string, PeerStats> Stats() {
    absl::MutexLock l(&stats_mu_);
    std::map<std::string, PeerStats> out;
    for (const auto& [address, all] : counters_) {
      PeerStats& st = out[address];
      for (const auto& c : all) {
        st.calls += c->calls.load(std::memory_order_relaxed);
        st.errors += c->errors.load(std::memory_order_relaxed);
        st.timeouts += c->timeouts.load(std::memory_order_relaxed);
        st.latency_micros_total += c->latency_micros_total.load(std::memory_order_relaxed);
        st.connected |= c->connected.load(std::memory_order_relaxed);
      }
    }
    return out;
  }

 private:
  class Peer;
  class Session;

  // One thread's connections: its outgoing ones (to each peer) and the incoming ones it
  // serves. Touched only on that thread.
  struct Shard {
    explicit Shard(asio::io_context* io) : io(io) {}
    void Call(Impl* impl, const std::string& address, pb::Envelope request, absl::Duration timeout,
              Done done) {
      // A callback of a call cancelled by Shutdown may call again: refuse, or the new
      // connection would outlive the transport.
      if (stopped) return done(absl::CancelledError("transport shut down"));
      auto it = peers.find(address);
      if (it == peers.end()) it = peers.emplace(address, std::make_shared<Peer>(impl, this, address)).first;
      it->second->Send(std::move(request), timeout, std::move(done));
    }
    asio::io_context* const io;
    std::weak_ptr<Shard> self;
    bool stopped = false;
    std::map<std::string, std::shared_ptr<Peer>> peers;
    std::vector<std::weak_ptr<Session>> sessions;
  };

  Shard* Current() const {
    for (const auto& shard : shards_) {
      if (shard->io->get_executor().running_in_this_thread()) return shard.get();
    }
    return nullptr;
  }

  // An outgoing connection of one shard and the calls waiting on it.
  class Peer : public std::enable_shared_from_this<Peer> {
   public:
    Peer(Impl* impl, Shard* shard, std::string address)
        : impl_(impl),
          shard_(shard),
          address_(std::move(address)),
          counters_(impl->CountersFor(address_)),
          socket_(*shard->io),
          timer_(*shard->io),
          deadline_timer_(*shard->io) {}

    void Send(pb::Envelope request, absl::Duration timeout, Done done) {
      counters_->calls++;
      const int64_t now = NowMicros();
      if (now < retry_after_micros_) {
        return Fail(std::move(done), NotSent(absl::UnavailableError(absl::StrCat(
                                         "cluster peer ", address_, " unreachable: ", last_error_))));
      }
      const uint64_t id = next_id_++;
      request.set_request_id(id);
      request.set_is_reply(false);
      const size_t before = out_.size();
      AppendFrame(request, &out_);
      const size_t frame = out_.size() - before;
      // The bound is on the backlog: one message larger than it (a 100 MB value) still
      // goes when nothing else is waiting.
      if (queued_bytes_ > 0 && queued_bytes_ + frame > impl_->options_.max_queued_bytes) {
        out_.resize(before);
        return Fail(std::move(done),
                    absl::ResourceExhaustedError(absl::StrCat(
                        "cluster peer ", address_, ": ", queued_bytes_, " bytes already queued")));
      }
      Pending& p = pending_[id];
      p.done = std::move(done);
      p.start_micros = now;
      // One timer per connection, set for the earliest deadline (not one per call).
      const int64_t micros = absl::ToInt64Microseconds(timeout);  // saturates
      const int64_t deadline = micros > INT64_MAX - now ? INT64_MAX : now + micros;
      deadlines_.emplace(deadline, id);
      ArmDeadline(deadline);
      queued_bytes_ += frame;
      if (state_ == State::kIdle) {
        Connect();
      } else if (state_ == State::kConnected) {
        ScheduleWrite();
      }
    }

    void Close(const absl::Status& why) {
      gen_++;  // completions of this connection's operations are ignored from now on
      boost::system::error_code ec;
      socket_.close(ec);
      if (tls_ != nullptr) {
        tls_->stream.lowest_layer().close(ec);
        tls_.reset();
      }
      timer_.cancel();
      state_ = State::kIdle;
      handshake_.reset();
      hs_out_.clear();
      writing_ = false;
      write_scheduled_ = false;
      out_.clear();
      queued_bytes_ = 0;
      in_.clear();
      armed_at_ = 0;
      deadline_timer_.cancel();
      deadlines_ = {};
      auto pending = std::move(pending_);
      pending_.clear();
      for (auto& [id, p] : pending) Fail(std::move(p.done), why);
      counters_->connected = false;
    }

   private:
    // kAuthenticating: connected, the handshake (peer_auth.h) not done; calls wait.
    enum class State { kIdle, kConnecting, kAuthenticating, kConnected };
    struct Pending {
      Done done;
      int64_t start_micros = 0;
    };

    void Fail(Done done, const absl::Status& s) {
      counters_->errors++;
      if (absl::IsDeadlineExceeded(s)) counters_->timeouts++;
      done(s);
    }

    void Finish(uint64_t id, absl::StatusOr<pb::Envelope> reply) {
      auto it = pending_.find(id);
      if (it == pending_.end()) return;
      Pending p = std::move(it->second);
      pending_.erase(it);
      if (!reply.ok()) return Fail(std::move(p.done), reply.status());
      counters_->latency_micros_total += static_cast<uint64_t>(NowMicros() - p.start_micros);
      counters_->latency->Record(static_cast<uint64_t>(NowMicros() - p.start_micros));
      p.done(std::move(reply));
    }

    // Sets the connection's timer for `at` (steady-clock microseconds) unless it is set
    // for earlier.
    void ArmDeadline(int64_t at) {
      if (armed_at_ != 0 && armed_at_ <= at) return;
      armed_at_ = at;
      deadline_timer_.expires_at(std::chrono::steady_clock::time_point(std::chrono::microseconds(at)));
      deadline_timer_.async_wait([self = shared_from_this(), at](boost::system::error_code ec) {
        if (ec || self->armed_at_ != at) return;  // set again for earlier, or closed
        self->armed_at_ = 0;
        self->ExpireCalls();
      });
    }

    // Fails the calls past their deadline; sets the timer for the next one.
    void ExpireCalls() {
      const int64_t now = NowMicros();
      while (!deadlines_.empty()) {
        const auto [at, id] = deadlines_.top();
        if (!pending_.contains(id)) {  // answered
          deadlines_.pop();
          continue;
        }
        if (at > now) return ArmDeadline(at);
        deadlines_.pop();
        Finish(id, absl::DeadlineExceededError(
                       absl::StrCat("cluster peer ", address_, " did not answer in time")));
      }
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
      auto resolver = std::make_shared<tcp::resolver>(*shard_->io);
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
                                  self->Secure();
                                });
          });
    }

    // With TLS, its handshake first (the socket moves into the TLS stream), within the
    // handshake deadline; calls wait meanwhile.
    void Secure() {
      std::shared_ptr<asio::ssl::context> context = impl_->TlsContext(/*accepting=*/false);
      if (context == nullptr) return Connected();
      state_ = State::kAuthenticating;
      tls_ = std::make_shared<TlsStream>(std::move(context), std::move(socket_));
      socket_ = tcp::socket(*shard_->io);
      timer_.expires_after(ToChrono(impl_->options_.handshake_timeout));
      timer_.async_wait([self = shared_from_this(), gen = gen_](boost::system::error_code ec) {
        if (ec || gen != self->gen_ || self->state_ != State::kAuthenticating) return;
        self->impl_->AuthFailure(self->address_, "TLS handshake timed out");
        self->Broken(absl::UnavailableError("cluster TLS handshake timed out"));
      });
      tls_->stream.async_handshake(
          asio::ssl::stream_base::client,
          [self = shared_from_this(), gen = gen_, keep = tls_](boost::system::error_code ec) {
            if (gen != self->gen_) return;
            if (ec) {
              const std::string why = TlsError(ec);
              self->impl_->AuthFailure(self->address_, why);
              return self->Broken(absl::UnavailableError(why));
            }
            self->Connected();
          });
    }

    // With a secret, the handshake first (its deadline on timer_); the calls queued
    // meanwhile leave once it is done.
    void Connected() {
      std::vector<std::string> secrets = impl_->Secrets();
      if (secrets.empty()) {
        timer_.cancel();
        state_ = State::kConnected;
        counters_->connected = true;
        Read();
        return Write();
      }
      state_ = State::kAuthenticating;
      handshake_.emplace(std::move(secrets), impl_->node_id_, address_);
      hs_out_ = handshake_->Start();
      timer_.expires_after(ToChrono(impl_->options_.handshake_timeout));
      timer_.async_wait([self = shared_from_this(), gen = gen_](boost::system::error_code ec) {
        if (ec || gen != self->gen_ || self->state_ != State::kAuthenticating) return;
        self->impl_->AuthFailure(self->address_, "handshake timed out");
        self->Broken(absl::UnavailableError("cluster handshake timed out"));
      });
      Read();
      Write();
    }

    // Feeds the handshake what was read; false if the connection was closed.
    bool Authenticate(size_t* pos) {
      size_t used = 0;
      const AuthStep step = handshake_->Receive(in_.view(), &used, &hs_out_);
      *pos = used;
      if (step.state == AuthStep::kRefused) {
        impl_->AuthFailure(address_, step.reason);
        Broken(absl::UnavailableError(absl::StrCat("cluster handshake failed: ", step.reason)));
        return false;
      }
      if (step.state == AuthStep::kDone) {
        timer_.cancel();
        handshake_.reset();
        state_ = State::kConnected;
        counters_->connected = true;
      }
      Write();
      return true;
    }

    // The connection failed or broke: every waiting call fails; the next call reconnects
    // (after the backoff, if connecting failed).
    void Broken(const absl::Status& why) {
      // Before the handshake is done no call left: they were not sent.
      const bool connecting = state_ == State::kConnecting || state_ == State::kAuthenticating;
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

    // The calls of this turn of the loop leave together, after it.
    void ScheduleWrite() {
      if (write_scheduled_ || writing_) return;
      write_scheduled_ = true;
      asio::post(*shard_->io, [self = shared_from_this(), gen = gen_] {
        if (gen != self->gen_) return;
        self->write_scheduled_ = false;
        self->Write();
      });
    }

    // Everything queued goes in one write. The bytes being written are owned by its
    // completion handler, so closing the connection (which clears out_) never frees bytes
    // the socket may still be reading.
    // The handshake's messages (hs_out_) go the same way, before any call.
    void Write() {
      if (writing_) return;
      const bool calls = state_ == State::kConnected && hs_out_.empty();
      std::string& from = calls ? out_ : hs_out_;
      if (from.empty() || (state_ != State::kConnected && state_ != State::kAuthenticating)) return;
      writing_ = true;
      auto bytes = std::make_shared<std::string>(std::move(from));
      from.clear();
      WriteAll(socket_, tls_, asio::buffer(*bytes),
                        [self = shared_from_this(), bytes, gen = gen_, calls](
                            boost::system::error_code ec, size_t) {
                          if (gen != self->gen_) return;
                          self->writing_ = false;
                          if (ec) return self->Broken(absl::UnavailableError(ec.message()));
                          if (calls) {
                            self->queued_bytes_ -= std::min(self->queued_bytes_, bytes->size());
                          }
                          self->Write();
                        });
    }

    void Read() {
      char* at = in_.Room(16 << 10);
      ReadSome(
          socket_, tls_, asio::buffer(at, in_.room()),
          [self = shared_from_this(), gen = gen_](boost::system::error_code ec, size_t n) {
            if (gen != self->gen_) return;
            self->in_.Added(n);
            if (ec) {
              if (self->state_ == State::kAuthenticating) {
                self->impl_->AuthFailure(self->address_,
                                         "the peer closed the connection during the handshake "
                                         "(a different cluster secret, or none?)");
              } else if (ec.category() == asio::error::get_ssl_category()) {
                // Under TLS 1.3 the listener refuses our certificate after our side of
                // the handshake is done: its alert arrives here.
                self->impl_->AuthFailure(self->address_, TlsError(ec));
              }
              return self->Broken(absl::UnavailableError(ec.message()));
            }
            size_t pos = 0;
            if (self->state_ == State::kAuthenticating && !self->Authenticate(&pos)) return;
            while (self->state_ == State::kConnected) {
              pb::Envelope reply;
              size_t consumed, wanted;
              absl::Status error;
              const FrameResult r =
                  ParseFrame(self->in_.view().substr(pos), &reply, &consumed, &wanted, &error);
              if (r == FrameResult::kError) return self->Broken(absl::UnavailableError(error.message()));
              if (r == FrameResult::kNeedMore) break;
              pos += consumed;
              const uint64_t id = reply.request_id();  // before the move below
              self->Finish(id, std::move(reply));
              if (self->state_ != State::kConnected || gen != self->gen_) return;
            }
            self->in_.Consume(pos);
            self->Read();
          });
    }

    Impl* const impl_;
    Shard* const shard_;
    const std::string address_;
    const std::shared_ptr<Counters> counters_;
    tcp::socket socket_;  // until connected; with TLS it then moves into tls_
    std::shared_ptr<TlsStream> tls_;
    asio::steady_timer timer_;  // the connect deadline, then the handshakes'
    asio::steady_timer deadline_timer_;  // the earliest call's deadline
    int64_t armed_at_ = 0;               // what deadline_timer_ is set for (0: nothing)
    // (deadline, call id), earliest first; answered calls leave when they reach the top.
    std::priority_queue<std::pair<int64_t, uint64_t>, std::vector<std::pair<int64_t, uint64_t>>,
                        std::greater<>>
        deadlines_;
    State state_ = State::kIdle;
    std::string out_;  // frames not yet handed to the socket
    std::optional<DialerHandshake> handshake_;  // while kAuthenticating
    std::string hs_out_;                        // handshake bytes not yet handed to the socket
    size_t queued_bytes_ = 0;
    bool writing_ = false;
    bool write_scheduled_ = false;
    uint64_t gen_ = 0;  // bumped by Close: one per connection
    InBuffer in_;
    absl::flat_hash_map<uint64_t, Pending> pending_;
    uint64_t next_id_ = 1;
    int64_t retry_after_micros_ = 0;
    std::string last_error_;
  };

  // A connection a peer made: requests in, replies out, on one shard's thread.
  class Session : public std::enable_shared_from_this<Session> {
   public:
    Session(Impl* impl, Shard* shard, tcp::socket socket)
        : impl_(impl), shard_(shard), socket_(std::move(socket)), timer_(*shard->io) {}

    void Start() {
      boost::system::error_code ec;
      const tcp::endpoint remote = socket_.remote_endpoint(ec);
      peer_ = ec ? "an unknown address" : EndpointText(remote);
      socket_.set_option(tcp::no_delay(true), ec);
      if (impl_->options_.refuse_remote && impl_->options_.refuse_remote()) {
        const tcp::endpoint local = socket_.local_endpoint(ec);
        if (ec || (!remote.address().is_loopback() && !local.address().is_loopback())) {
          impl_->AuthFailure(peer_,
                             "protected mode: a non-loopback peer and neither cluster-secret nor "
                             "tls-cluster set");
          return Close();
        }
      }
      std::shared_ptr<asio::ssl::context> context = impl_->TlsContext(/*accepting=*/true);
      std::vector<std::string> secrets = impl_->Secrets();
      if (!secrets.empty()) handshake_.emplace(std::move(secrets), impl_->node_id_, impl_->address_);
      if (context == nullptr && !handshake_) {
        secured_ = true;
        return Read();
      }
      // A slot among the handshakes in progress, held until secured_ or closed.
      slots_ = impl_->handshakes_;
      if (slots_->fetch_add(1, std::memory_order_relaxed) >= impl_->options_.max_handshakes) {
        impl_->AuthFailure(peer_, absl::StrCat("too many handshakes in progress (",
                                               impl_->options_.max_handshakes, ")"));
        return Close();
      }
      // TLS, then the secret: both within one deadline.
      timer_.expires_after(ToChrono(impl_->options_.handshake_timeout));
      timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (ec || self->closed_ || self->secured_) return;
        self->impl_->AuthFailure(self->peer_, self->tls_shaking_ ? "TLS handshake timed out"
                                                                 : "handshake timed out");
        self->Close();
      });
      if (context == nullptr) return Read();
      tls_ = std::make_shared<TlsStream>(std::move(context), std::move(socket_));
      tls_shaking_ = true;
      tls_->stream.async_handshake(asio::ssl::stream_base::server,
                                   [self = shared_from_this(), keep = tls_](boost::system::error_code ec) {
                                     if (self->closed_) return;
                                     self->tls_shaking_ = false;
                                     if (ec) {
                                       self->impl_->AuthFailure(self->peer_, TlsError(ec));
                                       return self->Close();
                                     }
                                     if (!self->handshake_) {
                                       self->secured_ = true;
                                       self->ReleaseSlot();
                                       self->timer_.cancel();
                                     }
                                     self->Read();
                                   });
    }
    void Close() {
      ReleaseSlot();
      boost::system::error_code ignored;
      socket_.close(ignored);
      if (tls_ != nullptr) tls_->stream.lowest_layer().close(ignored);
      timer_.cancel();
      closed_ = true;
    }

    // Queues a reply (on the shard's thread); it leaves with the others of this turn.
    void Reply(pb::Envelope reply) {
      if (closed_) return;
      AppendFrame(reply, &out_);
      if (!dispatching_) ScheduleWrite();
    }

   private:
    void Read() {
      char* at = in_.Room(16 << 10);
      ReadSome(
          socket_, tls_, asio::buffer(at, in_.room()),
          [self = shared_from_this()](boost::system::error_code ec, size_t n) {
            self->in_.Added(n);
            if (ec) {
              // A peer that got our CHALLENGE and left without a PROOF (version 2: a dialer
              // that cannot prove the secret is refused at its PROOF, so this is rarer).
              if (self->handshake_ && self->heard_hello_ && !self->closed_) {
                self->impl_->AuthFailure(self->peer_,
                                         "the peer closed the connection during the handshake "
                                         "(a different cluster secret?)");
              }
              return self->Close();
            }
            if (self->handshake_ && !self->Authenticate()) return;
            if (self->handshake_) return self->Read();  // more of the handshake to come
            size_t pos = 0;
            self->dispatching_ = true;  // replies given meanwhile leave together
            while (true) {
              pb::Envelope request;
              size_t consumed, wanted;
              absl::Status error;
              const FrameResult r = ParseFrame(self->in_.view().substr(pos), &request,
                                               &consumed, &wanted, &error);
              if (r == FrameResult::kError) {
                self->dispatching_ = false;
                return self->Close();  // not a cairn node
              }
              if (r == FrameResult::kNeedMore) break;
              pos += consumed;
              self->Dispatch(std::move(request));
            }
            self->dispatching_ = false;
            // The replies leave after the turn, behind what the handlers deferred to its
            // end (Transport::Defer: the WAL records they acknowledge).
            self->ScheduleWrite();
            self->in_.Consume(pos);
            self->Read();
          });
    }

    // Feeds the handshake what was read; nothing else is parsed until it is done. False if
    // the connection was closed.
    bool Authenticate() {
      size_t used = 0;
      const AuthStep step = handshake_->Receive(in_.view(), &used, &out_);
      in_.Consume(used);
      if (step.state == AuthStep::kRefused) {
        impl_->AuthFailure(peer_, step.reason);
        Close();
        return false;
      }
      if (!out_.empty()) heard_hello_ = true;  // a CHALLENGE went out
      if (step.state == AuthStep::kDone) {
        timer_.cancel();
        handshake_.reset();
        secured_ = true;
        ReleaseSlot();
      }
      Write();
      return true;
    }

    void ReleaseSlot() {
      if (slots_ != nullptr) slots_->fetch_sub(1, std::memory_order_relaxed);
      slots_ = nullptr;
    }

    void Dispatch(pb::Envelope request) {
      const uint64_t id = request.request_id();
      std::weak_ptr<Session> weak = shared_from_this();
      asio::io_context* io = shard_->io;
      Respond respond = [io, weak, id](pb::Envelope reply) {
        reply.set_request_id(id);
        reply.set_is_reply(true);
        if (io->get_executor().running_in_this_thread()) {
          if (auto self = weak.lock()) self->Reply(std::move(reply));
          return;
        }
        asio::post(*io, [weak, reply = std::move(reply)]() mutable {
          if (auto self = weak.lock()) self->Reply(std::move(reply));
        });
      };
      impl_->handler_(std::move(request), std::move(respond));
    }

    void ScheduleWrite() {
      if (write_scheduled_ || writing_ || out_.empty()) return;
      write_scheduled_ = true;
      asio::post(*shard_->io, [self = shared_from_this()] {
        self->write_scheduled_ = false;
        self->Write();
      });
    }

    void Write() {
      if (writing_ || out_.empty() || closed_) return;
      if (impl_->options_.before_reply && !impl_->options_.before_reply().ok()) return Close();
      writing_ = true;
      auto bytes = std::make_shared<std::string>(std::move(out_));
      out_.clear();
      WriteAll(socket_, tls_, asio::buffer(*bytes),
                        [self = shared_from_this(), bytes](boost::system::error_code ec, size_t) {
                          self->writing_ = false;
                          if (ec) return self->Close();
                          self->Write();
                        });
    }

    Impl* const impl_;
    Shard* const shard_;
    tcp::socket socket_;  // with TLS, moved into tls_
    std::shared_ptr<TlsStream> tls_;
    asio::steady_timer timer_;  // the handshakes' deadline
    std::string peer_;          // its address, for the log
    std::optional<ListenerHandshake> handshake_;  // until the peer proved the secret
    // Impl::handshakes_ while this connection counts in it (shared: a session may outlive
    // the transport in a handler of a stopped loop).
    std::shared_ptr<std::atomic<int>> slots_;
    bool heard_hello_ = false;
    bool tls_shaking_ = false;  // the TLS handshake is under way
    bool secured_ = false;      // every handshake done: frames may flow
    InBuffer in_;
    std::string out_;  // replies (or handshake messages) not yet handed to the socket
    bool writing_ = false, closed_ = false, dispatching_ = false, write_scheduled_ = false;
  };

  // Runs on the first shard; each connection goes to the next shard, round robin.
  void Accept() {
    Shard* target = shards_[next_shard_++ % shards_.size()].get();
    acceptor_->async_accept(*target->io, [this, target](boost::system::error_code ec, tcp::socket socket) {
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor_->is_open()) return;
        // Out of descriptors (EMFILE) or similar: pause instead of spinning on the error,
        // longer while it lasts, and say so at most once a second.
        accept_backoff_ms_ = std::clamp(accept_backoff_ms_ * 2, 10, 100);
        const int64_t now = NowMicros();
        if (now - last_accept_log_ >= 1000000) {
          spdlog::warn("cluster accept failed: {}; pausing {} ms{}", ec.message(),
                       accept_backoff_ms_,
                       accept_unlogged_ == 0
                           ? std::string()
                           : absl::StrCat(" (and ", accept_unlogged_, " failures not logged)"));
          last_accept_log_ = now;
          accept_unlogged_ = 0;
        } else {
          accept_unlogged_++;
        }
        accept_timer_->expires_after(std::chrono::milliseconds(accept_backoff_ms_));
        accept_timer_->async_wait([this](boost::system::error_code tec) {
          if (tec || !acceptor_->is_open()) return;
          Accept();
        });
        return;
      }
      accept_backoff_ms_ = 5;
      auto session = std::make_shared<Session>(this, target, std::move(socket));
      asio::post(*target->io, [target, session] {
        if (target->stopped) return session->Close();
        auto& list = target->sessions;
        list.erase(std::remove_if(list.begin(), list.end(),
                                  [](const std::weak_ptr<Session>& w) { return w.expired(); }),
                   list.end());
        list.push_back(session);
        session->Start();
      });
      Accept();
    });
  }

  Options options_;
  const Handler handler_;
  std::unique_ptr<asio::io_context> own_io_;  // with no contexts given
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> own_guard_;
  std::thread thread_;
  std::vector<std::shared_ptr<Shard>> shards_;
  std::optional<tcp::acceptor> acceptor_;  // on the first shard
  size_t next_shard_ = 0;                  // first shard's thread only
  // After an accept error (first shard's thread only): the pause before the next accept,
  // the rate-limited warning.
  std::optional<asio::steady_timer> accept_timer_;
  int accept_backoff_ms_ = 5;  // doubled (10 ms at least, 100 at most) before each pause
  int64_t last_accept_log_ = INT64_MIN / 2;
  uint64_t accept_unlogged_ = 0;
  // Accepted connections still in their handshakes (Options::max_handshakes).
  const std::shared_ptr<std::atomic<int>> handshakes_ = std::make_shared<std::atomic<int>>(0);
  int port_ = 0;
  std::string address_, node_id_;  // set by Listen, before the first accept
  std::atomic<uint64_t> auth_failures_{0}, auth_unlogged_{0};
  Histogram call_latency_;
  std::atomic<int64_t> last_auth_log_{INT64_MIN / 2};
  std::atomic<bool> shut_down_{false};
  absl::Mutex stats_mu_;
  std::map<std::string, std::vector<std::shared_ptr<Counters>>> counters_ ABSL_GUARDED_BY(stats_mu_);
};

absl::StatusOr<std::unique_ptr<AsioTransport>> AsioTransport::Start(const Options& options,
                                                                    Handler handler) {
  auto impl = std::make_unique<Impl>(options, std::move(handler));
  if (absl::Status s = impl->Listen(); !s.ok()) return s;
  return std::unique_ptr<AsioTransport>(new AsioTransport(std::move(impl)));
}

AsioTransport::AsioTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

void AsioTransport::Shutdown() { impl_->Shutdown(); }

AsioTransport::~AsioTransport() { impl_->Shutdown(); }

void AsioTransport::Call(const std::string& address, pb::Envelope request, absl::Duration timeout,
                         Done done) {
  impl_->Call(address, std::move(request), timeout, std::move(done));
}

int AsioTransport::port() const { return impl_->port(); }

bool AsioTransport::OnShardThread() const { return impl_->OnShardThread(); }

bool AsioTransport::Defer(std::function<void()> fn) { return impl_->Defer(std::move(fn)); }

std::map<std::string, AsioTransport::PeerStats> AsioTransport::Stats() { return impl_->Stats(); }

uint64_t AsioTransport::auth_failures() const { return impl_->auth_failures(); }

const Histogram& AsioTransport::call_latency() const { return impl_->call_latency(); }

}  // namespace cairn::cluster
