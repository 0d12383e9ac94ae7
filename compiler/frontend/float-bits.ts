/**
 * Float values as bits: the compiler, the runtime and the CLI carry every f32 and f64 as its
 * IEEE 754 bit pattern (f32 in the low 32 bits of a word), so a NaN's sign and payload survive
 * constants, locals, globals, memory and calls exactly. These helpers convert to and from JS
 * numbers (where a NaN payload may be lost) and to and from the text the spec tests use.
 */
import type { FloatType } from './module.ts';

const buffer = new ArrayBuffer(8);
const f32 = new Float32Array(buffer);
const f64 = new Float64Array(buffer);
const u32 = new Uint32Array(buffer);
const u64 = new BigUint64Array(buffer);

/** The f32 nearest to `x` (round to nearest, ties to even), as bits. */
export function f32Bits(x: number): number {
  f32[0] = x;
  return u32[0];
}
export function f32FromBits(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0];
}
export function f64Bits(x: number): bigint {
  f64[0] = x;
  return u64[0];
}
export function f64FromBits(bits: bigint): number {
  u64[0] = BigInt.asUintN(64, bits);
  return f64[0];
}

/** Bits of `x` as a value of type `t` (f32: zero-extended to 64). */
export function floatBits(t: FloatType, x: number): bigint {
  return t === 'f32' ? BigInt(f32Bits(x)) : f64Bits(x);
}
/** The number a value of type `t` holds in `bits` (f32: the low 32 bits). */
export function floatFromBits(t: FloatType, bits: bigint): number {
  return t === 'f32' ? f32FromBits(Number(BigInt.asUintN(32, bits))) : f64FromBits(bits);
}

const FORMAT = {
  f32: { mantissaBits: 23n, exponentMask: 0xffn, width: 32 },
  f64: { mantissaBits: 52n, exponentMask: 0x7ffn, width: 64 },
} as const;

/**
 * A float as the spec tests' text spells it: `nan` (the canonical NaN), `nan:0x…` (any
 * other payload), `inf`, each with a `-` when the sign bit is set, `-0`, and otherwise the
 * shortest decimal that reads back as the same value of its type (`2.5`, `1e-45`).
 */
export function formatFloat(t: FloatType, bits: bigint): string {
  const f = FORMAT[t];
  const b = BigInt.asUintN(f.width, bits);
  const sign = b >> BigInt(f.width - 1) ? '-' : '';
  const exponent = (b >> f.mantissaBits) & f.exponentMask;
  const mantissa = b & ((1n << f.mantissaBits) - 1n);
  if (exponent === f.exponentMask) {
    if (mantissa === 0n) return `${sign}inf`;
    const canonical = 1n << (f.mantissaBits - 1n);
    return mantissa === canonical ? `${sign}nan` : `${sign}nan:0x${mantissa.toString(16)}`;
  }
  const x = floatFromBits(t, b);
  if (x === 0) return `${sign}0`;
  return t === 'f64' ? String(x) : shortestF32(x);
}

/** The shortest decimal that rounds to the same f32 (JS prints the shortest for f64 only). */
function shortestF32(x: number): string {
  for (let digits = 1; digits <= 9; digits++) {
    const text = x.toPrecision(digits);
    if (Math.fround(Number(text)) === x) return String(Number(text));
  }
  return String(x);
}

/**
 * Reads a float of type `t` from text: a decimal or hexadecimal (`0x1.8p1`) number, `inf`,
 * `nan`, `nan:0x…` (payload), each optionally signed. Returns the bits, or undefined when the
 * text is none of these (or a NaN payload does not fit or is zero).
 */
export function parseFloatText(t: FloatType, text: string): bigint | undefined {
  const f = FORMAT[t];
  const m = /^([+-]?)(.*)$/s.exec(text.trim())!;
  const negative = m[1] === '-';
  const body = m[2].replaceAll('_', '');
  const signBit = negative ? 1n << BigInt(f.width - 1) : 0n;
  const special = (exponentAll: bigint, mantissa: bigint): bigint => signBit | (exponentAll << f.mantissaBits) | mantissa;
  if (/^(inf|infinity)$/i.test(body)) return special(f.exponentMask, 0n);
  if (/^nan$/i.test(body)) return special(f.exponentMask, 1n << (f.mantissaBits - 1n));
  const payload = /^nan:0x([0-9a-f]+)$/i.exec(body);
  if (payload) {
    const p = BigInt('0x' + payload[1]);
    if (p === 0n || p >= 1n << f.mantissaBits) return undefined;
    return special(f.exponentMask, p);
  }
  let value: number;
  const hex = /^0x([0-9a-f]*)(?:\.([0-9a-f]*))?(?:p([+-]?\d+))?$/i.exec(body);
  if (hex) {
    const [, whole = '', frac = '', exp = '0'] = hex;
    if (whole === '' && frac === '') return undefined;
    value = hexFloatValue(t, whole + frac, Number(exp) - 4 * frac.length);
  } else if (/^(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i.test(body)) {
    value = Number(body);
    if (t === 'f32') value = decimalToF32(body, value);
  } else {
    return undefined;
  }
  const bits = floatBits(t, value);
  return negative ? bits | signBit : bits;
}

/** The value of hex digits × 2^exp2, rounded once to type `t` (exactly, through BigInt). */
function hexFloatValue(t: FloatType, digits: string, exp2: number): number {
  let mantissa = BigInt('0x' + (digits || '0'));
  if (mantissa === 0n) return 0;
  // Keep at most 64 significant bits plus a sticky bit, so rounding to f64 and then f32 below
  // never double-rounds: reduce to 55 bits with sticky (enough for f64's 53 + guard + sticky).
  const precision = t === 'f32' ? 24 : 53;
  const bitsLength = mantissa.toString(2).length;
  let e = exp2;
  if (bitsLength > precision + 2) {
    const shift = bitsLength - (precision + 2);
    const sticky = mantissa & ((1n << BigInt(shift)) - 1n) ? 1n : 0n;
    mantissa = (mantissa >> BigInt(shift)) | sticky;
    e += shift;
  }
  // mantissa now has at most precision + 2 bits: exactly representable as a double.
  const value = Number(mantissa) * 2 ** e;
  if (Number.isFinite(value) && value !== 0) return t === 'f32' ? Math.fround(value) : value;
  // Very large or small exponents: scale in two steps (both exact until the final rounding).
  const half = Math.trunc(e / 2);
  const scaled = Number(mantissa) * 2 ** half * 2 ** (e - half);
  return t === 'f32' ? Math.fround(scaled) : scaled;
}

/**
 * A decimal rounded to f32. Math.fround(Number(text)) rounds twice (to f64, then to f32) and
 * can be off by one ulp when the f64 lands exactly on an f32 halfway point; then decide by
 * comparing the decimal with the halfway point exactly.
 */
function decimalToF32(text: string, asDouble: number): number {
  const rounded = Math.fround(asDouble);
  if (!Number.isFinite(asDouble) || asDouble === rounded) return rounded;
  const below = asDouble > rounded ? rounded : nextF32(rounded, -1);
  const above = asDouble > rounded ? nextF32(rounded, 1) : rounded;
  const half = (below + above) / 2; // exact in f64
  if (asDouble !== half) return rounded;
  const cmp = compareDecimal(text, half);
  if (cmp > 0) return above;
  if (cmp < 0) return below;
  return (f32Bits(below) & 1) === 0 ? below : above;
}

function nextF32(x: number, direction: 1 | -1): number {
  const bits = f32Bits(x);
  return f32FromBits(x === 0 ? (direction > 0 ? 1 : 0x80000001) : (x > 0) === (direction > 0) ? bits + 1 : bits - 1);
}

/** Sign of (decimal text − x), exactly, for a positive finite x. */
function compareDecimal(text: string, x: number): number {
  const [mant, expText = '0'] = text.toLowerCase().split('e');
  const [whole, frac = ''] = mant.split('.');
  const digits = BigInt((whole + frac) || '0');
  const exp10 = Number(expText) - frac.length;
  // x = m · 2^e exactly.
  const bits = f64Bits(x);
  const exponent = Number((bits >> 52n) & 0x7ffn);
  const m = (bits & ((1n << 52n) - 1n)) | (exponent === 0 ? 0n : 1n << 52n);
  const e = (exponent === 0 ? 1 : exponent) - 1075;
  // Compare digits · 10^exp10 with m · 2^e by scaling both to integers.
  let left = digits;
  let right = m;
  if (exp10 >= 0) left *= 10n ** BigInt(exp10);
  else right *= 10n ** BigInt(-exp10);
  if (e >= 0) right <<= BigInt(e);
  else left <<= BigInt(-e);
  return left === right ? 0 : left > right ? 1 : -1;
}
