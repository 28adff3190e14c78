// Names of the files in a database directory:
//   NNNNNN.log        write-ahead log        NNNNNN.sst   table
//   MANIFEST-NNNNNN   version edit log       CURRENT      name of the live MANIFEST
//   LOCK              flock held while open  NNNNNN.dbtmp file being written
//   NNNNNN.blob       blob file (large values, blob_store.h)
#ifndef CAIRN_ENGINE_FILENAME_H_
#define CAIRN_ENGINE_FILENAME_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "cairn/env.h"

namespace cairn::engine {

enum class FileType { kLog, kTable, kManifest, kCurrent, kLock, kTemp, kBlob };

std::string LogFileName(const std::string& dir, uint64_t number);
std::string TableFileName(const std::string& dir, uint64_t number);
std::string ManifestFileName(const std::string& dir, uint64_t number);
std::string CurrentFileName(const std::string& dir);
std::string LockFileName(const std::string& dir);
std::string TempFileName(const std::string& dir, uint64_t number);

// Parses a file name (not a path); false if it is not one of ours.
bool ParseFileName(std::string_view name, uint64_t* number, FileType* type);

// Atomically points CURRENT at MANIFEST-<manifest_number> (temp file, sync, rename,
// sync directory).
absl::Status SetCurrentFile(Env* env, const std::string& dir, uint64_t manifest_number);

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_FILENAME_H_
