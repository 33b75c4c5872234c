# The libFuzzer target over the OIP request decoder (fuzz_oip_decoder.cc), run as a bounded unit
# test: the test configures and builds this folder's project with clang++ into the build tree, then
# fuzzes for KILN_FUZZ_SECONDS over the seed corpus in corpus/. Skipped (not failed) when clang or
# libFuzzer is not installed (scripts/setup.sh fuzz).
set(KILN_FUZZ_SECONDS 60 CACHE STRING "Seconds each fuzz target runs in the unit tests")

add_test(NAME runtime.fuzz_oip_decoder
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/run_fuzz.sh ${CMAKE_CURRENT_LIST_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/fuzz fuzz_oip_decoder ${KILN_FUZZ_SECONDS})
set_tests_properties(runtime.fuzz_oip_decoder PROPERTIES
  LABELS unit
  SKIP_RETURN_CODE 77
  TIMEOUT 300)
