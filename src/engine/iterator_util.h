// Small iterators shared by the engine: empty, error, and a base for internal ones.
#ifndef CAIRN_ENGINE_ITERATOR_UTIL_H_
#define CAIRN_ENGINE_ITERATOR_UTIL_H_

#include <memory>

#include "absl/status/status.h"
#include "cairn/engine/iterator.h"

namespace cairn::engine {

// An iterator with no entries whose status() is s.
std::unique_ptr<Iterator> NewErrorIterator(absl::Status s);
inline std::unique_ptr<Iterator> NewEmptyIterator() { return NewErrorIterator(absl::OkStatus()); }

// Three-way comparison of keys, as used by blocks and merging iterators.
using KeyCompare = int (*)(std::string_view a, std::string_view b);
int CompareBytewise(std::string_view a, std::string_view b);
int CompareInternalKeys(std::string_view a, std::string_view b);

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_ITERATOR_UTIL_H_
