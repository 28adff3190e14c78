// Leveled compaction: which files to merge next, and the rules for what a merge drops.
//
// Levels 1..6 hold sorted runs of non-overlapping tables; level n may hold up to
// max_bytes_for_level_base * multiplier^(n-1) bytes. L0 holds flushed memtables, which
// may overlap, and is compacted into L1 when it has level0_compaction_trigger files.
// A compaction merges one level's chosen inputs with the overlapping tables of the next
// level, writing new tables to the next level.
#ifndef CAIRN_ENGINE_COMPACTION_H_
#define CAIRN_ENGINE_COMPACTION_H_

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "cairn/engine/options.h"
#include "engine/version_edit.h"
#include "engine/version_set.h"

namespace cairn::engine {

uint64_t MaxBytesForLevel(const Options& options, int level);

// How urgently each level needs compaction; >= 1 means it should be compacted.
double CompactionScore(const Options& options, const Version& v, int level);

struct Compaction {
  int level = 0;        // inputs[0] are in level, inputs[1] in level + 1 (the output level)
  bool manual = false;  // from CompactRange: always rewrites, never just moves a file
  std::array<Version::FileList, 2> inputs;
  // Tables of level + 2 that overlap the compaction's range: an output file is cut
  // before it overlaps too many of them, so later compactions stay small.
  Version::FileList grandparents;
  std::shared_ptr<const Version> input_version;
  VersionEdit edit;

  int output_level() const { return level + 1; }
  uint64_t InputBytes() const;
  // A single input with nothing to merge: move the file down a level by editing the
  // MANIFEST only.
  bool IsTrivialMove() const;
  // True if no level below the output level can hold user_key, so a tombstone for it
  // may be dropped. Called with increasing keys.
  bool IsBaseLevelForKey(std::string_view user_key);
  // True if the output file should end before internal key ikey (grandparent overlap).
  bool ShouldStopBefore(std::string_view ikey, uint64_t max_grandparent_overlap);

 private:
  std::array<size_t, kNumLevels> level_ptrs_{};
  size_t grandparent_index_ = 0;
  bool seen_key_ = false;
  uint64_t overlapped_bytes_ = 0;
};

// Picks the most urgent compaction of v: a level over its size, else (if
// options.seek_compaction) v's table out of seeks; nullptr if there is none.
// compact_pointers[level] is where the previous compaction of that level ended (an
// internal key, "" if none): the next one starts after it, so a level is swept
// round-robin.
std::unique_ptr<Compaction> PickCompaction(const Options& options, std::shared_ptr<const Version> v,
                                           const std::array<std::string, kNumLevels>& pointers);

// A compaction of the tables overlapping [begin, end] (user keys; nullptr is open) at
// level, or nullptr if none overlap.
std::unique_ptr<Compaction> CompactRangeAt(const Options& options, std::shared_ptr<const Version> v,
                                           int level, const std::string* begin,
                                           const std::string* end);

// Tables in level overlapping the user-key range [smallest, largest] (empty: open).
Version::FileList OverlappingFiles(const Version& v, int level, std::string_view smallest,
                                   std::string_view largest);

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_COMPACTION_H_
