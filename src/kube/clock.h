#pragma once

// Time, injected. Everything in src/kube that waits or measures asks a Clock, so tests drive time
// by hand (ManualClock) instead of sleeping.

#include <chrono>
#include <mutex>

namespace kiln::kube {

// A monotonic clock. Implementations are thread-safe.
class Clock {
 public:
  using duration = std::chrono::steady_clock::duration;
  using time_point = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual time_point now() const = 0;
};

// std::chrono::steady_clock.
class SystemClock final : public Clock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
  // A process-wide instance, never destroyed.
  static SystemClock& instance() {
    static auto* clock = new SystemClock;
    return *clock;
  }
};

// A clock that moves only when told to. Starts at an arbitrary fixed time point. Thread-safe.
class ManualClock final : public Clock {
 public:
  time_point now() const override {
    std::lock_guard lock(mutex_);
    return now_;
  }
  void advance(duration d) {
    std::lock_guard lock(mutex_);
    now_ += d;
  }

 private:
  mutable std::mutex mutex_;
  time_point now_ = time_point(std::chrono::hours(1000));
};

}  // namespace kiln::kube
