// libFuzzer target for the DUMP payload parser (server/rdb_payload.h), which RESTORE runs
// on bytes from the network. Input: an RDB object (type byte first); the footer (version
// 10 and a correct CRC) is added, so the fuzzer explores the object parsers rather than
// the checksum.
//
// Invariants checked (a violation aborts, which libFuzzer reports as a crash):
//  - parsing returns OK or InvalidArgument, never anything else;
//  - a value that parses is non-empty (streams excepted) and, written back by RdbPayloadWriter in
//  the form
//    cairn's DUMP uses, parses again to the same value;
//  - a flipped CRC byte is always caught by VerifyRdbPayload.
// Memory use is bounded by libFuzzer's -rss_limit_mb: a forged length that allocated
// beyond the input's size would trip it.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "server/rdb_payload.h"

namespace cairn::server {
namespace {

using fuzz::Check;

std::string WithFooter(std::string body) {
  body.push_back(static_cast<char>(kRdbVersion & 0xff));
  body.push_back(static_cast<char>(kRdbVersion >> 8));
  const uint64_t crc = RdbCrc64(0, body);
  for (int i = 0; i < 8; i++) body.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  return body;
}

// The payload cairn's DUMP writes for v.
std::string Rewrite(const RdbValue& v) {
  switch (v.type) {
    case store::ValueType::kString: {
      RdbPayloadWriter w(kRdbString);
      w.String(v.string);
      return w.Finish();
    }
    case store::ValueType::kList:
    case store::ValueType::kSet: {
      RdbPayloadWriter w(v.type == store::ValueType::kList ? kRdbList : kRdbSet);
      w.Length(v.elements.size());
      for (const std::string& e : v.elements) w.String(e);
      return w.Finish();
    }
    case store::ValueType::kHash: {
      RdbPayloadWriter w(kRdbHash);
      w.Length(v.fields.size());
      for (const auto& [f, val] : v.fields) {
        w.String(f);
        w.String(val);
      }
      return w.Finish();
    }
    case store::ValueType::kStream: {
      RdbPayloadWriter w(kRdbStreamListpacks2);
      w.Stream(v.stream);
      return w.Finish();
    }
    default: {
      RdbPayloadWriter w(kRdbZSet2);
      w.Length(v.scores.size());
      for (const auto& [m, s] : v.scores) {
        w.String(m);
        w.BinaryDouble(s);
      }
      return w.Finish();
    }
  }
}

bool Same(const RdbValue& a, const RdbValue& b) {
  return a.type == b.type && a.string == b.string && a.elements == b.elements &&
         a.fields == b.fields && a.scores == b.scores && a.stream == b.stream;
}

}  // namespace
}  // namespace cairn::server

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cairn::server;
  const std::string payload = WithFooter(std::string(reinterpret_cast<const char*>(data), size));
  Check(VerifyRdbPayload(payload), "a correct footer verifies");
  std::string flipped = payload;
  flipped[flipped.size() - 1 - (size % 8)] ^= 0x01;
  Check(!VerifyRdbPayload(flipped), "a flipped CRC bit is caught");

  RdbValue v;
  const absl::Status s = ParseRdbPayload(payload, &v);
  Check(s.ok() || absl::IsInvalidArgument(s), "parse errors are InvalidArgument");
  if (!s.ok()) return 0;
  Check(v.type == cairn::store::ValueType::kString || v.type == cairn::store::ValueType::kStream ||
            !v.elements.empty() || !v.fields.empty() || !v.scores.empty(),
        "a collection that parses is not empty");
  const std::string again = Rewrite(v);
  Check(VerifyRdbPayload(again), "a rewritten payload verifies");
  RdbValue w;
  Check(ParseRdbPayload(again, &w).ok(), "a rewritten payload parses");
  Check(Same(v, w), "a rewritten payload parses to the same value");
  return 0;
}
