/**
 * The input fuzz test: mutated ELF objects through the loader (read, link, place, run) and
 * mutated Wasm binaries and WAT texts through the front end, compiler and runtime
 * (compile, instantiate, call every export), on both arches. The oracle is independent of
 * what each stage decides: a case ends in success or a typed error (a StackscopeError), never
 * in another exception, a hang past 5 s, or host memory growing past a bound.
 *
 *   npm run fuzz:inputs -- [--count N] [--seed S] [--arch A]
 *
 * Cases are derived from (seed, index) alone, so a failure prints the command that replays it.
 * They run in a worker thread the driver watches: a case that runs past 5 s is a hang, and
 * the worker is replaced.
 */
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { ARCHES, type Arch } from '../isa/arch.ts';
import { StackscopeError } from '../isa/error.ts';
import { Machine } from '../simulator/machine.ts';
import { link } from '../loader/link.ts';
import { loadObjects } from '../loader/sandbox.ts';
import { compileC, assemble } from '../loader/test-toolchain.ts';
import { C_PROGRAM, RELOC_DEFS, RELOC_USER } from '../loader/test-corpus.ts';
import { loadWat, watToBinary } from '../compiler/frontend/wat.ts';
import { Engine, Instance, Module, Store, type Val } from '../index.ts';

/** A case past this is a hang. */
export const CASE_TIMEOUT_MS = 5_000;
/** The driver's resident set may grow by this much over the campaign (bytes). */
export const MEMORY_GROWTH_BOUND = 1024 * 1024 * 1024;

export type CaseKind = 'elf' | 'wasm' | 'wat';
const KINDS: readonly CaseKind[] = ['elf', 'wasm', 'wat'];

export interface CaseOutcome {
  index: number;
  arch: Arch;
  kind: CaseKind;
  /** 'ok', or the typed error's class name (and kind, where it has one). */
  result: string;
  /** Set when the oracle failed: what went wrong. */
  failure?: string;
}

export interface FuzzSummary {
  seed: number;
  count: number;
  outcomes: Record<string, number>;
  failures: CaseOutcome[];
  seconds: number;
  rssGrowthBytes: number;
}

/** splitmix32: a small, seedable, well-mixed generator (one per case). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 2 ** 32;
  };
}

const WAT_CORPUS = [
  `(module
  (memory (export "mem") 1 2)
  (table 4 funcref)
  (global $g (mut i64) (i64.const 5))
  (func $fib (export "fib") (param i32) (result i32)
    local.get 0 i32.const 2 i32.lt_u
    if (result i32) local.get 0
    else local.get 0 i32.const 1 i32.sub call $fib local.get 0 i32.const 2 i32.sub call $fib i32.add end)
  (func (export "sum") (param i32) (result i64) (local i64)
    block loop local.get 0 i32.eqz br_if 1
      local.get 1 local.get 0 i64.extend_i32_u i64.add local.set 1
      local.get 0 i32.const 1 i32.sub local.set 0 br 0 end end
    local.get 1 global.get $g i64.add)
  (func (export "mem") (param i32) (result i32) local.get 0 i32.const 7 i32.store local.get 0 i32.load)
  (func (export "div") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)
  (func (export "pick") (param i32) (result i32)
    block block block local.get 0 br_table 0 1 2 end i32.const 10 return end i32.const 11 return end i32.const 12)
  (elem (i32.const 0) $fib)
  (data (i32.const 16) "hello"))`,
  `(module
  (table $t (export "t") 2 externref)
  (global $e (mut externref) (ref.null extern))
  (func (export "keep") (param externref) (result i32)
    i32.const 0 local.get 0 table.set $t local.get 0 global.set $e i32.const 1)
  (func (export "grow") (param i32) (result i32) ref.null extern local.get 0 table.grow $t)
  (func (export "call") (param i32) (result i32) local.get 0 call_indirect (param) (result i32) ))`,
];

interface Seeds {
  elf: Record<Arch, Array<{ name: string; bytes: Uint8Array; entry: string; partner?: Uint8Array }>>;
  wasm: Uint8Array[];
  wat: string[];
}

let seeds: Seeds | undefined;

async function makeSeeds(): Promise<Seeds> {
  await loadWat();
  const elf = {} as Seeds['elf'];
  for (const arch of ARCHES) {
    elf[arch] = [
      { name: `${arch}-prog.o`, bytes: compileC(arch, C_PROGRAM, ['-O2']).bytes, entry: 'sum_table' },
      { name: `${arch}-small.o`, bytes: compileC(arch, 'static long t[4] = {1, 2, 3, 4}; long f(long i) { return t[i & 3] * 3; }', ['-O1']).bytes, entry: 'f' },
      { name: `${arch}-user.o`, bytes: assemble(arch, RELOC_USER[arch]).bytes, entry: 'user', partner: assemble(arch, RELOC_DEFS[arch]).bytes },
    ];
  }
  return { elf, wasm: WAT_CORPUS.map((t) => watToBinary(t).bytes), wat: WAT_CORPUS };
}

function mutateBytes(original: Uint8Array, next: () => number): Uint8Array {
  let out = original.slice();
  const rounds = 1 + Math.floor(next() * 4);
  for (let r = 0; r < rounds && out.length > 0; r++) {
    const at = Math.floor(next() * out.length);
    const choice = next();
    if (choice < 0.4) out[at] ^= 1 << Math.floor(next() * 8);
    else if (choice < 0.55) out = out.slice(0, at);
    else if (choice < 0.75) {
      // A word-sized field: an interesting value (0, all-ones, sign bit, a length) at `at`.
      const values = [0, 0xff, 0x7f, 0x80, out.length & 0xff, Math.floor(next() * 256)];
      const width = [1, 2, 4, 8][Math.floor(next() * 4)];
      const v = values[Math.floor(next() * values.length)];
      for (let i = 0; i < width && at + i < out.length; i++) out[at + i] = i === 0 || v === 0xff ? v : v === 0 ? 0 : out[at + i];
    } else if (choice < 0.9) {
      const n = 1 + Math.floor(next() * 16);
      out = new Uint8Array([...out.subarray(0, at), ...out.subarray(at + n)]);
    } else {
      const b = Math.floor(next() * 256);
      out = new Uint8Array([...out.subarray(0, at), b, ...out.subarray(at)]);
    }
  }
  return out;
}

const WAT_SNIPPETS = ['(', ')', 'block', 'end', 'i32.const 0', 'br 0', 'local.get 9', '(func)', '"\\ff"', ';;', '(;', '$x', 'i64.const -1', 'call 0', 'unreachable', 'memory.grow'];

function mutateText(original: string, next: () => number): string {
  let out = original;
  const rounds = 1 + Math.floor(next() * 3);
  for (let r = 0; r < rounds; r++) {
    const at = Math.floor(next() * (out.length + 1));
    const choice = next();
    if (choice < 0.3) out = out.slice(0, at) + out.slice(at + 1 + Math.floor(next() * 12));
    else if (choice < 0.6) out = out.slice(0, at) + ` ${WAT_SNIPPETS[Math.floor(next() * WAT_SNIPPETS.length)]} ` + out.slice(at);
    else if (choice < 0.75) {
      const from = Math.floor(next() * out.length);
      out = out.slice(0, at) + out.slice(from, from + Math.floor(next() * 40)) + out.slice(at);
    } else if (choice < 0.9) {
      // Deep nesting, the kind of input that once hung the WAT parser.
      const depth = Math.floor(next() * 400);
      const folded = next() < 0.5;
      const body = folded ? '(block '.repeat(depth) + ')'.repeat(depth) : 'block '.repeat(depth) + 'end '.repeat(depth);
      out = out.replace('(func (export "mem")', `(func ${body}) (func (export "mem")`);
    } else {
      out = out.slice(0, at);
    }
  }
  return out;
}

/** Zero-ish arguments for an export's parameters (i32, i64; references null). */
function argsFor(params: readonly string[], next: () => number): Val[] {
  return params.map((p) => (p === 'i32' ? Math.floor(next() * 8) : p === 'i64' ? BigInt(Math.floor(next() * 8)) : null));
}

/** Per-worker state reused across cases: a machine and a store per arch, renewed now and then. */
const machines = new Map<Arch, { machine: Machine; uses: number }>();
const stores = new Map<Arch, { engine: Engine; store: Store; uses: number }>();
const RENEW_AFTER = 25;

async function machineFor(arch: Arch): Promise<Machine> {
  let m = machines.get(arch);
  if (!m || m.uses >= RENEW_AFTER) {
    m?.machine.close();
    m = { machine: await Machine.create({ arch, budget: 200_000n, timeoutMs: 1_000 }), uses: 0 };
    machines.set(arch, m);
  }
  m.uses++;
  return m.machine;
}

async function storeFor(arch: Arch): Promise<{ engine: Engine; store: Store }> {
  let s = stores.get(arch);
  if (!s || s.uses >= RENEW_AFTER) {
    s?.store.close();
    const engine = new Engine({ arch, budget: 200_000n, timeoutMs: 1_000 });
    s = { engine, store: await Store.create(engine), uses: 0 };
    stores.set(arch, s);
  }
  s.uses++;
  return s;
}

async function runModule(arch: Arch, module: () => Promise<Module> | Module, next: () => number): Promise<void> {
  const { engine, store } = await storeFor(arch);
  const m = await module();
  if (m.engine !== engine) throw new Error('module compiled for another engine');
  const inst = Instance.create(store, m, []);
  for (const e of m.exports) {
    if (e.kind !== 'func') continue;
    const f = inst.getFunc(e.name);
    try {
      f.call(...argsFor(f.type.params, next));
    } catch (err) {
      if (!(err instanceof StackscopeError)) throw err;
    }
  }
}

/** Generates case `index` of campaign `seed` and runs it; returns its outcome (never throws). */
export async function runCase(seed: number, index: number, arches: readonly Arch[] = ARCHES): Promise<CaseOutcome> {
  seeds ??= await makeSeeds();
  const next = rng((seed ^ Math.imul(index + 1, 0x27d4eb2d)) >>> 0);
  const arch = arches[index % arches.length];
  const kind = KINDS[Math.floor(index / arches.length) % KINDS.length];
  const outcome: CaseOutcome = { index, arch, kind, result: 'ok' };
  try {
    if (kind === 'elf') {
      const pool = seeds.elf[arch];
      const s = pool[Math.floor(next() * pool.length)];
      const bytes = mutateBytes(s.bytes, next);
      const inputs = [{ file: s.name, bytes }, ...(s.partner ? [{ file: 'partner.o', bytes: s.partner }] : [])];
      link(inputs, { externals: () => 0x5000_0000n }); // most mutants stop here, cheaply
      const machine = await machineFor(arch);
      const program = loadObjects(machine, inputs, { hostFunctions: {} });
      const entry = program.image.globals.get(s.entry) ?? [...program.image.globals.values()].find((g) => g.type === 'func');
      if (entry) machine.call(entry.address, [Math.floor(next() * 8)]);
    } else if (kind === 'wasm') {
      const bytes = mutateBytes(seeds.wasm[Math.floor(next() * seeds.wasm.length)], next);
      const { engine } = await storeFor(arch);
      await runModule(arch, () => Module.fromBinary(engine, bytes), next);
    } else {
      const text = mutateText(seeds.wat[Math.floor(next() * seeds.wat.length)], next);
      const { engine } = await storeFor(arch);
      await runModule(arch, () => Module.fromWat(engine, text), next);
    }
  } catch (e) {
    if (e instanceof StackscopeError) {
      const k = (e as { kind?: unknown }).kind;
      outcome.result = typeof k === 'string' ? `${e.name}:${k}` : e.name;
    } else {
      outcome.result = 'untyped';
      outcome.failure = `untyped exception: ${e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e)}`;
    }
  }
  return outcome;
}

/** A worker running this file; TypeScript sources need tsx's loader registered in the thread. */
function startWorker(data: unknown): Worker {
  const self = JSON.stringify(import.meta.url);
  if (import.meta.url.endsWith('.ts')) {
    const code = `import('tsx/esm/api').then(({ register }) => { register(); return import(${self}); })`;
    return new Worker(code, { eval: true, workerData: data });
  }
  return new Worker(new URL(import.meta.url), { workerData: data });
}

/** Runs cases [0, count) of campaign `seed` in a watched worker thread. */
export async function fuzzInputs(options: { count: number; seed: number; arches?: readonly Arch[]; log?: (line: string) => void }): Promise<FuzzSummary> {
  const started = performance.now();
  const rssStart = process.memoryUsage().rss;
  const arches = options.arches ?? ARCHES;
  const outcomes: Record<string, number> = {};
  const failures: CaseOutcome[] = [];
  let rssPeak = rssStart;
  let index = 0;
  while (index < options.count) {
    const worker = startWorker({ inputFuzz: true, seed: options.seed, arches });
    const ready = new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    });
    await ready;
    // One case at a time, each under a 5 s watchdog; a hang or a crash replaces the worker.
    for (; index < options.count; index++) {
      const result = await new Promise<CaseOutcome | 'hang' | Error>((resolve) => {
        const timer = setTimeout(() => resolve('hang'), CASE_TIMEOUT_MS);
        const done = (v: CaseOutcome | Error): void => {
          clearTimeout(timer);
          worker.off('message', onMessage);
          worker.off('error', onError);
          resolve(v);
        };
        const onMessage = (m: CaseOutcome): void => done(m);
        const onError = (e: Error): void => done(e);
        worker.on('message', onMessage);
        worker.on('error', onError);
        worker.postMessage(index);
      });
      if (result === 'hang' || result instanceof Error) {
        const kind = KINDS[Math.floor(index / arches.length) % KINDS.length];
        const failure: CaseOutcome = {
          index, arch: arches[index % arches.length], kind, result: result === 'hang' ? 'hang' : 'crash',
          failure: result === 'hang' ? `no result after ${CASE_TIMEOUT_MS} ms` : `worker died: ${result.message}`,
        };
        failures.push(failure);
        outcomes[failure.result] = (outcomes[failure.result] ?? 0) + 1;
        options.log?.(`FAIL case ${index}: ${failure.failure}`);
        await worker.terminate();
        index++;
        break;
      }
      outcomes[result.result] = (outcomes[result.result] ?? 0) + 1;
      if (result.failure) {
        failures.push(result);
        options.log?.(`FAIL case ${index} (${result.arch} ${result.kind}): ${result.failure}`);
      }
      if (index % 100 === 99) {
        rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
        options.log?.(`${index + 1} cases, RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`);
        if (rssPeak - rssStart > MEMORY_GROWTH_BOUND) {
          failures.push({ index, arch: arches[index % arches.length], kind: 'elf', result: 'memory', failure: `RSS grew by ${((rssPeak - rssStart) / 2 ** 20).toFixed(0)} MiB` });
          await worker.terminate();
          return { seed: options.seed, count: index + 1, outcomes, failures, seconds: (performance.now() - started) / 1000, rssGrowthBytes: rssPeak - rssStart };
        }
      }
    }
    if (index >= options.count) await worker.terminate();
  }
  return { seed: options.seed, count: options.count, outcomes, failures, seconds: (performance.now() - started) / 1000, rssGrowthBytes: rssPeak - rssStart };
}

if (!isMainThread && (workerData as { inputFuzz?: boolean } | null)?.inputFuzz) {
  const { seed, arches } = workerData as { seed: number; arches: Arch[] };
  seeds = await makeSeeds();
  parentPort!.on('message', (index: number) => {
    void runCase(seed, index, arches).then((o) => parentPort!.postMessage(o));
  });
  parentPort!.postMessage('ready');
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { count: { type: 'string' }, seed: { type: 'string' }, arch: { type: 'string' } } });
  const count = Number(values.count ?? 3000);
  const seed = Number(values.seed ?? Date.now() % 2 ** 31);
  const arches = values.arch === undefined ? ARCHES : ARCHES.filter((a) => a === values.arch);
  if (!Number.isSafeInteger(count) || count < 1 || !Number.isSafeInteger(seed) || arches.length === 0) {
    process.stderr.write('usage: npm run fuzz:inputs -- [--count N] [--seed S] [--arch x64|aarch64]\n');
    return 2;
  }
  process.stdout.write(`fuzz:inputs: ${count} cases, seed ${seed}\n`);
  const summary = await fuzzInputs({ count, seed, arches, log: (line) => process.stdout.write(`${line}\n`) });
  process.stdout.write(`${JSON.stringify(summary.outcomes)}\n`);
  for (const f of summary.failures) {
    process.stdout.write(`replay: npm run fuzz:inputs -- --seed ${seed} --count ${f.index + 1}  (case ${f.index}, ${f.arch} ${f.kind}: ${f.result})\n`);
  }
  process.stdout.write(`${summary.failures.length} failure(s) in ${summary.seconds.toFixed(1)} s; RSS growth ${(summary.rssGrowthBytes / 2 ** 20).toFixed(0)} MiB\n`);
  return summary.failures.length === 0 ? 0 : 1;
}

if (isMainThread && import.meta.url === `file://${process.argv[1]}`) process.exitCode = await main();
