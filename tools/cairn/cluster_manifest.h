// The cluster backup manifest, DEST/clusters/<n>.json (docs/formats/backup.md): written
// durably, since a cluster backup exists for `cairn cluster restore` iff its manifest does.
#ifndef CAIRN_TOOLS_CAIRN_CLUSTER_MANIFEST_H_
#define CAIRN_TOOLS_CAIRN_CLUSTER_MANIFEST_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "cairn/env.h"

namespace cairn::tools {

// Writes text as dest/clusters/<n>.json, n the lowest number not taken, creating
// dest/clusters if needed: to a temporary file of this writer's own, synced, hard-linked
// as <n>.json (never replacing one: a writer that lost the race for n takes n+1), then the
// clusters directory synced (and dest, for the clusters directory's own entry). Returns n;
// on error no <n>.json is left. Safe against concurrent writers, processes included.
// REQUIRES: dest exists.
absl::StatusOr<int> WriteClusterManifest(Env* env, const std::string& dest, std::string_view text);

}  // namespace cairn::tools

#endif  // CAIRN_TOOLS_CAIRN_CLUSTER_MANIFEST_H_
