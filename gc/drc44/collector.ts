/**
 * v44's DRC collection (drc.rs of wasmtime v44.0.0: `DrcCollection`, `DrcHeap::trace`,
 * `DrcHeap::sweep`), in its two increments, over the intrusive list of heap.ts:
 *
 * 1. **trace**: every GC root on a Wasm stack (the caller found them through the user stack maps
 *    of every frame of every live stack) that is not an i31ref gets its header's **mark bit**:
 *    the marks are the precise-stack-roots set. No count changes. Debug checks, as v44's
 *    `debug_assert!`s: the root is in the over-approximated list, has its in-list bit and a
 *    non-zero count — else a `DrcRootError` naming the frame slot, with every mark undone.
 * 2. **sweep**: walk the list from its head. A marked member stays (its mark is cleared); an
 *    unmarked one is unlinked (its in-list bit cleared, its predecessor — or the head — pointed
 *    past it) and loses the count the list owned, which may free it and, through its fields,
 *    what it references.
 *
 * Only on-Wasm-stack roots are traced: tables, globals and the host hold plain counts.
 */
import { isI31 } from '../drc/heap.ts';
import { DrcRootError, NoGcScopeError, type DrcCollectOptions, type DrcRoot } from '../drc/collector.ts';
import { V44DrcHeaderBits } from '../../compiler/v44/gc-layout.ts';
import type { Drc44Heap, Freed44Object } from './heap.ts';

export interface Drc44CollectionReport {
  /** The precise on-stack roots (marked), deduplicated, in discovery order. */
  preciseRoots: number[];
  /** i31ref roots seen (they need no mark). */
  i31Roots: number;
  /** The list before the sweep, head first. */
  listBefore: number[];
  /** Members the sweep kept (marked), in list order. */
  kept: number[];
  /** Members the sweep unlinked (each lost the list's count), in list order. */
  unlinked: number[];
  freed: Freed44Object[];
}

/** One DRC collection over `heap` with the stack roots `roots`. */
export function collectDrc44(heap: Drc44Heap, roots: Iterable<DrcRoot>, options: DrcCollectOptions = {}): Drc44CollectionReport {
  if (heap.noGcCount !== 0) throw new NoGcScopeError('cannot collect inside a no-GC scope');
  const debug = options.debugChecks ?? true;
  const listBefore = heap.overApproximatedList();
  // Debug check of v44's trace: every root is a member (one byte per 16-aligned heap index).
  const inList = debug ? new Uint8Array((heap.capacity >>> 4) + 1) : undefined;
  if (inList) for (const r of listBefore) inList[r >>> 4] = 1;

  // Trace.
  let i31Roots = 0;
  const preciseRoots: number[] = [];
  try {
    for (const root of roots) {
      if (isI31(root.raw)) {
        i31Roots++;
        continue;
      }
      const state = heap.rootState(root.raw);
      if (debug) {
        if (root.raw % 16 !== 0 || inList![root.raw >>> 4] !== 1) throw new DrcRootError(root, 'is not in the over-approximated-stack-roots list (every on-stack ref inside a Wasm frame must be)');
        if (!state) throw new DrcRootError(root, 'does not start a live object');
        if (!state.inList) throw new DrcRootError(root, 'its in-the-over-approximated-list bit is clear');
        if (state.countIsZero) throw new DrcRootError(root, 'is on the Wasm stack but its ref count is 0');
      } else if (!state) throw new DrcRootError(root, 'does not start a live object');
      if (!state.marked) {
        heap.setFlags(root.raw, V44DrcHeaderBits.mark, true);
        preciseRoots.push(root.raw);
      }
    }
  } catch (e) {
    // Fail closed: no mark survives, nothing is swept.
    for (const raw of preciseRoots) heap.setFlags(raw, V44DrcHeaderBits.mark, false);
    throw e;
  }

  // Sweep.
  const kept: number[] = [];
  const unlinked: number[] = [];
  const freed: Freed44Object[] = [];
  let prev = 0;
  for (let r = heap.head; r !== 0; ) {
    const next = heap.nextOf(r);
    if (heap.isMarked(r)) {
      heap.setFlags(r, V44DrcHeaderBits.mark, false);
      kept.push(r);
      prev = r;
    } else {
      heap.unlink(r, prev);
      unlinked.push(r);
      const f = heap.decRefAndMaybeDealloc(r);
      if (f.length) freed.push(...f);
    }
    r = next;
  }
  return { preciseRoots, i31Roots, listBefore, kept, unlinked, freed };
}
