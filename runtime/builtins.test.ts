import test from 'ava';
import { BUILTIN_NAMES, type BuiltinName } from '../compiler/builtins.ts';
import { parseWat } from '../compiler/frontend/index.ts';
import { ExternRefHeap } from '../gc/externref.ts';
import { Activations } from './activations.ts';
import { BuiltinsArray, IMPLEMENTED_BUILTINS, type BuiltinHost } from './builtins.ts';
import { CodeSpace } from './code-space.ts';
import { RuntimeError, WasmTrap } from './errors.ts';
import { StoreExternRefs } from './externrefs.ts';
import { ActivationsTable } from '../gc/activations.ts';
import { ARCHES, assembleBuiltinCaller, testEnvironment } from './testing.ts';
import { FUNCREF_INIT_BIT } from './table.ts';
import { Trampolines } from './trampolines.ts';
import { TrapRegistry } from './traps.ts';
import { VMContextInstance, NO_IMPORTS, type DefinedFunctionCode } from './vmcontext.ts';

const WAT = `(module
  (memory 1 3)
  (table $f 3 10 funcref)
  (table $e 2 10 externref)
  (global $g (mut externref) (ref.null extern))
  (func $a (result i32) i32.const 1)
  (func $b (result i32) i32.const 2)
  (elem $pe func $a $b $a)
  (elem declare func $b)
  (data $pd "abcdef"))`;

async function setup(arch: 'x64' | 'aarch64', hooks: Partial<Pick<BuiltinHost, 'outOfGas' | 'newEpoch'>> = {}) {
  const env0 = await testEnvironment(arch);
  const m = env0.machine;
  const heap = new ExternRefHeap(m);
  const activationsTable = new ActivationsTable(m, heap);
  let acts: Activations | undefined;
  const externRefs = new StoreExternRefs(heap, activationsTable, () => (acts?.depth ?? 0) > 0);
  const space = new CodeSpace(m);
  const tr = new Trampolines(m, space);
  const instances = new Map<bigint, VMContextInstance>();
  const host: BuiltinHost = {
    machine: m,
    externRefs,
    instanceAt(vmctx) {
      const inst = instances.get(vmctx);
      if (!inst) throw new RuntimeError('builtin', `no instance at ${vmctx}`);
      return inst;
    },
    outOfGas: hooks.outOfGas ?? (() => { throw new WasmTrap({ code: 'OutOfFuel' }); }),
    newEpoch: hooks.newEpoch ?? (() => 5n),
  };
  const builtins = new BuiltinsArray(m, env0.heap, tr, host);
  const env = { ...env0, builtinsArrayAddress: builtins.address, externRefs, activationsTableAddress: activationsTable.address };
  const module = await parseWat(WAT);
  const code: DefinedFunctionCode[] = module.functions.map((_, i) => ({ wasmCall: 0x100n + BigInt(i), nativeCall: 0x200n + BigInt(i), arrayCall: 0x300n + BigInt(i) }));
  const inst = new VMContextInstance(env, module, code, NO_IMPORTS);
  inst.initializeSegments();
  instances.set(inst.address, inst);
  acts = new Activations(m, env.limits, new TrapRegistry());
  const entries = acts;
  const callers = new Map<string, { address: bigint; returnAddress: bigint }>();
  /** Calls builtin `name` from a Wasm-like frame, as compiled code would. */
  const call = (name: BuiltinName, ...args: bigint[]): bigint => {
    const key = `${name}/${args.length}`;
    let c = callers.get(key);
    if (!c) {
      const fake = assembleBuiltinCaller(arch, BUILTIN_NAMES.indexOf(name), args.length);
      const body = space.place(`calls_${name}`, fake.code).address;
      const entry = tr.nativeToWasm({ params: args.map(() => 'i64'), results: ['i64'] }, body, `calls_${name}`);
      c = { address: entry, returnAddress: body + BigInt(fake.returnOffset) };
      callers.set(key, c);
    }
    const entry = c.address;
    return entries.enter(() => m.call(entry, [inst.address, inst.address, ...args]));
  };
  return { m, env, inst, heap, externRefs, activationsTable, call, callers, builtins };
}

for (const arch of ARCHES) {
  test(`${arch}: the array holds one stub per builtin, in v17 order`, async (t) => {
    const { m, builtins, env } = await setup(arch);
    t.is(builtins.stubs.length, 31);
    BUILTIN_NAMES.forEach((name, i) => t.is(m.readU64(builtins.address + BigInt(8 * i)), builtins.stubOf(name), name));
    t.is(m.readU64(env.builtinsArrayAddress), builtins.stubs[0]);
    m.close();
  });

  test(`${arch}: memory32_grow, memory_fill, memory_copy, memory_init, data_drop`, async (t) => {
    const { m, inst, call } = await setup(arch);
    const mem = inst.memories[0];
    t.is(call('memory32_grow', 1n, 0n), 1n);
    t.is(mem.pages, 2);
    t.is(m.readU64(mem.definitionAddress! + 8n), 2n * 65536n);
    t.is(call('memory32_grow', 5n, 0n), (1n << 64n) - 1n, 'failure is usize::MAX');
    call('memory_fill', 0n, 100n, 0x1_41n, 4n); // only the low byte of val counts
    t.deepEqual([...mem.read(99, 6)], [0, 0x41, 0x41, 0x41, 0x41, 0]);
    call('memory_copy', 0n, 102n, 0n, 100n, 4n); // overlapping
    t.deepEqual([...mem.read(100, 6)], [0x41, 0x41, 0x41, 0x41, 0x41, 0x41]);
    call('memory_init', 0n, 0n, 200n, 1n, 3n);
    t.is(Buffer.from(mem.read(200, 3)).toString(), 'bcd');
    const e = t.throws(() => call('memory_fill', 0n, 2n * 65536n - 2n, 0n, 3n));
    t.true(e instanceof WasmTrap && e.code === 'MemoryOutOfBounds', String(e));
    call('data_drop', 0n);
    call('memory_init', 0n, 0n, 200n, 0n, 0n); // empty after the drop: still fine
    t.throws(() => call('memory_init', 0n, 0n, 200n, 0n, 1n), { instanceOf: WasmTrap, message: /out of bounds memory/ });
    m.close();
  });

  test(`${arch}: a trapping builtin's WasmTrap points at the return address into Wasm`, async (t) => {
    const { m, call, callers } = await setup(arch);
    const e = t.throws(() => call('table_copy', 0n, 0n, 2n, 0n, 5n));
    t.true(e instanceof WasmTrap, String(e));
    const trap = e as WasmTrap;
    t.is(trap.code, 'TableOutOfBounds');
    t.is(trap.pc, callers.get('table_copy/5')!.returnAddress);
    t.regex(trap.backtrace[0].symbol ?? '', /^calls_table_copy\+0x/);
    m.close();
  });

  test(`${arch}: table builtins: init, elem_drop, copy, lazy init, grow, fill, ref_func`, async (t) => {
    const { m, inst, call } = await setup(arch);
    const tf = inst.tables[0];
    call('table_init', 0n, 0n, 0n, 1n, 2n); // items 1..2 ($b, $a) to elements 0..1
    const refA = inst.funcRef(0);
    const refB = inst.funcRef(1);
    t.is(tf.rawGet(0), refB | FUNCREF_INIT_BIT);
    t.is(tf.rawGet(1), refA | FUNCREF_INIT_BIT);
    t.is(tf.rawGet(2), 0n, 'untouched element is still lazily uninitialised');
    t.is(call('table_get_lazy_init_func_ref', 0n, 2n), 0n);
    t.is(tf.rawGet(2), 1n);
    call('table_copy', 0n, 0n, 1n, 0n, 2n);
    t.is(tf.getFuncRef(2), refA);
    t.is(tf.getFuncRef(1), refB);
    t.is(call('ref_func', 1n), refB);
    t.is(call('table_grow_func_ref', 0n, 2n, refA), 3n);
    t.is(tf.size, 5);
    t.is(m.readU32(inst.address + BigInt(inst.offsets.vmctxVmtableDefinitionCurrentElements(0))), 5);
    t.is(m.readU64(inst.address + BigInt(inst.offsets.vmctxVmtableDefinitionBase(0))), tf.base);
    t.is(tf.getFuncRef(4), refA);
    t.is(call('table_grow_func_ref', 0n, 20n, 0n), 0xffff_ffffn);
    call('table_fill_func_ref', 0n, 3n, 0n, 2n);
    t.is(tf.getFuncRef(3), 0n);
    call('elem_drop', 0n);
    t.throws(() => call('table_init', 0n, 0n, 0n, 0n, 1n), { instanceOf: WasmTrap, message: /table/ });
    call('table_init', 0n, 0n, 0n, 0n, 0n);
    m.close();
  });

  test(`${arch}: externref builtins keep counts: grow, fill, global get/set, drop, insert`, async (t) => {
    const { m, inst, call, heap, externRefs, activationsTable } = await setup(arch);
    const te = inst.tables[1];
    const x = heap.allocate({ name: 'x' });
    const y = heap.allocate({ name: 'y' });
    t.is(call('table_grow_externref', 1n, 3n, x), 2n);
    t.is(heap.strongCount(x), 4, 'one count per new element plus ours');
    call('table_fill_externref', 1n, 0n, y, 5n);
    t.is(heap.strongCount(x), 1);
    t.is(heap.strongCount(y), 6);
    t.throws(() => call('table_fill_externref', 1n, 4n, y, 2n), { instanceOf: WasmTrap });
    t.is(te.getExternRef(4), y);
    call('externref_global_set', 0n, x);
    t.is(heap.strongCount(x), 2);
    t.is(call('externref_global_get', 0n), x);
    t.is(heap.strongCount(x), 3, 'global_get puts a count in the activations table');
    t.deepEqual(activationsTable.elements(), [Number(x)]);
    call('externref_global_set', 0n, 0n);
    t.is(heap.strongCount(x), 2);
    call('activations_table_insert_with_gc', y);
    t.is(heap.strongCount(y), 7);
    externRefs.gc(); // no Wasm on the stack: nothing can be a root
    t.deepEqual(activationsTable.elements(), []);
    t.is(heap.strongCount(x), 1);
    t.is(heap.strongCount(y), 6);
    // drop_externref: compiled code decremented to zero, then calls the builtin to free.
    let destroyed = false;
    const z = heap.allocate('z', () => { destroyed = true; });
    m.writeU64(z, 0n);
    call('drop_externref', z);
    t.true(destroyed);
    t.false(heap.isLive(z));
    m.close();
  });

  test(`${arch}: out_of_gas and new_epoch reach the store; unimplemented builtins trap by name`, async (t) => {
    let refuels = 0;
    const { m, call } = await setup(arch, { outOfGas: () => { refuels++; }, newEpoch: () => 1234n });
    call('out_of_gas');
    t.is(refuels, 1);
    t.is(call('new_epoch'), 1234n);
    for (const name of BUILTIN_NAMES.filter((n) => !IMPLEMENTED_BUILTINS.has(n))) {
      const e = t.throws(() => call(name));
      t.true(e instanceof WasmTrap && e.code === 'UnsupportedBuiltin', `${name}: ${String(e)}`);
      t.regex((e as Error).message, new RegExp(`unsupported builtin ${name}`));
    }
    m.close();
  });

  test(`${arch}: the default out_of_gas traps with OutOfFuel`, async (t) => {
    const { m, call } = await setup(arch);
    const e = t.throws(() => call('out_of_gas'));
    t.true(e instanceof WasmTrap && e.code === 'OutOfFuel');
    m.close();
  });
}
