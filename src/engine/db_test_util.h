// Helpers shared by the DB-level tests: a unique temporary directory per test and
// small wrappers that turn Status results into values.
#ifndef CAIRN_ENGINE_DB_TEST_UTIL_H_
#define CAIRN_ENGINE_DB_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "cairn/engine/db.h"

namespace cairn::engine {

// True in AddressSanitizer / ThreadSanitizer builds, which run several times slower:
// long randomized tests scale down there (the release build runs them in full).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitizedBuild = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kSanitizedBuild = true;
#else
inline constexpr bool kSanitizedBuild = false;
#endif
#else
inline constexpr bool kSanitizedBuild = false;
#endif

class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->test_suite_name()) + "_" + info->name();
    for (char& c : name) {
      if (c == '/') c = '_';
    }
    static int counter = 0;
    path_ = (std::filesystem::temp_directory_path() /
             ("cairn_" + std::to_string(::getpid()) + "_" + name + "_" + std::to_string(counter++)))
                .string();
    std::filesystem::remove_all(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Value of key, "NOT_FOUND", or "ERROR: <status>".
inline std::string GetOrStatus(DB* db, std::string_view key, const Snapshot* snap = nullptr) {
  ReadOptions ro;
  ro.snapshot = snap;
  std::string value;
  absl::Status s = db->Get(ro, key, &value);
  if (absl::IsNotFound(s)) return "NOT_FOUND";
  if (!s.ok()) return "ERROR: " + s.ToString();
  return value;
}

// Every visible key/value, by forward iteration; sets *status to the iterator's status.
inline std::map<std::string, std::string> ScanAll(DB* db, absl::Status* status,
                                                  const Snapshot* snap = nullptr) {
  ReadOptions ro;
  ro.snapshot = snap;
  auto it = db->NewIterator(ro);
  std::map<std::string, std::string> out;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    out.emplace(std::string(it->key()), std::string(it->value()));
  }
  *status = it->status();
  return out;
}

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_DB_TEST_UTIL_H_
