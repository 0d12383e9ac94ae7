/**
 * The runtime's side of the profiles (profiles/): the capabilities a Store needs from its
 * engine's profile — a GC heap with its collector, and the VMContext/trampoline/builtin set that
 * instantiation writes — as one table, so no runtime file tests a profile's name. v17's store is
 * the only one implemented; a v31 store needs the DRC collector over the GC heap (issue 18 item 3)
 * and v31 instantiation, and until they exist creating one is a ProfileUnsupportedError.
 */
import { implementationOf, type CapabilityTable, type Profile, type VMContextFamily } from '../profiles/profile.ts';
import { checkCodegen } from '../compiler/profiles.ts';

/** The store kinds the runtime can build, keyed by the profile's collector. */
export const STORE_RUNTIMES: CapabilityTable<VMContextFamily, 'v17'> = {
  capability: 'collector',
  where: 'the runtime (runtime/store.ts)',
  implementations: { v17: 'v17' },
  missing: {
    v31: 'the v31 store: the DRC collector over the 512 KiB GC heap, its activations table and v31 instantiation',
    v44: 'the v44 store: v44 instantiation, continuation stacks and the store stack chain (the v44 collector exists as gc/drc44/)',
  },
};

/** Throws ProfileUnsupportedError unless a Store can be created for `profile`. */
export function checkStoreRuntime(profile: Profile): void {
  implementationOf(profile, STORE_RUNTIMES);
}

/**
 * Throws ProfileUnsupportedError unless modules can be compiled and run for `profile` (the
 * compiler's code generator and a store): what a tool that compiles and runs programs of its own
 * (the fuzzer) checks before it starts.
 */
export function checkProfileRunnable(profile: Profile): void {
  checkCodegen(profile);
  checkStoreRuntime(profile);
}
