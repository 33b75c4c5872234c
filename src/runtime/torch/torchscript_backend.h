#pragma once

// The TorchScript backend: models saved by torch.jit.script / torch.jit.trace (torch.jit.save),
// run through libtorch's C++ API (https://pytorch.org/tutorials/advanced/cpp_export.html) as
// Debian packages it (libtorch 1.13). Built when libtorch is found (src/runtime/torch/torch.cmake,
// option KILN_WITH_TORCH) into the backend module libkiln-torch.so, whose one entry point
// (torchscript_module.cc, runtime/backend_module.h) calls load_torchscript: kiln-runtime reaches
// this backend through load_backend(ModelFormat::kTorchscript, ...) and never links libtorch.
//
// Loading: torch::jit::load once, on the CPU, then eval(). Loads are serialized by a process-wide
// mutex: torch::jit::load shares global registries that are not safe to fill concurrently.
//
// Inputs (the mapping of an OIP request to forward's arguments): one at::Tensor per OIP input, in
// the order of the request, passed positionally to forward(). A model whose forward takes one
// [batch, features] tensor therefore gets the request's single input of that shape. The OIP shape
// becomes the tensor's shape; the values are copied, so a model that writes its inputs in place
// cannot touch the request. Datatypes: FP32 -> float32, FP64 -> float64, FP16 -> float16,
// INT8/16/32/64 -> int8/16/32/64, UINT8 -> uint8, BOOL -> bool. BYTES and UINT16/32/64 (which
// libtorch 1.13 has no dtype for) are invalid-input, as is a number of inputs forward() does not
// accept (its schema's arguments, those with defaults optional).
//
// Outputs: forward() may return a Tensor, or a tuple or list of Tensors. Output i is named
// "output__<i>" (Triton's convention for TorchScript models), has the tensor's shape and the
// datatype of its dtype (float32 -> FP32, float64 -> FP64, float16/bfloat16 -> FP16 (values as
// floats), int8..int64 -> INT8..INT64, uint8 -> UINT8, bool -> BOOL). Any other return value is a
// terminal error.
//
// Errors from the model: libtorch reports inputs it cannot use (a wrong shape, a wrong dtype for an
// operator) by throwing from forward(): c10::Error, or the std::runtime_error the TorchScript
// interpreter wraps it in. predict() returns these as invalid-input (a 4xx for the client) with
// the error's own line, without the C++ backtrace or the model's source traceback. std::bad_alloc
// and other exceptions are terminal. Nothing is thrown out of predict().
//
// Metadata: platform "pytorch_torchscript" (KServe/Triton's name); inputs named after forward()'s
// arguments, FP32, shape [-1] (a TorchScript file records no shapes); outputs output__0.. as many
// as forward()'s declared return type says (1 when unknown), FP32, shape [-1].
//
// Thread-safety: predict() runs forward() concurrently on one module without locks, under
// c10::InferenceMode (no autograd records). libtorch's maintainers state that forward on one
// torch::jit::Module from many threads is safe as long as the model does not write its own state
// during inference (pytorch/pytorch#51452; "CPU threading and TorchScript inference",
// https://pytorch.org/docs/1.13/notes/cpu_threading_torchscript_inference.html). Models that
// mutate attributes in forward() are not supported.

#include <memory>
#include <string>

#include "runtime/backend.h"

namespace kiln::runtime {

struct TorchscriptOptions {
  // Intra-op threads (ATen's OpenMP pool) one forward() call may use. A server parallelises across
  // requests, so 1 avoids oversubscribing cores; raise it for large offline batches. 0 keeps
  // libtorch's default (the core count). ATen's setting is process-wide: the last model loaded
  // with a non-zero value sets it for every TorchScript model (at::set_num_threads).
  int threads_per_call = 1;
};

// Loads a TorchScript file (torch.jit.save). Errors: invalid-input naming the file and libtorch's
// message when the file is missing or not a TorchScript model. Thread-safe.
Result<std::unique_ptr<ModelBackend>> load_torchscript(const std::string& path,
                                                       const TorchscriptOptions& options = {});

}  // namespace kiln::runtime
