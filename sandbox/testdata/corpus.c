/* The sandbox's differential corpus: each function is called with the same arguments in the
 * sandbox and natively (x86-64 on this host, AArch64 under qemu-aarch64), compiled by gcc and
 * clang at -O0 and -O2; results, buffers and printed output must be equal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct point { int x, y; };
struct vec2 { double x, y; };
struct big { long a, b, c, d; };
struct rgba { unsigned char r, g, b, a; };
struct f3 { float a, b, c; };
struct ld { long n; double d; };
struct dl { double d; long n; };

long host_scale(long x, double k);

int add_i32(int a, int b) { return a + b; }
unsigned char sub_u8(unsigned char a, unsigned char b) { return a - b; }
short neg_i16(short a) { return -a; }
long mul_i64(long a, long b) { return a * b; }
unsigned long udiv_u64(unsigned long a, unsigned long b) { return b ? a / b : 0; }
double fmul_f64(double a, double b) { return a * b; }
float fdiv_f32(float a, float b) { return a / b; }
double mix_args(int a, double b, long c, float d, unsigned char e, double f, int g, double h, long i, double j, double k, double l, double m, long n, long o) {
  return a + b * 2 + c * 3 + d * 4 + e * 5 + f * 6 + g * 7 + h * 8 + i * 9 + j * 10 + k * 11 + l * 12 + m * 13 + n * 14 + o * 15;
}
long many_longs(long a, long b, long c, long d, long e, long f, long g, long h, long i, long j) {
  return a - b + c * 2 - d + e * 3 - f + g * 4 - h + i * 5 - j;
}
double poly(double x, const double *coef, int n) {
  double r = 0;
  for (int i = n - 1; i >= 0; i--) r = r * x + coef[i];
  return r;
}
unsigned sum_bytes(const unsigned char *b, unsigned long n) {
  unsigned s = 0;
  for (unsigned long i = 0; i < n; i++) s = s * 31 + b[i];
  return s;
}
void reverse(unsigned char *b, unsigned long n) {
  for (unsigned long i = 0; i < n / 2; i++) { unsigned char t = b[i]; b[i] = b[n - 1 - i]; b[n - 1 - i] = t; }
}
unsigned long str_len(const char *s) { return strlen(s); }
int count_char(const char *s, int c) {
  int n = 0;
  for (const char *p = strchr(s, c); p; p = strchr(p + 1, c)) n++;
  return n;
}
void to_upper(char *s) { for (; *s; s++) if (*s >= 'a' && *s <= 'z') *s -= 32; }
int str_compare(const char *a, const char *b) {
  int r = strcmp(a, b), q = strncmp(a, b, 3);
  return (r > 0) - (r < 0) + 10 * ((q > 0) - (q < 0));
}
void copy_str(char *dst, const char *src, unsigned long n) { strncpy(dst, src, n); dst[n - 1] = 0; }
struct point make_point(int x, int y) { struct point p = { x * 2, y - 1 }; return p; }
long point_dist2(struct point a, struct point b) {
  long dx = a.x - b.x, dy = a.y - b.y;
  return dx * dx + dy * dy;
}
struct vec2 vec_add(struct vec2 a, struct vec2 b) { struct vec2 r = { a.x + b.x, a.y * b.y }; return r; }
struct big make_big(long v) { struct big b = { v, v * 2, v * 3, -v }; return b; }
long big_sum(struct big b) { return b.a + b.b * 10 + b.c * 100 + b.d * 1000; }
unsigned rgb_pack(struct rgba c) { return (unsigned)c.r << 24 | (unsigned)c.g << 16 | (unsigned)c.b << 8 | c.a; }
struct f3 f3_scale(struct f3 v, float k) { struct f3 r = { v.a * k, v.b + k, v.c - k }; return r; }
struct dl swap_ld(struct ld v) { struct dl r = { v.d * 2, v.n + 1 }; return r; }
int fmt_ints(long a, long b) { return printf("%ld %5ld %-5ld| %x %o %+d %05d\n", a, b, a, (unsigned)b, (unsigned)a & 0777, (int)a, (int)b); }
int fmt_floats(double x) { return printf("%f %.3e %g %10.4f %G %.0f\n", x, x, x, x, x * 1e10, x); }
int fmt_str(const char *s) { return printf("[%s] [%10s] [%-6.3s] %c %%\n", s, s, s, s[0]); }
int snprintf_into(char *buf, unsigned long n, long v, double d) { return snprintf(buf, n, "v=%ld d=%.2f", v, d); }
long fib_rec(int n) { return n < 2 ? n : fib_rec(n - 1) + fib_rec(n - 2); }
long ackermann(long m, long n) {
  if (m == 0) return n + 1;
  if (n == 0) return ackermann(m - 1, 1);
  return ackermann(m - 1, ackermann(m, n - 1));
}
static long op_add(long a, long b) { return a + b; }
static long op_mul(long a, long b) { return a * b; }
static long op_xor(long a, long b) { return a ^ b; }
long apply_op(int which, long a, long b) {
  long (*const ops[])(long, long) = { op_add, op_mul, op_xor };
  return ops[which % 3](a, b);
}
long host_callback_sum(int n) {
  long s = 0;
  for (int i = 1; i <= n; i++) s += host_scale(i, 1.5);
  return s;
}
struct node { long v; struct node *next; };
long heap_list(int n) {
  struct node *head = 0;
  for (int i = 0; i < n; i++) {
    struct node *e = malloc(sizeof *e);
    e->v = i * i;
    e->next = head;
    head = e;
  }
  long s = 0;
  while (head) { struct node *next = head->next; s = s * 7 + head->v; free(head); head = next; }
  return s;
}
long realloc_grow(int n) {
  long *a = 0;
  for (int i = 0; i < n; i++) { a = realloc(a, (i + 1) * sizeof *a); a[i] = i * 3 + 1; }
  long s = 0;
  for (int i = 0; i < n; i++) s += a[i] * (i + 1);
  free(a);
  return s;
}
long calloc_zero(int n) {
  int *a = calloc(n, sizeof *a);
  long s = 0;
  for (int i = 0; i < n; i++) s += a[i] + i;
  free(a);
  return s;
}
int memops(unsigned char *buf, int n) {
  memset(buf, 0x5a, n);
  for (int i = 0; i < n / 2; i++) buf[i] = (unsigned char)i;
  memmove(buf + 2, buf, n / 2);
  memcpy(buf + n / 2, "hello", 5);
  int c = memcmp(buf, buf + 1, n - 1);
  return (c > 0) - (c < 0);
}
void sort_ints(int *a, int n) {
  for (int i = 0; i < n; i++)
    for (int j = 0; j + 1 < n - i; j++)
      if (a[j] > a[j + 1]) { int t = a[j]; a[j] = a[j + 1]; a[j + 1] = t; }
}
int puts_putchar(int n) {
  puts("lines:");
  for (int i = 0; i < n; i++) putchar('a' + i);
  putchar('\n');
  return puts("done");
}
int float_classify(double x) {
  if (x != x) return 0;
  if (x > 1e308 || x < -1e308) return x > 0 ? 1 : -1;
  return (int)(x * 10) % 7 + 10;
}
long collatz(long n) {
  long steps = 0;
  while (n != 1) { n = n % 2 ? 3 * n + 1 : n / 2; steps++; }
  return steps;
}
int bitops(unsigned long x) { return __builtin_popcountl(x) * 100 + __builtin_ctzl(x | 1ul << 63) + (int)(x >> 60); }
double dot3(const float *a, const float *b) { return (double)a[0] * b[0] + (double)a[1] * b[1] + (double)a[2] * b[2]; }
int parse_int(const char *s) {
  int sign = 1, v = 0;
  if (*s == '-') sign = -1, s++;
  while (*s >= '0' && *s <= '9') v = v * 10 + (*s++ - '0');
  return sign * v;
}
