// Heap allocations made by the calling thread, counted two ways:
//  - heap: every malloc / calloc / realloc / aligned allocation in the
//    process. This executable interposes glibc's malloc family (see
//    alloc_count.cc), so libcrypto, seedpool.so's C++ `new`, libstdc++ and
//    any other module all land here;
//  - libcrypto: OPENSSL_malloc / OPENSSL_realloc alone, through
//    CRYPTO_set_mem_functions (each of these is also one heap allocation).
// The counters are per thread: a background thread (seedpool's gatherer)
// never shows up in the count of the thread that calls RAND_bytes.
#pragma once

#include <cstdint>

namespace seedpool::bench {

struct AllocCounts {
  std::uint64_t heap = 0;
  std::uint64_t libcrypto = 0;
};

// Installs the libcrypto counters. CRYPTO_set_mem_functions refuses once
// libcrypto has allocated anything, so this is the first thing main does;
// false means it was too late (the libcrypto column then reads n/a).
[[nodiscard]] bool install_libcrypto_alloc_counter() noexcept;

// True when the heap counter sees allocations made inside other libraries
// (the interposition is in effect). False in sanitizer builds, whose
// runtimes own malloc: there the heap column reads n/a.
bool heap_alloc_counter_active() noexcept;

// This thread's totals since it started; take differences.
AllocCounts thread_alloc_counts() noexcept;

}  // namespace seedpool::bench
