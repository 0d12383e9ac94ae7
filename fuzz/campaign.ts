/**
 * Campaigns: many programs from a seed range on one or both arches, under one or both
 * walkers, optionally with one mutant injected; failures shrunk and written as replayable
 * records. `runCampaign` is what `stackscope fuzz` and the API call; `replayRecord` reruns one
 * record.
 *
 * Seeds: program k of shard I/N (k = 0, 1, …) uses seed `seed + k·N + I`, so N processes or
 * machines given the same start seed cover disjoint seeds and together the same ones as one
 * unsharded run.
 */
import type { RegallocMode } from '../compiler/regalloc/modes.ts';
import type { Arch } from '../isa/arch.ts';
import { activeMutant, isMutantName, mutantNeedsGcObjects, withMutant, UnknownMutantError } from '../compiler/mutants.ts';
import { FuzzUsageError } from './errors.ts';
import { generateProgram, resolveGeneratorOptions, type GeneratorOptions, type ResolvedGeneratorOptions } from './generate.ts';
import { v31Kit } from './harness-v31.ts';
import { v44Kit } from './harness-v44.ts';
import { ArchRunner, prepareProgram, type Failure, type PreparedProgram, type RunStats, type Walker } from './harness.ts';
import { opCounts, printWat, type Program } from './program.ts';
import { shrinkProgram } from './shrink.ts';

export interface Shard {
  index: number;
  count: number;
}

export interface CampaignOptions extends GeneratorOptions {
  arches?: readonly Arch[];
  /** First seed. Default 1. */
  seed?: number;
  /** Programs to run (this shard). Default 1000 unless `timeSeconds` is given. */
  programs?: number;
  /** Stop after this many seconds (checked between programs). */
  timeSeconds?: number;
  shard?: Shard;
  /**
   * Run only programs k ≡ index (mod count) of this shard: how `--jobs` splits one shard among
   * worker processes without changing which seeds the shard covers.
   */
  slice?: Shard;
  /** Walkers every program runs under. Default ['v17']. */
  walkers?: readonly Walker[];
  /** Register-allocation modes every program is compiled in (`--regalloc`). Default ['none']. */
  regallocs?: readonly RegallocMode[];
  /** Inject this mutant for the whole campaign (see compiler/mutants.ts). */
  mutant?: string | null;
  /** The collector's debug assertions (default true); false leaves more detections to the model. */
  debugChecks?: boolean;
  /** Stop at the first failure (default true). */
  stopOnFailure?: boolean;
  /** Shrink failures (default true). */
  shrink?: boolean;
  /** Candidate programs the shrinker may try per failure. Default 400. */
  shrinkAttempts?: number;
  /** Called about every `progressEvery` programs and at the end. */
  onProgress?: (p: CampaignProgress) => void;
  progressEvery?: number;
  /** Called for every failure (after shrinking), e.g. to write its record. */
  onFailure?: (r: FailureRecord) => void;
}

export interface CampaignProgress {
  programs: number;
  /** Program runs (programs × arches × walkers × regalloc modes). */
  runs: number;
  failures: number;
  gcs: number;
  framesWalked: number;
  roots: number;
  freed: number;
  /** Objects kept alive only by counts the era itself leaks (v31 runs; see harness.ts). */
  eraLeaks?: number;
  elapsedSeconds: number;
  programsPerSecond: number;
  /** Statement kinds generated so far (per-op coverage). */
  ops: Record<string, number>;
  lastSeed: number;
}

/** Everything needed to see and replay one failure. */
export interface FailureRecord {
  version: 1;
  seed: number;
  options: ResolvedGeneratorOptions;
  mutant: string | null;
  /** False when the collector's debug checks were off (the model's oracle alone). */
  debugChecks: boolean;
  arch: Arch;
  walker: Walker;
  /** How the failing run compiled the program (absent in records written before the option: none). */
  regalloc?: RegallocMode;
  failure: Failure;
  /** The (shrunk) program as the model and the harness read it. */
  program: Program;
  /** The byte input the program was decoded from (`--corpus`), instead of a seed. */
  input?: string;
  /** Statements before and after shrinking. */
  statements: { original: number; shrunk: number };
  wat: string;
  replay: string;
}

export interface CampaignResult extends CampaignProgress {
  failureRecords: FailureRecord[];
  /** Index (1-based) of the program that failed first, or null. */
  firstFailureAt: number | null;
}

export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (!m) throw new FuzzUsageError(`shard '${text}' is not I/N`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index >= count) throw new FuzzUsageError(`shard ${index}/${count}: need 0 ≤ I < N`);
  return { index, count };
}

/** The seed of program k in `shard` of a campaign starting at `seed`. */
export function seedOf(seed: number, k: number, shard: Shard = { index: 0, count: 1 }): number {
  return (seed + k * shard.count + shard.index) >>> 0;
}

/**
 * One runner per arch and era, shared by the campaigns of a process (stores and compiled
 * modules are reused): the `v31` walker's runner compiles for the v31 profile and runs V31Stores,
 * the `v44` walker's for the v44 profile in V44Stores.
 */
const runners = new Map<string, ArchRunner>();
export function runnerFor(arch: Arch, debugChecks = true, regalloc: RegallocMode = 'none', walker: Walker = 'v17'): ArchRunner {
  const era = walker === 'v31' || walker === 'v44' ? walker : 'v17';
  const key = `${arch}:${debugChecks}:${regalloc}:${era}`;
  let r = runners.get(key);
  if (!r) {
    r = new ArchRunner(arch, { debugChecks, regalloc }, era === 'v31' ? { profile: 'v31', kit: v31Kit } : era === 'v44' ? { profile: 'v44', kit: v44Kit } : {});
    runners.set(key, r);
  }
  return r;
}

/** Closes the shared runners' stores (a long-lived process that is done fuzzing). */
export function closeRunners(): void {
  for (const r of runners.values()) r.close();
  runners.clear();
}

function checkMutant(mutant: string | null | undefined): string | null {
  if (mutant === undefined || mutant === null) return null;
  if (!isMutantName(mutant)) throw new UnknownMutantError(mutant);
  return mutant;
}

/** Runs one prepared program on `arch` under `walker`, compiled with `regalloc` (with whatever mutant is active). */
export async function runPrepared(prep: PreparedProgram, arch: Arch, walker: Walker, debugChecks = true, regalloc: RegallocMode = 'none'): Promise<{ failure: Failure | null; stats: RunStats; trace: string[] }> {
  return runnerFor(arch, debugChecks, regalloc, walker).runProgram(prep.program, prep.key, prep.wasm, prep.model, walker);
}

export async function runCampaign(options: CampaignOptions = {}): Promise<CampaignResult> {
  const arches = options.arches ?? ['x64', 'aarch64'];
  const walkers = options.walkers ?? ['v17'];
  // The v44 walker's programs switch stacks unless asked not to; no other era runs them. A
  // mutant whose hook only GC objects reach gets programs with them.
  const gen = resolveGeneratorOptions({
    ...options,
    stackSwitching: options.stackSwitching ?? walkers.includes('v44'),
    gcObjects: options.gcObjects ?? (typeof options.mutant === 'string' && mutantNeedsGcObjects(options.mutant)),
  });
  if (gen.stackSwitching && walkers.some((w) => w !== 'v44')) throw new FuzzUsageError(`programs that switch stacks run only under the v44 walker (walkers: ${walkers.join(', ')})`);
  if (gen.gcObjects && walkers.some((w) => w !== 'v31')) throw new FuzzUsageError(`programs with GC objects run only under the v31 walker (walkers: ${walkers.join(', ')})`);
  const regallocs = options.regallocs ?? ['none'];
  const seed = options.seed ?? 1;
  const shard = options.shard ?? { index: 0, count: 1 };
  const mutant = checkMutant(options.mutant);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new FuzzUsageError(`seed must be an integer in 0..2^32-1 (got ${seed})`);
  const limit = options.programs ?? (options.timeSeconds !== undefined ? Infinity : 1000);
  const every = options.progressEvery ?? 25;
  const stopOnFailure = options.stopOnFailure ?? true;
  const ops = new Map<string, number>();
  const t0 = performance.now();
  const result: CampaignResult = {
    programs: 0, runs: 0, failures: 0, gcs: 0, framesWalked: 0, roots: 0, freed: 0, elapsedSeconds: 0, programsPerSecond: 0,
    ops: {}, lastSeed: seed, failureRecords: [], firstFailureAt: null,
  };
  const snapshot = (): CampaignProgress => {
    result.elapsedSeconds = (performance.now() - t0) / 1000;
    result.programsPerSecond = result.programs / Math.max(result.elapsedSeconds, 1e-9);
    result.ops = Object.fromEntries([...ops].sort((a, b) => b[1] - a[1]));
    const { failureRecords: _r, firstFailureAt: _f, ...p } = result;
    return p;
  };
  await withMutant(mutant, async () => {
    const slice = options.slice ?? { index: 0, count: 1 };
    for (let k = slice.index; k < limit; k += slice.count) {
      if (options.timeSeconds !== undefined && (performance.now() - t0) / 1000 >= options.timeSeconds) break;
      const s = seedOf(seed, k, shard);
      const program = generateProgram(s, { ...gen, functions: gen.functions ?? undefined });
      opCounts(program, ops);
      const prep = await prepareProgram(program);
      result.programs++;
      result.lastSeed = s;
      let failed = false;
      for (const arch of arches) {
        for (const walker of walkers) for (const regalloc of regallocs) {
          const out = await runPrepared(prep, arch, walker, options.debugChecks ?? true, regalloc);
          result.runs++;
          result.gcs += out.stats.gcs;
          result.framesWalked += out.stats.framesWalked;
          result.roots += out.stats.roots;
          result.freed += out.stats.freed;
          if (out.stats.eraLeaks) result.eraLeaks = (result.eraLeaks ?? 0) + out.stats.eraLeaks;
          if (out.failure && !failed) {
            failed = true;
            result.failures++;
            result.firstFailureAt ??= result.programs;
            const record = await makeRecord(s, gen, program, out.failure, options.shrink ?? true, options.shrinkAttempts, options.debugChecks ?? true, regalloc);
            result.failureRecords.push(record);
            options.onFailure?.(record);
          }
        }
      }
      if (options.onProgress && result.programs % every === 0) options.onProgress(snapshot());
      if (failed && stopOnFailure) break;
    }
  });
  const final = snapshot();
  options.onProgress?.(final);
  return { ...final, failureRecords: result.failureRecords, firstFailureAt: result.firstFailureAt };
}

/** Shrinks a failure (same kind, arch, walker and regalloc mode, under the active mutant) and builds its record. */
export async function makeRecord(seed: number, options: ResolvedGeneratorOptions, program: Program, failure: Failure, shrink = true, maxAttempts?: number, debugChecks = true, regalloc: RegallocMode = 'none'): Promise<FailureRecord> {
  let shrunk = program;
  let before = 0;
  let after = 0;
  let finalFailure = failure;
  if (shrink) {
    const r = await shrinkProgram(program, async (candidate) => {
      const out = await runPrepared(await prepareProgram(candidate), failure.arch, failure.walker, debugChecks, regalloc);
      return out.failure !== null && out.failure.kind === failure.kind;
    }, { maxAttempts });
    shrunk = r.program;
    before = r.before;
    after = r.after;
    const again = await runPrepared(await prepareProgram(shrunk), failure.arch, failure.walker, debugChecks, regalloc);
    if (again.failure) finalFailure = again.failure;
  }
  const mutant = activeMutant();
  const record: Omit<FailureRecord, 'replay'> = {
    version: 1, seed, options, mutant, debugChecks, arch: failure.arch, walker: failure.walker, ...(regalloc !== 'none' ? { regalloc } : {}), failure: finalFailure, program: shrunk,
    statements: { original: before, shrunk: after }, wat: printWat(shrunk),
  };
  return { ...record, replay: `stackscope fuzz --replay ${recordFileName(record)}` };
}

/** `failure-<arch>-<seed>[-<mutant>].wat` */
export function recordFileName(r: Pick<FailureRecord, 'arch' | 'seed' | 'mutant' | 'input'>): string {
  const what = r.input !== undefined ? `${r.input.replace(/^.*[\\/]/, '').replace(/[^A-Za-z0-9_.-]/g, '_')}` : String(r.seed);
  return `failure-${r.arch}-${what}${r.mutant ? `-${r.mutant}` : ''}.wat`;
}

const RECORD_MARK = ';; stackscope-fuzz-record ';

/**
 * The record as a WAT file: comments with the failure, seed, options, mutant and the replay
 * command, the record itself as one JSON comment line (what `--replay` reads), then the
 * shrunk program's text (what a person reads, and what any Wasm tool accepts).
 */
export function formatRecord(r: FailureRecord, path?: string): string {
  const replay = path ? `stackscope fuzz --replay ${path}` : r.replay;
  const lines = [
    `;; stackscope fuzz failure: ${r.failure.kind} on ${r.arch} (${r.walker} walker${r.regalloc ? `, regalloc ${r.regalloc}` : ''})${r.mutant ? ` with mutant ${r.mutant}` : ''}`,
    `;; ${r.failure.message}`,
    r.input !== undefined
      ? `;; from the byte input ${r.input}`
      : `;; seed ${r.seed}, options ${JSON.stringify({ ops: r.options.ops, functions: r.options.functions, maxDepth: r.options.maxDepth, ...(r.options.stackSwitching ? { stackSwitching: true } : {}), ...(r.options.gcObjects ? { gcObjects: true } : {}), ...(r.options.tailCalls ? { tailCalls: true } : {}), ...(r.options.multiResults ? { multiResults: true } : {}) })}`,
    `;; shrunk from ${r.statements.original} to ${r.statements.shrunk} statements`,
    `;; replay: ${replay}`,
    r.input !== undefined
      ? `;; rerun the unshrunk input: stackscope fuzz --corpus <a directory holding ${r.input}>${r.mutant ? ` --mutant ${r.mutant}` : ''}`
      : `;; regenerate the unshrunk program: stackscope fuzz --seed ${r.seed} --programs 1 --ops ${r.options.ops} --arch ${r.arch}${r.walker === 'v31' || r.walker === 'v44' ? ` --profile ${r.walker}` : r.walker !== 'v17' ? ` --walker ${r.walker}` : ''}${r.options.gcObjects ? ' --gc-objects' : ''}${r.options.tailCalls ? ' --tail-calls' : ''}${r.options.multiResults ? ' --multi-results' : ''}${r.mutant ? ` --mutant ${r.mutant}` : ''}${r.debugChecks === false ? ' --no-debug-checks' : ''}${r.regalloc ? ` --regalloc ${r.regalloc}` : ''}`,
    `;; run the program alone (no mutant, no checks; the fuzzer's host functions): stackscope ${runArgs(r, path ?? 'FILE').join(' ')}`,
    RECORD_MARK + JSON.stringify({ ...r, wat: undefined, replay }),
  ];
  return lines.join('\n') + '\n' + r.wat;
}

/**
 * The arguments of `stackscope run` that run the record's program (written to `file`) as the
 * campaign called main: its era, arch and mode, the pool objects as words, the depth.
 */
export function runArgs(r: FailureRecord, file: string): string[] {
  const era = r.walker === 'v31' || r.walker === 'v44' ? ['--profile', r.walker] : [];
  const mode = r.regalloc ? ['--regalloc', r.regalloc] : [];
  const args = [...Array.from({ length: r.program.pool }, (_, i) => `pool${i}`), String(r.program.depth)];
  return ['run', file, ...era, '--arch', r.arch, ...mode, '--invoke', 'main', ...args];
}

/** Reads a record written by `formatRecord`. Throws FuzzUsageError when the file is not one. */
export function parseRecord(text: string, where = 'record'): FailureRecord {
  const line = text.split('\n').find((l) => l.startsWith(RECORD_MARK));
  if (!line) throw new FuzzUsageError(`${where}: not a stackscope fuzz record (no '${RECORD_MARK.trim()}' line)`);
  let r: FailureRecord;
  try {
    r = JSON.parse(line.slice(RECORD_MARK.length)) as FailureRecord;
  } catch (e) {
    throw new FuzzUsageError(`${where}: the record line is not valid JSON (${(e as Error).message})`);
  }
  if (r.version !== 1 || !r.program || !Array.isArray(r.program.funcs) || (r.arch !== 'x64' && r.arch !== 'aarch64')) {
    throw new FuzzUsageError(`${where}: unsupported or damaged record`);
  }
  return { ...r, wat: printWat(r.program) };
}

export interface ReplayResult {
  record: FailureRecord;
  /** The failure seen now, or null when the program passes (the bug is fixed). */
  failure: Failure | null;
  trace: string[];
}

/** Reruns a record's program on its arch and walker, with its mutant. */
export async function replayRecord(record: FailureRecord): Promise<ReplayResult> {
  const mutant = checkMutant(record.mutant);
  return withMutant(mutant, async () => {
    const prep = await prepareProgram(record.program);
    const out = await runPrepared(prep, record.arch, record.walker, record.debugChecks ?? true, record.regalloc ?? 'none');
    return { record, failure: out.failure, trace: out.trace };
  });
}
