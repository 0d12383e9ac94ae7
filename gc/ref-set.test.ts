import test from 'ava';
import fc from 'fast-check';
import { Machine } from '../simulator/machine.ts';
import { ExternRefHeap } from './externref.ts';
import { RefSet } from './ref-set.ts';

type Op = { kind: 'add' | 'has'; pick: number; junk: boolean } | { kind: 'clear' } | { kind: 'free'; pick: number };

test('property: behaves as a Set of numbers over live objects, freed objects and other words, with or without a mark', async (t) => {
  const m = await Machine.create({ arch: 'x64' });
  t.teardown(() => m.close());
  const heap = new ExternRefHeap(m, { arenaSize: 65536 });
  // Claim all but one mark, so the second set has none and keeps everything in its AddressSet.
  const taken: number[] = [];
  for (let i = 0; i < 6; i++) taken.push(heap.claimMark()!);
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    { weight: 8, arbitrary: fc.record({ kind: fc.constant('add' as const), pick: fc.nat(63), junk: fc.boolean() }) },
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('has' as const), pick: fc.nat(63), junk: fc.boolean() }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('free' as const), pick: fc.nat(63) }) },
  );
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 300 }), (ops) => {
      const objects = Array.from({ length: 64 }, (_, i) => heap.allocate(i));
      const marked = new RefSet(heap);
      const unmarked = new RefSet(heap);
      try {
        const model = new Set<number>();
        // Junk: unaligned pointers into objects and addresses outside the heap.
        const address = (pick: number, junk: boolean) => (junk ? (pick % 2 ? Number(objects[pick]) + 4 : 0x7000_0000 + 8 * pick) : Number(objects[pick]));
        for (const op of ops) {
          if (op.kind === 'clear') {
            marked.clear();
            unmarked.clear();
            model.clear();
          } else if (op.kind === 'free') {
            // A freed object stays a member of the sets that listed it (a JS Set would too).
            if (heap.isLive(objects[op.pick])) heap.drop(objects[op.pick]);
          } else {
            const a = address(op.pick, op.junk);
            if (op.kind === 'add') {
              const fresh = !model.has(a);
              if (marked.add(a) !== fresh || unmarked.add(a) !== fresh) return false;
              model.add(a);
            } else if (marked.has(a) !== model.has(a) || unmarked.has(a) !== model.has(a)) return false;
          }
          if (marked.size !== model.size || unmarked.size !== model.size) return false;
        }
        const order = [...model].join();
        return [...marked].join() === order && [...unmarked].join() === order;
      } finally {
        marked.dispose();
        unmarked.dispose();
        for (const r of objects) if (heap.isLive(r)) heap.drop(r);
      }
    }),
    { numRuns: 200, seed: 20261207 },
  );
  // Every mark given back: the six taken plus one free again.
  for (const mark of taken) heap.releaseMark(mark);
  const again = Array.from({ length: 7 }, () => heap.claimMark());
  t.true(again.every((x) => x !== undefined));
  t.is(heap.claimMark(), undefined);
});

test('a mark is only set on live objects, and clearing the set clears it', async (t) => {
  const m = await Machine.create({ arch: 'aarch64' });
  t.teardown(() => m.close());
  const heap = new ExternRefHeap(m);
  const s = new RefSet(heap);
  const a = Number(heap.allocate('a'));
  t.true(s.add(a));
  t.true(s.has(a));
  t.false(s.has(a + 8));
  t.true(s.steps >= 2);
  s.clear();
  t.false(s.has(a));
  t.true(heap.isLiveRaw(a));
});
