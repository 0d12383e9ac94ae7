/*
 * bench/compiler's six kernels in C, the same algorithms as compiler-kernels.wat: gcc -O2
 * (with -fno-tree-loop-distribute-patterns, so that `copy` stays a loop rather than a call
 * to memcpy) is the yardstick for the instructions stackscope's compiled Wasm executes.
 */
int fib(int n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

int sum(const int *a, int n) {
  int s = 0;
  for (int i = 0; i < n; i++) s += a[i];
  return s;
}

void copy(int *dst, const int *src, int n) {
  for (int i = 0; i < n; i++) dst[i] = src[i];
}

int collatz(int n) {
  int steps = 0;
  for (int i = 1; i <= n; i++) {
    unsigned x = (unsigned)i;
    while (x != 1) {
      x = (x & 1) ? 3 * x + 1 : x >> 1;
      steps++;
    }
  }
  return steps;
}

void matmul(int *c, const int *a, const int *b, int n) {
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      int s = 0;
      for (int k = 0; k < n; k++) s += a[i * n + k] * b[k * n + j];
      c[i * n + j] = s;
    }
}

unsigned crc32(const unsigned char *p, int n) {
  unsigned c = 0xffffffffu;
  for (int i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
  }
  return ~c;
}
