/* Function pointers: a dispatch table and callbacks passed as arguments. */
static long add(long x, long y) { return x + y; }
static long sub(long x, long y) { return x - y; }
static long mul(long x, long y) { return x * y; }
static long xor_(long x, long y) { return x ^ y; }
static long (*const ops[4])(long, long) = {add, sub, mul, xor_};
static long fold(long (*f)(long, long), long init, long n) {
  long acc = init;
  for (long i = 1; i <= n; i++) acc = f(acc, i);
  return acc;
}
long entry(long a, long b) {
  long r = 0;
  for (int i = 0; i < 8; i++) r = ops[(a + i) & 3](r, b + i);
  return r + fold(ops[b & 3], a, 10);
}
