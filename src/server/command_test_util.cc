#include "server/command_test_util.h"

#include <atomic>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace cairn::server {
namespace {

std::atomic<int64_t> clock_offset{0};
int64_t TestNow() { return store::SystemNowMs() + clock_offset.load(); }

std::string Line(const std::string& s, size_t* pos) {
  const size_t end = s.find("\r\n", *pos);
  std::string line = s.substr(*pos, end - *pos);
  *pos = end + 2;
  return line;
}

}  // namespace

std::string DescribeReply(const std::string& resp, size_t* pos) {
  if (*pos >= resp.size()) return "<missing reply>";
  const char type = resp[(*pos)++];
  std::string line = Line(resp, pos);
  switch (type) {
    case '+':
      return line;
    case '-':
      return "(error) " + line;
    case ':':
      return "(integer) " + line;
    case ',':
      return "(double) " + line;
    case '#':
      return line == "t" ? "(true)" : "(false)";
    case '_':
      return "(nil)";
    case '$':
    case '=': {
      const long n = std::atol(line.c_str());
      if (n < 0) return "(nil)";
      std::string body = resp.substr(*pos, n);
      *pos += n + 2;
      return "\"" + body + "\"";
    }
    case '*':
    case '~':
    case '%': {
      const long n = std::atol(line.c_str());
      if (n < 0) return "(nil)";
      std::vector<std::string> items;
      const long count = type == '%' ? 2 * n : n;
      for (long i = 0; i < count; i++) items.push_back(DescribeReply(resp, pos));
      if (type == '%') {
        std::vector<std::string> pairs;
        for (size_t i = 0; i + 1 < items.size(); i += 2)
          pairs.push_back(items[i] + ": " + items[i + 1]);
        return "{" + absl::StrJoin(pairs, ", ") + "}";
      }
      return "[" + absl::StrJoin(items, ", ") + "]";
    }
  }
  return "<bad reply type " + std::string(1, type) + ">";
}

void CommandHarness::AdvanceClock(int64_t ms) { clock_offset += ms; }
int64_t CommandHarness::Now() { return TestNow(); }

CommandHarness::CommandHarness(ServerConfig cfg, engine::Options options)
    : config_(std::move(cfg)) {
  options.memtable_hash_index = true;  // as cairn-server runs it
  auto db = engine::DB::Open(options, dir_.path());
  EXPECT_TRUE(db.ok()) << db.status();
  db_ = std::move(*db);
  auto backend = store::LocalBackend::Open(db_.get(), &TestNow);
  EXPECT_TRUE(backend.ok());
  backend_ = std::move(*backend);
  ctx_.backend = backend_.get();
  ctx_.config = &config_;
  ctx_.start_ms = TestNow();
  ctx_.now_ms = &TestNow;
  ctx_.run_id = std::string(40, '0');
  ApplyAclConfig(ctx_);
}

CommandHarness::~CommandHarness() {
  backend_.reset();
  db_.reset();
}

ClientState& CommandHarness::client(int i) {
  while (static_cast<int>(clients_.size()) <= i) {
    auto c = std::make_unique<ClientState>();
    c->id = ctx_.clients.NextId();
    c->authenticated = !ctx_.acl->auth_required();
    SetClientUser(ctx_, *c, ctx_.acl->Find("default"));
    clients_.push_back(std::move(c));
  }
  return *clients_[i];
}

std::string CommandHarness::Run(const std::vector<std::string>& args, int client_index) {
  ClientState& c = client(client_index);
  std::vector<std::string_view> views(args.begin(), args.end());
  std::string out;
  protocol::ReplyWriter writer(&out, c.protocol);
  ExecuteCommand(ctx_, c, views, writer);
  c.protocol = writer.protocol();
  size_t pos = 0;
  std::string described = DescribeReply(out, &pos);
  EXPECT_EQ(pos, out.size()) << "more than one reply: " << out;
  return described;
}

}  // namespace cairn::server
