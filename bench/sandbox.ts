/**
 * bench/sandbox: (1) calls per second of a tiny C function through the sandbox API
 * (`Sandbox.call` with a C signature), beside the Machine's raw integer call as the baseline;
 * (2) a memory-heavy C kernel (bench/workloads/sandbox-kernel.c, gcc -O2) on the same 4 MiB
 * input in the sandbox and natively under qemu-aarch64 on this machine (the kernel timed inside
 * the process with clock_gettime, so qemu's start-up is not counted): the ratio sandbox / qemu.
 * Targets (issue 15): ≥ 200,000 calls/s; ≤ 1.5× qemu-aarch64.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Arch } from '../isa/arch.ts';
import { Sandbox } from '../sandbox/sandbox.ts';
import { emit, type BenchOptions } from './report.ts';

const KERNEL = new URL('./workloads/sandbox-kernel.c', import.meta.url).pathname;
const BYTES = 4 << 20;
const ROUNDS = 4;
const CALLS = 100_000;

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
int main(int argc, char **argv) {
  FILE *f = fopen(argv[1], "rb");
  unsigned char *buf = malloc(${BYTES});
  if (!f || fread(buf, 1, ${BYTES}, f) != ${BYTES}) return 2;
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  long r = memory_kernel(buf, ${BYTES}, ${ROUNDS});
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%ld %.6f\\n", r, (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
  return 0;
}
`;

function best(xs: number[]): number {
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
        const apiRates: number[] = [];
        const rawRates: number[] = [];
        for (let r = 0; r < options.repeats; r++) {
          let t0 = performance.now();
          for (let i = 0; i < CALLS; i++) sb.call('tiny_add', 'i32(i32,i32)', [i, 1]);
          apiRates.push(CALLS / ((performance.now() - t0) / 1000));
          t0 = performance.now();
          for (let i = 0; i < CALLS; i++) sb.machine.call(add, [i, 1]);
          rawRates.push(CALLS / ((performance.now() - t0) / 1000));
        }
        const api = Math.max(...apiRates);
        const raw = Math.max(...rawRates);
        emit({ bench: 'sandbox', arch, metric: 'api_calls_per_s', value: api });
        emit({ bench: 'sandbox', arch, metric: 'machine_calls_per_s', value: raw });
        emit({ bench: 'sandbox', arch, metric: 'api_vs_machine_call_ratio', value: api / raw });

        // (2) the memory-heavy kernel
        const buf = sb.allocate(BYTES);
        const times: number[] = [];
        let result: unknown;
        for (let r = 0; r < options.repeats; r++) {
          sb.write(buf, data);
          const t0 = performance.now();
          result = sb.call('memory_kernel', 'i64(ptr,u64,i32)', [buf, BigInt(BYTES), ROUNDS]).value;
          times.push((performance.now() - t0) / 1000);
        }
        emit({ bench: 'sandbox', arch, metric: 'kernel_s', value: best(times) });
        if (arch === 'aarch64') {
          const harness = join(dir, 'harness.c');
          writeFileSync(harness, HARNESS);
          const exe = join(dir, 'kernel-qemu');
          execFileSync(cc, ['-static', '-O2', '-o', exe, harness, obj]);
          const qemuTimes: number[] = [];
          for (let r = 0; r < options.repeats; r++) {
            const [value, seconds] = execFileSync('qemu-aarch64', [exe, dataFile], { encoding: 'utf8' }).trim().split(' ');
            if (BigInt(value) !== result) throw new Error(`qemu-aarch64 computed ${value}, the sandbox ${String(result)}`);
            qemuTimes.push(Number(seconds));
          }
          emit({ bench: 'sandbox', arch, metric: 'kernel_qemu_s', value: best(qemuTimes) });
          emit({ bench: 'sandbox', arch, metric: 'kernel_vs_qemu_ratio', value: best(times) / best(qemuTimes) });
        }
      } finally {
        sb.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
