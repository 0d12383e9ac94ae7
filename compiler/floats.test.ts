/**
 * Every f32/f64 instruction, run on both arches in both register-allocation modes against a
 * reference of the Wasm semantics written here from the spec's rules: IEEE 754 arithmetic with
 * round-to-nearest-even, NaN results that are arithmetic NaNs (canonical when every NaN operand
 * was canonical), min/max ordering -0 below +0, nearest's ties to even, the trapping
 * conversions' two trap kinds and the saturating ones' bounds. Edge values: ±0, ±inf, NaNs
 * with and without payloads, subnormals, and the conversion boundaries.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compileModule } from './index.ts';
import { formatListing } from './listing.ts';
import { GuestTrap } from '../simulator/trap.ts';
import { goldenDiff, instantiate, trapCodeAt, watModule } from './testing.ts';
import { f32Bits, f32FromBits, f64Bits, f64FromBits, formatFloat } from './frontend/float-bits.ts';
import type { Arch } from '../isa/arch.ts';
import type { RegallocMode } from './regalloc/modes.ts';

type F = 'f32' | 'f64';
type I = 'i32' | 'i64';
type Ty = F | I;
const WIDTH: Record<Ty, number> = { i32: 32, f32: 32, i64: 64, f64: 64 };

const f32v = (x: number): bigint => BigInt(f32Bits(x));
const F32_VALUES: bigint[] = [
  ...[0, -0, 1, -1, 0.5, -0.5, 1.5, 2.5, -2.5, 3.5, -3.5, 0.49999997, 1e-45, -1e-45, 1.1754942e-38, 1.17549435e-38, 3.4028235e38, -3.4028235e38,
    Infinity, -Infinity, 2147483648, -2147483648, -2147483904, 2147483520, 4294967296, 4294967040, 9223372036854775808, -9223372036854775808,
    18446744073709551616, 18446742974197923840, 16777217, Math.PI, -0.9999999, -1.0000001].map(f32v),
  0x7fc00000n, 0xffc00000n, 0x7fa00001n, 0x7f800001n, 0xff812345n,
];
const F64_VALUES: bigint[] = [
  ...[0, -0, 1, -1, 0.5, -0.5, 1.5, 2.5, -2.5, 3.5, -3.5, 0.49999999999999994, 5e-324, -5e-324, 2.225073858507201e-308, 2.2250738585072014e-308,
    1.7976931348623157e308, -1.7976931348623157e308, Infinity, -Infinity, 2147483648, -2147483648, -2147483649, -2147483648.9, 2147483647.9,
    4294967296, 4294967295.9, -0.9999999999999999, 9223372036854775808, -9223372036854775808, 9223372036854774784, 18446744073709551616,
    18446744073709549568, 4503599627370497, Math.PI, 1e300, 1e-300].map(f64Bits),
  0x7ff8000000000000n, 0xfff8000000000000n, 0x7ff4000000000001n, 0x7ff0000000000001n, 0xfff0000012345678n,
];
const FLOAT_VALUES: Record<F, bigint[]> = { f32: F32_VALUES, f64: F64_VALUES };
const INT_VALUES: Record<I, bigint[]> = {
  i32: [0n, 1n, 0xffffffffn, 0x7fffffffn, 0x80000000n, 0x1000001n, 0xfffffffen, 0x12345678n, 16777217n, 0x80000001n],
  i64: [0n, 1n, 0xffffffffffffffffn, 0x7fffffffffffffffn, 0x8000000000000000n, 0x20000000000001n, 0x20000000000003n, 0x1000001n,
    0xfffffffffffffbffn, 0xfffffffffffffc01n, 0x8000000000000401n, 0x7ffffffffffffdffn, 0x123456789abcdefn],
};

// ---- the reference -----------------------------------------------------------------------------

const num = (t: F, b: bigint): number => (t === 'f32' ? f32FromBits(Number(b)) : f64FromBits(b));
const bits = (t: F, x: number): bigint => (t === 'f32' ? f32v(x) : f64Bits(x));
const round = (t: F, x: number): number => (t === 'f32' ? Math.fround(x) : x);
const MANT: Record<F, bigint> = { f32: 23n, f64: 52n };
const isNan = (t: F, b: bigint): boolean => Number.isNaN(num(t, b));
const payload = (t: F, b: bigint): bigint => b & ((1n << MANT[t]) - 1n);
const isCanonical = (t: F, b: bigint): boolean => isNan(t, b) && payload(t, b) === 1n << (MANT[t] - 1n);
const isArithmetic = (t: F, b: bigint): boolean => isNan(t, b) && (payload(t, b) & (1n << (MANT[t] - 1n))) !== 0n;

/** What a result must be: exact bits, any canonical NaN, any arithmetic NaN, or a trap. */
type Expect = { bits: bigint } | { nan: 'canonical' | 'arithmetic' } | { trap: 'IntegerOverflow' | 'BadConversionToInteger' };

function nanResult(t: F, inputs: readonly bigint[]): Expect {
  return { nan: inputs.filter((b) => isNan(t, b)).every((b) => isCanonical(t, b)) ? 'canonical' : 'arithmetic' };
}

function nearestEven(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const r = Math.round(x); // ties toward +inf
  const tie = Math.abs(x - Math.trunc(x)) === 0.5;
  const v = tie && r % 2 !== 0 ? r - 1 : r;
  return v === 0 ? (x < 0 ? -0 : 0) : v;
}

function binRef(t: F, op: string, a: bigint, b: bigint): Expect {
  const sign = 1n << BigInt(WIDTH[t] - 1);
  if (op === 'copysign') return { bits: (a & (sign - 1n)) | (b & sign) };
  if (isNan(t, a) || isNan(t, b)) return nanResult(t, [a, b]);
  const x = num(t, a), y = num(t, b);
  let r: number;
  switch (op) {
    case 'add': r = x + y; break;
    case 'sub': r = x - y; break;
    case 'mul': r = x * y; break;
    case 'div': r = x / y; break;
    case 'min': r = x === y && x === 0 ? (Object.is(x, -0) || Object.is(y, -0) ? -0 : 0) : Math.min(x, y); break;
    case 'max': r = x === y && x === 0 ? (Object.is(x, 0) || Object.is(y, 0) ? 0 : -0) : Math.max(x, y); break;
    default: throw new Error(op);
  }
  if (Number.isNaN(r)) return { nan: 'canonical' };
  return { bits: bits(t, round(t, r)) };
}

function unRef(t: F, op: string, a: bigint): Expect {
  const sign = 1n << BigInt(WIDTH[t] - 1);
  if (op === 'abs') return { bits: a & (sign - 1n) };
  if (op === 'neg') return { bits: a ^ sign };
  if (isNan(t, a)) return nanResult(t, [a]);
  const x = num(t, a);
  const r = { sqrt: Math.sqrt, ceil: Math.ceil, floor: Math.floor, trunc: Math.trunc, nearest: nearestEven }[op]!(x);
  if (Number.isNaN(r)) return { nan: 'canonical' };
  return { bits: bits(t, round(t, r)) };
}

function cmpRef(t: F, op: string, a: bigint, b: bigint): Expect {
  const x = num(t, a), y = num(t, b);
  const r = { eq: x === y, ne: x !== y, lt: x < y, gt: x > y, le: x <= y, ge: x >= y }[op]!;
  return { bits: r ? 1n : 0n };
}

function truncRef(from: F, to: I, signed: boolean, saturating: boolean, a: bigint): Expect {
  const n = BigInt(WIDTH[to]);
  const min = signed ? -(1n << (n - 1n)) : 0n;
  const max = signed ? (1n << (n - 1n)) - 1n : (1n << n) - 1n;
  if (isNan(from, a)) return saturating ? { bits: 0n } : { trap: 'BadConversionToInteger' };
  const x = num(from, a);
  if (!Number.isFinite(x)) {
    if (!saturating) return { trap: 'IntegerOverflow' };
    return { bits: BigInt.asUintN(Number(n), x > 0 ? max : min) };
  }
  const v = BigInt(Math.trunc(x));
  if (v < min || v > max) {
    if (!saturating) return { trap: 'IntegerOverflow' };
    return { bits: BigInt.asUintN(Number(n), v < min ? min : max) };
  }
  return { bits: BigInt.asUintN(Number(n), v) };
}

/** An integer rounded once to float type `t` (round to nearest, ties to even), exactly. */
function intToFloat(t: F, v: bigint): number {
  const precision = t === 'f32' ? 24 : 53;
  const negative = v < 0n;
  let m = negative ? -v : v;
  const length = m.toString(2).length;
  if (length > precision) {
    const shift = BigInt(length - precision);
    const rest = m & ((1n << shift) - 1n);
    const half = 1n << (shift - 1n);
    m >>= shift;
    if (rest > half || (rest === half && (m & 1n) === 1n)) m += 1n;
    m <<= shift;
  }
  const x = Number(m); // exact now
  return negative ? -x : x;
}

function convertRef(to: F, from: I, signed: boolean, a: bigint): Expect {
  const v = signed ? BigInt.asIntN(WIDTH[from], a) : BigInt.asUintN(WIDTH[from], a);
  return { bits: bits(to, intToFloat(to, v)) };
}

// ---- the cases -------------------------------------------------------------------------------

interface Case { name: string; fn: number; args: bigint[]; argTypes: Ty[]; resultType: Ty; expect: Expect }

function build(): { wat: string; cases: Case[] } {
  const funcs: string[] = [];
  const cases: Case[] = [];
  const add = (sig: string, body: string, make: (fn: number) => void): void => {
    make(funcs.length);
    funcs.push(`(func ${sig} ${body})`);
  };
  for (const t of ['f32', 'f64'] as const) {
    const values = FLOAT_VALUES[t];
    for (const op of ['add', 'sub', 'mul', 'div', 'min', 'max', 'copysign']) {
      add(`(param ${t} ${t}) (result ${t})`, `local.get 0 local.get 1 ${t}.${op}`, (fn) => {
        for (const a of values) for (const b of values) cases.push({ name: `${t}.${op}`, fn, args: [a, b], argTypes: [t, t], resultType: t, expect: binRef(t, op, a, b) });
      });
    }
    for (const op of ['eq', 'ne', 'lt', 'gt', 'le', 'ge']) {
      add(`(param ${t} ${t}) (result i32)`, `local.get 0 local.get 1 ${t}.${op}`, (fn) => {
        for (const a of values) for (const b of values) cases.push({ name: `${t}.${op}`, fn, args: [a, b], argTypes: [t, t], resultType: 'i32', expect: cmpRef(t, op, a, b) });
      });
    }
    for (const op of ['abs', 'neg', 'sqrt', 'ceil', 'floor', 'trunc', 'nearest']) {
      add(`(param ${t}) (result ${t})`, `local.get 0 ${t}.${op}`, (fn) => {
        for (const a of values) cases.push({ name: `${t}.${op}`, fn, args: [a], argTypes: [t], resultType: t, expect: unRef(t, op, a) });
      });
    }
    // Constants keep their exact bits, NaN payloads included.
    for (const v of values) {
      add(`(result ${t})`, `${t}.const ${formatFloat(t, v)}`, (fn) => cases.push({ name: `${t}.const`, fn, args: [], argTypes: [], resultType: t, expect: { bits: v } }));
    }
    for (const to of ['i32', 'i64'] as const) {
      for (const sat of [false, true]) for (const sg of ['s', 'u'] as const) {
        const op = `${to}.trunc_${sat ? 'sat_' : ''}${t}_${sg}`;
        add(`(param ${t}) (result ${to})`, `local.get 0 ${op}`, (fn) => {
          for (const a of values) cases.push({ name: op, fn, args: [a], argTypes: [t], resultType: to, expect: truncRef(t, to, sg === 's', sat, a) });
        });
      }
      for (const sg of ['s', 'u'] as const) {
        const op = `${t}.convert_${to}_${sg}`;
        add(`(param ${to}) (result ${t})`, `local.get 0 ${op}`, (fn) => {
          for (const a of INT_VALUES[to]) cases.push({ name: op, fn, args: [a], argTypes: [to], resultType: t, expect: convertRef(t, to, sg === 's', a) });
        });
      }
    }
  }
  add('(param f32) (result f64)', 'local.get 0 f64.promote_f32', (fn) => {
    for (const a of F32_VALUES) cases.push({ name: 'f64.promote_f32', fn, args: [a], argTypes: ['f32'], resultType: 'f64', expect: isNan('f32', a) ? nanResult('f32', [a]) : { bits: f64Bits(num('f32', a)) } });
  });
  add('(param f64) (result f32)', 'local.get 0 f32.demote_f64', (fn) => {
    for (const a of F64_VALUES) cases.push({ name: 'f32.demote_f64', fn, args: [a], argTypes: ['f64'], resultType: 'f32', expect: isNan('f64', a) ? nanResult('f64', [a]) : { bits: f32v(num('f64', a)) } });
  });
  for (const [op, from, to] of [['i32.reinterpret_f32', 'f32', 'i32'], ['i64.reinterpret_f64', 'f64', 'i64'], ['f32.reinterpret_i32', 'i32', 'f32'], ['f64.reinterpret_i64', 'i64', 'f64']] as const) {
    const values = from === 'f32' || from === 'f64' ? FLOAT_VALUES[from] : INT_VALUES[from];
    add(`(param ${from}) (result ${to})`, `local.get 0 ${op}`, (fn) => {
      for (const a of values) cases.push({ name: op, fn, args: [a], argTypes: [from], resultType: to, expect: { bits: a } });
    });
  }
  // Memory keeps every bit (float_memory's rule): store as float, load as float and as integer.
  for (const t of ['f32', 'f64'] as const) {
    const it = t === 'f32' ? 'i32' : 'i64';
    add(`(param ${t}) (result ${t})`, `(${t}.store offset=3 (i32.const 5) (local.get 0)) (${t}.load offset=8 (i32.const 0))`, (fn) => {
      for (const a of FLOAT_VALUES[t]) cases.push({ name: `${t}.store/${t}.load`, fn, args: [a], argTypes: [t], resultType: t, expect: { bits: a } });
    });
    add(`(param ${it}) (result ${t})`, `(${it}.store (i32.const 16) (local.get 0)) (${t}.load (i32.const 16))`, (fn) => {
      for (const a of FLOAT_VALUES[t]) cases.push({ name: `${it}.store/${t}.load`, fn, args: [a], argTypes: [it], resultType: t, expect: { bits: a } });
    });
  }
  return { wat: `(module (memory 1) ${funcs.join('\n')})`, cases };
}

/** Narrow arguments arrive with garbage in the upper half, as the Wasm ABI allows. */
const dirty = (v: bigint, t: Ty): bigint => (WIDTH[t] === 32 ? v | 0xabcd_0000_0000_0000n : v);

function check(t: Ty, got: bigint, expect: Expect): string | undefined {
  if ('trap' in expect) return `returned ${got.toString(16)}, expected trap ${expect.trap}`;
  const v = BigInt.asUintN(WIDTH[t], got);
  if ('bits' in expect) return v === expect.bits ? undefined : `= 0x${v.toString(16)}, expected 0x${expect.bits.toString(16)}`;
  const f = t as F;
  const ok = expect.nan === 'canonical' ? isCanonical(f, v) : isArithmetic(f, v);
  return ok ? undefined : `= 0x${v.toString(16)}, expected a ${expect.nan} NaN`;
}

const { wat, cases } = build();

for (const arch of ['x64', 'aarch64'] as const satisfies readonly Arch[]) {
  for (const regalloc of ['none', 'linear-scan'] as const satisfies readonly RegallocMode[]) {
    test(`every float instruction follows the spec's rules (${arch}, ${regalloc})`, async (t) => {
      const inst = await instantiate(await watModule(wat), arch, {}, regalloc);
      const failures: string[] = [];
      for (const c of cases) {
        const show = `${c.name}(${c.args.map((a, k) => (c.argTypes[k] === 'f32' || c.argTypes[k] === 'f64' ? formatFloat(c.argTypes[k] as F, a) : String(a))).join(', ')})`;
        try {
          const problem = check(c.resultType, inst.call(c.fn, c.args.map((a, k) => dirty(a, c.argTypes[k]))), c.expect);
          if (problem) failures.push(`${show} ${problem}`);
        } catch (e) {
          if (!(e instanceof GuestTrap)) throw e;
          const code = trapCodeAt(inst, e);
          if (!('trap' in c.expect) || code !== c.expect.trap) failures.push(`${show} trapped ${code}, expected ${JSON.stringify(c.expect, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v))}`);
        }
      }
      t.deepEqual(failures.slice(0, 20), []);
      t.true(cases.length > 10_000, `${cases.length} cases`);
    });
  }
}

// ---- float values in registers (linear-scan's float class) -----------------------------------

/**
 * A program whose float values cross calls, loops and joins, under register pressure: `$mix`
 * keeps sixteen f64 locals live across a call (AArch64 puts eight of them in the callee-saved
 * d8–d15, the rest and all of x64's in slots), `$main` keeps its own floats live across calls
 * to `$mix` (so `$mix` must restore d8–d15), a loop carries f32 and f64 join values, and
 * values cross the register classes through reinterpretations and a float `select`.
 */
function registerProgram(): { wat: string; reference: (x: number, n: number) => number } {
  const k = 16;
  const locals = Array.from({ length: k }, (_, i) => `(local $v${i} f64)`).join(' ');
  const sets = Array.from({ length: k }, (_, i) => `(local.set $v${i} (f64.mul (local.get $x) (f64.const ${i + 1}.5)))`).join('\n    ');
  const sum = Array.from({ length: k }, (_, i) => `(local.get $v${i})`).reduce((a, b) => `(f64.add ${a} ${b})`);
  const wat = `(module
  (func $leaf (param f64) (result f64) (f64.sqrt (f64.abs (local.get 0))))
  (func $mix (param $x f64) (result f64) ${locals}
    ${sets}
    (f64.add (call $leaf (local.get $x)) ${sum}))
  (func (export "main") (param $x f64) (param $n i32) (result f64) (local $acc f64) (local $s f32) (local $keep f64)
    (local.set $keep (f64.neg (local.get $x)))
    (local.set $s (f32.demote_f64 (local.get $x)))
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc (f64.add (local.get $acc) (call $mix (f64.add (local.get $x) (f64.promote_f32 (local.get $s))))))
        (local.set $s (f32.mul (local.get $s) (f32.const 0.5)))
        (local.set $x (f64.reinterpret_i64 (i64.add (i64.reinterpret_f64 (local.get $x)) (i64.const 1))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
    (select (f64.add (local.get $acc) (local.get $keep)) (local.get $acc) (f64.lt (local.get $keep) (f64.const 0)))))`;
  const f64Next = (x: number): number => f64FromBits(f64Bits(x) + 1n);
  const mix = (x: number): number => {
    const v = Array.from({ length: k }, (_, i) => x * (i + 1.5));
    return Math.sqrt(Math.abs(x)) + v.reduce((a, b) => a + b);
  };
  const reference = (x0: number, n: number): number => {
    let x = x0, acc = 0, s = Math.fround(x0);
    const keep = -x0;
    for (; n > 0; n--) {
      acc += mix(x + s);
      s = Math.fround(s * 0.5);
      x = f64Next(x);
    }
    return keep < 0 ? acc + keep : acc;
  };
  return { wat, reference };
}

for (const arch of ['x64', 'aarch64'] as const satisfies readonly Arch[]) {
  test(`float values in registers survive calls, loops and register pressure (${arch})`, async (t) => {
    const { wat, reference } = registerProgram();
    const module = await watModule(wat);
    const results: Record<string, bigint[]> = {};
    for (const regalloc of ['none', 'linear-scan'] as const) {
      const inst = await instantiate(module, arch, {}, regalloc);
      results[regalloc] = [[1.25, 5], [-3, 3], [1e-300, 2], [0, 1]].map(([x, n]) => inst.call(2, [f64Bits(x), BigInt(n)]));
      if (regalloc === 'linear-scan') {
        const fns = inst.image.functions;
        const values = fns.flatMap((f) => f.frame.allocation?.values ?? []);
        const floatRegs = values.filter((v) => (v.type === 'f64' || v.type === 'f32') && typeof v.loc === 'string');
        t.true(floatRegs.length > 10, 'float values are given float registers');
        t.true(floatRegs.every((v) => (arch === 'x64' ? /^xmm([3-9]|1[0-5])$/ : /^d([2-9]|[12]\d|3[01])$/).test(v.loc as string)), 'only allocatable float registers');
        const mixFrame = fns[1].frame;
        if (arch === 'aarch64') t.deepEqual(mixFrame.savedFloatRegs, ['d8', 'd9', 'd10', 'd11', 'd12', 'd13', 'd14', 'd15'], 'callee-saved d8–d15 saved by $mix');
        else t.is(mixFrame.savedFloatRegs, undefined, 'System V has no callee-saved xmm register');
        t.true(values.some((v) => v.type === 'f64' && v.crossesCall && typeof v.loc === 'number'), 'some float crossing a call is in a slot');
      }
    }
    const expected = [[1.25, 5], [-3, 3], [1e-300, 2], [0, 1]].map(([x, n]) => f64Bits(reference(x, n)));
    t.deepEqual(results.none, expected);
    t.deepEqual(results['linear-scan'], expected);
  });
}

// ---- golden listings of float code -----------------------------------------------------------

const testdata = fileURLToPath(new URL('./testdata/', import.meta.url));
for (const regalloc of ['none', 'linear-scan'] as const) for (const arch of ['x64', 'aarch64'] as const) {
  const name = regalloc === 'none' ? arch : `${regalloc}.${arch}`;
  test(`golden listing of testdata/floats.wat (${name})`, async (t) => {
    const module = await watModule(readFileSync(testdata + 'floats.wat', 'utf8'));
    const listing = formatListing(compileModule(module, { arch, regalloc }), module).join('\n') + '\n';
    // Regenerate after reviewing a deliberate change with STACKSCOPE_UPDATE_GOLDEN=1.
    const { diff, wantLines, gotLines } = goldenDiff(`${testdata}floats.${name}.txt`, listing);
    t.deepEqual(diff, []);
    t.is(gotLines, wantLines);
  });
}
