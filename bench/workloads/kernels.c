/*
 * bench/timing's compiled workload: six small compute kernels of the kind people run in a
 * sandbox (xorshift fill, insertion sort, a sieve, a matrix product, table-driven CRC-32,
 * FNV-1a hashing), built by the bench with gcc -O2 for each arch and run through the loader.
 * Self-contained: no libc, no host functions.
 */
typedef unsigned long u64;
typedef unsigned int u32;

static u32 data[4096];
static unsigned char sieve[65536];
static long matrices[3 * 32 * 32];
static u32 crc_table[256];

static void fill(u64 seed) {
  for (int i = 0; i < 4096; i++) {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    data[i] = (u32)seed;
  }
}

static void insertion_sort(u32 *a, int n) {
  for (int i = 1; i < n; i++) {
    u32 v = a[i];
    int j = i - 1;
    while (j >= 0 && a[j] > v) {
      a[j + 1] = a[j];
      j--;
    }
    a[j + 1] = v;
  }
}

static long count_primes(int n) {
  long count = 0;
  for (int i = 0; i < n; i++) sieve[i] = 1;
  for (int i = 2; i < n; i++) {
    if (!sieve[i]) continue;
    count++;
    for (int j = i + i; j < n; j += i) sieve[j] = 0;
  }
  return count;
}

static long matrix_product(int n) {
  long *a = matrices, *b = matrices + n * n, *c = matrices + 2 * n * n;
  for (int i = 0; i < n * n; i++) {
    a[i] = i % 7;
    b[i] = i % 5;
  }
  for (int i = 0; i < n; i++) {
    for (int j = 0; j < n; j++) {
      long s = 0;
      for (int k = 0; k < n; k++) s += a[i * n + k] * b[k * n + j];
      c[i * n + j] = s;
    }
  }
  return c[n * n - 1];
}

static u32 crc32(const unsigned char *p, int n) {
  if (crc_table[1] == 0) {
    for (u32 i = 0; i < 256; i++) {
      u32 c = i;
      for (int k = 0; k < 8; k++) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      crc_table[i] = c;
    }
  }
  u32 c = ~0u;
  for (int i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return ~c;
}

static u64 fnv1a(const unsigned char *p, int n) {
  u64 h = 14695981039346656037ul;
  for (int i = 0; i < n; i++) {
    h ^= p[i];
    h *= 1099511628211ul;
  }
  return h;
}

/** Runs every kernel `rounds` times; returns a checksum of their results. */
long run_kernels(long rounds, long seed) {
  long acc = 0;
  for (long r = 0; r < rounds; r++) {
    fill((u64)(seed + r));
    insertion_sort(data, 1024);
    acc += data[7];
    acc += count_primes(65536);
    acc += matrix_product(32);
    acc += crc32((const unsigned char *)data, 16384);
    acc += (long)fnv1a(sieve, 65536);
  }
  return acc;
}
