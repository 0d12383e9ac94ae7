/**
 * The runtime's side of the profiles (profiles/): the store a profile's collector needs — its GC
 * heap, collector, VMContext writer, trampolines and builtins — as one table, so no runtime file
 * tests a profile's name. v17's store is `Store` (runtime/store.ts: VMExternData externrefs, the
 * bitmap-map collector of gc/); v31's is `V31Store` (runtime/v31/: the DRC collector of gc/drc
 * over the 512 KiB GC heap, user stack maps, 32-bit VMGcRefs); v44's is `V44Store` (runtime/v44/:
 * the DRC collector of gc/drc44 with its over-approximated list, the store's stack chain).
 */
import { hasImplementation, implementationOf, ProfileUnsupportedError, type CapabilityTable, type Profile, type VMContextFamily } from '../profiles/profile.ts';
import { checkCodegen } from '../compiler/profiles.ts';
import { RuntimeError } from './errors.ts';

/** The store classes of the runtime, by the collector they run. */
export type StoreKind = 'v17' | 'v31' | 'v44';

const STORE_CLASS: Readonly<Record<StoreKind, string>> = { v17: 'Store.create (runtime/store.ts)', v31: 'V31Store.create (runtime/v31/store.ts)', v44: 'V44Store.create (runtime/v44/store.ts)' };

/** The store kinds the runtime can build, keyed by the profile's collector. */
export const STORE_RUNTIMES: CapabilityTable<VMContextFamily, StoreKind> = {
  capability: 'collector',
  where: 'the runtime (runtime/)',
  implementations: { v17: 'v17', v31: 'v31', v44: 'v44' },
  missing: {},
};

/** Whether `profile`'s stores are a DRC era's (V31Store or V44Store: the handles of runtime/v31/instance.ts). */
export function isDrcProfile(profile: Profile): boolean {
  const kind = storeKindIfAny(profile);
  return kind === 'v31' || kind === 'v44';
}

/** The store kind of `profile`, or undefined when the runtime has none yet. */
export function storeKindIfAny(profile: Profile): StoreKind | undefined {
  return hasImplementation(profile, STORE_RUNTIMES) ? storeKindOf(profile) : undefined;
}

/** The store kind of `profile` (ProfileUnsupportedError when the runtime has none). */
export function storeKindOf(profile: Profile): StoreKind {
  return implementationOf(profile, STORE_RUNTIMES);
}

/**
 * Throws unless a store of class `kind` serves `profile`: a RuntimeError naming the store class
 * that does (a v31 engine's stores are V31Store, a v17 engine's Store).
 */
export function checkStoreRuntime(profile: Profile, kind: StoreKind = 'v17'): void {
  const wanted = storeKindOf(profile);
  if (wanted !== kind) {
    throw new RuntimeError(STORE_CLASS[kind].split(' ')[0], `an engine with profile ${profile.name} makes its stores with ${STORE_CLASS[wanted]}`);
  }
}

/**
 * Throws ProfileUnsupportedError unless modules can be compiled and run for `profile` by a tool
 * (`where`) that runs them in stores of class `kind` (the fuzzer and the demo: v17 `Store`s).
 */
export function checkProfileRunnable(profile: Profile, where = 'this tool', kind: StoreKind = 'v17'): void {
  checkCodegen(profile);
  if (storeKindOf(profile) !== kind) throw new ProfileUnsupportedError(profile.name, 'collector', where, `${profile.name} stores (${STORE_CLASS[storeKindOf(profile)]})`);
}
