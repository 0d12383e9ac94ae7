/**
 * Property test: random typed expression trees (constants, parameters, every binary, compare,
 * unary and conversion operator, select, if/else, br_if out of a block with a value, loops with
 * a parameter) compiled for both arches and run with random arguments; results and traps
 * must match a BigInt evaluator of the Wasm semantics written here.
 */
import test from 'ava';
import fc from 'fast-check';
import type { Arch } from '../isa/arch.ts';
import { GuestTrap } from '../simulator/trap.ts';
import { instantiate, trapCodeAt, watModule } from './testing.ts';

type Ty = 'i32' | 'i64';
const BIN = ['add', 'sub', 'mul', 'div_s', 'div_u', 'rem_s', 'rem_u', 'and', 'or', 'xor', 'shl', 'shr_s', 'shr_u', 'rotl', 'rotr'] as const;
const CMP = ['eq', 'ne', 'lt_s', 'lt_u', 'gt_s', 'gt_u', 'le_s', 'le_u', 'ge_s', 'ge_u'] as const;
const UN = ['clz', 'ctz', 'popcnt', 'extend8_s', 'extend16_s'] as const;

type Expr =
  | { k: 'const'; t: Ty; v: bigint }
  | { k: 'param'; t: Ty; p: number }
  | { k: 'bin'; t: Ty; op: (typeof BIN)[number]; a: Expr; b: Expr }
  | { k: 'cmp'; t: 'i32'; at: Ty; op: (typeof CMP)[number]; a: Expr; b: Expr }
  | { k: 'eqz'; t: 'i32'; a: Expr }
  | { k: 'un'; t: Ty; op: (typeof UN)[number]; a: Expr }
  | { k: 'wrap'; t: 'i32'; a: Expr }
  | { k: 'extend'; t: 'i64'; signed: boolean; a: Expr }
  | { k: 'select'; t: Ty; a: Expr; b: Expr; c: Expr }
  | { k: 'if'; t: Ty; c: Expr; a: Expr; b: Expr }
  | { k: 'brif'; t: Ty; a: Expr; c: Expr; b: Expr }
  /** (loop (param t) (result t) body-on-x ... ) iterating n times: x ← x + step(x). */
  | { k: 'loop'; t: Ty; init: Expr; n: number };

/** Parameters: (i32 i32 i64 i64). */
const PARAMS: readonly Ty[] = ['i32', 'i32', 'i64', 'i64'];

const constArb = (t: Ty): fc.Arbitrary<bigint> =>
  fc.oneof(
    fc.bigInt({ min: -4n, max: 4n }),
    fc.constantFrom(t === 'i32' ? 0x80000000n : 0x8000000000000000n, -1n, 31n, 32n, 63n, 64n),
    t === 'i32' ? fc.bigInt({ min: -(1n << 31n), max: (1n << 31n) - 1n }) : fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
  );

const arbCache = new Map<string, fc.Arbitrary<Expr>>();
/** Memoized per (type, depth): building the arbitrary tree afresh on every draw is exponential. */
function exprArb(t: Ty, depth: number): fc.Arbitrary<Expr> {
  const key = `${t}:${depth}`;
  let arb = arbCache.get(key);
  if (arb === undefined) arbCache.set(key, (arb = buildExprArb(t, depth)));
  return arb;
}

function buildExprArb(t: Ty, depth: number): fc.Arbitrary<Expr> {
  const leaf: fc.Arbitrary<Expr> = fc.oneof(
    constArb(t).map((v): Expr => ({ k: 'const', t, v })),
    fc.constantFrom(...PARAMS.map((pt, p) => [pt, p] as const).filter(([pt]) => pt === t).map(([, p]) => p)).map((p): Expr => ({ k: 'param', t, p })),
  );
  if (depth <= 0) return leaf;
  const sub = (st: Ty): fc.Arbitrary<Expr> => exprArb(st, depth - 1);
  const anyTy = fc.constantFrom<Ty>('i32', 'i64');
  const options: fc.Arbitrary<Expr>[] = [
    leaf,
    fc.record({ k: fc.constant('bin' as const), t: fc.constant(t), op: fc.constantFrom(...BIN), a: sub(t), b: sub(t) }),
    fc.record({ k: fc.constant('un' as const), t: fc.constant(t), op: fc.constantFrom(...UN), a: sub(t) }),
    fc.record({ k: fc.constant('select' as const), t: fc.constant(t), a: sub(t), b: sub(t), c: sub('i32') }),
    fc.record({ k: fc.constant('if' as const), t: fc.constant(t), c: sub('i32'), a: sub(t), b: sub(t) }),
    fc.record({ k: fc.constant('brif' as const), t: fc.constant(t), a: sub(t), c: sub('i32'), b: sub(t) }),
    fc.record({ k: fc.constant('loop' as const), t: fc.constant(t), init: sub(t), n: fc.integer({ min: 0, max: 4 }) }),
  ];
  if (t === 'i32') {
    options.push(
      anyTy.chain((at) => fc.record({ k: fc.constant('cmp' as const), t: fc.constant('i32' as const), at: fc.constant(at), op: fc.constantFrom(...CMP), a: sub(at), b: sub(at) })),
      anyTy.chain((at) => sub(at).map((a): Expr => ({ k: 'eqz', t: 'i32', a }))),
      sub('i64').map((a): Expr => ({ k: 'wrap', t: 'i32', a })),
    );
  } else {
    options.push(fc.record({ k: fc.constant('extend' as const), t: fc.constant('i64' as const), signed: fc.boolean(), a: sub('i32') }));
  }
  return fc.oneof(...options);
}

const W = (t: Ty): number => (t === 'i32' ? 32 : 64);
const u = (v: bigint, t: Ty): bigint => BigInt.asUintN(W(t), v);
const s = (v: bigint, t: Ty): bigint => BigInt.asIntN(W(t), v);

class Trap {
  constructor(readonly code: string) {}
}

function evalExpr(e: Expr, args: readonly bigint[]): bigint {
  switch (e.k) {
    case 'const': return u(e.v, e.t);
    case 'param': return u(args[e.p], e.t);
    case 'bin': {
      const a = evalExpr(e.a, args);
      const b = evalExpr(e.b, args);
      const n = BigInt(W(e.t));
      const t = e.t;
      switch (e.op) {
        case 'add': return u(a + b, t);
        case 'sub': return u(a - b, t);
        case 'mul': return u(a * b, t);
        case 'div_s':
          if (b === 0n) throw new Trap('IntegerDivisionByZero');
          if (s(a, t) === -(1n << (n - 1n)) && s(b, t) === -1n) throw new Trap('IntegerOverflow');
          return u(s(a, t) / s(b, t), t);
        case 'div_u': if (b === 0n) throw new Trap('IntegerDivisionByZero'); return a / b;
        case 'rem_s': if (b === 0n) throw new Trap('IntegerDivisionByZero'); return u(s(a, t) % s(b, t), t);
        case 'rem_u': if (b === 0n) throw new Trap('IntegerDivisionByZero'); return a % b;
        case 'and': return a & b;
        case 'or': return a | b;
        case 'xor': return a ^ b;
        case 'shl': return u(a << (b % n), t);
        case 'shr_s': return u(s(a, t) >> (b % n), t);
        case 'shr_u': return a >> (b % n);
        case 'rotl': { const k = b % n; return u((a << k) | (a >> ((n - k) % n)), t); }
        case 'rotr': { const k = b % n; return u((a >> k) | (a << ((n - k) % n)), t); }
      }
      break;
    }
    case 'cmp': {
      const a = evalExpr(e.a, args), b = evalExpr(e.b, args);
      const sa = s(a, e.at), sb = s(b, e.at);
      const r = { eq: a === b, ne: a !== b, lt_s: sa < sb, lt_u: a < b, gt_s: sa > sb, gt_u: a > b, le_s: sa <= sb, le_u: a <= b, ge_s: sa >= sb, ge_u: a >= b }[e.op];
      return r ? 1n : 0n;
    }
    case 'eqz': return evalExpr(e.a, args) === 0n ? 1n : 0n;
    case 'un': {
      const a = evalExpr(e.a, args);
      const n = W(e.t);
      switch (e.op) {
        case 'clz': { let c = 0n; for (let i = n - 1; i >= 0 && !((a >> BigInt(i)) & 1n); i--) c++; return c; }
        case 'ctz': { let c = 0n; for (let i = 0; i < n && !((a >> BigInt(i)) & 1n); i++) c++; return c; }
        case 'popcnt': { let c = 0n; for (let i = 0; i < n; i++) c += (a >> BigInt(i)) & 1n; return c; }
        case 'extend8_s': return u(BigInt.asIntN(8, a), e.t);
        case 'extend16_s': return u(BigInt.asIntN(16, a), e.t);
      }
      break;
    }
    case 'wrap': return u(evalExpr(e.a, args), 'i32');
    case 'extend': { const a = evalExpr(e.a, args); return e.signed ? u(BigInt.asIntN(32, a), 'i64') : a; }
    case 'select': {
      const a = evalExpr(e.a, args), b = evalExpr(e.b, args), c = evalExpr(e.c, args);
      return c !== 0n ? a : b;
    }
    case 'if': return evalExpr(e.c, args) !== 0n ? evalExpr(e.a, args) : evalExpr(e.b, args);
    case 'brif': {
      const a = evalExpr(e.a, args);
      return evalExpr(e.c, args) !== 0n ? a : evalExpr(e.b, args);
    }
    case 'loop': {
      let x = evalExpr(e.init, args);
      for (let i = 0; i < e.n; i++) x = u(x * 3n + 1n, e.t);
      return x;
    }
  }
  throw new Error('unreachable');
}

function wat(e: Expr): string {
  switch (e.k) {
    case 'const': return `(${e.t}.const ${s(e.v, e.t)})`;
    case 'param': return `(local.get ${e.p})`;
    case 'bin': return `(${e.t}.${e.op} ${wat(e.a)} ${wat(e.b)})`;
    case 'cmp': return `(${e.at}.${e.op} ${wat(e.a)} ${wat(e.b)})`;
    case 'eqz': return `(${e.a.t}.eqz ${wat(e.a)})`;
    case 'un': return `(${e.t}.${e.op} ${wat(e.a)})`;
    case 'wrap': return `(i32.wrap_i64 ${wat(e.a)})`;
    case 'extend': return `(i64.extend_i32_${e.signed ? 's' : 'u'} ${wat(e.a)})`;
    case 'select': return `(select ${wat(e.a)} ${wat(e.b)} ${wat(e.c)})`;
    case 'if': return `(if (result ${e.t}) ${wat(e.c)} (then ${wat(e.a)}) (else ${wat(e.b)}))`;
    case 'brif': return `(block (result ${e.t}) (drop (br_if 0 ${wat(e.a)} ${wat(e.c)})) ${wat(e.b)})`;
    case 'loop':
      // The loop counter lives in local 4; the value travels as the loop's parameter.
      return `${wat(e.init)} (local.set 4 (i32.const ${e.n}))
        (loop (param ${e.t}) (result ${e.t})
          (if (param ${e.t}) (result ${e.t}) (i32.eqz (local.get 4)) (then) (else
            (${e.t}.add (${e.t}.mul (${e.t}.const 3)) (${e.t}.const 1))
            (local.set 4 (i32.sub (local.get 4) (i32.const 1)))
            (br 1))))`;
  }
}

const argsArb = fc.tuple(constArb('i32'), constArb('i32'), constArb('i64'), constArb('i64'));

for (const arch of ['x64', 'aarch64'] as const satisfies readonly Arch[]) {
  test(`random expression trees agree with the reference evaluator (${arch})`, async (t) => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom<Ty>('i32', 'i64'), fc.integer({ min: 1, max: 4 })).chain(([ty, d]) => exprArb(ty, d)), { minLength: 8, maxLength: 8 }), fc.array(argsArb, { minLength: 3, maxLength: 3 }), async (exprs, argSets) => {
        // Loops share local 4 as their counter: each sets it after its init value (which may
        // hold another loop) is computed, and nothing else runs inside a loop's body.
        const funcs = exprs.map((e) => `(func (param i32 i32 i64 i64) (result ${e.t}) (local i32) ${wat(e)})`);
        const inst = await instantiate(await watModule(`(module ${funcs.join('\n')})`), arch);
        exprs.forEach((e, f) => {
          for (const args of argSets) {
            let want: bigint | string;
            try {
              want = evalExpr(e, args);
            } catch (x) {
              if (!(x instanceof Trap)) throw x;
              want = x.code;
            }
            let got: bigint | string;
            try {
              got = u(inst.call(f, args.map((a, k) => u(a, PARAMS[k]))), e.t);
            } catch (x) {
              if (!(x instanceof GuestTrap)) throw x;
              got = trapCodeAt(inst, x);
            }
            if (got !== want) throw new Error(`${wat(e)} with (${args.join(', ')}): got ${got}, want ${want}`);
            runs++;
          }
        });
      }),
      { numRuns: 60, seed: arch === 'x64' ? 101 : 202 },
    );
    t.is(runs, 60 * 8 * 3);
  });
}
