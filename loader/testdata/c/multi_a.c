/* Calls between two objects, with a global defined in the other object. */
extern long shared_scale;
extern long helper(long x, long y);
long entry(long a, long b) {
  shared_scale = a & 15;
  long s = 0;
  for (int i = 0; i < 5; i++) s += helper(a + i, b - i);
  return s;
}
