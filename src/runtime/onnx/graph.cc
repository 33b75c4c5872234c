#include "runtime/onnx/graph.h"

#include <map>
#include <queue>
#include <set>
#include <unordered_map>

namespace kiln::runtime::onnx_eval {
namespace {

using ::onnx::GraphProto;
using ::onnx::NodeProto;
using ::onnx::TensorProto;
using ::onnx::TypeProto;

std::string_view canonical_domain(std::string_view domain) {
  return domain == "ai.onnx" ? std::string_view() : domain;
}

const OpEntry* find_op(std::string_view domain, std::string_view op_type) {
  for (auto ops : {tensor_ops(), ml_ops(), tree_ops()}) {
    for (const auto& entry : ops) {
      if (entry.domain == canonical_domain(domain) && entry.op_type == op_type) return &entry;
    }
  }
  return nullptr;
}

std::string supported_list() {
  std::string out;
  for (auto ops : {tensor_ops(), ml_ops(), tree_ops()}) {
    for (const auto& entry : ops) out += (out.empty() ? "" : ", ") + std::string(entry.op_type);
  }
  return out;
}

Result<ElemType> elem_type(int onnx_type, const std::string& what) {
  switch (onnx_type) {
    case TensorProto::FLOAT:
      return ElemType::kFloat;
    case TensorProto::STRING:
      return ElemType::kString;
    case TensorProto::INT64:
    case TensorProto::INT32:
    case TensorProto::INT16:
    case TensorProto::INT8:
    case TensorProto::UINT32:
    case TensorProto::UINT16:
    case TensorProto::UINT8:
    case TensorProto::BOOL:
      return ElemType::kInt64;
    default:
      return Error::invalid_input(what + " has element type " +
                                  TensorProto::DataType_Name(onnx_type) +
                                  "; supported: FLOAT, INT8..INT64, UINT8..UINT32, BOOL, STRING");
  }
}

std::vector<std::int64_t> declared_dims(const TypeProto::Tensor& tensor) {
  std::vector<std::int64_t> dims;
  for (const auto& d : tensor.shape().dim()) {
    dims.push_back(d.has_dim_value() && d.dim_value() > 0 ? d.dim_value() : -1);
  }
  return dims;
}

}  // namespace

// Builds a Plan step by step; a friend of Plan.
class PlanBuilder {
 public:
  explicit PlanBuilder(std::shared_ptr<const ::onnx::ModelProto> model) {
    plan_.model_ = std::move(model);
  }

  Result<Plan> build() {
    const GraphProto& graph = plan_.model_->graph();
    read_opsets();
    if (auto ops = check_operators(graph); !ops.ok()) return std::move(ops).error();
    for (const auto& init : graph.initializer()) {
      auto value = decode_tensor(init);
      if (!value.ok()) return value.error().with_context("initializer");
      if (slot_of_.count(init.name()) == 0) {
        slot_of_[init.name()] = static_cast<int>(plan_.constants_.size());
        plan_.constants_.push_back(std::move(value).value());
      }
    }
    plan_.slots_ = static_cast<int>(plan_.constants_.size());
    for (const auto& in : graph.input()) {
      if (slot_of_.count(in.name()) != 0) continue;  // An initializer listed as an input.
      if (!in.type().has_tensor_type()) {
        return Error::invalid_input("graph input '" + in.name() + "' is not a tensor");
      }
      KILN_TRY(ElemType type,
               elem_type(in.type().tensor_type().elem_type(), "graph input '" + in.name() + "'"));
      plan_.inputs_.push_back(
          {in.name(), type, declared_dims(in.type().tensor_type()), new_slot(in.name())});
    }
    if (plan_.inputs_.empty()) return Error::invalid_input("the graph has no inputs");
    KILN_TRY(auto order, topological_order(graph));
    for (int n : order) {
      KILN_TRY(auto step, make_step(graph.node(n)));
      plan_.steps_.push_back(std::move(step));
    }
    for (const auto& out : graph.output()) {
      KILN_TRY(auto output, make_output(graph, out));
      plan_.outputs_.push_back(std::move(output));
    }
    return std::move(plan_);
  }

 private:
  void read_opsets() {
    for (const auto& op : plan_.model_->opset_import()) {
      opsets_[std::string(canonical_domain(op.domain()))] = op.version();
    }
  }

  // Refuses the graph when any node's operator is unsupported, naming all of them.
  Result<void> check_operators(const GraphProto& graph) const {
    std::string unsupported;
    std::set<std::string> seen;
    for (const auto& node : graph.node()) {
      if (find_op(node.domain(), node.op_type()) != nullptr) continue;
      const std::string domain = node.domain().empty() ? "ai.onnx" : node.domain();
      if (!seen.insert(domain + "/" + node.op_type()).second) continue;
      unsupported += (unsupported.empty() ? "" : ", ") + std::string("'") + node.op_type() +
                     "' (domain " + domain + ", " + describe(node) + ")";
    }
    if (unsupported.empty()) return Ok();
    return Error::invalid_input("unsupported ONNX operator " + unsupported +
                                "; the ONNX backend evaluates: " + supported_list());
  }

  int new_slot(const std::string& name) {
    slot_of_[name] = plan_.slots_;
    return plan_.slots_++;
  }

  Result<std::vector<int>> topological_order(const GraphProto& graph) const {
    const int n = graph.node_size();
    std::unordered_map<std::string, int> producer;
    for (int k = 0; k < n; ++k) {
      for (const auto& out : graph.node(k).output()) {
        if (out.empty()) continue;
        if (slot_of_.count(out) != 0 || !producer.emplace(out, k).second) {
          return Error::invalid_input("value '" + out + "' is assigned more than once");
        }
      }
    }
    std::vector<int> waiting(static_cast<std::size_t>(n), 0);
    std::vector<std::vector<int>> consumers(static_cast<std::size_t>(n));
    for (int k = 0; k < n; ++k) {
      for (const auto& in : graph.node(k).input()) {
        if (in.empty() || slot_of_.count(in) != 0) continue;
        auto it = producer.find(in);
        if (it == producer.end()) {
          return Error::invalid_input(describe(graph.node(k)) + " reads '" + in +
                                      "', which no node, input or initializer produces");
        }
        ++waiting[static_cast<std::size_t>(k)];
        consumers[static_cast<std::size_t>(it->second)].push_back(k);
      }
    }
    std::priority_queue<int, std::vector<int>, std::greater<>> ready;
    for (int k = 0; k < n; ++k) {
      if (waiting[static_cast<std::size_t>(k)] == 0) ready.push(k);
    }
    std::vector<int> order;
    while (!ready.empty()) {
      const int k = ready.top();
      ready.pop();
      order.push_back(k);
      for (int c : consumers[static_cast<std::size_t>(k)]) {
        if (--waiting[static_cast<std::size_t>(c)] == 0) ready.push(c);
      }
    }
    if (static_cast<int>(order.size()) != n) return Error::invalid_input("the graph has a cycle");
    return order;
  }

  Result<Plan::Step> make_step(const NodeProto& node) {
    const std::string domain(canonical_domain(node.domain()));
    auto opset = opsets_.find(domain);
    const std::int64_t version = opset != opsets_.end() ? opset->second : 1;
    auto kernel = find_op(node.domain(), node.op_type())->make({node, version});
    if (!kernel.ok()) return kernel.error();
    Plan::Step step;
    step.kernel = std::move(kernel).value();
    for (const auto& in : node.input()) {
      step.inputs.push_back(in.empty() ? -1 : slot_of_.at(in));
    }
    for (const auto& out : node.output()) step.outputs.push_back(new_slot(out));
    return step;
  }

  const NodeProto* producer_of(const GraphProto& graph, const std::string& name) const {
    for (const auto& node : graph.node()) {
      for (const auto& out : node.output()) {
        if (out == name) return &node;
      }
    }
    return nullptr;
  }

  Result<GraphOutput> make_output(const GraphProto& graph, const ::onnx::ValueInfoProto& info) {
    auto slot = slot_of_.find(info.name());
    if (slot == slot_of_.end()) {
      return Error::invalid_input("graph output '" + info.name() + "' is produced by no node");
    }
    GraphOutput out;
    out.name = info.name();
    out.slot = slot->second;
    if (info.type().has_sequence_type()) {
      const NodeProto* zipmap = producer_of(graph, info.name());
      if (zipmap == nullptr || zipmap->op_type() != "ZipMap") {
        return Error::invalid_input("graph output '" + info.name() +
                                    "' is a sequence not made by ZipMap; only ZipMap's "
                                    "sequence of maps is supported");
      }
      Attributes attrs(*zipmap);
      out.zipmap = true;
      out.zipmap_labels_int64 = attrs.get_ints("classlabels_int64s");
      out.zipmap_labels_string = attrs.get_strings("classlabels_strings");
      const auto classes = out.zipmap_labels_int64.size() + out.zipmap_labels_string.size();
      out.dims = {-1, static_cast<std::int64_t>(classes)};
    } else if (info.type().has_tensor_type()) {
      KILN_TRY(out.type, elem_type(info.type().tensor_type().elem_type(),
                                   "graph output '" + info.name() + "'"));
      out.dims = declared_dims(info.type().tensor_type());
    } else {
      return Error::invalid_input("graph output '" + info.name() +
                                  "' is neither a tensor nor "
                                  "ZipMap's sequence of maps");
    }
    return out;
  }

  Plan plan_;
  std::map<std::string, std::int64_t> opsets_;
  std::unordered_map<std::string, int> slot_of_;
};

Result<Plan> Plan::compile(std::shared_ptr<const ::onnx::ModelProto> model) {
  return PlanBuilder(std::move(model)).build();
}

Result<std::vector<Value>> Plan::run(std::vector<Value> inputs) const {
  const int first = static_cast<int>(constants_.size());
  std::vector<Value> values(static_cast<std::size_t>(slots_ - first));
  auto value_at = [&](int slot) -> const Value* {
    return slot < 0       ? nullptr
           : slot < first ? &constants_[static_cast<std::size_t>(slot)]
                          : &values[static_cast<std::size_t>(slot - first)];
  };
  for (std::size_t k = 0; k < inputs.size() && k < inputs_.size(); ++k) {
    values[static_cast<std::size_t>(inputs_[k].slot - first)] = std::move(inputs[k]);
  }
  std::vector<const Value*> in;
  std::vector<Value*> out;
  for (const auto& step : steps_) {
    in.clear();
    out.clear();
    for (int slot : step.inputs) in.push_back(value_at(slot));
    for (int slot : step.outputs) out.push_back(&values[static_cast<std::size_t>(slot - first)]);
    auto ran = step.kernel->run(in, out);
    if (!ran.ok()) return std::move(ran).error();
  }
  std::vector<Value> results;
  results.reserve(outputs_.size());
  for (const auto& output : outputs_) results.push_back(*value_at(output.slot));
  return results;
}

}  // namespace kiln::runtime::onnx_eval
