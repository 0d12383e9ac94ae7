/**
 * One ABI and frame record per architecture, on the pattern of Cranelift's `isa/{x64,aarch64}/abi.rs` and
 * wasmtime v17's `crates/runtime/src/arch/{x86_64,aarch64}.rs`: the integer calling convention
 * (System V on x86-64 Linux, AAPCS64 on AArch64; stackscope's Wasm convention assigns integer
 * arguments the same way), where a call leaves its return address, the frame record that the
 * frame-pointer chain is made of, stack alignment and red zone. Every layer that needs such a
 * fact asks `abiOf(arch)` instead of testing the arch itself.
 */
import type { Arch } from './arch.ts';
import { AARCH64_REGISTERS, X64_REGISTERS, type RegisterFile } from './registers.ts';
import { X64_DWARF, X64_XMM_ARG_IDS } from './x64/registers.ts';
import { AARCH64_DWARF, AARCH64_D_ARG_IDS } from './aarch64/registers.ts';

export interface Abi extends RegisterFile {
  /**
   * Where a call leaves the return address: pushed at [SP] (x86-64 `call`), or in the link
   * register (AArch64 `bl`/`blr`).
   */
  readonly returnAddress: 'stack' | 'link-register';
  /**
   * Bytes the call instruction pushes: at a callee's first instruction the first stack argument
   * is at SP + this, and the caller's SP once the call returns is SP + this.
   */
  readonly callPushBytes: number;
  /** SP alignment at every call (both ABIs: 16). */
  readonly stackAlignment: number;
  /** Bytes below SP a leaf may use without moving SP (System V: 128; AAPCS64 on Linux: none). */
  readonly redZone: number;
  /**
   * The frame record the FP chain is made of: [FP + callerFp] holds the caller's FP,
   * [FP + returnAddress] the return address into the caller; `size` bytes in all.
   */
  readonly frameRecord: { readonly size: number; readonly callerFp: number; readonly returnAddress: number };
  /**
   * The alignment a stack walker may assert of every frame pointer (v17's
   * `assert_fp_is_aligned`): 16 on x86-64; undefined on AArch64, where AAPCS64 leaves the frame
   * record's place in the frame unspecified.
   */
  readonly fpAlignment: number | undefined;
  /** Both integer result registers, in order (a 16-byte result or a pair comes back in both). */
  readonly intResults: readonly string[];
  /** Unicorn ids of the vector argument registers, in order (xmm0-7 / d0-7); the first is
   * also the float result register. */
  readonly floatArgIds: readonly number[];
  /**
   * Where a callee finds the address of the memory it returns a large result in: a register
   * of its own (AAPCS64: x8), or undefined when the address is the first integer argument
   * (System V, which returns it in rax).
   */
  readonly indirectResult: string | undefined;
  /**
   * The register in which a variadic callee is told how many vector registers carry
   * arguments (System V: al, so rax); undefined when the ABI has none.
   */
  readonly vectorCount: string | undefined;
  /** DWARF register numbers (the psABI's mapping) of SP, FP and the link register. */
  readonly dwarf: { readonly sp: number; readonly fp: number; readonly lr: number | undefined };
  /**
   * The registers a stack unwinder starts from, with their DWARF numbers: SP, FP, the link
   * register if any, then the other callee-saved registers (CFI may restore any of them).
   */
  readonly unwindRegisters: readonly { readonly name: string; readonly dwarf: number }[];
}

/** The Linux system-call conventions: x86-64 `syscall`, i386 `int 0x80` (which x86-64 Linux
 * also serves, with 32-bit arguments), AArch64 `svc #0`. */
export type SyscallConvention = 'x64' | 'i386' | 'aarch64';

export interface SyscallAbi {
  /** The register with the system-call number, then the argument registers in order. */
  readonly registers: readonly string[];
  /** The register the result comes back in. */
  readonly result: string;
  /** Bits of each register the kernel reads (the i386 ABI reads 32). */
  readonly width: 32 | 64;
}

export const SYSCALL_ABIS: Readonly<Record<SyscallConvention, SyscallAbi>> = {
  x64: { registers: ['rax', 'rdi', 'rsi', 'rdx', 'r10', 'r8', 'r9'], result: 'rax', width: 64 },
  i386: { registers: ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp'], result: 'rax', width: 32 },
  aarch64: { registers: ['x8', 'x0', 'x1', 'x2', 'x3', 'x4', 'x5'], result: 'x0', width: 64 },
};

const FRAME_RECORD = { size: 16, callerFp: 0, returnAddress: 8 } as const;

/** SP, FP, the link register (if any), then the rest of the callee-saved set. */
function unwindRegisters(regs: RegisterFile, dwarf: Readonly<Record<string, number>>): Abi['unwindRegisters'] {
  const first = [regs.sp, regs.fp, ...(regs.lr === undefined ? [] : [regs.lr])];
  return [...first, ...regs.calleeSaved.filter((r) => !first.includes(r))].map((name) => ({ name, dwarf: dwarf[name] }));
}

export const X64_ABI: Abi = {
  ...X64_REGISTERS,
  returnAddress: 'stack',
  callPushBytes: 8,
  stackAlignment: 16,
  redZone: 128,
  frameRecord: FRAME_RECORD,
  fpAlignment: 16,
  intResults: ['rax', 'rdx'],
  floatArgIds: X64_XMM_ARG_IDS,
  indirectResult: undefined,
  vectorCount: 'rax',
  dwarf: { sp: X64_DWARF.rsp, fp: X64_DWARF.rbp, lr: undefined },
  unwindRegisters: unwindRegisters(X64_REGISTERS, X64_DWARF),
};

export const AARCH64_ABI: Abi = {
  ...AARCH64_REGISTERS,
  returnAddress: 'link-register',
  callPushBytes: 0,
  stackAlignment: 16,
  redZone: 0,
  frameRecord: FRAME_RECORD,
  fpAlignment: undefined,
  intResults: ['x0', 'x1'],
  floatArgIds: AARCH64_D_ARG_IDS,
  indirectResult: 'x8',
  vectorCount: undefined,
  dwarf: { sp: AARCH64_DWARF.sp, fp: AARCH64_DWARF.x29, lr: AARCH64_DWARF.x30 },
  unwindRegisters: unwindRegisters(AARCH64_REGISTERS, AARCH64_DWARF),
};

export function abiOf(arch: Arch): Abi {
  return arch === 'x64' ? X64_ABI : AARCH64_ABI;
}
