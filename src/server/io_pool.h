// The I/O threads: one io_context per thread, connections spread round-robin. Included
// only by the files that do networking (Asio headers are expensive to compile).
#ifndef CAIRN_SERVER_IO_POOL_H_
#define CAIRN_SERVER_IO_POOL_H_

#include <utility>  // before Asio: Boost 1.74 + GCC 12 in C++20 misses it

#include <atomic>
#include <boost/asio.hpp>
#include <memory>
#include <thread>
#include <vector>

namespace cairn::server {

class IoPool {
 public:
  explicit IoPool(int threads) {
    for (int i = 0; i < threads; i++) {
      contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
      guards_.emplace_back(boost::asio::make_work_guard(*contexts_.back()));
    }
  }
  ~IoPool() { Join(); }

  void Start() {
    for (auto& ctx : contexts_) threads_.emplace_back([c = ctx.get()] { c->run(); });
  }
  // The context for the next connection.
  boost::asio::io_context& Next() {
    return *contexts_[next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()];
  }
  boost::asio::io_context& First() { return *contexts_[0]; }
  std::vector<boost::asio::io_context*> contexts() {
    std::vector<boost::asio::io_context*> all;
    for (auto& ctx : contexts_) all.push_back(ctx.get());
    return all;
  }
  bool running() const { return !threads_.empty(); }
  size_t size() const { return contexts_.size(); }
  // Lets the loops end once their work is done (connections closed).
  void Release() { guards_.clear(); }
  void StopAll() {
    for (auto& ctx : contexts_) ctx->stop();
  }
  void Join() {
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    threads_.clear();
  }

 private:
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
  std::atomic<size_t> next_{0};
};

}  // namespace cairn::server

#endif  // CAIRN_SERVER_IO_POOL_H_
