/**
 * `stackscope compile`: --print, -o and --json over compiler/testdata/golden.wat (whose listing
 * compiler/listing.test.ts checks line by line), and the exit code of unsupported input.
 */
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileCommand } from './commands/compile.ts';
import { captureOutput } from './output.ts';
import { scratchDir } from './testing.ts';

const dir = fileURLToPath(new URL('../compiler/testdata/', import.meta.url));
const scratch = scratchDir('compile-');

for (const arch of ['x64', 'aarch64'] as const) {
  test(`stackscope compile --print and -o (${arch})`, async (t) => {
    const out = captureOutput();
    const obj = join(scratch, `golden-${arch}.o`);
    t.is(await compileCommand([dir + 'golden.wat', '--arch', arch, '--print', '-o', obj], out), 0);
    t.true(out.stdout.some((l) => l.includes('; safepoint call-import 0')));
    t.is(readFileSync(obj)[0], 0x7f);
    const json = captureOutput();
    t.is(await compileCommand([dir + 'golden.wat', '--arch', arch, '--json'], json), 0);
    const summary = JSON.parse(json.stdout[0]) as { functions: unknown[]; stackMaps: unknown[] };
    t.is(summary.functions.length, 4);
    t.true(summary.stackMaps.length >= 2);
  });
}

test('stackscope compile reports unsupported input with its location and exit code 2', async (t) => {
  const out = captureOutput();
  const bad = join(scratch, 'bad.wat');
  // A tail call whose callee needs stack arguments the caller did not receive (x64: 7 + 2 > 6 registers).
  writeFileSync(bad, '(module (func $f (param i64 i64 i64 i64 i64 i64 i64)) (func (return_call $f (i64.const 0) (i64.const 1) (i64.const 2) (i64.const 3) (i64.const 4) (i64.const 5) (i64.const 6))))');
  t.is(await compileCommand([bad, '--arch', 'x64', '--print'], out), 2);
  t.regex(out.stderr.join('\n'), /unsupported error: return_call: the callee takes 3 stack-argument word\(s\), this function received 0.*function 1/);
  await t.throwsAsync(() => compileCommand([bad], captureOutput()), { message: /--arch/ });
});
