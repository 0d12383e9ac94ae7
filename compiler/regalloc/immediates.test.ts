/**
 * The constant-operand rules of the register mode, each against an oracle written here (BigInt
 * arithmetic with Wasm's semantics) at the edges that matter: shift and rotate counts at and
 * past the width (taken modulo the width), add/sub immediates at the encodings' limits (x64
 * imm32, AArch64 12-bit optionally shifted by 12, negative ones as the opposite operation),
 * logical immediates that are and are not AArch64 bitmasks, multiplies by 0, 1, 2^k, 2^k+1 and
 * others, INT_MIN everywhere, comparisons with the constant on either side as values, fused
 * with `br_if`, `if` and `select`, `i32.eqz` and an `and` with a constant fused with a branch, `0 - x`, a left shift fused into the add after it
 * (counts 0–3 are one x64 `lea`), an add with a constant into another register (`lea`), and an
 * add of a small constant that is only a call's last argument (computed into its register).
 * Every function runs on both arches in both modes. A listing check makes sure the rules
 * fire: no `cl` shift and no register-held constant in a loop of constant shifts.
 */
import test from 'ava';
import type { Arch } from '../../isa/arch.ts';
import { compileModule, formatListing } from '../index.ts';
import { instantiate, watModule } from '../testing.ts';
import type { RegallocMode } from './modes.ts';

type Ty = 'i32' | 'i64';
const BITS: Record<Ty, bigint> = { i32: 32n, i64: 64n };
const wrap = (t: Ty, v: bigint): bigint => BigInt.asUintN(Number(BITS[t]), v);
const signed = (t: Ty, v: bigint): bigint => BigInt.asIntN(Number(BITS[t]), v);

/** Wasm's integer operators on unsigned bit patterns. */
function evaluate(t: Ty, op: string, a: bigint, b: bigint): bigint {
  const n = BITS[t];
  const k = b & (n - 1n);
  switch (op) {
    case 'add': return wrap(t, a + b);
    case 'sub': return wrap(t, a - b);
    case 'mul': return wrap(t, a * b);
    case 'and': return a & b;
    case 'or': return a | b;
    case 'xor': return a ^ b;
    case 'shl': return wrap(t, a << k);
    case 'shr_u': return a >> k;
    case 'shr_s': return wrap(t, signed(t, a) >> k);
    case 'rotl': return wrap(t, (a << k) | (a >> ((n - k) % n)));
    case 'rotr': return wrap(t, (a >> k) | (a << ((n - k) % n)));
    case 'eq': return a === b ? 1n : 0n;
    case 'ne': return a !== b ? 1n : 0n;
    case 'lt_u': return a < b ? 1n : 0n;
    case 'gt_u': return a > b ? 1n : 0n;
    case 'le_u': return a <= b ? 1n : 0n;
    case 'ge_u': return a >= b ? 1n : 0n;
    case 'lt_s': return signed(t, a) < signed(t, b) ? 1n : 0n;
    case 'gt_s': return signed(t, a) > signed(t, b) ? 1n : 0n;
    case 'le_s': return signed(t, a) <= signed(t, b) ? 1n : 0n;
    case 'ge_s': return signed(t, a) >= signed(t, b) ? 1n : 0n;
  }
  throw new Error(op);
}

const ARITH = ['add', 'sub', 'mul', 'and', 'or', 'xor', 'shl', 'shr_u', 'shr_s', 'rotl', 'rotr'];
const CMP = ['eq', 'ne', 'lt_u', 'gt_u', 'le_u', 'ge_u', 'lt_s', 'gt_s', 'le_s', 'ge_s'];
const CONSTS: Record<Ty, readonly bigint[]> = {
  i32: [0n, 1n, 2n, 3n, 5n, 9n, 7n, 31n, 32n, 33n, 100n, 0xfffn, 0x1000n, 0x1001n, 0xfff000n, 0xfff001n, 0x1000000n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0xfffff001n, 0xfffff000n, 0xffffefffn, 0xffn, 0xff00ff00n, 0x00ff00ffn, 0x55555555n, 0xedb88320n, 0x10001n],
  i64: [0n, 1n, 3n, 5n, 63n, 64n, 65n, 0xfffn, 0x1000n, 0xfff000n, 0x7fffffffn, 0x80000000n, 0xffffffff80000000n, 0xffffffff7fffffffn, 0x8000000000000000n, 0xffffffffffffffffn, 0xfffffffffffff001n, 0x5555555555555555n, 0xff00ff00ff00ff00n, 0x100000001n],
};
const INPUTS: Record<Ty, readonly bigint[]> = {
  i32: [0n, 1n, 0x12345678n, 0x80000000n, 0xffffffffn, 0x7fffffffn, 0xfffn],
  i64: [0n, 1n, 0x0123456789abcdefn, 0x8000000000000000n, 0xffffffffffffffffn, 0x7fffffffffffffffn, 0xffffffffn],
};

interface Case {
  name: string;
  /** The parameter's and the local's type. */
  type: Ty;
  /** Instructions leaving one value of type `result`. */
  text: string;
  result: Ty;
  /** The result (unsigned) for parameter x. */
  expect: (x: bigint) => bigint;
}

const lit = (t: Ty, k: bigint): string => `(${t}.const ${signed(t, k)})`;

function cases(): Case[] {
  const out: Case[] = [];
  for (const t of ['i32', 'i64'] as const) {
    const x = '(local.get 0)';
    for (const k of CONSTS[t]) {
      for (const op of ARITH) {
        out.push({ name: `${t}.${op} x ${k}`, type: t, result: t, text: `(${t}.${op} ${x} ${lit(t, k)})`, expect: (v) => evaluate(t, op, v, k) });
        // The constant first: commutative operators take it as the immediate, 0 - x is a negation.
        out.push({ name: `${t}.${op} ${k} x`, type: t, result: t, text: `(${t}.${op} ${lit(t, k)} ${x})`, expect: (v) => evaluate(t, op, k, v) });
      }
      for (const op of CMP) {
        const r = (a: bigint, b: bigint): bigint => evaluate(t, op, a, b);
        out.push({ name: `${t}.${op} x ${k}`, type: t, result: 'i32', text: `(${t}.${op} ${x} ${lit(t, k)})`, expect: (v) => r(v, k) });
        out.push({ name: `${t}.${op} ${k} x`, type: t, result: 'i32', text: `(${t}.${op} ${lit(t, k)} ${x})`, expect: (v) => r(k, v) });
        // Fused with br_if (constant on either side) and with if.
        out.push({
          name: `br_if ${t}.${op} x ${k}`, type: t, result: 'i64',
          text: `(block (result i64) (br_if 0 (i64.const 7) (${t}.${op} ${x} ${lit(t, k)})) (drop) (i64.const 9))`,
          expect: (v) => (r(v, k) ? 7n : 9n),
        });
        out.push({
          name: `if ${t}.${op} ${k} x`, type: t, result: 'i64',
          text: `(if (result i64) (${t}.${op} ${lit(t, k)} ${x}) (then (i64.const 3)) (else (i64.const 4)))`,
          expect: (v) => (r(k, v) ? 3n : 4n),
        });
        // Fused with select, against a constant and against a register.
        out.push({
          name: `select ${t}.${op} x ${k}`, type: t, result: 'i64',
          text: `(select (i64.const 5) ${t === 'i32' ? `(i64.extend_i32_u ${x})` : x} (${t}.${op} ${x} ${lit(t, k)}))`,
          expect: (v) => (r(v, k) ? 5n : wrap('i64', v)),
        });
        out.push({
          name: `select ${t}.${op} x (x ^ ${k})`, type: t, result: t,
          text: `(select ${x} ${lit(t, k)} (${t}.${op} ${x} (${t}.xor ${x} ${lit(t, k)})))`,
          expect: (v) => (r(v, v ^ k) ? v : k),
        });
      }
      // A left shift by a constant feeding an add: fused (the count modulo the width).
      out.push({
        name: `${t}.add y (shl x ${k})`, type: t, result: t,
        text: `(${t}.add (${t}.xor ${x} ${lit(t, 0x5a5an)}) (${t}.shl ${x} ${lit(t, k)}))`,
        expect: (v) => wrap(t, (v ^ 0x5a5an) + evaluate(t, 'shl', v, k)),
      });
    }
    // An add of a small constant that is only the last argument of a call: computed into the
    // argument register (x64 lea, AArch64 add/sub); ±4096 are past the limit (not fused).
    for (const k of [1n, 4095n, 4096n, wrap(t, -1n), wrap(t, -4095n), wrap(t, -4096n), 0n]) {
      out.push({
        name: `call p(x, x + ${signed(t, k)})`, type: t, result: t,
        text: `(call $p_${t} ${x} (${t}.add ${x} ${lit(t, k)}))`,
        expect: (v) => evaluate(t, 'sub', v, evaluate(t, 'rotl', evaluate(t, 'add', v, k), 3n)),
      });
    }
    // An i32 and with a constant that only a branch looks at: test / tst (masks that are and
    // are not AArch64 bitmasks, the sign bit, all ones).
    for (const mask of t === 'i32' ? [1n, 0x80000000n, 0xff00ff00n, 0xedb88320n, 0xffffffffn] : []) {
      out.push({
        name: `br_if ${t}.and x ${mask}`, type: t, result: 'i64',
        text: `(block (result i64) (br_if 0 (i64.const 11) (${t}.and ${x} ${lit(t, mask)})) (drop) (i64.const 12))`,
        expect: (v) => ((v & mask) !== 0n ? 11n : 12n),
      });
    }
    out.push({ name: `${t}.eqz fused`, type: t, result: 'i64', text: `(if (result i64) (${t}.eqz ${x}) (then (i64.const 1)) (else (i64.const 2)))`, expect: (v) => (v === 0n ? 1n : 2n) });
    // An add with a constant into another register while x stays live (x64 lea).
    out.push({
      name: `${t} lea`, type: t, result: t,
      text: `(local.set 1 (${t}.add ${x} ${lit(t, 0xfffff001n)})) (${t}.xor (local.get 1) (${t}.sub ${x} ${lit(t, BITS[t] === 32n ? 0x80000000n : 0x8000000000000000n)}))`,
      expect: (v) => evaluate(t, 'xor', wrap(t, v + signed(t, 0xfffff001n)), evaluate(t, 'sub', v, BITS[t] === 32n ? 0x80000000n : 0x8000000000000000n)),
    });
  }
  return out;
}

/** Folds the case's results over every input: acc ← rotl(acc, 13) ^ result (the function computes the same). */
const fold = (c: Case): bigint => INPUTS[c.type].reduce((acc, x) => wrap('i64', (acc << 13n) | (acc >> 51n)) ^ c.expect(x), 0n);

/** One function per case, without parameters: x (local 0) takes each input in turn, local 2 accumulates. */
function moduleText(all: readonly Case[]): string {
  const funcs = all.map((c) => {
    const value = c.result === 'i32' ? `(i64.extend_i32_u (block (result i32) ${c.text}))` : `(block (result i64) ${c.text})`;
    const steps = INPUTS[c.type].map((x) => `(local.set 0 ${lit(c.type, x)}) (local.set 2 (i64.xor (i64.rotl (local.get 2) (i64.const 13)) ${value}))`);
    return `(func (result i64) (local ${c.type} ${c.type} i64) ${steps.join(' ')} (local.get 2))`;
  });
  // The callees of the call cases (after the cases: function f is case f).
  const callees = (['i32', 'i64'] as const).map((t) => `(func $p_${t} (param ${t} ${t}) (result ${t}) (${t}.sub (local.get 0) (${t}.rotl (local.get 1) (${t}.const 3))))`);
  return `(module ${funcs.join('\n')}\n${callees.join('\n')})`;
}

const ARCHES: readonly Arch[] = ['x64', 'aarch64'];
const MODES: readonly RegallocMode[] = ['none', 'linear-scan'];

for (const arch of ARCHES) {
  test(`${arch}: integer operators with constant operands match the oracle at the encodings' edges (both modes)`, async (t) => {
    const all = cases();
    const module = await watModule(moduleText(all));
    for (const regalloc of MODES) {
      const inst = await instantiate(module, arch, {}, regalloc);
      const failures: string[] = [];
      all.forEach((c, f) => {
        const got = inst.call(f);
        if (got !== fold(c)) {
          const each = INPUTS[c.type].map((x) => `0x${x.toString(16)} → 0x${c.expect(x).toString(16)}`).join(', ');
          failures.push(`${c.name}: results folded to 0x${got.toString(16)}, the oracle's (${each}) to 0x${fold(c).toString(16)}`);
        }
      });
      inst.machine.close();
      t.deepEqual(failures.slice(0, 10), [], `${regalloc}: ${failures.length} failures`);
    }
  });

  test(`${arch}: linear-scan shifts by a constant without a count register and keeps constants out of registers`, async (t) => {
    const module = await watModule(`(module (func (param i32 i32) (result i32)
      (i32.add (i32.rotl (i32.shr_u (i32.shl (local.get 0) (i32.const 35)) (i32.const 3)) (i32.const 7))
               (i32.and (local.get 1) (i32.const 0xff)))))`);
    const listing = formatListing(compileModule(module, { arch, regalloc: 'linear-scan' }), module);
    const body = listing.filter((l) => /^\s+0x/.test(l));
    if (arch === 'x64') {
      t.false(body.some((l) => /\bcl\b/.test(l)), 'no shift through cl');
      t.true(body.some((l) => /shl \w+, 3$/.test(l)), 'shl by 35 is shl by 3');
      t.true(body.some((l) => /rol \w+, 7$/.test(l)));
    } else {
      t.true(body.some((l) => /lsl w\d+, w\d+, #3$/.test(l)), 'lsl by 35 is lsl by 3');
      t.true(body.some((l) => /ror w\d+, w\d+, #0x19$|ror w\d+, w\d+, #25$/.test(l)), 'rotl 7 is ror 25');
      t.true(body.some((l) => /and w\d+, w\d+, #0xff$/.test(l)), 'a bitmask immediate');
    }
    t.false(body.some((l) => /mov\w* \w+, (#)?(0x23|35)$/.test(l)), 'the count is never loaded into a register');
  });
}
