/**
 * bench/viewer: what recording a run for its page costs. For three examples run by their
 * drivers, the CPU time of the run alone against the same run with a RunRecorder attached
 * (including `finish`, which disassembles and serialises), measured in the same process, best
 * of `repeats`; the page's size; and the CPU time of replaying one recorded collection with
 * gc/'s collector (what the page's what-if does on every click).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Arch } from '../isa/arch.ts';
import { Engine, Module, Store } from '../index.ts';
import { exampleFiles, type ExampleDriver } from '../examples/harness.ts';
import { RUN_RECORD_FORMAT, RunRecorder, renderPage, replayGc, viewerBundle, withRunStackMaps, type ArchRun } from '../viewer/index.ts';
import { emit, type BenchOptions } from './report.ts';

const EXAMPLES = ['recursion-gc', 'linked-list', 'table-overflow'] as const;

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function runOnce(name: string, arch: Arch, record: boolean): Promise<{ ms: number; run: ArchRun | undefined }> {
  const files = exampleFiles(name);
  const driver = (await import(pathToFileURL(join(files.dir, 'run.ts')).href)) as { run: ExampleDriver };
  const text = readFileSync(files.wat, 'utf8');
  const engine = new Engine({ arch });
  const module = await Module.from(engine, text, `${name}.wat`);
  const store = await Store.create(engine);
  try {
    const t0 = cpuMs();
    const recorder = record ? new RunRecorder({ store, module, source: { file: `${name}.wat`, text } }) : undefined;
    await driver.run({ arch, engine, store, module, print: () => {} });
    const run = recorder?.finish({ output: [], outcome: 'finished' });
    return { ms: cpuMs() - t0, run };
  } finally {
    store.close();
  }
}

export async function benchViewer(o: BenchOptions): Promise<void> {
  await viewerBundle(); // bundled once per process, not part of any run
  for (const arch of o.arches) {
    for (const example of EXAMPLES) {
      await runOnce(example, arch, false); // warm-up: compile paths, caches
      let plain = Infinity;
      let recorded = Infinity;
      let run: ArchRun | undefined;
      for (let i = 0; i < o.repeats; i++) {
        plain = Math.min(plain, (await runOnce(example, arch, false)).ms);
        const r = await runOnce(example, arch, true);
        recorded = Math.min(recorded, r.ms);
        run = r.run;
      }
      const page = await renderPage({ format: RUN_RECORD_FORMAT, title: example, command: 'bench', runs: [run!] });
      const gcs = run!.timeline.filter((e) => e.type === 'gc' && e.snapshot);
      let replay = Infinity;
      for (let i = 0; i < o.repeats; i++) {
        const t0 = cpuMs();
        for (const e of gcs) if (e.type === 'gc') replayGc(withRunStackMaps(e.snapshot!, run!.stackMaps));
        replay = Math.min(replay, (cpuMs() - t0) / Math.max(1, gcs.length));
      }
      const base = { bench: 'viewer', arch, example };
      emit({ ...base, metric: 'run_cpu_ms', value: plain });
      emit({ ...base, metric: 'recorded_run_cpu_ms', value: recorded });
      emit({ ...base, metric: 'recording_overhead_ratio', value: recorded / plain });
      emit({ ...base, metric: 'timeline_events', value: run!.timeline.length });
      emit({ ...base, metric: 'page_kib', value: page.length / 1024 });
      emit({ ...base, metric: 'replay_cpu_ms_per_gc', value: replay });
    }
  }
}
