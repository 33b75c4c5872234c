# Tests of the TorchScript backend (src/runtime/torch), registered only when it is compiled in
# (torch.cmake sets the global property KILN_TORCH_BACKEND). The models are made at test time by
# make_torch_models.py with the system Python's PyTorch (python3-torch, the same version as
# Debian's libtorch; scripts/setup.sh torch): the test virtualenv has no torch.
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
    KILN_TORCH_FIXTURE_DIR="${CMAKE_CURRENT_BINARY_DIR}/torch_models")
  gtest_discover_tests(torchscript_backend_test PROPERTIES LABELS unit DISCOVERY_TIMEOUT 60)
endif()
