# Tests of the ONNX backend (src/runtime/onnx), label "unit". Included from
# tests/runtime/CMakeLists.txt; built only when kiln_runtime has the backend (onnx.cmake found
# libonnx and protobuf). Models are converted at test time by make_onnx_models.py through the
# test virtualenv's Python (scikit-learn, skl2onnx, onnxruntime: scripts/deps/runtime.pip).
get_target_property(_kiln_runtime_defs kiln_runtime COMPILE_DEFINITIONS)
if(NOT "KILN_WITH_ONNX" IN_LIST _kiln_runtime_defs)
  message(STATUS "kiln: ONNX backend tests skipped (backend not built)")
  return()
endif()

add_executable(onnx_backend_test
  ${CMAKE_CURRENT_LIST_DIR}/onnx_backend_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/onnx_server_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/onnx_fixtures.cc
)
target_include_directories(onnx_backend_test PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(onnx_backend_test PRIVATE kiln_runtime kiln_runtime_fixtures
                      GTest::gtest_main GTest::gmock)
target_compile_definitions(onnx_backend_test PRIVATE
  KILN_PYTHON="${KILN_PYTHON}"
  KILN_MAKE_ONNX_MODELS="${CMAKE_CURRENT_LIST_DIR}/make_onnx_models.py"
  KILN_ONNX_FIXTURE_DIR="${CMAKE_CURRENT_BINARY_DIR}/onnx_models"
)
# Prefixed so that `ctest -R onnx` selects them.
gtest_discover_tests(onnx_backend_test TEST_PREFIX "onnx."
                     PROPERTIES LABELS unit DISCOVERY_TIMEOUT 60)
