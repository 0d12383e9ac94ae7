/**
 * bench/timing's whole programs: real code, not microkernels, priced by the cycle model and
 * timed natively on this host (x86-64). The same machine code runs both ways.
 *
 * - C: bench/workloads/programs.c (the six kernels of kernels.c behind one entry point each,
 *   and all of them together) built once with gcc -O2 into one object. A gcc-built harness
 *   links that object and times each entry point with rdtsc; the Machine loads the same
 *   object through the loader.
 * - Wasm: modules compiled by stackscope's compiler. The harness maps the compiled function's
 *   code (a leaf: no relocations) and calls it with a VMContext that holds what the code
 *   reads (the runtime limits' stack limit, the memory's base and length, at the VMOffsets
 *   of the module); the Machine runs the export through the runtime (its array-call
 *   trampoline included, a few instructions).
 *
 * Both sides measure a warm run, warmed the same way: the harness makes WARM_CALLS untimed
 * calls before it times any; the Machine runs with `accumulate` (predictor, caches and
 * scoreboard carry over from call to call), makes the same untimed calls — in detailed mode
 * stopping early once WARM_SETTLED_CALLS calls in a row are each within WARM_SETTLED of the call
 * before (nothing left to learn) — and reports the next call's cycles. Host samples bracket each call between two
 * calibration runs (a chain of dependent adds), drop samples whose brackets disagree by more
 * than 2 % and take the least median of five runs of consecutive samples (ROBUST_STATISTIC_C).
 * The host figure is that statistic at the best code placement (PLACEMENTS: the median of its
 * ROUNDS runs, the least over the placements).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileModule } from '../compiler/index.ts';
import { parseWat } from '../compiler/frontend/index.ts';
import { loadObjects } from '../loader/sandbox.ts';
import { Engine, Instance, Module, Store } from '../index.ts';
import { Machine } from '../simulator/machine.ts';
import type { UarchName } from '../simulator/timing/table.ts';
import { emit } from './report.ts';

/**
 * C for the harnesses' robust statistic, `min_group_median(samples, n, groups)`: the least
 * median of `groups` runs of consecutive samples (docs/cycle-model.md, *Noise*). The kernel
 * harness cuts its 201 samples into 20 runs, this one its 101 samples into 5 (a program's
 * sample is 10–1,000 × longer than a kernel's).
 */
export const ROBUST_STATISTIC_C = `
static int cmp_double(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }
/* The robust statistic: the samples in the order they were taken, cut into \`groups\` runs of
 * consecutive samples; the median of each run; the least of those medians. A neighbour that
 * takes the core or the memory bandwidth for a while slows every sample of that while, which
 * a median over all samples still feels when it lasts long enough; the quietest stretch does
 * not. Within a stretch the median drops single disturbed samples either way (a low percentile
 * would not: a sample whose clock changed between its calibration brackets and the run can be
 * several percent fast). */
static double min_group_median(const double *s, int n, int groups) {
  static double tmp[4096];
  double best = 1e300;
  for (int g = 0; g < groups; g++) {
    int lo = g * n / groups, hi = (g + 1) * n / groups, m = hi - lo;
    if (m <= 0) continue;
    memcpy(tmp, s + lo, m * sizeof *s);
    qsort(tmp, m, sizeof *tmp, cmp_double);
    double med = m % 2 ? tmp[m / 2] : (tmp[m / 2 - 1] + tmp[m / 2]) / 2;
    if (med < best) best = med;
  }
  return best;
}
`;

const SEED = 7;
/**
 * Untimed calls before a program is measured, on the host and in the model. A core's branch
 * predictor keeps learning a program it runs again and again: on this project's Zen 5 host the
 * sieve (`prog_primes`) takes 274 k TSC ticks in its 2nd call, 224 k in its 5th, 157 k in its
 * 10th and settles at 151 k from about the 25th (docs/cycle-model.md, *Branch prediction*).
 * The host figure is taken after this many calls, and the model is warmed by the same calls.
 */
export const WARM_CALLS = 30;
/**
 * Detailed mode stops warming once WARM_SETTLED_CALLS calls in a row each differ from the call
 * before by less than WARM_SETTLED (a predictor still learning improves unevenly: one call
 * alone can differ little from the one before).
 */
const WARM_SETTLED = 0.001;
const WARM_SETTLED_CALLS = 3;
const C_PROGRAMS = ['prog_sort', 'prog_primes', 'prog_matrix', 'prog_crc32', 'prog_fnv1a', 'prog_all'];

/** Wasm programs: one exported leaf function `run(n: i32) -> i64` each, over one page of memory. */
const WASM_PROGRAMS: readonly { name: string; arg: number; wat: string }[] = [
  {
    name: 'wasm_sum_memory',
    arg: 20_000,
    wat: `(module (memory 1)
  (func (export "run") (param $n i32) (result i64) (local $i i32) (local $acc i64)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $acc (i64.add (local.get $acc) (i64.load (i32.and (i32.shl (local.get $i) (i32.const 3)) (i32.const 0xfff8)))))
      (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (local.get $acc)))`,
  },
  {
    name: 'wasm_collatz',
    arg: 3_000,
    wat: `(module (memory 1)
  (func (export "run") (param $n i32) (result i64) (local $i i32) (local $x i64) (local $steps i64)
    (local.set $i (i32.const 1))
    (block $done (loop $outer
      (br_if $done (i32.gt_u (local.get $i) (local.get $n)))
      (local.set $x (i64.extend_i32_u (local.get $i)))
      (block $one (loop $inner
        (br_if $one (i64.le_u (local.get $x) (i64.const 1)))
        (if (i64.eqz (i64.and (local.get $x) (i64.const 1)))
          (then (local.set $x (i64.shr_u (local.get $x) (i64.const 1))))
          (else (local.set $x (i64.add (i64.mul (local.get $x) (i64.const 3)) (i64.const 1)))))
        (local.set $steps (i64.add (local.get $steps) (i64.const 1)))
        (br $inner)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $outer)))
    (local.get $steps)))`,
  },
  {
    name: 'wasm_fill_hash',
    arg: 8_000,
    wat: `(module (memory 1)
  (func (export "run") (param $n i32) (result i64) (local $i i32) (local $h i64)
    (local.set $h (i64.const 1469598103934665603))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (i32.store (i32.and (i32.shl (local.get $i) (i32.const 2)) (i32.const 0xfffc)) (i32.mul (local.get $i) (i32.const 2654435761)))
      (local.set $h (i64.mul (i64.xor (local.get $h) (i64.load32_u (i32.and (i32.shl (local.get $i) (i32.const 2)) (i32.const 0xfffc)))) (i64.const 1099511628211)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (local.get $h)))`,
  },
];

const CALIBRATION_ADDS = 64;
const CALIBRATE_S = ['.intel_syntax noprefix', '.text', '.globl calibrate', 'calibrate:', 'mov rcx, rdi', 'xor eax, eax', 'mov edx, 1', '.p2align 6', '1:',
  ...Array(CALIBRATION_ADDS).fill('add rax, rdx'), 'dec rcx', 'jnz 1b', 'ret', ''].join('\n');

/** The shared sampling loop of both harnesses: `CALL(arg)` is the timed expression. */
const SAMPLER_C = `
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>
extern void calibrate(long n);
static double per_cycle_of(void) {
  _mm_lfence(); uint64_t t0 = __rdtsc(); _mm_lfence();
  calibrate(2000);
  _mm_lfence(); return (double)(__rdtsc() - t0) / (2000.0 * ${CALIBRATION_ADDS});
}
${ROBUST_STATISTIC_C}
#define SAMPLES 101
#define MEASURE(label, CALL) do { \\
  double s[SAMPLES]; int kept = 0, tries = 0; long result = 0; \\
  for (int w = 0; w < ${WARM_CALLS}; w++) result = CALL; \\
  while (kept < SAMPLES && tries++ < 2000) { \\
    double c0 = per_cycle_of(); \\
    _mm_lfence(); uint64_t t0 = __rdtsc(); _mm_lfence(); \\
    result = CALL; \\
    _mm_lfence(); uint64_t t = __rdtsc() - t0; \\
    double c1 = per_cycle_of(); \\
    if (c0 > c1 * 1.02 || c1 > c0 * 1.02) continue; \\
    s[kept++] = (double)t / ((c0 + c1) / 2); \\
  } \\
  double robust = min_group_median(s, kept, 5); \\
  qsort(s, kept, sizeof *s, cmp_double); \\
  printf("{\\"name\\":\\"%s\\",\\"cycles\\":%.1f,\\"median\\":%.1f,\\"q1\\":%.1f,\\"q3\\":%.1f,\\"result\\":\\"%ld\\"}\\n", label, robust, s[kept / 2], s[kept / 4], s[3 * kept / 4], result); \\
} while (0)
`;

interface HostResult {
  readonly name: string;
  readonly cycles: number;
  readonly median: number;
  readonly q1: number;
  readonly q3: number;
  readonly result: string;
}

/** Runs a harness binary pinned to the last CPU (no migration between samples) where taskset exists; its stdout. */
export function runPinned(binary: string, args: readonly string[] = []): string {
  const pinned = spawnSync('taskset', ['-c', String(Math.max(0, availableParallelism() - 1)), binary, ...args], { encoding: 'utf8' });
  return pinned.status === 0 ? pinned.stdout : execFileSync(binary, args, { encoding: 'utf8' });
}

/** A harness's JSON lines by name. */
function runHarness(binary: string, args: readonly string[] = []): HostResult[] {
  return runPinned(binary, args).trim().split('\n').map((l) => JSON.parse(l) as HostResult);
}

/** A program's host figure over every placement and round (hostPrograms). */
interface HostFigure {
  /**
   * The figure the model is compared with: at each placement the median over its rounds, and the
   * least of those — the program where its placement costs nothing extra, which is what the
   * model, blind to placement, prices (docs/cycle-model.md, *Code placement*).
   */
  readonly cycles: number;
  /** The median over every run (all placements and rounds). */
  readonly medianAll: number;
  readonly min: number;
  readonly max: number;
  /** The median over the rounds at placement 0, where the Machine's loader puts the code (page-aligned text). */
  readonly atZero: number;
  readonly runs: number;
  readonly result: string;
}

/**
 * Both harnesses at every placement, ROUNDS times, interleaved (round by round, placement by
 * placement, C then Wasm), so a slow stretch of the machine touches every placement alike.
 */
function hostPrograms(cBinaries: Map<number, string>, wasmBinary: string): Map<string, HostFigure> {
  const runs = new Map<string, { pad: number; r: HostResult }[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const pad of PLACEMENTS) {
      for (const r of [...runHarness(cBinaries.get(pad)!), ...runHarness(wasmBinary, [String(pad)])]) {
        const list = runs.get(r.name) ?? [];
        list.push({ pad, r });
        runs.set(r.name, list);
      }
    }
  }
  const figures = new Map<string, HostFigure>();
  for (const [name, list] of runs) {
    const results = new Set(list.map((x) => x.r.result));
    if (results.size !== 1) throw new Error(`${name}: the host returned ${[...results].join(', ')} in different runs`);
    const cycles = list.map((x) => x.r.cycles);
    const atPad = (pad: number) => median(list.filter((x) => x.pad === pad).map((x) => x.r.cycles));
    figures.set(name, {
      cycles: Math.min(...PLACEMENTS.map(atPad)),
      medianAll: median(cycles),
      min: Math.min(...cycles),
      max: Math.max(...cycles),
      atZero: atPad(0),
      runs: list.length,
      result: list[0].r.result,
    });
  }
  return figures;
}

/** The median of `xs` (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** gcc's flags for bench/workloads/programs.c, as bench/timing builds kernels.c. */
const PROGRAM_FLAGS = ['-O2', '-fno-pic', '-fno-tree-loop-distribute-patterns', '-fno-stack-protector', '-fno-asynchronous-unwind-tables'];

/**
 * Where the host runs the programs' code: its start this many bytes past a 64-byte line. On
 * this project's Zen 5 host a small loop's speed depends on where it sits: the insertion sort
 * of `prog_sort` runs at 1.2 or 2.2 cycles per inner iteration by its loop's offset in the line
 * (and, at some offsets, by the process), the sieve of `prog_primes` varies by 20 %
 * (docs/cycle-model.md, *Code placement*). The cycle model prices code without regard to where
 * it sits, so the host figure it is compared with is the best placement's: each placement is
 * measured in ROUNDS separate processes (the rounds interleaved), its figure is the median of
 * those, and the least over the placements is the host figure (HostFigure.cycles).
 */
export const PLACEMENTS = [0, 8, 16, 24, 32, 40, 48, 56];
export const ROUNDS = 3;

/**
 * bench/workloads/programs.c compiled once to assembly, then assembled as the object the
 * Machine loads (`object`) and once per placement for the host harness (`placed`): the same
 * code after `pad` bytes of padding at the 64-byte aligned start of its text section.
 */
function buildPrograms(dir: string): { object: string; placed: Map<number, string> } {
  const asm = join(dir, 'programs.s');
  execFileSync('gcc', [...PROGRAM_FLAGS, '-S', '-o', asm, fileURLToPath(new URL('./workloads/programs.c', import.meta.url))], { stdio: ['ignore', 'ignore', 'pipe'] });
  const source = readFileSync(asm, 'utf8');
  const text = source.indexOf('\t.text\n');
  if (text < 0) throw new Error('programs.s: gcc wrote no .text section');
  const object = join(dir, 'programs.o');
  execFileSync('gcc', ['-c', '-o', object, asm], { stdio: ['ignore', 'ignore', 'pipe'] });
  const placed = new Map<number, string>();
  const at = text + '\t.text\n'.length;
  for (const pad of PLACEMENTS) {
    const padded = join(dir, `programs-${pad}.s`);
    writeFileSync(padded, `${source.slice(0, at)}\t.p2align 6\n${pad > 0 ? `\t.skip ${pad}, 0x90\n` : ''}${source.slice(at)}`);
    const out = join(dir, `programs-${pad}.o`);
    execFileSync('gcc', ['-c', '-o', out, padded], { stdio: ['ignore', 'ignore', 'pipe'] });
    placed.set(pad, out);
  }
  return { object, placed };
}

/** One C harness binary per placement, by placement. */
function hostCBinaries(dir: string, placed: Map<number, string>): Map<number, string> {
  const harness = `${SAMPLER_C}
${C_PROGRAMS.map((p) => `extern long ${p}(long);`).join('\n')}
int main(void) {
${C_PROGRAMS.map((p) => `  MEASURE("${p}", ${p}(${SEED}));`).join('\n')}
  return 0;
}
`;
  writeFileSync(join(dir, 'c-harness.c'), harness);
  writeFileSync(join(dir, 'calibrate.S'), CALIBRATE_S);
  const binaries = new Map<number, string>();
  for (const [pad, object] of placed) {
    const bin = join(dir, `c-harness-${pad}`);
    execFileSync('gcc', ['-O2', '-no-pie', '-o', bin, join(dir, 'c-harness.c'), join(dir, 'calibrate.S'), object], { stdio: ['ignore', 'ignore', 'pipe'] });
    binaries.set(pad, bin);
  }
  return binaries;
}

/**
 * Cycles of one warm call, in `mode`, and its result: WARM_CALLS untimed calls first (fast mode
 * keeps no state between calls, so one is enough; detailed mode stops early when settled), then
 * the measured call. `cycles()` reads the accumulated cycles so far.
 */
function warmCall(mode: 'fast' | 'detailed', call: () => bigint, cycles: () => number): { cycles: number; result: bigint; warmCalls: number } {
  let before = 0;
  let last = -1;
  let settled = 0;
  let warmCalls = 0;
  while (warmCalls < (mode === 'fast' ? 1 : WARM_CALLS)) {
    call();
    warmCalls++;
    const now = cycles();
    const spent = now - before;
    before = now;
    settled = last >= 0 && Math.abs(spent - last) <= WARM_SETTLED * last ? settled + 1 : 0;
    if (settled >= WARM_SETTLED_CALLS) break;
    last = spent;
  }
  const result = call();
  return { cycles: cycles() - before, result, warmCalls };
}

async function modelC(object: string, name: string, mode: 'fast' | 'detailed', uarch: UarchName): Promise<{ cycles: number; result: bigint; warmCalls: number }> {
  const m = await Machine.create({ arch: 'x64', exactFaultPc: false, timeoutMs: null, cycles: { mode, uarch, accumulate: true } });
  try {
    const program = loadObjects(m, [{ file: 'programs.o', bytes: readFileSync(object) }]);
    return warmCall(mode, () => program.call(name, [BigInt(SEED)]), () => m.cycleReport()!.cycles);
  } finally {
    m.close();
  }
}

/** A compiled Wasm program's code and the VMContext fields its leaf function reads. */
async function compileWasm(wat: string): Promise<{ code: Uint8Array; offset: number; limits: number; stackLimit: number; memoryBase: number; memoryLength: number; vmctxSize: number }> {
  const module = await parseWat(wat, { fileName: 'program.wat' });
  const image = compileModule(module, { arch: 'x64' });
  if (image.functions.length !== 1 || image.functions[0].relocations.length > 0) {
    throw new Error('Wasm program: the native harness runs one leaf function (no calls, no relocations)');
  }
  const o = image.offsets;
  return {
    code: image.text,
    offset: image.functions[0].textOffset,
    limits: o.vmctxRuntimeLimits(),
    stackLimit: o.vmruntimeLimitsStackLimit(),
    memoryBase: o.vmctxVmmemoryDefinitionBase(0),
    memoryLength: o.vmctxVmmemoryDefinitionCurrentLength(0),
    vmctxSize: o.sizeOfVmctx(),
  };
}

/** The Wasm harness binary; its argument is the placement (bytes past a 64-byte line the code is copied to). */
async function hostWasmBinary(dir: string): Promise<string> {
  const programs = await Promise.all(WASM_PROGRAMS.map(async (p) => ({ ...p, ...(await compileWasm(p.wat)) })));
  const bytes = (u: Uint8Array) => `{ ${[...u].join(', ')} }`;
  const harness = `${SAMPLER_C}
#include <sys/mman.h>
typedef long wasm_fn(void *vmctx, void *caller, long n);
static unsigned char memory[65536] __attribute__((aligned(4096)));
static uint64_t limits[16];
${programs.map((p, i) => `static const unsigned char code${i}[] = ${bytes(p.code)};`).join('\n')}
static size_t pad;
static wasm_fn *load(const unsigned char *code, size_t size, size_t offset) {
  unsigned char *m = mmap(0, size + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  memcpy(m + pad, code, size);
  mprotect(m, size + 4096, PROT_READ | PROT_EXEC);
  return (wasm_fn *)(m + pad + offset);
}
int main(int argc, char **argv) {
  pad = argc > 1 ? (size_t)atoi(argv[1]) : 0;
${programs.map((p, i) => `  {
    static unsigned char vmctx[${p.vmctxSize + 64}] __attribute__((aligned(16)));
    memset(vmctx, 0, sizeof vmctx); memset(memory, 0, sizeof memory); memset(limits, 0, sizeof limits);
    *(uint64_t **)(vmctx + ${p.limits}) = limits; /* stack limit ${p.stackLimit}: 0, never reached */
    *(unsigned char **)(vmctx + ${p.memoryBase}) = memory;
    *(uint64_t *)(vmctx + ${p.memoryLength}) = sizeof memory;
    wasm_fn *f = load(code${i}, sizeof code${i}, ${p.offset});
    MEASURE("${p.name}", f(vmctx, vmctx, ${p.arg}));
  }`).join('\n')}
  return 0;
}
`;
  writeFileSync(join(dir, 'wasm-harness.c'), harness);
  writeFileSync(join(dir, 'calibrate.S'), CALIBRATE_S);
  const bin = join(dir, 'wasm-harness');
  execFileSync('gcc', ['-O2', '-no-pie', '-o', bin, join(dir, 'wasm-harness.c'), join(dir, 'calibrate.S')], { stdio: ['ignore', 'ignore', 'pipe'] });
  return bin;
}

/** The export `run` through the runtime, warm (warmCall), and its result. */
async function modelWasm(wat: string, arg: number, mode: 'fast' | 'detailed', uarch: UarchName): Promise<{ cycles: number; result: bigint; warmCalls: number }> {
  // No wall-clock timeout: on a loaded machine detailed mode's millions of instructions may
  // take longer than the default allows (the budget still bounds the run).
  const engine = new Engine({ arch: 'x64', timeoutMs: null, cycles: { mode, uarch, accumulate: true } });
  const store = await Store.create(engine);
  try {
    const module = await Module.fromWat(engine, wat, 'program.wat');
    const run = Instance.create(store, module, []).getFunc('run');
    return warmCall(mode, () => run.call(arg) as bigint, () => store.cycleReport()!.cycles);
  } finally {
    store.close();
  }
}

/** Per-program host and model cycles, errors, and the MAPE of each mode. */
export async function benchPrograms(uarch: UarchName): Promise<{ fast: number; detailed: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'stackscope-programs-'));
  try {
    const { object, placed } = buildPrograms(dir);
    const host = hostPrograms(hostCBinaries(dir, placed), await hostWasmBinary(dir));
    const errors: Record<'fast' | 'detailed', number[]> = { fast: [], detailed: [] };
    for (const [name, h] of host) {
      emit({ bench: 'timing', arch: 'x64', metric: `host_${name}_cycles`, value: h.cycles });
      emit({ bench: 'timing', arch: 'x64', metric: `host_${name}_median_all`, value: h.medianAll });
      emit({ bench: 'timing', arch: 'x64', metric: `host_${name}_placement_min`, value: h.min });
      emit({ bench: 'timing', arch: 'x64', metric: `host_${name}_placement_max`, value: h.max });
      emit({ bench: 'timing', arch: 'x64', metric: `host_${name}_at_machine_placement`, value: h.atZero });
      emit({ bench: 'timing', arch: 'x64', metric: `host_${name}_runs`, value: h.runs });
      const wasm = WASM_PROGRAMS.find((p) => p.name === name);
      for (const mode of ['fast', 'detailed'] as const) {
        const r = wasm ? await modelWasm(wasm.wat, wasm.arg, mode, uarch) : await modelC(object, name, mode, uarch);
        if (String(BigInt.asIntN(64, r.result)) !== h.result) throw new Error(`${name}: the host returned ${h.result}, the Machine ${r.result}`);
        const error = Math.abs(r.cycles - h.cycles) / h.cycles;
        errors[mode].push(error);
        emit({ bench: 'timing', arch: 'x64', metric: `${mode}_${name}_cycles`, value: r.cycles });
        emit({ bench: 'timing', arch: 'x64', metric: `${mode}_${name}_error`, value: error });
        if (mode === 'detailed') emit({ bench: 'timing', arch: 'x64', metric: `${mode}_${name}_warm_calls`, value: r.warmCalls });
      }
    }
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    for (const mode of ['fast', 'detailed'] as const) {
      emit({ bench: 'timing', arch: 'x64', metric: `${mode}_programs_mape`, value: mean(errors[mode]) });
      emit({ bench: 'timing', arch: 'x64', metric: `${mode}_programs_worst`, value: Math.max(...errors[mode]) });
    }
    return { fast: mean(errors.fast), detailed: mean(errors.detailed) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
