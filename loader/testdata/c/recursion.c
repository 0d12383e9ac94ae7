/* Recursion: Fibonacci, Ackermann (small) and mutual recursion. */
static long fib(long n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
static long ack(long m, long n) { return m == 0 ? n + 1 : n == 0 ? ack(m - 1, 1) : ack(m - 1, ack(m, n - 1)); }
static long is_odd(long n);
static long is_even(long n) { return n == 0 ? 1 : is_odd(n - 1); }
static long is_odd(long n) { return n == 0 ? 0 : is_even(n - 1); }
long entry(long a, long b) {
  return fib((a & 15) + 5) * 100 + ack(2, b & 7) * 10 + is_even((a + b) & 127);
}
