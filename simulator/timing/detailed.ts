/**
 * Detailed mode: the static per-block costs combined with dynamic layers, driven by the
 * sequence of executed blocks and data accesses (the native trace, or JS hooks; cycles.ts).
 *
 * The timeline is a dispatch clock `t`. Each executed block
 *  1. advances `t` by its static throughput cost (`BlockInfo.base`: issue, ports, front end);
 *  2. computes when its results are ready from a register scoreboard — ready times of its
 *     inputs plus its internal latencies (`BlockInfo.dataflow`), plus the delay of its loads
 *     beyond an L1 hit when caches are modelled, and (x86-64, with caches) no earlier than the
 *     data of an earlier block's store to a stack slot one of its loads reads;
 *  3. enters a reorder window of `robUops` micro-ops: dispatch may not run further ahead of
 *     the oldest unfinished block than the window holds, so a long dependency chain or a
 *     long-latency load stalls `t` only when the window fills — independent work and
 *     independent misses overlap, a dependent chain does not;
 *  4. when its final branch was mispredicted (the predictor sees the next block), waits until
 *     the branch executes (its inputs ready, from the scoreboard) and then pays the
 *     mispredict penalty (front-end refill).
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

const RING = 4096;
/** Indices into DetailedTimer.s: the dispatch clock, window and CPI-stack totals, the pending block's cache delay. */
const S_T = 0, S_TOTAL_UOPS = 1, S_RETIRED = 2, S_MAX_READY = 3, S_BASE = 4, S_DEPENDENCY = 5, S_BRANCH = 6, S_MEMORY = 7, S_PENDING_MEM = 8, S_PENDING_FORWARD = 9, S_SIZE = 10;
/** Stack-slot stores remembered for later blocks' loads (direct-mapped by address), and per block. */
const FORWARD_SLOTS = 256;
const BLOCK_STORES = 16;
const COND = 1, INDIRECT = 3, CALL = 4, ICALL = 5, RET = 6;

export class DetailedTimer {
  readonly predictor: BranchPredictor;
  readonly memory: MemoryHierarchy | undefined;
  /**
   * Every scalar the per-block path updates, in one typed array (S_* indices): object fields
   * holding doubles are boxed, and updating them per block cost more than the model itself.
   */
  private readonly s = new Float64Array(S_SIZE);
  private ready: Float64Array;
  private scratch = new Float64Array(64);
  /** Reorder window as a ring of executed blocks: cumulative micro-ops and completion. */
  private readonly ringUops = new Float64Array(RING);
  private readonly ringDone = new Float64Array(RING);
  private readonly ringMem = new Float64Array(RING);
  private ringHead = 0;
  private ringTail = 0;
  private pending: BlockInfo | undefined;
  /** Per block serial: executions and cycles. */
  private counts = new Float64Array(256);
  private blockCycles = new Float64Array(256);
  private readonly seen: BlockInfo[] = [];
  private readonly robUops: number;
  private readonly penalty: number;
  /**
   * Stores across blocks: the data-ready time of recent stack-slot stores by address, so a
   * later block's load of the slot cannot have the value before the store did (plus the core's
   * store-to-load forwarding latency, 0 with memory renaming). -1: not modelled.
   */
  private readonly storeForward: number;
  private readonly l1Latency: number;
  private readonly forwardAddress = new Float64Array(FORWARD_SLOTS).fill(-1);
  private readonly forwardReady = new Float64Array(FORWARD_SLOTS);
  private readonly forwardSize = new Float64Array(FORWARD_SLOTS);
  /** The pending block's write accesses so far, and its stack-slot stores (address, size, output). */
  private writes = 0;
  private stores = 0;
  private readonly storeAddress = new Float64Array(BLOCK_STORES);
  private readonly storeSize = new Float64Array(BLOCK_STORES);
  private readonly storeOutput = new Int32Array(BLOCK_STORES);

  /** `storeForward`: the core's store-to-load forwarding latency (Mechanisms.storeForward), undefined when not modelled. */
  constructor(
    readonly params: DynamicParams,
    readonly caches: boolean,
    registerCount: number,
    storeForward?: number,
  ) {
    this.predictor = new BranchPredictor(params);
    this.memory = caches ? new MemoryHierarchy(params) : undefined;
    this.ready = new Float64Array(Math.max(64, registerCount * 2));
    this.robUops = params.robUops;
    this.penalty = params.mispredictPenalty;
    this.storeForward = caches && storeForward !== undefined ? storeForward : -1;
    this.l1Latency = params.l1.latency;
  }

  /** The block that starts executing now; finishes the previous one (its branch outcome is now known). */
  block(info: BlockInfo): void {
    const prev = this.pending;
    if (prev !== undefined) this.finish(prev, info.pc);
    this.pending = info;
    this.s[S_PENDING_MEM] = 0;
    this.s[S_PENDING_FORWARD] = 0;
    this.writes = 0;
    this.stores = 0;
    const serial = info.serial;
    if (serial >= this.counts.length) this.grow(serial);
    if (this.counts[serial] === 0) this.seen.push(info);
    this.counts[serial]++;
    if (info.maxRegister >= this.ready.length) {
      const grown = new Float64Array((info.maxRegister + 1) * 2);
      grown.set(this.ready);
      this.ready = grown;
    }
  }

  private grow(serial: number): void {
    const n = Math.max(serial + 1, this.counts.length * 2);
    const c = new Float64Array(n);
    c.set(this.counts);
    this.counts = c;
    const y = new Float64Array(n);
    y.set(this.blockCycles);
    this.blockCycles = y;
  }

  /** A data access made by the pending block. */
  access(address: number, size: number, write: boolean): void {
    const s = this.s;
    const delay = this.memory!.access(address, size, write, s[S_T]);
    if (delay > s[S_PENDING_MEM]) s[S_PENDING_MEM] = delay;
    if (this.storeForward < 0) return;
    if (write) {
      // The n-th write of a block is its n-th store instruction's.
      const n = this.writes++;
      const data = this.pending!.dataflow.storeData;
      if (n < data.length && data[n] >= 0 && this.stores < BLOCK_STORES) {
        const k = this.stores++;
        this.storeAddress[k] = address;
        this.storeSize[k] = size;
        this.storeOutput[k] = data[n];
      }
    } else {
      const slot = (address >>> 3) & (FORWARD_SLOTS - 1);
      if (this.forwardAddress[slot] === address && size <= this.forwardSize[slot]) {
        const at = this.forwardReady[slot] + this.storeForward;
        if (at > s[S_PENDING_FORWARD]) s[S_PENDING_FORWARD] = at;
      }
    }
  }

  /** Ends the run: the last block, then the drain of results still in flight. */
  finishRun(): void {
    if (this.pending) this.finish(this.pending, -1);
    this.pending = undefined;
    const s = this.s;
    if (s[S_MAX_READY] > s[S_T]) {
      s[S_DEPENDENCY] += s[S_MAX_READY] - s[S_T];
      s[S_T] = s[S_MAX_READY];
    }
  }

  get cycles(): number {
    return this.s[S_T];
  }

  /** Cycles by cause so far (a copy). */
  get stack(): CpiStack {
    const s = this.s;
    return { base: s[S_BASE], dependency: s[S_DEPENDENCY], branch: s[S_BRANCH], memory: s[S_MEMORY] };
  }

  /** Executions and cycles of every block that ran. */
  perBlock(): Array<{ info: BlockInfo; count: number; cycles: number }> {
    return this.seen.map((info) => ({ info, count: this.counts[info.serial], cycles: this.blockCycles[info.serial] }));
  }

  /** Branch statistics; memory statistics when caches are modelled. */
  statistics(): { branches: BranchStats; memory: MemoryStats | undefined } {
    return { branches: this.predictor.stats, memory: this.memory?.stats };
  }

  private finish(info: BlockInfo, next: number): void {
    const s = this.s;
    const start = s[S_T];
    // 1. Throughput.
    let t = start + info.base;
    s[S_BASE] += info.base;
    // 2. Scoreboard, output by output: v = paths not through this block's loads, l = paths
    // through them (which wait for the block's cache delay). Results go to `ready` only after
    // every output is computed: an output register may also be an input of another output.
    const df = info.dataflow;
    const outputs = df.outputs;
    const nOut = outputs.length;
    if (nOut > this.scratch.length) this.scratch = new Float64Array(nOut * 2);
    const r = this.scratch;
    const ready = this.ready;
    const fromStart = df.fromStart;
    const fromStartLoad = df.fromStartLoad;
    const edgeStart = df.edgeStart;
    const from = df.edgeFrom;
    const edgeLat = df.edgeLat;
    const edgeLoad = df.edgeLoad;
    // A load of a slot an earlier block stored to has its value no earlier than the store's
    // data (plus forwarding), instead of after the cache access: paths through the block's
    // loads start no earlier than that (counted as dependency, not memory).
    const mem = s[S_PENDING_MEM];
    const forwardAt = s[S_PENDING_FORWARD];
    const realOutputs = df.realOutputs;
    let done = start + info.criticalPath;
    let doneWithoutMem = done;
    for (let j = 0; j < nOut; j++) {
      const fs = fromStart[j];
      const fsl = fromStartLoad[j];
      let v = fs >= 0 ? start + fs : start;
      let l = fsl >= 0 ? start + fsl : -1;
      const end = edgeStart[j + 1];
      for (let k = edgeStart[j]; k < end; k++) {
        const x = ready[from[k]] + edgeLat[k];
        if (edgeLoad[k] === 0) {
          if (x > v) v = x;
        } else if (x > l) l = x;
      }
      if (l < 0) {
        // No path through a load.
        if (j < realOutputs && v > doneWithoutMem) doneWithoutMem = v;
      } else {
        // The forwarded value plus what this output's path adds after its load (the path from
        // the block's start through a load, less the L1 latency the load itself takes).
        const after = forwardAt > 0 && fsl > this.l1Latency ? forwardAt + fsl - this.l1Latency : forwardAt;
        const lf = l > after ? l : after;
        const lm = l + mem > lf ? l + mem : lf;
        if (lf > v) {
          if (j < realOutputs && lf > doneWithoutMem) doneWithoutMem = lf;
          v = lm;
        } else {
          if (j < realOutputs && v > doneWithoutMem) doneWithoutMem = v;
          if (lm > v) v = lm;
        }
      }
      r[j] = v;
      if (j < realOutputs && v > done) done = v;
    }
    for (let j = 0; j < nOut; j++) ready[outputs[j]] = r[j];
    for (let k = 0; k < this.stores; k++) {
      const address = this.storeAddress[k];
      const slot = (address >>> 3) & (FORWARD_SLOTS - 1);
      this.forwardAddress[slot] = address;
      this.forwardSize[slot] = this.storeSize[k];
      this.forwardReady[slot] = r[this.storeOutput[k]];
    }
    const resolved = info.branchOutput >= 0 ? r[info.branchOutput] : t;
    if (done > s[S_MAX_READY]) s[S_MAX_READY] = done;
    // 3. Reorder window: blocks retire in order; dispatch waits for the block that leaves room.
    const totalUops = (s[S_TOTAL_UOPS] += info.uops);
    const tail = this.ringTail;
    this.ringUops[tail] = totalUops;
    this.ringDone[tail] = done;
    this.ringMem[tail] = done - doneWithoutMem;
    this.ringTail = (tail + 1) & (RING - 1);
    if (this.ringTail === this.ringHead) this.ringHead = (this.ringHead + 1) & (RING - 1); // window longer than the ring: forget the oldest
    const limit = totalUops - this.robUops;
    while (this.ringHead !== this.ringTail && this.ringUops[this.ringHead] <= limit) {
      const h = this.ringHead;
      const doneAt = this.ringDone[h];
      const retired = s[S_RETIRED];
      const retireAt = doneAt > retired ? doneAt : retired;
      if (retireAt > t) {
        const stall = retireAt - t;
        // The part of the stall this block's own cache delay explains is memory.
        const m = retired < doneAt ? Math.min(stall, this.ringMem[h]) : 0;
        s[S_MEMORY] += m;
        s[S_DEPENDENCY] += stall - m;
        t = retireAt;
      }
      s[S_RETIRED] = retireAt;
      this.ringHead = (h + 1) & (RING - 1);
    }
    // 4. Branch outcome, known from the block that followed.
    const kind = info.terminatorCode;
    if (next >= 0 && kind !== 0) {
      let miss = false;
      if (kind === COND) miss = this.predictor.conditional(info.pc, next !== info.fallthrough);
      else if (kind === RET) miss = this.predictor.ret(next);
      else if (kind === INDIRECT) miss = this.predictor.indirect(info.pc, next);
      else if (kind === ICALL) {
        miss = this.predictor.indirect(info.pc, next);
        this.predictor.call(info.fallthrough);
      } else if (kind === CALL) this.predictor.call(info.fallthrough);
      if (miss) {
        // The front end restarts on the right path once the branch executes, then refills.
        const restart = (resolved > t ? resolved : t) + this.penalty;
        s[S_BRANCH] += restart - t;
        t = restart;
      }
    }
    this.blockCycles[info.serial] += t - start;
    s[S_T] = t;
  }
}
