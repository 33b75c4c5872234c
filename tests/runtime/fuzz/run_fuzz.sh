#!/usr/bin/env bash
# Configures and builds the fuzz project (this folder) with clang++ into BUILD_DIR, then runs one
# libFuzzer target for a bounded time over its committed seed corpus, SOURCE_DIR/corpus/TARGET.
# Used by CTest (fuzz_tests.cmake); exits 77 (CTest's SKIP_RETURN_CODE) when clang or libFuzzer is
# missing.
#
#   run_fuzz.sh SOURCE_DIR BUILD_DIR TARGET SECONDS
#
# Bodies up to 4 MiB (-max_len, the server's --max-body-bytes default) and any one allocation of
# 256 MiB or more is a failure (-malloc_limit_mb); the targets check their own bound on peak heap
# (peak_allocation.h). New inputs libFuzzer finds go to BUILD_DIR/corpus-TARGET (the seed corpus
# is only read), and a crashing input to BUILD_DIR/TARGET-crash-*, which the log names; reproduce
# with BUILD_DIR/TARGET FILE, then commit it to corpus/TARGET/ as regress-<what>.
set -euo pipefail

src=$1 build=$2 target=$3 seconds=$4

cxx="${KILN_FUZZ_CXX:-}"
if [ -z "$cxx" ]; then
  for c in clang++ clang++-14 clang++-15 clang++-16; do
    if command -v "$c" >/dev/null; then cxx=$(command -v "$c"); break; fi
  done
fi
if [ -z "$cxx" ]; then
  echo "SKIP: clang++ not found; the fuzz target needs clang (scripts/setup.sh fuzz)"
  exit 77
fi
mkdir -p "$build"
probe="$build/probe-libfuzzer"
if ! printf 'extern "C" int LLVMFuzzerTestOneInput(const char*, unsigned long) { return 0; }\n' |
    "$cxx" -x c++ -fsanitize=fuzzer,address,undefined - -o "$probe" 2>"$probe.log"; then
  echo "SKIP: $cxx cannot link -fsanitize=fuzzer (libclang_rt.fuzzer missing; scripts/setup.sh fuzz):"
  cat "$probe.log"
  exit 77
fi

cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" \
  >"$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j2 --target "$target"

corpus="$build/corpus-$target"
mkdir -p "$corpus"
# Sanitizer findings are fatal and symbolized; leak checking stays on (ASan's default on Linux).
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
# libFuzzer's own exit code for a finding is 77, CTest's skip code: every finding exits 1 instead.
"$build/$target" -dict="$src/oip.dict" -max_total_time="$seconds" -max_len=4194304 \
  -malloc_limit_mb=256 -rss_limit_mb=2048 -timeout=20 -error_exitcode=1 -timeout_exitcode=1 \
  -print_final_stats=1 \
  -artifact_prefix="$build/$target-" "$corpus" "$src/corpus/$target"
