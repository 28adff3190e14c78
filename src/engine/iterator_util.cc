#include "engine/iterator_util.h"

#include "engine/dbformat.h"

namespace cairn::engine {

Iterator::~Iterator() {
  for (auto it = cleanups_.rbegin(); it != cleanups_.rend(); ++it) (*it)();
}

namespace {
class ErrorIterator final : public Iterator {
 public:
  explicit ErrorIterator(absl::Status s) : status_(std::move(s)) {}
  bool Valid() const override { return false; }
  void SeekToFirst() override {}
  void SeekToLast() override {}
  void Seek(std::string_view) override {}
  void Next() override {}
  void Prev() override {}
  std::string_view key() const override { return {}; }
  std::string_view value() const override { return {}; }
  absl::Status status() const override { return status_; }

 private:
  absl::Status status_;
};
}  // namespace

std::unique_ptr<Iterator> NewErrorIterator(absl::Status s) {
  return std::make_unique<ErrorIterator>(std::move(s));
}

int CompareBytewise(std::string_view a, std::string_view b) { return a.compare(b); }

int CompareInternalKeys(std::string_view a, std::string_view b) {
  return InternalKeyComparator().Compare(a, b);
}

}  // namespace cairn::engine
