// Redis 7 ACL users: rules (ACL SETUSER's modifiers), their description (ACL LIST,
// ACL GETUSER) and the permission check of a command line. Values only: no locks, no
// I/O; acl_users.h keeps the server's users and ACL LOG. Command ids are indices into
// acl_table.h's kCommandAcls (generated from Redis 7.0.15's COMMAND INFO).
#ifndef CAIRN_SERVER_ACL_H_
#define CAIRN_SERVER_ACL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "server/acl_table.h"

namespace cairn::server::acl {

// Why a command is refused; the order is Redis's (ACLCheckAllUserCommandPerm reports the
// highest one any selector hit).
enum class Verdict { kOk = 0, kCommand = 1, kKey = 2, kAuth = 3, kChannel = 4 };

inline constexpr int kRead = 1, kWrite = 2, kReadWrite = 3;

struct KeyPattern {
  std::string pattern;
  int perms;  // kRead | kWrite
};

// The hex SHA-256 of a password, as ACL GETUSER shows it.
std::string HashPassword(std::string_view password);
// Constant-time comparison of two hex hashes of equal length.
bool SameHash(std::string_view a, std::string_view b);

// Redis's ACLStringHasSpaces: a user name or a key/channel pattern holding any of these would
// break the one-rule-per-line aclfile (and ACL LIST), so they are refused.
bool HasSpaces(std::string_view s);

// The command id of a command line (a container's subcommand when args[1] names one:
// "config|get"); -1 when the table does not know it (only +@all allows it).
int CommandId(const std::vector<std::string_view>& args);
int CommandIdByName(std::string_view lower_name);
// The "parent|sub" name of an id, as NOPERM messages and ACL LOG show it.
const char* CommandName(int id);

// acl-pubsub-default: whether new users and selectors start with allchannels.
void SetPubsubDefault(bool allchannels);
bool PubsubDefault();

// One selector: commands, key patterns, channel patterns.
class Selector {
 public:
  explicit Selector(bool allchannels);
  // Applies one rule (+get, -@admin, ~k*, %R~k*, &ch, allkeys, resetkeys, allchannels,
  // resetchannels, allcommands, nocommands). Returns "" or Redis's reason text.
  std::string Apply(std::string_view op);

  // Whether the selector allows the command with these arguments; *arg_index: the
  // argument (key or channel) refused.
  Verdict Check(int id, const std::vector<std::string_view>& args, int* arg_index) const;
  // Whether the key may be accessed with perms (kRead/kWrite).
  bool KeyAllowed(std::string_view key, int perms) const;
  // Whether a channel (or, pattern: the literal pattern) may be used.
  bool ChannelAllowed(std::string_view channel, bool pattern) const;
  // Whether the command (ignoring keys) is allowed and every key may be read (SORT BY,
  // listings of many keys).
  bool AllKeysReadable() const;

  bool allkeys() const { return allkeys_; }
  bool allchannels() const { return allchannels_; }
  bool AllCommands() const;  // +@all and nothing removed
  const std::vector<std::string>& channels() const { return channels_; }
  std::string KeysText() const;      // "~a %R~b" (ACL GETUSER keys)
  std::string ChannelsText() const;  // "&a &b"
  std::string CommandsText() const;  // "-@all +get" (Redis's approximation)
  std::string Describe() const;      // keys, channels and commands, as ACL LIST

 private:
  bool Bit(int id) const { return (bits_[id / 64] >> (id % 64)) & 1; }
  void SetBit(int id, bool on);
  void ChangePerm(int id, bool allow);  // with its subcommands; clears its first-args
  void SetCategory(uint32_t cat, bool allow);
  void CountCategory(uint32_t cat, unsigned* on, unsigned* off) const;
  friend class DescribeHelper;

  bool allkeys_ = false, allchannels_ = false;
  std::vector<KeyPattern> keys_;
  // Where each pattern is in keys_ / that it is in channels_: adding N patterns is O(N).
  absl::flat_hash_map<std::string, size_t> key_at_;
  absl::flat_hash_set<std::string> channel_set_;
  std::vector<std::string> channels_;
  // One bit per command id, and bit kCommandAclCount: commands added later (+@all).
  std::vector<uint64_t> bits_;
  // Allowed first arguments of commands whose bit is off (+select|0), by id.
  std::vector<std::vector<std::string>> firstargs_;
};

struct User {
  explicit User(std::string n) : name(std::move(n)), root(PubsubDefault()) {}

  // Applies one ACL SETUSER argument (selectors already merged: "(~a +get)"). Returns ""
  // or the reason text of "ERR Error in ACL SETUSER modifier '...': <reason>".
  std::string Apply(std::string_view op);
  // Whether pass is one of the passwords (nopass: any).
  bool CheckPassword(std::string_view pass) const;
  // ACL LIST's line: "user name on #hash ~* &* +@all (...)".
  std::string Describe() const;
  // Every command, key and channel allowed (the check is skipped).
  bool ComputeUnrestricted() const {
    return root.AllCommands() && root.allkeys() && root.allchannels();
  }
  bool unrestricted = false;  // ComputeUnrestricted(), cached when published
  Verdict Check(int id, const std::vector<std::string_view>& args, int* arg_index) const;
  // Whether some selector allows the command on every key for reading (SORT BY/GET,
  // CAIRN.RANGE).
  bool FullKeyRead(int id, const std::vector<std::string_view>& args) const;
  // Whether some selector allows this channel (PUBLISH's receivers, revocation checks).
  bool ChannelAllowed(std::string_view channel, bool pattern) const;

  std::string name;
  bool enabled = false;
  bool nopass = false;
  int sanitize = 0;                    // 1: sanitize-payload, 2: skip-sanitize-payload
  std::vector<std::string> passwords;  // hex SHA-256, in the order added
  Selector root;
  std::vector<Selector> selectors;
};

// Merges ACL SETUSER arguments that make up one selector ("(~a" "+get)" -> "(~a +get)").
// false with *error set ("Unmatched parenthesis in acl selector starting at '(~a'.").
bool MergeSelectorArgs(const std::vector<std::string_view>& in, std::vector<std::string>* out,
                       std::string* error);

}  // namespace cairn::server::acl

#endif  // CAIRN_SERVER_ACL_H_
