/**
 * C signatures and how System V x86-64 and AAPCS64 (Linux) pass them: which value goes in
 * which integer or vector register or stack slot, how narrow integers are extended, how small
 * structs are split into eightbytes (x86-64) or passed as HFAs / in up to two registers
 * (AArch64), and when a struct travels through memory (x86-64 MEMORY class, AArch64 composites
 * over 16 bytes) or comes back through a hidden result pointer (`sret`: rdi on x86-64, x8 on
 * AArch64).
 */
import type { Arch } from '../isa/arch.ts';
import { abiOf } from '../isa/abi.ts';
import { StackscopeError } from '../isa/error.ts';
import type { CallFrame, CallResult } from '../simulator/machine.ts';

export type ScalarType = 'i8' | 'i16' | 'i32' | 'i64' | 'u8' | 'u16' | 'u32' | 'u64' | 'f32' | 'f64' | 'ptr';
export interface StructType { readonly struct: readonly CType[] }
export type CType = ScalarType | StructType;
export type ResultType = CType | 'void';

export interface Signature {
  readonly result: ResultType;
  readonly params: readonly CType[];
}

/** A C value on the host side: integers of up to 32 bits and floats as numbers, 64-bit
 * integers and pointers as bigints, structs as arrays of their fields' values. */
export type CValue = number | bigint | readonly CValue[];

/** A signature or value that does not fit the C types the sandbox supports. */
export class SignatureError extends StackscopeError {
  override name = 'SignatureError';
  constructor(message: string, readonly signature?: string) {
    super(signature === undefined ? message : `${message} (in '${signature}')`);
  }
}

const SCALARS: ReadonlySet<string> = new Set(['i8', 'i16', 'i32', 'i64', 'u8', 'u16', 'u32', 'u64', 'f32', 'f64', 'ptr']);

export function isScalar(t: CType | 'void'): t is ScalarType {
  return typeof t === 'string' && t !== 'void';
}

export function isFloat(t: CType): boolean {
  return t === 'f32' || t === 'f64';
}

export function sizeOf(t: CType): number {
  if (typeof t !== 'string') return layout(t).size;
  return t === 'i8' || t === 'u8' ? 1 : t === 'i16' || t === 'u16' ? 2 : t === 'i32' || t === 'u32' || t === 'f32' ? 4 : 8;
}

export function alignOf(t: CType): number {
  return typeof t === 'string' ? sizeOf(t) : layout(t).align;
}

/** Natural C layout: each field at the next multiple of its alignment. */
export function layout(s: StructType): { size: number; align: number; offsets: number[] } {
  let offset = 0;
  let align = 1;
  const offsets: number[] = [];
  for (const f of s.struct) {
    const a = alignOf(f);
    offset = Math.ceil(offset / a) * a;
    offsets.push(offset);
    offset += sizeOf(f);
    align = Math.max(align, a);
  }
  return { size: Math.max(Math.ceil(offset / align) * align, 0), align, offsets };
}

/** Scalars of a struct, flattened, with their byte offsets. */
function flatten(t: CType, base = 0, out: Array<{ type: ScalarType; offset: number }> = []): Array<{ type: ScalarType; offset: number }> {
  if (typeof t === 'string') {
    out.push({ type: t, offset: base });
    return out;
  }
  const { offsets } = layout(t);
  t.struct.forEach((f, i) => flatten(f, base + offsets[i], out));
  return out;
}

export function typeText(t: ResultType): string {
  return typeof t === 'string' ? t : `{${t.struct.map(typeText).join(',')}}`;
}

export function signatureText(sig: Signature): string {
  return `${typeText(sig.result)}(${sig.params.map(typeText).join(',')})`;
}

/**
 * Parses `RESULT(PARAM,...)`: types `void i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 ptr` and
 * structs as `{T,T,...}` (nested allowed), e.g. `f64(f64,i32)`, `{f32,f32}(ptr,{i64,i64})`.
 */
export function parseSignature(text: string): Signature {
  const src = text.replace(/\s+/g, '');
  let pos = 0;
  const fail = (what: string): never => {
    throw new SignatureError(`${what} at column ${pos + 1}`, text);
  };
  const type = (allowVoid: boolean): ResultType => {
    if (src[pos] === '{') {
      pos++;
      const fields: CType[] = [];
      if (src[pos] === '}') fail('empty struct');
      for (;;) {
        fields.push(type(false) as CType);
        if (src[pos] === ',') pos++;
        else if (src[pos] === '}') {
          pos++;
          break;
        } else fail(`expected ',' or '}'`);
      }
      return { struct: fields };
    }
    const m = /^[a-z0-9]+/.exec(src.slice(pos));
    if (!m) fail('expected a type');
    const name = m![0];
    if (name === 'void' ? !allowVoid : !SCALARS.has(name)) fail(`unknown type '${name}' (void i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 ptr, {..} structs)`);
    pos += name.length;
    return name as ResultType;
  };
  const result = type(true);
  if (src[pos] !== '(') fail(`expected '('`);
  pos++;
  const params: CType[] = [];
  if (src[pos] === 'v' && src.startsWith('void)', pos)) pos += 4;
  else if (src[pos] !== ')') {
    for (;;) {
      params.push(type(false) as CType);
      if (src[pos] === ',') pos++;
      else break;
    }
  }
  if (src[pos] !== ')') fail(`expected ')'`);
  pos++;
  if (pos !== src.length) fail('trailing text');
  return { result, params };
}

// ---- scalar conversions ----------------------------------------------------------------------

const f32buf = new DataView(new ArrayBuffer(8));

/** Ranges of the integer types of up to 32 bits (unsigned ones also take negative values,
 * taken modulo 2^bits, as C converts them). */
const NARROW: Partial<Record<ScalarType, { lo: number; hi: number; unsigned: boolean }>> = {
  i8: { lo: -0x80, hi: 0x7f, unsigned: false },
  i16: { lo: -0x8000, hi: 0x7fff, unsigned: false },
  i32: { lo: -0x8000_0000, hi: 0x7fff_ffff, unsigned: false },
  u8: { lo: -0x80, hi: 0xff, unsigned: true },
  u16: { lo: -0x8000, hi: 0xffff, unsigned: true },
  u32: { lo: -0x8000_0000, hi: 0xffff_ffff, unsigned: true },
};

/** A host value as the 64-bit register image of a scalar (integers sign/zero extended). */
export function scalarBits(t: ScalarType, v: CValue, what: string): bigint {
  if (Array.isArray(v)) throw new SignatureError(`${what}: a struct value given for ${t}`);
  if (t === 'f64') {
    f32buf.setFloat64(0, Number(v), true);
    return f32buf.getBigUint64(0, true);
  }
  if (t === 'f32') {
    f32buf.setFloat32(0, Number(v), true);
    return BigInt(f32buf.getUint32(0, true));
  }
  let n: bigint;
  if (typeof v === 'bigint') n = v;
  else if (NARROW[t] !== undefined) {
    // Integers of up to 32 bits given as numbers: checked and extended without bigint math.
    const num = v as number;
    const r = NARROW[t]!;
    if (!Number.isInteger(num)) throw new SignatureError(`${what}: ${num} is not an integer (${t})`);
    if (num < r.lo || num > r.hi) throw new SignatureError(`${what}: ${num} does not fit ${t}`);
    return num >= 0 ? BigInt(num) : r.unsigned ? BigInt(num + r.hi + 1) : BigInt.asUintN(64, BigInt(num));
  } else {
    const num = v as number;
    if (!Number.isInteger(num)) throw new SignatureError(`${what}: ${num} is not an integer (${t})`);
    n = BigInt(num);
  }
  const bits = sizeOf(t) * 8;
  const signed = t[0] === 'i';
  const lo = signed ? -(1n << BigInt(bits - 1)) : -(1n << BigInt(bits - 1));
  const hi = signed ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n;
  if (n < lo || n > hi) throw new SignatureError(`${what}: ${n} does not fit ${t}`);
  // Stored extended to 64 bits, as both ABIs' callers do in practice (clang relies on it).
  return BigInt.asUintN(64, signed ? BigInt.asIntN(bits, n) : BigInt.asUintN(bits, n));
}

/** A register image (or memory bits) read back as a scalar of type t. */
export function scalarValue(t: ScalarType, bits: bigint): number | bigint {
  switch (t) {
    case 'f64':
      f32buf.setBigUint64(0, BigInt.asUintN(64, bits), true);
      return f32buf.getFloat64(0, true);
    case 'f32':
      f32buf.setUint32(0, Number(bits & 0xffffffffn), true);
      return f32buf.getFloat32(0, true);
    case 'i64': return BigInt.asIntN(64, bits);
    case 'u64': case 'ptr': return BigInt.asUintN(64, bits);
    default: {
      const n = sizeOf(t) * 8;
      return Number(t[0] === 'i' ? BigInt.asIntN(n, bits) : BigInt.asUintN(n, bits));
    }
  }
}

/** Encodes a value of type t into its memory bytes. */
export function encode(t: CType, v: CValue, what = 'value'): Uint8Array {
  const out = new Uint8Array(sizeOf(t));
  const dv = new DataView(out.buffer);
  const put = (type: CType, value: CValue, offset: number, path: string): void => {
    if (typeof type === 'string') {
      const bits = scalarBits(type, value, path);
      const size = sizeOf(type);
      for (let i = 0; i < size; i++) dv.setUint8(offset + i, Number((bits >> BigInt(8 * i)) & 0xffn));
      return;
    }
    if (!Array.isArray(value) || value.length !== type.struct.length) {
      throw new SignatureError(`${path}: expected an array of ${type.struct.length} field values for ${typeText(type)}`);
    }
    const { offsets } = layout(type);
    type.struct.forEach((f, i) => put(f, value[i], offset + offsets[i], `${path}.${i}`));
  };
  put(t, v, 0, what);
  return out;
}

/** Decodes memory bytes as a value of type t. */
export function decode(t: CType, bytes: Uint8Array, offset = 0): CValue {
  if (typeof t === 'string') {
    let bits = 0n;
    for (let i = sizeOf(t) - 1; i >= 0; i--) bits = (bits << 8n) | BigInt(bytes[offset + i]);
    return scalarValue(t, bits);
  }
  const { offsets } = layout(t);
  return t.struct.map((f, i) => decode(f, bytes, offset + offsets[i]));
}

function wordsOf(bytes: Uint8Array): bigint[] {
  const words: bigint[] = [];
  for (let i = 0; i < bytes.length; i += 8) {
    let w = 0n;
    for (let j = Math.min(7, bytes.length - i - 1); j >= 0; j--) w = (w << 8n) | BigInt(bytes[i + j]);
    words.push(w);
  }
  return words;
}

function bytesOfWords(words: readonly bigint[], size: number): Uint8Array {
  const out = new Uint8Array(Math.max(size, words.length * 8));
  words.forEach((w, i) => {
    for (let j = 0; j < 8; j++) out[i * 8 + j] = Number((w >> BigInt(8 * j)) & 0xffn);
  });
  return out.subarray(0, size);
}

// ---- classification ---------------------------------------------------------------------------

/** x86-64: the class of each eightbyte of a struct of at most 16 bytes. */
function x64Classes(t: StructType): Array<'int' | 'sse'> {
  const size = sizeOf(t);
  const classes: Array<'int' | 'sse'> = size > 8 ? ['sse', 'sse'] : ['sse'];
  for (const f of flatten(t)) if (!isFloat(f.type)) classes[Math.floor(f.offset / 8)] = 'int';
  return classes;
}

/** AArch64: the member type and count of a homogeneous floating-point aggregate, if t is one. */
export function hfa(t: CType): { member: 'f32' | 'f64'; count: number } | undefined {
  if (typeof t === 'string') return undefined;
  const scalars = flatten(t);
  const first = scalars[0]?.type;
  if ((first !== 'f32' && first !== 'f64') || scalars.length > 4 || scalars.some((s) => s.type !== first)) return undefined;
  return { member: first, count: scalars.length };
}

/** Whether a result of type t comes back through a hidden pointer the caller provides. */
export function returnsIndirectly(arch: Arch, t: ResultType): boolean {
  if (typeof t === 'string') return false;
  if (arch === 'aarch64' && hfa(t)) return false;
  return sizeOf(t) > 16;
}

/** Memory the marshaller needs in the guest: struct copies (AArch64 > 16 bytes) and sret. */
export interface Scratch {
  allocate(size: number, align: number): bigint;
  write(address: bigint, bytes: Uint8Array): void;
}

const NO_RESULT = Object.freeze({ ints: 0, floats: 0 });
const INT_RESULT = Object.freeze({ ints: 1, floats: 0 });
const FLOAT_RESULT = Object.freeze({ ints: 0, floats: 1 });
const STRUCT_RESULT = Object.freeze({ ints: 2, floats: 4 });

/** The result registers a call's result lives in: integer and vector ones. */
export function resultRegisters(arch: Arch, t: ResultType): { readonly ints: number; readonly floats: number } {
  if (t === 'void' || returnsIndirectly(arch, t)) return NO_RESULT;
  if (typeof t === 'string') return isFloat(t) ? FLOAT_RESULT : INT_RESULT;
  return STRUCT_RESULT;
}

/** Where each argument of a signature without structs goes (0: integer register, 1: vector
 * register, 2: stack word), worked out once per signature and arch. */
interface ScalarPlan {
  readonly where: Uint8Array;
  readonly what: readonly string[];
}
const scalarPlans: Record<Arch, WeakMap<Signature, ScalarPlan | null>> = { x64: new WeakMap(), aarch64: new WeakMap() };

function scalarPlan(arch: Arch, sig: Signature): ScalarPlan | null {
  let plan = scalarPlans[arch].get(sig);
  if (plan !== undefined) return plan;
  plan = null;
  if (sig.params.every((t) => typeof t === 'string') && !returnsIndirectly(arch, sig.result)) {
    const abi = abiOf(arch);
    let ints = 0;
    let floats = 0;
    const where = Uint8Array.from(sig.params, (t) => {
      if (isFloat(t)) return floats < abi.floatArgIds.length ? (floats++, 1) : 2;
      return ints < abi.intArgs.length ? (ints++, 0) : 2;
    });
    plan = { where, what: sig.params.map((_, i) => `argument ${i + 1}`) };
  }
  scalarPlans[arch].set(sig, plan);
  return plan;
}

/** Lays out a call: registers, stack words and the sret buffer (if the result needs one). */
export function marshal(arch: Arch, sig: Signature, args: readonly CValue[], scratch: Scratch): { frame: CallFrame; sret?: bigint } {
  if (args.length !== sig.params.length) throw new SignatureError(`${args.length} arguments given, the signature takes ${sig.params.length}`, signatureText(sig));
  const plan = scalarPlan(arch, sig);
  if (plan) {
    // Scalars and pointers only (the common case): no struct layout, no scratch memory.
    const ints: bigint[] = [];
    const floats: bigint[] = [];
    const stack: bigint[] = [];
    const params = sig.params as readonly ScalarType[];
    for (let i = 0; i < params.length; i++) {
      const bits = scalarBits(params[i], args[i], plan.what[i]);
      const w = plan.where[i];
      (w === 0 ? ints : w === 1 ? floats : stack).push(bits);
    }
    return { frame: { ints, floats, stack } };
  }
  const abi = abiOf(arch);
  const maxInt = abi.intArgs.length;
  const maxFloat = abi.floatArgIds.length;
  const ints: bigint[] = [];
  const floats: bigint[] = [];
  const stack: bigint[] = [];
  let sret: bigint | undefined;
  let indirectResult: bigint | undefined;
  if (returnsIndirectly(arch, sig.result)) {
    const t = sig.result as StructType;
    sret = scratch.allocate(sizeOf(t), Math.max(alignOf(t), 16));
    // System V passes the buffer's address as the first integer argument; AAPCS64 in x8.
    if (abi.indirectResult === undefined) ints.push(sret);
    else indirectResult = sret;
  }
  sig.params.forEach((t, i) => {
    const v = args[i];
    const what = `argument ${i + 1}`;
    if (typeof t === 'string') {
      const bits = scalarBits(t, v, what);
      if (isFloat(t)) (floats.length < maxFloat ? floats : stack).push(bits);
      else (ints.length < maxInt ? ints : stack).push(bits);
      return;
    }
    const bytes = encode(t, v, what);
    const words = wordsOf(bytes);
    if (arch === 'x64') {
      if (bytes.length > 16) {
        stack.push(...words);
        return;
      }
      const classes = x64Classes(t);
      const needInt = classes.filter((c) => c === 'int').length;
      const needSse = classes.length - needInt;
      if (ints.length + needInt > maxInt || floats.length + needSse > maxFloat) {
        stack.push(...words);
        return;
      }
      classes.forEach((c, k) => (c === 'int' ? ints : floats).push(words[k]));
      return;
    }
    const h = hfa(t);
    if (h) {
      if (floats.length + h.count <= 8) {
        const step = h.member === 'f32' ? 4 : 8;
        for (let k = 0; k < h.count; k++) {
          const dv = new DataView(bytes.buffer, bytes.byteOffset + k * step, step);
          floats.push(step === 4 ? BigInt(dv.getUint32(0, true)) : dv.getBigUint64(0, true));
        }
      } else {
        floats.length = Math.max(floats.length, 8);
        stack.push(...words);
      }
      return;
    }
    if (bytes.length > 16) {
      // A copy in memory, passed by reference.
      const copy = scratch.allocate(bytes.length, Math.max(alignOf(t), 16));
      scratch.write(copy, bytes);
      (ints.length < maxInt ? ints : stack).push(copy);
      return;
    }
    if (alignOf(t) === 16 && ints.length % 2 === 1) ints.push(0n);
    if (ints.length + words.length <= maxInt) ints.push(...words);
    else {
      while (ints.length < maxInt) ints.push(0n);
      stack.push(...words);
    }
  });
  // Holes left when an HFA went to the stack: the registers are unused but must exist.
  const frame: CallFrame = { ints, floats: Array.from(floats, (f) => f ?? 0n), stack, ...(indirectResult === undefined ? {} : { indirectResult }) };
  return { frame, sret };
}

/** The result of a call from its result registers (or its sret buffer, read by `readMemory`). */
export function unmarshalResult(arch: Arch, t: ResultType, regs: CallResult, sret: bigint | undefined, readMemory: (address: bigint, size: number) => Uint8Array): CValue | undefined {
  if (t === 'void') return undefined;
  if (typeof t === 'string') return scalarValue(t, isFloat(t) ? regs.floats[0] : regs.ints[0]);
  if (sret !== undefined) return decode(t, readMemory(sret, sizeOf(t)));
  const size = sizeOf(t);
  if (arch === 'x64') {
    let i = 0;
    let f = 0;
    const words = x64Classes(t).map((c) => (c === 'int' ? regs.ints[i++] : regs.floats[f++]));
    return decode(t, bytesOfWords(words, size));
  }
  const h = hfa(t);
  if (h) {
    const step = h.member === 'f32' ? 4 : 8;
    const bytes = new Uint8Array(size);
    const dv = new DataView(bytes.buffer);
    for (let k = 0; k < h.count; k++) {
      if (step === 4) dv.setUint32(k * 4, Number(regs.floats[k] & 0xffffffffn), true);
      else dv.setBigUint64(k * 8, regs.floats[k], true);
    }
    return decode(t, bytes);
  }
  return decode(t, bytesOfWords([regs.ints[0], regs.ints[1]], size));
}

/** Where a host function with a scalar signature finds its arguments. */
export interface ArgumentLocations {
  /** Integer argument registers the gateway must read (then `stackWords` words). */
  arity: number;
  /** Per parameter: `int` register index, `float` register index, or `stack` word index. */
  slots: Array<{ kind: 'int' | 'float' | 'stack'; index: number }>;
}

/** Locations of a host function's arguments (scalars only: host functions take no structs). */
export function argumentLocations(arch: Arch, sig: Signature, signature: string): ArgumentLocations {
  const abi = abiOf(arch);
  const maxInt = abi.intArgs.length;
  const maxFloat = abi.floatArgIds.length;
  let ints = 0;
  let floats = 0;
  let stackWords = 0;
  const slots = sig.params.map((t) => {
    if (typeof t !== 'string') throw new SignatureError('host functions take scalar and pointer parameters only', signature);
    if (isFloat(t)) return floats < maxFloat ? { kind: 'float' as const, index: floats++ } : { kind: 'stack' as const, index: stackWords++ };
    return ints < maxInt ? { kind: 'int' as const, index: ints++ } : { kind: 'stack' as const, index: stackWords++ };
  });
  if (typeof sig.result !== 'string') throw new SignatureError('host functions return scalars, pointers or void only', signature);
  return { arity: stackWords > 0 ? maxInt + stackWords : ints, slots };
}
