import type { Arch } from './arch.ts';
import { X64_GPRS, X64_UNICORN_IDS, X64_SYSV_INT_ARGS, X64_SYSV_INT_RESULT, X64_SYSV_CALLEE_SAVED } from './x64/registers.ts';
import {
  AARCH64_GPRS, AARCH64_UNICORN_IDS, AARCH64_AAPCS_INT_ARGS, AARCH64_AAPCS_INT_RESULT, AARCH64_AAPCS_CALLEE_SAVED,
} from './aarch64/registers.ts';

/**
 * What the architecture-independent layers need to know about one ISA's registers and its
 * platform integer calling convention (System V on x86-64 Linux, AAPCS64 on AArch64).
 */
export interface RegisterFile {
  readonly arch: Arch;
  /** General-purpose register names, in encoding order, including the stack pointer. */
  readonly gprs: readonly string[];
  /** Unicorn register id by name (gprs plus pc, sp, fp and flags aliases below). */
  readonly ids: Readonly<Record<string, number>>;
  readonly pc: string;
  readonly sp: string;
  readonly fp: string;
  /** The link register, when return addresses live in a register (AArch64 x30). */
  readonly lr: string | undefined;
  readonly flags: string;
  readonly intArgs: readonly string[];
  readonly intResult: string;
  readonly calleeSaved: readonly string[];
}

export const X64_REGISTERS: RegisterFile = {
  arch: 'x64',
  gprs: X64_GPRS,
  ids: X64_UNICORN_IDS,
  pc: 'rip', sp: 'rsp', fp: 'rbp', lr: undefined, flags: 'rflags',
  intArgs: X64_SYSV_INT_ARGS,
  intResult: X64_SYSV_INT_RESULT,
  calleeSaved: X64_SYSV_CALLEE_SAVED,
};

export const AARCH64_REGISTERS: RegisterFile = {
  arch: 'aarch64',
  gprs: AARCH64_GPRS,
  ids: { ...AARCH64_UNICORN_IDS, fp: AARCH64_UNICORN_IDS.x29, lr: AARCH64_UNICORN_IDS.x30 },
  pc: 'pc', sp: 'sp', fp: 'x29', lr: 'x30', flags: 'nzcv',
  intArgs: AARCH64_AAPCS_INT_ARGS,
  intResult: AARCH64_AAPCS_INT_RESULT,
  calleeSaved: AARCH64_AAPCS_CALLEE_SAVED,
};

export function registersOf(arch: Arch): RegisterFile {
  return arch === 'x64' ? X64_REGISTERS : AARCH64_REGISTERS;
}
