// Offline integrity check of a database directory (what `cairn db DIR check` runs).
//
// Reads every file without changing anything: CURRENT and the MANIFEST; every live
// table (footer, every block checksum, every internal key well-formed and strictly
// increasing, first and last keys matching the MANIFEST); every WAL not yet in tables
// (every record checksum, every write batch decodable). Takes the directory's LOCK, so
// it fails cleanly on a database that is open.
#ifndef CAIRN_ENGINE_CHECK_H_
#define CAIRN_ENGINE_CHECK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cairn/engine/options.h"

namespace cairn::engine {

struct CheckReport {
  // Damage that would lose or falsify data. Non-empty means the check failed.
  std::vector<std::string> problems;
  // Expected after a crash and repaired by the next Open (a torn WAL tail), or harmless
  // (files no longer referenced).
  std::vector<std::string> warnings;
  uint64_t tables = 0;
  uint64_t table_entries = 0;
  uint64_t wal_files = 0;
  uint64_t wal_records = 0;
};

// Errors only when the check cannot run (no database, locked, I/O failure); damage is
// reported in CheckReport::problems.
absl::StatusOr<CheckReport> CheckDB(const std::string& dir, const Options& options);

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_CHECK_H_
