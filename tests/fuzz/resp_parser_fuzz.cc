// libFuzzer target for RespParser. Input: one control byte, then the bytes a client
// sends. The control byte seeds the read sizes the bytes are split into and, with its
// top bit, selects tiny limits so the limit paths are reachable in small inputs.
//
// Invariants checked (a violation aborts, which libFuzzer reports as a crash):
//  - *consumed never exceeds the input, and a command always consumes bytes;
//  - arguments lie inside the input or inside the parser's own storage;
//  - kNeedMore leaves BytesWanted() >= 1, and feeding fewer bytes than that changes
//    nothing; a call with no new bytes after kNeedMore makes no progress;
//  - split into reads or given whole, the input yields the same commands and error;
//  - every command, re-encoded as a multibulk request, parses back to itself.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/resp.h"
#include "protocol/resp_parser_test_peer.h"

namespace cairn::protocol {
namespace {

using Result = RespParser::Result;

struct Outcome {
  std::vector<std::vector<std::string>> commands;
  std::string error;
  bool operator==(const Outcome&) const = default;
};

[[noreturn]] void Violation(const char* what) {
  std::fprintf(stderr, "invariant violated: %s\n", what);
  std::abort();
}

void Check(bool ok, const char* what) {
  if (!ok) {
    Violation(what);
  }
}

bool Inside(std::string_view outer, std::string_view inner) {
  const std::less_equal<const char*> le;
  return le(outer.data(), inner.data()) &&
         le(inner.data() + inner.size(), outer.data() + outer.size());
}

// Default limits: inline arguments may be longer, or more, than tiny limits allow.
void CheckRoundTrip(const std::vector<std::string_view>& args) {
  std::string encoded;
  ReplyWriter writer(&encoded);
  writer.ArrayHeader(args.size());
  for (std::string_view arg : args) {
    writer.Bulk(arg);
  }
  RespParser parser;
  std::vector<std::string_view> again;
  size_t consumed = 0;
  Check(parser.Parse(encoded, &again, &consumed) == Result::kCommand, "re-encoded: no command");
  Check(consumed == encoded.size(), "re-encoded: consumed");
  Check(again == args, "re-encoded: different arguments");
}

// Feeds `bytes` in reads of pseudo-random sizes drawn from `seed` (all at once when
// `seed` is 0), the way a connection would.
Outcome Feed(std::string_view bytes, uint32_t seed, const ParserLimits& limits) {
  RespParser parser(limits);
  Outcome outcome;
  std::string buffer;
  std::vector<std::string_view> args;
  size_t fed = 0;
  size_t wanted = 1;    // BytesWanted() after the last kNeedMore
  size_t appended = 0;  // bytes appended since then
  uint32_t rng = seed;
  while (true) {
    size_t consumed = 12345;
    const Result r = parser.Parse(buffer, &args, &consumed);
    Check(consumed <= buffer.size(), "consumed more than the input");
    if (appended < wanted) {
      Check(r == Result::kNeedMore && consumed == 0, "progress with fewer bytes than wanted");
    }
    if (r == Result::kError) {
      Check(!parser.error().empty(), "error without text");
      Check(args.empty(), "error with arguments");
      outcome.error = parser.error();
      break;
    }
    if (r == Result::kCommand) {
      Check(consumed > 0, "command without consuming");
      Check(!args.empty(), "command without arguments");
      const std::string_view input(buffer.data(), consumed);
      for (std::string_view arg : args) {
        Check(Inside(input, arg) || RespParserTestPeer::OwnsBytes(parser, arg),
              "argument outside the input and the parser");
      }
      CheckRoundTrip(args);
      outcome.commands.emplace_back(args.begin(), args.end());
      buffer.erase(0, consumed);
      wanted = 1;
      appended = 1;  // a command may follow in the bytes already there
      continue;
    }
    Check(args.empty(), "kNeedMore with arguments");
    Check(parser.BytesWanted() >= 1, "BytesWanted() == 0 after kNeedMore");
    buffer.erase(0, consumed);
    // The same bytes again (minus what was dropped): no progress, nothing consumed.
    size_t again = 1;
    Check(parser.Parse(buffer, &args, &again) == Result::kNeedMore && again == 0,
          "progress without new bytes");
    wanted = parser.BytesWanted();
    appended = 0;
    if (fed == bytes.size()) {
      break;
    }
    size_t n = bytes.size() - fed;
    if (seed != 0) {
      // Half the reads 1-8 bytes, half 1-128: every kind of boundary in small inputs.
      rng = rng * 1103515245 + 12345;
      const uint32_t pick = (rng >> 16) & 0xff;
      n = std::min<size_t>(n, (pick & 0x80) ? 1 + (pick & 0x7f) : 1 + (pick & 0x07));
    }
    buffer.append(bytes.substr(fed, n));
    fed += n;
    appended = n;
  }
  return outcome;
}

}  // namespace
}  // namespace cairn::protocol

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cairn::protocol;  // NOLINT(google-build-using-namespace)
  if (size == 0) {
    return 0;
  }
  const uint8_t control = data[0];
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  ParserLimits limits;
  if (control & 0x80) {
    limits.max_bulk_len = 16;
    limits.max_multibulk_len = 4;
    limits.max_inline_len = 32;
  }
  const Outcome whole = Feed(bytes, 0, limits);
  const Outcome split = Feed(bytes, (control & 0x7f) + 1, limits);
  Check(whole == split, "split input gave other commands than the whole input");
  return 0;
}
