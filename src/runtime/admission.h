#pragma once

// Bounded concurrency with a bounded wait queue: at most `max_concurrency` requests run at once,
// at most `max_queue` more wait (up to `queue_timeout`) for a slot, and the rest are turned away
// at once. The server maps kQueueFull to 429 Too Many Requests and kTimedOut to 503.
//
// Thread-safe: admit() and Ticket destruction may happen on any thread.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace kiln::runtime {

class AdmissionControl {
 public:
  enum class Outcome { kAdmitted, kQueueFull, kTimedOut };

  // Holds one running slot while alive (when admitted); releasing wakes one waiter. Movable.
  class Ticket {
   public:
    Ticket() = default;
    explicit Ticket(AdmissionControl* owner) : owner_(owner) {}
    Ticket(Ticket&& other) noexcept : owner_(other.owner_) { other.owner_ = nullptr; }
    Ticket& operator=(Ticket&& other) noexcept {
      if (this != &other) {
        release();
        owner_ = other.owner_;
        other.owner_ = nullptr;
      }
      return *this;
    }
    ~Ticket() { release(); }
    bool admitted() const noexcept { return owner_ != nullptr; }

   private:
    void release() noexcept {
      if (owner_ != nullptr) owner_->release();
      owner_ = nullptr;
    }
    AdmissionControl* owner_ = nullptr;
  };

  // max_concurrency >= 1. The object must outlive every Ticket it hands out.
  AdmissionControl(std::size_t max_concurrency, std::size_t max_queue,
                   std::chrono::milliseconds queue_timeout)
      : max_running_(max_concurrency < 1 ? 1 : max_concurrency),
        max_waiting_(max_queue),
        timeout_(queue_timeout) {}

  // Takes a slot, waiting in the queue (up to queue_timeout) when all are busy. The Ticket is
  // admitted only with Outcome::kAdmitted.
  Outcome admit(Ticket& ticket) { return admit(ticket, timeout_); }

  // The same, waiting at most `timeout` (a caller that already spent part of its queue time
  // elsewhere passes what is left; zero or less: no wait).
  Outcome admit(Ticket& ticket, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (running_ < max_running_) {
      ++running_;
      ticket = Ticket(this);
      return Outcome::kAdmitted;
    }
    if (waiting_ >= max_waiting_) return Outcome::kQueueFull;
    ++waiting_;
    const bool got = freed_.wait_for(lock, std::max(timeout, std::chrono::milliseconds(0)),
                                     [this] { return running_ < max_running_; });
    --waiting_;
    if (!got) return Outcome::kTimedOut;
    ++running_;
    ticket = Ticket(this);
    return Outcome::kAdmitted;
  }

  // Requests running now.
  std::size_t running() const {
    std::lock_guard lock(mutex_);
    return running_;
  }

 private:
  void release() noexcept {
    {
      std::lock_guard lock(mutex_);
      --running_;
    }
    freed_.notify_one();
  }

  const std::size_t max_running_;
  const std::size_t max_waiting_;
  const std::chrono::milliseconds timeout_;
  mutable std::mutex mutex_;
  std::condition_variable freed_;
  std::size_t running_ = 0;  // Guarded by mutex_.
  std::size_t waiting_ = 0;  // Guarded by mutex_.
};

}  // namespace kiln::runtime
