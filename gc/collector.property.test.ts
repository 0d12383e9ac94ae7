/**
 * Property: over arbitrary activations and frames laid out in guest memory, one collection
 * keeps exactly the objects that the host holds or that a marked stack word names, leaves each
 * with one count per holder (the new over-approximation counting once), frees the rest; and a
 * marked word holding a non-reference fails loudly with every count unchanged.
 */
import test from 'ava';
import fc from 'fast-check';
import { ARCHES } from '../isa/arch.ts';
import { Machine } from '../simulator/machine.ts';
import { ExternRefHeap } from './externref.ts';
import { ActivationsTable } from './activations.ts';
import { StackMapRegistry } from './stackmap-registry.ts';
import { Collector } from './collector.ts';
import { GcInvariantError } from './errors.ts';
import { writeRuntimeLimits } from './walk.ts';
import { layOutSyntheticStack, type SyntheticActivation } from './testing/synthetic.ts';
import { PROT_READ, PROT_WRITE } from '../simulator/engine.ts';

type Word = { kind: 'ref'; index: number } | { kind: 'null' } | { kind: 'junk'; value: number };

const POOL = 24;
const wordArb: fc.Arbitrary<{ word: Word; marked: boolean }> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ word: fc.record({ kind: fc.constant('ref' as const), index: fc.nat(POOL - 1) }), marked: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ word: fc.constant({ kind: 'null' as const }), marked: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ word: fc.record({ kind: fc.constant('junk' as const), value: fc.nat(1 << 20) }), marked: fc.constant(false) }) },
  { weight: 1, arbitrary: fc.record({ word: fc.record({ kind: fc.constant('junk' as const), value: fc.nat(1 << 20) }), marked: fc.constant(true) }) },
);
const caseArb = fc.record({
  activations: fc.array(fc.array(fc.array(wordArb, { maxLength: 10 }), { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 3 }),
  hostHeld: fc.array(fc.boolean(), { minLength: POOL, maxLength: POOL }),
  inChunk: fc.array(fc.nat(POOL - 1), { maxLength: 40 }),
});

for (const arch of ARCHES) {
  test(`${arch}: property: one collection keeps exactly the held and the stack-named objects`, async (t) => {
    const m = await Machine.create({ arch });
    const limits = m.map('limits', 48, PROT_READ | PROT_WRITE).address;
    // One heap and table for all runs (mapping regions per run gets slow); each run ends by
    // emptying both, which is itself checked.
    const heap = new ExternRefHeap(m, { arenaSize: 16384 });
    const table = new ActivationsTable(m, heap, { lazyChunk: false, chunkSlots: 16 }); // small: both chunk and set
    const cleanup = new Collector({ machine: m, heap, table, registry: new StackMapRegistry(), walk: { kind: 'v17', limits } });
    let runs = 0;
    fc.assert(
      fc.property(caseArb, (c) => {
        runs++;
        try {
          return check(c);
        } finally {
          writeRuntimeLimits(m, limits, { exitPc: 0n, exitFp: 0n, entrySp: 0n });
          cleanup.collect();
          for (const r of heap.liveRefs()) while (heap.isLive(r)) heap.drop(r);
        }
      }),
      { numRuns: 150, seed: 20261121 },
    );
    t.is(runs, 150);
    t.is(heap.liveCount, 0);
    m.close();

    function check(c: typeof caseArb extends fc.Arbitrary<infer T> ? T : never): boolean {
      if (heap.liveCount !== 0) return false;
      const pool = Array.from({ length: POOL }, (_, i) => heap.allocate(i));
      for (const r of pool) table.insertWithoutGc(heap.clone(r));
      for (const i of c.inChunk) table.insertWithoutGc(heap.clone(pool[i]));
      c.hostHeld.forEach((held, i) => {
        if (!held) heap.drop(pool[i]);
      });
      // Odd junk values are never object pointers (objects are 8-aligned).
      const value = (w: Word) => (w.kind === 'ref' ? pool[w.index] : w.kind === 'null' ? 0n : BigInt(w.value * 2 + 1));
      const activations: SyntheticActivation[] = c.activations.map((frames) => frames.map((words) => ({
        words: words.map((x) => value(x.word)),
        bits: words.flatMap((x, i) => (x.marked ? [i] : [])),
      })));
      const stack = layOutSyntheticStack(m.stack.region, m.stack.top, 0x7000_0000n, activations);
      writeRuntimeLimits(m, limits, stack.triples[0]);
      const registry = new StackMapRegistry();
      registry.register(stack.maps);
      const collector = new Collector({ machine: m, heap, table, registry, walk: { kind: 'v17', limits, olderActivations: () => stack.triples.slice(1) } });
      const marked = c.activations.flat(2).filter((x) => x.marked);
      const badMark = marked.some((x) => x.word.kind === 'junk');
      const countsBefore = pool.map((r) => heap.strongCount(r));
      if (badMark) {
        try {
          collector.collect();
          return false;
        } catch (e) {
          if (!(e instanceof GcInvariantError) || e.check !== 'root-not-in-table') throw e;
        }
        return pool.every((r, i) => heap.isLive(r) && heap.strongCount(r) === countsBefore[i]);
      }
      const roots = new Set(marked.flatMap((x) => (x.word.kind === 'ref' ? [x.word.index] : [])));
      const report = collector.collect();
      if (report.roots !== roots.size || report.slotsScanned !== marked.length) return false;
      if (report.frames !== c.activations.flat().length || report.activations !== c.activations.length) return false;
      for (let i = 0; i < POOL; i++) {
        const expected = (c.hostHeld[i] ? 1 : 0) + (roots.has(i) ? 1 : 0);
        if (expected === 0 ? heap.isLive(pool[i]) : heap.strongCount(pool[i]) !== expected) return false;
      }
      return table.overApproximated.size === roots.size && table.numFilledInBumpChunk() === 0;
    }
  });
}
