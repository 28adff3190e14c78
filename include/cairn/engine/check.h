// Offline integrity check of a database directory (what `cairn db DIR check` runs).
//
// Reads every file without changing anything: CURRENT and every record of the MANIFEST;
// every live table (footer, index, metaindex, filter and every data block with its
// checksum, every internal key well-formed and strictly increasing, first and last keys
// and size matching the MANIFEST); every WAL not yet in tables (every record checksum,
// every write batch decodable, sequence numbers increasing); every blob file (every
// record's header and chunk checksums, every record a table or WAL refers to present). Each problem
// names the file, the offset and the kind of region where it lies. Takes the directory's LOCK, so
// it fails cleanly on a database that is open.
#ifndef CAIRN_ENGINE_CHECK_H_
#define CAIRN_ENGINE_CHECK_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cairn/engine/options.h"

namespace cairn::engine {

// One damaged place: "000012.sst at offset 4096 (data block): block checksum mismatch".
struct CheckProblem {
  std::string file;     // name within the directory
  uint64_t offset = 0;  // where the damaged block, record or field starts
  // What lies there: "footer", "index block", "metaindex block", "filter block",
  // "data block", "table file", "WAL record", "MANIFEST record", "MANIFEST contents",
  // "CURRENT", "blob file".
  std::string kind;
  std::string detail;  // what is wrong with it
  std::string ToString() const;
};
std::ostream& operator<<(std::ostream& os, const CheckProblem& p);

struct CheckReport {
  // Damage that would lose or falsify data. Non-empty means the check failed.
  std::vector<CheckProblem> problems;
  // Expected after a crash and repaired by the next Open (a torn WAL tail), or harmless
  // (files no longer referenced; a blob file's last record cut short by a crash, which
  // nothing refers to).
  std::vector<CheckProblem> warnings;
  uint64_t tables = 0;
  uint64_t table_entries = 0;
  uint64_t wal_files = 0;
  uint64_t wal_records = 0;
  uint64_t blob_files = 0;
  uint64_t blob_records = 0;
};

// Errors only when the check cannot run (no database, locked, I/O failure); damage is
// reported in CheckReport::problems.
absl::StatusOr<CheckReport> CheckDB(const std::string& dir, const Options& options);

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_CHECK_H_
