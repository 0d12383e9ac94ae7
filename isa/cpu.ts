/**
 * One record per architecture of the instruction-set and CPU-exception facts a machine needs
 * beside the calling convention (`abi.ts`): instruction width, how to recognise the call before
 * a return address, the breakpoint and return encodings the host gateway's stubs are made of,
 * and which interrupt numbers the emulator (Unicorn 2.0.1, i.e. QEMU's exception numbers)
 * reports for which fault, with where the reported PC then stands. The simulator asks
 * `cpuOf(arch)` instead of testing the arch.
 */
import type { Arch } from './arch.ts';

/** The guest faults an interrupt number stands for (a subset of the simulator's trap kinds). */
export type InterruptFault = 'divide-error' | 'breakpoint' | 'invalid-instruction';

export interface Cpu {
  readonly arch: Arch;
  /** Bytes of every instruction (AArch64: 4); undefined for a variable-length ISA. */
  readonly instructionSize: number | undefined;
  /**
   * How to find the call instruction that left a return address: on a fixed-width ISA, test
   * the word right before it (AArch64 `bl`, `blr`); on a variable-length one, disassemble each
   * length a call may have (likeliest first) and look for the call mnemonic.
   */
  readonly callBefore:
    | { readonly isCallWord: (word: number) => boolean }
    | { readonly lengths: readonly number[]; readonly mnemonic: string };
  /**
   * The breakpoint instruction (x86-64 `int3`, AArch64 `brk #imm`): its encoding (x86-64 has
   * no immediate), its length, the interrupt number it raises, and how many bytes past the
   * instruction the PC stands when the emulator reports it (`int3` is a trap: the PC is after).
   */
  readonly breakpoint: {
    readonly encode: (immediate: number) => readonly number[];
    readonly length: number;
    readonly interrupt: number;
    readonly pcAfter: number;
  };
  /** The encoding of a plain return (`ret`). */
  readonly ret: readonly number[];
  /** A one-instruction no-op, to pad code with. */
  readonly nop: readonly number[];
  /** Bytes the PC stands past a halting instruction when the emulator stops on it without an
   * interrupt (x86-64 `hlt`: 1). */
  readonly haltPcAfter: number;
  /** Interrupt number → the fault it reports and how far the reported PC stands past the
   * faulting instruction. */
  readonly interrupts: Readonly<Record<number, { readonly fault: InterruptFault; readonly pcAfter: number }>>;
  /**
   * Whether the hardware checks 16-byte SP alignment on SP-relative accesses (AArch64's
   * SCTLR_EL1.SA0, which Linux sets; the emulator omits the check, so the simulator makes it).
   */
  readonly checksSpAlignment: boolean;
}

function u32le(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

export const X64_CPU: Cpu = {
  arch: 'x64',
  instructionSize: undefined,
  callBefore: { lengths: [5, 2, 3, 6, 7, 4], mnemonic: 'call' },
  breakpoint: { encode: () => [0xcc], length: 1, interrupt: 3, pcAfter: 1 },
  ret: [0xc3],
  nop: [0x90],
  haltPcAfter: 1,
  // QEMU's x86 exception vectors: #DE = 0, #BP = 3, #UD = 6.
  interrupts: {
    0: { fault: 'divide-error', pcAfter: 0 },
    3: { fault: 'breakpoint', pcAfter: 1 },
    6: { fault: 'invalid-instruction', pcAfter: 0 },
  },
  checksSpAlignment: false,
};

export const AARCH64_CPU: Cpu = {
  arch: 'aarch64',
  instructionSize: 4,
  // bl imm26; blr xN.
  callBefore: { isCallWord: (w) => (w & 0xfc000000) >>> 0 === 0x94000000 || (w & 0xfffffc1f) >>> 0 === 0xd63f0000 },
  breakpoint: { encode: (imm) => u32le(0xd4200000 | ((imm & 0xffff) << 5)), length: 4, interrupt: 7, pcAfter: 0 },
  ret: u32le(0xd65f03c0),
  nop: u32le(0xd503201f),
  haltPcAfter: 0,
  // QEMU's AArch64 exception numbers: EXCP_UDEF = 1, EXCP_BKPT = 7.
  interrupts: {
    1: { fault: 'invalid-instruction', pcAfter: 0 },
    7: { fault: 'breakpoint', pcAfter: 0 },
  },
  checksSpAlignment: true,
};

export function cpuOf(arch: Arch): Cpu {
  return arch === 'x64' ? X64_CPU : AARCH64_CPU;
}
