/**
 * bench/engine: in one run, bare Unicorn (uc_emu_start called directly through koffi on a
 * fresh engine) against Machine.call on the same loop, and guest → host → guest round trips.
 * Prints one JSON line per metric.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Arch } from '../isa/arch.ts';
import { PROT_EXEC, PROT_READ } from '../simulator/engine.ts';
import { Machine, type MachineOptions } from '../simulator/machine.ts';
import { assemble } from '../simulator/testing/asm.ts';
import { DATA_PAGE, bareSeconds } from './bare.ts';
import { machineRun } from './machine-run.ts';
import { emit, type BenchOptions } from './report.ts';

const ITERATIONS = 50_000_000;

/** A counted ALU loop: 3 instructions per iteration on both arches, then return. */
const LOOP: Record<Arch, string> = {
  x64: `mov rcx, ${ITERATIONS}\n1: add rax, rcx\ndec rcx\njnz 1b\nret`,
  aarch64: `movz x1, #${ITERATIONS & 0xffff}\nmovk x1, #${ITERATIONS >>> 16}, lsl #16\n1: add x0, x0, x1\nsubs x1, x1, #1\nb.ne 1b\nret`,
};
const LOOP_INSNS = 3 * ITERATIONS;

/** A load-heavy loop (4 instructions, one 8-byte load per iteration from the code page): the
 * case where exact fault PCs would cost most if they came from access hooks (their fallback;
 * docs/engine.md), which send every load through Unicorn's slow path. */
const LOAD_ITERATIONS = 20_000_000;
const LOAD_LOOP: Record<Arch, string> = {
  x64: `lea rsi, [rip]\nmov rcx, ${LOAD_ITERATIONS}\n1: mov rdx, [rsi]\nadd rax, rdx\ndec rcx\njnz 1b\nret`,
  aarch64: `adr x2, .\nmovz x1, #${LOAD_ITERATIONS & 0xffff}\nmovk x1, #${LOAD_ITERATIONS >>> 16}, lsl #16\n1: ldr x3, [x2]\nadd x0, x0, x3\nsubs x1, x1, #1\nb.ne 1b\nret`,
};
const LOAD_LOOP_INSNS = 4 * LOAD_ITERATIONS;

/** A store-heavy loop (one 8-byte store per 4 instructions, to a read+write page). */
const STORE_ITERATIONS = 5_000_000;
const STORE_LOOP: Record<Arch, string> = {
  x64: `mov rsi, ${DATA_PAGE}\nmov rcx, ${STORE_ITERATIONS}\n1: mov [rsi], rcx\nadd rax, rcx\ndec rcx\njnz 1b\nret`,
  aarch64: `movz x2, #${Number(DATA_PAGE) >>> 16}, lsl #16\nmovz x1, #${STORE_ITERATIONS & 0xffff}\nmovk x1, #${STORE_ITERATIONS >>> 16}, lsl #16\n1: str x1, [x2]\nadd x0, x0, x1\nsubs x1, x1, #1\nb.ne 1b\nret`,
};
const STORE_LOOP_INSNS = 4 * STORE_ITERATIONS;

/** Calls the host function in its first argument n times (second argument). */
const HOST_LOOP: Record<Arch, string> = {
  x64: 'push rbp\nmov rbp, rsp\npush rbx\npush r12\nmov r12, rdi\nmov rbx, rsi\n1: test rbx, rbx\njz 2f\nmov rdi, rbx\ncall r12\ndec rbx\njmp 1b\n2: pop r12\npop rbx\npop rbp\nret',
  aarch64: 'stp x29, x30, [sp, #-32]!\nmov x29, sp\nstp x19, x20, [sp, #16]\nmov x19, x0\nmov x20, x1\n1: cbz x20, 2f\nmov x0, x20\nblr x19\nsub x20, x20, #1\nb 1b\n2: ldp x19, x20, [sp, #16]\nldp x29, x30, [sp], #32\nret',
};


/** bareSeconds in a fresh process that loads libunicorn before the native helper. */
function unpatchedSeconds(arch: Arch, code: Uint8Array): number {
  const child = fileURLToPath(new URL('./unpatched-child.ts', import.meta.url));
  const out = execFileSync(process.execPath, ['--import', 'tsx', child, arch, 'loop', Buffer.from(code).toString('hex')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return Number(out);
}

/** A Machine run of `code`, warmed up without limits: seconds of the timed call. */
async function machineSeconds(arch: Arch, code: Uint8Array, options: Partial<MachineOptions>): Promise<number> {
  return (await machineRun(arch, code, options, { budget: null, timeoutMs: null })).seconds;
}

export async function benchEngine(options: BenchOptions): Promise<void> {
  for (const arch of options.arches) {
    const loop = assemble(arch, LOOP[arch]);
    const best = (xs: number[]) => Math.min(...xs);
    const bare: number[] = [];
    const plain: number[] = [];
    const guarded: number[] = [];
    for (let i = 0; i < options.repeats; i++) {
      bare.push(bareSeconds(arch, loop));
      plain.push(await machineSeconds(arch, loop, { budget: null, timeoutMs: null, exactFaultPc: false }));
      guarded.push(await machineSeconds(arch, loop, {}));
    }
    const mips = (s: number) => LOOP_INSNS / s / 1e6;
    emit({ bench: 'engine', arch, metric: 'bare_mips', value: mips(best(bare)) });
    emit({ bench: 'engine', arch, metric: 'machine_mips', value: mips(best(plain)) });
    emit({ bench: 'engine', arch, metric: 'machine_over_bare', value: best(bare) / best(plain) });
    emit({ bench: 'engine', arch, metric: 'machine_default_mips', value: mips(best(guarded)) });
    emit({ bench: 'engine', arch, metric: 'machine_default_over_bare', value: best(bare) / best(guarded) });

    const loads = assemble(arch, LOAD_LOOP[arch]);
    const loadBare: number[] = [];
    const loadPlain: number[] = [];
    const loadExact: number[] = [];
    for (let i = 0; i < options.repeats; i++) {
      loadBare.push(bareSeconds(arch, loads));
      loadPlain.push(await machineSeconds(arch, loads, { budget: null, timeoutMs: null, exactFaultPc: false }));
      loadExact.push(await machineSeconds(arch, loads, {}));
    }
    const loadMips = (s: number) => LOAD_LOOP_INSNS / s / 1e6;
    emit({ bench: 'engine', arch, metric: 'loads_bare_mips', value: loadMips(best(loadBare)) });
    emit({ bench: 'engine', arch, metric: 'loads_machine_over_bare', value: best(loadBare) / best(loadPlain) });
    emit({ bench: 'engine', arch, metric: 'loads_machine_default_over_bare', value: best(loadBare) / best(loadExact) });

    // Unicorn 2.0.1 sends every guest store through its slow path; the native helper takes the
    // page-collection allocations out of it and marks data pages dirty after their first
    // store. Unpatched: libunicorn loaded before the helper, in a process of its own.
    const stores = assemble(arch, STORE_LOOP[arch]);
    const storeBare: number[] = [];
    const storeUnpatched: number[] = [];
    for (let i = 0; i < options.repeats; i++) {
      storeBare.push(bareSeconds(arch, stores, { dataPage: true }));
      storeUnpatched.push(unpatchedSeconds(arch, stores));
    }
    const storeMips = (s: number) => STORE_LOOP_INSNS / s / 1e6;
    emit({ bench: 'engine', arch, metric: 'stores_bare_mips', value: storeMips(best(storeBare)) });
    emit({ bench: 'engine', arch, metric: 'stores_unpatched_unicorn_mips', value: storeMips(best(storeUnpatched)) });

    const m = await Machine.create({ arch });
    const text = m.map('text', 0x10000, PROT_READ | PROT_EXEC);
    m.writeBytes(text.address, assemble(arch, HOST_LOOP[arch]));
    let calls = 0;
    const host = m.addHostFunction('tick', 1, () => {
      calls++;
      return 0;
    });
    const trips = 200_000;
    m.call(text.address, [host, 1000]);
    const rates: number[] = [];
    for (let i = 0; i < options.repeats; i++) {
      const t0 = performance.now();
      m.call(text.address, [host, trips]);
      rates.push(trips / ((performance.now() - t0) / 1000));
    }
    m.close();
    if (calls !== 1000 + trips * options.repeats) throw new Error(`host function ran ${calls} times`);
    emit({ bench: 'engine', arch, metric: 'guest_host_round_trips_per_s', value: Math.max(...rates) });
  }
}
