/**
 * bench/roundtrip: what one guest → host → guest round trip costs, and how many a fuzz program
 * makes. CPU time of this process per round trip (µs), so the figures do not depend on what
 * else loads the machine (V8's background threads are in them too):
 *
 * - `native_us`: the engine alone — `startCall` (the native helper's `ss_call`: register
 *   writes, the run, the stop at a gateway trap, the register reads) in a loop, with no
 *   Machine and no host function;
 * - `machine_us`: `Machine.call` of a guest loop calling an empty host function (the gateway,
 *   the host function's arguments and HostCall, the resumption);
 * - `wrap_us`: a Wasm loop calling an empty `Func.wrap` import (the exit trampoline and the
 *   runtime's host-function glue on top);
 * - `libcall_us`: a Wasm loop of `global.get` of an externref global (the
 *   `externref_global_get` builtin through its stub);
 * - `sweep_insert_us`: the `activations_table_insert_with_gc` libcalls a destructor's
 *   re-entry makes during a sweep (a loop of `table.get` of one slot: every one after the first
 *   finds the object in the over-approximated set, a no-op), which the engine answers itself;
 *   `sweep_insert_host_us` the same with every call answered by the host
 *   (`answerInsertionsNatively: false`), and their ratio.
 *
 * `fuzz_run_ms_*`: CPU ms of a fuzz program's run phase (main with its host calls and
 * collections) with the engine's answers and without them (every insertion through the host),
 * same seeds, same process, alternating, and their ratio.
 *
 * Then, exactly (counts do not depend on timing), per fuzz program of bench/fuzz's size
 * (50 statements, seeds 1–300, v17): engine runs started by the Machine (`runs`), guest calls
 * (`calls`, `nested`), host function calls by name (`host_<name>`), and the
 * `activations_table_insert_with_gc` libcalls the native helper answered without a round trip
 * (`native_answers`).
 */
import type { Arch } from '../isa/arch.ts';
import { PROT_EXEC, PROT_READ } from '../simulator/engine.ts';
import { Machine, roundTripCounts } from '../simulator/machine.ts';
import { assemble } from '../simulator/testing/asm.ts';
import { Engine, ExternRef, Func, Instance, Module, Store } from '../index.ts';
import { ArchRunner, generateProgram, prepareProgram } from '../fuzz/index.ts';
import { emit, type BenchOptions } from './report.ts';

const NO_UNTIL = (1n << 64n) - 1n;

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Least CPU µs per unit of `fn()` (which does `units` of work) over `repeats` runs. */
function leastUs(repeats: number, units: number, fn: () => void): number {
  let best = Infinity;
  for (let i = 0; i < repeats; i++) {
    const t0 = cpuSeconds();
    fn();
    best = Math.min(best, ((cpuSeconds() - t0) * 1e6) / units);
  }
  return best;
}

/** Calls the host function in its first argument n times (second argument). */
const HOST_LOOP: Record<Arch, string> = {
  x64: 'push rbp\nmov rbp, rsp\npush rbx\npush r12\nmov r12, rdi\nmov rbx, rsi\n1: test rbx, rbx\njz 2f\nmov rdi, rbx\ncall r12\ndec rbx\njmp 1b\n2: pop r12\npop rbx\npop rbp\nret',
  aarch64: 'stp x29, x30, [sp, #-32]!\nmov x29, sp\nstp x19, x20, [sp, #16]\nmov x19, x0\nmov x20, x1\n1: cbz x20, 2f\nmov x0, x20\nblr x19\nsub x20, x20, #1\nb 1b\n2: ldp x19, x20, [sp, #16]\nldp x29, x30, [sp], #32\nret',
};

async function machineUs(arch: Arch, repeats: number, trips: number): Promise<{ native: number; machine: number }> {
  const m = await Machine.create({ arch });
  try {
    const text = m.map('text', 0x10000, PROT_READ | PROT_EXEC);
    m.writeBytes(text.address, assemble(arch, HOST_LOOP[arch]));
    const host = m.addHostFunction('bench-empty', 1, () => 0);
    m.call(text.address, [host, 1000]);
    const machine = leastUs(repeats, trips, () => m.call(text.address, [host, trips]));
    // The engine alone: a run from a gateway stub's trap to its stop, over and over.
    const engine = m.engine;
    const regs = engine.callRegisters;
    if (!engine.startCall || !regs) return { native: NaN, machine };
    const native = leastUs(repeats, trips, () => {
      for (let i = 0; i < trips; i++) {
        regs.writeCount = 0;
        const stop = engine.startCall!(host, NO_UNTIL);
        if (stop.error !== 0) throw new Error(`bench/roundtrip: engine stop ${stop.message}`);
      }
    });
    return { native, machine };
  } finally {
    m.close();
  }
}

const WAT = `(module
  (import "host" "empty" (func $empty))
  (global $g (mut externref) (ref.null extern))
  (table $t 1 externref)
  (func (export "set") (param externref) (global.set $g (local.get 0)) (table.set $t (i32.const 0) (local.get 0)))
  (func (export "take") (param externref))
  (func (export "calls") (param $n i32)
    (loop $l (if (local.get $n) (then (call $empty) (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br $l)))))
  (func (export "gets") (param $n i32)
    (loop $l (if (local.get $n) (then (drop (global.get $g)) (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br $l)))))
  (func (export "churn") (param $n i32)
    (loop $l (if (local.get $n) (then (drop (table.get $t (i32.const 0))) (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br $l))))))`;

async function runtimeUs(arch: Arch, repeats: number, trips: number, answers: boolean): Promise<{ wrap: number; libcall: number; sweep: number }> {
  const engine = new Engine({ arch });
  const store = await Store.create(engine, { answerInsertionsNatively: answers });
  try {
    const module = await Module.fromWat(engine, WAT);
    const instance = Instance.create(store, module, [Func.wrap(store, { params: [], results: [] }, () => {})]);
    const call = (name: string, ...args: unknown[]) => instance.getFunc(name).call(...(args as never[]));
    const held = ExternRef.new(store, 'held');
    call('set', held);
    call('calls', 1000);
    call('gets', 1000);
    const wrap = leastUs(repeats, trips, () => call('calls', trips));
    const libcall = leastUs(repeats, trips, () => {
      call('gets', trips);
      store.gc();
    });
    // A sweep frees an object whose destructor re-enters Wasm and reads the table slot `n` times.
    const sweepWith = (n: number) => {
      const victim = ExternRef.new(store, 'victim', () => void call('churn', n));
      call('take', victim);
      victim.release();
      store.gc();
    };
    sweepWith(1000);
    const base = leastUs(repeats, 1, () => sweepWith(0));
    const sweep = leastUs(repeats, trips, () => sweepWith(trips)) - base / trips;
    held.release();
    return { wrap, libcall, sweep };
  } finally {
    store.close();
  }
}

/** Exact round trips per program for `programs` fuzz programs from seed 1. */
async function perProgram(arch: Arch, programs: number): Promise<Record<string, number>> {
  const runner = new ArchRunner(arch);
  const before = snapshot();
  try {
    for (let k = 0; k < programs; k++) {
      const prep = await prepareProgram(generateProgram(1 + k, { ops: 50 }));
      const out = await runner.runProgram(prep.program, prep.key, prep.wasm, prep.model);
      if (out.failure) throw new Error(`bench/roundtrip: unmutated program ${1 + k} failed on ${arch}: ${out.failure.message}`);
    }
  } finally {
    runner.close();
  }
  const after = snapshot();
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    const d = (v - (before[k] ?? 0)) / programs;
    if (d !== 0) out[k] = d;
  }
  return out;
}

/**
 * CPU ms of main's run per fuzz program with and without the engine's answers, in this process:
 * two runners, each warmed up on 300 programs, then the same seeds through each in turn, in
 * alternating order, `rounds` times 50 programs.
 */
async function runPhaseAB(arch: Arch, rounds: number): Promise<{ on: number; off: number }> {
  const on = new ArchRunner(arch, { timePhases: true });
  const off = new ArchRunner(arch, { timePhases: true, answerInsertionsNatively: false });
  const runAll = async (runner: ArchRunner, seed: number, n: number) => {
    for (let k = 0; k < n; k++) {
      const prep = await prepareProgram(generateProgram(seed + k, { ops: 50 }));
      const out = await runner.runProgram(prep.program, prep.key, prep.wasm, prep.model);
      if (out.failure) throw new Error(`bench/roundtrip: unmutated program ${seed + k} failed on ${arch}: ${out.failure.message}`);
    }
  };
  try {
    await runAll(on, 700_000, 300);
    await runAll(off, 700_000, 300);
    const [on0, off0] = [on.phases.run, off.phases.run];
    for (let r = 0; r < rounds; r++) {
      const seed = 1 + 50 * r;
      const order = r % 2 === 0 ? [on, off] : [off, on];
      for (const runner of order) await runAll(runner, seed, 50);
    }
    const n = 50 * rounds;
    return { on: (on.phases.run - on0) / n, off: (off.phases.run - off0) / n };
  } finally {
    on.close();
    off.close();
  }
}

function snapshot(): Record<string, number> {
  const s: Record<string, number> = {
    runs: roundTripCounts.runs, calls: roundTripCounts.calls, nested: roundTripCounts.nested,
    native_answers: roundTripCounts.nativeAnswers,
  };
  for (const [name, c] of roundTripCounts.hostCalls) s[`host_${name.replace(/\W+/g, '_')}`] = c.calls;
  return s;
}

export async function benchRoundTrip(o: BenchOptions): Promise<void> {
  const trips = 100_000;
  for (const arch of o.arches) {
    const repeats = Math.max(o.repeats, 3);
    const m = await machineUs(arch, repeats, trips);
    emit({ bench: 'roundtrip', arch, metric: 'native_us', value: m.native });
    emit({ bench: 'roundtrip', arch, metric: 'machine_us', value: m.machine });
    const r = await runtimeUs(arch, repeats, trips / 2, true);
    const host = await runtimeUs(arch, repeats, trips / 2, false);
    emit({ bench: 'roundtrip', arch, metric: 'wrap_us', value: r.wrap });
    emit({ bench: 'roundtrip', arch, metric: 'libcall_us', value: r.libcall });
    emit({ bench: 'roundtrip', arch, metric: 'sweep_insert_us', value: r.sweep });
    emit({ bench: 'roundtrip', arch, metric: 'sweep_insert_host_us', value: host.sweep });
    emit({ bench: 'roundtrip', arch, metric: 'sweep_insert_host_over_native', value: host.sweep / r.sweep });
    const ab = await runPhaseAB(arch, 6);
    emit({ bench: 'roundtrip', arch, metric: 'fuzz_run_ms_answers', value: ab.on });
    emit({ bench: 'roundtrip', arch, metric: 'fuzz_run_ms_host_answers', value: ab.off });
    emit({ bench: 'roundtrip', arch, metric: 'fuzz_run_host_over_answers', value: ab.off / ab.on });
    for (const [metric, value] of Object.entries(await perProgram(arch, 300))) {
      emit({ bench: 'roundtrip', arch, metric: `per_program_${metric}`, value });
    }
  }
}
