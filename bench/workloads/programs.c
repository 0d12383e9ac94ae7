/*
 * bench/timing's whole programs: each kernel of kernels.c (included) behind its own entry
 * point, and all of them as run_kernels does, built with gcc -O2 once. The same object runs
 * natively under rdtsc and through the Machine under the cycle model. Each entry point's
 * result depends only on its argument (and on state its own first call sets up).
 */
#include "kernels.c"

long prog_sort(long seed) {
  fill((u64)seed);
  insertion_sort(data, 1024);
  return data[7];
}

long prog_primes(long seed) {
  return count_primes(65536) + seed;
}

long prog_matrix(long seed) {
  return matrix_product(32) + seed;
}

long prog_crc32(long seed) {
  fill((u64)seed);
  return crc32((const unsigned char *)data, 16384);
}

long prog_fnv1a(long seed) {
  fill((u64)seed);
  return (long)fnv1a((const unsigned char *)data, 16384);
}

long prog_all(long seed) {
  return run_kernels(1, seed);
}
