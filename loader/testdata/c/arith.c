/* Integer math: signed and unsigned division, remainders, shifts, overflow wrap-around. */
long entry(long a, long b) {
  unsigned long ua = (unsigned long)a, ub = (unsigned long)b | 1;
  long q = b != 0 ? a / b : 0, r = b != 0 ? a % b : 0;
  long s = (a << 7) ^ (b >> 3) ^ (long)(ua >> 5);
  unsigned long m = ua * 0x9E3779B97F4A7C15ul + ub / 3 + ua % ub;
  int narrow = (int)a * (int)b;
  return q * 31 + r * 17 + s + (long)m + narrow + (long)(short)a + (long)(unsigned char)b;
}
