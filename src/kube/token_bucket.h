#pragma once

// A token bucket (the shape of golang.org/x/time/rate, which client-go and its work queue use):
// `qps` tokens per second refill a bucket holding at most `burst`. A reservation always succeeds
// and says how long to wait; tokens may go negative, so waiters queue in reservation order.

#include <algorithm>
#include <chrono>
#include <mutex>

#include "kube/clock.h"

namespace kiln::kube {

class TokenBucket {
 public:
  // qps <= 0 means unlimited (every reservation waits zero). burst >= 1. `clock` must outlive this.
  TokenBucket(double qps, double burst, const Clock& clock)
      : qps_(qps),
        burst_(std::max(1.0, burst)),
        tokens_(burst_),
        last_(clock.now()),
        clock_(clock) {}

  // Takes one token and returns how long the caller must wait before acting (zero when a token was
  // available). Thread-safe.
  Clock::duration reserve() {
    if (qps_ <= 0) return Clock::duration::zero();
    std::lock_guard lock(mutex_);
    auto now = clock_.now();
    double elapsed = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    tokens_ = std::min(burst_, tokens_ + elapsed * qps_);
    tokens_ -= 1;
    if (tokens_ >= 0) return Clock::duration::zero();
    return std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(-tokens_ / qps_));
  }

  double qps() const { return qps_; }
  double burst() const { return burst_; }

 private:
  const double qps_;
  const double burst_;
  std::mutex mutex_;
  double tokens_;           // Guarded by mutex_. May be negative (reserved ahead).
  Clock::time_point last_;  // Guarded by mutex_.
  const Clock& clock_;
};

}  // namespace kiln::kube
