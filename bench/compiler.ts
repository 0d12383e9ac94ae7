/**
 * bench/compiler: compiles a generated module of 1,000 functions (arithmetic, loops, memory
 * accesses, direct and indirect calls, externref tables) and reports functions/s and code
 * bytes/s for the code generator plus image writing (WAT parsing and validation excluded,
 * reported separately), in both register-allocation modes (`regalloc`: none, linear-scan).
 * Compile speed is in CPU time of the process (best of `repeats` runs). Target: ≥ 1,000 functions/s. Code quality: the dynamic instruction
 * count of examples/fib's recursive fib(25) in each mode (the simulator's executed-instruction
 * counter, one call from the host), with linear-scan's ratio to none measured in the same run.
 */
import { readFileSync } from 'node:fs';
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
