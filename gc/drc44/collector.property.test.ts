/**
 * The v44 heap, stack-chain walk and DRC collection against an independent reference model, on
 * both arches: random programs allocate externrefs, clone and drop host handles, hand refs to
 * Wasm (into the over-approximated list), call and return (frames holding listed refs in 4-byte
 * map slots), spawn continuations and resume them, suspend them one or several levels up, resume
 * suspended ones, let them finish, and collect. After every step the model's counts and live set
 * must match the heap's: a count is the host's handles plus one while in the list (plus v44's
 * leaked count of a repeated expose); a collection keeps in the list exactly the listed refs that
 * some live stack's frames hold — the running chain's and every suspended chain's, which the
 * model reads from its own record of the frames, not from guest memory — and frees what nobody
 * holds any more.
 */
import test from 'ava';
import fc from 'fast-check';
import { ARCHES } from '../../isa/arch.ts';
import { Machine } from '../../simulator/machine.ts';
import { Drc44Heap } from './heap.ts';
import { V44StackWorld, type SimStack } from './testing.ts';

type Op =
  | { op: 'alloc' | 'spawn' | 'return' | 'gc' }
  | { op: 'clone' | 'drop' | 'expose' | 'resume'; pick: number }
  | { op: 'call'; picks: number[] }
  | { op: 'suspend'; levels: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ op: 'alloc' as const }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constantFrom('clone' as const, 'drop' as const, 'expose' as const, 'expose' as const), pick: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('call' as const), picks: fc.array(fc.nat(), { minLength: 1, maxLength: 2 }) }) },
  { weight: 2, arbitrary: fc.constant({ op: 'return' as const }) },
  { weight: 2, arbitrary: fc.constant({ op: 'spawn' as const }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('suspend' as const), levels: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('resume' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.constant({ op: 'gc' as const }) },
);

const MAX_CONTINUATIONS = 6;
const MAX_FRAMES = 6;

for (const arch of ARCHES) {
  test(`${arch}: random stack-switching programs agree with the reference model after every step`, async (t) => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 20, maxLength: 90, size: 'max' }), async (ops) => {
        const m = await Machine.create({ arch });
        try {
          const heap = new Drc44Heap(m, { maxCapacity: 65536, initialPages: 1 });
          const w = new V44StackWorld(m, { slotsPerFrame: 2, maxFramesPerStack: MAX_FRAMES, maxContinuations: MAX_CONTINUATIONS });
          const gc = w.collector(heap);
          // The model: host handles, list membership, leaked counts; and each stack's frames.
          const host = new Map<number, number>();
          const listed = new Set<number>();
          const leaked = new Map<number, number>();
          const live = new Set<number>();
          const values = new Map<number, string>();
          const frames = new Map<SimStack, number[][]>();
          const state = new Map<SimStack, 'Fresh' | 'Running' | 'Parent' | 'Suspended' | 'Returned'>([[w.stacks[0], 'Running']]);
          const parent = new Map<SimStack, SimStack | undefined>();
          let running = w.stacks[0];
          const count = (r: number) => (host.get(r) ?? 0) + (listed.has(r) ? 1 : 0) + (leaked.get(r) ?? 0);
          const framesOf = (s: SimStack) => frames.get(s) ?? frames.set(s, []).get(s)!;
          const chainOf = (s: SimStack | undefined) => {
            const out: SimStack[] = [];
            for (; s; s = parent.get(s)) out.push(s);
            return out;
          };
          const lastAncestor = new Map<SimStack, SimStack>();
          const maybeFree = (r: number) => {
            if (count(r) !== 0) return;
            live.delete(r);
            host.delete(r);
          };
          let n = 0;
          for (const o of ops) {
            const runningFrames = framesOf(running);
            switch (o.op) {
              case 'alloc': {
                const r = heap.allocExternRef(`v${n}`);
                if (r === undefined || live.has(r)) return false;
                live.add(r);
                host.set(r, 1);
                values.set(r, `v${n++}`);
                break;
              }
              case 'clone':
              case 'drop':
              case 'expose': {
                const held = [...live].filter((r) => (host.get(r) ?? 0) > 0);
                if (!held.length) break;
                const r = held[o.pick % held.length];
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
                  if (listed.has(r)) leaked.set(r, (leaked.get(r) ?? 0) + 1);
                  else listed.add(r);
                }
                break;
              }
              case 'call': {
                if (runningFrames.length >= MAX_FRAMES) break;
                const candidates = [...listed];
                const refs = candidates.length ? o.picks.map((p) => candidates[p % candidates.length]) : [];
                w.push(refs);
                runningFrames.push(refs);
                break;
              }
              case 'return': {
                if (!runningFrames.length) break;
                w.pop();
                runningFrames.pop();
                if (!runningFrames.length && running.kind === 'continuation') {
                  w.finish();
                  state.set(running, 'Returned');
                  const p = parent.get(running)!;
                  parent.set(running, undefined);
                  running = p;
                  state.set(running, 'Running');
                }
                break;
              }
              case 'spawn': {
                if (!runningFrames.length || w.continuations.length >= MAX_CONTINUATIONS) break;
                const c = w.newContinuation();
                w.resume(c);
                state.set(running, 'Parent');
                parent.set(c, running);
                state.set(c, 'Running');
                running = c;
                break;
              }
              case 'suspend': {
                const chain = chainOf(running);
                if (running.kind !== 'continuation' || !runningFrames.length || o.levels >= chain.length) break;
                w.suspend(o.levels);
                const end = chain[o.levels - 1];
                state.set(running, 'Suspended');
                lastAncestor.set(running, end);
                const handler = parent.get(end)!;
                parent.set(end, undefined);
                state.set(handler, 'Running');
                running = handler;
                break;
              }
              case 'resume': {
                const suspended = w.stacks.filter((s) => state.get(s) === 'Suspended');
                if (!runningFrames.length || !suspended.length) break;
                const c = suspended[o.pick % suspended.length];
                w.resume(c);
                parent.set(lastAncestor.get(c)!, running);
                state.set(running, 'Parent');
                state.set(c, 'Running');
                running = c;
                break;
              }
              case 'gc': {
                // A collection runs from a host call out of Wasm, so the running stack has a frame
                // (or no Wasm runs at all).
                if (!runningFrames.length && running.kind === 'continuation') break;
                const held = new Set<number>();
                for (const s of chainOf(running)) framesOf(s).flat().forEach((r) => held.add(r));
                for (const s of w.stacks) if (state.get(s) === 'Suspended') for (const u of chainOf(s)) framesOf(u).flat().forEach((r) => held.add(r));
                if (JSON.stringify([...held].filter((r) => r !== 0).sort()) !== JSON.stringify([...new Set(w.liveRefs())].sort())) return false;
                const { report } = gc.collect();
                const before = new Set(live);
                for (const r of [...listed]) if (!held.has(r)) listed.delete(r);
                for (const r of before) maybeFree(r);
                const expectFreed = [...before].filter((r) => !live.has(r)).sort((a, b) => a - b);
                if (JSON.stringify(report.freed.map((f) => f.ref).sort((a, b) => a - b)) !== JSON.stringify(expectFreed)) return false;
                if (!report.freed.every((f) => f.hostValue === values.get(f.ref))) return false;
                break;
              }
            }
            if (JSON.stringify(heap.liveObjects()) !== JSON.stringify([...live].sort((a, b) => a - b))) return false;
            for (const r of live) if (heap.refCount(r) !== BigInt(count(r))) return false;
            if (JSON.stringify(heap.overApproximatedList().sort()) !== JSON.stringify([...listed].sort())) return false;
            if (w.running !== running) return false;
            heap.freeList.checkIntegrity();
          }
          return true;
        } finally {
          m.close();
        }
      }),
      {
        numRuns: 50,
        examples: [
          // A ref held only across a suspend survives a GC; freed once its continuation returns.
          [[{ op: 'alloc' }, { op: 'expose', pick: 0 }, { op: 'call', picks: [0] }, { op: 'return' }, { op: 'call', picks: [] }, { op: 'spawn' },
            { op: 'call', picks: [0] }, { op: 'suspend', levels: 1 }, { op: 'gc' }, { op: 'resume', pick: 0 }, { op: 'return' }, { op: 'gc' }]],
        ],
      },
    );
    t.pass();
  });
}
