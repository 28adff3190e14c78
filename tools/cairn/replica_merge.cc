#include "replica_merge.h"

#include "base/status.h"
#include "cairn/engine/db.h"
#include "cluster/engine_replica_store.h"
#include "cluster/registers.h"
#include "store/record.h"

namespace cairn::tools {

absl::StatusOr<uint64_t> MergeReplicas(const std::string& from, const std::string& into) {
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<engine::DB> src, engine::DB::Open({}, from));
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<engine::DB> dst, engine::DB::Open({}, into));
  cluster::EngineReplicaStore source(src.get(), /*sync=*/false);
  cluster::EngineReplicaStore target(dst.get(), /*sync=*/false);
  uint64_t applied = 0;
  for (int space : {0, cluster::kRegisterSpace}) {
    for (int db = 0; db < store::kMaxDatabases; db++) {
      std::string start;
      bool more = true;
      while (more) {
        std::vector<std::pair<std::string, cluster::VersionList>> page;
        CAIRN_RETURN_IF_ERROR(source.Scan(space + db, start, 1000, &page, &more));
        for (const auto& [key, versions] : page) {
          bool changed = false;
          CAIRN_RETURN_IF_ERROR(target.Apply(space + db, key, versions, &changed));
          applied++;
        }
        if (!page.empty()) start = page.back().first + std::string(1, '\0');
      }
    }
  }
  CAIRN_RETURN_IF_ERROR(dst->SyncWal());
  return applied;
}

}  // namespace cairn::tools
