#pragma once

// Peak heap use of a stretch of code, for the fuzz targets' memory invariants: live bytes are
// counted through AddressSanitizer's malloc and free hooks (sanitizer/allocator_interface.h; the
// fuzz build always has ASan), the size of a freed block read back with
// __sanitizer_get_allocated_size. Requested sizes only (no allocator overhead). One measurement at
// a time; libFuzzer runs inputs on one thread.
//
//   PeakAllocation peak;          // starts counting at zero
//   decode(body);
//   check(peak.bytes() <= 64 * body.size() + (1 << 20), "...");

#include <sanitizer/allocator_interface.h>

#include <cstddef>
#include <cstdint>

namespace kiln::fuzz {

namespace detail {
inline bool tracking = false;
inline std::int64_t live = 0;
inline std::int64_t peak = 0;

inline void on_malloc(const volatile void*, std::size_t size) {
  if (!tracking) return;
  live += static_cast<std::int64_t>(size);
  if (live > peak) peak = live;
}

inline void on_free(const volatile void* p) {
  if (!tracking || p == nullptr) return;
  live -= static_cast<std::int64_t>(__sanitizer_get_allocated_size(const_cast<const void*>(p)));
}

inline bool install() {
  __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
  return true;
}
}  // namespace detail

class PeakAllocation {
 public:
  PeakAllocation() {
    static const bool installed = detail::install();
    (void)installed;
    detail::live = 0;
    detail::peak = 0;
    detail::tracking = true;
  }
  ~PeakAllocation() { detail::tracking = false; }
  PeakAllocation(const PeakAllocation&) = delete;
  PeakAllocation& operator=(const PeakAllocation&) = delete;

  // The most bytes live at once since construction, above what was live then.
  std::size_t bytes() const { return static_cast<std::size_t>(detail::peak); }
};

}  // namespace kiln::fuzz
