/**
 * printf-family formatting as glibc does it, for the sandbox's C runtime: flags `-+ #0`, width
 * and precision (numbers or `*`), length modifiers `hh h l ll z j t L`, conversions
 * `d i u o x X c s p f F e E g G %` (and `n`, which stores through a checked pointer).
 * Floating-point conversions are exact: the double's binary value is expanded with BigInt and
 * rounded half-to-even, so `%.2f` of 0.125 is `0.12` as on glibc (JS's toFixed says `0.13`).
 */

/** Where the formatter takes its variadic arguments from. */
export interface FormatArgs {
  /** The next integer-class argument (int, long, pointer), as the raw 64-bit register image. */
  int(): bigint;
  /** The next double argument's bits. */
  double(): bigint;
  /** The bytes of the NUL-terminated string at `address` (checked by the caller). */
  string(address: bigint, max?: bigint): Uint8Array;
  /** `%n`: stores `count` (with `size` bytes) at `address` (checked by the caller). */
  store(address: bigint, count: bigint, size: number): void;
}

const enc = new TextEncoder();
const f64 = new DataView(new ArrayBuffer(8));

function bitsToDouble(bits: bigint): number {
  f64.setBigUint64(0, BigInt.asUintN(64, bits), true);
  return f64.getFloat64(0, true);
}

/** |x| as an exact fraction num / 2^shift (x finite). */
function exact(x: number): { num: bigint; shift: bigint } {
  f64.setFloat64(0, Math.abs(x), true);
  const bits = f64.getBigUint64(0, true);
  const expBits = Number((bits >> 52n) & 0x7ffn);
  let mant = bits & ((1n << 52n) - 1n);
  let exp: number;
  if (expBits === 0) exp = -1074;
  else {
    mant |= 1n << 52n;
    exp = expBits - 1075;
  }
  return exp >= 0 ? { num: mant << BigInt(exp), shift: 0n } : { num: mant, shift: BigInt(-exp) };
}

/** round-half-even(num * 10^p / 2^shift) for p ≥ 0, or divided by 10^-p for p < 0. */
function scaledRound(num: bigint, shift: bigint, p: number): bigint {
  let n = num;
  let d = 1n << shift;
  if (p >= 0) n *= 10n ** BigInt(p);
  else d *= 10n ** BigInt(-p);
  const q = n / d;
  const r = n - q * d;
  const twice = 2n * r;
  if (twice > d || (twice === d && (q & 1n) === 1n)) return q + 1n;
  return q;
}

function digitsFixed(x: number, precision: number): string {
  const { num, shift } = exact(x);
  const q = scaledRound(num, shift, precision).toString();
  if (precision === 0) return q;
  const padded = q.padStart(precision + 1, '0');
  return `${padded.slice(0, padded.length - precision)}.${padded.slice(padded.length - precision)}`;
}

/** Mantissa digits (precision + 1 of them) and decimal exponent of |x|, as %e rounds them. */
function digitsExp(x: number, precision: number): { digits: string; exp: number } {
  if (x === 0) return { digits: '0'.repeat(precision + 1), exp: 0 };
  const { num, shift } = exact(x);
  let e = Math.floor(Math.log10(Math.abs(x)));
  for (;;) {
    const q = scaledRound(num, shift, precision - e);
    const s = q.toString();
    if (s.length === precision + 2) {
      e++;
      continue;
    }
    if (s.length < precision + 1) {
      e--;
      continue;
    }
    return { digits: s, exp: e };
  }
}

function expText(digits: string, exp: number, precision: number, alt: boolean, upper: boolean): string {
  const mant = precision === 0 ? `${digits[0]}${alt ? '.' : ''}` : `${digits[0]}.${digits.slice(1)}`;
  const e = `${upper ? 'E' : 'e'}${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return mant + e;
}

function formatFloat(x: number, conv: string, precision: number | undefined, alt: boolean): string {
  const upper = conv === conv.toUpperCase();
  if (!Number.isFinite(x)) return Number.isNaN(x) ? (upper ? 'NAN' : 'nan') : upper ? 'INF' : 'inf';
  const p = precision ?? 6;
  const lower = conv.toLowerCase();
  if (lower === 'f') return digitsFixed(x, p) + (alt && p === 0 ? '.' : '');
  if (lower === 'e') {
    const { digits, exp } = digitsExp(x, p);
    return expText(digits, exp, p, alt, upper);
  }
  // %g
  const P = p === 0 ? 1 : p;
  const { exp } = digitsExp(x, P - 1);
  let text: string;
  if (P > exp && exp >= -4) text = digitsFixed(x, P - 1 - exp);
  else {
    const { digits, exp: e2 } = digitsExp(x, P - 1);
    text = expText(digits, e2, P - 1, alt, upper);
  }
  if (!alt) {
    const m = /^([^eE]*)([eE].*)?$/.exec(text)!;
    let mant = m[1];
    if (mant.includes('.')) mant = mant.replace(/0+$/, '').replace(/\.$/, '');
    text = mant + (m[2] ?? '');
  }
  return text;
}

/** Formats `fmt` (bytes) with `args`; returns the output bytes. */
export function formatC(fmt: Uint8Array, args: FormatArgs): Uint8Array {
  const out: number[] = [];
  const push = (s: string | Uint8Array) => {
    const bytes = typeof s === 'string' ? enc.encode(s) : s;
    for (const b of bytes) out.push(b);
  };
  let i = 0;
  while (i < fmt.length) {
    const c = fmt[i];
    if (c !== 0x25) {
      out.push(c);
      i++;
      continue;
    }
    const start = i;
    i++;
    let left = false;
    let plus = false;
    let space = false;
    let alt = false;
    let zero = false;
    for (;; i++) {
      const f = String.fromCharCode(fmt[i] ?? 0);
      if (f === '-') left = true;
      else if (f === '+') plus = true;
      else if (f === ' ') space = true;
      else if (f === '#') alt = true;
      else if (f === '0') zero = true;
      else break;
    }
    let width: number | undefined;
    if (fmt[i] === 0x2a) {
      const w = Number(BigInt.asIntN(32, args.int()));
      if (w < 0) {
        left = true;
        width = -w;
      } else width = w;
      i++;
    } else {
      let w = '';
      while (fmt[i] >= 0x30 && fmt[i] <= 0x39) w += String.fromCharCode(fmt[i++]);
      if (w) width = Number(w);
    }
    let precision: number | undefined;
    if (fmt[i] === 0x2e) {
      i++;
      if (fmt[i] === 0x2a) {
        const p = Number(BigInt.asIntN(32, args.int()));
        precision = p < 0 ? undefined : p;
        i++;
      } else {
        let p = '';
        while (fmt[i] >= 0x30 && fmt[i] <= 0x39) p += String.fromCharCode(fmt[i++]);
        precision = Number(p || '0');
      }
    }
    let length = '';
    while ('hlzjtL'.includes(String.fromCharCode(fmt[i] ?? 0)) && fmt[i] !== undefined) length += String.fromCharCode(fmt[i++]);
    const conv = String.fromCharCode(fmt[i] ?? 0);
    i++;
    const bits = length === 'hh' ? 8 : length === 'h' ? 16 : length === '' ? 32 : 64;
    let body: string | Uint8Array;
    let sign = '';
    let prefix = '';
    let numeric = true;
    switch (conv) {
      case 'd': case 'i': {
        const v = BigInt.asIntN(bits, args.int());
        if (v < 0n) sign = '-';
        else if (plus) sign = '+';
        else if (space) sign = ' ';
        body = (v < 0n ? -v : v).toString();
        if (precision !== undefined) body = precision === 0 && v === 0n ? '' : body.padStart(precision, '0');
        break;
      }
      case 'u': case 'o': case 'x': case 'X': {
        const v = BigInt.asUintN(bits, args.int());
        const radix = conv === 'u' ? 10 : conv === 'o' ? 8 : 16;
        body = v.toString(radix);
        if (conv === 'X') body = body.toUpperCase();
        if (precision !== undefined) body = precision === 0 && v === 0n ? '' : body.padStart(precision, '0');
        if (alt && conv === 'o' && !body.startsWith('0')) body = `0${body}`;
        if (alt && v !== 0n && (conv === 'x' || conv === 'X')) prefix = conv === 'x' ? '0x' : '0X';
        break;
      }
      case 'p': {
        const v = BigInt.asUintN(64, args.int());
        body = v === 0n ? '(nil)' : v.toString(16);
        if (v !== 0n) prefix = '0x';
        numeric = v !== 0n;
        break;
      }
      case 'c':
        body = Uint8Array.of(Number(args.int() & 0xffn));
        numeric = false;
        break;
      case 's': {
        const address = args.int();
        body = address === 0n ? (precision === undefined || precision >= 6 ? '(null)' : '') : args.string(address, precision === undefined ? undefined : BigInt(precision));
        numeric = false;
        break;
      }
      case 'f': case 'F': case 'e': case 'E': case 'g': case 'G': {
        const x = bitsToDouble(args.double());
        if (x < 0 || Object.is(x, -0)) sign = '-';
        else if (plus) sign = '+';
        else if (space) sign = ' ';
        body = formatFloat(Math.abs(x), conv, precision, alt);
        if (!Number.isFinite(x)) zero = false;
        break;
      }
      case 'n': {
        args.store(args.int(), BigInt(out.length), length === 'hh' ? 1 : length === 'h' ? 2 : length === '' ? 4 : 8);
        continue;
      }
      case '%':
        out.push(0x25);
        continue;
      default:
        // Unknown conversion: printed as written, as glibc does.
        for (let k = start; k < i && k < fmt.length; k++) out.push(fmt[k]);
        continue;
    }
    const bodyBytes = typeof body === 'string' ? enc.encode(body) : body;
    const len = sign.length + prefix.length + bodyBytes.length;
    const pad = width !== undefined && width > len ? width - len : 0;
    const zeroPad = zero && !left && numeric && (precision === undefined || 'fFeEgG'.includes(conv));
    if (!left && !zeroPad) push(' '.repeat(pad));
    push(sign + prefix);
    if (zeroPad) push('0'.repeat(pad));
    push(bodyBytes);
    if (left) push(' '.repeat(pad));
  }
  return Uint8Array.from(out);
}
