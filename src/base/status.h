// cairn's one error type is absl::Status. This header fixes how storage errors map onto
// absl's canonical codes, so every layer (and the RESP/HTTP error mappers) agrees:
//
//   key absent                     -> kNotFound
//   bad bytes on disk or the wire  -> kDataLoss, message starts "corruption: "
//   failed system call             -> kInternal, message starts "IO error: "
//                                     (ENOENT -> kNotFound, ENOSPC -> kResourceExhausted,
//                                     EEXIST -> kAlreadyExists)
//   bad option or argument         -> kInvalidArgument
//   write stall / memory limit     -> kResourceExhausted
#ifndef CAIRN_BASE_STATUS_H_
#define CAIRN_BASE_STATUS_H_

#include <exception>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cairn {

// Debian's abseil has its own string_view type; convert at the boundary.
inline absl::string_view ToAbsl(std::string_view s) { return {s.data(), s.size()}; }

absl::Status CorruptionError(std::string_view message);
inline bool IsCorruption(const absl::Status& s) { return absl::IsDataLoss(s); }

// An error from a system call on `context` (usually a path) with errno `err`.
absl::Status IOError(std::string_view context, int err);
absl::Status IOError(std::string_view message);

// Maps an exception caught at the API boundary (in practice std::bad_alloc from an
// allocation) to a Status: ResourceExhausted for out-of-memory, Internal otherwise.
absl::Status ExceptionToStatus(const std::exception& e);

// s with "context: " put in front of its message; same code. OK stays OK.
absl::Status Annotate(const absl::Status& s, std::string_view context);

// Errors the protocols answer with a code of their own. The kind travels as a payload of
// the status, so no layer recognizes an error by the text of its message; the RESP
// mapping (server/command.h, ReplyStatusError) answers `-<CODE> message`, the HTTP one
// picks the status (503 for kNoQuorum) and puts the code before the message.
enum class ErrorKind {
  kGeneric,
  kNoQuorum,   // too few replicas reachable or answering (Unavailable; RESP -NOQUORUM)
  kCrossSlot,  // keys of different hash tags in one command (InvalidArgument; -CROSSSLOT)
};
absl::Status WithKind(absl::Status s, ErrorKind kind);
ErrorKind KindOf(const absl::Status& s);
// The protocol code of a kind ("NOQUORUM", "CROSSSLOT"); "ERR" for kGeneric.
std::string_view ErrorCode(ErrorKind kind);
// Unavailable of kind kNoQuorum.
absl::Status NoQuorumError(std::string_view message);

}  // namespace cairn

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define CAIRN_RETURN_IF_ERROR(expr)             \
  do {                                          \
    if (absl::Status _st = (expr); !_st.ok()) { \
      return _st;                               \
    }                                           \
  } while (0)

#define CAIRN_CONCAT_INNER_(a, b) a##b
#define CAIRN_CONCAT_(a, b) CAIRN_CONCAT_INNER_(a, b)
// CAIRN_ASSIGN_OR_RETURN(auto x, StatusOrExpr): assigns the value or returns the error.
#define CAIRN_ASSIGN_OR_RETURN(lhs, expr) \
  CAIRN_ASSIGN_OR_RETURN_IMPL_(CAIRN_CONCAT_(_statusor_, __LINE__), lhs, expr)
#define CAIRN_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(*tmp)

#endif  // CAIRN_BASE_STATUS_H_
