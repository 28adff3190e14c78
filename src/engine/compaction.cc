#include "engine/compaction.h"

#include <algorithm>

#include "engine/iterator_util.h"

namespace cairn::engine {
namespace {

uint64_t TotalBytes(const Version::FileList& files) {
  uint64_t sum = 0;
  for (const auto& f : files) sum += f->file_size;
  return sum;
}

// The user-key range [*smallest, *largest] covered by files (which must be non-empty).
void RangeOf(const Version::FileList& files, std::string* smallest, std::string* largest) {
  *smallest = std::string(ExtractUserKey(files[0]->smallest));
  *largest = std::string(ExtractUserKey(files[0]->largest));
  for (const auto& f : files) {
    std::string_view s = ExtractUserKey(f->smallest), l = ExtractUserKey(f->largest);
    if (s.compare(*smallest) < 0) smallest->assign(s.data(), s.size());
    if (l.compare(*largest) > 0) largest->assign(l.data(), l.size());
  }
}

// Fills the output level's inputs and the grandparents from inputs[0].
std::unique_ptr<Compaction> Complete(std::unique_ptr<Compaction> c, const Version& v) {
  std::string smallest, largest;
  RangeOf(c->inputs[0], &smallest, &largest);
  if (c->level == 0) {
    // L0 files overlap each other: take every one that overlaps the growing range.
    while (true) {
      auto more = OverlappingFiles(v, 0, smallest, largest);
      if (more.size() == c->inputs[0].size()) break;
      c->inputs[0] = std::move(more);
      RangeOf(c->inputs[0], &smallest, &largest);
    }
  }
  if (c->level + 1 < kNumLevels) {
    c->inputs[1] = OverlappingFiles(v, c->level + 1, smallest, largest);
  }
  if (c->level + 2 < kNumLevels) {
    Version::FileList all = c->inputs[0];
    all.insert(all.end(), c->inputs[1].begin(), c->inputs[1].end());
    RangeOf(all, &smallest, &largest);
    c->grandparents = OverlappingFiles(v, c->level + 2, smallest, largest);
  }
  return c;
}

}  // namespace

uint64_t MaxBytesForLevel(const Options& options, int level) {
  double result = static_cast<double>(options.max_bytes_for_level_base);
  for (int l = 1; l < level; l++) result *= options.max_bytes_for_level_multiplier;
  return static_cast<uint64_t>(result);
}

double CompactionScore(const Options& options, const Version& v, int level) {
  if (level == 0) {
    return static_cast<double>(v.files(0).size()) / options.level0_compaction_trigger;
  }
  if (level == kNumLevels - 1) return 0;  // the last level has nowhere to go
  return static_cast<double>(TotalBytes(v.files(level))) / MaxBytesForLevel(options, level);
}

Version::FileList OverlappingFiles(const Version& v, int level, std::string_view smallest,
                                   std::string_view largest) {
  Version::FileList out;
  for (const auto& f : v.files(level)) {
    if ((!largest.empty() || !smallest.empty()) &&
        (ExtractUserKey(f->largest).compare(smallest) < 0 ||
         (!largest.empty() && ExtractUserKey(f->smallest).compare(largest) > 0))) {
      continue;
    }
    out.push_back(f);
  }
  return out;
}

uint64_t Compaction::InputBytes() const { return TotalBytes(inputs[0]) + TotalBytes(inputs[1]); }

bool Compaction::IsTrivialMove() const {
  return !manual && inputs[0].size() == 1 && inputs[1].empty() &&
         TotalBytes(grandparents) <= 10 * inputs[0][0]->file_size + (64 << 20);
}

bool Compaction::IsBaseLevelForKey(std::string_view user_key) {
  for (int lvl = level + 2; lvl < kNumLevels; lvl++) {
    const auto& files = input_version->files(lvl);
    while (level_ptrs_[lvl] < files.size()) {
      const auto& f = files[level_ptrs_[lvl]];
      if (user_key.compare(ExtractUserKey(f->largest)) <= 0) {
        if (user_key.compare(ExtractUserKey(f->smallest)) >= 0) return false;
        break;
      }
      level_ptrs_[lvl]++;  // keys only grow: this file is behind us for good
    }
  }
  return true;
}

bool Compaction::ShouldStopBefore(std::string_view ikey, uint64_t max_grandparent_overlap) {
  while (grandparent_index_ < grandparents.size() &&
         CompareInternalKeys(ikey, grandparents[grandparent_index_]->largest) > 0) {
    if (seen_key_) overlapped_bytes_ += grandparents[grandparent_index_]->file_size;
    grandparent_index_++;
  }
  seen_key_ = true;
  if (overlapped_bytes_ > max_grandparent_overlap) {
    overlapped_bytes_ = 0;
    return true;
  }
  return false;
}

std::unique_ptr<Compaction> PickCompaction(const Options& options, std::shared_ptr<const Version> v,
                                           const std::array<std::string, kNumLevels>& pointers) {
  int best = -1;
  double best_score = 1.0;
  for (int level = 0; level < kNumLevels - 1; level++) {
    double score = CompactionScore(options, *v, level);
    if (score >= best_score) {
      best = level;
      best_score = score;
    }
  }
  if (best < 0) {
    if (!options.seek_compaction) return nullptr;
    int level = 0;
    auto file = v->seek_compaction_file(&level);
    if (file == nullptr || level == kNumLevels - 1) return nullptr;
    auto c = std::make_unique<Compaction>();
    c->level = level;
    c->input_version = v;
    c->inputs[0].push_back(std::move(file));
    return Complete(std::move(c), *v);
  }
  auto c = std::make_unique<Compaction>();
  c->level = best;
  c->input_version = v;
  const auto& files = v->files(best);
  if (best == 0) {
    c->inputs[0] = files;
  } else {
    // The first file after the level's compact pointer, wrapping around.
    auto it = std::find_if(files.begin(), files.end(), [&](const auto& f) {
      return pointers[best].empty() || CompareInternalKeys(f->largest, pointers[best]) > 0;
    });
    c->inputs[0].push_back(it != files.end() ? *it : files.front());
  }
  return Complete(std::move(c), *v);
}

std::unique_ptr<Compaction> CompactRangeAt(const Options& options, std::shared_ptr<const Version> v,
                                           int level, const std::string* begin,
                                           const std::string* end) {
  auto files = OverlappingFiles(*v, level, begin != nullptr ? *begin : std::string_view(),
                                end != nullptr ? *end : std::string_view());
  if (files.empty() || level == kNumLevels - 1) return nullptr;
  auto c = std::make_unique<Compaction>();
  c->level = level;
  c->input_version = v;
  c->inputs[0] = std::move(files);
  return Complete(std::move(c), *v);
}

}  // namespace cairn::engine
