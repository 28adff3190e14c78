// Turns a merged stream of internal keys (all versions, tombstones) into the user's
// view at one sequence number: the newest visible value of each key, deleted keys
// hidden, keys at or past the upper bound excluded.
#ifndef CAIRN_ENGINE_DB_ITER_H_
#define CAIRN_ENGINE_DB_ITER_H_

#include <memory>
#include <optional>
#include <string>

#include "cairn/engine/iterator.h"
#include "engine/dbformat.h"

namespace cairn::engine {

class BlobStore;

// Values whose expiry is at or before now (Unix microseconds) read as deletions. Values
// kept in blob files are read from blobs (not owned; null: none) when value() is first
// called at a position.
std::unique_ptr<Iterator> NewDBIterator(std::unique_ptr<Iterator> internal_iter,
                                        SequenceNumber sequence, uint64_t now,
                                        std::optional<std::string> upper_bound,
                                        const BlobStore* blobs = nullptr);

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_DB_ITER_H_
