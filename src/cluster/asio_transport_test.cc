// The TCP transport on loopback: real sockets, real failures.
#include "cluster/asio_transport.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace cairn::cluster {
namespace {

// Answers a read with the key it asked for (and the value "v:<key>").
void Echo(pb::Envelope request, Transport::Respond respond) {
  pb::Envelope reply;
  reply.mutable_read_result()->set_found(true);
  reply.mutable_read_result()->add_versions()->set_value("v:" + request.read().key());
  respond(std::move(reply));
}

std::unique_ptr<AsioTransport> StartTransport(Transport::Handler handler,
                                              AsioTransport::Options options = {}) {
  options.port = options.port == 7381 ? 0 : options.port;
  auto t = AsioTransport::Start(options, std::move(handler));
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? std::move(*t) : nullptr;
}

pb::Envelope ReadOf(const std::string& key) {
  pb::Envelope env;
  env.mutable_read()->set_key(key);
  return env;
}

absl::StatusOr<pb::Envelope> CallAndWait(Transport& t, const std::string& address,
                                         pb::Envelope request,
                                         absl::Duration timeout = absl::Seconds(5)) {
  std::promise<absl::StatusOr<pb::Envelope>> promise;
  auto future = promise.get_future();
  t.Call(address, std::move(request), timeout,
         [&promise](absl::StatusOr<pb::Envelope> r) { promise.set_value(std::move(r)); });
  return future.get();
}

std::string Loopback(int port) { return absl::StrCat("127.0.0.1:", port); }

TEST(AsioTransportTest, CallsRoundTripConcurrentlyOnOneConnection) {
  auto server = StartTransport(Echo);
  auto client = StartTransport(Echo);
  const std::string address = Loopback(server->port());
  constexpr int kCalls = 500;
  std::vector<std::promise<absl::StatusOr<pb::Envelope>>> promises(kCalls);
  for (int i = 0; i < kCalls; i++) {
    client->Call(address, ReadOf(absl::StrCat("k", i)), absl::Seconds(10),
                 [&promises, i](absl::StatusOr<pb::Envelope> r) { promises[i].set_value(std::move(r)); });
  }
  for (int i = 0; i < kCalls; i++) {
    auto r = promises[i].get_future().get();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(r->is_reply());
    EXPECT_EQ(r->read_result().versions(0).value(), absl::StrCat("v:k", i));
  }
  auto stats = client->Stats()[address];
  EXPECT_EQ(stats.calls, static_cast<uint64_t>(kCalls));
  EXPECT_EQ(stats.errors, 0u);
  EXPECT_TRUE(stats.connected);
}

TEST(AsioTransportTest, LargeMessagesArriveWhole) {
  auto server = StartTransport([](pb::Envelope request, Transport::Respond respond) {
    pb::Envelope reply;
    reply.mutable_read_result()->add_versions()->set_value(request.write().versions(0).value());
    respond(std::move(reply));
  });
  auto client = StartTransport(Echo);
  pb::Envelope big;
  big.mutable_write()->add_versions()->set_value(std::string(20 << 20, 'x') + "end");
  auto r = CallAndWait(*client, Loopback(server->port()), big);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->read_result().versions(0).value(), big.write().versions(0).value());
}

TEST(AsioTransportTest, UnreachablePeerFailsFastWithUnavailable) {
  auto client = StartTransport(Echo);
  // A port nothing listens on: bind one, then close it.
  auto gone = StartTransport(Echo);
  const std::string address = Loopback(gone->port());
  gone.reset();
  const absl::Time start = absl::Now();
  auto r = CallAndWait(*client, address, ReadOf("k"));
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  EXPECT_NE(r.status().message().find("unreachable"), std::string::npos) << r.status();
  EXPECT_TRUE(WasNotSent(r.status()));  // safe to send elsewhere
  // Within the backoff, the next call fails at once without trying.
  auto again = CallAndWait(*client, address, ReadOf("k"));
  EXPECT_TRUE(absl::IsUnavailable(again.status()));
  EXPECT_TRUE(WasNotSent(again.status()));
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_FALSE(CallAndWait(*client, "no-port", ReadOf("k")).ok());
}

TEST(AsioTransportTest, ACallWithoutAnswerTimesOutAndTheConnectionStaysUsable) {
  std::atomic<bool> answer{false};
  std::vector<Transport::Respond> held;
  std::mutex mu;
  auto server = StartTransport([&](pb::Envelope request, Transport::Respond respond) {
    if (answer) return Echo(std::move(request), std::move(respond));
    std::lock_guard<std::mutex> l(mu);
    held.push_back(std::move(respond));  // never answered in time
  });
  auto client = StartTransport(Echo);
  const std::string address = Loopback(server->port());
  const absl::Time start = absl::Now();
  auto r = CallAndWait(*client, address, ReadOf("slow"), absl::Milliseconds(200));
  EXPECT_TRUE(absl::IsDeadlineExceeded(r.status())) << r.status();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(190));
  // The late reply is dropped; the next call is answered.
  {
    std::lock_guard<std::mutex> l(mu);
    pb::Envelope late;
    late.mutable_read_result()->set_found(false);
    held[0](late);
  }
  answer = true;
  auto ok = CallAndWait(*client, address, ReadOf("fast"));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->read_result().versions(0).value(), "v:fast");
  EXPECT_EQ(client->Stats()[address].timeouts, 1u);
}

TEST(AsioTransportTest, APeerThatStopsReadingGetsBackPressureNotUnboundedMemory) {
  // A listening socket that never accepts: the kernel completes the handshake, then its
  // buffers fill and the rest of the frames wait in the transport's queue.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  AsioTransport::Options options;
  options.max_queued_bytes = 8 << 20;
  auto client = StartTransport(Echo, options);
  pb::Envelope chunk;
  chunk.mutable_write()->add_versions()->set_value(std::string(1 << 20, 'q'));
  std::atomic<int> exhausted{0}, done{0};
  constexpr int kCalls = 100;
  for (int i = 0; i < kCalls; i++) {
    client->Call(Loopback(ntohs(addr.sin_port)), chunk, absl::Milliseconds(500),
                 [&](absl::StatusOr<pb::Envelope> r) {
                   if (absl::IsResourceExhausted(r.status())) exhausted++;
                   done++;
                 });
  }
  while (done < kCalls) absl::SleepFor(absl::Milliseconds(10));
  // Most of the 100 MiB never queued: at most 8 MiB plus what the kernel took.
  EXPECT_GT(exhausted, 50);
  close(fd);
}

TEST(AsioTransportTest, OneMessageLargerThanTheQueueBoundIsSent) {
  // Answers with the size of the value it got.
  auto server = StartTransport([](pb::Envelope request, Transport::Respond respond) {
    pb::Envelope reply;
    reply.mutable_read_result()->add_versions()->set_value(
        std::to_string(request.write().versions(0).value().size()));
    respond(std::move(reply));
  });
  AsioTransport::Options options;
  options.max_queued_bytes = 1 << 20;
  auto client = StartTransport(Echo, options);
  pb::Envelope big;
  big.mutable_write()->add_versions()->set_value(std::string(4 << 20, 'b'));
  auto reply = client->CallAndWait(Loopback(server->port()), big, absl::Seconds(10));
  ASSERT_TRUE(reply.ok()) << reply.status();
  ASSERT_EQ(reply->read_result().versions_size(), 1);
  EXPECT_EQ(reply->read_result().versions(0).value(), std::to_string(4 << 20));
}

TEST(AsioTransportTest, AfterThePeerRestartsCallsSucceedAgain) {
  auto server = StartTransport(Echo);
  const int port = server->port();
  AsioTransport::Options options;
  options.reconnect_backoff = absl::Milliseconds(50);
  auto client = StartTransport(Echo, options);
  ASSERT_TRUE(CallAndWait(*client, Loopback(port), ReadOf("a")).ok());
  server.reset();  // the connection breaks
  auto broken = CallAndWait(*client, Loopback(port), ReadOf("b"));
  EXPECT_TRUE(absl::IsUnavailable(broken.status())) << broken.status();
  AsioTransport::Options same_port;
  same_port.port = port;
  server = StartTransport(Echo, same_port);
  ASSERT_NE(server, nullptr);
  absl::StatusOr<pb::Envelope> r;
  for (int i = 0; i < 50; i++) {
    r = CallAndWait(*client, Loopback(port), ReadOf("c"));
    if (r.ok()) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->read_result().versions(0).value(), "v:c");
}

TEST(AsioTransportTest, GarbageFromAClientClosesOnlyItsConnection) {
  auto server = StartTransport(Echo);
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(server->port()));
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const char garbage[] = "\xff\xff\xff\xffGET / HTTP/1.1\r\n\r\n";
  ASSERT_GT(write(fd, garbage, sizeof(garbage)), 0);
  char buf[16];
  EXPECT_EQ(read(fd, buf, sizeof(buf)), 0);  // closed by the server, nothing sent
  close(fd);
  auto client = StartTransport(Echo);
  auto r = CallAndWait(*client, Loopback(server->port()), ReadOf("still"));
  ASSERT_TRUE(r.ok()) << r.status();
}

// --- cluster-secret (peer_auth.h) on real sockets ---------------------------------------

AsioTransport::Options WithSecrets(std::vector<std::string> secrets, std::string node_id) {
  AsioTransport::Options o;
  o.node_id = std::move(node_id);
  o.secrets = [secrets] { return secrets; };
  return o;
}

int ConnectLoopback(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  return fd;
}

TEST(AsioTransportTest, SameSecretCallsFlowAfterTheHandshake) {
  auto server = StartTransport(Echo, WithSecrets({"s"}, "b"));
  auto client = StartTransport(Echo, WithSecrets({"s"}, "a"));
  const std::string address = Loopback(server->port());
  // Calls made before the handshake is done wait for it, then all leave.
  constexpr int kCalls = 50;
  std::vector<std::promise<absl::StatusOr<pb::Envelope>>> promises(kCalls);
  for (int i = 0; i < kCalls; i++) {
    client->Call(address, ReadOf(absl::StrCat("k", i)), absl::Seconds(10),
                 [&promises, i](absl::StatusOr<pb::Envelope> r) { promises[i].set_value(std::move(r)); });
  }
  for (int i = 0; i < kCalls; i++) {
    auto r = promises[i].get_future().get();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->read_result().versions(0).value(), absl::StrCat("v:k", i));
  }
  EXPECT_EQ(server->auth_failures(), 0u);
  EXPECT_EQ(client->auth_failures(), 0u);
}

TEST(AsioTransportTest, WrongOrMissingSecretNeverReachesTheHandler) {
  std::atomic<int> served{0};
  auto server = StartTransport(
      [&served](pb::Envelope request, Transport::Respond respond) {
        served++;
        Echo(std::move(request), std::move(respond));
      },
      WithSecrets({"s"}, "b"));
  const std::string address = Loopback(server->port());
  auto wrong = StartTransport(Echo, WithSecrets({"guess"}, "a"));
  auto r = CallAndWait(*wrong, address, ReadOf("k"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  EXPECT_TRUE(WasNotSent(r.status())) << "nothing left before the handshake was done";
  EXPECT_GE(wrong->auth_failures(), 1u);
  auto none = StartTransport(Echo);
  r = CallAndWait(*none, address, ReadOf("k"));
  EXPECT_FALSE(r.ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (server->auth_failures() < 2 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_GE(server->auth_failures(), 2u);  // the one that left, the one with no handshake
  EXPECT_EQ(served.load(), 0);
}

TEST(AsioTransportTest, ASecretChangeAppliesToNewConnections) {
  auto secrets = std::make_shared<std::vector<std::string>>(std::vector<std::string>{"old"});
  absl::Mutex mu;
  AsioTransport::Options o;
  o.secrets = [secrets, &mu] {
    absl::MutexLock l(&mu);
    return *secrets;
  };
  auto server = StartTransport(Echo, o);
  const std::string address = Loopback(server->port());
  auto early = StartTransport(Echo, WithSecrets({"old"}, "a"));
  ASSERT_TRUE(CallAndWait(*early, address, ReadOf("k")).ok());
  {
    absl::MutexLock l(&mu);
    *secrets = {"new"};
  }
  // The connection made with the old secret stays; a new one needs the new secret.
  EXPECT_TRUE(CallAndWait(*early, address, ReadOf("k")).ok());
  auto late_old = StartTransport(Echo, WithSecrets({"old"}, "c"));
  EXPECT_FALSE(CallAndWait(*late_old, address, ReadOf("k")).ok());
  auto late_new = StartTransport(Echo, WithSecrets({"new", "old"}, "d"));
  EXPECT_TRUE(CallAndWait(*late_new, address, ReadOf("k")).ok());
}

TEST(AsioTransportTest, AnIdleUnauthenticatedConnectionIsClosedAfterTheTimeout) {
  AsioTransport::Options o = WithSecrets({"s"}, "b");
  o.handshake_timeout = absl::Milliseconds(300);
  auto server = StartTransport(Echo, o);
  const int fd = ConnectLoopback(server->port());
  const absl::Time start = absl::Now();
  char buf[16];
  EXPECT_EQ(read(fd, buf, sizeof(buf)), 0);  // closed, nothing sent
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(250));
  close(fd);
  EXPECT_EQ(server->auth_failures(), 1u);
}

// Reads until the peer closes the connection or `wait` passes; true if it closed.
bool ClosedWithin(int fd, absl::Duration wait) {
  timeval tv{};
  tv.tv_sec = absl::ToInt64Seconds(wait);
  tv.tv_usec = absl::ToInt64Microseconds(wait) % 1000000;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  char buf[64];
  return read(fd, buf, sizeof(buf)) == 0;
}

TEST(AsioTransportTest, HandshakesInProgressAreCapped) {
  AsioTransport::Options o = WithSecrets({"s"}, "b");
  o.handshake_timeout = absl::Seconds(2);
  ASSERT_EQ(o.max_handshakes, 64);  // the default the test exercises
  auto server = StartTransport(Echo, o);
  // 64 idle connections fill every slot; each is held until its handshake times out.
  std::vector<int> idle;
  for (int i = 0; i < 64; i++) idle.push_back(ConnectLoopback(server->port()));
  absl::SleepFor(absl::Milliseconds(300));  // accepted and started
  EXPECT_EQ(server->auth_failures(), 0u);
  // Beyond the cap: closed at once (well before the 2 s timeout), counted.
  const absl::Time start = absl::Now();
  const int extra = ConnectLoopback(server->port());
  EXPECT_TRUE(ClosedWithin(extra, absl::Seconds(1)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  close(extra);
  EXPECT_EQ(server->auth_failures(), 1u);
  // A real peer is refused too while the slots are full, and connects once they freed.
  auto client = StartTransport(Echo, WithSecrets({"s"}, "a"));
  const std::string address = Loopback(server->port());
  EXPECT_FALSE(CallAndWait(*client, address, ReadOf("k")).ok());
  for (int fd : idle) {
    EXPECT_TRUE(ClosedWithin(fd, absl::Seconds(5)));
    close(fd);
  }
  absl::StatusOr<pb::Envelope> r = absl::UnavailableError("not tried");
  for (int i = 0; i < 50 && !r.ok(); i++) {
    r = CallAndWait(*client, address, ReadOf("k"));
    if (!r.ok()) absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->read_result().versions(0).value(), "v:k");
}

TEST(AsioTransportTest, AFinishedHandshakeFreesItsSlot) {
  // With two slots, many peers connect one after another: each frees its slot when its
  // handshake is done (with a secret) or fails.
  AsioTransport::Options o = WithSecrets({"s"}, "b");
  o.max_handshakes = 2;
  auto server = StartTransport(Echo, o);
  const std::string address = Loopback(server->port());
  for (int i = 0; i < 6; i++) {
    auto wrong = StartTransport(Echo, WithSecrets({"guess"}, absl::StrCat("w", i)));
    EXPECT_FALSE(CallAndWait(*wrong, address, ReadOf("k")).ok());
    auto client = StartTransport(Echo, WithSecrets({"s"}, absl::StrCat("a", i)));
    auto r = CallAndWait(*client, address, ReadOf("k"));
    ASSERT_TRUE(r.ok()) << i << ": " << r.status();
  }
  // Only the wrong secrets were refused, never for the cap.
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (server->auth_failures() < 6 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_EQ(server->auth_failures(), 6u);
}

// The sanitizers' runtime needs descriptors of its own (UBSan's vptr check, as read, tests
// whether memory is readable through a pipe): at the descriptor limit it reported a false
// "invalid vptr". The acceptor's pause is the same code in both builds; the release build
// of the suite (./scripts/test.sh runs both) checks it.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CAIRN_TRANSPORT_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CAIRN_TRANSPORT_SANITIZED 1
#endif

TEST(AsioTransportTest, OutOfDescriptorsPausesTheAcceptorInsteadOfSpinning) {
#ifdef CAIRN_TRANSPORT_SANITIZED
  GTEST_SKIP() << "the sanitizers need descriptors at the limit this test sets";
#endif
  // In a child process (the descriptor limit is per process): its transport's accepts
  // fail with EMFILE while a connection waits in the backlog. It must pause between
  // tries (little CPU) and warn at most once a second.
  char log_path[] = "/tmp/cairn_emfile_XXXXXX";
  const int log_fd = mkstemp(log_path);
  ASSERT_GE(log_fd, 0);
  int to_parent[2];
  ASSERT_EQ(pipe(to_parent), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(log_fd, 1);  // the log (spdlog writes to stdout)
    dup2(log_fd, 2);
    AsioTransport::Options options;
    options.port = 0;
    auto server = AsioTransport::Start(options, Echo);
    if (!server.ok()) _exit(2);
    const int port = (*server)->port();
    const int lowest_free = dup(0);
    close(lowest_free);
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = static_cast<rlim_t>(lowest_free);  // no new descriptor from here on
    setrlimit(RLIMIT_NOFILE, &limit);
    rusage before{}, after{};
    getrusage(RUSAGE_SELF, &before);
    if (write(to_parent[1], &port, sizeof(port)) != sizeof(port)) _exit(3);
    absl::SleepFor(absl::Milliseconds(2500));
    getrusage(RUSAGE_SELF, &after);
    const auto micros = [](const rusage& u) {
      return int64_t{u.ru_utime.tv_sec + u.ru_stime.tv_sec} * 1000000 + u.ru_utime.tv_usec +
             u.ru_stime.tv_usec;
    };
    const int64_t cpu = micros(after) - micros(before);
    if (write(to_parent[1], &cpu, sizeof(cpu)) != sizeof(cpu)) _exit(3);
    _exit(0);  // no destructors: the transport's thread still runs
  }
  close(to_parent[1]);
  int port = 0;
  ASSERT_EQ(read(to_parent[0], &port, sizeof(port)), static_cast<ssize_t>(sizeof(port)));
  const int fd = ConnectLoopback(port);  // waits in the backlog; accepting it fails
  int64_t cpu = -1;
  ASSERT_EQ(read(to_parent[0], &cpu, sizeof(cpu)), static_cast<ssize_t>(sizeof(cpu)));
  int status = 0;
  waitpid(pid, &status, 0);
  close(fd);
  close(to_parent[0]);
  std::string log;
  char buf[4096];
  ssize_t n;
  lseek(log_fd, 0, SEEK_SET);
  while ((n = read(log_fd, buf, sizeof(buf))) > 0) log.append(buf, static_cast<size_t>(n));
  close(log_fd);
  unlink(log_path);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  // Spinning on the error takes a whole core for the 2.5 s.
  EXPECT_LT(cpu, 500000) << "CPU micros in 2.5 s of failing accepts";
  size_t lines = 0;
  for (size_t at = 0; (at = log.find("cluster accept failed", at)) != std::string::npos; at++) lines++;
  EXPECT_GE(lines, 1u) << log;
  EXPECT_LE(lines, 4u) << log;
}

}  // namespace
}  // namespace cairn::cluster
