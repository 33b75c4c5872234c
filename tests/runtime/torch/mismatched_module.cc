// A backend module as another build of kiln would have made it: it exports kiln_backend_module()
// with an ABI stamp that is not this build's (KILN_BACKEND_ABI is set to another value for this
// file alone). backend_module_test.cc checks that the host refuses it before calling anything.

#include "runtime/backend_module.h"

namespace {

constexpr KilnBackendModule kModule = {kiln::runtime::kBackendModuleAbi, "torchscript", nullptr};

}  // namespace

extern "C" __attribute__((visibility("default"))) const KilnBackendModule* kiln_backend_module() {
  return &kModule;
}
