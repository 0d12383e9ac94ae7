/**
 * Bare runs on Debian's Unicorn 2.0.1 as it runs by itself: libunicorn is loaded before
 * stackscope's native helper, so the helper's replacements on the store path
 * (simulator/native/stackscope_hooks.c) cannot take effect.
 *
 *   node --import tsx bench/unpatched-child.ts ARCH loop CODE_HEX        (bench/engine)
 *   node --import tsx bench/unpatched-child.ts ARCH kernels OBJECT.o     (bench/timing)
 *
 * prints the timed run's seconds (wall time for `loop`, CPU time for `kernels`; bench/bare.ts: bareSeconds with a data page, or
 * bareCallSeconds on bench/workloads/kernels.c's run_kernels).
 */
import { readFileSync } from 'node:fs';
import koffi from 'koffi';
import { parseArch } from '../isa/arch.ts';

// Kept referenced to the end: a collected handle would unload the library again.
const unicorn = koffi.load('libunicorn.so.2');
const { bareCallSeconds, bareSeconds } = await import('./bare.ts');
const { pageCollectionsReplaced } = await import('../simulator/unicorn.ts');
const { link } = await import('../loader/link.ts');
const { KERNEL_ROUNDS, KERNEL_SEED } = await import('./timing.ts');

const [archText = '', what = '', payload = ''] = process.argv.slice(2);
const arch = parseArch(archText);
if (!arch || !['loop', 'kernels'].includes(what) || payload === '') {
  process.stderr.write('usage: node --import tsx bench/unpatched-child.ts x64|aarch64 loop CODE_HEX | kernels OBJECT.o\n');
  process.exit(2);
}
let seconds: number;
if (what === 'loop') {
  seconds = bareSeconds(arch, Buffer.from(payload, 'hex'), { dataPage: true });
} else {
  // bench/timing times by CPU time (bench/clock.ts), and so does its unpatched comparison.
  (await import('./clock.ts')).useCpuClock();
  const image = link([{ file: payload, bytes: readFileSync(payload) }]);
  const entry = image.globals.get('run_kernels');
  if (!entry) throw new Error(`${payload} defines no run_kernels`);
  seconds = bareCallSeconds(image, entry.address, [1n, KERNEL_SEED], [KERNEL_ROUNDS, KERNEL_SEED]).seconds;
}
if (pageCollectionsReplaced() !== 0n) throw new Error('the helper\'s replacement took effect: this run is not unpatched');
process.stdout.write(`${seconds}\n`);
unicorn.unload();
