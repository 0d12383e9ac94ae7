import test from 'ava';
import { readFileSync } from 'node:fs';
import { CompileError } from './errors.ts';
import type { CompileErrorKind } from './errors.ts';
import { decodeModule } from './decode.ts';
import type { Instr, WasmModule } from './module.ts';
import { FB_SIMPLE_OPS, FC_SIMPLE_OPS, IMMEDIATE_OPS, MEM_OPS, SIMPLE_OPS, type ImmediateOpInfo } from './opcodes.ts';
import { loadWat, watToBinary } from './wat.ts';
import { parseWasm } from './index.ts';
import { moduleBytes, name, oneFunction, section, sleb, uleb, vec } from './testing.ts';

const ALL_WAT = readFileSync(new URL('./testdata/all-instructions.wat', import.meta.url), 'utf8');
/** The GC instructions (wabt cannot write them: stackscope's own WAT reader does). */
const ALL_GC_WAT = readFileSync(new URL('./testdata/all-gc-instructions.wat', import.meta.url), 'utf8');

test.before(async () => {
  await loadWat();
});

function wasm(text: string): Uint8Array {
  return watToBinary(text, 'test.wat', { validate: false }).bytes;
}

function compileError(t: import('ava').ExecutionContext, fn: () => unknown): CompileError {
  const e = t.throws(fn);
  if (!(e instanceof CompileError)) {
    t.fail(`expected CompileError, got ${String(e)}`);
    throw e;
  }
  return e;
}

function ops(body: readonly Instr[]): string[] {
  return body.map((i) => i.op);
}

test('the all-instructions modules decode, validate and use every supported instruction', (t) => {
  const m = parseWasm(wasm(ALL_WAT));
  const gc = parseWasm(wasm(ALL_GC_WAT));
  const expected = new Set<string>([
    ...[...SIMPLE_OPS.values()].map((i) => i.name),
    ...[...MEM_OPS.values()].map((i) => i.name),
    ...[...FC_SIMPLE_OPS.values()].map((i) => i.name),
    ...[...FB_SIMPLE_OPS.values()].map((i) => i.name),
    ...IMMEDIATE_OPS.map((i) => i.name),
  ]);
  const seen = new Set([...ops(m.functions[0].body), ...ops(gc.functions[0].body)]);
  t.deepEqual([...expected].filter((op) => !seen.has(op)), []);
  t.deepEqual([...seen].filter((op) => !expected.has(op)), []);
});

test('IMMEDIATE_OPS gives each instruction the opcode bytes the binary really has', (t) => {
  const seen = new Set<ImmediateOpInfo>();
  for (const text of [ALL_WAT, ALL_GC_WAT]) checkOpcodes(t, wasm(text), seen);
  // Each entry was met (the untyped and the typed select both occur).
  t.deepEqual(IMMEDIATE_OPS.filter((o) => !seen.has(o)).map((o) => o.name), []);
});

function checkOpcodes(t: import('ava').ExecutionContext, bytes: Uint8Array, seen: Set<ImmediateOpInfo>): void {
  const m = parseWasm(bytes);
  for (const instr of m.functions[0].body) {
    const entries = IMMEDIATE_OPS.filter((o) => o.name === instr.op);
    if (entries.length === 0) continue;
    const entry = entries.find((o) => o.opcode.every((b, i) => bytes[instr.offset + i] === b));
    t.not(entry, undefined, `${instr.op} at ${instr.offset}: bytes ${[...bytes.subarray(instr.offset, instr.offset + 2)]}`);
    if (entry !== undefined) seen.add(entry);
  }
}

test('module-level IR of the all-instructions module', (t) => {
  const m = parseWasm(wasm(ALL_WAT));
  t.deepEqual(m.counts, {
    numImportedFunctions: 1, numImportedTables: 1, numImportedMemories: 0, numImportedGlobals: 1,
    numDefinedFunctions: 2, numDefinedTables: 2, numDefinedMemories: 1, numOwnedMemories: 1,
    numDefinedGlobals: 6, numEscapedFunctions: 2,
  });
  t.deepEqual(m.types[1], { params: ['i32', 'i64'], results: ['i64', 'i32'] });
  t.deepEqual(m.imports.map((i) => [i.module, i.name, i.kind, i.index]), [
    ['env', 'imp', 'func', 0], ['env', 'g', 'global', 0], ['env', 't', 'table', 0],
  ]);
  t.deepEqual(m.tableTypes, [
    { elemType: 'funcref', min: 1, max: null },
    { elemType: 'funcref', min: 4, max: null },
    { elemType: 'externref', min: 2, max: null },
  ]);
  t.deepEqual(m.memories[0].type, { min: 1, max: 4, shared: false });
  t.deepEqual(m.globals.map((g) => [g.index, g.type.valType, g.type.mutable, g.init]), [
    [1, 'i32', true, { op: 'i32.const', value: 1 }],
    [2, 'i64', true, { op: 'i64.const', value: -2n }],
    [3, 'externref', true, { op: 'ref.null', type: 'externref' }],
    [4, 'funcref', true, { op: 'ref.func', func: 1 }],
    [5, 'i32', false, { op: 'global.get', global: 0 }],
    [6, 'f64', true, { op: 'f64.const', bits: 0xc008000000000000n }],
  ]);
  t.deepEqual(m.exports, [{ name: 'ops', kind: 'func', index: 1 }]);
  t.is(m.start, 2);
  t.deepEqual(m.elements.map((e) => [e.mode.kind, e.elemType, e.items]), [
    ['passive', 'funcref', [{ op: 'ref.func', func: 1 }]],
    ['active', 'funcref', [{ op: 'ref.func', func: 1 }, { op: 'ref.null', type: 'funcref' }]],
    ['declarative', 'funcref', [{ op: 'ref.func', func: 2 }]],
  ]);
  t.deepEqual(m.elements[1].mode, { kind: 'active', table: 1, offsetExpr: { op: 'i32.const', value: 1 } });
  t.deepEqual(m.datas.map((d) => [d.mode, new TextDecoder().decode(d.bytes)]), [
    [{ kind: 'active', memory: 0, offsetExpr: { op: 'i32.const', value: 8 } }, 'hello'],
    [{ kind: 'passive' }, 'passive'],
  ]);
  t.is(m.dataCount, 2);
  t.deepEqual([...m.names.functions], [[0, 'imp'], [1, 'ops'], [2, 'start']]);
  t.is(m.names.locals.get(1)?.get(3), 'x');
  // global ref.func $ops first, then export (same function), then start $start.
  t.deepEqual(m.escapedFunctions, [1, 2]);
  t.deepEqual([...m.escapedIndex], [[1, 0], [2, 1]]);
  t.deepEqual(m.funcTypeIndices, [0, 2, 3]);
  const fn = m.functions[0];
  t.deepEqual(fn.type, { params: ['i32', 'i64', 'externref'], results: ['i32'] });
  t.deepEqual(fn.locals, ['i32', 'i64', 'funcref', 'f32', 'f64']);
  t.is(fn.index, 1);
  t.is(fn.definedIndex, 0);
});

test('immediates and annotations in the instruction array', (t) => {
  const m = parseWasm(wasm(ALL_WAT));
  const body = m.functions[0].body;
  const find = (op: string, nth = 0): Instr => body.filter((i) => i.op === op)[nth];
  t.like(find('i32.const', 0), { value: -2147483648 });
  t.like(find('i64.const', 0), { value: 0x7fffffffffffffffn });
  t.like(find('i64.load32_u'), { memarg: { align: 2, offset: 8 }, memory: 0 });
  t.like(find('i64.store'), { memarg: { align: 3, offset: 16 } });
  t.like(find('i32.load'), { memarg: { align: 2, offset: 0 } });
  t.like(find('br_table'), { depths: [0, 1], defaultDepth: 0 });
  t.like(find('call_indirect'), { typeIndex: 0, table: 1 });
  t.like(find('call'), { func: 0 });
  t.like(find('table.copy'), { dstTable: 1, srcTable: 0 });
  t.like(find('table.init'), { elem: 0, table: 1 });
  t.like(find('memory.init'), { data: 1, memory: 0 });
  t.like(find('select', 0), { typed: false, type: 'i32' });
  t.like(find('select', 1), { typed: true, type: 'externref' });
  t.like(find('drop', 0), { type: 'i32' });
  const pairBlock = body.filter((i) => i.op === 'block')[1];
  t.like(pairBlock, { blockType: { kind: 'typeIndex', index: 1 }, type: { params: ['i32', 'i64'], results: ['i64', 'i32'] } });
  const ifIndex = body.findIndex((i) => i.op === 'if');
  const ifInstr = body[ifIndex];
  if (ifInstr.op !== 'if') return t.fail();
  t.is(body[ifInstr.else].op, 'else');
  t.is(body[ifInstr.end].op, 'end');
  t.like(body[ifInstr.end], { opener: ifIndex });
  t.like(body[body.length - 1], { op: 'end', opener: -1 });
  // `block br 0 unreachable end`: only the unreachable is dead.
  t.deepEqual(body.filter((i) => i.dead).map((i) => i.op), ['unreachable']);
  // Byte offsets increase and point into the code section.
  for (let i = 1; i < body.length; i++) t.true(body[i].offset > body[i - 1].offset);
  t.true(m.functions[0].maxStackHeight >= 3);
});

test('offsets of instructions point at their opcode bytes', (t) => {
  const bytes = wasm('(module (func (result i32) i32.const 5 i32.const 300 i32.add))');
  const m = decodeModule(bytes);
  const body = m.functions[0].body;
  t.deepEqual(body.map((i) => bytes[i.offset]), [0x41, 0x41, 0x6a, 0x0b]);
});

test('LEB128 immediates: non-canonical but in-range encodings are accepted; extremes decode', (t) => {
  const body = [
    0x41, 0x80, 0x80, 0x80, 0x80, 0x00, 0x1a, // i32.const 0 in five bytes
    0x41, ...sleb(-2147483648), 0x1a,
    0x42, ...sleb(-9223372036854775808n), 0x1a,
    0x42, ...sleb(9223372036854775807n), 0x1a,
    0x0b,
  ];
  const m = parseWasm(oneFunction(body));
  t.deepEqual(m.functions[0].body.filter((i) => i.op === 'i32.const' || i.op === 'i64.const').map((i) => ('value' in i ? i.value : null)), [
    0, -2147483648, -9223372036854775808n, 9223372036854775807n,
  ]);
});

test('LEB128 errors carry the byte offset of the integer', (t) => {
  const tooLong = oneFunction([0x41, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x1a, 0x0b]);
  const e1 = compileError(t, () => decodeModule(tooLong));
  t.is(e1.kind, 'malformed');
  t.regex(e1.detail, /too long/);
  t.is(tooLong[e1.offset! - 1], 0x41);
  const tooLarge = oneFunction([0x41, 0x80, 0x80, 0x80, 0x80, 0x10, 0x1a, 0x0b]);
  const e2 = compileError(t, () => decodeModule(tooLarge));
  t.regex(e2.detail, /too large/);
  t.is(e2.funcIndex, 0);
  t.is(e2.instrIndex, 0);
  const bigLocalCount = oneFunction([0x0b], [[0xff, 0xff, 0xff, 0xff, 0x7f, 0x7f]]);
  const e3 = compileError(t, () => decodeModule(bigLocalCount));
  t.regex(e3.detail, /too large/);
});

test('element segments: all eight encodings', (t) => {
  const refFunc0 = [0xd2, 0x00, 0x0b];
  const refNullFunc = [0xd0, 0x70, 0x0b];
  const refNullExtern = [0xd0, 0x6f, 0x0b];
  const offset = [0x41, 0x02, 0x0b];
  const segments = [
    [0x00, ...offset, ...vec([[0x00]])],
    [0x01, 0x00, ...vec([[0x00]])],
    [0x02, 0x01, ...offset, 0x00, ...vec([[0x00]])],
    [0x03, 0x00, ...vec([[0x00]])],
    [0x04, ...offset, ...vec([refFunc0, refNullFunc])],
    [0x05, 0x6f, ...vec([refNullExtern])],
    [0x06, 0x02, ...offset, 0x6f, ...vec([refNullExtern])],
    [0x07, 0x70, ...vec([refFunc0])],
  ];
  const bytes = moduleBytes(
    section(1, vec([[0x60, 0x00, 0x00]])),
    section(3, vec([[0x00]])),
    section(4, vec([[0x70, 0x00, 0x04], [0x70, 0x00, 0x04], [0x6f, 0x00, 0x04]])),
    section(9, vec(segments)),
    section(10, vec([[0x02, 0x00, 0x0b]])),
  );
  const m = parseWasm(bytes);
  const off = { op: 'i32.const', value: 2 };
  const f0 = { op: 'ref.func', func: 0 };
  t.deepEqual(m.elements.map((e) => [e.mode, e.elemType, e.items]), [
    [{ kind: 'active', table: 0, offsetExpr: off }, 'funcref', [f0]],
    [{ kind: 'passive' }, 'funcref', [f0]],
    [{ kind: 'active', table: 1, offsetExpr: off }, 'funcref', [f0]],
    [{ kind: 'declarative' }, 'funcref', [f0]],
    [{ kind: 'active', table: 0, offsetExpr: off }, 'funcref', [f0, { op: 'ref.null', type: 'funcref' }]],
    [{ kind: 'passive' }, 'externref', [{ op: 'ref.null', type: 'externref' }]],
    [{ kind: 'active', table: 2, offsetExpr: off }, 'externref', [{ op: 'ref.null', type: 'externref' }]],
    [{ kind: 'declarative' }, 'funcref', [f0]],
  ]);
  t.deepEqual(m.escapedFunctions, [0]);
});

test('data segments: active, passive and active with an explicit memory index', (t) => {
  const bytes = moduleBytes(
    section(5, vec([[0x00, 0x01]])),
    section(12, uleb(3)),
    section(11, vec([
      [0x00, 0x41, 0x04, 0x0b, ...vec([[0x61], [0x62]])],
      [0x01, ...vec([[0x63]])],
      [0x02, 0x00, 0x41, 0x10, 0x0b, ...vec([])],
    ])),
  );
  const m = parseWasm(bytes);
  t.deepEqual(m.datas.map((d) => [d.mode.kind, [...d.bytes]]), [['active', [0x61, 0x62]], ['passive', [0x63]], ['active', []]]);
  t.deepEqual(m.datas[2].mode, { kind: 'active', memory: 0, offsetExpr: { op: 'i32.const', value: 16 } });
});

test('escaped functions follow wasmtime v17 order: globals, exports, start, elements; imports only when referenced', (t) => {
  const m = parseWasm(wasm(`(module
    (import "m" "a" (func $a))
    (import "m" "b" (func $b))
    (func $c) (func $d) (func $e) (func $f)
    (global funcref (ref.func $e))
    (export "d" (func $d))
    (export "b" (func $b))
    (start $f)
    (elem declare func $c $e $d))`));
  t.deepEqual(m.escapedFunctions, [4, 3, 1, 5, 2]);
  t.is(m.counts.numEscapedFunctions, 5);
  t.false(m.escapedIndex.has(0));
  t.is(m.escapedIndex.get(2), 4);
});

test('name section: function and local names; a malformed name section is ignored', (t) => {
  const m = parseWasm(wasm('(module $mod (func $first (param $p i32) (local $l i64)) (func $second))'));
  t.is(m.names.module, 'mod');
  t.deepEqual([...m.names.functions], [[0, 'first'], [1, 'second']]);
  t.deepEqual([...(m.names.locals.get(0) ?? [])], [[0, 'p'], [1, 'l']]);
  const broken = moduleBytes(section(0, [...name('name'), 0x01, 0x05, 0x01, 0x00, 0x09, 0x61]));
  const m2 = parseWasm(broken);
  t.is(m2.names.functions.size, 0);
});

interface MalformedCase {
  readonly title: string;
  readonly bytes: Uint8Array;
  readonly offset: number;
  readonly pattern: RegExp;
  readonly kind?: CompileErrorKind;
}

const malformed: MalformedCase[] = [
  { title: 'empty input', bytes: new Uint8Array(), offset: 0, pattern: /^empty input/ },
  { title: 'bad magic', bytes: new Uint8Array([0, 0x61, 0x73, 0x6e, 1, 0, 0, 0]), offset: 0, pattern: /magic/ },
  { title: 'bad version', bytes: new Uint8Array([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0]), offset: 4, pattern: /version/ },
  { title: 'section size past the end', bytes: moduleBytes([0x01, 0x05, 0x00]), offset: 8, pattern: /exceeds/ },
  { title: 'unknown section id', bytes: moduleBytes([0x0e, 0x00]), offset: 8, pattern: /section id 14/ },
  {
    title: 'sections out of order',
    bytes: moduleBytes(section(3, vec([])), section(1, vec([]))),
    offset: 11,
    pattern: /out of order/,
  },
  {
    title: 'function and code counts differ',
    bytes: moduleBytes(section(1, vec([[0x60, 0, 0]])), section(3, vec([[0]])), section(10, vec([]))),
    offset: 20,
    pattern: /inconsistent/,
  },
  { title: 'unknown opcode', bytes: oneFunction([0x01, 0xff, 0x0b]), offset: 24, pattern: /illegal opcode 0xff/ },
  { title: 'missing end', bytes: oneFunction([0x01]), offset: 24, pattern: /missing end/ },
  { title: 'bytes after the final end', bytes: oneFunction([0x0b, 0x01]), offset: 24, pattern: /after the end/ },
  { title: 'else without if', bytes: oneFunction([0x05, 0x0b]), offset: 23, pattern: /'else' without/ },
  {
    title: 'invalid UTF-8 in an export name',
    bytes: moduleBytes(section(7, vec([[0x01, 0xff, 0x00, 0x00]]))),
    offset: 11,
    pattern: /UTF-8/,
  },
  {
    title: 'data count disagrees with the data section',
    bytes: moduleBytes(section(5, vec([[0, 1]])), section(12, uleb(2)), section(11, vec([[0x01, 0x00]]))),
    offset: 18,
    pattern: /data count/,
  },
  {
    title: 'a section with unread bytes',
    bytes: moduleBytes(section(8, [0x00, 0x00])),
    offset: 11,
    pattern: /size mismatch/,
  },
  {
    title: 'a vector count larger than the section',
    bytes: moduleBytes(section(1, [0xff, 0xff, 0x03])),
    offset: 10,
    pattern: /count/,
  },
];

for (const c of malformed) {
  test(`malformed binary: ${c.title} → CompileError with byte offset`, (t) => {
    const e = compileError(t, () => parseWasm(c.bytes));
    t.is(e.kind, c.kind ?? 'malformed');
    t.regex(e.detail, c.pattern);
    t.is(e.offset, c.offset);
    t.regex(e.message, /byte offset 0x/);
  });
}

test('unsupported features are named with the byte offset', (t) => {
  const cases: [Uint8Array, RegExp][] = [
    [oneFunction([0x06, 0x40, 0x0b, 0x0b]), /'try'/],
    [oneFunction([0x41, 0x00, 0xfd, 0x0f, 0x1a, 0x0b]), /SIMD/],
    [oneFunction([0xfe, 0x00, 0x0b]), /threads/],
    [oneFunction([0x14, 0x00, 0x0b]), /call_ref/],
    [moduleBytes(section(1, vec([[0x60, 0x01, 0x7b, 0x00]]))), /v128/],
    [moduleBytes(section(5, vec([[0x03, 0x01, 0x01]]))), /shared/],
    [moduleBytes(section(5, vec([[0x04, 0x01]]))), /memory64/],
    [oneFunction([0xe4, 0x00, 0x00, 0x00, 0x0b]), /'resume_throw' is not supported: wasmtime v44\.0\.0 refuses it too/],
    [oneFunction([0xe5, 0x00, 0x00, 0x0b]), /'resume_throw_ref' is not supported: wasmtime v44\.0\.0 refuses it too/],
    [moduleBytes(section(6, vec([[0x7f, 0x00, 0x41, 0x01, 0x41, 0x02, 0x6a, 0x0b]]))), /extended constant/],
  ];
  for (const [bytes, pattern] of cases) {
    const e = compileError(t, () => parseWasm(bytes));
    t.is(e.kind, 'unsupported', e.message);
    t.regex(e.message, pattern);
    t.not(e.offset, null);
  }
  const e = compileError(t, () => parseWasm(oneFunction([0x01, 0x06, 0x40, 0x0b, 0x0b])));
  t.is(e.instr, 'try');
  t.is(e.instrIndex, 1);
  t.is(e.funcIndex, 0);
  t.is(e.offset, 24);
});

test('locals beyond the implementation limit are a limit error', (t) => {
  const e = compileError(t, () => parseWasm(oneFunction([0x0b], [[...uleb(40000), 0x7f], [...uleb(20000), 0x7e]])));
  t.is(e.kind, 'limit');
});

test('Wasm 2.0 rules for what later proposals add: a second memory is invalid; tags and memop flags with a memory index are malformed', (t) => {
  const cases: [Uint8Array, CompileError['kind'], RegExp][] = [
    [moduleBytes(section(5, vec([[0x00, 0x01], [0x00, 0x01]]))), 'validation', /multiple memories/],
    [moduleBytes(section(2, vec([[...name('m'), ...name('t'), 0x02, 0x00, 0x01], [...name('m'), ...name('u'), 0x02, 0x00, 0x01]]))), 'validation', /multiple memories/],
    [moduleBytes(section(13, [0x00])), 'malformed', /malformed section id 13.*exception-handling/],
    [moduleBytes(section(2, vec([[...name('m'), ...name('t'), 0x04, 0x00, 0x00]]))), 'malformed', /malformed import kind 0x4/],
    // (memory 1) and i32.load with flags 0x42 (bit 6: a memory index follows), memory 0, offset 0.
    [moduleBytes(section(1, vec([[0x60, 0x00, 0x00]])), section(3, vec([[0x00]])), section(5, vec([[0x00, 0x01]])),
      section(10, vec([[9, 0x00, 0x41, 0x00, 0x28, 0x42, 0x00, 0x00, 0x1a, 0x0b]]))), 'malformed', /malformed memop flags 0x42/],
  ];
  for (const [bytes, kind, pattern] of cases) {
    const e = compileError(t, () => parseWasm(bytes));
    t.is(e.kind, kind, e.message);
    t.regex(e.message, pattern);
  }
});

test('more than 2^32 - 1 locals in one function is malformed, whatever the groups are (judged before the limit)', (t) => {
  const e = compileError(t, () => parseWasm(oneFunction([0x0b], [[...uleb(0x80000000), 0x7f], [...uleb(0x80000000), 0x7e]])));
  t.is(e.kind, 'malformed');
  t.regex(e.detail, /too many locals/);
});

test('modules compose: imports of all kinds decode with their types', (t) => {
  const m: WasmModule = parseWasm(wasm(`(module
    (import "a" "f" (func (param i64) (result i32)))
    (import "a" "t" (table 1 10 externref))
    (import "a" "m" (memory 2 3))
    (import "a" "g" (global (mut i64))))`));
  t.deepEqual(m.imports.map((i) => i.kind), ['func', 'table', 'memory', 'global']);
  t.like(m.imports[1], { type: { elemType: 'externref', min: 1, max: 10 } });
  t.like(m.imports[2], { type: { min: 2, max: 3, shared: false } });
  t.like(m.imports[3], { type: { valType: 'i64', mutable: true } });
  t.is(m.counts.numImportedMemories, 1);
  t.is(m.counts.numOwnedMemories, 0);
});

test('structurally equal function types share a canonical type index', (t) => {
  const m = parseWasm(wasm(`(module
    (type (func (param i32) (result i64)))
    (type (func))
    (type (func (param i32) (result i64)))
    (type (func (param i64) (result i64)))
    (type (func)))`));
  t.deepEqual(m.canonicalTypeIndices, [0, 1, 0, 3, 1]);
});

test('names are kept byte for byte: an export named U+FEFF is not the export ""', (t) => {
  const fn = (i: number) => [...uleb(i)];
  const bytes = moduleBytes(
    section(1, vec([[0x60, 0x00, 0x01, 0x7f]])),
    section(3, vec([[0x00], [0x00]])),
    section(7, vec([[...name(''), 0x00, ...fn(0)], [...name('\u{feff}'), 0x00, ...fn(1)], [...name('\u{feff}a'), 0x00, ...fn(1)]])),
    section(10, vec([[4, 0x00, 0x41, 0x01, 0x0b], [4, 0x00, 0x41, 0x02, 0x0b]])),
  );
  const m = parseWasm(bytes);
  t.deepEqual(m.exports.map((e) => [...e.name].map((c) => c.codePointAt(0))), [[], [0xfeff], [0xfeff, 0x61]]);
  // Two exports spelled with the same bytes still clash.
  const dup = moduleBytes(
    section(1, vec([[0x60, 0x00, 0x00]])),
    section(3, vec([[0x00]])),
    section(7, vec([[...name('\u{feff}'), 0x00, 0x00], [...name('\u{feff}'), 0x00, 0x00]])),
    section(10, vec([[2, 0x00, 0x0b]])),
  );
  const e = compileError(t, () => parseWasm(dup));
  t.is(e.kind, 'validation');
  t.regex(e.detail, /duplicate export/);
});

test('the reserved memory byte of memory.size/grow/fill/copy/init must be the single byte 0x00', (t) => {
  // (memory 1), one function [] -> [] (in the type section index 0) whose body is `code`.
  const withMemory = (code: number[], dataCount = false) => {
    const entry = [0x00, ...code];
    return moduleBytes(
      section(1, vec([[0x60, 0x00, 0x00]])),
      section(3, vec([[0x00]])),
      section(5, vec([[0x00, 0x01]])),
      ...(dataCount ? [section(12, uleb(1))] : []),
      section(10, vec([[...uleb(entry.length), ...entry]])),
      ...(dataCount ? [section(11, vec([[0x01, 0x00]]))] : []),
    );
  };
  const zero = (reserved: number[]) => ({
    'memory.size': [0x3f, ...reserved, 0x1a, 0x0b],
    'memory.grow': [0x41, 0x00, 0x40, ...reserved, 0x1a, 0x0b],
    'memory.fill': [0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0xfc, 0x0b, ...reserved, 0x0b],
    'memory.copy': [0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0xfc, 0x0a, 0x00, ...reserved, 0x0b],
    'memory.init': [0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0xfc, 0x08, 0x00, ...reserved, 0x0b],
  });
  for (const [instr, code] of Object.entries(zero([0x00]))) {
    t.notThrows(() => parseWasm(withMemory(code, instr === 'memory.init')), instr);
  }
  for (const reserved of [[0x80, 0x00], [0x80, 0x80, 0x00], [0x01]]) {
    for (const [instr, code] of Object.entries(zero(reserved))) {
      const bytes = withMemory(code, instr === 'memory.init');
      const e = compileError(t, () => parseWasm(bytes));
      t.is(e.kind, 'malformed', `${instr} ${reserved}: ${e.message}`);
      t.is(e.instr, instr);
      t.regex(e.detail, /^zero byte expected: .* must be the single byte 0x00/);
      t.is(bytes[e.offset!], reserved[0]); // the offset points at the reserved byte
    }
  }
});

test('empty and truncated binaries name what is missing', (t) => {
  const cases: [number[], RegExp, number][] = [
    [[], /^empty input: a Wasm binary starts with the magic header/, 0],
    [[0x00, 0x61, 0x73], /^unexpected end: the module header needs 8 bytes .*found 3$/, 3],
    [[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00], /^unexpected end: .*found 6$/, 6],
    [[0x61, 0x73, 0x6d], /^magic header not detected/, 0],
    [[0x00, 0x61, 0x73, 0x6e, 0x01, 0x00, 0x00, 0x00], /^magic header not detected/, 0],
  ];
  for (const [bytes, pattern, offset] of cases) {
    const e = compileError(t, () => parseWasm(Uint8Array.from(bytes)));
    t.is(e.kind, 'malformed');
    t.regex(e.detail, pattern);
    t.is(e.offset, offset);
  }
});
