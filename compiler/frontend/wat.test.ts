import test from 'ava';
import type { ExecutionContext } from 'ava';
import { CompileError } from './errors.ts';
import { parseModuleSource, parseWat, parseWatText, watTextOf } from './index.ts';
import { isWatLoaded, loadWat, MAX_WAT_NESTING, mergeValidationErrors, parseWabtDiagnostic, WatNotLoadedError, WatSource, watToBinary } from './wat.ts';

// Captured before any test runs loadWat(): the synchronous path must refuse, not crash.
const beforeLoad = (() => {
  try {
    watToBinary('(module)');
    return null;
  } catch (e) {
    return e;
  }
})();
const loadedAtStart = isWatLoaded();

test.before(async () => {
  await loadWat();
});

function compileError(t: ExecutionContext, fn: () => unknown): CompileError {
  const e = t.throws(fn);
  if (!(e instanceof CompileError)) {
    t.fail(`expected CompileError, got ${String(e)}`);
    throw e;
  }
  return e;
}

test('the synchronous path before loadWat() throws WatNotLoadedError', (t) => {
  t.false(loadedAtStart);
  t.true(beforeLoad instanceof WatNotLoadedError);
  t.true(isWatLoaded());
});

test('syntax error → CompileError with line:column', (t) => {
  const text = '(module\n  (func (result i32)\n    (i32.cnst 1)))\n';
  const e = compileError(t, () => parseWatText(text, { fileName: 'bad.wat' }));
  t.is(e.kind, 'syntax');
  t.deepEqual(e.location, { file: 'bad.wat', line: 3, column: 6 });
  t.regex(e.detail, /unexpected token "i32\.cnst"/);
  t.regex(e.message, /^bad\.wat:3:6: syntax error: /);
});

test('unbalanced parentheses and unknown names are syntax errors with a location', (t) => {
  const e1 = compileError(t, () => parseWatText('(module (func (result i32)\n  (i32.const 1)'));
  t.is(e1.kind, 'syntax');
  t.is(e1.location?.line, 2);
  const e2 = compileError(t, () => parseWatText('(module\n (func local.get $nope drop))'));
  t.is(e2.kind, 'syntax');
  t.deepEqual([e2.location?.line, e2.location?.column], [2, 18]);
  t.regex(e2.detail, /\$nope/);
});

test('type errors in WAT carry wabt\'s line:column and the instruction', (t) => {
  const text = '(module\n  (func (result i32)\n    i32.const 1\n    i64.const 2\n    i32.add))';
  const e = compileError(t, () => parseWatText(text));
  t.is(e.kind, 'validation');
  t.deepEqual(e.location, { file: 'input.wat', line: 5, column: 5 });
  t.is(e.instr, 'i32.add');
  t.regex(e.detail, /type mismatch/);
  // stackscope's validator agrees, so its function, instruction index and offset are added.
  t.is(e.funcIndex, 0);
  t.is(e.instrIndex, 2);
  t.is(e.offset, 28);
  t.regex(e.message, /^input\.wat:5:5: validation error: type mismatch in i32\.add.*\(function 0, instruction 2 'i32\.add', code section, byte offset 0x1c\)$/);
});

test('wabt and stackscope validation errors are merged only when they agree', (t) => {
  const source = new WatSource('m.wat', '(module\n (func $a i32.const 1 i32.add drop)\n (func $b nop))');
  const wabtError = new CompileError('validation', 'type mismatch in i32.add', { location: { file: 'm.wat', line: 2, column: 22 }, instr: 'i32.add' });
  const ours = new CompileError('validation', 'stack empty', { funcIndex: 0, instrIndex: 1, instr: 'i32.add', offset: 40 });
  const merged = mergeValidationErrors(wabtError, ours, source);
  t.like(merged, { detail: 'type mismatch in i32.add', funcIndex: 0, instrIndex: 1, offset: 40, location: wabtError.location });
  // Another function, another instruction, or no error of ours: wabt's error alone.
  t.is(mergeValidationErrors(wabtError, new CompileError('validation', 'x', { funcIndex: 1, instrIndex: 0, instr: 'i32.add' }), source), wabtError);
  t.is(mergeValidationErrors(wabtError, new CompileError('validation', 'x', { funcIndex: 0, instrIndex: 2, instr: 'drop' }), source), wabtError);
  t.is(mergeValidationErrors(wabtError, null, source), wabtError);
  t.is(source.functionIndexAt({ file: 'm.wat', line: 3, column: 5 }), 1);
  t.is(source.functionIndexAt({ file: 'm.wat', line: 1, column: 1 }), null);
});

test('unknown local and branch depth in WAT are validation errors at the right place', (t) => {
  const e1 = compileError(t, () => parseWatText('(module (func (local i32)\n  local.get 3 drop))'));
  t.is(e1.kind, 'validation');
  t.deepEqual([e1.location?.line, e1.location?.column], [2, 13]);
  t.is(e1.instr, 'local.get');
  t.is(e1.instrIndex, 0);
  const e2 = compileError(t, () => parseWatText('(module (func\n  block\n    br 4\n  end))'));
  t.is(e2.kind, 'validation');
  t.deepEqual([e2.location?.line, e2.location?.column], [3, 5]);
});

test('an unsupported instruction is named and located (flat code)', (t) => {
  const text = `(module
  (func $ok (result i32) i32.const 1)
  (func $uses_try (param i32) (result i32)
    local.get 0
    try (result i32)
      i32.const 2
    end
    i32.add))`;
  const e = compileError(t, () => parseWatText(text));
  t.is(e.kind, 'unsupported');
  t.is(e.instr, 'try');
  t.is(e.funcIndex, 1);
  t.is(e.funcName, null); // the decoder has not read the name section yet
  t.is(e.instrIndex, 1);
  t.deepEqual(e.location, { file: 'input.wat', line: 5, column: 5 });
  t.regex(e.message, /^input\.wat:5:5: unsupported error: 'try' is not supported \(function 1, instruction 1/);
  t.not(e.offset, null);
});

test('an unsupported instruction in folded code is located when its mnemonic is unique', (t) => {
  const text = '(module (import "m" "f" (func))\n (func (result i64)\n   (i64.add (i64.const 1) (try (result i64) (do (i64.const 2))))))';
  const e = compileError(t, () => parseWatText(text));
  t.is(e.instr, 'try');
  t.is(e.funcIndex, 1);
  t.deepEqual([e.location?.line, e.location?.column], [3, 28]);
});

test('ambiguous folded occurrences get no line:column but keep function, instruction and offset', (t) => {
  const text = '(module (func (result i32)\n  (drop (i32.add (try (result i32) (do (i32.const 1))) (try (result i32) (do (i32.const 2)))))\n  (i32.const 0)))';
  const e = compileError(t, () => parseWatText(text));
  t.is(e.kind, 'unsupported');
  t.is(e.instr, 'try');
  t.is(e.location?.line, undefined);
  t.is(e.funcIndex, 0);
  t.is(e.instrIndex, 0);
  t.not(e.offset, null);
});

test('unsupported features outside code are named', (t) => {
  const e1 = compileError(t, () => parseWatText('(module (global v128 (v128.const i32x4 0 0 0 0)))'));
  t.is(e1.kind, 'unsupported');
  t.regex(e1.detail, /v128/);
  const e2 = compileError(t, () => parseWatText('(module (memory 1 1 shared))'));
  t.is(e2.kind, 'unsupported');
  t.regex(e2.detail, /shared/);
  const e3 = compileError(t, () => parseWatText('(module (func (result v128) v128.const i32x4 0 0 0 0))'));
  t.is(e3.kind, 'unsupported');
  t.regex(e3.detail, /v128/);
  const e4 = compileError(t, () => parseWatText('(module (memory 1) (memory 1))'));
  t.is(e4.kind, 'validation');
  t.regex(e4.detail, /multiple memories|only one memory/);
});

test('parseWabtDiagnostic reads the first file:line:col: error line', (t) => {
  t.deepEqual(parseWabtDiagnostic('parseWat failed:\na:b.wat:12:7: error: oops\nline\n  ^\nx.wat:1:1: error: second'), {
    location: { file: 'a:b.wat', line: 12, column: 7 },
    message: 'oops',
  });
  t.is(parseWabtDiagnostic('no location here'), null);
});

test('WatSource maps character indices to 1-based line:column', (t) => {
  const s = new WatSource('f.wat', 'ab\ncd\n\nef');
  t.deepEqual(s.locationAt(0), { file: 'f.wat', line: 1, column: 1 });
  t.deepEqual(s.locationAt(4), { file: 'f.wat', line: 2, column: 2 });
  t.deepEqual(s.locationAt(7), { file: 'f.wat', line: 4, column: 1 });
});

test('WatSource finds functions past imports, comments and strings', (t) => {
  const text = `(module
  ;; (func commented out)
  (; (func block comment (; nested ;) ) ;)
  (import "a" "(func" (func $i1))
  (func $i2 (export "x") (import "a" "b"))
  (data "(func )")
  (func $d0 nop)
  (func $d1
    nop
    i32.const 1
    drop
    nop))`;
  const s = new WatSource('m.wat', text);
  t.deepEqual(s.functionLocation(2), { file: 'm.wat', line: 7, column: 3 });
  t.deepEqual(s.functionLocation(3), { file: 'm.wat', line: 8, column: 3 });
  t.is(s.functionLocation(4), null);
  t.deepEqual(s.locateInstruction(3, 'nop', 1), { file: 'm.wat', line: 12, column: 5 });
  t.is(s.locateInstruction(3, 'nop', 0, 3), null); // counts disagree: no guess
  t.is(s.locateInstruction(3, 'i64.add', 0), null);
});

test('parseWat and parseModuleSource accept text and binaries', async (t) => {
  const m1 = await parseWat('(module (func (export "f") (result i32) i32.const 7))');
  t.is(m1.exports[0].name, 'f');
  const bytes = watToBinary('(module (func (export "g")))').bytes;
  const m2 = await parseModuleSource(bytes);
  t.is(m2.exports[0].name, 'g');
  const m3 = await parseModuleSource(new TextEncoder().encode('(module (func (export "h")))'));
  t.is(m3.exports[0].name, 'h');
});

test('parseModuleSource: bytes are WAT only when their first token is "(", else a binary with its errors', async (t) => {
  const enc = (s: string) => new TextEncoder().encode(s);
  // Text after a byte-order mark, whitespace, line and (nested) block comments.
  for (const text of ['(module (func (export "h")))', '\u{feff}  (module (func (export "h")))',
    ';; a comment\n\t(; block (; nested ;) ;)\r\n(module (func (export "h")))', '(func (export "h"))']) {
    t.is((await parseModuleSource(enc(text))).exports[0].name, 'h', JSON.stringify(text));
  }
  t.is(watTextOf(enc(' (module)')), ' (module)');
  // Empty, truncated, whitespace-only, non-UTF-8 and unclosed-comment bytes are binaries: malformed.
  const cases: [Uint8Array, RegExp][] = [
    [new Uint8Array(0), /^empty input/],
    [Uint8Array.of(0x00, 0x61, 0x73, 0x6d), /^unexpected end: the module header/],
    [enc('  \n'), /^magic header not detected/],
    [enc(';; only a comment\n'), /^magic header not detected/],
    [enc('(; unclosed (module)'), /^magic header not detected/],
    [Uint8Array.of(0xff, 0x28, 0x6d), /^magic header not detected/],
    [enc('module'), /^magic header not detected/],
  ];
  for (const [bytes, pattern] of cases) {
    const e = await t.throwsAsync(parseModuleSource(bytes));
    t.true(e instanceof CompileError && e.kind === 'malformed', String(e));
    t.regex((e as CompileError).detail, pattern);
  }
  // A string is always text: the empty string is the empty text module.
  t.deepEqual((await parseModuleSource('')).exports, []);
});

test('WAT input keeps reference types, bulk memory and multi-value', (t) => {
  const m = parseWatText(`(module
    (table $t 1 externref)
    (memory 1)
    (data $d "xyz")
    (func (param externref) (result i32 i64)
      i32.const 0 local.get 0 table.set $t
      i32.const 0 i32.const 0 i32.const 3 memory.init $d
      i32.const 1 i64.const 2))`);
  t.deepEqual(m.types[0], { params: ['externref'], results: ['i32', 'i64'] });
});

test('WAT nesting beyond MAX_WAT_NESTING is a limit error with line:column, and the next module still parses', (t) => {
  const n = 180; // wabt's own parser hangs or breaks its instance from ≈ 150 levels on
  const forms = {
    'unfolded blocks': `block\n${'  block\n'.repeat(n)}${'end '.repeat(n + 1)}`,
    'folded blocks': '(block '.repeat(n) + ')'.repeat(n),
    'folded ifs': '(if (i32.const 0) (then '.repeat(n) + '))'.repeat(n),
    'operand expressions': '(drop ' + '(i32.eqz '.repeat(n) + '(i32.const 1)' + ')'.repeat(n) + ')',
    'unfolded ifs': 'i32.const 0 if '.repeat(n) + 'end '.repeat(n),
  };
  for (const [what, body] of Object.entries(forms)) {
    const e = t.throws(() => parseWatText(`(module\n  (func\n${body}))`, { fileName: 'deep.wat' }), { instanceOf: CompileError }, what);
    t.is(e?.kind, 'limit', what);
    t.is(e?.location?.file, 'deep.wat');
    t.true((e?.location?.line ?? 0) >= 3, `${what}: ${e?.message}`);
    t.regex(e?.message ?? '', new RegExp(`nesting deeper than ${MAX_WAT_NESTING}`));
    t.is(parseWatText('(module (func (export "f") (result i32) i32.const 7))').functions.length, 1, `after ${what}`);
  }
  const unfolded = parseWatText(`(module\n  (func\n${'block '.repeat(MAX_WAT_NESTING - 2)}${'end '.repeat(MAX_WAT_NESTING - 2)}))`);
  t.is(unfolded.functions.length, 1);
  const e = t.throws(() => parseWatText(`(module\n  (func\n${'block '.repeat(MAX_WAT_NESTING - 1)}${'end '.repeat(MAX_WAT_NESTING - 1)}))`), { instanceOf: CompileError });
  t.deepEqual(e?.location, { file: 'input.wat', line: 3, column: 1 + 6 * (MAX_WAT_NESTING - 2) });
});
