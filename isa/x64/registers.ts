/**
 * x86-64 registers: names, Unicorn 2.0.1 register ids (from unicorn/x86.h, generated once
 * with a C program against libunicorn-dev and checked by simulator tests that round-trip
 * every id through the engine), and the System V integer calling convention.
 */
export const X64_GPRS = [
  'rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15',
] as const;
export type X64Gpr = (typeof X64_GPRS)[number];

export const X64_UNICORN_IDS: Readonly<Record<X64Gpr | 'rip' | 'rflags', number>> = {
  rax: 35, rbx: 37, rcx: 38, rdx: 40, rsi: 43, rdi: 39, rbp: 36, rsp: 44,
  r8: 106, r9: 107, r10: 108, r11: 109, r12: 110, r13: 111, r14: 112, r15: 113,
  rip: 41, rflags: 25,
};

/** System V AMD64: the first six integer/pointer arguments; the rest go on the stack. */
export const X64_SYSV_INT_ARGS: readonly X64Gpr[] = ['rdi', 'rsi', 'rdx', 'rcx', 'r8', 'r9'];
export const X64_SYSV_INT_RESULT: X64Gpr = 'rax';
/** Registers a System V callee must preserve. */
export const X64_SYSV_CALLEE_SAVED: readonly X64Gpr[] = ['rbx', 'rbp', 'r12', 'r13', 'r14', 'r15'];

/** Unicorn ids of xmm0-7, the System V vector argument registers (xmm0 also returns floats). */
export const X64_XMM_ARG_IDS: readonly number[] = [122, 123, 124, 125, 126, 127, 128, 129];

/** DWARF register numbers of the general-purpose registers (System V AMD64 psABI, fig. 3.36);
 * 16 is the return-address column. */
export const X64_DWARF: Readonly<Record<X64Gpr, number>> = {
  rax: 0, rdx: 1, rcx: 2, rbx: 3, rsi: 4, rdi: 5, rbp: 6, rsp: 7,
  r8: 8, r9: 9, r10: 10, r11: 11, r12: 12, r13: 13, r14: 14, r15: 15,
};
