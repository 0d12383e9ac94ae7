/**
 * The trace and the frame view behind `stackscope run --trace` and `stackscope explain`.
 *
 * A `Tracer` hooks the Store's engine: every executed block (or instruction with `insn`) becomes
 * an entry carrying the registers it changed and the memory it wrote; at every safepoint (a
 * call instruction that has a stack map) and at every collection it records the Wasm frame as
 * a `FrameView`, which `renderFrame` draws as an ASCII diagram: address, offset from FP or SP,
 * the word, the stack-map bit covering it, the slot's name from the compiler's frame layout and,
 * at a GC, what the collector read there.
 *
 * The trace is bounded (`limit` entries); once full, entries are counted but not stored and the
 * code hook stays installed only to find safepoints.
 */
import type { Arch } from '../isa/arch.ts';
import { hex } from '../isa/error.ts';
import { frameSlotName, type CompiledImage, type ImageFunction } from '../compiler/index.ts';
import type { ExplainedFrame } from '../gc/explain.ts';
import type { GcReport } from '../gc/collector.ts';
import type { HookHandle } from '../simulator/engine.ts';
import type { Machine } from '../simulator/machine.ts';
import type { Module, Store } from '../runtime/api.ts';
import type { OpenedModule } from '../runtime/session.ts';

export type TraceMode = 'block' | 'insn';

/** One word of a frame, from the highest address down. */
export interface FrameWord {
  address: bigint;
  /** `fp+8`, `fp+0`, `sp+16`, … */
  offset: string;
  /** Undefined when unreadable. */
  value: bigint | undefined;
  /** Bit index of the stack map covering this word (undefined above the mapped area). */
  bit: number | undefined;
  /** The map marks the word as a live externref. */
  isRef: boolean;
  /** What the compiler keeps there: `return address`, `local 0`, `stack[1]`, … */
  slot: string;
  /** What the collector read (GC frames only): `root "a" (in table)`, `null`, … */
  gcRead: string | undefined;
}

export interface FrameView {
  arch: Arch;
  /** `safepoint` (taken at the call instruction) or `gc` (as the collector walked it). */
  at: 'safepoint' | 'gc';
  functionName: string | undefined;
  moduleName: string | undefined;
  pc: bigint;
  pcOffset: number | undefined;
  fp: bigint;
  sp: bigint | undefined;
  /** The return address the map is keyed by. */
  returnAddress: bigint | undefined;
  mappedWords: number | undefined;
  /** Map bits, SP word first. */
  bits: string | undefined;
  words: FrameWord[];
}

/** A call instruction with a stack map, placed at an absolute address. */
export interface Safepoint {
  callAddress: bigint;
  returnAddress: bigint;
  functionStart: bigint;
  functionName: string;
  moduleName: string;
  funcIndex: number;
  mappedWords: number;
  bits: Uint32Array;
}

/** Frame-slot naming for one function (from a CompiledImage; images read from .o lack it). */
export interface SlotNamer {
  (functionStart: bigint, spOffset: number): string | undefined;
}

/**
 * Names SP-relative slots from the compiler's frame layout, as `compile --print` does.
 * `textBase` may be a function when the code is not placed yet.
 */
export function slotNamerFor(image: CompiledImage | undefined, textBase: bigint | (() => bigint | undefined)): SlotNamer {
  if (!image) return () => undefined;
  let byStart: Map<bigint, ImageFunction> | undefined;
  return (start, off) => {
    if (!byStart) {
      const base = typeof textBase === 'function' ? textBase() : textBase;
      if (base === undefined) return undefined;
      byStart = new Map(image.functions.map((f) => [base + BigInt(f.textOffset), f]));
    }
    const fn = byStart.get(start);
    if (!fn) return undefined;
    return frameSlotName(fn.frame, off);
  };
}

function bitString(bits: Uint32Array, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += (bits[i >>> 5] >>> (i & 31)) & 1 ? '1' : '0';
  return s;
}

function readWord(machine: Machine, address: bigint): bigint | undefined {
  try {
    return machine.readU64(address);
  } catch {
    return undefined;
  }
}

/** Describes the host value of a live externref (undefined when the word is not one). */
export type RefDescriber = (ref: bigint) => string | undefined;

function prefixed(s: string | undefined): string {
  return s === undefined ? ' (not a live externref!)' : ` = ${s}`;
}

/** The frame at a safepoint, from the live machine state (the PC is at the call). */
export function frameAtSafepoint(machine: Machine, sp: Safepoint, namer: SlotNamer, describeRef?: RefDescriber): FrameView {
  const fp = machine.fp();
  // v17 takes SP = FP − mapped words·8 (the SP at the call); the real SP agrees in the body.
  const base = fp - BigInt(sp.mappedWords * 8);
  const words: FrameWord[] = [
    { address: fp + 8n, offset: 'fp+8', value: readWord(machine, fp + 8n), bit: undefined, isRef: false, slot: 'return address (into the caller)', gcRead: undefined },
    { address: fp, offset: 'fp+0', value: readWord(machine, fp), bit: undefined, isRef: false, slot: 'caller fp', gcRead: undefined },
  ];
  for (let bit = sp.mappedWords - 1; bit >= 0; bit--) {
    const address = base + BigInt(bit * 8);
    const value = readWord(machine, address);
    const isRef = ((sp.bits[bit >>> 5] >>> (bit & 31)) & 1) === 1;
    let gcRead: string | undefined;
    if (isRef && describeRef) gcRead = value === undefined ? 'unreadable' : value === 0n ? 'null (skipped)' : `root ${hex(value)}${prefixed(describeRef(value))}`;
    words.push({ address, offset: `sp+${bit * 8}`, value, bit, isRef, slot: namer(sp.functionStart, bit * 8) ?? '', gcRead });
  }
  return {
    arch: machine.arch, at: 'safepoint', functionName: sp.functionName, moduleName: sp.moduleName,
    pc: sp.callAddress, pcOffset: Number(sp.callAddress - sp.functionStart), fp, sp: base, returnAddress: sp.returnAddress,
    mappedWords: sp.mappedWords, bits: bitString(sp.bits, sp.mappedWords), words,
  };
}

/** A frame as the collector walked it (gc/explain.ts's ExplainedFrame), with slot names. */
export function frameFromExplained(arch: Arch, f: ExplainedFrame, namer: SlotNamer): FrameView {
  const start = f.pcOffset === undefined ? undefined : f.pc - BigInt(f.pcOffset);
  const words: FrameWord[] = [
    { address: f.fp + 8n, offset: 'fp+8', value: f.returnAddress, bit: undefined, isRef: false, slot: 'return address (into the caller)', gcRead: undefined },
    { address: f.fp, offset: 'fp+0', value: f.callerFp, bit: undefined, isRef: false, slot: 'caller fp', gcRead: undefined },
  ];
  const mapWords = f.map ? [...f.map.words].reverse() : [];
  for (const w of mapWords) {
    let gcRead: string | undefined;
    if (w.isRef) {
      if (w.value === undefined) gcRead = 'unreadable';
      else if (w.value === 0n) gcRead = 'null (skipped)';
      else gcRead = `root ${hex(w.value)}${w.hostValue !== undefined ? ` = ${w.hostValue}` : ''}${w.inTable === false ? ' NOT IN TABLE' : w.inTable ? ' (in table)' : ''}`;
    } else if (w.inTable) gcRead = 'not read (holds a table entry, bit clear)';
    words.push({
      address: w.address, offset: `sp+${w.bit * 8}`, value: w.value, bit: w.bit, isRef: w.isRef,
      slot: start === undefined ? '' : namer(start, w.bit * 8) ?? '', gcRead,
    });
  }
  return {
    arch, at: 'gc', functionName: f.functionName, moduleName: f.moduleName, pc: f.pc, pcOffset: f.pcOffset,
    fp: f.fp, sp: f.sp, returnAddress: f.pc, mappedWords: f.map?.mappedWords, bits: f.map?.bits, words,
  };
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

/** The ASCII diagram of one frame, highest address first. */
export function renderFrame(v: FrameView, indent = '  ', options: { maxWords?: number } = {}): string[] {
  const maxWords = options.maxWords ?? 64;
  const name = v.functionName ? `${v.functionName}+${hex(v.pcOffset ?? 0)}${v.moduleName ? ` [${v.moduleName}]` : ''}` : '<unknown>';
  const lines = [
    `${indent}frame of ${name} on ${v.arch}, ${v.at === 'gc' ? 'as the GC walked it' : 'at the call'}: pc ${hex(v.pc)}  fp ${hex(v.fp)}` +
      (v.sp !== undefined ? `  sp ${hex(v.sp)}  (${Number(v.fp - v.sp)} bytes)` : ''),
  ];
  if (v.mappedWords === undefined) {
    lines.push(`${indent}  no stack map at return address ${v.returnAddress === undefined ? '??' : hex(v.returnAddress)}: no live references`);
  } else {
    const bits = v.bits ?? '';
    const shown = bits.length > 96 ? `${bits.slice(0, 96)}... (${bits.length} bits, ${[...bits].filter((b) => b === '1').length} set)` : bits;
    lines.push(`${indent}  stack map for return address ${v.returnAddress === undefined ? '??' : hex(v.returnAddress)}: ${v.mappedWords} words, bits (sp word first) ${shown}`);
  }
  const showGc = v.words.some((w) => w.gcRead !== undefined) || v.at === 'gc';
  const bar = `${indent}  ${'-'.repeat(18)} ${'-'.repeat(7)} +${'-'.repeat(20)}+ ${'-'.repeat(8)} ${'-'.repeat(26)}${showGc ? ` ${'-'.repeat(24)}` : ''}`;
  lines.push(`${indent}  ${pad('address', 18)} ${pad('offset', 7)} |${pad(' word', 20)}| ${pad('map', 8)} ${showGc ? `${pad('slot', 26)} ${v.at === 'gc' ? 'GC read' : 'GC would read'}` : 'slot'}`);
  lines.push(bar);
  // Big frames (a thousand live refs) show the frame record and the marked words only.
  const mapped = v.words.filter((w) => w.bit !== undefined).length;
  const words = mapped > maxWords ? v.words.filter((w) => w.bit === undefined || w.isRef) : v.words;
  for (const w of words) {
    const value = w.value === undefined ? '??' : `0x${w.value.toString(16).padStart(16, '0')}`;
    const map = w.bit === undefined ? '' : `${w.isRef ? 'REF' : '   '} ${w.bit}`;
    lines.push(`${indent}  ${pad(hex(w.address), 18)} ${pad(w.offset, 7)} | ${pad(value, 18)} | ${pad(map, 8)} ${pad(w.slot, 26)}${w.gcRead ? ` ${w.gcRead}` : ''}`.trimEnd());
    if (w.offset === 'fp+0') {
      lines.push(bar);
      if (words !== v.words) lines.push(`${indent}  (${v.words.length - words.length} unmarked words of ${mapped} not shown; --json has them all)`);
    }
  }
  lines.push(bar);
  return lines;
}

/** The frame as JSON data (addresses and words as 0x-hex strings). */
export function frameToJson(v: FrameView): unknown {
  return JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? hex(x) : x)));
}

// ---------------------------------------------------------------------------------------------
// The tracer

export interface TraceEntry {
  kind: TraceMode;
  address: bigint;
  /** Bytes of the block (or instruction). */
  size: number;
  symbol: string | undefined;
  /** Disassembly (instruction mode). */
  text: string | undefined;
  /** Registers this block/instruction changed (filled in when the next entry starts). */
  changed: Array<{ reg: string; value: bigint }>;
  /** Memory it wrote (value as written, little-endian). */
  writes: Array<{ address: bigint; size: number; value: bigint }>;
}

export type TraceEvent =
  | { type: 'entry'; entry: TraceEntry }
  | { type: 'safepoint'; frame: FrameView }
  | { type: 'gc'; index: number; reason: string; frames: FrameView[] };

export interface TraceOptions {
  /** `safepoints` records no entries: only the frames at safepoints and GCs. */
  mode: TraceMode | 'safepoints';
  /** Entries kept (blocks or instructions); events past it are counted only. Default 10,000. */
  limit: number;
  /**
   * The safepoints to stop at, or a function that finds them once the code is placed (called
   * at every instruction until it returns a list; the code hook then covers all addresses).
   */
  safepoints: readonly Safepoint[] | (() => readonly Safepoint[] | undefined);
  namer: SlotNamer;
  describeRef?: RefDescriber;
  /** Called at every safepoint (after the trace recorded it). */
  onSafepoint?: (frame: FrameView, sp: Safepoint) => void;
  /** Reads the frame at a safepoint (default `frameAtSafepoint`: a v17 bitmap stack map; trace-v31.ts gives v31's typed maps). */
  frameAt?: (sp: Safepoint) => FrameView;
}

export const DEFAULT_TRACE_LIMIT = 10_000;

/** Records a run through the machine's engine hooks; `close()` removes them. */
export class Tracer {
  readonly events: TraceEvent[] = [];
  /** Entries (blocks or instructions) executed past the limit and not recorded. */
  dropped = 0;
  private recorded = 0;
  private readonly hooks: HookHandle[] = [];
  private readonly regNames: string[];
  private readonly regIds: number[];
  private readonly regBuf: BigUint64Array;
  private previous: BigUint64Array | undefined;
  private current: TraceEntry | undefined;
  private safepointAt: Map<bigint, Safepoint> | undefined;
  private gcCount = 0;

  constructor(private readonly machine: Machine, readonly options: TraceOptions) {
    const regs = machine.regs;
    this.regNames = [...regs.gprs.filter((r) => r !== regs.pc), regs.flags];
    this.regIds = this.regNames.map((r) => regs.ids[r]);
    // ≥ 64 bytes keeps the typed array off the V8 heap for the batched register read.
    this.regBuf = new BigUint64Array(Math.max(8, this.regIds.length));
    const known = typeof options.safepoints === 'function' ? undefined : options.safepoints;
    const resolve = typeof options.safepoints === 'function' ? options.safepoints : undefined;
    if (known) this.safepointAt = new Map(known.map((s) => [s.callAddress, s]));
    const engine = machine.engine;
    if (options.mode === 'block') {
      this.hooks.push(engine.hookBlock((address, size) => this.enter('block', address, size)));
    }
    // A code hook finds safepoints exactly (the state at the call instruction) and, in
    // instruction mode, records every instruction.
    const onCode = (address: bigint, size: number) => {
      if (options.mode === 'insn') this.enter('insn', address, size);
      if (!this.safepointAt) {
        const found = resolve?.();
        if (!found) return;
        this.safepointAt = new Map(found.map((x) => [x.callAddress, x]));
      }
      const s = this.safepointAt.get(address);
      if (s) {
        const frame = options.frameAt ? options.frameAt(s) : frameAtSafepoint(machine, s, options.namer, options.describeRef);
        if (this.recorded < options.limit) this.events.push({ type: 'safepoint', frame });
        options.onSafepoint?.(frame, s);
      }
    };
    if (options.mode === 'insn' || resolve) this.hooks.push(engine.hookCode(onCode));
    else if (known && known.length) {
      // Only the range holding call sites needs the (slow) per-instruction hook.
      const calls = known.map((s) => s.callAddress);
      const lo = calls.reduce((a, b) => (a < b ? a : b));
      const hi = calls.reduce((a, b) => (a > b ? a : b));
      this.hooks.push(engine.hookCode(onCode, lo, hi));
    }
    if (options.mode !== 'safepoints') {
      this.hooks.push(engine.hookMemory({ write: true }, (a) => {
        this.writesSeen++;
        if (this.current && this.recorded <= options.limit) this.current.writes.push({ address: a.address, size: a.size, value: a.value });
      }));
    }
  }

  get truncated(): boolean {
    return this.dropped > 0;
  }

  private snapshot(): BigUint64Array {
    this.machine.engine.regReadBatch(this.regIds, this.regBuf);
    return this.regBuf.slice(0, this.regIds.length);
  }

  /** Attributes register changes since the last entry to that entry. */
  private settle(): void {
    if (!this.current) return;
    const now = this.snapshot();
    const before = this.previous;
    if (before) {
      for (let i = 0; i < now.length; i++) if (now[i] !== before[i]) this.current.changed.push({ reg: this.regNames[i], value: now[i] });
    }
    this.previous = now;
  }

  private enter(kind: TraceMode, address: bigint, size: number): void {
    if (kind === 'block' && this.isRestart(address, size)) return;
    if (this.recorded >= this.options.limit) {
      if (this.current) {
        this.settle();
        this.current = undefined;
      }
      this.dropped++;
      return;
    }
    this.settle();
    if (!this.previous) this.previous = this.snapshot();
    const entry: TraceEntry = {
      kind, address, size, symbol: this.machine.symbolize(address),
      text: kind === 'insn' ? this.machine.disassembleAt(address) : undefined, changed: [], writes: [],
    };
    this.current = entry;
    this.recorded++;
    this.events.push({ type: 'entry', entry });
  }

  private lastBlock: { address: bigint; size: number; regs: BigUint64Array; writes: number } | undefined;
  private writesSeen = 0;

  /**
   * With the native block counter on (a budget or timeout set), the first run of a block
   * reaches the block hook twice (measured; not so without the counter). A repeat of the
   * same block with no register change and no memory write in between is that restart, not
   * a second run.
   */
  private isRestart(address: bigint, size: number): boolean {
    const regs = this.snapshot();
    const last = this.lastBlock;
    const repeat = last !== undefined && last.address === address && last.size === size && last.writes === this.writesSeen &&
      regs.every((v, i) => v === last.regs[i]);
    this.lastBlock = { address, size, regs, writes: this.writesSeen };
    return repeat;
  }

  /** Records a collection's frames (call from the collector's report). */
  recordGc(report: GcReport): void {
    this.recordGcFrames(report.reason, () => (report.explanation?.frames ?? []).map((f) => frameFromExplained(this.machine.arch, f, this.options.namer)));
  }

  /** Records a collection as its frames (any collector's: `frames` is called only while the trace keeps events). */
  recordGcFrames(reason: string, frames: () => FrameView[]): void {
    this.gcCount++;
    if (this.recorded > this.options.limit) return;
    this.events.push({ type: 'gc', index: this.gcCount, reason, frames: frames() });
  }

  /** Settles the last entry's register changes and removes the hooks. Idempotent. */
  close(): void {
    if (this.hooks.length === 0) return;
    this.settle();
    this.current = undefined;
    for (const h of this.hooks.splice(0)) this.machine.engine.removeHook(h);
  }

  get entries(): number {
    return this.recorded;
  }
}

/** The trace as text lines. */
export function renderTrace(t: Tracer): string[] {
  const unit = t.options.mode === 'insn' ? 'instructions' : 'blocks';
  const lines = [`trace (${unit}, limit ${t.options.limit}):`];
  let n = 0;
  for (const e of t.events) {
    if (e.type === 'entry') {
      const x = e.entry;
      const head = x.kind === 'insn'
        ? `  #${n}  ${hex(x.address)}  ${pad(x.text ?? '??', 32)} ${x.symbol ?? ''}`
        : `  #${n}  ${hex(x.address)}  ${x.size} bytes  ${x.symbol ?? ''}`;
      lines.push(head.trimEnd());
      if (x.changed.length) lines.push(`        regs: ${x.changed.map((c) => `${c.reg}=${hex(c.value)}`).join(' ')}`);
      for (const w of x.writes) lines.push(`        write ${w.size} bytes at ${hex(w.address)} = ${hex(BigInt.asUintN(w.size * 8, w.value))}`);
      n++;
    } else if (e.type === 'safepoint') {
      lines.push(`  -- safepoint in ${e.frame.functionName ?? '?'} at ${hex(e.frame.pc)} --`);
      lines.push(...renderFrame(e.frame, '    '));
    } else {
      lines.push(`  -- GC #${e.index} (${e.reason}): ${e.frames.length} frame(s) walked --`);
      for (const f of e.frames) lines.push(...renderFrame(f, '    '));
    }
  }
  if (t.truncated) lines.push(`trace cut at ${t.options.limit} entries: ${t.dropped} more ${unit} ran unrecorded (--trace-limit N)`);
  return lines;
}

/** The trace as JSON data. */
export function traceToJson(t: Tracer): unknown {
  return {
    mode: t.options.mode, limit: t.options.limit, entries: t.entries, truncated: t.truncated, dropped: t.dropped,
    events: t.events.map((e) => {
      if (e.type === 'entry') {
        const x = e.entry;
        return {
          type: x.kind, address: hex(x.address), size: x.size, symbol: x.symbol ?? null, ...(x.text !== undefined ? { text: x.text } : {}),
          changed: Object.fromEntries(x.changed.map((c) => [c.reg, hex(c.value)])),
          writes: x.writes.map((w) => ({ address: hex(w.address), size: w.size, value: hex(BigInt.asUintN(w.size * 8, w.value)) })),
        };
      }
      if (e.type === 'safepoint') return { type: 'safepoint', frame: frameToJson(e.frame) };
      return { type: 'gc', index: e.index, reason: e.reason, frames: e.frames.map(frameToJson) };
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// Store helpers

/** The host value of a live externref in `store`, described (undefined if not live). */
export function refDescriber(store: Store): RefDescriber {
  return (ref) => store.describeExternRef(ref);
}

/**
 * `module`'s safepoints once `store` has placed its code (undefined before): for a Tracer that
 * starts before the module is instantiated (an example's driver instantiates it).
 */
export function placedSafepoints(store: Store, module: Module, moduleName: string): () => Safepoint[] | undefined {
  return () => {
    const base = store.textBaseOf(module);
    return base === undefined ? undefined : safepointsOf(module, base, moduleName);
  };
}

export interface ModuleTraceOptions {
  /** `block` or `insn` entries, or `safepoints` only (frames at safepoints and GCs). */
  mode: TraceMode | 'safepoints';
  /** Entries kept (default DEFAULT_TRACE_LIMIT). */
  limit?: number;
  /** The module's name in frames (default: module.name or 'module'). */
  moduleName?: string;
  /** Which of the module's placed safepoints to stop at (default: all of them); called once,
   * when the code is placed. */
  select?: (all: Safepoint[]) => readonly Safepoint[];
  onSafepoint?: TraceOptions['onSafepoint'];
}

/**
 * A Tracer for `module` running in `store`, wired as `stackscope run --trace` wires it: the
 * module's safepoints (at once if the store has placed its code, else as soon as it does, so
 * it may start before an example's driver instantiates the module), slot names from the
 * compiler's frame layouts, externrefs described by the store. Collections reach it through
 * `tracer.recordGc(report)`: `traceOpened` connects an opened module's (runtime/session.ts).
 */
export function traceModule(store: Store, module: Module, options: ModuleTraceOptions): Tracer {
  const moduleName = options.moduleName ?? module.name ?? 'module';
  const placed = placedSafepoints(store, module, moduleName);
  const now = placed();
  const select = options.select ?? ((all) => all);
  return new Tracer(store.machine, {
    mode: options.mode,
    limit: options.limit ?? DEFAULT_TRACE_LIMIT,
    namer: slotNamerFor(module.image, () => store.textBaseOf(module)),
    describeRef: refDescriber(store),
    // A known list lets the tracer hook only the code range holding call sites.
    safepoints: now ? select(now) : () => {
      const all = placed();
      return all && select(all);
    },
    ...(options.onSafepoint ? { onSafepoint: options.onSafepoint } : {}),
  });
}

/**
 * `traceModule` for a module opened by `openModule`/`openSession`, with every collection of its
 * store recorded (the opened module's `onGc`, which this takes over). Close it when done.
 */
export function traceOpened(opened: OpenedModule, options: Omit<ModuleTraceOptions, 'moduleName'>): Tracer {
  const tracer = traceModule(opened.store, opened.module, { ...options, moduleName: opened.file.replace(/^.*[\\/]/, '') });
  opened.onGc = (report) => tracer.recordGc(report);
  return tracer;
}

/** Every call site with a stack map in `module`, its code placed at `textBase`. */
export function safepointsOf(module: Module, textBase: bigint, moduleName: string): Safepoint[] {
  const maps = module.code.stackMaps(moduleName, textBase);
  const out: Safepoint[] = [];
  maps.functions.forEach((f, i) => {
    const start = textBase + f.start;
    for (const m of f.maps) {
      out.push({
        callAddress: start + BigInt(m.callOffset), returnAddress: start + BigInt(m.returnAddressOffset), functionStart: start,
        functionName: f.name, moduleName, funcIndex: module.code.functions[i]?.funcIndex ?? -1, mappedWords: m.mappedWords, bits: m.bits,
      });
    }
  });
  return out;
}
