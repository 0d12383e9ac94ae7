/**
 * Where the generator's decisions come from. A `Choices` answers "pick an integer in [lo, hi]";
 * the generator asks nothing else, so the same generator runs from a seed (a campaign) or from
 * raw bytes (a libFuzzer-style engine, which mutates the bytes and so steers the program).
 */

export interface Choices {
  /** An integer in [lo, hi] (inclusive); lo ≤ hi. */
  int(lo: number, hi: number): number;
}

/** A deterministic stream from a 32-bit seed (mulberry32: small, fast, good enough to explore). */
export class SeededChoices implements Choices {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  private next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
}

/**
 * Decisions read from a byte string, as libFuzzer's users decode input: each pick takes as
 * many bytes as its range needs (little-endian) and reduces them modulo the range; an
 * exhausted input answers `lo`, so every byte string (including the empty one) decodes to a
 * valid program and short inputs give small programs.
 */
export class ByteChoices implements Choices {
  private offset = 0;

  constructor(private readonly data: Uint8Array) {}

  get consumed(): number {
    return this.offset;
  }

  int(lo: number, hi: number): number {
    const span = hi - lo + 1;
    if (span <= 1) return lo;
    let value = 0;
    let scale = 1;
    while (scale < span) {
      if (this.offset >= this.data.length) return lo;
      value += this.data[this.offset++] * scale;
      scale *= 256;
    }
    return lo + (value % span);
  }
}
