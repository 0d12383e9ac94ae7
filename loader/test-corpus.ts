/**
 * Test sources shared by the loader tests: GNU as programs that exercise every supported
 * relocation type (a user object and a definitions object per arch) and a C program with
 * data, rodata, bss, function pointers, a switch and calls, for readelf comparisons.
 */
import type { Arch } from '../isa/arch.ts';

/** Object that refers to everything; every relocation in it targets a global defined in DEFS or `host_fn`. */
export const RELOC_USER: Record<Arch, string> = {
  x64: `
  .text
  .globl _start
  .type _start, @function
_start:
  movabs $d_quad, %rax
  lea d_pc32(%rip), %rax
  call f_plt
  mov $d_abs32, %eax
  mov $d_abs32s, %rax
  mov g_rex@GOTPCREL(%rip), %rax
  call *g_x@GOTPCREL(%rip)
  mov $d_abs32s+8, %rcx
  call host_fn
  ret
  .size _start, .-_start

  .data
  .quad d_quad + 16
  .quad f_plt - .
  .long d_pc32 - . + 3
  .long g_plain@GOTPCREL
  .quad host_fn
`,
  aarch64: `
  .text
  .globl _start
  .type _start, %function
_start:
  adrp x0, d_page
  add x0, x0, :lo12:d_page
  adrp x1, d_b
  ldrb w2, [x1, :lo12:d_b]
  ldrh w2, [x1, :lo12:d_h]
  ldr w2, [x1, :lo12:d_w]
  ldr x2, [x1, :lo12:d_x]
  ldr q2, [x1, :lo12:d_q]
  adr x3, f_near
  adrp x4, :got:g_var
  ldr x4, [x4, :got_lo12:g_var]
  bl f_call
  b.eq f_cond
  tbz x0, #3, f_tst
  tbnz w0, #31, f_tst
  cbz x5, f_cond
  bl host_fn
  b f_jump
  adrp x6, d_page+4100
  add x6, x6, :lo12:d_page+4100
  .size _start, .-_start

  .data
  .quad d_page + 8
  .4byte d_page
  .4byte f_call - .
  .8byte f_call - .
  .quad host_fn
`,
};

export const RELOC_DEFS: Record<Arch, string> = {
  x64: `
  .text
  .globl f_plt
  .type f_plt, @function
f_plt:
  ret
  .size f_plt, .-f_plt

  .section .rodata
  .globl d_abs32, d_abs32s
d_abs32: .quad 1
d_abs32s: .quad 2, 3

  .data
  .globl d_quad, d_pc32, g_rex, g_x, g_plain
d_quad: .quad 4
d_pc32: .quad 5
g_rex: .quad 6
g_x: .quad 7
g_plain: .quad 8

  .section .text.inl,"axG",@progbits,inl_sig,comdat
  .weak inl_sig
inl_sig: ret
`,
  aarch64: `
  .text
  .globl f_near, f_call, f_cond, f_tst, f_jump
  .type f_call, %function
f_near: nop
f_call: ret
  .size f_call, .-f_call
f_cond: nop
f_tst: nop
f_jump: ret

  .data
  .globl d_page, d_b, d_h, d_w, d_x, d_q, g_var
  .p2align 4
d_q: .quad 1, 2
d_x: .quad 3
d_w: .4byte 4
d_h: .2byte 5
d_b: .byte 6
  .p2align 3
d_page: .quad 7
g_var: .quad 8
  .skip 8192

  .section .text.inl,"axG",%progbits,inl_sig,comdat
  .weak inl_sig
inl_sig: ret
`,
};

/** Assembled with both arches' gcc for reader-vs-readelf and link checks. */
export const C_PROGRAM = `
#include <stddef.h>
struct point { long x, y; };
static const int table[8] = {3, 1, 4, 1, 5, 9, 2, 6};
long counter = 7;
static long scratch[64];
extern long host_add(long, long);
static long sq(long v) { return v * v; }
static long twice(long v) { return 2 * v; }
long (*const ops[2])(long) = { sq, twice };
long sum_points(const struct point *p, int n) {
  long s = 0;
  for (int i = 0; i < n; i++) s += p[i].x * p[i].y;
  return s;
}
long classify(int k) {
  switch (k) {
    case 0: return 11; case 1: return 22; case 2: return 33; case 3: return 44;
    case 4: return 55; case 5: return 66; case 6: return 77; default: return -1;
  }
}
long fib(long n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
const char *greeting(void) { return "hello, loader"; }
long run(long n) {
  struct point pts[3] = {{1, 2}, {3, 4}, {5, 6}};
  for (int i = 0; i < 64; i++) scratch[i] = table[i & 7] + i;
  counter += scratch[n & 63];
  return host_add(ops[n & 1](n), sum_points(pts, 3) + classify((int)n) + fib(10) + counter + greeting()[0]);
}
`;
