#pragma once

// Adaptive batching: a ModelBackend that queues concurrent predict() calls and runs them as one
// batch on the backend it wraps, as Triton's dynamic batcher and Clipper's adaptive batching do
// (Crankshaw et al., "Clipper: A Low-Latency Online Prediction Serving System", NSDI 2017, §4.3).
//
// Policy (greedy, so the batch size follows the load): a dispatcher thread takes every request
// waiting when it becomes free, up to `max_batch_rows` rows, optionally waiting up to `max_delay`
// for more while the batch is short. Under light load a request runs alone at once (no added
// latency with the default zero delay); under heavy load requests arriving while a batch runs
// form the next one, so one backend call serves many requests.
//
// Which requests join a batch: those with exactly one input tensor of rank 2 ([rows, features]),
// FP32, with the same name and feature count as the batch's first request, and no more rows than
// `max_batch_rows`. Anything else (several inputs, other datatypes, a different feature count)
// runs alone on the caller's thread, unchanged. The batch is one FP32 tensor [total rows,
// features]; every output whose first dimension is the total row count is split back by rows. A
// batch whose outputs cannot be split (an output without a row dimension) is run again request by
// request, so callers always get exactly what the unbatched backend would answer.
//
// Errors: a batch's error (e.g. a terminal error of the library) is every member's answer.
//
// Thread-safety: predict() may be called from any number of threads (it blocks until its batch
// ran); the wrapped backend's predict() is called from the dispatcher threads only, concurrently
// when `dispatchers` > 1, which the ModelBackend contract allows. Destruction waits for queued
// requests to be answered.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "runtime/backend.h"

namespace kiln::runtime {

struct BatchingOptions {
  std::size_t max_batch_rows = 32;         // Rows in one backend call (>= 1).
  std::chrono::microseconds max_delay{0};  // Longest wait for more requests while a batch is short.
  std::size_t dispatchers = 1;             // Threads calling the backend (>= 1).
};

// What the batcher did so far, for metrics and tests. Counters only grow.
struct BatchingStats {
  std::uint64_t batches = 0;  // Batches formed (sizes >= 1): one backend call each, or one per
                              // member when the outputs could not be split.
  std::uint64_t batched_requests = 0;  // Requests answered from those calls.
  std::uint64_t largest_batch = 0;     // Most requests one call served.
  std::uint64_t solo_requests = 0;     // Requests that could not join a batch and ran alone.
};

class BatchingBackend final : public ModelBackend {
 public:
  // `inner` is the loaded model. Starts the dispatcher threads.
  BatchingBackend(std::unique_ptr<ModelBackend> inner, BatchingOptions options);
  ~BatchingBackend() override;
  BatchingBackend(const BatchingBackend&) = delete;
  BatchingBackend& operator=(const BatchingBackend&) = delete;

  const ModelMetadata& metadata() const noexcept override;
  Result<std::vector<Tensor>> predict(std::span<const Tensor> inputs) const override;

  BatchingStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::runtime
