/**
 * A serialisable record of a run, for the page (viewer/page.ts) and for anyone who wants the
 * run as data: the timeline of executed blocks (with their disassembly), calls into Wasm
 * functions, host calls, safepoints and collections; at each safepoint and collection the Wasm
 * frames word by word (addresses, values, map bits, slot names, what the references point
 * to); at each collection the explanation (activations, roots, the activations table before
 * and after, what was freed) and a snapshot of everything the collector read (viewer/
 * snapshot.ts), so that the collection can be replayed with edited stack maps; the WAT source
 * with the line of each Wasm instruction and the machine code of every function.
 *
 * `RunRecorder` attaches to a Store through the engine's hooks (viewer/trace.ts's Tracer) and
 * to its collector; `finish` detaches and returns the record. Addresses are 0x-hex strings.
 */
import type { Arch } from '../isa/arch.ts';
import { hex } from '../isa/error.ts';
import { createDisassembler } from '../isa/disasm.ts';
import { WatSource, formatInstr } from '../compiler/frontend/index.ts';
import type { Collector, CollectOptions, GcReport } from '../gc/collector.ts';
import { explanationToJson } from '../gc/explain.ts';
import type { Module, Store } from '../runtime/api.ts';
import type { Machine } from '../simulator/machine.ts';
import { captureGcState, type GcSnapshot, type SnapshotStackMaps } from './snapshot.ts';
import { Tracer, frameFromExplained, refDescriber, safepointsOf, slotNamerFor, type FrameView } from './trace.ts';

export const RUN_RECORD_FORMAT = 'stackscope-run/1';

/** A frame as JSON (viewer/trace.ts's FrameView with 0x-hex addresses and words). */
export interface FrameRecord {
  arch: Arch;
  at: 'safepoint' | 'gc';
  functionName: string | null;
  moduleName: string | null;
  pc: string;
  pcOffset: number | null;
  fp: string;
  sp: string | null;
  returnAddress: string | null;
  mappedWords: number | null;
  bits: string | null;
  words: Array<{ address: string; offset: string; value: string | null; bit: number | null; isRef: boolean; slot: string; gcRead: string | null }>;
}

export interface RecordedInstruction {
  address: string;
  bytes: string;
  text: string;
  /** Index of the Wasm instruction this machine instruction belongs to (none in the prologue). */
  op?: number;
}

export interface RecordedFunction {
  name: string;
  funcIndex: number;
  start: string;
  size: number;
  /** FP − SP in bytes (when compiled here). */
  frameSize?: number;
  /** 1-based WAT line of the function's `(func`, when the source is known. */
  line?: number;
  /** The Wasm instructions: text and, where the source pins it down, their WAT line. */
  ops: Array<{ text: string; line?: number }>;
  /** The machine code: [offset from start, bytes as hex, disassembly, Wasm instruction index or -1]. */
  code: Array<[number, string, string, number]>;
}

export type TimelineEvent =
  /** A block (or, recorded with `granularity: 'insn'`, one instruction, with its disassembly). */
  | { type: 'block'; address: string; size: number; symbol: string | null; fn: number; enters?: string; text?: string }
  | { type: 'host-call'; address: string; name: string }
  | { type: 'safepoint'; frame: FrameRecord; fn: number }
  | { type: 'gc'; index: number; reason: string; frames: FrameRecord[]; explanation: unknown; snapshot: GcSnapshot | null; snapshotError?: string };

/** One arch's run. */
export interface ArchRun {
  arch: Arch;
  module: string;
  source: { file: string; text: string } | null;
  functions: RecordedFunction[];
  /** Disassembly of every block outside the Wasm functions that the timeline names (trampolines, stubs). */
  blocks: Record<string, RecordedInstruction[]>;
  timeline: TimelineEvent[];
  timelineLimit: number;
  /** What a 'block' event of the timeline is: a translated block, or one instruction. */
  granularity: 'block' | 'insn';
  /** Blocks executed past the limit (not in the timeline; safepoints and GCs still are). */
  dropped: number;
  /** Safepoints past `safepointLimit` (not in the timeline). */
  droppedSafepoints: number;
  /** The stack maps the GC snapshots share (those snapshots say `stackMaps: 'run'`). */
  stackMaps: SnapshotStackMaps[];
  output: string[];
  /** One line: the result or the trap. */
  outcome: string;
  /** The event the page opens at (e.g. explain's safepoint), an index into `timeline`. */
  focus?: number;
}

export interface RunRecord {
  format: typeof RUN_RECORD_FORMAT;
  title: string;
  /** The command line that made it, for the page's header. */
  command: string;
  runs: ArchRun[];
}

export interface RecorderOptions {
  store: Store;
  module: Module;
  /** The module's name in reports (default: module.name or 'module'). */
  moduleName?: string;
  /** The WAT text the module was compiled from, to show it with the current line. */
  source?: { file: string; text: string };
  /** Blocks kept in the timeline (default 5000). */
  limit?: number;
  /** Record executed blocks (default) or every instruction (slower; the limit counts instructions). */
  granularity?: 'block' | 'insn';
  /** Safepoints kept in the timeline (default 1000); collections are always kept. */
  safepointLimit?: number;
}

export const DEFAULT_RECORD_LIMIT = 5000;
export const DEFAULT_SAFEPOINT_LIMIT = 1000;

/** Records one run on one Store; `finish()` returns it. */
export class RunRecorder {
  private readonly tracer: Tracer;
  private readonly gcs: Array<{ report: GcReport; snapshot: GcSnapshot | null; snapshotError?: string }> = [];
  private readonly gcFrames: FrameRecord[][] = [];
  private readonly watched = new Set<Collector>();
  private finished = false;
  private readonly name: string;
  private readonly limit: number;

  constructor(private readonly options: RecorderOptions) {
    const { store, module } = options;
    this.name = options.moduleName ?? module.name ?? 'module';
    this.limit = options.limit ?? DEFAULT_RECORD_LIMIT;
    const textBase = () => store.textBaseOf(module);
    this.tracer = new Tracer(store.machine, {
      // Past the limit the tracer only counts: blocks, and safepoints, stop being kept.
      mode: options.granularity ?? 'block', limit: this.limit, namer: slotNamerFor(module.image, textBase), describeRef: refDescriber(store),
      safepoints: () => {
        const base = textBase();
        return base === undefined ? undefined : safepointsOf(module, base, this.name);
      },
    });
    this.watch(store.collector);
  }

  /**
   * Records every collection `collector` runs from now on: a snapshot of what it reads before,
   * and its explanation after (the collection is run with `explain: true`).
   */
  watch(collector: Collector): void {
    if (this.watched.has(collector)) return;
    this.watched.add(collector);
    const collect = collector.collect.bind(collector);
    collector.collect = (o: CollectOptions = {}) => {
      if (this.finished || collector.table.gcInProgress) return collect(o);
      let snapshot: GcSnapshot | null = null;
      let snapshotError: string | undefined;
      try {
        snapshot = captureGcState(collector, o.reason ?? 'host');
      } catch (e) {
        snapshotError = (e as Error).message;
      }
      const report = collect({ ...o, explain: true });
      if (!report.skipped) {
        this.gcs.push({ report, snapshot, ...(snapshotError ? { snapshotError } : {}) });
        this.tracer.recordGc(report);
      }
      return report;
    };
  }

  /** Detaches from the engine and returns the record of this run. */
  finish(outcome: { output: string[]; outcome: string }): ArchRun {
    this.finished = true;
    this.tracer.close();
    const { store, module } = this.options;
    const textBase = store.textBaseOf(module) ?? 0n;
    const functions = listFunctions(module, textBase, store.machine, this.options.source);
    const fnAt = (address: bigint): number => functions.findIndex((f) => address >= BigInt(f.start) && address < BigInt(f.start) + BigInt(f.size));
    const blocks: Record<string, RecordedInstruction[]> = {};
    const dis = createDisassembler(store.machine.arch);
    const gateway = store.machine.regionByName('gateway')?.address;
    const timeline: TimelineEvent[] = [];
    const namer = slotNamerFor(module.image, textBase);
    const pushGc = (g: RunRecorder['gcs'][number], index: number) => {
      const x = g.report.explanation!;
      timeline.push({
        type: 'gc', index, reason: g.report.reason, frames: x.frames.map((f) => frameRecord(frameFromExplained(store.machine.arch, f, namer))),
        explanation: explanationToJson({ ...x, summary: { ...x.summary, durationMs: 0 } }),
        snapshot: g.snapshot, ...(g.snapshotError ? { snapshotError: g.snapshotError } : {}),
      });
    };
    const dropped = this.tracer.dropped;
    let safepoints = 0;
    let droppedSafepoints = 0;
    const safepointLimit = this.options.safepointLimit ?? DEFAULT_SAFEPOINT_LIMIT;
    let gcIndex = 0;
    for (const e of this.tracer.events) {
      if (e.type === 'entry') {
        const x = e.entry;
        const host = store.machine.hostFunctionAt(x.address);
        if (host) {
          timeline.push({ type: 'host-call', address: hex(x.address), name: host.name });
          continue;
        }
        // The `ret` after a gateway stub's trap instruction: the way back from that host call.
        if (store.machine.hostFunctionAt(x.address - (store.machine.arch === 'x64' ? 1n : 4n))) continue;
        const fn = fnAt(x.address);
        const key = hex(x.address);
        if (fn < 0 && !blocks[key]) {
          try {
            blocks[key] = dis.disasm(store.machine.readBytes(x.address, x.size), x.address).map((i) => ({ address: hex(i.address), bytes: bytesHex(i.bytes), text: i.text }));
          } catch {
            blocks[key] = [];
          }
        }
        const enters = fn >= 0 && BigInt(functions[fn].start) === x.address ? functions[fn].name : undefined;
        // The gateway's first stub is where every outermost call returns to the host.
        const symbol = x.symbol ?? (x.address === gateway ? 'return to the host (gateway stub 0)' : null);
        timeline.push({ type: 'block', address: key, size: x.size, symbol, fn, ...(enters ? { enters } : {}), ...(x.text !== undefined ? { text: x.text } : {}) });
      } else if (e.type === 'safepoint') {
        if (safepoints++ >= safepointLimit) {
          droppedSafepoints++;
          continue;
        }
        timeline.push({ type: 'safepoint', frame: frameRecord(e.frame), fn: fnAt(e.frame.pc) });
      } else {
        const g = this.gcs[gcIndex++];
        if (g) pushGc(g, e.index);
      }
    }
    // Collections after the tracer's limit are not in its events: they still belong to the record.
    while (gcIndex < this.gcs.length) pushGc(this.gcs[gcIndex], ++gcIndex);
    // Every snapshot normally holds the same maps: keep them once.
    const maps = this.watchedMaps();
    const shared = JSON.stringify(maps);
    for (const e of timeline) if (e.type === 'gc' && e.snapshot && JSON.stringify(e.snapshot.stackMaps) === shared) e.snapshot.stackMaps = 'run';
    return {
      arch: store.machine.arch, module: this.name, source: this.options.source ?? null, functions, blocks, timeline,
      timelineLimit: this.limit, granularity: this.options.granularity ?? 'block', dropped, droppedSafepoints, stackMaps: maps, output: outcome.output, outcome: outcome.outcome,
    };
  }

  private watchedMaps(): SnapshotStackMaps[] {
    const maps = this.gcs.find((g) => g.snapshot)?.snapshot?.stackMaps;
    return Array.isArray(maps) ? maps : [];
  }
}

/** A FrameView as JSON. */
export function frameRecord(v: FrameView): FrameRecord {
  const h = (x: bigint | undefined) => (x === undefined ? null : hex(x));
  return {
    arch: v.arch, at: v.at, functionName: v.functionName ?? null, moduleName: v.moduleName ?? null, pc: hex(v.pc), pcOffset: v.pcOffset ?? null,
    fp: hex(v.fp), sp: h(v.sp), returnAddress: h(v.returnAddress), mappedWords: v.mappedWords ?? null, bits: v.bits ?? null,
    words: v.words.map((w) => ({ address: hex(w.address), offset: w.offset, value: h(w.value), bit: w.bit ?? null, isRef: w.isRef, slot: w.slot, gcRead: w.gcRead ?? null })),
  };
}

function bytesHex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');
}

/** Every function's machine code (read from the placed text) with its Wasm instructions and WAT lines. */
function listFunctions(module: Module, textBase: bigint, machine: Machine, source: { file: string; text: string } | undefined): RecordedFunction[] {
  const dis = createDisassembler(machine.arch);
  const wat = source ? new WatSource(source.file, source.text) : undefined;
  const image = module.image;
  const text = readText(module, textBase, machine);
  return module.code.functions.map((f, definedIndex) => {
    const start = textBase + BigInt(f.textOffset);
    const bytes = text ? text.subarray(f.textOffset, f.textOffset + f.size) : new Uint8Array(0);
    const imageFn = image?.functions.find((x) => x.funcIndex === f.funcIndex);
    const body = module.wasm.functions[definedIndex]?.body ?? [];
    const ops = body.map((instr) => ({ text: formatInstr(instr) as string, line: undefined as number | undefined }));
    if (wat) {
      const seen = new Map<string, number>();
      const counts = new Map<string, number>();
      for (const i of body) counts.set(i.op, (counts.get(i.op) ?? 0) + 1);
      body.forEach((instr, i) => {
        const n = seen.get(instr.op) ?? 0;
        seen.set(instr.op, n + 1);
        const at = wat.locateInstruction(f.funcIndex, instr.op, n, counts.get(instr.op));
        if (at) ops[i].line = at.line;
      });
    }
    // Machine instructions tagged with the Wasm instruction they implement.
    const opStarts = imageFn ? imageFn.instrOffsets.map((o, i) => [o, i] as const).filter(([o]) => o >= 0).sort((a, b) => a[0] - b[0] || a[1] - b[1]) : [];
    let k = 0;
    let op = -1;
    const code = dis.disasm(bytes, start).map((insn): [number, string, string, number] => {
      const offset = Number(insn.address - start);
      while (k < opStarts.length && opStarts[k][0] <= offset) op = opStarts[k++][1];
      return [offset, bytesHex(insn.bytes).replace(/ /g, ''), insn.text, op];
    });
    const line = wat?.functionLocation(f.funcIndex)?.line;
    return {
      name: f.name, funcIndex: f.funcIndex, start: hex(start), size: f.size, ...(imageFn ? { frameSize: imageFn.frameSize } : {}),
      ...(line !== undefined ? { line } : {}), ops: ops.map((o) => (o.line === undefined ? { text: o.text } : o)), code,
    };
  });
}

/** The module's .text as placed (or the compiler's, when the code was never placed). */
function readText(module: Module, textBase: bigint, machine: Machine): Uint8Array | undefined {
  const end = module.code.functions.reduce((m, f) => Math.max(m, f.textOffset + f.size), 0);
  if (end === 0) return undefined;
  if (textBase === 0n) return module.image?.text;
  return machine.readBytes(textBase, end);
}
