/**
 * `npm run soak` (not part of CI): the runtime under the load of a long-running embedder or
 * fuzzer, per arch — stores created and dropped without close(), stores closed, calls into
 * Wasm, and Wasm traps — with the process's resident set size (RSS) measured after a warm-up
 * and at the end. Fails (exit 1) when RSS grew by more than 10 %.
 *
 *   npm run soak -- [--arch x64|aarch64] [--scale F]
 *
 * `--scale` multiplies every count (default 1: 100,000 dropped stores, 10,000 closed stores,
 * 1,000,000 calls, 100,000 traps per arch). The collector is never forced: dropped stores are
 * reclaimed when V8 collects them on its own, as in an embedder's process; the loop yields to
 * the event loop every 50 stores so finalizers can run.
 */
import { parseArgs } from 'node:util';
import { ARCHES, type Arch } from '../isa/arch.ts';
import { Engine, ExternRef, Module, Store, Instance, WasmTrap } from '../index.ts';
import { unicornEngineCounts } from '../simulator/unicorn.ts';

const WAT = `(module
  (table 1 externref)
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "keep") (param externref) i32.const 0 local.get 0 table.set 0)
  (func (export "boom") (param i32) (result i32) i32.const 1 local.get 0 i32.div_u))`;

export interface SoakCounts {
  droppedStores: number;
  closedStores: number;
  calls: number;
  traps: number;
}

export const FULL_SOAK: SoakCounts = { droppedStores: 100_000, closedStores: 10_000, calls: 1_000_000, traps: 100_000 };

export interface SoakResult {
  arch: Arch;
  counts: SoakCounts;
  rssStartMiB: number;
  rssEndMiB: number;
  growth: number;
  seconds: number;
  engines: typeof unicornEngineCounts;
}

/** Dropped stores of the warm-up, whatever the scale. */
const WARM_UP_STORES = 300;

const mib = (): number => process.memoryUsage().rss / (1024 * 1024);
const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function storeWithInstance(engine: Engine, module: Module): Promise<{ store: Store; inst: Instance }> {
  const store = await Store.create(engine);
  return { store, inst: Instance.create(store, module) };
}

export async function soak(arch: Arch, counts: SoakCounts, log: (line: string) => void = () => undefined): Promise<SoakResult> {
  const started = performance.now();
  const engine = new Engine({ arch });
  const module = await Module.fromWat(engine, WAT);
  const { store, inst } = await storeWithInstance(engine, module);
  const add = inst.getFunc('add');
  const keep = inst.getFunc('keep');
  const boom = inst.getFunc('boom');

  const dropStores = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const s = await storeWithInstance(engine, module);
      s.inst.getFunc('keep').call(ExternRef.new(s.store, i));
      if (i % 50 === 49) await yieldToLoop();
    }
  };
  const closeStores = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const s = await storeWithInstance(engine, module);
      s.inst.getFunc('add').call(i, 1);
      s.store.close();
      if (i % 50 === 49) await yieldToLoop();
    }
  };
  const call = (n: number): void => {
    for (let i = 0; i < n; i++) {
      if (i % 100 === 0) {
        const ref = ExternRef.new(store, i);
        keep.call(ref);
        ref.release();
      } else if (add.call(i, 1) !== ((i + 1) | 0)) {
        throw new Error(`add(${i}, 1) gave a wrong result`);
      }
    }
  };
  const trap = (n: number): void => {
    for (let i = 0; i < n; i++) {
      try {
        boom.call(0);
        throw new Error('boom(0) did not trap');
      } catch (e) {
        if (!(e instanceof WasmTrap) || e.code !== 'IntegerDivisionByZero') throw e;
      }
    }
  };

  // Warm-up: every phase, so the start figure includes what a running process keeps: V8
  // collects dropped stores only every few dozen (it sees their guest memory, not Unicorn's
  // own), and freed native memory stays in the allocator's arenas, so the resident size
  // reaches its plateau after a few hundred stores.
  const warm = (n: number): number => Math.max(1, Math.min(n, Math.ceil(n / 100)));
  await dropStores(Math.max(WARM_UP_STORES, warm(counts.droppedStores)));
  await closeStores(warm(counts.closedStores));
  call(warm(counts.calls));
  trap(warm(counts.traps));
  for (let i = 0; i < 20; i++) await yieldToLoop();
  const rssStartMiB = mib();
  log(`${arch}: RSS after warm-up ${rssStartMiB.toFixed(1)} MiB`);

  const phase = async (name: string, run: () => unknown): Promise<void> => {
    const t0 = performance.now();
    await run();
    log(`${arch}: ${name} in ${((performance.now() - t0) / 1000).toFixed(1)} s, RSS ${mib().toFixed(1)} MiB, engines ${JSON.stringify(unicornEngineCounts)}`);
  };
  await phase(`${counts.droppedStores} stores dropped without close()`, () => dropStores(counts.droppedStores));
  await phase(`${counts.closedStores} stores closed`, () => closeStores(counts.closedStores));
  await phase(`${counts.calls} calls`, () => call(counts.calls));
  await phase(`${counts.traps} traps`, () => trap(counts.traps));
  for (let i = 0; i < 20; i++) await yieldToLoop();
  store.close();
  const rssEndMiB = mib();
  return {
    arch, counts, rssStartMiB, rssEndMiB, growth: rssEndMiB / rssStartMiB - 1,
    seconds: (performance.now() - started) / 1000, engines: { ...unicornEngineCounts },
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { arch: { type: 'string' }, scale: { type: 'string' } } });
  const scale = values.scale === undefined ? 1 : Number(values.scale);
  if (!(scale > 0) || !Number.isFinite(scale)) {
    process.stderr.write(`soak: --scale must be a positive number (got ${values.scale})\n`);
    return 2;
  }
  const arches = values.arch === undefined ? ARCHES : ARCHES.filter((a) => a === values.arch);
  if (arches.length === 0) {
    process.stderr.write(`soak: --arch takes x64 or aarch64 (got ${values.arch})\n`);
    return 2;
  }
  const counts = Object.fromEntries(Object.entries(FULL_SOAK).map(([k, v]) => [k, Math.max(1, Math.round(v * scale))])) as unknown as SoakCounts;
  let failed = false;
  for (const arch of arches) {
    const r = await soak(arch, counts, (line) => process.stdout.write(`${line}\n`));
    const verdict = r.growth > 0.1 ? 'FAIL' : 'ok';
    if (r.growth > 0.1) failed = true;
    process.stdout.write(`${JSON.stringify({ soak: verdict, ...r, growth: Number(r.growth.toFixed(4)) })}\n`);
  }
  return failed ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await main();
