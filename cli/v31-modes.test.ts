/**
 * `run --profile v31` in the modes a v17 run has, on both arches: several results, and (below)
 * `--trace`, `--cycles`, `--html` and `demo --profile v31`.
 */
import test from 'ava';
import { ARCHES } from '../isa/arch.ts';
import { cli } from './testing.ts';

for (const arch of ARCHES) {
  test(`${arch}: run --profile v31 prints every result of a function with several, in text and JSON`, async (t) => {
    const r = await cli('run', 'cli/testdata/multi-value.wat', '--profile', 'v31', '--arch', arch, '--invoke', 'check', '17', '5');
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /^results: 3 \(i32\), 2 \(i32\), 17 \(i64\)\ninstructions: \d+\n?$/);
    const j = await cli('run', 'cli/testdata/multi-value.wat', '--profile', 'v31', '--arch', arch, '--json', '--invoke', 'dup', '-9');
    t.is(j.code, 0, j.stderr);
    t.deepEqual(JSON.parse(j.stdout).result, [{ type: 'i64', value: '-9' }, { type: 'i64', value: '-9' }]);
  });
}
