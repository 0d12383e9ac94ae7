/**
 * Continuation references in tables and globals under profile v44, on both arches and both
 * regalloc modes: `(table (ref null $ct))` elements and `(global (mut (ref null $ct)))` values as
 * v44 lays them out (16-byte VMContObj: contref at +0, revision at +8; null all zero), table.get,
 * set, grow, fill, size, copy and elem, a round-robin scheduler whose run queue is a table, the
 * collection keeping the refs of continuations that only a table or global names, and the
 * revision check trapping on a stale copy of a consumed reference.
 */
import test from 'ava';
import { ARCHES } from '../../isa/arch.ts';
import { REGALLOC_MODES } from '../../compiler/regalloc/modes.ts';
import { V31TableDefinitionLayout } from '../../compiler/v31/vmoffsets.ts';
import { VMContObjLayout, VMContRefLayout } from '../../compiler/v44/stack-switching.ts';
import { readCommonStackInformation } from '../../gc/drc44/structs.ts';
import { InstantiationError, WasmTrap } from '../errors.ts';
import { Module } from '../module.ts';
import { V44Instance } from './index.ts';
import { held, world } from './testing.ts';

/** Three tasks (cont.bind of their number) in a run queue table, run round-robin; each yields twice. */
const QUEUE = `(module
  (import "env" "make" (func $make (param i32) (result externref)))
  (import "env" "probe" (func $probe))
  (import "env" "gc" (func $gc))
  (type $ft (func))
  (type $ct (cont $ft))
  (type $ft1 (func (param i32)))
  (type $ct1 (cont $ft1))
  (tag $yield)
  (table $q 1 (ref null $ct))
  (table $spare 2 (ref null $ct))
  (global $saved (mut (ref null $ct)) (ref.null $ct))
  (global $log (mut i32) (i32.const 0))
  (elem (table $spare) (i32.const 0) (ref null $ct) (ref.null $ct) (ref.null $ct))
  (func $task (param $n i32)
    (local $mine externref) (local $i i32)
    (local.set $mine (call $make (local.get $n)))
    (loop $again
      (global.set $log (i32.add (i32.mul (global.get $log) (i32.const 10)) (local.get $n)))
      (if (i32.eq (local.get $n) (i32.const 3)) (then (call $gc)))
      (call $probe)
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (if (i32.lt_u (local.get $i) (i32.const 3))
        (then (suspend $yield) (br $again))))
    (drop (local.get $mine)))
  (elem declare func $task)
  (func $spawn (param $n i32) (result (ref $ct))
    (cont.bind $ct1 $ct (local.get $n) (cont.new $ct1 (ref.func $task))))
  ;; Fills the queue (grow by 2 with null, fill, set), then runs every live element until all are null.
  (func (export "run") (result i32)
    (local $i i32) (local $live i32) (local $k (ref null $ct))
    (drop (table.grow $q (ref.null $ct) (i32.const 2)))
    (table.fill $q (i32.const 0) (call $spawn (i32.const 1)) (i32.const 1))
    (table.set $q (i32.const 1) (call $spawn (i32.const 2)))
    (table.set $q (i32.const 2) (call $spawn (i32.const 3)))
    (loop $round
      (local.set $live (i32.const 0))
      (local.set $i (i32.const 0))
      (loop $each
        (local.set $k (table.get $q (local.get $i)))
        (if (i32.eqz (ref.is_null (local.get $k)))
          (then
            (local.set $live (i32.add (local.get $live) (i32.const 1)))
            (block $done
              (block $on_yield (result (ref $ct))
                (resume $ct (on $yield $on_yield) (local.get $k))
                (table.set $q (local.get $i) (ref.null $ct))
                (br $done))
              (local.set $k)
              (table.set $q (local.get $i) (local.get $k)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $each (i32.lt_u (local.get $i) (table.size $q))))
      (br_if $round (local.get $live)))
    (global.get $log))
  ;; Parks a task in a global and a stale copy in a table, collects, resumes from the global.
  (func (export "park") (result i32)
    (local $k (ref null $ct))
    (block $on_yield (result (ref $ct))
      (resume $ct (on $yield $on_yield) (call $spawn (i32.const 7)))
      (return (i32.const -1)))
    (global.set $saved)
    (table.set $spare (i32.const 0) (global.get $saved))
    (table.copy $spare $spare (i32.const 1) (i32.const 0) (i32.const 1))
    (call $gc)
    (call $probe)
    (block $on_yield2 (result (ref $ct))
      (resume $ct (on $yield $on_yield2) (global.get $saved))
      (return (i32.const -2)))
    (global.set $saved)
    (global.get $log))
  ;; Resumes the stale copy in $spare[1]: its revision is behind.
  (func (export "stale")
    (block $on_yield (result (ref $ct))
      (resume $ct (on $yield $on_yield) (table.get $spare (i32.const 1)))
      (return))
    (drop))
  (func (export "out_of_bounds")
    (drop (table.get $q (i32.const 99)))))`;

for (const arch of ARCHES) {
  for (const regalloc of REGALLOC_MODES) {
    test(`${arch} ${regalloc}: a round-robin run queue in a continuation table; a collection keeps the refs of tasks only the table names`, async (t) => {
      const w = await world(arch, QUEUE, regalloc);
      try {
        const m = w.store.machine;
        const q = w.inst.tables[0];
        t.is(q.elementSize, 16);
        const seen: string[] = [];
        // At task 1's first probe the queue holds three fresh-or-running continuations; check the bytes.
        w.probes.push(() => {
          const base = m.readU64(q.definition + BigInt(V31TableDefinitionLayout.base));
          t.is(Number(m.readU64(q.definition + BigInt(V31TableDefinitionLayout.currentElements))), 3);
          for (let i = 0; i < 3; i++) {
            const at = base + BigInt(16 * i);
            const contref = m.readU64(at + BigInt(VMContObjLayout.contref));
            const revision = m.readU64(at + BigInt(VMContObjLayout.revision));
            t.true(w.store.continuations.includes(contref), `element ${i} names a VMContRef`);
            // spawn's cont.bind consumed revision 0 and made revision 1; run's resume of element 0 consumed it (2).
            t.is(revision, m.readU64(contref + BigInt(VMContRefLayout.revision)) - (i === 0 ? 1n : 0n));
            t.is(q.getRaw(i), contref | (revision << 64n));
          }
          seen.push('bytes');
        });
        for (let k = 0; k < 8; k++) w.probes.push(() => undefined);
        t.is(w.call('run'), 123123123);
        t.deepEqual(seen, ['bytes']);
        // Task 3 collected in each of its three turns. In the first two, tasks 1 and 2 were
        // suspended, named only by the table; in the third they had returned.
        t.is(w.gcs.length, 3);
        for (const r of w.gcs.slice(0, 2)) t.deepEqual(held(r).sort(), ['running:item 3', 'suspended:item 1', 'suspended:item 2']);
        t.deepEqual(held(w.gcs[2]), ['running:item 3']);
        t.deepEqual([...w.destroyed].sort(), ['item 1', 'item 2'], 'the third collection freed what the returned tasks held, nothing earlier');
        // Every element is null again: 16 zero bytes.
        const base = m.readU64(q.definition + BigInt(V31TableDefinitionLayout.base));
        t.deepEqual([...m.readBytes(base, 48)], new Array(48).fill(0));
        for (const c of w.store.continuations) t.is(readCommonStackInformation(m, c).state, 'Returned');
        w.store.gc();
        t.deepEqual([...w.destroyed].sort(), ['item 1', 'item 2', 'item 3']);
      } finally {
        w.store.close();
      }
    });
  }

  test(`${arch}: a continuation parked in a global survives a collection; a stale copy (table.copy) traps with ContinuationAlreadyConsumed`, async (t) => {
    const w = await world(arch, QUEUE);
    try {
      const m = w.store.machine;
      const saved = w.inst.globalAddresses[0];
      w.probes.push(() => undefined, () => {
        // park's probe, after the collection: the global holds the suspended task 7 at its revision.
        const contref = m.readU64(saved + BigInt(VMContObjLayout.contref));
        t.is(readCommonStackInformation(m, contref).state, 'Suspended');
        t.is(m.readU64(saved + BigInt(VMContObjLayout.revision)), m.readU64(contref + BigInt(VMContRefLayout.revision)));
        t.is(w.inst.tables[1].getRaw(1), w.inst.tables[1].getRaw(0), 'table.copy copied all 16 bytes');
      }, () => undefined);
      t.is(w.call('park'), 77);
      t.is(w.gcs.length, 1);
      t.deepEqual(held(w.gcs[0]), ['suspended:item 7'], 'the task named only by the global keeps its ref');
      t.false(w.destroyed.includes('item 7'));
      const e = t.throws(() => w.call('stale'), { instanceOf: WasmTrap });
      t.is(e!.code, 'ContinuationAlreadyConsumed');
      const oob = t.throws(() => w.call('out_of_bounds'), { instanceOf: WasmTrap });
      t.is(oob!.code, 'TableOutOfBounds');
      // The store is usable after the traps.
      t.is(w.call('park'), 7777);
      // A continuation table's element type names one module's type: importing it is refused.
      const importer = await Module.fromWat(w.inst.module.engine, `(module (type $ft (func)) (type $ct (cont $ft))
        (import "m" "ring" (table 1 (ref null $ct))))`);
      t.throws(() => V44Instance.create(w.store, importer, [w.inst.tables[0]]), { instanceOf: InstantiationError, message: /continuation tables cannot be imported/ });
    } finally {
      w.store.close();
    }
  });
}
