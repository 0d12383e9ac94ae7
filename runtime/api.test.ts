import test from 'ava';
import {
  Engine, Store, Module, Instance, Linker, Func, Global, Table, Memory, ExternRef, WasmTrap, InstantiationError, LinkerError, type Val, type TrapCode,
} from '../index.ts';
import {
  VMCONTEXT_MAGIC, VMFuncRefLayout, VMFunctionImportLayout, VMMemoryDefinitionLayout, VMTableDefinitionLayout,
  VM_NATIVE_CALL_HOST_FUNC_MAGIC, VMHostFuncContextLayout,
} from '../compiler/vmoffsets.ts';
import { compileModule } from '../compiler/index.ts';
import { parseWat, watToBinary, loadWat } from '../compiler/frontend/index.ts';
import { StackscopeError } from '../isa/error.ts';
import { storeInternals } from './store.ts';
import { ARCHES } from './testing.ts';
import type { Arch } from '../isa/arch.ts';

async function storeFor(arch: Arch): Promise<{ engine: Engine; store: Store }> {
  const engine = new Engine({ arch, maxWasmStack: 256 * 1024 });
  return { engine, store: await Store.create(engine) };
}

/** The guest addresses of every trap site of `code` in the module's image. */
function trapSites(store: Store, module: Module, code: string): bigint[] {
  const textBase = store.textBaseOf(module)!;
  return module.code.traps.filter((t) => t.code === code).map((t) => textBase + BigInt(t.textOffset));
}

const KINDS = `(module
  (memory (export "mem") 1 4)
  (table $t (export "tab") 4 funcref)
  (table $e (export "etab") 2 externref)
  (global (export "c32") i32 (i32.const -7))
  (global $g64 (export "g64") (mut i64) (i64.const 0x1234567890))
  (global $ge (export "gext") (mut externref) (ref.null extern))
  (global (export "gfn") funcref (ref.func $inc))
  (func $inc (export "inc") (param i32) (result i32) local.get 0 i32.const 1 i32.add)
  (func (export "bump64") (result i64) global.get $g64 i64.const 1 i64.add global.set $g64 global.get $g64)
  (func (export "store") (param i32 i32) local.get 0 local.get 1 i32.store)
  (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
  (func (export "call_t") (param i32 i32) (result i32) local.get 1 local.get 0 call_indirect $t (param i32) (result i32))
  (func (export "eget") (param i32) (result externref) local.get 0 table.get $e)
  (func (export "eset") (param i32 externref) local.get 0 local.get 1 table.set $e)
  (func (export "gext_set") (param externref) local.get 0 global.set $ge)
  (func (export "id") (param externref) (result externref) local.get 0)
  (elem (table $t) (i32.const 1) func $inc))`;

for (const arch of ARCHES) {
  test(`${arch}: every export kind, through the accessors and from Wasm`, async (t) => {
    const { engine, store } = await storeFor(arch);
    const module = await Module.fromWat(engine, KINDS);
    const inst = Instance.create(store, module);
    // VMContext as the compiled code sees it.
    t.is(store.machine.readU32(inst.vmctx), VMCONTEXT_MAGIC);
    t.is(module.image!.offsets.size, (inst as unknown as { vm: { offsets: { size: number } } }).vm.offsets.size);
    // Functions.
    t.is((inst.exports.inc as (...a: Val[]) => Val)(41), 42);
    t.is(inst.getFunc('inc').callNative(-1), 0);
    // Globals.
    t.is(inst.getGlobal('c32').get(), -7);
    t.throws(() => inst.getGlobal('c32').set(1), { message: /immutable/ });
    t.is(inst.getFunc('bump64').call(), 0x1234567891n);
    inst.getGlobal('g64').set(-2n);
    t.is(inst.getGlobal('g64').get(), -2n);
    t.is(inst.getFunc('bump64').call(), -1n);
    const gfn = inst.getGlobal('gfn').get();
    t.true(gfn instanceof Func);
    t.is((gfn as Func).call(9), 10);
    // Memory.
    const mem = inst.getMemory('mem');
    inst.getFunc('store').call(100, 0x01020304);
    t.deepEqual([...mem.read(100, 4)], [4, 3, 2, 1]);
    mem.writeU32(200, 0xdeadbeef);
    t.is(mem.readU32(200), 0xdeadbeef);
    t.is(inst.getFunc('grow').call(2), 1);
    t.is(mem.size(), 3);
    t.is(mem.grow(1), 3);
    t.is(inst.getFunc('grow').call(1), -1, 'beyond the maximum');
    // Funcref table: lazy element, host set, call_indirect through both.
    const tab = inst.getTable('tab');
    t.is(tab.size(), 4);
    t.is((tab.get(1) as Func).call(1), 2);
    t.is(tab.get(0), null);
    tab.set(3, inst.getFunc('inc'));
    t.is(inst.getFunc('call_t').call(3, 5), 6);
    t.is(tab.grow(2, null), 4);
    t.is(tab.size(), 6);
    // Externref table and global, with counts.
    const x = ExternRef.new(store, { hello: 'world' });
    t.is(x.strongCount(), 1);
    inst.getTable('etab').set(0, x);
    t.is(x.strongCount(), 2);
    const back = inst.getFunc('eget').call(0) as ExternRef;
    t.deepEqual(back.value, { hello: 'world' });
    t.is(back.pointer, x.pointer);
    back.release();
    inst.getFunc('gext_set').call(x);
    const g = inst.getGlobal('gext').get() as ExternRef;
    t.is(g.pointer, x.pointer);
    g.release();
    const echoed = inst.getFunc('id').call(x) as ExternRef;
    t.is(echoed.value, x.value);
    echoed.release();
    store.gc();
    t.is(x.strongCount(), 3, 'ours + the table element + the global');
    inst.getTable('etab').set(0, null);
    inst.getGlobal('gext').set(null);
    t.is(x.strongCount(), 1);
    x.release();
    t.true(x.released);
    t.throws(() => x.strongCount(), { message: /after release/ });
    store.close();
  });

  test(`${arch}: host functions with many arguments, i64 and externref, and a Caller`, async (t) => {
    const { engine, store } = await storeFor(arch);
    const module = await Module.fromWat(engine, `(module
      (import "h" "many" (func $many (param i32 i64 i32 i64 i32 i64 i32 i64 i32 i64) (result i64)))
      (import "h" "mk" (func $mk (param i32) (result externref)))
      (import "h" "peek" (func $peek (param externref) (result i32)))
      (func (export "go") (result i64)
        i32.const 1 i64.const 2 i32.const -3 i64.const -4 i32.const 5
        i64.const 0x100000000 i32.const 7 i64.const 8 i32.const 9 i64.const 10
        call $many)
      (func (export "roundtrip") (param i32) (result i32) local.get 0 call $mk call $peek))`);
    let seen: Val[] = [];
    const many = Func.wrap(store, { params: ['i32', 'i64', 'i32', 'i64', 'i32', 'i64', 'i32', 'i64', 'i32', 'i64'], results: ['i64'] },
      (_caller, ...args) => {
        seen = args;
        return args.reduce<bigint>((s, v) => s + BigInt(v as number | bigint), 0n);
      });
    let gcCalls = 0;
    const callers: unknown[] = [];
    const mk = Func.wrap(store, { params: ['i32'], results: ['externref'] }, (_c, n) => ExternRef.new(store, `value ${n}`));
    const peek = Func.wrap(store, { params: ['externref'], results: ['i32'] }, (caller, r) => {
      caller.gc(); // Wasm is on the stack: the store must not free what the frame holds
      gcCalls++;
      t.is(caller.store, store);
      callers.push(caller.instance);
      return Number(String((r as ExternRef).value).split(' ')[1]) * 2;
    });
    const inst = Instance.create(store, module, [many, mk, peek]);
    t.is(inst.getFunc('go').call(), 1n + 2n - 3n - 4n + 5n + 0x100000000n + 7n + 8n + 9n + 10n);
    t.deepEqual(seen, [1, 2n, -3, -4n, 5, 0x100000000n, 7, 8n, 9, 10n]);
    t.is(inst.getFunc('roundtrip').call(21), 42);
    t.is(gcCalls, 1);
    t.is(callers[0], inst, 'the Caller names the calling instance');
    store.gc();
    t.is(storeInternals(store).externRefHeap.liveCount, 0, 'the moved result was collected once Wasm returned');
    // Calling a host function from the host goes straight to JS.
    const arg = ExternRef.new(store, 'x 4');
    t.is(peek.call(arg), 8);
    t.is(callers[1], undefined);
    t.is(arg.strongCount(), 1);
    arg.release();
    t.is(storeInternals(store).externRefHeap.liveCount, 0);
    store.close();
  });

  test(`${arch}: instances link through imports of every kind`, async (t) => {
    const { engine, store } = await storeFor(arch);
    const a = Instance.create(store, await Module.fromWat(engine, KINDS));
    const user = await Module.fromWat(engine, `(module
      (import "a" "inc" (func $inc (param i32) (result i32)))
      (import "a" "mem" (memory 1))
      (import "a" "tab" (table 4 funcref))
      (import "a" "g64" (global $g (mut i64)))
      (func (export "twice") (param i32) (result i32) local.get 0 call $inc call $inc)
      (func (export "peek") (param i32) (result i32) local.get 0 i32.load)
      (func (export "g") (result i64) global.get $g)
      (func (export "via_table") (param i32) (result i32) local.get 0 i32.const 1 call_indirect (param i32) (result i32)))`);
    const b = Instance.create(store, user, [a.getFunc('inc'), a.getMemory('mem'), a.getTable('tab'), a.getGlobal('g64')]);
    t.is(b.getFunc('twice').call(1), 3);
    a.getMemory('mem').writeU32(8, 777);
    t.is(b.getFunc('peek').call(8), 777);
    a.getGlobal('g64').set(99n);
    t.is(b.getFunc('g').call(), 99n);
    t.is(b.getFunc('via_table').call(10), 11);
    t.throws(() => Instance.create(store, user, [a.getFunc('inc')]), { message: /imports given/ });
    const linker = new Linker(engine).instance('a', a);
    t.is(linker.instantiate(store, user).getFunc('twice').call(5), 7);
    t.throws(() => linker.define('a', 'inc', a.getFunc('inc')), { instanceOf: LinkerError, message: /a\.inc is already defined/ });
    t.throws(() => new Linker(new Engine({ arch })).define('a', 'inc', a.getFunc('inc')), { instanceOf: LinkerError, message: /another engine/ });
    t.throws(() => new Linker(engine).instantiate(store, user), { instanceOf: InstantiationError, message: /import 0 \(a\.inc\): no func of that name is defined/ });
    t.throws(() => Instance.create(store, user, [a.getMemory('mem'), a.getMemory('mem'), a.getTable('tab'), a.getGlobal('g64')]), { message: /expected a function/ });
    store.close();
  });

  test(`${arch}: traps carry wasmtime's codes, the trap site PC and a symbolized backtrace`, async (t) => {
    const { engine, store } = await storeFor(arch);
    const module = await Module.fromWat(engine, `(module
      (type $ii (func (param i32) (result i32)))
      (type $v (func))
      (memory 1)
      (table 4 funcref)
      (func $unreach (export "unreach") unreachable)
      (func (export "oob") (param i32) (result i32) local.get 0 i32.load)
      (func (export "tab_oob") (param i32) (result funcref) local.get 0 table.get 0)
      (func (export "ind") (param i32) (result i32) i32.const 1 local.get 0 call_indirect (type $ii))
      (func (export "div") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)
      (func (export "div64") (param i64 i64) (result i64) local.get 0 local.get 1 i64.div_u)
      (func $rec (export "rec") (param i32) (result i32) local.get 0 i32.const 1 i32.add call $rec)
      (func (export "deep") call $unreach)
      (elem (i32.const 0) func $unreach))`);
    const inst = Instance.create(store, module);
    const expectTrap = (name: string, args: Val[], code: TrapCode, siteCode = code): WasmTrap => {
      const e = t.throws(() => inst.getFunc(name).call(...args));
      t.true(e instanceof WasmTrap, `${name}: ${String(e)}`);
      const trap = e as WasmTrap;
      t.is(trap.code, code, name);
      const sites = trapSites(store, module, siteCode === 'MemoryOutOfBounds' ? 'HeapOutOfBounds' : siteCode);
      t.true(sites.includes(trap.pc!), `${name}: pc ${trap.pc?.toString(16)} is a ${siteCode} site`);
      t.regex(trap.backtrace[0].symbol ?? '', /^module\d+!/, name);
      return trap;
    };
    expectTrap('unreach', [], 'UnreachableCodeReached');
    expectTrap('oob', [65534], 'MemoryOutOfBounds');
    expectTrap('tab_oob', [4], 'TableOutOfBounds');
    expectTrap('ind', [9], 'TableOutOfBounds');
    expectTrap('ind', [1], 'IndirectCallToNull');
    expectTrap('ind', [0], 'BadSignature');
    expectTrap('div', [1, 0], 'IntegerDivisionByZero');
    expectTrap('div', [-0x80000000, -1], 'IntegerOverflow');
    expectTrap('div64', [1n, 0n], 'IntegerDivisionByZero');
    const so = expectTrap('rec', [0], 'StackOverflow');
    t.true(so.backtrace.length > 100);
    t.true(so.backtrace.slice(0, 50).every((f) => /!rec\+/.test(f.symbol ?? '')));
    const deep = expectTrap('deep', [], 'UnreachableCodeReached');
    t.deepEqual(deep.backtrace.slice(0, 2).map((f) => /!(\w+)\+/.exec(f.symbol ?? '')?.[1]), ['unreach', 'deep']);
    // The store is usable after every trap, and the limits are back to "no Wasm running".
    t.is(store.wasmDepth, 0);
    t.is(storeInternals(store).limits.stackLimit, (1n << 64n) - 1n);
    t.is(inst.getFunc('div').call(7, 2), 3);
    store.close();
  });

  test(`${arch}: nested host↔wasm calls to depth 100, and a trap at the bottom unwinds every level`, async (t) => {
    const { engine, store } = await storeFor(arch);
    const module = await Module.fromWat(engine, `(module
      (import "h" "down" (func $down (param i32) (result i32)))
      (func (export "f") (param i32) (result i32)
        local.get 0 i32.eqz
        if (result i32) i32.const 0
        else local.get 0 call $down i32.const 1 i32.add end))`);
    let f: Func | undefined;
    let maxDepth = 0;
    let trapAt = -1;
    const down = Func.wrap(store, { params: ['i32'], results: ['i32'] }, (_c, n) => {
      maxDepth = Math.max(maxDepth, store.wasmDepth);
      if (n === trapAt) throw new WasmTrap({ code: 'Interrupt', detail: 'host says stop' });
      return f!.call((n as number) - 1);
    });
    const inst = Instance.create(store, module, [down]);
    f = inst.getFunc('f');
    t.is(f.call(100), 100);
    t.is(maxDepth, 100);
    trapAt = 3;
    const e = t.throws(() => f!.call(100));
    t.true(e instanceof WasmTrap && e.code === 'Interrupt', String(e));
    // The backtrace lists the Wasm frames of every activation: f at depths 100..3.
    const frames = (e as WasmTrap).backtrace.map((f) => /!(\w+)\+/.exec(f.symbol ?? '')?.[1]);
    t.is(frames.length, 98);
    t.true(frames.every((n) => n === 'f'));
    t.is(store.wasmDepth, 0);
    t.deepEqual(storeInternals(store).limits.triple(), { exitPc: 0n, exitFp: 0n, entrySp: 0n });
    store.close();
  });

  test(`${arch}: host-created globals, tables and memories, start function, segments`, async (t) => {
    const { engine, store } = await storeFor(arch);
    const g = Global.new(store, { valType: 'i32', mutable: true }, 5);
    const mem = Memory.new(store, { min: 1, max: 2, shared: false });
    const tab = Table.new(store, { elemType: 'funcref', min: 2, max: null });
    const module = await Module.fromWat(engine, `(module
      (import "e" "g" (global $g (mut i32)))
      (import "e" "m" (memory 1 2))
      (import "e" "t" (table 2 funcref))
      (func $start global.get $g i32.const 10 i32.mul global.set $g)
      (func $seven (result i32) i32.const 7)
      (func (export "call0") (result i32) i32.const 0 call_indirect (result i32))
      (start $start)
      (elem (i32.const 0) func $seven)
      (data (i32.const 16) "hi"))`);
    const inst = Instance.create(store, module, [g, mem, tab]);
    t.is(g.get(), 50, 'the start function ran');
    t.is(Buffer.from(mem.read(16, 2)).toString(), 'hi');
    t.is(inst.getFunc('call0').call(), 7);
    t.is((tab.get(0) as Func).call(), 7);
    store.close();
  });

  test(`${arch}: store.gc() from a host function keeps what Wasm frames hold and frees the rest`, async (t) => {
    const { engine, store } = await storeFor(arch);
    const module = await Module.fromWat(engine, `(module
      (import "h" "gc" (func $gc))
      (func (export "hold") (param externref) (result externref)
        call $gc
        local.get 0))`);
    let keptHandle: ExternRef | undefined;
    let garbage: ExternRef | undefined;
    let report: ReturnType<Store['gc']>;
    const gc = Func.wrap(store, { params: [], results: [] }, (caller) => {
      // Only the Wasm frame (through its stack map) and the activations table hold `kept` now.
      keptHandle!.release();
      garbage = ExternRef.new(store, 'garbage');
      const table = storeInternals(store).activationsTable;
      table.insertWithoutGc(garbage.clone().take());
      garbage.release(); // only the table holds it: not on any stack, so the sweep frees it
      report = caller.gc();
    });
    const inst = Instance.create(store, module, [gc]);
    keptHandle = ExternRef.new(store, { kept: true });
    const ptr = keptHandle.pointer;
    const before = storeInternals(store).externRefHeap.freedTotal;
    const back = inst.getFunc('hold').call(keptHandle) as ExternRef;
    t.truthy(report!);
    t.true(report!.frames >= 1 && report!.roots === 1, JSON.stringify({ frames: report!.frames, roots: report!.roots }));
    t.is(storeInternals(store).externRefHeap.freedTotal - before, 1, 'the unreachable one was freed during the call');
    t.is(back.pointer, ptr);
    t.deepEqual(back.value, { kept: true });
    back.release();
    store.gc();
    t.false(storeInternals(store).externRefHeap.isLive(ptr), 'freed once nothing holds it');
    store.close();
  });

  test(`${arch}: what the CLI asks of a store is API: explain every collection, another walk or lookup, placement, refs`, async (t) => {
    const engine = new Engine({ arch });
    const reports: ReturnType<Store['gc']>[] = [];
    const store = await Store.create(engine, { explainCollections: true, onCollection: (r) => reports.push(r) });
    const module = await Module.fromWat(engine, `(module
      (import "h" "gc" (func $gc))
      (func (export "hold") (param externref) (result externref)
        call $gc
        local.get 0))`, 'hold.wat');
    t.is(store.collectorWith({}), store.collector);
    t.is(store.collectorWith({ walk: 'v17', registry: 'v17' }), store.collector);
    const canary = store.collectorWith({ walk: 'canary', registry: 'v0.22' });
    t.is(store.collectorWith({ walk: 'canary', registry: 'v0.22' }), canary, 'made once, then kept');
    t.is(canary.walk.kind, 'canary');
    t.is(canary.registry.mode, 'v0.22');
    let canaryReport: ReturnType<Store['gc']> | undefined;
    const gc = Func.wrap(store, { params: [], results: [] }, (caller) => {
      caller.gc();
      canaryReport = canary.collect({ reason: 'host', explain: true });
    });
    t.is(store.textBaseOf(module), undefined, 'not placed before the first instance');
    const inst = Instance.create(store, module, [gc]);
    const textBase = store.textBaseOf(module)!;
    t.true(textBase > 0n);
    const ref = ExternRef.new(store, 'kept');
    t.is(store.describeExternRef(ref.pointer), '"kept"');
    const back = inst.getFunc('hold').call(ref) as ExternRef;
    // As in wasmtime v17, the table's chunk is empty until the first sweep, so the first call
    // with an externref argument collects before entering Wasm.
    t.deepEqual(reports.map((r) => r.reason), ['table-full', 'store-gc'], 'the store collector reported the explained caller.gc(); the canary one is its own');
    t.truthy(reports[1].explanation, 'explained without asking per call');
    t.is(reports[1].roots, 1);
    t.truthy(canaryReport);
    t.is(canaryReport!.explanation!.mode, 'canary');
    t.is(canaryReport!.roots, 1, 'the canary walk started at the host call\'s caller and found the held ref');
    t.true(canaryReport!.explanation!.frames.some((f) => f.map !== undefined));
    const pointer = ref.pointer;
    ref.release();
    back.release();
    store.gc();
    t.is(store.describeExternRef(pointer), undefined, 'freed: nothing to describe');
    t.is(reports.length, 3);
    store.close();
  });

  test(`${arch}: a module from image bytes alone runs like the compiled one; damaged images are typed errors`, async (t) => {
    const { engine, store } = await storeFor(arch);
    const wasm = await parseWat(`(module
      (import "h" "twice" (func $twice (param i64) (result i64)))
      (memory (export "mem") 1)
      (table 2 funcref)
      (global $k (mut i32) (i32.const 3))
      (func $f (export "f") (param i64) (result i64) local.get 0 call $twice global.get $k i64.extend_i32_u i64.add)
      (func (export "boom") (param i32) (result i32) i32.const 1 local.get 0 i32.div_u)
      (func (export "ind") (param i32) (result i64) i64.const 5 local.get 0 call_indirect (param i64) (result i64))
      (elem (i32.const 0) func $f)
      (data (i32.const 4) "xyz"))`);
    const bytes = compileModule(wasm, { arch }).elf;
    const module = Module.fromImage(engine, bytes, 'demo.o');
    t.is(module.image, undefined);
    const twice = Func.wrap(store, { params: ['i64'], results: ['i64'] }, (_c, v) => (v as bigint) * 2n);
    const inst = Instance.create(store, module, [twice]);
    t.is(inst.getFunc('f').call(20n), 43n);
    t.is(inst.getFunc('ind').call(0), 13n);
    t.is(Buffer.from(inst.getMemory('mem').read(4, 3)).toString(), 'xyz');
    const e = t.throws(() => inst.getFunc('boom').call(0));
    t.true(e instanceof WasmTrap && e.code === 'IntegerDivisionByZero' && trapSites(store, module, 'IntegerDivisionByZero').includes(e.pc!), String(e));
    t.regex((e as WasmTrap).backtrace[0].symbol ?? '', /^demo\.o!boom\+0x/);
    t.throws(() => Module.fromImage(new Engine({ arch: arch === 'x64' ? 'aarch64' : 'x64' }), bytes), { instanceOf: StackscopeError, message: /image is for/ });
    // The same module from Wasm bytes: names come from the name section.
    await loadWat();
    const wasmBytes = watToBinary('(module (func $answer (export "answer") (result i32) i32.const 42))').bytes;
    const fromBytes = Module.fromBinary(engine, wasmBytes);
    t.is(Instance.create(store, fromBytes).getFunc('answer').call(), 42);
    t.is((await Module.from(engine, wasmBytes)).wasm.exports[0].name, 'answer');
    t.throws(() => Module.fromBinary(engine, Uint8Array.of(0, 0x61, 0x73, 0x6d, 9, 9)), { instanceOf: StackscopeError });
    // Byte flips anywhere in the image: either still a module or a typed error, never a crash.
    let seed = 12345;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
    let typed = 0;
    for (let i = 0; i < 300; i++) {
      const damaged = Uint8Array.from(bytes);
      for (let k = 0; k < 3; k++) damaged[rand() % damaged.length] ^= 1 << (rand() % 8);
      try {
        Module.fromImage(engine, damaged);
      } catch (err) {
        t.true(err instanceof StackscopeError, `mutation ${i}: ${String(err)}`);
        typed++;
      }
    }
    t.true(typed > 0);
    store.close();
  });

  test(`${arch}: Func.new host functions take the array path; host errors and disposal`, async (t) => {
    const { engine, store } = await storeFor(arch);
    const module = await Module.fromWat(engine, `(module
      (import "h" "mix" (func $mix (param i32 i64 i32 i64 i32 i64 i32 i64 i32) (result i32)))
      (import "h" "fail" (func $fail (param i32) (result i32)))
      (func (export "go") (result i32)
        i32.const -1 i64.const 2 i32.const 3 i64.const 4 i32.const 5 i64.const 6 i32.const 7 i64.const 8 i32.const 9
        call $mix)
      (func (export "fail") (param i32) (result i32) local.get 0 call $fail))`);
    let seen: Val[] = [];
    const mix = Func.new(store, { params: ['i32', 'i64', 'i32', 'i64', 'i32', 'i64', 'i32', 'i64', 'i32'], results: ['i32'] }, (_c, ...args) => {
      seen = args;
      return -42;
    });
    class Boom extends Error {}
    const fail = Func.new(store, { params: ['i32'], results: ['i32'] }, () => { throw new Boom('host failure'); });
    const inst = Instance.create(store, module, [mix, fail]);
    t.is(inst.getFunc('go').call(), -42);
    t.deepEqual(seen, [-1, 2n, 3, 4n, 5, 6n, 7, 8n, 9]);
    // A host exception that is not a trap comes out unchanged, and the store is still usable.
    t.throws(() => inst.getFunc('fail').call(1), { instanceOf: Boom });
    t.is(store.wasmDepth, 0);
    t.is(storeInternals(store).limits.stackLimit, (1n << 64n) - 1n);
    t.is(inst.getFunc('go').call(), -42);
    // ExternRef handles dispose like `using` would.
    const r = ExternRef.new(store, 1);
    const c = r.clone();
    t.is(r.strongCount(), 2);
    c[Symbol.dispose]();
    t.is(r.strongCount(), 1);
    r[Symbol.dispose]();
    t.is(storeInternals(store).externRefHeap.liveCount, 0);
    store.close();
  });

  test(`${arch}: an instance's VMContext read back at the compiler's offsets, region by region`, async (t) => {
    const { engine, store } = await storeFor(arch);
    const exporter = Instance.create(store, await Module.fromWat(engine, KINDS));
    const module = await Module.fromWat(engine, `(module
      (import "h" "f" (func $h (param i32) (result i32)))
      (import "a" "tab" (table 4 funcref))
      (import "a" "g64" (global (mut i64)))
      (memory 2)
      (table $own 5 externref)
      (global $x i32 (i32.const 11))
      (global $y (mut i64) (i64.const -1))
      (func $e1 (export "e1") (param i32) (result i32) local.get 0 call $h)
      (func $e2 (export "e2") (result i32) i32.const 2)
      (elem declare func $e2))`);
    const host = Func.wrap(store, { params: ['i32'], results: ['i32'] }, (_c, v) => v);
    const inst = Instance.create(store, module, [host, exporter.getTable('tab'), exporter.getGlobal('g64')]);
    const o = module.image!.offsets; // the compiler's own VMOffsets for this module
    const m = store.machine;
    const at = (off: number) => inst.vmctx + BigInt(off);
    t.is(m.readU32(at(o.vmctxMagic())), VMCONTEXT_MAGIC);
    t.is(m.readU64(at(o.vmctxRuntimeLimits())), storeInternals(store).limits.address);
    t.is(m.readU64(at(o.vmctxCallee())), 0n);
    t.is(m.readU64(at(o.vmctxEpochPtr())), storeInternals(store).epochAddress);
    t.is(m.readU64(at(o.vmctxExternrefActivationsTable())), storeInternals(store).activationsTable.address);
    t.is(m.readU64(at(o.vmctxStore())), store.id);
    t.is(m.readU64(at(o.vmctxBuiltinFunctions())), storeInternals(store).builtins.address);
    // signature_ids: one u32 per compiler signature slot.
    const sigs = m.readU64(at(o.vmctxSignatureIdsArray()));
    module.image!.signatures.forEach((typeIndex, slot) => {
      t.is(m.readU32(sigs + BigInt(4 * slot)), storeInternals(store).signatures.idOf(module.wasm.types[typeIndex]));
    });
    // Imported function 0: the host function's VMFuncRef fields, in VMFunctionImport order.
    const fi = o.vmctxVmfunctionImport(0);
    t.is(m.readU64(at(fi + VMFunctionImportLayout.wasmCall)), m.readU64(host.funcRefPointer + BigInt(VMFuncRefLayout.wasmCall)));
    t.is(m.readU64(at(fi + VMFunctionImportLayout.nativeCall)), m.readU64(host.funcRefPointer + BigInt(VMFuncRefLayout.nativeCall)));
    t.is(m.readU64(at(fi + VMFunctionImportLayout.vmctx)), host.vmctx);
    // The host function's VMNativeCallHostFuncContext: "NCHF", an inline VMFuncRef whose vmctx is
    // the context itself, the store id as host state.
    t.is(m.readU32(host.vmctx), VM_NATIVE_CALL_HOST_FUNC_MAGIC);
    t.is(host.funcRefPointer, host.vmctx + BigInt(VMHostFuncContextLayout.funcRef));
    t.is(m.readU64(host.funcRefPointer + BigInt(VMFuncRefLayout.vmctx)), host.vmctx);
    t.is(m.readU32(host.funcRefPointer + BigInt(VMFuncRefLayout.typeIndex)), storeInternals(store).signatures.idOf({ params: ['i32'], results: ['i32'] }));
    t.is(m.readU64(host.vmctx + BigInt(VMHostFuncContextLayout.hostState)), store.id);
    // Imported table and global point into the exporter.
    t.is(m.readU64(at(o.vmctxVmtableImportFrom(0))), exporter.getTable('tab').table.definitionAddress);
    t.is(m.readU64(at(o.vmctxVmglobalImportFrom(0))), exporter.getGlobal('g64').address);
    // Defined table, memory, globals.
    const ownTable = (inst as unknown as { vm: { tables: { base: bigint }[] } }).vm.tables[1];
    t.is(m.readU64(at(o.vmctxVmtableDefinition(0) + VMTableDefinitionLayout.base)), ownTable.base);
    t.is(m.readU32(at(o.vmctxVmtableDefinition(0) + VMTableDefinitionLayout.currentElements)), 5);
    const def = m.readU64(at(o.vmctxVmmemoryPointer(0)));
    t.is(def, at(o.vmctxVmmemoryDefinition(0)));
    t.is(m.readU64(def + BigInt(VMMemoryDefinitionLayout.currentLength)), 2n * 65536n);
    t.is(m.readU32(at(o.vmctxVmglobalDefinition(0))), 11);
    t.is(m.readU64(at(o.vmctxVmglobalDefinition(1))), (1n << 64n) - 1n);
    // func_refs: exported functions are escaped; their VMFuncRef names the compiled body.
    const e1 = inst.getFunc('e1');
    t.is(e1.funcRefPointer, at(o.vmctxFuncRef(module.wasm.escapedIndex.get(1)!)));
    const placed = storeInternals(store).placed.get(module)!;
    t.is(m.readU64(e1.funcRefPointer + BigInt(VMFuncRefLayout.wasmCall)), placed.functionAddresses[0]);
    t.is(m.readU64(e1.funcRefPointer + BigInt(VMFuncRefLayout.vmctx)), inst.vmctx);
    t.is(e1.call(5), 5);
    t.is(o.size, (inst as unknown as { vm: { offsets: { size: number } } }).vm.offsets.size);
    store.close();
  });
}
