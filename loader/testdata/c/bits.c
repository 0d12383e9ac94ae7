/* Bit manipulation: counting, rotation, byte swaps, bit reversal. */
static unsigned long rotl(unsigned long x, int r) { return (x << r) | (x >> ((64 - r) & 63)); }
long entry(long a, long b) {
  unsigned long x = (unsigned long)a, y = (unsigned long)b;
  long pc = __builtin_popcountl(x) * 1000 + __builtin_popcountl(y);
  long lz = x ? __builtin_clzl(x) : 64, tz = y ? __builtin_ctzl(y) : 64;
  unsigned long r = rotl(x, (int)(y & 63)) ^ __builtin_bswap64(y);
  unsigned long rev = 0;
  for (int i = 0; i < 64; i++) rev |= ((x >> i) & 1) << (63 - i);
  return pc + lz * 100 + tz + (long)(r ^ rev);
}
