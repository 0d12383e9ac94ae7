/**
 * The mutation registry: known GC bugs that can be switched into the compiler, the collector
 * and the runtime one at a time, so the fuzzer (fuzz/) can prove it would catch them. This is
 * the only switch: every hook reads `mutated(name)`, and with no mutant active (the default,
 * and always outside a fuzz run that asks for one) each hook is a comparison with null.
 *
 * It lives in compiler/, the lowest layer with a hook (the table.set barrier is generated
 * code), so gc/ and runtime/ import it without an upward edge. A mutant is active for one run:
 * `withMutant(name, fn)` restores the previous state even when `fn` throws; compiled code
 * made while a compiler mutant is active keeps the bug, so callers key their module caches
 * with `mutantAffectsCompilation`.
 */
import { StackscopeError } from '../isa/error.ts';

export interface MutantInfo {
  readonly name: string;
  /** Where the hook is. */
  readonly layer: 'compiler' | 'gc' | 'runtime';
  readonly description: string;
  /** The profile whose code or collector the hook is in (default v17). */
  readonly profile?: 'v31' | 'v44';
  /** Only programs with GC objects (structs, arrays) reach the hook: the fuzzer generates them. */
  readonly gcObjects?: true;
}

export const MUTANTS = [
  { name: 'map-bit-dropped', layer: 'gc', description: 'the collector ignores the lowest set bit of every stack map' },
  { name: 'frame-size-off-by-one', layer: 'gc', description: 'SP = FP − (mapped words + 1)·8: every map is read one word too low' },
  { name: 'sp-wrong-base', layer: 'gc', description: 'SP computed from the caller\'s SP (FP + 16) instead of FP' },
  { name: 'youngest-frame-skipped', layer: 'gc', description: 'the walk does not scan the youngest Wasm frame' },
  { name: 'oldest-frame-skipped', layer: 'gc', description: 'the walk does not scan the oldest Wasm frame of each activation' },
  { name: 'nearest-preceding-lookup', layer: 'gc', description: 'v17 lookup takes the nearest map strictly before the return address instead of the exact one' },
  { name: 'precise-set-cleared', layer: 'gc', description: 'the precise root set is cleared before the sweep' },
  { name: 'gc-in-gc-continues', layer: 'gc', description: 'a collection requested during a collection runs instead of returning early' },
  { name: 'destructor-twice', layer: 'gc', description: 'freeing an object runs its destructor twice' },
  { name: 'chunk-end-off-by-one', layer: 'gc', description: 'the sweep sets the bump chunk\'s end one slot past its last slot' },
  { name: 'over-approximation-kept', layer: 'gc', description: 'the sweep keeps the old over-approximated set instead of dropping it' },
  { name: 'table-set-no-incref', layer: 'compiler', description: 'compiled table.set does not increment the new reference\'s count' },
  { name: 'table-set-no-decref', layer: 'compiler', description: 'compiled table.set does not decrement the old reference\'s count' },
  { name: 'host-args-not-rooted', layer: 'runtime', description: 'externref arguments of a host→Wasm call are not inserted into the activations table' },
  { name: 'global-set-no-barrier', layer: 'runtime', description: 'externref_global_set does not count the new value' },
  { name: 'global-get-not-rooted', layer: 'runtime', description: 'externref_global_get returns the reference without an activations-table entry' },
  { name: 'v31-write-barrier-no-incref', layer: 'compiler', profile: 'v31', description: 'v31 table.set/global.set do not increment the new reference\'s ref_count' },
  { name: 'v31-read-barrier-no-insert', layer: 'compiler', profile: 'v31', description: 'v31 table.get/global.get count the reference but do not store it in the bump chunk' },
  { name: 'v31-map-entry-dropped', layer: 'gc', profile: 'v31', description: 'the v31 scan skips the first entry of every user stack map' },
  { name: 'v31-init-field-no-incref', layer: 'compiler', profile: 'v31', gcObjects: true, description: 'v31 struct.new/array.new store a reference field without counting it' },
  { name: 'v31-freed-object-fields-kept', layer: 'gc', profile: 'v31', gcObjects: true, description: 'freeing a v31 struct or array does not give back the counts of the references in its fields' },
  { name: 'v44-suspended-stack-skipped', layer: 'gc', profile: 'v44', description: 'the v44 walk does not visit suspended continuations' },
  { name: 'v44-suspended-stack-top-frame-only', layer: 'gc', profile: 'v44', description: 'the v44 walk of a suspended continuation scans only its youngest frame' },
  { name: 'v44-parent-stack-skipped', layer: 'gc', profile: 'v44', description: 'the v44 walk of a running chain stops after the running stack (its parents are skipped)' },
  { name: 'v44-in-list-bit-kept', layer: 'gc', profile: 'v44', description: 'the v44 sweep unlinks a member but leaves its in-list bit set' },
  { name: 'v44-list-head-kept', layer: 'gc', profile: 'v44', description: 'the v44 sweep unlinks the list\'s first member without moving the head past it' },
  { name: 'v44-read-barrier-no-push', layer: 'compiler', profile: 'v44', description: 'v44 table.get/global.get leave a ref whose in-list bit is clear off the list, uncounted' },
  { name: 'v44-switch-entry-fp-kept', layer: 'runtime', profile: 'v44', description: 'a v44 switch does not record the switched-from stack\'s last_wasm_entry_fp' },
  { name: 'v44-switch-chain-kept', layer: 'runtime', profile: 'v44', description: 'a v44 switch leaves the store\'s stack chain naming the switched-from continuation' },
] as const satisfies readonly MutantInfo[];

/** The profile a mutant's hook is in (the fuzzer runs it there). */
export function mutantProfile(name: string): 'v17' | 'v31' | 'v44' {
  const m: MutantInfo | undefined = MUTANTS.find((x) => x.name === name);
  return m?.profile ?? 'v17';
}

/** Whether the fuzzer must generate programs with GC objects for the mutant's hook to run. */
export function mutantNeedsGcObjects(name: string): boolean {
  const m: MutantInfo | undefined = MUTANTS.find((x) => x.name === name);
  return m?.gcObjects === true;
}

export type MutantName = (typeof MUTANTS)[number]['name'];

export class UnknownMutantError extends StackscopeError {
  override name = 'UnknownMutantError';
  constructor(readonly mutant: string) {
    super(`unknown mutant '${mutant}' (known: ${MUTANTS.map((m) => m.name).join(', ')})`);
  }
}

let active: MutantName | null = null;

/** True when `name` is the active mutant (the hooks' only question). */
export function mutated(name: MutantName): boolean {
  return active === name;
}

export function activeMutant(): MutantName | null {
  return active;
}

export function isMutantName(name: string): name is MutantName {
  return MUTANTS.some((m) => m.name === name);
}

/** Activates `name` (or none) until the next call; prefer `withMutant`. Throws UnknownMutantError. */
export function setMutant(name: string | null): void {
  if (name !== null && !isMutantName(name)) throw new UnknownMutantError(name);
  active = name;
}

/** Runs `fn` with `name` active, then restores the previous mutant (also when `fn` fails). */
export async function withMutant<T>(name: string | null, fn: () => Promise<T> | T): Promise<T> {
  const previous = active;
  setMutant(name);
  try {
    return await fn();
  } finally {
    active = previous;
  }
}

/** Whether code compiled while `name` is active differs from normal code. */
export function mutantAffectsCompilation(name: string | null): boolean {
  return name !== null && MUTANTS.some((m) => m.name === name && m.layer === 'compiler');
}
