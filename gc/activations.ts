/**
 * wasmtime v17's VMExternRefActivationsTable: the over-approximated set of externrefs that Wasm
 * frames may be using, so compiled code can pass references around without touching counts.
 *
 * Guest memory (compiled code reads `next` and `end` through the VMContext's table pointer):
 *
 *   table + 0   next        bump finger into the chunk (compiled code writes it)
 *   table + 8   end         one past the chunk's last slot; next == end means "full"
 *   table + 16  chunk.ptr   Box<[TableElem]>: the slots, each a nullable externref pointer
 *   table + 24  chunk.len   number of slots (0 until the first sweep, then 512)
 *
 * The chunk itself (512 8-byte slots) lives in the same guest region. Like v17, a new table
 * starts with an empty chunk (next == end == chunk.ptr), so the first insertion takes the slow
 * path, whose GC sweep allocates the real chunk; `lazyChunk: false` starts with it allocated.
 *
 * Host side: the over-approximated set (slow-path insertions and the roots found by the last
 * GC) and the precise set (filled only during a GC). Every slot and every set entry owns one
 * reference count, exactly as the Rust table holds owning `VMExternRef`s: inserting an entry
 * that a set already holds gives the extra count back, as `HashSet::insert` drops the
 * duplicate. The sets are RefSets (membership as mark bits in the heap's flag bytes) that the
 * table recycles: a sweep swaps them instead of building new ones, so a collection's cost stays
 * proportional to its entries and nothing is reallocated in the steady state (see ref-set.ts
 * and address-set.ts for what JS Sets cost here).
 *
 * Re-entrancy (seed v0.22): `gcInProgress` plays the role of the borrowed
 * `precise_stack_roots` RefCell. During a sweep `next` is parked at `end`, so destructors that
 * re-enter Wasm and insert references take the slow path into the (fresh) over-approximated
 * set, and a GC they trigger returns early; those references survive into the next cycle.
 */
import type { Machine, Region } from '../simulator/machine.ts';
import { PROT_READ, PROT_WRITE, type InsertionAnswer } from '../simulator/engine.ts';
import { VMExternRefActivationsTableLayout as L } from '../compiler/vmoffsets.ts';
import { ActivationsTableError, DestructorError, GcInvariantError } from './errors.ts';
import { CLAIM_HELD, CLAIM_NEW, CLAIM_UNMARKED, type ExternRefHeap } from './externref.ts';
import type { ReadonlyAddressSet } from './address-set.ts';
import { RefSet } from './ref-set.ts';
import { mutated } from '../compiler/mutants.ts';

export interface ActivationsTableOptions {
  /** Region name. Default `externref-activations-table`. */
  name?: string;
  /** Slots in the bump chunk. Default 512 (4096 / 8, as v17). */
  chunkSlots?: number;
  /** Start with an empty chunk like v17 (default true). */
  lazyChunk?: boolean;
}

/** An object the sweep freed, with its host value. */
export interface FreedObject {
  ref: bigint;
  value: unknown;
  /** Which part of the table held the last count: a chunk slot, the old over-approximation, or a host drop. */
  from: 'chunk' | 'over-approximated';
}

export interface TableSnapshot {
  next: bigint;
  end: bigint;
  chunk: bigint;
  chunkSlots: number;
  /** Filled chunk slots in order (0n for a cleared slot). */
  bumpEntries: bigint[];
  overApproximated: bigint[];
}

export interface SweepResult {
  /** Counts dropped: filled chunk slots and old over-approximated entries. */
  droppedFromChunk: number;
  droppedFromOverApproximated: number;
  freedCount: number;
  /** Filled only when the sweep was asked to record. */
  freed: FreedObject[];
  /** Destructor failures; the sweep finishes before they are reported. */
  destructorFailures: Array<{ address: bigint; error: unknown }>;
}

/** `ActivationsTable.takePreciseRoot`'s answers. */
export const ROOT_TAKEN = 0;
export const ROOT_NOT_IN_TABLE = 1;
export const ROOT_NOT_LIVE = 2;
export type RootOutcome = typeof ROOT_TAKEN | typeof ROOT_NOT_IN_TABLE | typeof ROOT_NOT_LIVE;

/** Membership in the activations table as it was when `ActivationsTable.membership` was asked. */
export class TableMembership {
  /** The two sets' marks when those alone answer membership (neither has a side set), else −1. */
  readonly marks: number;

  constructor(private readonly over: RefSet, private readonly chunk: RefSet) {
    this.marks = over.marksOnly && chunk.marksOnly ? over.markBit | chunk.markBit : -1;
  }

  has(ref: number): boolean {
    return this.over.has(ref) || this.chunk.has(ref);
  }

  /** `has` for an object whose flag byte the caller has read (`ExternRefHeap.flagsRaw`). */
  hasWithFlags(ref: number, flags: number): boolean {
    return this.over.hasWithFlags(ref, flags) || this.chunk.hasWithFlags(ref, flags);
  }
}

export class ActivationsTable {
  readonly machine: Machine;
  readonly heap: ExternRefHeap;
  readonly region: Region;
  /** Guest address of the table struct (what the VMContext points at). */
  readonly address: bigint;
  /** Guest address of the chunk's first slot. */
  readonly chunkAddress: bigint;
  readonly chunkCapacity: number;
  #over!: RefSet;
  #gcInProgress = false;
  /** Roots found by the running GC; empty outside a GC. Each entry owns one count. */
  precise: RefSet;
  private gcOkay = true;
  /** The engine's copy of what insertWithGcIsNoop reads (answerNatively), kept up to date. */
  private answer: InsertionAnswer | undefined;
  private answerAllowed: () => boolean = () => false;
  /** An empty set kept for the next sweep (undefined while a sweep holds it). */
  private spare: RefSet | undefined;
  /** Reused by `chunkEntries`. */
  private readonly chunkSet: RefSet;
  /** Steps of sets this table let go (see `setSteps`). */
  private retiredSteps = 0;
  /** Roots `takePreciseRoot` looked at: one flag byte each, for every set it asks. */
  private rootSteps = 0;
  private readonly base: number;
  private readonly chunkBase: number;
  private readonly lazyChunk: boolean;
  private readonly data: DataView;

  constructor(machine: Machine, heap: ExternRefHeap, options: ActivationsTableOptions = {}) {
    this.machine = machine;
    this.heap = heap;
    this.chunkCapacity = options.chunkSlots ?? L.chunkSlots;
    if (!Number.isInteger(this.chunkCapacity) || this.chunkCapacity < 1) throw new RangeError(`activations table: bad chunk size ${this.chunkCapacity}`);
    const chunkOffset = 64;
    this.region = machine.map(options.name ?? 'externref-activations-table', chunkOffset + this.chunkCapacity * L.slotSize, PROT_READ | PROT_WRITE);
    this.data = this.region.data;
    this.base = Number(this.region.address);
    this.address = this.region.address;
    this.chunkBase = this.base + chunkOffset;
    this.chunkAddress = BigInt(this.chunkBase);
    this.lazyChunk = options.lazyChunk !== false;
    const len = this.lazyChunk ? 0 : this.chunkCapacity;
    this.writeWord(L.next, this.chunkBase);
    this.writeWord(L.end, this.chunkBase + len * L.slotSize);
    this.writeWord(L.chunk, this.chunkBase);
    this.writeWord(L.chunk + 8, len);
    // Each set claims one of the heap's seven mark bits (after everything that can fail).
    this.overApproximated = new RefSet(heap);
    this.precise = new RefSet(heap);
    this.spare = new RefSet(heap);
    this.chunkSet = new RefSet(heap);
  }

  /** Slow-path insertions and the last GC's precise roots. Each entry owns one count. */
  get overApproximated(): RefSet {
    return this.#over;
  }

  set overApproximated(set: RefSet) {
    this.#over = set;
    this.answer?.setMark(set.markBit);
  }

  /** True while a GC runs; a nested GC returns early. */
  get gcInProgress(): boolean {
    return this.#gcInProgress;
  }

  set gcInProgress(running: boolean) {
    this.#gcInProgress = running;
    if (this.answer) this.updateAnswer();
  }

  /**
   * Lets the engine answer `activations_table_insert_with_gc` calls that insertWithGcIsNoop
   * would answer true, without a round trip to the host (Machine.answerInsertions): from now on
   * the table keeps `answer` up to date — armed while a collection runs with GC allowed and
   * `allowed()` (asked when a collection starts or ends, or GC is allowed or not), the
   * over-approximated set's mark bit, the heap's flag bytes. The engine checks the chunk's
   * bounds and the object's flag byte itself, as insertWithGcIsNoop does.
   */
  answerNatively(answer: InsertionAnswer, allowed: () => boolean): void {
    this.answer = answer;
    this.answerAllowed = allowed;
    answer.setMark(this.#over.markBit);
    this.heap.onFlagArena((base, end, flags) => void answer.addArena(base, end, flags));
    this.updateAnswer();
  }

  private updateAnswer(): void {
    this.answer!.setArmed(this.#gcInProgress && this.gcOkay && this.answerAllowed());
  }

  /**
   * Puts an empty table back in the state a new one starts in (a lazy table's empty chunk:
   * its next insertion takes the slow path and collects, as in a new store), for a runner that
   * reuses one store for many programs and wants each to run as in a fresh one. The table must
   * hold nothing and no collection may be running.
   */
  resetEmpty(): void {
    const filled = this.numFilledInBumpChunk();
    if (this.gcInProgress || filled !== 0 || this.overApproximated.size !== 0 || this.precise.size !== 0) {
      throw new ActivationsTableError('next', this.address + BigInt(L.next), BigInt(filled), `reset while the table is in use (${filled} chunk entries, ${this.overApproximated.size} over-approximated${this.gcInProgress ? ', a collection running' : ''})`);
    }
    const len = this.lazyChunk ? 0 : this.chunkCapacity;
    this.writeWord(L.next, this.chunkBase);
    this.writeWord(L.end, this.chunkBase + len * L.slotSize);
    this.writeWord(L.chunk + 8, len);
  }

  /** Current chunk length in slots (0 before the first sweep of a lazy table). */
  get chunkLength(): number {
    return this.readWord(L.chunk + 8);
  }

  /** v17 bump_capacity_remaining: bytes between next and end. */
  bumpCapacityRemaining(): number {
    const { next, end } = this.finger();
    return end - next;
  }

  numFilledInBumpChunk(): number {
    const { next } = this.finger();
    return (next - this.chunkBase) / L.slotSize;
  }

  /** v17 try_insert: takes ownership of one count of `ref`; false (ownership kept by the caller) when full. */
  tryInsert(ref: bigint): boolean {
    return this.tryInsertRaw(Number(ref));
  }

  /** What compiled code does inline for table.get/global.get of an externref: when there is
   * room, add one to ref_count and bump-store the pointer; false means "call the
   * activations_table_insert_with_gc libcall" (which clones the reference itself). */
  bumpInsertInline(ref: bigint): boolean {
    const { next, end } = this.finger();
    if (next === end) return false;
    this.heap.cloneRaw(Number(ref));
    this.data.setBigUint64(next - this.base, ref, true);
    this.writeWord(L.next, next + L.slotSize);
    return true;
  }

  /** v17 insert_with_gc: takes ownership; when the chunk is full, runs `gc` and then inserts
   * into the over-approximated set. `gc` is the collector's entry point (it returns early when a
   * GC is already running, which is what makes re-entrant insertions safe). */
  insertWithGc(ref: bigint, gc: () => unknown): void {
    if (!this.gcOkay) throw new GcInvariantError('gc-not-okay', ref, undefined, 'insert_with_gc while GC is not allowed');
    const r = Number(ref);
    if (this.tryInsertRaw(r)) return;
    try {
      gc();
    } finally {
      // Even when the collection failed (a typed error leaves the table as it was), the table
      // keeps the reference it was given: failing closed means keeping objects alive.
      this.insertOwnedIntoSet(this.overApproximated, r);
    }
  }

  /**
   * Whether taking a count on `ref` and inserting it with GC would change nothing, because it
   * is the case where v17's `insert_with_gc` gives every count back: a collection is running
   * (the GC the insertion asks for returns early), the chunk is full (a sweep parks `next` at
   * `end`), and `ref` is a live object the over-approximated set already holds (the set drops
   * the duplicate). Destructors that re-enter Wasm during a sweep make thousands of these
   * insertions (a loop reading one table slot); the runtime skips them after this check. The
   * chunk's bounds are checked as on every insertion.
   */
  insertWithGcIsNoop(ref: number): boolean {
    if (!this.gcInProgress || !this.gcOkay) return false;
    const { next, end } = this.finger();
    if (next !== end) return false;
    const flags = this.heap.flagsRaw(ref);
    return (flags & 1) !== 0 && this.overApproximated.hasWithFlags(ref, flags);
  }

  /** v17 insert_without_gc: takes ownership; never collects. */
  insertWithoutGc(ref: bigint): void {
    const r = Number(ref);
    if (!this.tryInsertRaw(r)) this.insertOwnedIntoSet(this.overApproximated, r);
  }

  /** v17 set_gc_okay: returns the previous setting. */
  setGcOkay(okay: boolean): boolean {
    const previous = this.gcOkay;
    this.gcOkay = okay;
    if (this.answer) this.updateAnswer();
    return previous;
  }

  get isGcOkay(): boolean {
    return this.gcOkay;
  }

  /** Every entry of the over-approximation: the hash set, then the filled chunk slots (nulls skipped). */
  elements(): number[] {
    const out = [...this.overApproximated];
    const filled = this.numFilledInBumpChunk();
    for (let i = 0; i < filled; i++) {
      const v = this.readSlot(i);
      if (v !== 0) out.push(v);
    }
    return out;
  }

  /**
   * The distinct non-null pointers in the filled part of the bump chunk. The set is the
   * table's own and is refilled by the next call: read it before the table changes.
   */
  chunkEntries(): ReadonlyAddressSet {
    const out = this.chunkSet;
    out.clear();
    const filled = this.numFilledInBumpChunk();
    for (let i = 0; i < filled; i++) {
      const v = this.readSlot(i);
      if (v !== 0) out.add(v);
    }
    return out;
  }

  /**
   * The table's elements as they are now, for v17's debug check that every root is one (its
   * DebugOnly<HashSet>): the over-approximated set, which nothing changes before the sweep,
   * and the chunk's entries (`chunkEntries`, refilled by the next call).
   */
  membership(): TableMembership {
    return new TableMembership(this.overApproximated, this.chunkEntries() as RefSet);
  }

  /** Membership steps (marks and hash slots) in this table's sets since it was made (for tests bounding the work of a collection). */
  get setSteps(): number {
    return this.overApproximated.steps + this.precise.steps + (this.spare?.steps ?? 0) + this.chunkSet.steps + this.retiredSteps + this.rootSteps;
  }

  snapshot(): TableSnapshot {
    const { next, end } = this.finger();
    const filled = (next - this.chunkBase) / L.slotSize;
    const bumpEntries: bigint[] = [];
    for (let i = 0; i < filled; i++) bumpEntries.push(BigInt(this.readSlot(i)));
    return {
      next: BigInt(next), end: BigInt(end), chunk: this.chunkAddress, chunkSlots: this.chunkLength,
      bumpEntries, overApproximated: [...this.overApproximated].map((r) => BigInt(r)),
    };
  }

  /** Adds a root found on the stack to the precise set, with its own count (clone_from_raw). */
  insertPreciseRoot(ref: number): void {
    if (this.precise.has(ref)) return;
    this.heap.cloneRaw(ref);
    this.precise.add(ref);
  }

  /**
   * What the collector does with each non-null word a stack map marks, from one read of the
   * object's flag byte: with `membership` (v17's debug check) the word must be a table element
   * (else ROOT_NOT_IN_TABLE); it must be a live object (else ROOT_NOT_LIVE); unless the precise
   * set holds it already, it takes a count (clone_from_raw) and joins the precise set.
   */
  takePreciseRoot(ref: number, membership: TableMembership | undefined): RootOutcome {
    this.rootSteps++;
    const precise = this.precise;
    const required = membership === undefined ? 0 : membership.marks;
    if (required >= 0 && precise.marksOnly) {
      // Marks alone: one pass over the object's flag byte (the same answers as below).
      const claim = this.heap.claimRaw(ref, required, precise.markBit);
      if (claim === CLAIM_NEW) {
        precise.addMarked(ref);
        return ROOT_TAKEN;
      }
      return claim === CLAIM_HELD ? ROOT_TAKEN : claim === CLAIM_UNMARKED ? ROOT_NOT_IN_TABLE : ROOT_NOT_LIVE;
    }
    const flags = this.heap.flagsRaw(ref);
    if (membership !== undefined && !membership.hasWithFlags(ref, flags)) return ROOT_NOT_IN_TABLE;
    if ((flags & 1) === 0) return ROOT_NOT_LIVE;
    if (precise.hasWithFlags(ref, flags)) return ROOT_TAKEN;
    this.heap.cloneRaw(ref);
    precise.addLiveNonMember(ref);
    return ROOT_TAKEN;
  }

  /** Drops every count the precise set holds (the canary walk failed: no sweep). */
  clearPrecise(): Array<{ address: bigint; error: unknown }> {
    const roots = this.precise;
    this.precise = this.takeSpare();
    const failures = this.dropAll(roots.size, (k) => roots.at(k), undefined, 'over-approximated');
    this.recycle(roots);
    return failures;
  }

  /**
   * Sweeps after the precise roots are known: drops every chunk slot and every old
   * over-approximated entry, and makes the precise set the new over-approximation. Order and
   * re-entrancy as in the v0.22 seed, with v17's lazy chunk allocation.
   */
  sweep(record: boolean): SweepResult {
    if (mutated('precise-set-cleared')) this.clearPrecise();
    const filled = this.numFilledInBumpChunk();
    const slots: number[] = [];
    for (let i = 0; i < filled; i++) {
      const v = this.readSlot(i);
      if (v !== 0 && !this.heap.isLiveRaw(v)) {
        throw new ActivationsTableError('slot', BigInt(this.chunkBase + i * L.slotSize), BigInt(v), 'chunk slot holds a pointer that is not a live externref');
      }
      slots.push(v);
    }
    const freed: FreedObject[] | undefined = record ? [] : undefined;
    const before = this.heap.freedTotal;
    const oldOver = this.overApproximated;
    this.overApproximated = this.takeSpare();
    // Park the finger at the end so re-entrant insertions go to the hash set, not the chunk
    // being cleared.
    const { end } = this.finger();
    this.writeWord(L.next, end);
    for (let i = 0; i < filled; i++) this.data.setBigUint64(this.chunkBase - this.base + i * L.slotSize, 0n, true);
    const failures = this.dropAll(slots.length, (k) => slots[k], freed, 'chunk');
    if (this.chunkLength === 0) {
      this.writeWord(L.chunk + 8, this.chunkCapacity);
      this.writeWord(L.end, this.chunkBase + this.chunkCapacity * L.slotSize);
    }
    if (mutated('chunk-end-off-by-one')) this.writeWord(L.end, this.chunkBase + (this.chunkCapacity + 1) * L.slotSize);
    this.writeWord(L.next, this.chunkBase);
    // The precise roots become the over-approximation; references inserted re-entrantly while
    // the chunk was being cleared must stay alive too.
    const reentrant = this.overApproximated;
    this.overApproximated = this.precise;
    for (let k = 0; k < reentrant.size; k++) this.insertOwnedIntoSet(this.overApproximated, reentrant.at(k));
    reentrant.clear();
    this.precise = reentrant;
    const droppedFromOverApproximated = oldOver.size;
    if (!mutated('over-approximation-kept')) failures.push(...this.dropMembers(oldOver, freed));
    else for (let k = 0; k < oldOver.size; k++) this.insertOwnedIntoSet(this.overApproximated, oldOver.at(k));
    this.recycle(oldOver);
    return {
      droppedFromChunk: slots.length, droppedFromOverApproximated,
      freedCount: this.heap.freedTotal - before, freed: freed ?? [], destructorFailures: failures,
    };
  }

  // ---- internals ---------------------------------------------------------------------------

  private tryInsertRaw(ref: number): boolean {
    const { next, end } = this.finger();
    if (next === end) return false;
    this.data.setBigUint64(next - this.base, BigInt(ref), true);
    this.writeWord(L.next, next + L.slotSize);
    return true;
  }

  private insertOwnedIntoSet(set: RefSet, ref: number): void {
    if (ref === 0) return; // a null reference owns no count
    if (!set.add(ref)) this.heap.dropRaw(ref); // the set already owns a count
  }

  /** An empty set for a sweep to fill: the spare one, or a new one when a nested sweep holds it. */
  private takeSpare(): RefSet {
    const set = this.spare ?? new RefSet(this.heap);
    this.spare = undefined;
    return set;
  }

  /** Empties a set whose counts were all given back and keeps it as the spare. */
  private recycle(set: RefSet): void {
    if (this.spare) {
      this.retiredSteps += set.steps;
      set.dispose();
    } else {
      set.clear();
      this.spare = set;
    }
  }

  /**
   * Gives back the count each member of `set` (the old over-approximation, which nothing else
   * holds) owns, in the set's order, and empties it; marks come off as the pass goes.
   */
  private dropMembers(set: RefSet, freed: FreedObject[] | undefined): Array<{ address: bigint; error: unknown }> {
    const failures: Array<{ address: bigint; error: unknown }> = [];
    const heap = this.heap;
    const n = set.size;
    // Without a record of what is freed, a member whose count stays above zero takes one pass
    // over its flag byte and count (ExternRefHeap.releaseRaw); any other takes the general path.
    const fast = freed === undefined && set.marksOnly;
    const mark = set.markBit;
    for (let k = 0; k < n; k++) {
      if (fast && heap.releaseRaw(set.at(k), mark)) continue;
      this.dropOne(set.release(k), freed, 'over-approximated', failures);
    }
    set.forget();
    return failures;
  }

  /** Gives back one count of each of the `count` references `refAt` yields. */
  private dropAll(count: number, refAt: (k: number) => number, freed: FreedObject[] | undefined, from: FreedObject['from']): Array<{ address: bigint; error: unknown }> {
    const failures: Array<{ address: bigint; error: unknown }> = [];
    for (let k = 0; k < count; k++) this.dropOne(refAt(k), freed, from, failures);
    return failures;
  }

  /** Gives back one count of `r` (nothing for null), recording what it frees and destructor failures. */
  private dropOne(r: number, freed: FreedObject[] | undefined, from: FreedObject['from'], failures: Array<{ address: bigint; error: unknown }>): void {
    if (r === 0) return;
    const value = freed && this.heap.readCount(r) === 1 ? this.heap.hostValueRaw(r) : undefined;
    try {
      if (this.heap.dropRaw(r) && freed) freed.push({ ref: BigInt(r), value, from });
    } catch (error) {
      if (error instanceof DestructorError) {
        failures.push(...error.failures);
        if (freed) freed.push({ ref: BigInt(r), value, from });
      } else throw error;
    }
  }

  /** Reads and validates next/end: both inside the chunk, slot-aligned, next ≤ end. */
  private finger(): { next: number; end: number } {
    const next = this.readWord(L.next);
    const end = this.readWord(L.end);
    const len = this.readWord(L.chunk + 8);
    if (end !== this.chunkBase + len * L.slotSize || len > this.chunkCapacity) {
      throw new ActivationsTableError('end', this.address + BigInt(L.end), BigInt(end), `expected ${(this.chunkBase + len * L.slotSize).toString(16)} for a chunk of ${len} slots`);
    }
    if (next < this.chunkBase || next > end || (next - this.chunkBase) % L.slotSize !== 0) {
      throw new ActivationsTableError('next', this.address + BigInt(L.next), BigInt(next), 'bump finger outside the chunk or not slot-aligned');
    }
    return { next, end };
  }

  private readSlot(i: number): number {
    const o = this.chunkBase - this.base + i * L.slotSize;
    return this.data.getUint32(o + 4, true) * 2 ** 32 + this.data.getUint32(o, true);
  }

  private readWord(offset: number): number {
    return this.data.getUint32(offset + 4, true) * 2 ** 32 + this.data.getUint32(offset, true);
  }

  private writeWord(offset: number, value: number): void {
    this.data.setBigUint64(offset, BigInt(value), true);
  }
}
