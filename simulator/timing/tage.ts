/**
 * A TAGE conditional-branch direction predictor (TAgged GEometric history lengths: A. Seznec
 * and P. Michaud, "A case for (partially) TAgged GEometric history length branch prediction",
 * Journal of Instruction-Level Parallelism 8, 2006), for the cores whose vendors describe their
 * predictor as TAGE-based (AMD since Zen 2: "TAGE branch predictor", Hot Chips 31, 2019).
 *
 * A base bimodal table of 2-bit counters, indexed by the branch address, backs `tables` tagged
 * tables. Table i is indexed and tagged by a hash of the branch address with the last
 * `history[i]` conditional outcomes (lengths growing geometrically), folded to the index and
 * tag widths as the outcomes arrive (circular shift registers: O(1) per table per branch,
 * whatever the length). The longest-history table whose tag matches predicts (the provider);
 * the next matching one (or the base) is the alternate, used instead while the provider's entry
 * is new and weak if that has proved better (a global `useAltOnNewlyAllocated` counter). On a
 * misprediction one entry is allocated in a longer table whose `useful` counter is 0 (when
 * none is, their usefulness decays); `useful` counts when the provider was right where the
 * alternate was wrong, and ages by halving every `agingPeriod` branches.
 *
 * Long histories make repeated sequences learnable: a loop whose exit depends on where it is in
 * an outer pattern, or the prime/composite outcomes of a sieve run again and again, are
 * predicted once enough entries hold them — which takes several runs of the same code, as on the
 * host (docs/cycle-model.md, *Branch prediction*).
 *
 * Deterministic: the allocation's tie-break uses a fixed linear congruential sequence.
 */

/** Geometry of a TAGE predictor. */
export interface TageParams {
  /** log2 of the base bimodal table's entries. */
  readonly baseBits: number;
  /** log2 of each tagged table's entries. */
  readonly tableBits: number;
  /** History length of each tagged table, increasing (conditional outcomes). */
  readonly history: readonly number[];
  /** Tag width of each tagged table, bits (≤ 16). */
  readonly tagBits: readonly number[];
  /** Conditional branches between two agings of the useful counters. */
  readonly agingPeriod: number;
}

/**
 * A tagged entry in 16 bits, so a lookup touches one array: the tag in bits 0–10 (tags are at
 * most 11 bits wide), the 3-bit signed counter biased by 4 in bits 11–13 (taken when ≥ 4), the
 * 2-bit useful counter in bits 14–15.
 */
const TAG_FIELD = 0x7ff;
const CTR_SHIFT = 11;
const CTR_FIELD = 7 << CTR_SHIFT;
const U_SHIFT = 14;
const U_FIELD = 3 << U_SHIFT;
const CTR_TAKEN = 4;

export class Tage {
  private readonly n: number;
  private readonly bits: number;
  private readonly mask: number;
  /**
   * Width the history is folded to for the index: the index width made odd. With an even width
   * every other history position lands on the same half of the bits, so a branch whose
   * outcomes alternate with another's (a loop branch, always taken) would see half its history.
   */
  private readonly foldWidth: number;
  private readonly foldMask: number;
  private readonly base: Uint8Array;
  private readonly baseMask: number;
  /** Tagged entries of every table, table i at [i << bits, (i + 1) << bits). */
  private readonly entry: Uint16Array;
  private readonly length: Int32Array;
  private readonly tagWidth: Int32Array;
  private readonly tagMask: Int32Array;
  /** Folded histories: to the index width, to the tag width, to the tag width - 1. */
  private readonly foldIndex: Int32Array;
  private readonly foldTag: Int32Array;
  private readonly foldTag2: Int32Array;
  /** Where the bit leaving a table's window lands in each fold (its length mod the fold's width). */
  private readonly outIndex: Int32Array;
  private readonly outTag: Int32Array;
  private readonly outTag2: Int32Array;
  /** Global history of outcomes, a ring of bits (one per byte). */
  private readonly ring: Uint8Array;
  private readonly ringMask: number;
  private head = 0;
  /** The last lookup: index and tag in each table. */
  private readonly idx: Int32Array;
  private readonly tags: Int32Array;
  private useAltOnNewlyAllocated = 0;
  private branches = 0;
  private readonly agingPeriod: number;
  private random = 0x2545f491;

  constructor(p: TageParams) {
    const n = p.history.length;
    if (n === 0 || p.tagBits.length !== n) throw new RangeError('TAGE: one tag width per history length');
    if (p.tagBits.some((b) => b < 2 || b > 11)) throw new RangeError('TAGE: tags are 2 to 11 bits wide');
    this.n = n;
    this.bits = p.tableBits;
    this.mask = (1 << p.tableBits) - 1;
    this.foldWidth = p.tableBits | 1;
    this.foldMask = (1 << this.foldWidth) - 1;
    this.base = new Uint8Array(1 << p.baseBits).fill(2); // weakly taken
    this.baseMask = (1 << p.baseBits) - 1;
    this.entry = new Uint16Array(n << p.tableBits);
    this.length = Int32Array.from(p.history);
    this.tagWidth = Int32Array.from(p.tagBits);
    this.tagMask = Int32Array.from(p.tagBits, (b) => (1 << b) - 1);
    this.foldIndex = new Int32Array(n);
    this.foldTag = new Int32Array(n);
    this.foldTag2 = new Int32Array(n);
    this.outIndex = Int32Array.from(p.history, (l) => l % this.foldWidth);
    this.outTag = Int32Array.from(p.history, (l, i) => l % p.tagBits[i]);
    this.outTag2 = Int32Array.from(p.history, (l, i) => l % (p.tagBits[i] - 1));
    const longest = Math.max(...p.history);
    this.ring = new Uint8Array(1 << Math.ceil(Math.log2(longest + 1)));
    this.ringMask = this.ring.length - 1;
    this.idx = new Int32Array(n);
    this.tags = new Int32Array(n);
    this.agingPeriod = p.agingPeriod;
  }

  /** Predicts the branch at `pc`, learns that it went `taken`; returns the prediction. */
  predict(pc: number, taken: boolean): boolean {
    const n = this.n;
    const bits = this.bits;
    const mask = this.mask;
    const h = (pc ^ (pc / 65536)) >>> 0;
    const idx = this.idx;
    const tags = this.tags;
    const entry = this.entry;
    const foldIndex = this.foldIndex;
    const foldTag = this.foldTag;
    const foldTag2 = this.foldTag2;
    const tagMask = this.tagMask;
    let provider = -1;
    let alt = -1;
    for (let i = n - 1; i >= 0; i--) {
      const f = foldIndex[i];
      const k = (i << bits) | ((h ^ (h >>> (bits - i)) ^ f ^ (f >>> bits)) & mask);
      const t = (h ^ foldTag[i] ^ (foldTag2[i] << 1)) & tagMask[i];
      idx[i] = k;
      tags[i] = t;
      if ((entry[k] & TAG_FIELD) === t) {
        if (provider < 0) provider = i;
        else if (alt < 0) alt = i;
      }
    }
    const b = h & this.baseMask;
    const baseSays = this.base[b] >= 2;
    let prediction: boolean;
    if (provider >= 0) {
      const pk = idx[provider];
      const e = entry[pk];
      const c = (e & CTR_FIELD) >> CTR_SHIFT;
      let u = (e & U_FIELD) >> U_SHIFT;
      const providerSays = c >= CTR_TAKEN;
      const altSays = alt >= 0 ? (entry[idx[alt]] & CTR_FIELD) >> CTR_SHIFT >= CTR_TAKEN : baseSays;
      const fresh = (c === CTR_TAKEN || c === CTR_TAKEN - 1) && u === 0;
      prediction = fresh && this.useAltOnNewlyAllocated >= 0 ? altSays : providerSays;
      if (fresh && providerSays !== altSays) {
        if (altSays === taken) {
          if (this.useAltOnNewlyAllocated < 7) this.useAltOnNewlyAllocated++;
        } else if (this.useAltOnNewlyAllocated > -8) this.useAltOnNewlyAllocated--;
      }
      if (providerSays !== altSays) {
        if (providerSays === taken) {
          if (u < 3) u++;
        } else if (u > 0) u--;
      }
      const nc = taken ? (c < 7 ? c + 1 : c) : c > 0 ? c - 1 : c;
      entry[pk] = (e & TAG_FIELD) | (nc << CTR_SHIFT) | (u << U_SHIFT);
      // While the provider's entry is not yet useful, its alternate keeps learning too.
      if (u === 0) {
        if (alt >= 0) this.train(idx[alt], taken);
        else this.trainBase(b, taken);
      }
      // Allocate a longer entry when the provider was wrong.
      if (providerSays !== taken && provider < n - 1) this.allocate(provider + 1, taken);
    } else {
      prediction = baseSays;
      this.trainBase(b, taken);
      if (baseSays !== taken) this.allocate(0, taken);
    }
    this.push(taken ? 1 : 0);
    if (++this.branches >= this.agingPeriod) this.age();
    return prediction;
  }

  private train(k: number, taken: boolean): void {
    const e = this.entry[k];
    const c = (e & CTR_FIELD) >> CTR_SHIFT;
    const nc = taken ? (c < 7 ? c + 1 : c) : c > 0 ? c - 1 : c;
    this.entry[k] = (e & ~CTR_FIELD) | (nc << CTR_SHIFT);
  }

  private trainBase(b: number, taken: boolean): void {
    const v = this.base[b];
    if (taken) {
      if (v < 3) this.base[b] = v + 1;
    } else if (v > 0) this.base[b] = v - 1;
  }

  /** One new entry in a table from `from` up whose useful counter is 0 (the lookup's indices). */
  private allocate(from: number, taken: boolean): void {
    const n = this.n;
    const entry = this.entry;
    const idx = this.idx;
    // Start one table further half of the time, so allocations spread over the lengths.
    this.random = (Math.imul(this.random, 1103515245) + 12345) | 0;
    let start = from;
    if (start < n - 1 && (this.random & 0x10000) !== 0) start++;
    for (let i = start; i < n; i++) {
      const k = idx[i];
      if ((entry[k] & U_FIELD) === 0) {
        // Weak in the direction it went, not yet useful.
        entry[k] = this.tags[i] | ((taken ? CTR_TAKEN : CTR_TAKEN - 1) << CTR_SHIFT);
        return;
      }
    }
    for (let i = from; i < n; i++) entry[idx[i]] -= 1 << U_SHIFT;
  }

  /** Shifts an outcome into the global history and every folded copy of it. */
  private push(bit: number): void {
    const ring = this.ring;
    const ringMask = this.ringMask;
    const head = (this.head + 1) & ringMask;
    this.head = head;
    ring[head] = bit;
    const fw = this.foldWidth;
    const foldMask = this.foldMask;
    const length = this.length;
    const foldIndex = this.foldIndex;
    const foldTag = this.foldTag;
    const foldTag2 = this.foldTag2;
    const outIndex = this.outIndex;
    const outTag = this.outTag;
    const outTag2 = this.outTag2;
    const tagWidth = this.tagWidth;
    const tagMask = this.tagMask;
    for (let i = 0; i < this.n; i++) {
      const out = ring[(head - length[i]) & ringMask];
      let f = (foldIndex[i] << 1) | bit;
      f ^= out << outIndex[i];
      foldIndex[i] = (f ^ (f >>> fw)) & foldMask;
      const w = tagWidth[i];
      let t = (foldTag[i] << 1) | bit;
      t ^= out << outTag[i];
      foldTag[i] = (t ^ (t >>> w)) & tagMask[i];
      let t2 = (foldTag2[i] << 1) | bit;
      t2 ^= out << outTag2[i];
      foldTag2[i] = (t2 ^ (t2 >>> (w - 1))) & (tagMask[i] >> 1);
    }
  }

  /** Halves every useful counter (graceful aging), so stale entries become replaceable. */
  private age(): void {
    this.branches = 0;
    const entry = this.entry;
    for (let k = 0; k < entry.length; k++) {
      const e = entry[k];
      entry[k] = (e & ~U_FIELD) | ((e & U_FIELD) >> 1 & U_FIELD);
    }
  }
}
