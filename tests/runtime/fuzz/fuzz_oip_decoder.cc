// libFuzzer target over the Open Inference Protocol request path of kiln-runtime: every step the
// server takes on an untrusted body before and after the model runs (inference_service.cc):
//
//   decode_infer_request(body) -> to_feature_matrix(inputs)    (what tabular backends and the
//                                                               served profile read)
//                              -> select_outputs(..., outputs) (the client's output selection)
//                              -> encode_infer_response(...)   (echoed id, parameters, tensors)
//
// Besides crashes, leaks and undefined behaviour (the build adds ASan and UBSan), it checks the
// invariants the backends rely on, aborting when one breaks:
//   - decoding a body of B bytes never has more than 64 B + 1 MiB of heap live at once (counted
//     by peak_allocation.h): memory follows the body, never the shapes it claims;
//   - a decoded tensor holds element_count(shape) values, in the storage of its datatype;
//   - a feature matrix holds rows * cols values;
//   - selected outputs are the requested ones, in order;
//   - the response is valid JSON whose tensors keep their shapes and element counts.
//
// Run through CTest (fuzz_tests.cmake, test runtime.fuzz_oip_decoder) or by hand:
//   fuzz_oip_decoder -dict=oip.dict -max_len=4194304 -malloc_limit_mb=256 -max_total_time=60 \
//     NEW_CORPUS_DIR corpus/fuzz_oip_decoder

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
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

void check_tensors(const std::vector<Tensor>& tensors) {
  for (const Tensor& t : tensors) {
    for (std::int64_t d : t.shape) check(d >= 0, "a shape dimension is negative");
    check(static_cast<std::int64_t>(t.size()) == kiln::runtime::element_count(t.shape),
          "a tensor does not hold element_count(shape) values");
    check(t.data.index() == kiln::runtime::empty_data_for(t.datatype).index(),
          "a tensor's storage does not match its datatype");
  }
}

void check_feature_matrix(const std::vector<Tensor>& inputs) {
  auto m = kiln::runtime::to_feature_matrix(inputs);
  if (!m.ok()) return;
  check(m->rows >= 0 && m->cols >= 0, "a feature matrix has a negative dimension");
  std::int64_t cells = 0;
  check(!__builtin_mul_overflow(m->rows, m->cols, &cells), "rows * cols overflows");
  check(static_cast<std::size_t>(cells) == m->values.size(),
        "a feature matrix does not hold rows * cols values");
}

void check_response(const kiln::runtime::InferenceRequest& request,
                    const std::vector<Tensor>& outputs) {
  kiln::runtime::InferenceResponse response{"model", "1", request.id, request.parameters, outputs};
  const std::string body = kiln::runtime::encode_infer_response(response);
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  check(!doc.is_discarded(), "the response is not valid JSON");
  check(doc["outputs"].size() == outputs.size(), "the response lost an output");
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const json& out = doc["outputs"][i];
    check(out["shape"] == json(outputs[i].shape), "the response changed a shape");
    check(out["data"].size() == outputs[i].size(), "the response changed an element count");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  kiln::Result<kiln::runtime::InferenceRequest> request = kiln::Error::invalid_input("");
  {
    kiln::fuzz::PeakAllocation peak;
    request = kiln::runtime::decode_infer_request(body);
    check(peak.bytes() <= 64 * size + (1u << 20), "decoding took more than 64 x the body");
  }
  if (!request.ok()) {
    check(request.error().category() == kiln::ErrorCategory::kInvalidInput,
          "a bad body is not an invalid-input error");
    return 0;
  }
  check(!request->inputs.empty(), "a request decoded without inputs");
  check_tensors(request->inputs);
  check_feature_matrix(request->inputs);
  // The inputs stand in for a model's outputs: the codec does not care where tensors come from.
  auto selected = kiln::runtime::select_outputs(request->inputs, request->outputs);
  if (selected.ok()) {
    const std::size_t want =
        request->outputs.empty() ? request->inputs.size() : request->outputs.size();
    check(selected->size() == want, "select_outputs returned the wrong number of outputs");
    for (std::size_t i = 0; i < request->outputs.size(); ++i) {
      check((*selected)[i].name == request->outputs[i].name, "select_outputs reordered outputs");
    }
    check_response(*request, *selected);
  }
  return 0;
}
