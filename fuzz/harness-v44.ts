/**
 * The fuzzer's v44 store kit (walker `v44`): every program compiled for wasmtime v44 (v44's
 * over-approximated-list read barrier, the DRC write barrier, user stack maps, stack switching)
 * and run in a V44Store, checked by the same model and oracle as the other eras' runs
 * (fuzz/harness.ts). The counts the oracle compares are the DRC headers' `ref_count`s; the
 * "table" it expects empty after the final collections is v44's intrusive over-approximated
 * list (gc/drc44), less the objects the model says frames of continuations left suspended may
 * still hold: v44 keeps every VMContRef until the store drops and walks the suspended ones in
 * every collection, so their refs stay roots until then.
 *
 * v44's own leak: a ref handed to Wasm while it is already in the list (its in-list bit set)
 * keeps the clone's count forever (v44.0.0's `expose_gc_ref_to_wasm` drops a VMGcRef, which has
 * no destructor). The kit counts those exposures per object, as v31's kit reads the activations
 * table's lost inserts, and the oracle tells them apart from real leaks.
 */
import type { CollectionCounter, StoreKit } from './harness.ts';
import { drcKitParts } from './harness-v31.ts';
import type { Engine } from '../runtime/engine.ts';
import { V44Store } from '../runtime/v44/store.ts';

/** Continuations a store may have made before the runner replaces it (each has a 256 KiB stack). */
const MAX_CONTINUATIONS = 64;

export async function v44Kit(engine: Engine, count: CollectionCounter): Promise<StoreKit> {
  const store = await V44Store.create(engine, {
    onCollection: (r) => {
      if (!r.skipped) count(r.frames, r.preciseRoots.length + r.i31Roots, r.freed.length);
    },
  });
  const heap = store.gcHeap;
  // Counts lost by exposing a ref that is already in the list (see the file comment).
  const lost = new Map<number, number>();
  const expose = heap.exposeGcRefToWasm.bind(heap);
  heap.exposeGcRefToWasm = (ref: number) => {
    if (ref !== 0 && (ref & 1) === 0 && heap.isInList(ref)) lost.set(ref, (lost.get(ref) ?? 0) + 1);
    expose(ref);
  };
  // Objects that continuations of earlier programs, left suspended, still hold: v44 walks them
  // until the store drops; they are no entries of the program that runs now.
  let pinned = new Set<number>();
  return {
    ...drcKitParts(store),
    get wasmDepth() { return store.wasmDepth; },
    eraLeaks: (key) => lost.get(Number(key)) ?? 0,
    tableEntries: (keep) => heap.overApproximatedList().filter((ref) => !pinned.has(ref) && !keep?.has(BigInt(ref))).length,
    resetForProgram: () => {
      pinned = new Set(heap.overApproximatedList());
    },
    // Every continuation keeps its stack (and, suspended, its roots) as long as the store.
    worn: () => store.continuations.length > MAX_CONTINUATIONS,
    stackHeld: (key) => (heap.isInList(Number(key)) ? 1 : 0),
  };
}
