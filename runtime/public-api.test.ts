import test from 'ava';
import {
  Engine, Store, Module, Instance, Func, ExternRef, TypedFunc, WasmTrap, RuntimeError, StackscopeError, CompileError,
  NativeHelperError, GuestTrap, openSession, HostImportError, SessionArchError, type GcReport, type CycleReport,
  openModule, chooseInvocation, invokeArgsOf, InvokeArgError, Linker, Tracer, placedSafepoints, safepointsOf, slotNamerFor, refDescriber,
  type FrameView, instantiateGcAtHost, moduleFormatOf, SafepointSelectError,
} from '../index.ts';
import { ARCHES } from './testing.ts';

// What the package root promises a user: typed function access, reports and traps that
// serialise with JSON.stringify, and the collector's walk and registry as options of the API.

const ADD = '(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))';

const REFS = `(module
  (import "env" "gc" (func $gc))
  (func (export "keep") (param externref) (result externref)
    call $gc
    local.get 0)
  (func (export "div") (param i32) (result i32) i32.const 100 local.get 0 i32.div_s))`;

for (const arch of ARCHES) {
  test(`${arch}: getTypedFunc, with type arguments or with Wasm types checked against the export`, async (t) => {
    const engine = new Engine({ arch });
    const store = await Store.create(engine);
    try {
      const instance = Instance.create(store, await Module.fromWat(engine, ADD), []);
      const add = instance.getTypedFunc<[number, number], number>('add');
      t.true(add instanceof TypedFunc);
      const sum: number = add.call(40, 2);
      t.is(sum, 42);
      const checked = instance.getTypedFunc('add', ['i32', 'i32'], ['i32']);
      t.is(checked.call(-1, 1), 0);
      const e = t.throws(() => instance.getTypedFunc('add', ['i64', 'i64'], ['i64']), { instanceOf: RuntimeError });
      t.regex(e!.message, /the function is \(i32, i32\) -> \(i32\), not \(i64, i64\) -> \(i64\)/);
      t.throws(() => instance.getTypedFunc('nope'), { instanceOf: RuntimeError });
    } finally {
      store.close();
    }
  });

  test(`${arch}: GcReport, CycleReport and WasmTrap survive JSON.stringify (bigints as 0x-hex strings)`, async (t) => {
    const reports: GcReport[] = [];
    const engine = new Engine({ arch, cycles: { mode: 'fast' } });
    const store = await Store.create(engine);
    try {
      const gc = Func.wrap(store, { params: [], results: [] }, (caller) => { reports.push(caller.gc({ walk: 'canary', registry: 'v0.22', explain: true })); });
      const instance = Instance.create(store, await Module.fromWat(engine, REFS), [gc]);
      const ref = ExternRef.new(store, { name: 'kept' });
      const back = instance.getTypedFunc('keep', ['externref'], ['externref']).call(ref);
      t.true(back instanceof ExternRef);
      back?.release();
      ref.release();
      t.true(reports.length >= 1);
      const report = reports[reports.length - 1];
      t.is(report.mode, 'canary', 'the walk chosen through the API');
      const json = JSON.parse(JSON.stringify(report)) as Record<string, unknown>;
      t.is(json.mode, 'canary');
      t.is(typeof (json.explanation as { frames: Array<{ pc: unknown }> }).frames[0].pc, 'string');
      t.regex((json.explanation as { frames: Array<{ pc: string }> }).frames[0].pc, /^0x[0-9a-f]+$/);
      const cycles: CycleReport | undefined = store.cycleReport();
      t.truthy(cycles);
      const cycleJson = JSON.parse(JSON.stringify(cycles)) as { cycles: number; blocks: Array<{ address: string }> };
      t.true(cycleJson.cycles > 0);
      t.regex(cycleJson.blocks[0].address, /^0x[0-9a-f]+$/);
      const trap = t.throws(() => instance.getFunc('div').call(0), { instanceOf: WasmTrap })!;
      const trapJson = JSON.parse(JSON.stringify(trap)) as { code: string; pc: string; backtrace: Array<{ pc: string }> };
      t.is(trapJson.code, 'IntegerDivisionByZero');
      t.regex(trapJson.pc, /^0x[0-9a-f]+$/);
      t.true(trapJson.backtrace.length >= 1);
    } finally {
      store.close();
    }
  });
}

test('moduleFormatOf: WAT (after whitespace, ;; and (; ;) comments), Wasm binary, image or none; openModule names the file in compile errors', async (t) => {
  const enc = (text: string) => new TextEncoder().encode(text);
  t.is(moduleFormatOf(enc('(module)'), 'm'), 'wat');
  t.is(moduleFormatOf(enc('\n\t  (module)'), 'm'), 'wat');
  t.is(moduleFormatOf(enc(';; line\n(; block (; nested ;) ;) (module)'), 'm'), 'wat');
  t.is(moduleFormatOf(enc('\ufeff(module)'), 'm'), 'wat');
  t.is(moduleFormatOf(Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]), 'm'), 'wasm');
  t.is(moduleFormatOf(enc('hello (module)'), 'm'), undefined);
  t.is(moduleFormatOf(enc('(; unclosed (module)'), 'm'), undefined);
  t.is(moduleFormatOf(Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 0, 0]), 'm.o'), undefined, 'a damaged ELF is no image');
  const e = await t.throwsAsync(openModule(enc('(module\n  (func (result i32) i64.const 1))'), 'dir/m.wat'), { instanceOf: CompileError });
  t.regex(e!.message, /^dir\/m\.wat:2:\d+: validation error: /);
  const binary = await t.throwsAsync(openModule(Uint8Array.from([0, 0x61, 0x73, 0x6d, 9, 0, 0, 0]), 'dir/m.wasm'), { instanceOf: CompileError });
  t.regex(binary!.message, /^dir\/m\.wasm: malformed error: /);
  t.is((binary as CompileError).file, 'dir/m.wasm');
});

test('every error class a user catches comes from the package root and is a StackscopeError', (t) => {
  for (const E of [WasmTrap, RuntimeError, CompileError, NativeHelperError, GuestTrap, SafepointSelectError]) {
    t.true(E.prototype instanceof StackscopeError, E.name);
  }
});

test('openSession: what `stackscope run` opens, for an API user (default host imports, every collection explained)', async (t) => {
  const wat = `(module (import "env" "print_i32" (func $p (param i32))) (import "env" "gc" (func $gc))
    (func (export "main") i32.const 7 call $p call $gc))`;
  const printed: string[] = [];
  const session = await openSession(new TextEncoder().encode(wat), 'main.wat', { arch: 'aarch64', print: (l) => printed.push(l) });
  try {
    t.is(session.arch, 'aarch64');
    session.instance.getFunc('main').call();
    t.deepEqual(printed, ['print_i32: 7']);
    t.is(session.gcs.length, 1);
    t.truthy(session.gcs[0].explanation);
  } finally {
    session.store.close();
  }
  const bad = '(module (import "env" "nope" (func)))';
  const e = await t.throwsAsync(openSession(new TextEncoder().encode(bad), 'bad.wat'), { instanceOf: HostImportError });
  t.regex(e!.message, /^bad\.wat: import "env" "nope" \(func\) is not a host import stackscope provides/);
  const stubbed = await openSession(new TextEncoder().encode(bad), 'bad.wat', { stubUnknownImports: true });
  t.deepEqual(stubbed.stubbed, ['env.nope () -> ()']);
  stubbed.store.close();
  t.true(SessionArchError.prototype instanceof StackscopeError);
});

for (const arch of ARCHES) {
  test(`chooseInvocation / invokeArgsOf: the export and arguments \`stackscope run --invoke\` calls, for an API user (${arch})`, async (t) => {
    const wat = `(module (import "env" "gc" (func $gc))
      (func (export "add") (param i32 i64) (result i64) local.get 0 i64.extend_i32_s local.get 1 i64.add)
      (func (export "keep") (param externref) (result externref) call $gc local.get 0)
      (func (export "main") (result i32) i32.const 5))`;
    const session = await openSession(new TextEncoder().encode(wat), 'inv.wat', { arch });
    try {
      const main = chooseInvocation(session);
      t.is(main?.name, 'main');
      t.is(main!.func.call(...main!.args), 5);
      const add = chooseInvocation(session, { name: 'add', args: ['-3', '0x10'] })!;
      t.deepEqual(add.args, [-3, 16n]);
      t.is(add.func.call(...add.args), 13n);
      t.deepEqual(invokeArgsOf(session.store, 'add', add.func.type, ['0xffffffff', '-1']), [-1, -1n]);
      const keep = chooseInvocation(session, { name: 'keep', args: ['hello'] })!;
      const kept = keep.func.call(...keep.args) as ExternRef;
      t.is(kept.value, 'hello');
      // The externref argument collects before entering Wasm (the activations table's chunk is
      // empty until its first sweep, as in wasmtime v17), then keep calls env.gc.
      t.deepEqual(session.gcs.map((g) => g.reason), ['table-full', 'store-gc']);
      for (const r of [...keep.args, kept]) (r as ExternRef).release();
      t.deepEqual(chooseInvocation(session, { name: 'keep', args: ['null'] })!.args, [null]);
      const errors: Array<[{ name: string; args: string[] }, RegExp]> = [
        [{ name: 'nope', args: [] }, /^nope: inv\.wat exports no function of that name \(exports: add, keep, main\)$/],
        [{ name: 'add', args: ['1'] }, /^add: takes 2 argument\(s\) \(i32, i64\) -> \(i64\), got 1$/],
        [{ name: 'add', args: ['x', '1'] }, /^add argument 1 \(i32\): 'x' is not an integer$/],
        [{ name: 'add', args: ['0x100000000', '1'] }, /^add argument 1 \(i32\): '0x100000000' does not fit in 32 bits$/],
        [{ name: 'add', args: ['1', '0x10000000000000000'] }, /^add argument 2 \(i64\): '0x10000000000000000' does not fit in 64 bits$/],
      ];
      for (const [invoke, message] of errors) {
        const e = t.throws(() => chooseInvocation(session, invoke), { instanceOf: InvokeArgError });
        t.regex(e!.message, message);
      }
      t.true(InvokeArgError.prototype instanceof StackscopeError);
    } finally {
      session.store.close();
    }
  });

  test(`openModule: compiled and a Store that explains every collection, instantiated by the caller (${arch})`, async (t) => {
    const wat = '(module (import "host" "collect" (func $c)) (func (export "run") call $c))';
    const opened = await openModule(new TextEncoder().encode(wat), 'own.wat', { arch });
    try {
      t.is(opened.arch, arch);
      t.is(opened.engine.arch, arch);
      const seen: number[] = [];
      opened.onGc = (r) => seen.push(r.explanation ? 1 : 0);
      const linker = new Linker(opened.engine);
      linker.define('host', 'collect', Func.wrap(opened.store, { params: [], results: [] }, (caller) => { caller.gc(); }));
      linker.instantiate(opened.store, opened.module).getFunc('run').call();
      t.is(opened.gcs.length, 1);
      t.deepEqual(seen, [1]);
    } finally {
      opened.store.close();
    }
  });
}

for (const arch of ARCHES) {
  test(`safepoints, the frame at one and its refs described, as \`stackscope explain\` shows them, for an API user (${arch})`, async (t) => {
    const wat = `(module (import "env" "gc" (func $gc))
      (func $hold (export "hold") (param externref) (result externref) call $gc local.get 0))`;
    const opened = await openModule(new TextEncoder().encode(wat), 'hold.wat', { arch });
    const { store, module } = opened;
    try {
      const placed = placedSafepoints(store, module, 'hold.wat');
      t.is(placed(), undefined, 'no safepoints before the code is placed');
      const frames: FrameView[] = [];
      const tracer = new Tracer(store.machine, {
        mode: 'safepoints', limit: 0, safepoints: placed, namer: slotNamerFor(module.image, () => store.textBaseOf(module)),
        describeRef: refDescriber(store), onSafepoint: (frame) => frames.push(frame),
      });
      const linker = new Linker(opened.engine);
      linker.define('env', 'gc', Func.wrap(store, { params: [], results: [] }, (caller) => { caller.gc(); }));
      const instance = linker.instantiate(store, module);
      const sps = placed()!;
      t.deepEqual(sps, safepointsOf(module, store.textBaseOf(module)!, 'hold.wat'));
      t.true(sps.length >= 1);
      t.is(sps[0].functionName, 'hold');
      const arg = ExternRef.new(store, 'kept');
      const back = instance.getFunc('hold').call(arg) as ExternRef;
      tracer.close();
      t.is(back.value, 'kept');
      t.is(frames.length, 1);
      t.true(frames[0].words.some((w) => w.isRef && /kept/.test(w.gcRead ?? '')), JSON.stringify(frames[0].words.map((w) => w.gcRead ?? null)));
      // The first externref argument collects before entering Wasm (v17's empty first chunk),
      // then hold's caller.gc().
      t.deepEqual(opened.gcs.map((g) => g.reason), ['table-full', 'store-gc']);
      arg.release();
      back.release();
    } finally {
      store.close();
    }
  });
}

for (const arch of ARCHES) {
  test(`instantiateGcAtHost: \`stackscope gc\`'s run (GC at env.FN with a chosen walk and registry), for an API user (${arch})`, async (t) => {
    const wat = `(module (import "env" "collect" (func $c)) (import "env" "ref" (func $r (param i32) (result externref)))
      (import "env" "print" (func $p (param externref)))
      (func (export "go") (result externref) (local externref) i32.const 3 call $r local.set 0 call $c local.get 0 call $p local.get 0))`;
    const engine = new Engine({ arch });
    const module = await Module.from(engine, wat, 'gc.wat');
    const store = await Store.create(engine);
    try {
      const printed: unknown[][] = [];
      const run = instantiateGcAtHost(store, module, { atHost: 'collect', walk: 'canary', registry: 'v0.22', print: (args) => printed.push(args.map((a) => (a as ExternRef).value)) });
      const back = run.instance.getFunc('go').call() as ExternRef;
      t.is(back.value, 'ref 3');
      t.deepEqual(printed, [['ref 3']]);
      t.is(run.gcs.length, 1);
      t.is(run.gcs[0].call, 1);
      t.truthy(run.gcs[0].report.explanation);
      back.release();
      const e = t.throws(() => instantiateGcAtHost(store, module, { atHost: 'gc' }), { instanceOf: HostImportError });
      t.is(e!.message, 'the module does not import env.gc, so no GC can run there (see --at-host)');
      const other = await Module.from(engine, '(module (import "env" "collect" (func)) (import "x" "y" (func)))', 'other.wat');
      const e2 = t.throws(() => instantiateGcAtHost(store, other, { atHost: 'collect' }), { instanceOf: HostImportError });
      t.is(e2!.message, 'import x.y: not provided (the host offers env.collect, env.ref and env.print)');
    } finally {
      store.close();
    }
  });
}
