/**
 * Importing tables, memories and globals into a v31 instance (v31's VMTableImport,
 * VMMemoryImport and VMGlobalImport: compiled code reads the owner's definition through the
 * record's `from` pointer), from another instance's exports and from the host, on both arches.
 */
import test from 'ava';
import { ARCHES } from '../../isa/arch.ts';
import { V31TableImportLayout, V31MemoryImportLayout, V31GlobalImportLayout } from '../../compiler/v31/vmoffsets.ts';
import { Engine } from '../engine.ts';
import { InstantiationError, WasmTrap } from '../errors.ts';
import { LinearMemory } from '../memory.ts';
import { Module } from '../module.ts';
import { V31Store } from './store.ts';
import { V31ExternRef, V31Func, V31Global, V31Instance, V31Table, newV31Memory } from './instance.ts';

const EXPORTER = `(module
  (memory (export "mem") 1 4)
  (table (export "funcs") 2 8 funcref)
  (table (export "refs") 2 8 externref)
  (global (export "count") (mut i32) (i32.const 7))
  (global (export "ref") (mut externref) (ref.null extern))
  (global (export "k") i64 (i64.const 99))
  (func $answer (result i32) (i32.const 42))
  (elem (table 0) (i32.const 1) func $answer)
  (func (export "peek") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "pages") (result i32) (memory.size))
  (func (export "get_count") (result i32) (global.get 0))
  (func (export "get_ref") (result externref) (global.get 1))
  (func (export "table_ref") (param i32) (result externref) (table.get 1 (local.get 0)))
  (func (export "refs_size") (result i32) (table.size 1)))`;

const IMPORTER = `(module
  (import "a" "mem" (memory 1))
  (import "a" "funcs" (table 2 funcref))
  (import "a" "refs" (table 1 externref))
  (import "a" "count" (global $count (mut i32)))
  (import "a" "ref" (global $ref (mut externref)))
  (import "a" "k" (global $k i64))
  (import "env" "gc" (func $gc))
  (type $r (func (result i32)))
  (global $twice i64 (global.get $k))
  (func (export "poke") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "bump") (result i32)
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (global.get $count))
  (func (export "keep") (param externref) (global.set $ref (local.get 0)) (call $gc))
  (func (export "put") (param i32 externref) (table.set 1 (local.get 0) (local.get 1)))
  (func (export "grow_refs") (param externref i32) (result i32) (table.grow 1 (local.get 0) (local.get 1)))
  (func (export "call1") (result i32) (call_indirect (type $r) (i32.const 1)))
  (func (export "k") (result i64) (global.get $twice)))`;

async function setUp(arch: (typeof ARCHES)[number]) {
  const engine = new Engine({ arch, profile: 'v31' });
  const store = await V31Store.create(engine);
  const exporter = V31Instance.create(store, await Module.fromWat(engine, EXPORTER));
  const gc = V31Func.new(store, { params: [], results: [] }, () => void store.gc());
  const get = (name: string) => exporter.getExport(name)!;
  const imports = [get('mem'), get('funcs'), get('refs'), get('count'), get('ref'), get('k'), gc];
  return { engine, store, exporter, imports, importerModule: await Module.fromWat(engine, IMPORTER) };
}

for (const arch of ARCHES) {
  test(`${arch}: an instance imports another's memory, tables and globals, and both see every change`, async (t) => {
    const { store, exporter, imports, importerModule } = await setUp(arch);
    try {
      const user = V31Instance.create(store, importerModule, imports);
      const call = (inst: V31Instance, name: string, ...args: Parameters<V31Func['call']>) => inst.getFunc(name).call(...args);
      // The VMContext's import records point at the exporter's definitions.
      const m = store.machine;
      const o = user.offsets;
      const refsTable = exporter.getTable('refs');
      t.is(m.readU64(user.address + BigInt(o.element('imported_tables', 1) + V31TableImportLayout.from)), refsTable.definition);
      t.is(m.readU64(user.address + BigInt(o.element('imported_tables', 1) + V31TableImportLayout.vmctx)), exporter.address);
      const mem = exporter.getExport('mem') as LinearMemory;
      t.is(m.readU64(user.address + BigInt(o.element('imported_memories', 0) + V31MemoryImportLayout.from)), mem.definitionAddress!);
      t.is(m.readU64(user.address + BigInt(o.element('imported_memories', 0) + V31MemoryImportLayout.vmctx)), exporter.address);
      t.is(m.readU64(user.address + BigInt(o.element('imported_globals', 0) + V31GlobalImportLayout.from)), exporter.getGlobal('count').address);
      // Memory: a store by the importer is read by the exporter; growth is seen by both.
      call(user, 'poke', 100, 0x1234_5678);
      t.is(call(exporter, 'peek', 100), 0x1234_5678);
      t.is(call(user, 'grow', 2), 1);
      t.is(call(exporter, 'pages'), 3);
      t.is(mem.pages, 3);
      t.is(call(user, 'grow', 2), -1, 'the exporter\'s maximum of 4 pages holds for the importer');
      // Globals: numeric, and an initializer reading an imported one.
      t.is(call(user, 'bump'), 8);
      t.is(call(exporter, 'get_count'), 8);
      t.is(call(user, 'k'), 99n);
      // Funcref table: the exporter's element segment, called indirectly by the importer.
      t.is(call(user, 'call1'), 42);
      // Externref table and global, with their counts (each element or global holds one).
      const a = V31ExternRef.new(store, 'in table');
      const b = V31ExternRef.new(store, 'in global');
      call(user, 'put', 1, a);
      call(user, 'keep', b);
      t.is(store.gcHeap.refCount(a.raw), 2n, 'the handle and the table element');
      t.is(store.gcHeap.refCount(b.raw), 2n, 'the handle and the global (the collection in keep swept the argument\'s count)');
      const fromTable = call(exporter, 'table_ref', 1) as V31ExternRef;
      const fromGlobal = call(exporter, 'get_ref') as V31ExternRef;
      t.is(fromTable.value, 'in table');
      t.is(fromGlobal.value, 'in global');
      fromTable.release();
      fromGlobal.release();
      t.is(call(user, 'grow_refs', a, 3), 2);
      t.is(call(exporter, 'refs_size'), 5);
      t.is(refsTable.size, 5);
      store.gc();
      t.is(store.gcHeap.refCount(a.raw), 5n, 'once a collection swept the activations table: the handle and four elements (growth filled three)');
      a.release();
      b.release();
      // Exports of imported items are the same handles.
      t.is(user.memories[0], mem);
      t.is(user.tables[1], refsTable);
    } finally {
      store.close();
    }
  });

  test(`${arch}: tables, memories and globals made by the host are imported (V31Table.new, newV31Memory, V31Global.new)`, async (t) => {
    const engine = new Engine({ arch, profile: 'v31' });
    const store = await V31Store.create(engine);
    try {
      const destroyed: unknown[] = [];
      const gc = V31Func.new(store, { params: [], results: [] }, () => void store.gc());
      const answer = V31Func.new(store, { params: [], results: ['i32'] }, () => 42);
      const mem = newV31Memory(store, { min: 1, max: 2, shared: false });
      mem.write(8, new Uint8Array([1, 2, 3, 4]));
      const funcs = V31Table.new(store, { elemType: 'funcref', min: 2, max: null }, answer);
      const held = V31ExternRef.new(store, 'host', (v) => destroyed.push(v));
      const refs = V31Table.new(store, { elemType: 'externref', min: 1, max: 8 }, held);
      const count = V31Global.new(store, { valType: 'i32', mutable: true }, 41);
      const ref = V31Global.new(store, { valType: 'externref', mutable: true }, null);
      const k = V31Global.new(store, { valType: 'i64', mutable: false }, 5n);
      t.is(store.gcHeap.refCount(held.raw), 2n, 'the handle and the table element');
      const user = V31Instance.create(store, await Module.fromWat(engine, IMPORTER), [mem, funcs, refs, count, ref, k, gc]);
      const call = (name: string, ...args: Parameters<V31Func['call']>) => user.getFunc(name).call(...args);
      t.is(call('call1'), 42, 'a host function in a host table, called indirectly');
      call('poke', 12, 0x0a0b0c0d);
      t.deepEqual([...mem.read(8, 8)], [1, 2, 3, 4, 0x0d, 0x0c, 0x0b, 0x0a]);
      t.is(call('grow', 1), 1);
      t.is(call('grow', 1), -1);
      t.is(call('bump'), 42);
      t.is(count.get(), 42);
      t.is(call('k'), 5n);
      held.release();
      call('keep', null);
      t.deepEqual(destroyed, [], 'the table element keeps it across a collection');
      refs.set(0, 0n);
      store.gc();
      t.deepEqual(destroyed, ['host']);
      // A trap in imported memory is a Wasm trap of this store.
      const e = t.throws(() => call('poke', 2 * 65536, 1), { instanceOf: WasmTrap });
      t.is(e?.code, 'MemoryOutOfBounds');
    } finally {
      store.close();
    }
  });

  test(`${arch}: an import of the wrong kind, type, size or store is an InstantiationError naming it`, async (t) => {
    const { engine, store, imports, importerModule } = await setUp(arch);
    const other = await V31Store.create(engine);
    try {
      const bad = (i: number, value: unknown, message: RegExp) => {
        const list = [...imports];
        list[i] = value as (typeof imports)[number];
        const e = t.throws(() => V31Instance.create(store, importerModule, list), { instanceOf: InstantiationError });
        t.regex(e!.message, message);
      };
      bad(0, imports[1], /import 0 \(a\.mem\).*expected a memory/);
      bad(0, newV31Memory(other, { min: 1, max: null, shared: false }), /import 0 \(a\.mem\).*different store/);
      bad(0, newV31Memory(store, { min: 0, max: null, shared: false }), /memory of pages of 0 is below the import's minimum 1/);
      bad(1, V31Table.new(store, { elemType: 'externref', min: 2, max: null }), /import 1 \(a\.funcs\).*a table of externref does not match a table of funcref/);
      bad(1, V31Table.new(store, { elemType: 'funcref', min: 1, max: null }), /table size of 1 is below the import's minimum 2/);
      bad(3, V31Global.new(store, { valType: 'i32', mutable: false }, 1), /import 3 \(a\.count\).*immutable i32 global does not match a mutable i32 one/);
      bad(5, V31Global.new(store, { valType: 'i32', mutable: false }, 1), /immutable i32 global does not match a immutable i64 one/);
      bad(6, imports[3], /import 6 \(env\.gc\).*expected a V31Func/);
      // A maximum: the import says at most 3 elements; an unbounded table does not match.
      const capped = await Module.fromWat(engine, '(module (import "a" "t" (table 1 3 funcref)))');
      const e = t.throws(() => V31Instance.create(store, capped, [V31Table.new(store, { elemType: 'funcref', min: 1, max: null })]), { instanceOf: InstantiationError });
      t.regex(e!.message, /maximum none exceeds the import's 3/);
      t.notThrows(() => V31Instance.create(store, capped, [V31Table.new(store, { elemType: 'funcref', min: 1, max: 2 })]));
    } finally {
      other.close();
      store.close();
    }
  });
}
