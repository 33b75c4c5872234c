# The TorchScript backend (torchscript_backend.cc) through libtorch, as Debian packages it
# (libtorch-dev, scripts/deps/torch.apt), built as the backend module kiln-torch
# (libkiln-torch.so, runtime/backend_module.h) that kiln-runtime loads with dlopen() when a
# TorchScript model is loaded: kiln-runtime itself never links libtorch. Included from
# src/runtime/CMakeLists.txt.
#
#   KILN_WITH_TORCH=AUTO (default): the module is built when libtorch is found, skipped with a
#   message otherwise.  KILN_WITH_TORCH=ON: libtorch is required.  KILN_WITH_TORCH=OFF: never built.
#
# Debian's TorchConfig.cmake pulls in Caffe2's config, which searches for (and defines targets of)
# protobuf, glog, gflags and more; we only need three libraries and two include directories, so we
# locate them directly. The headers are given to torchscript_backend.cc alone: they take long to
# compile, and no other file needs them.
set(KILN_WITH_TORCH AUTO CACHE STRING "Build the TorchScript backend (AUTO: when libtorch is found)")
set_property(CACHE KILN_WITH_TORCH PROPERTY STRINGS AUTO ON OFF)

if(NOT KILN_WITH_TORCH STREQUAL "OFF")
  find_library(KILN_TORCH_LIBRARY NAMES torch)
  find_library(KILN_TORCH_CPU_LIBRARY NAMES torch_cpu)
  find_library(KILN_C10_LIBRARY NAMES c10)
  find_path(KILN_TORCH_INCLUDE_DIR torch/script.h)
  find_path(KILN_TORCH_API_INCLUDE_DIR torch/all.h PATH_SUFFIXES torch/csrc/api/include)
  set(_kiln_torch_parts KILN_TORCH_LIBRARY KILN_TORCH_CPU_LIBRARY KILN_C10_LIBRARY
      KILN_TORCH_INCLUDE_DIR KILN_TORCH_API_INCLUDE_DIR)
  set(_kiln_torch_missing "")
  foreach(part ${_kiln_torch_parts})
    if(NOT ${part})
      list(APPEND _kiln_torch_missing ${part})
    endif()
  endforeach()

  if(_kiln_torch_missing)
    if(KILN_WITH_TORCH STREQUAL "ON")
      message(FATAL_ERROR "KILN_WITH_TORCH=ON but libtorch was not found (${_kiln_torch_missing}); "
                          "install it with scripts/setup.sh torch")
    endif()
    message(STATUS "TorchScript backend: off (libtorch not found; scripts/setup.sh torch)")
  else()
    message(STATUS "TorchScript backend: module kiln-torch (${KILN_TORCH_LIBRARY})")
    set(_kiln_torch_source ${CMAKE_CURRENT_LIST_DIR}/torchscript_backend.cc)
    kiln_add_backend_module(kiln-torch SOURCES
      ${_kiln_torch_source} ${CMAKE_CURRENT_LIST_DIR}/torchscript_module.cc)
    # -isystem: libtorch's headers do not build clean under our -Wall -Wextra. A directory the
    # compiler already searches (/usr/include) is not repeated: -isystem would reorder it.
    set(_kiln_torch_flags "")
    foreach(dir ${KILN_TORCH_INCLUDE_DIR} ${KILN_TORCH_API_INCLUDE_DIR})
      if(NOT dir IN_LIST CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES)
        list(APPEND _kiln_torch_flags -isystem ${dir})
      endif()
    endforeach()
    set_source_files_properties(${_kiln_torch_source} PROPERTIES
      COMPILE_OPTIONS "${_kiln_torch_flags}")
    target_link_libraries(kiln-torch PRIVATE
      ${KILN_TORCH_LIBRARY} ${KILN_TORCH_CPU_LIBRARY} ${KILN_C10_LIBRARY})
    # Read by tests/runtime/torch/torch_tests.cmake: register the tests only when this is built.
    set_property(GLOBAL PROPERTY KILN_TORCH_BACKEND ON)
  endif()
endif()
