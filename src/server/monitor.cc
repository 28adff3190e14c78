#include "server/monitor.h"

#include <cinttypes>
#include <cstdio>

#include "absl/strings/ascii.h"
#include "server/command.h"

namespace cairn::server {

namespace {

// Redis's sdscatrepr: the argument in double quotes with C escapes.
void AppendQuoted(std::string* out, std::string_view s) {
  out->push_back('"');
  for (unsigned char ch : s) {
    switch (ch) {
      case '\\': *out += "\\\\"; break;
      case '"': *out += "\\\""; break;
      case '\n': *out += "\\n"; break;
      case '\r': *out += "\\r"; break;
      case '\t': *out += "\\t"; break;
      case '\a': *out += "\\a"; break;
      case '\b': *out += "\\b"; break;
      default:
        if (absl::ascii_isprint(ch)) {
          out->push_back(static_cast<char>(ch));
        } else {
          char hex[5];
          std::snprintf(hex, sizeof(hex), "\\x%02x", ch);
          *out += hex;
        }
    }
  }
  out->push_back('"');
}

}  // namespace

bool Monitors::Add(ClientState* client) {
  absl::MutexLock l(&mu_);
  if (!clients_.insert(client).second) return false;
  count_.store(static_cast<int>(clients_.size()), std::memory_order_relaxed);
  return true;
}

void Monitors::Remove(ClientState* client) {
  absl::MutexLock l(&mu_);
  clients_.erase(client);
  count_.store(static_cast<int>(clients_.size()), std::memory_order_relaxed);
}

std::string Monitors::Line(std::string_view source, int db, const CommandSpec& spec,
                           const std::vector<std::string_view>& args, int64_t now_us) {
  char head[64];
  std::snprintf(head, sizeof(head), "+%" PRId64 ".%06" PRId64 " [%d ", now_us / 1000000, now_us % 1000000, db);
  std::string out = head;
  out.append(source);
  out.push_back(']');
  for (size_t i = 0; i < args.size(); i++) {
    out.push_back(' ');
    AppendQuoted(&out, RedactedArgument(spec.name, args, i) ? std::string_view("(redacted)") : args[i]);
  }
  out += "\r\n";
  return out;
}

void Monitors::Feed(const ClientState& from, int db, const CommandSpec& spec,
                    const std::vector<std::string_view>& args, int64_t now_us) {
  const std::string line = Line(from.script ? std::string_view("lua") : std::string_view(from.addr), db, spec,
                                args, now_us);
  absl::MutexLock l(&mu_);
  for (ClientState* m : clients_) {
    if (m->push) m->push(PubSub::Kind::kMonitor, "", line, line);
  }
}

// Whether argument i of the command is a credential, shown as "(redacted)" as Redis
// does: AUTH's arguments, ACL SETUSER's, HELLO's after AUTH, MIGRATE's after AUTH / AUTH2,
// and the value of a secret option in CONFIG SET.
bool RedactedArgument(std::string_view name, const std::vector<std::string_view>& args, size_t i) {
  if (name == "auth") return i >= 1;
  if (name == "acl" && args.size() > 1 && i >= 2) {  // ACL SETUSER's name and rules
    std::string sub(args[1]);
    absl::AsciiStrToLower(&sub);
    return sub == "setuser";
  }
  if (name == "config" && args.size() > 1 && i >= 3 && i % 2 == 1) {
    // CONFIG SET name value ...: the values of secret options, as Redis's sensitive configs.
    std::string sub(args[1]), option(args[i - 1]);
    absl::AsciiStrToLower(&sub);
    absl::AsciiStrToLower(&option);
    return sub == "set" && (option == "requirepass" || option == "users" ||
                            option == "tls-key-file-pass" || option == "cluster-secret" ||
                            option == "masterauth");
  }
  if (name == "hello" || name == "migrate") {
    for (size_t j = 1; j < i && j < args.size(); j++) {
      std::string word(args[j]);
      absl::AsciiStrToLower(&word);
      if (word == "auth") return i <= j + (name == "hello" ? 2 : 1);
      if (word == "auth2" && name == "migrate") return i <= j + 2;
    }
  }
  return false;
}

}  // namespace cairn::server
