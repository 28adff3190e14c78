#include "store/backend.h"

namespace cairn::store {

absl::Status Backend::GetPayload(int db, std::string_view key, RecordView* header,
                                 std::unique_ptr<engine::ValueReader>* payload) {
  Record r;
  if (absl::Status s = Get(db, key, &r); !s.ok()) return s;
  header->type = r.type;
  header->expire_at_ms = r.expire_at_ms;
  header->value = {};
  *payload = engine::NewStringValueReader(std::move(r.value));
  return absl::OkStatus();
}

}  // namespace cairn::store
