#include "cluster/registers.h"

namespace cairn::cluster {

std::string RegisterPrefix(char type, std::string_view key) {
  std::string out;
  out.reserve(5 + key.size());
  out.push_back(type);
  const uint32_t n = static_cast<uint32_t>(key.size());
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((n >> shift) & 0xff));
  out.append(key);
  return out;
}

std::string RegisterKey(char type, std::string_view key, std::string_view member) {
  std::string out = RegisterPrefix(type, key);
  out.append(member);
  return out;
}

bool ParseRegisterKey(std::string_view rk, char* type, std::string_view* key,
                      std::string_view* member) {
  if (rk.size() < 5) return false;
  uint32_t n = 0;
  for (int i = 1; i <= 4; i++) n = (n << 8) | static_cast<uint8_t>(rk[i]);
  if (rk.size() - 5 < n) return false;
  *type = rk[0];
  *key = rk.substr(5, n);
  *member = rk.substr(5 + n);
  return true;
}

namespace {

void PutBigEndian64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xff));
}

uint64_t BigEndian64(std::string_view b) {
  uint64_t v = 0;
  for (char c : b.substr(0, 8)) v = (v << 8) | static_cast<uint8_t>(c);
  return v;
}

}  // namespace

std::string ChunkGenerationPrefix(uint64_t generation) {
  std::string out;
  PutBigEndian64(&out, generation);
  return out;
}

std::string ChunkMember(uint64_t generation, uint64_t index) {
  std::string out = ChunkGenerationPrefix(generation);
  PutBigEndian64(&out, index);
  return out;
}

bool ParseChunkMember(std::string_view member, uint64_t* generation, uint64_t* index) {
  if (member.size() != 16) return false;
  *generation = BigEndian64(member);
  *index = BigEndian64(member.substr(8));
  return true;
}

std::string_view PlacementKey(int db, std::string_view key) {
  if (!IsRegisterDb(db)) return key;
  char type;
  std::string_view collection, member;
  return ParseRegisterKey(key, &type, &collection, &member) ? collection : key;
}

}  // namespace cairn::cluster
