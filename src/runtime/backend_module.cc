#include "runtime/backend_module.h"

#include <dlfcn.h>
#include <sys/auxv.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>

namespace kiln::runtime {
namespace {

namespace fs = std::filesystem;

std::string dl_error() {
  const char* message = ::dlerror();
  return message != nullptr ? message : "unknown dlopen error";
}

std::string join(const std::vector<std::string>& dirs) {
  std::string out;
  for (const auto& dir : dirs) out += (out.empty() ? "" : ", ") + dir;
  return out;
}

// Opens `file` and checks its descriptor: the ABI stamp first, then the format. Closes the
// handle when the module is refused (nothing of it has been used yet).
Result<const KilnBackendModule*> open_module(const std::string& file, ModelFormat format) {
  void* handle = ::dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    return Error::terminal("cannot load the backend module " + file + ": " + dl_error());
  }
  auto refuse = [&](std::string why) {
    ::dlclose(handle);
    return Error::terminal("refusing the backend module " + file + ": " + why);
  };
  auto entry = reinterpret_cast<KilnBackendModuleEntry>(::dlsym(handle, KILN_BACKEND_MODULE_ENTRY));
  if (entry == nullptr) return refuse("it exports no " KILN_BACKEND_MODULE_ENTRY "()");
  const KilnBackendModule* module = entry();
  if (module == nullptr || module->abi == nullptr) return refuse("it describes no module");
  if (std::strcmp(module->abi, kBackendModuleAbi) != 0) {
    return refuse("it was built for ABI '" + std::string(module->abi) +
                  "', this kiln-runtime expects '" + kBackendModuleAbi +
                  "'; install the module built with this kiln-runtime");
  }
  if (module->format == nullptr || module->format != std::string_view(to_string(format)) ||
      module->load == nullptr) {
    return refuse("it does not serve the format '" + std::string(to_string(format)) + "'");
  }
  return module;
}

// Modules opened so far, by file path; never unloaded (see the contract).
struct ModuleCache {
  std::mutex mutex;
  std::map<std::string, const KilnBackendModule*, std::less<>> opened;
};

Result<const KilnBackendModule*> find_module(const std::string& file_name, ModelFormat format,
                                             std::string_view display_name) {
  static ModuleCache cache;
  std::lock_guard lock(cache.mutex);
  const auto dirs = backend_module_dirs();
  for (const auto& dir : dirs) {
    const std::string file = (fs::path(dir) / file_name).string();
    if (auto it = cache.opened.find(file); it != cache.opened.end()) return it->second;
    std::error_code ec;
    if (!fs::exists(file, ec)) continue;
    // The first module found is the one meant: a broken one is reported, not skipped.
    KILN_TRY(const KilnBackendModule* module, open_module(file, format));
    cache.opened.emplace(file, module);
    return module;
  }
  const bool from_env = dirs.size() == 1 && std::getenv("KILN_BACKEND_DIR") != nullptr;
  return Error::terminal(
      "the " + std::string(display_name) + " backend is not installed: " + file_name +
      " not found in " +
      (dirs.empty() ? "any directory (the executable's path is unknown)" : join(dirs)) +
      (from_env ? " (KILN_BACKEND_DIR, the only directory searched when set)"
                : " (or set KILN_BACKEND_DIR to the module's directory)"));
}

// The running executable, symlinks resolved; empty when unknown.
fs::path executable_path() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) return exe;
  // Without /proc (a chroot): the path the program was executed by, as given to execve().
  const auto* executed = reinterpret_cast<const char*>(::getauxval(AT_EXECFN));
  if (executed == nullptr) return {};
  exe = fs::weakly_canonical(fs::absolute(executed, ec), ec);
  return ec ? fs::path() : exe;
}

}  // namespace

std::vector<std::string> backend_module_dirs() {
  if (const char* dir = std::getenv("KILN_BACKEND_DIR"); dir != nullptr && *dir != '\0') {
    return {dir};
  }
  const fs::path exe = executable_path();
  if (exe.empty()) return {};
  const fs::path exe_dir = exe.parent_path();
  return {(exe_dir / ".." / "lib" / "kiln").lexically_normal().string(), exe_dir.string()};
}

Result<std::unique_ptr<ModelBackend>> load_from_backend_module(std::string_view module_name,
                                                               ModelFormat format,
                                                               std::string_view display_name,
                                                               const std::string& path) {
  const std::string file_name = "libkiln-" + std::string(module_name) + ".so";
  KILN_TRY(const KilnBackendModule* module, find_module(file_name, format, display_name));
  Error error = Error::terminal(file_name + " returned neither a backend nor an error");
  std::unique_ptr<ModelBackend> backend(module->load(path.c_str(), &error));
  if (backend == nullptr) return error;
  return backend;
}

}  // namespace kiln::runtime
