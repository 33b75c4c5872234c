# kiln_runtime_grpc: the Open Inference Protocol (v2) gRPC endpoint (grpc_service.h) and the
# router's gRPC side (grpc_router.h), over
# InferenceService, on Debian's gRPC C++ 1.51 (libgrpc++-dev, whose CMake package gRPCConfig
# exports gRPC::grpc++ and gRPC::grpc_cpp_plugin) and protobuf (protobuf-compiler,
# libprotobuf-dev). gRPC's targets link protobuf::libprotobuf, the same libprotobuf the ONNX
# backend links through FindProtobuf (one copy, one descriptor pool).
find_package(Protobuf REQUIRED GLOBAL)  # GLOBAL: kiln_grpc_generate() is used by tests too
find_package(gRPC CONFIG REQUIRED GLOBAL)
find_package(Boost 1.74 REQUIRED)  # Boost.Asio's thread_pool runs the infer calls
find_program(KILN_PROTOC protoc REQUIRED)
find_program(KILN_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

# kiln_grpc_generate(TARGET PROTO_ROOT PROTO...): generates the messages (.pb) and gRPC stubs
# (.grpc.pb) of each PROTO (a path relative to PROTO_ROOT) into the build tree, as a static
# library TARGET whose users include "<path>.grpc.pb.h".
function(kiln_grpc_generate target root)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${target}_generated)
  set(sources)
  foreach(proto ${ARGN})
    string(REGEX REPLACE "\\.proto$" "" stem ${proto})
    set(generated ${out}/${stem}.pb.cc ${out}/${stem}.pb.h ${out}/${stem}.grpc.pb.cc
                  ${out}/${stem}.grpc.pb.h)
    add_custom_command(
      OUTPUT ${generated}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${out}
      COMMAND ${KILN_PROTOC} -I ${root} --cpp_out=${out} --grpc_out=${out}
              --plugin=protoc-gen-grpc=${KILN_GRPC_CPP_PLUGIN} ${root}/${proto}
      DEPENDS ${root}/${proto} ${KILN_PROTOC} ${KILN_GRPC_CPP_PLUGIN}
      COMMENT "protoc ${proto}"
      VERBATIM)
    list(APPEND sources ${generated})
  endforeach()
  add_library(${target} STATIC ${sources})
  target_include_directories(${target} SYSTEM PUBLIC ${out})
  target_compile_options(${target} PRIVATE -w)  # generated code, not ours to warn about
  target_link_libraries(${target} PUBLIC gRPC::grpc++ protobuf::libprotobuf)
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
endfunction()

kiln_grpc_generate(kiln_runtime_proto ${CMAKE_CURRENT_LIST_DIR}/proto grpc_predict_v2.proto)

add_library(kiln_runtime_grpc STATIC
  ${CMAKE_CURRENT_LIST_DIR}/grpc_codec.cc
  ${CMAKE_CURRENT_LIST_DIR}/grpc_service.cc
  ${CMAKE_CURRENT_LIST_DIR}/grpc_router.cc
)
target_include_directories(kiln_runtime_grpc PUBLIC ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(kiln_runtime_grpc PUBLIC kiln_runtime kiln_runtime_proto gRPC::grpc++
                      PRIVATE Boost::boost)
set_target_properties(kiln_runtime_grpc PROPERTIES POSITION_INDEPENDENT_CODE ON)
