/**
 * AArch64 instruction encoder for the code stackscope's compiler and runtime trampolines emit.
 *
 * Every instruction is one little-endian 32-bit word. Where the architecture has several
 * encodings for one assembly line (`ldr` scaled vs `ldur`, `add` shifted vs extended register,
 * `mov` as movz/movn/orr), the encoder picks the one GNU as picks, so tests and listings compare
 * byte for byte. Register 31 is sp or zr depending on the operand slot; the register names
 * (`sp`/`wsp` vs `xzr`/`wzr`) say which one the caller means, and a slot that cannot hold it throws.
 */
import { CodeBuffer, EncodeError, type Label, type RelocationKind } from '../code-buffer.ts';

// One error class for every encoder: `instanceof EncodeError` covers both arches.
export { EncodeError };

/** Two-source scalar FP operations and their opcode field (bits 15–12). */
const FP2_OPCODE = { fmul: 0x0, fdiv: 0x1, fadd: 0x2, fsub: 0x3, fmax: 0x4, fmin: 0x5 } as const;
export type Fp2Op = keyof typeof FP2_OPCODE;
/** One-source scalar FP operations and their opcode field (bits 20–15). */
const FP1_OPCODE = { fmov: 0x00, fabs: 0x01, fneg: 0x02, fsqrt: 0x03, frintn: 0x08, frintp: 0x09, frintm: 0x0a, frintz: 0x0b } as const;
export type Fp1Op = keyof typeof FP1_OPCODE;

/** AArch64 trap instruction: `udf #0xc11f`, the immediate Cranelift uses for every trap. */
export const AARCH64_TRAP_IMMEDIATE = 0xc11f;

// ------------------------------------------------------------------------------------------------
// Registers, conditions, operands
// ------------------------------------------------------------------------------------------------

export const A64_XREGS = [
  'x0', 'x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7', 'x8', 'x9', 'x10', 'x11', 'x12', 'x13', 'x14', 'x15',
  'x16', 'x17', 'x18', 'x19', 'x20', 'x21', 'x22', 'x23', 'x24', 'x25', 'x26', 'x27', 'x28', 'x29', 'x30',
] as const;
export const A64_WREGS = [
  'w0', 'w1', 'w2', 'w3', 'w4', 'w5', 'w6', 'w7', 'w8', 'w9', 'w10', 'w11', 'w12', 'w13', 'w14', 'w15',
  'w16', 'w17', 'w18', 'w19', 'w20', 'w21', 'w22', 'w23', 'w24', 'w25', 'w26', 'w27', 'w28', 'w29', 'w30',
] as const;

export type XReg = (typeof A64_XREGS)[number];
export type WReg = (typeof A64_WREGS)[number];
/** 64-bit register, stack pointer or zero register. */
export type X = XReg | 'sp' | 'xzr';
/** 32-bit view of the same. */
export type W = WReg | 'wsp' | 'wzr';
/** Any general-purpose register name; the name gives the operand size. */
export type A64Reg = X | W;

type RegClass = 'gpr' | 'sp' | 'zr';
interface RegInfo {
  num: number;
  /** 1 for 64-bit names, 0 for 32-bit: the `sf` bit of most encodings. */
  sf: 0 | 1;
  cls: RegClass;
}
const REG_INFO = new Map<string, RegInfo>();
A64_XREGS.forEach((n, i) => REG_INFO.set(n, { num: i, sf: 1, cls: 'gpr' }));
A64_WREGS.forEach((n, i) => REG_INFO.set(n, { num: i, sf: 0, cls: 'gpr' }));
REG_INFO.set('sp', { num: 31, sf: 1, cls: 'sp' });
REG_INFO.set('wsp', { num: 31, sf: 0, cls: 'sp' });
REG_INFO.set('xzr', { num: 31, sf: 1, cls: 'zr' });
REG_INFO.set('wzr', { num: 31, sf: 0, cls: 'zr' });

/** The 64-bit name of register `num` (0–30; 31 gives `xzr` or `sp` by `reg31`). */
export function xreg(num: number, reg31: 'sp' | 'xzr' = 'xzr'): X {
  if (num === 31) return reg31;
  const name = A64_XREGS[num];
  if (name === undefined) throw new EncodeError('aarch64', 'xreg', 'num', `${num} is not a register number`, 0);
  return name;
}

/** The 32-bit name of register `num` (0–30; 31 gives `wzr` or `wsp` by `reg31`). */
export function wreg(num: number, reg31: 'wsp' | 'wzr' = 'wzr'): W {
  if (num === 31) return reg31;
  const name = A64_WREGS[num];
  if (name === undefined) throw new EncodeError('aarch64', 'wreg', 'num', `${num} is not a register number`, 0);
  return name;
}

/** Condition codes in encoding order; `cs`/`cc` are accepted as aliases of `hs`/`lo`. */
export const A64_CONDITIONS = ['eq', 'ne', 'hs', 'lo', 'mi', 'pl', 'vs', 'vc', 'hi', 'ls', 'ge', 'lt', 'gt', 'le', 'al', 'nv'] as const;
export type A64Cond = (typeof A64_CONDITIONS)[number] | 'cs' | 'cc';
const COND_CODE = new Map<string, number>([...A64_CONDITIONS.map((c, i) => [c, i] as const), ['cs', 2], ['cc', 3]]);

/** The condition that holds exactly when `cond` does not (`al`/`nv` have no inverse). */
export function invertA64Cond(cond: A64Cond): A64Cond {
  const code = COND_CODE.get(cond);
  if (code === undefined || code >= 14) throw new EncodeError('aarch64', 'invert', 'cond', `'${String(cond)}' has no inverse`, 0);
  return A64_CONDITIONS[code ^ 1];
}

export type ShiftKind = 'lsl' | 'lsr' | 'asr' | 'ror';
/** Shift applied to the last register operand of arithmetic (`ror` only for logical ops). */
export interface Shift {
  kind: ShiftKind;
  amount: number;
}
export type Extend = 'uxtb' | 'uxth' | 'uxtw' | 'uxtx' | 'sxtb' | 'sxth' | 'sxtw' | 'sxtx';
const EXTEND_CODE: Record<Extend, number> = { uxtb: 0, uxth: 1, uxtw: 2, uxtx: 3, sxtb: 4, sxth: 5, sxtw: 6, sxtx: 7 };

/** Index extension for register-offset loads and stores. */
export type IndexExtend = 'lsl' | 'uxtw' | 'sxtw' | 'sxtx';
const INDEX_EXTEND_CODE: Record<IndexExtend, number> = { uxtw: 2, lsl: 3, sxtw: 6, sxtx: 7 };

/** A load/store address. Make them with `mem`, `memUnscaled`, `memPre`, `memPost`, `memIndex`. */
export type A64Address =
  /** `[base, #offset]`: scaled unsigned imm12 when it fits, else the unscaled (ldur) form. */
  | { kind: 'offset'; base: X; offset: number }
  /** `[base, #offset]` forced to the unscaled simm9 form (ldur/stur). */
  | { kind: 'unscaled'; base: X; offset: number }
  /** `[base, #offset]!` */
  | { kind: 'pre'; base: X; offset: number }
  /** `[base], #offset` */
  | { kind: 'post'; base: X; offset: number }
  /** `[base, index{, extend {#log2(size)}}]` */
  | { kind: 'index'; base: X; index: A64Reg; extend: IndexExtend; shift: boolean };

export function mem(base: X, offset = 0): A64Address {
  return { kind: 'offset', base, offset };
}
export function memUnscaled(base: X, offset: number): A64Address {
  return { kind: 'unscaled', base, offset };
}
export function memPre(base: X, offset: number): A64Address {
  return { kind: 'pre', base, offset };
}
export function memPost(base: X, offset: number): A64Address {
  return { kind: 'post', base, offset };
}
/** Register offset; `shift` scales the index by the access size. `uxtw`/`sxtw` take a W index. */
export function memIndex(base: X, index: A64Reg, extend: IndexExtend = 'lsl', shift = false): A64Address {
  return { kind: 'index', base, index, extend, shift };
}

// ------------------------------------------------------------------------------------------------
// Logical (bitmask) immediates
// ------------------------------------------------------------------------------------------------

/** The N:immr:imms fields of a logical immediate. */
export interface LogicalImmediate {
  n: 0 | 1;
  immr: number;
  imms: number;
}

function ones(count: number): bigint {
  return (1n << BigInt(count)) - 1n;
}

function rotateRight(value: bigint, amount: number, size: number): bigint {
  if (amount === 0) return value;
  return ((value >> BigInt(amount)) | (value << BigInt(size - amount))) & ones(size);
}

/**
 * Encodes `value` as an AArch64 bitmask immediate of `width` bits: a 2/4/…/64-bit element,
 * replicated across the width, whose set bits form one run rotated right by immr. Zero and
 * all-ones have no encoding. Returns undefined for unencodable values.
 */
export function encodeLogicalImmediate(value: bigint, width: 32 | 64): LogicalImmediate | undefined {
  const v = BigInt.asUintN(width, value);
  const known = LOGICAL_IMMEDIATES[width] as Map<bigint, LogicalImmediate | null> | undefined;
  if (known === undefined) return searchLogicalImmediate(v, width);
  const cached = known.get(v);
  if (cached !== undefined) return cached ?? undefined;
  const fields = searchLogicalImmediate(v, width);
  if (known.size >= MAX_KNOWN_LOGICAL_IMMEDIATES) known.clear();
  known.set(v, fields ?? null);
  return fields;
}

/**
 * The encodings already searched for, by width and value (null: none): code uses few masks
 * (bounds, alignment, tag bits), and the search below is a loop of BigInt shifts.
 */
const LOGICAL_IMMEDIATES: Readonly<Record<32 | 64, Map<bigint, LogicalImmediate | null>>> = { 32: new Map(), 64: new Map() };
const MAX_KNOWN_LOGICAL_IMMEDIATES = 4096;

function searchLogicalImmediate(v: bigint, width: 32 | 64): LogicalImmediate | undefined {
  if (v === 0n || v === ones(width)) return undefined;
  let size: number = width;
  while (size > 2) {
    const half = size / 2;
    if ((v & ones(half)) !== ((v >> BigInt(half)) & ones(half))) break;
    size = half;
  }
  const element = v & ones(size);
  let count = 0;
  for (let bits = element; bits !== 0n; bits >>= 1n) count += Number(bits & 1n);
  const run = ones(count);
  for (let immr = 0; immr < size; immr++) {
    if (rotateRight(run, immr, size) === element) {
      // imms holds the element size as a unary prefix (0, 10, 110, … from the top) and count-1.
      const imms = (~(size * 2 - 1) & 0x3f) | (count - 1);
      return Object.freeze({ n: size === 64 ? 1 : 0, immr, imms });
    }
  }
  return undefined;
}

/** The value a logical immediate's fields stand for, or undefined for reserved encodings. */
export function decodeLogicalImmediate(fields: LogicalImmediate, width: 32 | 64): bigint | undefined {
  const { n, immr, imms } = fields;
  if (width === 32 && n === 1) return undefined;
  const combined = (n << 6) | (~imms & 0x3f);
  if (combined === 0) return undefined;
  const len = 31 - Math.clz32(combined);
  if (len < 1) return undefined;
  const size = 1 << len;
  const levels = size - 1;
  const s = imms & levels;
  if (s === levels) return undefined;
  const element = rotateRight(ones(s + 1), immr & levels, size);
  let value = 0n;
  for (let at = 0; at < width; at += size) value |= element << BigInt(at);
  return value;
}

// ------------------------------------------------------------------------------------------------
// Assembler
// ------------------------------------------------------------------------------------------------

type LoadStoreOp = 'ldr' | 'str' | 'ldrb' | 'ldrh' | 'ldrsb' | 'ldrsh' | 'ldrsw' | 'strb' | 'strh';

/** A load or store's size and opc fields, and the register width it requires (-1: either). */
interface LoadStoreShape {
  readonly size: number;
  readonly opc: number;
  readonly rtSize: -1 | 0 | 1;
}

const shape = (size: number, opc: number, rtSize: -1 | 0 | 1): LoadStoreShape => Object.freeze({ size, opc, rtSize });

/** Each op's shape with a W (index 0) and an X (index 1) transfer register. */
const LOAD_STORE_SHAPES: Readonly<Record<LoadStoreOp, readonly [LoadStoreShape, LoadStoreShape]>> = {
  ldr: [shape(2, 1, -1), shape(3, 1, -1)],
  str: [shape(2, 0, -1), shape(3, 0, -1)],
  ldrb: [shape(0, 1, 0), shape(0, 1, 0)],
  ldrh: [shape(1, 1, 0), shape(1, 1, 0)],
  strb: [shape(0, 0, 0), shape(0, 0, 0)],
  strh: [shape(1, 0, 0), shape(1, 0, 0)],
  ldrsb: [shape(0, 3, -1), shape(0, 2, -1)],
  ldrsh: [shape(1, 3, -1), shape(1, 2, -1)],
  ldrsw: [shape(2, 2, 1), shape(2, 2, 1)],
};
/** Unscaled-form mnemonics, for messages. */
const UNSCALED_NAME: Record<LoadStoreOp, string> = {
  ldr: 'ldur', str: 'stur', ldrb: 'ldurb', ldrh: 'ldurh', ldrsb: 'ldursb', ldrsh: 'ldursh', ldrsw: 'ldursw', strb: 'sturb', strh: 'sturh',
};

const isInt = (v: number): boolean => Number.isInteger(v);

/** Appends AArch64 instructions to a `CodeBuffer`. Register names carry the operand size. */
export class Aarch64Assembler extends CodeBuffer {
  constructor() {
    super('aarch64');
  }

  /** Traps are `udf #0xc11f`, as Cranelift emits them on AArch64. */
  protected override emitTrapInstruction(): void {
    this.udf(AARCH64_TRAP_IMMEDIATE);
  }

  protected override emitIslandJump(label: Label): void {
    this.b(label);
  }

  protected override emitVeneer(label: Label): void {
    this.b(label);
  }

  /** Emits one instruction word. */
  inst(word: number): void {
    this.emit32(word >>> 0);
  }

  // --- add / sub ------------------------------------------------------------------------------

  /** `add rd, rn, #imm` (imm 0–4095, or a multiple of 4096 up to 4095<<12 as `lsl #12`). */
  addImm(rd: A64Reg, rn: A64Reg, imm: number): void { this.addSubImm('add', 0, 0, rd, rn, imm); }
  subImm(rd: A64Reg, rn: A64Reg, imm: number): void { this.addSubImm('sub', 1, 0, rd, rn, imm); }
  addsImm(rd: A64Reg, rn: A64Reg, imm: number): void { this.addSubImm('adds', 0, 1, rd, rn, imm); }
  subsImm(rd: A64Reg, rn: A64Reg, imm: number): void { this.addSubImm('subs', 1, 1, rd, rn, imm); }
  cmpImm(rn: A64Reg, imm: number): void { this.addSubImm('cmp', 1, 1, this.zrLike(rn), rn, imm); }
  cmnImm(rn: A64Reg, imm: number): void { this.addSubImm('cmn', 0, 1, this.zrLike(rn), rn, imm); }

  /**
   * `add rd, rn, rm{, shift #n}`. With sp as rd or rn this becomes the extended-register form
   * (`uxtx`/`uxtw`, lsl 0–4 only), as GNU as does, because the shifted form has no sp.
   */
  add(rd: A64Reg, rn: A64Reg, rm: A64Reg, shift?: Shift): void { this.addSubReg('add', 0, 0, rd, rn, rm, shift); }
  sub(rd: A64Reg, rn: A64Reg, rm: A64Reg, shift?: Shift): void { this.addSubReg('sub', 1, 0, rd, rn, rm, shift); }
  adds(rd: A64Reg, rn: A64Reg, rm: A64Reg, shift?: Shift): void { this.addSubReg('adds', 0, 1, rd, rn, rm, shift); }
  subs(rd: A64Reg, rn: A64Reg, rm: A64Reg, shift?: Shift): void { this.addSubReg('subs', 1, 1, rd, rn, rm, shift); }
  cmp(rn: A64Reg, rm: A64Reg, shift?: Shift): void { this.addSubReg('cmp', 1, 1, this.zrLike(rn), rn, rm, shift); }
  cmn(rn: A64Reg, rm: A64Reg, shift?: Shift): void { this.addSubReg('cmn', 0, 1, this.zrLike(rn), rn, rm, shift); }
  /** `neg rd, rm{, shift}` = `sub rd, zr, rm`. */
  neg(rd: A64Reg, rm: A64Reg, shift?: Shift): void { this.addSubReg('neg', 1, 0, rd, this.zrLike(rd), rm, shift); }

  /** `add rd, rn, rm, extend #amount` (extended register; amount 0–4). */
  addExt(rd: A64Reg, rn: A64Reg, rm: A64Reg, extend: Extend, amount = 0): void { this.addSubExt('add', 0, 0, rd, rn, rm, extend, amount); }
  subExt(rd: A64Reg, rn: A64Reg, rm: A64Reg, extend: Extend, amount = 0): void { this.addSubExt('sub', 1, 0, rd, rn, rm, extend, amount); }
  addsExt(rd: A64Reg, rn: A64Reg, rm: A64Reg, extend: Extend, amount = 0): void { this.addSubExt('adds', 0, 1, rd, rn, rm, extend, amount); }
  subsExt(rd: A64Reg, rn: A64Reg, rm: A64Reg, extend: Extend, amount = 0): void { this.addSubExt('subs', 1, 1, rd, rn, rm, extend, amount); }
  cmpExt(rn: A64Reg, rm: A64Reg, extend: Extend, amount = 0): void { this.addSubExt('cmp', 1, 1, this.zrLike(rn), rn, rm, extend, amount); }

  // --- logical --------------------------------------------------------------------------------

  and(rd: A64Reg, rn: A64Reg, rm: A64Reg, shift?: Shift): void { this.logicalReg('and', 0, 0, rd, rn, rm, shift); }
  bic(rd: A64Reg, rn: A64Reg, rm: A64Reg, shift?: Shift): void { this.logicalReg('bic', 0, 1, rd, rn, rm, shift); }
  orr(rd: A64Reg, rn: A64Reg, rm: A64Reg, shift?: Shift): void { this.logicalReg('orr', 1, 0, rd, rn, rm, shift); }
  orn(rd: A64Reg, rn: A64Reg, rm: A64Reg, shift?: Shift): void { this.logicalReg('orn', 1, 1, rd, rn, rm, shift); }
  eor(rd: A64Reg, rn: A64Reg, rm: A64Reg, shift?: Shift): void { this.logicalReg('eor', 2, 0, rd, rn, rm, shift); }
  eon(rd: A64Reg, rn: A64Reg, rm: A64Reg, shift?: Shift): void { this.logicalReg('eon', 2, 1, rd, rn, rm, shift); }
  ands(rd: A64Reg, rn: A64Reg, rm: A64Reg, shift?: Shift): void { this.logicalReg('ands', 3, 0, rd, rn, rm, shift); }
  bics(rd: A64Reg, rn: A64Reg, rm: A64Reg, shift?: Shift): void { this.logicalReg('bics', 3, 1, rd, rn, rm, shift); }
  tst(rn: A64Reg, rm: A64Reg, shift?: Shift): void { this.logicalReg('tst', 3, 0, this.zrLike(rn), rn, rm, shift); }
  /** `mvn rd, rm{, shift}` = `orn rd, zr, rm`. */
  mvn(rd: A64Reg, rm: A64Reg, shift?: Shift): void { this.logicalReg('mvn', 1, 1, rd, this.zrLike(rd), rm, shift); }

  /** `and rd, rn, #bitmask` (EncodeError when `value` is not a bitmask immediate). */
  andImm(rd: A64Reg, rn: A64Reg, value: bigint | number): void { this.logicalImm('and', 0, rd, rn, value); }
  orrImm(rd: A64Reg, rn: A64Reg, value: bigint | number): void { this.logicalImm('orr', 1, rd, rn, value); }
  eorImm(rd: A64Reg, rn: A64Reg, value: bigint | number): void { this.logicalImm('eor', 2, rd, rn, value); }
  andsImm(rd: A64Reg, rn: A64Reg, value: bigint | number): void { this.logicalImm('ands', 3, rd, rn, value); }
  tstImm(rn: A64Reg, value: bigint | number): void { this.logicalImm('tst', 3, this.zrLike(rn), rn, value); }

  /** `mov rd, rn`: `orr rd, zr, rn`, or `add rd, rn, #0` when either is sp. */
  mov(rd: A64Reg, rn: A64Reg): void {
    const d = REG_INFO.get(rd);
    const n = REG_INFO.get(rn);
    if (!d) throw this.error('mov', 'rd', `'${String(rd)}' is not a general-purpose register`);
    if (!n) throw this.error('mov', 'rn', `'${String(rn)}' is not a general-purpose register`);
    if (d?.cls === 'sp' || n?.cls === 'sp') this.addSubImm('mov', 0, 0, rd, rn, 0);
    else this.logicalReg('mov', 1, 0, rd, this.zrLike(rd), rn);
  }

  // --- shifts and bitfields -------------------------------------------------------------------

  /** `lsl rd, rn, rm` (lslv: shift by rm modulo the width). */
  lsl(rd: A64Reg, rn: A64Reg, rm: A64Reg): void { this.dataProc2('lsl', 0x2000, rd, rn, rm); }
  lsr(rd: A64Reg, rn: A64Reg, rm: A64Reg): void { this.dataProc2('lsr', 0x2400, rd, rn, rm); }
  asr(rd: A64Reg, rn: A64Reg, rm: A64Reg): void { this.dataProc2('asr', 0x2800, rd, rn, rm); }
  ror(rd: A64Reg, rn: A64Reg, rm: A64Reg): void { this.dataProc2('ror', 0x2c00, rd, rn, rm); }
  sdiv(rd: A64Reg, rn: A64Reg, rm: A64Reg): void { this.dataProc2('sdiv', 0x0c00, rd, rn, rm); }
  udiv(rd: A64Reg, rn: A64Reg, rm: A64Reg): void { this.dataProc2('udiv', 0x0800, rd, rn, rm); }

  /** `lsl rd, rn, #amount` = `ubfm rd, rn, #(-amount mod w), #(w-1-amount)`. */
  lslImm(rd: A64Reg, rn: A64Reg, amount: number): void {
    const w = this.width('lsl', rd);
    this.shiftAmount('lsl', amount, w);
    this.bitfield('lsl', 2, rd, rn, (w - amount) % w, w - 1 - amount);
  }
  lsrImm(rd: A64Reg, rn: A64Reg, amount: number): void {
    const w = this.width('lsr', rd);
    this.shiftAmount('lsr', amount, w);
    this.bitfield('lsr', 2, rd, rn, amount, w - 1);
  }
  asrImm(rd: A64Reg, rn: A64Reg, amount: number): void {
    const w = this.width('asr', rd);
    this.shiftAmount('asr', amount, w);
    this.bitfield('asr', 0, rd, rn, amount, w - 1);
  }
  /** `ror rd, rn, #amount` = `extr rd, rn, rn, #amount`. */
  rorImm(rd: A64Reg, rn: A64Reg, amount: number): void {
    this.extr(rd, rn, rn, amount);
  }

  ubfm(rd: A64Reg, rn: A64Reg, immr: number, imms: number): void { this.bitfield('ubfm', 2, rd, rn, immr, imms); }
  sbfm(rd: A64Reg, rn: A64Reg, immr: number, imms: number): void { this.bitfield('sbfm', 0, rd, rn, immr, imms); }

  /** `ubfx rd, rn, #lsb, #width`: extract `width` bits at `lsb`, zero-extended. */
  ubfx(rd: A64Reg, rn: A64Reg, lsb: number, width: number): void {
    this.bitfieldExtract('ubfx', 2, rd, rn, lsb, width);
  }
  sbfx(rd: A64Reg, rn: A64Reg, lsb: number, width: number): void {
    this.bitfieldExtract('sbfx', 0, rd, rn, lsb, width);
  }
  /** `uxtb wd, wn` (the 32-bit write zero-extends to 64 bits). */
  uxtb(rd: W, rn: W): void { this.extendAlias('uxtb', 2, rd, rn, 7, 0); }
  uxth(rd: W, rn: W): void { this.extendAlias('uxth', 2, rd, rn, 15, 0); }
  /** `sxtb rd, wn` with rd a W or X register. */
  sxtb(rd: A64Reg, rn: W): void { this.extendAlias('sxtb', 0, rd, rn, 7, -1); }
  sxth(rd: A64Reg, rn: W): void { this.extendAlias('sxth', 0, rd, rn, 15, -1); }
  /** `sxtw xd, wn`. */
  sxtw(rd: X, rn: W): void { this.extendAlias('sxtw', 0, rd, rn, 31, 1); }

  /** `extr rd, rn, rm, #lsb`: bits lsb.. of the concatenation rn:rm. */
  extr(rd: A64Reg, rn: A64Reg, rm: A64Reg, lsb: number): void {
    const d = this.reg('extr', 'rd', rd, 'zr');
    const n = this.reg('extr', 'rn', rn, 'zr');
    const m = this.reg('extr', 'rm', rm, 'zr');
    this.sameSize('extr', 'rn', d, n);
    this.sameSize('extr', 'rm', d, m);
    const w = d.sf ? 64 : 32;
    if (!isInt(lsb) || lsb < 0 || lsb >= w) throw this.error('extr', 'lsb', `${lsb} is outside 0..${w - 1}`);
    this.inst(0x13800000 | (d.sf << 31) | (d.sf << 22) | (m.num << 16) | (lsb << 10) | (n.num << 5) | d.num);
  }

  // --- multiply, divide, bit operations -------------------------------------------------------

  /** `madd rd, rn, rm, ra`: rd = ra + rn*rm. */
  madd(rd: A64Reg, rn: A64Reg, rm: A64Reg, ra: A64Reg): void { this.dataProc3('madd', 0, rd, rn, rm, ra); }
  /** `msub rd, rn, rm, ra`: rd = ra - rn*rm (remainder after division). */
  msub(rd: A64Reg, rn: A64Reg, rm: A64Reg, ra: A64Reg): void { this.dataProc3('msub', 1, rd, rn, rm, ra); }
  mul(rd: A64Reg, rn: A64Reg, rm: A64Reg): void { this.dataProc3('mul', 0, rd, rn, rm, this.zrLike(rd)); }
  /** High 64 bits of the signed 128-bit product (X registers only). */
  smulh(rd: X, rn: X, rm: X): void { this.mulHigh('smulh', 0x9b407c00, rd, rn, rm); }
  umulh(rd: X, rn: X, rm: X): void { this.mulHigh('umulh', 0x9bc07c00, rd, rn, rm); }

  clz(rd: A64Reg, rn: A64Reg): void { this.dataProc1('clz', 0x1000, rd, rn); }
  cls(rd: A64Reg, rn: A64Reg): void { this.dataProc1('cls', 0x1400, rd, rn); }
  rbit(rd: A64Reg, rn: A64Reg): void { this.dataProc1('rbit', 0x0000, rd, rn); }
  /** Byte-reverses the whole register (rev w: 32-bit, rev x: 64-bit). */
  rev(rd: A64Reg, rn: A64Reg): void {
    const d = this.reg('rev', 'rd', rd, 'zr');
    this.dataProc1('rev', d.sf ? 0x0c00 : 0x0800, rd, rn);
  }
  rev16(rd: A64Reg, rn: A64Reg): void { this.dataProc1('rev16', 0x0400, rd, rn); }
  /** Byte-reverses each 32-bit half (X registers only). */
  rev32(rd: X, rn: X): void {
    const d = this.reg('rev32', 'rd', rd, 'zr');
    if (!d.sf) throw this.error('rev32', 'rd', `'${rd}' is not a 64-bit register`);
    this.dataProc1('rev32', 0x0800, rd, rn);
  }

  // --- wide moves -----------------------------------------------------------------------------

  /** `movz rd, #imm16, lsl #shift` (shift 0/16, or 32/48 for X). */
  movz(rd: A64Reg, imm16: number, shift = 0): void { this.moveWide('movz', 2, rd, imm16, shift); }
  movn(rd: A64Reg, imm16: number, shift = 0): void { this.moveWide('movn', 0, rd, imm16, shift); }
  movk(rd: A64Reg, imm16: number, shift = 0): void { this.moveWide('movk', 3, rd, imm16, shift); }

  /**
   * Loads a constant (of rd's width; negative values are two's complement) with the shortest
   * sequence: one movz, movn or orr-bitmask when possible (GNU as's `mov rd, #imm` choice, in
   * that order), else movz or movn followed by movk for each remaining 16-bit chunk.
   * Returns the number of instructions emitted.
   */
  movImm(rd: A64Reg, value: bigint | number): number {
    const d = this.reg('mov', 'rd', rd, 'zr');
    // 0..0xffff (most constants): one movz of the low chunk, as below, without BigInt work.
    if (typeof value === 'number' ? Number.isInteger(value) && value >= 0 && value <= 0xffff : value >= 0n && value <= 0xffffn) {
      this.movz(rd, Number(value), 0);
      return 1;
    }
    const width = d.sf ? 64 : 32;
    const v = this.constant('mov', 'imm', value, width);
    const chunks = width / 16;
    const chunk = (x: bigint, i: number): number => Number((x >> BigInt(16 * i)) & 0xffffn);
    const inverted = BigInt.asUintN(width, ~v);
    const nonZero = [...Array(chunks).keys()].filter((i) => chunk(v, i) !== 0);
    const nonOnes = [...Array(chunks).keys()].filter((i) => chunk(inverted, i) !== 0);
    if (nonZero.length <= 1) {
      const i = nonZero[0] ?? 0;
      this.movz(rd, chunk(v, i), 16 * i);
      return 1;
    }
    if (nonOnes.length <= 1) {
      const i = nonOnes[0] ?? 0;
      this.movn(rd, chunk(inverted, i), 16 * i);
      return 1;
    }
    const bitmask = encodeLogicalImmediate(v, width);
    if (bitmask) {
      this.logicalImmFields('mov', 1, rd, this.zrLike(rd), bitmask);
      return 1;
    }
    if (nonZero.length <= nonOnes.length) {
      this.movz(rd, chunk(v, nonZero[0]), 16 * nonZero[0]);
      for (const i of nonZero.slice(1)) this.movk(rd, chunk(v, i), 16 * i);
      return nonZero.length;
    }
    this.movn(rd, chunk(inverted, nonOnes[0]), 16 * nonOnes[0]);
    for (const i of nonOnes.slice(1)) this.movk(rd, chunk(v, i), 16 * i);
    return nonOnes.length;
  }

  // --- conditional select ---------------------------------------------------------------------

  csel(rd: A64Reg, rn: A64Reg, rm: A64Reg, cond: A64Cond): void { this.condSelect('csel', 0, 0, rd, rn, rm, cond); }
  csinc(rd: A64Reg, rn: A64Reg, rm: A64Reg, cond: A64Cond): void { this.condSelect('csinc', 0, 1, rd, rn, rm, cond); }
  csinv(rd: A64Reg, rn: A64Reg, rm: A64Reg, cond: A64Cond): void { this.condSelect('csinv', 1, 0, rd, rn, rm, cond); }
  csneg(rd: A64Reg, rn: A64Reg, rm: A64Reg, cond: A64Cond): void { this.condSelect('csneg', 1, 1, rd, rn, rm, cond); }
  /** `cset rd, cond`: rd = cond ? 1 : 0. */
  cset(rd: A64Reg, cond: A64Cond): void {
    const zr = this.zrLike(rd);
    this.condSelect('cset', 0, 1, rd, zr, zr, this.invertForAlias('cset', cond));
  }
  /** `csetm rd, cond`: rd = cond ? -1 : 0. */
  csetm(rd: A64Reg, cond: A64Cond): void {
    const zr = this.zrLike(rd);
    this.condSelect('csetm', 1, 0, rd, zr, zr, this.invertForAlias('csetm', cond));
  }

  /** `ccmp rn, rm, #nzcv, cond`: flags = cond ? flags of (rn - rm) : nzcv. */
  ccmp(rn: A64Reg, rm: A64Reg, nzcv: number, cond: A64Cond): void { this.condCompare('ccmp', 1, rn, rm, nzcv, cond); }
  ccmn(rn: A64Reg, rm: A64Reg, nzcv: number, cond: A64Cond): void { this.condCompare('ccmn', 0, rn, rm, nzcv, cond); }
  /** `ccmp rn, #imm5, #nzcv, cond`. */
  ccmpImm(rn: A64Reg, imm5: number, nzcv: number, cond: A64Cond): void { this.condCompare('ccmp', 1, rn, imm5, nzcv, cond); }
  ccmnImm(rn: A64Reg, imm5: number, nzcv: number, cond: A64Cond): void { this.condCompare('ccmn', 0, rn, imm5, nzcv, cond); }

  // --- loads and stores -----------------------------------------------------------------------

  ldr(rt: A64Reg, addr: A64Address): void { this.loadStore('ldr', rt, addr); }
  str(rt: A64Reg, addr: A64Address): void { this.loadStore('str', rt, addr); }
  ldrb(rt: W, addr: A64Address): void { this.loadStore('ldrb', rt, addr); }
  ldrh(rt: W, addr: A64Address): void { this.loadStore('ldrh', rt, addr); }
  /** Sign-extending byte load into a W or X register. */
  ldrsb(rt: A64Reg, addr: A64Address): void { this.loadStore('ldrsb', rt, addr); }
  ldrsh(rt: A64Reg, addr: A64Address): void { this.loadStore('ldrsh', rt, addr); }
  ldrsw(rt: X, addr: A64Address): void { this.loadStore('ldrsw', rt, addr); }
  strb(rt: W, addr: A64Address): void { this.loadStore('strb', rt, addr); }
  strh(rt: W, addr: A64Address): void { this.loadStore('strh', rt, addr); }
  /** `ldur rt, [base, #simm9]` (always the unscaled form). */
  ldur(rt: A64Reg, base: X, offset: number): void { this.loadStore('ldr', rt, memUnscaled(base, offset)); }
  stur(rt: A64Reg, base: X, offset: number): void { this.loadStore('str', rt, memUnscaled(base, offset)); }

  /** `ldp rt1, rt2, addr` with addr an offset (`mem`), `memPre` or `memPost` (imm7 scaled). */
  ldp(rt1: A64Reg, rt2: A64Reg, addr: A64Address): void { this.pair('ldp', 1, rt1, rt2, addr); }
  stp(rt1: A64Reg, rt2: A64Reg, addr: A64Address): void { this.pair('stp', 0, rt1, rt2, addr); }

  /** `ldr rt, label` (PC-relative literal, ±1 MiB). */
  ldrLiteral(rt: A64Reg, label: Label): void {
    const t = this.reg('ldr', 'rt', rt, 'zr');
    this.branchToLabel('ldr', label, t.sf ? 0x58000000 | t.num : 0x18000000 | t.num, 19, 5);
  }

  // --- branches -------------------------------------------------------------------------------

  b(label: Label): void { this.branchToLabel('b', label, 0x14000000, 26, 0); }
  bl(label: Label): void { this.branchToLabel('bl', label, 0x94000000, 26, 0); }
  /** `b.cond label` (±1 MiB). */
  bCond(cond: A64Cond, label: Label): void {
    const code = this.cond('b.cond', cond);
    // al and nv have no inverse; they always branch.
    this.shortBranch('b.' + cond, label, 0x54000000 | code, code >= 14 ? null : 0x54000000 | (code ^ 1), 5);
  }
  cbz(rt: A64Reg, label: Label): void { this.compareBranch('cbz', 0x34000000, rt, label); }
  cbnz(rt: A64Reg, label: Label): void { this.compareBranch('cbnz', 0x35000000, rt, label); }
  /** `tbz rt, #bit, label` (±32 KiB). */
  tbz(rt: A64Reg, bit: number, label: Label): void { this.testBranch('tbz', 0x36000000, rt, bit, label); }
  tbnz(rt: A64Reg, bit: number, label: Label): void { this.testBranch('tbnz', 0x37000000, rt, bit, label); }
  br(rn: X): void { this.branchReg('br', 0xd61f0000, rn); }
  blr(rn: X): void { this.branchReg('blr', 0xd63f0000, rn); }
  ret(rn: X = 'x30'): void { this.branchReg('ret', 0xd65f0000, rn); }

  /** `adr rd, label` (±1 MiB, byte granular). */
  adr(rd: X, label: Label): void {
    const d = this.reg('adr', 'rd', rd, 'zr');
    if (!d.sf) throw this.error('adr', 'rd', `'${rd}' is not a 64-bit register`);
    const at = this.offset;
    this.inst(0x10000000 | d.num);
    this.useLabel(label, 'adr', at, (1 << 20) - 1, (target) => {
      const delta = target - at;
      if (delta < -(1 << 20) || delta >= 1 << 20) throw new EncodeError('aarch64', 'adr', 'label', `offset ${delta} is outside ±1 MiB`, at);
      this.patch32(at, this.read32(at) | adrImmediate(delta));
    });
  }

  /** `adrp rd, #pages` with a raw page delta (−2^20 .. 2^20−1 pages). */
  adrp(rd: X, pages: number): void {
    const d = this.reg('adrp', 'rd', rd, 'zr');
    if (!d.sf) throw this.error('adrp', 'rd', `'${rd}' is not a 64-bit register`);
    if (!isInt(pages) || pages < -(1 << 20) || pages >= 1 << 20) throw this.error('adrp', 'pages', `${pages} is outside ±2^20`);
    this.inst(0x90000000 | adrImmediate(pages) | d.num);
  }

  // --- symbol references (relocation requests) ------------------------------------------------

  /** `bl symbol` with an R_AARCH64_CALL26 request. */
  blSymbol(symbol: string, addend = 0n): void {
    this.relocate('R_AARCH64_CALL26', symbol, addend);
    this.inst(0x94000000);
  }
  /** `b symbol` (tail call) with an R_AARCH64_JUMP26 request. */
  bSymbol(symbol: string, addend = 0n): void {
    this.relocate('R_AARCH64_JUMP26', symbol, addend);
    this.inst(0x14000000);
  }
  /** `adrp rd, symbol` with an R_AARCH64_ADR_PREL_PG_HI21 request. */
  adrpSymbol(rd: X, symbol: string, addend = 0n): void {
    this.relocate('R_AARCH64_ADR_PREL_PG_HI21', symbol, addend);
    this.adrp(rd, 0);
  }
  /** `add rd, rn, :lo12:symbol` with an R_AARCH64_ADD_ABS_LO12_NC request. */
  addLo12Symbol(rd: X, rn: X, symbol: string, addend = 0n): void {
    this.relocate('R_AARCH64_ADD_ABS_LO12_NC', symbol, addend);
    this.addImm(rd, rn, 0);
  }
  /** `ldr rt, [rn, :lo12:symbol]` with an LDST64 (X rt) or LDST32 (W rt) _ABS_LO12_NC request. */
  ldrLo12Symbol(rt: A64Reg, rn: X, symbol: string, addend = 0n): void {
    const t = this.reg('ldr', 'rt', rt, 'zr');
    this.relocate(t.sf ? 'R_AARCH64_LDST64_ABS_LO12_NC' : 'R_AARCH64_LDST32_ABS_LO12_NC', symbol, addend);
    this.ldr(rt, mem(rn, 0));
  }
  /** `.quad symbol + addend`: 8 zero bytes with an R_AARCH64_ABS64 request. */
  quadSymbol(symbol: string, addend = 0n): void {
    this.relocate('R_AARCH64_ABS64', symbol, addend);
    this.emit64(0n);
  }

  // --- traps and hints ------------------------------------------------------------------------

  /** `brk #imm16` (Unicorn reports interrupt 7 with the PC at the brk). */
  /** `ldaxr rt, [rn]`: load-acquire exclusive (the first half of an atomic read-modify-write
   * without LSE, as Cranelift emits for `atomic_rmw`). */
  ldaxr(rt: A64Reg, rn: X): void {
    const t = this.reg('ldaxr', 'rt', rt, 'zr');
    const n = this.reg('ldaxr', 'rn', rn, 'sp');
    if (!n.sf) throw this.error('ldaxr', 'rn', 'the base must be a 64-bit register');
    this.inst((t.sf ? 0xc85ffc00 : 0x885ffc00) | (n.num << 5) | t.num);
  }

  /** `stlxr ws, rt, [rn]`: store-release exclusive; `ws` receives 0 on success, 1 on failure. */
  stlxr(ws: W, rt: A64Reg, rn: X): void {
    const s = this.reg('stlxr', 'ws', ws, 'zr');
    const t = this.reg('stlxr', 'rt', rt, 'zr');
    const n = this.reg('stlxr', 'rn', rn, 'sp');
    if (s.sf) throw this.error('stlxr', 'ws', 'the status register must be a 32-bit register');
    if (!n.sf) throw this.error('stlxr', 'rn', 'the base must be a 64-bit register');
    // The architecture leaves these overlaps CONSTRAINED UNPREDICTABLE; GNU as rejects them.
    if (s.num === t.num && s.num !== 31) throw this.error('stlxr', 'ws', 'must differ from rt');
    if (s.num === n.num && n.cls !== 'sp') throw this.error('stlxr', 'ws', 'must differ from rn');
    this.inst((t.sf ? 0xc800fc00 : 0x8800fc00) | (s.num << 16) | (n.num << 5) | t.num);
  }

  // --- scalar floating point (FP/SIMD registers as s0–s31 for f32, d0–d31 for f64) ------------

  /** `fmov sN, wM` / `fmov dN, xM`: a general register's bits into a float register (the name's size chooses). */
  fmovToFp(fd: number, rn: A64Reg): void {
    const n = this.reg('fmov', 'rn', rn, 'zr');
    this.inst((n.sf ? 0x9e670000 : 0x1e270000) | (n.num << 5) | this.fp('fmov', 'fd', fd));
  }
  /** `fmov wN, sM` / `fmov xN, dM`: a float register's bits into a general register. */
  fmovFromFp(rd: A64Reg, fn: number): void {
    const d = this.reg('fmov', 'rd', rd, 'zr');
    this.inst((d.sf ? 0x9e660000 : 0x1e260000) | (this.fp('fmov', 'fn', fn) << 5) | d.num);
  }
  /** Two-source arithmetic `op fd, fn, fm` (single when `double` is false). */
  fp2(op: Fp2Op, double: boolean, fd: number, fn: number, fm: number): void {
    const code = FP2_OPCODE[op];
    if (code === undefined) throw this.error(String(op), 'op', `'${String(op)}' is not a two-source FP operation`);
    this.inst(0x1e200800 | (double ? 1 << 22 : 0) | (this.fp(op, 'fm', fm) << 16) | (code << 12) | (this.fp(op, 'fn', fn) << 5) | this.fp(op, 'fd', fd));
  }
  /** `fcvt dN, sM` (`toDouble`) or `fcvt sN, dM`. */
  fcvt(toDouble: boolean, fd: number, fn: number): void {
    this.inst((toDouble ? 0x1e22c000 : 0x1e624000) | (this.fp('fcvt', 'fn', fn) << 5) | this.fp('fcvt', 'fd', fd));
  }
  /** One-source `op fd, fn`: abs, neg, sqrt and the frint roundings. */
  fp1(op: Fp1Op, double: boolean, fd: number, fn: number): void {
    const code = FP1_OPCODE[op];
    if (code === undefined) throw this.error(String(op), 'op', `'${String(op)}' is not a one-source FP operation`);
    this.inst(0x1e204000 | (double ? 1 << 22 : 0) | (code << 15) | (this.fp(op, 'fn', fn) << 5) | this.fp(op, 'fd', fd));
  }
  /**
   * Saving and restoring 64-bit float registers on the stack (the callee-saved d8–d15):
   * `stp dA, dB, [sp, #-16]!`, `str dA, [sp, #-16]!` (pre-indexed pushes) and
   * `ldp dA, dB, [sp], #16`, `ldr dA, [sp], #16` (post-indexed pops).
   */
  fpPushPair(fa: number, fb: number): void {
    this.inst(0x6d800000 | (0x7e << 15) | (this.fp('stp', 'fb', fb) << 10) | (31 << 5) | this.fp('stp', 'fa', fa));
  }
  fpPush(fa: number): void {
    this.inst(0xfc000c00 | ((-16 & 0x1ff) << 12) | (31 << 5) | this.fp('str', 'fa', fa));
  }
  fpPopPair(fa: number, fb: number): void {
    this.inst(0x6cc00000 | (0x02 << 15) | (this.fp('ldp', 'fb', fb) << 10) | (31 << 5) | this.fp('ldp', 'fa', fa));
  }
  fpPop(fa: number): void {
    this.inst(0xfc400400 | (16 << 12) | (31 << 5) | this.fp('ldr', 'fa', fa));
  }
  /** `fcmp fn, fm`: NZCV = 0011 when unordered. */
  fcmp(double: boolean, fn: number, fm: number): void {
    this.inst(0x1e202000 | (double ? 1 << 22 : 0) | (this.fp('fcmp', 'fm', fm) << 16) | (this.fp('fcmp', 'fn', fn) << 5));
  }
  /** `scvtf`/`ucvtf fd, rn`: integer (w or x by name) to float. */
  cvtIntToFp(signed: boolean, double: boolean, fd: number, rn: A64Reg): void {
    const n = this.reg('cvtf', 'rn', rn, 'zr');
    this.inst((signed ? 0x1e220000 : 0x1e230000) | (n.sf << 31) | (double ? 1 << 22 : 0) | (n.num << 5) | this.fp('cvtf', 'fd', fd));
  }
  /** `fcvtzs`/`fcvtzu rd, fn`: float to integer toward zero, saturating (NaN gives 0). */
  cvtFpToInt(signed: boolean, double: boolean, rd: A64Reg, fn: number): void {
    const d = this.reg('fcvtz', 'rd', rd, 'zr');
    this.inst((signed ? 0x1e380000 : 0x1e390000) | (d.sf << 31) | (double ? 1 << 22 : 0) | (this.fp('fcvtz', 'fn', fn) << 5) | d.num);
  }

  brk(imm16: number): void { this.inst(0xd4200000 | (this.imm16('brk', imm16) << 5)); }
  /** `svc #imm16`. */
  svc(imm16: number): void { this.inst(0xd4000001 | (this.imm16('svc', imm16) << 5)); }
  /** `udf #imm16`: permanently undefined. */
  udf(imm16 = 0): void { this.inst(this.imm16('udf', imm16)); }
  nop(): void { this.inst(0xd503201f); }

  // --- encoding helpers -----------------------------------------------------------------------

  private error(instruction: string, operand: string, reason: string): EncodeError {
    return new EncodeError('aarch64', instruction, operand, reason, this.offset);
  }

  private fp(instruction: string, operand: string, num: number): number {
    if (!Number.isInteger(num) || num < 0 || num > 31) throw this.error(instruction, operand, `${num} is not a float register number`);
    return num;
  }

  /** Looks up a register; `allow` says which meaning register 31 may have in this slot. */
  private reg(instruction: string, operand: string, reg: A64Reg, allow: 'sp' | 'zr'): RegInfo {
    const info = REG_INFO.get(reg);
    if (!info) throw this.error(instruction, operand, `'${String(reg)}' is not a general-purpose register`);
    if (info.cls !== 'gpr' && info.cls !== allow) {
      throw this.error(instruction, operand, `'${reg}' is not allowed here (register 31 means ${allow === 'sp' ? 'sp' : 'the zero register'})`);
    }
    return info;
  }

  private sameSize(instruction: string, operand: string, a: RegInfo, b: RegInfo): void {
    if (a.sf !== b.sf) throw this.error(instruction, operand, `is ${b.sf ? '64' : '32'}-bit but the destination is ${a.sf ? '64' : '32'}-bit`);
  }

  /** The zero register of the same width as `reg`. */
  private zrLike(reg: A64Reg): A64Reg {
    const info = REG_INFO.get(reg);
    return info?.sf === 0 ? 'wzr' : 'xzr';
  }

  private width(instruction: string, reg: A64Reg): 32 | 64 {
    return this.reg(instruction, 'rd', reg, 'zr').sf ? 64 : 32;
  }

  private cond(instruction: string, cond: A64Cond): number {
    const code = COND_CODE.get(cond);
    if (code === undefined) throw this.error(instruction, 'cond', `'${String(cond)}' is not a condition`);
    return code;
  }

  private imm16(instruction: string, imm: number): number {
    if (!isInt(imm) || imm < 0 || imm > 0xffff) throw this.error(instruction, 'imm', `${imm} is outside 0..65535`);
    return imm;
  }

  /** Checks a constant against a width; returns it as an unsigned bigint of that width. */
  private constant(instruction: string, operand: string, value: bigint | number, width: 32 | 64): bigint {
    if (typeof value === 'number' && !Number.isSafeInteger(value)) throw this.error(instruction, operand, `${value} is not a safe integer`);
    const v = BigInt(value);
    if (v < -(1n << BigInt(width - 1)) || v >= 1n << BigInt(width)) throw this.error(instruction, operand, `${v} does not fit in ${width} bits`);
    return BigInt.asUintN(width, v);
  }

  private addSubImm(instruction: string, op: number, s: number, rd: A64Reg, rn: A64Reg, imm: number): void {
    const d = this.reg(instruction, 'rd', rd, s ? 'zr' : 'sp');
    const n = this.reg(instruction, 'rn', rn, 'sp');
    this.sameSize(instruction, 'rn', d, n);
    let shifted = 0;
    let imm12 = imm;
    if (!isInt(imm) || imm < 0) throw this.error(instruction, 'imm', `${imm} is not an unsigned 12-bit immediate`);
    if (imm > 0xfff) {
      if ((imm & 0xfff) !== 0 || imm > 0xfff000) throw this.error(instruction, 'imm', `${imm} is neither 0..4095 nor such a value shifted left by 12`);
      shifted = 1;
      imm12 = imm >>> 12;
    }
    this.inst(0x11000000 | (d.sf << 31) | (op << 30) | (s << 29) | (shifted << 22) | (imm12 << 10) | (n.num << 5) | d.num);
  }

  private addSubReg(instruction: string, op: number, s: number, rd: A64Reg, rn: A64Reg, rm: A64Reg, shift?: Shift): void {
    const dInfo = REG_INFO.get(rd);
    const nInfo = REG_INFO.get(rn);
    if (dInfo?.cls === 'sp' || nInfo?.cls === 'sp') {
      // Only the extended form can name sp; `lsl #n` there is uxtx/uxtw #n.
      if (shift && shift.kind !== 'lsl') throw this.error(instruction, 'shift', `${shift.kind} cannot be used with sp`);
      const extend = nInfo?.sf === 0 || dInfo?.sf === 0 ? 'uxtw' : 'uxtx';
      this.addSubExt(instruction, op, s, rd, rn, rm, extend, shift?.amount ?? 0);
      return;
    }
    const d = this.reg(instruction, 'rd', rd, 'zr');
    const n = this.reg(instruction, 'rn', rn, 'zr');
    const m = this.reg(instruction, 'rm', rm, 'zr');
    this.sameSize(instruction, 'rn', d, n);
    this.sameSize(instruction, 'rm', d, m);
    const { code, amount } = this.shiftOperand(instruction, shift, d.sf, false);
    this.inst(0x0b000000 | (d.sf << 31) | (op << 30) | (s << 29) | (code << 22) | (m.num << 16) | (amount << 10) | (n.num << 5) | d.num);
  }

  private addSubExt(instruction: string, op: number, s: number, rd: A64Reg, rn: A64Reg, rm: A64Reg, extend: Extend, amount: number): void {
    const d = this.reg(instruction, 'rd', rd, s ? 'zr' : 'sp');
    const n = this.reg(instruction, 'rn', rn, 'sp');
    const m = this.reg(instruction, 'rm', rm, 'zr');
    this.sameSize(instruction, 'rn', d, n);
    const option = EXTEND_CODE[extend];
    if (option === undefined) throw this.error(instruction, 'extend', `'${String(extend)}' is not an extension`);
    // The 64-bit forms read a W register except for the uxtx/sxtx (64-bit) extensions.
    const wantSf = d.sf && (option & 3) === 3 ? 1 : 0;
    if (m.sf !== wantSf) throw this.error(instruction, 'rm', `'${rm}' must be a ${wantSf ? 'X' : 'W'} register for ${extend}`);
    if (!isInt(amount) || amount < 0 || amount > 4) throw this.error(instruction, 'amount', `${amount} is outside 0..4`);
    this.inst(0x0b200000 | (d.sf << 31) | (op << 30) | (s << 29) | (m.num << 16) | (option << 13) | (amount << 10) | (n.num << 5) | d.num);
  }

  private shiftOperand(instruction: string, shift: Shift | undefined, sf: number, allowRor: boolean): { code: number; amount: number } {
    if (!shift) return { code: 0, amount: 0 };
    const code = ['lsl', 'lsr', 'asr', 'ror'].indexOf(shift.kind);
    if (code < 0 || (code === 3 && !allowRor)) throw this.error(instruction, 'shift', `'${String(shift.kind)}' is not allowed here`);
    const w = sf ? 64 : 32;
    if (!isInt(shift.amount) || shift.amount < 0 || shift.amount >= w) throw this.error(instruction, 'shift', `amount ${shift.amount} is outside 0..${w - 1}`);
    return { code, amount: shift.amount };
  }

  private logicalReg(instruction: string, opc: number, n: number, rd: A64Reg, rn: A64Reg, rm: A64Reg, shift?: Shift): void {
    const d = this.reg(instruction, 'rd', rd, 'zr');
    const nn = this.reg(instruction, 'rn', rn, 'zr');
    const m = this.reg(instruction, 'rm', rm, 'zr');
    this.sameSize(instruction, 'rn', d, nn);
    this.sameSize(instruction, 'rm', d, m);
    const { code, amount } = this.shiftOperand(instruction, shift, d.sf, true);
    this.inst(0x0a000000 | (d.sf << 31) | (opc << 29) | (code << 22) | (n << 21) | (m.num << 16) | (amount << 10) | (nn.num << 5) | d.num);
  }

  private logicalImm(instruction: string, opc: number, rd: A64Reg, rn: A64Reg, value: bigint | number): void {
    const d = this.reg(instruction, 'rd', rd, opc === 3 ? 'zr' : 'sp');
    const width = d.sf ? 64 : 32;
    const v = this.constant(instruction, 'imm', value, width);
    const fields = encodeLogicalImmediate(v, width);
    if (!fields) throw this.error(instruction, 'imm', `0x${v.toString(16)} is not a ${width}-bit bitmask immediate`);
    this.logicalImmFields(instruction, opc, rd, rn, fields);
  }

  private logicalImmFields(instruction: string, opc: number, rd: A64Reg, rn: A64Reg, f: LogicalImmediate): void {
    const d = this.reg(instruction, 'rd', rd, opc === 3 ? 'zr' : 'sp');
    const n = this.reg(instruction, 'rn', rn, 'zr');
    this.sameSize(instruction, 'rn', d, n);
    this.inst(0x12000000 | (d.sf << 31) | (opc << 29) | (f.n << 22) | (f.immr << 16) | (f.imms << 10) | (n.num << 5) | d.num);
  }

  private dataProc1(instruction: string, opcode: number, rd: A64Reg, rn: A64Reg): void {
    const d = this.reg(instruction, 'rd', rd, 'zr');
    const n = this.reg(instruction, 'rn', rn, 'zr');
    this.sameSize(instruction, 'rn', d, n);
    this.inst(0x5ac00000 | (d.sf << 31) | opcode | (n.num << 5) | d.num);
  }

  private dataProc2(instruction: string, opcode: number, rd: A64Reg, rn: A64Reg, rm: A64Reg): void {
    const d = this.reg(instruction, 'rd', rd, 'zr');
    const n = this.reg(instruction, 'rn', rn, 'zr');
    const m = this.reg(instruction, 'rm', rm, 'zr');
    this.sameSize(instruction, 'rn', d, n);
    this.sameSize(instruction, 'rm', d, m);
    this.inst(0x1ac00000 | (d.sf << 31) | (m.num << 16) | opcode | (n.num << 5) | d.num);
  }

  private dataProc3(instruction: string, o0: number, rd: A64Reg, rn: A64Reg, rm: A64Reg, ra: A64Reg): void {
    const d = this.reg(instruction, 'rd', rd, 'zr');
    const n = this.reg(instruction, 'rn', rn, 'zr');
    const m = this.reg(instruction, 'rm', rm, 'zr');
    const a = this.reg(instruction, 'ra', ra, 'zr');
    this.sameSize(instruction, 'rn', d, n);
    this.sameSize(instruction, 'rm', d, m);
    this.sameSize(instruction, 'ra', d, a);
    this.inst(0x1b000000 | (d.sf << 31) | (m.num << 16) | (o0 << 15) | (a.num << 10) | (n.num << 5) | d.num);
  }

  private mulHigh(instruction: string, base: number, rd: X, rn: X, rm: X): void {
    const d = this.reg(instruction, 'rd', rd, 'zr');
    const n = this.reg(instruction, 'rn', rn, 'zr');
    const m = this.reg(instruction, 'rm', rm, 'zr');
    for (const [name, r] of [['rd', d], ['rn', n], ['rm', m]] as const) {
      if (!r.sf) throw this.error(instruction, name, 'must be a 64-bit register');
    }
    this.inst(base | (m.num << 16) | (n.num << 5) | d.num);
  }

  private bitfield(instruction: string, opc: number, rd: A64Reg, rn: A64Reg, immr: number, imms: number): void {
    const d = this.reg(instruction, 'rd', rd, 'zr');
    const n = this.reg(instruction, 'rn', rn, 'zr');
    this.sameSize(instruction, 'rn', d, n);
    const w = d.sf ? 64 : 32;
    if (!isInt(immr) || immr < 0 || immr >= w) throw this.error(instruction, 'immr', `${immr} is outside 0..${w - 1}`);
    if (!isInt(imms) || imms < 0 || imms >= w) throw this.error(instruction, 'imms', `${imms} is outside 0..${w - 1}`);
    this.inst(0x13000000 | (d.sf << 31) | (opc << 29) | (d.sf << 22) | (immr << 16) | (imms << 10) | (n.num << 5) | d.num);
  }

  private bitfieldExtract(instruction: string, opc: number, rd: A64Reg, rn: A64Reg, lsb: number, width: number): void {
    const w = this.width(instruction, rd);
    if (!isInt(lsb) || lsb < 0 || lsb >= w) throw this.error(instruction, 'lsb', `${lsb} is outside 0..${w - 1}`);
    if (!isInt(width) || width < 1 || width > w - lsb) throw this.error(instruction, 'width', `${width} is outside 1..${w - lsb}`);
    this.bitfield(instruction, opc, rd, rn, lsb, lsb + width - 1);
  }

  /**
   * uxtb/uxth/sxtb/sxth/sxtw: a bitfield move from a W source. `rdSize` −1 lets rd be W or X,
   * 0 requires W, 1 requires X. The X forms encode the source as its X register.
   */
  private extendAlias(instruction: string, opc: number, rd: A64Reg, rn: W, imms: number, rdSize: -1 | 0 | 1): void {
    const d = this.reg(instruction, 'rd', rd, 'zr');
    const n = this.reg(instruction, 'rn', rn, 'zr');
    if (rdSize !== -1 && d.sf !== rdSize) throw this.error(instruction, 'rd', `'${rd}' must be a ${rdSize ? 'X' : 'W'} register`);
    if (n.sf !== 0) throw this.error(instruction, 'rn', `'${rn}' must be a W register`);
    this.inst(0x13000000 | (d.sf << 31) | (opc << 29) | (d.sf << 22) | (imms << 10) | (n.num << 5) | d.num);
  }

  private shiftAmount(instruction: string, amount: number, w: number): void {
    if (!isInt(amount) || amount < 0 || amount >= w) throw this.error(instruction, 'amount', `${amount} is outside 0..${w - 1}`);
  }

  private moveWide(instruction: string, opc: number, rd: A64Reg, imm16: number, shift: number): void {
    const d = this.reg(instruction, 'rd', rd, 'zr');
    if (!isInt(imm16) || imm16 < 0 || imm16 > 0xffff) throw this.error(instruction, 'imm', `${imm16} is outside 0..65535`);
    if (shift % 16 !== 0 || shift < 0 || shift >= (d.sf ? 64 : 32)) throw this.error(instruction, 'shift', `lsl #${shift} is not allowed`);
    this.inst(0x12800000 | (d.sf << 31) | (opc << 29) | ((shift / 16) << 21) | (imm16 << 5) | d.num);
  }

  private condSelect(instruction: string, op: number, o2: number, rd: A64Reg, rn: A64Reg, rm: A64Reg, cond: A64Cond): void {
    const d = this.reg(instruction, 'rd', rd, 'zr');
    const n = this.reg(instruction, 'rn', rn, 'zr');
    const m = this.reg(instruction, 'rm', rm, 'zr');
    this.sameSize(instruction, 'rn', d, n);
    this.sameSize(instruction, 'rm', d, m);
    const code = this.cond(instruction, cond);
    this.inst(0x1a800000 | (d.sf << 31) | (op << 30) | (m.num << 16) | (code << 12) | (o2 << 10) | (n.num << 5) | d.num);
  }

  private condCompare(instruction: string, op: number, rn: A64Reg, rmOrImm: A64Reg | number, nzcv: number, cond: A64Cond): void {
    const n = this.reg(instruction, 'rn', rn, 'zr');
    let operand: number;
    let immediate = 0;
    if (typeof rmOrImm === 'number') {
      if (!isInt(rmOrImm) || rmOrImm < 0 || rmOrImm > 31) throw this.error(instruction, 'imm', `${rmOrImm} is outside 0..31`);
      operand = rmOrImm;
      immediate = 1;
    } else {
      const m = this.reg(instruction, 'rm', rmOrImm, 'zr');
      this.sameSize(instruction, 'rm', n, m);
      operand = m.num;
    }
    if (!isInt(nzcv) || nzcv < 0 || nzcv > 15) throw this.error(instruction, 'nzcv', `${nzcv} is outside 0..15`);
    const code = this.cond(instruction, cond);
    this.inst(0x3a400000 | (n.sf << 31) | (op << 30) | (operand << 16) | (code << 12) | (immediate << 11) | (n.num << 5) | nzcv);
  }

  private invertForAlias(instruction: string, cond: A64Cond): A64Cond {
    const code = this.cond(instruction, cond);
    if (code >= 14) throw this.error(instruction, 'cond', `'${cond}' cannot be used with ${instruction}`);
    return A64_CONDITIONS[code ^ 1];
  }

  /** size (log2 bytes), opc and whether rt must be X (1), W (0) or either (−1). */
  private loadStoreShape(op: LoadStoreOp, sf: number): LoadStoreShape {
    return LOAD_STORE_SHAPES[op][sf ? 1 : 0];
  }

  /** The 9-bit signed offset field of the unscaled, pre- and post-index forms. */
  private simm9(name: string, offset: number): number {
    if (!isInt(offset) || offset < -256 || offset > 255) throw this.error(name, 'addr.offset', `${offset} is outside -256..255`);
    return (offset & 0x1ff) << 12;
  }

  private base(instruction: string, base: X): number {
    const b = this.reg(instruction, 'addr.base', base, 'sp');
    if (!b.sf) throw this.error(instruction, 'addr.base', `'${base}' is not a 64-bit register`);
    return b.num;
  }

  private loadStore(op: LoadStoreOp, rt: A64Reg, addr: A64Address): void {
    const t = this.reg(op, 'rt', rt, 'zr');
    const { size, opc, rtSize } = this.loadStoreShape(op, t.sf);
    if (rtSize !== -1 && t.sf !== rtSize) throw this.error(op, 'rt', `'${rt}' must be a ${rtSize ? 'X' : 'W'} register`);
    const top = (size << 30) | (opc << 22) | t.num;
    switch (addr?.kind) {
      case 'offset': {
        const base = this.base(op, addr.base);
        const scale = 1 << size;
        const { offset } = addr;
        if (isInt(offset) && offset >= 0 && offset % scale === 0 && offset / scale <= 0xfff) {
          this.inst(0x39000000 | top | ((offset / scale) << 10) | (base << 5));
        } else if (isInt(offset) && offset >= -256 && offset <= 255) {
          this.inst(0x38000000 | top | this.simm9(op, offset) | (base << 5));
        } else {
          throw this.error(op, 'addr.offset', `${offset} is neither a multiple of ${scale} in 0..${4095 * scale} nor in -256..255`);
        }
        return;
      }
      case 'unscaled':
        this.inst(0x38000000 | top | this.simm9(UNSCALED_NAME[op], addr.offset) | (this.base(UNSCALED_NAME[op], addr.base) << 5));
        return;
      case 'pre':
      case 'post': {
        const base = this.base(op, addr.base);
        // Writeback into the transfer register is CONSTRAINED UNPREDICTABLE; refuse it.
        if (base === t.num && REG_INFO.get(addr.base)?.cls === 'gpr' && t.cls === 'gpr') {
          throw this.error(op, 'addr.base', `writeback base '${addr.base}' is also the transfer register`);
        }
        this.inst(0x38000000 | top | this.simm9(op, addr.offset) | ((addr.kind === 'pre' ? 3 : 1) << 10) | (base << 5));
        return;
      }
      case 'index': {
        const base = this.base(op, addr.base);
        const option = INDEX_EXTEND_CODE[addr.extend];
        if (option === undefined) throw this.error(op, 'addr.extend', `'${String(addr.extend)}' is not lsl, uxtw, sxtw or sxtx`);
        const m = this.reg(op, 'addr.index', addr.index, 'zr');
        const wantSf = option & 1;
        if (m.sf !== wantSf) throw this.error(op, 'addr.index', `'${addr.index}' must be a ${wantSf ? 'X' : 'W'} register for ${addr.extend}`);
        this.inst(0x38200800 | top | (m.num << 16) | (option << 13) | ((addr.shift ? 1 : 0) << 12) | (base << 5));
        return;
      }
      default:
        throw this.error(op, 'addr', `${JSON.stringify(addr)} is not an aarch64 address`);
    }
  }

  private pair(instruction: 'ldp' | 'stp', load: number, rt1: A64Reg, rt2: A64Reg, addr: A64Address): void {
    const t1 = this.reg(instruction, 'rt1', rt1, 'zr');
    const t2 = this.reg(instruction, 'rt2', rt2, 'zr');
    this.sameSize(instruction, 'rt2', t1, t2);
    if (load && t1.num === t2.num && t1.cls === 'gpr') throw this.error(instruction, 'rt2', `'${rt2}' repeats rt1 (unpredictable)`);
    const mode = addr?.kind === 'post' ? 1 : addr?.kind === 'offset' ? 2 : addr?.kind === 'pre' ? 3 : -1;
    if (mode < 0) throw this.error(instruction, 'addr', `${addr?.kind} addressing is not available for ${instruction} (use mem, memPre or memPost)`);
    const { base: baseReg, offset } = addr as { base: X; offset: number };
    const base = this.base(instruction, baseReg);
    if (mode !== 2 && REG_INFO.get(baseReg)?.cls === 'gpr' && (base === t1.num || base === t2.num)) {
      throw this.error(instruction, 'addr.base', `writeback base '${baseReg}' is also a transfer register`);
    }
    const scale = t1.sf ? 8 : 4;
    if (!isInt(offset) || offset % scale !== 0 || offset < -64 * scale || offset > 63 * scale) {
      throw this.error(instruction, 'addr.offset', `${offset} is not a multiple of ${scale} in ${-64 * scale}..${63 * scale}`);
    }
    const opc = t1.sf ? 2 : 0;
    this.inst(0x28000000 | (opc << 30) | (mode << 23) | (load << 22) | (((offset / scale) & 0x7f) << 15) | (t2.num << 10) | (base << 5) | t1.num);
  }

  private compareBranch(instruction: string, base: number, rt: A64Reg, label: Label): void {
    const t = this.reg(instruction, 'rt', rt, 'zr');
    const word = base | (t.sf << 31) | t.num;
    this.shortBranch(instruction, label, word, word ^ 0x01000000, 5); // cbz <-> cbnz: bit 24
  }

  /**
   * A conditional branch with a 19-bit field (±1 MiB). To a bound label out of that range it
   * becomes the inverted branch over an unconditional `b` (±128 MiB); to a label not bound
   * yet it is veneerable: an island (CodeBuffer.islandCheckpoint) sends it through a `b`
   * when the label stays out of its reach, as Cranelift's MachBuffer does.
   */
  private shortBranch(instruction: string, label: Label, word: number, inverted: number | null, lsb: number): void {
    if (label.owner === this && label.offset !== undefined && inverted !== null) {
      const delta = label.offset - this.offset;
      if (delta < -(1 << 20) || delta >= 1 << 20) {
        const skip = this.newLabel();
        this.branchToLabel(instruction, skip, inverted >>> 0, 19, lsb);
        this.b(label);
        this.bind(skip);
        return;
      }
    }
    this.branchToLabel(instruction, label, word >>> 0, 19, lsb, true);
  }

  private testBranch(instruction: string, base: number, rt: A64Reg, bit: number, label: Label): void {
    const t = this.reg(instruction, 'rt', rt, 'zr');
    const w = t.sf ? 64 : 32;
    if (!isInt(bit) || bit < 0 || bit >= w) throw this.error(instruction, 'bit', `${bit} is outside 0..${w - 1}`);
    this.branchToLabel(instruction, label, base | ((bit >> 5) << 31) | ((bit & 31) << 19) | t.num, 14, 5);
  }

  private branchReg(instruction: string, base: number, rn: X): void {
    const n = this.reg(instruction, 'rn', rn, 'zr');
    if (!n.sf || n.cls !== 'gpr') throw this.error(instruction, 'rn', `'${rn}' is not an X register`);
    this.inst(base | (n.num << 5));
  }

  /**
   * Emits `word` and arranges for its `bits`-wide word-offset field at bit `lsb` to be filled with
   * (target − here) / 4 when the label is known.
   */
  private branchToLabel(instruction: string, label: Label, word: number, bits: number, lsb: number, veneerable = false): void {
    const at = this.offset;
    if (at % 4 !== 0) throw this.error(instruction, 'offset', `instruction at +${at} is not 4-byte aligned`);
    this.inst(word);
    this.useLabel(label, instruction, at, (2 ** (bits - 1) - 1) * 4, (target) => {
      const delta = target - at;
      const limit = 2 ** (bits - 1);
      if (delta % 4 !== 0) throw new EncodeError('aarch64', instruction, 'label', `target +${target} is not 4-byte aligned`, at);
      if (delta / 4 < -limit || delta / 4 >= limit) {
        throw new EncodeError('aarch64', instruction, 'label', `offset ${delta} is outside ±${limit * 4} bytes`, at);
      }
      const field = ((delta / 4) & (2 ** bits - 1)) << lsb;
      this.patch32(at, (this.read32(at) | field) >>> 0);
    }, veneerable);
  }
}

/** The immlo:immhi fields of adr/adrp for a 21-bit signed value. */
function adrImmediate(value: number): number {
  const v = value & 0x1fffff;
  return ((v & 3) << 29) | ((v >> 2) << 5);
}
