/**
 * Profiles: which era of wasmtime stackscope reproduces. A profile is a record of era facts —
 * the release its layouts come from, how wide a GC reference is, what a stack map looks like,
 * which VMContext layout, builtin table, GC heap and collector compiled code and the runtime
 * must agree on — and nothing else. Each layer keeps, in one place, a table from a capability's
 * value to its implementation (the compiler's VMContext layouts and code generators, the
 * runtime's collectors, ...), and asks `implementationOf` for it; a capability a layer does not
 * implement yet is a `ProfileUnsupportedError` naming what is missing, never a silent fallback
 * to another era.
 *
 * A new era is one more record in `PROFILES` and one more entry in the tables of the
 * capabilities that changed; capabilities it shares with an older era (v44 keeps v31's 32-bit
 * refs and typed user stack maps) reuse their implementations unchanged.
 */
import { StackscopeError } from '../isa/error.ts';

/** The profiles stackscope knows, oldest first. */
export const PROFILE_NAMES = ['v17', 'v31', 'v44'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

/** The profile an Engine, a CLI command or a compile uses when none is given. */
export const DEFAULT_PROFILE: ProfileName = 'v17';

/**
 * The VMContext layout family: which `VMOffsets` computes the vmctx of a module (compiler/).
 * - `v17`: wasmtime v17 (72-byte header: runtime limits, callee, epoch, activations table,
 *   store fat pointer, builtins, signature ids; then imports, definitions, globals, func_refs).
 * - `v31`: wasmtime v31 (80-byte header with gc_heap_base/bound/data, type ids, stack chain;
 *   memories first, tags, 32-byte func_refs).
 * - `v44`: wasmtime v44 (48-byte header: store context, builtins, epoch, gc_heap_data, type ids;
 *   24-byte table, global and tag imports; VMStoreContext holds the GC heap and the stack chain).
 */
export type VMContextFamily = 'v17' | 'v31' | 'v44';

/**
 * What a stack map is (compiler/ emits it, the image stores it, gc/ reads it):
 * - `bitmap-words`: one bit per 8-byte word from SP up to FP (Cranelift's old StackMap);
 * - `user-typed`: a frame size and typed entries at SP offsets (Cranelift's user stack maps).
 */
export type StackMapFormat = 'bitmap-words' | 'user-typed';

/**
 * Where GC objects live and how references to them look:
 * - `extern-data`: v17's VMExternData objects in host (here: guest) memory, 64-bit pointers;
 * - `drc-heap`: v31's GC heap (a 512 KiB region indexed by 32-bit VMGcRefs, DRC headers, a
 *   first-fit free list) and its activations table of u32 refs;
 * - `drc-heap-v44`: v44's GC heap (a memory of 64 KiB pages that grows on demand, 24-byte DRC
 *   headers, a free list with ALIGN 16) and the intrusive over-approximated list through the
 *   headers (no activations table).
 */
export type GcHeapFamily = 'extern-data' | 'drc-heap' | 'drc-heap-v44';

/** A capability each layer implements per value of the record's field. */
export type Capability = 'vmcontext' | 'builtins' | 'codegen' | 'stackMaps' | 'gcHeap' | 'collector';

export interface Profile {
  readonly name: ProfileName;
  /** The wasmtime release (and its commit) whose sources the facts were taken from. */
  readonly wasmtime: { readonly release: string; readonly commit: string };
  /** One line for help texts and layouts. */
  readonly summary: string;
  readonly vmcontext: VMContextFamily;
  /** The builtin (libcall) table: which era's `foreach_builtin_function!`. */
  readonly builtins: VMContextFamily;
  /** Code generation: which era's barriers, reference width and stack maps the compiler emits. */
  readonly codegen: VMContextFamily;
  readonly stackMaps: StackMapFormat;
  readonly gcHeap: GcHeapFamily;
  /** The collector over that heap (both eras are deferred reference counting). */
  readonly collector: VMContextFamily;
  /** Bytes of a GC reference in frames, tables and globals (8: pointer, 4: VMGcRef). */
  readonly gcRefBytes: 4 | 8;
}

/** Base of the profile errors. */
export class ProfileError extends StackscopeError {
  override name = 'ProfileError';
}

/** A profile name nobody defined. */
export class UnknownProfileError extends ProfileError {
  override name = 'UnknownProfileError';
  constructor(readonly given: unknown) {
    super(`unknown profile ${JSON.stringify(given)} (${PROFILE_NAMES.join(' or ')})`);
  }
}

/**
 * The profile exists but a layer has no implementation of one of its capabilities yet: `what`
 * says which piece of the era is missing, `where` which layer needs it.
 */
export class ProfileUnsupportedError extends ProfileError {
  override name = 'ProfileUnsupportedError';
  constructor(
    readonly profile: ProfileName,
    readonly capability: Capability,
    readonly where: string,
    readonly what: string,
  ) {
    super(`profile ${profile}: ${where} does not implement ${what} yet (capability ${capability})`);
  }
}

const V17: Profile = Object.freeze({
  name: 'v17',
  wasmtime: Object.freeze({ release: '17.0.0', commit: 'ab5a4484eb' }),
  summary: 'wasmtime v17: VMExternData externrefs, 64-bit refs, bitmap stack maps, activations table of pointers',
  vmcontext: 'v17',
  builtins: 'v17',
  codegen: 'v17',
  stackMaps: 'bitmap-words',
  gcHeap: 'extern-data',
  collector: 'v17',
  gcRefBytes: 8,
} as const);

const V31: Profile = Object.freeze({
  name: 'v31',
  wasmtime: Object.freeze({ release: '31.0.0', commit: '7a9be587f8' }),
  summary: 'wasmtime v31: DRC collector over a 512 KiB GC heap, 32-bit VMGcRefs, user stack maps, activations table of u32 refs',
  vmcontext: 'v31',
  builtins: 'v31',
  codegen: 'v31',
  stackMaps: 'user-typed',
  gcHeap: 'drc-heap',
  collector: 'v31',
  gcRefBytes: 4,
} as const);

const V44: Profile = Object.freeze({
  name: 'v44',
  wasmtime: Object.freeze({ release: '44.0.0', commit: 'af382d7d94' }),
  summary: 'wasmtime v44: stack switching (continuation stacks linked by VMContRef and the store\'s stack chain), DRC with an intrusive over-approximated list in a growable GC heap, 32-bit VMGcRefs, user stack maps',
  vmcontext: 'v44',
  builtins: 'v44',
  codegen: 'v44',
  stackMaps: 'user-typed',
  gcHeap: 'drc-heap-v44',
  collector: 'v44',
  gcRefBytes: 4,
} as const);

/** Every profile by name. */
export const PROFILES: Readonly<Record<ProfileName, Profile>> = Object.freeze({ v17: V17, v31: V31, v44: V44 });

/** The record of a profile name; `undefined` means the default (v17). */
export function profileNamed(name: ProfileName | string | undefined): Profile {
  if (name === undefined) return PROFILES[DEFAULT_PROFILE];
  if (typeof name === 'string' && Object.hasOwn(PROFILES, name)) return PROFILES[name as ProfileName];
  throw new UnknownProfileError(name);
}

/** Accepts a profile record or a name (an Engine option, a CLI flag); throws for anything else. */
export function resolveProfile(given: Profile | ProfileName | string | undefined): Profile {
  if (typeof given === 'object' && given !== null) return profileNamed(given.name);
  return profileNamed(given);
}

/**
 * An implementation table of one capability, as a layer keeps it: the implementations it has,
 * keyed by the capability's value in a profile, plus what each missing one would be.
 */
export interface CapabilityTable<Key extends string, Impl> {
  readonly capability: Capability;
  /** The layer (folder and file) that owns this table, for error messages. */
  readonly where: string;
  readonly implementations: Readonly<Partial<Record<Key, Impl>>>;
  /** What is missing when a key has no implementation (for the error). */
  readonly missing: Readonly<Partial<Record<Key, string>>>;
}

/**
 * The implementation of `table`'s capability for `profile`.
 * @throws ProfileUnsupportedError if the layer has none for this profile's value.
 */
export function implementationOf<Key extends string, Impl>(profile: Profile, table: CapabilityTable<Key, Impl>): Impl {
  const key = (profile as unknown as Record<Capability, Key>)[table.capability];
  const impl = table.implementations[key];
  if (impl !== undefined) return impl;
  throw new ProfileUnsupportedError(profile.name, table.capability, table.where, table.missing[key] ?? `${table.capability} ${key}`);
}

/** Whether `table` has an implementation for `profile` (for help texts and `--profile` checks). */
export function hasImplementation<Key extends string, Impl>(profile: Profile, table: CapabilityTable<Key, Impl>): boolean {
  const key = (profile as unknown as Record<Capability, Key>)[table.capability];
  return table.implementations[key] !== undefined;
}
