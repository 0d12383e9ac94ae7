/**
 * bench/timing's fast-mode speed measurement in a process of its own (see PROCESSES there):
 * `node --import tsx bench/timing-child.ts ARCH REPEATS KERNELS.o` prints one JSON object of
 * best seconds.
 */
import { parseArch } from '../isa/arch.ts';
import { useCpuClock } from './clock.ts';
import { fastModeSeconds } from './timing.ts';

const arch = parseArch(process.argv[2] ?? '');
const repeats = Number(process.argv[3]);
const kernels = process.argv[4];
if (!arch || !Number.isInteger(repeats) || repeats < 1 || !kernels) {
  process.stderr.write('usage: node --import tsx bench/timing-child.ts x64|aarch64 REPEATS KERNELS.o\n');
  process.exit(2);
}
useCpuClock();
process.stdout.write(JSON.stringify(await fastModeSeconds(arch, repeats, kernels)) + '\n');
