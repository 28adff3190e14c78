// The consistent-hash ring: which nodes hold a key (shared/DESIGN.md, "Cluster";
// docs/cluster.md, "Ring").
//
//   Ring ring = Ring::Build(members, /*vnodes=*/256);
//   std::vector<int> replicas = ring.PreferenceList("user:42", 3);  // member indices
//
// Positions are 64-bit; a key's position is XXH3-64 of its hash tag (HashTag: the key, or
// the part between its first '{' and the next '}', as Redis Cluster), so keys of one tag
// have the same replicas. Each member owns
// round(vnodes * weight) tokens (at least 1), and a token owns the arc of positions from
// the previous token (exclusive) up to itself (inclusive). The preference list of a key is
// the first N distinct members met walking clockwise from its position, skipping a member
// whose rack is already in the list while racks not yet in it remain.
//
// Token placement is a pure function of the members (id or placed_as, weight, generation), so every
// node that knows the same members computes the same ring. Members are placed in join
// order (generation, then id; a replacement as the member it replaced). The first one's tokens are evenly spaced. Each later one
// takes its share from the others: every member above its new target share (weight /
// total weight) gives the excess, cut as chunks from the start of its arcs (chosen in an
// order hashed from the newcomer's place id), one token per chunk. So ownership matches the
// weights exactly (to rounding), and a join moves only the keys the newcomer takes, about
// 1/n of them, each from its previous owner to the newcomer.
#ifndef CAIRN_CLUSTER_RING_H_
#define CAIRN_CLUSTER_RING_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace cairn::cluster {

struct Member {
  std::string id;           // unique within the cluster
  std::string rack;         // replicas spread over racks; "" is a rack like any other
  double weight = 1.0;      // relative share of the data; > 0
  uint64_t generation = 0;  // when it first joined: orders token placement
  // The id it is placed as ("": its own). A replacement of a dead member is placed as
  // that member, with its generation, so it gets exactly the same tokens.
  std::string placed_as;
  const std::string& place_id() const { return placed_as.empty() ? id : placed_as; }
};

// What places a key (Redis Cluster's rule): if it has a '{' followed later by a '}' with
// at least one byte between them, those bytes (of the first '{' and the first '}' after
// it); otherwise the whole key. "{user1000}.following" and "{user1000}.followers" share
// "user1000"; "foo{}{bar}" is placed by the whole key.
std::string_view HashTag(std::string_view key);

class Ring {
 public:
  struct Token {
    uint64_t position;
    uint32_t member;  // index into members()
  };

  // InvalidArgument for no members, duplicate ids, a weight <= 0 or not finite, or
  // vnodes outside [1, 65536].
  static absl::StatusOr<Ring> Build(std::vector<Member> members, int vnodes);

  // XXH3-64 of the key's hash tag.
  static uint64_t Position(std::string_view key);

  // Indices into members() of the key's replicas: min(n, members) distinct members.
  std::vector<int> PreferenceList(std::string_view key, int n) const {
    return PreferenceListAt(Position(key), n);
  }
  std::vector<int> PreferenceListAt(uint64_t position, int n) const;

  // For each member, the fraction of all positions whose preference list of n holds it
  // (n = 1: the primary share). Sums to min(n, members).
  std::vector<double> Ownership(int n) const;

  // Members in join order (generation, id): indices are stable for a given member set.
  const std::vector<Member>& members() const { return members_; }
  // Sorted by position; positions are distinct.
  const std::vector<Token>& tokens() const { return tokens_; }
  // The member index of an id, or -1.
  int IndexOf(std::string_view id) const;

 private:
  Ring() = default;
  void Place(uint32_t member, int count);

  std::vector<Member> members_;
  std::vector<Token> tokens_;
  int racks_ = 0;                  // distinct racks
  std::vector<int> member_rack_;  // rack number of each member
};

}  // namespace cairn::cluster

#endif  // CAIRN_CLUSTER_RING_H_
