/**
 * v31's `VMGcRefActivationsTable` (seed drc-v31): the over-approximated set of GC references
 * that Wasm frames may hold. Its first member, the bump area `alloc = {next, end, chunk}`, lives
 * in guest memory because compiled code inserts into it inline (store the u32 at `*next`, add 4
 * to `next`, unless `next == end`); vmctx `gc_heap_data` points at it. The two hash sets
 * (`over_approximated_stack_roots`, `precise_stack_roots`) are host-side.
 *
 * Guest layout (compiler/v31/gc-layout.ts, `VMGcRefActivationsTableLayout`):
 *
 *   +0   next   (*mut u32)  bump finger
 *   +8   end    (*mut u32)  one past the chunk: not a slot
 *   +16  chunk  (Box<[u32]>: data pointer, then length in slots at +24)
 *   +32  the chunk's 1024 u32 slots (reserved now, in use after the first sweep)
 *
 * A new table has an **empty** chunk, as `VMGcRefTableAlloc::default` builds it: Rust's empty
 * boxed slice points at `NonNull::dangling()` — address 4, the alignment of u32 — so next, end
 * and the chunk pointer are all 4 and the first insert takes the slow path. The first sweep
 * calls `force_allocation` (1024 slots, here at +32); later sweeps only `reset` the finger.
 */
import type { Machine, Region } from '../../simulator/machine.ts';
import { PROT_READ, PROT_WRITE } from '../../simulator/engine.ts';
import { VMGcRefActivationsTableLayout as L } from '../../compiler/v31/gc-layout.ts';
import { StackscopeError } from '../../isa/error.ts';

/** Where an empty `Box<[u32]>` points: `NonNull::<u32>::dangling()`. */
export const EMPTY_CHUNK_POINTER = 4;
/** Where the chunk's slots start, after the 32-byte bump area. */
export const CHUNK_OFFSET = L.size;

/** The bump area in guest memory no longer makes sense (compiled code or a stray write broke it). */
export class ActivationsTableCorruptError extends StackscopeError {
  override name = 'ActivationsTableCorruptError';
  constructor(
    readonly next: number,
    readonly end: number,
    readonly reason: string,
  ) {
    super(`v31 activations table: next = 0x${next.toString(16)}, end = 0x${end.toString(16)}: ${reason}`);
  }
}

export class GcRefActivationsTable {
  readonly region: Region;
  /** Guest address of the table (what vmctx gc_heap_data holds). */
  readonly address: bigint;
  /** Guest address of the first chunk slot once allocated. */
  readonly chunkAddress: bigint;
  readonly chunkSlots: number;
  /** Slow-path insertions and, after a sweep, the last precise set (host-side, as in wasmtime). */
  overApproximated = new Set<number>();
  /** Built by `trace`, empty outside a collection. */
  precise = new Set<number>();
  private readonly data: DataView;
  private readonly base: number;

  constructor(machine: Machine, options: { name?: string; chunkSlots?: number } = {}) {
    this.chunkSlots = options.chunkSlots ?? L.chunkSlots;
    if (!Number.isInteger(this.chunkSlots) || this.chunkSlots < 1) throw new RangeError(`v31 activations table: bad chunk size ${this.chunkSlots}`);
    this.region = machine.map(options.name ?? 'gc-ref-activations-table', CHUNK_OFFSET + this.chunkSlots * L.slotSize, PROT_READ | PROT_WRITE);
    this.data = this.region.data;
    this.base = Number(this.region.address);
    this.address = this.region.address;
    this.chunkAddress = this.region.address + BigInt(CHUNK_OFFSET);
    this.writeWord(L.next, EMPTY_CHUNK_POINTER);
    this.writeWord(L.end, EMPTY_CHUNK_POINTER);
    this.writeWord(L.chunk, EMPTY_CHUNK_POINTER);
    this.writeWord(L.chunkLength, 0);
  }

  /** Slots in the chunk: 0 until the first sweep allocates it. */
  get chunkLength(): number {
    return this.readWord(L.chunkLength);
  }

  /** `bump_capacity_remaining`: **bytes** between next and end. */
  bumpCapacityRemaining(): number {
    const { next, end } = this.finger();
    return end - next;
  }

  /** `num_filled_in_bump_chunk`: chunk length minus the unused slots. */
  numFilledInBumpChunk(): number {
    const { next, end } = this.finger();
    return Math.max(0, this.chunkLength - (end - next) / L.slotSize);
  }

  /**
   * `need_gc_before_entering_wasm(num_gc_refs)`: v31 compares the number of references with the
   * remaining capacity in **bytes** (`num_gc_refs > bump_capacity_remaining()`), so an empty
   * chunk always asks for a collection and a full one admits up to 4x more refs than slots; the
   * slow path then takes the overflow. Reproduced as written.
   */
  needGcBeforeEnteringWasm(numGcRefs: number): boolean {
    return numGcRefs > this.bumpCapacityRemaining();
  }

  /** `try_insert`: bump-stores the raw ref; false when the chunk is full (the caller keeps it). */
  tryInsert(raw: number): boolean {
    const { next, end } = this.finger();
    if (next === end) return false;
    const slot = next - this.base;
    if (this.data.getUint32(slot, true) !== 0) throw new ActivationsTableCorruptError(next, end, 'the slot at next is not empty');
    this.data.setUint32(slot, raw >>> 0, true);
    this.writeWord(L.next, next + L.slotSize);
    return true;
  }

  /**
   * Counts v31.0.0 lost by `insert_without_gc` into the set when the ref was already a member:
   * `HashSet::insert` is a no-op and a VMGcRef has no destructor, so that count is never dropped
   * (the object leaks). Diagnostic only (tests and the fuzzer's oracle read it).
   */
  readonly lostInserts = new Map<number, number>();

  /** `insert_without_gc` (what `expose_gc_ref_to_wasm` does): the bump chunk, else the hash set. */
  insertWithoutGc(raw: number): void {
    if (this.tryInsert(raw)) return;
    if (this.overApproximated.has(raw)) this.lostInserts.set(raw, (this.lostInserts.get(raw) ?? 0) + 1);
    else this.overApproximated.add(raw);
  }

  /** The filled chunk slots, in order. */
  bumpEntries(): number[] {
    const out: number[] = [];
    const filled = this.numFilledInBumpChunk();
    for (let i = 0; i < filled; i++) out.push(this.data.getUint32(CHUNK_OFFSET + i * L.slotSize, true));
    return out;
  }

  /** `elements`: the hash set, then the filled chunk slots (nulls skipped). */
  elements(): number[] {
    return [...this.overApproximated, ...this.bumpEntries().filter((r) => r !== 0)];
  }

  /**
   * `drain_bump_chunk`: hands every filled slot to `f` and zeroes it. Throws
   * ActivationsTableCorruptError for a null slot (wasmtime's `expect("non-null")`).
   */
  drainBumpChunk(f: (raw: number) => void): void {
    const filled = this.numFilledInBumpChunk();
    for (let i = 0; i < filled; i++) {
      const at = CHUNK_OFFSET + i * L.slotSize;
      const raw = this.data.getUint32(at, true);
      if (raw === 0) throw new ActivationsTableCorruptError(this.finger().next, this.finger().end, `filled slot ${i} holds null`);
      this.data.setUint32(at, 0, true);
      f(raw);
    }
  }

  /** After a sweep: `force_allocation` the first time, `reset` (finger back to the start) later. */
  resetAfterSweep(): void {
    if (this.chunkLength === 0) {
      this.writeWord(L.chunk, this.base + CHUNK_OFFSET);
      this.writeWord(L.chunkLength, this.chunkSlots);
    }
    const start = this.readWord(L.chunk);
    this.writeWord(L.next, start);
    this.writeWord(L.end, start + this.chunkLength * L.slotSize);
  }

  /** next and end as guest addresses, checked against the chunk. */
  finger(): { next: number; end: number } {
    const next = this.readWord(L.next);
    const end = this.readWord(L.end);
    const start = this.readWord(L.chunk);
    const len = this.readWord(L.chunkLength);
    if (end !== start + len * L.slotSize) throw new ActivationsTableCorruptError(next, end, 'end is not the end of the chunk');
    if (next < start || next > end || (next - start) % L.slotSize !== 0) throw new ActivationsTableCorruptError(next, end, 'next is outside the chunk or misaligned');
    return { next, end };
  }

  private readWord(offset: number): number {
    return Number(this.data.getBigUint64(offset, true));
  }

  private writeWord(offset: number, value: number): void {
    this.data.setBigUint64(offset, BigInt(value), true);
  }
}
