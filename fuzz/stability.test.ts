/**
 * A seed's program is pinned: the mutation table's programs-to-kill (docs/fuzzing.md §5) and a
 * long campaign's seed plan name programs by seed, so the generator, the model that bounds it
 * and the binary encoding must give the same program, binary and expected trace for a seed as
 * when those were measured. Speed work on the generator, the model or the encoder keeps these
 * hashes; a deliberate change to what a seed gives updates them and re-measures §5.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { generateProgram, type GeneratorOptions } from './generate.ts';
import { encodeProgram } from './encode.ts';
import { modelOf } from './model.ts';
import { printWat } from './program.ts';

const SEEDS = 150;

/** sha256 over seeds 1..SEEDS: the program, its binary, its WAT and its model's trace, objects and holders. */
function fingerprint(options: GeneratorOptions): string {
  const h = createHash('sha256');
  for (let seed = 1; seed <= SEEDS; seed++) {
    const p = generateProgram(seed, options);
    h.update(JSON.stringify(p)).update(encodeProgram(p)).update(printWat(p));
    const m = modelOf(p);
    h.update(JSON.stringify([m.trace, m.events, m.objects, m.heldAt, [...m.heldAtEnd], m.onStacksAtEnd ? [...m.onStacksAtEnd] : null, m.poolHeld, m.trap, m.steps]));
  }
  return h.digest('hex');
}

const PINNED: Array<[string, GeneratorOptions, string]> = [
  ['default (50 ops)', {}, '969b05973a3a3e02a68f9506fc723160c257d4819734187e7d0aa3666031dbd8'],
  ['200 ops', { ops: 200 }, 'd4e3eb72144665166107f888731f2d3f06193d3b4339b1e357227eda7c49c555'],
  ['tail calls + several results', { tailCalls: true, multiResults: true }, '2bf900cc35b891ebf85a9667d909ec79a457d338b3f9aebf6f50f170211e48a5'],
  ['GC objects (v31)', { gcObjects: true }, 'f73312567363185b3c55dc0e8a2e10fedb75252137f1c6849b30cbc51904d620'],
  ['stack switching (v44)', { stackSwitching: true }, '54112e8a30bd23ff396a6fabff68f7f43a612ff4aebc1a996b908c1655c9443e'],
  ['stack switching + tail calls + several results', { stackSwitching: true, tailCalls: true, multiResults: true }, 'b5ab1cd87abcbb04df99e2dd21495949669af344748687aec4d5479e7ebd7193'],
];

for (const [name, options, hash] of PINNED) {
  test(`stability: seeds 1-${SEEDS} give the programs they gave (${name})`, (t) => {
    t.is(fingerprint(options), hash);
  });
}
