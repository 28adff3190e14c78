// Members of hashes, sets, sorted sets and streams in cluster mode, one replicated register each
// (docs/cluster.md, "Collections by member"; docs/formats/cluster.md).
//
// A register is a key of the replica store like any other (versions with dots and clocks,
// siblings, read repair, hints, tombstones), in a database number of its own: database d's
// registers are "database" d + kRegisterSpace, so every message and store method that takes
// (db, key) takes registers unchanged. Its key names the collection and the member:
//
//   register key := byte type ('h' hash, 't' set, 'z' sorted set, 'x' stream,
//                   'b' chunk of a string) | fixed32 BE len(key)
//                   | collection key | member
//
// so a collection's registers are one contiguous range, and a register lives on the ring
// where its collection does (PlacementKey). A register's value is the field's value (hash),
// empty (set), the score as decimal text (sorted set), or a stream member's single-node
// value (an entry, a group, a pending entry or a consumer: commands_stream.cc; only
// entries, 'e' members, count as members: IsCountedMember), or kChunkBytes of a chunked
// string (pb::Record.chunked; member: ChunkMember(generation, index), the last chunk may
// be shorter; the header names the generation, so chunks of an earlier string under the
// key never show through);
// HINCRBY and ZINCRBY keep a
// pb::Counter on it, exactly as INCR does on a string. Removing a member writes its
// tombstone with the context it was read in, so a removal removes only what it saw.
#ifndef CAIRN_CLUSTER_REGISTERS_H_
#define CAIRN_CLUSTER_REGISTERS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace cairn::cluster {

inline constexpr int kRegisterSpace = 256;

inline bool IsRegisterDb(int db) { return db >= kRegisterSpace && db < 2 * kRegisterSpace; }

// The register types: collections' ('h', 't', 'z', 'x': store::ValueType bytes) and
// chunked strings' ('b').
inline bool HasRegisters(uint32_t type) {
  return type == 'h' || type == 't' || type == 'z' || type == 'x' || type == 'b';
}

// The bytes of a chunked string's chunk: a SETBIT sends one chunk, not the string.
inline constexpr size_t kChunkBytes = 1024;
// A chunk's register member: the string's generation and the chunk's index, each as
// fixed64 BE (a generation's chunks are one range, in order).
std::string ChunkMember(uint64_t generation, uint64_t index);
// The first 8 bytes of a generation's chunk members.
std::string ChunkGenerationPrefix(uint64_t generation);
// False if member is not 16 bytes.
bool ParseChunkMember(std::string_view member, uint64_t* generation, uint64_t* index);

// Whether a register counts in its collection's size (the replica's summary): every
// member does, but a stream's size counts its entries ('e'), not its groups' state.
inline bool IsCountedMember(char type, std::string_view member) {
  return type != 'x' || (!member.empty() && member[0] == 'e');
}

std::string RegisterPrefix(char type, std::string_view key);
std::string RegisterKey(char type, std::string_view key, std::string_view member);
// False if register_key is not one.
bool ParseRegisterKey(std::string_view register_key, char* type, std::string_view* key,
                      std::string_view* member);

// The key whose hash tag places a key of db on the ring: a register's collection key.
std::string_view PlacementKey(int db, std::string_view key);

}  // namespace cairn::cluster

#endif  // CAIRN_CLUSTER_REGISTERS_H_
