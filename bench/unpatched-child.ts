/**
 * bench/engine's baseline for guest stores as Debian's Unicorn 2.0.1 runs them on its own:
 * libunicorn is loaded before stackscope's native helper, so the helper's page-collection
 * replacement (simulator/native/stackscope_hooks.c) cannot take effect.
 * `node --import tsx bench/unpatched-child.ts ARCH CODE_HEX` prints the bare run's seconds.
 */
import koffi from 'koffi';
import { parseArch } from '../isa/arch.ts';

// Kept referenced to the end: a collected handle would unload the library again.
const unicorn = koffi.load('libunicorn.so.2');
const { bareSeconds } = await import('./bare.ts');
const { pageCollectionsReplaced } = await import('../simulator/unicorn.ts');

const arch = parseArch(process.argv[2] ?? '');
const code = Buffer.from(process.argv[3] ?? '', 'hex');
if (!arch || code.length === 0) {
  process.stderr.write('usage: node --import tsx bench/unpatched-child.ts x64|aarch64 CODE_HEX\n');
  process.exit(2);
}
const seconds = bareSeconds(arch, code, { dataPage: true });
if (pageCollectionsReplaced() !== 0n) throw new Error('the helper\'s replacement took effect: this run is not unpatched');
process.stdout.write(`${seconds}\n`);
unicorn.unload();
