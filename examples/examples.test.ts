import test from 'ava';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  ARCHES, EXAMPLES_DIR, EXAMPLE_NAMES, ExampleError, compileExample, exampleFiles, renderGc, runCommittedExample, runExample,
} from './harness.ts';

test('every example folder is listed, and every listed example has its files', (t) => {
  const dirs = readdirSync(EXAMPLES_DIR).filter((d) => statSync(join(EXAMPLES_DIR, d)).isDirectory()).sort();
  // sandbox-c is native C code, not a Wasm module: it has its own test beside it.
  t.deepEqual(dirs.filter((d) => d !== 'sandbox-c'), [...EXAMPLE_NAMES].sort());
  t.true(EXAMPLE_NAMES.length >= 8);
  for (const name of EXAMPLE_NAMES) {
    const f = exampleFiles(name);
    for (const path of [f.wat, join(f.dir, 'run.ts'), join(f.dir, 'README.md'), ...ARCHES.flatMap((a) => [f.image(a), f.expected(a)])]) {
      t.true(existsSync(path), path);
    }
    const readme = readFileSync(join(f.dir, 'README.md'), 'utf8');
    t.regex(readme, /## What it teaches/, `${name}/README.md`);
    t.regex(readme, /## Run it/, `${name}/README.md`);
    t.regex(readme, /## What you will see/, `${name}/README.md`);
  }
});

for (const name of EXAMPLE_NAMES) {
  for (const arch of ARCHES) {
    test(`${name} on ${arch}: the committed image is what the compiler makes of the .wat`, async (t) => {
      const fresh = await compileExample(name, arch);
      const committed = readFileSync(exampleFiles(name).image(arch));
      t.true(Buffer.from(fresh).equals(committed), `${name}.${arch}.o is stale: run npm run examples`);
    });

    test(`${name} on ${arch}: running the committed image prints the committed output`, async (t) => {
      const output = await runCommittedExample(name, arch);
      const expected = readFileSync(exampleFiles(name).expected(arch), 'utf8');
      t.is(output, expected, `expected.${arch}.txt differs: run npm run examples and review the diff`);
    });
  }
}

test('a damaged image or an unknown example is a typed error', async (t) => {
  t.throws(() => exampleFiles('no-such-example'), { instanceOf: ExampleError });
  const image = Uint8Array.from(readFileSync(exampleFiles('fib').image('x64')));
  await t.throwsAsync(runExample('fib', 'aarch64', image), { message: /image is for x64/ });
  t.throws(() => renderGc(undefined), { instanceOf: ExampleError });
});
