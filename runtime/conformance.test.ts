/**
 * Spec conformance fixes that reach execution, through the public API on both arches: names
 * are kept byte for byte (U+FEFF), the reserved memory byte of memory.size/grow, and empty or
 * truncated binaries given to Module.from.
 */
import test from 'ava';
import { CompileError, Engine, ExternRef, Global, Instance, Module, Store } from '../index.ts';
import { compileModule } from '../compiler/index.ts';
import { loadWat, parseWasm, watToBinary } from '../compiler/frontend/index.ts';
import { moduleBytes, section, vec } from '../compiler/frontend/testing.ts';
import { ARCHES } from './testing.ts';

const BOM_EXPORTS = `(module
  (func (export "") (result i32) i32.const 1)
  (func (export "\\ef\\bb\\bf") (result i32) i32.const 2)
  (func (export "\\ef\\bb\\bfx") (result i32) i32.const 3))`;

/**
 * (memory 1); "size" () -> i32 runs memory.size, "grow" (i32) -> i32 runs memory.grow, each
 * with `reserved` as its memory immediate (the single byte 0x00 in a well-formed module).
 */
function memoryModule(reserved: number[]): Uint8Array {
  const size = [0x00, 0x3f, ...reserved, 0x0b];
  const grow = [0x00, 0x20, 0x00, 0x40, ...reserved, 0x0b];
  const exp = (n: string, i: number) => [n.length, ...new TextEncoder().encode(n), 0x00, i];
  return moduleBytes(
    section(1, vec([[0x60, 0x00, 0x01, 0x7f], [0x60, 0x01, 0x7f, 0x01, 0x7f]])),
    section(3, vec([[0x00], [0x01]])),
    section(5, vec([[0x01, 0x01, 0x04]])),
    section(7, vec([exp('size', 0), exp('grow', 1)])),
    section(10, vec([[size.length, ...size], [grow.length, ...grow]])),
  );
}

test.before(async () => {
  await loadWat();
});

for (const arch of ARCHES) {
  test(`${arch}: exports "", "\\u{feff}" and "\\u{feff}x" are distinct, from text, binary and image`, async (t) => {
    const engine = new Engine({ arch });
    const store = await Store.create(engine);
    const binary = watToBinary(BOM_EXPORTS).bytes;
    const modules = [
      await Module.from(engine, BOM_EXPORTS),
      await Module.from(engine, binary),
      Module.fromImage(engine, compileModule(parseWasm(binary), { arch }).elf, 'bom.o'),
    ];
    for (const module of modules) {
      t.deepEqual(module.exports.map((e) => e.name), ['', '\u{feff}', '\u{feff}x']);
      const instance = Instance.create(store, module);
      t.is(instance.getFunc('').call(), 1);
      t.is(instance.getFunc('\u{feff}').call(), 2);
      t.is(instance.getFunc('\u{feff}x').call(), 3);
    }
  });

  test(`${arch}: memory.size/grow run with the reserved byte 0x00 and are malformed with "80 00"`, async (t) => {
    const engine = new Engine({ arch });
    const store = await Store.create(engine);
    const instance = Instance.create(store, await Module.from(engine, memoryModule([0x00])));
    t.is(instance.getFunc('size').call(), 1);
    t.is(instance.getFunc('grow').call(2), 1);
    t.is(instance.getFunc('size').call(), 3);
    t.is(instance.getFunc('grow').call(2), -1); // past the maximum of 4 pages
    for (const reserved of [[0x80, 0x00], [0x01]]) {
      const e = await t.throwsAsync(Module.from(engine, memoryModule(reserved)));
      t.true(e instanceof CompileError && e.kind === 'malformed', String(e));
      t.regex(e!.message, /^malformed error: zero byte expected: 'memory\.size' .*byte offset 0x/);
    }
  });

  test(`${arch}: Module.from of empty or truncated bytes is a malformed-binary CompileError`, async (t) => {
    const engine = new Engine({ arch });
    const cases: [Uint8Array, RegExp][] = [
      [new Uint8Array(0), /^malformed error: empty input: a Wasm binary starts with the magic header \\0asm/],
      [Uint8Array.of(0x00, 0x61, 0x73), /^malformed error: unexpected end: the module header needs 8 bytes/],
      [Uint8Array.of(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00), /^malformed error: unexpected end: .*found 7/],
    ];
    for (const [bytes, pattern] of cases) {
      const e = await t.throwsAsync(Module.from(engine, bytes));
      t.true(e instanceof CompileError && e.kind === 'malformed', String(e));
      t.regex(e!.message, pattern);
    }
    // WAT text given as bytes still compiles.
    const text = new TextEncoder().encode(';; answer\n(module (func (export "f") (result i32) i32.const 42))');
    t.is(Instance.create(await Store.create(engine), await Module.from(engine, text)).getFunc('f').call(), 42);
  });

  test(`${arch}: WAT with UTF-8 text (names, a raw byte-order mark) keeps every character`, async (t) => {
    const engine = new Engine({ arch });
    const module = await Module.from(engine, '(module ;; déjà vu\n  (func (export "é") (result i32) i32.const 1)\n  (func (export "\u{feff}") (result i32) i32.const 2)\n  (func (export "日本") (result i32) i32.const 3))');
    t.deepEqual(module.exports.map((e) => e.name), ['é', '\u{feff}', '日本']);
    const instance = Instance.create(await Store.create(engine), module);
    t.is(instance.getFunc('日本').call(), 3);
  });

  test(`${arch}: element segment items may read an imported global (funcref and externref)`, async (t) => {
    const engine = new Engine({ arch });
    const store = await Store.create(engine);
    const donor = Instance.create(store, await Module.from(engine, '(module (func $f (export "f") (result i32) i32.const 7) (global (export "g") funcref (ref.func $f)))'));
    const ref = ExternRef.new(store, 'host');
    const module = await Module.from(engine, `(module
      (import "d" "g" (global $g funcref))
      (import "h" "x" (global $x externref))
      (table $t 2 funcref) (table $e 1 externref)
      (type $r (func (result i32)))
      (elem (table $t) (i32.const 1) funcref (global.get 0))
      (elem (table $e) (i32.const 0) externref (global.get 1))
      (elem $p funcref (global.get 0))
      (func (export "call") (param i32) (result i32) local.get 0 call_indirect $t (type $r))
      (func (export "init") (table.init $t $p (i32.const 0) (i32.const 0) (i32.const 1)))
      (func (export "ext") (result externref) i32.const 0 table.get $e))`);
    const instance = Instance.create(store, module, [donor.getExport('g')!, Global.new(store, { valType: 'externref', mutable: false }, ref)]);
    t.is(instance.getFunc('call').call(1), 7);
    instance.getFunc('init').call();
    t.is(instance.getFunc('call').call(0), 7);
    t.is((instance.getFunc('ext').call() as ExternRef).value, 'host');
  });
}
