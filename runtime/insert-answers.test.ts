/**
 * The engine's own answers to `activations_table_insert_with_gc` calls that change nothing
 * (StoreOptions.answerInsertionsNatively, Machine.answerInsertions): a sweep frees an object
 * whose destructor re-enters Wasm and reads one table slot many times. With and without the
 * answers the results, collections, instruction counts, host-call counts and budget traps
 * must be the same, on both arches; with them, the calls after the first never reach the host.
 * Serial: the mutant test sets a process-wide mutant across awaits.
 */
import test from 'ava';
import { Engine, Store, Module, Instance, Func, ExternRef } from '../index.ts';
import { roundTripCounts } from '../simulator/machine.ts';
import { withMutant } from '../compiler/mutants.ts';
import { ARCHES } from './testing.ts';
import type { Arch } from '../isa/arch.ts';

const WAT = `(module
  (import "host" "gc" (func $gc))
  (table $t 1 externref)
  (func (export "set") (param externref) (table.set $t (i32.const 0) (local.get 0)))
  (func (export "take") (param externref))
  (func (export "main") (result i32) (call $gc) (i32.const 7))
  (func (export "churn") (param $n i32)
    (loop $l (if (local.get $n) (then
      (drop (table.get $t (i32.const 0)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l))))))`;

const INSERT = 'builtin activations_table_insert_with_gc';
const READS = 500;

interface Outcome {
  result: unknown;
  error: string | undefined;
  instructions: bigint;
  insertCalls: number;
  answered: number;
  collections: number[];
  destroyed: string[];
  counts: number[];
}

async function scenario(arch: Arch, native: boolean, budget?: bigint): Promise<Outcome> {
  const engine = new Engine({ arch, ...(budget === undefined ? {} : { budget }) });
  const store = await Store.create(engine, { answerInsertionsNatively: native });
  try {
    const module = await Module.fromWat(engine, WAT);
    const collections: number[] = [];
    const gc = Func.wrap(store, { params: [], results: [] }, (caller) => void collections.push(caller.gc().freedCount));
    const instance = Instance.create(store, module, [gc]);
    const destroyed: string[] = [];
    // A first sweep gives the table its chunk, so the victim below is a chunk entry, dropped
    // while the sweep has parked the finger at the chunk's end.
    store.gc();
    const held = ExternRef.new(store, 'held', (v) => destroyed.push(v as string));
    instance.getFunc('set').call(held);
    const victim = ExternRef.new(store, 'victim', (v) => {
      destroyed.push(v as string);
      instance.getFunc('churn').call(READS);
    });
    instance.getFunc('take').call(victim);
    victim.release();
    const insert = roundTripCounts.hostCalls.get(INSERT)?.calls ?? 0;
    const answered = roundTripCounts.nativeAnswers;
    let result: unknown;
    let error: string | undefined;
    try {
      result = instance.getFunc('main').call();
    } catch (e) {
      error = String(e);
    }
    const out: Outcome = {
      result, error, instructions: store.machine.instructionsExecuted(),
      insertCalls: (roundTripCounts.hostCalls.get(INSERT)?.calls ?? 0) - insert, answered: roundTripCounts.nativeAnswers - answered,
      collections, destroyed: [...destroyed], counts: [],
    };
    store.gc();
    out.counts = [held.strongCount()];
    held.release();
    store.gc();
    return out;
  } finally {
    store.close();
  }
}

for (const arch of ARCHES) {
  test.serial(`${arch}: a sweep's no-op insertions answered by the engine: same results, collections and counts, no round trips`, async (t) => {
    const off = await scenario(arch, false);
    const on = await scenario(arch, true);
    t.is(off.result, 7);
    t.is(off.error, undefined);
    t.deepEqual(off.destroyed, ['victim']);
    // The first read inserts the object into the fresh over-approximated set; the others are no-ops.
    t.is(off.insertCalls, READS);
    t.is(off.answered, 0);
    t.is(on.answered, READS - 1);
    const { answered: _a, ...offRest } = off;
    const { answered: _b, ...onRest } = on;
    t.deepEqual(onRest, offRest, 'result, instructions, host calls, collections, destructors and counts');
  });

  test.serial(`${arch}: a budget that runs out among answered insertions stops at the same instruction`, async (t) => {
    const full = await scenario(arch, true);
    // Every position within about one iteration of the reading loop (the gateway's stubs among
    // them), one near the end of main, one earlier in the loop.
    const cuts = [3n, 2001n, ...Array.from({ length: 24 }, (_, i) => 400n + BigInt(i))];
    for (const cut of cuts) {
      const budget = full.instructions - cut;
      const off = await scenario(arch, false, budget);
      const on = await scenario(arch, true, budget);
      t.truthy(off.error, `budget ${budget}`);
      if (cut > 100n) t.true(on.answered > 0 && on.answered < READS - 1, `budget ${budget}: stopped among the answered calls`);
      t.deepEqual({ ...on, answered: 0 }, { ...off, answered: 0 }, `budget ${budget}`);
    }
  });

  test.serial(`${arch}: no answers under the mutant whose nested collection runs on`, async (t) => {
    const on = await withMutant('gc-in-gc-continues', () => scenario(arch, true));
    t.is(on.answered, 0);
  });
}
