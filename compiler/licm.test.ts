/**
 * Loop-invariant code motion (licm.ts): what moves and where to, what never moves, and that
 * `linear-scan` code with the motion computes what `none` computes — matmul against a
 * reference, and random loop programs (invariant and varying locals, `local.tee` writes,
 * reassociable addresses into memory, i64 arithmetic, calls in loops) on both arches.
 */
import test from 'ava';
import fc from 'fast-check';
import type { Arch } from '../isa/arch.ts';
import { hoistLoopInvariants } from './licm.ts';
import { compileModule } from './index.ts';
import { instantiate, u32, watModule } from './testing.ts';
import type { DefinedFunction, Instr } from './frontend/module.ts';
import { REGALLOC_MODES } from './index.ts';

const ARCHES = ['x64', 'aarch64'] as const satisfies readonly Arch[];

const MATMUL = `(module
  (memory (export "memory") 1)
  (func (export "matmul") (param $c i32) (param $a i32) (param $b i32) (param $n i32)
    (local $i i32) (local $j i32) (local $k i32) (local $s i32)
    (block $done
      (br_if $done (i32.le_s (local.get $n) (i32.const 0)))
      (loop $rows
        (local.set $j (i32.const 0))
        (loop $cols
          (local.set $s (i32.const 0))
          (local.set $k (i32.const 0))
          (loop $dot
            (local.set $s (i32.add (local.get $s)
              (i32.mul
                (i32.load (i32.add (local.get $a)
                  (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $k)) (i32.const 2))))
                (i32.load (i32.add (local.get $b)
                  (i32.shl (i32.add (i32.mul (local.get $k) (local.get $n)) (local.get $j)) (i32.const 2)))))))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br_if $dot (i32.lt_s (local.get $k) (local.get $n))))
          (i32.store (i32.add (local.get $c)
            (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 2)))
            (local.get $s))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br_if $cols (i32.lt_s (local.get $j) (local.get $n))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $rows (i32.lt_s (local.get $i) (local.get $n))))))
)`;

/** The instructions strictly inside the innermost loop that starts at or after `from`. */
function innermostLoop(body: readonly Instr[], from = 0): Instr[] {
  let start = -1;
  for (let i = from; i < body.length; i++) {
    const instr = body[i]!;
    if (instr.op === 'loop') start = i;
    if (instr.op === 'end' && start >= 0 && instr.opener === start) return body.slice(start + 1, i);
  }
  return [];
}

const ops = (instrs: readonly Instr[]): string => instrs.map((i) => ('local' in i ? `${i.op} ${i.local}` : i.op)).join(' ');

test('matmul: the row offset i*n and the address bases leave the dot loop; control indices stay matched', async (t) => {
  const module = await watModule(MATMUL);
  const fn = module.functions[0]!;
  const h = hoistLoopInvariants(fn)!;
  t.truthy(h);
  // a + (i*n << 2) and c + (i*n << 2) before the column loop, b + (j << 2) before the dot loop.
  t.is(h.hoisted, 3);
  t.is(h.fn.locals.length, fn.locals.length + 3);
  const dot = innermostLoop(h.fn.body);
  // One multiply for the products, one for k*n: i*n is gone from the loop.
  t.is(dot.filter((i) => i.op === 'i32.mul').length, 2, ops(dot));
  t.false(ops(dot).includes('local.get 4 local.get 3 i32.mul'), ops(dot));
  // The loop reads the hoisted bases (locals 8 and up), each address one scaled add.
  t.true(/local\.get (8|9|10) local\.get 6 i32\.const i32\.shl i32\.add i32\.load/.test(ops(dot)), ops(dot));
  // Every block's end and else point back at it; origins name the original body.
  h.fn.body.forEach((instr, k) => {
    if (instr.op === 'block' || instr.op === 'loop' || instr.op === 'if') t.is((h.fn.body[instr.end] as { opener: number }).opener, k);
  });
  t.is(h.origin.length, h.fn.body.length);
  h.origin.forEach((o, k) => {
    if (o >= 0) t.is(fn.body[o]!.op, h.fn.body[k]!.op);
  });
  // The compiled function's offsets are the original body's, in both modes.
  for (const regalloc of REGALLOC_MODES) {
    const image = compileModule(module, { arch: 'x64', regalloc });
    t.is(image.functions[0]!.instrOffsets.length, fn.body.length);
  }
});

for (const arch of ARCHES) {
  test(`${arch}: matmul with the motion computes what the reference computes (both modes)`, async (t) => {
    const module = await watModule(MATMUL);
    for (const regalloc of REGALLOC_MODES) {
      const inst = await instantiate(module, arch, {}, regalloc);
      for (const n of [0, 1, 3, 7]) {
        const [a, b, c] = [0, 1024, 2048];
        const A = Array.from({ length: n * n }, (_, k) => (k * 7 + 3) | 0);
        const B = Array.from({ length: n * n }, (_, k) => (k * 13 - 5) | 0);
        A.forEach((x, k) => inst.machine.writeU32(inst.memoryBase! + BigInt(a + 4 * k), x >>> 0));
        B.forEach((x, k) => inst.machine.writeU32(inst.memoryBase! + BigInt(b + 4 * k), x >>> 0));
        inst.call(0, [BigInt(c), BigInt(a), BigInt(b), BigInt(n)]);
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < n; j++) {
            let s = 0;
            for (let k = 0; k < n; k++) s = (s + Math.imul(A[i * n + k]!, B[k * n + j]!)) | 0;
            const got = inst.machine.readBytes(inst.memoryBase! + BigInt(c + 4 * (i * n + j)), 4);
            t.is(new DataView(got.buffer, got.byteOffset, 4).getInt32(0, true), s, `${regalloc} n=${n} c[${i}][${j}]`);
          }
        }
      }
      inst.machine.close?.();
    }
  });
}

test('nothing moves that traps, reads memory or a global, calls, or reads a local the loop writes', async (t) => {
  const module = await watModule(`(module
    (memory 1) (global $g (mut i32) (i32.const 5))
    (func $f (param i32) (result i32) (local.get 0))
    (func (param $x i32) (param $y i32) (result i32) (local $i i32) (local $s i32)
      (loop $l
        (local.set $s (i32.add (local.get $s) (i32.div_u (local.get $x) (local.get $y))))
        (local.set $s (i32.add (local.get $s) (i32.load (i32.add (local.get $x) (local.get $y)))))
        (local.set $s (i32.add (local.get $s) (i32.mul (global.get $g) (local.get $x))))
        (local.set $s (i32.add (local.get $s) (call $f (local.get $x))))
        (local.set $s (i32.add (local.get $s) (i32.mul (local.get $y) (local.tee $x (local.get $i)))))
        (local.set $s (i32.add (local.get $s) (i32.mul (local.get $i) (local.get $y))))
        (local.set $s (i32.add (local.get $s) (i32.add (local.get $x) (i32.shl (local.get $y) (i32.const 2)))))
        (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 10))))
      (local.get $s))
    (func (param $x i32) (param $y i32) (result i32)
      (return (local.get $x))
      (loop $dead (drop (i32.mul (local.get $x) (local.get $y))) (br $dead)))
  )`);
  // $x is written in the loop (local.tee), so nothing over it is invariant; the shift fuses into its add.
  t.is(hoistLoopInvariants(module.functions[1]!), undefined);
  // A loop in dead code is left as it is.
  t.is(hoistLoopInvariants(module.functions[2]!), undefined);
});

test('an expression goes before the outermost loop it is invariant in; equal ones share a local', async (t) => {
  const module = await watModule(`(module
    (func (param $n i32) (param $m i32) (result i32) (local $i i32) (local $j i32) (local $s i32)
      (loop $outer
        (local.set $j (i32.const 0))
        (loop $inner
          (local.set $s (i32.add (local.get $s) (i32.xor (i32.mul (local.get $n) (local.get $m)) (local.get $j))))
          (local.set $s (i32.sub (local.get $s) (i32.mul (local.get $n) (local.get $m))))
          (local.set $s (i32.add (local.get $s) (i32.mul (local.get $i) (local.get $m))))
          (br_if $inner (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (i32.const 4))))
        (br_if $outer (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 3))))
      (local.get $s))
  )`);
  const fn = module.functions[0]!;
  const h = hoistLoopInvariants(fn)!;
  // n*m (twice, one local) before the outer loop; i*m before the inner one.
  t.is(h.hoisted, 2);
  const body = h.fn.body;
  const outer = body.findIndex((i) => i.op === 'loop');
  const inner = body.findIndex((i, k) => k > outer && i.op === 'loop');
  t.is(ops(body.slice(0, outer)), 'local.get 0 local.get 1 i32.mul local.set 5');
  t.is(ops(body.slice(inner - 4, inner)), 'local.get 2 local.get 1 i32.mul local.set 6');
  t.is(ops(innermostLoop(body)).match(/i32\.mul/g), null);
  for (const arch of ARCHES) {
    const got = await Promise.all(REGALLOC_MODES.map(async (regalloc) => (await instantiate(module, arch, {}, regalloc)).call(0, [6n, 7n])));
    t.is(u32(got[1]!), u32(got[0]!), arch);
  }
});

test('a shift that fuses into its add stays in the loop; its invariant operand moves', async (t) => {
  const module = await watModule(`(module
    (func (param $n i32) (param $m i32) (result i32) (local $k i32) (local $s i32)
      (loop $l
        (local.set $s (i32.xor (local.get $s) (i32.add (local.get $k) (i32.shl (i32.mul (local.get $n) (local.get $m)) (i32.const 2)))))
        (br_if $l (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1))) (i32.const 10))))
      (local.get $s))
  )`);
  const h = hoistLoopInvariants(module.functions[0]!)!;
  t.is(h.hoisted, 1);
  t.is(ops(innermostLoop(h.fn.body)).split(' local.set 3')[0], 'local.get 3 local.get 2 local.get 4 i32.const i32.shl i32.add i32.xor');
  for (const arch of ARCHES) {
    const got = await Promise.all(REGALLOC_MODES.map(async (regalloc) => (await instantiate(module, arch, {}, regalloc)).call(0, [6n, 0x4000_0007n])));
    t.is(u32(got[1]!), u32(got[0]!), arch);
  }
});

test('call sites keep the original instruction index', async (t) => {
  const module = await watModule(`(module
    (func $f (param i32) (result i32) (local.get 0))
    (func (param $n i32) (param $m i32) (result i32) (local $i i32) (local $s i32)
      (loop $l
        (local.set $s (i32.add (local.get $s) (call $f (i32.mul (local.get $n) (local.get $m)))))
        (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 10))))
      (local.get $s))
  )`);
  const fn = module.functions[1]!;
  t.truthy(hoistLoopInvariants(fn));
  for (const arch of ARCHES) {
    const compiled = compileModule(module, { arch, regalloc: 'linear-scan' }).functions[1]!;
    t.is(compiled.callSites.length, 1);
    t.is(fn.body[compiled.callSites[0]!.instrIndex]!.op, 'call');
    t.is(compiled.instrOffsets.length, fn.body.length);
  }
});

test('stack maps: a loop with hoisted values maps the references live across its calls as none does', async (t) => {
  const module = await watModule(`(module
    (func $keep (param externref) (result i32) (i32.const 1))
    (func (param $r externref) (param $n i32) (param $m i32) (result i32) (local $i i32) (local $s i32) (local $q externref)
      (local.set $q (local.get $r))
      (loop $l
        (local.set $s (i32.add (local.get $s) (i32.mul (local.get $n) (local.get $m))))
        (local.set $s (i32.add (local.get $s) (call $keep (local.get $q))))
        (local.set $s (i32.add (local.get $s) (i32.xor (local.get $i) (i32.shl (local.get $m) (i32.const 3)))))
        (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
      (i32.add (local.get $s) (ref.is_null (local.get $r))))
  )`);
  const fn = module.functions[1]!;
  t.is(hoistLoopInvariants(fn)!.hoisted, 2);
  for (const arch of ARCHES) {
    const [none, allocated] = REGALLOC_MODES.map((regalloc) => compileModule(module, { arch, regalloc }).functions[1]!);
    t.deepEqual(allocated!.callSites.map((s) => [s.instrIndex, s.kind, s.liveSlots.length]), none!.callSites.map((s) => [s.instrIndex, s.kind, s.liveSlots.length]), arch);
    // r and q live across the call, each in its own spill slot.
    const call = allocated!.callSites.find((s) => s.kind === 'call')!;
    t.is(new Set(call.liveSlots).size, 2, arch);
    t.true(call.liveSlots.every((slot) => slot >= allocated!.frame.stackBase && slot < allocated!.frame.localsBase), arch);
  }
});

/**
 * Random loop programs: three i32 parameters, locals 3–5 (i32, set before the loops), 6 (i64),
 * loop counters 7 and 8, accumulator 9. Loop bodies mix expressions over invariant and varying
 * locals, `local.tee` writes, loads and stores whose address has the reassociable shape
 * x + ((y + z) << k) (masked into the first page), i64 arithmetic and calls.
 */
function loopProgram(): fc.Arbitrary<string> {
  const local32 = fc.constantFrom(0, 1, 2, 3, 4, 5, 7, 8, 9);
  const leaf = fc.oneof(local32.map((l) => `(local.get ${l})`), fc.integer({ min: -9, max: 1000 }).map((c) => `(i32.const ${c})`));
  const { e } = fc.letrec<{ e: string }>((tie) => ({
    e: fc.oneof(
      { depthSize: 'small', maxDepth: 4 },
      leaf,
      fc.tuple(fc.constantFrom('add', 'sub', 'mul', 'and', 'or', 'xor', 'shl', 'shr_u', 'shr_s', 'rotl'), tie('e'), tie('e')).map(([op, a, b]) => `(i32.${op} ${a} ${b})`),
      fc.tuple(tie('e'), tie('e'), tie('e'), fc.integer({ min: 0, max: 3 })).map(([x, y, z, k]) =>
        `(i32.load (i32.add (i32.and ${x} (i32.const 0xffc)) (i32.shl (i32.add (i32.and ${y} (i32.const 0xff)) (i32.and ${z} (i32.const 0xff))) (i32.const ${k}))))`),
      fc.tuple(tie('e'), tie('e')).map(([a, b]) => `(i32.wrap_i64 (i64.add (local.get 6) (i64.shl (i64.add (i64.extend_i32_u ${a}) (i64.extend_i32_s ${b})) (i64.const 3))))`),
      fc.tuple(fc.constantFrom(3, 4, 5, 9), tie('e')).map(([l, a]) => `(local.tee ${l} ${a})`),
      tie('e').map((a) => `(call $mix ${a})`),
    ),
  }));
  const stmt = fc.oneof(
    e.map((x) => `(local.set 9 (i32.add (local.get 9) ${x}))`),
    fc.tuple(e, e, e, e).map(([x, y, z, v]) => `(i32.store (i32.add (i32.and ${x} (i32.const 0xffc)) (i32.shl (i32.add (i32.and ${y} (i32.const 0xff)) (i32.and ${z} (i32.const 0xff))) (i32.const 2))) ${v})`),
  );
  const loop = (counter: number, body: string[], trips: number): string =>
    `(local.set ${counter} (i32.const 0)) (loop ${body.join(' ')} (br_if 0 (i32.lt_u (local.tee ${counter} (i32.add (local.get ${counter}) (i32.const 1))) (i32.const ${trips}))))`;
  return fc.tuple(fc.array(stmt, { minLength: 1, maxLength: 3 }), fc.array(stmt, { minLength: 1, maxLength: 3 }), fc.array(stmt, { maxLength: 2 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 }))
    .map(([inner, outer, after, t1, t2]) => `(func (param i32 i32 i32) (result i32) (local i32 i32 i32 i64 i32 i32 i32)
      (local.set 3 (i32.mul (local.get 0) (i32.const 3))) (local.set 4 (i32.xor (local.get 1) (local.get 2)))
      (local.set 5 (i32.const 77)) (local.set 6 (i64.const 0x123456789))
      ${loop(7, [...outer, loop(8, inner, t2)], t1)}
      ${after.join(' ')}
      (local.get 9))`);
}

test('property: with the motion, linear-scan computes what none computes on random loop programs (both arches)', async (t) => {
  const funcs = fc.sample(loopProgram(), { numRuns: 40, seed: 17 });
  const module = await watModule(`(module (memory 1)
    (func $mix (param i32) (result i32) (i32.add (i32.rotl (local.get 0) (i32.const 5)) (i32.const 0x9e37)))
    ${funcs.join('\n')})`);
  // The motion fires on most of these programs (else this test would not test it).
  const moved = module.functions.slice(1).filter((f: DefinedFunction) => hoistLoopInvariants(f) !== undefined).length;
  t.true(moved >= funcs.length / 2, `${moved} of ${funcs.length}`);
  const args: [bigint, bigint, bigint][] = [[0n, 0n, 0n], [5n, 0xfffffff0n, 12n], [0x8000_0000n, 77n, 0x1234_5678n]];
  const results = new Map<string, string[]>();
  for (const arch of ARCHES) {
    for (const regalloc of REGALLOC_MODES) {
      const inst = await instantiate(module, arch, {}, regalloc);
      const out: string[] = [];
      for (let f = 1; f <= funcs.length; f++) {
        for (const a of args) {
          try {
            out.push(String(u32(inst.call(f, a))));
          } catch (e) {
            out.push(`trap ${(e as Error).message}`);
          }
        }
      }
      results.set(`${arch} ${regalloc}`, out);
      inst.machine.close?.();
    }
  }
  const reference = results.get('x64 none')!;
  for (const [config, out] of results) {
    const k = out.findIndex((v, i) => v !== reference[i]);
    if (k >= 0) return t.fail(`${config}: function ${Math.floor(k / args.length) + 1} args ${args[k % args.length]!.join(', ')}: ${out[k]} (x64 none: ${reference[k]})\n${funcs[Math.floor(k / args.length)]}`);
  }
  t.pass();
});
