# ONNX backend benchmark (include from bench/runtime/CMakeLists.txt with
# `include(${CMAKE_CURRENT_SOURCE_DIR}/onnx_bench.cmake OPTIONAL)`); built only when kiln_runtime
# has the ONNX backend.
#   build/bench/kiln-bench-runtime-onnx    OnnxBackend::predict on 1 and 100 rows per model
#   bench/runtime/compare_onnx.sh          the same against onnxruntime, as ratios
get_target_property(_kiln_runtime_defs kiln_runtime COMPILE_DEFINITIONS)
if("KILN_WITH_ONNX" IN_LIST _kiln_runtime_defs)
  add_executable(kiln-bench-runtime-onnx ${CMAKE_CURRENT_LIST_DIR}/onnx_predict_bench.cc)
  target_link_libraries(kiln-bench-runtime-onnx PRIVATE kiln_runtime benchmark::benchmark)
  target_compile_definitions(kiln-bench-runtime-onnx PRIVATE
    KILN_PYTHON="${KILN_PYTHON}"
    KILN_MAKE_ONNX_MODELS="${PROJECT_SOURCE_DIR}/tests/runtime/onnx/make_onnx_models.py"
    KILN_BENCH_ONNX_MODEL_DIR="${PROJECT_BINARY_DIR}/bench/runtime-onnx-models"
  )
  set_target_properties(kiln-bench-runtime-onnx PROPERTIES
                        RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bench)
endif()
