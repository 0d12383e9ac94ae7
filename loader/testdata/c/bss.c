/* Zero-initialized storage in .bss (and a COMMON-like tentative definition): a sieve. */
static unsigned char composite[4096];
long hits[64];
long entry(long a, long b) {
  long limit = 1000 + (a & 1023);
  long primes = 0, last = 0;
  for (long i = 2; i < limit; i++) {
    if (composite[i]) continue;
    primes++;
    last = i;
    hits[i & 63] += b;
    for (long j = i * i; j < limit; j += i) composite[j] = 1;
  }
  return primes * 100000 + last + hits[(a ^ b) & 63];
}
