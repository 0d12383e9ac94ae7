/**
 * Several results under the v31 profile, on both arches and in both register-allocation modes:
 * the host calls functions with several results (`V31Func.call` returns them in order, the ones
 * past the return registers read back from the return area by the entry trampoline), Wasm calls
 * host functions with several results (`V31Func.new` returning an array), and externrefs travel
 * among the results while collections run, with their counts exact afterwards.
 */
import test from 'ava';
import { ARCHES } from '../../isa/arch.ts';
import { REGALLOC_MODES } from '../../compiler/function.ts';
import { Engine } from '../engine.ts';
import { RuntimeError } from '../errors.ts';
import { Module } from '../module.ts';
import { V31Store } from './store.ts';
import { V31ExternRef, V31Func, V31Instance, type V31Val } from './instance.ts';

const TEN = 'i64 i32 i64 i32 i64 i32 i64 i32 i64 i32';

const WAT = `(module
  (import "h" "many" (func $many (param i64) (result ${TEN})))
  (import "h" "refs" (func $refs (param i32) (result i32 externref externref)))
  (import "env" "gc" (func $gc))
  (func (export "swap") (param i32 i64) (result i64 i32) (local.get 1) (local.get 0))
  ;; Ten results: past rax, rdx on x64 and past x0-x7 on AArch64.
  (func (export "ten") (param i64) (result ${TEN})
    (local.get 0) (i32.const 1) (i64.add (local.get 0) (i64.const 2)) (i32.const 3) (i64.const -4)
    (i32.const 5) (i64.const 6) (i32.const -7) (i64.const 0x7fffffffffffffff) (i32.const 9))
  (func (export "floats") (param f32 f64) (result f64 f32 i32)
    (local.get 1) (local.get 0) (i32.const 3))
  (func (export "host_many") (result ${TEN}) (call $many (i64.const 5)))
  ;; Refs as results past the return registers, a collection in between, and nine i32 results
  ;; before them on AArch64's registers: the refs must come back with their counts.
  (func (export "refs") (param externref externref) (result i32 i32 i32 i32 i32 i32 i32 i32 i32 externref externref)
    (call $gc)
    (i32.const 1) (i32.const 2) (i32.const 3) (i32.const 4) (i32.const 5) (i32.const 6) (i32.const 7) (i32.const 8) (i32.const 9)
    (local.get 1) (local.get 0))
  ;; A host function's externref results, kept across a collection in locals.
  (func (export "host_refs") (result i32 externref externref) (local $a externref) (local $b externref) (local $n i32)
    (call $refs (i32.const 3))
    (local.set $b) (local.set $a) (local.set $n)
    (call $gc)
    (local.get $n) (local.get $a) (local.get $b)))`;

for (const arch of ARCHES) {
  for (const regalloc of REGALLOC_MODES) {
    test(`${arch}, ${regalloc}: the host calls v31 functions with several results, and Wasm calls host functions with several`, async (t) => {
      const engine = new Engine({ arch, profile: 'v31', regalloc });
      const store = await V31Store.create(engine);
      const destroyed: unknown[] = [];
      try {
        const many = V31Func.new(store, { params: ['i64'], results: TEN.split(' ') as never }, (_c, x) => {
          const n = x as bigint;
          return [n, 1, n * 2n, 3, -n, 5, 6n, 7, n ** 20n % 2n ** 63n, -9];
        });
        const refs = V31Func.new(store, { params: ['i32'], results: ['i32', 'externref', 'externref'] }, (_c, n) => [
          n as number, V31ExternRef.new(store, 'first', (v) => destroyed.push(v)), V31ExternRef.new(store, 'second', (v) => destroyed.push(v)),
        ]);
        const gc = V31Func.new(store, { params: [], results: [] }, () => void store.gc());
        const inst = V31Instance.create(store, await Module.fromWat(engine, WAT), [many, refs, gc]);
        const call = (name: string, ...args: V31Val[]) => inst.getFunc(name).call(...args);
        t.deepEqual(call('swap', 7, 9n), [9n, 7]);
        t.deepEqual(call('ten', 100n), [100n, 1, 102n, 3, -4n, 5, 6n, -7, 0x7fff_ffff_ffff_ffffn, 9]);
        t.deepEqual(call('floats', 1.5, -0.25), [-0.25, 1.5, 3]);
        t.deepEqual(call('host_many'), [5n, 1, 10n, 3, -5n, 5, 6n, 7, 5n ** 20n % 2n ** 63n, -9]);
        // Refs through the return area across a collection: each result is a new handle.
        const a = V31ExternRef.new(store, 'a', (v) => destroyed.push(v));
        const b = V31ExternRef.new(store, 'b', (v) => destroyed.push(v));
        const r = call('refs', a, b) as V31Val[];
        t.deepEqual(r.slice(0, 9), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
        t.is((r[9] as V31ExternRef).value, 'b');
        t.is((r[10] as V31ExternRef).value, 'a');
        const h = call('host_refs') as V31Val[];
        t.is(h[0], 3);
        t.deepEqual([(h[1] as V31ExternRef).value, (h[2] as V31ExternRef).value], ['first', 'second']);
        t.deepEqual(destroyed, [], 'every ref was held across the collections');
        for (const x of [a, b, ...r, ...h]) if (x instanceof V31ExternRef) x.release();
        store.gc();
        t.deepEqual(destroyed.sort(), ['a', 'b', 'first', 'second'], 'and every count was given back');
        t.deepEqual(store.gcHeap.stats().liveObjects, 0);
      } finally {
        store.close();
      }
    });
  }

  test(`${arch}: a v31 host function with several results must return an array of that many (RuntimeError otherwise)`, async (t) => {
    const engine = new Engine({ arch, profile: 'v31' });
    const store = await V31Store.create(engine);
    try {
      let answer: unknown = 1;
      const pair = V31Func.new(store, { params: [], results: ['i32', 'externref'] }, () => answer as V31Val[]);
      const inst = V31Instance.create(store, await Module.fromWat(engine, `(module
        (import "h" "pair" (func $pair (result i32 externref)))
        (func (export "f") (result i32 externref) (call $pair)))`), [pair]);
      const e = t.throws(() => inst.getFunc('f').call(), { instanceOf: RuntimeError });
      t.regex(e!.message, /host function.*returned number 1; \(\) -> \(i32, externref\) needs an array of 2 results/);
      answer = [1, 'not a ref'];
      t.regex(t.throws(() => inst.getFunc('f').call())!.message, /result 1.*expected V31ExternRef or null/);
      answer = [1, null];
      t.deepEqual(inst.getFunc('f').call(), [1, null]);
    } finally {
      store.close();
    }
  });
}
