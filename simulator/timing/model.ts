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
 * Not modelled, by design of the static layer: branch prediction, caches, memory
 * dependencies through stores (llvm-mca's default), macro-fusion, the uop cache / loop
 * buffer. Those belong to the dynamic layers.
 */
import type { Arch } from '../../isa/arch.ts';
import { StackscopeError } from '../../isa/error.ts';
import { CORTEX_A72 } from './data/cortex-a72.ts';
import { NEOVERSE_N2 } from './data/neoverse-n2.ts';
import { SKYLAKE } from './data/skylake.ts';
import { ZNVER3 } from './data/znver3.ts';
import { registerEffects, type Effects } from './effects.ts';
import { FormParseError, kindKey, parseForm, relaxedKeys, type ParsedForm } from './forms.ts';
import { UARCH_NAMES, UARCH_SPECS, type FormEntry, type UarchName, type UarchSpec, type UarchTableData } from './table.ts';

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
}

/** A name that is not one of UARCH_NAMES. */
export class UnknownUarchError extends StackscopeError {
  override name = 'UnknownUarchError';
  constructor(readonly requested: string) {
    super(`unknown microarchitecture '${requested}' (known: ${UARCH_NAMES.join(', ')})`);
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

const TABLES: Record<UarchName, UarchTableData> = {
  skylake: SKYLAKE,
  znver3: ZNVER3,
  'cortex-a72': CORTEX_A72,
  'neoverse-n2': NEOVERSE_N2,
};

/** Iterations of the resource-free dataflow run that measures loop-carried latency. */
const LATENCY_ITERATIONS = 24;
/** Iterations of the dispatch-packing run that measures the issue bound of a loop. */
const DISPATCH_ITERATIONS = 16;

interface PricedInstruction {
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
  lookup(mnemonic: string, opStr: string): { entry: FormEntry; match: MatchKind; entryKey: string | undefined; key: string; effects: Effects } {
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
    return { entry: hit.entry, match: hit.match, entryKey: hit.entryKey, key: hit.form?.key ?? `${mnemonic} ${opStr}`, effects: hit.effects };
  }

  /** Cycles per execution of the block, with the bounds and per-instruction pricing. */
  blockCost(block: readonly BlockInstruction[], options: BlockCostOptions = {}): BlockCost {
    if (block.length === 0) throw new BlockCostError(this.uarch, 'empty block');
    const priced: PricedInstruction[] = block.map((insn) => {
      const { entry, match, entryKey, key, effects } = this.lookup(insn.mnemonic, insn.opStr);
      const text = insn.opStr === '' ? insn.mnemonic : `${insn.mnemonic} ${insn.opStr}`;
      return { cost: { text, key, match, entryKey, uops: entry.uops, latency: entry.lat }, entry, effects, size: insn.size };
    });
    const isLoop = options.loop ?? this.endsWithBranchToStart(block);

    const uops = priced.reduce((s, p) => s + p.entry.uops, 0);
    const bytes = block.reduce((s, i) => s + i.size, 0);
    const issue = this.dispatchBound(priced, isLoop);
    const frontEnd = this.spec.frontEndBytesPerCycle > 0 ? bytes / this.spec.frontEndBytesPerCycle : 0;
    const { bound: ports, units: criticalUnits } = this.portBound(priced);
    const { perIteration, firstIteration } = this.dependencyLatency(priced, isLoop);
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
  private dependencyLatency(priced: readonly PricedInstruction[], isLoop: boolean): { perIteration: number; firstIteration: number } {
    const ready = new Map<string, number>();
    const iterations = isLoop ? LATENCY_ITERATIONS : 1;
    const finish: number[] = [];
    let lastFinish = 0;
    for (let it = 0; it < iterations; it++) {
      let iterFinish = 0;
      for (const p of priced) {
        const { entry, effects } = p;
        // x86 load-op forms: register data inputs are needed only after the load part;
        // multiply-accumulate addends only late in the pipeline.
        const advance = entry.regLat !== undefined ? entry.lat - entry.regLat : 0;
        const accAdvance = entry.accLat !== undefined ? Math.max(0, entry.lat - entry.accLat) : 0;
        let start = 0;
        for (const r of effects.reads) {
          const t = (ready.get(r.reg) ?? 0) - (r.address ? 0 : r.accumulator ? accAdvance : advance);
          if (t > start) start = t;
        }
        for (const w of effects.writes) {
          const done = start + (w.pointerUpdate && entry.ptrLat !== undefined ? entry.ptrLat : entry.lat);
          ready.set(w.reg, done);
          if (done > iterFinish) iterFinish = done;
        }
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

/** The model of a named microarchitecture (built once, then shared). */
export function timingModel(name: UarchName | string): TimingModel {
  const uarch = parseUarch(name);
  if (!uarch) throw new UnknownUarchError(name);
  let m = models.get(uarch);
  if (!m) {
    m = new TimingModel(TABLES[uarch]);
    models.set(uarch, m);
  }
  return m;
}

/** Accepts the names people type (`skylake`, `skl`, `zen3`, `a72`, `n2`, …). */
export function parseUarch(name: string): UarchName | undefined {
  const n = name.toLowerCase().replace(/_/g, '-');
  const aliases: Record<string, UarchName> = {
    skylake: 'skylake',
    skl: 'skylake',
    znver3: 'znver3',
    zen3: 'znver3',
    'zen-3': 'znver3',
    'cortex-a72': 'cortex-a72',
    a72: 'cortex-a72',
    'neoverse-n2': 'neoverse-n2',
    n2: 'neoverse-n2',
  };
  return aliases[n];
}

/** The default microarchitecture of each architecture. */
export function defaultUarch(arch: Arch): UarchName {
  return arch === 'x64' ? 'skylake' : 'neoverse-n2';
}
