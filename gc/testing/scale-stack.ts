/**
 * Test and benchmark support: one collection at scale, laid out by the host directly in guest
 * memory so that only the collector runs (no compiled code): `frames` Wasm frames in one
 * activation holding `roots` distinct live externrefs in their mapped words, plus `tableRefs`
 * more objects that only the activations table names (put back before each collection with
 * `refillTable`, as a program's table.get/global.get would between collections).
 *
 * Every object is also held by the host (one count), so a collection frees nothing and the
 * steady state repeats the same work: the walk, one stack-map lookup per frame, the root
 * reads, the debug membership check, and the sweep of roots + table entries.
 *
 * Frames share two maps of one function: frames counted from the youngest below
 * `roots mod frames` mark k + 1 words, the others k (k = roots div frames), so the roots
 * spread evenly; each frame maps an even number of words so every FP stays 16-aligned, and
 * the unmarked words hold odd junk (never a pointer).
 */
import type { Arch } from '../../isa/arch.ts';
import { Machine } from '../../simulator/machine.ts';
import { PROT_EXEC, PROT_READ, PROT_WRITE } from '../../simulator/engine.ts';
import { VMRuntimeLimitsLayout } from '../../compiler/vmoffsets.ts';
import { ExternRefHeap } from '../externref.ts';
import { ActivationsTable } from '../activations.ts';
import { StackMapRegistry, stackMapBits } from '../stackmap-registry.ts';
import { Collector } from '../collector.ts';
import { writeRuntimeLimits } from '../walk.ts';

/** Collector profiles a scale case can run; later wasmtime versions' collectors add theirs here. */
export const SCALE_PROFILES = ['v17'] as const;
export type ScaleProfile = (typeof SCALE_PROFILES)[number];

export interface ScaleCaseOptions {
  frames: number;
  roots: number;
  /** Objects named only by the activations table. Default 0. */
  tableRefs?: number;
  profile?: ScaleProfile;
  debugChecks?: boolean;
}

export interface ScaleCase {
  machine: Machine;
  heap: ExternRefHeap;
  table: ActivationsTable;
  collector: Collector;
  /** Inserts one count of every table-only object into the activations table. */
  refillTable(): void;
  close(): void;
}

/** Return offsets of the two call sites (maps A: k + 1 roots, B: k roots). */
const RET_A = 16;
const RET_B = 32;

export async function buildScaleCase(arch: Arch, options: ScaleCaseOptions): Promise<ScaleCase> {
  const { frames, roots } = options;
  const tableRefs = options.tableRefs ?? 0;
  if (!(Number.isInteger(frames) && frames >= 1 && Number.isInteger(roots) && roots >= 0 && Number.isInteger(tableRefs) && tableRefs >= 0)) {
    throw new RangeError(`scale case: bad shape ${frames} frames, ${roots} roots, ${tableRefs} table refs`);
  }
  const k = Math.floor(roots / frames);
  const extra = roots % frames;
  const words = (k + 1) % 2 === 0 ? k + 1 : k + 2;
  const frameBytes = words * 8 + 16;
  const stackSize = Math.ceil((frames * frameBytes + 4096) / 65536) * 65536;
  const objects = roots + tableRefs;
  const machine = await Machine.create({ arch, stackSize });
  try {
    const text = machine.map('scale-text', 4096, PROT_READ | PROT_EXEC);
    const limits = machine.map('scale-limits', VMRuntimeLimitsLayout.size, PROT_READ | PROT_WRITE).address;
    const heap = new ExternRefHeap(machine, { maxArenas: Math.max(64, Math.ceil((objects * 32) / (1 << 20)) + 2) });
    const table = new ActivationsTable(machine, heap);
    const registry = new StackMapRegistry();
    registry.register({
      moduleName: 'scale', textStart: text.address, functions: [{
        name: 'f', start: 0n, length: 64, maps: [
          { returnAddressOffset: RET_A, callOffset: RET_A - 5, mappedWords: words, bits: stackMapBits(words, range(k + 1)) },
          { returnAddressOffset: RET_B, callOffset: RET_B - 5, mappedWords: words, bits: stackMapBits(words, range(k)) },
        ],
      }],
    });
    const rootRefs: number[] = [];
    for (let i = 0; i < roots; i++) {
      const r = heap.allocate(i);
      table.insertWithoutGc(heap.clone(r));
      rootRefs.push(Number(r));
    }
    const tableOnly: bigint[] = [];
    for (let i = 0; i < tableRefs; i++) tableOnly.push(heap.allocate(roots + i));
    // Frames from the entry SP down, oldest first: [mapped words][saved fp][return address].
    const stack = machine.stack.region;
    const data = stack.data;
    const base = Number(stack.address);
    const entrySp = Number(machine.stack.top) - 64;
    const holdsExtra = (i: number) => frames - 1 - i < extra; // i = 0 is the oldest
    let next = 0;
    let fp = entrySp - 16;
    let callerFp = entrySp;
    for (let i = 0; i < frames; i++) {
      // Frame i's return address is the call site of its caller (frame i − 1), whose map says
      // how many roots frame i − 1 holds.
      const returnInto = i === 0 ? 0 : holdsExtra(i - 1) ? RET_A : RET_B;
      data.setBigUint64(fp - base, BigInt(callerFp), true);
      data.setBigUint64(fp + 8 - base, text.address + BigInt(returnInto), true);
      const count = holdsExtra(i) ? k + 1 : k;
      for (let w = 0; w < words; w++) {
        const v = w < count ? rootRefs[next++] : 0x235 + w * 16;
        data.setBigUint64(fp - words * 8 + w * 8 - base, BigInt(v), true);
      }
      callerFp = fp;
      fp -= frameBytes;
    }
    if (next !== roots) throw new Error(`scale case: placed ${next} of ${roots} roots`);
    const youngest = callerFp;
    writeRuntimeLimits(machine, limits, {
      exitFp: BigInt(youngest), exitPc: text.address + BigInt(holdsExtra(frames - 1) ? RET_A : RET_B), entrySp: BigInt(entrySp),
    });
    const collector = new Collector({ machine, heap, table, registry, walk: { kind: 'v17', limits }, debugChecks: options.debugChecks ?? true });
    const refillTable = () => {
      for (const r of tableOnly) table.insertWithoutGc(heap.clone(r));
    };
    return { machine, heap, table, collector, refillTable, close: () => machine.close() };
  } catch (error) {
    machine.close();
    throw error;
  }
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
