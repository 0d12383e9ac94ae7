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
 */
import type { Arch } from '../isa/arch.ts';
import { Engine, ExternRef, Func, Instance, Module, Store, WasmTrap, type Val } from '../index.ts';
import { ArchRunner, HOST_IMPORTS, generateProgram, prepareProgram, printWat, runCampaign, closeRunners } from '../fuzz/index.ts';
import { emit, type BenchOptions } from './report.ts';

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

async function rate(arch: Arch, programs: number, seed: number): Promise<{ cpu: number; wall: number; gcs: number }> {
  const c0 = cpuSeconds();
  const r = await runCampaign({ arches: [arch], programs, seed, ops: OPS, shrink: false });
  const cpu = cpuSeconds() - c0;
  if (r.failures) throw new Error(`bench/fuzz: unmutated program failed on ${arch}: ${r.failureRecords[0]?.failure.message}`);
  return { cpu: r.programs / cpu, wall: r.programsPerSecond, gcs: r.gcs / r.programs };
}

export async function benchFuzz(o: BenchOptions): Promise<void> {
  for (const arch of o.arches) {
    let best = 0;
    let bestWall = 0;
    let bestSteady = 0;
    let bestBase = 0;
    let gcsPerProgram = 0;
    let phase: Record<string, number> | undefined;
    for (let rep = 0; rep < o.repeats; rep++) {
      const seed = 1 + rep * 1000;
      // Warm-up (first store, module loading) outside the timed part.
      await runCampaign({ arches: [arch], programs: 5, seed: 999_000, ops: OPS });
      const cold = await rate(arch, 300, seed);
      best = Math.max(best, cold.cpu);
      bestWall = Math.max(bestWall, cold.wall);
      gcsPerProgram = cold.gcs;
      bestBase = Math.max(bestBase, await baseline(arch, 60, seed));
      // Steady state: the same 300 seeds again after 600 other programs.
      await runCampaign({ arches: [arch], programs: 600, seed: 700_000 + rep * 1000, ops: OPS, shrink: false });
      const steady = await rate(arch, 300, seed);
      if (steady.cpu > bestSteady) {
        bestSteady = steady.cpu;
        // Other seeds: the process has decoded these 300 already (prepareProgram caches by binary).
        phase = await phases(arch, 300, 300_000 + seed);
      }
    }
    closeRunners();
    emit({ bench: 'fuzz', arch, metric: 'programs_per_cpu_s', value: best });
    emit({ bench: 'fuzz', arch, metric: 'programs_per_wall_s', value: bestWall });
    emit({ bench: 'fuzz', arch, metric: 'programs_per_cpu_s_steady', value: bestSteady });
    for (const [name, ms] of Object.entries(phase ?? {})) emit({ bench: 'fuzz', arch, metric: `phase_ms_${name}`, value: ms });
    emit({ bench: 'fuzz', arch, metric: 'baseline_fresh_store_programs_per_cpu_s', value: bestBase });
    emit({ bench: 'fuzz', arch, metric: 'speedup_vs_fresh_store', value: best / bestBase });
    emit({ bench: 'fuzz', arch, metric: 'gcs_per_program', value: gcsPerProgram });
  }
}
