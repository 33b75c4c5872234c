#pragma once

// Internal to the ONNX backend: an ONNX graph compiled into an execution plan.
//
// compile() does everything that does not depend on a request, once: it checks every node's
// (domain, op_type) against the supported operators, builds one Kernel per node (attributes
// decoded into typed members, tree ensembles into flat node arrays), decodes the initializers,
// gives every value name a slot number and orders the nodes topologically (Kahn's algorithm,
// keeping the file's order among ready nodes). run() then only walks the steps.
//
// Thread-safety: a Plan is immutable after compile(); run() is const and keeps its values in
// per-call storage, so any number of threads may call it at once without locks.

#include <onnx/onnx_pb.h>  // The ONNX-ML schema with ONNX_ML defined (onnx.cmake).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "runtime/onnx/kernel.h"

namespace kiln::runtime::onnx_eval {

// A graph input the request feeds (initializers listed as inputs by IR < 4 files excluded).
struct GraphInput {
  std::string name;
  ElemType type = ElemType::kFloat;
  std::vector<std::int64_t> dims;  // As declared; -1 for a symbolic or absent dimension.
  int slot = 0;
};

// A graph output, in the graph's order.
struct GraphOutput {
  std::string name;
  ElemType type = ElemType::kFloat;  // FLOAT for a ZipMap output.
  std::vector<std::int64_t> dims;    // As declared; -1 unknown. [-1, classes] for a ZipMap.
  std::vector<std::int64_t> zipmap_labels_int64;  // The ZipMap's class labels, if it is one.
  std::vector<std::string> zipmap_labels_string;
  bool zipmap = false;  // Declared seq(map(K, float)) and produced by ZipMap.
  int slot = 0;
};

class Plan {
 public:
  // Compiles the main graph of `model`. Errors (invalid-input): an unsupported operator or
  // domain (the message names every such operator and its node), attributes a kernel cannot use,
  // a value consumed but never produced, a cycle, input/output types other than FLOAT, INT64
  // (and narrower integers) and STRING.
  // The plan shares ownership of `model`: kernels refer to their nodes for error messages.
  static Result<Plan> compile(std::shared_ptr<const ::onnx::ModelProto> model);

  const std::vector<GraphInput>& inputs() const noexcept { return inputs_; }
  const std::vector<GraphOutput>& outputs() const noexcept { return outputs_; }

  // Runs the graph. `inputs` holds one value per inputs() entry, in that order, already of the
  // declared element type. Returns one value per outputs() entry. Errors come from the kernels
  // (invalid-input for shapes that do not fit, terminal for a model that mixes types).
  Result<std::vector<Value>> run(std::vector<Value> inputs) const;

 private:
  struct Step {
    std::unique_ptr<Kernel> kernel;
    std::vector<int> inputs;  // Slot numbers; -1 for an absent optional input.
    std::vector<int> outputs;
  };

  std::shared_ptr<const ::onnx::ModelProto> model_;  // Owns the nodes steps point to.
  std::vector<Value> constants_;                     // Slots [0, constants_.size()).
  int slots_ = 0;
  std::vector<GraphInput> inputs_;
  std::vector<GraphOutput> outputs_;
  std::vector<Step> steps_;

  friend class PlanBuilder;
};

}  // namespace kiln::runtime::onnx_eval
