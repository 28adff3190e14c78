// Follows Redis 7.0's processInlineBuffer / processMultibulkBuffer (networking.c) and
// sdssplitargs (sds.c) byte for byte where a client can tell the difference; the
// deliberate differences are listed in docs/protocol.md.
#include <algorithm>
#include <cstring>
#include <limits>

#include "protocol/resp.h"

namespace cairn::protocol {
namespace {

constexpr char kTooBigInline[] = "ERR Protocol error: too big inline request";
constexpr char kTooBigMbulk[] = "ERR Protocol error: too big mbulk count string";
constexpr char kTooBigBulk[] = "ERR Protocol error: too big bulk count string";
constexpr char kInvalidMbulk[] = "ERR Protocol error: invalid multibulk length";
constexpr char kInvalidBulk[] = "ERR Protocol error: invalid bulk length";
constexpr char kUnbalanced[] = "ERR Protocol error: unbalanced quotes in request";
constexpr char kUnauthMbulk[] = "ERR Protocol error: unauthenticated multibulk length";
constexpr char kUnauthBulk[] = "ERR Protocol error: unauthenticated bulk length";
// Redis 7's limits for a client that has not authenticated yet.
constexpr int64_t kUnauthenticatedMaxArgs = 10;
constexpr int64_t kUnauthenticatedMaxBulk = 16384;

// Redis's string2ll: an optional '-', then "0" alone or digits without a leading zero;
// nothing else (no '+', no spaces), and no overflow.
bool ParseInt64(std::string_view s, int64_t* value) {
  if (s == "0") {
    *value = 0;
    return true;
  }
  size_t i = 0;
  bool negative = false;
  if (!s.empty() && s[0] == '-') {
    negative = true;
    i = 1;
  }
  if (i >= s.size() || s[i] < '1' || s[i] > '9') {
    return false;
  }
  uint64_t v = 0;
  constexpr uint64_t kMaxMagnitude = uint64_t{1} << 63;  // |INT64_MIN|
  for (; i < s.size(); i++) {
    if (s[i] < '0' || s[i] > '9') {
      return false;
    }
    const uint64_t digit = s[i] - '0';
    if (v > (kMaxMagnitude - digit) / 10) {
      return false;
    }
    v = v * 10 + digit;
  }
  if (negative) {
    *value = v == kMaxMagnitude ? std::numeric_limits<int64_t>::min() : -static_cast<int64_t>(v);
  } else {
    if (v == kMaxMagnitude) {
      return false;
    }
    *value = static_cast<int64_t>(v);
  }
  return true;
}

// C's isspace() in the "C" locale, which sdssplitargs uses to skip blanks.
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return c - 'A' + 10;
}

// sdssplitargs on [line.begin, line.end): appends the arguments to *out. Returns false
// on unbalanced quotes (or a closing quote not followed by a blank). Unlike sdssplitargs,
// which works on C strings, a NUL byte is an ordinary character.
bool SplitInlineArgs(std::string_view line, std::vector<std::string>* out) {
  const char* p = line.data();
  const char* const end = p + line.size();
  while (true) {
    while (p < end && IsSpace(*p)) {
      p++;
    }
    if (p == end) {
      return true;
    }
    std::string current;
    bool in_double = false;
    bool in_single = false;
    bool done = false;
    while (!done) {
      const bool more = p + 1 < end;  // a byte follows *p
      if (in_double) {
        if (p == end) {
          return false;  // unterminated quotes
        }
        if (*p == '\\' && p + 3 < end && p[1] == 'x' && IsHexDigit(p[2]) && IsHexDigit(p[3])) {
          current.push_back(static_cast<char>(HexValue(p[2]) * 16 + HexValue(p[3])));
          p += 3;
        } else if (*p == '\\' && more) {
          p++;
          switch (*p) {
            case 'n':
              current.push_back('\n');
              break;
            case 'r':
              current.push_back('\r');
              break;
            case 't':
              current.push_back('\t');
              break;
            case 'b':
              current.push_back('\b');
              break;
            case 'a':
              current.push_back('\a');
              break;
            default:
              current.push_back(*p);
              break;
          }
        } else if (*p == '"') {
          // The closing quote must be followed by a blank or the end of the line.
          if (more && !IsSpace(p[1])) {
            return false;
          }
          done = true;
        } else {
          current.push_back(*p);
        }
      } else if (in_single) {
        if (p == end) {
          return false;
        }
        if (*p == '\\' && more && p[1] == '\'') {
          p++;
          current.push_back('\'');
        } else if (*p == '\'') {
          if (more && !IsSpace(p[1])) {
            return false;
          }
          done = true;
        } else {
          current.push_back(*p);
        }
      } else if (p == end || *p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') {
        done = true;
      } else if (*p == '"') {
        in_double = true;
      } else if (*p == '\'') {
        in_single = true;
      } else {
        current.push_back(*p);
      }
      if (p < end) {
        p++;
      }
    }
    out->push_back(std::move(current));
  }
}

}  // namespace

RespParser::RespParser(const ParserLimits& limits) : limits_(limits) {}

RespParser::Result RespParser::Parse(std::string_view input, std::vector<std::string_view>* args,
                                     size_t* consumed) {
  *consumed = 0;
  args->clear();
  if (!error_.empty()) {
    return Result::kError;
  }
  if (input.size() < seen_) {
    ResetCommand();  // the caller broke the REQUIRES; never look past the new input
  }
  size_t skipped = 0;  // bytes of empty commands skipped in this call
  while (true) {
    const std::string_view in = input.substr(skipped);
    switch (ParseOne(in, args)) {
      case Step::kCommand:
        *consumed = skipped + pos_;
        ResetCommand();
        return Result::kCommand;
      case Step::kSkip:
        skipped += pos_;
        ResetCommand();
        break;
      case Step::kNeedMore:
        *consumed = skipped;
        seen_ = in.size();
        return Result::kNeedMore;
      case Step::kError:
        return Result::kError;
    }
  }
}

size_t RespParser::BytesWanted() const {
  if (state_ == State::kBulkPayload) {
    const uint64_t end = pos_ + static_cast<uint64_t>(bulk_len_) + 2;
    if (end > seen_) {
      return static_cast<size_t>(end - seen_);
    }
  }
  return 1;
}

RespParser::Step RespParser::ParseOne(std::string_view in, std::vector<std::string_view>* args) {
  if (state_ == State::kStart) {
    if (in.empty()) {
      return Step::kNeedMore;
    }
    state_ = in[0] == '*' ? State::kMultibulkCount : State::kInline;
  }
  return state_ == State::kInline ? ParseInline(in, args) : ParseMultibulk(in, args);
}

RespParser::Step RespParser::ParseInline(std::string_view in, std::vector<std::string_view>* args) {
  // Redis fails an inline request once more than PROTO_INLINE_MAX_SIZE bytes have no
  // '\n'; a '\n' at offset <= max is accepted. Searching only that window keeps the
  // outcome independent of how the bytes were split into reads.
  const size_t window = std::min(in.size(), limits_.max_inline_len + 1);
  const char* newline = nullptr;
  if (scan_ < window) {
    newline = static_cast<const char*>(std::memchr(in.data() + scan_, '\n', window - scan_));
    bytes_scanned_ += (newline ? newline - in.data() + 1 : window) - scan_;
  }
  if (newline == nullptr) {
    scan_ = std::max(scan_, window);
    if (in.size() > limits_.max_inline_len) {
      return Fail(kTooBigInline);
    }
    return Step::kNeedMore;
  }
  size_t line_len = newline - in.data();
  pos_ = line_len + 1;
  if (line_len > 0 && in[line_len - 1] == '\r') {
    line_len--;
  }
  inline_args_.clear();
  if (!SplitInlineArgs(in.substr(0, line_len), &inline_args_)) {
    return Fail(kUnbalanced);
  }
  if (inline_args_.empty()) {
    return Step::kSkip;
  }
  args->reserve(inline_args_.size());
  for (const std::string& arg : inline_args_) {
    args->emplace_back(arg);
  }
  return Step::kCommand;
}

RespParser::Step RespParser::FindHeaderEnd(std::string_view in, const char* too_big, size_t* cr) {
  // Same window rule as inline requests: a header line has at most max_inline_len bytes
  // before its '\r'. Like Redis, the byte after '\r' must be present but is not checked.
  const size_t window = std::min(in.size(), pos_ + limits_.max_inline_len + 1);
  const size_t from = std::max(scan_, pos_);
  const char* found = nullptr;
  if (from < window) {
    found = static_cast<const char*>(std::memchr(in.data() + from, '\r', window - from));
    bytes_scanned_ += (found ? found - in.data() + 1 : window) - from;
  }
  if (found == nullptr) {
    scan_ = std::max(from, window);
    if (in.size() - pos_ > limits_.max_inline_len) {
      return Fail(too_big);
    }
    return Step::kNeedMore;
  }
  *cr = found - in.data();
  scan_ = *cr;  // found again at once when the byte after it arrives
  if (*cr + 1 >= in.size()) {
    return Step::kNeedMore;
  }
  return Step::kCommand;
}

RespParser::Step RespParser::ParseMultibulk(std::string_view in,
                                            std::vector<std::string_view>* args) {
  size_t cr = 0;
  int64_t n = 0;
  if (state_ == State::kMultibulkCount) {
    if (Step s = FindHeaderEnd(in, kTooBigMbulk, &cr); s != Step::kCommand) {
      return s;
    }
    if (!ParseInt64(in.substr(1, cr - 1), &n) ||
        (n > 0 && static_cast<uint64_t>(n) > limits_.max_multibulk_len)) {
      return Fail(kInvalidMbulk);
    }
    if (unauthenticated_ && n > kUnauthenticatedMaxArgs) return Fail(kUnauthMbulk);
    pos_ = cr + 2;
    if (n <= 0) {
      return Step::kSkip;  // "*0" and "*-1": Redis resets the client and goes on
    }
    multibulk_remaining_ = n;
    arg_offsets_.clear();
    // Grows with the arguments that arrive, not with the count a client announces.
    arg_offsets_.reserve(static_cast<size_t>(std::min<int64_t>(n, 1024)));
    state_ = State::kBulkHeader;
  }
  while (multibulk_remaining_ > 0) {
    if (state_ == State::kBulkHeader) {
      if (Step s = FindHeaderEnd(in, kTooBigBulk, &cr); s != Step::kCommand) {
        return s;
      }
      if (in[pos_] != '$') {
        char got = in[pos_];
        if (got == '\r' || got == '\n') {
          got = ' ';  // as addReplyErrorFormat does
        }
        return Fail(std::string("ERR Protocol error: expected '$', got '") + got + "'");
      }
      if (!ParseInt64(in.substr(pos_ + 1, cr - pos_ - 1), &n) || n < 0 ||
          static_cast<uint64_t>(n) > limits_.max_bulk_len) {
        return Fail(kInvalidBulk);
      }
      if (unauthenticated_ && n > kUnauthenticatedMaxBulk) return Fail(kUnauthBulk);
      pos_ = cr + 2;
      bulk_len_ = n;
      state_ = State::kBulkPayload;
    }
    // Like Redis, the two bytes after the payload are skipped without checking them.
    if (in.size() - pos_ < static_cast<uint64_t>(bulk_len_) + 2) {
      return Step::kNeedMore;
    }
    arg_offsets_.emplace_back(pos_, static_cast<size_t>(bulk_len_));
    pos_ += static_cast<size_t>(bulk_len_) + 2;
    scan_ = pos_;
    multibulk_remaining_--;
    state_ = State::kBulkHeader;
  }
  args->reserve(arg_offsets_.size());
  for (const auto& [offset, len] : arg_offsets_) {
    args->push_back(in.substr(offset, len));
  }
  return Step::kCommand;
}

RespParser::Step RespParser::Fail(std::string message) {
  error_ = std::move(message);
  return Step::kError;
}

void RespParser::ResetCommand() {
  state_ = State::kStart;
  pos_ = 0;
  scan_ = 0;
  seen_ = 0;
  multibulk_remaining_ = 0;
  bulk_len_ = -1;
  arg_offsets_.clear();
  if (arg_offsets_.capacity() > 4096) {
    arg_offsets_.shrink_to_fit();  // one huge command should not pin memory for good
  }
}

}  // namespace cairn::protocol
