#pragma once

// Row-by-row comparison of two OIP answers to the same request (the router's canary and shadow
// comparisons, runtime/router.h), and the bucket of each row's output for the output-drift
// counters.
//
// ROWS. The first output of each answer is read as rows, as the backends write them
// (runtime/backend.h): shape [rows] (one value a row), [rows, k, ...] (k = the product of the
// trailing dimensions: one row of k values; [rows, 1] is one value a row); no shape or shape []:
// one value a row. `data` may be flat or nested row-major. Two answers are compared only when
// their first outputs have the same shape and both are floating-point (FP16/FP32/FP64) or both
// not; otherwise the pair is a mismatch.
//
// DECISIONS. Each row is compared by one rule, chosen once for the pair of answers (so both sides
// of a comparison always use the same rule):
//   equal      not floating-point (INT*, UINT*, BOOL, BYTES: labels): every element equal.
//   argmax     floating-point, k > 1 (class scores or probabilities): the same argmax (the first
//              of equal maxima, numpy.argmax's tie rule).
//   threshold  floating-point, k == 1, every finite value of both answers in [0, 1] (a
//              probability or score): the same side of 0.5 (value >= threshold).
//   tolerance  floating-point, k == 1, some value outside [0, 1] (a regressor):
//              |a − b| <= max(rel · max(|a|, |b|), abs), Python's math.isclose (PEP 485), with
//              rel = 0.1 and abs = 1e-9 by default.
// A regressor whose values all fall in [0, 1] is read as a score (the answers carry no objective).
// NaN (a JSON null) agrees with NaN only.
//
// BUCKETS, for kiln_router_output_rows_total: one label a row, from the pair's rule —
//   equal      "label:<the row's elements, comma-separated, each cut to 32 bytes>"
//   argmax     "class:<argmax index>"
//   threshold  "p:<decile>": "p:0.0" for [0, 0.1), ..., "p:0.9" for [0.9, 1]
//   tolerance  "value:<lower bound>": log scale with 4 buckets an octave, the bucket of x being
//              [2^(e/4), 2^((e+1)/4)) with e = floor(4 log2 |x|), its sign in front; "value:0"
//              when |x| < 2^-40
//   NaN        "NaN" under every rule but equal.
// The buckets are fixed (they depend on the value alone), so counts from different router pods and
// times add up and two counts can be subtracted, as Prometheus counters are.
//
// Pure functions; thread-safe.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "runtime/tensor.h"

namespace kiln::runtime {

// The first output of an OIP infer response, as rows.
struct OutputRows {
  bool floating = true;              // FP16/FP32/FP64 (or no datatype and numbers only).
  std::vector<std::int64_t> shape;   // As sent; empty when absent.
  std::size_t rows = 0;              // shape[0], or the element count for shape [] / no shape.
  std::size_t width = 1;             // Elements a row (k above).
  std::vector<double> values;        // floating: rows · width values, row-major, NaN for null.
  std::vector<std::string> labels;   // !floating: rows · width element texts, row-major.
};

// Reads the first output of `body`. invalid-input when the body is not JSON, has no outputs, a
// shape that is not an array of non-negative integers, or a data size other than the shape's.
Result<OutputRows> first_output_rows(std::string_view body);

// Reads `output`, the first output of a typed answer (a gRPC ModelInferResponse decoded to a
// Tensor), as the JSON reader reads the same output: FP16/FP32/FP64 as values, other datatypes
// as labels written as the JSON answer writes them (BOOL "true"/"false", integers in decimal,
// BYTES as they are), so both transports count rows under the same buckets. invalid-input when
// the data size is not the shape's element count.
Result<OutputRows> first_output_rows(const Tensor& output);

// Reads the first output of a REST answer that may use the binary tensor extension
// (runtime/oip_codec.h): `header_length` is its Inference-Header-Content-Length ("" when absent:
// the whole body is JSON, as first_output_rows(body)). With it, the first `header_length` bytes
// are the JSON; a first output with "parameters": {"binary_data_size": S} takes the first S bytes
// after it, decoded as tensor.h's raw form and read as first_output_rows(Tensor) reads a typed
// answer, so binary and JSON answers of the same rows compare equal. invalid-input when the
// header is not a length within the body, or the binary data does not match the datatype and
// shape.
Result<OutputRows> answer_first_output_rows(std::string_view body, std::string_view header_length);

enum class RowRule { kEqual, kArgmax, kThreshold, kTolerance };

struct CompareOptions {
  double threshold = 0.5;            // Of the threshold rule.
  double relative_tolerance = 0.1;   // rel of the tolerance rule.
  double absolute_tolerance = 1e-9;  // abs of the tolerance rule.
};

// The comparison of two answers to one request.
struct RowComparison {
  RowRule rule = RowRule::kThreshold;
  std::size_t rows = 0;
  std::size_t agreed = 0;                // Rows whose decision is the same.
  double absolute_difference = 0;        // Σ |a − b| over pairs of finite floating-point values.
  std::size_t values = 0;                // Pairs in that sum.
  std::map<std::string, std::uint64_t> buckets_a;  // Bucket label -> rows of `a` in it.
  std::map<std::string, std::uint64_t> buckets_b;
};

// Compares `a` and `b` row by row (rules and buckets above). invalid-input when they cannot be
// compared (shapes differ, one floating-point and the other not): the router counts a mismatch.
Result<RowComparison> compare_rows(const OutputRows& a, const OutputRows& b,
                                   const CompareOptions& options = {});

}  // namespace kiln::runtime
