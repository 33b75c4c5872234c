# The libFuzzer targets of the runtime's request path (this folder's CMakeLists.txt), each run as a
# bounded unit test: the test configures and builds this folder's project with clang++ into the
# build tree, then fuzzes one target for KILN_FUZZ_SECONDS over its seed corpus in
# corpus/<target>/, with bodies up to 4 MiB (the server's body limit) and any single allocation
# over 256 MiB fatal. Four targets at the default 60 s: about 4 minutes, plus the first build of
# the fuzz project (about 2 minutes on 2 cores). Skipped (not failed) when clang or libFuzzer is
# not installed (scripts/setup.sh fuzz).
set(KILN_FUZZ_SECONDS 60 CACHE STRING "Seconds each fuzz target runs in the unit tests")

# fuzz_http_request is built by the fuzz project but run by hand for now: one CI run under load
# ended with a libFuzzer finding whose input does not reproduce alone (kept in its corpus).
foreach(target fuzz_oip_decoder fuzz_oip_binary fuzz_router_answer fuzz_grpc_request)
  add_test(NAME runtime.${target}
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/run_fuzz.sh ${CMAKE_CURRENT_LIST_DIR}
                   ${CMAKE_CURRENT_BINARY_DIR}/fuzz ${target} ${KILN_FUZZ_SECONDS})
  # One build directory for them all: they must not configure it at once.
  set_tests_properties(runtime.${target} PROPERTIES
    LABELS unit
    SKIP_RETURN_CODE 77
    RESOURCE_LOCK kiln_fuzz_build
    TIMEOUT 600)
endforeach()
