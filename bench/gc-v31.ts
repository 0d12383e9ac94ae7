/**
 * bench/gc-v31: the v31 profile's DRC heap and collection (gc/drc/) beside v17's, same run,
 * CPU time (user + system) of the best batch, as bench/gc times it.
 *
 * - `allocs_per_s` / `frees_per_s`: externref objects allocated in, and freed from, the GC heap
 *   (v31: 24-byte objects from the first-fit free list, host value in the slab; v17:
 *   VMExternData objects from the guest heap), 10,000 per batch; `ratio_v31_vs_v17` per metric.
 * - `roots_per_s` (`frames`, `roots` as fields): one `V31Collector` collection over frames laid
 *   out directly in guest memory (FP chain, one user stack map per frame with its 4-byte
 *   entries), every root also in the activations table as the debug checks require; v17's
 *   figure for the same shape comes from bench/gc's scale stack (gc/testing/scale-stack.ts).
 */
import type { Arch } from '../isa/arch.ts';
import { Machine } from '../simulator/machine.ts';
import { DrcHeap } from '../gc/drc/heap.ts';
import { V31SyntheticStack } from '../gc/drc/testing.ts';
import { ExternRefHeap } from '../gc/externref.ts';
import { buildScaleCase } from '../gc/testing/scale-stack.ts';
import { emit, type BenchOptions } from './report.ts';

export const OBJECTS = 10_000;
export const SHAPES = [
  { frames: 10, roots: 1_000 },
  { frames: 100, roots: 10_000 },
  { frames: 1_000, roots: 10_000 },
];

/** Best CPU milliseconds of `run` over `repeats` batches (at least 5), after one warm-up. */
export function best(repeats: number, run: () => void, prepare: () => void = () => undefined): number {
  prepare();
  run();
  let out = Infinity;
  for (let r = 0; r < Math.max(5, repeats); r++) {
    prepare();
    const t0 = process.cpuUsage();
    run();
    const used = process.cpuUsage(t0);
    out = Math.min(out, (used.user + used.system) / 1000);
  }
  return out;
}

/** CPU ms of one batch of OBJECTS allocations and of frees, for v31's GC heap and v17's guest heap (same run). */
export async function allocFreeMs(arch: Arch, repeats: number): Promise<{ v31: { alloc: number; free: number }; v17: { alloc: number; free: number } }> {
  const m = await Machine.create({ arch });
  try {
    const drc = new DrcHeap(m);
    let refs: number[] = [];
    const v31Alloc = best(repeats, () => { refs = Array.from({ length: OBJECTS }, (_, i) => drc.allocExternRef(i)!); }, () => refs.forEach((r) => drc.decRefAndMaybeDealloc(r)));
    const v31Free = best(repeats, () => refs.forEach((r) => drc.decRefAndMaybeDealloc(r)), () => { refs = Array.from({ length: OBJECTS }, (_, i) => drc.allocExternRef(i)!); });
    const v17 = new ExternRefHeap(m);
    let ptrs: bigint[] = [];
    const v17Alloc = best(repeats, () => { ptrs = Array.from({ length: OBJECTS }, (_, i) => v17.allocate(i)); }, () => ptrs.forEach((p) => v17.drop(p)));
    const v17Free = best(repeats, () => ptrs.forEach((p) => v17.drop(p)), () => { ptrs = Array.from({ length: OBJECTS }, (_, i) => v17.allocate(i)); });
    return { v31: { alloc: v31Alloc, free: v31Free }, v17: { alloc: v17Alloc, free: v17Free } };
  } finally {
    m.close();
  }
}

async function allocFree(arch: Arch, repeats: number): Promise<void> {
  const { v31, v17 } = await allocFreeMs(arch, repeats);
  for (const [metric, v31ms, v17ms] of [['allocs_per_s', v31.alloc, v17.alloc], ['frees_per_s', v31.free, v17.free]] as const) {
    emit({ bench: 'gc-v31', arch, metric, collector: 'v31', value: (OBJECTS / v31ms) * 1000 });
    emit({ bench: 'gc-v31', arch, metric, collector: 'v17', value: (OBJECTS / v17ms) * 1000 });
    emit({ bench: 'gc-v31', arch, metric: `${metric}_ratio_v31_vs_v17`, value: v17ms / v31ms });
  }
}

/** A v31 stack of `frames` frames holding `roots` distinct externrefs, and its collector. */
async function v31Case(arch: Arch, frames: number, roots: number) {
  const m = await Machine.create({ arch });
  const heap = new DrcHeap(m);
  const refs = Array.from({ length: roots }, (_, i) => heap.allocExternRef(i)!);
  for (const r of refs) heap.exposeGcRefToWasm(r);
  const perFrame = Math.ceil(roots / frames);
  const stack = new V31SyntheticStack(m, { slotsPerFrame: perFrame, maxFrames: frames, name: 'bench-v31' });
  for (let f = 0; f < frames; f++) stack.push(refs.slice(f * perFrame, (f + 1) * perFrame));
  return { m, collector: stack.collector(heap) };
}

/** CPU ms of one collection over `shape` for v31 (V31Collector) and v17 (bench/gc's scale stack), same run. */
export async function rootsMs(arch: Arch, repeats: number, shape: { frames: number; roots: number }): Promise<{ v31: number; v17: number }> {
  const c = await v31Case(arch, shape.frames, shape.roots);
  let v31ms: number;
  try {
    const first = c.collector.collect().report;
    if (first.preciseRoots.length !== shape.roots || first.freed.length !== 0) throw new Error(`bench setup wrong: ${first.preciseRoots.length} roots, ${first.freed.length} freed`);
    v31ms = best(repeats, () => { c.collector.collect(); });
  } finally {
    c.m.close();
  }
  const v17 = await buildScaleCase(arch, { frames: shape.frames, roots: shape.roots, tableRefs: 0, profile: 'v17', debugChecks: true });
  try {
    return { v31: v31ms, v17: best(repeats, () => { v17.collector.collect(); }, () => v17.refillTable()) };
  } finally {
    v17.close();
  }
}

async function rootsPerSecond(arch: Arch, repeats: number): Promise<void> {
  for (const shape of SHAPES) {
    const { v31: v31ms, v17: v17ms } = await rootsMs(arch, repeats, shape);
    emit({ bench: 'gc-v31', arch, metric: 'roots_per_s', collector: 'v31', frames: shape.frames, roots: shape.roots, value: (shape.roots / v31ms) * 1000 });
    emit({ bench: 'gc-v31', arch, metric: 'roots_per_s', collector: 'v17', frames: shape.frames, roots: shape.roots, value: (shape.roots / v17ms) * 1000 });
    emit({ bench: 'gc-v31', arch, metric: 'roots_per_s_ratio_v31_vs_v17', frames: shape.frames, roots: shape.roots, value: v17ms / v31ms });
  }
}

export async function benchGcV31(o: BenchOptions): Promise<void> {
  for (const arch of o.arches) {
    await allocFree(arch, o.repeats);
    await rootsPerSecond(arch, o.repeats);
  }
}
