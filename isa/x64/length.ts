/**
 * x86-64 instruction lengths without a disassembler, for the forms stackscope's compiler,
 * trampolines and ordinary integer code use. The native instruction counter needs the number
 * of instructions of every block it has not seen (simulator/unicorn.ts); asking Capstone for
 * each block costs more than translating it. This decoder answers only when it is sure:
 * prefixes, opcodes and ModRM forms outside its table give `undefined`, and the caller asks
 * Capstone instead, so the counts are Capstone's in every case.
 * length.test.ts checks every form the table accepts against Capstone, byte for byte.
 */

/** How an opcode continues after its opcode byte(s). */
const enum Form {
  /** Not known here: ask Capstone. */
  Unknown = 0,
  /** Nothing follows. */
  None,
  /** ModRM (+ SIB, displacement). */
  ModRm,
  /** ModRM, then an 8-bit immediate. */
  ModRmImm8,
  /** ModRM, then a 16- or 32-bit immediate (16 with the 0x66 prefix). */
  ModRmImmZ,
  /** An 8-bit immediate or displacement. */
  Imm8,
  /** A 16- or 32-bit immediate (16 with 0x66). */
  ImmZ,
  /** A 16-bit immediate. */
  Imm16,
  /** A 32-bit displacement (call, jmp, jcc): no 0x66 allowed here. */
  Rel32,
  /** mov r, imm: 8 bytes with REX.W, 2 with 0x66, else 4. */
  MovImm,
  /** Group 3 (test/not/neg/mul/div): ModRM, with an immediate only for test (reg 0). */
  Group3Byte,
  Group3Z,
}

/** The one-byte opcode map (64-bit mode). */
const ONE = new Uint8Array(256);
/** The 0x0f map, without a mandatory prefix (or with 0x66 for integer operand size). */
const TWO = new Uint8Array(256);
/** 0x0f opcodes whose forms with a 0x66, 0xf2 or 0xf3 prefix are known (SSE, popcnt, lzcnt, tzcnt). */
const TWO_66 = new Uint8Array(256);
const TWO_F2 = new Uint8Array(256);
const TWO_F3 = new Uint8Array(256);

function set(table: Uint8Array, opcodes: readonly number[], form: Form): void {
  for (const op of opcodes) table[op] = form;
}
function range(lo: number, hi: number): number[] {
  return Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
}

// ALU ops 00-3f: r/m forms, then al/eax immediates (06, 07, 0e, 16, 17, 1e, 1f, 27, 2f, 37, 3f
// are invalid in 64-bit mode; 26, 2e, 36, 3e are prefixes).
for (let base = 0; base < 0x40; base += 8) {
  set(ONE, [base, base + 1, base + 2, base + 3], Form.ModRm);
  ONE[base + 4] = Form.Imm8;
  ONE[base + 5] = Form.ImmZ;
}
set(ONE, range(0x50, 0x5f), Form.None); // push/pop r64
ONE[0x63] = Form.ModRm; // movsxd
ONE[0x68] = Form.ImmZ;
ONE[0x69] = Form.ModRmImmZ;
ONE[0x6a] = Form.Imm8;
ONE[0x6b] = Form.ModRmImm8;
set(ONE, range(0x70, 0x7f), Form.Imm8); // jcc rel8
ONE[0x80] = Form.ModRmImm8;
ONE[0x81] = Form.ModRmImmZ;
ONE[0x83] = Form.ModRmImm8;
set(ONE, range(0x84, 0x8b), Form.ModRm); // test, xchg, mov
ONE[0x8d] = Form.ModRm; // lea (register operand rejected below)
set(ONE, range(0x90, 0x99), Form.None); // xchg/nop, cbw family, cwd family
ONE[0x9c] = Form.None; // pushf
ONE[0x9d] = Form.None; // popf
ONE[0xa8] = Form.Imm8;
ONE[0xa9] = Form.ImmZ;
set(ONE, range(0xb0, 0xb7), Form.Imm8);
set(ONE, range(0xb8, 0xbf), Form.MovImm);
ONE[0xc0] = Form.ModRmImm8;
ONE[0xc1] = Form.ModRmImm8;
ONE[0xc2] = Form.Imm16;
ONE[0xc3] = Form.None;
ONE[0xc6] = Form.ModRmImm8; // mov r/m8, imm8 (reg 0 only, below)
ONE[0xc7] = Form.ModRmImmZ; // mov r/m, imm32 (reg 0 only, below)
ONE[0xc9] = Form.None; // leave
ONE[0xcc] = Form.None; // int3
ONE[0xcd] = Form.Imm8; // int n
set(ONE, [0xd0, 0xd1, 0xd2, 0xd3], Form.ModRm); // shifts
ONE[0xe8] = Form.Rel32;
ONE[0xe9] = Form.Rel32;
ONE[0xeb] = Form.Imm8;
ONE[0xf4] = Form.None; // hlt
ONE[0xf6] = Form.Group3Byte;
ONE[0xf7] = Form.Group3Z;
ONE[0xfe] = Form.ModRm; // inc/dec r/m8 (reg 0-1, below)
ONE[0xff] = Form.ModRm; // inc/dec/call/jmp/push (checked below)

TWO[0x05] = Form.None; // syscall
TWO[0x0b] = Form.None; // ud2
TWO[0x1f] = Form.ModRm; // nop r/m
TWO[0x31] = Form.None; // rdtsc
TWO[0xa2] = Form.None; // cpuid
set(TWO, range(0x40, 0x4f), Form.ModRm); // cmovcc
set(TWO, range(0x80, 0x8f), Form.Rel32); // jcc rel32
set(TWO, range(0x90, 0x9f), Form.ModRm); // setcc
set(TWO, [0xa3, 0xab, 0xb3, 0xbb, 0xa5, 0xad, 0xaf, 0xb0, 0xb1, 0xb6, 0xb7, 0xbc, 0xbd, 0xbe, 0xbf, 0xc0, 0xc1], Form.ModRm);
set(TWO, [0xa4, 0xac], Form.ModRmImm8); // shld/shrd imm8
TWO[0xba] = Form.ModRmImm8; // bt group (reg 4-7, below)
set(TWO, range(0xc8, 0xcf), Form.None); // bswap
// SSE and SSE2, no prefix: movups, movaps, ucomiss/comiss, logic, arithmetic, conversions.
set(TWO, [0x10, 0x11, 0x28, 0x29, 0x2e, 0x2f, 0x51, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f], Form.ModRm);
set(TWO, [0xc2, 0xc6], Form.ModRmImm8);
// 0x66: the packed-double and integer-vector forms.
set(TWO_66, [0x10, 0x11, 0x28, 0x29, 0x2e, 0x2f, 0x51, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f], Form.ModRm);
set(TWO_66, [0x6e, 0x7e, 0x6f, 0x7f, 0xd6, 0xef, 0xd4, 0xfb, 0xfe, 0xfa, 0x66, 0x76, 0x74, 0x75], Form.ModRm);
set(TWO_66, [0xc2, 0xc6, 0x70], Form.ModRmImm8);
// 0xf2 / 0xf3: scalar double / single, and f3's popcnt, tzcnt, lzcnt, movq, movdqu.
const SCALAR = [0x10, 0x11, 0x2a, 0x2c, 0x2d, 0x51, 0x58, 0x59, 0x5a, 0x5c, 0x5d, 0x5e, 0x5f];
set(TWO_F2, SCALAR, Form.ModRm);
set(TWO_F2, [0xc2], Form.ModRmImm8);
set(TWO_F3, SCALAR, Form.ModRm);
set(TWO_F3, [0x5b, 0x6f, 0x7f, 0x7e, 0xb8, 0xbc, 0xbd, 0xe6], Form.ModRm);
set(TWO_F3, [0xc2], Form.ModRmImm8);

/** Bytes a ModRM (and its SIB and displacement) take at `at`; 0 when past the end. */
function modRmLength(code: Uint8Array, at: number): number {
  if (at >= code.length) return 0;
  const modrm = code[at];
  const mod = modrm >> 6;
  const rm = modrm & 7;
  if (mod === 3) return 1;
  let n = 1;
  if (rm === 4) {
    if (at + 1 >= code.length) return 0;
    const base = code[at + 1] & 7;
    n = 2;
    if (mod === 0 && base === 5) return n + 4;
  } else if (mod === 0 && rm === 5) {
    return n + 4; // RIP-relative
  }
  return n + (mod === 1 ? 1 : mod === 2 ? 4 : 0);
}

/**
 * Length of the instruction at `code[at]`, or 0 when it is not a form this decoder knows (or
 * runs past the end of `code`).
 */
export function x64InstructionLength(code: Uint8Array, at: number): number {
  let i = at;
  let opSize = false;
  let rep = 0; // 0xf2 or 0xf3
  let prefixes = 0;
  for (;;) {
    if (i >= code.length) return 0;
    const b = code[i];
    if (b === 0x66) opSize = true;
    else if (b === 0xf2 || b === 0xf3) {
      if (rep !== 0) return 0;
      rep = b;
    } else if (b === 0x67 || b === 0x2e || b === 0x3e || b === 0x26 || b === 0x36 || b === 0x64 || b === 0x65) {
      // address size and segment overrides: ModRM lengths are the same under 0x67
    } else break;
    if (++prefixes > 4) return 0;
    i++;
  }
  let rexW = false;
  if ((code[i] & 0xf0) === 0x40) {
    rexW = (code[i] & 8) !== 0;
    i++;
    if (i >= code.length) return 0;
  }
  const op = code[i++];
  let form: Form;
  if (op === 0x0f) {
    if (i >= code.length) return 0;
    const op2 = code[i++];
    if (rep !== 0) {
      if (opSize) return 0;
      form = (rep === 0xf2 ? TWO_F2 : TWO_F3)[op2];
    } else if (opSize) {
      form = TWO_66[op2] || (isIntegerTwoByte(op2) ? TWO[op2] : Form.Unknown);
    } else {
      form = TWO[op2];
    }
    if (form === Form.Rel32 && opSize) return 0;
    if (op2 === 0xba && !modRegIn(code, i, 4, 7)) return 0;
  } else {
    if (rep !== 0 && (op !== 0x90 || opSize)) return 0; // rep/bnd on anything but pause: ask Capstone
    if (op === 0xc2 && opSize) return 0;
    form = ONE[op];
    if (form === Form.Rel32 && opSize) return 0;
    if (op === 0x8d && isRegisterOperand(code, i)) return 0; // lea needs memory
    if ((op === 0xc6 || op === 0xc7) && !modRegIn(code, i, 0, 0)) return 0;
    if (op === 0xfe && !modRegIn(code, i, 0, 1)) return 0;
    if (op === 0xff && !ffValid(code, i)) return 0;
    if (op === 0x63 && !rexW) return 0; // movsxd without REX.W: Capstone's forms differ
  }
  if (form === Form.Unknown) return 0;
  // REX.W wins over 0x66 for the size of an immediate.
  if (rexW) opSize = false;
  let n: number;
  switch (form) {
    case Form.None: n = 0; break;
    case Form.Imm8: n = 1; break;
    case Form.Imm16: n = 2; break;
    case Form.ImmZ: n = opSize ? 2 : 4; break;
    case Form.Rel32: n = 4; break;
    case Form.MovImm: n = rexW ? 8 : opSize ? 2 : 4; break;
    default: {
      const m = modRmLength(code, i);
      if (m === 0) return 0;
      n = m;
      if (form === Form.ModRmImm8) n += 1;
      else if (form === Form.ModRmImmZ) n += opSize ? 2 : 4;
      else if (form === Form.Group3Byte || form === Form.Group3Z) {
        const reg = (code[i] >> 3) & 7;
        if (reg === 1) return 0; // test's undocumented alias
        if (reg === 0) n += form === Form.Group3Byte ? 1 : opSize ? 2 : 4;
      }
    }
  }
  const end = i + n;
  return end <= code.length ? end - at : 0;
}

/** 0x0f opcodes that take 0x66 as an operand-size prefix (integer forms). */
function isIntegerTwoByte(op2: number): boolean {
  return (op2 >= 0x40 && op2 <= 0x4f) || op2 === 0x1f || op2 === 0xaf || op2 === 0xa3 || op2 === 0xab || op2 === 0xb3
    || op2 === 0xbb || op2 === 0xa4 || op2 === 0xa5 || op2 === 0xac || op2 === 0xad || op2 === 0xba || op2 === 0xbc || op2 === 0xbd
    || op2 === 0xb6 || op2 === 0xbe || op2 === 0xc1 || op2 === 0xb1 || (op2 >= 0x80 && op2 <= 0x8f) || (op2 >= 0x90 && op2 <= 0x9f);
}

function isRegisterOperand(code: Uint8Array, at: number): boolean {
  return at < code.length && code[at] >> 6 === 3;
}

function modRegIn(code: Uint8Array, at: number, lo: number, hi: number): boolean {
  if (at >= code.length) return false;
  const reg = (code[at] >> 3) & 7;
  return reg >= lo && reg <= hi;
}

/** 0xff: inc, dec, call, jmp, push; the far forms (3, 5) and 7 go to Capstone. */
function ffValid(code: Uint8Array, at: number): boolean {
  if (at >= code.length) return false;
  const reg = (code[at] >> 3) & 7;
  return reg === 0 || reg === 1 || reg === 2 || reg === 4 || reg === 6;
}

/** What `x64ScanBlock` found: the instruction count, and whether any is a system instruction. */
export interface X64BlockScan {
  count: number;
  /** Some instruction is `syscall`, `rdtsc`, `hlt` or `int n`: a sandbox must look closer. */
  system: boolean;
}

/**
 * Decodes all of `code` when every instruction is a form this decoder knows and the last ends
 * exactly at the end; undefined otherwise (the caller asks Capstone).
 */
export function x64ScanBlock(code: Uint8Array): X64BlockScan | undefined {
  let at = 0;
  let count = 0;
  let system = false;
  while (at < code.length) {
    const n = x64InstructionLength(code, at);
    if (n === 0) return undefined;
    if (!system) system = x64SystemForm(code, at, n);
    at += n;
    count++;
  }
  return { count, system };
}

/**
 * Whether the instruction of `n` bytes at `at` (as x64InstructionLength measured it) is one of
 * the system forms this decoder knows: `syscall`, `rdtsc`, `hlt` or `int n`.
 */
export function x64SystemForm(code: Uint8Array, at: number, n: number): boolean {
  // The opcode is the last byte but one of 0f 05 / 0f 31 (no immediate), or f4 / cd ib.
  const last = code[at + n - 1];
  const before = n >= 2 ? code[at + n - 2] : -1;
  return (before === 0x0f && (last === 0x05 || last === 0x31)) || (last === 0xf4 && isOpcodeAt(code, at, n - 1)) || (before === 0xcd && isOpcodeAt(code, at, n - 2));
}

/** Whether the byte at `at + offset` is the opcode of the instruction at `at` (only prefixes before it). */
function isOpcodeAt(code: Uint8Array, at: number, offset: number): boolean {
  for (let i = at; i < at + offset; i++) {
    const b = code[i];
    const prefix = b === 0x66 || b === 0x67 || b === 0xf2 || b === 0xf3 || b === 0x2e || b === 0x3e || b === 0x26 || b === 0x36 || b === 0x64 || b === 0x65 || (b & 0xf0) === 0x40;
    if (!prefix) return false;
  }
  return true;
}
