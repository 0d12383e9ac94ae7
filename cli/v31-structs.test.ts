/**
 * The GC proposal from the command line under --profile v31 (docs/gc.md §7.2): `run` of a
 * struct-built list, `gc --explain` showing structs and arrays with their fields, the cycle DRC
 * leaks, the traps, and --profile v17 refusing GC code by name (exit 2).
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { cli } from './testing.ts';

const FILE = 'cli/testdata/v31-structs.wat';

for (const arch of ['x64', 'aarch64'] as const) {
  test(`${arch}: gc --profile v31 --explain shows structs and arrays with their types, lengths and reference fields`, async (t) => {
    const r = await cli('gc', FILE, '--invoke', 'hold', '5', '--arch', arch, '--profile', 'v31', '--explain');
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /^hold\(5\) = 15\n/);
    t.regex(r.stdout, /= 0x20 +StructRef type \d+ \(struct \(mut \(ref null 0\)\) i32\), 24 bytes, count 1, ref fields 0x8\n/);
    t.regex(r.stdout, /= 0x38 +ArrayRef type \d+ \(array \(mut i8\)\), 30 bytes, length 10, count 1\n/);
    t.regex(r.stdout, /over-approximated \{0x20, 0x38\}/);
    t.regex(r.stdout, /Freed: nothing/);
    if (arch === 'x64') {
      const doc = readFileSync(new URL('../docs/gc.md', import.meta.url), 'utf8');
      const block = doc.slice(doc.indexOf('### 7.2 Structs and arrays')).split('```text\n')[1].split('\n```')[0];
      t.is(block, `$ stackscope gc ${FILE} --invoke hold 5 --profile v31 --explain\n${r.stdout.replace(/\n$/, '')}`, 'docs/gc.md §7.2 shows exactly what gc prints');
    }
    const cycle = await cli('gc', FILE, '--invoke', 'cycle', '--arch', arch, '--profile', 'v31', '--explain');
    t.is(cycle.code, 0, cycle.stderr);
    t.regex(cycle.stdout, /2 live objects before, 2 after/);
    t.regex(cycle.stdout, /Freed: nothing/);
  });

  test(`${arch}: explain --profile v31 names the struct and array objects a frame holds`, async (t) => {
    const r = await cli('explain', FILE, '--arch', arch, '--profile', 'v31', '--at', 'hold', '--nth', '4', '--invoke', 'hold', '5');
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /local 2 +i32 @sp\+\d+ = 0x38 ArrayRef \(array \(mut i8\)\), 30 bytes, length 10, count 1/);
    t.regex(r.stdout, /local 1 +i32 @sp\+\d+ = 0x20 StructRef \(struct \(mut \(ref null 0\)\) i32\), 24 bytes, count 1/);
  });

  test(`${arch}: run --profile v31 runs GC code; a trap exits 1 with v31's code; --profile v17 refuses it (exit 2)`, async (t) => {
    const r = await cli('run', FILE, '--invoke', 'hold', '7', '--arch', arch, '--profile', 'v31');
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /^result: 17 \(i32\)\n/);
    const trap = await cli('run', FILE, '--invoke', 'oob', '--arch', arch, '--profile', 'v31');
    t.is(trap.code, 1);
    t.regex(trap.stdout, /^trap: ArrayOutOfBounds at 0x[0-9a-f]+: [^\n]*\n  out of bounds array access[\s\S]*#0 0x[0-9a-f]+ v31-structs\.wat!oob\+0x/);
    const v17 = await cli('run', FILE, '--invoke', 'hold', '7', '--arch', arch);
    t.is(v17.code, 2);
    t.regex(v17.stderr, /needs the GC proposal, which profile v17 does not have/);
  });
}
