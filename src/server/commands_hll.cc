// HyperLogLog commands (Redis 7.0 semantics and value format, hyperloglog.h): PFADD
// PFCOUNT PFMERGE. The values are strings, so GET, SET, DUMP-free copies and replication
// treat them as any string.
#include <string>
#include <vector>

#include "base/status.h"
#include "server/command.h"
#include "server/hyperloglog.h"

namespace cairn::server {
namespace {

using store::Record;

constexpr std::string_view kErrNotHll = "WRONGTYPE Key is not a valid HyperLogLog string value.";
constexpr std::string_view kErrCorrupt = "INVALIDOBJ Corrupted HLL object detected";

// Reads key as an HLL; false after replying with the error (absent: *found false).
bool ReadHll(CommandContext& c, std::string_view key, Record* r, bool* found) {
  if (!ReadStringValue(c, key, r, found)) return false;
  if (*found && !hll::IsValid(r->value)) {
    c.out.Error(kErrNotHll);
    return false;
  }
  return true;
}

bool Write(CommandContext& c, std::string_view key, const Record& r) { return WriteStringValue(c, key, r); }

void PfAdd(CommandContext& c) {
  Record r;
  bool found;
  if (!ReadHll(c, c.args[1], &r, &found)) return;
  int updated = 0;
  if (!found) {
    r = Record{};
    r.value = hll::Create();
    updated++;  // the key is made even with no element
  }
  for (size_t i = 2; i < c.args.size(); i++) {
    const int changed = hll::Add(&r.value, c.args[i]);
    if (changed < 0) return c.out.Error(kErrCorrupt);
    updated += changed;
  }
  if (updated) {
    hll::InvalidateCache(&r.value);
    if (!Write(c, c.args[1], r)) return;
  }
  c.out.Integer(updated ? 1 : 0);
}

void PfCount(CommandContext& c) {
  if (c.args.size() == 2) {
    Record r;
    bool found;
    if (!ReadHll(c, c.args[1], &r, &found)) return;
    if (!found) return c.out.Integer(0);
    uint64_t count;
    if (!hll::Count(r.value, &count)) return c.out.Error(kErrCorrupt);
    return c.out.Integer(static_cast<int64_t>(count));
  }
  // Several keys: the cardinality of their union.
  hll::Registers registers{};
  for (size_t i = 1; i < c.args.size(); i++) {
    Record r;
    bool found;
    if (!ReadHll(c, c.args[i], &r, &found)) return;
    if (found && !hll::MergeInto(r.value, &registers)) return c.out.Error(kErrCorrupt);
  }
  c.out.Integer(static_cast<int64_t>(hll::CountRegisters(registers)));
}

void PfMerge(CommandContext& c) {
  hll::Registers registers{};
  bool dense = false;
  Record dest;
  bool dest_found = false;
  for (size_t i = 1; i < c.args.size(); i++) {
    Record r;
    bool found;
    if (!ReadHll(c, c.args[i], &r, &found)) return;
    if (!found) continue;
    dense = dense || hll::IsDense(r.value);
    if (!hll::MergeInto(r.value, &registers)) return c.out.Error(kErrCorrupt);
    if (i == 1) {
      dest = std::move(r);
      dest_found = true;
    }
  }
  if (!dest_found) {
    dest = Record{};
    dest.value = hll::Create();
  }
  if (!hll::Store(&dest.value, registers, dense)) return c.out.Error(kErrCorrupt);
  if (Write(c, c.args[1], dest)) c.out.SimpleString("OK");
}

const CommandSpec kCommands[] = {
    {"pfadd", -2, kWrite | kDenyOom | kFast | kInPlace, 1, 1, 1, PfAdd, "hyperloglog",
     "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist."},
    {"pfcount", -2, kReadOnly, 1, -1, 1, PfCount, "hyperloglog",
     "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s)."},
    {"pfmerge", -2, kWrite | kDenyOom, 1, -1, 1, PfMerge, "hyperloglog",
     "Merges one or more HyperLogLog values into a single key."},
};

}  // namespace

void RegisterHllCommands(std::vector<const CommandSpec*>* table) {
  for (const CommandSpec& c : kCommands) table->push_back(&c);
}

}  // namespace cairn::server
