/**
 * The type section of the GC proposal: rec groups, `sub`/`sub final`, struct and array types,
 * reference types with abstract and concrete heap types, canonical (iso-recursive) type
 * indices, and the validator's subtyping rules. Binaries are built by hand (wabt cannot write
 * GC types).
 */
import test from 'ava';
import { CompileError } from './errors.ts';
import { parseWasm } from './index.ts';
import { moduleBytes, section, uleb, vec } from './testing.ts';
import { isHeapSubtype, isValSubtype } from './subtyping.ts';

const I32 = 0x7f;
const I64 = 0x7e;
const STRUCT = 0x5f;
const ARRAY = 0x5e;
const FUNC = 0x60;
const SUB = 0x50;
const SUB_FINAL = 0x4f;
const REC = 0x4e;
const refNull = (t: number): number[] => [0x63, ...uleb(t)];
const ref = (t: number): number[] => [0x64, ...uleb(t)];
const field = (storage: number[], mutable: boolean): number[] => [...storage, mutable ? 1 : 0];

function types(...entries: number[][]): Uint8Array {
  return moduleBytes(section(1, vec(entries)));
}

test('rec groups, sub types, struct and array types decode into typeDefs', (t) => {
  const m = parseWasm(types(
    [STRUCT, ...vec([field([I32], true), field([0x6f], false), field([0x78], false)])], // 0: struct (mut i32) externref i8
    [REC, ...uleb(2),
      SUB, 0, STRUCT, ...vec([field(refNull(2), false)]), // 1: sub (struct (ref null 2))
      SUB, 1, 1, STRUCT, ...vec([field(refNull(2), false), field([I64], false)])], // 2: sub 1 (struct (ref null 2) i64)
    [ARRAY, ...field([0x77], true)], // 3: array (mut i16)
    [SUB_FINAL, 0, FUNC, 1, ...ref(0), 1, 0x6e], // 4: func (ref 0) -> anyref
  ));
  t.is(m.typeDefs.length, 5);
  const s0 = m.typeDefs[0];
  t.deepEqual(s0.composite, { kind: 'struct', fields: [{ storage: 'i32', mutable: true }, { storage: 'externref', mutable: false }, { storage: 'i8', mutable: false }] });
  t.true(s0.final);
  t.deepEqual([m.typeDefs[1].recGroupStart, m.typeDefs[1].recGroupSize, m.typeDefs[2].recGroupStart], [1, 2, 1]);
  t.false(m.typeDefs[1].final);
  t.deepEqual(m.typeDefs[2].supertypes, [1]);
  t.deepEqual(m.typeDefs[3].composite, { kind: 'array', element: { storage: 'i16', mutable: true } });
  t.deepEqual(m.types[4], { params: ['(ref 0)'], results: ['anyref'] });
  t.true(isHeapSubtype(m, 2, 1));
  t.false(isHeapSubtype(m, 1, 2));
  t.true(isHeapSubtype(m, 2, 'struct') && isHeapSubtype(m, 2, 'eq') && isHeapSubtype(m, 2, 'any'));
  t.false(isHeapSubtype(m, 3, 'struct'));
  t.true(isHeapSubtype(m, 'none', 3));
  t.false(isHeapSubtype(m, 'nofunc', 3));
  t.true(isValSubtype(m, '(ref 2)', '(ref null 1)'));
  t.false(isValSubtype(m, '(ref null 2)', '(ref 1)'));
  t.true(isValSubtype(m, 'i31ref', 'eqref'));
  t.false(isValSubtype(m, 'externref', 'anyref'));
});

test('equal rec groups are one type (canonical indices); differing finality or groups are not', (t) => {
  const point = [STRUCT, ...vec([field([I32], false)])];
  const m = parseWasm(types(
    point, // 0
    point, // 1: same as 0
    [SUB, 0, ...point], // 2: non-final: a different type
    [REC, 2, ...point, ...point], // 3, 4: a group of two is not a group of one
    [REC, 2, ...point, ...point], // 5, 6: same group as 3, 4
  ));
  t.deepEqual(m.canonicalTypeIndices, [0, 0, 2, 3, 4, 3, 4]);
  t.true(isValSubtype(m, '(ref 1)', '(ref 0)'));
  t.false(isValSubtype(m, '(ref 3)', '(ref 0)'));
  t.true(isValSubtype(m, '(ref 6)', '(ref 4)'));
});

test('type section rules: forward references only within a rec group, supertypes earlier, non-final and matching', (t) => {
  const bad = (bytes: Uint8Array, detail: RegExp): void => {
    const e = t.throws(() => parseWasm(bytes), { instanceOf: CompileError });
    t.is(e?.kind, 'validation');
    t.regex(e?.message ?? '', detail);
  };
  bad(types([STRUCT, ...vec([field(refNull(1), false)])], [STRUCT, 0]), /unknown type 1 .*later rec group/);
  bad(types([STRUCT, 0], [SUB, 1, 0, STRUCT, 0]), /supertype 0 is final/);
  bad(types([SUB, 0, ARRAY, ...field([I32], false)], [SUB, 1, 0, STRUCT, 0]), /does not match its supertype/);
  bad(types([SUB, 0, STRUCT, ...vec([field([I32], true)])], [SUB, 1, 0, STRUCT, ...vec([field([I64], true)])]), /does not match/);
  bad(types([SUB, 1, 0, STRUCT, 0]), /supertype 0 must be a type defined before it/);
  // Width and depth subtyping hold: an extra field, an immutable field of a subtype.
  t.notThrows(() => parseWasm(types(
    [SUB, 0, STRUCT, ...vec([field([0x6e], false)])],
    [SUB, 1, 0, STRUCT, ...vec([field([0x6c], false), field([I32], true)])],
  )));
  // A struct type is not a function type.
  const e = t.throws(() => parseWasm(moduleBytes(section(1, vec([[STRUCT, 0]])), section(3, vec([[0]])), section(10, vec([[2, 0, 0x0b]])))), { instanceOf: CompileError });
  t.regex(e?.message ?? '', /not a function type/);
});

test('GC type encodings outside the subset are named; a cont type must name an earlier function type', (t) => {
  const e = t.throws(() => parseWasm(types([0x5d, 0])), { instanceOf: CompileError });
  t.is(e?.kind, 'validation');
  t.regex(e?.message ?? '', /cont type names type 0, which is not a function type defined before it/);
  t.notThrows(() => parseWasm(types([FUNC, 0, 0], [0x5d, 0])));
  const f = t.throws(() => parseWasm(types([FUNC, 1, 0x69, 0])), { instanceOf: CompileError });
  t.is(f?.kind, 'unsupported');
});

test('subtyping replaces equality where values flow: a (ref $t) local set from a call returning (ref $sub)', (t) => {
  // type 0: sub (struct i32); type 1: sub 0 (struct i32 i32); type 2: func [] -> (ref 1); type 3: func [(ref null 1)] -> []
  const bytes = moduleBytes(
    section(1, vec([
      [SUB, 0, STRUCT, ...vec([field([I32], false)])],
      [SUB, 1, 0, STRUCT, ...vec([field([I32], false), field([I32], false)])],
      [FUNC, 1, 0x6e, 1, ...ref(1)],
      [FUNC, 0, 0],
    ])),
    section(3, vec([[2], [3]])),
    section(10, vec([
      // f0: (param anyref) (result (ref 1)) — body: unreachable
      [3, 0, 0x00, 0x0b],
      // f1: (local (ref null 0)) local.set 0 (call 0 (ref.null none)); body ok since (ref 1) <: (ref null 0)
      (() => { const b = [1, 1, ...refNull(0), 0xd0, 0x71, 0x10, 0, 0x21, 0, 0x0b]; return [...uleb(b.length), ...b]; })(),
    ])),
  );
  t.notThrows(() => parseWasm(bytes));
});
