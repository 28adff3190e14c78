#include "engine/filename.h"

#include <charconv>
#include <limits>

#include "absl/strings/str_format.h"
#include "base/status.h"

namespace cairn::engine {
namespace {
std::string NumberedName(const std::string& dir, uint64_t number, const char* suffix) {
  return absl::StrFormat("%s/%06u.%s", dir, number, suffix);
}

bool ParseNumber(std::string_view s, uint64_t* number) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *number);
  return ec == std::errc() && ptr == s.data() + s.size();
}
}  // namespace

std::string LogFileName(const std::string& dir, uint64_t number) {
  return NumberedName(dir, number, "log");
}
std::string TableFileName(const std::string& dir, uint64_t number) {
  return NumberedName(dir, number, "sst");
}
std::string TempFileName(const std::string& dir, uint64_t number) {
  return NumberedName(dir, number, "dbtmp");
}
std::string ManifestFileName(const std::string& dir, uint64_t number) {
  return absl::StrFormat("%s/MANIFEST-%06u", dir, number);
}
std::string CurrentFileName(const std::string& dir) { return dir + "/CURRENT"; }
std::string LockFileName(const std::string& dir) { return dir + "/LOCK"; }

bool ParseFileName(std::string_view name, uint64_t* number, FileType* type) {
  if (name == "CURRENT") {
    *number = 0;
    *type = FileType::kCurrent;
    return true;
  }
  if (name == "LOCK") {
    *number = 0;
    *type = FileType::kLock;
    return true;
  }
  if (name.starts_with("MANIFEST-")) {
    *type = FileType::kManifest;
    return ParseNumber(name.substr(9), number) &&
           *number != std::numeric_limits<uint64_t>::max();
  }
  size_t dot = name.find('.');
  if (dot == std::string_view::npos || !ParseNumber(name.substr(0, dot), number)) return false;
  // No writer hands out 2^64-1 (the next number would wrap to 0): not a database file.
  if (*number == std::numeric_limits<uint64_t>::max()) return false;
  std::string_view suffix = name.substr(dot + 1);
  if (suffix == "log") {
    *type = FileType::kLog;
  } else if (suffix == "sst") {
    *type = FileType::kTable;
  } else if (suffix == "blob") {
    *type = FileType::kBlob;
  } else if (suffix == "dbtmp") {
    *type = FileType::kTemp;
  } else {
    return false;
  }
  return true;
}

absl::Status SetCurrentFile(Env* env, const std::string& dir, uint64_t manifest_number) {
  std::string manifest = ManifestFileName(dir, manifest_number);
  std::string contents = manifest.substr(dir.size() + 1) + "\n";
  std::string tmp = TempFileName(dir, manifest_number);
  CAIRN_RETURN_IF_ERROR(WriteStringToFileSync(env, contents, tmp));
  absl::Status s = env->RenameFile(tmp, CurrentFileName(dir));
  if (!s.ok()) {
    (void)env->RemoveFile(tmp);
    return s;
  }
  return env->SyncDir(dir);
}

}  // namespace cairn::engine
