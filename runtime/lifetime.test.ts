/**
 * Store lifetimes: stores dropped without close() are reclaimed (their Unicorn engine, koffi
 * callbacks and native helper entry), and there is no fixed limit on open stores.
 */
import test from 'ava';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Engine, Store, Module, Func, ExternRef, Linker, StoreClosedError } from '../index.ts';
import { unicornEngineCounts } from '../simulator/unicorn.ts';
import { ARCHES } from './testing.ts';

v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

/** Collects and lets finalizers run until `done()` or ten rounds passed. */
async function settle(done: () => boolean): Promise<void> {
  for (let round = 0; round < 10 && !done(); round++) {
    collectGarbage();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const WAT = `(module
  (import "env" "twice" (func $twice (param i32) (result i32)))
  (import "env" "keep" (func $keep (param externref)))
  (table 2 externref)
  (global $g (mut externref) (ref.null extern))
  (func (export "run") (param i32 externref) (result i32)
    i32.const 0 local.get 1 table.set
    local.get 1 global.set $g
    local.get 1 call $keep
    local.get 0 call $twice))`;

for (const arch of ARCHES) {
  test.serial(`${arch}: stores dropped without close() are reclaimed, past the old limit of 255 open engines`, async (t) => {
    const engine = new Engine({ arch });
    const module = await Module.fromWat(engine, WAT);
    const count = 270;
    const before = { ...unicornEngineCounts };
    for (let i = 0; i < count; i++) {
      const store = await Store.create(engine);
      const linker = new Linker(engine)
        .define('env', 'twice', Func.wrap(store, { params: ['i32'], results: ['i32'] }, (_c, x) => (x as number) * 2))
        .define('env', 'keep', Func.wrap(store, { params: ['externref'], results: [] }, () => undefined));
      const inst = linker.instantiate(store, module);
      t.is(inst.getFunc('run').call(i, ExternRef.new(store, { i })), i * 2);
    }
    engine.incrementEpoch(); // an engine outliving its dropped stores writes no freed cells
    await settle(() => unicornEngineCounts.reclaimed - before.reclaimed >= count - 2);
    // The last store or two can still be referenced from this frame's registers.
    t.true(unicornEngineCounts.reclaimed - before.reclaimed >= count - 2, JSON.stringify({ before, after: unicornEngineCounts }));
    // A closed store is released once, never again by the finalizer.
    const closed = await Store.create(engine);
    closed.close();
    closed.close();
    const reclaimedBefore = unicornEngineCounts.reclaimed;
    await settle(() => false);
    t.is(unicornEngineCounts.reclaimed, reclaimedBefore);
  });
}

const REFS = `(module
  (import "env" "make" (func $make (param i32) (result externref)))
  (table $t (export "t") 4 externref)
  (global $g (export "g") (mut externref) (ref.null extern))
  (func (export "take") (param externref) (result i32) i32.const 1)
  (func (export "fromHost") (param i32) (result i32) local.get 0 call $make drop i32.const 1)
  (func (export "hold") (param externref externref)
    i32.const 0 local.get 0 table.set $t
    local.get 1 global.set $g))`;

async function refsInstance(arch: (typeof ARCHES)[number], made: { destroyed: number }) {
  const engine = new Engine({ arch });
  const store = await Store.create(engine);
  const module = await Module.fromWat(engine, REFS);
  const make = Func.wrap(store, { params: ['i32'], results: ['externref'] }, (_c, n) => ExternRef.new(store, n, () => made.destroyed++));
  const inst = new Linker(engine).define('env', 'make', make).instantiate(store, module);
  return { store, inst };
}

for (const arch of ARCHES) {
  test(`${arch}: externref arguments from the host and host-function results are collected when the table's chunk is full`, async (t) => {
    const made = { destroyed: 0 };
    const { store, inst } = await refsInstance(arch, made);
    const take = inst.getFunc('take');
    const calls = 3_000;
    for (let i = 0; i < calls; i++) {
      const ref = ExternRef.new(store, i, () => made.destroyed++);
      t.is(i % 2 ? take.call(ref) : take.callNative(ref), 1);
      ref.release();
    }
    const internals = (await import('./store.ts')).storeInternals(store);
    const chunk = internals.activationsTable.chunkLength;
    t.true(chunk > 0 && chunk < calls);
    // Without collecting before entry every argument stayed in the table's over-approximated set.
    t.true(internals.externRefHeap.liveCount <= chunk, `${internals.externRefHeap.liveCount} live of ${calls}`);
    t.true(made.destroyed >= calls - chunk);
    const before = made.destroyed;
    const fromHost = inst.getFunc('fromHost');
    for (let i = 0; i < calls; i++) fromHost.call(i);
    t.true(internals.externRefHeap.liveCount <= chunk, `${internals.externRefHeap.liveCount} live after host results`);
    t.true(made.destroyed - before >= calls - chunk);
    store.close();
  });

  test(`${arch}: Store.close() runs every destructor once (tables, globals, activations table, host handles); handles then throw StoreClosedError`, async (t) => {
    const made = { destroyed: 0 };
    const { store, inst } = await refsInstance(arch, made);
    const seen: unknown[] = [];
    const inTable = ExternRef.new(store, 'table', (v) => seen.push(v));
    const inGlobal = ExternRef.new(store, 'global', (v) => seen.push(v));
    const hostOnly = ExternRef.new(store, 'host', (v) => seen.push(v));
    inst.getFunc('hold').call(inTable, inGlobal); // also leaves both in the activations table
    inTable.release();
    inGlobal.release();
    t.deepEqual(seen, []);
    const table = inst.getTable('t');
    const global = inst.getGlobal('g');
    t.is((table.get(0) as ExternRef).value, 'table');
    store.close();
    t.deepEqual(seen.sort(), ['global', 'host', 'table']);
    t.true(store.closed);
    store.close(); // idempotent: nothing runs twice
    t.is(seen.length, 3);
    t.throws(() => hostOnly.value, { instanceOf: StoreClosedError });
    hostOnly.release(); // a no-op now
    t.is(seen.length, 3);
    const closedError = { instanceOf: StoreClosedError };
    t.throws(() => inst.getFunc('take').call(null), closedError);
    t.throws(() => inst.getFunc('take').callNative(null), closedError);
    t.throws(() => table.get(0), closedError);
    t.throws(() => table.set(1, null), closedError);
    t.throws(() => global.get(), closedError);
    t.throws(() => ExternRef.new(store, 1), closedError);
    t.throws(() => store.gc(), closedError);
    // A dropped store's engine is reclaimed by the finalizer; a closed one is not closed twice.
    t.is(made.destroyed, 0);
  });
}
