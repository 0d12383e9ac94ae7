/**
 * The relocation types the loader understands, per architecture: their psABI numbers, names
 * and how many bytes each patches (so the reader can check that a relocation lies inside its
 * section before anything is written).
 */
import type { Arch } from '../isa/arch.ts';

export interface RelocationTypeInfo {
  readonly name: string;
  /** Bytes patched at r_offset. */
  readonly width: number;
  /** Refers to a GOT slot for its symbol (the linker must synthesize one). */
  readonly usesGot: boolean;
  /** A call/jump whose out-of-range target may be reached through a veneer. */
  readonly veneerable: boolean;
  /** Refers to the GOT's base address (x86-64 GOTPC32/GOTPC64/GOTOFF64). */
  readonly usesGotBase: boolean;
}

function t(name: string, width: number, usesGot = false, veneerable = false, usesGotBase = false): RelocationTypeInfo {
  return { name, width, usesGot, veneerable, usesGotBase };
}

export const R_X86_64 = {
  NONE: 0,
  _64: 1,
  PC32: 2,
  PLT32: 4,
  GOTPCREL: 9,
  _32: 10,
  _32S: 11,
  _16: 12,
  PC16: 13,
  _8: 14,
  PC8: 15,
  PC64: 24,
  GOTOFF64: 25,
  GOTPC32: 26,
  GOTPC64: 29,
  GOTPCRELX: 41,
  REX_GOTPCRELX: 42,
} as const;

export const R_AARCH64 = {
  NONE: 0,
  NONE_OLD: 256,
  ABS64: 257,
  ABS32: 258,
  ABS16: 259,
  PREL64: 260,
  PREL32: 261,
  PREL16: 262,
  MOVW_UABS_G0: 263,
  MOVW_UABS_G0_NC: 264,
  MOVW_UABS_G1: 265,
  MOVW_UABS_G1_NC: 266,
  MOVW_UABS_G2: 267,
  MOVW_UABS_G2_NC: 268,
  MOVW_UABS_G3: 269,
  ADR_PREL_LO21: 274,
  ADR_PREL_PG_HI21: 275,
  ADR_PREL_PG_HI21_NC: 276,
  ADD_ABS_LO12_NC: 277,
  LDST8_ABS_LO12_NC: 278,
  TSTBR14: 279,
  CONDBR19: 280,
  JUMP26: 282,
  CALL26: 283,
  LDST16_ABS_LO12_NC: 284,
  LDST32_ABS_LO12_NC: 285,
  LDST64_ABS_LO12_NC: 286,
  LDST128_ABS_LO12_NC: 299,
  ADR_GOT_PAGE: 311,
  LD64_GOT_LO12_NC: 312,
} as const;

const X64_TYPES = new Map<number, RelocationTypeInfo>([
  [R_X86_64.NONE, t('R_X86_64_NONE', 0)],
  [R_X86_64._64, t('R_X86_64_64', 8)],
  [R_X86_64.PC32, t('R_X86_64_PC32', 4)],
  [R_X86_64.PLT32, t('R_X86_64_PLT32', 4, false, true)],
  [R_X86_64.GOTPCREL, t('R_X86_64_GOTPCREL', 4, true)],
  [R_X86_64._32, t('R_X86_64_32', 4)],
  [R_X86_64._32S, t('R_X86_64_32S', 4)],
  [R_X86_64._16, t('R_X86_64_16', 2)],
  [R_X86_64.PC16, t('R_X86_64_PC16', 2)],
  [R_X86_64._8, t('R_X86_64_8', 1)],
  [R_X86_64.PC8, t('R_X86_64_PC8', 1)],
  [R_X86_64.PC64, t('R_X86_64_PC64', 8)],
  [R_X86_64.GOTOFF64, t('R_X86_64_GOTOFF64', 8, false, false, true)],
  [R_X86_64.GOTPC32, t('R_X86_64_GOTPC32', 4, false, false, true)],
  [R_X86_64.GOTPC64, t('R_X86_64_GOTPC64', 8, false, false, true)],
  [R_X86_64.GOTPCRELX, t('R_X86_64_GOTPCRELX', 4, true)],
  [R_X86_64.REX_GOTPCRELX, t('R_X86_64_REX_GOTPCRELX', 4, true)],
]);

const AARCH64_TYPES = new Map<number, RelocationTypeInfo>([
  [R_AARCH64.NONE, t('R_AARCH64_NONE', 0)],
  [R_AARCH64.NONE_OLD, t('R_AARCH64_NONE', 0)],
  [R_AARCH64.ABS64, t('R_AARCH64_ABS64', 8)],
  [R_AARCH64.ABS32, t('R_AARCH64_ABS32', 4)],
  [R_AARCH64.ABS16, t('R_AARCH64_ABS16', 2)],
  [R_AARCH64.PREL64, t('R_AARCH64_PREL64', 8)],
  [R_AARCH64.PREL32, t('R_AARCH64_PREL32', 4)],
  [R_AARCH64.PREL16, t('R_AARCH64_PREL16', 2)],
  [R_AARCH64.MOVW_UABS_G0, t('R_AARCH64_MOVW_UABS_G0', 4)],
  [R_AARCH64.MOVW_UABS_G0_NC, t('R_AARCH64_MOVW_UABS_G0_NC', 4)],
  [R_AARCH64.MOVW_UABS_G1, t('R_AARCH64_MOVW_UABS_G1', 4)],
  [R_AARCH64.MOVW_UABS_G1_NC, t('R_AARCH64_MOVW_UABS_G1_NC', 4)],
  [R_AARCH64.MOVW_UABS_G2, t('R_AARCH64_MOVW_UABS_G2', 4)],
  [R_AARCH64.MOVW_UABS_G2_NC, t('R_AARCH64_MOVW_UABS_G2_NC', 4)],
  [R_AARCH64.MOVW_UABS_G3, t('R_AARCH64_MOVW_UABS_G3', 4)],
  [R_AARCH64.ADR_PREL_LO21, t('R_AARCH64_ADR_PREL_LO21', 4)],
  [R_AARCH64.ADR_PREL_PG_HI21, t('R_AARCH64_ADR_PREL_PG_HI21', 4)],
  [R_AARCH64.ADR_PREL_PG_HI21_NC, t('R_AARCH64_ADR_PREL_PG_HI21_NC', 4)],
  [R_AARCH64.ADD_ABS_LO12_NC, t('R_AARCH64_ADD_ABS_LO12_NC', 4)],
  [R_AARCH64.LDST8_ABS_LO12_NC, t('R_AARCH64_LDST8_ABS_LO12_NC', 4)],
  [R_AARCH64.TSTBR14, t('R_AARCH64_TSTBR14', 4)],
  [R_AARCH64.CONDBR19, t('R_AARCH64_CONDBR19', 4)],
  [R_AARCH64.JUMP26, t('R_AARCH64_JUMP26', 4, false, true)],
  [R_AARCH64.CALL26, t('R_AARCH64_CALL26', 4, false, true)],
  [R_AARCH64.LDST16_ABS_LO12_NC, t('R_AARCH64_LDST16_ABS_LO12_NC', 4)],
  [R_AARCH64.LDST32_ABS_LO12_NC, t('R_AARCH64_LDST32_ABS_LO12_NC', 4)],
  [R_AARCH64.LDST64_ABS_LO12_NC, t('R_AARCH64_LDST64_ABS_LO12_NC', 4)],
  [R_AARCH64.LDST128_ABS_LO12_NC, t('R_AARCH64_LDST128_ABS_LO12_NC', 4)],
  [R_AARCH64.ADR_GOT_PAGE, t('R_AARCH64_ADR_GOT_PAGE', 4, true)],
  [R_AARCH64.LD64_GOT_LO12_NC, t('R_AARCH64_LD64_GOT_LO12_NC', 4, true)],
]);

/** Describes relocation `type` of `arch`, or undefined when the loader does not support it. */
export function relocationInfo(arch: Arch, type: number): RelocationTypeInfo | undefined {
  return (arch === 'x64' ? X64_TYPES : AARCH64_TYPES).get(type);
}

/** Type number for a relocation name (with or without the `R_X86_64_` / `R_AARCH64_` prefix). */
export function relocationTypeByName(arch: Arch, name: string): number | undefined {
  const table = arch === 'x64' ? X64_TYPES : AARCH64_TYPES;
  const prefix = arch === 'x64' ? 'R_X86_64_' : 'R_AARCH64_';
  const full = name.startsWith(prefix) ? name : prefix + name;
  for (const [num, info] of table) if (info.name === full) return num;
  return undefined;
}
