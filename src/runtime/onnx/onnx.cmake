# The ONNX backend (src/runtime/onnx): kiln's own evaluator of ONNX-ML and MLP graphs, parsing
# model files with the ONNX protobuf definitions (Debian libonnx-dev: onnx/onnx-ml.pb.h and
# libonnx_proto) and protobuf. Without them kiln_runtime builds without ONNX and load_backend
# answers "not compiled into this build".
find_path(ONNX_PROTO_INCLUDE_DIR onnx/onnx-ml.pb.h)
find_library(ONNX_PROTO_LIBRARY NAMES onnx_proto)
find_package(Protobuf QUIET)
if(NOT ONNX_PROTO_INCLUDE_DIR OR NOT ONNX_PROTO_LIBRARY OR NOT Protobuf_FOUND)
  message(STATUS "kiln: ONNX backend disabled (needs libonnx-dev and libprotobuf-dev: "
                 "onnx/onnx-ml.pb.h=${ONNX_PROTO_INCLUDE_DIR}, onnx_proto=${ONNX_PROTO_LIBRARY}, "
                 "protobuf found=${Protobuf_FOUND})")
  return()
endif()
message(STATUS "kiln: ONNX backend enabled (${ONNX_PROTO_LIBRARY}, protobuf ${Protobuf_VERSION})")

target_sources(kiln_runtime PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/graph.cc
  ${CMAKE_CURRENT_LIST_DIR}/kernel.cc
  ${CMAKE_CURRENT_LIST_DIR}/ml_ops.cc
  ${CMAKE_CURRENT_LIST_DIR}/onnx_backend.cc
  ${CMAKE_CURRENT_LIST_DIR}/tensor_ops.cc
  ${CMAKE_CURRENT_LIST_DIR}/tree_ensemble.cc
  ${CMAKE_CURRENT_LIST_DIR}/tree_forest.cc
)
# Sources include onnx/onnx_pb.h, which defines ONNX_API and, with ONNX_ML set, includes the
# ONNX-ML schema (onnx-ml.pb.h). Debian generated it in namespace `onnx`, so ONNX_NAMESPACE is
# `onnx` for any ONNX header that reads it.
target_include_directories(kiln_runtime PRIVATE ${ONNX_PROTO_INCLUDE_DIR} ${Protobuf_INCLUDE_DIRS})
target_link_libraries(kiln_runtime PRIVATE ${ONNX_PROTO_LIBRARY} ${Protobuf_LIBRARIES})
target_compile_definitions(kiln_runtime PRIVATE KILN_WITH_ONNX ONNX_ML=1 ONNX_NAMESPACE=onnx)
# The dense kernels (MatMul, Gemm, elementwise loops) rely on GCC's loop vectorizer, which -O2
# (RelWithDebInfo) runs only in its "very cheap" mode: MatMul on 100 rows of a small MLP is 2x
# faster at -O3 (bench/runtime/compare_onnx.sh).
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND NOT CMAKE_BUILD_TYPE STREQUAL "Debug")
  set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/tensor_ops.cc PROPERTIES COMPILE_OPTIONS -O3)
endif()
