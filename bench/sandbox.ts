/**
 * bench/sandbox: (1) calls per second of a tiny C function through the sandbox API
 * (`Sandbox.call` with a C signature), beside the Machine's raw integer call as the baseline,
 * per wall-clock second and per second of this process's CPU time (what a loaded machine does
 * not change); (2) a memory-heavy C kernel (bench/workloads/sandbox-kernel.c, gcc -O2) on the
 * same 4 MiB input in the sandbox and under qemu-user for the same arch on this machine
 * (qemu-aarch64; qemu-x86_64 for x86-64), the kernel timed inside the process (wall clock and
 * CLOCK_PROCESS_CPUTIME_ID, so qemu's start-up is not counted), one sandbox call and one qemu run
 * in turn so both see the same load, on each CPU in turn with both pinned to it (the CPUs of a
 * shared virtual machine can differ in speed), the least of each: the ratios sandbox / qemu per
 * CPU, and their mean over the CPUs.
 * Targets (issue 15): ≥ 200,000 calls/s; ≤ 1.5× qemu-aarch64.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Arch } from '../isa/arch.ts';
import { Sandbox } from '../sandbox/sandbox.ts';
import { onEachCpu } from './affinity.ts';
import { emit, type BenchOptions } from './report.ts';

const KERNEL = new URL('./workloads/sandbox-kernel.c', import.meta.url).pathname;
const BYTES = 4 << 20;
const ROUNDS = 4;
const CALLS = 100_000;
const KERNEL_LIMITS = { budget: 1n << 32n, timeoutMs: 10_000 };

function input(): Uint8Array {
  const b = new Uint8Array(BYTES);
  let x = 12345;
  for (let i = 0; i < b.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

const HARNESS = `#include <stdio.h>
#include <stdlib.h>
#include <time.h>
long memory_kernel(unsigned char *buf, unsigned long n, int rounds);
static double seconds(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}
int main(int argc, char **argv) {
  FILE *f = fopen(argv[1], "rb");
  unsigned char *buf = malloc(${BYTES});
  if (!f || fread(buf, 1, ${BYTES}, f) != ${BYTES}) return 2;
  double wall = seconds(CLOCK_MONOTONIC), cpu = seconds(CLOCK_PROCESS_CPUTIME_ID);
  long r = memory_kernel(buf, ${BYTES}, ${ROUNDS});
  printf("%ld %.6f %.6f\\n", r, seconds(CLOCK_MONOTONIC) - wall, seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu);
  return 0;
}
`;

const QEMU: Record<Arch, string> = { x64: 'qemu-x86_64', aarch64: 'qemu-aarch64' };

/** This process's CPU time in seconds (user + system). */
function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Runs `n` iterations of `body`; returns calls per wall-clock second and per CPU second. */
function rates(n: number, body: (i: number) => void): { wall: number; cpu: number } {
  const t0 = performance.now();
  const c0 = cpuSeconds();
  for (let i = 0; i < n; i++) body(i);
  return { wall: n / ((performance.now() - t0) / 1000), cpu: n / (cpuSeconds() - c0) };
}

function least(xs: number[]): number {
  return Math.min(...xs);
}

export async function benchSandbox(options: BenchOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'stackscope-bench-sandbox-'));
  try {
    const data = input();
    const dataFile = join(dir, 'input.bin');
    writeFileSync(dataFile, data);
    for (const arch of options.arches) {
      const cc = arch === 'x64' ? 'gcc' : 'aarch64-linux-gnu-gcc';
      const obj = join(dir, `kernel-${arch}.o`);
      execFileSync(cc, ['-c', '-O2', '-o', obj, KERNEL]);
      const sb = await Sandbox.load([{ file: obj, bytes: new Uint8Array(readFileSync(obj)) }], { heapSize: 16 << 20, budget: null, timeoutMs: null });
      try {
        // (1) calls per second
        const add = sb.address('tiny_add');
        const api = { wall: 0, cpu: 0 };
        const raw = { wall: 0, cpu: 0 };
        const best = (into: { wall: number; cpu: number }, r: { wall: number; cpu: number }) => {
          into.wall = Math.max(into.wall, r.wall);
          into.cpu = Math.max(into.cpu, r.cpu);
        };
        for (let r = 0; r < options.repeats; r++) {
          best(api, rates(CALLS, (i) => sb.call('tiny_add', 'i32(i32,i32)', [i, 1])));
          best(raw, rates(CALLS, (i) => sb.machine.call(add, [i, 1])));
        }
        emit({ bench: 'sandbox', arch, metric: 'api_calls_per_s', value: api.wall });
        emit({ bench: 'sandbox', arch, metric: 'api_calls_per_cpu_s', value: api.cpu });
        emit({ bench: 'sandbox', arch, metric: 'machine_calls_per_s', value: raw.wall });
        emit({ bench: 'sandbox', arch, metric: 'machine_calls_per_cpu_s', value: raw.cpu });
        emit({ bench: 'sandbox', arch, metric: 'api_vs_machine_call_ratio', value: api.wall / raw.wall });

        // (2) the memory-heavy kernel, in the sandbox and under qemu-user (the same object,
        // statically linked with a harness that times the kernel alone), one run of each in
        // turn, so both see the same load.
        const harness = join(dir, 'harness.c');
        writeFileSync(harness, HARNESS);
        const exe = join(dir, `kernel-qemu-${arch}`);
        execFileSync(cc, ['-static', '-O2', '-o', exe, harness, obj]);
        const buf = sb.allocate(BYTES);
        const run = () => {
          sb.write(buf, data);
          const t0 = performance.now();
          const c0 = cpuSeconds();
          // The per-call limits a user gets by default, enforced (the kernel runs ≈ 220 M instructions).
          const result = sb.call('memory_kernel', 'i64(ptr,u64,i32)', [buf, BigInt(BYTES), ROUNDS], KERNEL_LIMITS).value;
          return { result, cpu: cpuSeconds() - c0, wall: (performance.now() - t0) / 1000 };
        };
        run(); // translation and the TLB's growth, which every later call reuses
        // On each CPU in turn, this thread pinned there, so qemu (a child, which inherits the
        // affinity) runs on the same CPU: the CPUs of a shared virtual machine can differ in
        // speed, and a ratio across two of them would measure the CPUs (bench/affinity.ts).
        const perCpu = onEachCpu((cpu) => {
          const times: number[] = [];
          const cpuTimes: number[] = [];
          const qemuTimes: number[] = [];
          const qemuCpuTimes: number[] = [];
          for (let r = 0; r < options.repeats; r++) {
            const { result, cpu: c, wall } = run();
            cpuTimes.push(c);
            times.push(wall);
            const [value, seconds, qcpu] = execFileSync(QEMU[arch], [exe, dataFile], { encoding: 'utf8' }).trim().split(' ');
            if (BigInt(value) !== result) throw new Error(`${QEMU[arch]} computed ${value}, the sandbox ${String(result)}`);
            qemuTimes.push(Number(seconds));
            qemuCpuTimes.push(Number(qcpu));
          }
          const at = { bench: 'sandbox', arch, cpu };
          emit({ ...at, metric: 'kernel_s', value: least(times) });
          emit({ ...at, metric: 'kernel_cpu_s', value: least(cpuTimes) });
          emit({ ...at, metric: 'kernel_qemu_s', value: least(qemuTimes) });
          emit({ ...at, metric: 'kernel_qemu_cpu_s', value: least(qemuCpuTimes) });
          emit({ ...at, metric: 'kernel_vs_qemu_ratio', value: least(times) / least(qemuTimes) });
          emit({ ...at, metric: 'kernel_vs_qemu_cpu_ratio', value: least(cpuTimes) / least(qemuCpuTimes) });
          return { wall: least(times) / least(qemuTimes), cpu: least(cpuTimes) / least(qemuCpuTimes), qemuCpu: least(qemuCpuTimes) };
        });
        // The ratios over the CPUs (their mean), and how far apart the CPUs' speeds were
        // (qemu's least CPU time on the slowest CPU over that on the fastest).
        const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
        emit({ bench: 'sandbox', arch, metric: 'kernel_vs_qemu_ratio', value: mean(perCpu.map((p) => p.wall)) });
        emit({ bench: 'sandbox', arch, metric: 'kernel_vs_qemu_cpu_ratio', value: mean(perCpu.map((p) => p.cpu)) });
        const qemuCpus = perCpu.map((p) => p.qemuCpu);
        emit({ bench: 'sandbox', arch, metric: 'cpu_speed_spread', value: Math.max(...qemuCpus) / Math.min(...qemuCpus) });
      } finally {
        sb.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
