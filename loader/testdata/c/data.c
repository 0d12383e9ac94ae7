/* Initialized, writable arrays in .data that the code updates and reads back. */
long counters[8] = {1, 1, 2, 3, 5, 8, 13, 21};
static int small[5] = {-1, 2, -3, 4, -5};
long entry(long a, long b) {
  for (int i = 0; i < 8; i++) counters[i] += a * i - b;
  for (int i = 0; i < 5; i++) small[i] *= (int)(b | 1);
  long s = 0;
  for (int i = 0; i < 8; i++) s += counters[i] << (i & 3);
  for (int i = 0; i < 5; i++) s -= small[i];
  return s;
}
