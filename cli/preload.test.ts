/**
 * `run --preload NAME=FILE` (v31 and v44 runs): modules linked before the main one, their
 * exports — a tag among them under v44 — satisfying its imports, on both arches, and the usage
 * errors (exit 2) for a missing or mistyped link, a malformed flag and the runs it does not apply to.
 */
import test from 'ava';
import { ARCHES } from '../isa/arch.ts';
import { cli, scratchFile } from './testing.ts';

const CONSUMER = 'cli/testdata/tag-consumer.wat';
const PRODUCER = 'cli/testdata/tag-producer.wat';

for (const arch of ARCHES) {
  test(`${arch}: a suspend in a preloaded module is handled by the main module's resume through the tag it imported`, async (t) => {
    const r = await cli('run', CONSUMER, '--profile', 'v44', '--arch', arch, '--preload', `p=${PRODUCER}`, '--invoke', 'consume');
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /^print_i32: 7\nprint_i32: 8\nprint_i32: 9\nresult: 124 \(i32\)\ninstructions: \d+/);
  });
}

test('--preload refusals are usage errors naming the import or the flag', async (t) => {
  const missing = await cli('run', CONSUMER, '--profile', 'v44', '--invoke', 'consume');
  t.is(missing.code, 2);
  t.regex(missing.stderr, /import "p" "produce" \(func\) is not a host import stackscope provides .*--preload NAME=FILE/);
  const wrongTag = scratchFile('wrong-tag.wat', `(module
  (tag $yield (export "yield") (param i64))
  (func (export "produce") (result i32) (i32.const 1)))`);
  const mistyped = await cli('run', CONSUMER, '--profile', 'v44', '--preload', `p=${wrongTag}`, '--invoke', 'consume');
  t.not(mistyped.code, 0);
  t.regex(mistyped.stderr, /incompatible tag types: the tag is \(i64\) -> \(\), the import wants \(i32\) -> \(\)/);
  const malformed = await cli('run', CONSUMER, '--profile', 'v44', '--preload', PRODUCER);
  t.is(malformed.code, 2);
  t.regex(malformed.stderr, /--preload .*expected NAME=FILE/);
  const v17 = await cli('run', 'cli/testdata/teaching.wat', '--preload', `p=${PRODUCER}`);
  t.is(v17.code, 2);
  t.regex(v17.stderr, /--preload links modules in v31 and v44 runs/);
  const twice = await cli('run', CONSUMER, '--profile', 'v44', '--preload', `p=${PRODUCER}`, '--preload', `p=${PRODUCER}`, '--invoke', 'consume');
  t.is(twice.code, 2);
  t.regex(twice.stderr, /preload p.*two preloaded modules/);
});

test('layout --profile v44 of a module counts its imported and defined tags as --counts does', async (t) => {
  const fromModule = await cli('layout', CONSUMER, '--profile', 'v44', '--json');
  const fromCounts = await cli('layout', '--profile', 'v44', '--json', '--counts', 'num_imported_functions=2,num_imported_tags=1,num_escaped_funcs=2');
  t.is(fromModule.code, 0, fromModule.stderr);
  const a = JSON.parse(fromModule.stdout);
  t.deepEqual(a, JSON.parse(fromCounts.stdout));
  t.deepEqual(a.regions.find((r: { name: string }) => r.name === 'imported_tags'), { name: 'imported_tags', offset: 96, size: 24 });
  const producer = JSON.parse((await cli('layout', PRODUCER, '--profile', 'v44', '--json')).stdout);
  t.deepEqual(producer.regions.find((r: { name: string }) => r.name === 'defined_tags'), { name: 'defined_tags', offset: 48, size: 4 });
});
