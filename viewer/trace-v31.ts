/**
 * `run --trace` for the DRC-era profiles (v31, and v44 which shares its stack maps): a Tracer
 * over a V31Store's (or V44Store's) machine whose safepoints are the module's typed user stack
 * maps. A v31 map names 4-byte refs at offsets from SP in a frame of `frameSize` bytes (SP =
 * FP − frameSize at the call); the frame view shows every 8-byte word from FP+8 down to SP, a
 * word marked `REF` when an entry lies in it, and what each entry names (the object's kind,
 * count and host value), read as the collector would read it. Collections join the trace
 * through `recordDrcGc`, with the frames their explanation walked.
 */
import type { Module } from '../runtime/module.ts';
import { readV31Frame, v31Safepoints, type V31FoundFrame, type V31Safepoint } from '../runtime/v31/safepoints.ts';
import type { DrcGcReport, DrcSessionStore } from '../runtime/v31/session.ts';
import { Tracer, type FrameView, type FrameWord, type Safepoint, type TraceMode } from './trace.ts';

/** A frame a DRC collector explained (gc/drc's or gc/drc44's): its entries with what they named. */
interface DrcExplainedFrame {
  pc: bigint;
  fp: bigint;
  sp?: bigint;
  frameSize?: number;
  functionName?: string;
  moduleName?: string;
  entries: ReadonlyArray<{ offset: number; raw: number; target: unknown }>;
}

function targetText(target: unknown): string {
  if (typeof target === 'string') return target;
  const t = target as { kind: string; size: number; refCount: bigint; hostValue?: unknown };
  return `${t.kind}, ${t.size} bytes, count ${t.refCount}${t.hostValue !== undefined ? `, host value ${JSON.stringify(t.hostValue)}` : ''}`;
}

/** Words from FP+8 down to SP with the entries in each, as a FrameView (bit = word index from SP). */
function frameView(
  arch: FrameView['arch'], at: FrameView['at'], f: { pc: bigint; fp: bigint; sp: bigint; frameSize: number; functionName?: string; moduleName?: string; pcOffset?: number; returnAddress?: bigint },
  words: ReadonlyArray<{ address: bigint; offset: string; value: bigint | undefined; slot?: string; entries: ReadonlyArray<{ offset: number; raw: number; target: string }> }>,
): FrameView {
  const mapped = f.frameSize / 8;
  const out: FrameWord[] = words.map((w) => {
    const inMap = w.offset.startsWith('sp+');
    return {
      address: w.address, offset: w.offset, value: w.value, bit: inMap ? Number(w.offset.slice(3)) / 8 : undefined,
      isRef: w.entries.length > 0, slot: w.slot ?? '',
      gcRead: w.entries.length ? w.entries.map((e) => `i32 @sp+${e.offset} = 0x${e.raw.toString(16)} ${e.target}`).join('; ') : undefined,
    };
  });
  let bits = '';
  for (let i = 0; i < mapped; i++) bits += out.some((w) => w.bit === i && w.isRef) ? '1' : '0';
  return {
    arch, at, functionName: f.functionName, moduleName: f.moduleName, pc: f.pc, pcOffset: f.pcOffset, fp: f.fp, sp: f.sp,
    returnAddress: f.returnAddress, mappedWords: mapped, bits, words: out,
  };
}

/** The frame just reached at a safepoint, read from the machine (runtime/v31/safepoints.ts). */
function foundFrameView(store: DrcSessionStore, found: V31FoundFrame, functionStart: bigint | undefined, moduleName: string): FrameView {
  const s = found.safepoint;
  return frameView(store.machine.arch, 'safepoint', {
    pc: s.address, fp: found.fp, sp: found.sp, frameSize: s.map.frameSize, functionName: s.functionName, moduleName,
    pcOffset: functionStart === undefined ? undefined : Number(s.address - functionStart), returnAddress: s.returnAddress,
  }, found.words);
}

export interface DrcTraceOptions {
  mode: TraceMode | 'safepoints';
  limit: number;
  /** The module's name in frames. */
  moduleName: string;
}

/**
 * A Tracer for `module`, instantiated in `store` (a V31Store or V44Store): blocks or
 * instructions as `run --trace` records them, and at every call site with a user stack map
 * the frame as v31's map describes it. Close it when done.
 */
export function traceDrc(store: DrcSessionStore, module: Module, options: DrcTraceOptions): Tracer {
  const placed = store.placed.get(module);
  const all = v31Safepoints(store, module);
  const starts = new Map<number, bigint>();
  const nImported = module.wasm.counts.numImportedFunctions;
  placed?.functionAddresses.forEach((a, i) => starts.set(i + nImported, a));
  const bySite = new Map<bigint, V31Safepoint>(all.map((s) => [s.address, s]));
  const safepoints: Safepoint[] = all.map((s) => ({
    callAddress: s.address, returnAddress: s.returnAddress, functionStart: starts.get(s.funcIndex) ?? s.address,
    functionName: s.functionName, moduleName: options.moduleName, funcIndex: s.funcIndex,
    mappedWords: s.map.frameSize / 8, bits: new Uint32Array(Math.ceil(s.map.frameSize / 256) || 1),
  }));
  return new Tracer(store.machine, {
    mode: options.mode, limit: options.limit, safepoints, namer: () => undefined,
    frameAt: (sp) => {
      const s = bySite.get(sp.callAddress)!;
      return foundFrameView(store, readV31Frame(store, module, s), starts.get(s.funcIndex), options.moduleName);
    },
  });
}

/** Adds a DRC collection (v31 or v44) to `tracer`, with the frames its explanation walked. */
export function recordDrcGc(tracer: Tracer, store: DrcSessionStore, report: DrcGcReport): void {
  tracer.recordGcFrames(report.reason, () => {
    const frames = (report.explanation?.frames ?? []) as readonly DrcExplainedFrame[];
    // Each frame's offset in its function: the nearest function start at or below its pc.
    const starts = [...store.placed.values()].flatMap((p) => p.functionAddresses);
    const pcOffset = (pc: bigint) => {
      const below = starts.filter((a) => a <= pc);
      return below.length ? Number(pc - below.reduce((a, b) => (a > b ? a : b))) : undefined;
    };
    return frames.map((f) => {
      if (f.sp === undefined || f.frameSize === undefined) {
        return frameView(store.machine.arch, 'gc', { pc: f.pc, fp: f.fp, sp: f.fp, frameSize: 0, functionName: f.functionName, moduleName: f.moduleName, pcOffset: pcOffset(f.pc) }, []);
      }
      const words = [];
      const read = (a: bigint) => {
        try {
          return store.machine.readU64(a);
        } catch {
          return undefined;
        }
      };
      words.push({ address: f.fp + 8n, offset: 'fp+8', value: read(f.fp + 8n), slot: 'return address', entries: [] });
      words.push({ address: f.fp, offset: 'fp+0', value: read(f.fp), slot: 'saved fp', entries: [] });
      for (let off = f.frameSize - 8; off >= 0; off -= 8) {
        const entries = f.entries.filter((e) => e.offset >= off && e.offset < off + 8).map((e) => ({ offset: e.offset, raw: e.raw, target: targetText(e.target) }));
        words.push({ address: f.sp + BigInt(off), offset: `sp+${off}`, value: read(f.sp + BigInt(off)), entries });
      }
      return frameView(store.machine.arch, 'gc', { pc: f.pc, fp: f.fp, sp: f.sp, frameSize: f.frameSize, functionName: f.functionName, moduleName: f.moduleName, pcOffset: pcOffset(f.pc), returnAddress: f.pc }, words);
    });
  });
}
