/**
 * v31's DRC collection (seed drc-v31: `DrcCollection`, `DrcHeap::trace`, `DrcHeap::sweep`), in
 * its two increments:
 *
 * 1. **trace**: every GC root on a Wasm stack (found through user stack maps by the caller) that
 *    is not an i31ref joins `precise_stack_roots`; the first time a reference joins, its count
 *    goes up by one (the precise set owns one count of each member). Debug checks, as wasmtime's
 *    `debug_assert!`s: every root is in the over-approximated set (the activations table) and
 *    has a non-zero count — a root that is not is a `DrcRootError` naming the frame slot.
 * 2. **sweep**: drain the bump chunk, dropping one count per filled slot; allocate the chunk on
 *    the first collection (it starts empty), else move the finger back; the precise set becomes
 *    the new over-approximated set, and every member of the old over-approximated set loses the
 *    count it owned. Objects whose counts reach zero are freed (heap.ts).
 *
 * Only on-Wasm-stack roots are traced: references held by tables, globals and the host are plain
 * reference counts, never swept.
 */
import { StackscopeError } from '../../isa/error.ts';
import { DrcRefError, isI31, type DrcHeap, type FreedGcObject } from './heap.ts';

/** A root as the stack walk found it: the raw ref and where it was read. */
export interface DrcRoot {
  raw: number;
  /** Guest address of the 4-byte stack slot, for messages and explain output. */
  slot?: number;
  /** Function (or frame) name, for messages. */
  frame?: string;
}

/** A root the debug checks reject: not in the activations table, or a dead object. */
export class DrcRootError extends StackscopeError {
  override name = 'DrcRootError';
  constructor(
    readonly root: DrcRoot,
    readonly reason: string,
  ) {
    super(`GC root 0x${(root.raw >>> 0).toString(16)}${root.slot !== undefined ? ` at 0x${root.slot.toString(16)}` : ''}${root.frame ? ` in ${root.frame}` : ''}: ${reason}`);
  }
}

/** A collection asked for inside a no-GC scope (wasmtime asserts). */
export class NoGcScopeError extends StackscopeError {
  override name = 'NoGcScopeError';
}

export interface DrcCollectionReport {
  /** The precise on-stack roots, deduplicated, in discovery order. */
  preciseRoots: number[];
  /** i31ref roots seen (they need no count). */
  i31Roots: number;
  /** Counts dropped from the bump chunk and from the old over-approximated set. */
  droppedFromChunk: number;
  droppedFromOverApproximated: number;
  /** Whether this sweep allocated the chunk (the first collection). */
  allocatedChunk: boolean;
  freed: FreedGcObject[];
}

export interface DrcCollectOptions {
  /** wasmtime's debug-build checks of every root (default true). */
  debugChecks?: boolean;
}

/** One DRC collection over `heap` with the stack roots `roots`. */
export function collectDrc(heap: DrcHeap, roots: Iterable<DrcRoot>, options: DrcCollectOptions = {}): DrcCollectionReport {
  if (heap.noGcCount !== 0) throw new NoGcScopeError('cannot collect inside a no-GC scope');
  const table = heap.activations;
  const debug = options.debugChecks ?? true;
  if (table.precise.size !== 0) throw new DrcRootError({ raw: 0 }, 'the precise set is not empty when tracing begins');

  // Trace.
  const inTable = debug ? new Set(table.elements()) : undefined;
  let i31Roots = 0;
  const preciseRoots: number[] = [];
  try {
    for (const root of roots) {
      if (isI31(root.raw)) {
        i31Roots++;
        continue;
      }
      if (inTable && !inTable.has(root.raw)) throw new DrcRootError(root, 'is not in the VMGcRefActivationsTable (every on-stack ref inside a Wasm frame must be)');
      if (debug) {
        let count: bigint;
        try {
          count = heap.refCount(root.raw);
        } catch (e) {
          if (e instanceof DrcRefError) throw new DrcRootError(root, e.reason);
          throw e;
        }
        if (count === 0n) throw new DrcRootError(root, 'is on the Wasm stack but its ref count is 0');
      }
      if (!table.precise.has(root.raw)) {
        heap.incRef(root.raw);
        table.precise.add(root.raw);
        preciseRoots.push(root.raw);
      }
    }
  } catch (e) {
    // Fail closed and leave the heap as it was: the counts the precise set took go back (the
    // activations table still holds each of them, so none reaches zero) and nothing is swept.
    for (const raw of preciseRoots) heap.decRef(raw);
    table.precise.clear();
    throw e;
  }

  // Sweep.
  const freed: FreedGcObject[] = [];
  let droppedFromChunk = 0;
  table.drainBumpChunk((raw) => {
    droppedFromChunk++;
    const f = heap.decRefAndMaybeDealloc(raw);
    if (f.length) freed.push(...f);
  });
  const allocatedChunk = table.chunkLength === 0;
  table.resetAfterSweep();
  const old = table.overApproximated;
  table.overApproximated = table.precise;
  table.precise = new Set();
  for (const raw of old) {
    const f = heap.decRefAndMaybeDealloc(raw);
    if (f.length) freed.push(...f);
  }
  return { preciseRoots, i31Roots, droppedFromChunk, droppedFromOverApproximated: old.size, allocatedChunk, freed };
}
