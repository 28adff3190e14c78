// Pub/sub (Redis 7 semantics): SUBSCRIBE PSUBSCRIBE SSUBSCRIBE UNSUBSCRIBE PUNSUBSCRIBE
// SUNSUBSCRIBE PUBLISH SPUBLISH PUBSUB. The registry and delivery are pubsub.h; a RESP2
// client with subscriptions may only run the commands ExecuteCommand allows then, a RESP3
// client anything (its messages arrive as pushes).
//
// Shard channels name no key here: every node delivers every message (cluster mode sends
// messages to all nodes), so SSUBSCRIBE and SPUBLISH need no routing.
#include "absl/strings/str_cat.h"
#include "server/command.h"

namespace cairn::server {
namespace {

using Kind = PubSub::Kind;

std::set<std::string>& SetOf(ClientState& client, Kind kind) {
  return kind == Kind::kChannel ? client.channels : kind == Kind::kPattern ? client.patterns : client.shard_channels;
}

// (un)subscribe's confirmation: [kind, name, count] as an array (RESP2) or a push (RESP3).
void Confirm(CommandContext& c, std::string_view what, const std::string* name, size_t count) {
  c.out.buffer()->append(c.out.protocol() == 3 ? ">3\r\n" : "*3\r\n");
  c.out.Bulk(what);
  if (name == nullptr) {
    c.out.Null();
  } else {
    c.out.Bulk(*name);
  }
  c.out.Integer(static_cast<int64_t>(count));
}

// The count a confirmation carries: channels and patterns, or shard channels.
size_t CountOf(const ClientState& client, Kind kind) {
  return kind == Kind::kShard ? client.shard_channels.size() : client.channels.size() + client.patterns.size();
}

void SubscribeTo(CommandContext& c, Kind kind, std::string_view what) {
  if (!c.client.push || c.client.killed.load()) {
    return c.out.Error(absl::StrCat("ERR ", Lower(c.args[0]), " is not available on this connection"));
  }
  for (size_t i = 1; i < c.args.size(); i++) {
    std::string name(c.args[i]);
    if (SetOf(c.client, kind).insert(name).second) c.server.pubsub->Add(&c.client, kind, name);
    Confirm(c, what, &name, CountOf(c.client, kind));
  }
}

void UnsubscribeFrom(CommandContext& c, Kind kind, std::string_view what) {
  std::set<std::string>& mine = SetOf(c.client, kind);
  std::vector<std::string> names;
  if (c.args.size() == 1) {
    names.assign(mine.begin(), mine.end());
    if (names.empty()) return Confirm(c, what, nullptr, CountOf(c.client, kind));
  } else {
    names.assign(c.args.begin() + 1, c.args.end());
  }
  for (const std::string& name : names) {
    if (mine.erase(name) > 0) c.server.pubsub->Remove(&c.client, kind, name);
    Confirm(c, what, &name, CountOf(c.client, kind));
  }
}

void Subscribe(CommandContext& c) { SubscribeTo(c, Kind::kChannel, "subscribe"); }
void PSubscribe(CommandContext& c) { SubscribeTo(c, Kind::kPattern, "psubscribe"); }
void SSubscribe(CommandContext& c) { SubscribeTo(c, Kind::kShard, "ssubscribe"); }
void Unsubscribe(CommandContext& c) { UnsubscribeFrom(c, Kind::kChannel, "unsubscribe"); }
void PUnsubscribe(CommandContext& c) { UnsubscribeFrom(c, Kind::kPattern, "punsubscribe"); }
void SUnsubscribe(CommandContext& c) { UnsubscribeFrom(c, Kind::kShard, "sunsubscribe"); }

void PublishTo(CommandContext& c, bool sharded) {
  if (c.server.publish_sink) return c.out.Integer(c.server.publish_sink(c.args[1], c.args[2], sharded));
  c.out.Integer(c.server.pubsub->Publish(c.args[1], c.args[2], sharded));
}
void Publish(CommandContext& c) { PublishTo(c, false); }
void SPublish(CommandContext& c) { PublishTo(c, true); }

void PubSubCommand(CommandContext& c) {
  const std::string sub = Lower(c.args[1]);
  const PubSub& ps = *c.server.pubsub;
  if ((sub == "channels" || sub == "shardchannels") && c.args.size() <= 3) {
    return c.out.BulkArray(ps.Channels(c.args.size() == 3 ? c.args[2] : "", sub == "shardchannels"));
  }
  if (sub == "numsub" || sub == "shardnumsub") {
    c.out.ArrayHeader(2 * (c.args.size() - 2));
    for (size_t i = 2; i < c.args.size(); i++) {
      c.out.Bulk(c.args[i]);
      c.out.Integer(ps.Subscribers(c.args[i], sub == "shardnumsub"));
    }
    return;
  }
  if (sub == "numpat" && c.args.size() == 2) return c.out.Integer(ps.Patterns());
  if (sub == "help" && c.args.size() == 2) {
    return c.out.BulkArray({"PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                            "CHANNELS [<pattern>]", "NUMPAT", "NUMSUB [<channel> ...]",
                            "SHARDCHANNELS [<pattern>]", "SHARDNUMSUB [<shardchannel> ...]", "HELP"});
  }
  ReplyBadSubcommand(c);
}

const CommandSpec kCommands[] = {
    {"subscribe", -2, kNoScript | kFast, 0, 0, 0, Subscribe, "pubsub",
     "Listens for messages published to channels."},
    {"psubscribe", -2, kNoScript | kFast, 0, 0, 0, PSubscribe, "pubsub",
     "Listens for messages published to channels that match one or more patterns."},
    {"ssubscribe", -2, kNoScript | kFast, 0, 0, 0, SSubscribe, "pubsub",
     "Listens for messages published to shard channels."},
    {"unsubscribe", -1, kNoScript | kFast, 0, 0, 0, Unsubscribe, "pubsub",
     "Stops listening to messages posted to channels."},
    {"punsubscribe", -1, kNoScript | kFast, 0, 0, 0, PUnsubscribe, "pubsub",
     "Stops listening to messages published to channels that match one or more patterns."},
    {"sunsubscribe", -1, kNoScript | kFast, 0, 0, 0, SUnsubscribe, "pubsub",
     "Stops listening to messages posted to shard channels."},
    {"publish", 3, kFast, 0, 0, 0, Publish, "pubsub", "Posts a message to a channel."},
    {"spublish", 3, kFast, 0, 0, 0, SPublish, "pubsub", "Post a message to a shard channel"},
    {"pubsub", -2, kContainer, 0, 0, 0, PubSubCommand, "pubsub",
     "Inspects the state of the Pub/Sub subsystem (CHANNELS, NUMSUB, NUMPAT, SHARDCHANNELS, SHARDNUMSUB)."},
};

}  // namespace

void RegisterPubSubCommands(std::vector<const CommandSpec*>* table) {
  for (const CommandSpec& spec : kCommands) table->push_back(&spec);
}

}  // namespace cairn::server
