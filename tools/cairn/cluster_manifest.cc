#include "cluster_manifest.h"

#include <unistd.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace cairn::tools {

absl::StatusOr<int> WriteClusterManifest(Env* env, const std::string& dest, std::string_view text) {
  const std::string dir = dest + "/clusters";
  if (!env->FileExists(dir)) CAIRN_RETURN_IF_ERROR(env->CreateDir(dir));
  CAIRN_RETURN_IF_ERROR(env->SyncDir(dest));  // the entry of clusters, whoever made it
  // Written under a name of this writer's own, then published with link(), which (unlike a
  // rename) fails if the name exists: two cluster backups that pick the same number never
  // replace each other's manifest; the later one takes the next number.
  static std::atomic<uint64_t> counter{0};
  const std::string tmp =
      absl::StrCat(dir, "/.tmp-", ::getpid(), "-", counter.fetch_add(1), ".json.tmp");
  CAIRN_RETURN_IF_ERROR(WriteStringToFileSync(env, text, tmp));
  int n = 1;
  absl::Status st;
  for (int tries = 0; tries < 1000; tries++, n++) {
    while (env->FileExists(absl::StrCat(dir, "/", n, ".json"))) n++;
    st = env->LinkFile(tmp, absl::StrCat(dir, "/", n, ".json"));
    if (!absl::IsAlreadyExists(st)) break;  // else another writer published n first
  }
  (void)env->RemoveFile(tmp);
  CAIRN_RETURN_IF_ERROR(st);
  CAIRN_RETURN_IF_ERROR(env->SyncDir(dir));
  return n;
}

}  // namespace cairn::tools
