// INFO's text (Redis 7 layout: "# Section" headers and key:value lines).
#ifndef CAIRN_SERVER_INFO_H_
#define CAIRN_SERVER_INFO_H_

#include <string>
#include <vector>

#include "server/command.h"

namespace cairn::server {

// The engine's counters ("cairn.counters": name, value), in its order.
std::vector<std::pair<std::string, uint64_t>> EngineCounters(ServerContext& server);

// sections: lower-case names; empty or "default": the default set; "all" / "everything":
// every section including commandstats and latencystats.
std::string InfoText(ServerContext& server, const std::vector<std::string>& sections,
                     int64_t now_ms);

}  // namespace cairn::server

#endif  // CAIRN_SERVER_INFO_H_
