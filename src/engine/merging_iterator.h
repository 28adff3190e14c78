// Merges sorted child iterators into one sorted stream (duplicates are all yielded, in
// child order for equal keys: put newer sources first). Supports both directions.
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
