/**
 * One v31 collection as a store runs it (wasmtime v31's `Store::gc` → `trace_wasm_stack_roots`
 * → `DrcCollection`): walk the Wasm frames from the VMStoreContext's exit record and the saved
 * older activations, read each frame's user stack map, and run the DRC trace and sweep over the
 * roots found. With `explain` it also records what a reader needs to follow it: every frame
 * with its map's typed entries (slot, raw VMGcRef, the header of the object it names), the
 * activations table before and after, and every object freed with its heap index and header.
 * `renderDrcExplanation` draws that as text, `drcExplanationToJson` as JSON (addresses and raw
 * references as 0x-hex strings).
 */
import type { Machine } from '../../simulator/machine.ts';
import { hex } from '../../isa/error.ts';
import { MemoryReader } from '../walk.ts';
import { collectDrc, type DrcCollectOptions, type DrcCollectionReport, type DrcRoot } from './collector.ts';
import { isI31, type DrcHeap, type FreedGcObject } from './heap.ts';
import type { UserStackMapRegistry } from './user-stackmap-registry.ts';
import { readStoreContext, scanV31Frame, walkV31, type V31ActivationTriple } from './walk.ts';

export interface V31CollectorOptions {
  machine: Machine;
  heap: DrcHeap;
  registry: UserStackMapRegistry;
  /** Guest address of the store's VMStoreContext. */
  storeContext: bigint;
  /** The saved activations of interrupted entries, youngest first (CallThreadState's chain). */
  olderActivations?: () => readonly V31ActivationTriple[];
  /**
   * What a struct or array type is, by the VMSharedTypeIndex in its header: its text and the
   * offsets of its reference fields (an array's for `length` elements), for the explanation.
   */
  describeType?: (typeIndex: number, length: number | undefined) => { text: string; refOffsets: readonly number[] } | undefined;
}

/** What the object a map entry names looked like when the collection read it. */
export interface ExplainedTarget {
  kind: string;
  typeIndex: number;
  size: number;
  refCount: bigint;
  hostValue?: unknown;
  /** A struct's or array's type, e.g. `struct (mut i32) anyref`. */
  typeText?: string;
  /** An array's length. */
  length?: number;
  /** The raw refs in a struct's or array's reference fields, in field order. */
  fieldRefs?: number[];
}

export interface ExplainedEntry {
  type: 'i32';
  offset: number;
  slot: bigint;
  raw: number;
  /** `null`, `i31`, or the object's header. */
  target: 'null' | 'i31' | ExplainedTarget;
}

export interface ExplainedV31Frame {
  activation: number;
  index: number;
  pc: bigint;
  fp: bigint;
  functionName?: string;
  moduleName?: string;
  /** Present when the frame has a map at its return address. */
  frameSize?: number;
  sp?: bigint;
  entries: ExplainedEntry[];
}

export interface TableView {
  chunkLength: number;
  bump: number[];
  overApproximated: number[];
}

export interface DrcExplanation {
  arch: string;
  heap: { base: bigint; capacity: number; liveBefore: number; liveAfter: number; freeBytesAfter: number };
  activations: V31ActivationTriple[];
  frames: ExplainedV31Frame[];
  roots: number[];
  tableBefore: TableView;
  tableAfter: TableView;
  freed: FreedGcObject[];
  report: Omit<DrcCollectionReport, 'freed'>;
}

export class V31Collector {
  constructor(private readonly o: V31CollectorOptions) {}

  /** Runs one collection; `explain` adds the account of it. */
  collect(options: DrcCollectOptions & { explain?: boolean } = {}): { report: DrcCollectionReport; frames: number; explanation?: DrcExplanation } {
    const { machine, heap, registry } = this.o;
    const live = readStoreContext(machine, this.o.storeContext);
    const older = this.o.olderActivations?.() ?? [];
    const reader = new MemoryReader(machine);
    const frames = live.exitPc === 0n && older.length === 0 ? [] : walkV31(machine, live, older, reader);
    const scanned = frames.map((f) => scanV31Frame(machine, f, registry, reader));
    const roots: DrcRoot[] = [];
    for (const s of scanned) for (const e of s.entries) if (e.raw !== 0) roots.push({ raw: e.raw, slot: e.slot, frame: s.functionName });
    if (!options.explain) return { report: collectDrc(heap, roots, options), frames: frames.length };
    const describe = (raw: number): ExplainedEntry['target'] => {
      if (raw === 0) return 'null';
      if (isI31(raw)) return 'i31';
      if (!heap.isLive(raw)) return { kind: 'NOT A LIVE OBJECT', typeIndex: 0, size: 0, refCount: 0n };
      const h = heap.header(raw);
      const target: ExplainedTarget = { kind: h.kind, typeIndex: h.typeIndex, size: h.size, refCount: h.refCount, ...(h.kind === 'ExternRef' ? { hostValue: heap.externRefValue(raw) } : {}) };
      if (h.kind === 'StructRef' || h.kind === 'ArrayRef') {
        const length = h.kind === 'ArrayRef' ? heap.arrayLen(raw) : undefined;
        const type = this.o.describeType?.(h.typeIndex, length);
        if (length !== undefined) target.length = length;
        if (type !== undefined) {
          target.typeText = type.text;
          target.fieldRefs = type.refOffsets.map((o) => heap.readU32(raw + o));
        }
      }
      return target;
    };
    const explainedFrames: ExplainedV31Frame[] = scanned.map((s) => ({
      activation: s.frame.activation,
      index: s.frame.index,
      pc: BigInt(s.frame.pc),
      fp: BigInt(s.frame.fp),
      ...(s.map ? { functionName: s.functionName, moduleName: s.map.module.name, frameSize: s.map.map.frameSize, sp: BigInt(s.sp!) } : {}),
      entries: s.entries.map((e) => ({ type: e.type, offset: e.offset, slot: BigInt(e.slot), raw: e.raw, target: describe(e.raw) })),
    }));
    const tableBefore = this.tableView();
    const liveBefore = heap.liveObjects().length;
    const report = collectDrc(heap, roots, options);
    const { freed, ...rest } = report;
    return {
      report,
      frames: frames.length,
      explanation: {
        arch: machine.arch,
        heap: { base: heap.base, capacity: heap.capacity, liveBefore, liveAfter: heap.liveObjects().length, freeBytesAfter: heap.freeList.freeBytes() },
        activations: frames.length ? [live, ...older] : [],
        frames: explainedFrames,
        roots: report.preciseRoots,
        tableBefore,
        tableAfter: this.tableView(),
        freed,
        report: rest,
      },
    };
  }

  private tableView(): TableView {
    const t = this.o.heap.activations;
    return { chunkLength: t.chunkLength, bump: t.bumpEntries(), overApproximated: [...t.overApproximated] };
  }
}

const ref = (raw: number) => `0x${(raw >>> 0).toString(16)}`;

function targetText(t: ExplainedEntry['target']): string {
  if (t === 'null' || t === 'i31') return t;
  const type = t.typeText !== undefined ? ` (${t.typeText})` : '';
  const length = t.length !== undefined ? `, length ${t.length}` : '';
  const fields = t.fieldRefs !== undefined && t.fieldRefs.length > 0 ? `, ref fields ${t.fieldRefs.map((r) => (r === 0 ? 'null' : isI31(r) ? 'i31' : ref(r))).join(' ')}` : '';
  return `${t.kind} type ${t.typeIndex === 0xffff_ffff ? 'none' : t.typeIndex}${type}, ${t.size} bytes${length}, count ${t.refCount}${fields}${t.hostValue !== undefined ? `, host value ${JSON.stringify(t.hostValue)}` : ''}`;
}

/** The explanation as text: heap, activations, frames with their typed entries, table, frees. */
export function renderDrcExplanation(e: DrcExplanation): string {
  const r = e.report;
  const out = [
    `DRC collection on ${e.arch} (wasmtime v31): ${e.frames.length} frames, ${r.preciseRoots.length} precise roots` +
      `${r.i31Roots ? ` (+${r.i31Roots} i31)` : ''}, ${e.freed.length} freed; heap at ${hex(e.heap.base)} (${e.heap.capacity} bytes), ` +
      `${e.heap.liveBefore} live objects before, ${e.heap.liveAfter} after, ${e.heap.freeBytesAfter} bytes free`,
  ];
  if (e.activations.length) {
    out.push('', 'Activations (youngest first):');
    e.activations.forEach((a, i) => out.push(`  #${i}  exit pc ${hex(a.exitPc)}  exit fp ${hex(a.exitFp)}  entry fp ${hex(a.entryFp)}`));
  }
  out.push('', 'Frames (youngest first):');
  if (!e.frames.length) out.push('  (no Wasm frames)');
  for (const f of e.frames) {
    out.push(`  a${f.activation} f${f.index}  ${f.functionName ?? '<no map>'}${f.moduleName ? ` [${f.moduleName}]` : ''}  pc ${hex(f.pc)}  fp ${hex(f.fp)}` +
      (f.sp !== undefined ? `  sp ${hex(f.sp)}  frame ${f.frameSize} bytes` : ''));
    if (f.sp === undefined) {
      out.push('      (no user stack map at this return address: no live references)');
      continue;
    }
    if (!f.entries.length) out.push('      (map with no entries)');
    for (const en of f.entries) out.push(`      sp+${String(en.offset).padEnd(4)} ${en.type}  @ ${hex(en.slot)}  = ${ref(en.raw).padEnd(10)}  ${targetText(en.target)}`);
  }
  const table = (label: string, t: TableView) =>
    out.push(`  ${label}: chunk ${t.chunkLength} slots, bump [${t.bump.map(ref).join(', ')}], over-approximated {${t.overApproximated.map(ref).join(', ')}}`);
  out.push('', 'Activations table:');
  table('before', e.tableBefore);
  table('after ', e.tableAfter);
  out.push('', `Precise roots: {${e.roots.map(ref).join(', ')}}; counts dropped: ${r.droppedFromChunk} from the bump chunk, ${r.droppedFromOverApproximated} from the old over-approximation` +
    `${r.allocatedChunk ? '; the chunk was allocated by this first sweep' : ''}`);
  out.push('', e.freed.length ? 'Freed:' : 'Freed: nothing');
  for (const f of e.freed) out.push(`  ${ref(f.ref)}  ${f.kind}, ${f.size} bytes${f.hostValue !== undefined ? `, host value ${JSON.stringify(f.hostValue)}` : ''}`);
  return out.join('\n');
}

const h = (v: bigint | number) => hex(v);

/** The explanation as JSON-ready data (addresses and raw refs as 0x-hex strings, counts as strings). */
export function drcExplanationToJson(e: DrcExplanation): unknown {
  const target = (t: ExplainedEntry['target']) => (typeof t === 'string' ? t : { ...t, refCount: String(t.refCount), hostValue: t.hostValue === undefined ? undefined : String(t.hostValue) });
  return {
    arch: e.arch,
    heap: { ...e.heap, base: h(e.heap.base) },
    activations: e.activations.map((a) => ({ exitPc: h(a.exitPc), exitFp: h(a.exitFp), entryFp: h(a.entryFp) })),
    frames: e.frames.map((f) => ({
      ...f, pc: h(f.pc), fp: h(f.fp), sp: f.sp === undefined ? undefined : h(f.sp),
      entries: f.entries.map((en) => ({ ...en, slot: h(en.slot), raw: ref(en.raw), target: target(en.target) })),
    })),
    roots: e.roots.map(ref),
    tableBefore: { ...e.tableBefore, bump: e.tableBefore.bump.map(ref), overApproximated: e.tableBefore.overApproximated.map(ref) },
    tableAfter: { ...e.tableAfter, bump: e.tableAfter.bump.map(ref), overApproximated: e.tableAfter.overApproximated.map(ref) },
    freed: e.freed.map((f) => ({ ref: ref(f.ref), kind: f.kind, size: f.size, hostValue: f.hostValue === undefined ? undefined : String(f.hostValue) })),
    report: { ...e.report, preciseRoots: e.report.preciseRoots.map(ref) },
  };
}
