/**
 * A small allocator over guest memory, for the externref objects (value block + VMExternData)
 * that compiled code reaches through raw pointers.
 *
 * Design (all bookkeeping is host-side; guest memory holds only the objects themselves, so a
 * guest that scribbles over a freed object cannot corrupt the allocator):
 * * Memory comes in arenas, each its own read/write region mapped on demand (`arenaSize`
 *   bytes, or more for a bigger request). Regions are separated by unmapped pages, so blocks
 *   of different arenas are never adjacent and never coalesce.
 * * Every block size is rounded up to `align` (8 by default: v17 allocates value + VMExternData
 *   with alignment max(align_of value, 8)).
 * * Free blocks are indexed three ways: by start, by end (to find the left neighbour in O(1)),
 *   and by exact size (bins). Allocation takes a block from the exact-size bin when there is
 *   one, else best fit over the non-empty bins (there are few distinct sizes), splitting off
 *   the tail. Freeing coalesces with both neighbours immediately, so two free blocks are never
 *   adjacent.
 * * Guest addresses stay far below 2^53 (the Machine maps from 1 MiB up), so addresses are
 *   plain numbers inside; `bigint` is used at the public boundary of gc/ only.
 */
import type { Machine, Region } from '../simulator/machine.ts';
import { PROT_READ, PROT_WRITE } from '../simulator/engine.ts';
import { HeapExhaustedError, HeapFreeError } from './errors.ts';

export interface GuestHeapOptions {
  /** Region name prefix (arenas are named `<name>.0`, `<name>.1`, ...). */
  name?: string;
  /** Bytes per arena. Default 1 MiB. */
  arenaSize?: number;
  /** Most arenas mapped before allocation fails. Default 64. */
  maxArenas?: number;
  /** Block alignment and size granularity, a power of two ≥ 8. Default 8. */
  align?: number;
}

export interface Arena {
  /** Position in `GuestHeap.arenas` (arenas are never unmapped, so it is stable). */
  readonly index: number;
  readonly region: Region;
  readonly base: number;
  readonly end: number;
}

export interface GuestHeapStats {
  arenas: number;
  capacity: number;
  allocatedBytes: number;
  allocations: number;
  freeBytes: number;
  freeBlocks: number;
  largestFreeBlock: number;
}

export class GuestHeap {
  readonly name: string;
  readonly align: number;
  private readonly arenaSize: number;
  private readonly maxArenas: number;
  private readonly arenaList: Arena[] = [];
  private readonly freeByStart = new Map<number, number>();
  private readonly freeByEnd = new Map<number, number>();
  private readonly bins = new Map<number, Set<number>>();
  private readonly allocated = new Map<number, number>();
  private allocatedBytes = 0;

  constructor(private readonly machine: Machine, options: GuestHeapOptions = {}) {
    this.name = options.name ?? 'externref-heap';
    this.arenaSize = options.arenaSize ?? 1 << 20;
    this.maxArenas = options.maxArenas ?? 64;
    this.align = options.align ?? 8;
    if (this.align < 8 || (this.align & (this.align - 1)) !== 0) throw new RangeError(`guest heap ${this.name}: align ${this.align} is not a power of two ≥ 8`);
  }

  get arenas(): readonly Arena[] {
    return this.arenaList;
  }

  /** Allocates `size` bytes (rounded up to the alignment); returns the block's address. */
  alloc(size: number): number {
    if (!Number.isSafeInteger(size) || size <= 0) throw new HeapExhaustedError(this.name, size, this.capacity());
    const need = roundUp(size, this.align);
    let start = this.take(need);
    if (start === undefined) {
      this.addArena(need);
      start = this.take(need);
      if (start === undefined) throw new HeapExhaustedError(this.name, need, this.capacity());
    }
    this.allocated.set(start, need);
    this.allocatedBytes += need;
    return start;
  }

  /** Returns a block to the heap, coalescing it with free neighbours. */
  free(address: number): void {
    const size = this.allocated.get(address);
    if (size === undefined) {
      throw new HeapFreeError(this.name, BigInt(address), this.arenaOf(address) ? 'not-allocated' : 'outside-heap');
    }
    this.allocated.delete(address);
    this.allocatedBytes -= size;
    let start = address;
    let end = address + size;
    const right = this.freeByStart.get(end);
    if (right !== undefined) {
      this.removeFree(end, right);
      end += right;
    }
    const left = this.freeByEnd.get(start);
    if (left !== undefined) {
      this.removeFree(left, start - left);
      start = left;
    }
    this.addFree(start, end - start);
  }

  /** Size of the allocated block at `address`, or undefined when none starts there. */
  sizeOf(address: number): number | undefined {
    return this.allocated.get(address);
  }

  /** The arena containing `address`: a binary search, arenas being mapped at rising addresses. */
  arenaOf(address: number): Arena | undefined {
    const list = this.arenaList;
    let lo = 0;
    let hi = list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const a = list[mid];
      if (address < a.base) hi = mid - 1;
      else if (address >= a.end) lo = mid + 1;
      else return a;
    }
    return undefined;
  }

  capacity(): number {
    let total = 0;
    for (const a of this.arenaList) total += a.end - a.base;
    return total;
  }

  stats(): GuestHeapStats {
    let freeBytes = 0;
    let largest = 0;
    for (const size of this.freeByStart.values()) {
      freeBytes += size;
      if (size > largest) largest = size;
    }
    return {
      arenas: this.arenaList.length, capacity: this.capacity(), allocatedBytes: this.allocatedBytes,
      allocations: this.allocated.size, freeBytes, freeBlocks: this.freeByStart.size, largestFreeBlock: largest,
    };
  }

  /** Free blocks as [start, size] pairs in address order (for tests and reports). */
  freeBlocks(): Array<[number, number]> {
    return [...this.freeByStart.entries()].sort((a, b) => a[0] - b[0]);
  }

  private take(need: number): number | undefined {
    let size = need;
    let bin = this.bins.get(need);
    if (!bin) {
      let best = Infinity;
      for (const s of this.bins.keys()) if (s > need && s < best) best = s;
      if (best === Infinity) return undefined;
      size = best;
      bin = this.bins.get(best)!;
    }
    const start = bin.values().next().value as number;
    this.removeFree(start, size);
    if (size > need) this.addFree(start + need, size - need);
    return start;
  }

  private addArena(need: number): void {
    if (this.arenaList.length >= this.maxArenas) throw new HeapExhaustedError(this.name, need, this.capacity());
    const size = Math.max(this.arenaSize, roundUp(need, 4096));
    const region = this.machine.map(`${this.name}.${this.arenaList.length}`, size, PROT_READ | PROT_WRITE);
    const base = Number(region.address);
    const last = this.arenaList[this.arenaList.length - 1];
    if (last && base < last.end) throw new RangeError(`guest heap ${this.name}: arena at 0x${base.toString(16)} below the previous one`);
    this.arenaList.push({ index: this.arenaList.length, region, base, end: base + region.size });
    this.addFree(base, region.size);
  }

  private addFree(start: number, size: number): void {
    this.freeByStart.set(start, size);
    this.freeByEnd.set(start + size, start);
    let bin = this.bins.get(size);
    if (!bin) this.bins.set(size, (bin = new Set()));
    bin.add(start);
  }

  private removeFree(start: number, size: number): void {
    this.freeByStart.delete(start);
    this.freeByEnd.delete(start + size);
    const bin = this.bins.get(size)!;
    bin.delete(start);
    if (bin.size === 0) this.bins.delete(size);
  }
}

function roundUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}
