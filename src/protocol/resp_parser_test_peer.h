// White-box access to RespParser for its unit tests and fuzz target only.
#ifndef CAIRN_PROTOCOL_RESP_PARSER_TEST_PEER_H_
#define CAIRN_PROTOCOL_RESP_PARSER_TEST_PEER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "protocol/resp.h"

namespace cairn::protocol {

class RespParserTestPeer {
 public:
  // Bytes the parser has searched for line ends since it was made: a command that
  // arrives in pieces must cost about its size, not its size times the pieces.
  static uint64_t BytesScanned(const RespParser& p) { return p.bytes_scanned_; }

  // Room reserved for the arguments of the multibulk command being parsed.
  static size_t ArgCapacity(const RespParser& p) { return p.arg_offsets_.capacity(); }

  // Whether `arg` lies inside storage the parser owns (inline arguments).
  static bool OwnsBytes(const RespParser& p, std::string_view arg) {
    std::less_equal<const char*> le;
    for (const std::string& s : p.inline_args_) {
      if (le(s.data(), arg.data()) && le(arg.data() + arg.size(), s.data() + s.size())) {
        return true;
      }
    }
    return false;
  }
};

}  // namespace cairn::protocol

#endif  // CAIRN_PROTOCOL_RESP_PARSER_TEST_PEER_H_
