/**
 * What the runtime needs from the store's externref machinery (gc/): counts, the drop at zero,
 * and the activations-table slow path. `HeapExternRefs` adapts gc/'s ExternRefHeap; the slow
 * path and collection are delegated to a collector when one is attached (`attachCollector`),
 * and otherwise fall back to a host-side over-approximated set that is only cleared when no
 * Wasm frame is on the stack (the one moment nothing can be a stack root) — fail closed.
 */
import { VMExternDataLayout } from '../compiler/vmoffsets.ts';
import type { ExternRefHeap } from '../gc/externref.ts';
import type { ExternRefCounts } from './table.ts';

export interface ExternRefHost extends ExternRefCounts {
  /** drop_externref: compiled code already brought the count to 0; destroy and free. */
  dropAndDealloc(ref: bigint): void;
  /** activations_table_insert_with_gc: take a new count on `ref` and put it in the activations
   * table, collecting first when the table is full. */
  insertWithGc(ref: bigint): void;
  /** store.gc(). `wasmOnStack` says whether any Wasm activation is live. */
  gc(wasmOnStack: boolean): void;
}

/** The subset of gc/'s Collector the runtime drives. */
export interface CollectorLike {
  /** Clones `ref` is the caller's job; inserts it, collecting when the table is full. */
  insertWithGc(ref: bigint): void;
  collect(options?: { reason?: 'host' | 'store-gc' | 'table-full' }): unknown;
}

export class HeapExternRefs implements ExternRefHost {
  private collector: CollectorLike | undefined;
  /** Fallback over-approximation (each entry owns one count) while no collector is attached. */
  private readonly held: bigint[] = [];

  constructor(readonly heap: ExternRefHeap) {}

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
    if (ref === 0n) return;
    // The heap's drop decrements first; hand it the count compiled code just gave up.
    this.heap.machine.writeU64(ref + BigInt(VMExternDataLayout.refCount), 1n);
    this.heap.drop(ref);
  }

  insertWithGc(ref: bigint): void {
    if (ref === 0n) return;
    this.heap.clone(ref);
    if (this.collector) this.collector.insertWithGc(ref);
    else this.held.push(ref);
  }

  gc(wasmOnStack: boolean): void {
    if (this.collector) {
      this.collector.collect({ reason: 'store-gc' });
      return;
    }
    if (wasmOnStack) return;
    const refs = this.held.splice(0);
    for (const r of refs) this.heap.drop(r);
  }

  /** References held by the fallback set (tests, reports). */
  get heldCount(): number {
    return this.held.length;
  }
}
