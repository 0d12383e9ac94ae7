/**
 * The data-memory hierarchy of detailed mode: set-associative L1/L2/(L3) caches with LRU
 * replacement, a DRAM channel with finite bandwidth, a bounded number of outstanding L1
 * misses, and a stride prefetcher. Driven by the engine's memory hooks.
 *
 * Time: every access carries the current dispatch cycle `now`. A line remembers when its fill
 * completes, so a demand access to a line still in flight (a late prefetch) waits only for the
 * rest. `access` returns the delay beyond the L1 hit latency (the static tables already charge
 * an L1 hit).
 *
 * The prefetcher watches the stream of distinct lines touched: a repeated line stride (two
 * equal steps) in one of a few tracked streams makes it fetch ahead, up to `prefetchDistance`
 * lines past the demand, into every level. Prefetches use the DRAM channel like demand misses,
 * so a long stream runs at the channel's bandwidth — what real cores show for streaming loops.
 * Stores allocate lines like loads but never delay the program (the store buffer drains them).
 */
import type { CacheLevelParams, DynamicParams } from './params.ts';

export interface CacheLevelStats {
  accesses: number;
  misses: number;
}

export interface MemoryStats {
  loads: number;
  stores: number;
  l1: CacheLevelStats;
  l2: CacheLevelStats;
  l3: CacheLevelStats | undefined;
  dramLines: number;
  prefetches: number;
}

class CacheLevel {
  readonly sets: number;
  /** sets - 1 when the number of sets is a power of two (then a line's set is a mask of it), else -1. */
  private readonly setMask: number;
  readonly ways: number;
  readonly latency: number;
  readonly tags: Float64Array;
  readonly ready: Float64Array;
  readonly stamp: Float64Array;
  /** Slot of the last line looked up or filled (the memory hierarchy's same-line shortcut). */
  last = 0;
  clock = 0;
  readonly stats: CacheLevelStats = { accesses: 0, misses: 0 };

  constructor(p: CacheLevelParams, lineBytes: number) {
    this.ways = p.ways;
    this.sets = Math.max(1, Math.floor(p.sizeBytes / lineBytes / p.ways));
    this.setMask = (this.sets & (this.sets - 1)) === 0 ? this.sets - 1 : -1;
    this.latency = p.latency;
    this.tags = new Float64Array(this.sets * this.ways).fill(-1);
    this.ready = new Float64Array(this.sets * this.ways);
    this.stamp = new Float64Array(this.sets * this.ways);
  }

  /**
   * First slot of the set `line` maps to. Line numbers are whole numbers below 2^53, so
   * `line >>> 0` is line mod 2^32 exactly, and its low bits are line mod sets when sets is a
   * power of two (the usual case; a mask is much cheaper than a floating-point remainder).
   */
  private setOf(line: number): number {
    return (this.setMask >= 0 ? (line >>> 0) & this.setMask : line % this.sets) * this.ways;
  }

  /** Ready time of `line` if present (and marks it used), else -1. */
  lookup(line: number): number {
    const base = this.setOf(line);
    for (let w = base; w < base + this.ways; w++) {
      if (this.tags[w] === line) {
        this.stamp[w] = ++this.clock;
        this.last = w;
        return this.ready[w];
      }
    }
    return -1;
  }

  /** Installs `line` (ready at `readyAt`), evicting the least recently used way. */
  fill(line: number, readyAt: number): void {
    const base = this.setOf(line);
    let victim = base;
    for (let w = base; w < base + this.ways; w++) {
      if (this.tags[w] === line) {
        victim = w;
        break;
      }
      if (this.stamp[w] < this.stamp[victim]) victim = w;
    }
    this.tags[victim] = line;
    this.ready[victim] = readyAt;
    this.stamp[victim] = ++this.clock;
    this.last = victim;
  }
}

const STREAMS = 8;

export class MemoryHierarchy {
  private readonly l1: CacheLevel;
  private readonly l2: CacheLevel;
  private readonly l3: CacheLevel | undefined;
  private readonly lineBytes: number;
  /** 1 / lineBytes when that is exact (a power of two), else 0: a line number by multiplication, not division. */
  private readonly perLine: number;
  private readonly params: DynamicParams;
  private channelFree = 0;
  /** Completion times of outstanding L1 demand misses (a ring). */
  private readonly missDone: Float64Array;
  private missNext = 0;
  private lastLine = -1;
  private readonly streamLast = new Float64Array(STREAMS).fill(-1e18);
  private readonly streamStride = new Float64Array(STREAMS);
  private readonly streamConfirmed = new Uint8Array(STREAMS);
  private readonly streamAhead = new Float64Array(STREAMS);
  private readonly streamStamp = new Float64Array(STREAMS);
  private streamClock = 0;
  readonly stats: MemoryStats;

  constructor(params: DynamicParams) {
    this.params = params;
    this.lineBytes = params.lineBytes;
    this.perLine = (params.lineBytes & (params.lineBytes - 1)) === 0 ? 1 / params.lineBytes : 0;
    this.l1 = new CacheLevel(params.l1, params.lineBytes);
    this.l2 = new CacheLevel(params.l2, params.lineBytes);
    this.l3 = params.l3 ? new CacheLevel(params.l3, params.lineBytes) : undefined;
    this.missDone = new Float64Array(params.missBuffers);
    this.stats = { loads: 0, stores: 0, l1: this.l1.stats, l2: this.l2.stats, l3: this.l3?.stats, dramLines: 0, prefetches: 0 };
  }

  /**
   * One data access at `now`; returns the cycles it waits beyond an L1 hit (0 for stores and
   * for hits). An access spanning two lines touches both.
   */
  access(address: number, size: number, write: boolean, now: number): number {
    if (write) this.stats.stores++;
    else this.stats.loads++;
    const lineBytes = this.lineBytes;
    const first = this.perLine !== 0 ? Math.floor(address * this.perLine) : Math.floor(address / lineBytes);
    let delay = this.line(first, now);
    // Addresses are whole numbers below 2^53, so this is exact: the access ends in the next line.
    if (address - first * lineBytes + size > lineBytes) delay = Math.max(delay, this.line(first + 1, now));
    return write ? 0 : delay;
  }

  private line(line: number, now: number): number {
    const l1 = this.l1;
    l1.stats.accesses++;
    if (line === this.lastLine) {
      // Same line as the previous access: still in the slot it was found or filled in,
      // unless a prefetch into the same set evicted it since.
      const w = l1.last;
      if (l1.tags[w] === line) {
        l1.stamp[w] = ++l1.clock;
        const r = l1.ready[w];
        return r > now ? r - now : 0;
      }
      const r = l1.lookup(line);
      if (r >= 0) return r > now ? r - now : 0;
    }
    this.lastLine = line;
    this.train(line, now);
    const r1 = this.l1.lookup(line);
    if (r1 >= 0) return r1 > now ? r1 - now : 0;
    this.l1.stats.misses++;
    // A demand miss needs a free miss buffer.
    const slot = this.missNext;
    const start = Math.max(now, this.missDone[slot]);
    const readyAt = this.fetchBelowL1(line, start);
    this.missDone[slot] = readyAt;
    this.missNext = (slot + 1) % this.missDone.length;
    this.l1.fill(line, readyAt);
    return Math.max(0, readyAt - now - this.l1.latency);
  }

  /** Fetches a line missing from L1 through L2, L3 and DRAM; returns when it reaches L1. */
  private fetchBelowL1(line: number, start: number): number {
    this.l2.stats.accesses++;
    const r2 = this.l2.lookup(line);
    if (r2 >= 0) return Math.max(r2, start + this.l2.latency);
    this.l2.stats.misses++;
    if (this.l3) {
      this.l3.stats.accesses++;
      const r3 = this.l3.lookup(line);
      if (r3 >= 0) {
        const at = Math.max(r3, start + this.l3.latency);
        this.l2.fill(line, at);
        return at;
      }
      this.l3.stats.misses++;
    }
    const at = this.dram(start);
    this.l3?.fill(line, at);
    this.l2.fill(line, at);
    return at;
  }

  /** One line from DRAM starting at `start`: latency, or later when the channel is busy. */
  private dram(start: number): number {
    this.stats.dramLines++;
    this.channelFree = Math.max(this.channelFree, start) + this.params.dramCyclesPerLine;
    return Math.max(start + this.params.dramLatency, this.channelFree);
  }

  /** Stride detection over distinct lines; issues prefetches for confirmed streams. */
  private train(line: number, now: number): void {
    let best = -1;
    let nearest = -1;
    let nearestDistance = Infinity;
    for (let s = 0; s < STREAMS; s++) {
      const last = this.streamLast[s];
      if (last === line) return; // already the head of a stream
      if (this.streamStride[s] !== 0 && line === last + this.streamStride[s]) {
        best = s;
        break;
      }
      const d = Math.abs(line - last);
      if (d < nearestDistance) {
        nearestDistance = d;
        nearest = s;
      }
    }
    if (best >= 0) {
      const s = best;
      this.streamLast[s] = line;
      this.streamStamp[s] = ++this.streamClock;
      if (this.streamConfirmed[s] < 2) this.streamConfirmed[s]++;
      if (this.streamConfirmed[s] >= 2) this.prefetch(s, line, now);
      return;
    }
    if (nearest >= 0 && nearestDistance <= 16) {
      // A nearby stream changes stride: restart its confirmation.
      this.streamStride[nearest] = line - this.streamLast[nearest];
      this.streamLast[nearest] = line;
      this.streamConfirmed[nearest] = 0;
      this.streamAhead[nearest] = line;
      this.streamStamp[nearest] = ++this.streamClock;
      return;
    }
    let victim = 0;
    for (let s = 1; s < STREAMS; s++) if (this.streamStamp[s] < this.streamStamp[victim]) victim = s;
    this.streamLast[victim] = line;
    this.streamStride[victim] = 0;
    this.streamConfirmed[victim] = 0;
    this.streamAhead[victim] = line;
    this.streamStamp[victim] = ++this.streamClock;
  }

  private prefetch(s: number, line: number, now: number): void {
    const stride = this.streamStride[s];
    const limit = line + stride * this.params.prefetchDistance;
    let next = stride > 0 ? Math.max(this.streamAhead[s], line) + stride : Math.min(this.streamAhead[s], line) + stride;
    // At most a few new lines per trigger, as hardware does.
    for (let n = 0; n < 4 && (stride > 0 ? next <= limit : next >= limit); n++, next += stride) {
      this.streamAhead[s] = next;
      if (this.l1.lookup(next) >= 0) continue;
      this.stats.prefetches++;
      const at = this.fetchBelowL1(next, now);
      this.l1.fill(next, at);
    }
  }
}
