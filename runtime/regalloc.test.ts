/**
 * The Engine's `regalloc` option: modules compile with the engine's mode, a reference a frame
 * holds in a register survives a collection at a host call (it was spilled to the slot the
 * map names) and comes back intact, results agree across modes, and a bad mode is a typed error.
 */
import test from 'ava';
import { Engine, Store, Module, Instance, Func, ExternRef } from '../index.ts';
import { StackscopeError } from '../isa/error.ts';
import { storeInternals } from './store.ts';
import { ARCHES } from './testing.ts';

const HOLD = `(module
  (import "h" "gc" (func $gc))
  (func $sum (export "sum") (param i32) (result i64) (local i64)
    (block $done (loop $next
      (br_if $done (i32.eqz (local.get 0)))
      (local.set 1 (i64.add (local.get 1) (i64.extend_i32_u (local.get 0))))
      (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
      (br $next)))
    (local.get 1))
  (func (export "hold") (param externref i32) (result externref)
    (local externref)
    (local.set 2 (local.get 0))
    (call $gc)
    (drop (call $sum (local.get 1)))
    (call $gc)
    (local.get 2)))`;

for (const arch of ARCHES) {
  test(`${arch}: Engine({ regalloc }) compiles with that mode; a held reference survives collections at host calls`, async (t) => {
    const results: unknown[][] = [];
    for (const regalloc of ['none', 'linear-scan'] as const) {
      const engine = new Engine({ arch, regalloc });
      const store = await Store.create(engine);
      const module = await Module.fromWat(engine, HOLD);
      const hold = module.image!.functions.find((f) => f.name === 'hold')!;
      t.is(hold.frame.allocation !== undefined, regalloc === 'linear-scan', `${regalloc}: the frame records the allocation`);
      if (regalloc === 'linear-scan') {
        // The parameter and the local are in registers; at each call the reference is spilled.
        const sites = hold.callSites;
        t.true(sites.length >= 3);
        t.true(sites.every((s) => s.spills.length >= 1 && s.liveSlots.length === s.spills.length), JSON.stringify(sites.map((s) => s.spills)));
      }
      let collections = 0;
      const gc = Func.wrap(store, { params: [], results: [] }, (caller) => {
        caller.gc();
        collections++;
      });
      const inst = Instance.create(store, module, [gc]);
      const ref = ExternRef.new(store, { kept: regalloc });
      const back = inst.getFunc('hold').call(ref, 1000) as ExternRef;
      t.is(collections, 2);
      t.is(back.pointer, ref.pointer);
      t.deepEqual(back.value, { kept: regalloc });
      results.push([inst.getFunc('sum').call(100000), (back.value as { kept: string }).kept === regalloc]);
      back.release();
      ref.release();
      store.gc();
      t.is(storeInternals(store).externRefHeap.liveCount, 0);
      store.close();
    }
    t.deepEqual(results[0], results[1]);
    t.deepEqual(results[0], [5000050000n, true]);
  });
}

test('an unknown regalloc mode is a typed error naming the modes', (t) => {
  t.throws(() => new Engine({ arch: 'x64', regalloc: 'graph-coloring' as never }), { instanceOf: StackscopeError, message: /unknown regalloc graph-coloring \(expected none or linear-scan\)/ });
});
