#include "server/acl.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/glob.h"

namespace cairn::server::acl {
namespace {

constexpr int kFutureBit = static_cast<int>(kCommandAclCount);  // set only by +@all
constexpr size_t kWords = (kCommandAclCount + 1 + 63) / 64;

struct Index {
  absl::flat_hash_map<std::string, int> by_name;
  std::vector<std::vector<int>> children;  // a container's subcommands
};

const Index& TheIndex() {
  static const Index* index = [] {
    auto* ix = new Index;
    ix->children.resize(kCommandAclCount);
    for (size_t i = 0; i < kCommandAclCount; i++) {
      const std::string name = kCommandAcls[i].name;
      ix->by_name[name] = static_cast<int>(i);
      if (const size_t bar = name.find('|'); bar != std::string::npos) {
        auto it = ix->by_name.find(name.substr(0, bar));
        if (it != ix->by_name.end()) ix->children[it->second].push_back(static_cast<int>(i));
      }
    }
    return ix;
  }();
  return *index;
}

std::string LowerCopy(std::string_view s) {
  return absl::AsciiStrToLower(absl::string_view(s.data(), s.size()));
}

bool EqualsNoCase(std::string_view a, std::string_view b) {
  return absl::EqualsIgnoreCase(absl::string_view(a.data(), a.size()),
                                absl::string_view(b.data(), b.size()));
}

const char kUnknownName[] = "Unknown command or category name in ACL";
const char kSyntax[] = "Syntax error";

uint32_t CategoryByName(std::string_view name) {
  for (int i = 0; i < kCategoryCount; i++) {
    if (EqualsNoCase(name, kCategoryNames[i])) return 1u << i;
  }
  return 0;
}

struct KeyRef {
  int pos;
  uint32_t flags;
};

// The flags Redis's getkeys procedures give the key of a spec with VARIABLE_FLAGS: SET
// reads only with GET; BITFIELD writes only with SET or INCRBY.
uint32_t VariableFlags(std::string_view name, const std::vector<std::string_view>& args) {
  if (name == "set") {
    for (size_t i = 3; i < args.size(); i++) {
      if (EqualsNoCase(args[i], "get")) return kKsRW | kKsAccess | kKsUpdate;
    }
    return kKsOW | kKsUpdate;
  }
  for (size_t i = 2; i < args.size(); i++) {  // bitfield
    if (EqualsNoCase(args[i], "set") || EqualsNoCase(args[i], "incrby")) {
      return kKsRW | kKsAccess | kKsUpdate;
    }
  }
  return kKsRO | kKsAccess;
}

// Redis's getKeysUsingKeySpecs with GET_KEYSPEC_RETURN_PARTIAL semantics for the specs it
// cannot follow; SORT's STORE key (an unknown spec) is found as sortGetKeys does.
std::vector<KeyRef> KeysOf(int id, const std::vector<std::string_view>& args) {
  std::vector<KeyRef> out;
  const CommandAcl& cmd = kCommandAcls[id];
  const int argc = static_cast<int>(args.size());
  if (std::string_view(cmd.name) == "migrate") {  // an incomplete spec: migrateGetKeys
    // AUTH takes one argument, AUTH2 two (a password is not the KEYS keyword); a KEYS with
    // nothing after it leaves the key argument, and KEYS after a non-empty key argument
    // names no key at all (MIGRATE refuses it), as Redis 7.0.15 answers.
    for (int i = 6; i < argc; i++) {
      if (EqualsNoCase(args[i], "keys")) {
        if (i + 1 >= argc) break;
        if (!args[3].empty()) return out;  // KEYS with a key argument: none (an error)
        for (int k = i + 1; k < argc; k++) out.push_back({k, kKsRW | kKsAccess | kKsDelete});
        return out;
      }
      if (EqualsNoCase(args[i], "auth")) {
        i += 1;
      } else if (EqualsNoCase(args[i], "auth2")) {
        i += 2;
      }
    }
    if (argc > 3) out.push_back({3, kKsRW | kKsAccess | kKsDelete});
    return out;
  }
  for (int s = 0; s < cmd.key_spec_count; s++) {
    const KeySpec& spec = cmd.key_specs[s];
    if (spec.flags & kKsNot_key) continue;  // SSUBSCRIBE's channels: checked as channels
    int first = 0;
    if (spec.begin == kBeginIndex) {
      first = spec.index;
    } else if (spec.begin == kBeginKeyword) {
      const int start = spec.startfrom >= 0 ? spec.startfrom : argc + spec.startfrom;
      const int end = spec.startfrom >= 0 ? argc - 1 : 0;
      const int incr = spec.startfrom >= 0 ? 1 : -1;
      int found = -1;
      for (int i = start; incr > 0 ? i <= end : i >= end; i += incr) {
        if (i < 0 || i >= argc) break;
        if (EqualsNoCase(args[i], spec.keyword)) {
          found = i;
          break;
        }
      }
      if (found < 0) continue;
      first = found + 1;
    } else {
      continue;
    }
    int last = 0, step = 1;
    if (spec.find == kFindRange) {
      step = spec.b;
      if (spec.a >= 0) {
        last = first + spec.a;
      } else if (spec.c == 0) {
        last = argc + spec.a;
      } else {
        last = first + ((argc - first) / spec.c + spec.a);
      }
    } else if (spec.find == kFindKeynum) {
      step = spec.c;
      if (first + spec.a >= argc) continue;
      int64_t n = 0;
      const std::string_view s = args[first + spec.a];
      if (s.empty() || s.size() > 10 ||
          !std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
        continue;
      }
      n = std::stoll(std::string(s));
      first += spec.b;
      last = first + static_cast<int>(n) - 1;
    } else {
      continue;
    }
    if (last >= argc || last < first || first >= argc || step <= 0) continue;
    uint32_t flags = spec.flags;
    if (flags & kKsVariable_flags) flags = VariableFlags(cmd.name, args);
    for (int i = first; i <= last; i += step) out.push_back({i, flags});
  }
  if (std::string_view(cmd.name) == "georadius" ||
      std::string_view(cmd.name) == "georadiusbymember") {
    // The key specs name only the first STORE and the first STOREDIST, but the command
    // stores into the last one given (georadiusGetKeys): every one of them is checked.
    for (int i = 5; i + 1 < argc; i++) {
      if (EqualsNoCase(args[i], "store") || EqualsNoCase(args[i], "storedist")) {
        out.push_back({i + 1, kKsOW | kKsUpdate});
        i += 1;
      }
    }
  }
  if (std::string_view(cmd.name) == "sort" || std::string_view(cmd.name) == "sort_ro") {
    for (int i = 2; i + 1 < argc; i++) {
      const std::string opt = LowerCopy(args[i]);
      if (opt == "limit") {
        i += 2;
      } else if (opt == "by" || opt == "get") {
        i += 1;
      } else if (opt == "store") {
        out.push_back({i + 1, kKsOW | kKsUpdate});
        i += 1;
      }
    }
  }
  return out;
}

// The channel arguments of a command: (position, is a pattern).
struct ChannelRef {
  int pos;
  bool pattern;
};
std::vector<ChannelRef> ChannelsOf(int id, const std::vector<std::string_view>& args) {
  std::vector<ChannelRef> out;
  const std::string_view name = kCommandAcls[id].name;
  if (name == "publish" || name == "spublish") {
    if (args.size() > 1) out.push_back({1, false});
  } else if (name == "subscribe" || name == "ssubscribe" || name == "psubscribe") {
    for (size_t i = 1; i < args.size(); i++) {
      out.push_back({static_cast<int>(i), name == "psubscribe"});
    }
  }
  return out;
}

std::atomic<bool> g_pubsub_allchannels{false};

}  // namespace

void SetPubsubDefault(bool allchannels) { g_pubsub_allchannels.store(allchannels); }
bool PubsubDefault() { return g_pubsub_allchannels.load(); }

std::string HashPassword(std::string_view password) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(password.data(), password.size(), md, &len, EVP_sha256(), nullptr);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; i++) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

bool SameHash(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool HasSpaces(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char ch) {
    return ch == '\0' || ch == ' ' || ch == '\t' || ch == '\n' || ch == '\v' || ch == '\f' ||
           ch == '\r';
  });
}

int CommandIdByName(std::string_view lower_name) {
  const auto& ix = TheIndex();
  auto it = ix.by_name.find(absl::string_view(lower_name.data(), lower_name.size()));
  return it == ix.by_name.end() ? -1 : it->second;
}

int CommandId(const std::vector<std::string_view>& args) {
  if (args.empty() || args[0].size() > 40) return -1;
  const std::string name = LowerCopy(args[0]);
  const int id = CommandIdByName(name);
  if (id < 0 || args.size() < 2 || TheIndex().children[id].empty() || args[1].size() > 40) {
    return id;
  }
  const int sub = CommandIdByName(name + "|" + LowerCopy(args[1]));
  return sub >= 0 ? sub : id;
}

const char* CommandName(int id) {
  return id >= 0 && id < kFutureBit ? kCommandAcls[id].name : "unknown";
}

// --- selector -----------------------------------------------------------------------------

Selector::Selector(bool allchannels)
    : allchannels_(allchannels), bits_(kWords, 0), firstargs_(kCommandAclCount) {}

void Selector::SetBit(int id, bool on) {
  if (on) {
    bits_[id / 64] |= uint64_t{1} << (id % 64);
  } else {
    bits_[id / 64] &= ~(uint64_t{1} << (id % 64));
  }
}

void Selector::ChangePerm(int id, bool allow) {
  SetBit(id, allow);
  firstargs_[id].clear();
  for (int child : TheIndex().children[id]) ChangePerm(child, allow);
}

void Selector::SetCategory(uint32_t cat, bool allow) {
  for (size_t i = 0; i < kCommandAclCount; i++) {
    if (kCommandAcls[i].categories & cat) ChangePerm(static_cast<int>(i), allow);
  }
}

void Selector::CountCategory(uint32_t cat, unsigned* on, unsigned* off) const {
  *on = *off = 0;
  for (size_t i = 0; i < kCommandAclCount; i++) {
    if (!(kCommandAcls[i].categories & cat)) continue;
    // cairn's own commands do not sway the choice of categories, so descriptions match
    // Redis's; the single-command pass still names them where needed.
    if (std::string_view(kCommandAcls[i].name).starts_with("cairn.")) continue;
    Bit(static_cast<int>(i)) ? ++*on : ++*off;
  }
}

bool Selector::AllCommands() const {
  for (size_t w = 0; w < kWords; w++) {
    const size_t bits_here = std::min<size_t>(64, kCommandAclCount + 1 - w * 64);
    const uint64_t mask = bits_here == 64 ? ~uint64_t{0} : (uint64_t{1} << bits_here) - 1;
    if ((bits_[w] & mask) != mask) return false;
  }
  return true;
}

std::string Selector::Apply(std::string_view op) {
  if (EqualsNoCase(op, "allkeys") || op == "~*") {  // Redis takes ~* and &* as the flags
    allkeys_ = true;
    keys_.clear();
    key_at_.clear();
  } else if (EqualsNoCase(op, "resetkeys")) {
    allkeys_ = false;
    keys_.clear();
    key_at_.clear();
  } else if (EqualsNoCase(op, "allchannels") || op == "&*") {
    allchannels_ = true;
    channels_.clear();
    channel_set_.clear();
  } else if (EqualsNoCase(op, "resetchannels")) {
    allchannels_ = false;
    channels_.clear();
    channel_set_.clear();
  } else if (EqualsNoCase(op, "allcommands") || EqualsNoCase(op, "+@all")) {
    std::fill(bits_.begin(), bits_.end(), ~uint64_t{0});
    for (auto& f : firstargs_) f.clear();
  } else if (EqualsNoCase(op, "nocommands") || EqualsNoCase(op, "-@all")) {
    std::fill(bits_.begin(), bits_.end(), 0);
    for (auto& f : firstargs_) f.clear();
  } else if (!op.empty() && (op[0] == '~' || op[0] == '%')) {
    if (allkeys_) {
      return "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does "
             "not have any effect. Try 'resetkeys' to start with an empty list of patterns";
    }
    int perms = 0;
    size_t offset = 1;
    if (op[0] == '%') {
      for (; offset < op.size(); offset++) {
        const char ch = absl::ascii_toupper(op[offset]);
        if (ch == 'R' && !(perms & kRead)) {
          perms |= kRead;
        } else if (ch == 'W' && !(perms & kWrite)) {
          perms |= kWrite;
        } else if (op[offset] == '~') {
          offset++;
          break;
        } else {
          return kSyntax;
        }
      }
    } else {
      perms = kReadWrite;
    }
    if (perms == 0) return kSyntax;
    const std::string pattern(op.substr(std::min(offset, op.size())));
    if (HasSpaces(pattern)) return kSyntax;
    auto [it, added] = key_at_.try_emplace(pattern, keys_.size());
    if (added) {
      keys_.push_back({pattern, perms});
    } else {
      keys_[it->second].perms |= perms;
    }
  } else if (!op.empty() && op[0] == '&') {
    if (allchannels_) {
      return "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and "
             "does not have any effect. Try 'resetchannels' to start with an empty list of "
             "channels";
    }
    const std::string pattern(op.substr(1));
    if (HasSpaces(pattern)) return kSyntax;
    if (channel_set_.insert(pattern).second) {
      channels_.push_back(pattern);
    }
  } else if (op.size() >= 2 && (op[0] == '+' || op[0] == '-') && op[1] == '@') {
    const uint32_t cat = CategoryByName(op.substr(2));
    if (cat == 0) return kUnknownName;
    SetCategory(cat, op[0] == '+');
  } else if (op.size() >= 2 && op[0] == '+') {
    const std::string name = LowerCopy(op.substr(1));
    int id = CommandIdByName(name);
    if (id >= 0) {
      ChangePerm(id, true);
      return "";
    }
    const size_t bar = name.find('|');
    if (bar == std::string::npos) return kUnknownName;
    const int parent = CommandIdByName(name.substr(0, bar));
    if (parent < 0) return kUnknownName;
    const std::string sub = std::string(op.substr(1 + bar + 1));
    if (sub.find('|') != std::string::npos)
      return "Allowing first-arg of a subcommand is not supported";
    if (!TheIndex().children[parent].empty()) return kUnknownName;
    if (sub.empty()) return kSyntax;
    auto& fa = firstargs_[parent];
    if (std::none_of(fa.begin(), fa.end(),
                     [&](const std::string& a) { return EqualsNoCase(a, sub); })) {
      fa.push_back(sub);
    }
  } else if (op.size() >= 2 && op[0] == '-') {
    const int id = CommandIdByName(LowerCopy(op.substr(1)));
    if (id < 0) return kUnknownName;
    ChangePerm(id, false);
  } else {
    return kSyntax;
  }
  return "";
}

bool Selector::KeyAllowed(std::string_view key, int perms) const {
  if (allkeys_) return true;
  for (const KeyPattern& k : keys_) {
    if ((k.perms & perms) != perms) continue;
    if (GlobMatch(k.pattern, key)) return true;
  }
  return false;
}

bool Selector::ChannelAllowed(std::string_view channel, bool pattern) const {
  if (allchannels_) return true;
  for (const std::string& p : channels_) {
    if (pattern ? p == channel : GlobMatch(p, channel)) return true;
  }
  return false;
}

bool Selector::AllKeysReadable() const {
  if (allkeys_) return true;
  for (const KeyPattern& k : keys_) {
    if ((k.perms & kRead) && k.pattern == "*") return true;
  }
  return false;
}

Verdict Selector::Check(int id, const std::vector<std::string_view>& args, int* arg_index) const {
  if (id < 0) return Bit(kFutureBit) ? Verdict::kOk : Verdict::kCommand;
  const CommandAcl& cmd = kCommandAcls[id];
  if (!cmd.no_auth && !Bit(id)) {
    const auto& fa = firstargs_[id];
    if (args.size() < 2 || std::none_of(fa.begin(), fa.end(), [&](const std::string& a) {
          return EqualsNoCase(a, args[1]);
        })) {
      return Verdict::kCommand;
    }
  }
  if (!allkeys_ && (cmd.key_spec_count > 0 || cmd.movable_keys)) {
    for (const KeyRef& k : KeysOf(id, args)) {
      int perms = 0;
      if (k.flags & kKsAccess) perms |= kRead;
      if (k.flags & (kKsInsert | kKsDelete | kKsUpdate)) perms |= kWrite;
      if (!KeyAllowed(args[k.pos], perms)) {
        *arg_index = k.pos;
        return Verdict::kKey;
      }
    }
  }
  if (!allchannels_) {
    for (const ChannelRef& c : ChannelsOf(id, args)) {
      if (!ChannelAllowed(args[c.pos], c.pattern)) {
        *arg_index = c.pos;
        return Verdict::kChannel;
      }
    }
  }
  return Verdict::kOk;
}

std::string Selector::KeysText() const {
  if (allkeys_) return "~*";
  std::string out;
  for (const KeyPattern& k : keys_) {
    if (!out.empty()) out += ' ';
    // An ordinary read-write "*" (from %RW~*) is not written "~*", the allkeys flag, which
    // would refuse the patterns after it when the aclfile is loaded again.
    out += k.perms == kReadWrite ? (k.pattern == "*" ? "%RW~" : "~") : k.perms == kRead ? "%R~" : "%W~";
    out += k.pattern;
  }
  return out;
}

std::string Selector::ChannelsText() const {
  if (allchannels_) return "&*";
  std::string out;
  for (const std::string& c : channels_) {
    if (!out.empty()) out += ' ';
    out += "&" + c;
  }
  return out;
}

// Redis 7.0's ACLDescribeSelectorCommandRules: start from +@all or -@all, add the
// categories that fit best, then single commands (and first-args) for what remains.
std::string Selector::CommandsText() const {
  std::string rules;
  const bool additive = !Bit(kFutureBit);
  Selector fake(false);
  rules = additive ? "-@all " : "+@all ";
  fake.Apply(additive ? "-@all" : "+@all");
  Selector temp(false);
  temp.bits_ = bits_;
  bool applied[kCategoryCount] = {};
  while (true) {
    int best = -1;
    unsigned mindiff = INT_MAX, maxsame = 0;
    for (int j = 0; j < kCategoryCount; j++) {
      if (applied[j]) continue;
      unsigned on, off;
      temp.CountCategory(1u << j, &on, &off);
      const unsigned diff = additive ? off : on;
      const unsigned same = additive ? on : off;
      if (same > diff && (diff < mindiff || (diff == mindiff && same > maxsame))) {
        best = j;
        mindiff = diff;
        maxsame = same;
      }
    }
    if (best == -1) break;
    fake.SetCategory(1u << best, additive);
    temp.SetCategory(1u << best, !additive);
    rules += std::string(additive ? "+@" : "-@") + kCategoryNames[best] + " ";
    applied[best] = true;
  }
  for (size_t i = 0; i < kCommandAclCount; i++) {
    const int id = static_cast<int>(i);
    const bool userbit = Bit(id);
    if (userbit != fake.Bit(id)) {
      rules += std::string(userbit ? "+" : "-") + kCommandAcls[i].name + " ";
      fake.ChangePerm(id, userbit);
    }
    if (!userbit) {
      for (const std::string& a : firstargs_[i]) {
        rules += std::string("+") + kCommandAcls[i].name + "|" + a + " ";
      }
    }
  }
  if (!rules.empty()) rules.pop_back();
  return rules;
}

std::string Selector::Describe() const {
  std::string out;
  if (allkeys_) {
    out += "~* ";
  } else if (!keys_.empty()) {
    out += KeysText() + " ";
  }
  if (allchannels_) {
    out += "&* ";
  } else {
    out += "resetchannels ";
    if (!channels_.empty()) out += ChannelsText() + " ";
  }
  return out + CommandsText();
}

// --- user ---------------------------------------------------------------------------------

namespace {
bool ValidHash(std::string_view h) {
  if (h.size() != 64) return false;
  return std::all_of(h.begin(), h.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}
const char kBadHash[] =
    "The password hash must be exactly 64 characters and contain only lowercase hexadecimal "
    "characters";
const char kNoSuchPassword[] = "The password you are trying to remove from the user does not exist";
}  // namespace

std::string User::Apply(std::string_view op) {
  if (EqualsNoCase(op, "on")) {
    enabled = true;
  } else if (EqualsNoCase(op, "off")) {
    enabled = false;
  } else if (EqualsNoCase(op, "skip-sanitize-payload")) {
    sanitize = 2;
  } else if (EqualsNoCase(op, "sanitize-payload")) {
    sanitize = 1;
  } else if (EqualsNoCase(op, "nopass")) {
    nopass = true;
    passwords.clear();
  } else if (EqualsNoCase(op, "resetpass")) {
    nopass = false;
    passwords.clear();
  } else if (!op.empty() && (op[0] == '>' || op[0] == '#')) {
    std::string hash;
    if (op[0] == '>') {
      hash = HashPassword(op.substr(1));
    } else {
      if (!ValidHash(op.substr(1))) return kBadHash;
      hash = std::string(op.substr(1));
    }
    if (std::find(passwords.begin(), passwords.end(), hash) == passwords.end()) {
      passwords.push_back(hash);
    }
    nopass = false;
  } else if (!op.empty() && (op[0] == '<' || op[0] == '!')) {
    std::string hash;
    if (op[0] == '<') {
      hash = HashPassword(op.substr(1));
    } else {
      if (!ValidHash(op.substr(1))) return kBadHash;
      hash = std::string(op.substr(1));
    }
    auto it = std::find(passwords.begin(), passwords.end(), hash);
    if (it == passwords.end()) return kNoSuchPassword;
    passwords.erase(it);
  } else if (EqualsNoCase(op, "reset")) {
    passwords.clear();
    nopass = false;
    root = Selector(PubsubDefault());
    enabled = false;
    selectors.clear();
    sanitize = 1;
  } else if (EqualsNoCase(op, "clearselectors")) {
    selectors.clear();
  } else if (op.size() >= 2 && op.front() == '(' && op.back() == ')') {
    Selector s(PubsubDefault());
    for (absl::string_view part :
         absl::StrSplit(absl::string_view(op.data() + 1, op.size() - 2), ' ', absl::SkipEmpty())) {
      if (std::string e = s.Apply(std::string_view(part.data(), part.size())); !e.empty()) return e;
    }
    selectors.push_back(std::move(s));
  } else {
    return root.Apply(op);
  }
  return "";
}

bool User::CheckPassword(std::string_view pass) const {
  if (nopass) return true;
  const std::string hash = HashPassword(pass);
  bool found = false;
  for (const std::string& p : passwords) found |= SameHash(p, hash);  // every one compared
  return found;
}

std::string User::Describe() const {
  std::string out = "user " + name + " ";
  out += enabled ? "on " : "off ";
  if (nopass) out += "nopass ";
  if (sanitize == 2) out += "skip-sanitize-payload ";
  if (sanitize == 1) out += "sanitize-payload ";
  for (const std::string& p : passwords) out += "#" + p + " ";
  out += root.Describe();
  for (const Selector& s : selectors) out += " (" + s.Describe() + ")";
  return out;
}

Verdict User::Check(int id, const std::vector<std::string_view>& args, int* arg_index) const {
  Verdict relevant = Verdict::kCommand;
  int last_idx = 0;
  auto one = [&](const Selector& s) {
    int idx = 0;
    const Verdict v = s.Check(id, args, &idx);
    if (v == Verdict::kOk) return true;
    if (v > relevant || (v == relevant && idx > last_idx)) {
      relevant = v;
      last_idx = idx;
    }
    return false;
  };
  if (one(root)) return Verdict::kOk;
  for (const Selector& s : selectors) {
    if (one(s)) return Verdict::kOk;
  }
  *arg_index = last_idx;
  return relevant;
}

bool User::FullKeyRead(int id, const std::vector<std::string_view>& args) const {
  int idx = 0;
  if (root.Check(id, args, &idx) == Verdict::kOk && root.AllKeysReadable()) return true;
  for (const Selector& s : selectors) {
    if (s.Check(id, args, &idx) == Verdict::kOk && s.AllKeysReadable()) return true;
  }
  return false;
}

bool User::ChannelAllowed(std::string_view channel, bool pattern) const {
  if (root.ChannelAllowed(channel, pattern)) return true;
  for (const Selector& s : selectors) {
    if (s.ChannelAllowed(channel, pattern)) return true;
  }
  return false;
}

bool MergeSelectorArgs(const std::vector<std::string_view>& in, std::vector<std::string>* out,
                       std::string* error) {
  std::string acc;
  bool open = false;
  for (std::string_view a : in) {
    if (!open) {
      if (!a.empty() && a[0] == '(' && a.back() != ')') {
        acc = std::string(a);
        open = true;
      } else {
        out->push_back(std::string(a));
      }
    } else {
      acc += " ";
      acc += a;
      if (!a.empty() && a.back() == ')') {
        out->push_back(std::move(acc));
        acc.clear();
        open = false;
      }
    }
  }
  if (open) {
    const size_t sp = acc.find(' ');
    *error = "Unmatched parenthesis in acl selector starting at '" + acc.substr(0, sp) + "'.";
    return false;
  }
  return true;
}

}  // namespace cairn::server::acl
