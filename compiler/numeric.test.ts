/**
 * Every numeric instruction, run on both arches against a BigInt reference implementation of
 * the Wasm semantics, plus the integer traps (division by zero, signed overflow) landing on a
 * trap site listed with the right code.
 */
import test from 'ava';
import { GuestTrap } from '../simulator/trap.ts';
import { instantiate, trapCodeAt, watModule } from './testing.ts';
import type { Arch } from '../isa/arch.ts';

const BIN = ['add', 'sub', 'mul', 'div_s', 'div_u', 'rem_s', 'rem_u', 'and', 'or', 'xor', 'shl', 'shr_s', 'shr_u', 'rotl', 'rotr'] as const;
const CMP = ['eq', 'ne', 'lt_s', 'lt_u', 'gt_s', 'gt_u', 'le_s', 'le_u', 'ge_s', 'ge_u'] as const;
const UN = ['clz', 'ctz', 'popcnt', 'eqz', 'extend8_s', 'extend16_s'] as const;
const CONV = [
  ['i32.wrap_i64', 'i64', 'i32'],
  ['i64.extend_i32_s', 'i32', 'i64'],
  ['i64.extend_i32_u', 'i32', 'i64'],
  ['i64.extend32_s', 'i64', 'i64'],
] as const;

type Ty = 'i32' | 'i64';
const bitsOf = (t: Ty): bigint => (t === 'i32' ? 32n : 64n);
const u = (v: bigint, t: Ty): bigint => BigInt.asUintN(Number(bitsOf(t)), v);
const s = (v: bigint, t: Ty): bigint => BigInt.asIntN(Number(bitsOf(t)), v);

function binRef(op: (typeof BIN)[number], a: bigint, b: bigint, t: Ty): bigint | 'div0' | 'overflow' {
  const n = bitsOf(t);
  const ua = u(a, t), ub = u(b, t), sa = s(a, t), sb = s(b, t);
  switch (op) {
    case 'add': return u(ua + ub, t);
    case 'sub': return u(ua - ub, t);
    case 'mul': return u(ua * ub, t);
    case 'div_s':
      if (ub === 0n) return 'div0';
      if (sa === -(1n << (n - 1n)) && sb === -1n) return 'overflow';
      return u(sa / sb, t);
    case 'div_u': return ub === 0n ? 'div0' : ua / ub;
    case 'rem_s': return ub === 0n ? 'div0' : u(sa % sb, t);
    case 'rem_u': return ub === 0n ? 'div0' : ua % ub;
    case 'and': return ua & ub;
    case 'or': return ua | ub;
    case 'xor': return ua ^ ub;
    case 'shl': return u(ua << (ub % n), t);
    case 'shr_s': return u(sa >> (ub % n), t);
    case 'shr_u': return ua >> (ub % n);
    case 'rotl': { const k = ub % n; return u((ua << k) | (ua >> ((n - k) % n)), t); }
    case 'rotr': { const k = ub % n; return u((ua >> k) | (ua << ((n - k) % n)), t); }
  }
}
function cmpRef(op: (typeof CMP)[number], a: bigint, b: bigint, t: Ty): bigint {
  const ua = u(a, t), ub = u(b, t), sa = s(a, t), sb = s(b, t);
  const r = { eq: ua === ub, ne: ua !== ub, lt_s: sa < sb, lt_u: ua < ub, gt_s: sa > sb, gt_u: ua > ub, le_s: sa <= sb, le_u: ua <= ub, ge_s: sa >= sb, ge_u: ua >= ub }[op];
  return r ? 1n : 0n;
}
function unRef(op: (typeof UN)[number], a: bigint, t: Ty): bigint {
  const n = Number(bitsOf(t));
  const ua = u(a, t);
  switch (op) {
    case 'clz': { let c = 0n; for (let i = n - 1; i >= 0 && !((ua >> BigInt(i)) & 1n); i--) c++; return c; }
    case 'ctz': { let c = 0n; for (let i = 0; i < n && !((ua >> BigInt(i)) & 1n); i++) c++; return c; }
    case 'popcnt': { let c = 0n; for (let i = 0; i < n; i++) c += (ua >> BigInt(i)) & 1n; return c; }
    case 'eqz': return ua === 0n ? 1n : 0n;
    case 'extend8_s': return u(BigInt.asIntN(8, ua), t);
    case 'extend16_s': return u(BigInt.asIntN(16, ua), t);
  }
}

const VALUES: Record<Ty, bigint[]> = {
  i32: [0n, 1n, 2n, 3n, 7n, 31n, 32n, 33n, 0x7fn, 0x80n, 0xffffn, 0x8000n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0xfffffffen, 0x12345678n, 0xdeadbeefn],
  i64: [0n, 1n, 2n, 5n, 63n, 64n, 65n, 0x80n, 0x8000n, 0x80000000n, 0xffffffffn, 0x7fffffffffffffffn, 0x8000000000000000n, 0xffffffffffffffffn, 0x123456789abcdef0n, 0xfedcba9876543210n],
};

interface Case { name: string; fn: number; args: bigint[]; expect: bigint | 'div0' | 'overflow'; resultTy: Ty }

async function build(): Promise<{ wat: string; cases: Case[] }> {
  const funcs: string[] = [];
  const cases: Case[] = [];
  let index = 0;
  for (const t of ['i32', 'i64'] as const) {
    for (const op of BIN) {
      funcs.push(`(func (param ${t} ${t}) (result ${t}) local.get 0 local.get 1 ${t}.${op})`);
      for (const a of VALUES[t]) for (const b of VALUES[t]) cases.push({ name: `${t}.${op}`, fn: index, args: [a, b], expect: binRef(op, a, b, t), resultTy: t });
      index++;
    }
    for (const op of CMP) {
      funcs.push(`(func (param ${t} ${t}) (result i32) local.get 0 local.get 1 ${t}.${op})`);
      for (const a of VALUES[t]) for (const b of VALUES[t]) cases.push({ name: `${t}.${op}`, fn: index, args: [a, b], expect: cmpRef(op, a, b, t), resultTy: 'i32' });
      index++;
    }
    for (const op of UN) {
      const rt = op === 'eqz' ? 'i32' : t;
      funcs.push(`(func (param ${t}) (result ${rt}) local.get 0 ${t}.${op})`);
      for (const a of VALUES[t]) cases.push({ name: `${t}.${op}`, fn: index, args: [a], expect: unRef(op, a, t), resultTy: rt });
      index++;
    }
    // Constants: the value must survive the round trip through a slot.
    for (const v of VALUES[t]) {
      funcs.push(`(func (result ${t}) ${t}.const ${s(v, t)})`);
      cases.push({ name: `${t}.const ${v}`, fn: index++, args: [], expect: v, resultTy: t });
    }
  }
  for (const [op, from, to] of CONV) {
    funcs.push(`(func (param ${from}) (result ${to}) local.get 0 ${op})`);
    for (const a of VALUES[from]) {
      const ua = u(a, from);
      const expect = op === 'i32.wrap_i64' ? u(ua, 'i32') : op === 'i64.extend_i32_s' ? u(BigInt.asIntN(32, ua), 'i64') : op === 'i64.extend_i32_u' ? ua : u(BigInt.asIntN(32, ua), 'i64');
      cases.push({ name: op, fn: index, args: [a], expect, resultTy: to });
    }
    index++;
  }
  return { wat: `(module ${funcs.join('\n')})`, cases };
}

/** i32 arguments arrive with garbage in the upper half, as the Wasm ABI allows. */
const dirty = (v: bigint, t: Ty): bigint => (t === 'i32' ? v | 0xabcd_0000_0000_0000n : v);

for (const arch of ['x64', 'aarch64'] as const satisfies readonly Arch[]) {
  test(`every numeric instruction matches the reference semantics (${arch})`, async (t) => {
    const { wat, cases } = await build();
    const inst = await instantiate(await watModule(wat), arch);
    const paramTypes = (fn: number): Ty[] => inst.module.types[inst.module.funcTypeIndices[fn]].params as Ty[];
    let checked = 0;
    const failures: string[] = [];
    for (const c of cases) {
      const args = c.args.map((a, k) => dirty(a, paramTypes(c.fn)[k]));
      try {
        const got = u(inst.call(c.fn, args), c.resultTy);
        if (got !== c.expect) failures.push(`${c.name}(${c.args.join(', ')}) = ${got}, expected ${c.expect}`);
      } catch (e) {
        if (!(e instanceof GuestTrap)) throw e;
        const trap = trapCodeAt(inst, e);
        const want = c.expect === 'div0' ? 'IntegerDivisionByZero' : c.expect === 'overflow' ? 'IntegerOverflow' : 'none';
        if (trap !== want) failures.push(`${c.name}(${c.args.join(', ')}) trapped ${e.kind} (${trap}), expected ${c.expect}`);
      }
      checked++;
    }
    t.deepEqual(failures.slice(0, 10), []);
    t.true(checked > 3000);
  });
}
