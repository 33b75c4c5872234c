#include "runtime/oip_codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace kiln::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using json = nlohmann::json;

TEST(DecodeInferRequestTest, DecodesEveryFieldOfTheSpecExample) {
  auto r = decode_infer_request(R"({
    "id": "42", "parameters": {"priority": 1},
    "inputs": [{"name": "input0", "shape": [2, 2], "datatype": "UINT32", "data": [1, 2, 3, 4]},
               {"name": "input1", "shape": [3], "datatype": "BOOL", "data": [true, false, true]}],
    "outputs": [{"name": "output0"}]})");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->id, "42");
  EXPECT_EQ(r->parameters["priority"], 1);
  ASSERT_EQ(r->inputs.size(), 2u);
  EXPECT_EQ(r->inputs[0].datatype, DataType::kUint32);
  EXPECT_THAT(r->inputs[0].shape, ElementsAre(2, 2));
  EXPECT_THAT(std::get<std::vector<std::int64_t>>(r->inputs[0].data), ElementsAre(1, 2, 3, 4));
  EXPECT_THAT(std::get<std::vector<std::uint8_t>>(r->inputs[1].data), ElementsAre(1, 0, 1));
  ASSERT_EQ(r->outputs.size(), 1u);
  EXPECT_EQ(r->outputs[0].name, "output0");
}

TEST(DecodeInferRequestTest, FlattensNestedDataRowMajor) {
  auto r = decode_infer_request(
      R"({"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP64", "data": [[1, 2], [3, 4]]}]})");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_THAT(std::get<std::vector<double>>(r->inputs[0].data), ElementsAre(1, 2, 3, 4));
}

TEST(DecodeInferRequestTest, NullInFloatDataIsAMissingValue) {
  auto r = decode_infer_request(
      R"({"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1.5, null]}]})");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  const auto& v = std::get<std::vector<float>>(r->inputs[0].data);
  EXPECT_EQ(v[0], 1.5f);
  EXPECT_TRUE(std::isnan(v[1]));
}

// Python's json (tritonclient.http's JSON inputs) writes NaN, Infinity and -Infinity bare.
TEST(DecodeInferRequestTest, ReadsTheBareTokensPythonWritesForNonFiniteFloats) {
  auto r = decode_infer_request(
      R"({"id": "NaN Infinity", "inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP64",)"
      R"( "data": [[NaN, Infinity], [-Infinity, 2.5]]}], "parameters": {"tag": "-Infinity"}})");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  const auto& v = std::get<std::vector<double>>(r->inputs[0].data);
  ASSERT_EQ(v.size(), 4u);
  EXPECT_TRUE(std::isnan(v[0]));
  EXPECT_EQ(v[1], std::numeric_limits<double>::infinity());
  EXPECT_EQ(v[2], -std::numeric_limits<double>::infinity());
  EXPECT_EQ(v[3], 2.5);
  EXPECT_EQ(r->id, "NaN Infinity");  // Inside strings nothing changes.
  EXPECT_EQ(r->parameters["tag"], "-Infinity");
  // Why not rewrite to 1e999: nlohmann refuses a number that overflows a double.
  EXPECT_TRUE(nlohmann::json::parse("[1e999]", nullptr, false).is_discarded());
  // A string escaping a quote before the token: the scanner follows escapes.
  auto escaped = decode_infer_request(
      R"({"id": "a\"b", "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [NaN]}]})");
  ASSERT_TRUE(escaped.ok()) << escaped.error().to_string();
  EXPECT_TRUE(std::isnan(std::get<std::vector<float>>(escaped->inputs[0].data)[0]));
}

struct BadRequest {
  const char* body;
  const char* message;
};

class DecodeBadRequestTest : public ::testing::TestWithParam<BadRequest> {};

TEST_P(DecodeBadRequestTest, RefusesWithAMessageNamingTheProblem) {
  auto r = decode_infer_request(GetParam().body);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().category(), ErrorCategory::kInvalidInput);
  EXPECT_THAT(r.error().message(), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, DecodeBadRequestTest,
    ::testing::Values(
        BadRequest{R"({"inputs": [)", "not valid JSON"},
        BadRequest{R"({"inputs": [{"name":"x","shape":[1],"datatype":"FP32","data":[nan]}]})",
                   "not valid JSON"},
        // The rewritten tokens are values: where a value does not belong, still malformed.
        BadRequest{R"({"inputs": [{"name":"x","shape":[1],"datatype":"FP32","data":[1 NaN]}]})",
                   "not valid JSON"},
        BadRequest{R"({"inputs": [{"name":"x","shape":[1],"datatype":"INT32","data":[NaN]}]})",
                   "expected an integer for INT32"},
        BadRequest{"[1, 2]", "must be a JSON object"},
        BadRequest{R"({"inputs": []})", "non-empty array"},
        BadRequest{R"({"id": 5, "inputs": []})", "id must be a string"},
        BadRequest{R"({"inputs": [{"shape":[1],"datatype":"FP32","data":[1]}]})", "inputs[0].name"},
        BadRequest{R"({"inputs": [{"name":"x","shape":[1],"datatype":"FLOAT","data":[1]}]})",
                   "unknown datatype"},
        BadRequest{R"({"inputs": [{"name":"x","shape":[-1],"datatype":"FP32","data":[1]}]})",
                   "non-negative integers"},
        BadRequest{R"({"inputs": [{"name":"x","shape":[3],"datatype":"FP32","data":[1, 2]}]})",
                   "holds 3 elements but data has 2"},
        // Found by the fuzz target: no elements, but element_count() overflowed on the way.
        BadRequest{R"({"inputs": [{"name":"x","shape":[1099511627776,1099511627776,0],
                                   "datatype":"INT64","data":[]}]})",
                   "more elements than a 64-bit count holds"},
        BadRequest{R"({"inputs": [{"name":"x","shape":[2],"datatype":"FP32","data":[1,"a"]}]})",
                   "inputs[0].data[1]: expected a number for FP32"},
        BadRequest{R"({"inputs": [{"name":"x","shape":[1],"datatype":"INT32","data":[1.5]}]})",
                   "expected an integer for INT32"},
        BadRequest{R"({"inputs": [{"name":"x","shape":[1],"datatype":"UINT8","data":[256]}]})",
                   "out of range for UINT8"},
        BadRequest{R"({"inputs": [{"name":"x","shape":[1],"datatype":"INT8","data":[-129]}]})",
                   "out of range for INT8"},
        BadRequest{R"({"inputs": [{"name":"x","shape":[1],"datatype":"BOOL","data":[1]}]})",
                   "expected true or false"},
        BadRequest{R"({"inputs": [{"name":"x","shape":[1],"datatype":"BYTES","data":[1]}]})",
                   "expected a string for BYTES"},
        BadRequest{R"({"inputs": [{"name":"x","shape":[1],"datatype":"FP32","data":[1]}],
                      "outputs": [{"nom": "y"}]})",
                   "string name"}));

// Found by feeding the fuzz target deep bodies: a million nested levels (2 MB, under the 4 MiB
// body limit) overflowed the stack where the codec dumps or copies a value.
TEST(DecodeInferRequestTest, RefusesDeeplyNestedBodiesWithoutOverflowingTheStack) {
  const std::size_t n = 1'000'000;
  const std::string arrays = std::string(n, '[') + std::string(n, ']');
  std::string objects;
  for (std::size_t i = 0; i < n; ++i) objects += R"({"a":)";
  objects += "1" + std::string(n, '}');
  const std::string input = R"({"name":"x","datatype":"FP32","shape":[1],"data":[1]})";
  const std::vector<std::string> bodies = {
      R"({"inputs":[{"name":"x","datatype":"FP32","shape":)" + arrays + R"(,"data":[]}]})",
      R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[)" + objects + "]}]}",
      R"({"parameters":{"a":)" + arrays + R"(},"inputs":[)" + input + "]}",
      R"({"inputs":[)" + input + R"(],"outputs":[{"name":"x","parameters":)" + arrays + "}]}",
  };
  for (const auto& body : bodies) {
    auto r = decode_infer_request(body);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().category(), ErrorCategory::kInvalidInput);
    EXPECT_THAT(r.error().message(), HasSubstr("nests deeper than 64 levels"));
  }
}

TEST(DecodeInferRequestTest, AcceptsDataNestedAsDeepAsTheLimitAllows) {
  // Rank 32: the deepest data flatten() accepts, within the body's depth limit.
  const std::string data = std::string(32, '[') + "1" + std::string(32, ']');
  auto r = decode_infer_request(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":)" +
                                data + "}]}");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_THAT(std::get<std::vector<float>>(r->inputs[0].data), ElementsAre(1.0f));
}

TEST(EncodeInferResponseTest, WritesShortestFloatsAndEchoesIdAndParameters) {
  InferenceResponse response{"iris", "3", "req-1", json{{"batched", false}}, {}};
  response.outputs.push_back({"predict", DataType::kFp32, {3}, std::vector<float>{0.1f, NAN, 2}});
  response.outputs.push_back({"label", DataType::kBytes, {1}, std::vector<std::string>{"a\"b"}});
  response.outputs.push_back({"ok", DataType::kBool, {1}, std::vector<std::uint8_t>{1}});
  auto doc = json::parse(encode_infer_response(response));
  EXPECT_EQ(doc["model_name"], "iris");
  EXPECT_EQ(doc["model_version"], "3");
  EXPECT_EQ(doc["id"], "req-1");
  EXPECT_EQ(doc["parameters"]["batched"], false);
  EXPECT_EQ(doc["outputs"][0]["datatype"], "FP32");
  EXPECT_EQ(doc["outputs"][0]["shape"], json::array({3}));
  EXPECT_EQ(doc["outputs"][0]["data"], json::parse("[0.1, null, 2]"));
  EXPECT_EQ(doc["outputs"][1]["data"][0], "a\"b");
  EXPECT_EQ(doc["outputs"][2]["data"][0], true);
  EXPECT_THAT(encode_infer_response(response), HasSubstr("[0.1,null,2]"));
}

TEST(EncodeInferResponseTest, OmitsEmptyOptionalMembers) {
  auto doc = json::parse(encode_infer_response({"m", "", "", json(), {}}));
  EXPECT_FALSE(doc.contains("id"));
  EXPECT_FALSE(doc.contains("model_version"));
  EXPECT_FALSE(doc.contains("parameters"));
  EXPECT_EQ(doc["outputs"], json::array());
}

TEST(SelectOutputsTest, KeepsRequestedOutputsInRequestOrderAndRefusesUnknownOnes) {
  std::vector<Tensor> outs = {{"a", DataType::kFp32, {1}, std::vector<float>{1}},
                              {"b", DataType::kFp32, {1}, std::vector<float>{2}}};
  std::vector<RequestedOutput> want = {{"b", json()}};
  auto selected = select_outputs(outs, want);
  ASSERT_TRUE(selected.ok());
  ASSERT_EQ(selected->size(), 1u);
  EXPECT_EQ((*selected)[0].name, "b");
  std::vector<RequestedOutput> unknown = {{"zz", json()}};
  auto bad = select_outputs(outs, unknown);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message(), HasSubstr("\"zz\""));
}

TEST(ModelMetadataJsonTest, NotReadyModelShowsTheReason) {
  auto doc = model_metadata_json("m", "1", nullptr, "file missing");
  EXPECT_EQ(doc["state"], "UNAVAILABLE");
  EXPECT_EQ(doc["reason"], "file missing");
  ModelMetadata md{"xgboost", {{"input", DataType::kFp32, {-1, 4}}}, {}, {}};
  auto ready = model_metadata_json("m", "1", &md, "");
  EXPECT_EQ(ready["platform"], "xgboost");
  EXPECT_EQ(ready["inputs"][0]["shape"], json::parse("[-1, 4]"));
  EXPECT_FALSE(ready.contains("state"));
}

// --- Binary tensor extension ---------------------------------------------------------------------

std::string raw_floats(std::initializer_list<float> values) {
  std::string out;
  Tensor t{"", DataType::kFp32, {}, std::vector<float>(values)};
  append_raw(t, out);
  return out;
}

// A body of `header` JSON followed by `binary`, and the JSON's length (the header's value).
struct BinaryBody {
  std::string body;
  std::size_t json_bytes;
};
BinaryBody binary_body(const std::string& header, const std::string& binary) {
  return {header + binary, header.size()};
}

TEST(BinaryExtensionTest, DecodesBinaryInputsInOrderNextToJsonOnes) {
  std::string strings;
  append_raw({"", DataType::kBytes, {}, std::vector<std::string>{"hi", "there"}}, strings);
  const auto b = binary_body(R"({"inputs":[
      {"name":"a","shape":[2,2],"datatype":"FP32","parameters":{"binary_data_size":16}},
      {"name":"j","shape":[1],"datatype":"INT32","data":[7]},
      {"name":"s","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":15}}]})",
                             raw_floats({1, 2, 3, 4.5f}) + strings);
  auto r = decode_infer_request(b.body, b.json_bytes);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->inputs.size(), 3u);
  EXPECT_THAT(std::get<std::vector<float>>(r->inputs[0].data), ElementsAre(1, 2, 3, 4.5f));
  EXPECT_THAT(std::get<std::vector<std::int64_t>>(r->inputs[1].data), ElementsAre(7));
  EXPECT_THAT(std::get<std::vector<std::string>>(r->inputs[2].data), ElementsAre("hi", "there"));
}

TEST(BinaryExtensionTest, ReadsBinaryDataOutputAndPerOutputBinaryData) {
  auto r = decode_infer_request(R"({"parameters":{"binary_data_output":true},
      "inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}],
      "outputs":[{"name":"a","parameters":{"binary_data":false}},{"name":"b"}]})");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(r->binary_data_output);
  EXPECT_EQ(r->outputs[0].binary_data, false);
  EXPECT_EQ(r->outputs[1].binary_data, std::nullopt);
  EXPECT_THAT(binary_outputs(r->outputs, r->binary_data_output, 2), ElementsAre(false, true));
  EXPECT_THAT(binary_outputs({}, true, 3), ElementsAre(true, true, true));
  EXPECT_THAT(binary_outputs({}, false, 1), ElementsAre(false));
}

struct BadBinary {
  std::string json;
  std::string binary;
  const char* message;
};

class BinaryExtensionBadTest : public ::testing::TestWithParam<BadBinary> {};

TEST_P(BinaryExtensionBadTest, RefusesWithTheFieldNamed) {
  const auto b = binary_body(GetParam().json, GetParam().binary);
  auto r = decode_infer_request(b.body, b.json_bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().category(), ErrorCategory::kInvalidInput);
  EXPECT_THAT(r.error().message(), HasSubstr(GetParam().message));
}

const std::string kInput = R"({"name":"x","shape":[2],"datatype":"FP32")";

INSTANTIATE_TEST_SUITE_P(
    Cases, BinaryExtensionBadTest,
    ::testing::Values(
        BadBinary{R"({"inputs":[)" + kInput + R"(,"parameters":{"binary_data_size":8},
                  "data":[1,2]}]})",
                  raw_floats({1, 2}), "inputs[0] has both data and parameters.binary_data_size"},
        BadBinary{R"({"inputs":[)" + kInput + R"(,"parameters":{"binary_data_size":12}}]})",
                  raw_floats({1, 2, 3}),
                  "inputs[0].parameters.binary_data_size is 12 bytes; shape [2] of FP32 takes "
                  "2 x 4"},
        BadBinary{R"({"inputs":[)" + kInput + R"(,"parameters":{"binary_data_size":8}}]})",
                  raw_floats({1}),
                  "inputs[0].parameters.binary_data_size is 8 bytes, but only 4 bytes"},
        BadBinary{R"({"inputs":[)" + kInput + R"(,"parameters":{"binary_data_size":-8}}]})",
                  raw_floats({1, 2}), "binary_data_size must be a non-negative integer"},
        BadBinary{R"({"inputs":[)" + kInput + R"(,"parameters":{"binary_data_size":"8"}}]})",
                  raw_floats({1, 2}), "binary_data_size must be a non-negative integer"},
        BadBinary{R"({"inputs":[)" + kInput + R"(,"parameters":{"binary_data_size":8}}]})",
                  raw_floats({1, 2, 3}),
                  "12 bytes of binary data after its JSON (Inference-Header-Content-Length 91), "
                  "but the inputs' binary_data_size add up to 8"},
        BadBinary{R"({"inputs":[)" + kInput + R"(,"data":[1,2]}]})", raw_floats({1}),
                  "binary_data_size add up to 0"},
        BadBinary{R"({"inputs":[)" + kInput + R"(,"parameters":[]}]})", "",
                  "inputs[0].parameters must be an object"},
        BadBinary{R"({"inputs":[{"name":"s","shape":[2],"datatype":"BYTES",
                  "parameters":{"binary_data_size":5}}]})",
                  std::string("\x01\0\0\0a", 5), "inputs[0]: 5 bytes cannot hold 2 BYTES"},
        BadBinary{R"({"parameters":{"binary_data_output":1},"inputs":[)" + kInput +
                      R"(,"data":[1,2]}]})",
                  "", "parameters.binary_data_output must be true or false"},
        BadBinary{R"({"inputs":[)" + kInput + R"(,"data":[1,2]}],
                  "outputs":[{"name":"y","parameters":{"binary_data":"yes"}}]})",
                  "", "outputs[0].parameters.binary_data must be true or false"},
        BadBinary{R"({"inputs":[)" + kInput + R"(,"data":[1,2]}],
                  "outputs":[{"name":"y"},{"name":"z"},{"name":"y"}]})",
                  "", "outputs[2]: output \"y\" is requested twice"},
        BadBinary{R"({"inputs":[)", raw_floats({1}),
                  "the request's first 11 bytes (Inference-Header-Content-Length) are not "
                  "valid JSON"}));

TEST(BinaryExtensionTest, AnInputWithBinaryDataSizeButNoBinaryPartIsRefused) {
  auto r = decode_infer_request(R"({"inputs":[)" + kInput +
                                R"(,"parameters":{"binary_data_size":8}}]})");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message(), HasSubstr("but only 0 bytes of binary data are left"));
}

TEST(BinaryExtensionTest, HeaderLengthMustBeANumberWithinTheBody) {
  EXPECT_EQ(*parse_inference_header_length("", 10), std::nullopt);
  EXPECT_EQ(*parse_inference_header_length("10", 10), std::optional<std::size_t>(10));
  for (const char* bad : {"-1", "1x", " 5", "0x10", "99999999999999999999999"}) {
    auto r = parse_inference_header_length(bad, 10);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_THAT(r.error().message(), HasSubstr("Inference-Header-Content-Length")) << bad;
  }
  auto over = parse_inference_header_length("11", 10);
  ASSERT_FALSE(over.ok());
  EXPECT_THAT(over.error().message(), HasSubstr("11 bytes, more than the body's 10"));
}

TEST(BinaryExtensionTest, EncodesBinaryOutputsAfterTheJsonWithTheirSize) {
  InferenceResponse response{"m", "1", "", json(), {}};
  response.outputs.push_back({"p", DataType::kFp32, {2}, std::vector<float>{0.25f, 0.5f}});
  response.outputs.push_back({"l", DataType::kInt64, {1}, std::vector<std::int64_t>{3}});
  response.outputs.push_back({"s", DataType::kBytes, {1}, std::vector<std::string>{"yes"}});
  auto encoded = encode_infer_response(response, {true, false, true});
  const std::string header = encoded.body.substr(0, encoded.json_bytes);
  auto doc = json::parse(header);
  EXPECT_EQ(doc["outputs"][0]["parameters"]["binary_data_size"], 8);
  EXPECT_FALSE(doc["outputs"][0].contains("data"));
  EXPECT_EQ(doc["outputs"][1]["data"], json::array({3}));
  EXPECT_EQ(doc["outputs"][2]["parameters"]["binary_data_size"], 7);
  EXPECT_EQ(encoded.body.substr(encoded.json_bytes),
            raw_floats({0.25f, 0.5f}) + std::string("\x03\0\0\0yes", 7));
  auto plain = encode_infer_response(response, {});
  EXPECT_EQ(plain.json_bytes, plain.body.size());
  EXPECT_EQ(plain.body, encode_infer_response(response));
}

// A JSON element takes at least two bytes, so a shape claiming more elements than the JSON part
// can carry is refused before anything is reserved for them.
TEST(DecodeInferRequestTest, RefusesShapesLargerThanTheBodyCanCarryBeforeReserving) {
  auto r = decode_infer_request(
      R"({"inputs":[{"name":"x","shape":[100000000000],"datatype":"FP64","data":[1]}]})");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message(),
              HasSubstr("inputs[0]: shape [100000000000] holds 100000000000 elements, more than "
                        "the 77 bytes of JSON can carry"));
  // The bound is over all inputs: two that fit alone, too many together.
  std::string data = "[";
  for (int i = 0; i < 30; ++i) data += i == 0 ? "1" : ",1";
  data += "]";
  const std::string one = R"({"name":"x","shape":[30],"datatype":"FP32","data":)" + data + "}";
  EXPECT_TRUE(decode_infer_request(R"({"inputs":[)" + one + "]}").ok());
  auto two = decode_infer_request(R"({"inputs":[)" + one + "," + one + "]}");
  EXPECT_TRUE(two.ok()) << two.error().to_string();
}

TEST(SelectOutputsTest, RefusesAnOutputRequestedTwice) {
  std::vector<Tensor> outs = {{"a", DataType::kFp32, {1}, std::vector<float>{1}}};
  std::vector<RequestedOutput> twice = {{"a", json()}, {"a", json()}};
  auto r = select_outputs(outs, twice);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message(), HasSubstr("output \"a\" is requested twice"));
}

}  // namespace
}  // namespace kiln::runtime
