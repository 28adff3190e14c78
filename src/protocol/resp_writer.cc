// Reply encodings follow Redis 7.0's networking.c (addReply* functions), including the
// RESP2 forms RESP3-only types degrade to.
#include <charconv>
#include <cmath>
#include <cstring>

#include "protocol/resp.h"

namespace cairn::protocol {
namespace {

// "%.17g" ("inf", "-inf", "nan" and "-nan" as glibc prints them) into buf; returns the
// length. 32 bytes hold any double in that format ("-1.2345678901234567e-308").
size_t FormatDoubleTo(double v, char (&buf)[32]) {
  if (std::isinf(v)) {
    // Redis spells infinities itself rather than trust libc.
    const char* s = v > 0 ? "inf" : "-inf";
    const size_t n = std::strlen(s);
    std::memcpy(buf, s, n);
    return n;
  }
  // Never fails: the buffer is large enough.
  return std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::general, 17).ptr - buf;
}

}  // namespace

std::string FormatDouble(double v) {
  char buf[32];
  return std::string(buf, FormatDoubleTo(v, buf));
}

void ReplyWriter::Header(char type, uint64_t n) {
  char buf[24];
  buf[0] = type;
  char* end = std::to_chars(buf + 1, buf + sizeof(buf) - 2, n).ptr;
  *end++ = '\r';
  *end++ = '\n';
  out_->append(buf, end - buf);
}

void ReplyWriter::Line(char type, std::string_view s) {
  const size_t start = out_->size() + 1;
  out_->push_back(type);
  out_->append(s);
  // A CR or LF would end the line early and desynchronise the client.
  for (size_t i = start; i < out_->size(); i++) {
    char& c = (*out_)[i];
    if (c == '\r' || c == '\n') {
      c = ' ';
    }
  }
  out_->append("\r\n", 2);
}

void ReplyWriter::SimpleString(std::string_view s) { Line('+', s); }

void ReplyWriter::Error(std::string_view message) { Line('-', message); }

void ReplyWriter::Integer(int64_t v) {
  char buf[24];
  buf[0] = ':';
  char* end = std::to_chars(buf + 1, buf + sizeof(buf) - 2, v).ptr;
  *end++ = '\r';
  *end++ = '\n';
  out_->append(buf, end - buf);
}

void ReplyWriter::Bulk(std::string_view s) {
  Header('$', s.size());
  out_->append(s);
  out_->append("\r\n", 2);
}

char* ReplyWriter::BulkSpace(size_t n) {
  Header('$', n);
  const size_t at = out_->size();
  out_->resize(at + n + 2);
  (*out_)[at + n] = '\r';
  (*out_)[at + n + 1] = '\n';
  return out_->data() + at;
}

void ReplyWriter::Null() {
  if (protocol_ >= 3) {
    out_->append("_\r\n", 3);
  } else {
    out_->append("$-1\r\n", 5);
  }
}

void ReplyWriter::NullArray() {
  if (protocol_ >= 3) {
    out_->append("_\r\n", 3);
  } else {
    out_->append("*-1\r\n", 5);
  }
}

void ReplyWriter::ArrayHeader(size_t n) { Header('*', n); }

void ReplyWriter::MapHeader(size_t pairs) {
  if (protocol_ >= 3) {
    Header('%', pairs);
  } else {
    Header('*', uint64_t{pairs} * 2);
  }
}

void ReplyWriter::SetHeader(size_t n) { Header(protocol_ >= 3 ? '~' : '*', n); }

void ReplyWriter::Double(double v) {
  char buf[32];
  const size_t n = FormatDoubleTo(v, buf);
  if (protocol_ >= 3) {
    out_->push_back(',');
    out_->append(buf, n);
    out_->append("\r\n", 2);
  } else {
    Bulk(std::string_view(buf, n));
  }
}

void ReplyWriter::Bool(bool v) {
  if (protocol_ >= 3) {
    out_->append(v ? "#t\r\n" : "#f\r\n", 4);
  } else {
    out_->append(v ? ":1\r\n" : ":0\r\n", 4);
  }
}

void ReplyWriter::Verbatim(std::string_view text) {
  if (protocol_ < 3) {
    Bulk(text);
    return;
  }
  Header('=', text.size() + 4);
  out_->append("txt:", 4);
  out_->append(text);
  out_->append("\r\n", 2);
}

void ReplyWriter::BulkArray(const std::vector<std::string>& items) {
  ArrayHeader(items.size());
  for (const std::string& item : items) {
    Bulk(item);
  }
}

}  // namespace cairn::protocol
