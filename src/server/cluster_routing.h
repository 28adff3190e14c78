// What cluster_mode.cc (the client's side of a command) and cluster_execute.cc (the
// replica's side) agree on about routing a command to its keys' replica.
#ifndef CAIRN_SERVER_CLUSTER_ROUTING_H_
#define CAIRN_SERVER_CLUSTER_ROUTING_H_

#include <string>
#include <string_view>
#include <vector>

#include "server/command.h"

namespace cairn::server {

inline constexpr char kErrCrossSlot[] = "CROSSSLOT Keys in request don't hash to the same slot";

// Why a data command cannot run on its keys' replica (empty: it can). A command that
// locks keys itself cannot, unless it names its second database declaratively (MOVE,
// CommandSpec::db_at); keys of different hash tags are refused as Redis Cluster refuses
// keys of different slots.
std::string RoutableError(const CommandSpec& spec, const std::vector<std::string_view>& keys,
                          bool in_exec = false);

// The cursor an HSCAN/SSCAN/ZSCAN reply starts with ("*2\r\n$<n>\r\n<cursor>\r\n" then
// the items); *end: where the items start. False for any other reply (an error).
bool ReplyCursor(std::string_view reply, size_t* end, std::string_view* cursor);

}  // namespace cairn::server

#endif  // CAIRN_SERVER_CLUSTER_ROUTING_H_
