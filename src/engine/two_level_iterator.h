// Iterates an index whose values name inner sequences (a table's index block over its
// data blocks), opening each inner iterator on demand.
#ifndef CAIRN_ENGINE_TWO_LEVEL_ITERATOR_H_
#define CAIRN_ENGINE_TWO_LEVEL_ITERATOR_H_

#include <functional>
#include <memory>

#include "cairn/engine/iterator.h"

namespace cairn::engine {

// open_inner(index value) returns the inner iterator (or an error iterator).
using InnerIteratorFactory = std::function<std::unique_ptr<Iterator>(std::string_view)>;

std::unique_ptr<Iterator> NewTwoLevelIterator(std::unique_ptr<Iterator> index_iter,
                                              InnerIteratorFactory open_inner);

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_TWO_LEVEL_ITERATOR_H_
