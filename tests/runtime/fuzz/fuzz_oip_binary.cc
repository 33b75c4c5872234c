// libFuzzer target over the binary tensor extension of the OIP REST codec (oip_codec.h): a body
// whose first N bytes are JSON (N the Inference-Header-Content-Length) and the rest binary tensor
// data, and the binary response the server writes back.
//
// Input: 4 bytes, little-endian, taken modulo (the rest's size + 1) as N; then the body. So every
// split of a body is reachable, and N never exceeds it (parse_inference_header_length refuses
// that before the decoder is called, and is fuzzed here on the body's first bytes too).
//
// Invariants (abort when one breaks), besides ASan and UBSan:
//   - decoding never has more than 64 B + 1 MiB of heap live at once (B the body's bytes);
//   - a decoded tensor holds element_count(shape) values in the storage of its datatype;
//   - the decoded inputs, sent again as a binary request, decode to the same raw bytes;
//   - the inputs as binary outputs: the response's JSON is valid, each output's binary_data_size
//     is its raw size, the sizes add up to the bytes after the JSON, and each slice decodes back
//     to the same raw bytes.
//
// Run through CTest (fuzz_tests.cmake, runtime.fuzz_oip_binary) or by hand:
//   fuzz_oip_binary -dict=binary.dict -max_len=4194304 -malloc_limit_mb=256 -max_total_time=60 \
//     NEW_CORPUS_DIR corpus/fuzz_oip_binary

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "peak_allocation.h"
#include "runtime/oip_codec.h"
#include "runtime/tensor.h"

namespace {

using kiln::runtime::Tensor;
using json = nlohmann::json;

void check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

std::string raw_of(const Tensor& t) {
  std::string out;
  kiln::runtime::append_raw(t, out);
  return out;
}

// The inputs as a binary request: a JSON header with binary_data_size, then their raw data.
void check_request_round_trip(const std::vector<Tensor>& inputs) {
  json header = {{"inputs", json::array()}};
  std::string binary;
  for (const Tensor& t : inputs) {
    const std::string raw = raw_of(t);
    header["inputs"].push_back({{"name", t.name},
                                {"datatype", kiln::runtime::to_string(t.datatype)},
                                {"shape", t.shape},
                                {"parameters", {{"binary_data_size", raw.size()}}}});
    binary += raw;
  }
  const std::string text = header.dump(-1, ' ', false, json::error_handler_t::replace);
  auto again = kiln::runtime::decode_infer_request(text + binary, text.size());
  // Names with invalid UTF-8 are replaced in the header; the data must read back whole.
  check(again.ok(), "a re-encoded binary request was refused");
  check(again->inputs.size() == inputs.size(), "the binary request lost an input");
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    check(raw_of(again->inputs[i]) == raw_of(inputs[i]), "a binary input did not read back");
  }
}

// The inputs as binary outputs of a response.
void check_response_round_trip(const std::vector<Tensor>& outputs) {
  kiln::runtime::InferenceResponse response{"m", "1", "", json(), outputs};
  const auto encoded =
      kiln::runtime::encode_infer_response(response, std::vector<bool>(outputs.size(), true));
  check(encoded.json_bytes <= encoded.body.size(), "json_bytes is past the body");
  const json doc = json::parse(encoded.body.substr(0, encoded.json_bytes), nullptr, false);
  check(!doc.is_discarded(), "the binary response's JSON is not valid");
  check(doc["outputs"].size() == outputs.size(), "the response lost an output");
  std::string_view binary = std::string_view(encoded.body).substr(encoded.json_bytes);
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const json& out = doc["outputs"][i];
    check(!out.contains("data"), "a binary output also has data");
    const auto size = out["parameters"]["binary_data_size"].get<std::size_t>();
    check(size <= binary.size(), "binary_data_size runs past the body");
    auto back = kiln::runtime::decode_raw(outputs[i].datatype,
                                          static_cast<std::int64_t>(outputs[i].size()),
                                          binary.substr(0, size), "output");
    check(back.ok(), "a binary output does not decode");
    Tensor t = outputs[i];
    t.data = std::move(back).value();
    check(raw_of(t) == std::string(binary.substr(0, size)), "a binary output did not read back");
    binary.remove_prefix(size);
  }
  check(binary.empty(), "the binary outputs' sizes do not add up to the bytes after the JSON");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  const std::uint32_t prefix = static_cast<std::uint32_t>(data[0]) |
                               static_cast<std::uint32_t>(data[1]) << 8 |
                               static_cast<std::uint32_t>(data[2]) << 16 |
                               static_cast<std::uint32_t>(data[3]) << 24;
  const std::string_view body(reinterpret_cast<const char*>(data) + 4, size - 4);
  const std::size_t json_bytes = prefix % (body.size() + 1);
  // The header parser on arbitrary text: refuses or returns a length within the body.
  auto header = kiln::runtime::parse_inference_header_length(body.substr(0, 24), body.size());
  check(!header.ok() || !header->has_value() || **header <= body.size(),
        "a header length past the body was accepted");

  std::optional<kiln::Result<kiln::runtime::InferenceRequest>> request;
  {
    kiln::fuzz::PeakAllocation peak;
    request.emplace(kiln::runtime::decode_infer_request(body, json_bytes));
    check(peak.bytes() <= 64 * size + (1u << 20), "decoding took more than 64 x the body");
  }
  if (!request->ok()) {
    check(request->error().category() == kiln::ErrorCategory::kInvalidInput,
          "a bad body is not an invalid-input error");
    return 0;
  }
  const auto& inputs = (*request)->inputs;
  for (const Tensor& t : inputs) {
    check(static_cast<std::int64_t>(t.size()) == kiln::runtime::element_count(t.shape),
          "a tensor does not hold element_count(shape) values");
    check(t.data.index() == kiln::runtime::empty_data_for(t.datatype).index(),
          "a tensor's storage does not match its datatype");
  }
  check_request_round_trip(inputs);
  check_response_round_trip(inputs);
  return 0;
}
