#include "http/io_pool.h"

#include <algorithm>
#include <exception>

#include "common/log.h"

namespace kiln::http {

IoPool::IoPool(std::size_t threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  contexts_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) {
    // Concurrency hint 1: each context is run by one thread, so Asio may skip internal locking.
    contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
    guards_.emplace_back(boost::asio::make_work_guard(*contexts_.back()));
  }
  threads_.reserve(threads);
  for (auto& context : contexts_) {
    threads_.emplace_back([ctx = context.get()] {
      // A handler that throws must not end the loop (its connections and calls would hang):
      // log and run on. run() returns normally once stop() is called.
      for (;;) {
        try {
          ctx->run();
          return;
        } catch (const std::exception& e) {
          log::error("an event-loop handler threw; the loop goes on", {{"what", e.what()}});
        } catch (...) {
          log::error("an event-loop handler threw; the loop goes on");
        }
      }
    });
  }
}

IoPool::~IoPool() { stop(); }

boost::asio::io_context& IoPool::next() noexcept {
  return *contexts_[next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()];
}

void IoPool::stop() {
  if (stopped_.exchange(true)) return;
  for (auto& guard : guards_) guard.reset();
  for (auto& context : contexts_) context->stop();
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

}  // namespace kiln::http
