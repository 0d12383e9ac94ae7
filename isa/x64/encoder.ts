/**
 * x86-64 instruction encoder for the code stackscope's compiler and runtime trampolines emit.
 *
 * Encodings follow what GNU as picks for the same Intel-syntax line (short imm8 forms, the
 * accumulator forms of ALU-with-immediate, `D1` for shift-by-1), so listings and tests can compare
 * byte for byte. Branches to labels are always rel32, as Cranelift emits them, so a fix-up never
 * changes an instruction's length.
 *
 * Labels, fix-ups, relocations and trap sites are the arch-neutral CodeBuffer's
 * (isa/code-buffer.ts); this file adds the x86-64 encodings and `ud2` as the trap instruction.
 */
import { CodeBuffer, EncodeError, INT32_REACH, type Label } from '../code-buffer.ts';

// One error class for every encoder: `instanceof EncodeError` covers both arches.
export { EncodeError };

// ------------------------------------------------------------------------------------------------
// x86-64 registers and operands
// ------------------------------------------------------------------------------------------------

export const X64_GPR64 = [
  'rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15',
] as const;
export const X64_GPR32 = [
  'eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi',
  'r8d', 'r9d', 'r10d', 'r11d', 'r12d', 'r13d', 'r14d', 'r15d',
] as const;
const X64_GPR16 = [
  'ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di',
  'r8w', 'r9w', 'r10w', 'r11w', 'r12w', 'r13w', 'r14w', 'r15w',
] as const;
const X64_GPR8 = [
  'al', 'cl', 'dl', 'bl', 'spl', 'bpl', 'sil', 'dil',
  'r8b', 'r9b', 'r10b', 'r11b', 'r12b', 'r13b', 'r14b', 'r15b',
] as const;

export const X64_XMM = [
  'xmm0', 'xmm1', 'xmm2', 'xmm3', 'xmm4', 'xmm5', 'xmm6', 'xmm7',
  'xmm8', 'xmm9', 'xmm10', 'xmm11', 'xmm12', 'xmm13', 'xmm14', 'xmm15',
] as const;
/** An SSE register (scalar float operations use its low 32 or 64 bits). */
export type Xmm = (typeof X64_XMM)[number];
/** Scalar float width of an SSE operation: single (`ss`, f32) or double (`sd`, f64). */
export type SseWidth = 32 | 64;
/** Scalar SSE arithmetic: the opcode byte after 0F (F3 prefix for ss, F2 for sd). */
const SSE_ARITH = { sqrt: 0x51, add: 0x58, mul: 0x59, sub: 0x5c, min: 0x5d, div: 0x5e, max: 0x5f } as const;
export type SseArithOp = keyof typeof SSE_ARITH;
/** Packed bitwise operations (0F for ps, 66 0F for pd); scalar code uses them on the low lane. */
const SSE_LOGIC = { and: 0x54, andn: 0x55, or: 0x56, xor: 0x57 } as const;
export type SseLogicOp = keyof typeof SSE_LOGIC;
/** The rounding-mode immediate of roundss/roundsd (SSE4.1), with the precision exception suppressed. */
export const SSE_ROUND = { nearest: 0x8, floor: 0x9, ceil: 0xa, trunc: 0xb } as const;
export type SseRoundMode = keyof typeof SSE_ROUND;

export type Gpr64 = (typeof X64_GPR64)[number];
export type Gpr32 = (typeof X64_GPR32)[number];
/** A general-purpose register; its name gives the operand size (64 or 32 bits). */
export type Gpr = Gpr64 | Gpr32;
export type OperandSize = 8 | 16 | 32 | 64;

const GPR_INFO = new Map<string, { num: number; size: 32 | 64 }>();
X64_GPR64.forEach((n, i) => GPR_INFO.set(n, { num: i, size: 64 }));
X64_GPR32.forEach((n, i) => GPR_INFO.set(n, { num: i, size: 32 }));

/** Hardware number (0–15) of a register name. */
export function gprNumber(reg: Gpr): number {
  const info = GPR_INFO.get(reg);
  if (!info) throw new EncodeError('x64', 'gprNumber', 'reg', `'${String(reg)}' is not a general-purpose register`, 0);
  return info.num;
}

/** The name of register `num` at operand size `size` (e.g. 6, 8 → `sil`), as GNU as spells it. */
export function gprName(num: number, size: OperandSize): string {
  const table = size === 64 ? X64_GPR64 : size === 32 ? X64_GPR32 : size === 16 ? X64_GPR16 : X64_GPR8;
  const name = table[num];
  if (name === undefined) throw new EncodeError('x64', 'gprName', 'num', `${num} is not a register number`, 0);
  return name;
}

/** Condition codes, numbered as in the Jcc/SETcc/CMOVcc opcodes. */
export const X64_CONDITIONS = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'] as const;
export type X64Cond = (typeof X64_CONDITIONS)[number];

/** The condition that holds exactly when `cond` does not. */
export function invertX64Cond(cond: X64Cond): X64Cond {
  return X64_CONDITIONS[condCode(cond, 'invert') ^ 1];
}

export type Scale = 1 | 2 | 4 | 8;

/** A memory operand. Make them with `mem`, `memIndex`, `ripDisp`, `ripLabel`, `ripSymbol`. */
export type X64Address =
  | { kind: 'base'; base: Gpr64; index?: Gpr64; scale?: Scale; disp: number }
  | { kind: 'rip-disp'; disp: number }
  | { kind: 'rip-label'; label: Label; addend: number }
  | { kind: 'rip-symbol'; symbol: string; addend: number };

/** `[base + disp]` */
export function mem(base: Gpr64, disp = 0): X64Address {
  return { kind: 'base', base, disp };
}
/** `[base + index*scale + disp]`; rsp cannot be an index. */
export function memIndex(base: Gpr64, index: Gpr64, scale: Scale = 1, disp = 0): X64Address {
  return { kind: 'base', base, index, scale, disp };
}
/** `[rip + disp]`, disp counted from the end of the instruction. */
export function ripDisp(disp: number): X64Address {
  return { kind: 'rip-disp', disp };
}
/** `[rip + label + addend]` within this buffer. */
export function ripLabel(label: Label, addend = 0): X64Address {
  return { kind: 'rip-label', label, addend };
}
/** `[rip + symbol + addend]`, an R_X86_64_PC32 relocation. */
export function ripSymbol(symbol: string, addend = 0): X64Address {
  return { kind: 'rip-symbol', symbol, addend };
}

export type AluOp = 'add' | 'or' | 'adc' | 'sbb' | 'and' | 'sub' | 'xor' | 'cmp';
const ALU_CODE: Record<AluOp, number> = { add: 0, or: 1, adc: 2, sbb: 3, and: 4, sub: 5, xor: 6, cmp: 7 };
export type ShiftOp = 'rol' | 'ror' | 'shl' | 'shr' | 'sar';
const SHIFT_CODE: Record<ShiftOp, number> = { rol: 0, ror: 1, shl: 4, shr: 5, sar: 7 };

const COND_CODE = new Map<string, number>(X64_CONDITIONS.map((c, i) => [c, i]));
/** `jcc`'s mnemonic of each condition (for errors and fix-ups), made once rather than per branch. */
const JCC_NAMES = new Map<string, string>([...COND_CODE.keys()].map((c) => [c, 'j' + c]));

function condCode(cond: X64Cond, instruction: string): number {
  const code = COND_CODE.get(cond);
  if (code === undefined) throw new EncodeError('x64', instruction, 'cond', `'${String(cond)}' is not a condition`, 0);
  return code;
}

const fitsI8 = (v: number): boolean => v >= -128 && v <= 127;
const fitsI32 = (v: number): boolean => Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff;

const OPERAND_SIZE_PREFIX = 0x66;

// ------------------------------------------------------------------------------------------------
// x86-64 assembler
// ------------------------------------------------------------------------------------------------

/** Appends x86-64 instructions to a `CodeBuffer`. Register names carry the operand size. */
export class X64Assembler extends CodeBuffer {
  constructor() {
    super('x64');
  }

  /** Traps are `ud2`, as Cranelift emits them on x86-64. */
  protected override emitTrapInstruction(): void {
    this.ud2();
  }

  // --- moves ------------------------------------------------------------------------------------

  /** `mov dst, src` (same size). */
  mov(dst: Gpr, src: Gpr): void {
    const size = this.sameSize('mov', dst, src);
    this.rr(size, [0x89], this.num('mov', 'src', src), this.num('mov', 'dst', dst));
  }

  /** `mov dst, imm`: 32-bit dst takes any 32-bit value (B8+r); 64-bit dst a sign-extended imm32 (C7 /0). */
  movImm32(dst: Gpr, imm: number): void {
    const { num, size } = this.reg('mov', 'dst', dst);
    if (size === 32) {
      const v = this.imm32ForSize('mov', imm, 32);
      this.rex(false, 0, 0, num, false);
      this.emit8(0xb8 + (num & 7));
      this.emit32(v);
    } else {
      const v = this.imm32ForSize('mov', imm, 64);
      this.rex(true, 0, 0, num, false);
      this.emit8(0xc7);
      this.emit8(0xc0 | (num & 7));
      this.emit32(v);
    }
  }

  /** `movabs dst, imm64` (REX.W B8+r io). */
  movabs(dst: Gpr64, imm: bigint): void {
    const { num, size } = this.reg('movabs', 'dst', dst);
    if (size !== 64) throw this.error('movabs', 'dst', `'${dst}' is not a 64-bit register`);
    this.checkBigint('movabs', imm, 64);
    this.rex(true, 0, 0, num, false);
    this.emit8(0xb8 + (num & 7));
    this.emit64(imm);
  }

  /**
   * Loads any 64-bit (or, for a 32-bit dst, 32-bit) constant with the shortest encoding:
   * `xor`-free forms only, since they must not touch flags: mov r32,imm32 (zero-extends),
   * mov r64,simm32, movabs.
   */
  movImm(dst: Gpr, value: bigint): void {
    const { num, size } = this.reg('mov', 'dst', dst);
    if (size === 32) {
      this.checkBigint('mov', value, 32);
      this.movImm32(dst, Number(BigInt.asUintN(32, value)));
      return;
    }
    this.checkBigint('mov', value, 64);
    const unsigned = BigInt.asUintN(64, value);
    const signed = BigInt.asIntN(64, value);
    if (unsigned <= 0xffffffffn) this.movImm32(gprName(num, 32) as Gpr32, Number(unsigned));
    else if (signed >= -0x80000000n && signed < 0x80000000n) this.movImm32(dst, Number(signed));
    else this.movabs(dst as Gpr64, unsigned);
  }

  /** `movzx dst, src8/src16`: zero-extends the low `from` bits of `src`. */
  movzx(dst: Gpr, src: Gpr, from: 8 | 16): void {
    this.extend('movzx', dst, src, from, from === 8 ? 0xb6 : 0xb7);
  }

  /** `movsx dst, src8/src16`: sign-extends the low `from` bits of `src`. */
  movsx(dst: Gpr, src: Gpr, from: 8 | 16): void {
    this.extend('movsx', dst, src, from, from === 8 ? 0xbe : 0xbf);
  }

  /** `movsxd dst64, src32`. */
  movsxd(dst: Gpr64, src: Gpr32): void {
    const d = this.reg('movsxd', 'dst', dst);
    const s = this.reg('movsxd', 'src', src);
    if (d.size !== 64) throw this.error('movsxd', 'dst', `'${dst}' is not a 64-bit register`);
    if (s.size !== 32) throw this.error('movsxd', 'src', `'${src}' is not a 32-bit register`);
    this.rr(64, [0x63], d.num, s.num);
  }

  // --- memory -----------------------------------------------------------------------------------

  /** `mov dst, [addr]`, 32 or 64 bits by dst. */
  load(dst: Gpr, addr: X64Address): void {
    const { num, size } = this.reg('mov', 'dst', dst);
    this.rm('mov', size, [0x8b], num, addr, 0);
  }

  /** `movzx dst, byte/word ptr [addr]`. */
  loadZx(dst: Gpr, addr: X64Address, from: 8 | 16): void {
    const { num, size } = this.reg('movzx', 'dst', dst);
    this.checkFrom('movzx', from);
    this.rm('movzx', size, [0x0f, from === 8 ? 0xb6 : 0xb7], num, addr, 0);
  }

  /** `movsx dst, byte/word ptr [addr]`, or `movsxd dst64, dword ptr [addr]` when from is 32. */
  loadSx(dst: Gpr, addr: X64Address, from: 8 | 16 | 32): void {
    const { num, size } = this.reg('movsx', 'dst', dst);
    if (from === 32) {
      if (size !== 64) throw this.error('movsxd', 'dst', `'${dst}' is not a 64-bit register`);
      this.rm('movsxd', 64, [0x63], num, addr, 0);
      return;
    }
    this.checkFrom('movsx', from);
    this.rm('movsx', size, [0x0f, from === 8 ? 0xbe : 0xbf], num, addr, 0);
  }

  /** `mov [addr], src` storing the low `size` bits of src (default: src's own size). */
  store(addr: X64Address, src: Gpr, size?: OperandSize): void {
    const s = this.reg('mov', 'src', src);
    const width = size ?? s.size;
    switch (width) {
      case 8:
        this.rm('mov', 8, [0x88], s.num, addr, 0, true);
        break;
      case 16:
        this.rm('mov', 16, [0x89], s.num, addr, 0);
        break;
      case 32:
      case 64:
        this.rm('mov', width, [0x89], s.num, addr, 0);
        break;
      default:
        throw this.error('mov', 'size', `${String(width)} is not an operand size`);
    }
  }

  /** `mov size ptr [addr], imm` (64-bit stores a sign-extended imm32). */
  storeImm(addr: X64Address, imm: number, size: OperandSize): void {
    switch (size) {
      case 8:
        if (!Number.isInteger(imm) || imm < -0x80 || imm > 0xff) throw this.error('mov', 'imm', `${imm} does not fit in 8 bits`);
        this.rm('mov', 8, [0xc6], 0, addr, 1);
        this.emit8(imm);
        break;
      case 16:
        if (!Number.isInteger(imm) || imm < -0x8000 || imm > 0xffff) throw this.error('mov', 'imm', `${imm} does not fit in 16 bits`);
        this.rm('mov', 16, [0xc7], 0, addr, 2);
        this.emit16(imm);
        break;
      case 32:
      case 64: {
        const v = this.imm32ForSize('mov', imm, size);
        this.rm('mov', size, [0xc7], 0, addr, 4);
        this.emit32(v);
        break;
      }
      default:
        throw this.error('mov', 'size', `${String(size)} is not an operand size`);
    }
  }

  /** `lea dst, [addr]`. */
  lea(dst: Gpr, addr: X64Address): void {
    const { num, size } = this.reg('lea', 'dst', dst);
    this.rm('lea', size, [0x8d], num, addr, 0);
  }

  // --- integer arithmetic -----------------------------------------------------------------------

  /** `op dst, src` for the eight classic ALU operations (encoded as `op r/m, reg`, like GNU as). */
  alu(op: AluOp, dst: Gpr, src: Gpr): void {
    const size = this.sameSize(op, dst, src);
    this.rr(size, [ALU_CODE[op] * 8 + 1], this.num(op, 'src', src), this.num(op, 'dst', dst));
  }

  /** `op dst, imm`: imm8 form when it fits, else the rax short form or `81 /op id`. */
  aluImm(op: AluOp, dst: Gpr, imm: number): void {
    const { num, size } = this.reg(op, 'dst', dst);
    const v = this.imm32ForSize(op, imm, size);
    if (fitsI8(v)) {
      this.rr(size, [0x83], ALU_CODE[op], num);
      this.emit8(v);
    } else if (num === 0) {
      this.rex(size === 64, 0, 0, 0, false);
      this.emit8(ALU_CODE[op] * 8 + 5);
      this.emit32(v);
    } else {
      this.rr(size, [0x81], ALU_CODE[op], num);
      this.emit32(v);
    }
  }

  /** `op dst, [addr]` (a load folded into the operation). */
  aluLoad(op: AluOp, dst: Gpr, addr: X64Address): void {
    const { num, size } = this.reg(op, 'dst', dst);
    this.rm(op, size, [ALU_CODE[op] * 8 + 3], num, addr, 0);
  }

  /** `op [addr], src` (read-modify-write, or a compare against memory for `cmp`). */
  aluStore(op: AluOp, addr: X64Address, src: Gpr): void {
    const { num, size } = this.reg(op, 'src', src);
    this.rm(op, size, [ALU_CODE[op] * 8 + 1], num, addr, 0);
  }

  /** `op size ptr [addr], imm` for 32- or 64-bit memory operands (imm8 form when it fits). */
  aluStoreImm(op: AluOp, addr: X64Address, imm: number, size: 32 | 64): void {
    if (size !== 32 && size !== 64) throw this.error(op, 'size', `${String(size)} is not 32 or 64`);
    const v = this.imm32ForSize(op, imm, size);
    if (fitsI8(v)) {
      this.rm(op, size, [0x83], ALU_CODE[op], addr, 1);
      this.emit8(v);
    } else {
      this.rm(op, size, [0x81], ALU_CODE[op], addr, 4);
      this.emit32(v);
    }
  }

  /** `lock op size ptr [addr], imm`: an atomic read-modify-write of memory (e.g. the
   * VMExternData ref-count update). `cmp` cannot be locked. */
  lockAluStoreImm(op: Exclude<AluOp, 'cmp'>, addr: X64Address, imm: number, size: 32 | 64): void {
    if ((op as AluOp) === 'cmp') throw this.error('lock cmp', 'op', 'cmp does not write memory and cannot take a lock prefix');
    this.emit8(0xf0);
    this.aluStoreImm(op, addr, imm, size);
  }

  add(dst: Gpr, src: Gpr): void { this.alu('add', dst, src); }
  sub(dst: Gpr, src: Gpr): void { this.alu('sub', dst, src); }
  and(dst: Gpr, src: Gpr): void { this.alu('and', dst, src); }
  or(dst: Gpr, src: Gpr): void { this.alu('or', dst, src); }
  xor(dst: Gpr, src: Gpr): void { this.alu('xor', dst, src); }
  cmp(a: Gpr, b: Gpr): void { this.alu('cmp', a, b); }
  addImm(dst: Gpr, imm: number): void { this.aluImm('add', dst, imm); }
  subImm(dst: Gpr, imm: number): void { this.aluImm('sub', dst, imm); }
  andImm(dst: Gpr, imm: number): void { this.aluImm('and', dst, imm); }
  orImm(dst: Gpr, imm: number): void { this.aluImm('or', dst, imm); }
  xorImm(dst: Gpr, imm: number): void { this.aluImm('xor', dst, imm); }
  cmpImm(a: Gpr, imm: number): void { this.aluImm('cmp', a, imm); }

  /**
   * `sub rsp, imm32` always in the 7-byte imm32 form, so a single-pass compiler can emit the
   * prologue before it knows the frame size. Returns the offset of the imm32 for `patch32`.
   */
  subRspImm32(imm: number): number {
    return this.rspImm32('sub', imm);
  }

  /** `add rsp, imm32` in the fixed imm32 form; returns the imm32's offset. */
  addRspImm32(imm: number): number {
    return this.rspImm32('add', imm);
  }

  /** `test a, b`. */
  test(a: Gpr, b: Gpr): void {
    const size = this.sameSize('test', a, b);
    this.rr(size, [0x85], this.num('test', 'b', b), this.num('test', 'a', a));
  }

  /** `test a, imm32` (no imm8 form exists; rax uses the short A9 form). */
  testImm(a: Gpr, imm: number): void {
    const { num, size } = this.reg('test', 'a', a);
    const v = this.imm32ForSize('test', imm, size);
    if (num === 0) {
      this.rex(size === 64, 0, 0, 0, false);
      this.emit8(0xa9);
    } else {
      this.rr(size, [0xf7], 0, num);
    }
    this.emit32(v);
  }

  /** `imul dst, src` (truncating multiply). */
  imul(dst: Gpr, src: Gpr): void {
    const size = this.sameSize('imul', dst, src);
    this.rr(size, [0x0f, 0xaf], this.num('imul', 'dst', dst), this.num('imul', 'src', src));
  }

  /** `imul dst, [addr]` (a load folded into the multiply). */
  imulLoad(dst: Gpr, addr: X64Address): void {
    const { num, size } = this.reg('imul', 'dst', dst);
    this.rm('imul', size, [0x0f, 0xaf], num, addr, 0);
  }

  /** `imul dst, src, imm`. */
  imulImm(dst: Gpr, src: Gpr, imm: number): void {
    const size = this.sameSize('imul', dst, src);
    const v = this.imm32ForSize('imul', imm, size);
    const d = this.num('imul', 'dst', dst);
    const s = this.num('imul', 'src', src);
    if (fitsI8(v)) {
      this.rr(size, [0x6b], d, s);
      this.emit8(v);
    } else {
      this.rr(size, [0x69], d, s);
      this.emit32(v);
    }
  }

  /** `div src`: unsigned rdx:rax / src (clear rdx/edx first). */
  div(src: Gpr): void { this.unaryF7('div', 6, src); }
  /** `idiv src`: signed rdx:rax / src (sign-extend with cqo/cdq first). */
  idiv(src: Gpr): void { this.unaryF7('idiv', 7, src); }
  /** `mul src`: unsigned rdx:rax = rax * src (high half for umulh). */
  mulWide(src: Gpr): void { this.unaryF7('mul', 4, src); }
  /** One-operand `imul src`: signed rdx:rax = rax * src (high half for smulh). */
  imulWide(src: Gpr): void { this.unaryF7('imul', 5, src); }
  neg(reg: Gpr): void { this.unaryF7('neg', 3, reg); }
  not(reg: Gpr): void { this.unaryF7('not', 2, reg); }

  /** `cqo`: sign-extends rax into rdx. */
  cqo(): void {
    this.emit8(0x48);
    this.emit8(0x99);
  }
  /** `cdq`: sign-extends eax into edx. */
  cdq(): void {
    this.emit8(0x99);
  }

  /** `op reg, cl`. */
  shiftCl(op: ShiftOp, reg: Gpr): void {
    const { num, size } = this.reg(op, 'reg', reg);
    this.rr(size, [0xd3], this.shiftCode(op), num);
  }

  /** `op reg, imm` (count below the operand width; 1 uses the D1 form as GNU as does). */
  shiftImm(op: ShiftOp, reg: Gpr, imm: number): void {
    const { num, size } = this.reg(op, 'reg', reg);
    if (!Number.isInteger(imm) || imm < 0 || imm >= size) {
      throw this.error(op, 'imm', `shift count ${imm} is outside 0..${size - 1}`);
    }
    if (imm === 1) {
      this.rr(size, [0xd1], this.shiftCode(op), num);
    } else {
      this.rr(size, [0xc1], this.shiftCode(op), num);
      this.emit8(imm);
    }
  }

  lzcnt(dst: Gpr, src: Gpr): void { this.f3Op('lzcnt', 0xbd, dst, src); }
  tzcnt(dst: Gpr, src: Gpr): void { this.f3Op('tzcnt', 0xbc, dst, src); }
  popcnt(dst: Gpr, src: Gpr): void { this.f3Op('popcnt', 0xb8, dst, src); }

  /** `setcc dst8`: writes the low byte of `dst` (follow with `movzx dst32, dst, 8`). */
  setcc(cond: X64Cond, dst: Gpr): void {
    const code = condCode(cond, 'set' + cond);
    this.rr(8, [0x0f, 0x90 + code], 0, this.num('set' + cond, 'dst', dst));
  }

  /** `cmovcc dst, src`. */
  cmovcc(cond: X64Cond, dst: Gpr, src: Gpr): void {
    const code = condCode(cond, 'cmov' + cond);
    const size = this.sameSize('cmov' + cond, dst, src);
    this.rr(size, [0x0f, 0x40 + code], this.num('cmov', 'dst', dst), this.num('cmov', 'src', src));
  }

  // --- SSE scalar floats ------------------------------------------------------------------------

  /** `movss/movsd dst, [addr]` (the rest of dst is zeroed). */
  sseLoad(width: SseWidth, dst: Xmm, addr: X64Address): void {
    this.emit8(width === 32 ? 0xf3 : 0xf2);
    this.rm(width === 32 ? 'movss' : 'movsd', 32, [0x0f, 0x10], this.xmm('movss', 'dst', dst), addr, 0);
  }
  /** `movss/movsd [addr], src`: stores the low 4 or 8 bytes. */
  sseStore(width: SseWidth, addr: X64Address, src: Xmm): void {
    this.emit8(width === 32 ? 0xf3 : 0xf2);
    this.rm(width === 32 ? 'movss' : 'movsd', 32, [0x0f, 0x11], this.xmm('movss', 'src', src), addr, 0);
  }
  /** `movd/movq dst, src`: a general register's bits into the low lane (rest zeroed); the register's size chooses. */
  movToXmm(dst: Xmm, src: Gpr): void {
    const s = this.reg('movd', 'src', src);
    this.emit8(0x66);
    this.rr(s.size, [0x0f, 0x6e], this.xmm('movd', 'dst', dst), s.num);
  }
  /** `movd/movq dst, src`: the low 32 or 64 bits of an SSE register into a general register. */
  movFromXmm(dst: Gpr, src: Xmm): void {
    const d = this.reg('movd', 'dst', dst);
    this.emit8(0x66);
    this.rr(d.size, [0x0f, 0x7e], this.xmm('movd', 'src', src), d.num);
  }
  /** `movaps dst, src` (the whole register). */
  movaps(dst: Xmm, src: Xmm): void {
    this.rr(32, [0x0f, 0x28], this.xmm('movaps', 'dst', dst), this.xmm('movaps', 'src', src));
  }
  /** `addss/addsd …` etc.: dst ← dst op src (sqrt: dst ← √src). */
  sseArith(op: SseArithOp, width: SseWidth, dst: Xmm, src: Xmm): void {
    const code = SSE_ARITH[op];
    if (code === undefined) throw this.error(String(op), 'op', `'${String(op)}' is not a scalar SSE operation`);
    this.emit8(width === 32 ? 0xf3 : 0xf2);
    this.rr(32, [0x0f, code], this.xmm(op, 'dst', dst), this.xmm(op, 'src', src));
  }
  /** `andps/andpd …`: dst ← dst op src, bitwise over the register. */
  sseLogic(op: SseLogicOp, width: SseWidth, dst: Xmm, src: Xmm): void {
    const code = SSE_LOGIC[op];
    if (code === undefined) throw this.error(String(op), 'op', `'${String(op)}' is not an SSE logic operation`);
    if (width === 64) this.emit8(0x66);
    this.rr(32, [0x0f, code], this.xmm(op, 'dst', dst), this.xmm(op, 'src', src));
  }
  /** `ucomiss/ucomisd a, b`: ZF, PF, CF from an unordered compare (PF=1: a NaN). */
  ucomis(width: SseWidth, a: Xmm, b: Xmm): void {
    if (width === 64) this.emit8(0x66);
    this.rr(32, [0x0f, 0x2e], this.xmm('ucomis', 'a', a), this.xmm('ucomis', 'b', b));
  }
  /** `cvtss2sd` (to 64) or `cvtsd2ss` (to 32): dst ← src converted to the other width. */
  cvtFloat(to: SseWidth, dst: Xmm, src: Xmm): void {
    this.emit8(to === 64 ? 0xf3 : 0xf2);
    this.rr(32, [0x0f, 0x5a], this.xmm('cvt', 'dst', dst), this.xmm('cvt', 'src', src));
  }
  /** `cvtsi2ss/cvtsi2sd dst, src`: a signed 32- or 64-bit integer (by the register's name) to float. */
  cvtIntToFloat(width: SseWidth, dst: Xmm, src: Gpr): void {
    const s = this.reg('cvtsi2s', 'src', src);
    this.emit8(width === 32 ? 0xf3 : 0xf2);
    this.rr(s.size, [0x0f, 0x2a], this.xmm('cvtsi2s', 'dst', dst), s.num);
  }
  /** `cvttss2si/cvttsd2si dst, src`: truncating float to signed 32- or 64-bit integer; the
   * "integer indefinite" value (only the sign bit set) for NaN and out-of-range inputs. */
  cvtFloatToInt(width: SseWidth, dst: Gpr, src: Xmm): void {
    const d = this.reg('cvtts2si', 'dst', dst);
    this.emit8(width === 32 ? 0xf3 : 0xf2);
    this.rr(d.size, [0x0f, 0x2c], d.num, this.xmm('cvtts2si', 'src', src));
  }
  /** `roundss/roundsd dst, src, mode` (SSE4.1). */
  sseRound(width: SseWidth, dst: Xmm, src: Xmm, mode: SseRoundMode): void {
    const imm = SSE_ROUND[mode];
    if (imm === undefined) throw this.error('round', 'mode', `'${String(mode)}' is not a rounding mode`);
    this.emit8(0x66);
    this.rr(32, [0x0f, 0x3a, width === 32 ? 0x0a : 0x0b], this.xmm('round', 'dst', dst), this.xmm('round', 'src', src));
    this.emit8(imm);
  }

  // --- control flow -----------------------------------------------------------------------------

  /** `jmp label` (E9 rel32). */
  jmp(label: Label): void {
    this.emit8(0xe9);
    this.rel32ToLabel('jmp', label, this.offset - 1);
  }

  /** `jcc label` (0F 8x rel32). */
  jcc(cond: X64Cond, label: Label): void {
    const name = JCC_NAMES.get(cond) ?? 'j' + cond;
    const code = condCode(cond, name);
    const start = this.offset;
    this.emit8(0x0f);
    this.emit8(0x80 + code);
    this.rel32ToLabel(name, label, start);
  }

  /** `call label` (E8 rel32). */
  call(label: Label): void {
    this.emit8(0xe8);
    this.rel32ToLabel('call', label, this.offset - 1);
  }

  /** `call symbol`: E8 with an R_X86_64_PLT32 request, addend −4 (rel32 counts from its end). */
  callSymbol(symbol: string): void {
    this.emit8(0xe8);
    this.relocate('R_X86_64_PLT32', symbol, -4n);
    this.emit32(0);
  }

  /** `jmp symbol` (a tail call): E9 with an R_X86_64_PLT32 request. */
  jmpSymbol(symbol: string): void {
    this.emit8(0xe9);
    this.relocate('R_X86_64_PLT32', symbol, -4n);
    this.emit32(0);
  }

  /** `call reg` (FF /2). */
  callReg(target: Gpr64): void {
    this.rr(32, [0xff], 2, this.num64('call', 'target', target));
  }

  /** `call qword ptr [addr]`. */
  callMem(addr: X64Address): void {
    this.rm('call', 32, [0xff], 2, addr, 0);
  }

  /** `jmp reg` (FF /4). */
  jmpReg(target: Gpr64): void {
    this.rr(32, [0xff], 4, this.num64('jmp', 'target', target));
  }

  /** `jmp qword ptr [addr]`. */
  jmpMem(addr: X64Address): void {
    this.rm('jmp', 32, [0xff], 4, addr, 0);
  }

  ret(): void {
    this.emit8(0xc3);
  }

  push(reg: Gpr64): void {
    const num = this.num64('push', 'reg', reg);
    this.rex(false, 0, 0, num, false);
    this.emit8(0x50 + (num & 7));
  }

  pop(reg: Gpr64): void {
    const num = this.num64('pop', 'reg', reg);
    this.rex(false, 0, 0, num, false);
    this.emit8(0x58 + (num & 7));
  }

  /** Breakpoint trap (Unicorn reports interrupt 3 with the PC after it). */
  int3(): void {
    this.emit8(0xcc);
  }

  /** Undefined instruction (trap site for wasm traps). */
  ud2(): void {
    this.emit8(0x0f);
    this.emit8(0x0b);
  }

  nop(): void {
    this.emit8(0x90);
  }

  /** `.quad symbol + addend`: 8 zero bytes with an R_X86_64_64 request. */
  quadSymbol(symbol: string, addend = 0n): void {
    this.relocate('R_X86_64_64', symbol, addend);
    this.emit64(0n);
  }

  // --- encoding helpers -------------------------------------------------------------------------

  private error(instruction: string, operand: string, reason: string): EncodeError {
    return new EncodeError('x64', instruction, operand, reason, this.offset);
  }

  private reg(instruction: string, operand: string, reg: Gpr): { num: number; size: 32 | 64 } {
    const info = GPR_INFO.get(reg);
    if (!info) throw this.error(instruction, operand, `'${String(reg)}' is not a general-purpose register`);
    return info;
  }

  private xmm(instruction: string, operand: string, reg: Xmm): number {
    const num = (X64_XMM as readonly string[]).indexOf(reg);
    if (num < 0) throw this.error(instruction, operand, `'${String(reg)}' is not an SSE register`);
    return num;
  }

  private num(instruction: string, operand: string, reg: Gpr): number {
    return this.reg(instruction, operand, reg).num;
  }

  private num64(instruction: string, operand: string, reg: Gpr64): number {
    const { num, size } = this.reg(instruction, operand, reg);
    if (size !== 64) throw this.error(instruction, operand, `'${reg}' is not a 64-bit register`);
    return num;
  }

  private sameSize(instruction: string, a: Gpr, b: Gpr): 32 | 64 {
    const x = this.reg(instruction, 'dst', a);
    const y = this.reg(instruction, 'src', b);
    if (x.size !== y.size) throw this.error(instruction, 'src', `'${b}' is not the same size as '${a}'`);
    return x.size;
  }

  private checkFrom(instruction: string, from: number): void {
    if (from !== 8 && from !== 16) throw this.error(instruction, 'from', `${from} is not 8 or 16`);
  }

  private shiftCode(op: ShiftOp): number {
    const code = SHIFT_CODE[op];
    if (code === undefined) throw this.error(String(op), 'op', `'${String(op)}' is not a shift`);
    return code;
  }

  /**
   * Checks an immediate for a 32- or 64-bit operation and returns it as signed 32 bits. A 32-bit
   * operation also takes unsigned values up to 0xffffffff (GNU as does the same); a 64-bit one
   * only what sign-extends from 32 bits.
   */
  private imm32ForSize(instruction: string, imm: number, size: OperandSize): number {
    if (!Number.isInteger(imm)) throw this.error(instruction, 'imm', `${imm} is not an integer`);
    if (size === 64 ? !fitsI32(imm) : imm < -0x80000000 || imm > 0xffffffff) {
      throw this.error(instruction, 'imm', `${imm} does not fit in a ${size === 64 ? 'sign-extended ' : ''}32-bit immediate`);
    }
    return imm | 0;
  }

  private checkBigint(instruction: string, value: bigint, bits: 32 | 64): void {
    if (typeof value !== 'bigint' || value < -(1n << BigInt(bits - 1)) || value >= 1n << BigInt(bits)) {
      throw this.error(instruction, 'imm', `${String(value)} does not fit in ${bits} bits`);
    }
  }

  private rspImm32(op: 'add' | 'sub', imm: number): number {
    const v = this.imm32ForSize(op, imm, 64);
    this.rr(64, [0x81], ALU_CODE[op], 4);
    const at = this.offset;
    this.emit32(v);
    return at;
  }

  private extend(instruction: string, dst: Gpr, src: Gpr, from: 8 | 16, opcode: number): void {
    this.checkFrom(instruction, from);
    const d = this.reg(instruction, 'dst', dst);
    const s = this.num(instruction, 'src', src);
    // A byte source numbered 4–7 means spl/bpl/sil/dil only with a REX prefix (ah..bh without).
    this.rexAndOpcode(0, d.size === 64, d.num, 0, s, from === 8 && s >= 4 && s < 8, [0x0f, opcode]);
    this.emit8(0xc0 | ((d.num & 7) << 3) | (s & 7));
  }

  private unaryF7(instruction: string, ext: number, reg: Gpr): void {
    const { num, size } = this.reg(instruction, 'reg', reg);
    this.rr(size, [0xf7], ext, num);
  }

  private f3Op(instruction: string, opcode: number, dst: Gpr, src: Gpr): void {
    const size = this.sameSize(instruction, dst, src);
    this.emit8(0xf3);
    this.rr(size, [0x0f, opcode], this.num(instruction, 'dst', dst), this.num(instruction, 'src', src));
  }

  private rex(w: boolean, r: number, x: number, b: number, force: boolean): void {
    const rex = 0x40 | (w ? 8 : 0) | ((r >> 3) << 2) | ((x >> 3) << 1) | (b >> 3);
    if (rex !== 0x40 || force) this.emit8(rex);
  }

  /** Emits the 66 prefix for 16-bit operands, then REX, then the opcode bytes. */
  private rexAndOpcode(size16: number, w: boolean, r: number, x: number, b: number, forceRex: boolean, opcode: number[]): void {
    if (size16) this.emit8(OPERAND_SIZE_PREFIX);
    this.rex(w, r, x, b, forceRex);
    for (const byte of opcode) this.emit8(byte);
  }

  /** Register-direct form: ModRM mod=11 with `reg` (a register or opcode extension) and `rm`. */
  private rr(size: OperandSize, opcode: number[], reg: number, rm: number): void {
    // For byte operands rm 4–7 names spl..dil only with REX; so does reg when it is a register,
    // which callers of size 8 here never pass (they pass opcode extensions or use `extend`).
    this.rexAndOpcode(size === 16 ? 1 : 0, size === 64, reg, 0, rm, size === 8 && rm >= 4 && rm < 8, opcode);
    this.emit8(0xc0 | ((reg & 7) << 3) | (rm & 7));
  }

  /**
   * Memory form. `trailing` is the number of immediate bytes the caller emits after the address,
   * needed because a rip-relative displacement counts from the end of the whole instruction.
   */
  private rm(
    instruction: string,
    size: OperandSize,
    opcode: number[],
    reg: number,
    addr: X64Address,
    trailing: number,
    byteRegister = false,
  ): void {
    // A byte register numbered 4–7 in ModRM.reg means spl..dil only with a REX prefix.
    const forceRex = byteRegister && reg >= 4 && reg < 8;
    const start = this.offset;
    switch (addr?.kind) {
      case 'base': {
        const base = this.num64(instruction, 'addr.base', addr.base);
        const disp = addr.disp;
        if (!fitsI32(disp)) throw this.error(instruction, 'addr.disp', `${disp} does not fit in 32 bits`);
        let index = -1;
        let scaleBits = 0;
        if (addr.index !== undefined) {
          index = this.num64(instruction, 'addr.index', addr.index);
          if (index === 4) throw this.error(instruction, 'addr.index', 'rsp cannot be an index register');
          const scale = addr.scale ?? 1;
          scaleBits = [1, 2, 4, 8].indexOf(scale);
          if (scaleBits < 0) throw this.error(instruction, 'addr.scale', `${String(scale)} is not 1, 2, 4 or 8`);
        }
        this.rexAndOpcode(size === 16 ? 1 : 0, size === 64, reg, index < 0 ? 0 : index, base, forceRex, opcode);
        // rbp/r13 as base with mod=00 would mean rip/disp32, so they always carry a displacement.
        const mod = disp === 0 && (base & 7) !== 5 ? 0 : fitsI8(disp) ? 1 : 2;
        const needsSib = index >= 0 || (base & 7) === 4;
        this.emit8((mod << 6) | ((reg & 7) << 3) | (needsSib ? 4 : base & 7));
        if (needsSib) this.emit8((scaleBits << 6) | ((index < 0 ? 4 : index & 7) << 3) | (base & 7));
        if (mod === 1) this.emit8(disp);
        else if (mod === 2) this.emit32(disp);
        return;
      }
      case 'rip-disp':
      case 'rip-label':
      case 'rip-symbol': {
        this.rexAndOpcode(size === 16 ? 1 : 0, size === 64, reg, 0, 0, forceRex, opcode);
        this.emit8(((reg & 7) << 3) | 5);
        const at = this.offset;
        const end = at + 4 + trailing;
        if (addr.kind === 'rip-disp') {
          if (!fitsI32(addr.disp)) throw this.error(instruction, 'addr.disp', `${addr.disp} does not fit in 32 bits`);
          this.emit32(addr.disp);
        } else if (addr.kind === 'rip-symbol') {
          if (!Number.isInteger(addr.addend)) throw this.error(instruction, 'addr.addend', `${addr.addend} is not an integer`);
          this.relocate('R_X86_64_PC32', addr.symbol, BigInt(addr.addend - 4 - trailing), at);
          this.emit32(0);
        } else {
          this.emit32(0);
          this.useLabel(addr.label, instruction, start, INT32_REACH, (target) => {
            const disp = target + addr.addend - end;
            if (!fitsI32(disp)) throw new EncodeError('x64', instruction, 'addr.label', `displacement ${disp} does not fit in 32 bits`, start);
            this.patch32(at, disp);
          });
        }
        return;
      }
      default:
        throw this.error(instruction, 'addr', `${JSON.stringify(addr)} is not an x64 address`);
    }
  }

  private rel32ToLabel(instruction: string, label: Label, start: number): void {
    const at = this.offset;
    this.emit32(0);
    this.useLabel(label, instruction, start, INT32_REACH, (target) => {
      const rel = target - (at + 4);
      if (!fitsI32(rel)) throw new EncodeError('x64', instruction, 'label', `displacement ${rel} does not fit in rel32`, start);
      this.patch32(at, rel);
    });
  }
}
