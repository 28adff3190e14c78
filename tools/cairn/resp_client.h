// A blocking RESP2 client for the CLI: pipelined commands over one TCP connection.
#ifndef CAIRN_TOOLS_CAIRN_RESP_CLIENT_H_
#define CAIRN_TOOLS_CAIRN_RESP_CLIENT_H_

#include <cstdint>
#include <string>
#include <vector>

namespace cairn::tools {

struct RespValue {
  char type = 0;  // '+', '-', ':', '$', '*'; '$' and '*' with is_null for nil
  bool is_null = false;
  std::string str;  // simple string, error or bulk
  int64_t num = 0;
  std::vector<RespValue> items;
};

class RespClient {
 public:
  // Connects to host:port; throws std::runtime_error on failure.
  RespClient(const std::string& host, int port);
  ~RespClient();
  RespClient(const RespClient&) = delete;
  RespClient& operator=(const RespClient&) = delete;

  // Queues a command; Flush sends everything queued; Read returns the next reply.
  void Send(const std::vector<std::string>& args);
  void Flush();
  RespValue Read();
  // Send + Flush + Read.
  RespValue Call(const std::vector<std::string>& args);

 private:
  char Byte();
  std::string Line();

  int fd_ = -1;
  std::string out_;
  std::string in_;
  size_t in_pos_ = 0;
};

}  // namespace cairn::tools

#endif  // CAIRN_TOOLS_CAIRN_RESP_CLIENT_H_
