/**
 * Multi-value end to end, on both arches and in both register-allocation modes: functions with
 * several results (past the return registers: the return area), calls, call_indirect, blocks
 * with type indices, host functions with several results (Func.wrap and Func.new), the entry
 * trampolines (Func.call and Func.callNative return every result), and exact stack maps when
 * references travel through the return area while collections run.
 */
import test from 'ava';
import { Engine, Store, Module, Instance, Func, ExternRef } from '../index.ts';
import { RuntimeError } from './errors.ts';
import { storeInternals } from './store.ts';
import { ARCHES } from './testing.ts';
import { REGALLOC_MODES } from '../compiler/function.ts';
import { callStackBytes, returnConvention } from '../compiler/codegen/returns.ts';

const TEN = 'i32 i32 i32 i32 i32 i32 i32 i32 i32 i32';

const NUMBERS = `(module
  (import "h" "pair" (func $pair (param i32) (result i32 i64)))
  (import "h" "many" (func $many (param i64) (result i64 i32 i64 i32 i64 i32 i64 i32 i64 i32)))
  (type $ten (func (param i32) (result ${TEN})))
  (func $swap (export "swap") (param i32 i64) (result i64 i32) (local.get 1) (local.get 0))
  (func $ten (export "ten") (type $ten)
    (i32.add (local.get 0) (i32.const 1)) (i32.add (local.get 0) (i32.const 2)) (i32.add (local.get 0) (i32.const 3))
    (i32.add (local.get 0) (i32.const 4)) (i32.add (local.get 0) (i32.const 5)) (i32.add (local.get 0) (i32.const 6))
    (i32.add (local.get 0) (i32.const 7)) (i32.add (local.get 0) (i32.const 8)) (i32.add (local.get 0) (i32.const 9))
    (i32.add (local.get 0) (i32.const 10)))
  ;; Seven parameters: the return-area pointer is a stack argument on both arches.
  (func $wide (export "wide") (param i64 i64 i64 i64 i64 i64 i64) (result ${TEN})
    (i32.wrap_i64 (local.get 0)) (i32.wrap_i64 (local.get 1)) (i32.wrap_i64 (local.get 2)) (i32.wrap_i64 (local.get 3))
    (i32.wrap_i64 (local.get 4)) (i32.wrap_i64 (local.get 5)) (i32.wrap_i64 (local.get 6))
    (i32.const -1) (i32.const -2) (i32.const -3))
  (func (export "sum_wide") (result i32)
    (call $wide (i64.const 1) (i64.const 2) (i64.const 3) (i64.const 4) (i64.const 5) (i64.const 6) (i64.const 7))
    i32.sub i32.sub i32.sub i32.sub i32.sub i32.sub i32.sub i32.sub i32.sub)
  (func (export "sum_ten") (param i32) (result i32)
    (call $ten (local.get 0))
    i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add i32.add)
  (func (export "use_swap") (param i32 i64) (result i64)
    (call $swap (local.get 0) (local.get 1))
    i64.extend_i32_u i64.sub)
  (func (export "host_pair") (param i32) (result i64) (local i64)
    (call $pair (local.get 0)) (local.set 1) (i64.extend_i32_u) (local.get 1) (i64.add))
  (func (export "host_many") (result i64 i32 i64 i32 i64 i32 i64 i32 i64 i32)
    (call $many (i64.const 5)))
  (table 1 funcref) (elem (i32.const 0) $ten)
  (func (export "indirect") (param i32) (result i32)
    (call_indirect (type $ten) (local.get 0) (i32.const 0))
    i32.sub i32.sub i32.sub i32.sub i32.sub i32.sub i32.sub i32.sub i32.sub)
  (func (export "block") (param i32) (result i32 i32)
    (local.get 0)
    (block (param i32) (result i32 i32) (i32.const 7)))
  (func (export "early") (param i32) (result i32 i64 i32)
    (if (local.get 0) (then (return (i32.const 1) (i64.const 2) (i32.const 3))))
    (i32.const 4) (i64.const 5) (i32.const 6)))`;

test('the return convention: rax, rdx / x0–x7, then 8-byte slots of a 16-aligned area above the stack arguments', (t) => {
  const ten = Array<string>(10).fill('i32');
  t.deepEqual(returnConvention('x64', ten).inRegisters.map((r) => r.reg), ['rax', 'rdx']);
  t.deepEqual(returnConvention('x64', ten).inArea.map((r) => [r.index, r.offset]), [[2, 0], [3, 8], [4, 16], [5, 24], [6, 32], [7, 40], [8, 48], [9, 56]]);
  t.is(returnConvention('x64', ten).areaBytes, 64);
  t.deepEqual(returnConvention('aarch64', ten).inArea.map((r) => [r.index, r.offset]), [[8, 0], [9, 8]]);
  t.is(returnConvention('aarch64', ['i32', 'i64', 'i32']).areaBytes, 0);
  t.is(returnConvention('x64', ['i32', 'i64', 'i32']).areaBytes, 16);
  // Seven i64 parameters and ten results on x64: rdi, rsi + 4 registers, 3 stack words (the
  // third is the area pointer), the area at 32 (24 rounded up to 16).
  t.deepEqual(callStackBytes('x64', Array(7).fill('i64'), ten), { total: 96, areaBase: 32, convention: returnConvention('x64', ten) });
  t.deepEqual(callStackBytes('aarch64', Array(7).fill('i64'), ten).areaBase, 16);
  t.is(callStackBytes('x64', ['i32'], ['i32']).total, 0, 'one result: no area, no pointer');
});

for (const arch of ARCHES) {
  for (const regalloc of REGALLOC_MODES) {
    test(`${arch} ${regalloc}: functions, calls, call_indirect, blocks and host functions with several results`, async (t) => {
      const engine = new Engine({ arch, regalloc });
      const store = await Store.create(engine);
      const module = await Module.fromWat(engine, NUMBERS);
      const pair = Func.wrap(store, { params: ['i32'], results: ['i32', 'i64'] }, (_c, x) => [(x as number) * 2, 100n]);
      const many = Func.new(store, { params: ['i64'], results: ['i64', 'i32', 'i64', 'i32', 'i64', 'i32', 'i64', 'i32', 'i64', 'i32'] },
        (_c, x) => [x as bigint, 2, 3n, 4, 5n, 6, 7n, 8, 9n, -10]);
      const inst = Instance.create(store, module, [pair, many]);
      const f = (name: string) => inst.getFunc(name);
      t.deepEqual(f('swap').call(1, 2n), [2n, 1]);
      t.deepEqual(f('swap').callNative(-4, 5n), [5n, -4]);
      t.deepEqual(f('ten').call(5), [6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
      t.deepEqual(f('ten').callNative(1), [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
      t.deepEqual(f('wide').call(1n, 2n, 3n, 4n, 5n, 6n, 7n), [1, 2, 3, 4, 5, 6, 7, -1, -2, -3]);
      t.deepEqual(f('wide').callNative(1n, 2n, 3n, 4n, 5n, 6n, 0x1_0000_0007n), [1, 2, 3, 4, 5, 6, 7, -1, -2, -3]);
      t.is(f('sum_wide').call(), 1 - (2 - (3 - (4 - (5 - (6 - (7 - (-1 - (-2 - -3)))))))));
      t.is(f('sum_ten').call(0), 55);
      t.is(f('use_swap').call(3, 10n), 7n);
      t.is(f('host_pair').call(21), 142n);
      t.deepEqual(f('host_many').call(), [5n, 2, 3n, 4, 5n, 6, 7n, 8, 9n, -10]);
      t.is(f('indirect').call(0), -5);
      t.deepEqual(f('block').call(3), [3, 7]);
      t.deepEqual(f('early').call(1), [1, 2n, 3]);
      t.deepEqual(f('early').call(0), [4, 5n, 6]);
      // Host functions called from the host give all their results too.
      t.deepEqual(pair.call(4), [8, 100n]);
      store.close();
    });

    test(`${arch} ${regalloc}: references returned through the return area stay mapped while collections run`, async (t) => {
      const engine = new Engine({ arch, regalloc });
      const store = await Store.create(engine);
      // $make returns (externref i32 externref ... externref): on x64 the refs past rax/rdx, on
      // AArch64 the two past x0–x7, travel through the return area. Every reference is made by
      // the host and handed over (moved), so only Wasm frames hold them while collections run.
      const module = await Module.fromWat(engine, `(module
        (import "h" "gc" (func $gc))
        (import "h" "new" (func $new (param i32) (result externref i32 externref)))
        (func $make (param i32) (result externref i32 i64 i32 i32 i32 i32 i32 externref externref)
          (local externref externref externref) (local $n i32)
          (call $new (local.get 0)) (local.set 2) (local.set $n) (local.set 1)
          (call $new (i32.add (local.get 0) (i32.const 10))) (local.set 3) (drop) (drop)
          (call $gc)
          (local.get 1) (local.get $n) (i64.const 7) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
          (local.get 2) (local.get 3))
        (func (export "run") (param i32) (result externref externref externref i32)
          (local externref externref externref)
          (call $make (local.get 0))
          (local.set 3) (local.set 2) (drop) (drop) (drop) (drop) (drop) (drop) (drop) (local.set 1)
          (call $gc)
          (local.get 1) (local.get 2) (local.get 3) (i32.const 99)))`);
      let collections = 0;
      const gc = Func.wrap(store, { params: [], results: [] }, (caller) => {
        caller.gc();
        collections++;
      });
      const made = new Map<string, bigint>();
      const fresh = Func.wrap(store, { params: ['i32'], results: ['externref', 'i32', 'externref'] }, (_c, n) => {
        const a = ExternRef.new(store, `a${n}`);
        const b = ExternRef.new(store, `b${n}`);
        made.set(`a${n}`, a.pointer);
        made.set(`b${n}`, b.pointer);
        return [a, n as number, b];
      });
      const inst = Instance.create(store, module, [gc, fresh]);
      const out = inst.getFunc('run').call(1) as [ExternRef, ExternRef, ExternRef, number];
      t.is(collections, 2);
      t.deepEqual(out.slice(0, 3).map((r) => (r as ExternRef).value), ['a1', 'b1', 'b11']);
      t.deepEqual(out.slice(0, 3).map((r) => (r as ExternRef).pointer), [made.get('a1'), made.get('b1'), made.get('b11')]);
      t.is(out[3], 99);
      for (const r of out.slice(0, 3)) (r as ExternRef).release();
      store.gc();
      t.is(storeInternals(store).externRefHeap.liveCount, 0, 'a11 (dropped) and the returned ones are all freed in the end');
      store.close();
    });
  }

  test(`${arch}: float results (in float registers with linear-scan) travel as bits through registers, the return area, tail calls and host functions`, async (t) => {
    const wat = `(module
      (import "h" "fp" (func $fp (param f64) (result f64 f32 f64)))
      (func $mk (param $x f64) (result f64 f32 f64 i32 f64 f32 f64 f64 f64 f32)
        (f64.add (local.get $x) (f64.const 1.5)) (f32.const 2.25) (f64.mul (local.get $x) (f64.const 2))
        (i32.const 7) (f64.const 3.5) (f32.const -1) (f64.neg (local.get $x)) (f64.const 8) (f64.const 9) (f32.const 10.5))
      (func (export "sum") (param $x f64) (result f64) (local $a f64) (local $t f64)
        (call $mk (local.get $x))
        (f64.promote_f32) (f64.add) (f64.add) (f64.add) (local.set $a)
        (f64.promote_f32) (f64.add) (local.get $a) (f64.add) (local.set $a)
        (drop) (local.set $t) (f64.promote_f32) (f64.add) (local.get $t) (f64.add) (local.get $a) (f64.add))
      (func (export "tail") (param f64) (result f64 f32 f64 i32 f64 f32 f64 f64 f64 f32) (return_call $mk (local.get 0)))
      (func (export "host") (param f64) (result f64 f32 f64) (call $fp (local.get 0))))`;
    for (const regalloc of REGALLOC_MODES) {
      const engine = new Engine({ arch, regalloc });
      const store = await Store.create(engine);
      const fp = Func.wrap(store, { params: ['f64'], results: ['f64', 'f32', 'f64'] }, (_c, x) => [(x as number) / 2, 0.5, -(x as number)]);
      const inst = Instance.create(store, await Module.fromWat(engine, wat), [fp]);
      t.is(inst.getFunc('sum').call(1), 35.75, regalloc);
      t.deepEqual(inst.getFunc('tail').call(2), [3.5, 2.25, 4, 7, 3.5, -1, -2, 8, 9, 10.5], regalloc);
      t.deepEqual(inst.getFunc('host').call(3), [1.5, 0.5, -3], regalloc);
      store.close();
    }
  });

  test(`${arch}: a host function with several results must return an array of that many values`, async (t) => {
    const engine = new Engine({ arch });
    const store = await Store.create(engine);
    const bad = Func.wrap(store, { params: [], results: ['i32', 'i32'] }, () => 1);
    const module = await Module.fromWat(engine, '(module (import "h" "bad" (func $bad (result i32 i32))) (func (export "f") (result i32 i32) (call $bad)))');
    const inst = Instance.create(store, module, [bad]);
    const e = t.throws(() => inst.getFunc('f').call());
    t.regex(String(e?.message ?? ''), /returned number 1, an array of 2 results expected \(i32, i32\)/);
    t.truthy(e instanceof RuntimeError || (e as { cause?: unknown })?.cause instanceof RuntimeError || /RuntimeError|HostError/.test(String(e?.name)));
    store.close();
  });
}
