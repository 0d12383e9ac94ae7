/* A dense switch (a jump table at -O2) and a sparse one. */
static long dense(long k, long x) {
  switch (k) {
    case 0: return x + 1;
    case 1: return x * 2;
    case 2: return x - 7;
    case 3: return x << 3;
    case 4: return x ^ 0x55;
    case 5: return -x;
    case 6: return x / 3;
    case 7: return x % 11;
    case 8: return x & 0xf0;
    case 9: return x | 3;
    default: return 42;
  }
}
static long sparse(long k) {
  switch (k) { case 3: return 1; case 100: return 2; case 1000: return 3; case -5: return 4; default: return 0; }
}
long entry(long a, long b) {
  long s = 0;
  for (long i = -1; i < 12; i++) s = s * 7 + dense((a + i) % 12, b + i);
  return s + sparse(a) + sparse(b);
}
