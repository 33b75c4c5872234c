// Adaptive batching over a real XGBoost model (trained by make_models.py): concurrent requests
// are answered exactly as the unbatched model answers them, and under concurrency they share
// backend calls.
#include "runtime/batching_backend.h"

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <thread>

#include "model_fixtures.h"
#include "runtime/xgboost_backend.h"

namespace kiln::runtime {
namespace {

using testing::model_fixtures;

Tensor rows_tensor(const std::vector<std::vector<float>>& rows, std::size_t first,
                   std::size_t count) {
  std::vector<float> values;
  for (std::size_t r = first; r < first + count; ++r) {
    values.insert(values.end(), rows[r].begin(), rows[r].end());
  }
  return {"input",
          DataType::kFp32,
          {static_cast<std::int64_t>(count), static_cast<std::int64_t>(rows[first].size())},
          std::move(values)};
}

std::unique_ptr<ModelBackend> load(const std::string& file) {
  auto loaded = load_xgboost(model_fixtures().path(file));
  EXPECT_TRUE(loaded.ok()) << loaded.error().to_string();
  return loaded.ok() ? std::move(loaded).value() : nullptr;
}

// Answers of `backend` for requests of `per_request` rows over every reference row, each sent
// `repeat` times, from `threads` threads started together; slot i holds the answers for rows
// [i * per_request, ...), one per repetition.
std::vector<std::vector<std::vector<float>>> answers(const ModelBackend& backend,
                                                     const std::string& model,
                                                     std::size_t per_request, int threads,
                                                     std::size_t repeat) {
  const auto rows = model_fixtures().rows(model);
  const std::size_t requests = rows.size() / per_request;
  std::vector<std::vector<std::vector<float>>> out(requests,
                                                   std::vector<std::vector<float>>(repeat));
  std::atomic<std::size_t> next{0};
  std::latch start(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      start.arrive_and_wait();
      for (std::size_t n = next++; n < requests * repeat; n = next++) {
        const std::size_t i = n % requests;
        const Tensor input = rows_tensor(rows, i * per_request, per_request);
        auto result = backend.predict(std::span(&input, 1));
        if (!result.ok()) {
          ADD_FAILURE() << result.error().to_string();
          continue;
        }
        EXPECT_EQ((*result)[0].shape[0], static_cast<std::int64_t>(per_request));
        out[i][n / requests] = std::get<std::vector<float>>((*result)[0].data);
      }
    });
  }
  for (auto& t : pool) t.join();
  return out;
}

struct Case {
  std::string model;  // make_models.py's file stem: binary (one output column), multiclass.
  std::size_t per_request;
  BatchingOptions options;
};

class BatchingBackendTest : public ::testing::TestWithParam<Case> {};

TEST_P(BatchingBackendTest, ConcurrentRequestsGetTheUnbatchedAnswersAndShareCalls) {
  const Case& c = GetParam();
  auto plain = load(c.model + ".json");
  ASSERT_NE(plain, nullptr);
  const auto expected = answers(*plain, c.model, c.per_request, 1, 1);
  BatchingBackend batched(load(c.model + ".json"), c.options);
  constexpr std::size_t kRepeat = 20;
  const auto got = answers(batched, c.model, c.per_request, 16, kRepeat);
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    for (std::size_t n = 0; n < kRepeat; ++n) {
      EXPECT_EQ(got[i][n], expected[i][0]) << "request " << i << ", repetition " << n;
    }
  }
  const BatchingStats stats = batched.stats();
  EXPECT_EQ(stats.batched_requests, got.size() * kRepeat);
  EXPECT_EQ(stats.solo_requests, 0u);
  EXPECT_LE(stats.largest_batch * c.per_request, c.options.max_batch_rows);
  // 16 threads against one dispatcher: calls are shared.
  EXPECT_LT(stats.batches, stats.batched_requests) << "no request shared a backend call";
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BatchingBackendTest,
    ::testing::Values(
        Case{"binary", 1, {.max_batch_rows = 32}},
        Case{"binary", 3, {.max_batch_rows = 16, .max_delay = std::chrono::microseconds(200)}},
        Case{"multiclass", 1, {.max_batch_rows = 8, .dispatchers = 2}},
        // Dispatchers waiting for a short batch while another takes the queue.
        Case{"multiclass",
             1,
             {.max_batch_rows = 8, .max_delay = std::chrono::microseconds(300), .dispatchers = 3}}),
    [](const auto& info) {
      return info.param.model + "_" + std::to_string(info.param.per_request) + "RowsPerRequest_" +
             std::to_string(info.param.options.dispatchers) + "Dispatchers_" +
             std::to_string(info.param.options.max_delay.count()) + "usDelay";
    });

TEST(BatchingBackend, RequestsThatCannotJoinRunAloneUnchanged) {
  auto plain = load("binary.json");
  ASSERT_NE(plain, nullptr);
  BatchingBackend batched(load("binary.json"), {.max_batch_rows = 4});
  const auto rows = model_fixtures().rows("binary");
  // More rows than a batch takes; an FP64 input; one column per tensor.
  Tensor big = rows_tensor(rows, 0, 6);
  Tensor fp64{"input", DataType::kFp64, big.shape, {}};
  const auto& floats = std::get<std::vector<float>>(big.data);
  fp64.data = std::vector<double>(floats.begin(), floats.end());
  for (const Tensor& input : {big, fp64}) {
    auto a = batched.predict(std::span(&input, 1));
    auto b = plain->predict(std::span(&input, 1));
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(std::get<std::vector<float>>((*a)[0].data),
              std::get<std::vector<float>>((*b)[0].data));
  }
  EXPECT_EQ(batched.stats().solo_requests, 2u);
  EXPECT_EQ(batched.stats().batches, 0u);
}

TEST(BatchingBackend, ABatchsErrorIsEveryMembersAnswerAndOthersAreUnaffected) {
  BatchingBackend batched(load("binary.json"), {.max_batch_rows = 64});
  const auto rows = model_fixtures().rows("binary");
  // Three features short of the model's: the model refuses it, with the same message to the
  // caller as without batching.
  Tensor wrong{"input", DataType::kFp32, {1, 3}, std::vector<float>{1, 2, 3}};
  auto refused = batched.predict(std::span(&wrong, 1));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().category(), ErrorCategory::kInvalidInput);
  const Tensor good = rows_tensor(rows, 0, 1);
  EXPECT_TRUE(batched.predict(std::span(&good, 1)).ok());
}

}  // namespace
}  // namespace kiln::runtime
