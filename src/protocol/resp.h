// RESP2/RESP3: the Redis wire protocol, as pure functions on bytes (no I/O), so it is
// unit-tested and fuzzed in isolation. Spec: https://redis.io/docs/reference/protocol-spec/
// What is accepted, the limits and the error strings: docs/protocol.md.
//
// RespParser turns the bytes a client sent into commands (arrays of bulk strings, or
// inline commands: one line split on spaces with Redis's quoting rules), incrementally
// and with Redis's limits and exact error strings. ReplyWriter appends replies in the
// connection's protocol version (2 or 3; RESP3 types degrade to their RESP2 forms).
#ifndef CAIRN_PROTOCOL_RESP_H_
#define CAIRN_PROTOCOL_RESP_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cairn::protocol {

struct ParserLimits {
  // Redis's proto-max-bulk-len: a bulk string longer than this is a protocol error
  // ("invalid bulk length").
  uint64_t max_bulk_len = uint64_t{512} << 20;
  // Arguments per multibulk command; more is "invalid multibulk length". Redis 7.0 allows
  // up to INT_MAX (and 10 before AUTH: RespParser::set_unauthenticated).
  // Memory grows with the arguments that actually arrive, never with the announced count.
  uint64_t max_multibulk_len = 2147483647;
  // Redis's PROTO_INLINE_MAX_SIZE: an inline command line, or a '*'/'$' header line,
  // longer than this is a protocol error ("too big inline request" / "too big mbulk count
  // string" / "too big bulk count string").
  size_t max_inline_len = size_t{64} * 1024;
};

// Not thread-safe; one per connection.
class RespParser {
 public:
  enum class Result {
    kCommand,   // *args holds one command; *consumed bytes of the input belong to it
    kNeedMore,  // the input ends inside a command: call again with more bytes appended
    kError,     // protocol error: error() is the reply; the connection must be closed
  };

  explicit RespParser(const ParserLimits& limits = {});

  // Parses the next command at the front of `input` (the bytes not yet consumed).
  // *consumed is always set; *args is cleared and, on kCommand, filled.
  //
  // On kCommand the arguments (at least one) are views into `input` (or into this
  // parser, for inline commands), valid until the next call; the caller drops *consumed
  // bytes before the next call. On kNeedMore the caller drops *consumed bytes (usually 0;
  // more when empty commands were skipped, see below), keeps the rest and calls again
  // once more bytes have arrived; the parser remembers how far it got, so a command
  // arriving in many pieces is not re-scanned from its start.
  //
  // Empty commands are skipped as Redis skips them, and parsing goes on with the bytes
  // after them in the same call: an empty inline line ("\r\n", "\n", or only blanks)
  // and a multibulk count <= 0 ("*0\r\n", "*-1\r\n").
  //
  // On kError (and on every later call) error() holds the reply.
  //
  // REQUIRES: after kNeedMore, `input` starts with the bytes kept from the previous call.
  // (A shorter input than last time makes the parser start the command over.)
  Result Parse(std::string_view input, std::vector<std::string_view>* args, size_t* consumed);

  // After kError: Redis's error reply text without the leading '-' and trailing CRLF,
  // e.g. "ERR Protocol error: invalid bulk length". Empty before any error.
  const std::string& error() const { return error_; }

  // While set (a client that must still authenticate), Redis 7's tighter limits apply to
  // the commands parsed from now on: more than 10 arguments is "unauthenticated multibulk
  // length", a bulk string longer than 16384 bytes "unauthenticated bulk length". Change
  // it only between commands (after kCommand).
  void set_unauthenticated(bool on) { unauthenticated_ = on; }

  // Bytes the parser knows it still needs before it can make progress (at least 1 after
  // kNeedMore): lets the caller size a read for a large bulk string. Inside a bulk
  // string's payload this is the rest of the payload plus its CRLF.
  size_t BytesWanted() const;

 private:
  friend class RespParserTestPeer;  // resp_parser_test_peer.h: white-box checks for tests

  enum class State {
    kStart,           // nothing of the current command parsed yet
    kInline,          // looking for the '\n' that ends an inline command
    kMultibulkCount,  // looking for the '\r' that ends "*<count>"
    kBulkHeader,      // inside a multibulk command, before "$<len>"
    kBulkPayload,     // inside a multibulk command, waiting for <len> bytes + CRLF
  };
  enum class Step { kCommand, kSkip, kNeedMore, kError };

  Step ParseOne(std::string_view in, std::vector<std::string_view>* args);
  Step ParseInline(std::string_view in, std::vector<std::string_view>* args);
  Step ParseMultibulk(std::string_view in, std::vector<std::string_view>* args);
  // Finds the '\r' ending the header line at pos_. Returns kCommand (meaning: found, at
  // *cr, with a byte after it), kNeedMore, or kError with `too_big` as the error.
  Step FindHeaderEnd(std::string_view in, const char* too_big, size_t* cr);
  Step Fail(std::string message);
  void ResetCommand();

  ParserLimits limits_;  // constant after construction
  bool unauthenticated_ = false;

  std::string error_;  // non-empty once a protocol error was seen: sticky
  // Progress through the current command. Offsets are relative to the start of the
  // unconsumed input, which is where the current command starts.
  State state_ = State::kStart;
  size_t pos_ = 0;                   // start of the next unparsed element
  size_t scan_ = 0;                  // bytes before this were searched for a line end, without luck
  size_t seen_ = 0;                  // input size at the last kNeedMore (for BytesWanted)
  int64_t multibulk_remaining_ = 0;  // bulk strings still to come
  int64_t bulk_len_ = -1;            // payload length, in kBulkPayload
  uint64_t bytes_scanned_ = 0;       // bytes searched for line ends, ever (for tests)
  std::vector<std::pair<size_t, size_t>> arg_offsets_;  // (offset, length) into input
  std::vector<std::string> inline_args_;                // the last inline command's arguments
};

// Appends replies to *out. Not thread-safe; one per connection. Simple strings and
// errors have any CR or LF replaced by a space so the reply stays well-formed.
class ReplyWriter {
 public:
  explicit ReplyWriter(std::string* out, int protocol = 2) : out_(out), protocol_(protocol) {}
  int protocol() const { return protocol_; }
  void set_protocol(int protocol) { protocol_ = protocol; }
  std::string* buffer() const { return out_; }

  void SimpleString(std::string_view s);  // +OK
  void Error(std::string_view message);   // -ERR ... (message without '-' and CRLF)
  void Integer(int64_t v);                // :1
  void Bulk(std::string_view s);          // $3\r\nfoo
  // A bulk string of n bytes whose contents the caller writes at the returned pointer
  // (valid until the next append): a large value read straight into the reply.
  char* BulkSpace(size_t n);
  void Null();                            // RESP2 $-1, RESP3 _
  void NullArray();                       // RESP2 *-1, RESP3 _
  void ArrayHeader(size_t n);             // *n
  void MapHeader(size_t pairs);           // RESP3 %n, RESP2 *2n
  void SetHeader(size_t n);               // RESP3 ~n, RESP2 *n
  void Double(double v);                  // RESP3 ,v  RESP2 bulk string (FormatDouble)
  void Bool(bool v);                      // RESP3 #t/#f, RESP2 :1/:0
  void Verbatim(std::string_view text);   // RESP3 =n\r\ntxt:..., RESP2 bulk string
  void BulkArray(const std::vector<std::string>& items);  // convenience: array of bulks

 private:
  void Header(char type, uint64_t n);        // <type><n>\r\n
  void Line(char type, std::string_view s);  // <type><s with CR/LF blanked>\r\n

  std::string* const out_;
  int protocol_;
};

// Redis 7.0's formatting of a double in replies (addReplyDouble: ZSCORE, ZINCRBY, GEODIST
// ...): printf "%.17g", untrimmed, so 1.1 is "1.1000000000000001" as in Redis 7.0 (7.2
// switched to the shortest round-trip form); "inf", "-inf", "nan". INCRBYFLOAT's reply
// uses a different, long-double "human" format that belongs to that command.
std::string FormatDouble(double v);

}  // namespace cairn::protocol

#endif  // CAIRN_PROTOCOL_RESP_H_
