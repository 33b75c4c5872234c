# Tests of the TorchScript backend module (src/runtime/torch, libkiln-torch.so), registered only
# when it is built (torch.cmake sets the global property KILN_TORCH_BACKEND). The models are made
# at test time by make_torch_models.py with the system Python's PyTorch (python3-torch, the same
# version as Debian's libtorch; scripts/setup.sh torch): the test virtualenv has no torch.
# The test executables do not link libtorch: they reach the backend through load_backend, which
# opens the module (KILN_BACKEND_DIR is set by each test to the directory it means).
get_property(_kiln_torch_backend GLOBAL PROPERTY KILN_TORCH_BACKEND)
if(_kiln_torch_backend)
  find_program(KILN_TORCH_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH
               DOC "Python with PyTorch (python3-torch) for the TorchScript backend's tests")
  add_executable(torchscript_backend_test ${CMAKE_CURRENT_LIST_DIR}/torchscript_backend_test.cc)
  target_link_libraries(torchscript_backend_test PRIVATE kiln_runtime kiln_runtime_fixtures
                        GTest::gtest_main GTest::gmock)
  target_compile_definitions(torchscript_backend_test PRIVATE
    KILN_TORCH_PYTHON="${KILN_TORCH_PYTHON}"
    KILN_MAKE_TORCH_MODELS="${CMAKE_CURRENT_LIST_DIR}/make_torch_models.py"
    KILN_TORCH_FIXTURE_DIR="${CMAKE_CURRENT_BINARY_DIR}/torch_models"
    KILN_TORCH_MODULE_DIR="$<TARGET_FILE_DIR:kiln-torch>")
  add_dependencies(torchscript_backend_test kiln-torch)
  gtest_discover_tests(torchscript_backend_test PROPERTIES LABELS unit DISCOVERY_TIMEOUT 60)

  # A module as another build would have made it: the same file name, another ABI stamp.
  set(_kiln_mismatched_abi "kiln-backend-module/0 another build")
  add_library(kiln_test_mismatched_module MODULE ${CMAKE_CURRENT_LIST_DIR}/mismatched_module.cc)
  target_include_directories(kiln_test_mismatched_module PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_compile_definitions(kiln_test_mismatched_module PRIVATE
    KILN_BACKEND_ABI="${_kiln_mismatched_abi}")
  set_target_properties(kiln_test_mismatched_module PROPERTIES
    OUTPUT_NAME kiln-torch
    LIBRARY_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/mismatched_module)

  add_executable(backend_module_test ${CMAKE_CURRENT_LIST_DIR}/backend_module_test.cc)
  target_link_libraries(backend_module_test PRIVATE kiln_runtime GTest::gtest_main GTest::gmock)
  target_compile_definitions(backend_module_test PRIVATE
    KILN_BACKEND_ABI="${KILN_BACKEND_ABI}"
    KILN_MISMATCHED_ABI="${_kiln_mismatched_abi}"
    KILN_MISMATCHED_MODULE_DIR="${CMAKE_CURRENT_BINARY_DIR}/mismatched_module"
    KILN_TORCH_MODULE_FILE="$<TARGET_FILE:kiln-torch>")
  add_dependencies(backend_module_test kiln-torch kiln_test_mismatched_module)
  gtest_discover_tests(backend_module_test PROPERTIES LABELS unit DISCOVERY_TIMEOUT 60)

  # The point of the module: kiln-runtime itself loads no libtorch.
  if(TARGET kiln-runtime)
    add_test(NAME runtime.kiln_runtime_links_no_libtorch
             COMMAND sh -c "! ldd \"$0\" | grep torch" $<TARGET_FILE:kiln-runtime>)
    set_tests_properties(runtime.kiln_runtime_links_no_libtorch PROPERTIES LABELS unit)
  endif()
endif()
