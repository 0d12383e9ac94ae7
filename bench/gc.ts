/**
 * bench/gc: time of one externref collection against the number of Wasm frames (10, 100,
 * 1,000) and of live roots (10 to 10,000), v17 walk with debug checks on (the default).
 *
 * The stack is built by the host directly in the guest stack region (FP chain, return
 * addresses into a registered function, references in the mapped slots), so only the
 * collector is timed: the walk, the stack-map lookups, the root reads, the debug membership
 * check and the sweep. Every root is a distinct live object also held by the host, so the
 * steady state repeats the same work each collection. Prints JSON lines: per case the time of
 * one GC in µs, roots/s and ns per (frame + root); then the worst roots/s over the cases with
 * ≥ 1,000 roots, the marginal cost of a frame and of a root, and roots/s with debug checks off.
 */
import type { Arch } from '../isa/arch.ts';
import { Machine } from '../simulator/machine.ts';
import { PROT_EXEC, PROT_READ, PROT_WRITE } from '../simulator/engine.ts';
import { VMRuntimeLimitsLayout } from '../compiler/vmoffsets.ts';
import { ExternRefHeap } from '../gc/externref.ts';
import { ActivationsTable } from '../gc/activations.ts';
import { StackMapRegistry, stackMapBits } from '../gc/stackmap-registry.ts';
import { Collector } from '../gc/collector.ts';
import { emit, type BenchOptions } from './report.ts';

const FRAMES = [10, 100, 1000];
const ROOTS = [10, 100, 1000, 10_000];
const RET_A = 16;
const RET_B = 32;

interface Case {
  frames: number;
  roots: number;
  usPerGc: number;
}

/** Builds the stack for one case and returns the microseconds of one GC (best of `repeats` batches). */
async function measure(arch: Arch, frames: number, roots: number, repeats: number, debugChecks: boolean): Promise<number> {
  const m = await Machine.create({ arch, stackSize: 1 << 21 });
  try {
    const text = m.map('bench-text', 4096, PROT_READ | PROT_EXEC);
    const limitsRegion = m.map('bench-limits', VMRuntimeLimitsLayout.size, PROT_READ | PROT_WRITE);
    const limits = limitsRegion.address;
    const heap = new ExternRefHeap(m, { arenaSize: 1 << 20 });
    const table = new ActivationsTable(m, heap);
    const registry = new StackMapRegistry();
    // Frames i < extra hold k + 1 roots (map at RET_A), the others k (map at RET_B).
    const k = Math.floor(roots / frames);
    const extra = roots % frames;
    const words = (k + 1) % 2 === 0 ? k + 1 : k + 2; // even, so every FP stays 16-aligned
    registry.register({
      moduleName: 'bench', textStart: text.address, functions: [{
        name: 'f', start: 0n, length: 64, maps: [
          { returnAddressOffset: RET_A, callOffset: RET_A - 5, mappedWords: words, bits: stackMapBits(words, range(k + 1)) },
          { returnAddressOffset: RET_B, callOffset: RET_B - 5, mappedWords: words, bits: stackMapBits(words, range(k)) },
        ],
      }],
    });
    const refs: number[] = [];
    for (let i = 0; i < roots; i++) {
      const r = heap.allocate(i);
      table.insertWithoutGc(heap.clone(r));
      refs.push(Number(r));
    }
    // Lay the frames out from the entry SP down: [words...][saved fp][return address].
    const stack = m.stack.region;
    const data = stack.data;
    const base = Number(stack.address);
    const entrySp = Number(m.stack.top) - 64;
    const frameBytes = words * 8 + 16;
    let fp = entrySp - 16; // the oldest frame's record sits right below the entry SP
    const fps: number[] = [];
    for (let i = 0; i < frames; i++) {
      fps.push(fp);
      fp -= frameBytes;
    }
    if (fps[frames - 1] - words * 8 < base) throw new Error('bench stack too small');
    let next = 0;
    // fps[0] is the oldest; frame i's caller is frame i − 1, whose return address picks its map.
    for (let i = 0; i < frames; i++) {
      const f = fps[i];
      const callerFp = i === 0 ? entrySp : fps[i - 1];
      const returnInto = BigInt(text.address) + BigInt(i === 0 ? 0 : mapOffsetFor(i - 1, frames, extra));
      data.setBigUint64(f - base, BigInt(callerFp), true);
      data.setBigUint64(f + 8 - base, returnInto, true);
      const count = frameIndexFromYoungest(i, frames) < extra ? k + 1 : k;
      for (let w = 0; w < words; w++) {
        const v = w < count ? refs[next++] : 0x235 + w * 16;
        data.setBigUint64(f - words * 8 + w * 8 - base, BigInt(v), true);
      }
    }
    if (next !== roots) throw new Error(`placed ${next} of ${roots} roots`);
    const youngest = fps[frames - 1];
    m.writeU64(limits + BigInt(VMRuntimeLimitsLayout.lastWasmExitFp), BigInt(youngest));
    m.writeU64(limits + BigInt(VMRuntimeLimitsLayout.lastWasmExitPc), text.address + BigInt(mapOffsetFor(frames - 1, frames, extra)));
    m.writeU64(limits + BigInt(VMRuntimeLimitsLayout.lastWasmEntrySp), BigInt(entrySp));
    const collector = new Collector({ machine: m, heap, table, registry, walk: { kind: 'v17', limits }, debugChecks });
    const first = collector.collect();
    if (first.roots !== roots || first.frames !== frames || first.freedCount !== 0) {
      throw new Error(`bench setup wrong: ${first.roots} roots, ${first.frames} frames, ${first.freedCount} freed`);
    }
    let best = Infinity;
    const batch = Math.max(1, Math.ceil(20_000 / (roots + frames)));
    for (let r = 0; r < Math.max(3, repeats); r++) {
      const t0 = performance.now();
      for (let i = 0; i < batch; i++) collector.collect();
      best = Math.min(best, ((performance.now() - t0) * 1000) / batch);
    }
    return best;
  } finally {
    m.close();
  }
}

/** Frame i (0 = oldest) counted from the youngest. */
function frameIndexFromYoungest(i: number, frames: number): number {
  return frames - 1 - i;
}

/** Return offset of the call made by frame i (0 = oldest): map A when it holds k + 1 roots. */
function mapOffsetFor(i: number, frames: number, extra: number): number {
  return frameIndexFromYoungest(i, frames) < extra ? RET_A : RET_B;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

export async function benchGc(options: BenchOptions): Promise<void> {
  for (const arch of options.arches) {
    const cases: Case[] = [];
    for (const frames of FRAMES) {
      for (const roots of ROOTS) {
        const usPerGc = await measure(arch, frames, roots, options.repeats, true);
        cases.push({ frames, roots, usPerGc });
        emit({ bench: 'gc', arch, metric: `gc_us_frames${frames}_roots${roots}`, value: usPerGc });
        emit({ bench: 'gc', arch, metric: `roots_per_s_frames${frames}_roots${roots}`, value: roots / (usPerGc / 1e6) });
        emit({ bench: 'gc', arch, metric: `ns_per_frame_plus_root_frames${frames}_roots${roots}`, value: (usPerGc * 1000) / (frames + roots) });
      }
    }
    const big = cases.filter((c) => c.roots >= 1000);
    emit({ bench: 'gc', arch, metric: 'min_roots_per_s_1000plus', value: Math.min(...big.map((c) => c.roots / (c.usPerGc / 1e6))) });
    // Two-point slopes: the marginal cost of a frame (1,000 vs 10 frames, 10 roots) and of a
    // root (10,000 vs 10 roots, 10 frames).
    const at = (f: number, r: number) => cases.find((c) => c.frames === f && c.roots === r)!.usPerGc;
    emit({ bench: 'gc', arch, metric: 'ns_per_extra_frame', value: ((at(1000, 10) - at(10, 10)) * 1000) / 990 });
    emit({ bench: 'gc', arch, metric: 'ns_per_extra_root', value: ((at(10, 10_000) - at(10, 10)) * 1000) / 9990 });
    const off = await measure(arch, 1000, 10_000, options.repeats, false);
    emit({ bench: 'gc', arch, metric: 'roots_per_s_frames1000_roots10000_debug_off', value: 10_000 / (off / 1e6) });
  }
}
