#include "base/status.h"

#include <cerrno>
#include <cstring>
#include <new>
#include <string>

#include "absl/strings/str_cat.h"

namespace cairn {

absl::Status CorruptionError(std::string_view message) {
  return absl::DataLossError(absl::StrCat("corruption: ", ToAbsl(message)));
}

absl::Status IOError(std::string_view context, int err) {
  std::string msg = absl::StrCat("IO error: ", ToAbsl(context), ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(msg);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

absl::Status ExceptionToStatus(const std::exception& e) {
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr) {
    return absl::ResourceExhaustedError("out of memory");
  }
  return absl::InternalError(absl::StrCat("unexpected exception: ", e.what()));
}

absl::Status Annotate(const absl::Status& s, std::string_view context) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(ToAbsl(context), ": ", s.message()));
}

absl::Status IOError(std::string_view message) {
  return absl::InternalError(absl::StrCat("IO error: ", ToAbsl(message)));
}

}  // namespace cairn
