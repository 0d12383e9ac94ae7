/**
 * The .wast runner: the script reader, every command kind on both arches and in both
 * register-allocation modes, failures reported at their lines, SIMD skipped and nothing else,
 * and the `stackscope wast` command's output and exit codes.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { main } from '../cli/main.ts';
import { captureOutput } from '../cli/output.ts';
import { ARCHES } from '../runtime/testing.ts';
import { parseIntText, parseWast, readSExprs, runWast, WastSyntaxError } from './index.ts';

const script = (name: string) => readFileSync(new URL(`testdata/${name}`, import.meta.url), 'utf8');
const path = (name: string) => new URL(`testdata/${name}`, import.meta.url).pathname;

async function cli(...argv: string[]) {
  const out = captureOutput();
  const code = await main(argv, out);
  return { code, stdout: out.stdout.join('\n'), stderr: out.stderr.join('\n') };
}

test('the reader keeps strings as bytes (escapes, \\u{…}, UTF-8, a leading U+FEFF) and skips both comment forms', (t) => {
  const [list] = readSExprs('(a "\\00\\ff\\n\\u{1F600}é" (; block (; nested ;) ;) ;; line\n "\\ef\\bb\\bfx")');
  t.is(list.kind, 'list');
  if (list.kind !== 'list') return;
  t.deepEqual(list.items.map((i) => i.kind), ['atom', 'string', 'string']);
  const s = list.items[1];
  if (s.kind === 'string') t.deepEqual([...s.bytes], [0x00, 0xff, 0x0a, 0xf0, 0x9f, 0x98, 0x80, 0xc3, 0xa9]);
  const [register] = parseWast('(register "\\ef\\bb\\bfname")');
  t.is(register.kind === 'register' ? register.as : '', '\u{feff}name');
});

test('integer literals: signed, unsigned, hex and separators, range-checked per width', (t) => {
  t.is(parseIntText('-1', 32), 0xffffffffn);
  t.is(parseIntText('0xffff_ffff', 32), 0xffffffffn);
  t.is(parseIntText('-0x8000_0000', 32), 0x80000000n);
  t.is(parseIntText('4294967296', 32), undefined);
  t.is(parseIntText('-9223372036854775808', 64), 1n << 63n);
  t.is(parseIntText('1__0', 32), undefined);
});

test('unreadable scripts are a WastSyntaxError at the line and column', (t) => {
  const cases: [string, RegExp][] = [
    ['(module\n  (func)', /^s\.wast:1:1: unclosed "\("/],
    ['(module)\n)', /^s\.wast:2:1: unbalanced "\)"/],
    ['(module)\n  (assert_bogus (invoke "f"))', /^s\.wast:2:3: unknown command 'assert_bogus'/],
    ['(assert_return (invoke "f" (i32.const 1.5)))', /^s\.wast:1:28: bad i32\.const literal 1\.5/],
    ['(module "unterminated)', /unclosed string/],
    ['(module)\n(; open (; nested ;)', /^s\.wast:2:1: unclosed block comment/],
  ];
  for (const [text, pattern] of cases) {
    const e = t.throws(() => parseWast(text, 's.wast'));
    t.true(e instanceof WastSyntaxError, String(e));
    t.regex(e!.message, pattern);
  }
});

test('a script of module fields alone is one inline module', async (t) => {
  const r = await runWast('(func (export "f"))\n(memory 1)', { arch: 'x64' });
  t.deepEqual([r.passed, r.failed, r.skipped], [1, 0, 0]);
});

for (const arch of ARCHES) {
  for (const regalloc of ['none', 'linear-scan'] as const) {
    test(`${arch}, ${regalloc}: every command kind passes (modules, register, invoke, get, each assertion)`, async (t) => {
      const printed: string[] = [];
      const r = await runWast(script('commands.wast'), { arch, regalloc, file: 'commands.wast', print: (l) => printed.push(l) });
      t.deepEqual(r.outcomes.filter((o) => o.status !== 'passed'), []);
      t.is(r.passed, 32);
      t.deepEqual(printed, ['1 : i32']);
    });
  }

  test(`${arch}: each wrong assertion fails at its own line, saying what was expected and what happened`, async (t) => {
    const r = await runWast(script('failing.wast'), { arch, file: 'failing.wast' });
    t.is(r.passed, 1); // the module
    t.deepEqual(r.outcomes.filter((o) => o.status === 'failed').map((o) => [o.line, o.command]), [
      [7, 'assert_return'], [8, 'assert_return'], [9, 'assert_trap'], [10, 'assert_return'], [11, 'assert_invalid'],
      [12, 'assert_malformed'], [13, 'assert_unlinkable'], [14, 'assert_return'], [15, 'module'], [16, 'assert_return'],
    ]);
    const detail = (line: number) => r.outcomes.find((o) => o.line === line)?.detail ?? '';
    t.regex(detail(7), /expected \(i32\.const 0x2\), got \(i32\.const 0x1\)/);
    t.regex(detail(8), /nan:arithmetic.*0x7f800001/);
    t.regex(detail(14), /expected \(i64\.const 0x1\), got \(i32\.const 0x1\)/);
    // A module that failed stays current: the next call fails with it, not against line 3's.
    t.regex(detail(16), /^the module at line 15 did not instantiate: .*unknown import nowhere\.f/);
  });

  test(`${arch}: SIMD modules and v128 values are skipped, and only they`, async (t) => {
    const r = await runWast(script('simd.wast'), { arch });
    t.deepEqual(r.outcomes.map((o) => [o.line, o.status]), [[2, 'skipped'], [3, 'skipped'], [4, 'passed'], [5, 'passed']]);
  });
}

test('stackscope wast: text, JSON, exit codes 0 / 1 / 2', async (t) => {
  const ok = await cli('wast', path('commands.wast'), '--arch', 'aarch64');
  t.is(ok.code, 0, ok.stderr);
  t.regex(ok.stdout, /commands\.wast \(aarch64\): 32 passed, 0 failed, 0 skipped\ntotal: 32 passed, 0 failed, 0 skipped \(SIMD\) in 1 script on aarch64$/);

  const bad = await cli('wast', path('failing.wast'), path('simd.wast'), '--json');
  t.is(bad.code, 1);
  const j = JSON.parse(bad.stdout);
  t.deepEqual([j.passed, j.failed, j.skipped], [6, 20, 4]);
  t.deepEqual(j.files.map((f: { arch: string }) => f.arch), ['x64', 'aarch64', 'x64', 'aarch64']);
  t.deepEqual(j.files[0].failures[0], { line: 7, column: 1, command: 'assert_return', detail: 'result 0: expected (i32.const 0x2), got (i32.const 0x1)' });

  const quiet = await cli('wast', path('failing.wast'), '--arch', 'x64', '--quiet');
  t.is(quiet.code, 1);
  t.false(quiet.stdout.includes('(x64): 1 passed'));
  t.regex(quiet.stdout, /failing\.wast:13:1: assert_unlinkable \(x64\)/);

  t.is((await cli('wast')).code, 2);
  t.is((await cli('wast', path('commands.wast'), '--arch', 'riscv')).code, 2);
  t.is((await cli('wast', '/nonexistent.wast')).code, 2);
  const syntax = await cli('wast', path('../README.md'));
  t.is(syntax.code, 2);
  t.regex(syntax.stderr, /WastSyntaxError: .*README\.md:\d+:\d+: /);
});
