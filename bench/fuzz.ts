/**
 * bench/fuzz: end-to-end fuzzer throughput, programs per CPU-second of this process, for
 * 50-statement programs on each arch: generate + model + compile + instantiate + run + GC +
 * check, as `stackscope fuzz --arch A` does it (one store reused for many programs, host
 * functions made once per store). CPU time counts every thread of the process (V8's background
 * compiler and garbage collector included), so the figure does not depend on what else loads
 * the machine.
 *
 * Two figures, because V8 compiles the hot code of the runtime and compiler only after some
 * hundreds of programs:
 * - `programs_per_cpu_s`: the first 300 programs of a process (after 5 programs of warm-up):
 *   what a short campaign gets;
 * - `programs_per_cpu_s_steady`: 300 programs after 600 more: what a long campaign (the
 *   million-program run) gets per core. `phase_ms_*` split the CPU time of 300 other
 *   programs by phase in that state (generate = generator + model; prepare = print, encode,
 *   decode; run = main with its host calls and collections; final = the last collections and
 *   checks).
 *
 * Baseline, measured in the same run: the same programs through the API the straightforward
 * way, a fresh Store, a compile and an instantiation per program, then run and store.gc()
 * (no model, no checks) — what a hand-written table_ops-style driver does.
 *
 * These figures run the TypeScript sources through tsx, as `npm run fuzz` and the campaign
 * scripts do; tsx's esbuild gives every function a `__name` call (its keepNames), which costs a
 * property definition each time a closure is made. The built package (dist/, what `stackscope
 * fuzz` runs) has none: `programs_per_cpu_s_dist` and `programs_per_cpu_s_steady_dist` are the
 * same two rates through dist/ (in a child process, right after the tsx ones), when dist/ is
 * built from the current sources (`npm run bench` builds it; otherwise they are left out with
 * a note on stderr).
 */
import type { Arch } from '../isa/arch.ts';
import { Engine, ExternRef, Func, Instance, Module, Store, WasmTrap, type Val } from '../index.ts';
import * as sources from '../fuzz/index.ts';
import { ArchRunner, HOST_IMPORTS, generateProgram, prepareProgram, printWat } from '../fuzz/index.ts';
import { emit, type BenchOptions } from './report.ts';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

type Fuzzer = typeof sources;

const OPS = 50;

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function baseline(arch: Arch, programs: number, seed: number): Promise<number> {
  const engine = new Engine({ arch, maxWasmStack: 256 * 1024 });
  const t0 = cpuSeconds();
  for (let k = 0; k < programs; k++) {
    const p = generateProgram(seed + k, { ops: OPS });
    const store = await Store.create(engine);
    try {
      const module = await Module.fromWat(engine, printWat(p));
      let instance: Instance | undefined;
      const impls: Record<string, (...a: Val[]) => Val | void> = {
        gc: () => void store.gc(),
        new: () => ExternRef.new(store, 'x'),
        new_temp: () => ExternRef.new(store, 't'),
        print: () => {},
        print_i32: () => {},
        release: () => {},
        pass: (r) => (r === null ? null : (r as ExternRef).clone()),
      };
      const funcs = HOST_IMPORTS.map((h) => Func.wrap(store, { params: [...h.params], results: [...h.results] }, (_c, ...a) => impls[h.name](...a)));
      instance = Instance.create(store, module, funcs);
      const pool = Array.from({ length: p.pool }, (_, i) => ExternRef.new(store, i));
      try {
        const r = instance.getFunc('main').call(...pool, p.depth);
        (r as ExternRef | null)?.release();
      } catch (e) {
        if (!(e instanceof WasmTrap)) throw e;
      }
      for (const h of pool) h.release();
      store.gc();
    } finally {
      store.close();
    }
  }
  return programs / (cpuSeconds() - t0);
}

/** CPU ms per program by phase, for `programs` programs from `seed` on a fresh runner. */
async function phases(arch: Arch, programs: number, seed: number): Promise<Record<string, number>> {
  const runner = new ArchRunner(arch, { timePhases: true });
  let generate = 0;
  let prepare = 0;
  const t0 = cpuSeconds();
  try {
    for (let k = 0; k < programs; k++) {
      let t = cpuSeconds();
      const program = generateProgram(seed + k, { ops: OPS });
      generate += cpuSeconds() - t;
      t = cpuSeconds();
      const prep = await prepareProgram(program);
      prepare += cpuSeconds() - t;
      const out = await runner.runProgram(prep.program, prep.key, prep.wasm, prep.model);
      if (out.failure) throw new Error(`bench/fuzz: unmutated program ${seed + k} failed on ${arch}: ${out.failure.message}`);
    }
  } finally {
    runner.close();
  }
  const total = (cpuSeconds() - t0) * 1000;
  const p = runner.phases;
  return {
    generate: (generate * 1000) / programs, prepare: (prepare * 1000) / programs, compile: p.compile / programs,
    instantiate: p.instantiate / programs, run: p.run / programs, final: p.final / programs, total: total / programs,
  };
}

async function rate(arch: Arch, programs: number, seed: number, fuzzer: Fuzzer): Promise<{ cpu: number; wall: number; gcs: number }> {
  const c0 = cpuSeconds();
  const r = await fuzzer.runCampaign({ arches: [arch], programs, seed, ops: OPS, shrink: false });
  const cpu = cpuSeconds() - c0;
  if (r.failures) throw new Error(`bench/fuzz: unmutated program failed on ${arch}: ${r.failureRecords[0]?.failure.message}`);
  return { cpu: r.programs / cpu, wall: r.programsPerSecond, gcs: r.gcs / r.programs };
}

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const NOT_SOURCES = new Set(['node_modules', 'dist', '.git', 'build']);

/** True when some source file (`.ts`) of the checkout is newer than `since` (ms). */
function sourceNewer(dir: string, since: number): boolean {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (NOT_SOURCES.has(e.name) || e.name.startsWith('.')) continue;
    const path = join(dir, e.name);
    if (e.isDirectory() ? sourceNewer(path, since) : e.name.endsWith('.ts') && statSync(path).mtimeMs > since) return true;
  }
  return false;
}

/** Why dist/ is not measured, or undefined when it is built from the current sources (the rule of scripts/setup.sh). */
function distStale(): string | undefined {
  const stamp = join(ROOT, 'dist', 'cli', 'main.js');
  if (!existsSync(stamp)) return 'dist/ is not built (npm run build)';
  if (sourceNewer(ROOT, statSync(stamp).mtimeMs)) return 'dist/ is older than the sources (npm run build)';
  return undefined;
}

/**
 * The first-300 and steady rates through the built package (best of `repeats`), as
 * bench/fuzz-dist-child.ts measures them in a process of its own: dist/ has its own copy of the
 * runtime, whose Unicorn bindings cannot be loaded beside the sources' in one process.
 */
export async function distRates(arch: Arch, repeats: number): Promise<{ cold: number; steady: number }> {
  const dist = (await import(join(ROOT, 'dist', 'fuzz', 'index.js'))) as Fuzzer;
  let cold = 0;
  let steady = 0;
  for (let rep = 0; rep < repeats; rep++) {
    const r = await repeat(arch, rep, dist);
    cold = Math.max(cold, r.cold.cpu);
    steady = Math.max(steady, r.steady.cpu);
  }
  dist.closeRunners();
  return { cold, steady };
}

function distRatesInChild(arch: Arch, repeats: number): { cold: number; steady: number } {
  const child = fileURLToPath(new URL('./fuzz-dist-child.ts', import.meta.url));
  return JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', child, arch, String(repeats)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })) as { cold: number; steady: number };
}

type Rate = Awaited<ReturnType<typeof rate>>;

/**
 * One repeat through `fuzzer`: a warm-up (first store, module loading) outside the timed part,
 * the first 300 programs, `between` (the baseline), 600 other programs, then the same 300 seeds
 * again (the steady state).
 */
async function repeat(arch: Arch, rep: number, fuzzer: Fuzzer, between: (seed: number) => Promise<void> = async () => {}): Promise<{ seed: number; cold: Rate; steady: Rate }> {
  const seed = 1 + rep * 1000;
  await fuzzer.runCampaign({ arches: [arch], programs: 5, seed: 999_000, ops: OPS });
  const cold = await rate(arch, 300, seed, fuzzer);
  await between(seed);
  await fuzzer.runCampaign({ arches: [arch], programs: 600, seed: 700_000 + rep * 1000, ops: OPS, shrink: false });
  return { seed, cold, steady: await rate(arch, 300, seed, fuzzer) };
}

export async function benchFuzz(o: BenchOptions): Promise<void> {
  const stale = distStale();
  if (stale) process.stderr.write(`bench/fuzz: the dist/ rates are left out: ${stale}\n`);
  for (const arch of o.arches) {
    let best = 0;
    let bestWall = 0;
    let bestSteady = 0;
    let bestBase = 0;
    let gcsPerProgram = 0;
    let phase: Record<string, number> | undefined;
    for (let rep = 0; rep < o.repeats; rep++) {
      const { seed, cold, steady } = await repeat(arch, rep, sources, async (s) => {
        bestBase = Math.max(bestBase, await baseline(arch, 60, s));
      });
      best = Math.max(best, cold.cpu);
      bestWall = Math.max(bestWall, cold.wall);
      gcsPerProgram = cold.gcs;
      if (steady.cpu > bestSteady) {
        bestSteady = steady.cpu;
        // Other seeds: the process has decoded these 300 already (prepareProgram caches by binary).
        phase = await phases(arch, 300, 300_000 + seed);
      }
    }
    sources.closeRunners();
    emit({ bench: 'fuzz', arch, metric: 'programs_per_cpu_s', value: best });
    emit({ bench: 'fuzz', arch, metric: 'programs_per_wall_s', value: bestWall });
    emit({ bench: 'fuzz', arch, metric: 'programs_per_cpu_s_steady', value: bestSteady });
    for (const [name, ms] of Object.entries(phase ?? {})) emit({ bench: 'fuzz', arch, metric: `phase_ms_${name}`, value: ms });
    emit({ bench: 'fuzz', arch, metric: 'baseline_fresh_store_programs_per_cpu_s', value: bestBase });
    emit({ bench: 'fuzz', arch, metric: 'speedup_vs_fresh_store', value: best / bestBase });
    emit({ bench: 'fuzz', arch, metric: 'gcs_per_program', value: gcsPerProgram });
    if (!stale) {
      const built = distRatesInChild(arch, o.repeats);
      emit({ bench: 'fuzz', arch, metric: 'programs_per_cpu_s_dist', value: built.cold });
      emit({ bench: 'fuzz', arch, metric: 'programs_per_cpu_s_steady_dist', value: built.steady });
    }
  }
}
