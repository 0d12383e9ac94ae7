/**
 * Corrupt chains, at random, on both arches: a world of several stacks (a running chain three
 * deep, two suspended chains, one of them detached with a parent) gets random words overwritten
 * among everything the walk reads — VMStoreContext's records and chain, every VMContRef field,
 * the control contexts below the stack tops, the frame records — with random values or with
 * plausible ones (addresses of other stacks' frames, other VMContRefs, small discriminants).
 * A collection must then either succeed or fail with a typed error that says where: a
 * `V44StackWalkError`, or a `DrcRootError` when a corrupt chain led the walk to a slot that holds
 * no listed ref. Never another exception, never a hang.
 */
import test from 'ava';
import fc from 'fast-check';
import { ARCHES } from '../../isa/arch.ts';
import { Machine } from '../../simulator/machine.ts';
import { V44StoreContextLayout } from '../../compiler/v44/vmoffsets.ts';
import { ControlContextLayout, VMContRefLayout } from '../../compiler/v44/stack-switching.ts';
import { DrcRootError } from '../drc/collector.ts';
import { Drc44Heap } from './heap.ts';
import { V44StackWorld } from './testing.ts';
import { V44StackWalkError } from './walk.ts';

for (const arch of ARCHES) {
  test(`${arch}: randomly corrupted chains, control contexts and frame records give a completed collection or a typed error, never another exception`, async (t) => {
    const outcomes = { ok: 0, walk: 0, root: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ target: fc.nat(), kind: fc.nat({ max: 3 }), value: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), pick: fc.nat() }), { minLength: 1, maxLength: 3 }),
        async (corruptions) => {
          const m = await Machine.create({ arch });
          try {
            const heap = new Drc44Heap(m, { maxCapacity: 65536, initialPages: 1 });
            const w = new V44StackWorld(m, { slotsPerFrame: 2, maxFramesPerStack: 4, maxContinuations: 6 });
            const refs = Array.from({ length: 6 }, (_, i) => {
              const r = heap.allocExternRef(i)!;
              heap.exposeGcRefToWasm(r);
              return r;
            });
            w.push([refs[0]]);
            const s1 = w.newContinuation();
            w.resume(s1);
            w.push([refs[1]]);
            w.suspend();
            const p = w.newContinuation();
            w.resume(p);
            w.push([refs[2]]);
            const s2 = w.newContinuation();
            w.resume(s2);
            w.push([refs[3]]);
            w.suspend(2);
            const a = w.newContinuation();
            w.resume(a);
            w.push([refs[4]]);
            const b = w.newContinuation();
            w.resume(b);
            w.push([refs[5]]);
            w.push([refs[0], refs[5]]);
            // Every word the walk reads.
            const words: bigint[] = [];
            for (const o of [V44StoreContextLayout.lastWasmExitTrampolineFp, V44StoreContextLayout.lastWasmExitPc, V44StoreContextLayout.lastWasmEntryFp, V44StoreContextLayout.stackChain, V44StoreContextLayout.stackChain + 8]) {
              words.push(w.storeContext + BigInt(o));
            }
            for (const s of w.stacks) {
              if (s.kind === 'continuation') {
                for (let o = 0; o < VMContRefLayout.size; o += 8) words.push(s.address + BigInt(o));
                words.push(s.top + BigInt(ControlContextLayout.pc), s.top + BigInt(ControlContextLayout.fp), s.top + BigInt(ControlContextLayout.sp));
              } else {
                for (let o = 0; o < 48; o += 8) words.push(s.address + BigInt(o));
              }
              s.frames.forEach((_, d) => words.push(BigInt(w.fpOf(s, d)), BigInt(w.fpOf(s, d)) + 8n));
            }
            const plausible = [
              ...w.stacks.flatMap((s) => [s.address, s.top, ...s.frames.map((_, d) => BigInt(w.fpOf(s, d)))]),
              0n, 1n, 2n, 3n, 4n, 0x7000_0004n, 0x7000_0008n,
            ];
            for (const c of corruptions) {
              const at = words[c.target % words.length];
              const value = c.kind === 0 ? c.value : plausible[c.pick % plausible.length] + (c.kind === 2 ? 16n : c.kind === 3 ? -16n : 0n);
              m.writeU64(at, BigInt.asUintN(64, value));
            }
            try {
              w.collector(heap).collect({ explain: true });
              outcomes.ok++;
            } catch (e) {
              if (e instanceof V44StackWalkError) outcomes.walk++;
              else if (e instanceof DrcRootError) outcomes.root++;
              else throw e;
            }
            return true;
          } finally {
            m.close();
          }
        },
      ),
      { numRuns: 150 },
    );
    t.true(outcomes.walk > 0, `some corruptions are caught by the walk (${JSON.stringify(outcomes)})`);
    t.log(outcomes);
  });
}
