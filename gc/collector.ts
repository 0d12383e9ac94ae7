/**
 * The externref collector: deferred reference counting with a precise stack scan, as wasmtime
 * v17's `gc` (crates/runtime/src/externref.rs), with the v0.22 canary walk as an alternative.
 *
 * One collection:
 * 1. If a collection is already running (a destructor re-entered Wasm and filled the table),
 *    return at once: the outer collection wins (seed v0.22).
 * 2. With debug checks on, snapshot the table's elements into a set (v17's DebugOnly<HashSet>).
 * 3. Walk the frames: v17 mode walks every activation from VMRuntimeLimits plus the saved
 *    chain; canary mode unwinds the FP chain from a starting frame and watches for the canary.
 * 4. For every frame whose return address has a stack map: SP = FP − mapped_words·8 (v17; the
 *    canary walk uses the unwinder's SP), and each set bit i names the word at SP + 8·i. Every
 *    non-null word must be in the table (debug check) and must be a live externref (always:
 *    reading a non-object would corrupt guest memory); it joins the precise set with its own
 *    count.
 * 5. Sweep (ActivationsTable.sweep): drop the chunk slots and the old over-approximation; the
 *    precise set becomes the new over-approximation. Objects whose count reaches zero are
 *    freed and their destructors run. Canary mode skips the sweep (and gives the precise
 *    counts back) when the canary was not found, with a warning in the report.
 *
 * A failed check throws before anything is dropped, after giving back the counts the precise
 * set took, so the table and every count are as they were. Destructor failures are collected
 * while the sweep finishes and then thrown together as one DestructorError.
 *
 * Entry points for the runtime: `Collector.collect()` (store.gc()), `Collector.insertWithGc`
 * (the activations_table_insert_with_gc builtin, after it cloned the reference),
 * `Collector.lastReport`. Walk inputs come from callbacks so the runtime can keep its own
 * activation chain (CallThreadState) and canary.
 */
import type { Machine } from '../simulator/machine.ts';
import type { InsertionAnswer } from '../simulator/engine.ts';
import { hex } from '../isa/error.ts';
import { DestructorError, GcInvariantError, StackWalkError, type RootLocation } from './errors.ts';
import type { ExternRefHeap } from './externref.ts';
import { ROOT_NOT_IN_TABLE, ROOT_TAKEN, type ActivationsTable, type RootOutcome, type TableMembership, type TableSnapshot } from './activations.ts';
import type { StackMapHit, StackMapRegistry } from './stackmap-registry.ts';
import {
  MemoryReader, V17Cursor, collectActivations, readRuntimeLimits, walkCanary,
  type ActivationTriple, type CanaryWalkResult, type FrameRegisters,
} from './walk.ts';
import {
  attachReportJson, describeValue, type ExplainedFrame, type ExplainedWord, type GcExplanation, type GcReason, type GcReport, type SuspectedRoot,
} from './report.ts';

export { describeValue, type GcReason, type GcReport, type SuspectedRoot } from './report.ts';
import { mutated } from '../compiler/mutants.ts';

export type WalkConfig =
  | {
    kind: 'v17';
    /** Guest address of the store's VMRuntimeLimits. */
    limits: bigint;
    /** Saved triples of older activations, youngest first (the runtime's CallThreadState chain). */
    olderActivations?: () => readonly ActivationTriple[];
  }
  | {
    kind: 'canary';
    /** The host SP recorded at the outermost host-to-guest entry; null when no guest code is running. */
    canary: () => bigint | null;
    /** The youngest guest frame (e.g. `callerFrameOfHostCall` of the host call that triggered GC). */
    start: () => FrameRegisters | undefined;
    /** Guest frames that made nested host-to-guest calls, youngest first. */
    resume?: () => readonly FrameRegisters[];
  };

export type ConservativeCheck = 'off' | 'report' | 'strict';

export interface CollectorOptions {
  machine: Machine;
  heap: ExternRefHeap;
  table: ActivationsTable;
  registry: StackMapRegistry;
  walk: WalkConfig;
  /** v17's debug assertions (roots must be table entries; precise set empty on entry). Default true. */
  debugChecks?: boolean;
  /**
   * Cross-check for missed roots: a table entry found in a mapped frame word whose bit is
   * clear. Dead spill slots can legitimately hold such copies, so 'report' only lists them;
   * 'strict' throws GcInvariantError('missed-root'). Default 'off'.
   */
  conservativeCheck?: ConservativeCheck;
  /** Called with every finished collection's report (including table-full ones). */
  onCollect?: (report: GcReport) => void;
  /** Build the explanation in every collection, whatever `CollectOptions.explain` says. Default false. */
  explainAll?: boolean;
}


export interface CollectOptions {
  reason?: GcReason;
  /** Build the full explanation (frames, words, table before/after, freed values). */
  explain?: boolean;
  /** Override the configured walk inputs for this collection. */
  olderActivations?: readonly ActivationTriple[];
  canary?: bigint | null;
  start?: FrameRegisters;
  resume?: readonly FrameRegisters[];
}

/**
 * Host operations of a collector's collections so far (cumulative: take differences around a
 * collection). Each is bounded by the collection's size, which is what lets a test catch a
 * collection growing faster than its work without timing it.
 */
export interface CollectorWork {
  /** Guest-memory accesses (a frame record or a frame's mapped words is one block). */
  memoryReads: number;
  /** Of those, the ones that had to look the region up (the reader caches the last one). */
  regionLookups: number;
  /** Steps in the activations table's sets (a mark bit read or set, or a hash slot visited). */
  setSteps: number;
  /** Frames whose marked words the walk read in place (a run of frames at one call site), without handing the frame to the collector. */
  scannedInPlace: number;
}

export class Collector {
  readonly machine: Machine;
  readonly heap: ExternRefHeap;
  readonly table: ActivationsTable;
  readonly registry: StackMapRegistry;
  walk: WalkConfig;
  debugChecks: boolean;
  conservativeCheck: ConservativeCheck;
  lastReport: GcReport | undefined;
  private readonly onCollect: ((report: GcReport) => void) | undefined;
  private readonly explainAll: boolean;
  private readonly reader: MemoryReader;
  private readonly cursor: V17Cursor;
  private scannedInPlace = 0;
  /** The map-bit-dropped mutant, read once per collection. */
  private dropFirstBit = false;

  constructor(options: CollectorOptions) {
    this.machine = options.machine;
    this.heap = options.heap;
    this.table = options.table;
    this.registry = options.registry;
    this.walk = options.walk;
    this.debugChecks = options.debugChecks ?? true;
    this.conservativeCheck = options.conservativeCheck ?? 'off';
    this.onCollect = options.onCollect;
    this.explainAll = options.explainAll ?? false;
    this.reader = new MemoryReader(this.machine);
    this.cursor = new V17Cursor(this.reader, this.machine.arch);
  }

  /** See CollectorWork. The set steps include the table's own insertions between collections. */
  get work(): CollectorWork {
    return { memoryReads: this.reader.reads, regionLookups: this.reader.regionLookups, setSteps: this.table.setSteps, scannedInPlace: this.scannedInPlace };
  }

  /** The slow path of table insertion (v17 insert_with_gc): takes ownership of one count. */
  insertWithGc(ref: bigint): void {
    this.table.insertWithGc(ref, () => this.collect({ reason: 'table-full' }));
  }

  /**
   * Whether a count on `ref` inserted with GC would be given straight back (see
   * ActivationsTable.insertWithGcIsNoop): never under the mutant whose nested GC runs on.
   */
  insertWithGcIsNoop(ref: bigint): boolean {
    return !mutated('gc-in-gc-continues') && this.table.insertWithGcIsNoop(Number(ref));
  }

  /**
   * Lets the engine answer the insertions insertWithGcIsNoop answers true, without a round
   * trip (ActivationsTable.answerNatively), with the same exception: never under the mutant
   * whose nested GC runs on.
   */
  answerInsertionsNatively(answer: InsertionAnswer): void {
    this.table.answerNatively(answer, () => !mutated('gc-in-gc-continues'));
  }

  /**
   * The activations_table_insert_with_gc builtin (v17 libcalls.rs) for a raw pointer from
   * compiled code: clone it, put one clone in the table *without* GC, then insert the other
   * with GC. The first insertion matters: the calling frame's stack map already marks this
   * reference (it is live across the libcall), so the collection this call may run must find
   * it in the table or the debug check fails. The second insertion lands in the
   * over-approximated set next to the first and gives its count back.
   */
  libcallInsertWithGc(ref: bigint): void {
    if (ref === 0n) return;
    this.heap.clone(ref);
    this.table.insertWithoutGc(this.heap.clone(ref));
    this.insertWithGc(ref);
  }

  /** Runs one collection. */
  collect(options: CollectOptions = {}): GcReport {
    const mode = this.walk.kind;
    const reason = options.reason ?? 'host';
    const t0 = performance.now();
    const table = this.table;
    if (table.gcInProgress && !mutated('gc-in-gc-continues')) {
      return attachReportJson({
        reason, mode, skipped: 'reentrant', swept: false, warnings: ['a collection is already running; this one returned early'],
        activations: 0, frames: 0, framesWithMaps: 0, slotsScanned: 0, nullSlots: 0, roots: 0,
        tableBefore: { bump: 0, overApproximated: 0 }, tableAfter: { bump: 0, overApproximated: 0 },
        freedCount: 0, freed: [], suspects: [], durationMs: 0,
      });
    }
    if (!table.isGcOkay) throw new GcInvariantError('gc-not-okay', 0n, undefined, 'collection requested while GC is not allowed');
    table.gcInProgress = true;
    this.dropFirstBit = mutated('map-bit-dropped');
    try {
      return this.run(mode, reason, options, t0);
    } finally {
      table.gcInProgress = false;
    }
  }

  private run(mode: 'v17' | 'canary', reason: GcReason, options: CollectOptions, t0: number): GcReport {
    const table = this.table;
    const explain = this.explainAll || options.explain === true;
    if (this.debugChecks && table.precise.size !== 0) {
      throw new GcInvariantError('root-not-in-table', BigInt(table.precise.at(0)), undefined, 'precise root set not empty on entry');
    }
    const tableBefore = { bump: table.numFilledInBumpChunk(), overApproximated: table.overApproximated.size };
    const needSet = this.debugChecks || this.conservativeCheck !== 'off';
    // v17's DebugOnly<HashSet> of every table element. The over-approximated set already is a
    // set and is not mutated until the sweep, so only the bump chunk's entries are copied.
    const tableSet = needSet ? table.membership() : undefined;
    const snapshotBefore: TableSnapshot | undefined = explain ? table.snapshot() : undefined;
    const report: GcReport = attachReportJson({
      reason, mode, swept: false, warnings: [], activations: 0, frames: 0, framesWithMaps: 0,
      slotsScanned: 0, nullSlots: 0, roots: 0, tableBefore, tableAfter: tableBefore, freedCount: 0,
      freed: [], suspects: [], durationMs: 0,
    });
    const explained: ExplainedFrame[] | undefined = explain ? [] : undefined;
    const activationList: ActivationTriple[] = [];
    let shouldSweep = true;
    try {
      if (this.walk.kind === 'v17') {
        const live = readRuntimeLimits(this.machine, this.walk.limits);
        const older = options.olderActivations ?? this.walk.olderActivations?.() ?? [];
        const acts = collectActivations(live, older, (pc) => this.registry.isWasmPc(pc));
        activationList.push(...acts);
        report.activations = acts.length;
        this.walkAndScanV17(acts, tableSet, report, explained);
      } else {
        const w = this.walk;
        const canary = options.canary !== undefined ? options.canary : w.canary();
        const start = options.start ?? w.start();
        const resume = options.resume ?? w.resume?.() ?? [];
        if (canary === null) {
          // No canary: no guest frames may be on the stack. The seed asserted it in debug builds.
          if (this.debugChecks && start) {
            walkCanary(this.machine, { canary: -1n, start, resume }, (f) => {
              if (f.kind === 'guest' && this.registry.isWasmPc(BigInt(f.pc))) {
                throw new GcInvariantError('wasm-frame-without-canary', BigInt(f.pc), undefined, `frame ${f.index} (sp ${hex(f.sp)}) is Wasm code but no canary is set`);
              }
            }, this.reader);
          }
          report.canary = { value: null, found: false, stop: 'no-canary' };
        } else {
          if (!start) throw new StackWalkError('zero-pc', 0, 0, 0n, 0n, 0n, 'canary walk needs a starting frame');
          report.activations = 1 + resume.length;
          const result = walkCanary(this.machine, { canary, start, resume }, (f) => {
            report.frames++;
            const hit = f.kind === 'guest' ? this.registry.lookupRaw(f.pc) : undefined;
            if (hit) this.scanFrame(hit, 0, f.index, f.pc, f.fp, f.sp, tableSet, report);
            explained?.push(this.explainFrame(0, f.index, f.pc, f.fp, f.sp, hit, tableSet, f.kind));
          }, this.reader);
          report.canary = { value: canary, found: result.foundCanary, stop: result.stop };
          if (!result.foundCanary) {
            shouldSweep = false;
            report.warnings.push(`did not find stack canary ${hex(canary)} (unwind stopped: ${result.stop} after ${result.frames} frames); skipping GC sweep`);
          }
        }
      }
    } catch (error) {
      // Give back the counts the precise set took; the table is untouched.
      table.clearPrecise();
      throw error;
    }
    report.roots = table.precise.size;
    const failures: Array<{ address: bigint; error: unknown }> = [];
    if (shouldSweep) {
      const result = table.sweep(explain);
      report.swept = true;
      report.freedCount = result.freedCount;
      report.freed = result.freed;
      failures.push(...result.destructorFailures);
    } else {
      failures.push(...table.clearPrecise());
    }
    report.tableAfter = { bump: table.numFilledInBumpChunk(), overApproximated: table.overApproximated.size };
    report.durationMs = performance.now() - t0;
    if (explain) {
      report.explanation = {
        arch: this.machine.arch, mode, reason, debugChecks: this.debugChecks,
        activations: activationList.map((a, index) => ({ index, exitPc: a.exitPc, exitFp: a.exitFp, entrySp: a.entrySp })),
        canary: report.canary ? { value: report.canary.value, found: report.canary.found, stop: report.canary.stop } : undefined,
        frames: explained!,
        roots: rootsOf(explained!, this.heap),
        tableBefore: snapshotBefore!, tableAfter: table.snapshot(),
        freed: report.freed.map((f) => ({ ref: f.ref, value: describeValue(f.value), from: f.from })),
        suspects: report.suspects,
        warnings: report.warnings,
        summary: {
          frames: report.frames, framesWithMaps: report.framesWithMaps, slotsScanned: report.slotsScanned,
          roots: report.roots, freed: report.freedCount, swept: report.swept, durationMs: report.durationMs,
        },
      };
    }
    this.lastReport = report;
    this.onCollect?.(report);
    if (failures.length) throw new DestructorError(failures);
    return report;
  }

  /**
   * v17: every frame of every activation, youngest first, with one cursor (walk.ts's
   * V17Cursor, the walk `walkV17` makes), so a frame costs a few typed-array loads and
   * compares: consecutive frames at the same return address (recursion, a loop of calls)
   * reuse the previous stack-map lookup, and when that call site's map marks no word (and no
   * mutant, conservative check or explanation needs the frame) the cursor folds the following
   * frames there into a count.
   */
  private walkAndScanV17(acts: readonly ActivationTriple[], tableSet: TableMembership | undefined, report: GcReport, explained: ExplainedFrame[] | undefined): void {
    const cursor = this.cursor;
    const registry = this.registry;
    const spSkew = mutated('frame-size-off-by-one') ? -8 : mutated('sp-wrong-base') ? 16 : 0;
    const skipYoungest = mutated('youngest-frame-skipped');
    const skipOldest = mutated('oldest-frame-skipped');
    const conservative = this.conservativeCheck !== 'off';
    // Whether a frame whose map marks no word needs anything but counting.
    const plain = !skipYoungest && !skipOldest && !conservative && explained === undefined;
    // Whether the cursor may read a frame's marked words itself (no mutant moves or drops them).
    const scans = plain && spSkew === 0 && !this.dropFirstBit;
    const membership = this.debugChecks ? tableSet : undefined;
    const table = this.table;
    let scanHit: StackMapHit | undefined;
    let lastPc = -1;
    let lastHit: StackMapHit | undefined;
    let lastCountOnly = false;
    let frames = 0;
    let framesWithMaps = 0;
    for (let a = 0; a < acts.length; a++) {
      cursor.begin(acts[a], a);
      while (cursor.nextBatch()) {
        // Frames at a return address whose map marks nothing, which the cursor only counted.
        frames += cursor.folded;
        framesWithMaps += cursor.folded;
        if (cursor.scanned !== 0) {
          // Frames at the scanned return address (only in batches that hand none out): their
          // marked words' non-null values, in walk order.
          const hit = scanHit!;
          const scanned = cursor.scanned;
          const rootCount = cursor.rootCount;
          const roots = cursor.roots;
          frames += scanned;
          framesWithMaps += scanned;
          this.reader.reads += scanned;
          this.scannedInPlace += scanned;
          report.slotsScanned += scanned * hit.slots.length;
          report.nullSlots += scanned * hit.slots.length - rootCount;
          for (let k = 0; k < rootCount; k++) {
            const outcome = table.takePreciseRoot(roots[k], membership);
            if (outcome !== ROOT_TAKEN) {
              const fp = cursor.rootFps[k];
              throw this.rootError(outcome, hit, a, cursor.rootIndexes[k], cursor.scanPc, fp, fp - hit.mappedWords * 8, hit.slots[cursor.rootSlots[k]]);
            }
          }
        }
        const n = cursor.count;
        const pcs = cursor.pcs;
        const fps = cursor.fps;
        for (let k = 0; k < n; k++) {
          const pc = pcs[k];
          if (pc === lastPc && lastCountOnly) {
            // Another frame at the last return address, whose map marks nothing.
            frames++;
            framesWithMaps++;
            continue;
          }
          const fp = fps[k];
          const index = cursor.indexes[k];
          if (skipYoungest && a === 0 && index === 0) continue;
          if (skipOldest && (this.reader.word(fp) ?? 0) >= cursor.entrySp) continue;
          frames++;
          let hit = lastHit;
          if (pc !== lastPc) {
            hit = lastHit = registry.lookupRaw(pc);
            lastPc = pc;
            lastCountOnly = plain && hit !== undefined && hit.slots.length === 0;
            cursor.foldPc = lastCountOnly ? pc : -1;
            scanHit = scans && hit !== undefined && hit.slots.length !== 0 && cursor.scanAt(pc, hit.fpOffsets) ? hit : undefined;
            if (scanHit === undefined) cursor.scanPc = -1;
          }
          if (hit === undefined) {
            if (!registry.isWasmPc(BigInt(pc))) {
              throw new GcInvariantError('unknown-frame', BigInt(pc), undefined, `activation ${a} frame ${index} (fp ${hex(fp)}): no module covers this pc`);
            }
            if (explained) explained.push(this.explainFrame(a, index, pc, fp, undefined, undefined, tableSet));
            continue;
          }
          framesWithMaps++;
          const sp = fp - hit.mappedWords * 8 + spSkew;
          if (hit.slots.length !== 0) this.scanRoots(hit, a, index, pc, fp, sp, tableSet, report);
          if (conservative) this.checkConservative(hit, a, index, pc, fp, sp, tableSet!, report);
          if (explained) explained.push(this.explainFrame(a, index, pc, fp, sp, hit, tableSet));
        }
      }
      // The next activation starts without a fold (begin resets it); its first frame looks up again.
      lastPc = -1;
      lastCountOnly = false;
    }
    report.frames += frames;
    report.framesWithMaps += framesWithMaps;
  }

  /** One frame with a stack map: its marked words, then (when asked) the conservative check. */
  private scanFrame(hit: StackMapHit, activation: number, index: number, pc: number, fp: number, sp: number, tableSet: TableMembership | undefined, report: GcReport): void {
    report.framesWithMaps++;
    if (hit.slots.length !== 0) this.scanRoots(hit, activation, index, pc, fp, sp, tableSet, report);
    if (this.conservativeCheck !== 'off') this.checkConservative(hit, activation, index, pc, fp, sp, tableSet!, report);
  }

  /**
   * Reads the words a map marks and adds the non-null ones to the precise set. The mapped
   * area is fetched as one block and its marked words decoded host-side; only when part of it
   * is unreadable does the scan go word by word, to name the first marked word that is. (The
   * errors are built elsewhere, keeping this loop small enough to inline into the walk's.)
   */
  private scanRoots(hit: StackMapHit, activation: number, index: number, pc: number, fp: number, sp: number, tableSet: TableMembership | undefined, report: GcReport): void {
    const reader = this.reader;
    const table = this.table;
    const membership = this.debugChecks ? tableSet : undefined;
    const slots = hit.slots;
    const block = reader.block(sp, hit.mappedWords * 8);
    // The mutant loses the lowest set bit of the map's first bit word.
    const first = this.dropFirstBit && slots[0] < 32 ? 1 : 0;
    let nulls = 0;
    for (let j = first; j < slots.length; j++) {
      const bit = slots[j];
      const r = block >= 0 ? reader.wordAt(block + bit * 8) : reader.word(sp + bit * 8);
      if (r === 0) {
        nulls++;
        continue;
      }
      if (r === undefined) throw this.rootError(undefined, hit, activation, index, pc, fp, sp, bit);
      const outcome = table.takePreciseRoot(r, membership);
      if (outcome !== ROOT_TAKEN) throw this.rootError(outcome, hit, activation, index, pc, fp, sp, bit);
    }
    report.slotsScanned += slots.length - first;
    report.nullSlots += nulls;
  }

  /** The error for marked word `bit`: unreadable (no outcome), or what `takePreciseRoot` answered. */
  private rootError(outcome: RootOutcome | undefined, hit: StackMapHit, activation: number, index: number, pc: number, fp: number, sp: number, bit: number): Error {
    const slot = sp + bit * 8;
    if (outcome === undefined) {
      return new StackWalkError('unreadable', activation, index, BigInt(pc), BigInt(fp), 0n, `stack map bit ${bit} names unreadable word ${hex(slot)}`);
    }
    const location = rootLocation(hit, activation, index, pc, fp, slot, bit);
    if (outcome === ROOT_NOT_IN_TABLE) {
      return new GcInvariantError('root-not-in-table', this.reader.wordExact(slot)!, location, 'every on-stack externref inside a Wasm frame must have an entry in the VMExternRefActivationsTable');
    }
    return new GcInvariantError('root-not-live', this.reader.wordExact(slot)!, location, 'the word is not a live externref');
  }

  /** A table entry in a mapped word whose bit is clear: listed ('report') or an error ('strict'). */
  private checkConservative(hit: StackMapHit, activation: number, index: number, pc: number, fp: number, sp: number, tableSet: TableMembership, report: GcReport): void {
    const reader = this.reader;
    const words = hit.mappedWords;
    const bits = hit.bits;
    const again = words === 0 ? -1 : reader.block(sp, words * 8);
    for (let bit = 0; bit < words; bit++) {
      if ((bits[bit >>> 5] >>> (bit & 31)) & 1) continue;
      const slot = sp + bit * 8;
      const v = again >= 0 ? reader.wordAt(again + bit * 8) : reader.word(slot);
      if (v !== undefined && v !== 0 && tableSet.has(v)) {
        const loc = rootLocation(hit, activation, index, pc, fp, slot, bit);
        if (this.conservativeCheck === 'strict') {
          throw new GcInvariantError('missed-root', BigInt(v), loc, 'a table entry sits in a word whose stack-map bit is clear');
        }
        report.suspects.push({ ...loc, value: BigInt(v) });
      }
    }
  }

  private explainFrame(
    activation: number, index: number, pc: number, fp: number, sp: number | undefined,
    hit: StackMapHit | undefined, tableSet: TableMembership | undefined, kind: ExplainedFrame['kind'] = 'wasm',
  ): ExplainedFrame {
    const fn = this.registry.functionAt(BigInt(pc));
    const words: ExplainedWord[] = [];
    if (hit && sp !== undefined) {
      for (let bit = 0; bit < hit.mappedWords; bit++) {
        const address = sp + bit * 8;
        const value = this.reader.wordExact(address);
        const isRef = ((hit.bits[bit >>> 5] >>> (bit & 31)) & 1) === 1;
        const n = value === undefined ? undefined : Number(value);
        words.push({
          bit, address: BigInt(address), value, isRef,
          inTable: n !== undefined && n !== 0 && tableSet ? tableSet.has(n) : undefined,
          hostValue: isRef && n && this.heap.isLiveRaw(n) ? describeValue(this.heap.hostValueRaw(n)) : undefined,
        });
      }
    }
    return {
      activation, index, kind,
      moduleName: fn?.moduleName, functionName: fn?.functionName, pc: BigInt(pc), pcOffset: fn?.pcOffset,
      fp: BigInt(fp), sp: sp === undefined ? undefined : BigInt(sp),
      frameSize: hit && sp !== undefined ? fp - sp : undefined,
      returnAddress: this.reader.wordExact(fp + 8), callerFp: this.reader.wordExact(fp),
      map: hit ? { mapOffset: hit.mapOffset, mappedWords: hit.mappedWords, bits: bitString(hit.bits, hit.mappedWords), words } : undefined,
    };
  }
}

/** Where a root was read (built only for errors and reports). */
function rootLocation(hit: StackMapHit, activation: number, frame: number, pc: number, fp: number, slot: number, bit: number): RootLocation {
  return { activation, frame, functionName: hit.functionName, pc: BigInt(pc), fp: BigInt(fp), slot: BigInt(slot), bit };
}

/** The distinct roots seen in explained frames, each with the frames that hold it. */
function rootsOf(frames: readonly ExplainedFrame[], heap: ExternRefHeap): GcExplanation['roots'] {
  const byRef = new Map<bigint, GcExplanation['roots'][number]>();
  for (const f of frames) {
    for (const w of f.map?.words ?? []) {
      if (!w.isRef || !w.value) continue;
      let root = byRef.get(w.value);
      if (!root) {
        const n = Number(w.value);
        root = { ref: w.value, value: w.hostValue ?? '?', countAfter: heap.isLiveRaw(n) ? heap.readCount(n) : 0, sites: [] };
        byRef.set(w.value, root);
      }
      root.sites.push({ activation: f.activation, frame: f.index, functionName: f.functionName ?? '?', slot: w.address, bit: w.bit });
    }
  }
  return [...byRef.values()];
}

/** Bits as a string, bit 0 first (the word at SP). */
function bitString(bits: Uint32Array, words: number): string {
  let s = '';
  for (let i = 0; i < words; i++) s += (bits[i >>> 5] >>> (i & 31)) & 1 ? '1' : '0';
  return s;
}

