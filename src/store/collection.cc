#include "store/collection.h"

#include <bit>
#include <cstring>

#include "base/coding.h"
#include "base/status.h"

namespace cairn::store {
namespace {

void PutBigEndian64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

uint64_t GetBigEndian64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

}  // namespace

std::string EncodeCollectionMeta(ValueType type, const CollectionMeta& meta) {
  std::string out;
  PutFixed64(&out, meta.version);
  PutFixed64(&out, meta.size);
  if (type == ValueType::kList) PutFixed64(&out, meta.head);
  if (type == ValueType::kStream) {
    for (uint64_t v : {meta.last_ms, meta.last_seq, meta.max_deleted_ms, meta.max_deleted_seq,
                       meta.entries_added}) {
      PutFixed64(&out, v);
    }
  }
  return out;
}

absl::Status DecodeCollectionMeta(ValueType type, std::string_view payload, CollectionMeta* meta) {
  const size_t want = type == ValueType::kList ? 24 : type == ValueType::kStream ? 56 : 16;
  if (!IsCollection(type) || payload.size() != want) {
    return CorruptionError("bad collection metadata");
  }
  meta->version = DecodeFixed64(payload.data());
  meta->size = DecodeFixed64(payload.data() + 8);
  meta->head = type == ValueType::kList ? DecodeFixed64(payload.data() + 16) : kListMiddle;
  if (type == ValueType::kStream) {
    const char* p = payload.data() + 16;
    meta->last_ms = DecodeFixed64(p);
    meta->last_seq = DecodeFixed64(p + 8);
    meta->max_deleted_ms = DecodeFixed64(p + 16);
    meta->max_deleted_seq = DecodeFixed64(p + 24);
    meta->entries_added = DecodeFixed64(p + 32);
  }
  return absl::OkStatus();
}

std::string MemberPrefix(int physical_db, std::string_view user_key, uint64_t version) {
  std::string k;
  k.reserve(2 + 4 + user_key.size() + 8 + 16);
  k.push_back(kMemberNamespace);
  k.push_back(static_cast<char>(physical_db));
  const uint32_t n = static_cast<uint32_t>(user_key.size());
  for (int shift = 24; shift >= 0; shift -= 8) k.push_back(static_cast<char>(n >> shift));
  k.append(user_key.data(), user_key.size());
  PutBigEndian64(&k, version);
  return k;
}

bool ParseMemberKey(std::string_view engine_key, int* physical_db, std::string_view* user_key,
                    uint64_t* version, std::string_view* member) {
  if (engine_key.size() < 6 + 8 || engine_key[0] != kMemberNamespace) return false;
  *physical_db = static_cast<uint8_t>(engine_key[1]);
  uint32_t n = 0;
  for (int i = 2; i < 6; i++) n = (n << 8) | static_cast<uint8_t>(engine_key[i]);
  if (engine_key.size() - 6 - 8 < n) return false;
  *user_key = engine_key.substr(6, n);
  *version = GetBigEndian64(engine_key.data() + 6 + n);
  *member = engine_key.substr(6 + n + 8);
  return true;
}

std::string ListIndexMember(uint64_t index) {
  std::string m;
  PutBigEndian64(&m, index);
  return m;
}

uint64_t DecodeListIndexMember(std::string_view member) {
  return member.size() == 8 ? GetBigEndian64(member.data()) : 0;
}

std::string EncodeScore(double score) {
  if (score == 0) score = 0;  // -0.0 and 0.0 are one score
  uint64_t bits = std::bit_cast<uint64_t>(score);
  // Positive doubles sort as their bits with the sign bit set; negative ones as their
  // bits inverted (so larger magnitudes sort first).
  bits = (bits & (uint64_t{1} << 63)) ? ~bits : bits | (uint64_t{1} << 63);
  std::string out;
  PutBigEndian64(&out, bits);
  return out;
}

double DecodeScore(std::string_view eight_bytes) {
  uint64_t bits = GetBigEndian64(eight_bytes.data());
  bits = (bits & (uint64_t{1} << 63)) ? bits & ~(uint64_t{1} << 63) : ~bits;
  return std::bit_cast<double>(bits);
}

std::string ZSetMemberKey(std::string_view member) {
  std::string k(1, kZSetByMember);
  k.append(member.data(), member.size());
  return k;
}

std::string ZSetScoreKey(double score, std::string_view member) {
  std::string k(1, kZSetByScore);
  k += EncodeScore(score);
  k.append(member.data(), member.size());
  return k;
}

}  // namespace cairn::store
