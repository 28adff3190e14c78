#include "store/backend.h"

#include <cstring>

namespace cairn::store {

namespace {

// A payload held in memory.
class StringReader final : public engine::ValueReader {
 public:
  explicit StringReader(std::string value) : value_(std::move(value)) {}
  uint64_t size() const override { return value_.size(); }
  absl::Status Read(uint64_t offset, size_t n, char* dst) override {
    if (offset > value_.size() || n > value_.size() - offset) {
      return absl::InvalidArgumentError("read past the end of the value");
    }
    if (n > 0) std::memcpy(dst, value_.data() + offset, n);
    return absl::OkStatus();
  }

 private:
  const std::string value_;
};

}  // namespace

absl::Status Backend::GetPayload(int db, std::string_view key, RecordView* header,
                                 std::unique_ptr<engine::ValueReader>* payload) {
  Record r;
  if (absl::Status s = Get(db, key, &r); !s.ok()) return s;
  header->type = r.type;
  header->expire_at_ms = r.expire_at_ms;
  header->value = {};
  *payload = std::make_unique<StringReader>(std::move(r.value));
  return absl::OkStatus();
}

}  // namespace cairn::store
