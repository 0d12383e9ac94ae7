/**
 * v31 scenarios on both arches: compiled v31 code (DRC barriers, user stack maps) running in a
 * V31Store, with the GC heap's counts read where compiled code keeps them. The numbers are
 * wasmtime v31.0.0's: an externref object is 24 bytes (VMDrcHeader 16 + host-data id), the free
 * list hands out 8-aligned blocks from index 8, a new object's count is 1, the activations table
 * starts with an empty chunk and its first sweep allocates 1024 slots
 * (crates/wasmtime/src/runtime/vm/gc/enabled/drc.rs, free_list.rs); the barriers are
 * crates/cranelift/src/gc/enabled/drc.rs's.
 */
import test from 'ava';
import { ARCHES, type Arch } from '../../isa/arch.ts';
import { V31StackWalkError } from '../../gc/drc/walk.ts';
import { ImageFormatError } from '../../compiler/image-reader.ts';
import { USER_STACK_MAP_TYPES } from '../../compiler/user-stackmaps.ts';
import { readElf } from '../../loader/elf.ts';
import { renderDrcExplanation } from '../../gc/drc/v31-collector.ts';
import { Engine } from '../engine.ts';
import type { RegallocMode } from '../../compiler/regalloc/modes.ts';
import { Module } from '../module.ts';
import { WasmTrap } from '../errors.ts';
import { GcHeapOutOfMemoryError, V31Store, type V31GcReport, type V31StoreOptions } from './store.ts';
import { V31ExternRef, V31Func, V31Instance, type V31Val } from './instance.ts';

const REFS = `(module
  (import "env" "make" (func $make (param i32) (result externref)))
  (import "env" "gc" (func $gc))
  (table $t (export "t") 4 externref)
  (global $g (export "g") (mut externref) (ref.null extern))
  ;; Holds its argument and a made ref in locals across two collections.
  (func (export "hold") (param $a externref) (result externref)
    (local $b externref)
    (local.set $b (call $make (i32.const 1)))
    (call $gc)
    (drop (call $make (i32.const 2)))
    (call $gc)
    (table.set $t (i32.const 0) (local.get $b))
    (local.get $a))
  (func (export "set") (param i32 externref) (table.set $t (local.get 0) (local.get 1)))
  (func (export "get") (param i32) (result externref) (table.get $t (local.get 0)))
  (func (export "setg") (param externref) (global.set $g (local.get 0)))
  (func (export "getg") (result externref) (global.get $g))
  (func (export "copy") (param i32 i32) (table.set $t (local.get 1) (table.get $t (local.get 0))))
  (func $deep (export "deep") (param $n i32) (param $r externref) (result externref)
    (if (result externref) (i32.eqz (local.get $n))
      (then (call $gc) (local.get $r))
      (else (call $deep (i32.sub (local.get $n) (i32.const 1)) (local.get $r)))))
)`;

interface World {
  store: V31Store;
  inst: V31Instance;
  destroyed: unknown[];
  call(name: string, ...args: V31Val[]): V31Val;
  count(ref: V31ExternRef): bigint;
}

async function world(arch: Arch, wat = REFS, options: V31StoreOptions<unknown> = {}, regalloc: RegallocMode = 'none'): Promise<World> {
  const engine = new Engine({ arch, profile: 'v31', regalloc });
  const module = await Module.fromWat(engine, wat);
  const store = await V31Store.create(engine, options);
  const destroyed: unknown[] = [];
  const make = V31Func.new(store, { params: ['i32'], results: ['externref'] }, (_c, n) => V31ExternRef.new(store, `made${n as number}`, (v) => destroyed.push(v)));
  const gc = V31Func.new(store, { params: [], results: [] }, () => {
    store.gc();
  });
  const inst = V31Instance.create(store, module, [make, gc]);
  return {
    store, inst, destroyed,
    call: (name, ...args) => inst.getFunc(name).call(...args) as V31Val,
    count: (ref) => store.gcHeap.refCount(ref.raw),
  };
}

for (const arch of ARCHES) {
  test(`${arch}: refs held in frames survive collections; the ones only the table knew are freed`, async (t) => {
    const w = await world(arch);
    try {
      const a = V31ExternRef.new(w.store, 'arg', (v) => w.destroyed.push(v));
      t.is(a.raw, 8, 'the first object is at heap index 8 (free list: first block at ALIGN)');
      const r = w.call('hold', a) as V31ExternRef;
      t.is(r.value, 'arg');
      t.deepEqual(w.destroyed, ['made2'], 'only the dropped ref was freed, at the second collection');
      t.is((w.inst.getTable('t').get(0) as V31ExternRef).value, 'made1');
      r.release();
      a.release();
      w.store.gc();
      t.deepEqual(w.destroyed, ['made2', 'arg']);
      t.deepEqual(w.store.gcHeap.stats(), { allocations: 3, frees: 2, liveObjects: 1, freeBytes: 524_288 - 8 - 24 });
    } finally {
      w.store.close();
    }
  });

  test(`${arch}: with linear-scan, references in registers are spilled to their map slots around each call`, async (t) => {
    const reports: V31GcReport[] = [];
    const w = await world(arch, REFS, { explainCollections: true, onCollection: (r) => reports.push(r) }, 'linear-scan');
    try {
      const a = V31ExternRef.new(w.store, 'arg', (v) => w.destroyed.push(v));
      const r = w.call('hold', a) as V31ExternRef;
      t.is(r.value, 'arg');
      t.deepEqual(w.destroyed, ['made2']);
      t.is(reports[0].reason, 'before-entering-wasm', 'the empty chunk cannot take the argument: v31 collects first');
      const first = reports.find((r) => r.reason === 'store-gc')!.explanation!;
      t.deepEqual(first.frames[0].entries.map((e) => e.raw).sort((x, y) => x - y), [8, 0x20], 'both locals are in their slots during the first collection');
      const d = w.call('deep', 5, a) as V31ExternRef;
      t.is(d.value, 'arg');
      for (const h of [a, r, d]) h.release();
      w.store.gc();
      t.deepEqual(w.destroyed, ['made2', 'arg']);
    } finally {
      w.store.close();
    }
  });

  test(`${arch}: a ref passed down 8 frames is live only in the innermost frame's map, and survives the collection there`, async (t) => {
    const reports: V31GcReport[] = [];
    const w = await world(arch, REFS, { explainCollections: true, onCollection: (r) => reports.push(r) });
    try {
      const a = V31ExternRef.new(w.store, 'deep');
      const r = w.call('deep', 8, a) as V31ExternRef;
      t.is(r.value, 'deep');
      const inner = reports[reports.length - 1].explanation!;
      t.is(inner.frames.length, 9, 'deep(8) … deep(0)');
      inner.frames.forEach((f, i) => {
        t.is(f.functionName, 'deep');
        // Outer frames passed the ref on as an argument and never read it again: not live there.
        t.deepEqual(f.entries.map((e) => e.raw), i === 0 ? [a.raw] : [], `frame ${i}`);
      });
      t.deepEqual(inner.roots, [a.raw]);
      a.release();
      r.release();
      const last = w.store.gc();
      t.deepEqual(last.preciseRoots, [], 'no Wasm frame is left');
      t.false(w.store.gcHeap.isLive(8), 'freed once the last handle and the table let go');
    } finally {
      w.store.close();
    }
  });

  test(`${arch}: table and global barriers count exactly what the table and the global hold`, async (t) => {
    const w = await world(arch);
    try {
      const a = V31ExternRef.new(w.store, 'a', (v) => w.destroyed.push(v));
      const b = V31ExternRef.new(w.store, 'b', (v) => w.destroyed.push(v));
      t.is(w.count(a), 1n);
      w.call('set', 1, a);
      // +1 handed to Wasm (in the activations table), +1 held by the table element.
      t.is(w.count(a), 3n);
      w.call('set', 2, a);
      t.is(w.count(a), 5n);
      w.call('setg', a);
      t.is(w.count(a), 7n);
      w.store.gc(); // the activations table's three counts (one per call's argument) are swept
      t.is(w.count(a), 4n, 'handle + table[1] + table[2] + global');
      w.call('set', 1, b);
      w.call('set', 2, null);
      w.call('setg', null);
      w.store.gc();
      t.is(w.count(a), 1n, 'only the handle is left');
      t.is(w.count(b), 2n, 'handle + table[1]');
      const got = w.call('get', 1) as V31ExternRef;
      t.is(got.value, 'b');
      t.is(w.count(b), 4n, 'the read barrier put one count in the activations table, the result handle one');
      got.release();
      a.release();
      t.deepEqual(w.destroyed, ['a'], 'a was freed by its handle, no GC needed: nothing else held it');
      w.call('set', 1, null);
      b.release();
      t.deepEqual(w.destroyed, ['a'], 'the activations table still holds b');
      w.store.gc();
      t.deepEqual(w.destroyed, ['a', 'b']);
    } finally {
      w.store.close();
    }
  });

  test(`${arch}: an out-of-bounds table.set traps before the barrier counts anything (found by the v31 fuzzer)`, async (t) => {
    const w = await world(arch);
    try {
      const a = V31ExternRef.new(w.store, 'a', (v) => w.destroyed.push(v));
      w.store.gc();
      t.throws(() => w.call('set', 4, a), { instanceOf: WasmTrap, message: /out of bounds table access/ });
      w.store.gc();
      t.is(w.count(a), 1n, 'only the handle: the trap left no count behind');
      a.release();
      t.deepEqual(w.destroyed, ['a']);
    } finally {
      w.store.close();
    }
  });

  test(`${arch}: overwriting the last count in a table element calls drop_gc_ref, which frees at once`, async (t) => {
    const w = await world(arch);
    try {
      const a = V31ExternRef.new(w.store, 'a', (v) => w.destroyed.push(v));
      w.call('set', 0, a);
      w.store.gc();
      a.release();
      t.is(w.store.gcHeap.refCount(8), 1n, 'only table[0] holds it');
      w.call('set', 0, null);
      t.deepEqual(w.destroyed, ['a'], 'freed inside the barrier, no collection');
      t.false(w.store.gcHeap.isLive(8));
    } finally {
      w.store.close();
    }
  });

  test(`${arch}: a full bump chunk sends the read barrier to the gc builtin, which keeps the ref`, async (t) => {
    const w = await world(arch, REFS, { activationsTableSlots: 2 });
    try {
      const a = V31ExternRef.new(w.store, 'a');
      w.call('set', 0, a);
      w.store.gc(); // allocates the 2-slot chunk
      const got: V31ExternRef[] = [];
      for (let i = 0; i < 4; i++) got.push(w.call('get', 0) as V31ExternRef);
      t.true(got.every((g) => g.value === 'a'));
      t.true(w.store.gcHeap.isLive(a.raw));
      for (const g of got) g.release();
      a.release();
      w.call('set', 0, null);
      w.store.gc();
      w.store.gc();
      t.false(w.store.gcHeap.isLive(8), 'freed once nothing holds it');
    } finally {
      w.store.close();
    }
  });

  test(`${arch}: a destructor may call back into Wasm and collect`, async (t) => {
    const w = await world(arch);
    try {
      const order: string[] = [];
      const keeper = V31ExternRef.new(w.store, 'keeper');
      const a = V31ExternRef.new(w.store, 'reentrant', () => {
        order.push('destructor');
        // Back into Wasm: store another ref in the table, and collect from inside.
        w.call('set', 3, keeper);
        const report = w.store.gc();
        order.push(`nested gc ${report.skipped ?? 'ran'}`);
      });
      w.call('set', 0, a);
      w.store.gc(); // the argument's count in the activations table is swept
      a.release();
      w.call('set', 0, null); // drop_gc_ref frees a; its destructor runs after the barrier
      t.deepEqual(order, ['destructor', 'nested gc ran']);
      t.is((w.call('get', 3) as V31ExternRef).value, 'keeper');
    } finally {
      w.store.close();
    }
  });

  test(`${arch}: heap exhaustion is a GcHeapOutOfMemoryError after one collection; the heap is usable after`, async (t) => {
    // 4096-byte heap: index 8 up to 4096 holds 170 objects of 24 bytes.
    const w = await world(arch, REFS, { gcHeapCapacity: 4096 });
    try {
      const held: V31ExternRef[] = [];
      const err = t.throws(() => {
        for (;;) held.push(V31ExternRef.new(w.store, held.length));
      }, { instanceOf: GcHeapOutOfMemoryError });
      t.is(held.length, Math.floor((4096 - 8) / 24));
      t.regex(err!.message, /24-byte object in the 4096-byte heap/);
      // From Wasm: the host function's allocation fails and the call traps with the error as cause.
      const trap = t.throws(() => w.call('hold', null));
      t.true(trap instanceof GcHeapOutOfMemoryError || (trap instanceof WasmTrap && trap.cause instanceof GcHeapOutOfMemoryError), String(trap));
      for (const h of held.splice(0, 10)) h.release();
      t.is((w.call('hold', held[0]) as V31ExternRef).value, 10);
    } finally {
      w.store.close();
    }
  });

  test(`${arch}: a corrupted typed map entry fails loudly: a non-i32 entry stops the collection, one outside its frame the load`, async (t) => {
    const engine = new Engine({ arch, profile: 'v31' });
    const good = await Module.fromWat(engine, REFS);
    /** The image with `patch(view, entryAt, frameSize)` applied to the first entry of every non-empty map. */
    const corrupt = (patch: (view: DataView, entry: number, frameSize: number) => void): Uint8Array => {
      const elf = good.image!.elf.slice();
      const section = readElf(elf, 'refs.o').sections.find((s) => s.name === '.stackscope.usermaps')!;
      const view = new DataView(elf.buffer, elf.byteOffset + Number(section.offset), Number(section.size));
      let p = 12;
      for (let n = view.getUint32(8, true); n > 0; n--) {
        const k = view.getUint32(p + 16, true);
        if (k > 0) {
          t.is(view.getUint8(p + 20), USER_STACK_MAP_TYPES.i32);
          patch(view, p + 20, view.getUint32(p + 12, true));
        }
        p += 20 + 8 * k;
      }
      return elf;
    };
    // An entry outside its frame: refused when the image is read (wasmtime's live_gc_refs assertion).
    t.throws(() => Module.fromImage(engine, corrupt((v, e, frameSize) => v.setUint32(e + 4, frameSize, true)), 'outside.o'), { instanceOf: ImageFormatError, message: /outside|frame/ });
    // An i64 entry (a 64-bit reference, which v31 never has): the collection refuses it, touching nothing.
    const module = Module.fromImage(engine, corrupt((v, e) => v.setUint8(e, USER_STACK_MAP_TYPES.i64)), 'i64.o');
    const store = await V31Store.create(engine);
    try {
      const make = V31Func.new(store, { params: ['i32'], results: ['externref'] }, (_c, n) => V31ExternRef.new(store, n));
      const gc = V31Func.new(store, { params: [], results: [] }, () => { store.gc(); });
      const inst = V31Instance.create(store, module, [make, gc]);
      const a = V31ExternRef.new(store, 'a');
      const e = t.throws(() => inst.getFunc('hold').call(a), { instanceOf: V31StackWalkError });
      t.like(e, { failure: 'not-a-32-bit-ref', activation: 0, frame: 0 });
      t.regex(e!.message, /i64 entry at SP\+\d+: v31 GC references are i32/);
      t.is(store.gcHeap.refCount(a.raw), 2n, 'the handle and the argument\'s count in the activations table: nothing swept');
      t.is(store.gcHeap.stats().frees, 0);
    } finally {
      store.close();
    }
  });

  test(`${arch}: the explanation of a collection inside compiled code names the frame, its typed entries and the frees`, async (t) => {
    const w = await world(arch);
    try {
      const a = V31ExternRef.new(w.store, 'arg');
      const r = w.call('hold', a) as V31ExternRef;
      r.release();
      a.release();
      const text = renderDrcExplanation(w.store.gc({ explain: true }).explanation!);
      t.regex(text, new RegExp(`DRC collection on ${arch} \\(wasmtime v31\\): 0 frames`));
      t.regex(text, /Freed:\n {2}0x8 {2}ExternRef, 24 bytes, host value "arg"/);
    } finally {
      w.store.close();
    }
  });
}
