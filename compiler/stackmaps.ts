/**
 * Stack-map lookup over a compiled image, in the two styles the project compares:
 *
 * - `exact`: wasmtime v0.37 / v17 — the map whose return-address offset equals the queried
 *   return address; no match means "no live references here".
 * - `nearestPreceding`: the v0.22 legacy-backend style — the map recorded at or below the
 *   queried address (our maps stand at their call instruction). Without "no map" markers at
 *   function starts, a query in a function that has no earlier safepoint borrows the previous
 *   function's map (the failure wasmtime PR #2396 fixed); `functionStartMarkers` adds them.
 */
import type { CompiledImage, ImageStackMap } from './image-types.ts';

export interface StackMapLookupOptions {
  /** Put a "no map" entry at every function start (v0.22's fix). Default true. */
  readonly functionStartMarkers?: boolean;
}

export class StackMapIndex {
  private readonly byReturn = new Map<number, ImageStackMap>();
  /** Ascending by text offset: maps at their call instruction, and function-start markers. */
  private readonly preceding: { offset: number; map: ImageStackMap | null }[] = [];
  private readonly precedingNoMarkers: { offset: number; map: ImageStackMap }[] = [];

  constructor(image: CompiledImage) {
    const start = new Map(image.functions.map((f) => [f.funcIndex, f.textOffset] as const));
    for (const m of image.stackMaps) {
      this.byReturn.set(m.textReturnOffset, m);
      const at = start.get(m.funcIndex)! + m.site.callOffset;
      this.precedingNoMarkers.push({ offset: at, map: m });
      this.preceding.push({ offset: at, map: m });
    }
    for (const f of image.functions) this.preceding.push({ offset: f.textOffset, map: null });
    // A marker sorts before a map at the same offset (a call can never be at offset 0 anyway).
    this.preceding.sort((a, b) => a.offset - b.offset || (a.map === null ? -1 : 1));
    this.precedingNoMarkers.sort((a, b) => a.offset - b.offset);
  }

  /** v17: the map keyed by exactly this return-address offset (relative to `.text`). */
  exact(textReturnOffset: number): ImageStackMap | undefined {
    return this.byReturn.get(textReturnOffset);
  }

  /** v0.22: the last map recorded at or below `textOffset`. */
  nearestPreceding(textOffset: number, options: StackMapLookupOptions = {}): ImageStackMap | undefined {
    const list: readonly { offset: number; map: ImageStackMap | null }[] = options.functionStartMarkers ?? true ? this.preceding : this.precedingNoMarkers;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid].offset <= textOffset) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 ? undefined : list[lo - 1].map ?? undefined;
  }
}
