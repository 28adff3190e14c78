// Builds a sorted block of key/value entries with prefix compression.
//
//   entry    := varint32 shared | varint32 non_shared | varint32 value_len |
//               key_delta[non_shared] | value[value_len]
//   block    := entry* | fixed32 restart_offset[num_restarts] | fixed32 num_restarts
//
// Every `restart_interval` entries the key is stored whole (shared = 0) and its offset
// recorded as a restart point, so readers can binary-search restarts.
#ifndef CAIRN_ENGINE_BLOCK_BUILDER_H_
#define CAIRN_ENGINE_BLOCK_BUILDER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cairn::engine {

class BlockBuilder {
 public:
  explicit BlockBuilder(int restart_interval);

  // REQUIRES: key is larger than every key added since Reset; Finish not yet called.
  void Add(std::string_view key, std::string_view value);
  // Appends the restart array; the result is valid until Reset.
  std::string_view Finish();
  void Reset();

  // Size of the block if Finish were called now.
  size_t CurrentSizeEstimate() const;
  bool empty() const { return buffer_.empty(); }

 private:
  const int restart_interval_;
  std::string buffer_;
  std::vector<uint32_t> restarts_;
  int counter_ = 0;  // entries since the last restart
  bool finished_ = false;
  std::string last_key_;
};

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_BLOCK_BUILDER_H_
