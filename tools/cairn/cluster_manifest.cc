#include "cluster_manifest.h"

#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace cairn::tools {

absl::StatusOr<int> WriteClusterManifest(Env* env, const std::string& dest, std::string_view text) {
  const std::string dir = dest + "/clusters";
  if (!env->FileExists(dir)) CAIRN_RETURN_IF_ERROR(env->CreateDir(dir));
  CAIRN_RETURN_IF_ERROR(env->SyncDir(dest));  // the entry of clusters, whoever made it
  int n = 1;
  while (env->FileExists(absl::StrCat(dir, "/", n, ".json"))) n++;
  const std::string path = absl::StrCat(dir, "/", n, ".json");
  CAIRN_RETURN_IF_ERROR(WriteStringToFileSync(env, text, path + ".tmp"));
  if (absl::Status st = env->RenameFile(path + ".tmp", path); !st.ok()) {
    (void)env->RemoveFile(path + ".tmp");
    return st;
  }
  CAIRN_RETURN_IF_ERROR(env->SyncDir(dir));
  return n;
}

}  // namespace cairn::tools
