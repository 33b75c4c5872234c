#include "runtime/batching_backend.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <variant>

namespace kiln::runtime {
namespace {

using Answer = Result<std::vector<Tensor>>;

// A request waiting in the queue. Lives on the caller's stack, which waits on the answer's
// future: once a dispatcher takes it, the promise moves into the dispatcher's Job, and `input` is
// read only until that member is answered.
struct Pending {
  const Tensor* input;  // The single [rows, features] FP32 input.
  std::int64_t rows;
  std::promise<Answer> answer;
};

// A request a dispatcher took: the caller's input (valid until answered) and its promise.
struct Job {
  const Tensor* input;
  std::int64_t rows;
  std::promise<Answer> answer;
  bool answered = false;

  void answer_with(Answer a) {
    answered = true;
    answer.set_value(std::move(a));
  }
};

bool same_kind(const Pending& a, const Pending& b) {
  return a.input->name == b.input->name && a.input->shape[1] == b.input->shape[1];
}

// Rows [first, last) of `t`, whose first dimension is the batch's rows.
Tensor slice_rows(const Tensor& t, std::int64_t first, std::int64_t last) {
  Tensor out{t.name, t.datatype, t.shape, {}};
  out.shape[0] = last - first;
  const auto per_row = element_count(std::span(t.shape).subspan(1));
  std::visit(
      [&](const auto& values) {
        using Values = std::decay_t<decltype(values)>;
        out.data = Values(values.begin() + first * per_row, values.begin() + last * per_row);
      },
      t.data);
  return out;
}

}  // namespace

struct BatchingBackend::Impl {
  std::unique_ptr<ModelBackend> inner;
  BatchingOptions options;
  mutable std::mutex mutex;
  std::condition_variable cv;
  std::deque<Pending*> queue;  // Guarded by mutex.
  bool stopping = false;       // Guarded by mutex.
  BatchingStats stats;         // Guarded by mutex.
  std::vector<std::thread> threads;

  bool joinable(std::span<const Tensor> inputs) const {
    if (inputs.size() != 1) return false;
    const Tensor& t = inputs[0];
    return t.datatype == DataType::kFp32 && t.shape.size() == 2 && t.shape[0] >= 1 &&
           t.shape[0] <= static_cast<std::int64_t>(options.max_batch_rows) &&
           std::holds_alternative<std::vector<float>>(t.data) &&
           t.size() == static_cast<std::size_t>(t.shape[0] * t.shape[1]);
  }

  // Rows of the queued requests that could join a batch led by `first`.
  std::int64_t joinable_rows(const Pending& first) const {
    std::int64_t rows = 0;
    for (const Pending* p : queue) {
      if (same_kind(first, *p)) rows += p->rows;
    }
    return rows;
  }

  // The next batch: the oldest request and the queued ones of its kind that fit, after waiting
  // up to max_delay for a short batch to fill. Empty when stopping with nothing queued.
  std::vector<Job> take_batch() {
    std::unique_lock lock(mutex);
    const auto max_rows = static_cast<std::int64_t>(options.max_batch_rows);
    for (;;) {
      cv.wait(lock, [&] { return stopping || !queue.empty(); });
      if (queue.empty()) return {};
      if (options.max_delay.count() > 0) {
        // Another dispatcher may take the queue while this one waits: check it on every wake.
        const auto deadline = std::chrono::steady_clock::now() + options.max_delay;
        while (!stopping && !queue.empty() && joinable_rows(*queue.front()) < max_rows &&
               cv.wait_until(lock, deadline) != std::cv_status::timeout) {
        }
      }
      if (!queue.empty()) break;
    }
    std::vector<Pending*> taken{queue.front()};
    queue.pop_front();
    std::int64_t rows = taken[0]->rows;
    for (auto it = queue.begin(); it != queue.end() && rows < max_rows;) {
      if (same_kind(*taken[0], **it) && rows + (*it)->rows <= max_rows) {
        rows += (*it)->rows;
        taken.push_back(*it);
        it = queue.erase(it);
      } else {
        ++it;
      }
    }
    ++stats.batches;
    stats.batched_requests += taken.size();
    stats.largest_batch = std::max<std::uint64_t>(stats.largest_batch, taken.size());
    std::vector<Job> batch;
    batch.reserve(taken.size());
    for (Pending* p : taken) batch.push_back({p->input, p->rows, std::move(p->answer)});
    return batch;
  }

  // Runs each request of `batch` on its own.
  void run_alone(std::vector<Job>& batch) const {
    for (Job& j : batch) j.answer_with(inner->predict(std::span(j.input, 1)));
  }

  void execute(std::vector<Job>& batch) const {
    if (batch.size() == 1) return run_alone(batch);
    const std::int64_t cols = batch[0].input->shape[1];
    std::int64_t total = 0;
    for (const Job& j : batch) total += j.rows;
    Tensor joined{batch[0].input->name, DataType::kFp32, {total, cols}, std::vector<float>()};
    auto& values = std::get<std::vector<float>>(joined.data);
    values.reserve(static_cast<std::size_t>(total * cols));
    for (const Job& j : batch) {
      const auto& part = std::get<std::vector<float>>(j.input->data);
      values.insert(values.end(), part.begin(), part.end());
    }
    Answer out = inner->predict(std::span(&joined, 1));
    if (!out.ok()) {
      for (Job& j : batch) j.answer_with(out.error());
      return;
    }
    const bool splittable = std::all_of(out->begin(), out->end(), [&](const Tensor& t) {
      return !t.shape.empty() && t.shape[0] == total;
    });
    if (!splittable) return run_alone(batch);
    std::int64_t first = 0;
    for (Job& j : batch) {
      std::vector<Tensor> mine;
      mine.reserve(out->size());
      for (const Tensor& t : *out) mine.push_back(slice_rows(t, first, first + j.rows));
      first += j.rows;
      j.answer_with(std::move(mine));
    }
  }

  void run() {
    for (;;) {
      std::vector<Job> batch = take_batch();
      if (batch.empty()) return;
      try {
        execute(batch);
      } catch (const std::exception& e) {  // Allocation failure: answer, never strand a caller.
        for (Job& j : batch) {
          if (!j.answered) {
            j.answer_with(Error::terminal(std::string("batching failed: ") + e.what()));
          }
        }
      }
    }
  }
};

BatchingBackend::BatchingBackend(std::unique_ptr<ModelBackend> inner, BatchingOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->inner = std::move(inner);
  options.max_batch_rows = std::max<std::size_t>(options.max_batch_rows, 1);
  options.dispatchers = std::max<std::size_t>(options.dispatchers, 1);
  impl_->options = options;
  for (std::size_t i = 0; i < options.dispatchers; ++i) {
    impl_->threads.emplace_back([impl = impl_.get()] { impl->run(); });
  }
}

BatchingBackend::~BatchingBackend() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  for (auto& t : impl_->threads) t.join();
}

const ModelMetadata& BatchingBackend::metadata() const noexcept { return impl_->inner->metadata(); }

Result<std::vector<Tensor>> BatchingBackend::predict(std::span<const Tensor> inputs) const {
  if (!impl_->joinable(inputs)) {
    {
      std::lock_guard lock(impl_->mutex);
      ++impl_->stats.solo_requests;
    }
    return impl_->inner->predict(inputs);
  }
  Pending pending{&inputs[0], inputs[0].shape[0], {}};
  auto answer = pending.answer.get_future();
  {
    std::unique_lock lock(impl_->mutex);
    if (impl_->stopping) {
      ++impl_->stats.solo_requests;
      lock.unlock();
      return impl_->inner->predict(inputs);
    }
    impl_->queue.push_back(&pending);
  }
  impl_->cv.notify_one();
  return answer.get();
}

BatchingStats BatchingBackend::stats() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->stats;
}

}  // namespace kiln::runtime
