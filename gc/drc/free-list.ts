/**
 * The v31 GC heap's free list: wasmtime v31.0.0's `FreeList`
 * (crates/wasmtime/src/runtime/vm/gc/enabled/free_list.rs), the same algorithm over heap
 * indices, kept host-side as wasmtime keeps it (a `BTreeMap<u32, u32>` of free block index →
 * length; here two sorted arrays).
 *
 * - Every block index and length is a multiple of ALIGN = 8; the biggest alignment served is 8.
 * - Index 0 is never handed out (it is the null VMGcRef): the whole range starts at 8, and is
 *   `round_down(capacity - 8, 8)` long (a heap smaller than 8 + 24 bytes has no block at all).
 * - Allocation rounds the size up to 8 and takes the **first** (lowest-index) free block that is
 *   long enough. It is split only when the remainder is at least MIN_BLOCK_SIZE = 24; otherwise
 *   the whole block is used (and the caller frees only its rounded size: the slack is recovered
 *   when a neighbour merges, see below).
 * - Freeing merges with the previous and next free blocks when the gap to them is smaller than
 *   MIN_BLOCK_SIZE ("contiguous" in wasmtime's sense, which swallows unsplit slack).
 * - A request bigger than `maxSize()`, of 0 bytes, or with alignment above 8 is an error, not "full":
 *   `FreeListLayoutError` (wasmtime's `Err`); "full" is `undefined` (wasmtime's `Ok(None)`).
 *
 * One deliberate difference: wasmtime merges across any gap below 24 bytes on the assumption
 * that it is slack, so a live allocation smaller than 24 bytes sitting in such a gap (a 16-byte
 * field-less struct next to a freed block) would be swallowed by the free block. This free list
 * also records its live allocations (which also turns double and mismatched frees into typed
 * errors) and never merges across one; wherever wasmtime's answer is sound the blocks are the
 * same. gc/drc/free-list.test.ts shows the case.
 */
import { StackscopeError } from '../../isa/error.ts';
import { FreeListConstants } from '../../compiler/v31/gc-layout.ts';

const U32_MAX = 0xffff_ffff;

/**
 * The era's free-list constants. v31 (the default): ALIGN 8, MIN_BLOCK_SIZE 24, a fixed heap.
 * v44 (`free_list.rs` of v44.0.0): ALIGN 16, which is also the smallest block (a block is split
 * whenever anything is left and merged only with blocks it touches), and a heap that grows:
 * a request larger than the free blocks is "full" (grow or collect), not an error, and
 * `addCapacity` appends the new bytes as a free block.
 */
export interface FreeListEra {
  readonly align: number;
  readonly minBlockSize: number;
  readonly growable: boolean;
}

export const V31_FREE_LIST: FreeListEra = Object.freeze({ align: FreeListConstants.align, minBlockSize: FreeListConstants.minBlockSize, growable: false });

/** A request the free list can never serve (too big, or aligned beyond 8). */
export class FreeListLayoutError extends StackscopeError {
  override name = 'FreeListLayoutError';
  constructor(
    readonly size: number,
    readonly align: number,
    readonly reason: string,
  ) {
    super(`GC heap allocation of ${size} bytes aligned to ${align}: ${reason}`);
  }
}

/** A dealloc that cannot be right (misaligned, outside the heap, overlapping a free block). */
export class FreeListDeallocError extends StackscopeError {
  override name = 'FreeListDeallocError';
  constructor(
    readonly index: number,
    readonly size: number,
    readonly reason: string,
  ) {
    super(`GC heap dealloc of ${size} bytes at index ${index}: ${reason}`);
  }
}

const roundDown = (value: number, align: number) => value - (value % align);

export class FreeList {
  capacity: number;
  readonly era: FreeListEra;
  /** Free blocks sorted by index; `lengths[i]` belongs to `indices[i]`. */
  private indices: number[] = [];
  private lengths: number[] = [];
  /** Live allocations: index → rounded size asked for. */
  private readonly live = new Map<number, number>();

  constructor(capacity: number, era: FreeListEra = V31_FREE_LIST) {
    if (!Number.isSafeInteger(capacity) || capacity < 0 || (capacity === 0 && !era.growable)) throw new RangeError(`free list: bad capacity ${capacity}`);
    this.capacity = capacity;
    this.era = era;
    this.reset();
  }

  /** `max_size`: the biggest size `alloc` accepts, round_down(min(capacity, u32::MAX) - 8, 8). */
  maxSize(): number {
    const ALIGN = this.era.align;
    return roundDown(Math.max(0, Math.min(this.capacity, U32_MAX) - ALIGN), ALIGN);
  }

  /** Makes the whole range one free block again (or none when it is shorter than 24 bytes). */
  reset(): void {
    const { align: ALIGN, minBlockSize: MIN_BLOCK_SIZE } = this.era;
    const end = Math.min(this.capacity, U32_MAX);
    const len = roundDown(Math.max(0, end - ALIGN), ALIGN);
    this.indices = len >= MIN_BLOCK_SIZE ? [ALIGN] : [];
    this.lengths = len >= MIN_BLOCK_SIZE ? [len] : [];
    this.live.clear();
  }

  /** `check_layout`: the block size used for a request, or a FreeListLayoutError. */
  blockSize(size: number, align: number = this.era.align): number {
    const ALIGN = this.era.align;
    if (!Number.isSafeInteger(size) || size < 0) throw new FreeListLayoutError(size, align, 'not a byte count');
    // wasmtime would split a block at its own start for a 0-byte request and hand out an index
    // that is still free; its heaps never ask (every object has a 16-byte header). Refused here.
    if (size === 0) throw new FreeListLayoutError(size, align, 'zero-sized allocations alias a free block');
    if (align > ALIGN) throw new FreeListLayoutError(size, align, `alignment greater than the maximum supported ${ALIGN}`);
    if (this.era.growable) {
      // v44's check_layout: only the rounded size must fit a u32 (AllocationTooLarge); a size
      // beyond the current free blocks is "full", for the heap to grow.
      if (Math.ceil(size / ALIGN) * ALIGN > U32_MAX) throw new FreeListLayoutError(size, align, 'the size rounded up does not fit in a u32 (allocation too large)');
    } else if (size > this.maxSize()) throw new FreeListLayoutError(size, align, `greater than the maximum supported size ${this.maxSize()}`);
    return Math.ceil(size / ALIGN) * ALIGN;
  }

  /**
   * First-fit allocation. Returns the block's heap index (never 0), or undefined when no free
   * block is long enough (a collection may help).
   * @throws FreeListLayoutError for a request no heap of this capacity can serve.
   */
  alloc(size: number, align: number = this.era.align): number | undefined {
    const MIN_BLOCK_SIZE = this.era.minBlockSize;
    const allocSize = this.blockSize(size, align);
    const at = this.lengths.findIndex((len) => len >= allocSize);
    if (at < 0) return undefined;
    const index = this.indices[at];
    const len = this.lengths[at];
    if (len - allocSize < MIN_BLOCK_SIZE) {
      this.indices.splice(at, 1);
      this.lengths.splice(at, 1);
    } else {
      // Split at exactly the requested size; the tail stays at the same sorted position.
      this.indices[at] = index + allocSize;
      this.lengths[at] = len - allocSize;
    }
    this.live.set(index, allocSize);
    return index;
  }

  /**
   * Gives back a block `alloc` returned, with the size it was asked for (rounded up to 8 here,
   * as wasmtime's dealloc rounds the layout's size).
   * @throws FreeListDeallocError for an index that cannot be an allocated block.
   */
  dealloc(index: number, size: number): void {
    const ALIGN = this.era.align;
    const allocSize = this.blockSize(size);
    if (!Number.isSafeInteger(index) || index < ALIGN || index % ALIGN !== 0 || index + allocSize > this.capacity) {
      throw new FreeListDeallocError(index, size, 'not an aligned block inside the heap');
    }
    const recorded = this.live.get(index);
    if (recorded === undefined) throw new FreeListDeallocError(index, size, 'no live allocation starts here (double free?)');
    if (recorded !== allocSize) throw new FreeListDeallocError(index, size, `the allocation here was ${recorded} bytes`);
    this.live.delete(index);
    // Position of the first free block after `index`.
    let lo = 0;
    let hi = this.indices.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.indices[mid] <= index) lo = mid + 1;
      else hi = mid;
    }
    const prev = lo - 1;
    const next = lo;
    if (prev >= 0 && this.indices[prev] + this.lengths[prev] > index) throw new FreeListDeallocError(index, size, 'overlaps a free block (double free?)');
    if (next < this.indices.length && index + allocSize > this.indices[next]) throw new FreeListDeallocError(index, size, 'overlaps a free block (double free?)');
    const prevTouches = prev >= 0 && this.isSlack(this.indices[prev] + this.lengths[prev], index);
    const nextTouches = next < this.indices.length && this.isSlack(index + allocSize, this.indices[next]);
    if (prevTouches && nextTouches) {
      this.lengths[prev] = this.indices[next] + this.lengths[next] - this.indices[prev];
      this.indices.splice(next, 1);
      this.lengths.splice(next, 1);
    } else if (prevTouches) {
      this.lengths[prev] = index + allocSize - this.indices[prev];
    } else if (nextTouches) {
      this.lengths[next] = this.indices[next] + this.lengths[next] - index;
      this.indices[next] = index;
    } else {
      this.indices.splice(next, 0, index);
      this.lengths.splice(next, 0, allocSize);
    }
  }

  /** wasmtime's `blocks_are_contiguous` (a gap below 24 bytes), unless a live allocation is in it. */
  private isSlack(from: number, to: number): boolean {
    const { align: ALIGN, minBlockSize: MIN_BLOCK_SIZE } = this.era;
    if (to - from >= MIN_BLOCK_SIZE) return false;
    for (let at = from; at < to; at += ALIGN) if (this.live.has(at)) return false;
    return true;
  }

  /**
   * v44's `add_capacity`: the heap grew by `additional` bytes; the aligned new range (from the old
   * capacity rounded down, or from ALIGN when the heap was empty, to the new capacity rounded
   * down) becomes free, merged with a free block that ends where it begins.
   */
  addCapacity(additional: number): void {
    if (!this.era.growable) throw new RangeError('this free list belongs to a fixed-size heap');
    if (!Number.isSafeInteger(additional) || additional < 0) throw new RangeError(`free list: bad capacity increase ${additional}`);
    const ALIGN = this.era.align;
    const oldCap = this.capacity;
    this.capacity = oldCap + additional;
    const oldRounded = roundDown(oldCap, ALIGN);
    if (oldRounded > U32_MAX) return;
    const index = oldRounded === 0 ? ALIGN : oldRounded;
    const newCap = roundDown(Math.min(this.capacity, U32_MAX), ALIGN);
    if (index >= newCap) return;
    const last = this.indices.length - 1;
    if (last >= 0 && this.indices[last] + this.lengths[last] === index) this.lengths[last] += newCap - index;
    else {
      this.indices.push(index);
      this.lengths.push(newCap - index);
    }
  }

  /** Live allocations. */
  get allocations(): number {
    return this.live.size;
  }

  /** The free blocks, lowest index first (a copy). */
  blocks(): Array<{ index: number; length: number }> {
    return this.indices.map((index, i) => ({ index, length: this.lengths[i] }));
  }

  /** Bytes in free blocks. */
  freeBytes(): number {
    return this.lengths.reduce((a, b) => a + b, 0);
  }

  /**
   * wasmtime's `check_integrity`: blocks inside [8, capacity], aligned, multiples of 8, sorted
   * and never touching (a touching pair is a missed merge). Throws a RangeError naming the block.
   */
  checkIntegrity(): void {
    const ALIGN = this.era.align;
    let prevEnd: number | undefined;
    for (let i = 0; i < this.indices.length; i++) {
      const index = this.indices[i];
      const len = this.lengths[i];
      if (index < ALIGN || index + len > this.capacity) throw new RangeError(`free block ${index}+${len} outside the heap`);
      if (index % ALIGN !== 0 || len % ALIGN !== 0) throw new RangeError(`free block ${index}+${len} not aligned to ${ALIGN}`);
      if (prevEnd !== undefined && !(prevEnd < index)) throw new RangeError(`free block ${index} touches or overlaps the previous one (ends at ${prevEnd})`);
      prevEnd = index + len;
    }
  }
}
