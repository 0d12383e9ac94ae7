import test from 'ava';
import { readFileSync } from 'node:fs';
import { ARCHES } from '../../isa/arch.ts';
import { compile } from '../../sandbox/testing.ts';
import { runSandboxExample } from './run.ts';

const dir = new URL('./', import.meta.url);
const source = readFileSync(new URL('parser.c', dir), 'utf8');

for (const arch of ARCHES) {
  test(`sandbox-c on ${arch}: the committed object, and fresh gcc and clang builds, print expected.${arch}.txt`, async (t) => {
    const expected = readFileSync(new URL(`expected.${arch}.txt`, dir), 'utf8');
    const file = new URL(`parser.${arch}.o`, dir).pathname;
    t.is(await runSandboxExample(arch, { file, bytes: new Uint8Array(readFileSync(file)) }), expected);
    for (const cc of ['gcc', 'clang'] as const) {
      for (const opt of ['-O0', '-O2']) {
        t.is(await runSandboxExample(arch, compile(arch, cc, source, [opt])), expected, `${cc} ${opt}`);
      }
    }
  });
}
