// Merges sorted child iterators into one sorted stream, in both directions. Equal keys
// from several children are all yielded (in child order), but a change of direction
// skips the other copies of the current key: callers that change direction must merge
// distinct keys, as cairn's internal keys are (each carries a unique sequence number).
#ifndef CAIRN_ENGINE_MERGING_ITERATOR_H_
#define CAIRN_ENGINE_MERGING_ITERATOR_H_

#include <memory>
#include <vector>

#include "cairn/engine/iterator.h"
#include "engine/iterator_util.h"

namespace cairn::engine {

std::unique_ptr<Iterator> NewMergingIterator(KeyCompare cmp,
                                             std::vector<std::unique_ptr<Iterator>> children);

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_MERGING_ITERATOR_H_
