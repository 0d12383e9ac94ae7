/* bench/sandbox's kernels: a tiny function (the cost of one call through the sandbox API) and a
 * memory-heavy one (a byte histogram, a prefix sum and a strided shuffle over a buffer), run in
 * the sandbox and, for comparison, natively under qemu-aarch64 on the same input. */
int tiny_add(int a, int b) { return a + b; }

long memory_kernel(unsigned char *buf, unsigned long n, int rounds) {
  static unsigned long hist[256];
  long acc = 0;
  for (int r = 0; r < rounds; r++) {
    for (int i = 0; i < 256; i++) hist[i] = 0;
    for (unsigned long i = 0; i < n; i++) hist[buf[i]]++;
    unsigned long sum = 0;
    for (unsigned long i = 0; i < n; i++) { sum += buf[i]; buf[i] = (unsigned char)(sum ^ (sum >> 8)); }
    for (unsigned long i = 0; i < n; i += 64) { unsigned long j = (i * 2654435761u) & (n - 1); unsigned char t = buf[i]; buf[i] = buf[j]; buf[j] = t; }
    for (int i = 0; i < 256; i++) acc += (long)hist[i] * (i + 1);
  }
  return acc;
}
