/**
 * Where a Wasm call's results travel: Cranelift's `fast` calling convention, which wasmtime v17
 * gives every Wasm function (crates/cranelift: `wasm_call_signature`), as its ABI code
 * (`compute_arg_locs` in cranelift/codegen/src/isa/{x64,aarch64}/abi.rs) assigns return values:
 *
 * - integer results take the return registers of their class in order: rax, rdx on x86-64;
 *   x0–x7 on AArch64;
 * - every result past those goes to the *return area*, a buffer in the caller's frame (right
 *   above the outgoing stack arguments, whose size is rounded up to 16): each result takes
 *   max(size, 8) bytes at an offset aligned to that size, in declaration order; the area's size
 *   is rounded up to 16;
 * - the caller passes the return area's address as one more integer argument after the formal
 *   ones (the next free argument register, else the next stack-argument word), and the callee
 *   stores those results through it before it returns.
 *
 * The host side (runtime/trampolines.ts) follows the same rules, so a trampoline and compiled
 * code agree on every signature. stackscope passes f32/f64 values as bits in the integer
 * registers (docs/wasm-subset.md), so every result is integer-class here; Cranelift would give
 * float results xmm0–xmm1 / v0–v7 and the same area.
 */
import type { Arch } from '../../isa/arch.ts';
import { abiOf } from '../../isa/abi.ts';

/** The integer return registers of Cranelift's `fast` convention, in order. */
export const WASM_INT_RESULT_REGISTERS: Readonly<Record<Arch, readonly string[]>> = {
  x64: ['rax', 'rdx'],
  aarch64: ['x0', 'x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7'],
};

export interface ReturnConvention {
  /** Results in registers: result `index` in the `k`-th integer return register (k = position in this list). */
  readonly inRegisters: readonly { readonly index: number; readonly reg: string }[];
  /** Results in the return area, at `offset` bytes into it. */
  readonly inArea: readonly { readonly index: number; readonly offset: number }[];
  /** The return area's size (a multiple of 16; 0 when no result goes there). */
  readonly areaBytes: number;
}

const align = (n: number, to: number): number => Math.ceil(n / to) * to;

/**
 * The conventions already worked out, by arch and number of results: a convention depends on
 * nothing else (every result is integer-class and 8 bytes in the area), and the compiler asks
 * at every call site. They are frozen, so sharing one cannot let a caller change another's.
 */
const CONVENTIONS: Readonly<Record<Arch, ReturnConvention[]>> = { x64: [], aarch64: [] };

/** Where each of `results` travels on `arch` (`results` are value type names). */
export function returnConvention(arch: Arch, results: readonly string[]): ReturnConvention {
  const known = CONVENTIONS[arch];
  if (known === undefined) return conventionOf(arch, results.length);
  return (known[results.length] ??= conventionOf(arch, results.length));
}

function conventionOf(arch: Arch, count: number): ReturnConvention {
  const regs = WASM_INT_RESULT_REGISTERS[arch];
  const inRegisters: { index: number; reg: string }[] = [];
  const inArea: { index: number; offset: number }[] = [];
  let next = 0;
  for (let index = 0; index < count; index++) {
    if (inRegisters.length < regs.length) {
      inRegisters.push(Object.freeze({ index, reg: regs[inRegisters.length] }));
    } else {
      const size = 8; // max(size, 8): every value of the subset is 4 or 8 bytes
      next = align(next, size);
      inArea.push(Object.freeze({ index, offset: next }));
      next += size;
    }
  }
  return Object.freeze({ inRegisters: Object.freeze(inRegisters), inArea: Object.freeze(inArea), areaBytes: align(next, 16) });
}

/**
 * The return-area pointer's place in the call: argument `argIndex` of the integer argument
 * sequence (the two vmctx arguments and the `params` come first), in a register when
 * `argIndex` < the number of argument registers, else at stack-argument word `argIndex` − that.
 */
export function returnAreaPointerArg(arch: Arch, params: readonly unknown[]): { readonly argIndex: number; readonly stackWord: number | undefined } {
  const argIndex = 2 + params.length;
  const regs = abiOf(arch).intArgs.length;
  return { argIndex, stackWord: argIndex < regs ? undefined : argIndex - regs };
}

/** The stack-argument words of a call of type (params → results), the return-area pointer included. */
export function stackArgumentWords(arch: Arch, params: readonly unknown[], results: readonly string[]): number {
  const area = returnConvention(arch, results).areaBytes > 0;
  return Math.max(0, 2 + params.length + (area ? 1 : 0) - abiOf(arch).intArgs.length);
}

/**
 * The outgoing-argument bytes a call of type (params → results) needs: its stack arguments
 * (the return-area pointer among them when there is an area), then, at the next multiple of 16,
 * the return area (`areaBase`).
 */
export function callStackBytes(arch: Arch, params: readonly unknown[], results: readonly string[]): { readonly total: number; readonly areaBase: number; readonly convention: ReturnConvention } {
  const convention = returnConvention(arch, results);
  const words = stackArgumentWords(arch, params, results);
  if (convention.areaBytes === 0) return { total: 8 * words, areaBase: 8 * words, convention };
  const areaBase = align(8 * words, 16);
  return { total: areaBase + convention.areaBytes, areaBase, convention };
}
