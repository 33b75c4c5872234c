// libFuzzer target over the OIP v2 gRPC request decoder (runtime/grpc_codec.h): the bytes of a
// ModelInferRequest as a client puts them on the wire, parsed by protobuf and decoded to the
// typed request, then the response encoder on the decoded inputs.
//
// Invariants (abort when one breaks), besides ASan and UBSan:
//   - parsing and decoding never have more than 64 B + 1 MiB of heap live at once (B the
//     message's bytes): nothing is sized from a field before the data that must back it is seen;
//   - a decoded tensor holds element_count(shape) values in the storage of its datatype;
//   - the decoded inputs, encoded as a response (raw and typed) and read back as a request of
//     the same form, decode to the same raw bytes: the encoder writes what the decoder reads.
//
// Run through CTest (fuzz_tests.cmake, runtime.fuzz_grpc_request) or by hand:
//   fuzz_grpc_request -max_len=4194304 -malloc_limit_mb=256 -max_total_time=60 \
//     NEW_CORPUS_DIR corpus/fuzz_grpc_request

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "grpc_predict_v2.pb.h"
#include "peak_allocation.h"
#include "runtime/grpc_codec.h"
#include "runtime/tensor.h"

namespace {

using kiln::runtime::Tensor;

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

// The response's outputs as the inputs of a request: the two messages carry tensors in the same
// fields (name, datatype, shape, contents; raw_output_contents <-> raw_input_contents).
inference::ModelInferRequest as_request(const inference::ModelInferResponse& response) {
  inference::ModelInferRequest request;
  for (const auto& out : response.outputs()) {
    auto* in = request.add_inputs();
    in->set_name(out.name());
    in->set_datatype(out.datatype());
    *in->mutable_shape() = out.shape();
    if (out.has_contents()) *in->mutable_contents() = out.contents();
  }
  for (const auto& raw : response.raw_output_contents()) request.add_raw_input_contents(raw);
  return request;
}

void check_round_trip(const std::vector<Tensor>& inputs, bool raw) {
  kiln::runtime::InferenceResponse response;
  response.model_name = "m";
  response.outputs = inputs;
  inference::ModelInferResponse encoded;
  kiln::runtime::encode_grpc_infer_response(response, raw, encoded);
  auto decoded = kiln::runtime::decode_grpc_infer_request(as_request(encoded));
  check(decoded.ok(), "the encoded inputs decode again");
  const auto& again = decoded->request.inputs;
  check(again.size() == inputs.size(), "the same number of tensors comes back");
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    check(again[i].name == inputs[i].name, "a tensor keeps its name");
    check(again[i].datatype == inputs[i].datatype, "a tensor keeps its datatype");
    check(again[i].shape == inputs[i].shape, "a tensor keeps its shape");
    check(raw_of(again[i]) == raw_of(inputs[i]), "a tensor keeps its values");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<Tensor> inputs;
  {
    kiln::fuzz::PeakAllocation peak;
    inference::ModelInferRequest message;
    if (!message.ParseFromArray(data, static_cast<int>(size))) return 0;
    auto decoded = kiln::runtime::decode_grpc_infer_request(message);
    check(peak.bytes() <= 64 * size + (1u << 20), "decoding keeps memory within 64 x the message");
    if (!decoded.ok()) {
      check(!decoded.error().message().empty(), "a refusal says why");
      return 0;
    }
    for (const Tensor& t : decoded->request.inputs) {
      check(t.size() == static_cast<std::size_t>(kiln::runtime::element_count(t.shape)),
            "a decoded tensor holds product(shape) values");
    }
    inputs = std::move(decoded->request.inputs);
  }
  check_round_trip(inputs, /*raw=*/true);
  check_round_trip(inputs, /*raw=*/false);
  return 0;
}
