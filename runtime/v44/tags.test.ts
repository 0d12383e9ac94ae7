/**
 * Tag imports and exports under profile v44, on both arches: a suspend in one instance handled by
 * a resume in another that imported the same tag (from an instance's export, or made by the host
 * and defined in a linker), two distinct tags of one type that do not match each other, the
 * VMTagImport and VMTagDefinition records in the VMContext, the tag counts of the layout, typed
 * errors for a tag of another type or kind, and images that carry tag imports and exports.
 */
import test from 'ava';
import { ARCHES } from '../../isa/arch.ts';
import { V44TagImportLayout, V44TagDefinitionLayout } from '../../compiler/v44/vmoffsets.ts';
import { v44OffsetsFor } from '../../compiler/v44/codegen.ts';
import { Engine } from '../engine.ts';
import { Module } from '../module.ts';
import { InstantiationError, RuntimeError, WasmTrap } from '../errors.ts';
import { LinkerError, V44Func, V44Instance, V44Linker, V44Store, V44Tag } from './index.ts';

/** Exports a tag and a producer that suspends with it, three times, then returns 100. */
const PRODUCER = `(module
  (tag $yield (export "yield") (param i32))
  (func (export "produce") (result i32)
    (suspend $yield (i32.const 7))
    (suspend $yield (i32.const 8))
    (suspend $yield (i32.const 9))
    (i32.const 100)))`;

/** Imports the producer's function and a tag "t.yield"; sums what it yields and what it returns. */
const CONSUMER = `(module
  (type $ft (func (result i32)))
  (type $ct (cont $ft))
  (import "p" "produce" (func $produce (type $ft)))
  (import "t" "yield" (tag $yield (param i32)))
  (elem declare func $produce)
  (func (export "consume") (result i32)
    (local $k (ref null $ct)) (local $sum i32)
    (local.set $k (cont.new $ct (ref.func $produce)))
    (loop $next
      (block $on_yield (result i32 (ref $ct))
        (local.set $sum (i32.add (local.get $sum) (resume $ct (on $yield $on_yield) (local.get $k))))
        (return (local.get $sum)))
      (local.set $k)
      (local.set $sum (i32.add (i32.mul (local.get $sum) (i32.const 10)) ))
      (br $next))
    (unreachable)))`;

async function setup(arch: 'x64' | 'aarch64') {
  const engine = new Engine({ arch, profile: 'v44' });
  const store = await V44Store.create(engine);
  const producer = await Module.fromWat(engine, PRODUCER);
  const consumer = await Module.fromWat(engine, CONSUMER);
  return { engine, store, producer, consumer };
}

for (const arch of ARCHES) {
  test(`${arch}: a suspend in one instance is handled by a resume in another that imported the same tag (linker: instance exports)`, async (t) => {
    const { engine, store, producer, consumer } = await setup(arch);
    try {
      const linker = new V44Linker(engine);
      const p = linker.instantiate(store, producer);
      linker.instance('p', p);
      linker.define('t', 'yield', p.getTag('yield'));
      const c = linker.instantiate(store, consumer);
      // 7, then 7*10+8, then 78*10+9 = 789, then + 100.
      t.is(c.getFunc('consume').call(), 889);
      // The consumer's VMTagImport names the producer's VMTagDefinition, vmctx and defined index 0.
      const m = store.machine;
      const o = v44OffsetsFor(consumer.wasm);
      const imp = c.vmctx + BigInt(o.element('imported_tags', 0));
      const def = p.vmctx + BigInt(v44OffsetsFor(producer.wasm).element('defined_tags', 0));
      t.is(m.readU64(imp + BigInt(V44TagImportLayout.from)), def);
      t.is(m.readU64(imp + BigInt(V44TagImportLayout.vmctx)), p.vmctx);
      t.is(m.readU32(imp + BigInt(V44TagImportLayout.index)), 0);
      t.is(m.readU32(def + BigInt(V44TagDefinitionLayout.typeIndex)), store.signatures.idOf({ params: ['i32'], results: [] }));
      t.true(c.tag(0).equals(p.getTag('yield')), 'the imported tag is the exported one');
    } finally {
      store.close();
    }
  });

  test(`${arch}: a host tag (V44Tag.new) imported by both instances links them; a distinct tag of the same type does not match: UnhandledTag`, async (t) => {
    const { engine, store, consumer } = await setup(arch);
    try {
      const shared = await Module.fromWat(engine, PRODUCER.replace('(tag $yield (export "yield") (param i32))', '(import "t" "yield" (tag $yield (param i32)))'));
      const linker = new V44Linker(engine);
      const tag = linker.tagNew(store, 't', 'yield', { params: ['i32'], results: [] });
      linker.instance('p', linker.instantiate(store, shared));
      t.is(linker.instantiate(store, consumer).getFunc('consume').call(), 889);

      // A second, distinct tag of the same type for the consumer: the producer's suspend finds no handler.
      const other = V44Tag.new(store, { params: ['i32'], results: [] });
      t.false(other.equals(tag));
      const p2 = V44Instance.create(store, shared, [tag]);
      const c2 = V44Instance.create(store, consumer, [p2.getFunc('produce'), other]);
      const e = t.throws(() => c2.getFunc('consume').call(), { instanceOf: WasmTrap });
      t.is(e!.code, 'UnhandledTag');
    } finally {
      store.close();
    }
  });

  test(`${arch}: tag imports are type-checked at instantiation; kinds, stores and redefinitions give typed errors`, async (t) => {
    const { engine, store, producer, consumer } = await setup(arch);
    try {
      const p = V44Instance.create(store, producer);
      const wrong = V44Tag.new(store, { params: ['i64'], results: [] });
      const e = t.throws(() => V44Instance.create(store, consumer, [p.getFunc('produce'), wrong]), { instanceOf: InstantiationError });
      t.regex(e!.message, /import 1 \(t\.yield\).*incompatible tag types: the tag is \(i64\) -> \(\), the import wants \(i32\) -> \(\)/);
      t.throws(() => V44Instance.create(store, consumer, [p.getFunc('produce'), p.getFunc('produce')]), { instanceOf: InstantiationError, message: /expected a tag/ });
      const linker = new V44Linker(engine);
      linker.define('p', 'produce', p.getFunc('produce'));
      t.throws(() => linker.instantiate(store, consumer), { instanceOf: InstantiationError, message: /t\.yield.*no tag of that name is defined/ });
      linker.define('t', 'yield', wrong);
      t.throws(() => linker.instantiate(store, consumer), { instanceOf: InstantiationError, message: /incompatible tag types/ });
      t.throws(() => linker.define('t', 'yield', p.getTag('yield')), { instanceOf: LinkerError, message: /already defined/ });
      const other = await V44Store.create(engine);
      try {
        t.throws(() => V44Instance.create(store, consumer, [p.getFunc('produce'), V44Tag.new(other, { params: ['i32'], results: [] })]), { instanceOf: InstantiationError, message: /different store/ });
      } finally {
        other.close();
      }
      t.throws(() => V44Tag.new(store, { params: ['(ref 0)'], results: [] }), { instanceOf: RuntimeError, message: /names a module's type index/ });
      t.throws(() => p.getTag('produce'), { instanceOf: RuntimeError, message: /no tag export/ });
    } finally {
      store.close();
    }
  });

  test(`${arch}: the layout counts imported and defined tags, and images keep tag imports and exports`, async (t) => {
    const { engine, store, producer, consumer } = await setup(arch);
    try {
      const o = v44OffsetsFor(consumer.wasm);
      // 48-byte header; imported_functions (1 × 24) at 48; no tables or globals; imported_tags (1 × 24) at 72.
      t.is(o.vmctxImportedTagsBegin(), 72);
      t.is(o.vmctxTagsBegin(), 96, 'no defined tags: the region is empty');
      t.is(v44OffsetsFor(producer.wasm).vmctxTagsBegin(), 48);
      // From the images alone.
      const pImage = Module.fromImage(engine, producer.image!.elf);
      const cImage = Module.fromImage(engine, consumer.image!.elf);
      t.deepEqual(cImage.wasm.imports.map((i) => i.kind), ['func', 'tag']);
      t.deepEqual(pImage.wasm.exports.map((e) => `${e.kind}:${e.name}`), ['tag:yield', 'func:produce']);
      const p = V44Instance.create(store, pImage);
      const c = V44Instance.create(store, cImage, [p.getFunc('produce'), p.getTag('yield')]);
      t.is(c.getFunc('consume').call(), 889);
      t.true(V44Func.new(store, { params: [], results: [] }, () => undefined) instanceof V44Func);
    } finally {
      store.close();
    }
  });
}
