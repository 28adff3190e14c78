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

std::string ChunkMember(uint64_t index) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; i--, index >>= 8) out[static_cast<size_t>(i)] = static_cast<char>(index & 0xff);
  return out;
}

bool ParseChunkMember(std::string_view member, uint64_t* index) {
  if (member.size() != 8) return false;
  uint64_t v = 0;
  for (char c : member) v = (v << 8) | static_cast<uint8_t>(c);
  *index = v;
  return true;
}

std::string_view PlacementKey(int db, std::string_view key) {
  if (!IsRegisterDb(db)) return key;
  char type;
  std::string_view collection, member;
  return ParseRegisterKey(key, &type, &collection, &member) ? collection : key;
}

}  // namespace cairn::cluster
