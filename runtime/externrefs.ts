/**
 * What the runtime needs from the store's externref machinery (gc/): counts, the drop at zero,
 * the activations table's slow path and collection.
 *
 * `StoreExternRefs` adapts gc/'s ExternRefHeap and ActivationsTable. Collection is delegated to a
 * collector (gc/'s Collector, which walks the Wasm frames and reads stack maps) once one is
 * attached with `attachCollector`. Without one, a collection only happens when no Wasm frame is
 * on the stack — the one moment the precise root set is known to be empty — and is skipped
 * otherwise (fail closed: the table keeps every reference it holds).
 */
import type { ActivationsTable } from '../gc/activations.ts';
import type { ExternRefHeap } from '../gc/externref.ts';
import type { ExternRefCounts } from './table.ts';

export interface ExternRefHost extends ExternRefCounts {
  /** drop_externref: compiled code already brought the count to 0; destroy and free. */
  dropAndDealloc(ref: bigint): void;
  /** Takes a new count on `ref` and puts it in the activations table, collecting first when
   * the table is full (externref_global_get: the reference is not on the stack yet). */
  insertWithGc(ref: bigint): void;
  /** activations_table_insert_with_gc: `ref` is already in a Wasm frame the collector will
   * scan, so (as v17 does) it goes into the table without GC first, keeping the invariant
   * "every on-stack externref has a table entry" true during the collection. */
  insertOnStackWithGc(ref: bigint): void;
  /** store.gc(). */
  gc(): void;
}

/** The part of gc/'s Collector the runtime drives. */
export interface CollectorLike {
  /** Inserts an already-cloned reference, collecting when the table is full. */
  insertWithGc(ref: bigint): void;
  /** True when taking a count on `ref` and inserting it with GC would change nothing (the
   * table holds it and the GC would return early): the insertion can be skipped. */
  insertWithGcIsNoop?(ref: bigint): boolean;
  collect(options?: { reason?: 'host' | 'store-gc' | 'table-full' }): unknown;
}

export class StoreExternRefs implements ExternRefHost {
  private collector: CollectorLike | undefined;
  /** Collections skipped because Wasm was on the stack and no collector was attached. */
  skippedCollections = 0;

  constructor(
    readonly heap: ExternRefHeap,
    readonly table: ActivationsTable,
    /** True while any Wasm activation is live (runtime/activations.ts). */
    private readonly wasmOnStack: () => boolean,
  ) {}

  attachCollector(collector: CollectorLike): void {
    this.collector = collector;
  }

  retain(ref: bigint): void {
    if (ref !== 0n) this.heap.clone(ref);
  }

  release(ref: bigint): void {
    if (ref !== 0n) this.heap.drop(ref);
  }

  dropAndDealloc(ref: bigint): void {
    if (ref !== 0n) this.heap.dropAndDealloc(ref);
  }

  insertWithGc(ref: bigint): void {
    if (ref === 0n || this.collector?.insertWithGcIsNoop?.(ref)) return;
    this.heap.clone(ref);
    if (this.collector) this.collector.insertWithGc(ref);
    else this.table.insertWithGc(ref, () => this.gc());
  }

  insertOnStackWithGc(ref: bigint): void {
    // Both insertions would give their counts back (a sweep's re-entrant destructors reading one slot).
    if (ref === 0n || this.collector?.insertWithGcIsNoop?.(ref)) return;
    this.heap.clone(ref);
    this.table.insertWithoutGc(ref);
    this.insertWithGc(ref);
  }

  gc(): void {
    if (this.collector) {
      this.collector.collect({ reason: 'store-gc' });
      return;
    }
    if (this.wasmOnStack() || this.table.gcInProgress) {
      this.skippedCollections++;
      return;
    }
    this.table.gcInProgress = true;
    try {
      this.table.sweep(false);
    } finally {
      this.table.gcInProgress = false;
    }
  }
}
