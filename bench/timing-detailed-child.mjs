/**
 * bench/timing's detailed-mode speed, measured on the compiled package (dist/: what the CLI and
 * the package's users run) in a plain `node` process of its own — the bench itself runs its
 * TypeScript under the tsx loader, whose CommonJS hooks slow this path by 10–20 % (measured:
 * docs/cycle-model.md, *Speed*). JavaScript, not TypeScript, for that reason.
 *
 * `node bench/timing-detailed-child.mjs ARCH REPEATS DIR [UARCH]`: DIR holds `alu.bin` (the ALU
 * loop's code), `load.bin` (the load loop's) and `kernels.o` (bench/workloads/kernels.c for
 * ARCH); prints one JSON object of the best MIPS (process CPU time) over REPEATS runs of each.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadObjects } from '../dist/loader/sandbox.js';
import { PROT_EXEC, PROT_READ } from '../dist/simulator/engine.js';
import { Machine } from '../dist/simulator/machine.js';

const [arch, repeatsText, dir, uarch] = process.argv.slice(2);
const repeats = Number(repeatsText);
if ((arch !== 'x64' && arch !== 'aarch64') || !Number.isInteger(repeats) || repeats < 1 || !dir) {
  process.stderr.write('usage: node bench/timing-detailed-child.mjs x64|aarch64 REPEATS DIR [UARCH]\n');
  process.exit(2);
}
const TIMED = { exactFaultPc: false, timeoutMs: null };
const KERNEL_ROUNDS = 6n;
const KERNEL_SEED = 7n;

const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const cycles = (options) => ({ mode: 'detailed', ...(uarch ? { uarch } : {}), ...options });

/** A loop at 0x10000: one untimed call (translation), one timed; MIPS of the timed call. */
async function loop(code, options) {
  const m = await Machine.create({ arch, ...TIMED, cycles: cycles(options) });
  try {
    const text = m.map('text', 0x10000, PROT_READ | PROT_EXEC);
    m.writeBytes(text.address, code);
    m.call(text.address, []);
    const t0 = cpuSeconds();
    m.call(text.address);
    return Number(m.instructionsExecuted()) / (cpuSeconds() - t0) / 1e6;
  } finally {
    m.close();
  }
}

/** The compiled C kernels through the loader: one round untimed, KERNEL_ROUNDS timed. */
async function kernels(object) {
  const m = await Machine.create({ arch, ...TIMED, cycles: cycles({}) });
  try {
    const program = loadObjects(m, [{ file: `kernels.${arch}.o`, bytes: object }]);
    program.call('run_kernels', [1n, KERNEL_SEED]);
    const t0 = cpuSeconds();
    program.call('run_kernels', [KERNEL_ROUNDS, KERNEL_SEED]);
    return Number(m.instructionsExecuted()) / (cpuSeconds() - t0) / 1e6;
  } finally {
    m.close();
  }
}

const alu = readFileSync(join(dir, 'alu.bin'));
const load = readFileSync(join(dir, 'load.bin'));
const object = readFileSync(join(dir, 'kernels.o'));
const best = { detailed: 0, detailedCaches: 0, detailedLoads: 0, detailedKernels: 0 };
for (let i = 0; i < repeats; i++) {
  best.detailed = Math.max(best.detailed, await loop(alu, { caches: false }));
  best.detailedCaches = Math.max(best.detailedCaches, await loop(alu, {}));
  best.detailedLoads = Math.max(best.detailedLoads, await loop(load, {}));
  best.detailedKernels = Math.max(best.detailedKernels, await kernels(object));
}
process.stdout.write(JSON.stringify(best) + '\n');
