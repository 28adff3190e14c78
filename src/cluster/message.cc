#include "cluster/message.h"

#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace cairn::cluster {

void AppendFrame(const pb::Envelope& env, std::string* out) {
  const size_t size = env.ByteSizeLong();
  const size_t at = out->size();
  out->resize(at + kFrameHeaderBytes + size);
  char* p = out->data() + at;
  p[0] = static_cast<char>(size >> 24);
  p[1] = static_cast<char>(size >> 16);
  p[2] = static_cast<char>(size >> 8);
  p[3] = static_cast<char>(size);
  env.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(p + kFrameHeaderBytes));
}

FrameResult ParseFrame(std::string_view input, pb::Envelope* env, size_t* consumed,
                       size_t* wanted, absl::Status* error) {
  *consumed = 0;
  *wanted = kFrameHeaderBytes;
  if (input.size() < kFrameHeaderBytes) return FrameResult::kNeedMore;
  const auto* u = reinterpret_cast<const uint8_t*>(input.data());
  const size_t size = (size_t{u[0]} << 24) | (size_t{u[1]} << 16) | (size_t{u[2]} << 8) | u[3];
  if (size > kMaxFrameBytes) {
    *error = CorruptionError(absl::StrCat("cluster frame of ", size, " bytes (at most ",
                                          kMaxFrameBytes, ")"));
    return FrameResult::kError;
  }
  *wanted = kFrameHeaderBytes + size;
  if (input.size() < *wanted) return FrameResult::kNeedMore;
  if (!env->ParseFromArray(input.data() + kFrameHeaderBytes, static_cast<int>(size))) {
    *error = CorruptionError("cluster frame does not hold a valid message");
    return FrameResult::kError;
  }
  *consumed = *wanted;
  return FrameResult::kFrame;
}

}  // namespace cairn::cluster
