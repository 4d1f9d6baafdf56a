#include "alloc_count.h"

#include <openssl/crypto.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

// glibc's own allocator entry points, exported for programs that interpose
// malloc (glibc manual, "Replacing malloc"). Forwarding every interposed
// function to them keeps one allocator behind all of them, so memory from
// any of them may be freed by any other, as usual.
extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* ptr, std::size_t size);
void* __libc_memalign(std::size_t alignment, std::size_t size);
void __libc_free(void* ptr);
}

namespace {

// Static TLS of the executable: reading or bumping it never allocates and
// never calls into the dynamic loader, so it is safe inside malloc itself.
__attribute__((tls_model("initial-exec"))) thread_local std::uint64_t t_heap_allocs = 0;
__attribute__((tls_model("initial-exec"))) thread_local std::uint64_t t_libcrypto_allocs =
    0;

// libcrypto's hooks: count, then allocate through the (counted) heap.
void* counting_crypto_malloc(std::size_t size, const char* /*file*/, int /*line*/) {
  ++t_libcrypto_allocs;
  return std::malloc(size);
}

void* counting_crypto_realloc(void* ptr, std::size_t size, const char* /*file*/,
                              int /*line*/) {
  ++t_libcrypto_allocs;
  return std::realloc(ptr, size);
}

void counting_crypto_free(void* ptr, const char* /*file*/, int /*line*/) {
  std::free(ptr);
}

}  // namespace

#ifndef RAND_BENCH_NO_HEAP_COUNT
// The interposed malloc family. The executable defines these symbols and
// exports them, and the dynamic loader binds every library's malloc calls
// (including modules dlopen()ed later, such as seedpool.so) to the first
// definition in its search order: this one. A realloc counts as an
// allocation (it may move the block); free counts nothing. glibc headers
// declare these noexcept, so the definitions must match.
extern "C" {

void* malloc(std::size_t size) noexcept {
  ++t_heap_allocs;
  return __libc_malloc(size);
}

void* calloc(std::size_t count, std::size_t size) noexcept {
  ++t_heap_allocs;
  return __libc_calloc(count, size);
}

void* realloc(void* ptr, std::size_t size) noexcept {
  ++t_heap_allocs;
  return __libc_realloc(ptr, size);
}

void free(void* ptr) noexcept { __libc_free(ptr); }

void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
  ++t_heap_allocs;
  return __libc_memalign(alignment, size);
}

void* memalign(std::size_t alignment, std::size_t size) noexcept {
  ++t_heap_allocs;
  return __libc_memalign(alignment, size);
}

int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
  if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
  ++t_heap_allocs;
  void* p = __libc_memalign(alignment, size);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}

}  // extern "C"
#endif  // RAND_BENCH_NO_HEAP_COUNT

namespace seedpool::bench {

bool install_libcrypto_alloc_counter() noexcept {
  return CRYPTO_set_mem_functions(counting_crypto_malloc, counting_crypto_realloc,
                                  counting_crypto_free) == 1;
}

bool heap_alloc_counter_active() noexcept {
#ifdef RAND_BENCH_NO_HEAP_COUNT
  return false;
#else
  // strdup allocates inside libc, through the same binding every library's
  // malloc calls take.
  const std::uint64_t before = t_heap_allocs;
  char* copy = strdup("x");
  std::free(copy);
  return t_heap_allocs != before;
#endif
}

AllocCounts thread_alloc_counts() noexcept { return {t_heap_allocs, t_libcrypto_allocs}; }

}  // namespace seedpool::bench
