#include "resp_client.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace cairn::tools {

RespClient::RespClient(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0) {
    throw std::runtime_error(absl::StrCat("resolving ", host, ": ", gai_strerror(rc)));
  }
  for (addrinfo* a = res; a != nullptr && fd_ < 0; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      fd_ = fd;
    } else {
      ::close(fd);
    }
  }
  ::freeaddrinfo(res);
  if (fd_ < 0) throw std::runtime_error(absl::StrCat("cannot connect to ", host, ":", port));
}

RespClient::~RespClient() {
  if (fd_ >= 0) ::close(fd_);
}

void RespClient::Send(const std::vector<std::string>& args) {
  absl::StrAppend(&out_, "*", args.size(), "\r\n");
  for (const auto& a : args) absl::StrAppend(&out_, "$", a.size(), "\r\n", a, "\r\n");
}

void RespClient::Flush() {
  size_t off = 0;
  while (off < out_.size()) {
    ssize_t n = ::send(fd_, out_.data() + off, out_.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error(absl::StrCat("send: ", std::strerror(errno)));
    off += static_cast<size_t>(n);
  }
  out_.clear();
}

char RespClient::Byte() {
  if (in_pos_ == in_.size()) {
    in_.resize(64 << 10);
    ssize_t n;
    do {
      n = ::recv(fd_, in_.data(), in_.size(), 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) throw std::runtime_error("the server closed the connection");
    in_.resize(static_cast<size_t>(n));
    in_pos_ = 0;
  }
  return in_[in_pos_++];
}

std::string RespClient::Line() {
  std::string line;
  while (true) {
    char c = Byte();
    if (c == '\r') {
      Byte();  // '\n'
      return line;
    }
    line.push_back(c);
  }
}

RespValue RespClient::Read() {
  RespValue v;
  v.type = Byte();
  std::string line = Line();
  switch (v.type) {
    case '+':
    case '-':
      v.str = std::move(line);
      return v;
    case ':':
      if (!absl::SimpleAtoi(line, &v.num)) throw std::runtime_error("malformed integer reply");
      return v;
    case '$': {
      int64_t len = 0;
      if (!absl::SimpleAtoi(line, &len)) throw std::runtime_error("malformed bulk reply");
      if (len < 0) {
        v.is_null = true;
        return v;
      }
      v.str.reserve(static_cast<size_t>(len));
      for (int64_t i = 0; i < len; i++) v.str.push_back(Byte());
      Byte();
      Byte();
      return v;
    }
    case '*': {
      int64_t n = 0;
      if (!absl::SimpleAtoi(line, &n)) throw std::runtime_error("malformed array reply");
      if (n < 0) {
        v.is_null = true;
        return v;
      }
      for (int64_t i = 0; i < n; i++) v.items.push_back(Read());
      return v;
    }
    default:
      throw std::runtime_error(
          absl::StrCat("unexpected reply type '", std::string(1, v.type), "'"));
  }
}

RespValue RespClient::Call(const std::vector<std::string>& args) {
  Send(args);
  Flush();
  return Read();
}

}  // namespace cairn::tools
