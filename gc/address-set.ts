/**
 * A set of arbitrary guest addresses: what a RefSet (ref-set.ts) keeps beside its mark bits
 * for addresses that are not live externref objects, and a general replacement for a JS `Set`
 * of addresses wherever a collection may hold many.
 *
 * Why not a JS `Set`: V8 keeps a Set's entries in one backing store that it reallocates at
 * every doubling, and once that store outgrows the regular-object limit of 128 KiB (beyond
 * 4,096 entries in Node 20) each reallocation is a large object on freshly mapped pages. A
 * collection that rebuilds a set of 10,000 roots then pays ≈ 300 ns per insertion instead of
 * ≈ 25 (measured on the project's machine: docs/benchmarks.md, 2026-12-07), which made one
 * collection's cost grow ten times faster than its roots (issue 21). This set keeps its storage
 * across `clear()`, so a steady state of collections allocates nothing, and `clear()` costs
 * O(size), not O(capacity).
 *
 * Open addressing with linear probing over a Float64Array, load factor at most 1/2, keyed by a
 * Fibonacci hash of the address (a multiplicative hash keeps strided addresses such as
 * 32-byte objects apart). 0 marks an empty slot, so 0 is not a member: callers never store the
 * null reference. Keys must be safe integers in 1 .. 2^53 − 1. Iteration follows insertion
 * order, as a Set's does (reports list the over-approximated set in that order).
 *
 * `probes` counts the slots every `has`/`add` visited since the set was made; tests bound it
 * by the number of operations to catch a hash that stopped spreading keys, without timing.
 */
/** What readers of a set may use (`has`, `size`, `at`, iteration). */
export interface ReadonlyAddressSet extends Iterable<number> {
  readonly size: number;
  has(address: number): boolean;
  at(index: number): number;
}

export class AddressSet implements ReadonlyAddressSet {
  /** Hash slots visited by `has` and `add` since creation. */
  probes = 0;
  private slots: Float64Array;
  private order: Float64Array;
  private count = 0;
  private shift: number;
  private mask: number;

  constructor(expected = 0) {
    let log = 4;
    while (1 << log < expected * 2) log++;
    this.slots = new Float64Array(1 << log);
    this.order = new Float64Array(1 << (log - 1));
    this.shift = 32 - log;
    this.mask = (1 << log) - 1;
  }

  get size(): number {
    return this.count;
  }

  has(address: number): boolean {
    return address !== 0 && this.slots[this.find(address)] === address;
  }

  /** Adds `address`; false when it was already a member. */
  add(address: number): boolean {
    if (!(address > 0 && address <= Number.MAX_SAFE_INTEGER && Number.isInteger(address))) {
      throw new RangeError(`address set: ${address} is not a non-null guest address`);
    }
    if (this.count * 2 >= this.slots.length) this.grow();
    const i = this.find(address);
    if (this.slots[i] === address) return false;
    this.slots[i] = address;
    this.order[this.count++] = address;
    return true;
  }

  /** The member added `index`-th (0 = first), for loops that must not allocate an iterator. */
  at(index: number): number {
    return this.order[index];
  }

  /** Removes every member, keeping the storage. */
  clear(): void {
    const slots = this.slots;
    if (this.count * 8 >= slots.length) {
      slots.fill(0);
    } else {
      // Few members in a big table: find each one's slot from its home (slots emptied on the
      // way belong to members cleared before it, so they are skipped, not taken as the end).
      const mask = this.mask;
      const order = this.order;
      for (let k = 0; k < this.count; k++) {
        const address = order[k];
        let i = this.home(address);
        while (slots[i] !== address) i = (i + 1) & mask;
        slots[i] = 0;
      }
    }
    this.count = 0;
  }

  *[Symbol.iterator](): IterableIterator<number> {
    for (let k = 0; k < this.count; k++) yield this.order[k];
  }

  values(): IterableIterator<number> {
    return this[Symbol.iterator]();
  }

  /** The slot holding `address`, or the empty slot that ends its probe run. */
  private find(address: number): number {
    const slots = this.slots;
    const mask = this.mask;
    let i = this.home(address);
    for (;;) {
      this.probes++;
      const v = slots[i];
      if (v === address || v === 0) return i;
      i = (i + 1) & mask;
    }
  }

  private home(address: number): number {
    const low = address >>> 3;
    const high = (address / 4294967296) >>> 0;
    return Math.imul(low ^ Math.imul(high, 0x27d4eb2d), 0x9e3779b1) >>> this.shift;
  }

  private grow(): void {
    const order = this.order;
    const n = this.count;
    const log = 33 - this.shift;
    this.slots = new Float64Array(1 << log);
    this.order = new Float64Array(1 << (log - 1));
    this.shift = 32 - log;
    this.mask = (1 << log) - 1;
    this.count = 0;
    for (let k = 0; k < n; k++) this.add(order[k]);
  }
}
