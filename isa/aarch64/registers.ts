/**
 * AArch64 registers: names, Unicorn 2.0.1 register ids (from unicorn/arm64.h; X29 and X30
 * have their own low ids, X0..X28 are 199..227), and the AAPCS64 integer calling convention.
 */
export const AARCH64_GPRS = [
  'x0', 'x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7', 'x8', 'x9', 'x10', 'x11', 'x12', 'x13', 'x14', 'x15',
  'x16', 'x17', 'x18', 'x19', 'x20', 'x21', 'x22', 'x23', 'x24', 'x25', 'x26', 'x27', 'x28', 'x29', 'x30',
  'sp',
] as const;
export type Aarch64Gpr = (typeof AARCH64_GPRS)[number];

function aarch64Ids(): Record<Aarch64Gpr | 'pc' | 'nzcv', number> {
  const ids: Partial<Record<Aarch64Gpr | 'pc' | 'nzcv', number>> = { x29: 1, x30: 2, sp: 4, pc: 260, nzcv: 3 };
  for (let i = 0; i <= 28; i++) ids[`x${i}` as Aarch64Gpr] = 199 + i;
  return ids as Record<Aarch64Gpr | 'pc' | 'nzcv', number>;
}
export const AARCH64_UNICORN_IDS: Readonly<Record<Aarch64Gpr | 'pc' | 'nzcv', number>> = aarch64Ids();

/** AAPCS64: x0..x7 carry the first eight integer/pointer arguments; the rest go on the stack. */
export const AARCH64_AAPCS_INT_ARGS: readonly Aarch64Gpr[] = ['x0', 'x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7'];
export const AARCH64_AAPCS_INT_RESULT: Aarch64Gpr = 'x0';
export const AARCH64_AAPCS_CALLEE_SAVED: readonly Aarch64Gpr[] = [
  'x19', 'x20', 'x21', 'x22', 'x23', 'x24', 'x25', 'x26', 'x27', 'x28', 'x29', 'x30',
];

/** Unicorn ids of d0-7, the AAPCS64 vector argument registers (d0-d3 also return floats). */
export const AARCH64_D_ARG_IDS: readonly number[] = [40, 41, 42, 43, 44, 45, 46, 47];

/** DWARF register numbers (DWARF for the Arm 64-bit Architecture, §4.1): xN is N, SP is 31. */
export const AARCH64_DWARF: Readonly<Record<Aarch64Gpr, number>> = (() => {
  const numbers: Partial<Record<Aarch64Gpr, number>> = { sp: 31 };
  for (let i = 0; i <= 30; i++) numbers[`x${i}` as Aarch64Gpr] = i;
  return numbers as Record<Aarch64Gpr, number>;
})();
