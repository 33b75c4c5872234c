#include "drift/sort.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <limits>

namespace kiln::drift {
namespace {

constexpr int kDigitBits = 11;
constexpr int kPasses = (64 + kDigitBits - 1) / kDigitBits;  // 6
constexpr std::size_t kRadix = std::size_t{1} << kDigitBits;
constexpr uint64_t kDigitMask = kRadix - 1;
constexpr uint64_t kSignBit = uint64_t{1} << 63;

// The order-preserving map from doubles to unsigned integers, and back.
inline uint64_t to_key(double v) {
  const uint64_t bits = std::bit_cast<uint64_t>(v);
  return bits ^ ((bits & kSignBit) ? ~uint64_t{0} : kSignBit);
}
inline double from_key(uint64_t key) {
  return std::bit_cast<double>(key ^ ((key & kSignBit) ? kSignBit : ~uint64_t{0}));
}

inline std::size_t digit(uint64_t key, int pass) {
  return static_cast<std::size_t>((key >> (pass * kDigitBits)) & kDigitMask);
}

}  // namespace

void sort_finite(std::span<const double> values, std::vector<double>& out, SortScratch& scratch) {
  // Keys ping-pong between scratch.keys and `out`'s storage, which holds key bit patterns as
  // doubles (std::bit_cast both ways) until the last step decodes them in place.
  if (values.size() > std::numeric_limits<uint32_t>::max()) {  // Beyond 32-bit digit counts.
    out.clear();
    for (double v : values) {
      if (std::isfinite(v)) out.push_back(v);
    }
    std::sort(out.begin(), out.end());
    return;
  }
  scratch.keys.resize(values.size());
  out.resize(values.size());
  // counts[p]: how many keys have each value of digit p. Digit 0 is counted while the keys are
  // made, digit p + 1 while pass p scatters (the counting then overlaps the scatter's stores).
  std::array<std::array<uint32_t, kRadix>, kPasses> counts{};
  // The keys start in `out` so that, with all six passes needed (the usual case for real-valued
  // data), the last pass lands in `out` and decodes as it goes.
  std::size_t n = 0;
  uint64_t* keys = scratch.keys.data();
  double* other = out.data();
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    const uint64_t key = to_key(v);
    other[n++] = std::bit_cast<double>(key);
    ++counts[0][digit(key, 0)];
  }
  bool in_out = true;  // Where the keys are now: `out` (true) or scratch.keys (false).
  for (int p = 0; p < kPasses; ++p) {
    auto& offsets = counts[p];
    uint32_t* next = p + 1 < kPasses ? counts[p + 1].data() : nullptr;
    bool trivial = false;
    uint32_t sum = 0;
    for (uint32_t& c : offsets) {
      trivial = trivial || c == n;
      const uint32_t count = c;
      c = sum;
      sum += count;
    }
    if (trivial) {  // Every key has the same digit p: nothing moves; count the next digit only.
      if (p + 1 < kPasses) {
        for (std::size_t i = 0; i < n; ++i) {
          ++next[digit(in_out ? std::bit_cast<uint64_t>(other[i]) : keys[i], p + 1)];
        }
      }
      continue;
    }
    if (p + 1 == kPasses) {  // The last pass writes the doubles themselves.
      if (!in_out) {
        for (std::size_t i = 0; i < n; ++i) other[offsets[digit(keys[i], p)]++] = from_key(keys[i]);
        out.resize(n);
        return;
      }
      // From `out` back into scratch: decoded below on the way back.
      for (std::size_t i = 0; i < n; ++i) {
        const uint64_t key = std::bit_cast<uint64_t>(other[i]);
        keys[offsets[digit(key, p)]++] = key;
      }
      in_out = false;
      break;
    }
    if (!in_out) {
      for (std::size_t i = 0; i < n; ++i) {
        const uint64_t key = keys[i];
        other[offsets[digit(key, p)]++] = std::bit_cast<double>(key);
        ++next[digit(key, p + 1)];
      }
    } else {
      for (std::size_t i = 0; i < n; ++i) {
        const uint64_t key = std::bit_cast<uint64_t>(other[i]);
        keys[offsets[digit(key, p)]++] = key;
        ++next[digit(key, p + 1)];
      }
    }
    in_out = !in_out;
  }
  // The keys are decoded where they are, or on their way to `out`.
  if (in_out) {
    for (std::size_t i = 0; i < n; ++i) other[i] = from_key(std::bit_cast<uint64_t>(other[i]));
  } else {
    for (std::size_t i = 0; i < n; ++i) other[i] = from_key(keys[i]);
  }
  out.resize(n);
}

}  // namespace kiln::drift
