#include "cluster/ring.h"

#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"

namespace cairn::cluster {
namespace {

constexpr double kRingSize = 18446744073709551616.0;  // 2^64 positions
constexpr int kMaxTokensPerMember = 1 << 20;

// Length of the arc (prev, pos]: the whole ring when they are equal (a lone token).
double ArcLength(uint64_t prev, uint64_t pos) {
  return prev == pos ? kRingSize : static_cast<double>(pos - prev);
}

}  // namespace

std::string_view HashTag(std::string_view key) {
  const size_t open = key.find('{');
  if (open == std::string_view::npos) return key;
  const size_t close = key.find('}', open + 1);
  if (close == std::string_view::npos || close == open + 1) return key;
  return key.substr(open + 1, close - open - 1);
}

uint64_t Ring::Position(std::string_view key) {
  const std::string_view tag = HashTag(key);
  return XXH3_64bits(tag.data(), tag.size());
}

absl::StatusOr<Ring> Ring::Build(std::vector<Member> members, int vnodes) {
  if (members.empty()) return absl::InvalidArgumentError("a ring needs at least one member");
  if (vnodes < 1 || vnodes > 65536) {
    return absl::InvalidArgumentError("vnodes must be between 1 and 65536");
  }
  std::set<std::string> ids;
  for (const Member& m : members) {
    if (!ids.insert(m.id).second) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate member id '", m.id, "'"));
    }
    if (!(m.weight > 0) || !std::isfinite(m.weight)) {
      return absl::InvalidArgumentError(absl::StrCat("member '", m.id, "' has a bad weight"));
    }
  }
  std::sort(members.begin(), members.end(), [](const Member& a, const Member& b) {
    if (a.generation != b.generation) return a.generation < b.generation;
    return a.place_id() != b.place_id() ? a.place_id() < b.place_id() : a.id < b.id;
  });
  Ring ring;
  ring.members_ = std::move(members);
  std::map<std::string, int> racks;
  for (const Member& m : ring.members_) {
    auto [it, added] = racks.emplace(m.rack, static_cast<int>(racks.size()));
    ring.member_rack_.push_back(it->second);
  }
  ring.racks_ = static_cast<int>(racks.size());
  for (size_t i = 0; i < ring.members_.size(); i++) {
    const double want = std::round(vnodes * ring.members_[i].weight);
    ring.Place(static_cast<uint32_t>(i),
               static_cast<int>(std::clamp(want, 1.0, double{kMaxTokensPerMember})));
  }
  return ring;
}

// Adds member x's tokens; members [0, x) are placed already.
void Ring::Place(uint32_t x, int count) {
  const Member& newcomer = members_[x];
  if (tokens_.empty()) {
    // Evenly spaced, at an offset of the member's own.
    const uint64_t spacing = count == 1 ? ~uint64_t{0} : (~uint64_t{0} / count) + 1;
    const std::string& place = newcomer.place_id();
    const uint64_t offset = XXH3_64bits(place.data(), place.size()) % spacing;
    for (int i = 0; i < count; i++) tokens_.push_back({offset + i * spacing, x});
    std::sort(tokens_.begin(), tokens_.end(),
              [](const Token& a, const Token& b) { return a.position < b.position; });
    return;
  }

  // The arcs as they are, by owner: (start, end] with end a token of the owner.
  struct Arc {
    uint64_t start;  // exclusive; moves forward as chunks are cut from it
    double length;
  };
  std::vector<std::vector<Arc>> arcs(x);
  std::vector<double> own(x, 0.0);
  for (size_t j = 0; j < tokens_.size(); j++) {
    const uint64_t prev = tokens_[j == 0 ? tokens_.size() - 1 : j - 1].position;
    const double len = ArcLength(prev, tokens_[j].position);
    arcs[tokens_[j].member].push_back({prev, len});
    own[tokens_[j].member] += len;
  }
  double total_weight = 0;
  for (uint32_t m = 0; m <= x; m++) total_weight += members_[m].weight;

  // What each member gives: its excess over its new target share.
  std::vector<double> give(x, 0.0);
  double total_give = 0;
  for (uint32_t m = 0; m < x; m++) {
    give[m] = std::max(0.0, own[m] - kRingSize * members_[m].weight / total_weight);
    total_give += give[m];
  }
  if (total_give < 1) return;
  // Chunks per donor: the newcomer's tokens, shared by largest remainder (at least one
  // for every donor with something to give).
  std::vector<int> chunks(x, 0);
  std::vector<std::pair<double, uint32_t>> remainders;
  int assigned = 0;
  for (uint32_t m = 0; m < x; m++) {
    const double quota = count * give[m] / total_give;
    chunks[m] = static_cast<int>(quota);
    assigned += chunks[m];
    remainders.push_back({quota - chunks[m], m});
  }
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (int i = 0; assigned < count && i < static_cast<int>(remainders.size()); i++, assigned++) {
    chunks[remainders[i].second]++;
  }
  for (uint32_t m = 0; m < x; m++) {
    if (give[m] >= 1 && chunks[m] == 0) chunks[m] = 1;
  }

  std::vector<Token> added;
  auto cut = [&](Arc& arc, double amount) {
    // The newcomer takes (start, start + amount]; the donor keeps the rest of the arc.
    const uint64_t take = static_cast<uint64_t>(amount);
    arc.start += take;
    arc.length -= static_cast<double>(take);
    added.push_back({arc.start, x});
    return static_cast<double>(take);
  };
  for (uint32_t m = 0; m < x; m++) {
    if (chunks[m] == 0) continue;
    const double chunk = give[m] / chunks[m];
    double need = give[m];
    std::vector<Arc>& list = arcs[m];
    // In an order of the newcomer's own, so successive joins cut different arcs.
    std::vector<std::pair<uint64_t, size_t>> order;
    for (size_t i = 0; i < list.size(); i++) {
      const std::string& place = newcomer.place_id();
      order.push_back({XXH3_64bits_withSeed(place.data(), place.size(), list[i].start), i});
    }
    std::sort(order.begin(), order.end());
    // One chunk from each arc that holds a whole one...
    for (const auto& [hash, i] : order) {
      if (need < 1) break;
      const double amount = std::min(chunk, need);
      if (list[i].length <= amount + 1) continue;
      need -= cut(list[i], amount);
    }
    // ...then whatever is left from the largest arcs (a donor with few, small arcs).
    while (need >= 1) {
      auto largest = std::max_element(list.begin(), list.end(), [](const Arc& a, const Arc& b) {
        return a.length < b.length;
      });
      if (largest == list.end() || largest->length < 2) break;
      need -= cut(*largest, std::min(need, largest->length / 2));
    }
  }
  tokens_.insert(tokens_.end(), added.begin(), added.end());
  std::sort(tokens_.begin(), tokens_.end(),
            [](const Token& a, const Token& b) { return a.position < b.position; });
}

std::vector<int> Ring::PreferenceListAt(uint64_t position, int n) const {
  n = std::min<int>(n, static_cast<int>(members_.size()));
  std::vector<int> chosen, skipped;
  if (n <= 0) return chosen;
  std::vector<bool> rack_used(racks_, false);
  int racks_used = 0;
  auto has = [](const std::vector<int>& v, int m) { return std::find(v.begin(), v.end(), m) != v.end(); };
  auto take_skipped = [&] {
    while (!skipped.empty() && static_cast<int>(chosen.size()) < n) {
      chosen.push_back(skipped.front());
      skipped.erase(skipped.begin());
    }
  };
  const size_t start =
      std::lower_bound(tokens_.begin(), tokens_.end(), position,
                       [](const Token& t, uint64_t p) { return t.position < p; }) -
      tokens_.begin();
  for (size_t step = 0; step < tokens_.size() && static_cast<int>(chosen.size()) < n; step++) {
    const int m = static_cast<int>(tokens_[(start + step) % tokens_.size()].member);
    if (has(chosen, m) || has(skipped, m)) continue;
    const int rack = member_rack_[m];
    if (racks_used == racks_) {
      chosen.push_back(m);
    } else if (!rack_used[rack]) {
      chosen.push_back(m);
      rack_used[rack] = true;
      // Every rack is in the list: the members skipped for their rack come next.
      if (++racks_used == racks_) take_skipped();
    } else {
      skipped.push_back(m);
    }
  }
  take_skipped();
  return chosen;
}

std::vector<double> Ring::Ownership(int n) const {
  std::vector<double> own(members_.size(), 0.0);
  for (size_t j = 0; j < tokens_.size(); j++) {
    const uint64_t prev = tokens_[j == 0 ? tokens_.size() - 1 : j - 1].position;
    const double share = ArcLength(prev, tokens_[j].position) / kRingSize;
    for (int m : PreferenceListAt(tokens_[j].position, n)) own[m] += share;
  }
  return own;
}

int Ring::IndexOf(std::string_view id) const {
  for (size_t i = 0; i < members_.size(); i++) {
    if (members_[i].id == id) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace cairn::cluster
