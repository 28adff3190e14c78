// The server's log file: an spdlog sink that can be reopened at the same path, so that
// logrotate (or an operator) can move the file away and send SIGHUP; the next line goes
// to a new file at the configured path. Thread-safe: the sink's own mutex orders Reopen
// against the lines being written, on any thread.
#ifndef CAIRN_SERVER_LOG_FILE_H_
#define CAIRN_SERVER_LOG_FILE_H_

#include <mutex>
#include <string>

#include <spdlog/details/file_helper.h>
#include <spdlog/sinks/base_sink.h>

namespace cairn::server {

class ReopenableFileSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  // Opens (creates, appends to) `path`; throws spdlog::spdlog_ex when it cannot.
  explicit ReopenableFileSink(std::string path) : path_(std::move(path)) {
    file_.open(path_, /*truncate=*/false);
  }

  // Closes the file and opens `path` again (appending; created if it was moved away).
  // Throws spdlog::spdlog_ex when it cannot, and then keeps nothing open: lines are
  // dropped until the next successful Reopen.
  void Reopen() {
    std::lock_guard<std::mutex> l(mutex_);
    open_ = false;
    file_.reopen(/*truncate=*/false);
    open_ = true;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (!open_) return;
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    file_.write(formatted);
  }
  void flush_() override {
    if (open_) file_.flush();
  }

 private:
  const std::string path_;
  spdlog::details::file_helper file_;
  bool open_ = true;  // under mutex_; false after a failed Reopen
};

}  // namespace cairn::server

#endif  // CAIRN_SERVER_LOG_FILE_H_
