/**
 * A set of externref pointers whose membership lives in the heap's flag bytes: one mark bit,
 * claimed from the ExternRefHeap for the set's lifetime, set on every member object. The
 * activations table keeps its over-approximated, precise and chunk sets this way, so the
 * collector's questions about a root (live? in the table? already seen?) all read the same
 * byte: the cost of a root stays flat from 1,000 to 100,000 roots, where three hash tables of
 * several MiB each cost a cache miss apiece (bench/gc, docs/benchmarks.md).
 *
 * Members are listed in insertion order (iteration, `at`, `clear`). Anything that is not a live
 * object when added (the table never stores one, but its API accepts whatever it is given)
 * goes to a small AddressSet beside the marks, as does everything once the heap's seven marks
 * are all claimed (more than one table on a heap), so the set is exact in every case.
 */
import { AddressSet, type ReadonlyAddressSet } from './address-set.ts';
import type { ExternRefHeap } from './externref.ts';

export class RefSet implements ReadonlyAddressSet {
  private markSteps = 0;
  private readonly mark: number | undefined;
  /** The set's mark bit in the heap's flag byte, 0 when it has none (everything is in `others`). */
  readonly markBit: number;
  private readonly others = new AddressSet();
  private order = new Float64Array(16);
  private count = 0;

  constructor(private readonly heap: ExternRefHeap) {
    this.mark = heap.claimMark();
    this.markBit = this.mark ?? 0;
  }

  get size(): number {
    return this.count;
  }

  /** Marks read or set plus hash slots visited since creation (tests bound it by the work done). */
  get steps(): number {
    return this.markSteps + this.others.probes;
  }

  has(address: number): boolean {
    this.markSteps++;
    if (this.mark !== undefined && this.heap.hasMark(address, this.mark)) return true;
    return this.others.size !== 0 && this.others.has(address);
  }

  /**
   * Membership of `address` given its flag byte (`ExternRefHeap.flagsRaw`), which a caller
   * asking several sets about one object reads once (and counts as one step for all of them).
   */
  hasWithFlags(address: number, flags: number): boolean {
    return (flags & this.markBit) !== 0 || (this.others.size !== 0 && this.others.has(address));
  }

  /** True when every member is a mark (nothing in the side set): `markBit` alone answers membership. */
  get marksOnly(): boolean {
    return this.mark !== undefined && this.others.size === 0;
  }

  /** Lists a live object on which the caller has just set this set's mark (`ExternRefHeap.claimRaw`). */
  addMarked(address: number): void {
    this.push(address);
  }

  /** Adds a live object that the caller has just seen is not a member (`hasWithFlags`; its step). */
  addLiveNonMember(address: number): void {
    if (this.mark !== undefined) this.heap.setMark(address, this.mark);
    else this.others.add(address);
    this.push(address);
  }

  /** Adds `address`; false when it was already a member. */
  add(address: number): boolean {
    this.markSteps++;
    if (this.others.size !== 0 && this.others.has(address)) return false;
    if (this.mark !== undefined && this.heap.isLiveRaw(address)) {
      if (!this.heap.setMark(address, this.mark)) return false;
    } else if (!this.others.add(address)) return false;
    this.push(address);
    return true;
  }

  private push(address: number): void {
    if (this.count === this.order.length) {
      const grown = new Float64Array(this.order.length * 2);
      grown.set(this.order);
      this.order = grown;
    }
    this.order[this.count++] = address;
  }

  at(index: number): number {
    return this.order[index];
  }

  /**
   * Member `index` with its mark taken off, for a caller that lets go of every member in turn
   * (the table's sweep, dropping each one's count) and then calls `forget`: one pass instead of
   * a drop pass and a `clear` pass.
   */
  release(index: number): number {
    const address = this.order[index];
    if (this.mark !== undefined) this.heap.clearMark(address, this.mark);
    return address;
  }

  /** Empties the set after `release` of every member. */
  forget(): void {
    this.others.clear();
    this.count = 0;
  }

  /** Removes every member, keeping the storage. */
  clear(): void {
    if (this.mark !== undefined) {
      for (let k = 0; k < this.count; k++) this.heap.clearMark(this.order[k], this.mark);
    }
    this.others.clear();
    this.count = 0;
  }

  /** Clears the set and gives its mark back to the heap; the set must not be used again. */
  dispose(): void {
    this.clear();
    if (this.mark !== undefined) this.heap.releaseMark(this.mark);
  }

  *[Symbol.iterator](): IterableIterator<number> {
    for (let k = 0; k < this.count; k++) yield this.order[k];
  }

  values(): IterableIterator<number> {
    return this[Symbol.iterator]();
  }
}
