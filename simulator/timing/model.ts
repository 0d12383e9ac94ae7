/**
 * Static cost of a basic block: cycles per execution of the block in steady state, as a
 * bottleneck model over per-microarchitecture tables generated from llvm-mca's scheduling
 * models (see scripts/gen-timing-tables.ts and data/). The bounds are
 *
 * - issue: micro-ops / dispatch width;
 * - ports: the optimal fractional balance of every execution-resource demand over the units
 *   of its group — max over unions S of demanded groups of (cycles of demands confined to S)
 *   / |S|, which by max-flow/min-cut is exactly the best any assignment can do;
 * - latency (loops only): the loop-carried register dependency chain per iteration, from a
 *   resource-free dataflow run of the block repeated `LATENCY_ITERATIONS` times;
 * - front end (x86-64): instruction bytes / predecode bytes per cycle. It binds only for
 *   code that goes through legacy decode: straight-line blocks, and loops too large for the
 *   loop buffer / micro-op cache (`UarchSpec.loopBufferUops`). Small loops stream decoded
 *   micro-ops on real cores, and llvm-mca (the goldens) has no front end at all.
 *   `BlockCostOptions.frontEnd` overrides this.
 *
 * cycles = max of the bounds; the breakdown says which one binds. A block is a loop when its
 * last instruction branches to its first (or the caller says so).
 *
 * Inputs are Capstone's text (mnemonic, op_str, size, address), so the model runs on whatever
 * the simulator decoded. Lookup falls back from the exact form key to relaxed keys (widths
 * widened, then mnemonic + operand kinds) and finally to a documented default
 * (`DEFAULT_ENTRY`: 1 micro-op, latency 1, no port demand — it counts against issue width
 * only), recording every approximate or defaulted instruction in the breakdown so reports
 * can say how much of a run was priced by guesswork.
 *
 * On top of the tables, the core's mechanisms llvm-mca's models lack (mechanisms.ts): the
 * stack engine, move elimination, simple-address loads, and loads of a value a store of the
 * same block (or the previous iteration of a loop) wrote; `BlockCostOptions.mechanisms`
 * false prices as llvm-mca does.
 *
 * Not modelled, by design of the static layer: branch prediction, caches, memory
 * dependencies between blocks, macro-fusion, the uop cache / loop buffer. Those belong to
 * the dynamic layers (or to no layer yet).
 */
import type { Arch } from '../../isa/arch.ts';
import { StackscopeError } from '../../isa/error.ts';
import { registerEffects, type Effects } from './effects.ts';
import { FormParseError, kindKey, parseForm, relaxedKeys, type ParsedForm } from './forms.ts';
import { describeHost, detectHost, type HostCpu } from './host.ts';
import { isEliminableMove, loadLatencyPart, loadOpExtra, MemoryTracker, NO_MECHANISMS } from './mechanisms.ts';
import { UARCH_NAMES, UARCH_SPECS, type FormEntry, type Mechanisms, type UarchName, type UarchSpec, type UarchTableData } from './table.ts';

export type { UarchName } from './table.ts';
export { UARCH_NAMES } from './table.ts';

/** One instruction of a block as Capstone prints it. */
export interface BlockInstruction {
  readonly mnemonic: string;
  readonly opStr: string;
  /** Encoded size in bytes. */
  readonly size: number;
  /** Guest address; needed only to recognise a loop (branch back to the first instruction). */
  readonly address?: bigint;
}

/** How an instruction was priced. */
export type MatchKind = 'exact' | 'approx' | 'default';

export interface InstructionCost {
  readonly text: string;
  readonly key: string;
  readonly match: MatchKind;
  /** The table key actually used (differs from `key` for approximate matches). */
  readonly entryKey: string | undefined;
  readonly uops: number;
  readonly latency: number;
}

export type Bottleneck = 'issue' | 'ports' | 'latency' | 'frontend';

export interface BlockCost {
  readonly uarch: UarchName;
  /** Cycles per execution of the block: the largest bound. */
  readonly cycles: number;
  readonly bottleneck: Bottleneck;
  readonly bounds: {
    readonly issue: number;
    readonly ports: number;
    /** Loop-carried latency per iteration; 0 when the block is not a loop. */
    readonly latency: number;
    /** Predecode bound; 0 on AArch64. Reported even when it does not apply. */
    readonly frontEnd: number;
  };
  /** Whether `bounds.frontEnd` entered the maximum (see the module comment). */
  readonly frontEndApplies: boolean;
  /**
   * The cycles split for a CPI stack: `base` is the throughput part (issue, ports, front end),
   * `dependency` what the loop-carried chain adds on top. base + dependency = cycles.
   */
  readonly stack: { readonly base: number; readonly dependency: number };
  readonly isLoop: boolean;
  /** Longest register dependency chain within one execution (informational, not a bound). */
  readonly criticalPath: number;
  readonly instructions: number;
  readonly uops: number;
  readonly bytes: number;
  /** Units of the most pressed port set (the binding set of the ports bound). */
  readonly criticalUnits: readonly string[];
  /** Texts of instructions priced by a relaxed key / by the default entry. */
  readonly approximate: readonly string[];
  readonly unknown: readonly string[];
  readonly perInstruction: readonly InstructionCost[];
}

export interface BlockCostOptions {
  /** Overrides loop detection. */
  readonly loop?: boolean;
  /** Whether the front-end bytes bound enters the maximum; `auto` (default) as described above. */
  readonly frontEnd?: 'auto' | 'always' | 'never';
  /**
   * Apply the core's mechanisms the llvm-mca models lack (`UarchSpec.mechanisms`: stack
   * engine, move elimination, simple-address loads, memory renaming). Default true; false
   * prices blocks as llvm-mca does (for validation against it).
   */
  readonly mechanisms?: boolean;
}

/** A name that is not one of UARCH_NAMES. */
export class UnknownUarchError extends StackscopeError {
  override name = 'UnknownUarchError';
  constructor(readonly requested: string) {
    super(`unknown microarchitecture '${requested}' (known: ${UARCH_NAMES.join(', ')}, host)`);
  }
}

/** A block the model cannot price at all (empty), or a table the model cannot use. */
export class BlockCostError extends StackscopeError {
  override name = 'BlockCostError';
  constructor(
    readonly uarch: UarchName,
    readonly reason: string,
  ) {
    super(`${uarch}: ${reason}`);
  }
}

/** Priced when no table entry fits: one micro-op of latency 1 that occupies no modelled port. */
export const DEFAULT_ENTRY: FormEntry = { lat: 1, uops: 1, rtp: 1, load: false, store: false, side: false, demands: [], src: '(default)' };

/**
 * The generated tables, one module each, loaded on first use (each is 100–200 KB of source;
 * a run needs one).
 */
const TABLE_LOADERS: Readonly<Record<UarchName, () => Promise<UarchTableData>>> = {
  skylake: async () => (await import('./data/skylake.ts')).SKYLAKE,
  sapphirerapids: async () => (await import('./data/sapphirerapids.ts')).SAPPHIRERAPIDS,
  znver3: async () => (await import('./data/znver3.ts')).ZNVER3,
  znver4: async () => (await import('./data/znver4.ts')).ZNVER4,
  znver5: async () => (await import('./data/znver5.ts')).ZNVER5,
  'cortex-a72': async () => (await import('./data/cortex-a72.ts')).CORTEX_A72,
  'neoverse-n1': async () => (await import('./data/neoverse-n1.ts')).NEOVERSE_N1,
  'neoverse-n2': async () => (await import('./data/neoverse-n2.ts')).NEOVERSE_N2,
  'neoverse-v2': async () => (await import('./data/neoverse-v2.ts')).NEOVERSE_V2,
};

/** Iterations of the resource-free dataflow run that measures loop-carried latency. */
const LATENCY_ITERATIONS = 24;
/** Iterations of the dispatch-packing run that measures the issue bound of a loop. */
const DISPATCH_ITERATIONS = 16;

interface PricedInstruction {
  readonly form: ParsedForm | undefined;
  readonly cost: InstructionCost;
  readonly entry: FormEntry;
  readonly effects: Effects;
  readonly size: number;
}

/** Static block-cost model of one microarchitecture. Cheap to keep; lookups are cached. */
export class TimingModel {
  readonly uarch: UarchName;
  readonly arch: Arch;
  readonly spec: UarchSpec;
  readonly table: UarchTableData;
  private readonly byKind = new Map<string, string>();
  private readonly formCache = new Map<string, { form: ParsedForm | undefined; entry: FormEntry; match: MatchKind; entryKey: string | undefined; effects: Effects }>();

  constructor(table: UarchTableData) {
    // Port sets are 32-bit masks in portBound.
    if (table.units.length > 31) throw new BlockCostError(table.name, `${table.units.length} execution units; at most 31 supported`);
    this.table = table;
    this.uarch = table.name;
    this.arch = table.arch;
    this.spec = UARCH_SPECS[table.name];
    // Keys are sorted, so the first key per kind signature is a deterministic representative.
    for (const key of Object.keys(table.forms)) {
      const form = formOfKey(this.arch, key);
      if (!form) continue;
      const k = kindKey(form);
      if (!this.byKind.has(k)) this.byKind.set(k, key);
    }
  }

  /** The table entry of a form key (own properties only: keys come from guest text). */
  entry(key: string): FormEntry | undefined {
    return Object.hasOwn(this.table.forms, key) ? this.table.forms[key] : undefined;
  }

  /** Table entry for one instruction text, with how it matched. */
  lookup(mnemonic: string, opStr: string): { entry: FormEntry; match: MatchKind; entryKey: string | undefined; key: string; effects: Effects; form: ParsedForm | undefined } {
    const cacheKey = mnemonic + '\u0000' + opStr;
    let hit = this.formCache.get(cacheKey);
    if (!hit) {
      let form: ParsedForm | undefined;
      try {
        form = parseForm(this.arch, mnemonic, opStr);
      } catch (e) {
        if (!(e instanceof FormParseError)) throw e;
      }
      if (!form) {
        hit = { form, entry: DEFAULT_ENTRY, match: 'default', entryKey: undefined, effects: { reads: [], writes: [] } };
      } else {
        const effects = registerEffects(form);
        const exact = this.entry(form.key);
        if (exact) hit = { form, entry: exact, match: 'exact', entryKey: form.key, effects };
        else {
          hit = { form, entry: DEFAULT_ENTRY, match: 'default', entryKey: undefined, effects };
          for (const k of relaxedKeys(form)) {
            const key = k.startsWith('~') ? this.byKind.get(k) : k;
            const e = key === undefined ? undefined : this.entry(key);
            if (e) {
              hit = { form, entry: e, match: 'approx', entryKey: key, effects };
              break;
            }
          }
        }
      }
      this.formCache.set(cacheKey, hit);
    }
    return { entry: hit.entry, match: hit.match, entryKey: hit.entryKey, key: hit.form?.key ?? `${mnemonic} ${opStr}`, effects: hit.effects, form: hit.form };
  }

  /**
   * The table entry with the core's mechanisms applied (move elimination: latency 0, no
   * port), cached per instruction text. `mechanisms` false: the entry as llvm-mca has it.
   */
  priced(mnemonic: string, opStr: string, mechanisms: boolean): ReturnType<TimingModel['lookup']> {
    const looked = this.lookup(mnemonic, opStr);
    if (!mechanisms || !this.spec.mechanisms.moveElimination || !looked.form || !isEliminableMove(looked.form)) return looked;
    return { ...looked, entry: { ...looked.entry, lat: 0, demands: [] } };
  }

  /** The mechanisms blocks are priced with: the core's, or none (llvm-mca's semantics). */
  mechanisms(on: boolean): Mechanisms {
    return on ? this.spec.mechanisms : NO_MECHANISMS;
  }

  /** Cycles per execution of the block, with the bounds and per-instruction pricing. */
  blockCost(block: readonly BlockInstruction[], options: BlockCostOptions = {}): BlockCost {
    if (block.length === 0) throw new BlockCostError(this.uarch, 'empty block');
    const withMechanisms = options.mechanisms !== false;
    const priced: PricedInstruction[] = block.map((insn) => {
      const { entry, match, entryKey, key, effects, form } = this.priced(insn.mnemonic, insn.opStr, withMechanisms);
      const text = insn.opStr === '' ? insn.mnemonic : `${insn.mnemonic} ${insn.opStr}`;
      return { form, cost: { text, key, match, entryKey, uops: entry.uops, latency: entry.lat }, entry, effects, size: insn.size };
    });
    const isLoop = options.loop ?? this.endsWithBranchToStart(block);

    const uops = priced.reduce((s, p) => s + p.entry.uops, 0);
    const bytes = block.reduce((s, i) => s + i.size, 0);
    const issue = this.dispatchBound(priced, isLoop);
    const frontEnd = this.spec.frontEndBytesPerCycle > 0 ? bytes / this.spec.frontEndBytesPerCycle : 0;
    const { bound: ports, units: criticalUnits } = this.portBound(priced);
    const { perIteration, firstIteration } = this.dependencyLatency(priced, isLoop, this.mechanisms(withMechanisms));
    const latency = isLoop ? perIteration : 0;

    const bounds = { issue, ports, latency, frontEnd };
    const mode = options.frontEnd ?? 'auto';
    const frontEndApplies = frontEnd > 0 && (mode === 'always' || (mode === 'auto' && (!isLoop || uops > this.spec.loopBufferUops)));
    const throughputBound = Math.max(issue, ports, frontEndApplies ? frontEnd : 0);
    let bottleneck: Bottleneck = 'issue';
    let cycles = issue;
    for (const [name, value] of [
      ['ports', ports],
      ['latency', latency],
      ['frontend', frontEndApplies ? frontEnd : 0],
    ] as const) {
      if (value > cycles + 1e-9) {
        cycles = value;
        bottleneck = name;
      }
    }
    return {
      uarch: this.uarch,
      cycles,
      bottleneck,
      bounds,
      frontEndApplies,
      stack: { base: cycles - Math.max(0, latency - throughputBound), dependency: Math.max(0, latency - throughputBound) },
      isLoop,
      criticalPath: firstIteration,
      instructions: block.length,
      uops,
      bytes,
      criticalUnits,
      approximate: priced.filter((p) => p.cost.match === 'approx').map((p) => p.cost.text),
      unknown: priced.filter((p) => p.cost.match === 'default').map((p) => p.cost.text),
      perInstruction: priced.map((p) => p.cost),
    };
  }

  /**
   * Dispatch cycles per execution. llvm-mca dispatches whole instructions in order: one that
   * needs more slots than remain waits for the next cycle, and one wider than the machine
   * takes a full cycle and carries its excess into the following ones. Packing the block
   * repeatedly (a loop) or once (straight-line code) reproduces that; it is never below
   * micro-ops / width.
   */
  private dispatchBound(priced: readonly PricedInstruction[], isLoop: boolean): number {
    const width = this.table.dispatchWidth;
    const iterations = isLoop ? DISPATCH_ITERATIONS : 1;
    let cycles = 1;
    let available = width;
    let carry = 0;
    const endOf: number[] = [];
    for (let it = 0; it < iterations; it++) {
      for (const p of priced) {
        const n = p.entry.uops;
        const required = Math.min(n, width);
        while (required > available) {
          cycles++;
          available = carry >= width ? 0 : width - carry;
          carry = carry >= width ? carry - width : 0;
        }
        if (n > available) {
          carry = n - available;
          available = 0;
        } else available -= n;
      }
      // Fractional end: the slots used in the current cycle count as a share of it.
      endOf.push(cycles - 1 + (width - available + carry) / width);
    }
    const uops = priced.reduce((s, p) => s + p.entry.uops, 0);
    const floor = uops / width;
    if (!isLoop) return Math.max(floor, endOf[0]);
    const half = iterations / 2;
    return Math.max(floor, (endOf[iterations - 1] - endOf[half - 1]) / (iterations - half));
  }

  /** True when the last instruction is a branch whose target is the first instruction. */
  private endsWithBranchToStart(block: readonly BlockInstruction[]): boolean {
    const first = block[0].address;
    const last = block[block.length - 1];
    if (first === undefined) return false;
    const target = branchTarget(this.arch, last.mnemonic, last.opStr);
    return target !== undefined && target === first;
  }

  /**
   * Best balance of all demands over their unit groups. For each union S of demanded groups,
   * the demands whose group lies inside S can only run on S: load(S)/|S| is a lower bound,
   * and the largest such bound is achievable by a fractional assignment.
   */
  private portBound(priced: readonly PricedInstruction[]): { bound: number; units: string[] } {
    const byGroup = new Map<number, number>(); // unit bitmask → cycles
    for (const p of priced) {
      for (const [units, cycles] of p.entry.demands) {
        let mask = 0;
        for (const u of units) mask |= 1 << u;
        byGroup.set(mask, (byGroup.get(mask) ?? 0) + cycles);
      }
    }
    const groups = [...byGroup.entries()];
    if (groups.length === 0) return { bound: 0, units: [] };
    // Only unions of groups can be binding; cap the enumeration for pathological blocks by
    // folding the smallest groups into per-unit bounds (still a valid lower bound).
    const limit = Math.min(groups.length, 14);
    groups.sort((a, b) => b[1] - a[1]);
    const considered = groups.slice(0, limit);
    let best = 0;
    let bestMask = 0;
    const seen = new Map<number, number>();
    for (let subset = 1; subset < 1 << considered.length; subset++) {
      let union = 0;
      for (let i = 0; i < considered.length; i++) if (subset & (1 << i)) union |= considered[i][0];
      if (seen.has(union)) continue;
      let load = 0;
      for (const [mask, cycles] of groups) if ((mask & union) === mask) load += cycles;
      const bound = load / popcount(union);
      seen.set(union, bound);
      if (bound > best + 1e-12) {
        best = bound;
        bestMask = union;
      }
    }
    const units: string[] = [];
    this.table.units.forEach((name, i) => {
      if (bestMask & (1 << i)) units.push(name);
    });
    return { bound: best, units };
  }

  /**
   * Resource-free dataflow: every instruction starts when its inputs are ready and its results
   * appear `latency` later. Run the block repeatedly; the growth per iteration of the finish
   * time, once settled, is the loop-carried latency. Also returns the first iteration's span.
   */
  private dependencyLatency(priced: readonly PricedInstruction[], isLoop: boolean, mech: Mechanisms): { perIteration: number; firstIteration: number } {
    const ready = new Map<string, number>();
    const iterations = isLoop ? LATENCY_ITERATIONS : 1;
    const finish: number[] = [];
    const memory = mech.storeForward !== undefined || mech.simpleAddressSaving > 0 ? new MemoryTracker() : undefined;
    let lastFinish = 0;
    for (let it = 0; it < iterations; it++) {
      let iterFinish = 0;
      for (const p of priced) {
        const { entry, effects } = p;
        // x86 load-op forms: register data inputs are needed only after the load part;
        // multiply-accumulate addends only late in the pipeline.
        const extra = loadOpExtra(mech, entry, effects);
        const advance = entry.regLat !== undefined ? entry.lat + extra - entry.regLat : 0;
        const accAdvance = entry.accLat !== undefined ? Math.max(0, entry.lat - entry.accLat) : 0;
        const access = memory && p.form ? memory.access(p.form, entry) : undefined;
        // The load's share of the latency: all of it for a plain load, less the ALU part
        // (regLat) for a load-op.
        const loadPart = loadLatencyPart(entry, effects) + extra;
        const forwarded = access?.load && mech.storeForward !== undefined ? memory!.storedAt(access) : undefined;
        const saving = access?.load && access.simple && forwarded === undefined ? mech.simpleAddressSaving : 0;
        let start = 0;
        let dataStart = 0;
        for (const r of effects.reads) {
          const t = (ready.get(r.reg) ?? 0) - (r.address ? 0 : r.accumulator ? accAdvance : advance);
          // A load that takes a stored value does not wait for its address.
          if (r.address && forwarded !== undefined) continue;
          if (t > start) start = t;
          if (!r.address && t > dataStart) dataStart = t;
        }
        // The stored value arrives storeForward cycles after the store had it.
        if (forwarded !== undefined) start = Math.max(start, forwarded + mech.storeForward! - loadPart);
        let done = start;
        for (const w of effects.writes) {
          let t: number;
          if (w.pointerUpdate && this.arch === 'x64' && w.reg === 'rsp') {
            // push/pop/call/ret: rsp depends on rsp alone, at no latency. Every current x86
            // core has the stack engine, and llvm-mca 22's models do not chain rsp either.
            t = ready.get(w.reg) ?? 0;
          } else if (w.pointerUpdate) {
            // As llvm-mca: a writeback waits for all of the instruction's inputs.
            t = start + (entry.ptrLat ?? entry.lat);
          } else {
            t = start + entry.lat + extra - saving;
            done = Math.max(done, t);
          }
          ready.set(w.reg, t);
          if (t > iterFinish) iterFinish = t;
        }
        if (access?.store && memory) {
          // A pure store's data is ready when its data registers are; a read-modify-write's when it completes.
          memory.stored(access, access.load ? done : dataStart);
        }
        if (memory && p.form) memory.retire(p.form, effects);
        if (start > iterFinish) iterFinish = start;
      }
      lastFinish = Math.max(lastFinish, iterFinish);
      finish.push(lastFinish);
    }
    const firstIteration = finish[0];
    if (!isLoop) return { perIteration: 0, firstIteration };
    const half = Math.floor(iterations / 2);
    return { perIteration: (finish[iterations - 1] - finish[half - 1]) / (iterations - half), firstIteration };
  }
}

/**
 * Pipeline stages between dispatch and retirement that a finite run pays once (dispatch →
 * issue, execute → write-back, retire), as in llvm-mca's pipeline.
 */
export const PIPELINE_FILL_CYCLES = 3;

/**
 * Cycles for `iterations` back-to-back executions of a loop block, including the one-time
 * cost of filling and draining the pipeline: the first iteration takes its full dependency
 * span (or the steady-state period if longer), each further one the period, plus
 * PIPELINE_FILL_CYCLES. This is what llvm-mca's Total Cycles measures for a finite run.
 */
export function loopRunCycles(cost: BlockCost, iterations: number): number {
  if (iterations <= 0) return 0;
  return (iterations - 1) * cost.cycles + Math.max(cost.cycles, cost.criticalPath) + PIPELINE_FILL_CYCLES;
}

function popcount(x: number): number {
  let n = 0;
  while (x) {
    x &= x - 1;
    n++;
  }
  return n;
}

/** Rebuilds a form with operand kinds from a table key (keys hold classes, not operand text). */
function formOfKey(arch: Arch, key: string): ParsedForm | undefined {
  const [mnemonic, classes = ''] = key.replace(/=$/, '').split(' ');
  const kinds = classes === '' ? [] : classes.split(',').map((c) => classKind(arch, c));
  return { arch, mnemonic, key, operands: kinds.map((kind, i) => ({ kind, cls: classes.split(',')[i], text: '', regs: [], bits: 0 })) };
}

function classKind(arch: Arch, cls: string): ParsedForm['operands'][number]['kind'] {
  if (cls === 'i' || (arch === 'x64' && (cls === 'i8' || cls === '1'))) return 'imm';
  if (cls === 'rel') return 'rel';
  if (cls === 'cc') return 'cond';
  if (cls.startsWith('m')) return 'mem';
  if (cls.startsWith('{')) return 'list';
  if (cls === 'sys') return 'other';
  if (arch === 'aarch64') {
    if (/^(lsl|lsr|asr|ror|msl)\+?$/.test(cls)) return 'shift';
    if (/^ext#?$/.test(cls)) return 'extend';
  }
  return 'reg';
}

/** Absolute target of a direct branch, from Capstone's text (`jne 0x1000`, `b.ne #0x1000`, `cbz x0, #0x40`). */
export function branchTarget(arch: Arch, mnemonic: string, opStr: string): bigint | undefined {
  const mn = mnemonic.toLowerCase();
  const isBranch = arch === 'x64' ? /^(j[a-z]+|loop[a-z]*)$/.test(mn) : /^(b|b\.[a-z]+|cbn?z|tbn?z)$/.test(mn);
  if (!isBranch) return undefined;
  const parts = opStr.split(',');
  const last = parts[parts.length - 1].trim().replace(/^#/, '');
  return /^(0x[0-9a-f]+|\d+)$/i.test(last) ? BigInt(last) : undefined;
}

const models = new Map<UarchName, TimingModel>();

/**
 * The model of a named microarchitecture, loading its table on first use (then shared).
 * `host` names the table closest to this machine (host.ts) and needs `arch`, the arch of the
 * code to run: a host of another arch has no table for it.
 */
export async function loadTimingModel(name: UarchName | string, arch?: Arch): Promise<TimingModel> {
  const uarch = resolveUarch(name, arch);
  let m = models.get(uarch);
  if (!m) {
    m = new TimingModel(await TABLE_LOADERS[uarch]());
    models.set(uarch, m);
  }
  return m;
}

/** Loads every table (tests, tools that compare models). */
export async function loadTimingModels(names: readonly UarchName[] = UARCH_NAMES): Promise<TimingModel[]> {
  return Promise.all(names.map((n) => loadTimingModel(n)));
}

/** The model of a named microarchitecture whose table `loadTimingModel` has loaded. */
export function timingModel(name: UarchName | string, arch?: Arch): TimingModel {
  const uarch = resolveUarch(name, arch);
  const m = models.get(uarch);
  if (!m) throw new BlockCostError(uarch, 'table not loaded (await loadTimingModel first)');
  return m;
}

/** The architecture a model name (or alias) models, without loading its table. */
export function uarchArch(name: string): Arch | undefined {
  const u = parseUarch(name);
  return u === undefined ? undefined : UARCH_SPECS[u].arch;
}

/**
 * A model name, alias or `host` as a table name. UnknownUarchError for a name no table has;
 * CycleModelError-shaped BlockCostError when `host` has no table for `arch`.
 */
export function resolveUarch(name: string, arch?: Arch): UarchName {
  if (name.toLowerCase() === 'host') {
    const host = detectHost();
    const want = arch ?? host.arch;
    if (host.uarch === undefined || want === undefined || host.arch !== want) {
      throw new HostUarchError(host, want);
    }
    return host.uarch;
  }
  const uarch = parseUarch(name);
  if (!uarch) throw new UnknownUarchError(name);
  return uarch;
}

/** `--uarch host` where the host has no table for the code's architecture. */
export class HostUarchError extends StackscopeError {
  override name = 'HostUarchError';
  constructor(
    readonly host: HostCpu,
    readonly arch: Arch | undefined,
  ) {
    super(host.uarch === undefined || host.arch === undefined
      ? `uarch 'host': this host (${describeHost(host)}) matches no table`
      : `uarch 'host': this host is ${host.arch} (${describeHost(host)}), the code is ${arch}; name an ${arch} model instead`);
  }
}

/** Accepts the names people type (`skylake`, `skl`, `zen3`, `zen5`, `a72`, `n2`, `v2`, …). */
export function parseUarch(name: string): UarchName | undefined {
  const n = name.toLowerCase().replace(/_/g, '-');
  const aliases: Record<string, UarchName> = {
    skylake: 'skylake',
    skl: 'skylake',
    sapphirerapids: 'sapphirerapids',
    spr: 'sapphirerapids',
    'golden-cove': 'sapphirerapids',
    znver3: 'znver3',
    zen3: 'znver3',
    'zen-3': 'znver3',
    znver4: 'znver4',
    zen4: 'znver4',
    'zen-4': 'znver4',
    znver5: 'znver5',
    zen5: 'znver5',
    'zen-5': 'znver5',
    'cortex-a72': 'cortex-a72',
    a72: 'cortex-a72',
    'neoverse-n1': 'neoverse-n1',
    n1: 'neoverse-n1',
    'neoverse-n2': 'neoverse-n2',
    n2: 'neoverse-n2',
    'neoverse-v2': 'neoverse-v2',
    v2: 'neoverse-v2',
  };
  return Object.hasOwn(aliases, n) ? aliases[n] : undefined;
}

/** The default microarchitecture of each architecture. */
export function defaultUarch(arch: Arch): UarchName {
  return arch === 'x64' ? 'skylake' : 'neoverse-n2';
}
