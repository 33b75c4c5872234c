// The router's row-by-row comparison of two OIP answers: the decision rule per output kind and
// the output buckets, over answer bodies as `kiln-runtime serve` writes them.

#include "runtime/router_compare.h"

#include "runtime/oip_codec.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace kiln::runtime {
namespace {

using Buckets = std::map<std::string, std::uint64_t>;

std::string answer(const std::string& datatype, const std::string& shape, const std::string& data) {
  return R"({"model_name":"m","outputs":[{"name":"predict","datatype":")" + datatype +
         R"(","shape":)" + shape + R"(,"data":)" + data + "}]}";
}

struct CompareCase {
  const char* name;
  std::string a, b;
  RowRule rule;
  std::size_t rows, agreed;
  Buckets buckets_a, buckets_b;
};

void PrintTo(const CompareCase& c, std::ostream* os) { *os << c.name; }

class RouterCompare : public ::testing::TestWithParam<CompareCase> {};

TEST_P(RouterCompare, ComparesEveryRowOfABatch) {
  const CompareCase& c = GetParam();
  auto a = first_output_rows(c.a);
  auto b = first_output_rows(c.b);
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  ASSERT_TRUE(b.ok()) << b.error().to_string();
  auto compared = compare_rows(*a, *b);
  ASSERT_TRUE(compared.ok()) << compared.error().to_string();
  EXPECT_EQ(compared->rule, c.rule);
  EXPECT_EQ(compared->rows, c.rows);
  EXPECT_EQ(compared->agreed, c.agreed);
  EXPECT_EQ(compared->buckets_a, c.buckets_a);
  EXPECT_EQ(compared->buckets_b, c.buckets_b);
}

INSTANTIATE_TEST_SUITE_P(
    Outputs, RouterCompare,
    ::testing::Values(
        // A batch of 4 scores, one output [4]: each row on its side of 0.5 (row 1 differs).
        CompareCase{"ScoresPerRow",
                    answer("FP32", "[4]", "[0.1,0.6,0.9,0.4]"),
                    answer("FP32", "[4]", "[0.2,0.4,0.8,0.45]"),
                    RowRule::kThreshold, 4, 3,
                    {{"p:0.1", 1}, {"p:0.4", 1}, {"p:0.6", 1}, {"p:0.9", 1}},
                    {{"p:0.2", 1}, {"p:0.4", 2}, {"p:0.8", 1}}},
        // [rows, 1] is one score a row too; 1.0 lands in the last decile.
        CompareCase{"OneColumnScores",
                    answer("FP32", "[3,1]", "[[1.0],[0.0],[0.55]]"),
                    answer("FP32", "[3,1]", "[[0.97],[0.51],[0.5]]"),
                    RowRule::kThreshold, 3, 2,
                    {{"p:0.0", 1}, {"p:0.5", 1}, {"p:0.9", 1}},
                    {{"p:0.5", 2}, {"p:0.9", 1}}},
        // Class probabilities [rows, classes]: the argmax of each row, never over the batch.
        CompareCase{"ClassProbabilitiesPerRow",
                    answer("FP32", "[3,3]", "[0.7,0.2,0.1, 0.1,0.3,0.6, 0.4,0.5,0.1]"),
                    answer("FP32", "[3,3]", "[0.6,0.3,0.1, 0.2,0.5,0.3, 0.3,0.6,0.1]"),
                    RowRule::kArgmax, 3, 2,
                    {{"class:0", 1}, {"class:1", 1}, {"class:2", 1}},
                    {{"class:0", 1}, {"class:1", 2}}},
        // Nested row-major data reads as the flat one.
        CompareCase{"NestedData",
                    answer("FP64", "[2,2]", "[[0.1,0.9],[0.8,0.2]]"),
                    answer("FP64", "[2,2]", "[0.2,0.8,0.7,0.3]"),
                    RowRule::kArgmax, 2, 2,
                    {{"class:0", 1}, {"class:1", 1}},
                    {{"class:0", 1}, {"class:1", 1}}},
        // A regressor (values outside [0, 1]): within 10% of the larger magnitude agrees.
        CompareCase{"RegressorWithinRelativeTolerance",
                    answer("FP32", "[3]", "[100,200,-5]"),
                    answer("FP32", "[3]", "[105,250,-5.4]"),
                    RowRule::kTolerance, 3, 2,
                    {{"value:-4.757", 1}, {"value:90.51", 1}, {"value:181", 1}},
                    {{"value:-4.757", 1}, {"value:90.51", 1}, {"value:215.3", 1}}},
        // Integer labels (ONNX classifiers' first output) must be equal.
        CompareCase{"IntegerLabels",
                    answer("INT64", "[3]", "[0,2,1]"),
                    answer("INT64", "[3]", "[0,1,1]"),
                    RowRule::kEqual, 3, 2,
                    {{"label:0", 1}, {"label:1", 1}, {"label:2", 1}},
                    {{"label:0", 1}, {"label:1", 2}}},
        CompareCase{"StringLabels",
                    answer("BYTES", "[2]", R"(["cat","dog"])"),
                    answer("BYTES", "[2]", R"(["cat","cat"])"),
                    RowRule::kEqual, 2, 1,
                    {{"label:cat", 1}, {"label:dog", 1}},
                    {{"label:cat", 2}}},
        // A missing output value (null) agrees with a missing one only.
        CompareCase{"NullAgreesWithNullOnly",
                    answer("FP32", "[3]", "[null,0.7,null]"),
                    answer("FP32", "[3]", "[null,0.8,0.2]"),
                    RowRule::kThreshold, 3, 2,
                    {{"NaN", 2}, {"p:0.7", 1}},
                    {{"NaN", 1}, {"p:0.2", 1}, {"p:0.8", 1}}}),
    [](const auto& info) { return std::string(info.param.name); });

// 100 rows, one output [100]: the agreement is the share of rows, whatever the batch size, and
// each row is counted in the bucket of its own score.
TEST(RouterCompareBatch, AgreementOfABatchIsTheShareOfItsRows) {
  nlohmann::json a = nlohmann::json::array(), b = nlohmann::json::array();
  for (int i = 0; i < 100; ++i) {
    const double score = (i + 0.5) / 100;
    a.push_back(score);
    // Rows 47, 48 and 49 (0.475 .. 0.495) move to 0.5 on the other model: they change side.
    b.push_back(i >= 47 && i < 50 ? 0.5 : score);
  }
  auto ra = first_output_rows(answer("FP32", "[100]", a.dump()));
  auto rb = first_output_rows(answer("FP32", "[100]", b.dump()));
  ASSERT_TRUE(ra.ok() && rb.ok());
  auto c = compare_rows(*ra, *rb);
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->rows, 100u);
  EXPECT_EQ(c->agreed, 97u);
  EXPECT_EQ(c->buckets_a.at("p:0.4"), 10u);
  EXPECT_EQ(c->buckets_b.at("p:0.4"), 7u);
  EXPECT_EQ(c->buckets_b.at("p:0.5"), 13u);
  EXPECT_EQ(c->values, 100u);
  EXPECT_NEAR(c->absolute_difference, 0.025 + 0.015 + 0.005, 1e-5);
}

struct MismatchCase {
  const char* name;
  std::string a, b;
};

void PrintTo(const MismatchCase& c, std::ostream* os) { *os << c.name; }

class RouterCompareMismatch : public ::testing::TestWithParam<MismatchCase> {};

TEST_P(RouterCompareMismatch, AnswersThatCannotBeComparedAreRefused) {
  const MismatchCase& c = GetParam();
  auto a = first_output_rows(c.a);
  auto b = first_output_rows(c.b);
  EXPECT_FALSE(a.ok() && b.ok() && compare_rows(*a, *b).ok());
}

INSTANTIATE_TEST_SUITE_P(
    Answers, RouterCompareMismatch,
    ::testing::Values(
        MismatchCase{"OtherRowCount", answer("FP32", "[3]", "[0.1,0.2,0.3]"),
                     answer("FP32", "[4]", "[0.1,0.2,0.3,0.4]")},
        MismatchCase{"OtherClassCount", answer("FP32", "[2,2]", "[0.1,0.9,0.2,0.8]"),
                     answer("FP32", "[1,4]", "[0.1,0.9,0.2,0.8]")},
        MismatchCase{"ScoresAgainstLabels", answer("FP32", "[2]", "[0.1,0.9]"),
                     answer("INT64", "[2]", "[0,1]")},
        MismatchCase{"ShapeAndDataDisagree", answer("FP32", "[3]", "[0.1,0.9]"),
                     answer("FP32", "[3]", "[0.1,0.9,0.2]")},
        MismatchCase{"NoOutputs", R"({"model_name":"m","outputs":[]})",
                     answer("FP32", "[1]", "[0.1]")},
        MismatchCase{"NotJson", "{", answer("FP32", "[1]", "[0.1]")},
        // Found with the fuzz target: the element count wrapped to 4, read as 2^62 + 1 rows of
        // width 0, and comparing the answer with itself read far past its values.
        MismatchCase{"ShapeWhoseElementCountOverflows",
                     answer("FP32", "[4611686018427387905,4]", "[1,2,3,4]"),
                     answer("FP32", "[4611686018427387905,4]", "[1,2,3,4]")}),
    [](const auto& info) { return std::string(info.param.name); });

// A binary-extension answer (Inference-Header-Content-Length) reads as the same answer in JSON
// does, whichever of its outputs are binary.
TEST(AnswerFirstOutputRows, BinaryOutputsReadAsTheirJson) {
  InferenceResponse response;
  response.model_name = "m";
  response.outputs.push_back({"probabilities", DataType::kFp32, {3, 2},
                              std::vector<float>{0.125f, 0.875f, 0.75f, 0.25f, 0.5f, 0.5f}});
  response.outputs.push_back({"label", DataType::kInt64, {3}, std::vector<std::int64_t>{1, 0, 0}});
  const auto json_rows = first_output_rows(encode_infer_response(response));
  ASSERT_TRUE(json_rows.ok()) << json_rows.error().message();
  for (const std::vector<bool>& binary : {std::vector<bool>{true, true},
                                          std::vector<bool>{false, true},
                                          std::vector<bool>{true, false}}) {
    const auto encoded = encode_infer_response(response, binary);
    ASSERT_LT(encoded.json_bytes, encoded.body.size());
    const auto rows =
        answer_first_output_rows(encoded.body, std::to_string(encoded.json_bytes));
    ASSERT_TRUE(rows.ok()) << rows.error().message();
    EXPECT_EQ(rows->shape, json_rows->shape);
    EXPECT_EQ(rows->rows, 3u);
    EXPECT_EQ(rows->width, 2u);
    EXPECT_EQ(rows->values, json_rows->values);
    const auto same = compare_rows(*rows, *json_rows);
    ASSERT_TRUE(same.ok());
    EXPECT_EQ(same->agreed, 3u);
  }
  // No header: the whole body is JSON.
  const auto plain = answer_first_output_rows(encode_infer_response(response), "");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->values, json_rows->values);
}

TEST(AnswerFirstOutputRows, RefusesBinaryDataThatDoesNotFitTheAnswer) {
  InferenceResponse response;
  response.outputs.push_back({"p", DataType::kFp32, {2}, std::vector<float>{0.25f, 0.75f}});
  const auto encoded = encode_infer_response(response, {true});
  // Cut short: binary_data_size runs past the body.
  EXPECT_FALSE(answer_first_output_rows(encoded.body.substr(0, encoded.body.size() - 1),
                                        std::to_string(encoded.json_bytes))
                   .ok());
  // A header longer than the body, and one that is not a number.
  EXPECT_FALSE(answer_first_output_rows(encoded.body, std::to_string(encoded.body.size() + 1)).ok());
  EXPECT_FALSE(answer_first_output_rows(encoded.body, "twelve").ok());
}

}  // namespace
}  // namespace kiln::runtime
