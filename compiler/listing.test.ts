/**
 * Golden `--print` listings under compiler/testdata/, one per arch, diffed line by line.
 * Regenerate after reviewing a deliberate change with STACKSCOPE_UPDATE_GOLDEN=1. The command
 * that prints them, `stackscope compile --print`, is tested in cli/compile.test.ts.
 */
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compileModule } from './index.ts';
import { formatListing } from './listing.ts';
import { watModule } from './testing.ts';

const dir = fileURLToPath(new URL('./testdata/', import.meta.url));

for (const arch of ['x64', 'aarch64'] as const) {
  test(`golden listing of testdata/golden.wat (${arch})`, async (t) => {
    const module = await watModule(readFileSync(dir + 'golden.wat', 'utf8'));
    const listing = formatListing(compileModule(module, { arch }), module).join('\n') + '\n';
    const path = `${dir}golden.${arch}.txt`;
    if (process.env.STACKSCOPE_UPDATE_GOLDEN === '1') writeFileSync(path, listing);
    const want = readFileSync(path, 'utf8');
    const got = listing.split('\n');
    const diff = want.split('\n').flatMap((line, i) => (line === got[i] ? [] : [`line ${i + 1}: want ${line}\n         got  ${got[i]}`]));
    t.deepEqual(diff.slice(0, 5), []);
    t.is(got.length, want.split('\n').length);
  });
}
