/**
 * Branch prediction for detailed mode, driven by block successions: the engine reports which
 * block ran after which, so the outcome of every block-ending branch is known exactly.
 *
 * - Conditional branches: a TAGE predictor (tage.ts) for cores that have one
 *   (`DynamicParams.tage`), else a tournament of gshare (2-bit saturating counters indexed by the
 *   branch address XOR the global history of recent outcomes) and a bimodal table (counters by
 *   address alone), with a per-address chooser. The bimodal side learns a biased branch in two
 *   executions while gshare's history warms up; gshare takes over for patterns.
 * - Indirect jumps and calls: a direct-mapped branch target buffer of last targets.
 * - Returns: a circular return-address stack pushed by calls (overflow drops the oldest).
 * - Direct jumps and calls are always predicted (their target is in the instruction).
 *
 * Addresses are JS numbers (exact below 2^53; guest code lives far below).
 */
import type { DynamicParams } from './params.ts';
import { Tage } from './tage.ts';

export interface BranchStats {
  conditional: number;
  conditionalMispredicted: number;
  indirect: number;
  indirectMispredicted: number;
  returns: number;
  returnsMispredicted: number;
}

export class BranchPredictor {
  private readonly counters: Uint8Array;
  private readonly tableMask: number;
  private readonly bimodal: Uint8Array;
  private readonly chooser: Uint8Array;
  private readonly localMask: number;
  private readonly historyMask: number;
  private history = 0;
  private readonly btbPc: Float64Array;
  private readonly btbTarget: Float64Array;
  private readonly btbMask: number;
  private readonly ras: Float64Array;
  private rasTop = 0;
  private rasCount = 0;
  private readonly tage: Tage | undefined;
  readonly stats: BranchStats = { conditional: 0, conditionalMispredicted: 0, indirect: 0, indirectMispredicted: 0, returns: 0, returnsMispredicted: 0 };

  constructor(params: DynamicParams) {
    this.counters = new Uint8Array(1 << params.patternTableBits).fill(1); // weakly not taken
    this.tableMask = (1 << params.patternTableBits) - 1;
    const local = Math.max(10, params.patternTableBits - 2);
    this.bimodal = new Uint8Array(1 << local).fill(1);
    this.chooser = new Uint8Array(1 << local).fill(1); // < 2: trust bimodal
    this.localMask = (1 << local) - 1;
    this.historyMask = (1 << params.historyBits) - 1;
    const btb = 1 << Math.ceil(Math.log2(params.btbEntries));
    this.btbPc = new Float64Array(btb).fill(-1);
    this.btbTarget = new Float64Array(btb);
    this.btbMask = btb - 1;
    this.ras = new Float64Array(params.rasDepth);
    this.tage = params.tage && new Tage(params.tage);
  }

  /** Records a conditional branch at `pc`; returns true when it was mispredicted. */
  conditional(pc: number, taken: boolean): boolean {
    if (this.tage !== undefined) {
      this.stats.conditional++;
      if (this.tage.predict(pc, taken) !== taken) {
        this.stats.conditionalMispredicted++;
        return true;
      }
      return false;
    }
    const hashed = pc ^ (pc / 4096);
    const index = (hashed ^ (this.history << 2)) & this.tableMask;
    const local = hashed & this.localMask;
    const c = this.counters[index];
    const b = this.bimodal[local];
    const globalSays = c >= 2;
    const localSays = b >= 2;
    const ch = this.chooser[local];
    const predicted = ch >= 2 ? globalSays : localSays;
    if (globalSays !== localSays) {
      if (globalSays === taken) {
        if (ch < 3) this.chooser[local] = ch + 1;
      } else if (ch > 0) this.chooser[local] = ch - 1;
    }
    if (taken) {
      if (c < 3) this.counters[index] = c + 1;
      if (b < 3) this.bimodal[local] = b + 1;
    } else {
      if (c > 0) this.counters[index] = c - 1;
      if (b > 0) this.bimodal[local] = b - 1;
    }
    this.history = ((this.history << 1) | (taken ? 1 : 0)) & this.historyMask;
    this.stats.conditional++;
    if (predicted !== taken) {
      this.stats.conditionalMispredicted++;
      return true;
    }
    return false;
  }

  /** Records an indirect jump or call at `pc` that went to `target`; true when mispredicted. */
  indirect(pc: number, target: number): boolean {
    const i = (pc ^ (pc / 1024)) & this.btbMask;
    const hit = this.btbPc[i] === pc && this.btbTarget[i] === target;
    this.btbPc[i] = pc;
    this.btbTarget[i] = target;
    this.stats.indirect++;
    if (!hit) this.stats.indirectMispredicted++;
    return !hit;
  }

  /** A call: its return address goes on the return-address stack. */
  call(returnAddress: number): void {
    this.rasTop = (this.rasTop + 1) % this.ras.length;
    this.ras[this.rasTop] = returnAddress;
    if (this.rasCount < this.ras.length) this.rasCount++;
  }

  /** A return that went to `target`; true when mispredicted. */
  ret(target: number): boolean {
    this.stats.returns++;
    let predicted = -1;
    if (this.rasCount > 0) {
      predicted = this.ras[this.rasTop];
      this.rasTop = (this.rasTop + this.ras.length - 1) % this.ras.length;
      this.rasCount--;
    }
    if (predicted !== target) {
      this.stats.returnsMispredicted++;
      return true;
    }
    return false;
  }
}
