// Finding and refusing backend modules (runtime/backend_module.h), with the real TorchScript
// module built by this tree (KILN_TORCH_MODULE_FILE) and one built as another build would have
// (mismatched_module.cc, KILN_MISMATCHED_MODULE_DIR). Each test points KILN_BACKEND_DIR at the
// directory it means; the module cache is keyed by file path, so the tests do not depend on order.

#include "runtime/backend_module.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace kiln::runtime {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A new empty directory under the test's temporary directory.
std::string empty_dir() {
  std::string pattern = ::testing::TempDir() + "kiln-backend-dir-XXXXXX";
  const char* made = ::mkdtemp(pattern.data());
  EXPECT_NE(made, nullptr) << pattern;
  return pattern;
}

// Sets KILN_BACKEND_DIR for one test and restores the previous environment after it.
class BackendDir {
 public:
  explicit BackendDir(const std::string& dir) {
    if (const char* old = std::getenv("KILN_BACKEND_DIR")) old_ = old;
    ::setenv("KILN_BACKEND_DIR", dir.c_str(), 1);
  }
  ~BackendDir() {
    if (old_.empty()) {
      ::unsetenv("KILN_BACKEND_DIR");
    } else {
      ::setenv("KILN_BACKEND_DIR", old_.c_str(), 1);
    }
  }

 private:
  std::string old_;
};

TEST(BackendModuleTest, AbsentModuleIsTerminalNamingTheFileAndTheOnlyDirectorySearched) {
  const std::string dir = empty_dir();
  BackendDir env(dir);
  EXPECT_THAT(backend_module_dirs(), ElementsAre(dir));
  auto backend = load_backend(ModelFormat::kTorchscript, "/nonexistent/model.pt");
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.error().category(), ErrorCategory::kTerminal);
  EXPECT_THAT(backend.error().message(),
              HasSubstr("the TorchScript backend is not installed: libkiln-torch.so not found in " +
                        dir + " (KILN_BACKEND_DIR"));
}

TEST(BackendModuleTest, WithoutBackendDirTheInstallDirAndTheExecutablesDirAreSearched) {
  const char* old = std::getenv("KILN_BACKEND_DIR");
  const std::string saved = old != nullptr ? old : "";
  ::unsetenv("KILN_BACKEND_DIR");
  const fs::path exe_dir = fs::read_symlink("/proc/self/exe").parent_path();
  EXPECT_THAT(backend_module_dirs(),
              ElementsAre((exe_dir.parent_path() / "lib" / "kiln").string(), exe_dir.string()));
  if (old != nullptr) ::setenv("KILN_BACKEND_DIR", saved.c_str(), 1);
}

TEST(BackendModuleTest, ModuleOfAnotherBuildIsRefusedNamingBothAbiStamps) {
  BackendDir env(KILN_MISMATCHED_MODULE_DIR);
  auto backend = load_backend(ModelFormat::kTorchscript, "/nonexistent/model.pt");
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.error().category(), ErrorCategory::kTerminal);
  const std::string file = std::string(KILN_MISMATCHED_MODULE_DIR) + "/libkiln-torch.so";
  EXPECT_THAT(backend.error().message(), HasSubstr("refusing the backend module " + file));
  EXPECT_THAT(backend.error().message(), HasSubstr("'" KILN_MISMATCHED_ABI "'"));
  EXPECT_THAT(backend.error().message(), HasSubstr("'" + std::string(kBackendModuleAbi) + "'"));
}

TEST(BackendModuleTest, ModuleThatCannotBeOpenedIsTerminalWithDlerror) {
  const std::string dir = empty_dir();
  std::ofstream(dir + "/libkiln-torch.so") << std::string(4096, 'x');  // Not an ELF file.
  BackendDir env(dir);
  auto backend = load_backend(ModelFormat::kTorchscript, "/nonexistent/model.pt");
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.error().category(), ErrorCategory::kTerminal);
  EXPECT_THAT(backend.error().message(),
              HasSubstr("cannot load the backend module " + dir + "/libkiln-torch.so: "));
  EXPECT_THAT(backend.error().message(), HasSubstr("invalid ELF header"));  // dlerror()'s words.
}

TEST(BackendModuleTest, ModuleInstalledAfterAFailedLoadIsUsedByTheNextLoad) {
  const std::string dir = empty_dir();
  BackendDir env(dir);
  auto before = load_backend(ModelFormat::kTorchscript, "/nonexistent/model.pt");
  ASSERT_FALSE(before.ok());
  EXPECT_EQ(before.error().category(), ErrorCategory::kTerminal);

  fs::copy_file(KILN_TORCH_MODULE_FILE, dir + "/libkiln-torch.so");
  // The module is found and answers for the model file itself: invalid-input, naming it.
  auto after = load_backend(ModelFormat::kTorchscript, "/nonexistent/model.pt");
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.error().category(), ErrorCategory::kInvalidInput) << after.error().to_string();
  EXPECT_THAT(after.error().message(), HasSubstr("/nonexistent/model.pt"));
}

}  // namespace
}  // namespace kiln::runtime
