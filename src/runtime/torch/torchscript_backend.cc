#include "runtime/torch/torchscript_backend.h"

#include <ATen/Parallel.h>
#include <torch/script.h>

#include <filesystem>
#include <mutex>
#include <utility>

namespace kiln::runtime {
namespace {

// What a client should read of an error from forward(): the TorchScript interpreter wraps an
// operator's error in a traceback of the model's source, whose last line is the error itself
// ("RuntimeError: mat1 and mat2 shapes cannot be multiplied (2x5 and 4x8)").
std::string error_summary(std::string_view message) {
  if (message.find("Traceback of TorchScript") == std::string_view::npos) {
    return std::string(message);
  }
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
    message.remove_suffix(1);
  }
  const auto last_line = message.rfind('\n');
  return std::string(last_line == std::string_view::npos ? message : message.substr(last_line + 1));
}

// libtorch's message without the C++ backtrace it appends for developers.
std::string torch_message(const c10::Error& e) { return error_summary(e.what_without_backtrace()); }

// The torch dtype an OIP datatype becomes; nullopt when libtorch 1.13 has none.
std::optional<at::ScalarType> torch_dtype(DataType datatype) {
  switch (datatype) {
    case DataType::kFp32:
      return at::kFloat;
    case DataType::kFp64:
      return at::kDouble;
    case DataType::kFp16:
      return at::kHalf;
    case DataType::kInt8:
      return at::kChar;
    case DataType::kInt16:
      return at::kShort;
    case DataType::kInt32:
      return at::kInt;
    case DataType::kInt64:
      return at::kLong;
    case DataType::kUint8:
      return at::kByte;
    case DataType::kBool:
      return at::kBool;
    default:
      return std::nullopt;
  }
}

// A tensor of `dtype` holding a copy of `values` (the storage of an OIP tensor, see tensor.h).
template <class T>
at::Tensor copy_in(const std::vector<T>& values, at::IntArrayRef shape, at::ScalarType storage,
                   at::ScalarType dtype) {
  if (values.empty()) return at::empty(shape, at::TensorOptions().dtype(dtype));
  // from_blob borrows the request's memory; the copying `to` makes a tensor the model owns.
  auto borrowed =
      at::from_blob(const_cast<T*>(values.data()), shape, at::TensorOptions().dtype(storage));
  return borrowed.to(dtype, /*non_blocking=*/false, /*copy=*/true);
}

Result<at::Tensor> to_torch(const Tensor& t) {
  auto dtype = torch_dtype(t.datatype);
  if (!dtype) {
    return Error::invalid_input("input '" + t.name + "' is " + std::string(to_string(t.datatype)) +
                                ", which TorchScript models cannot take");
  }
  const at::IntArrayRef shape(t.shape);
  return std::visit(
      [&](const auto& values) -> Result<at::Tensor> {
        using V = typename std::decay_t<decltype(values)>::value_type;
        if constexpr (std::is_same_v<V, float>) {
          return copy_in(values, shape, at::kFloat, *dtype);
        } else if constexpr (std::is_same_v<V, double>) {
          return copy_in(values, shape, at::kDouble, *dtype);
        } else if constexpr (std::is_same_v<V, std::int64_t>) {
          return copy_in(values, shape, at::kLong, *dtype);
        } else if constexpr (std::is_same_v<V, std::uint8_t>) {
          return copy_in(values, shape, at::kByte, *dtype);
        } else {
          return Error::invalid_input("input '" + t.name + "' is BYTES");
        }
      },
      t.data);
}

// The values of `t` converted to `as`, row-major.
template <class T>
std::vector<T> copy_out(const at::Tensor& t, at::ScalarType as) {
  const at::Tensor c = t.to(as).contiguous();
  const T* p = c.data_ptr<T>();
  return std::vector<T>(p, p + c.numel());
}

Result<Tensor> from_torch(const at::Tensor& t, std::size_t index) {
  Tensor out;
  out.name = "output__" + std::to_string(index);
  out.shape = t.sizes().vec();
  switch (t.scalar_type()) {
    case at::kFloat:
      out.datatype = DataType::kFp32;
      out.data = copy_out<float>(t, at::kFloat);
      break;
    case at::kHalf:
    case at::kBFloat16:
      out.datatype = DataType::kFp16;
      out.data = copy_out<float>(t, at::kFloat);
      break;
    case at::kDouble:
      out.datatype = DataType::kFp64;
      out.data = copy_out<double>(t, at::kDouble);
      break;
    case at::kChar:
    case at::kShort:
    case at::kInt:
    case at::kLong:
    case at::kByte: {
      static constexpr std::pair<at::ScalarType, DataType> kInts[] = {
          {at::kChar, DataType::kInt8},
          {at::kShort, DataType::kInt16},
          {at::kInt, DataType::kInt32},
          {at::kLong, DataType::kInt64},
          {at::kByte, DataType::kUint8}};
      for (const auto& [dtype, datatype] : kInts) {
        if (dtype == t.scalar_type()) out.datatype = datatype;
      }
      out.data = copy_out<std::int64_t>(t, at::kLong);
      break;
    }
    case at::kBool:
      out.datatype = DataType::kBool;
      out.data = copy_out<std::uint8_t>(t, at::kByte);
      break;
    default:
      return Error::terminal(out.name + " has dtype " +
                             std::string(c10::toString(t.scalar_type())) +
                             ", which has no OIP datatype");
  }
  return out;
}

// The tensors forward() returned: a Tensor, or a tuple or list of them.
Result<std::vector<Tensor>> outputs_of(const c10::IValue& result) {
  std::vector<at::Tensor> tensors;
  if (result.isTensor()) {
    tensors.push_back(result.toTensor());
  } else if (result.isTuple() || result.isList()) {
    const auto elements =
        result.isTuple() ? result.toTupleRef().elements().vec() : result.toListRef().vec();
    for (const auto& e : elements) {
      if (!e.isTensor()) {
        return Error::terminal("the model returned a " + result.tagKind() + " holding a " +
                               e.tagKind() + "; expected Tensors only");
      }
      tensors.push_back(e.toTensor());
    }
  } else {
    return Error::terminal("the model returned a " + result.tagKind() +
                           "; expected a Tensor or a tuple of Tensors");
  }
  std::vector<Tensor> outputs;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    KILN_TRY(Tensor t, from_torch(tensors[i], i));
    outputs.push_back(std::move(t));
  }
  return outputs;
}

class TorchscriptBackend final : public ModelBackend {
 public:
  TorchscriptBackend(torch::jit::Module module, ModelMetadata metadata, std::size_t min_inputs)
      : module_(std::move(module)), metadata_(std::move(metadata)), min_inputs_(min_inputs) {}

  const ModelMetadata& metadata() const noexcept override { return metadata_; }

  Result<std::vector<Tensor>> predict(std::span<const Tensor> inputs) const override {
    const std::size_t max_inputs = metadata_.inputs.size();
    if (inputs.size() < min_inputs_ || inputs.size() > max_inputs) {
      return Error::invalid_input("the model's forward() takes " + arity() +
                                  " input tensors; the request has " +
                                  std::to_string(inputs.size()));
    }
    try {
      c10::InferenceMode no_autograd;
      std::vector<c10::IValue> arguments;
      arguments.reserve(inputs.size());
      for (const Tensor& t : inputs) {
        KILN_TRY(at::Tensor tensor, to_torch(t));
        arguments.emplace_back(std::move(tensor));
      }
      return outputs_of(module_.forward(std::move(arguments)));
    } catch (const c10::Error& e) {
      return Error::invalid_input("the model rejected the inputs: " + torch_message(e));
    } catch (const std::bad_alloc&) {
      return Error::terminal("TorchScript inference ran out of memory");
    } catch (const std::runtime_error& e) {
      // The interpreter rethrows an operator's c10::Error as a runtime_error with a traceback.
      return Error::invalid_input("the model rejected the inputs: " + error_summary(e.what()));
    } catch (const std::exception& e) {
      return Error::terminal(std::string("TorchScript inference failed: ") + e.what());
    }
  }

 private:
  std::string arity() const {
    const std::size_t max_inputs = metadata_.inputs.size();
    return min_inputs_ == max_inputs
               ? std::to_string(max_inputs)
               : std::to_string(min_inputs_) + " to " + std::to_string(max_inputs);
  }

  // forward() is a non-const member of the module handle, but it does not change the module of a
  // model in eval mode (see the thread-safety note in the header).
  mutable torch::jit::Module module_;
  ModelMetadata metadata_;
  std::size_t min_inputs_;
};

// Metadata from forward()'s schema: argument names (without self) and the number of returns.
ModelMetadata metadata_of(const c10::FunctionSchema& schema, std::size_t& min_inputs) {
  ModelMetadata metadata;
  metadata.platform = "pytorch_torchscript";
  min_inputs = 0;
  const auto& arguments = schema.arguments();
  for (std::size_t i = 1; i < arguments.size(); ++i) {  // arguments[0] is the module (self).
    metadata.inputs.push_back({arguments[i].name(), DataType::kFp32, {-1}});
    if (!arguments[i].default_value()) min_inputs = metadata.inputs.size();
  }
  std::size_t outputs = 1;
  if (schema.returns().size() == 1) {
    if (auto tuple = schema.returns()[0].type()->cast<c10::TupleType>()) {
      outputs = tuple->elements().size();
    }
  }
  for (std::size_t i = 0; i < outputs; ++i) {
    metadata.outputs.push_back({"output__" + std::to_string(i), DataType::kFp32, {-1}});
  }
  return metadata;
}

}  // namespace

Result<std::unique_ptr<ModelBackend>> load_torchscript(const std::string& path,
                                                       const TorchscriptOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return Error::invalid_input("model file '" + path + "' does not exist or is not a file");
  }
  static std::mutex load_mutex;  // torch::jit::load fills process-wide registries.
  std::lock_guard lock(load_mutex);
  try {
    torch::jit::Module module = torch::jit::load(path, c10::Device(c10::kCPU));
    module.eval();
    std::size_t min_inputs = 0;
    ModelMetadata metadata =
        metadata_of(module.get_method("forward").function().getSchema(), min_inputs);
    if (options.threads_per_call > 0) at::set_num_threads(options.threads_per_call);
    return std::unique_ptr<ModelBackend>(
        std::make_unique<TorchscriptBackend>(std::move(module), std::move(metadata), min_inputs));
  } catch (const c10::Error& e) {
    return Error::invalid_input("cannot load TorchScript model '" + path +
                                "': " + torch_message(e));
  } catch (const std::exception& e) {
    return Error::invalid_input("cannot load TorchScript model '" + path + "': " + e.what());
  }
}

}  // namespace kiln::runtime
