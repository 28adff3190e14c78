#include "server/server.h"

#include "server/io_pool.h"  // first: Asio

#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <cstdio>
#include <cstring>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/fault_injection_env.h"
#include "base/host_port.h"
#include "base/random.h"
#include "cairn/engine/db.h"
#include "cluster/engine_replica_store.h"
#include "protocol/resp.h"
#include "server/active_expiry.h"
#include "server/backups.h"
#include "server/client_stream.h"
#include "server/cluster_mode.h"
#include "server/command.h"
#include "server/http_api.h"
#include "server/migration.h"
#include "server/memory_release.h"
#include "store/local_backend.h"

// jemalloc's statistics when the binary links it (release builds); glibc's otherwise.
extern "C" int mallctl(const char*, void*, size_t*, void*, size_t) __attribute__((weak));

namespace cairn::server {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

spdlog::level::level_enum LogLevel(const std::string& level) {
  if (level == "debug") return spdlog::level::debug;
  if (level == "verbose") return spdlog::level::info;
  if (level == "warning") return spdlog::level::warn;
  return spdlog::level::info;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

uint64_t UsedMemory() {
  if (mallctl != nullptr) {
    uint64_t epoch = 1;
    size_t len = sizeof(epoch);
    mallctl("epoch", &epoch, &len, &epoch, len);
    size_t allocated = 0;
    len = sizeof(allocated);
    if (mallctl("stats.allocated", &allocated, &len, nullptr, 0) == 0) return allocated;
  }
  struct mallinfo2 mi = mallinfo2();
  const uint64_t heap = mi.uordblks + mi.hblkhd;
  if (heap > 0) return heap;
  // An allocator that keeps no glibc statistics (sanitizer builds): the resident set.
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<uint64_t>(resident) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

std::string Endpoint(const tcp::endpoint& e) {
  return absl::StrCat(e.address().to_string(), ":", e.port());
}

bool IsLoopback(const tcp::endpoint& e) { return e.address().is_loopback(); }

// Descriptors kept beside the clients': listeners, WAL, MANIFEST, logs (Redis's
// CONFIG_MIN_RESERVED_FDS) and the engine's table files (engine::Options::max_open_files).
constexpr int kReservedFds = 32;
int ReservedFds() { return kReservedFds + engine::Options().max_open_files; }

// Raises RLIMIT_NOFILE's soft limit to fit `maxclients` clients (as Redis's
// adjustOpenFilesLimit) and returns how many clients fit. With `log`, says what it did in
// Redis's words.
int FitOpenFiles(int maxclients, bool log) {
  const rlim_t wanted = static_cast<rlim_t>(maxclients) + static_cast<rlim_t>(ReservedFds());
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    if (log) {
      spdlog::warn("Unable to obtain the current NOFILE limit ({}), assuming 1024 and setting "
                   "the max clients configuration accordingly.", std::strerror(errno));
    }
    return std::max(1, std::min(maxclients, 1024 - ReservedFds()));
  }
  if (limit.rlim_cur >= wanted) return maxclients;
  const rlim_t original = limit.rlim_cur;
  struct rlimit raised = {wanted, std::max(limit.rlim_max, wanted)};  // raising the hard
  rlim_t got = wanted;                                                 // one needs privilege
  int error = 0;
  if (setrlimit(RLIMIT_NOFILE, &raised) != 0) {
    error = errno;
    raised = {limit.rlim_max, limit.rlim_max};
    got = limit.rlim_max > original && setrlimit(RLIMIT_NOFILE, &raised) == 0 ? limit.rlim_max
                                                                               : original;
  }
  if (got >= wanted) {
    if (log) {
      spdlog::info("Increased maximum number of open files to {} (it was originally set to {}).",
                   wanted, original);
    }
    return maxclients;
  }
  int fit = static_cast<int>(got) - ReservedFds();
  // A limit below the engine's table cache: half of what remains, the engine's files
  // share the rest (its table cache closes files it cannot keep).
  if (fit < 1) fit = std::max(1, (static_cast<int>(got) - kReservedFds) / 2);
  if (log) {
    spdlog::warn("You requested maxclients of {} requiring at least {} max file descriptors.",
                 maxclients, wanted);
    spdlog::warn("Server can't set maximum open files to {} because of OS error: {}.", wanted,
                 std::strerror(error));
    spdlog::warn("Current maximum open files is {}. maxclients has been reduced to {} to "
                 "compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'.",
                 got, fit);
  }
  return fit;
}

protocol::ParserLimits Limits(const ServerConfig& cfg) {
  protocol::ParserLimits limits;
  limits.max_bulk_len = cfg.proto_max_bulk_len;
  return limits;
}

// A TLS client has this long to finish its handshake.
constexpr std::chrono::seconds kTlsHandshakeTimeout(10);

// One RESP client, over plain TCP or TLS. Lives on one io_context; every handler runs on
// that thread.
class RespConnection : public std::enable_shared_from_this<RespConnection> {
 public:
  RespConnection(ClientStream stream, ServerContext* server)
      : stream_(std::move(stream)),
        timer_(stream_.get_executor()),
        server_(server),
        state_(std::make_shared<ClientState>()),
        parser_(Limits(server->config->Get())),
        writer_(&out_) {}
  // A client that sent or got a large value and left: its buffers go back to the OS now.
  ~RespConnection() {
    const bool large = in_.capacity() > (1 << 20) || out_.capacity() > (1 << 20) ||
                       sending_.capacity() > (1 << 20);
    if (!large) return;
    std::string().swap(in_);
    std::string().swap(out_);
    std::string().swap(sending_);
    ReturnFreedMemory();
  }

  asio::any_io_executor executor() { return stream_.get_executor(); }

  void Start() {
    server_->stats.connections_received.fetch_add(1, std::memory_order_relaxed);
    if (server_->connections() >= static_cast<size_t>(server_->config->Get().maxclients)) {
      server_->stats.connections_rejected.fetch_add(1, std::memory_order_relaxed);
      // A TLS client is dropped before its handshake: refusing it costs no cryptography.
      if (stream_.tls()) return stream_.Close();
      return RejectAndClose("ERR max number of clients reached");
    }
    if (!stream_.tls()) return Begin();
    boost::system::error_code ec;
    stream_.socket().set_option(tcp::no_delay(true), ec);  // the handshake's flights too
    // The handshake counts against maxclients, and has a deadline: a flood of handshakes
    // that never finish cannot take every descriptor.
    server_->tls_handshakes.fetch_add(1, std::memory_order_relaxed);
    handshaking_ = true;
    timer_.expires_after(kTlsHandshakeTimeout);
    std::weak_ptr<RespConnection> weak = shared_from_this();
    timer_.async_wait([weak](boost::system::error_code ec) {
      auto self = weak.lock();
      if (self && !ec && self->handshaking_) self->stream_.Close();  // the handshake fails
    });
    stream_.AsyncHandshake([self = shared_from_this()](boost::system::error_code ec) {
      self->handshaking_ = false;
      self->server_->tls_handshakes.fetch_sub(1, std::memory_order_relaxed);
      self->timer_.cancel();
      if (ec) {
        spdlog::debug("TLS handshake failed: {}", ec.message());
        return self->stream_.Close();
      }
      self->Begin();
    });
  }

 private:
  // After the TLS handshake, if any: the client is set up and registered, and reading starts.
  void Begin() {
    const ServerConfig cfg = server_->config->Get();
    boost::system::error_code ec;
    const tcp::endpoint remote = stream_.socket().remote_endpoint(ec);
    const tcp::endpoint local = stream_.socket().local_endpoint(ec);
    stream_.socket().set_option(tcp::no_delay(true), ec);
    state_->id = server_->clients.NextId();
    state_->addr = Endpoint(remote);
    state_->laddr = Endpoint(local);
    state_->created_ms = NowMs();
    state_->last_active_ms = state_->created_ms;
    state_->authenticated = !server_->acl->auth_required();
    SetClientUser(*server_, *state_, server_->acl->Find("default"));
    if (cfg.protected_mode && !server_->acl->auth_required() && !IsLoopback(remote) &&
        !IsLoopback(local)) {
      server_->stats.connections_rejected.fetch_add(1, std::memory_order_relaxed);
      return RejectAndClose(
          "DENIED cairn is running in protected mode because protected mode is enabled and no "
          "password is set for the default user. In this mode connections are only accepted "
          "from the loopback interface. Set a password (requirepass) or disable protected "
          "mode (protected-mode no) to accept other clients.");
    }
    std::weak_ptr<RespConnection> weak = shared_from_this();
    asio::any_io_executor ex = stream_.get_executor();
    state_->kill = [weak, ex] {
      asio::post(ex, [weak] {
        if (auto self = weak.lock()) self->Close();
      });
    };
    state_->wake = [weak, ex] {
      asio::post(ex, [weak] {
        if (auto self = weak.lock()) self->RetryBlocked();
      });
    };
    // Pub/sub messages (PubSub::Publish, any thread) join the output on this thread.
    state_->push = [weak, ex, client = state_.get()](PubSub::Kind kind, const std::string& name,
                                                     const std::string& resp2, const std::string& resp3) {
      std::string bytes = client->protocol.load(std::memory_order_relaxed) == 3 ? resp3 : resp2;
      asio::post(ex, [weak, kind, name, bytes = std::move(bytes)] {
        if (auto self = weak.lock()) self->Deliver(kind, name, bytes);
      });
    };
    if (server_->cluster != nullptr) {
      // The reservation holds the connection until its reply is given (the command may
      // still use the client's state on another thread meanwhile: cluster_mode.cc).
      state_->defer = [this](std::string overlap_key) -> ReplyLater {
        return Defer(std::move(overlap_key));
      };
    }
    server_->clients.Add(state_);
    registered_ = true;
    ArmIdleTimer();
    Read();
  }

  void RejectAndClose(std::string message) {
    out_ = absl::StrCat("-", message, "\r\n");
    auto self = shared_from_this();
    asio::async_write(stream_, asio::buffer(out_),
                      [self](boost::system::error_code, size_t) { self->Close(); });
  }

  // Checks idleness once a second against the configured timeout, re-read each time, so
  // CONFIG SET timeout applies to open connections too (as Redis's clientsCron).
  void ArmIdleTimer() {
    timer_.expires_after(std::chrono::seconds(1));
    std::weak_ptr<RespConnection> weak = shared_from_this();
    timer_.async_wait([weak](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || self->closed_) return;
      const int limit = self->server_->config->timeout();
      const int64_t idle = NowMs() - self->state_->last_active_ms.load();
      // Silently, as Redis; a client waiting in a blocking command is not idle.
      if (limit > 0 && idle >= int64_t{limit} * 1000 && !self->state_->block.active) {
        return self->Close();
      }
      self->ArmIdleTimer();
    });
  }

  // The client closed its side (or the read failed): nothing more arrives. Every reply
  // still due is sent first, as Redis answers a pipeline whose sender half-closed:
  // deferred ones (cluster mode), a write in flight, commands stalled behind them and
  // input held while Process ran. A client blocked in BLPOP & co. goes at once, as in Redis.
  void ReadEnded() {
    if (state_->block.active) return Close();
    read_ended_ = true;
    if (!in_process_) FinishIfReadEnded();
  }

  // After the last reply of a connection whose client stopped sending.
  bool FinishIfReadEnded() {
    if (!read_ended_ || waiting_ > 0 || !slots_.empty() || !out_.empty() ||
        stalled_ || writing_ || queued_ || !held_input_.empty()) {
      return false;
    }
    Close();
    return true;
  }

  void Read() {
    if (closed_) return;
    if (!held_input_.empty() && !reading_) {
      // Input that arrived while Process ran: processed now, as if just read.
      if (in_.size() - in_end_ < held_input_.size()) in_.resize(in_end_ + held_input_.size());
      std::memcpy(in_.data() + in_end_, held_input_.data(), held_input_.size());
      in_end_ += held_input_.size();
      server_->stats.bytes_in.fetch_add(held_input_.size(), std::memory_order_relaxed);
      held_input_.clear();
      auto self = shared_from_this();
      asio::post(stream_.get_executor(), [self] { self->Process(); });
      return;
    }
    if (read_ended_) {
      FinishIfReadEnded();
      return;
    }
    if (reading_) return;  // one read at a time; a pending one continues
    reading_ = true;
    auto self = shared_from_this();
    if (state_->block.active || state_->defer != nullptr) {
      // While blocked, or while replies given later may arrive (cluster mode), read into a
      // side buffer: Process may still move in_ around (when the wait ends, when a reply
      // comes) before this read completes.
      side_.resize(16 << 10);
      stream_.async_read_some(asio::buffer(side_), [self](boost::system::error_code ec, size_t n) {
        self->reading_ = false;
        if (ec) return self->ReadEnded();
        if (self->in_process_) {
          // Arrived while Process runs further up this thread's stack (a long script
          // serving the thread's other events): kept aside, taken by the next Read.
          self->held_input_.append(self->side_.data(), n);
          return;
        }
        if (self->in_.size() - self->in_end_ < n) self->in_.resize(self->in_end_ + n);
        std::memcpy(self->in_.data() + self->in_end_, self->side_.data(), n);
        self->in_end_ += n;
        self->server_->stats.bytes_in.fetch_add(n, std::memory_order_relaxed);
        self->Process();
      });
      return;
    }
    // Room for what the parser waits for, but never more than 1 MiB beyond the bytes
    // already received: memory follows the data a client actually sends, not the length
    // it announces. A large idle buffer is given back.
    if (in_end_ == 0 && in_.size() > (1 << 20)) ReleaseLargeBuffer(&in_);
    const size_t wanted = parser_.BytesWanted();
    // A large bulk argument: its whole length is reserved once, untouched (no resident
    // memory until the bytes arrive), so growing the buffer never holds two copies (the
    // old buffer and its doubled successor) of a value.
    constexpr size_t kSlack = 64 << 10;  // room to read past the bulk (the next command)
    // Only once 16 MB have arrived: a length a client announces costs nothing until its
    // bytes come (test_bad_input), and growing to 16 MB copies little.
    if (wanted > (1 << 20) && in_end_ >= (16 << 20) && in_.capacity() < in_end_ + wanted) {
      // A fresh string: reserve() on a grown one would round up to twice its capacity.
      std::string bigger;
      bigger.reserve(in_end_ + wanted + kSlack);
      bigger.append(in_.data(), in_.size());
      in_.swap(bigger);
    }
    size_t want = std::clamp<size_t>(wanted, 16 << 10, 1 << 20);
    // Near the end of a large bulk, a read never grows the buffer past its reservation
    // (growing would copy the whole value into a buffer twice as large).
    if (in_.capacity() > (1 << 20) && in_end_ + want > in_.capacity() &&
        in_.capacity() - in_end_ >= wanted) {
      want = in_.capacity() - in_end_;
    }
    if (in_.size() - in_end_ < want) in_.resize(in_end_ + want);
    stream_.async_read_some(asio::buffer(in_.data() + in_end_, in_.size() - in_end_),
                            [self](boost::system::error_code ec, size_t n) {
                              self->reading_ = false;
                              if (ec) return self->ReadEnded();
                              if (self->in_process_) {  // as above
                                self->held_input_.append(self->in_.data() + self->in_end_, n);
                                return;
                              }
                              self->in_end_ += n;
                              self->server_->stats.bytes_in.fetch_add(n, std::memory_order_relaxed);
                              self->Process();
                            });
  }

  // A pub/sub message: sent after the replies already due. A subscriber that does not read
  // is disconnected past client-output-buffer-limit's pubsub class, as in Redis.
  void Deliver(PubSub::Kind kind, const std::string& name, const std::string& bytes) {
    if (closed_) return;
    const bool monitor = kind == PubSub::Kind::kMonitor;
    if (monitor) {
      if (!state_->monitor.load(std::memory_order_relaxed)) return;  // RESET since
    } else if (kind == PubSub::Kind::kTracking) {
      // An invalidation push: not to a connection back on RESP2 (RESET, HELLO 2) since.
      if (state_->protocol.load(std::memory_order_relaxed) != 3) return;
    } else {
      // Unsubscribed since it was published: dropped, so it cannot follow the confirmation.
      const std::set<std::string>& mine = kind == PubSub::Kind::kChannel   ? state_->channels
                                          : kind == PubSub::Kind::kPattern ? state_->patterns
                                                                           : state_->shard_channels;
      if (!mine.contains(name)) return;
    }
    out_ += bytes;
    // A subscriber's class is pub/sub's; a monitor's or a tracking client's, normal's
    // (Redis counts MONITOR clients as normal ones).
    const bool subscriber = kind == PubSub::Kind::kChannel || kind == PubSub::Kind::kPattern ||
                            kind == PubSub::Kind::kShard;
    const uint64_t limit = subscriber ? server_->config->pubsub_output_buffer_limit()
                                      : server_->config->client_output_buffer_limit();
    if (limit > 0 && out_.size() + (writing_ ? sending_.size() : 0) > limit) {
      spdlog::warn("client {} closed: {} output buffer over {} bytes", state_->addr,
                   subscriber ? "pub/sub" : monitor ? "MONITOR" : "tracking", limit);
      return Close();
    }
    // Inside Process (a script serving its thread's other events): Process sends it.
    if (!in_process_) QueueWrite();
  }

  void Process() {
    if (closed_) return;
    if (in_process_) return;  // never nested: Read picks up what arrives meanwhile
    in_process_ = true;
    struct Done {
      bool* flag;
      ~Done() { *flag = false; }
    } done{&in_process_};
    state_->last_active_ms.store(NowMs(), std::memory_order_relaxed);
    if (state_->block.active) {
      // Commands wait behind the blocked one; keep reading only to notice a close.
      if (in_end_ > server_->config->client_query_buffer_limit()) return Close();
      return Read();
    }
    size_t start = 0;
    stalled_ = false;
    const uint64_t writes_before = server_->backend->DeferredWritesOnThisThread();
    PipelineExecutor pipeline(*server_, *state_, writer_);
    while (!state_->close_after_reply && !state_->killed.load(std::memory_order_relaxed)) {
      size_t consumed = 0;
      // Redis 7: a client that has not authenticated may not send big requests. Between
      // commands here, so AUTH in a pipeline lifts the limits for what follows it.
      parser_.set_unauthenticated(NeedsAuth(*server_, *state_));
      const auto r =
          parser_.Parse(std::string_view(in_.data() + start, in_end_ - start), &args_, &consumed);
      if (r == protocol::RespParser::Result::kError) {
        server_->stats.protocol_errors.fetch_add(1, std::memory_order_relaxed);
        pipeline.Flush();  // replies stay in command order
        writer_.Error(parser_.error());
        state_->close_after_reply = true;
        break;
      }
      if (r == protocol::RespParser::Result::kNeedMore) {
        start += consumed;  // the parser keeps what it took of a partial command
        break;
      }
      if (!args_.empty() && !MayStart(args_)) {
        stalled_ = true;  // a whole command: parsed again once the replies it waits for came
        break;
      }
      start += consumed;
      if (args_.empty()) continue;
      pipeline.Execute(args_);
      if (state_->block.active) {
        if (!state_->block.retry_args.empty()) {
          blocked_args_ = std::move(state_->block.retry_args);
          state_->block.retry_args.clear();
        } else {
          blocked_args_.assign(args_.begin(), args_.end());
        }
        ArmBlockTimer();
        break;
      }
      if (server_->config->client_output_buffer_limit() > 0 &&
          out_.size() > server_->config->client_output_buffer_limit()) {
        spdlog::warn("client {} closed: output buffer over {} bytes", state_->addr,
                     server_->config->client_output_buffer_limit());
        return Close();
      }
    }
    pipeline.Flush();
    if (server_->backend->DeferredWritesOnThisThread() != writes_before) acks_writes_ = true;
    // Keep the unconsumed tail at the front of the buffer.
    if (start > 0) {
      std::memmove(in_.data(), in_.data() + start, in_end_ - start);
      in_end_ -= start;
    }
    if (in_end_ > server_->config->client_query_buffer_limit()) {
      spdlog::warn("client {} closed: query buffer over {} bytes", state_->addr,
                   server_->config->client_query_buffer_limit());
      return Close();
    }
    if (HasSendable()) return QueueWrite();
    if (state_->close_after_reply && slots_.empty()) return Close();
    Read();
  }

  // Replies given later (cluster mode, ClientState::defer). Each deferred command holds
  // a slot in reply order; replies of the commands around it wait in the slots before
  // it and in out_ after the last. A pipeline goes on past a deferred command only with
  // commands of other overlap keys (ClusterOverlapKey): anything else waits until every
  // slot is filled, as does any command after a deferred one without a key.
  struct Slot {
    uint64_t id = 0;
    bool ready = false;
    std::string bytes;
    std::string overlap_key;           // empty: a barrier
    std::vector<std::string> args;     // a barrier's command line (it may block: BLPOP)
  };

  bool MayStart(const std::vector<std::string_view>& args) {
    if (waiting_ == 0) return true;
    if (barriers_ > 0 || waiting_ >= kMaxWaiting) return false;
    const std::string key = ClusterOverlapKey(*server_, *state_, args);
    if (key.empty()) return false;
    for (const Slot& s : slots_) {
      if (!s.ready && s.overlap_key == key) return false;
    }
    return true;
  }

  ReplyLater Defer(std::string overlap_key) {
    if (!out_.empty()) {
      Slot before;
      before.id = next_slot_++;
      before.ready = true;
      before.bytes.swap(out_);
      slots_.push_back(std::move(before));
    }
    Slot slot;
    slot.id = next_slot_++;
    if (overlap_key.empty()) {
      barriers_++;
      if (retrying_) {
        slot.args = blocked_args_;  // args_ may point into input moved since
      } else {
        slot.args.assign(args_.begin(), args_.end());
      }
    }
    slot.overlap_key = std::move(overlap_key);
    const uint64_t id = slot.id;
    slots_.push_back(std::move(slot));
    waiting_++;
    auto self = shared_from_this();
    return [self, id](std::string reply, std::function<void(ClientState&)> apply) {
      asio::post(self->stream_.get_executor(),
                 [self, id, reply = std::move(reply), apply = std::move(apply)]() mutable {
                   self->Complete(id, std::move(reply), std::move(apply));
                 });
    };
  }

  void Complete(uint64_t id, std::string reply, std::function<void(ClientState&)> apply) {
    auto it = std::find_if(slots_.begin(), slots_.end(), [id](const Slot& s) { return s.id == id; });
    if (it == slots_.end()) return;
    waiting_--;
    const bool barrier = it->overlap_key.empty();
    if (barrier) barriers_--;
    it->ready = true;
    it->bytes = std::move(reply);
    // It may acknowledge writes whose WAL records wait in this thread's buffer: sent only
    // after they reach the OS (SendBatch).
    acks_writes_ = true;
    if (closed_) {
      if (waiting_ == 0 && unwatch_when_done_) server_->watches.UnwatchAll(state_.get());
      return;
    }
    // A barrier's answer ends RetryBlocked's retry, if it was one.
    const bool was_retry = barrier && retrying_;
    if (barrier) retrying_ = false;
    if (apply) {
      apply(*state_);
      if (state_->block.active) {
        // A blocking command with nothing to take: it waits (ArmBlockTimer), its reply
        // written when the wait ends, after every earlier one (it was a barrier).
        if (!state_->block.retry_args.empty()) {  // XREAD's "$" as resolved
          blocked_args_ = std::move(state_->block.retry_args);
          state_->block.retry_args.clear();
        } else {
          blocked_args_ = std::move(it->args);
        }
        if (was_retry && retry_deadline_ms_ != 0) state_->block.deadline_ms = retry_deadline_ms_;
        retry_deadline_ms_ = 0;
        ArmBlockTimer();
      }
    }
    if (was_retry && !state_->block.active) {
      retry_deadline_ms_ = 0;
      blocked_args_.clear();  // answered: the wait is over
    }
    if (HasSendable()) return QueueWrite();
    if (waiting_ == 0 && stalled_ && !writing_ && !queued_) return Process();
    FinishIfReadEnded();
  }

  bool HasSendable() const {
    return slots_.empty() ? !out_.empty() : slots_.front().ready;
  }

  // The replies that may leave now: the filled slots at the front, then out_ once no
  // slot is left.
  void TakeSendable(std::string* to) {
    while (!slots_.empty() && slots_.front().ready) {
      to->append(slots_.front().bytes);
      slots_.pop_front();
    }
    if (slots_.empty()) {
      if (to->empty()) {
        to->swap(out_);  // a large reply is moved, not copied
      } else {
        to->append(out_);
      }
      out_.clear();
    }
  }

  // Replies go out only after the writes they acknowledge reach the OS. Connections
  // with replies ready on this thread join one batch; a handler posted behind the other
  // ready connections makes one WAL write for the whole batch, then sends every reply:
  // Redis's "write the AOF, then reply" per event-loop turn, and one system call for
  // many requests instead of one each.
  struct AckBatch {
    std::vector<std::shared_ptr<RespConnection>> connections;
  };
  static AckBatch& ThisThreadBatch() {
    static thread_local AckBatch batch;
    return batch;
  }

  void QueueWrite() {
    if (queued_ || closed_) return;  // already in the batch: out_ goes with it
    queued_ = true;
    AckBatch& batch = ThisThreadBatch();
    batch.connections.push_back(shared_from_this());
    if (batch.connections.size() == 1) {
      asio::post(stream_.get_executor(), [server = server_] { SendBatch(server); });
    }
  }

  static void SendBatch(ServerContext* server) {
    std::vector<std::shared_ptr<RespConnection>> batch;
    batch.swap(ThisThreadBatch().connections);
    const absl::Status s = server->backend->FlushWrites();
    size_t withheld = 0;
    for (auto& c : batch) {
      c->queued_ = false;
      if (!s.ok() && c->acks_writes_) {
        // Its replies acknowledge writes that may not have reached the OS: an error reply
        // would claim less than we know, so say nothing. Clients that only read (or got
        // an error, MISCONF while the store is read-only) are answered.
        withheld++;
        c->Close();
      } else {
        c->acks_writes_ = false;
        c->Write();
      }
    }
    if (withheld > 0) {
      spdlog::error("WAL write failed; closed {} connections whose replies acknowledge writes: {}",
                    withheld, s.ToString());
    }
  }

  // A blocked command waits for a push (BlockingKeys wakes RetryBlocked) or its timeout.
  void ArmBlockTimer() {
    const int64_t deadline = state_->block.deadline_ms;
    const int64_t poll = state_->block.poll_ms;
    if (deadline == 0 && poll == 0) return;
    const int64_t now = NowMs();
    int64_t fire = deadline;
    if (poll > 0) fire = deadline == 0 ? now + poll : std::min(deadline, now + poll);
    block_timer_.expires_after(std::chrono::milliseconds(std::max<int64_t>(0, fire - now)));
    std::weak_ptr<RespConnection> weak = shared_from_this();
    const uint64_t ticket = state_->block.ticket;
    block_timer_.async_wait([weak, ticket](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || self->closed_ || !self->state_->block.active ||
          self->state_->block.ticket != ticket) {
        return;
      }
      const int64_t until = self->state_->block.deadline_ms;
      if (self->state_->block.poll_ms > 0 && (until == 0 || NowMs() < until)) {
        return self->RetryBlocked();  // poll the keys' replica again
      }
      self->EndBlock();
      if (self->state_->block.reply == BlockedReply::kNullArray) {
        self->writer_.NullArray();
      } else {
        self->writer_.Null();
      }
      self->ResumeAfterBlock();
    });
  }

  void EndBlock() {
    server_->blocking.Remove(state_->block.ticket);
    state_->block.active = false;
    block_timer_.cancel();
  }

  // Runs the blocked command again: it either answers now or blocks once more.
  void RetryBlocked() {
    if (closed_ || !state_->block.active) return;
    if (ServingClientsInsideScript()) {
      // This thread runs a long script: try once it is done (or killed).
      block_timer_.expires_after(std::chrono::milliseconds(10));
      std::weak_ptr<RespConnection> weak = shared_from_this();
      block_timer_.async_wait([weak](boost::system::error_code ec) {
        if (auto self = weak.lock(); self && !ec) self->RetryBlocked();
      });
      return;
    }
    const int64_t deadline = state_->block.deadline_ms;
    EndBlock();
    std::vector<std::string_view> args(blocked_args_.begin(), blocked_args_.end());
    const uint64_t writes_before = server_->backend->DeferredWritesOnThisThread();
    retrying_ = true;
    const size_t waiting_before = waiting_;
    state_->block_retry = true;
    ExecuteCommand(*server_, *state_, args, writer_);
    state_->block_retry = false;
    if (server_->backend->DeferredWritesOnThisThread() != writes_before) acks_writes_ = true;
    if (waiting_ > waiting_before) {
      // Asked the replica again (cluster mode): Complete waits again or answers.
      retry_deadline_ms_ = deadline;
      return;
    }
    retrying_ = false;
    if (state_->block.active) {
      // Someone else got the element: wait again, until the original deadline.
      state_->block.deadline_ms = deadline;
      return ArmBlockTimer();
    }
    ResumeAfterBlock();
  }

  // After a blocked command answered: send the answer, then run what the client sent
  // meanwhile.
  void ResumeAfterBlock() {
    blocked_args_.clear();
    if (writing_ || queued_) return;  // the pending send takes the answer and goes on
    if (HasSendable()) return QueueWrite();
    Process();
  }

  void Write() {
    if (writing_ || closed_) return;  // the write in flight sends out_ when it completes
    sending_.clear();
    TakeSendable(&sending_);
    if (sending_.empty()) {
      if (state_->close_after_reply && slots_.empty()) return Close();
      if (waiting_ == 0 && stalled_) return Process();
      return Read();
    }
    writing_ = true;
    auto self = shared_from_this();
    asio::async_write(stream_, asio::buffer(sending_),
                      [self](boost::system::error_code ec, size_t n) {
                        self->writing_ = false;
                        self->server_->stats.bytes_out.fetch_add(n, std::memory_order_relaxed);
                        // A large reply's buffer is given back, not kept for the next one.
                        ReleaseLargeBuffer(&self->sending_);
                        if (ec) return self->Close();
                        if (self->state_->close_after_reply && self->slots_.empty() &&
                            self->out_.empty()) {
                          return self->Close();
                        }
                        if (self->HasSendable()) return self->QueueWrite();  // a wait ended
                        if (self->waiting_ == 0 && self->stalled_) return self->Process();
                        if (self->FinishIfReadEnded()) return;
                        if (self->state_->block.active) return self->Read();
                        // Commands may already wait in the buffer (a client that pipelines faster
                        // than we write): run them before reading more.
                        if (self->in_end_ > 0 && self->parser_.BytesWanted() <= 1)
                          return self->Process();
                        self->Read();
                      });
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    if (state_->block.active) EndBlock();
    // A command running on a pool thread (WATCH, EXEC) may still use the client's watch
    // list: it is dropped when that command answers (Complete).
    if (barriers_ > 0) {
      unwatch_when_done_ = true;
    } else {
      server_->watches.UnwatchAll(state_.get());
    }
    server_->pubsub->RemoveClient(state_.get());
    if (state_->monitor.load(std::memory_order_relaxed)) server_->monitors->Remove(state_.get());
    server_->tracking.Disable(*state_);
    state_->killed = true;  // a pipeline still running (a long script's thread) stops
    stream_.Close();
    if (registered_) server_->clients.Remove(state_->id);
  }

  ClientStream stream_;
  asio::steady_timer timer_;
  asio::steady_timer block_timer_{stream_.get_executor()};
  std::vector<std::string> blocked_args_;  // the command a blocked client waits in
  static constexpr size_t kMaxWaiting = 1024;  // deferred replies of one connection
  std::deque<Slot> slots_;
  uint64_t next_slot_ = 0;
  size_t waiting_ = 0;   // slots not yet filled
  size_t barriers_ = 0;  // ... of which barriers
  bool stalled_ = false;  // Process stopped before a command that must wait
  bool retrying_ = false;  // RetryBlocked's command is running
  bool read_ended_ = false;  // the client stopped sending; close once all is answered
  bool unwatch_when_done_ = false;  // closed while a pool command used the client's state
  int64_t retry_deadline_ms_ = 0;  // the blocked command's deadline while it is retried
  std::string side_;                       // what arrives while blocked
  bool writing_ = false;
  bool in_process_ = false;  // Process is on the stack (see Deliver, Read)
  std::string held_input_;   // bytes read while Process was on the stack
  bool reading_ = false;
  bool queued_ = false;  // in this thread's AckBatch
  // Replies waiting in out_ acknowledge deferred writes (see SendBatch).
  bool acks_writes_ = false;
  ServerContext* const server_;
  std::shared_ptr<ClientState> state_;
  protocol::RespParser parser_;
  std::vector<std::string_view> args_;
  std::string in_;
  size_t in_end_ = 0;
  std::string out_, sending_;
  protocol::ReplyWriter writer_;
  bool closed_ = false;
  bool registered_ = false;
  bool handshaking_ = false;  // TLS only: before Begin
};

// Logs the engine turning read-only (a failed disk write) and resuming.
class EngineLogListener final : public engine::EventListener {
 public:
  void OnBackgroundError(const absl::Status& error) override {
    spdlog::error("writes refused (MISCONF) until the disk recovers: {}", error.ToString());
  }
  void OnResumed(const absl::Status& error) override {
    spdlog::warn("writes accepted again; the engine recovered from: {}", error.ToString());
  }
  void OnResumeFailed(const absl::Status& error) override {
    spdlog::debug("still read-only, resume failed: {}", error.ToString());
  }
};

class ServerImpl final : public Server {
 public:
  ~ServerImpl() override { StopNow(); }

  absl::Status Init(const ServerConfig& cfg) {
    config_ = std::make_unique<Config>(cfg);
    if (const int fit = FitOpenFiles(cfg.maxclients, /*log=*/true); fit < cfg.maxclients) {
      (void)config_->Set("maxclients", absl::StrCat(fit), /*at_runtime=*/false);
    }
    engine::Options o;
    o.block_cache_size = cfg.block_cache_size;
    o.write_buffer_size = cfg.write_buffer_size;
    o.min_blob_size = cfg.blob_min_size;
    o.row_cache_size = cfg.row_cache_size;
    o.memtable_hash_index = cfg.memtable_hash_index;
    o.wal_sync = WalSync(cfg.wal_sync);
    o.listener = std::make_shared<EngineLogListener>();
    if (cfg.enable_debug_command != "no") {
      // DEBUG FAULT-INJECT (tests of read-only mode): the engine's files go through a
      // fault-injecting Env, which costs a mutex per file operation.
      fault_env_ = std::make_unique<FaultInjectionEnv>(Env::Default());
      o.env = fault_env_.get();
      ctx_.fault_env = fault_env_.get();
      spdlog::warn("enable-debug-command is on: DEBUG FAULT-INJECT can make writes fail");
    }
    // Expiry retention, KeepExpired and member reclaim, as `cairn db` opens it too.
    auto reclaim = store::ConfigureEngineForLocalBackend(&o);
    auto db = engine::DB::Open(o, cfg.dir);
    if (!db.ok()) return db.status();
    db_ = std::move(*db);
    reclaim->Attach(db_.get());
    auto backend = store::LocalBackend::Open(db_.get());
    if (!backend.ok()) return backend.status();
    backend_ = std::move(*backend);
    if (!cfg.cluster) {
      // Keys a cluster node kept in this directory become single-node keys (migration.h).
      cluster::EngineReplicaStore replicas(db_.get(), /*sync=*/false);
      LocalRegisters registers(&replicas);
      auto migrated = MigrateClusterToSingle(replicas, *backend_, store::SystemNowMs(), &registers);
      if (!migrated.ok()) {
        return absl::Status(migrated.status().code(),
                            absl::StrCat("moving a cluster node's replicas into single-node keys: ",
                                         migrated.status().message()));
      }
      if (migrated->keys > 0) {
        spdlog::info("moved {} keys ({} collection members) kept by a cluster node into "
                     "single-node keys", migrated->keys, migrated->members);
      }
    }
    // Replies are sent in batches after one WAL write for all of them (AckBatch below).
    backend_->set_defer_wal_writes(true);

    const int threads =
        cfg.io_threads > 0 ? cfg.io_threads : IoThreadsFor(std::thread::hardware_concurrency());
    pool_ = std::make_unique<IoPool>(threads);
    ctx_.backend = backend_.get();
    backups_ = std::make_unique<BackupService>(db_.get(), cfg.dir, backend_.get());
    ctx_.backups = backups_.get();
    ctx_.config = config_.get();
    ctx_.start_ms = NowMs();
    ctx_.io_threads = threads;
    Random rnd(static_cast<uint64_t>(ctx_.start_ms) ^ static_cast<uint64_t>(getpid()));
    for (int i = 0; i < 40; i++) ctx_.run_id.push_back("0123456789abcdef"[rnd.Uniform(16)]);
    // Allocator statistics plus the memtables (their arena blocks come from mmap, which
    // the allocator does not count), refreshed at most every 100 ms: the maxmemory check
    // runs on every write.
    ctx_.used_memory = [this] {
      const int64_t now = NowMs();
      if (now - memory_checked_ms_.load(std::memory_order_relaxed) >= 100) {
        uint64_t memtables = 0;
        (void)absl::SimpleAtoi(db_->GetProperty("cairn.mem-usage").value_or("0"), &memtables);
        const uint64_t used = UsedMemory() + memtables;
        used_memory_.store(used, std::memory_order_relaxed);
        uint64_t peak = ctx_.used_memory_peak.load(std::memory_order_relaxed);
        while (used > peak &&
               !ctx_.used_memory_peak.compare_exchange_weak(peak, used, std::memory_order_relaxed)) {
        }
        memory_checked_ms_.store(now, std::memory_order_relaxed);
      }
      return used_memory_.load(std::memory_order_relaxed);
    };
    if (absl::Status s = ctx_.scripts->KeepLibrariesIn(cfg.dir + "/FUNCTIONS"); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("loading the function libraries: ", s.message()));
    }
    // ACL users: the aclfile (absent: none yet, ACL SAVE creates it), then the shorthands.
    if (!cfg.aclfile.empty() && access(cfg.aclfile.c_str(), F_OK) == 0) {
      if (std::string e = ctx_.acl->LoadFile(cfg.aclfile); !e.empty()) {
        return absl::InvalidArgumentError("loading the aclfile: " + e);
      }
    }
    ApplyAclConfig(ctx_);
    if (!cfg.cluster) {
      // Clients of a thread running a long script are served from inside it (scripting.h).
      for (asio::io_context* io : pool_->contexts()) {
        asio::post(*io, [io] {
          SetScriptBusyPoller([io] {
            for (int i = 0; i < 64 && io->poll_one() > 0; i++) {
            }
          });
          // A command of this thread waiting for a script's keyspace: the same, with a
          // pause when nothing was ready.
          KeyLocks::SetWaitHook([io] {
            int ran = 0;
            for (; ran < 64 && io->poll_one() > 0; ran++) {
            }
            if (ran == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
          });
        });
      }
    }
    if (!cfg.cluster) expiry_ = std::make_unique<ActiveExpiry>(&ctx_);
    sampler_ = std::thread([this] {
      std::unique_lock<std::mutex> l(sampler_mu_);
      while (!sampler_cv_.wait_for(l, std::chrono::milliseconds(100),
                                   [this] { return sampler_stop_; })) {
        ctx_.stats.Sample(NowMs());
        ctx_.used_memory();  // refreshes used_memory and its peak
      }
    });
    ctx_.request_shutdown = [this] { RequestStop(); };
    ctx_.on_config_change = [this] { ApplyConfig(); };

    ctx_.prepare_config = [this](const ServerConfig& next, const std::vector<std::string>& names,
                                 std::string* culprit) {
      return PrepareConfig(next, names, culprit);
    };

    if (cfg.port == 0 && cfg.tls_port == 0 && cfg.http_port == 0) {
      return absl::InvalidArgumentError(
          "configured to not listen anywhere (port, tls-port and http-port are all 0)");
    }
    if (TlsWanted(cfg)) {
      auto context = net::BuildTlsContext(ServerTlsSettings(cfg));
      if (!context.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("failed to configure TLS: ", context.status().message()));
      }
      ctx_.tls.Set(std::move(*context));
    }
    if (cfg.port != 0) {
      auto acceptor = Listen(cfg.bind, cfg.port);
      if (!acceptor.ok()) return acceptor.status();
      acceptor_ = std::move(*acceptor);
      port_ = acceptor_->local_endpoint().port();
    }
    if (cfg.tls_port != 0) {
      auto acceptor = Listen(cfg.bind, cfg.tls_port);
      if (!acceptor.ok()) return acceptor.status();
      tls_acceptor_ = std::move(*acceptor);
      ctx_.tls_port = tls_acceptor_->local_endpoint().port();
    }
    ctx_.port = port_;
    if (cfg.http_port != 0) {
      auto http = HttpListener::Start(&ctx_, pool_.get(), cfg.bind,
                                      cfg.http_port == kAutoPort ? 0 : cfg.http_port);
      if (!http.ok()) return http.status();
      http_ = std::move(*http);
      ctx_.http_port = http_->port();
    }
    // CONFIG GET port / tls-port / http-port answer the ports actually bound ("auto").
    (void)config_->Set("port", absl::StrCat(port_), /*at_runtime=*/false);
    (void)config_->Set("tls-port", absl::StrCat(ctx_.tls_port.load()), /*at_runtime=*/false);
    (void)config_->Set("http-port", absl::StrCat(ctx_.http_port), /*at_runtime=*/false);
    std::string cluster_note;
    if (cfg.cluster) {
      IoPool* pool = pool_.get();
      auto node = ClusterNode::Start(cfg, db_.get(), port_, ctx_.http_port, &ctx_, pool->contexts(),
                                     [pool] { return pool->running(); });
      if (!node.ok()) return node.status();
      cluster_ = std::move(*node);
      ctx_.cluster = cluster_.get();
      cluster_note = absl::StrCat(", cluster on ", JoinHostPort(cfg.bind, cluster_->port()), " as ",
                                  cluster_->id(), " (N=", cfg.replicas, " W=", cfg.write_quorum,
                                  " R=", cfg.read_quorum, ")");
    }
    if (acceptor_ != nullptr) Accept(acceptor_, /*tls=*/false);
    if (tls_acceptor_ != nullptr) Accept(tls_acceptor_, /*tls=*/true);
    pool_->Start();
    std::string tls_note;
    if (ctx_.tls_port.load() != 0) {
      absl::StrAppend(&tls_note, ", RESP over TLS on ",
                      JoinHostPort(cfg.bind, ctx_.tls_port.load()));
    }
    if (cfg.http_tls && http_ != nullptr) absl::StrAppend(&tls_note, ", HTTPS only");
    spdlog::info(
        "cairn-server {} ready: RESP on {}, HTTP on {}{}{}, data in {}, {} I/O threads, "
        "maxclients {}",
        "0.1.0", JoinHostPort(cfg.bind, port_), JoinHostPort(cfg.bind, ctx_.http_port),
        cluster_note, tls_note, cfg.dir, threads, config_->Get().maxclients);
    return absl::OkStatus();
  }

  void Wait() override {
    std::unique_lock<std::mutex> l(stop_mu_);
    stop_cv_.wait(l, [this] { return stop_requested_; });
    l.unlock();
    StopNow();
  }

  void RequestStop() override {
    std::lock_guard<std::mutex> l(stop_mu_);
    stop_requested_ = true;
    stop_cv_.notify_all();
  }

  int port() const override { return port_; }
  int http_port() const override { return ctx_.http_port; }

  // The listeners' and the cluster transport's certificates, each kept on its own error.
  // Under reconfig_mu_, which StopNow takes to drop the cluster: never a freed node.
  absl::Status ReloadTls() override {
    absl::MutexLock l(&reconfig_mu_);
    if (stopping_.load()) return absl::OkStatus();
    const ServerConfig cfg = config_->Get();
    absl::Status result;
    if (ctx_.cluster != nullptr) {
      if (absl::Status st = ctx_.cluster->ReloadTls(cfg); !st.ok()) {
        spdlog::error("cluster TLS reload failed, the current certificates stay in use: {}",
                      std::string(st.message()));
        result.Update(st);
      }
    }
    if (!TlsWanted(cfg)) return result;
    auto context = net::BuildTlsContext(ServerTlsSettings(cfg));
    if (!context.ok()) {
      spdlog::error("TLS reload failed, the current certificates stay in use: {}",
                    std::string(context.status().message()));
      result.Update(context.status());
      return result;
    }
    ctx_.tls.Set(std::move(*context));
    spdlog::info("TLS certificates reloaded: new connections use them");
    return result;
  }

 private:
  static engine::WalSyncMode WalSync(const std::string& mode) {
    if (mode == "always") return engine::WalSyncMode::kAlways;
    if (mode == "none") return engine::WalSyncMode::kNone;
    return engine::WalSyncMode::kEverySec;
  }

  // CONFIG SET, before anything is set (ServerContext::prepare_config): a new TLS context
  // when a tls-* option is named (even unchanged: the files may have been replaced), the
  // TLS port moved, the descriptors for a higher maxclients.
  absl::Status PrepareConfig(const ServerConfig& next, const std::vector<std::string>& names,
                             std::string* culprit) {
    absl::MutexLock l(&reconfig_mu_);
    bool tls_named = false, port_named = false;
    for (const std::string& name : names) {
      if (name == "maxclients") {
        const int fit = FitOpenFiles(next.maxclients, /*at_startup=*/false);
        if (fit < next.maxclients) {
          *culprit = name;
          return absl::InvalidArgumentError(absl::StrCat(
              "The operating system is not able to handle the specified number of clients, "
              "try with ",
              fit));
        }
      }
      if (absl::StartsWith(name, "tls-") || name == "http-tls") {
        if (!tls_named) *culprit = name;
        tls_named = true;
      }
      port_named |= name == "tls-port";
    }
    std::shared_ptr<asio::ssl::context> context;
    if (tls_named && TlsWanted(next)) {
      auto built = net::BuildTlsContext(ServerTlsSettings(next));
      if (!built.ok()) {
        spdlog::warn("CONFIG SET refused, the current TLS configuration stays: {}",
                     std::string(built.status().message()));
        return absl::InvalidArgumentError("Unable to update TLS configuration. Check server logs.");
      }
      context = std::move(*built);
    }
    const bool move_port = port_named && next.tls_port != ctx_.tls_port.load();
    std::shared_ptr<tcp::acceptor> acceptor;
    if (move_port && next.tls_port != 0) {
      auto bound = Listen(next.bind, next.tls_port);
      if (!bound.ok()) {
        spdlog::warn("CONFIG SET tls-port refused: {}", std::string(bound.status().message()));
        *culprit = "tls-port";
        return absl::InvalidArgumentError("Unable to listen on this port. Check server logs.");
      }
      acceptor = std::move(*bound);
    }
    // The cluster transport's contexts (its files may be the same) last, as they are set
    // when built: a failure refuses the CONFIG SET with nothing of it applied.
    if (tls_named && ctx_.cluster != nullptr) {
      if (absl::Status st = ctx_.cluster->ReloadTls(next); !st.ok()) {
        spdlog::warn("CONFIG SET refused, the current cluster TLS configuration stays: {}",
                     std::string(st.message()));
        if (acceptor != nullptr) {
          boost::system::error_code ec;
          acceptor->close(ec);
        }
        return absl::InvalidArgumentError("Unable to update TLS configuration. Check server logs.");
      }
    }
    if (move_port) {
      ctx_.tls_port = acceptor != nullptr ? acceptor->local_endpoint().port() : 0;
      // The acceptors live on the first I/O thread: the swap happens there.
      asio::post(pool_->First(), [this, acceptor] {
        boost::system::error_code ec;
        if (tls_acceptor_ != nullptr) tls_acceptor_->close(ec);
        tls_acceptor_ = acceptor;
        if (acceptor != nullptr && !stopping_.load()) Accept(acceptor, /*tls=*/true);
      });
    }
    if (context != nullptr) ctx_.tls.Set(std::move(context));
    return absl::OkStatus();
  }

  // Binds bind:port (kAutoPort: any free port) for RESP clients.
  absl::StatusOr<std::shared_ptr<tcp::acceptor>> Listen(const std::string& bind, int port) {
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(bind, ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("bad bind address '", bind, "'"));
    auto acceptor = std::make_shared<tcp::acceptor>(pool_->First());
    const tcp::endpoint endpoint(address, static_cast<uint16_t>(port == kAutoPort ? 0 : port));
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", bind, ":", port, ": ", ec.message()));
    }
    return acceptor;
  }

  void ApplyConfig() {
    // Every runtime option is read where it is used (timeouts, limits, passwords, log
    // level): nothing to push, except the log level. PrepareConfig did the TLS part; a
    // tls-port of "auto" reads back as the port bound.
    const ServerConfig cfg = config_->Get();
    spdlog::set_level(LogLevel(cfg.loglevel));
    if (cfg.tls_port == kAutoPort) {
      (void)config_->Set("tls-port", absl::StrCat(ctx_.tls_port.load()), /*at_runtime=*/false);
    }
  }

  // On the first I/O thread.
  void Accept(std::shared_ptr<tcp::acceptor> acceptor, bool tls) {
    acceptor->async_accept(pool_->Next(), [this, acceptor, tls](boost::system::error_code ec,
                                                                tcp::socket s) {
      if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
      if (!ec) {
        // Start on the connection's own I/O thread: every touch of its socket, timer and
        // state happens there. A TLS connection keeps the context it starts with.
        std::shared_ptr<RespConnection> conn;
        if (!tls) {
          conn = std::make_shared<RespConnection>(ClientStream(std::move(s)), &ctx_);
        } else if (auto context = ctx_.tls.Get()) {
          conn = std::make_shared<RespConnection>(ClientStream(std::move(s), std::move(context)),
                                                  &ctx_);
        }
        if (conn != nullptr) asio::post(conn->executor(), [conn] { conn->Start(); });
      } else {
        // Out of descriptors or similar: pause instead of spinning on the error.
        spdlog::warn("accept failed: {}", ec.message());
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      Accept(acceptor, tls);
    });
  }

  // Stop accepting, close every client (commands in flight finish first: each runs to
  // completion on its I/O thread), join the threads, sync the WAL, close the engine.
  void StopNow() {
    std::lock_guard<std::mutex> l(shutdown_mu_);
    if (stopped_) return;
    stopped_ = true;
    ctx_.scripts->KillAll();  // a script in an endless loop would hold its thread for ever
    spdlog::info("cairn-server shutting down");
    stopping_ = true;
    if (pool_ != nullptr) {
      asio::post(pool_->First(), [this] {
        boost::system::error_code ec;
        if (acceptor_ != nullptr) acceptor_->close(ec);
        if (tls_acceptor_ != nullptr) tls_acceptor_->close(ec);
      });
    }
    if (http_ != nullptr) http_->Stop();
    for (const auto& client : ctx_.clients.All()) {
      if (client->kill) client->kill();
    }
    if (pool_ != nullptr) {
      pool_->Release();
      // Give connections a moment to finish; then stop the loops regardless.
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (ctx_.clients.size() > 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    // The cluster's connections run on the I/O threads: it leaves (telling the others)
    // while they still run. It is destroyed only once they stopped: a request they still
    // run finds it shut (its calls fail) rather than gone, and never runs as a single
    // node's in the cluster's directory.
    if (cluster_ != nullptr) cluster_->Shutdown();
    if (pool_ != nullptr) {
      pool_->StopAll();
      pool_->Join();
    }
    {
      absl::MutexLock l(&reconfig_mu_);  // a SIGHUP's ReloadTls is done with it
      ctx_.cluster = nullptr;
    }
    cluster_.reset();
    expiry_.reset();
    {
      std::lock_guard<std::mutex> g(sampler_mu_);
      sampler_stop_ = true;
    }
    sampler_cv_.notify_all();
    if (sampler_.joinable()) sampler_.join();
    if (backend_ != nullptr) {
      absl::Status s = backend_->Sync();
      if (!s.ok()) spdlog::error("WAL sync at shutdown failed: {}", s.ToString());
    }
    http_.reset();
    // A BGSAVE still running finishes (its backup stays whole) before the engine closes.
    ctx_.backups = nullptr;
    backups_.reset();
    acceptor_.reset();
    tls_acceptor_.reset();
    pool_.reset();
    backend_.reset();
    db_.reset();
    spdlog::info("cairn-server stopped");
  }

  std::unique_ptr<Config> config_;
  std::unique_ptr<FaultInjectionEnv> fault_env_;  // declared first: the engine uses it
  std::unique_ptr<engine::DB> db_;
  std::unique_ptr<store::LocalBackend> backend_;
  std::unique_ptr<BackupService> backups_;  // uses db_
  std::unique_ptr<IoPool> pool_;  // before cluster_: its connections run on these threads
  std::unique_ptr<ClusterNode> cluster_;  // cluster mode only; uses db_
  ServerContext ctx_;
  std::unique_ptr<ActiveExpiry> expiry_;  // single node only; uses ctx_
  // The RESP listeners (null when off); used on the first I/O thread once it runs.
  std::shared_ptr<tcp::acceptor> acceptor_, tls_acceptor_;
  std::unique_ptr<HttpListener> http_;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  // Serializes CONFIG SET's preparation and TLS reloads (SIGHUP).
  absl::Mutex reconfig_mu_;
  std::atomic<int64_t> memory_checked_ms_{0};
  std::atomic<uint64_t> used_memory_{0};
  // INFO's instantaneous rates and used_memory_peak: a sample every 100 ms, as Redis's
  // serverCron takes them.
  std::thread sampler_;
  std::mutex sampler_mu_;
  std::condition_variable sampler_cv_;
  bool sampler_stop_ = false;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_requested_ = false;
  std::mutex shutdown_mu_;
  bool stopped_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerConfig& config) {
  auto server = std::make_unique<ServerImpl>();
  if (absl::Status s = server->Init(config); !s.ok()) return s;
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace cairn::server
