/* A call to a host-provided function (the harness or the sandbox supplies host_mix). */
extern long host_mix(long x, long y);
long entry(long a, long b) {
  long s = 0;
  for (long i = 0; i < 6; i++) s = host_mix(s + i, a - b * i);
  return s;
}
