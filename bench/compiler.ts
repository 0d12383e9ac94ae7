/**
 * bench/compiler: compiles a generated module of 1,000 functions (arithmetic, loops, memory
 * accesses, direct and indirect calls, externref tables) and reports functions/s and code
 * bytes/s for the code generator plus image writing (WAT parsing and validation excluded,
 * reported separately), in both register-allocation modes (`regalloc`: none, linear-scan).
 * Compile speed is in CPU time of the process (best of `repeats` runs). Target: ≥ 1,000 functions/s. Code quality: the dynamic instruction
 * count of examples/fib's recursive fib(25) in each mode (the simulator's executed-instruction
 * counter, one call from the host), with linear-scan's ratio to none measured in the same run.
 *
 * Code quality against gcc (issue 17 item 8): six kernels (bench/workloads/compiler-kernels.wat
 * and the same algorithms in compiler-kernels.c: recursive fib, an i32 sum loop, a memory copy,
 * collatz, i32 matrix multiply, crc32) run in the simulator on the same inputs, the Wasm
 * compiled by stackscope in each mode and the C by gcc -O2 (x86-64) or aarch64-linux-gnu-gcc
 * -O2, loaded into a Sandbox. Per kernel: `kernel_instructions` (one call, host calls
 * excluded: none of them makes any), the ratio to gcc (`kernel_vs_gcc`; target ≤ 2.0 each) and
 * the fast cycle model's cycles (`kernel_cycles`); per mode, `kernels_geomean_vs_gcc` (target
 * ≤ 1.6). Both sides must return the same result, or the bench fails. Instruction counts do
 * not depend on the machine's load.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Sandbox } from '../sandbox/sandbox.ts';
import { compileModule, REGALLOC_MODES } from '../compiler/index.ts';
import { loadWat, parseWatText } from '../compiler/frontend/index.ts';
import { Engine, Instance, Module, Store } from '../index.ts';
import type { Arch } from '../isa/arch.ts';
import { emit, type BenchOptions } from './report.ts';

export const BENCH_FUNCTIONS = 1000;

/** A deterministic module of `n` functions of a few shapes (about 20–60 Wasm instructions each). */
export function generatedModule(n: number): string {
  const funcs: string[] = [];
  for (let i = 0; i < n; i++) {
    const k = i % 5;
    const callee = i > 0 ? i - 1 : 0;
    if (k === 0) {
      funcs.push(`(func $f${i} (param i32 i32) (result i32) (local i32)
        (local.set 2 (i32.add (i32.mul (local.get 0) (i32.const ${i})) (local.get 1)))
        (if (result i32) (i32.lt_u (local.get 2) (i32.const 1000))
          (then (i32.xor (local.get 2) (i32.shl (local.get 1) (i32.const 3))))
          (else (i32.rem_u (local.get 2) (i32.add (local.get 0) (i32.const 1))))))`);
    } else if (k === 1) {
      funcs.push(`(func $f${i} (param i32 i32) (result i32) (local i64)
        (block (loop (br_if 1 (i32.eqz (local.get 0)))
          (local.set 2 (i64.add (local.get 2) (i64.extend_i32_u (local.get 0))))
          (local.set 0 (i32.sub (local.get 0) (i32.const 1))) (br 0)))
        (i32.wrap_i64 (local.get 2)))`);
    } else if (k === 2) {
      funcs.push(`(func $f${i} (param i32 i32) (result i32)
        (i32.store offset=${i * 4} (local.get 0) (local.get 1))
        (i64.store (i32.const 64) (i64.extend_i32_s (i32.load offset=${i * 4} (local.get 0))))
        (i32.add (i32.load8_u (local.get 1)) (i32.load16_s (i32.const 8))))`);
    } else if (k === 3) {
      funcs.push(`(func $f${i} (param i32 i32) (result i32)
        (i32.add (call $f${callee} (local.get 0) (local.get 1))
                 (call_indirect $t (type $ii) (local.get 1) (local.get 0) (i32.const 0))))`);
    } else {
      funcs.push(`(func $f${i} (param i32 i32) (result i32) (local externref)
        (local.set 2 (table.get $e (local.get 0)))
        (table.set $e (local.get 1) (local.get 2))
        (drop (call $f${callee} (local.get 0) (local.get 1)))
        (ref.is_null (local.get 2)))`);
    }
  }
  return `(module (type $ii (func (param i32 i32) (result i32)))
    (memory 1) (table $t 1 funcref) (table $e 4 externref) (elem (table $t) (i32.const 0) func $f0)
    ${funcs.join('\n')})`;
}

export async function benchCompiler(options: BenchOptions): Promise<void> {
  await loadWat();
  const wat = generatedModule(BENCH_FUNCTIONS);
  let parseMs = Infinity;
  let module = parseWatText(wat);
  for (let r = 0; r < options.repeats; r++) {
    const t0 = performance.now();
    module = parseWatText(wat);
    parseMs = Math.min(parseMs, performance.now() - t0);
  }
  emit({ bench: 'compiler', arch: 'any', metric: 'frontend_functions_per_s', value: BENCH_FUNCTIONS / (parseMs / 1000) });
  for (const arch of options.arches) {
    const rate: Record<string, number> = {};
    for (const regalloc of REGALLOC_MODES) {
      let best = Infinity;
      let textBytes = 0;
      let objectBytes = 0;
      for (let r = 0; r < options.repeats; r++) {
        // CPU time of this process, not wall time: the machine is shared.
        const t0 = process.cpuUsage();
        const image = compileModule(module, { arch, regalloc });
        const cpu = process.cpuUsage(t0);
        const ms = (cpu.user + cpu.system) / 1000;
        if (ms < best) best = ms;
        textBytes = image.text.length;
        objectBytes = image.elf.length;
      }
      rate[regalloc] = BENCH_FUNCTIONS / (best / 1000);
      emit({ bench: 'compiler', arch, regalloc, metric: 'functions_per_s', value: rate[regalloc] });
      emit({ bench: 'compiler', arch, regalloc, metric: 'code_bytes_per_s', value: textBytes / (best / 1000) });
      emit({ bench: 'compiler', arch, regalloc, metric: 'text_bytes', value: textBytes });
      emit({ bench: 'compiler', arch, regalloc, metric: 'object_bytes', value: objectBytes });
    }
    emit({ bench: 'compiler', arch, metric: 'linear_scan_speed_vs_none', value: rate['linear-scan'] / rate.none });
    const counts: Record<string, bigint> = {};
    for (const regalloc of REGALLOC_MODES) {
      counts[regalloc] = await fibInstructions(arch, regalloc, 25);
      emit({ bench: 'compiler', arch, regalloc, metric: 'fib25_instructions', value: Number(counts[regalloc]) });
    }
    emit({ bench: 'compiler', arch, metric: 'fib25_linear_scan_vs_none', value: Number(counts['linear-scan']) / Number(counts.none) });
    await benchKernels(arch);
  }
}

/** One kernel call: its name, the C signature, and the arguments after its inputs are written. */
interface Kernel {
  name: string;
  signature: string;
  /** Arguments; pointers are offsets of the input area (a guest pointer in C, a Wasm address). */
  args: (at: (offset: number) => number | bigint) => Array<number | bigint>;
}

/** Offsets of the three 64 KiB areas the kernels read and write. */
const AREA_A = 0;
const AREA_B = 65_536;
const AREA_C = 131_072;
const AREAS_BYTES = 196_608;
const WORDS = 16_384;

const KERNELS: readonly Kernel[] = [
  { name: 'fib', signature: 'i32(i32)', args: () => [25] },
  { name: 'sum', signature: 'i32(ptr,i32)', args: (at) => [at(AREA_A), WORDS] },
  { name: 'copy', signature: 'void(ptr,ptr,i32)', args: (at) => [at(AREA_C), at(AREA_A), WORDS] },
  { name: 'collatz', signature: 'i32(i32)', args: () => [2_000] },
  { name: 'matmul', signature: 'void(ptr,ptr,ptr,i32)', args: (at) => [at(AREA_C), at(AREA_A), at(AREA_B), 32] },
  { name: 'crc32', signature: 'u32(ptr,i32)', args: (at) => [at(AREA_A), WORDS * 4] },
];

/** The kernels' input: areas A and B hold small pseudo-random words (matmul's products stay in range), C zeros. */
function kernelInput(): Uint8Array {
  const bytes = new Uint8Array(AREAS_BYTES);
  const view = new DataView(bytes.buffer);
  let x = 0x2545f491;
  for (let o = AREA_A; o < AREA_C; o += 4) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    view.setUint32(o, (x >>> 16) & 0x3ff, true);
  }
  return bytes;
}

/** What a kernel leaves: its result and, for those that write, area C's checksum. */
function outcome(value: unknown, areaC: Uint8Array): string {
  if (value === undefined || value === null) value = 'void';
  let h = 0;
  for (let i = 0; i < areaC.length; i++) h = (Math.imul(h, 31) + areaC[i]) >>> 0;
  return `${String(value)} / ${h.toString(16)}`;
}

export async function benchKernels(arch: Arch): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'stackscope-bench-kernels-'));
  try {
    const input = kernelInput();
    const source = new URL('./workloads/compiler-kernels.c', import.meta.url).pathname;
    const obj = join(dir, `kernels-${arch}.o`);
    // Without -fno-tree-loop-distribute-patterns gcc turns `copy` into a call to memcpy.
    execFileSync(arch === 'x64' ? 'gcc' : 'aarch64-linux-gnu-gcc', ['-c', '-O2', '-fno-tree-loop-distribute-patterns', '-o', obj, source]);
    const gcc = new Map<string, { instructions: bigint; cycles: number; outcome: string }>();
    const sb = await Sandbox.load([{ file: obj, bytes: new Uint8Array(readFileSync(obj)) }], { budget: null, timeoutMs: null, cycles: { mode: 'fast' } });
    try {
      const base = sb.allocate(AREAS_BYTES);
      for (const k of KERNELS) {
        sb.write(base, input);
        const result = sb.call(k.name, k.signature, k.args((offset) => base + BigInt(offset)));
        const cycles = sb.machine.cycleReport()?.cycles ?? Number.NaN;
        gcc.set(k.name, { instructions: result.instructions, cycles, outcome: outcome(result.value, sb.read(base + BigInt(AREA_C), AREA_B)) });
        emit({ bench: 'compiler', arch, compiler: 'gcc-O2', kernel: k.name, metric: 'kernel_instructions', value: Number(result.instructions) });
        emit({ bench: 'compiler', arch, compiler: 'gcc-O2', kernel: k.name, metric: 'kernel_cycles', value: cycles });
      }
    } finally {
      sb.close();
    }
    const wat = readFileSync(new URL('./workloads/compiler-kernels.wat', import.meta.url), 'utf8');
    for (const regalloc of REGALLOC_MODES) {
      const engine = new Engine({ arch, regalloc });
      const store = await Store.create(engine, { cycles: { mode: 'fast' } });
      try {
        const instance = Instance.create(store, await Module.fromWat(engine, wat, 'compiler-kernels.wat'));
        const memory = instance.getMemory('memory');
        let logSum = 0;
        for (const k of KERNELS) {
          memory.write(0, input);
          const value = instance.getFunc(k.name).call(...k.args((offset) => offset));
          const instructions = store.machine.instructionsExecuted();
          const cycles = store.cycleReport()?.cycles ?? Number.NaN;
          const theirs = gcc.get(k.name)!;
          const ours = outcome(k.signature.startsWith('u32') ? Number(value) >>> 0 : value, memory.read(AREA_C, AREA_B));
          if (ours !== theirs.outcome) throw new Error(`${arch} ${regalloc}: kernel ${k.name} gave ${ours}, gcc's code ${theirs.outcome}`);
          const ratio = Number(instructions) / Number(theirs.instructions);
          logSum += Math.log(ratio);
          const dims = { bench: 'compiler', arch, compiler: 'stackscope', regalloc, kernel: k.name };
          emit({ ...dims, metric: 'kernel_instructions', value: Number(instructions) });
          emit({ ...dims, metric: 'kernel_vs_gcc', value: ratio });
          emit({ ...dims, metric: 'kernel_cycles', value: cycles });
          emit({ ...dims, metric: 'kernel_cycles_vs_gcc', value: cycles / theirs.cycles });
        }
        emit({ bench: 'compiler', arch, compiler: 'stackscope', regalloc, metric: 'kernels_geomean_vs_gcc', value: Math.exp(logSum / KERNELS.length) });
      } finally {
        store.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Instructions the simulator executes for examples/fib's `fib(n)` compiled with `regalloc`. */
export async function fibInstructions(arch: Arch, regalloc: (typeof REGALLOC_MODES)[number], n: number): Promise<bigint> {
  const engine = new Engine({ arch, regalloc });
  const store = await Store.create(engine);
  try {
    const wat = readFileSync(new URL('../examples/fib/fib.wat', import.meta.url), 'utf8');
    const instance = Instance.create(store, await Module.fromWat(engine, wat, 'fib.wat'));
    instance.getFunc('fib').call(n);
    return store.machine.instructionsExecuted();
  } finally {
    store.close();
  }
}
