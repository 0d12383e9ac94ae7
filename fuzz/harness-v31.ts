/**
 * The fuzzer's v31 store kit (walker `v31`): every program compiled for wasmtime v31 (32-bit
 * VMGcRefs, v31's DRC barriers, user stack maps) and run in a V31Store, checked by the same
 * model and oracle as v17's runs (fuzz/harness.ts). The counts the oracle compares are the DRC
 * headers' `ref_count`s; the table it expects empty after the final collections is the
 * VMGcRefActivationsTable (bump chunk and over-approximated set).
 *
 * v31's count of an object held by k tables/globals/handles is k, as v17's `strongCount` is:
 * a table element and a global own one count each, a host handle one (runtime/v31/).
 */
import { HOST_IMPORTS } from './program.ts';
import type { CollectionCounter, StoreKit } from './harness.ts';
import { frameFromRegisters } from '../gc/walk.ts';
import type { Engine } from '../runtime/engine.ts';
import type { DrcStore } from '../runtime/v31/drc-store.ts';
import { V31Store } from '../runtime/v31/store.ts';
import { V31ExternRef, V31Func, V31Instance, type V31Val } from '../runtime/v31/instance.ts';

/**
 * What the kits of the DRC-era stores (V31Store, V44Store) share: their handles are the same
 * classes (runtime/v31/instance.ts works over either store).
 */
export function drcKitParts(
  store: DrcStore & { close(): void; gc(): unknown; debugChecks: boolean; readonly gcHeap: { refCount(ref: number): bigint } },
): Pick<StoreKit, 'newRef' | 'strongCount' | 'instantiate' | 'gc' | 'configure' | 'innermostFrame' | 'close'> {
  let hostFuncs: V31Func[] | undefined;
  return {
    newRef(value, destructor) {
      const ref = V31ExternRef.new(store, value, () => destructor());
      return { ref, key: BigInt(ref.raw) };
    },
    strongCount: (key) => Number(store.gcHeap.refCount(Number(key))),
    instantiate(module, host) {
      // The host functions are array calls (VMArrayCallHostFuncContext); made once per store.
      hostFuncs ??= HOST_IMPORTS.map((h) => {
        const impl = host.get(h.name)!;
        return V31Func.new(store, { params: [...h.params], results: [...h.results] }, (caller, ...args) => impl(caller, ...args) as V31Val | void);
      });
      const instance = V31Instance.create(store, module, hostFuncs);
      const main = instance.getFunc('main');
      const onFree = instance.getFunc('on_free');
      return { main: (...args) => main.call(...(args as V31Val[])), onFree: () => { onFree.call(); } };
    },
    gc: () => {
      store.gc();
    },
    // One walk per era: only the debug checks are configurable.
    configure(_walker, debugChecks) {
      store.debugChecks = debugChecks;
    },
    innermostFrame: () => frameFromRegisters(store.machine),
    close: () => store.close(),
  };
}

export async function v31Kit(engine: Engine, count: CollectionCounter): Promise<StoreKit> {
  const store = await V31Store.create(engine, {
    onCollection: (r) => {
      if (!r.skipped) count(r.frames, r.preciseRoots.length + r.i31Roots, r.freed.length);
    },
  });
  const heap = store.gcHeap;
  return {
    ...drcKitParts(store),
    get wasmDepth() { return store.wasmDepth; },
    eraLeaks: (key) => heap.activations.lostInserts.get(Number(key)) ?? 0,
    tableEntries: () => heap.activations.overApproximated.size + heap.activations.numFilledInBumpChunk(),
  };
}
