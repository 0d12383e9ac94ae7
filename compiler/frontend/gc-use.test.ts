/**
 * The GC-use check an era without the GC proposal refuses modules by: `noextern` and `nofunc`,
 * the bottom types of the extern and func hierarchies, are plain references for v44 (which
 * compiles function references for stack switching; Binaryen writes every `ref.null extern` as
 * `ref.null noextern`), GC for v17 (wasmtime v17 has neither proposal); `none`, the any
 * hierarchy's bottom, is GC for both. The v44 module compiles on both arches.
 */
import test from 'ava';
import { ARCHES } from '../../isa/arch.ts';
import { PROFILES } from '../../profiles/profile.ts';
import { CompileError } from './errors.ts';
import { firstGcUse } from './gc-use.ts';
import { parseWasm, parseWat } from './index.ts';
import { compileModule } from '../index.ts';

const BOTTOMS = `(module
  (table $t 2 externref)
  (table $ft 2 funcref)
  (global $g (mut externref) (ref.null noextern))
  (func (export "main") (result i32)
    (local $n (ref null noextern)) (local $f (ref null nofunc))
    (table.set $t (i32.const 0) (ref.null noextern))
    (table.set $ft (i32.const 0) (local.get $f))
    (global.set $g (select (result externref) (local.get $n) (table.get $t (i32.const 1)) (i32.const 1)))
    (i32.add (ref.is_null (global.get $g)) (ref.is_null (table.get $ft (i32.const 0))))))`;

test('noextern and nofunc are plain references only when the era takes the bottoms; none is GC either way', async (t) => {
  const m = await parseWat(BOTTOMS);
  t.is(firstGcUse(m, { bottoms: true }), undefined);
  t.regex(firstGcUse(m)?.what ?? '', /nullexternref/);
  // (module (func (drop (ref.null none)))) in bytes (the text parsers want a GC type first).
  const none = parseWasm(Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 10, 7, 1, 5, 0, 0xd0, 0x71, 0x1a, 0x0b]));
  t.is(firstGcUse(none, { bottoms: true })?.what, "'ref.null'");
  // (module (func (result funcref) (ref.null nofunc))) in bytes.
  const nofuncOnly = parseWasm(Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 5, 1, 0x60, 0, 1, 0x70, 3, 2, 1, 0, 10, 6, 1, 4, 0, 0xd0, 0x73, 0x0b]));
  t.is(firstGcUse(nofuncOnly, { bottoms: true }), undefined);
  t.is(firstGcUse(nofuncOnly)?.what, "'ref.null'");
});

test('v17 refuses ref.null noextern (wasmtime v17 validates without GC or function references)', async (t) => {
  const m = await parseWat(BOTTOMS);
  const e = t.throws(() => compileModule(m, { arch: 'x64', profile: PROFILES.v17 }), { instanceOf: CompileError });
  t.regex(e!.message, /needs the GC proposal, which profile v17 does not have/);
});

for (const arch of ARCHES) {
  test(`${arch}: v44 compiles the bottom types' nulls (fuzz/v44.test.ts runs them)`, async (t) => {
    const image = compileModule(await parseWat(BOTTOMS), { arch, profile: PROFILES.v44 });
    t.is(image.functions.length, 1);
  });
}
