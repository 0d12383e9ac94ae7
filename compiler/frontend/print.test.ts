import test from 'ava';
import { readFileSync } from 'node:fs';
import { parseWasm } from './index.ts';
import type { Instr } from './module.ts';
import { formatInstr } from './print.ts';
import { loadWat, watToBinary } from './wat.ts';

const ALL_WAT = readFileSync(new URL('./testdata/all-instructions.wat', import.meta.url), 'utf8');

test.before(async () => {
  await loadWat();
});

function withoutOffsets(body: readonly Instr[]): unknown[] {
  return body.map(({ offset: _offset, ...rest }) => rest);
}

test('printed instructions are WAT that decodes back to the same instructions', (t) => {
  const m = parseWasm(watToBinary(ALL_WAT).bytes);
  const body = m.functions[0].body;
  const printed = body.slice(0, -1).map((i) => formatInstr(i)).join('\n    ');
  const head = ALL_WAT.indexOf('(local $x i32) (local $y i64) (local $f funcref) (local $p f32) (local $q f64)');
  const tail = ALL_WAT.indexOf('(func $start)');
  t.true(head > 0 && tail > head);
  const headEnd = head + '(local $x i32) (local $y i64) (local $f funcref) (local $p f32) (local $q f64)'.length;
  const rebuilt = `${ALL_WAT.slice(0, headEnd)}\n    ${printed})\n  ${ALL_WAT.slice(tail)}`;
  const again = parseWasm(watToBinary(rebuilt).bytes);
  t.deepEqual(withoutOffsets(again.functions[0].body), withoutOffsets(body));
});

test('with a module, calls and ref.func show the callee name', (t) => {
  const m = parseWasm(watToBinary('(module (func $fib (export "fib") call $fib) (elem declare func $fib) (func ref.func $fib drop))').bytes);
  t.is(formatInstr(m.functions[0].body[0], m), 'call 0 <$fib>');
  t.is(formatInstr(m.functions[1].body[0], m), 'ref.func 0 <$fib>');
});
