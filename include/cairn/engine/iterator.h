// An ordered cursor over key/value pairs.
//
// Iterators returned by DB::NewIterator see one consistent sequence number: writes made
// after creation are invisible. key() and value() stay valid until the next move.
// Not thread-safe: one thread uses an iterator at a time. Errors (for example a corrupted
// block) make the iterator invalid and are reported by status(); they never crash.
// An iterator must be destroyed before the DB that created it.
#ifndef CAIRN_ENGINE_ITERATOR_H_
#define CAIRN_ENGINE_ITERATOR_H_

#include <functional>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace cairn::engine {

class Iterator {
 public:
  Iterator() = default;
  Iterator(const Iterator&) = delete;
  Iterator& operator=(const Iterator&) = delete;
  virtual ~Iterator();

  virtual bool Valid() const = 0;
  virtual void SeekToFirst() = 0;
  virtual void SeekToLast() = 0;
  // Positions at the first key >= target.
  virtual void Seek(std::string_view target) = 0;
  // REQUIRES: Valid().
  virtual void Next() = 0;
  virtual void Prev() = 0;
  virtual std::string_view key() const = 0;
  virtual std::string_view value() const = 0;
  virtual absl::Status status() const = 0;

  // Runs fn when the iterator is destroyed (used to release pinned resources).
  void RegisterCleanup(std::function<void()> fn) { cleanups_.push_back(std::move(fn)); }

 private:
  std::vector<std::function<void()>> cleanups_;
};

}  // namespace cairn::engine

#endif  // CAIRN_ENGINE_ITERATOR_H_
