/**
 * External symbols by name (issue 18 item 4): an image whose code calls a symbol it does not
 * define — as hand-written or foreign code does — is linked against host functions given by
 * name, collects through them with its user stack maps, and fails loudly when a name is
 * missing. The foreign image is made from a compiled one: its callee's symbol is renamed and
 * left undefined, so the call is a relocation against a name only the host can resolve.
 */
import test from 'ava';
import { ARCHES } from '../../isa/arch.ts';
import { LoaderError } from '../../loader/elf.ts';
import { foreignImage } from './testing.ts';
import { Engine } from '../engine.ts';
import { Module } from '../module.ts';
import { InstantiationError } from '../errors.ts';
import { V31Store } from './store.ts';
import { V31ExternRef, V31Func, V31Instance } from './instance.ts';
import { externalSymbolsOf } from './session.ts';

for (const arch of ARCHES) {
  test(`${arch}: an image calling an undefined symbol runs against the host function of that name, and its map holds the caller's ref`, async (t) => {
    const bytes = await foreignImage(arch, 'collect');
    t.deepEqual(externalSymbolsOf(bytes), ['collect']);
    const engine = new Engine({ arch, profile: 'v31' });
    const module = Module.fromImage(engine, bytes, 'foreign.o');
    const store = await V31Store.create(engine, { explainCollections: true });
    try {
      const seen: unknown[] = [];
      const roots: number[][] = [];
      const collect = V31Func.new(store, { params: ['externref'], results: [] }, (_c, r) => {
        seen.push((r as V31ExternRef).value);
        roots.push(store.gc().preciseRoots);
      });
      const inst = V31Instance.create(store, module, [], { symbols: { collect } });
      const a = V31ExternRef.new(store, 'a');
      const out = inst.getFunc('f').call(a) as V31ExternRef;
      t.is(out.value, 'a');
      t.deepEqual(seen, ['a']);
      t.deepEqual(roots, [[a.raw]], 'the collection inside the host function found the caller frame\'s ref through its user stack map');
    } finally {
      store.close();
    }
  });

  test(`${arch}: a missing symbol is a LoaderError naming it; a Wasm function cannot stand for one`, async (t) => {
    const bytes = await foreignImage(arch, 'collect');
    const engine = new Engine({ arch, profile: 'v31' });
    const module = Module.fromImage(engine, bytes, 'foreign.o');
    const store = await V31Store.create(engine);
    try {
      t.throws(() => V31Instance.create(store, module), { instanceOf: LoaderError, message: /unresolved symbol\(s\): collect/ });
      const other = V31Instance.create(store, await Module.fromWat(engine, '(module (func (export "g") (param externref)))'));
      t.throws(() => V31Instance.create(store, module, [], { symbols: { collect: other.getFunc('g') } }), { instanceOf: InstantiationError, message: /only host functions/ });
    } finally {
      store.close();
    }
  });
}
