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
    case EEXIST:
      return absl::AlreadyExistsError(msg);
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

namespace {
constexpr char kKindPayload[] = "cairn/error-kind";
}  // namespace

absl::Status WithKind(absl::Status s, ErrorKind kind) {
  if (!s.ok()) s.SetPayload(kKindPayload, absl::Cord(std::string(1, static_cast<char>('0' + static_cast<int>(kind)))));
  return s;
}

ErrorKind KindOf(const absl::Status& s) {
  const auto p = s.GetPayload(kKindPayload);
  if (!p || p->size() != 1) return ErrorKind::kGeneric;
  switch (std::string(*p)[0]) {
    case '1':
      return ErrorKind::kNoQuorum;
    case '2':
      return ErrorKind::kCrossSlot;
    default:
      return ErrorKind::kGeneric;
  }
}

std::string_view ErrorCode(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kNoQuorum:
      return "NOQUORUM";
    case ErrorKind::kCrossSlot:
      return "CROSSSLOT";
    case ErrorKind::kGeneric:
      break;
  }
  return "ERR";
}

absl::Status NoQuorumError(std::string_view message) {
  return WithKind(absl::UnavailableError(ToAbsl(message)), ErrorKind::kNoQuorum);
}

}  // namespace cairn
