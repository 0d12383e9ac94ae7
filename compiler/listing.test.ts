/**
 * Golden `--print` listings under compiler/testdata/, one per arch and register-allocation
 * mode (`golden.<arch>.txt` for none, `golden.linear-scan.<arch>.txt`), diffed line by line.
 * Regenerate after reviewing a deliberate change with STACKSCOPE_UPDATE_GOLDEN=1. The command
 * that prints them, `stackscope compile --print`, is tested in cli/compile.test.ts.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compileModule, REGALLOC_MODES } from './index.ts';
import { formatListing } from './listing.ts';
import { goldenDiff, watModule } from './testing.ts';

const dir = fileURLToPath(new URL('./testdata/', import.meta.url));

for (const regalloc of REGALLOC_MODES) for (const arch of ['x64', 'aarch64'] as const) {
  const name = regalloc === 'none' ? arch : `${regalloc}.${arch}`;
  test(`golden listing of testdata/golden.wat (${name})`, async (t) => {
    const module = await watModule(readFileSync(dir + 'golden.wat', 'utf8'));
    const listing = formatListing(compileModule(module, { arch, regalloc }), module).join('\n') + '\n';
    const { diff, wantLines, gotLines } = goldenDiff(`${dir}golden.${name}.txt`, listing);
    t.deepEqual(diff, []);
    t.is(gotLines, wantLines);
  });
}
