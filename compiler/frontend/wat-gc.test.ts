/**
 * stackscope's own WAT reader for GC modules (wat-gc.ts): what it accepts (names, folded and
 * flat code, inline types, the name section), its located syntax errors, and that no text,
 * however broken, ends in anything but a module or a CompileError.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { CompileError } from './errors.ts';
import { parseWat, parseWatText } from './index.ts';
import { loadWat } from './wat.ts';
import { usesGcSyntax } from './wat-gc.ts';

const ALL_GC = readFileSync(new URL('./testdata/all-gc-instructions.wat', import.meta.url), 'utf8');

test.before(async () => {
  await loadWat();
});

test('GC syntax is recognised; plain modules keep going through wabt', (t) => {
  t.true(usesGcSyntax(ALL_GC));
  t.true(usesGcSyntax('(module (func (param anyref)))'));
  t.false(usesGcSyntax('(module (func (param externref) (result i32) (i32.const 1)))'));
});

test('names, flat and folded code, inline function types and the name section', async (t) => {
  const m = await parseWat(`(module
    (type $p (struct (field $x (mut i32)) (field $y i64)))
    (func $mk (export "mk") (param $v i32) (result (ref $p))
      local.get $v
      i64.const 2
      struct.new $p)
    (func $get (export "get") (param $s (ref null $p)) (result i32) (local $t i32)
      (block $out (result i32)
        (drop (br_if $out (i32.const 7) (ref.is_null (local.get $s))))
        (struct.get $p $x (local.get $s)))))`);
  t.is(m.typeDefs.length, 3, 'the struct and two inline function types');
  t.deepEqual(m.types[1], { params: ['i32'], results: ['(ref 0)'] });
  t.is(m.names.functions.get(0), 'mk');
  t.is(m.names.locals.get(1)?.get(1), 't');
  t.deepEqual(m.functions[0].body.map((i) => i.op), ['local.get', 'i64.const', 'struct.new', 'end']);
  t.deepEqual(m.exports.map((e) => e.name), ['mk', 'get']);
});

test('syntax errors name what and where (line:column)', async (t) => {
  const cases: [string, RegExp][] = [
    ['(module (type $s (struct (field i32)))\n  (func (result i32) (struct.frob $s 0 (ref.null none))))', /input\.wat:2:23: syntax error: unknown or unsupported instruction 'struct\.frob'/],
    ['(module (type $s (struct (field $a i32)))\n (func (param (ref null $s)) (result i32) (struct.get $s $b (local.get 0))))', /2:58: syntax error: unknown field \$b/],
    ['(module (func (param (ref null $nope))))', /1:32: syntax error: unknown type \$nope/],
    ['(module (type $s (struct)) (func', /syntax error: unclosed '\('/],
    ['(module (type $s (struct)) (func (drop (struct.new $s)) (i32.const 99999999999) drop))', /syntax error: '99999999999' does not fit in 32 bits/],
  ];
  for (const [text, message] of cases) {
    const e = await t.throwsAsync(parseWat(text), { instanceOf: CompileError });
    t.is(e!.kind, 'syntax', text);
    t.regex(e!.message, message);
  }
  // A validation error in GC code is located by the decoder's site and the text.
  const v = await t.throwsAsync(parseWat('(module (type $s (struct (field i32)))\n (func (drop (struct.set $s 0 (struct.new $s (i32.const 1)) (i32.const 2)))))'), { instanceOf: CompileError });
  t.is(v!.kind, 'validation');
  t.regex(v!.message, /immutable field 0/);
});

test('mutated GC text ends as a module or a CompileError (2,000 cases)', (t) => {
  let state = 12345;
  const rand = (n: number): number => {
    state = (state * 1103515245 + 12345) >>> 0;
    return state % n;
  };
  const pieces = ['(', ')', ' ', '$node', '$x', 'struct.new', 'ref.cast', '(ref null', 'i8', 'mut', '0', '-1', '"', ';;', '(;', 'sub', 'rec'];
  const outcomes = new Map<string, number>();
  for (let i = 0; i < 2000; i++) {
    let text = ALL_GC;
    for (let k = rand(3) + 1; k > 0; k--) {
      const at = rand(text.length);
      const cut = rand(4) === 0 ? rand(12) : 0;
      text = text.slice(0, at) + (rand(2) ? pieces[rand(pieces.length)] : '') + text.slice(at + cut);
    }
    try {
      parseWatText(text);
      outcomes.set('module', (outcomes.get('module') ?? 0) + 1);
    } catch (e) {
      if (!(e instanceof CompileError) || e.message.includes('could not read the text')) {
        t.fail(`case ${i}: ${String(e)}\n${text}`);
        return;
      }
      outcomes.set(e.kind, (outcomes.get(e.kind) ?? 0) + 1);
    }
  }
  t.log(JSON.stringify(Object.fromEntries(outcomes)));
  t.true((outcomes.get('syntax') ?? 0) > 0);
});
