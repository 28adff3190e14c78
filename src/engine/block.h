// Reads a block built by BlockBuilder. Every offset and length in the block is checked:
// a damaged block yields an iterator with a Corruption status, never a crash or a
// read outside the block.
#ifndef CAIRN_ENGINE_BLOCK_H_
#define CAIRN_ENGINE_BLOCK_H_

#include <memory>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"

#include "cairn/engine/iterator.h"
#include "engine/format.h"
#include "engine/iterator_util.h"

namespace cairn::engine {

class Block {
 public:
  explicit Block(BlockContents contents);
  Block(const Block&) = delete;
  Block& operator=(const Block&) = delete;

  size_t size() const { return data_.size(); }

  // The iterator shares ownership of the block.
  static std::unique_ptr<Iterator> NewIterator(std::shared_ptr<const Block> block, KeyCompare cmp);

  // Point lookup without an iterator on the heap: calls found(key, value) with the first
  // entry >= target, if any (both views valid only during the call). Corruption if the
  // block is damaged on the way.
  absl::Status SeekOnce(std::string_view target, KeyCompare cmp,
                        absl::FunctionRef<void(std::string_view, std::string_view)> found) const;

 private:
  class Iter;
  BlockContents contents_;
  std::string_view data_;
  uint32_t restart_offset_ = 0;  // offset of the restart array
  uint32_t num_restarts_ = 0;
  bool malformed_ = false;
};

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_BLOCK_H_
