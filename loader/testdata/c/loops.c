/* Nested loops with early exits and a collatz walk. */
long entry(long a, long b) {
  long total = 0;
  for (long i = 0; i < (a & 63); i++)
    for (long j = i; j < (b & 31); j++) {
      if (((i * j) & 7) == 5) continue;
      total += i * 3 - j;
      if (total > 100000) break;
    }
  unsigned long x = (unsigned long)(a ^ b) | 1;
  long steps = 0;
  while (x != 1 && steps < 1000) { x = (x & 1) ? 3 * x + 1 : x / 2; steps++; }
  return total * 1000 + steps;
}
