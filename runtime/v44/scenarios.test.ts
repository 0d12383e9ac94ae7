/**
 * v44 scenarios on both arches and both register-allocation modes: compiled v44 code (v44's
 * over-approximated-list read barrier, v31's write barrier, user stack maps) running in a
 * V44Store, with the heap's counts and list read where compiled code keeps them. The numbers are
 * wasmtime v44.0.0's: an externref object is 32 bytes (VMDrcHeader 24 + host-data id, rounded to
 * 8), the free list hands out 16-aligned blocks from index 16, a new object's count is 1, the
 * heap starts with 0 pages and grows by 64 KiB pages; the VMStoreContext records at +24 (stack
 * limit), +32/+40 (GC heap base and length), +48/+56 (exit trampoline FP, exit PC), +72 (entry
 * FP), +88 (stack chain).
 */
import test from 'ava';
import { ARCHES, type Arch } from '../../isa/arch.ts';
import { REGALLOC_MODES, type RegallocMode } from '../../compiler/regalloc/modes.ts';
import { V44StoreContextLayout } from '../../compiler/v44/vmoffsets.ts';
import { readCommonStackInformation, readV44StoreContext } from '../../gc/drc44/structs.ts';
import { Engine } from '../engine.ts';
import { Module } from '../module.ts';
import { WasmTrap } from '../errors.ts';
import { STACK_LIMIT_UNSET } from '../limits.ts';
import { V44ExternRef, V44Func, V44Instance, V44Store, type V44Val } from './index.ts';

const REFS = `(module
  (import "env" "make" (func $make (param i32) (result externref)))
  (import "env" "gc" (func $gc))
  (import "env" "probe" (func $probe))
  (import "env" "reenter" (func $reenter (param externref)))
  (table $t (export "t") 4 externref)
  (global $g (export "g") (mut externref) (ref.null extern))
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
  (func (export "probe") (param $r externref) (result externref) (call $probe) (local.get $r))
  (func (export "outer") (param $r externref) (call $reenter (local.get $r)) (drop (local.get $r)))
  (func (export "inner") (param $r externref) (call $gc) (drop (local.get $r)))
  (func (export "trap") (param $r externref) (result externref) (table.set $t (i32.const 9) (local.get $r)) (local.get $r))
)`;

interface World {
  store: V44Store;
  inst: V44Instance;
  destroyed: unknown[];
  probes: (() => void)[];
  call(name: string, ...args: V44Val[]): unknown;
  count(ref: V44ExternRef): bigint;
}

async function world(arch: Arch, regalloc: RegallocMode = 'none'): Promise<World> {
  const engine = new Engine({ arch, profile: 'v44', regalloc });
  const module = await Module.fromWat(engine, REFS);
  const store = await V44Store.create(engine);
  const destroyed: unknown[] = [];
  const probes: (() => void)[] = [];
  let inst: V44Instance | undefined;
  const make = V44Func.new(store, { params: ['i32'], results: ['externref'] }, (_c, n) => V44ExternRef.new(store, `made${n as number}`, (v) => destroyed.push(v)));
  const gc = V44Func.new(store, { params: [], results: [] }, () => void store.gc());
  const probe = V44Func.new(store, { params: [], results: [] }, () => probes.shift()?.());
  const reenter = V44Func.new(store, { params: ['externref'], results: [] }, (_c, r) => void inst!.getFunc('inner').call(r));
  inst = V44Instance.create(store, module, [make, gc, probe, reenter]);
  return {
    store, inst, destroyed, probes,
    call: (name, ...args) => inst!.getFunc(name).call(...args) as V44Val,
    count: (ref) => store.gcHeap.refCount(ref.raw),
  };
}

for (const arch of ARCHES) {
  for (const regalloc of REGALLOC_MODES) {
    test(`${arch} ${regalloc}: refs held in frames survive collections; an object only the list held is freed`, async (t) => {
      const w = await world(arch, regalloc);
      try {
        const a = V44ExternRef.new(w.store, 'arg', (v) => w.destroyed.push(v));
        t.is(a.raw, 16, 'the first object is at heap index 16 (free list: first block at ALIGN 16)');
        t.is(w.store.gcHeap.capacity, 65_536, 'the first allocation grew the empty heap by one page');
        const r = w.call('hold', a) as V44ExternRef;
        t.is(r.value, 'arg');
        t.deepEqual(w.destroyed, ['made2'], 'made2 lived only in the list; made1 was in a frame, then the table');
        const made1 = w.call('get', 0) as V44ExternRef;
        t.is(made1.value, 'made1');
        // made1: the table's count, the list's (pushed again by this table.get) and the handle's.
        t.is(w.count(made1), 3n);
        t.true(w.store.gcHeap.isInList(made1.raw));
        made1.release();
        r.release();
        a.release();
      } finally {
        w.store.close();
      }
    });
  }

  test(`${arch}: the read barrier pushes an object once (in-list bit), counts it once, and a collection unlinks it`, async (t) => {
    const w = await world(arch);
    try {
      const x = V44ExternRef.new(w.store, 'x');
      w.call('setg', x);
      t.is(w.count(x), 3n, 'handle + list (argument exposed) + global');
      w.store.gc();
      t.false(w.store.gcHeap.isInList(x.raw), 'no frame holds it: unlinked, the list\'s count given back');
      t.is(w.count(x), 2n);
      const g1 = w.call('getg') as V44ExternRef;
      t.deepEqual(w.store.gcHeap.overApproximatedList(), [x.raw]);
      t.is(w.count(x), 4n, 'global + handle + list (read barrier) + the result handle');
      const g2 = w.call('getg') as V44ExternRef;
      t.is(w.count(x), 5n, 'the second read finds the in-list bit set: no second push, only the new handle');
      g1.release();
      g2.release();
      w.call('setg', null);
      t.is(w.count(x), 2n, 'the write barrier dropped the global\'s count; the list still holds one');
      w.store.gc();
      t.is(w.count(x), 1n);
      const raw = x.raw;
      x.release();
      t.false(w.store.gcHeap.isLive(raw));
    } finally {
      w.store.close();
    }
  });

  test(`${arch}: table.set overwriting the last count calls drop_gc_ref, which frees at once`, async (t) => {
    const w = await world(arch);
    try {
      const a = V44ExternRef.new(w.store, 'a', (v) => w.destroyed.push(v));
      w.call('set', 1, a);
      w.store.gc();
      a.release();
      const got = w.call('get', 1) as V44ExternRef;
      t.is(w.count(got), 3n, 'table + list (read barrier) + handle');
      got.release();
      w.store.gc();
      t.is(w.store.gcHeap.refCount(Number(w.inst.getTable('t').getRaw(1))), 1n);
      t.deepEqual(w.destroyed, []);
      // Only the table holds it now: overwriting it takes the count to 0 in compiled code.
      w.call('set', 1, null);
      t.deepEqual(w.destroyed, ['a']);
    } finally {
      w.store.close();
    }
  });

  test(`${arch}: during a host call the VMStoreContext holds v44's records, restored on the way out`, async (t) => {
    const w = await world(arch);
    try {
      const m = w.store.machine;
      const sc = w.store.storeContext;
      t.is(m.readU64(sc + BigInt(V44StoreContextLayout.stackLimit)), STACK_LIMIT_UNSET, 'all-ones while no Wasm runs');
      t.is(m.readU64(sc + BigInt(V44StoreContextLayout.gcHeapBase)), w.store.gcHeap.base);
      const x = V44ExternRef.new(w.store, 'x');
      t.is(m.readU64(sc + BigInt(V44StoreContextLayout.gcHeapCurrentLength)), 65_536n, 'current_length follows the heap');
      let seen: ReturnType<typeof readV44StoreContext> | undefined;
      let csiState: unknown;
      let wasmFp = 0n;
      w.probes.push(() => {
        seen = readV44StoreContext(m, sc);
        csiState = readCommonStackInformation(m, seen.chain.payload).state;
        wasmFp = m.readU64(seen.exitTrampolineFp);
      });
      (w.call('probe', x) as V44ExternRef).release();
      t.truthy(seen);
      t.is(seen!.chain.kind, 'InitialStack');
      t.is(csiState, 'Running');
      t.not(seen!.stackLimit, STACK_LIMIT_UNSET);
      t.true(seen!.exitTrampolineFp < wasmFp && wasmFp < seen!.entryFp, 'trampoline FP < the Wasm FP it saved < the entry trampoline FP');
      t.is(m.readU64(wasmFp), seen!.entryFp, 'probe\'s only Wasm frame links to the entry trampoline');
      t.truthy(m.symbolize(seen!.exitPc), 'the exit PC is a return address into the module');
      const after = readV44StoreContext(m, sc);
      t.deepEqual([after.exitPc, after.exitTrampolineFp, after.entryFp, after.stackLimit, after.chain.kind], [0n, 0n, 0n, STACK_LIMIT_UNSET, 'Absent']);
      x.release();
    } finally {
      w.store.close();
    }
  });

  test(`${arch}: a collection in a re-entered Wasm call finds the frames of both activations`, async (t) => {
    const w = await world(arch);
    try {
      const reports: { activations: number; frames: string[]; roots: number[] }[] = [];
      const store = w.store;
      const x = V44ExternRef.new(store, 'x', (v) => w.destroyed.push(v));
      const junk = V44ExternRef.new(store, 'junk', (v) => w.destroyed.push(v));
      w.call('setg', junk);
      w.call('setg', null);
      junk.release();
      t.deepEqual(w.destroyed, [], 'junk is still in the list');
      const original = store.gc.bind(store);
      store.gc = (o) => {
        const r = original({ ...o, explain: true });
        const e = r.explanation!;
        reports.push({ activations: e.activations.length, frames: e.frames.map((f) => `a${f.activation}:${f.functionName}`), roots: r.preciseRoots });
        return r;
      };
      w.call('outer', x);
      t.deepEqual(reports.map((r) => r.activations), [2]);
      t.deepEqual(reports[0].frames, ['a0:inner', 'a1:outer']);
      t.deepEqual(reports[0].roots, [x.raw], 'both frames hold x; junk is in neither');
      t.deepEqual(w.destroyed, ['junk']);
      x.release();
    } finally {
      w.store.close();
    }
  });

  test(`${arch}: a trap unwinds, restores the store's records, and the store runs on`, async (t) => {
    const w = await world(arch);
    try {
      const x = V44ExternRef.new(w.store, 'x');
      const e = t.throws(() => w.call('trap', x), { instanceOf: WasmTrap });
      t.is(e!.code, 'TableOutOfBounds');
      const after = readV44StoreContext(w.store.machine, w.store.storeContext);
      t.deepEqual([after.exitPc, after.entryFp, after.stackLimit, after.chain.kind], [0n, 0n, STACK_LIMIT_UNSET, 'Absent']);
      t.is((w.call('probe', x) as V44ExternRef).value, 'x');
      x.release();
    } finally {
      w.store.close();
    }
  });

  test(`${arch}: the heap grows page by page as v44's does before any collection, and close runs every destructor`, async (t) => {
    const w = await world(arch);
    const destroyed: unknown[] = [];
    try {
      const refs = Array.from({ length: 3000 }, (_, i) => V44ExternRef.new(w.store, i, (v) => destroyed.push(v)));
      t.is(w.store.gcHeap.capacity, 2 * 65_536, '3000 × 32 bytes: two pages (1 → 2: doubled)');
      t.is(w.store.machine.readU64(w.store.storeContext + BigInt(V44StoreContextLayout.gcHeapCurrentLength)), 131_072n);
      w.call('set', 2, refs[2999]);
      t.is((w.call('get', 2) as V44ExternRef).value, 2999, 'compiled code reaches objects in the grown page through the store context');
      refs.slice(0, 10).forEach((r) => r.release());
      t.is(destroyed.length, 10);
    } finally {
      w.store.close();
    }
    t.is(destroyed.length, 3000, 'close ran the destructors of the objects still live');
  });
}
