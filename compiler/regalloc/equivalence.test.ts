/**
 * Property test: `linear-scan` computes what `none` computes, on random integer programs built
 * to exercise what the register mode folds and forwards: `local.get` entries that refer to the
 * local and a `local.set`/`local.tee` (or a block) that overwrites the local while such an
 * entry is still on the operand stack, results computed straight into locals, constants as
 * immediates (shift counts at and past the width, immediates at the encodings' limits, INT_MIN),
 * compare-and-branch and `select`, counted loops. Each program is one function of two
 * parameters; every function runs on both arches in both modes with several arguments, and the
 * four results must be equal. The programs come from a seeded generator (reproducible: the
 * failing seed and the function's text are in the message).
 */
import test from 'ava';
import type { Arch } from '../../isa/arch.ts';
import { instantiate, watModule } from '../testing.ts';
import type { RegallocMode } from './modes.ts';

/** xorshift32: a small deterministic generator (the seed names the program). */
function rng(seed: number): { int(n: number): number; pick<T>(xs: readonly T[]): T } {
  let x = seed >>> 0 || 1;
  const next = (): number => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  return { int: (n) => next() % n, pick: (xs) => xs[next() % xs.length] };
}

/** Constants at the edges the immediate encodings care about. */
const CONSTS32 = [0, 1, 2, 3, 5, 7, 8, 9, 31, 32, 33, 63, 64, 65, 0xfff, 0x1000, 0x1001, 0xfff000, 0xfff001, 0x7fffffff, -1, -2, -0x1000, -0x1001, -0x80000000, 0x55555555, 0xff, 0xff00, 0xedb88320 | 0];
const CONSTS64 = ['0', '1', '3', '63', '64', '65', '4095', '4096', '-1', '-4096', '-9223372036854775808', '9223372036854775807', '0x7fffffff', '0x80000000', '-2147483648', '0xffffffff', '0x100000000', '0x5555555555555555', '0xff00ff00ff00ff00'];
const BIN = ['add', 'sub', 'mul', 'and', 'or', 'xor', 'shl', 'shr_s', 'shr_u', 'rotl', 'rotr'];
const CMP = ['eq', 'ne', 'lt_s', 'lt_u', 'gt_s', 'gt_u', 'le_s', 'le_u', 'ge_s', 'ge_u'];
/** Locals: 0, 1 params (i32, i64); 2, 3 i32; 4 i64; 5 the loop counter (i32, written only by loops). */
const I32_LOCALS = [0, 2, 3];
const I64_LOCALS = [1, 4];

function program(seed: number): string {
  const r = rng(seed);
  let loops = 0;
  const e32 = (depth: number): string => {
    const k = depth <= 0 ? r.int(3) : r.int(16);
    switch (k) {
      case 0: return `(i32.const ${r.pick(CONSTS32)})`;
      case 1: case 2: return `(local.get ${r.pick(I32_LOCALS)})`;
      case 3: case 4: return `(i32.${r.pick(BIN)} ${e32(depth - 1)} ${e32(depth - 1)})`;
      case 5: return `(i32.${r.pick(BIN)} ${e32(depth - 1)} (i32.const ${r.pick(CONSTS32)}))`;
      case 6: return `(i32.${r.pick(CMP)} ${e32(depth - 1)} ${r.int(2) ? e32(depth - 1) : `(i32.const ${r.pick(CONSTS32)})`})`;
      case 7: return `(i64.${r.pick(CMP)} ${e64(depth - 1)} ${r.int(2) ? e64(depth - 1) : `(i64.const ${r.pick(CONSTS64)})`})`;
      case 8: return `(local.tee ${r.pick(I32_LOCALS)} ${e32(depth - 1)})`;
      case 9: {
        // A reference to a local below a write of the same local.
        const l = r.pick(I32_LOCALS);
        return `(i32.${r.pick(BIN)} (local.get ${l}) (local.tee ${l} ${e32(depth - 1)}))`;
      }
      case 10: {
        // A reference to a local below a block that writes it.
        const l = r.pick(I32_LOCALS);
        return `(i32.${r.pick(BIN)} (local.get ${l}) (block (result i32) (local.set ${l} ${e32(depth - 1)}) (local.get ${r.pick(I32_LOCALS)})))`;
      }
      case 11: return `(select ${e32(depth - 1)} ${e32(depth - 1)} ${r.int(2) ? e32(depth - 1) : `(i32.${r.pick(CMP)} ${e32(depth - 1)} (i32.const ${r.pick(CONSTS32)}))`})`;
      case 12: return `(if (result i32) ${cond(depth - 1)} (then ${e32(depth - 1)}) (else ${e32(depth - 1)}))`;
      case 13: return `(i32.wrap_i64 ${e64(depth - 1)})`;
      case 14: return `(i32.${r.pick(['rem_u', 'div_u', 'rem_s'])} ${e32(depth - 1)} (i32.or ${e32(depth - 1)} (i32.const 1)))`;
      default: {
        // A reference to a local that an `if` arm writes (the other keeps the old value).
        const l = r.pick(I32_LOCALS);
        return `(i32.add (local.get ${l}) (if (result i32) ${cond(depth - 1)} (then (local.set ${l} ${e32(depth - 1)}) (local.get ${l})) (else (i32.const ${r.pick(CONSTS32)}))))`;
      }
    }
  };
  const e64 = (depth: number): string => {
    const k = depth <= 0 ? r.int(3) : r.int(9);
    switch (k) {
      case 0: return `(i64.const ${r.pick(CONSTS64)})`;
      case 1: case 2: return `(local.get ${r.pick(I64_LOCALS)})`;
      case 3: case 4: return `(i64.${r.pick(BIN)} ${e64(depth - 1)} ${e64(depth - 1)})`;
      case 5: return `(i64.${r.pick(BIN)} ${e64(depth - 1)} (i64.const ${r.pick(CONSTS64)}))`;
      case 6: return `(i64.extend_i32_${r.pick(['s', 'u'])} ${e32(depth - 1)})`;
      case 7: {
        const l = r.pick(I64_LOCALS);
        return `(i64.${r.pick(BIN)} (local.get ${l}) (local.tee ${l} ${e64(depth - 1)}))`;
      }
      default: return `(select ${e64(depth - 1)} ${e64(depth - 1)} ${cond(depth - 1)})`;
    }
  };
  const cond = (depth: number): string => (r.int(2) ? `(i32.${r.pick(CMP)} ${e32(depth)} ${r.int(2) ? e32(depth) : `(i32.const ${r.pick(CONSTS32)})`})` : e32(depth));
  const stmt = (depth: number): string => {
    const k = r.int(depth <= 0 ? 3 : 6);
    switch (k) {
      case 0: return `(local.set ${r.pick(I32_LOCALS)} ${e32(3)})`;
      case 1: return `(local.set ${r.pick(I64_LOCALS)} ${e64(3)})`;
      case 2: return `(if ${cond(2)} (then (local.set ${r.pick(I32_LOCALS)} ${e32(2)})))`;
      case 3: {
        if (loops++ > 1) return `(local.set ${r.pick(I32_LOCALS)} ${e32(2)})`;
        // A counted loop: local 5 runs from n down to 1 (n small), the body a few statements (no loop).
        const body = Array.from({ length: 1 + r.int(3) }, () => stmt(0)).join(' ');
        return `(local.set 5 (i32.const ${1 + r.int(6)})) (loop ${body} (br_if 0 (i32.ne (local.tee 5 (i32.sub (local.get 5) (i32.const 1))) (i32.const 0))))`;
      }
      case 4: return `(block ${stmt(depth - 1)} (br_if 0 ${cond(2)}) ${stmt(depth - 1)})`;
      default: return `(local.set ${r.pick(I32_LOCALS)} (i32.add (local.get ${r.pick(I32_LOCALS)}) (i32.const ${r.pick(CONSTS32)})))`;
    }
  };
  const body = Array.from({ length: 3 + r.int(5) }, () => stmt(2)).join('\n    ');
  return `(func (param i32 i64) (result i64) (local i32 i32 i64 i32)
    ${body}
    (i64.xor (i64.add (local.get 1) (local.get 4))
      (i64.extend_i32_u (i32.add (i32.mul (local.get 0) (i32.const 31)) (i32.xor (local.get 2) (i32.rotl (local.get 3) (i32.const 7)))))))`;
}

const SEEDS = Array.from({ length: 60 }, (_, k) => 0x5eed0 + k);
const ARGS: readonly [number, bigint][] = [[0, 0n], [7, -3n], [-0x80000000, 0x7fffffffffffffffn], [0x12345678, 0x0123456789abcdefn]];
const ARCHES: readonly Arch[] = ['x64', 'aarch64'];
const MODES: readonly RegallocMode[] = ['none', 'linear-scan'];

test('linear-scan gives the results none gives on random integer programs (both arches)', async (t) => {
  const funcs = SEEDS.map(program);
  const module = await watModule(`(module\n  ${funcs.join('\n  ')})`);
  const results = new Map<string, bigint[]>();
  for (const arch of ARCHES) {
    for (const regalloc of MODES) {
      const inst = await instantiate(module, arch, {}, regalloc);
      const out: bigint[] = [];
      for (let f = 0; f < funcs.length; f++) for (const [a, b] of ARGS) out.push(inst.call(f, [BigInt.asUintN(32, BigInt(a)), BigInt.asUintN(64, b)]));
      results.set(`${arch} ${regalloc}`, out);
      inst.machine.close?.();
    }
  }
  const reference = results.get('x64 none')!;
  for (const [config, out] of results) {
    const k = out.findIndex((v, i) => v !== reference[i]);
    if (k >= 0) {
      const f = Math.floor(k / ARGS.length);
      return t.fail(`${config}: seed ${SEEDS[f]} with args ${ARGS[k % ARGS.length].join(', ')} gave ${out[k]}, x64 none gave ${reference[k]}\n${funcs[f]}`);
    }
  }
  t.pass();
});
