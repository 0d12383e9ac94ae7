/**
 * Golden `--print` listings under compiler/testdata/, one per arch and register-allocation
 * mode (`golden.<arch>.txt` for none, `golden.linear-scan.<arch>.txt`), diffed line by line.
 * Regenerate after reviewing a deliberate change with STACKSCOPE_UPDATE_GOLDEN=1. The command
 * that prints them, `stackscope compile --print`, is tested in cli/compile.test.ts.
 */
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compileModule, REGALLOC_MODES } from './index.ts';
import { formatListing } from './listing.ts';
import { watModule } from './testing.ts';

const dir = fileURLToPath(new URL('./testdata/', import.meta.url));

for (const regalloc of REGALLOC_MODES) for (const arch of ['x64', 'aarch64'] as const) {
  const name = regalloc === 'none' ? arch : `${regalloc}.${arch}`;
  test(`golden listing of testdata/golden.wat (${name})`, async (t) => {
    const module = await watModule(readFileSync(dir + 'golden.wat', 'utf8'));
    const listing = formatListing(compileModule(module, { arch, regalloc }), module).join('\n') + '\n';
    const path = `${dir}golden.${name}.txt`;
    if (process.env.STACKSCOPE_UPDATE_GOLDEN === '1') writeFileSync(path, listing);
    const want = readFileSync(path, 'utf8');
    const got = listing.split('\n');
    const diff = want.split('\n').flatMap((line, i) => (line === got[i] ? [] : [`line ${i + 1}: want ${line}\n         got  ${got[i]}`]));
    t.deepEqual(diff.slice(0, 5), []);
    t.is(got.length, want.split('\n').length);
  });
}
