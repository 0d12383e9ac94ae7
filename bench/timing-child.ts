/**
 * bench/timing's ALU-loop speed measurement in a process of its own (see PROCESSES there):
 * `node --import tsx bench/timing-child.ts ARCH REPEATS` prints one JSON object of seconds.
 */
import { parseArch } from '../isa/arch.ts';
import { aluLoopSeconds } from './timing.ts';

const arch = parseArch(process.argv[2] ?? '');
const repeats = Number(process.argv[3]);
if (!arch || !Number.isInteger(repeats) || repeats < 1) {
  process.stderr.write('usage: node --import tsx bench/timing-child.ts x64|aarch64 REPEATS\n');
  process.exit(2);
}
process.stdout.write(JSON.stringify(await aluLoopSeconds(arch, repeats)) + '\n');
