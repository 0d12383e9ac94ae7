/**
 * Instruction forms: the bridge between Capstone's text output and the per-microarchitecture
 * tables. A *form key* is the mnemonic plus one class per operand (register width, immediate,
 * memory width and, where the scheduling models care, addressing shape), e.g.
 * `add r64,m64`, `lea r64,m:bid`, `ldr x,m[post]`, `fmla v.2d,v.2d,v.2d`.
 *
 * The generator (scripts/gen-timing-tables.ts) assembles every corpus line with GNU as,
 * decodes the bytes with Capstone and keys the llvm-mca numbers by `formKey` of Capstone's
 * text, and the model keys its lookups with the same function. Both sides therefore agree on
 * aliases (Capstone prints `mul` for `madd …, xzr`, `je` for `jz`, …) by construction; the
 * key never has to match what a human wrote.
 *
 * Capstone's operand details are broken in the npm build (see tooling.md), so everything
 * here derives from the `op_str` text: Intel syntax on x86-64 (Capstone's default, destination
 * first), ARM syntax on AArch64.
 */
import type { Arch } from '../../isa/arch.ts';
import { StackscopeError } from '../../isa/error.ts';

/** An operand string that no rule of this module understands. */
export class FormParseError extends StackscopeError {
  override name = 'FormParseError';
  constructor(
    readonly arch: Arch,
    readonly mnemonic: string,
    readonly opStr: string,
    readonly operand: string,
  ) {
    super(`cannot classify operand '${operand}' of '${mnemonic} ${opStr}' (${arch})`);
  }
}

export type OperandKind = 'reg' | 'imm' | 'mem' | 'rel' | 'cond' | 'shift' | 'extend' | 'list' | 'other';

/**
 * One operand as far as timing cares. `regs` are canonical register names (`rax`, `x3`,
 * `v7`, …; zero registers omitted) that the operand *reads* when it is a memory operand or
 * names when it is a register; `writeback` marks AArch64 pre/post-indexed bases.
 */
export interface Operand {
  readonly kind: OperandKind;
  readonly cls: string;
  readonly text: string;
  readonly regs: readonly string[];
  /** Register width in bits (reg operands), memory access width (mem operands, 0 = unknown). */
  readonly bits: number;
  readonly writeback?: boolean;
}

export interface ParsedForm {
  readonly arch: Arch;
  readonly mnemonic: string;
  readonly operands: readonly Operand[];
  /** Table key: mnemonic and operand classes. */
  readonly key: string;
}

/** Splits an operand list on top-level commas (not inside [] or {}). */
function splitOperands(opStr: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of opStr) {
    if (ch === '[' || ch === '{') depth++;
    if (ch === ']' || ch === '}') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else {
      cur += ch;
    }
  }
  if (cur.trim() !== '') out.push(cur.trim());
  return out;
}

// ---------------------------------------------------------------------------------------------
// x86-64

const X64_GPR64 = ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp'];
const X64_GPR_INDEX = new Map<string, { canon: string; bits: number }>();
(() => {
  const legacy: [string, string, string, string, string?][] = [
    ['rax', 'eax', 'ax', 'al', 'ah'],
    ['rbx', 'ebx', 'bx', 'bl', 'bh'],
    ['rcx', 'ecx', 'cx', 'cl', 'ch'],
    ['rdx', 'edx', 'dx', 'dl', 'dh'],
    ['rsi', 'esi', 'si', 'sil'],
    ['rdi', 'edi', 'di', 'dil'],
    ['rbp', 'ebp', 'bp', 'bpl'],
    ['rsp', 'esp', 'sp', 'spl'],
  ];
  for (const [r64, r32, r16, r8, r8h] of legacy) {
    X64_GPR_INDEX.set(r64, { canon: r64, bits: 64 });
    X64_GPR_INDEX.set(r32, { canon: r64, bits: 32 });
    X64_GPR_INDEX.set(r16, { canon: r64, bits: 16 });
    X64_GPR_INDEX.set(r8, { canon: r64, bits: 8 });
    if (r8h) X64_GPR_INDEX.set(r8h, { canon: r64, bits: 8 });
  }
  for (let n = 8; n < 16; n++) {
    const r = `r${n}`;
    X64_GPR_INDEX.set(r, { canon: r, bits: 64 });
    X64_GPR_INDEX.set(`${r}d`, { canon: r, bits: 32 });
    X64_GPR_INDEX.set(`${r}w`, { canon: r, bits: 16 });
    X64_GPR_INDEX.set(`${r}b`, { canon: r, bits: 8 });
  }
})();
void X64_GPR64;

const X64_MEM_WIDTH: Record<string, number> = {
  byte: 8,
  word: 16,
  dword: 32,
  qword: 64,
  tbyte: 80,
  xword: 80,
  xmmword: 128,
  ymmword: 256,
  zmmword: 512,
};

/** Mnemonics whose immediate operand is a branch target. */
const X64_BRANCHES = /^(j[a-z]+|call|jmp|loop[a-z]*|xbegin)$/;

/** Canonical name and width of an x86-64 register, or undefined. */
export function x64Register(name: string): { canon: string; bits: number; file: 'gpr' | 'vec' | 'other' } | undefined {
  const g = X64_GPR_INDEX.get(name);
  if (g) return { ...g, file: 'gpr' };
  const v = /^([xyz])mm(\d+)$/.exec(name);
  if (v) return { canon: `v${v[2]}`, bits: v[1] === 'x' ? 128 : v[1] === 'y' ? 256 : 512, file: 'vec' };
  if (name === 'rip') return { canon: 'rip', bits: 64, file: 'other' };
  if (/^k[0-7]$/.test(name)) return { canon: name, bits: 64, file: 'other' };
  if (/^st\(\d\)$|^st$|^mm\d$|^[cdefgs]s$|^cr\d+$|^dr\d+$/.test(name)) return { canon: name, bits: 0, file: 'other' };
  return undefined;
}

/** Addressing shape of an x86 memory operand: b(ase) i(ndex) s(caled index) d(isp), `rip`, or `abs`. */
function x64MemShape(inner: string): { shape: string; regs: string[] } {
  const regs: string[] = [];
  let base = false;
  let index = false;
  let disp = false;
  let scaled = false;
  let rip = false;
  // Capstone prints `[rdi + rsi*8 + 0x10]`, `[rip + 0x20]`, `[rsp - 8]`, `[0x1000]`.
  const terms = inner.replace(/\s+/g, '').replace(/-/g, '+-').split('+').filter((t) => t !== '');
  for (const t of terms) {
    const scaledTerm = /^([a-z0-9]+)\*(\d)$/.exec(t);
    if (scaledTerm) {
      const r = x64Register(scaledTerm[1]);
      if (!r) return { shape: '?', regs };
      index = true;
      if (scaledTerm[2] !== '1') scaled = true;
      regs.push(r.canon);
      continue;
    }
    const r = x64Register(t);
    if (r) {
      if (r.canon === 'rip') rip = true;
      else if (!base) {
        base = true;
        regs.push(r.canon);
      } else {
        index = true;
        regs.push(r.canon);
      }
      continue;
    }
    if (/^-?(0x[0-9a-f]+|\d+)$/.test(t)) {
      disp = true;
      continue;
    }
    return { shape: '?', regs };
  }
  if (rip) return { shape: 'rip', regs };
  if (!base && !index) return { shape: 'abs', regs };
  const shape = (base ? 'b' : '') + (index ? 'i' : '') + (scaled ? 's' : '') + (disp ? 'd' : '');
  return { shape, regs };
}

function parseX64Operand(mnemonic: string, text: string, arch: Arch, opStr: string): Operand {
  const r = x64Register(text);
  if (r) {
    const cls = r.file === 'gpr' ? `r${r.bits}` : r.file === 'vec' ? (r.bits === 128 ? 'x' : r.bits === 256 ? 'y' : 'z') : text.replace(/\d+/g, '');
    return { kind: 'reg', cls, text, regs: [r.canon], bits: r.bits };
  }
  if (/^-?(0x[0-9a-f]+|\d+)$/.test(text)) {
    if (X64_BRANCHES.test(mnemonic)) return { kind: 'rel', cls: 'rel', text, regs: [], bits: 0 };
    // Encodings differ in cost: rotate-by-1 is two uops on Skylake, `push imm8` differs from
    // `push imm32`. Keep 1 / 8-bit / wider immediates apart.
    const value = BigInt.asIntN(64, BigInt(text.startsWith('-') ? -BigInt(text.slice(1)) : BigInt(text)));
    // 128..255 count as 8-bit too: they are imm8 for byte operations, and where they need a
    // wider encoding the cost does not change.
    const cls = value === 1n && /^(sh[lr]|sa[lr]|ro[lr]|rc[lr])$/.test(mnemonic) ? '1' : value >= -128n && value <= 255n ? 'i8' : 'i';
    return { kind: 'imm', cls, text, regs: [], bits: 0 };
  }
  const mem = /^(?:([a-z]+) ptr )?(?:([a-z]s):)?\[([^\]]*)\]$/.exec(text);
  if (mem) {
    const width = mem[1] === undefined ? 0 : X64_MEM_WIDTH[mem[1]];
    if (width === undefined) throw new FormParseError(arch, mnemonic, opStr, text);
    const { shape, regs } = x64MemShape(mem[3]);
    if (shape === '?') throw new FormParseError(arch, mnemonic, opStr, text);
    // Only LEA's cost depends on the addressing shape in the scheduling models we use
    // (three-component LEAs are slower); for every other instruction the shape is dropped
    // so that one table entry serves all addressing modes.
    const cls = mnemonic === 'lea' ? `m:${shape}` : `m${width}`;
    return { kind: 'mem', cls, text, regs, bits: width };
  }
  // `{sae}`, `{1to8}` and friends: AVX-512 decorations we do not model.
  throw new FormParseError(arch, mnemonic, opStr, text);
}

/** Mnemonics where `op a, a` is a dependency-breaking zeroing idiom (keyed with a `=` suffix). */
const X64_ZERO_IDIOMS = /^(xor|sub|sbb|pxor|xorps|xorpd|psub[bwdq]|pcmpgt[bwdq]|vpxor|vxorps|vxorpd|vpsub[bwdq]|vpcmpgt[bwdq])$/;

function parseX64(mnemonic: string, opStr: string): ParsedForm {
  const texts = opStr.trim() === '' ? [] : splitOperands(opStr);
  const operands = texts.map((t) => parseX64Operand(mnemonic, t, 'x64', opStr));
  let key = mnemonic + (operands.length ? ' ' + operands.map((o) => o.cls).join(',') : '');
  if (isX64ZeroIdiom(mnemonic, operands)) key += '=';
  return { arch: 'x64', mnemonic, operands, key };
}

/** True for `xor eax, eax`-style idioms: the result does not depend on the inputs. */
export function isX64ZeroIdiom(mnemonic: string, operands: readonly Operand[]): boolean {
  if (!X64_ZERO_IDIOMS.test(mnemonic)) return false;
  const regOps = operands.filter((o) => o.kind === 'reg');
  if (regOps.length !== operands.length || regOps.length < 2) return false;
  // Two-operand form `xor a, a`; VEX three-operand form `vxorps a, b, b`.
  const srcs = regOps.length === 2 ? regOps : regOps.slice(1);
  return srcs[0].text === srcs[1].text;
}

// ---------------------------------------------------------------------------------------------
// AArch64

const A64_CONDS = new Set(['eq', 'ne', 'cs', 'hs', 'cc', 'lo', 'mi', 'pl', 'vs', 'vc', 'hi', 'ls', 'ge', 'lt', 'gt', 'le', 'al', 'nv']);

/** Canonical name and class of an AArch64 register, or undefined. */
export function a64Register(name: string): { canon: string | undefined; cls: string; bits: number } | undefined {
  let m = /^([xw])(\d+)$/.exec(name);
  if (m && Number(m[2]) <= 30) return { canon: `x${m[2]}`, cls: m[1], bits: m[1] === 'x' ? 64 : 32 };
  // SP keeps its own class: `mov x29, sp` is an ADD alias while `mov x1, x2` is an ORR alias,
  // and the models price them differently.
  if (name === 'sp' || name === 'wsp') return { canon: 'sp', cls: name, bits: name === 'sp' ? 64 : 32 };
  if (name === 'fp') return { canon: 'x29', cls: 'x', bits: 64 };
  if (name === 'lr') return { canon: 'x30', cls: 'x', bits: 64 };
  // The zero registers read as 0 and discard writes: no dependency.
  if (name === 'xzr' || name === 'wzr') return { canon: undefined, cls: name[0], bits: name === 'xzr' ? 64 : 32 };
  m = /^([bhsdq])(\d+)$/.exec(name);
  if (m && Number(m[2]) <= 31) {
    const bits = { b: 8, h: 16, s: 32, d: 64, q: 128 }[m[1] as 'b' | 'h' | 's' | 'd' | 'q'];
    return { canon: `v${m[2]}`, cls: m[1], bits };
  }
  m = /^v(\d+)\.(\d*)([bhsdq])(?:\[\d+\])?$/.exec(name);
  if (m) {
    const isElem = name.includes('[');
    const cls = isElem ? `v.${m[3]}[]` : `v.${m[2]}${m[3]}`;
    return { canon: `v${m[1]}`, cls, bits: isElem ? 0 : 128 };
  }
  return undefined;
}

function a64Shift(text: string): string | undefined {
  const m = /^(lsl|lsr|asr|ror|msl) #(0x[0-9a-f]+|\d+)$/.exec(text);
  if (!m) return undefined;
  const amount = Number(m[2]);
  // The Arm models give cheap LSL (amount ≤ 4 on N2, ≤ 3 on A57-class cores) their own
  // latency; keep "small" and "large" apart so both can be looked up.
  return `${m[1]}${amount <= 3 ? '' : '+'}`;
}

function a64Extend(text: string): string | undefined {
  const m = /^([us]xt[bhwx])(?: #(\d+))?$/.exec(text);
  if (!m) return undefined;
  return m[2] !== undefined && m[2] !== '0' ? 'ext#' : 'ext';
}

function parseA64Mem(text: string, arch: Arch, mnemonic: string, opStr: string): Operand {
  const m = /^\[([^\]]*)\](!?)$/.exec(text);
  if (!m) throw new FormParseError(arch, mnemonic, opStr, text);
  const parts = m[1].split(',').map((s) => s.trim());
  const regs: string[] = [];
  const base = a64Register(parts[0]);
  if (!base || base.canon === undefined || (base.cls !== 'x' && base.cls !== 'sp')) throw new FormParseError(arch, mnemonic, opStr, text);
  regs.push(base.canon);
  let shape = '';
  if (parts.length >= 2) {
    const idx = a64Register(parts[1]);
    if (idx && idx.cls !== 'x' && idx.cls !== 'w') throw new FormParseError(arch, mnemonic, opStr, text);
    if (idx) {
      if (idx.canon !== undefined) regs.push(idx.canon);
      const mod = parts[2];
      if (mod === undefined) shape = '[r]';
      else if (/^lsl #0$/.test(mod) || /^[us]xt[wx]$/.test(mod)) shape = idx.cls === 'w' ? '[rx]' : '[r]';
      else shape = idx.cls === 'w' || /^[us]xtw/.test(mod) ? '[rxs]' : '[rs]';
    } else if (/^#/.test(parts[1])) {
      shape = '';
    } else {
      throw new FormParseError(arch, mnemonic, opStr, text);
    }
  }
  if (m[2] === '!') shape = '[pre]';
  return { kind: 'mem', cls: 'm' + shape, text, regs, bits: 0, writeback: m[2] === '!' };
}

const A64_BRANCHES = /^(b|bl|b\.[a-z]+|cbn?z|tbn?z|adrp?)$/;

function parseA64(mnemonic: string, opStr: string): ParsedForm {
  const texts = opStr.trim() === '' ? [] : splitOperands(opStr);
  const operands: Operand[] = [];
  for (let i = 0; i < texts.length; i++) {
    const text = texts[i];
    const r = a64Register(text);
    if (r) {
      operands.push({ kind: 'reg', cls: r.cls, text, regs: r.canon === undefined ? [] : [r.canon], bits: r.bits });
      continue;
    }
    if (text.startsWith('[')) {
      const mem = parseA64Mem(text, 'aarch64', mnemonic, opStr);
      // Post-index: `[x1], #8` (or `[x1], x2` for SIMD structure loads).
      const next = texts[i + 1];
      if (!mem.writeback && next !== undefined && (/^#/.test(next) || a64Register(next) !== undefined)) {
        operands.push({ ...mem, cls: 'm[post]', text: `${text}, ${next}`, writeback: true });
        i++;
        continue;
      }
      operands.push(mem);
      continue;
    }
    if (text.startsWith('{')) {
      const inner = text.replace(/^\{|\}(\[\d+\])?$/g, '').split(',').map((s) => s.trim());
      const regs: string[] = [];
      let cls = '';
      for (const reg of inner) {
        const vr = a64Register(reg);
        if (!vr || vr.canon === undefined) throw new FormParseError('aarch64', mnemonic, opStr, text);
        regs.push(vr.canon);
        cls = vr.cls;
      }
      operands.push({ kind: 'list', cls: `{${cls}*${inner.length}}`, text, regs, bits: 0 });
      continue;
    }
    if (/^#/.test(text)) {
      const kind = A64_BRANCHES.test(mnemonic) && i === texts.length - 1 ? 'rel' : 'imm';
      operands.push({ kind, cls: kind === 'rel' ? 'rel' : 'i', text, regs: [], bits: 0 });
      continue;
    }
    if (A64_CONDS.has(text)) {
      operands.push({ kind: 'cond', cls: 'cc', text, regs: [], bits: 0 });
      continue;
    }
    const sh = a64Shift(text);
    if (sh !== undefined) {
      operands.push({ kind: 'shift', cls: sh, text, regs: [], bits: 0 });
      continue;
    }
    const ex = a64Extend(text);
    if (ex !== undefined) {
      operands.push({ kind: 'extend', cls: ex, text, regs: [], bits: 0 });
      continue;
    }
    // System registers (`mrs x0, tpidr_el0`), prefetch ops, barriers options.
    if (/^[a-z][a-z0-9_]*$/.test(text)) {
      operands.push({ kind: 'other', cls: 'sys', text, regs: [], bits: 0 });
      continue;
    }
    throw new FormParseError('aarch64', mnemonic, opStr, text);
  }
  const key = mnemonic + (operands.length ? ' ' + operands.map((o) => o.cls).join(',') : '');
  return { arch: 'aarch64', mnemonic, operands, key };
}

/** Parses Capstone's text of one instruction into operands and a table key. */
export function parseForm(arch: Arch, mnemonic: string, opStr: string): ParsedForm {
  const mn = mnemonic.trim().toLowerCase();
  const ops = opStr.trim().toLowerCase();
  return arch === 'x64' ? parseX64(mn, ops) : parseA64(mn, ops);
}

/**
 * Less specific keys tried, in order, when the exact key is not in a table: register and
 * memory widths widened to 64 bits (x64) / x-registers (AArch64), then the operand kinds only.
 * The last element is the mnemonic-and-kinds key used for the final approximate lookup.
 */
export function relaxedKeys(form: ParsedForm): string[] {
  const keys: string[] = [];
  const widen = form.operands.map((o) => {
    if (form.arch === 'x64') {
      if (o.kind === 'imm') return o.cls === '1' ? 'i8' : o.cls;
      if (o.kind === 'reg' && /^r(8|16|32)$/.test(o.cls)) return 'r64';
      if (o.kind === 'mem' && /^m(8|16|32)$/.test(o.cls)) return 'm64';
      if (o.kind === 'mem' && o.cls.startsWith('m:')) return 'm:bd';
    } else {
      if (o.kind === 'reg' && (o.cls === 'w' || o.cls === 'sp' || o.cls === 'wsp')) return 'x';
      if (o.kind === 'shift') return 'lsl';
      if (o.kind === 'mem' && o.cls !== 'm') return o.cls === 'm[pre]' || o.cls === 'm[post]' ? o.cls : 'm[r]';
    }
    return o.cls;
  });
  const suffix = form.key.endsWith('=') ? '=' : '';
  keys.push(form.mnemonic + (widen.length ? ' ' + widen.join(',') : '') + suffix);
  if (form.arch === 'x64' && widen.includes('i8')) keys.push(form.mnemonic + ' ' + widen.map((c) => (c === 'i8' ? 'i' : c)).join(',') + suffix);
  keys.push(kindKey(form));
  return keys.filter((k, i) => k !== form.key && keys.indexOf(k) === i);
}

/** Mnemonic plus coarse operand kinds: the last-resort key (`add reg,mem`). */
export function kindKey(form: ParsedForm): string {
  return '~' + form.mnemonic + ' ' + form.operands.map((o) => o.kind).join(',');
}
