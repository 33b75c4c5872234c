# Backend modules (runtime/backend_module.h): the host side in kiln_runtime, and
# kiln_add_backend_module() for a backend built as its own shared object libkiln-<name>.so.
# Included from src/runtime/CMakeLists.txt after kiln_runtime is defined.

# The ABI stamp both sides compare before a module is used: the contract version, the compiler,
# the C++ flags, and a hash of the headers whose types cross the boundary. Editing one of these
# headers re-runs the configure step, so the stamp follows the sources.
set(_kiln_abi_headers
  ${PROJECT_SOURCE_DIR}/src/common/result.h
  ${PROJECT_SOURCE_DIR}/src/runtime/tensor.h
  ${PROJECT_SOURCE_DIR}/src/runtime/backend.h
  ${PROJECT_SOURCE_DIR}/src/runtime/backend_module.h)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_kiln_abi_headers})
set(_kiln_abi_text "")
foreach(header ${_kiln_abi_headers})
  file(READ ${header} _kiln_header_text)
  string(APPEND _kiln_abi_text "${_kiln_header_text}")
endforeach()
string(TOUPPER "${CMAKE_BUILD_TYPE}" _kiln_build_type)
string(APPEND _kiln_abi_text "${CMAKE_CXX_FLAGS} ${CMAKE_CXX_FLAGS_${_kiln_build_type}}")
string(SHA256 _kiln_abi_hash "${_kiln_abi_text}")
string(SUBSTRING ${_kiln_abi_hash} 0 16 _kiln_abi_hash)
set(KILN_BACKEND_ABI
    "kiln-backend-module/1 ${CMAKE_CXX_COMPILER_ID}-${CMAKE_CXX_COMPILER_VERSION} ${_kiln_abi_hash}"
    CACHE INTERNAL "ABI stamp of kiln-runtime's backend modules (runtime/backend_module.h)")

target_sources(kiln_runtime PRIVATE ${CMAKE_CURRENT_LIST_DIR}/backend_module.cc)
target_compile_definitions(kiln_runtime PRIVATE KILN_BACKEND_ABI="${KILN_BACKEND_ABI}")
target_link_libraries(kiln_runtime PRIVATE ${CMAKE_DL_LIBS})

# Modules are written next to kiln-runtime (src/cmd's output directory), where the executable's
# search finds them in the build tree, and installed into <prefix>/lib/kiln.
# (Cache variables: visible to the tests' directories too.)
if(CMAKE_RUNTIME_OUTPUT_DIRECTORY)
  set(KILN_BACKEND_MODULE_DIR ${CMAKE_RUNTIME_OUTPUT_DIRECTORY} CACHE INTERNAL "")
else()
  set(KILN_BACKEND_MODULE_DIR ${PROJECT_BINARY_DIR}/src/cmd CACHE INTERNAL "")
endif()
set(KILN_BACKEND_MODULE_EXPORTS ${PROJECT_BINARY_DIR}/kiln_backend_module.map CACHE INTERNAL "")
file(WRITE ${KILN_BACKEND_MODULE_EXPORTS} "{ global: kiln_backend_module; local: *; };\n")

# kiln_add_backend_module(<target> SOURCES <files...>): a MODULE library lib<target>.so that
# exports only kiln_backend_module(). Link the backend's own library to it afterwards.
function(kiln_add_backend_module target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SOURCES")
  add_library(${target} MODULE ${arg_SOURCES})
  target_compile_definitions(${target} PRIVATE KILN_BACKEND_ABI="${KILN_BACKEND_ABI}")
  # kiln_runtime is static (and position-independent): the module carries the pieces it uses.
  # --as-needed drops the libraries kiln_runtime links for its other parts (cpprest, XGBoost).
  target_link_libraries(${target} PRIVATE kiln_runtime)
  target_link_options(${target} PRIVATE LINKER:--as-needed LINKER:--no-undefined
                      LINKER:--version-script=${KILN_BACKEND_MODULE_EXPORTS})
  set_target_properties(${target} PROPERTIES
    LIBRARY_OUTPUT_DIRECTORY ${KILN_BACKEND_MODULE_DIR}
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LINK_DEPENDS ${KILN_BACKEND_MODULE_EXPORTS})
  install(TARGETS ${target} LIBRARY DESTINATION lib/kiln)
endfunction()
