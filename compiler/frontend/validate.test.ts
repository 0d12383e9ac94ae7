import test from 'ava';
import type { ExecutionContext } from 'ava';
import { CompileError } from './errors.ts';
import { decodeModule } from './decode.ts';
import { parseWasm } from './index.ts';
import type { Opcode } from './module.ts';
import { loadWat, watToBinary } from './wat.ts';
import { moduleBytes, oneFunction, section, vec } from './testing.ts';

test.before(async () => {
  await loadWat();
});

/** wabt's binary without wabt's validation, so stackscope's validator is what is tested. */
function wasm(text: string): Uint8Array {
  return watToBinary(text, 'test.wat', { validate: false }).bytes;
}

function rejects(t: ExecutionContext, text: string, pattern: RegExp): CompileError {
  const bytes = wasm(text);
  const e = t.throws(() => parseWasm(bytes));
  if (!(e instanceof CompileError)) {
    t.fail(`expected CompileError, got ${String(e)}`);
    throw e;
  }
  t.is(e.kind, 'validation', e.message);
  t.regex(e.detail, pattern);
  return e;
}

/** For function-body errors: the reported instruction and offset agree with the decoded body. */
function rejectsAt(t: ExecutionContext, text: string, pattern: RegExp, instr: Opcode, funcIndex = 0): CompileError {
  const e = rejects(t, text, pattern);
  t.is(e.funcIndex, funcIndex);
  t.is(e.instr, instr);
  const fn = decodeModule(wasm(text)).functions.find((f) => f.index === funcIndex)!;
  t.is(fn.body[e.instrIndex!].op, instr);
  t.is(e.offset, fn.body[e.instrIndex!].offset);
  return e;
}

test('type mismatch names function, instruction, index and byte offset', (t) => {
  const e = rejectsAt(t, '(module (func $f (result i32) i32.const 1 i64.const 2 i32.add))', /type mismatch in i32\.add: expected i32, got i64/, 'i32.add');
  t.is(e.instrIndex, 2);
  t.is(e.funcName, 'f');
  t.regex(e.message, /function 0 \(\$f\), instruction 2 'i32\.add'.*byte offset 0x/);
});

test('unknown local', (t) => {
  rejectsAt(t, '(module (func (param i32) (local i64) local.get 2 drop))', /unknown local 2/, 'local.get');
});

test('branch depth out of range', (t) => {
  rejectsAt(t, '(module (func block br 2 end))', /unknown label: branch depth 2/, 'br');
  rejectsAt(t, '(module (func (param i32) block local.get 0 br_table 0 2 end))', /unknown label/, 'br_table');
});

test('stack underflow and leftovers', (t) => {
  rejectsAt(t, '(module (func i32.add drop))', /operand stack is empty/, 'i32.add');
  rejectsAt(t, '(module (func i32.const 1))', /extra value/, 'end');
  rejectsAt(t, '(module (func (result i64) i32.const 1))', /expected i64, got i32/, 'end');
  rejectsAt(t, '(module (func (result i32) i64.const 1 return))', /expected i32, got i64/, 'return');
});

test('globals: immutable, unknown and typed', (t) => {
  rejectsAt(t, '(module (global i32 (i32.const 0)) (func i32.const 1 global.set 0))', /immutable/, 'global.set');
  rejectsAt(t, '(module (func global.get 3 drop))', /unknown global 3/, 'global.get');
  rejectsAt(t, '(module (global (mut externref) (ref.null extern)) (func i32.const 1 global.set 0))', /expected externref, got i32/, 'global.set');
});

test('references: undeclared ref.func, ref.is_null of a number, untyped select of references', (t) => {
  rejectsAt(t, '(module (func $a) (func ref.func $a drop))', /undeclared function reference/, 'ref.func', 1);
  rejectsAt(t, '(module (func i32.const 0 ref.is_null drop))', /expected a reference/, 'ref.is_null');
  rejectsAt(t, '(module (func (param externref) local.get 0 local.get 0 i32.const 1 select drop))', /typed select|select \(result/, 'select');
  rejectsAt(t, '(module (func i32.const 1 i64.const 1 i32.const 1 select drop))', /differ/, 'select');
});

test('tables: element types are checked', (t) => {
  rejectsAt(t, '(module (table 1 externref) (func (param funcref) i32.const 0 local.get 0 table.set 0))', /expected externref, got funcref/, 'table.set');
  rejectsAt(t, '(module (type $t (func)) (table 1 externref) (func i32.const 0 call_indirect 0 (type $t)))', /needs funcref/, 'call_indirect');
  rejectsAt(t, '(module (table 1 externref) (table 1 funcref) (func i32.const 0 i32.const 0 i32.const 0 table.copy 0 1))', /table\.copy/, 'table.copy');
  rejectsAt(t, '(module (table 1 externref) (elem $e func) (func i32.const 0 i32.const 0 i32.const 0 table.init 0 $e))', /table\.init/, 'table.init');
  rejectsAt(t, '(module (func i32.const 0 table.get 5 drop))', /unknown table 5/, 'table.get');
});

test('memory: alignment and existence', (t) => {
  rejectsAt(t, '(module (memory 1) (func i32.const 0 i32.load16_u align=4 drop))', /alignment 2\^2 exceeds the natural alignment 2/, 'i32.load16_u');
  rejectsAt(t, '(module (func i32.const 0 i64.load drop))', /unknown memory 0/, 'i64.load');
  rejectsAt(t, '(module (func memory.size drop))', /unknown memory/, 'memory.size');
});

test('data.drop and memory.init need a data count section', (t) => {
  // wabt always writes the data count section when needed, so build this binary by hand.
  const bytes = moduleBytes(
    section(1, vec([[0x60, 0x00, 0x00]])),
    section(3, vec([[0x00]])),
    section(5, vec([[0x00, 0x01]])),
    section(10, vec([[0x05, 0x00, 0xfc, 0x09, 0x00, 0x0b]])),
    section(11, vec([[0x01, 0x00]])),
  );
  const e = t.throws(() => parseWasm(bytes), { instanceOf: CompileError });
  t.regex(e!.detail, /data count section/);
  t.is(e!.instr, 'data.drop');
});

test('blocks: if without else must keep its type; br_table arities must agree', (t) => {
  rejectsAt(t, '(module (func (result i32) i32.const 1 if (result i32) i32.const 2 end))', /'if' without 'else'/, 'end');
  rejectsAt(
    t,
    '(module (func (param i32) (result i32) block (result i32) block i32.const 1 local.get 0 br_table 0 1 end end))',
    /arity/,
    'br_table',
  );
  rejectsAt(t, '(module (func (param i32) local.get 0 if i64.const 1 else nop end))', /extra value/, 'else');
});

test('module-level rules', (t) => {
  rejects(t, '(module (global i32 (i64.const 0)))', /type mismatch in constant expression/);
  rejects(t, '(module (global i32 (i32.const 0)) (global i32 (global.get 0)))', /only imported globals/);
  rejects(t, '(module (import "a" "g" (global (mut i32))) (global i32 (global.get 0)))', /mutable global/);
  rejects(t, '(module (func) (export "x" (func 0)) (export "x" (func 0)))', /duplicate export/);
  rejects(t, '(module (func (param i32)) (start 0))', /start function/);
  rejects(t, '(module (table 1 externref) (func) (elem (table 0) (i32.const 0) func 0))', /type mismatch: element segment/);
  rejects(t, '(module (memory 70000))', /memory minimum 70000 exceeds 65536/);
  rejects(t, '(module (table 3 2 funcref))', /below its minimum/);
  rejects(t, '(module (func) (export "f" (func 7)))', /unknown func 7/);
});

test('typed select with more than one type is rejected', (t) => {
  const e = t.throws(() => parseWasm(oneFunction([0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0x1c, 0x02, 0x7f, 0x7f, 0x1a, 0x0b])), { instanceOf: CompileError });
  t.is(e!.kind, 'validation');
  t.regex(e!.detail, /exactly one result type/);
});

test('valid: dead code is polymorphic and annotated', (t) => {
  const m = parseWasm(wasm(`(module (func (result i32)
    unreachable
    i32.add
    drop
    select
    drop
    block (result i64) unreachable end
    drop
    i32.const 1))`));
  const body = m.functions[0].body;
  t.deepEqual(body.map((i) => [i.op, i.dead === true]), [
    ['unreachable', false], ['i32.add', true], ['drop', true], ['select', true], ['drop', true],
    ['block', true], ['unreachable', true], ['end', true], ['drop', true], ['i32.const', true], ['end', false],
  ]);
  t.like(body[2], { type: 'i32' });
  t.like(body[3], { type: null });
  t.like(body[4], { type: null });
});

test('valid: multi-value blocks with parameters, loops branching to their parameters', (t) => {
  const m = parseWasm(wasm(`(module
    (type $swap (func (param i32 i64) (result i64 i32)))
    (type $count (func (param i32) (result i32)))
    (func (param i32 i64) (result i64 i32)
      local.get 0 local.get 1
      block (type $swap)
        local.set 1 local.set 0 local.get 1 local.get 0
      end)
    (func (param i32) (result i32)
      local.get 0
      loop (type $count)
        i32.const 1 i32.sub
        local.tee 0
        local.get 0
        br_if 0
      end))`));
  t.like(m.functions[1].body[1], { op: 'loop', type: { params: ['i32'], results: ['i32'] } });
  t.is(m.functions[0].maxStackHeight, 2);
});

test('valid: drop and untyped select record their operand type', (t) => {
  const m = parseWasm(wasm(`(module (func (param i64 externref)
    local.get 1 drop
    local.get 0 local.get 0 i32.const 0 select drop))`));
  const body = m.functions[0].body;
  t.like(body[1], { op: 'drop', type: 'externref' });
  t.like(body[5], { op: 'select', typed: false, type: 'i64' });
  t.like(body[6], { op: 'drop', type: 'i64' });
});

test('valid: br_table to labels of the same arity in dead code', (t) => {
  t.notThrows(() => parseWasm(wasm(`(module (func (param i32) (result i32)
    block (result i32)
      block (result i32)
        unreachable
        br_table 0 1 0
      end
    end))`)));
});

test('valid: in dead code br_table may target labels of different types of the same arity', (t) => {
  // The popped operands are unknown, so each label's check passes (the spec pushes back the
  // popped, still unknown, types rather than the label's).
  t.notThrows(() => parseWasm(wasm(`(module (func (result i32)
    block (result i64)
      block (result i32)
        unreachable
        br_table 0 1 0
      end
      drop
      i64.const 0
    end
    drop
    i32.const 0))`)));
});

test('tail calls: the callee must return exactly the function\'s results; the rest is unreachable', (t) => {
  rejectsAt(t, '(module (func $f (result i64) (i64.const 1)) (func (result i32) (return_call $f)))', /type mismatch in return_call: the callee returns \[i64\], the function returns \[i32\]/, 'return_call', 1);
  rejectsAt(t, '(module (type $t (func (result i32 i32))) (table 1 funcref) (func (result i32) (return_call_indirect (type $t) (i32.const 0))))',
    /type mismatch in return_call_indirect: the callee returns \[i32 i32\], the function returns \[i32\]/, 'return_call_indirect');
  rejectsAt(t, '(module (func $f (param i32) (result i32) (local.get 0)) (func (result i32) (return_call $f (i64.const 1))))', /type mismatch/, 'return_call', 1);
  rejectsAt(t, '(module (table 1 externref) (type $t (func)) (func (return_call_indirect (type $t) (i32.const 0))))', /return_call_indirect through table 0 of externref/, 'return_call_indirect');
  // Valid: after a tail call the stack is polymorphic, as after return.
  const m = parseWasm(wasm('(module (func $f (param i32) (result i32) (local.get 0)) (func (result i32) (return_call $f (i32.const 1)) (i64.const 5) (drop)))'));
  t.is(m.functions[1].body[1].op, 'return_call');
  t.true(m.functions[1].body[2].dead === true);
});
