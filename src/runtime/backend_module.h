#pragma once

// Backend modules: model backends built as separate shared objects (libkiln-<name>.so) and loaded
// by kiln-runtime with dlopen() when a model of their format is first loaded, after Triton's
// backend shared libraries (https://github.com/triton-inference-server/backend). A heavy library
// (libtorch: ~480 MB of shared objects) is then paid only by deployments that serve its format;
// kiln-runtime itself does not link it.
//
// The contract between kiln-runtime (the host) and a module:
//
//   - A module exports exactly one symbol, the C function kiln_backend_module() (no arguments),
//     returning a pointer to a static KilnBackendModule. Everything else in the module is hidden
//     (a linker version script, backend_module.cmake), so its private copies of kiln_common and
//     kiln_runtime code never interpose on the host's.
//   - The first member, `abi`, is frozen forever: the host reads it before anything else and
//     refuses the module unless it equals its own kBackendModuleAbi. The stamp (KILN_BACKEND_ABI,
//     computed by backend_module.cmake) is the contract version below, the compiler and its
//     version, the C++ flags, and a hash of the headers whose types cross the boundary
//     (common/result.h, runtime/tensor.h, runtime/backend.h, this file). So only a module built by
//     the same compiler from the same headers is used; the members after `abi` may then carry C++
//     types (ModelBackend*, kiln::Error) by pointer, both sides agreeing on their layout.
//   - load(path, error) loads one model. On success it returns a ModelBackend the caller owns
//     (delete it through its virtual destructor; the code runs in the module, on the shared C++
//     heap) and leaves *error alone. On failure it returns nullptr and assigns *error (categories
//     as load_backend's). It never throws. Thread-safe: the host calls it from any thread.
//   - The host never unloads a module it has taken a backend from: the backend's code lives there.
//
// Finding a module (backend_module_dirs, load_from_backend_module below): the file
// libkiln-<name>.so is searched in
//   1. $KILN_BACKEND_DIR, when set and non-empty, and then nowhere else (so a deployment, or a
//      test, decides exactly which module is used);
//   2. otherwise <directory of the running executable>/../lib/kiln (the install layout:
//      /usr/local/bin/kiln-runtime -> /usr/local/lib/kiln/), then the executable's own directory
//      (the build tree, where the module is written next to kiln-runtime).
// It is opened with dlopen(RTLD_NOW | RTLD_LOCAL).

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "runtime/backend.h"

#ifndef KILN_BACKEND_ABI
#error "KILN_BACKEND_ABI is defined by backend_module.cmake for kiln_runtime and every module"
#endif

namespace kiln::runtime {

// The host's (or the module's) ABI stamp; see the contract above. Bump the leading
// "kiln-backend-module/N" (in backend_module.cmake) when the contract itself changes.
inline constexpr const char* kBackendModuleAbi = KILN_BACKEND_ABI;

}  // namespace kiln::runtime

extern "C" {

// What kiln_backend_module() returns. Static storage in the module; never freed.
struct KilnBackendModule {
  // Frozen first member: the module's kBackendModuleAbi.
  const char* abi;
  // The format served, as to_string(ModelFormat) spells it ("torchscript").
  const char* format;
  // Loads the model file at `path` (NUL-terminated). See the contract above.
  kiln::runtime::ModelBackend* (*load)(const char* path, kiln::Error* error);
};

// The one symbol a module exports; defined by each module, never by the host.
const KilnBackendModule* kiln_backend_module();
using KilnBackendModuleEntry = const KilnBackendModule* (*)();
#define KILN_BACKEND_MODULE_ENTRY "kiln_backend_module"

}  // extern "C"

namespace kiln::runtime {

// The directories searched for libkiln-<name>.so, in order (see above). Reads the environment
// and /proc/self/exe (without /proc, as in a bare chroot: the path the program was executed by)
// on every call; empty when neither is known. Thread-safe.
std::vector<std::string> backend_module_dirs();

// Loads `format`'s model at `path` through the module libkiln-<module>.so. Every call searches
// the directories (a few stat() calls) and uses the first module file found; each module file is
// opened once (under a process-wide mutex) and stays loaded for the life of the process. A failed
// search is not remembered, so a module installed later is picked up by the next call. Errors:
// terminal when the module is not found ("the TorchScript backend is not installed:
// libkiln-torch.so not found in ..."), cannot be opened (dlerror(), e.g. a missing libtorch),
// exports no kiln_backend_module(), serves another format, or was built for another ABI (both
// stamps named); otherwise the module's own error for the model file. Thread-safe.
Result<std::unique_ptr<ModelBackend>> load_from_backend_module(std::string_view module,
                                                               ModelFormat format,
                                                               std::string_view display_name,
                                                               const std::string& path);

}  // namespace kiln::runtime
