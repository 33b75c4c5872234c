// The entry point of the TorchScript backend module (libkiln-torch.so): the one exported symbol,
// kiln_backend_module(), per the contract in runtime/backend_module.h.

#include <exception>

#include "runtime/backend_module.h"
#include "runtime/torch/torchscript_backend.h"

namespace {

kiln::runtime::ModelBackend* load(const char* path, kiln::Error* error) {
  try {
    auto backend = kiln::runtime::load_torchscript(path);
    if (!backend.ok()) {
      *error = std::move(backend).error();
      return nullptr;
    }
    return std::move(backend).value().release();
  } catch (const std::exception& e) {  // Nothing may unwind into the host.
    *error = kiln::Error::terminal(std::string("TorchScript backend: ") + e.what());
  } catch (...) {
    *error = kiln::Error::terminal("TorchScript backend: unknown exception while loading");
  }
  return nullptr;
}

constexpr KilnBackendModule kModule = {kiln::runtime::kBackendModuleAbi, "torchscript", &load};

}  // namespace

extern "C" __attribute__((visibility("default"))) const KilnBackendModule* kiln_backend_module() {
  return &kModule;
}
