// `cairn cluster status`: a cluster's members, their state and ownership, from any node's
// HTTP API (GET /v1/cluster).
#ifndef CAIRN_TOOLS_CAIRN_CLUSTER_COMMAND_H_
#define CAIRN_TOOLS_CAIRN_CLUSTER_COMMAND_H_

#include <CLI/CLI.hpp>

namespace cairn::tools {

// Adds the `cluster` subcommand to app; returns it (parsed() says whether it was chosen).
CLI::App* AddClusterCommand(CLI::App* app);
// Runs it; returns the process exit code (0 ok, 2 error).
int RunClusterCommand();

}  // namespace cairn::tools

#endif  // CAIRN_TOOLS_CAIRN_CLUSTER_COMMAND_H_
