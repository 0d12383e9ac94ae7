/**
 * `stackscope compile`: --print, -o and --json over compiler/testdata/golden.wat (whose listing
 * compiler/listing.test.ts checks line by line), and the exit code of unsupported input.
 */
import test from 'ava';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileCommand } from './commands/compile.ts';
import { captureOutput } from './output.ts';

const dir = fileURLToPath(new URL('../compiler/testdata/', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'stackscope-compile-'));

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
  writeFileSync(bad, '(module (func (result i32 i32) (i32.const 1) (i32.const 2)))');
  t.is(await compileCommand([bad, '--arch', 'x64', '--print'], out), 2);
  t.regex(out.stderr.join('\n'), /unsupported error: .*more than one result.*function 0/);
  await t.throwsAsync(() => compileCommand([bad], captureOutput()), { message: /--arch/ });
});
