/* A key=value parser over a caller's buffer: "name=ada;age=36;" calls on_record once per
 * record with the key (pointer and length) and the value; it returns the number of records,
 * or -(1 + offset) at the first malformed byte. report() asks the kernel to write a line:
 * a system call, which the sandbox denies unless its policy allows it. */
#include <stddef.h>

void on_record(const char *key, size_t key_len, long value);

long parse(const char *buf, size_t len) {
  long records = 0;
  size_t i = 0;
  while (i < len) {
    size_t key = i;
    while (i < len && buf[i] != '=' && buf[i] != ';') i++;
    if (i == len || buf[i] != '=' || i == key) return -(long)(1 + i);
    size_t key_len = i - key;
    i++;
    long value = 0;
    int digits = 0;
    while (i < len && buf[i] >= '0' && buf[i] <= '9') value = value * 10 + (buf[i++] - '0'), digits++;
    if (!digits || i == len || buf[i] != ';') return -(long)(1 + i);
    i++;
    on_record(buf + key, key_len, value);
    records++;
  }
  return records;
}

long report(void) {
  static const char line[] = "parsed\n";
  long r;
#if defined(__x86_64__)
  __asm__ volatile("syscall" : "=a"(r) : "a"(1L), "D"(1L), "S"(line), "d"(sizeof line - 1) : "rcx", "r11", "memory");
#else
  register long x0 __asm__("x0") = 1;
  register const char *x1 __asm__("x1") = line;
  register long x2 __asm__("x2") = sizeof line - 1;
  register long x8 __asm__("x8") = 64;
  __asm__ volatile("svc #0" : "+r"(x0) : "r"(x1), "r"(x2), "r"(x8) : "memory");
  r = x0;
#endif
  return r;
}
