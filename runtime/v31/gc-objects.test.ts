/**
 * The GC proposal under v31 on both arches and in both register-allocation modes: structs and
 * arrays allocated by compiled code through `gc_alloc_raw` in the DRC heap, their layouts as
 * wasmtime v31's `GcLayout` computes them, references held in fields across collections,
 * freeing through fields, cycles that DRC cannot collect, heap exhaustion, and the traps
 * v31 names (NullReference, ArrayOutOfBounds, CastFailure, AllocationTooLarge).
 */
import test from 'ava';
import { ARCHES, type Arch } from '../../isa/arch.ts';
import type { RegallocMode } from '../../compiler/regalloc/modes.ts';
import { CompileError } from '../../compiler/frontend/errors.ts';
import { renderDrcExplanation } from '../../gc/drc/v31-collector.ts';
import { VMDrcHeaderLayout, VMGcKind } from '../../compiler/v31/gc-layout.ts';
import { Engine } from '../engine.ts';
import { Module } from '../module.ts';
import { RuntimeError, WasmTrap } from '../errors.ts';
import { GcHeapOutOfMemoryError, V31Store, type V31GcReport, type V31StoreOptions } from './store.ts';
import { V31ExternRef, V31Func, V31Instance, type V31Results, type V31Val } from './instance.ts';

const WAT = `(module
  (import "env" "make" (func $make (param i32) (result externref)))
  (import "env" "gc" (func $gc))
  (type $box (struct (field $tag (mut externref)) (field $n i64) (field $b i8)))
  (type $node (struct (field $val i32) (field $next (mut (ref null $node)))))
  (type $ints (array (mut i32)))
  (type $nodes (array (mut (ref null $node))))
  (type $base (sub (struct (field i32))))
  (type $derived (sub $base (struct (field i32) (field i64))))

  ;; An externref held only by a struct field survives two collections; the struct only by a local.
  (func (export "box") (result externref)
    (local $b (ref null $box))
    (local.set $b (struct.new $box (call $make (i32.const 1)) (i64.const -5) (i32.const 200)))
    (call $gc)
    (drop (call $make (i32.const 2)))
    (call $gc)
    (struct.get $box $tag (local.get $b)))
  (func (export "box_fields") (result i64)
    (local $b (ref null $box))
    (local.set $b (struct.new $box (ref.null extern) (i64.const -5) (i32.const 200)))
    (i64.add (struct.get $box $n (local.get $b))
      (i64.add (i64.extend_i32_s (struct.get_s $box $b (local.get $b))) (i64.extend_i32_u (struct.get_u $box $b (local.get $b))))))
  ;; A list of n nodes built across collections; returns the sum of the values.
  (func $build (param $n i32) (result (ref null $node))
    (local $head (ref null $node))
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $head (struct.new $node (local.get $n) (local.get $head)))
      (if (i32.eqz (i32.rem_u (local.get $n) (i32.const 7))) (then (call $gc)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
    (local.get $head))
  (func $sum (param $p (ref null $node)) (result i32)
    (local $s i32)
    (block $end (loop $w
      (br_if $end (ref.is_null (local.get $p)))
      (local.set $s (i32.add (local.get $s) (struct.get $node $val (local.get $p))))
      (local.set $p (struct.get $node $next (local.get $p)))
      (br $w)))
    (local.get $s))
  (func (export "list") (param $n i32) (result i32)
    (local $l (ref null $node))
    (local.set $l (call $build (local.get $n)))
    (call $gc)
    (call $sum (local.get $l)))
  ;; Two nodes pointing at each other, then dropped: DRC leaks the cycle.
  (func (export "cycle")
    (local $a (ref null $node)) (local $b (ref null $node))
    (local.set $a (struct.new $node (i32.const 1) (ref.null none)))
    (local.set $b (struct.new $node (i32.const 2) (local.get $a)))
    (struct.set $node $next (local.get $a) (local.get $b)))
  (func (export "chain") (drop (call $build (i32.const 3))))
  (func (export "arrays") (param $n i32) (result i32)
    (local $a (ref null $ints)) (local $ns (ref null $nodes)) (local $i i32) (local $s i32)
    (local.set $a (array.new $ints (i32.const 3) (local.get $n)))
    (local.set $ns (array.new $nodes (struct.new $node (i32.const 40) (ref.null none)) (i32.const 2)))
    (call $gc)
    (array.set $ints (local.get $a) (i32.const 0) (i32.const 100))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (array.len (local.get $a))))
      (local.set $s (i32.add (local.get $s) (array.get $ints (local.get $a) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (i32.add (local.get $s)
      (i32.add (struct.get $node $val (array.get $nodes (local.get $ns) (i32.const 1)))
        (array.len (array.new_fixed $ints 3 (i32.const 1) (i32.const 2) (i32.const 3))))))
  (func (export "oob") (param i32) (result i32) (array.get $ints (array.new_default $ints (i32.const 4)) (local.get 0)))
  (func (export "null_get") (result i32) (struct.get $node $val (ref.null none)))
  (func (export "too_large") (param i32) (result i32) (array.len (array.new_default $ints (local.get 0))))
  (func (export "i31") (param i32) (result i32)
    (i32.add (i32.mul (i31.get_s (ref.i31 (local.get 0))) (i32.const 1000)) (i31.get_u (ref.i31 (i32.const -1)))))
  (func (export "classify") (param $k i32) (result i32)
    (local $r anyref)
    (local.set $r
      (if (result anyref) (i32.eq (local.get $k) (i32.const 0)) (then (ref.i31 (i32.const 9)))
        (else (if (result anyref) (i32.eq (local.get $k) (i32.const 1)) (then (struct.new $base (i32.const 1)))
          (else (if (result anyref) (i32.eq (local.get $k) (i32.const 2)) (then (struct.new $derived (i32.const 1) (i64.const 2)))
            (else (if (result anyref) (i32.eq (local.get $k) (i32.const 3)) (then (array.new_default $ints (i32.const 1)))
              (else (ref.null any))))))))))
    (i32.or (i32.shl (ref.test (ref i31) (local.get $r)) (i32.const 0))
    (i32.or (i32.shl (ref.test (ref eq) (local.get $r)) (i32.const 1))
    (i32.or (i32.shl (ref.test (ref struct) (local.get $r)) (i32.const 2))
    (i32.or (i32.shl (ref.test (ref array) (local.get $r)) (i32.const 3))
    (i32.or (i32.shl (ref.test (ref $base) (local.get $r)) (i32.const 4))
    (i32.or (i32.shl (ref.test (ref $derived) (local.get $r)) (i32.const 5))
    (i32.or (i32.shl (ref.test (ref null $derived) (local.get $r)) (i32.const 6))
            (i32.shl (ref.test (ref none) (local.get $r)) (i32.const 7))))))))))
  (func (export "cast") (param $k i32) (result i64)
    (struct.get $derived 1
      (ref.cast (ref $derived)
        (if (result (ref $base)) (local.get $k) (then (struct.new $derived (i32.const 1) (i64.const 2))) (else (struct.new $base (i32.const 1)))))))
  (func (export "eq") (result i32)
    (local $a eqref)
    (local.set $a (struct.new $base (i32.const 1)))
    (i32.add (i32.mul (ref.eq (local.get $a) (local.get $a)) (i32.const 10))
      (ref.eq (local.get $a) (struct.new $base (i32.const 1)))))
)`;

interface World {
  store: V31Store;
  inst: V31Instance;
  destroyed: unknown[];
  reports: V31GcReport[];
  call(name: string, ...args: V31Val[]): V31Results;
}

async function world(arch: Arch, regalloc: RegallocMode, options: V31StoreOptions<unknown> = {}): Promise<World> {
  const engine = new Engine({ arch, profile: 'v31', regalloc });
  const module = await Module.fromWat(engine, WAT);
  const reports: V31GcReport[] = [];
  const store = await V31Store.create(engine, { explainCollections: true, onCollection: (r) => reports.push(r), ...options });
  const destroyed: unknown[] = [];
  const make = V31Func.new(store, { params: ['i32'], results: ['externref'] }, (_c, n) => V31ExternRef.new(store, `made${n as number}`, (v) => destroyed.push(v)));
  const gc = V31Func.new(store, { params: [], results: [] }, () => {
    store.gc();
  });
  const inst = V31Instance.create(store, module, [make, gc]);
  return { store, inst, destroyed, reports, call: (name, ...args) => inst.getFunc(name).call(...args) };
}

const MODES: readonly RegallocMode[] = ['none', 'linear-scan'];

for (const arch of ARCHES) for (const mode of MODES) {
  const name = (what: string): string => `${arch}, ${mode}: ${what}`;

  test(name('a ref held only by a struct field survives collections; the struct is allocated with v31 layout'), async (t) => {
    const w = await world(arch, mode);
    try {
      const r = w.call('box') as V31ExternRef;
      t.is(r.value, 'made1');
      t.deepEqual(w.destroyed, ['made2']);
      // The box: DRC header 16, externref at 16, i64 at 24, i8 at 32, size rounded to 40.
      const boxes = w.store.gcHeap.liveObjects().map((o) => w.store.gcHeap.header(o)).filter((h) => h.kind === 'StructRef');
      t.is(boxes.length, 1);
      t.is(boxes[0].size, 40);
      t.is(boxes[0].kindWord, (VMGcKind.StructRef | 40) >>> 0);
      const explained = w.reports.map((rep) => rep.explanation).filter((e) => e !== undefined).map((e) => renderDrcExplanation(e!)).join('\n');
      t.regex(explained, /StructRef type \d+ \(struct \(mut externref\) i64 i8\), 40 bytes, count \d+, ref fields 0x[0-9a-f]+/);
      r.release();
      t.is(w.call('box_fields'), -5n + -56n + 200n);
      w.store.gc();
      t.deepEqual(w.destroyed, ['made2', 'made1'], 'freeing the box released its field');
    } finally {
      w.store.close();
    }
  });

  test(name('a list built across collections is whole; dropping it frees every node through the fields'), async (t) => {
    const w = await world(arch, mode);
    try {
      t.is(w.call('list', 30), 465);
      t.true(w.reports.length >= 5);
      w.store.gc();
      t.is(w.store.gcHeap.liveObjects().length, 0, 'no node is left once no frame or table holds the head');
      w.call('chain');
      w.store.gc();
      t.is(w.store.gcHeap.liveObjects().length, 0);
    } finally {
      w.store.close();
    }
  });

  test(name('DRC cannot collect a cycle of structs: two nodes pointing at each other stay after every collection'), async (t) => {
    const w = await world(arch, mode);
    try {
      w.call('cycle');
      w.store.gc();
      w.store.gc();
      const live = w.store.gcHeap.liveObjects().map((o) => w.store.gcHeap.header(o));
      t.is(live.length, 2);
      t.deepEqual(live.map((h) => h.refCount), [1n, 1n], 'each holds the only count of the other');
    } finally {
      w.store.close();
    }
  });

  test(name('arrays: new, new_fixed, get, set, len; an array of struct refs keeps them across a collection'), async (t) => {
    const w = await world(arch, mode);
    try {
      t.is(w.call('arrays', 5), 100 + 4 * 3 + 40 + 3, 'five elements of 3, the first set to 100; the node value 40; three fixed elements');
      w.store.gc();
      t.is(w.store.gcHeap.liveObjects().length, 0, 'the node array released its node (count 2: two elements)');
    } finally {
      w.store.close();
    }
  });

  test(name('traps: ArrayOutOfBounds, NullReference, AllocationTooLarge, CastFailure'), async (t) => {
    const w = await world(arch, mode);
    try {
      t.is(w.call('oob', 3), 0);
      t.like(t.throws(() => w.call('oob', 4), { instanceOf: WasmTrap }), { code: 'ArrayOutOfBounds' });
      t.like(t.throws(() => w.call('oob', -1), { instanceOf: WasmTrap }), { code: 'ArrayOutOfBounds' });
      t.like(t.throws(() => w.call('null_get'), { instanceOf: WasmTrap }), { code: 'NullReference' });
      t.like(t.throws(() => w.call('too_large', 1 << 25), { instanceOf: WasmTrap }), { code: 'AllocationTooLarge' });
      t.like(t.throws(() => w.call('too_large', -1), { instanceOf: WasmTrap }), { code: 'AllocationTooLarge' });
      t.is(w.call('cast', 1), 2n);
      t.like(t.throws(() => w.call('cast', 0), { instanceOf: WasmTrap }), { code: 'CastFailure' });
    } finally {
      w.store.close();
    }
  });

  test(name('i31, ref.eq and ref.test over every abstract and concrete case'), async (t) => {
    const w = await world(arch, mode);
    try {
      t.is(w.call('i31', -3), -3000 + 0x7fff_ffff);
      t.is(w.call('i31', 0x4000_0000), -0x4000_0000 * 1000 + 0x7fff_ffff | 0);
      t.is(w.call('eq'), 10);
      // bits: i31, eq, struct, array, $base, $derived, null $derived, none
      t.is(w.call('classify', 0), 0b0000_0011);
      t.is(w.call('classify', 1), 0b0001_0110);
      t.is(w.call('classify', 2), 0b0111_0110);
      t.is(w.call('classify', 3), 0b0000_1010);
      t.is(w.call('classify', 4), 0b0100_0000, 'null passes only the nullable test');
    } finally {
      w.store.close();
    }
  });

  test(name('heap exhaustion: arrays held by a frame fill the heap; v31 collects once, then GcHeapOutOfMemoryError'), async (t) => {
    const engine = new Engine({ arch, profile: 'v31', regalloc: mode });
    const module = await Module.fromWat(engine, `(module
      (type $ints (array (mut i64)))
      (type $keep (array (mut (ref null $ints))))
      (func (export "fill") (param $n i32) (result i32)
        (local $k (ref null $keep)) (local $i i32)
        (local.set $k (array.new_default $keep (local.get $n)))
        (block $done (loop $l
          (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
          (array.set $keep (local.get $k) (local.get $i) (array.new_default $ints (i32.const 1000)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $l)))
        (array.len (local.get $k))))`);
    const reports: V31GcReport[] = [];
    const store = await V31Store.create(engine, { gcHeapCapacity: 64 * 1024, onCollection: (r) => reports.push(r) });
    try {
      const inst = V31Instance.create(store, module, []);
      t.is(inst.getFunc('fill').call(7), 7, '7 arrays of 8,024 bytes fit the 64 KiB heap');
      const e = t.throws(() => inst.getFunc('fill').call(9), { instanceOf: GcHeapOutOfMemoryError });
      t.regex(e!.message, /no room for a 8024-byte object in the 65536-byte heap/);
      t.true(reports.some((r) => r.reason === 'heap-full'), 'a collection ran before giving up');
      store.gc();
      t.is(inst.getFunc('fill').call(3), 3, 'after the failed call the heap is usable again');
    } finally {
      store.close();
    }
  });
}

test('struct.new under v17 is a CompileError naming the profile; GC types at the host boundary are a RuntimeError', async (t) => {
  const wat = '(module (type $s (struct (field i32))) (func (export "f") (result i32) (struct.get $s 0 (struct.new $s (i32.const 1)))))';
  const e = await t.throwsAsync(Module.fromWat(new Engine({ arch: 'x64' }), wat), { instanceOf: CompileError });
  t.is(e!.kind, 'unsupported');
  t.regex(e!.message, /profile v17/);
  const engine = new Engine({ arch: 'x64', profile: 'v31' });
  const module = await Module.fromWat(engine, '(module (type $s (struct)) (func (export "g") (param (ref null $s))))');
  const store = await V31Store.create(engine);
  try {
    const inst = V31Instance.create(store, module, []);
    t.throws(() => inst.getFunc('g').call(null), { instanceOf: RuntimeError, message: /\(ref null 0\) values cannot cross the host boundary/ });
  } finally {
    store.close();
  }
  t.is(VMDrcHeaderLayout.size, 16);
});

test('an image keeps the GC type definitions (.stackscope.gctypes): subtype tests, layouts and freeing through fields run from it', async (t) => {
  for (const arch of ARCHES) {
    const engine = new Engine({ arch, profile: 'v31' });
    const image = (await Module.fromWat(engine, WAT)).image!.elf;
    const module = Module.fromImage(engine, image, 'gc.o');
    t.is(module.wasm.typeDefs.filter((d) => d.composite.kind === 'struct').length, 4);
    const store = await V31Store.create(engine);
    try {
      const make = V31Func.new(store, { params: ['i32'], results: ['externref'] }, (_c, n) => V31ExternRef.new(store, `made${n as number}`));
      const gc = V31Func.new(store, { params: [], results: [] }, () => void store.gc());
      const inst = V31Instance.create(store, module, [make, gc]);
      t.is(inst.getFunc('classify').call(2), 0b0111_0110);
      t.is(inst.getFunc('list').call(10), 55);
      store.gc();
      t.is(store.gcHeap.liveObjects().length, 0);
    } finally {
      store.close();
    }
  }
});

test('the field barriers count as v31 does: struct.new of a ref +1 (initialisation), struct.set over it -1 (write barrier), array.new of n copies +n', async (t) => {
  for (const arch of ARCHES) for (const mode of MODES) {
    const engine = new Engine({ arch, profile: 'v31', regalloc: mode });
    const module = await Module.fromWat(engine, `(module
      (import "env" "probe" (func $probe (param externref)))
      (type $box (struct (field $tag (mut externref))))
      (type $refs (array (mut externref)))
      (func (export "f") (param $r externref)
        (local $b (ref null $box)) (local $a (ref null $refs))
        (call $probe (local.get $r))
        (local.set $b (struct.new $box (local.get $r)))
        (call $probe (local.get $r))
        (struct.set $box $tag (local.get $b) (ref.null extern))
        (call $probe (local.get $r))
        (local.set $a (array.new $refs (local.get $r) (i32.const 3)))
        (call $probe (local.get $r))
        (array.set $refs (local.get $a) (i32.const 1) (ref.null extern))
        (call $probe (local.get $r))))`);
    const store = await V31Store.create(engine);
    try {
      const counts: bigint[] = [];
      const probe = V31Func.new(store, { params: ['externref'], results: [] }, (_c, r) => {
        counts.push(store.gcHeap.refCount((r as V31ExternRef).raw));
      });
      const inst = V31Instance.create(store, module, [probe]);
      const r = V31ExternRef.new(store, 'r');
      inst.getFunc('f').call(r);
      const deltas = counts.slice(1).map((c, i) => c - counts[i]);
      t.deepEqual(deltas, [1n, -1n, 3n, -1n], `${arch}, ${mode}: counts ${counts.join(' ')}`);
    } finally {
      store.close();
    }
  }
});
