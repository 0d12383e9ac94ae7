/* Read-only tables in .rodata, including a table of string pointers. */
static const unsigned short crc_like[16] = {0x0000, 0x1081, 0x2102, 0x3183, 0x4204, 0x5285, 0x6306, 0x7387,
                                             0x8408, 0x9489, 0xa50a, 0xb58b, 0xc60c, 0xd68d, 0xe70e, 0xf78f};
static const char *const names[] = {"alpha", "beta", "gamma", "delta"};
long entry(long a, long b) {
  unsigned long h = 0xffff;
  for (long i = 0; i < 16; i++) h = (h >> 4) ^ crc_like[(h ^ (unsigned long)(a >> (i & 7)) ^ (unsigned long)b) & 15];
  const char *s = names[(a + b) & 3];
  long len = 0;
  while (s[len]) h += (unsigned long)s[len++] * 131;
  return (long)h * 10 + len;
}
