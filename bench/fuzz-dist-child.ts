/**
 * bench/fuzz's rates through the built package (dist/), in a process of their own (see
 * `distRates` in bench/fuzz.ts):
 *
 *   node --import tsx bench/fuzz-dist-child.ts ARCH REPEATS
 *
 * prints `{"cold":…,"steady":…}`: programs per CPU-second, first 300 and steady state.
 */
import { parseArch } from '../isa/arch.ts';
import { distRates } from './fuzz.ts';

const [archText = '', repeatsText = '1'] = process.argv.slice(2);
const arch = parseArch(archText);
const repeats = Number(repeatsText);
if (!arch || !Number.isInteger(repeats) || repeats < 1) {
  process.stderr.write('usage: node --import tsx bench/fuzz-dist-child.ts x64|aarch64 REPEATS\n');
  process.exit(2);
}
process.stdout.write(JSON.stringify(await distRates(arch, repeats)) + '\n');
