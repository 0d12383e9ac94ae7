/**
 * Cycle counting for a running engine, in one of two modes:
 *
 * - `fast`: the engine's native block counter asks the host to describe each new translated
 *   block once; the description carries the block's static cost (blocks.ts, model.ts), so the
 *   native hook accumulates cycles itself and no JavaScript runs per executed block. Cycles =
 *   Σ executions × static block cost, read back from the per-block counts.
 * - `detailed`: a JavaScript block hook (and, with caches, a memory hook) drives the dynamic
 *   layers of detailed.ts: branch predictor, caches with a stride prefetcher, a register
 *   scoreboard in a reorder window.
 *
 * The report covers the current or last outermost run (the owner calls `beginEntry` when one
 * starts) or, with `accumulate`, every run since the counter was made or `clear`ed: total
 * cycles, IPC, a CPI stack (base / dependency / branch / memory) and hot spots per block and
 * per function.
 */
import type { Arch } from '../../isa/arch.ts';
import { StackscopeError } from '../../isa/error.ts';
import type { CpuEngine, HookHandle } from '../engine.ts';
import { BlockCache, type BlockInfo } from './blocks.ts';
import type { MemoryStats } from './cache.ts';
import { DetailedTimer, type CpiStack } from './detailed.ts';
import { defaultUarch, timingModel, type TimingModel, type UarchName } from './model.ts';
import { describeHost, detectHost } from './host.ts';
import { DYNAMIC_PARAMS, type DynamicParams } from './params.ts';
import type { BranchStats } from './predictor.ts';

export type CycleMode = 'off' | 'fast' | 'detailed';

export interface CycleOptions {
  readonly mode: CycleMode;
  /** Microarchitecture name or alias (`skylake`, `zen3`, `a72`, `n2`); default per arch. */
  readonly uarch?: string;
  /**
   * Apply the core's mechanisms llvm-mca's models lack (stack engine, move elimination,
   * simple-address loads, memory renaming; docs/cycle-model.md). Default true; false prices
   * blocks exactly as llvm-mca's scheduling model does.
   */
  readonly mechanisms?: boolean;
  /** Detailed mode: model the data caches (memory hooks on every access). Default true. */
  readonly caches?: boolean;
  /**
   * false (default): each outermost entry from the host starts from empty counts, and the
   * report covers the current or last one. true: counts — and in detailed mode the branch
   * predictor, caches and scoreboard — carry over from one entry to the next, and the report
   * covers every entry since the machine was made or its cycles were reset.
   */
  readonly accumulate?: boolean;
}

/** A cycle-model request the engine or architecture cannot serve. */
export class CycleModelError extends StackscopeError {
  override name = 'CycleModelError';
  constructor(
    readonly reason: string,
    readonly uarch?: string,
  ) {
    super(uarch === undefined ? reason : `${uarch}: ${reason}`);
  }
}

export interface BlockHotSpot {
  readonly address: bigint;
  readonly size: number;
  readonly instructions: number;
  readonly executions: number;
  readonly cycles: number;
  /** Share of the run's cycles, 0..1. */
  readonly share: number;
  /** Static cycles per execution and the bound that sets them. */
  readonly staticCycles: number;
  readonly bottleneck: string | undefined;
  readonly loop: boolean;
  readonly symbol: string | undefined;
}

export interface FunctionHotSpot {
  readonly name: string;
  readonly cycles: number;
  readonly instructions: number;
  readonly share: number;
}

export interface CycleReport {
  readonly mode: 'fast' | 'detailed';
  readonly arch: Arch;
  /** The table the cycles come from. */
  readonly uarch: UarchName;
  /** The machine the report was made on and its closest table (host.ts), to compare with `uarch`. */
  readonly host: HostSummary;
  readonly cycles: number;
  /** Guest instructions the report covers (whole blocks entered; gateway stubs excluded). */
  readonly instructions: number;
  readonly ipc: number;
  /** Cycles split by cause; the parts sum to `cycles`. */
  readonly stack: CpiStack;
  /** The stack divided by `instructions`. */
  readonly cpi: CpiStack;
  /** Executed instructions priced exactly / by a relaxed table key / by the default entry. */
  readonly pricing: { readonly exact: number; readonly approximate: number; readonly unknown: number };
  readonly blocks: readonly BlockHotSpot[];
  readonly functions: readonly FunctionHotSpot[];
  readonly branches?: BranchStats;
  readonly memory?: MemoryStats;
}

export interface HostSummary {
  /** `AMD family 0x1a model 0x2 (znver5): znver5`. */
  readonly description: string;
  /** The host's core (`znver5`, `neoverse-n1`, …; `unknown` when not identified). */
  readonly core: string;
  /** The table closest to the host, if it has one. */
  readonly uarch: UarchName | undefined;
}

function hostSummary(): HostSummary {
  const h = detectHost();
  return { description: describeHost(h), core: h.core, uarch: h.uarch };
}

export interface ReportOptions {
  /** Names a code address (`symbol+0x10`); the function is the part before `+`. */
  readonly symbolize?: (address: bigint) => string | undefined;
  /** Blocks to leave out (host gateway stubs). */
  readonly exclude?: (address: bigint) => boolean;
  /** Hot spots listed (default 20). */
  readonly top?: number;
}

export class CycleCounter {
  readonly mode: 'fast' | 'detailed';
  readonly model: TimingModel;
  readonly params: DynamicParams;
  readonly caches: boolean;
  readonly accumulate: boolean;
  private readonly blocks: BlockCache;
  /** Fast mode with `accumulate`: executions in earlier entries, by block description. */
  private readonly carried = new Map<BlockInfo, number>();
  /** Fast mode: the engine's block counts are from before a `clear` (until the next entry). */
  private engineCountsStale = false;
  /** The description the native counter holds for each block, by `address:size`. */
  private readonly described = new Map<string, BlockInfo>();
  private readonly byAddress = new Map<number, BlockInfo>();
  private timer: DetailedTimer | undefined;
  private readonly hooks: HookHandle[] = [];
  private justDescribed = -1;
  private tracing = false;
  /** The latest description per address (what the native counter holds). */
  private readonly describedByPc = new Map<number, BlockInfo>();
  private lastInfo: BlockInfo | undefined;
  /**
   * The last two distinct successors of each block (by serial), to skip the address lookup:
   * a block ending in a conditional branch has two usual successors.
   */
  private successor: Array<BlockInfo | undefined> = [];
  private successorOther: Array<BlockInfo | undefined> = [];
  private lastEvent = -1;

  constructor(
    private readonly engine: CpuEngine,
    options: CycleOptions,
  ) {
    if (options.mode === 'off') throw new CycleModelError('mode off needs no cycle counter');
    this.mode = options.mode;
    this.model = timingModel(options.uarch ?? defaultUarch(engine.arch), engine.arch);
    if (this.model.arch !== engine.arch) {
      throw new CycleModelError(`models ${this.model.arch}, the machine is ${engine.arch}`, this.model.uarch);
    }
    this.params = DYNAMIC_PARAMS[this.model.uarch];
    this.caches = this.mode === 'detailed' && options.caches !== false;
    this.accumulate = options.accumulate === true;
    this.blocks = new BlockCache(this.model, options.mechanisms !== false);
    if (!engine.setBlockDescriber) throw new CycleModelError(`engine ${engine.name} cannot describe blocks to a native counter`);
    engine.setBlockDescriber((address, code) => {
      const info = this.blocks.get(address, code);
      this.described.set(`${address}:${code.length}`, info);
      const pc = Number(address);
      // New code at a known address (or a block of another size there): shortcuts that
      // lead to the old analysis are stale.
      if (this.describedByPc.has(pc)) this.forgetSuccessors();
      this.describedByPc.set(pc, info);
      this.byAddress.delete(pc);
      this.justDescribed = Number(address);
      return { instructions: info.instructions, costMilli: Math.round(info.cycles * 1000) };
    });
    if (this.mode === 'detailed') {
      this.timer = this.newTimer();
      if (engine.traceBlocks) {
        // The native counter records blocks and accesses; they are replayed here in batches,
        // with no JavaScript callback per block.
        engine.traceBlocks((trace, length) => this.replay(trace, length), { accesses: this.caches });
        this.tracing = true;
      } else {
        if (!engine.hookBlockRaw || (this.caches && !engine.hookMemoryRaw)) {
          throw new CycleModelError(`engine ${engine.name} has neither a block trace nor raw block/memory hooks for detailed mode`);
        }
        this.hooks.push(engine.hookBlockRaw((address, size) => this.onBlock(address, size)));
        if (this.caches) {
          this.hooks.push(engine.hookMemoryRaw!({ read: true, write: true }, (write, address, size) => this.timer!.access(address, size, write)));
        }
      }
    }
  }

  private newTimer(): DetailedTimer {
    return new DetailedTimer(this.params, this.caches, this.blocks.registers.size, this.model.mechanisms(this.blocks.mechanisms).storeForward);
  }

  /** Replays a batch of the native trace: block addresses, and accesses as (-(size·2 + write + 1), address). */
  private replay(trace: Float64Array, length: number): void {
    const timer = this.timer!;
    let prev = this.lastInfo;
    for (let i = 0; i < length; i++) {
      const v = trace[i];
      if (v < 0) {
        const meta = -v - 1;
        timer.access(trace[++i], meta >>> 1, (meta & 1) === 1);
        continue;
      }
      let info = prev !== undefined ? (prev.pc === v ? prev : this.successor[prev.serial]) : undefined;
      if (info === undefined || info.pc !== v) {
        const other = prev !== undefined ? this.successorOther[prev.serial] : undefined;
        if (other !== undefined && other.pc === v) info = other;
        else info = this.byAddress.get(v) ?? this.describedAt(v);
        if (prev !== undefined) {
          this.successorOther[prev.serial] = this.successor[prev.serial];
          this.successor[prev.serial] = info;
        }
      }
      timer.block(info);
      prev = info;
    }
    this.lastInfo = prev;
  }

  private forgetSuccessors(): void {
    this.successor = [];
    this.successorOther = [];
  }

  /** A traced block is one the native counter had described: find its analysis by address. */
  private describedAt(address: number): BlockInfo {
    const info = this.describedByPc.get(address);
    if (!info) throw new CycleModelError(`trace names block ${address.toString(16)} that was never described`);
    this.byAddress.set(address, info);
    return info;
  }

  private onBlock(address: number, size: number): void {
    // A block met for the first time is reported once before the native counter stops to
    // have it described and once more when the run resumes at it: count it once.
    if (address === this.justDescribed && address === this.lastEvent) {
      this.justDescribed = -1;
      return;
    }
    this.justDescribed = -1;
    this.lastEvent = address;
    // Most blocks have one usual successor: try it before the map.
    const prev = this.lastInfo;
    let info = prev !== undefined ? (prev.pc === address ? prev : this.successor[prev.serial]) : undefined;
    if (info === undefined || info.pc !== address || info.size !== size) {
      info = this.byAddress.get(address);
      if (!info || info.size !== size) {
        const a = BigInt(address);
        info = this.blocks.get(a, this.engine.read(a, size));
        this.byAddress.set(address, info);
      }
      if (prev !== undefined) this.successor[prev.serial] = info;
    }
    this.lastInfo = info;
    this.timer!.block(info);
  }

  /**
   * An outermost entry is about to start; call it before the engine's counters are reset.
   * Without `accumulate` the entry starts from empty counts, predictor, caches and scoreboard;
   * with it, fast mode keeps the block counts of the entry before and detailed mode drains its
   * pipeline (the host ran in between) and goes on.
   */
  beginEntry(): void {
    if (!this.accumulate) {
      this.clear();
      this.engineCountsStale = false; // the engine zeroes its counts now
      return;
    }
    if (this.timer) this.timer.finishRun();
    else if (!this.engineCountsStale) this.carryBlockCounts();
    this.engineCountsStale = false;
    this.lastEvent = -1;
    this.lastInfo = undefined;
  }

  /** Forgets everything counted so far (between entries). */
  clear(): void {
    if (this.timer) this.timer = this.newTimer();
    this.carried.clear();
    this.engineCountsStale = !this.timer;
    this.lastEvent = -1;
    this.lastInfo = undefined;
  }

  private carryBlockCounts(): void {
    for (const [address, size, , count] of this.engine.blockCounts()) {
      const info = this.described.get(`${address}:${size}`);
      if (info) this.carried.set(info, (this.carried.get(info) ?? 0) + Number(count));
    }
  }

  /** Code at [begin, end) changed: drop cached analyses of blocks there. */
  forget(begin: bigint, end: bigint): void {
    for (const [a, info] of this.byAddress) {
      const addr = BigInt(a);
      if (addr < end && addr + BigInt(info.size) > begin) this.byAddress.delete(a);
    }
    this.forgetSuccessors();
    this.lastInfo = undefined;
  }

  report(options: ReportOptions = {}): CycleReport {
    const exclude = options.exclude ?? (() => false);
    const rows: Array<{ info: BlockInfo; executions: number; cycles: number }> = [];
    let stack: CpiStack;
    let branches: BranchStats | undefined;
    let memory: MemoryStats | undefined;
    if (this.timer) {
      this.timer.finishRun();
      stack = { ...this.timer.stack };
      for (const s of this.timer.perBlock()) {
        if (!exclude(s.info.address)) rows.push({ info: s.info, executions: s.count, cycles: s.cycles });
      }
      const stats = this.timer.statistics();
      branches = { ...stats.branches };
      memory = stats.memory && { ...stats.memory, l1: { ...stats.memory.l1 }, l2: { ...stats.memory.l2 }, l3: stats.memory.l3 && { ...stats.memory.l3 } };
    } else {
      stack = { base: 0, dependency: 0, branch: 0, memory: 0 };
      const counts = new Map(this.carried);
      for (const [address, size, , count] of this.engineCountsStale ? [] : this.engine.blockCounts()) {
        const info = this.described.get(`${address}:${size}`);
        if (info) counts.set(info, (counts.get(info) ?? 0) + Number(count));
      }
      for (const [info, n] of counts) {
        if (exclude(info.address)) continue;
        rows.push({ info, executions: n, cycles: n * info.cycles });
        if (info.cost) {
          stack.base += n * info.cost.stack.base;
          stack.dependency += n * info.cost.stack.dependency;
        }
      }
    }
    const cycles = stack.base + stack.dependency + stack.branch + stack.memory;
    let instructions = 0;
    const pricing = { exact: 0, approximate: 0, unknown: 0 };
    for (const r of rows) {
      instructions += r.executions * r.info.instructions;
      const c = r.info.cost;
      const approx = c ? c.approximate.length : 0;
      const unknown = c ? c.unknown.length : 0;
      pricing.approximate += r.executions * approx;
      pricing.unknown += r.executions * (unknown + r.info.instructions - r.info.insns.length);
      pricing.exact += r.executions * (r.info.insns.length - approx - unknown);
    }
    const share = (c: number) => (cycles > 0 ? c / cycles : 0);
    const symbolize = options.symbolize ?? (() => undefined);
    const functions = new Map<string, { cycles: number; instructions: number }>();
    const blocks = rows.map((r): BlockHotSpot => {
      const symbol = symbolize(r.info.address);
      const fn = symbol === undefined ? '<unknown>' : symbol.replace(/\+0x[0-9a-f]+$/i, '');
      const f = functions.get(fn) ?? { cycles: 0, instructions: 0 };
      f.cycles += r.cycles;
      f.instructions += r.executions * r.info.instructions;
      functions.set(fn, f);
      return {
        address: r.info.address,
        size: r.info.size,
        instructions: r.info.instructions,
        executions: r.executions,
        cycles: r.cycles,
        share: share(r.cycles),
        staticCycles: r.info.cycles,
        bottleneck: r.info.cost?.bottleneck,
        loop: r.info.cost?.isLoop ?? false,
        symbol,
      };
    });
    const top = options.top ?? 20;
    blocks.sort((a, b) => b.cycles - a.cycles || (a.address < b.address ? -1 : 1));
    const perInstruction = (v: number) => (instructions > 0 ? v / instructions : 0);
    return {
      mode: this.mode,
      arch: this.model.arch,
      uarch: this.model.uarch,
      host: hostSummary(),
      cycles,
      instructions,
      ipc: cycles > 0 ? instructions / cycles : 0,
      stack,
      cpi: { base: perInstruction(stack.base), dependency: perInstruction(stack.dependency), branch: perInstruction(stack.branch), memory: perInstruction(stack.memory) },
      pricing,
      blocks: blocks.slice(0, top),
      functions: [...functions.entries()]
        .map(([name, f]) => ({ name, cycles: f.cycles, instructions: f.instructions, share: share(f.cycles) }))
        .sort((a, b) => b.cycles - a.cycles || (a.name < b.name ? -1 : 1))
        .slice(0, top),
      ...(branches ? { branches } : {}),
      ...(memory ? { memory } : {}),
    };
  }

  close(): void {
    if (this.tracing) this.engine.traceBlocks?.(null);
    this.tracing = false;
    for (const h of this.hooks) this.engine.removeHook(h);
    this.hooks.length = 0;
  }
}

/** Parses `--cycles` style values. */
export function parseCycleMode(text: string): CycleMode | undefined {
  return text === 'fast' || text === 'detailed' || text === 'off' ? text : undefined;
}
