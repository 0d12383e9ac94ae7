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
}

const FRAME_RECORD = { size: 16, callerFp: 0, returnAddress: 8 } as const;

export const X64_ABI: Abi = {
  ...X64_REGISTERS,
  returnAddress: 'stack',
  callPushBytes: 8,
  stackAlignment: 16,
  redZone: 128,
  frameRecord: FRAME_RECORD,
  fpAlignment: 16,
};

export const AARCH64_ABI: Abi = {
  ...AARCH64_REGISTERS,
  returnAddress: 'link-register',
  callPushBytes: 0,
  stackAlignment: 16,
  redZone: 0,
  frameRecord: FRAME_RECORD,
  fpAlignment: undefined,
};

export function abiOf(arch: Arch): Abi {
  return arch === 'x64' ? X64_ABI : AARCH64_ABI;
}
