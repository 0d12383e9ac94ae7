/**
 * v31's `ExternRefHostDataTable` (crates/wasmtime/src/runtime/vm/gc/host_data.rs over
 * crates/slab): the host values behind externrefs, in a slab. The GC heap's externref object
 * stores only the id, a u32 that is the slab index plus one (so never 0). Freed entries form a
 * free list whose head is reused first, as wasmtime_slab does.
 */
import { StackscopeError } from '../../isa/error.ts';

/** An id that names no live host value (stale, never allocated, or 0). */
export class HostDataError extends StackscopeError {
  override name = 'HostDataError';
  constructor(readonly id: number) {
    super(`externref host-data id ${id} names no live host value`);
  }
}

type Entry = { occupied: true; value: unknown } | { occupied: false; nextFree: number | undefined };

export class ExternRefHostDataTable {
  private readonly entries: Entry[] = [];
  private freeHead: number | undefined;
  private count = 0;

  /** Stores `value`; returns its id (index + 1). */
  alloc(value: unknown): number {
    let index = this.freeHead;
    if (index === undefined) {
      index = this.entries.length;
      this.entries.push({ occupied: true, value });
    } else {
      const entry = this.entries[index] as { nextFree: number | undefined };
      this.freeHead = entry.nextFree;
      this.entries[index] = { occupied: true, value };
    }
    this.count++;
    return index + 1;
  }

  /** Removes and returns the value of `id`. */
  dealloc(id: number): unknown {
    const entry = this.entry(id);
    this.entries[id - 1] = { occupied: false, nextFree: this.freeHead };
    this.freeHead = id - 1;
    this.count--;
    return entry.value;
  }

  get(id: number): unknown {
    return this.entry(id).value;
  }

  has(id: number): boolean {
    return Number.isInteger(id) && id >= 1 && this.entries[id - 1]?.occupied === true;
  }

  /** Live host values. */
  get size(): number {
    return this.count;
  }

  private entry(id: number): { value: unknown } {
    if (!this.has(id)) throw new HostDataError(id);
    return this.entries[id - 1] as { value: unknown };
  }
}
