/**
 * The v31 heap, user-stack-map walk and DRC collection against an independent reference model,
 * on both arches: random programs allocate externrefs, clone and drop host handles, hand refs to
 * Wasm (into the activations table), call and return (frames holding table refs in 4-byte map
 * slots) and collect, in a small heap that fills up. After every step the model's counts and
 * live set must match the heap's: a count is the host's handles plus one per table entry (bump
 * slots and set members); a collection makes the table exactly the set of refs in frames and
 * frees what nobody holds. One v31 behaviour the model reproduces on purpose: handing Wasm a ref
 * that is already in the over-approximated set through the slow path (an empty or full chunk)
 * leaks that count, because the HashSet insert is a no-op and a VMGcRef has no destructor.
 */
import test from 'ava';
import fc from 'fast-check';
import { ARCHES } from '../../isa/arch.ts';
import { Machine } from '../../simulator/machine.ts';
import { DrcHeap } from './heap.ts';
import { V31SyntheticStack } from './testing.ts';

type Op =
  | { op: 'alloc' }
  | { op: 'clone' | 'drop' | 'expose'; pick: number }
  | { op: 'call'; picks: number[] }
  | { op: 'return' }
  | { op: 'gc' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ op: 'alloc' as const }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constantFrom('clone' as const, 'drop' as const, 'expose' as const, 'expose' as const), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('call' as const), picks: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'return' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'gc' as const }) },
);

for (const arch of ARCHES) {
  test(`${arch}: random programs agree with the reference model after every step`, async (t) => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 20, maxLength: 80, size: 'max' }), async (ops) => {
        // A machine per program: Unicorn's map of regions is finite.
        const m = await Machine.create({ arch });
        try {
          // 8 + 24·12: room for 12 externrefs, so the heap fills and frees must make room.
          const heap = new DrcHeap(m, { capacity: 8 + 24 * 12, chunkSlots: 8 });
          const stack = new V31SyntheticStack(m, { slotsPerFrame: 4, maxFrames: 8 });
          const collector = stack.collector(heap);
          // Model: host handles and table entries per object; objects by ref.
          const host = new Map<number, number>();
          const table = new Map<number, number>();
          const live = new Set<number>();
          const values = new Map<number, string>();
          // The table as v31 has it: bump slots (a multiset: each slot owns a count) and the
          // over-approximated HashSet. A slow-path insert of a ref already in the set owns a
          // count nobody will drop (VMGcRef has no Drop): v31 leaks it, and so does the model.
          let chunkLength = 0;
          let bumpUsed = 0;
          const inSet = new Set<number>();
          const leaked = new Map<number, number>();
          const count = (r: number) => (host.get(r) ?? 0) + (table.get(r) ?? 0) + (leaked.get(r) ?? 0);
          const held = () => [...live].filter((r) => (host.get(r) ?? 0) > 0);
          const inTable = () => [...live].filter((r) => (table.get(r) ?? 0) > 0);
          const maybeFree = (r: number) => {
            if (count(r) === 0) {
              live.delete(r);
              host.delete(r);
              table.delete(r);
              inSet.delete(r);
            }
          };
          let n = 0;
          for (const o of ops) {
            switch (o.op) {
              case 'alloc': {
                const r = heap.allocExternRef(`v${n++}`);
                if (r === undefined) {
                  if (live.size < 12) return false; // the heap cannot be full with fewer objects
                  break;
                }
                if (live.has(r)) return false;
                live.add(r);
                host.set(r, 1);
                values.set(r, `v${n - 1}`);
                break;
              }
              case 'clone':
              case 'drop':
              case 'expose': {
                const h = held();
                if (!h.length) break;
                const r = h[o.pick % h.length];
                if (o.op === 'clone') {
                  heap.incRef(r);
                  host.set(r, host.get(r)! + 1);
                } else if (o.op === 'drop') {
                  const freed = heap.decRefAndMaybeDealloc(r);
                  host.set(r, host.get(r)! - 1);
                  maybeFree(r);
                  if ((freed.length === 1) !== !live.has(r)) return false;
                } else {
                  heap.exposeGcRefToWasm(r);
                  host.set(r, host.get(r)! - 1);
                  if (bumpUsed < chunkLength) {
                    bumpUsed++;
                    table.set(r, (table.get(r) ?? 0) + 1);
                  } else if (inSet.has(r)) {
                    leaked.set(r, (leaked.get(r) ?? 0) + 1);
                  } else {
                    inSet.add(r);
                    table.set(r, (table.get(r) ?? 0) + 1);
                  }
                }
                break;
              }
              case 'call': {
                if (stack.depth >= 8) break;
                const candidates = inTable();
                stack.push(candidates.length ? o.picks.map((p) => candidates[p % candidates.length]) : []);
                break;
              }
              case 'return':
                if (stack.depth) stack.pop();
                break;
              case 'gc': {
                const { report } = collector.collect();
                const onStack = new Set(stack.frames.flat());
                const before = new Set(live);
                for (const r of before) table.set(r, onStack.has(r) ? 1 : 0);
                inSet.clear();
                for (const r of onStack) if (r !== 0) inSet.add(r);
                chunkLength = 8;
                bumpUsed = 0;
                for (const r of before) maybeFree(r);
                const expectFreed = [...before].filter((r) => !live.has(r)).sort((a, b) => a - b);
                if (JSON.stringify(report.freed.map((f) => f.ref).sort((a, b) => a - b)) !== JSON.stringify(expectFreed)) return false;
                if (!report.freed.every((f) => f.hostValue === values.get(f.ref))) return false;
                break;
              }
            }
            // After every step: the same live objects with the same counts.
            if (JSON.stringify(heap.liveObjects()) !== JSON.stringify([...live].sort((a, b) => a - b))) return false;
            for (const r of live) if (heap.refCount(r) !== BigInt(count(r))) return false;
            heap.freeList.checkIntegrity();
          }
          return true;
        } finally {
          m.close();
        }
      }),
      {
          numRuns: 60,
          examples: [
            // Two refs in one frame, the second one held by nothing else.
            [[{ op: 'alloc' }, { op: 'alloc' }, { op: 'expose', pick: 0 }, { op: 'expose', pick: 0 }, { op: 'call', picks: [0, 1] }, { op: 'gc' }, { op: 'gc' }, { op: 'return' }, { op: 'gc' }]],
          ],
      },
    );
    t.pass();
  });
}
