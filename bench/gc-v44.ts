/**
 * bench/gc-v44: the v44 profile's DRC heap and collection (gc/drc44/) beside v31's and v17's,
 * all measured in the same run, CPU time (user + system) of the best batch, as bench/gc-v31.
 *
 * - `allocs_per_s` / `frees_per_s`: 10,000 externrefs per batch (v44: 32-byte objects from the
 *   ALIGN-16 free list of the growable heap, pre-grown by the warm-up; v31 and v17 from
 *   bench/gc-v31's measurement); `..._ratio_v44_vs_v31` and `..._ratio_v44_vs_v17`.
 * - `roots_per_s` (`frames`, `roots`, `stacks` as fields): one `V44Collector` collection over
 *   frames laid out in guest memory as v44 lays them out (gc/drc44/testing.ts), every root in
 *   the over-approximated list. `stacks: 1` is the initial stack alone, the shapes of
 *   bench/gc-v31, with v31's and v17's figures for the same shape and the ratios; `stacks: 10`
 *   spreads the same frames over the initial stack and nine suspended continuations (v44 only:
 *   the walk across chains).
 */
import type { Arch } from '../isa/arch.ts';
import { Machine } from '../simulator/machine.ts';
import { Drc44Heap } from '../gc/drc44/heap.ts';
import { V44StackWorld } from '../gc/drc44/testing.ts';
import { OBJECTS, SHAPES, allocFreeMs, best, rootsMs } from './gc-v31.ts';
import { emit, type BenchOptions } from './report.ts';

async function allocFree(arch: Arch, repeats: number): Promise<void> {
  const m = await Machine.create({ arch });
  let v44 = { alloc: 0, free: 0 };
  try {
    const heap = new Drc44Heap(m, { maxCapacity: 1 << 20 });
    const alloc = (i: number) => heap.allocExternRef(i) ?? (heap.grow(32) ? heap.allocExternRef(i)! : undefined)!;
    let refs: number[] = [];
    v44 = {
      alloc: best(repeats, () => { refs = Array.from({ length: OBJECTS }, (_, i) => alloc(i)); }, () => refs.forEach((r) => heap.decRefAndMaybeDealloc(r))),
      free: best(repeats, () => refs.forEach((r) => heap.decRefAndMaybeDealloc(r)), () => { refs = Array.from({ length: OBJECTS }, (_, i) => alloc(i)); }),
    };
  } finally {
    m.close();
  }
  const { v31, v17 } = await allocFreeMs(arch, repeats);
  for (const [metric, key] of [['allocs_per_s', 'alloc'], ['frees_per_s', 'free']] as const) {
    emit({ bench: 'gc-v44', arch, metric, collector: 'v44', value: (OBJECTS / v44[key]) * 1000 });
    emit({ bench: 'gc-v44', arch, metric, collector: 'v31', value: (OBJECTS / v31[key]) * 1000 });
    emit({ bench: 'gc-v44', arch, metric, collector: 'v17', value: (OBJECTS / v17[key]) * 1000 });
    emit({ bench: 'gc-v44', arch, metric: `${metric}_ratio_v44_vs_v31`, value: v31[key] / v44[key] });
    emit({ bench: 'gc-v44', arch, metric: `${metric}_ratio_v44_vs_v17`, value: v17[key] / v44[key] });
  }
}

/** CPU ms of one v44 collection over `frames` frames holding `roots` refs, spread over `stacks` stacks. */
async function v44RootsMs(arch: Arch, repeats: number, frames: number, roots: number, stacks: number): Promise<number> {
  const m = await Machine.create({ arch });
  try {
    const heap = new Drc44Heap(m, { maxCapacity: 1 << 20 });
    heap.grow(roots * 32);
    const refs = Array.from({ length: roots }, (_, i) => heap.allocExternRef(i)!);
    for (const r of refs) heap.exposeGcRefToWasm(r);
    const perFrame = Math.ceil(roots / frames);
    const framesPerStack = Math.ceil(frames / stacks);
    const world = new V44StackWorld(m, { slotsPerFrame: perFrame, maxFramesPerStack: framesPerStack + 1, maxContinuations: stacks, name: 'bench-v44' });
    let f = 0;
    const pushFrames = (n: number) => {
      for (let i = 0; i < n && f < frames; i++, f++) world.push(refs.slice(f * perFrame, (f + 1) * perFrame));
    };
    // Continuations first (each suspended with its share), then the initial stack's share.
    world.push([]);
    for (let s = 1; s < stacks; s++) {
      world.resume(world.newContinuation());
      pushFrames(framesPerStack);
      world.suspend();
    }
    pushFrames(frames - f);
    const collector = world.collector(heap);
    const first = collector.collect().report;
    if (first.preciseRoots.length !== roots || first.freed.length !== 0) throw new Error(`bench setup wrong: ${first.preciseRoots.length} roots, ${first.freed.length} freed`);
    return best(repeats, () => { collector.collect(); });
  } finally {
    m.close();
  }
}

async function rootsPerSecond(arch: Arch, repeats: number): Promise<void> {
  for (const shape of SHAPES) {
    const v44ms = await v44RootsMs(arch, repeats, shape.frames, shape.roots, 1);
    const { v31, v17 } = await rootsMs(arch, repeats, shape);
    const fields = { frames: shape.frames, roots: shape.roots, stacks: 1 };
    emit({ bench: 'gc-v44', arch, metric: 'roots_per_s', collector: 'v44', ...fields, value: (shape.roots / v44ms) * 1000 });
    emit({ bench: 'gc-v44', arch, metric: 'roots_per_s', collector: 'v31', ...fields, value: (shape.roots / v31) * 1000 });
    emit({ bench: 'gc-v44', arch, metric: 'roots_per_s', collector: 'v17', ...fields, value: (shape.roots / v17) * 1000 });
    emit({ bench: 'gc-v44', arch, metric: 'roots_per_s_ratio_v44_vs_v31', ...fields, value: v31 / v44ms });
    emit({ bench: 'gc-v44', arch, metric: 'roots_per_s_ratio_v44_vs_v17', ...fields, value: v17 / v44ms });
    const spread = await v44RootsMs(arch, repeats, shape.frames, shape.roots, 10);
    emit({ bench: 'gc-v44', arch, metric: 'roots_per_s', collector: 'v44', frames: shape.frames, roots: shape.roots, stacks: 10, value: (shape.roots / spread) * 1000 });
  }
}

export async function benchGcV44(o: BenchOptions): Promise<void> {
  for (const arch of o.arches) {
    await allocFree(arch, o.repeats);
    await rootsPerSecond(arch, o.repeats);
  }
}
