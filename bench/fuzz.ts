/**
 * bench/fuzz: end-to-end fuzzer throughput, programs per second on one core (this process),
 * for 50-statement programs on each arch: generate + model + compile + instantiate + run + GC
 * + check, as `stackscope fuzz --arch A` does it (one store reused for many programs, host
 * functions made once per store).
 *
 * Baseline, measured in the same run: the same programs through the API the straightforward
 * way, a fresh Store, a compile and an instantiation per program, then run and store.gc()
 * (no model, no checks) — what a hand-written table_ops-style driver does. Prints
 * programs per CPU-second of this process (per core: everything runs on the main thread, so
 * the figure does not depend on what else loads the machine), the wall-clock rate, the ratio
 * to the baseline, and GCs per program.
 */
import type { Arch } from '../isa/arch.ts';
import { Engine, ExternRef, Func, Instance, Module, Store, WasmTrap, type Val } from '../index.ts';
import { HOST_IMPORTS, generateProgram, printWat, runCampaign, closeRunners } from '../fuzz/index.ts';
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

export async function benchFuzz(o: BenchOptions): Promise<void> {
  for (const arch of o.arches) {
    let best = 0;
    let bestWall = 0;
    let bestBase = 0;
    let gcsPerProgram = 0;
    for (let rep = 0; rep < o.repeats; rep++) {
      const seed = 1 + rep * 1000;
      // Warm-up (first store, module loading) outside the timed part.
      await runCampaign({ arches: [arch], programs: 5, seed: 999_000, ops: OPS });
      const c0 = cpuSeconds();
      const r = await runCampaign({ arches: [arch], programs: 300, seed, ops: OPS, shrink: false });
      const cpu = cpuSeconds() - c0;
      if (r.failures) throw new Error(`bench/fuzz: unmutated program failed on ${arch}: ${r.failureRecords[0]?.failure.message}`);
      best = Math.max(best, r.programs / cpu);
      bestWall = Math.max(bestWall, r.programsPerSecond);
      gcsPerProgram = r.gcs / r.programs;
      bestBase = Math.max(bestBase, await baseline(arch, 60, seed));
    }
    closeRunners();
    emit({ bench: 'fuzz', arch, metric: 'programs_per_cpu_s', value: best });
    emit({ bench: 'fuzz', arch, metric: 'programs_per_wall_s', value: bestWall });
    emit({ bench: 'fuzz', arch, metric: 'baseline_fresh_store_programs_per_cpu_s', value: bestBase });
    emit({ bench: 'fuzz', arch, metric: 'speedup_vs_fresh_store', value: best / bestBase });
    emit({ bench: 'fuzz', arch, metric: 'gcs_per_program', value: gcsPerProgram });
  }
}
