/**
 * Detailed mode: the static per-block costs combined with dynamic layers, driven by the
 * engine's block and memory hooks.
 *
 * The timeline is a dispatch clock `t`. Each executed block
 *  1. advances `t` by its static throughput cost (`BlockInfo.base`: issue, ports, front end);
 *  2. computes when its results are ready from a register scoreboard — ready times of its
 *     inputs plus its internal latencies (`BlockInfo.dataflow`), plus the delay of its loads
 *     beyond an L1 hit when caches are modelled;
 *  3. enters a reorder window of `robUops` micro-ops: dispatch may not run further ahead of
 *     the oldest unfinished block than the window holds, so a long dependency chain or a
 *     long-latency load stalls `t` only when the window fills — independent work and
 *     independent misses overlap, a dependent chain does not;
 *  4. when its final branch was mispredicted (the predictor sees the next block), pays the
 *     mispredict penalty.
 *
 * CPI stack: base = Σ throughput costs; branch = Σ penalties; dependency and memory = window
 * stalls, a stall counted as memory up to the part of the late block's completion that its
 * own loads' cache delay caused. The final drain (results still in flight when the run ends)
 * counts as dependency. For a single-block loop whose iterations form the chain, the window
 * settles at the loop-carried latency — the static model's loop bound, reached dynamically.
 */
import type { BlockInfo } from './blocks.ts';
import { MemoryHierarchy, type MemoryStats } from './cache.ts';
import type { DynamicParams } from './params.ts';
import { BranchPredictor, type BranchStats } from './predictor.ts';

export interface CpiStack {
  base: number;
  dependency: number;
  branch: number;
  memory: number;
}

/** Per-block accumulation of detailed mode. */
export interface DetailedBlockStats {
  count: number;
  cycles: number;
}

const RING = 4096;

export class DetailedTimer {
  readonly predictor: BranchPredictor;
  readonly memory: MemoryHierarchy | undefined;
  readonly stack: CpiStack = { base: 0, dependency: 0, branch: 0, memory: 0 };
  readonly perBlock = new Map<BlockInfo, DetailedBlockStats>();
  private t = 0;
  private ready: Float64Array;
  private readonly scratch = new Float64Array(256);
  /** Reorder window as a ring of executed blocks: cumulative micro-ops and completion. */
  private readonly ringUops = new Float64Array(RING);
  private readonly ringDone = new Float64Array(RING);
  private readonly ringMem = new Float64Array(RING);
  private ringHead = 0;
  private ringTail = 0;
  private totalUops = 0;
  private retired = 0;
  private maxReady = 0;
  private pending: BlockInfo | undefined;
  private pendingMem = 0;
  private pendingStats: DetailedBlockStats | undefined;
  instructions = 0;

  constructor(
    readonly params: DynamicParams,
    readonly caches: boolean,
    registerCount: number,
  ) {
    this.predictor = new BranchPredictor(params);
    this.memory = caches ? new MemoryHierarchy(params) : undefined;
    this.ready = new Float64Array(Math.max(64, registerCount * 2));
  }

  /** The block that starts executing now; finishes the previous one (its branch outcome is now known). */
  block(info: BlockInfo, address: number): void {
    const prev = this.pending;
    if (prev) this.finish(prev, address);
    this.pending = info;
    this.pendingMem = 0;
    let stats = this.perBlock.get(info);
    if (!stats) {
      stats = { count: 0, cycles: 0 };
      this.perBlock.set(info, stats);
    }
    stats.count++;
    this.pendingStats = stats;
  }

  /** A data access made by the pending block. */
  access(address: number, size: number, write: boolean): void {
    if (!this.memory) return;
    const delay = this.memory.access(address, size, write, this.t);
    if (delay > this.pendingMem) this.pendingMem = delay;
  }

  /** Ends the run: the last block, then the drain of results still in flight. */
  finishRun(): void {
    if (this.pending) this.finish(this.pending, -1);
    this.pending = undefined;
    if (this.maxReady > this.t) {
      this.stack.dependency += this.maxReady - this.t;
      this.t = this.maxReady;
    }
  }

  get cycles(): number {
    return this.t;
  }

  /** Branch statistics; memory statistics when caches are modelled. */
  statistics(): { branches: BranchStats; memory: MemoryStats | undefined } {
    return { branches: this.predictor.stats, memory: this.memory?.stats };
  }

  private finish(info: BlockInfo, next: number): void {
    const before = this.t;
    const start = this.t;
    this.instructions += info.instructions;
    // 1. Throughput.
    this.t += info.base;
    this.stack.base += info.base;
    // 2. Scoreboard.
    const df = info.dataflow;
    const nIn = df.inputs.length;
    const nOut = df.outputs.length;
    let neededRegs = this.ready.length;
    for (let j = 0; j < nOut; j++) if (df.outputs[j] >= neededRegs) neededRegs = df.outputs[j] + 1;
    for (let i = 0; i < nIn; i++) if (df.inputs[i] >= neededRegs) neededRegs = df.inputs[i] + 1;
    if (neededRegs > this.ready.length) {
      const grown = new Float64Array(neededRegs * 2);
      grown.set(this.ready);
      this.ready = grown;
    }
    const out = nOut <= this.scratch.length ? this.scratch : new Float64Array(nOut);
    const ready = this.ready;
    const mem = this.pendingMem;
    let done = start + (info.cost ? info.cost.criticalPath : 0);
    let doneWithoutMem = done;
    for (let j = 0; j < nOut; j++) {
      let r = start + df.fromStart[j];
      const row = j * nIn;
      for (let i = 0; i < nIn; i++) {
        const l = df.lat[row + i];
        if (l >= 0) {
          const v = ready[df.inputs[i]] + l;
          if (v > r) r = v;
        }
      }
      if (r > doneWithoutMem) doneWithoutMem = r;
      if (mem > 0 && df.afterLoad[j]) r += mem;
      out[j] = r;
      if (r > done) done = r;
    }
    for (let j = 0; j < nOut; j++) ready[df.outputs[j]] = out[j];
    if (done > this.maxReady) this.maxReady = done;
    // 3. Reorder window: blocks retire in order; dispatch waits for the block that leaves room.
    this.totalUops += info.uops;
    const memShare = done - doneWithoutMem;
    const ringIndex = this.ringTail;
    this.ringUops[ringIndex] = this.totalUops;
    this.ringDone[ringIndex] = done;
    this.ringMem[ringIndex] = memShare;
    this.ringTail = (ringIndex + 1) % RING;
    if (this.ringTail === this.ringHead) this.ringHead = (this.ringHead + 1) % RING; // window longer than the ring: forget the oldest
    const limit = this.totalUops - this.params.robUops;
    while (this.ringHead !== this.ringTail && this.ringUops[this.ringHead] <= limit) {
      const h = this.ringHead;
      const retireAt = Math.max(this.retired, this.ringDone[h]);
      if (retireAt > this.t) {
        const stall = retireAt - this.t;
        // The part of the stall this block's own cache delay explains is memory.
        const m = this.retired < this.ringDone[h] ? Math.min(stall, this.ringMem[h]) : 0;
        this.stack.memory += m;
        this.stack.dependency += stall - m;
        this.t = retireAt;
      }
      this.retired = retireAt;
      this.ringHead = (h + 1) % RING;
    }
    // 4. Branch outcome, known from the block that followed.
    if (next >= 0) {
      const pc = Number(info.address);
      const fallthrough = pc + info.size;
      let miss = false;
      switch (info.terminator) {
        case 'cond':
          miss = this.predictor.conditional(pc, next !== fallthrough);
          break;
        case 'indirect':
          miss = this.predictor.indirect(pc, next);
          break;
        case 'icall':
          miss = this.predictor.indirect(pc, next);
          this.predictor.call(fallthrough);
          break;
        case 'call':
          this.predictor.call(fallthrough);
          break;
        case 'ret':
          miss = this.predictor.ret(next);
          break;
        default:
          break;
      }
      if (miss) {
        this.t += this.params.mispredictPenalty;
        this.stack.branch += this.params.mispredictPenalty;
      }
    }
    this.pendingStats!.cycles += this.t - before;
  }
}
