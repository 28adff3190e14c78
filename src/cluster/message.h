// Framing of cluster messages on a TCP stream (docs/cluster.md, "Transport"):
//
//   fixed32 big-endian length N | N bytes: a serialized pb::Envelope
//
// A frame longer than kMaxFrameBytes is refused before anything is buffered, so a broken
// or hostile peer cannot make a node allocate an announced size.
#ifndef CAIRN_CLUSTER_MESSAGE_H_
#define CAIRN_CLUSTER_MESSAGE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "cluster/cluster.pb.h"

namespace cairn::cluster {

// The largest value a client may send (proto-max-bulk-len at most 512 MiB) plus room for
// the key and the envelope.
constexpr size_t kMaxFrameBytes = (size_t{512} << 20) + (size_t{4} << 20);
constexpr size_t kFrameHeaderBytes = 4;

// Appends env as one frame to *out.
void AppendFrame(const pb::Envelope& env, std::string* out);

enum class FrameResult { kFrame, kNeedMore, kError };

// Decodes the frame at the front of input into *env; *consumed is its size. kNeedMore
// until the whole frame is there (*wanted: bytes of input the frame needs in total);
// kError (with *error) for a length over kMaxFrameBytes or bytes that are not an
// Envelope: the connection must be closed.
FrameResult ParseFrame(std::string_view input, pb::Envelope* env, size_t* consumed,
                       size_t* wanted, absl::Status* error);

}  // namespace cairn::cluster

#endif  // CAIRN_CLUSTER_MESSAGE_H_
