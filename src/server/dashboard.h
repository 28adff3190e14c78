// The web dashboard (docs/dashboard.md): static files built into the binary (ui_assets.h)
// served at / and /ui/..., and the node figures they show that GET /v1/stats adds to the
// server's metrics. The page itself reads /v1/stats and, in cluster mode, /v1/cluster,
// /v1/cluster/ring, /v1/cluster/transfers and /v1/cluster/repair.
#ifndef CAIRN_SERVER_DASHBOARD_H_
#define CAIRN_SERVER_DASHBOARD_H_

#include <nlohmann/json.hpp>
#include <string_view>

#include "server/command.h"
#include "server/http_api.h"

namespace cairn::server {

// Whether path is the dashboard's: "/", "/ui" or under "/ui/".
bool IsDashboardPath(std::string_view path);

// GET or HEAD of a dashboard path (REQUIRES: IsDashboardPath(path); access already
// checked): the asset with its Content-Type, ETag and Cache-Control, 304 when
// If-None-Match names its ETag, 404 for an unknown asset, 405 for another method.
HttpResponse DashboardRequest(const HttpRequest& request, std::string_view path);

// Adds to /v1/stats's object what the dashboard shows beyond the metric table: version,
// uptime, ops per second, cache hit rates, compaction per level, disk use. Additive: no
// existing field changes. Thread-safe.
void AddDashboardStats(ServerContext& server, nlohmann::json* stats);

}  // namespace cairn::server

#endif  // CAIRN_SERVER_DASHBOARD_H_
