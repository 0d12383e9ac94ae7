import test from 'ava';
import { fuzzInputs } from './inputs.ts';

// The CI share of `npm run fuzz:inputs`: a fixed seed, both arches, every case kind.
test('2,000 mutated ELF objects, Wasm binaries and WAT texts end in success or a typed error, none hangs past 5 s', async (t) => {
  const summary = await fuzzInputs({ count: 2_000, seed: 0x14, log: (line) => t.log(line) });
  t.log(JSON.stringify(summary.outcomes), `${summary.seconds.toFixed(0)} s`);
  t.deepEqual(summary.failures, []);
  // The mutations reach deep checks of every stage, and some inputs still run.
  const kinds = Object.keys(summary.outcomes);
  t.true((summary.outcomes.ok ?? 0) > 0);
  t.true(kinds.filter((k) => k.startsWith('LoaderError')).length >= 5, kinds.join(' '));
  t.true(kinds.filter((k) => k.startsWith('CompileError')).length >= 3, kinds.join(' '));
});
