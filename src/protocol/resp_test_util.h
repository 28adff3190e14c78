// Test helper: drives a RespParser the way a connection does, over a chunk schedule.
#ifndef CAIRN_PROTOCOL_RESP_TEST_UTIL_H_
#define CAIRN_PROTOCOL_RESP_TEST_UTIL_H_

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/resp.h"

namespace cairn::protocol {

struct FeedResult {
  std::vector<std::vector<std::string>> commands;
  std::string error;       // empty unless the parser failed
  size_t leftover = 0;     // bytes kept (not consumed) at the end
  size_t parse_calls = 0;  // how often Parse ran
};

// Feeds `bytes` to a fresh parser in chunks of the given sizes (the last one repeats),
// keeping unconsumed bytes in a buffer like a connection's read buffer.
inline FeedResult FeedInChunks(std::string_view bytes, const std::vector<size_t>& chunks,
                               const ParserLimits& limits = {}) {
  RespParser parser(limits);
  FeedResult result;
  std::string buffer;
  std::vector<std::string_view> args;
  size_t fed = 0;
  size_t chunk_index = 0;
  while (true) {
    size_t consumed = 0;
    RespParser::Result r = parser.Parse(buffer, &args, &consumed);
    result.parse_calls++;
    if (r == RespParser::Result::kCommand) {
      result.commands.emplace_back(args.begin(), args.end());  // before the bytes go
      buffer.erase(0, consumed);
      continue;
    }
    buffer.erase(0, consumed);
    if (r == RespParser::Result::kError) {
      result.error = parser.error();
      break;
    }
    if (fed == bytes.size()) {
      break;
    }
    size_t n = chunks.empty() ? bytes.size() : chunks[std::min(chunk_index, chunks.size() - 1)];
    chunk_index++;
    n = std::max<size_t>(1, std::min(n, bytes.size() - fed));
    buffer.append(bytes.substr(fed, n));
    fed += n;
  }
  result.leftover = buffer.size();
  return result;
}

inline std::string Multibulk(const std::vector<std::string>& args) {
  std::string out;
  ReplyWriter(&out).BulkArray(args);
  return out;
}

}  // namespace cairn::protocol

#endif  // CAIRN_PROTOCOL_RESP_TEST_UTIL_H_
