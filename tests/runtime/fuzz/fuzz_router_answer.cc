// libFuzzer target over the router's reading of an upstream's answer (router_compare.h): an OIP
// infer response from a canary or shadow, which the router must never crash on, however
// malformed (issue 16: a 200 of {"outputs":["x"]} terminated the router).
//
//   first_output_rows(body) -> compare_rows(rows, rows)
//
// Invariants (abort when one breaks), besides ASan and UBSan:
//   - reading a body of B bytes never has more than 64 B + 1 MiB of heap live at once;
//   - the rows read hold rows x width values (or labels);
//   - an answer compared with itself can always be compared, and agrees on every row.
//
// Run through CTest (fuzz_tests.cmake, runtime.fuzz_router_answer) or by hand:
//   fuzz_router_answer -dict=oip.dict -max_len=4194304 -malloc_limit_mb=256 -max_total_time=60 \
//     NEW_CORPUS_DIR corpus/fuzz_router_answer

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <optional>
#include <string>
#include <string_view>

#include "peak_allocation.h"
#include "runtime/router_compare.h"

namespace {

void check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  std::optional<kiln::Result<kiln::runtime::OutputRows>> rows;
  {
    kiln::fuzz::PeakAllocation peak;
    rows.emplace(kiln::runtime::first_output_rows(body));
    check(peak.bytes() <= 64 * size + (1u << 20), "reading an answer took more than 64 x its body");
  }
  {
    // The same bytes as a binary-extension answer: the JSON part ends at the first NUL, or at
    // the body's end without one (any split is a length the header could name).
    kiln::fuzz::PeakAllocation peak;
    const std::size_t split = std::min(body.find('\0'), body.size());
    auto binary = kiln::runtime::answer_first_output_rows(body, std::to_string(split));
    if (!binary.ok()) {
      check(binary.error().category() == kiln::ErrorCategory::kInvalidInput,
            "a bad binary answer is not an invalid-input error");
    } else {
      const auto& b = *binary;
      check(b.rows * b.width == (b.floating ? b.values.size() : b.labels.size()) ||
                (b.rows == 0 && (b.floating ? b.values.empty() : b.labels.empty())),
            "the rows of a binary answer do not hold rows x width values");
    }
    check(peak.bytes() <= 64 * size + (1u << 20), "reading an answer took more than 64 x its body");
  }
  if (!rows->ok()) {
    check(rows->error().category() == kiln::ErrorCategory::kInvalidInput,
          "a bad answer is not an invalid-input error");
    return 0;
  }
  const auto& r = **rows;
  const std::size_t held = r.floating ? r.values.size() : r.labels.size();
  check(r.width >= 1, "a row has no width");
  check(r.rows * r.width == held || (r.rows == 0 && held == 0),
        "the rows do not hold rows x width values");
  auto same = kiln::runtime::compare_rows(r, r);
  check(same.ok(), "an answer cannot be compared with itself");
  check(same->rows == r.rows && same->agreed == r.rows, "an answer disagrees with itself");
  return 0;
}
