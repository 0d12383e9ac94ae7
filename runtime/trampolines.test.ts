import test from 'ava';
import type { FuncType, ValType } from '../compiler/frontend/module.ts';
import { VM_NATIVE_CALL_HOST_FUNC_MAGIC, VMHostFuncContextLayout, VMFuncRefLayout } from '../compiler/vmoffsets.ts';
import { Machine, type HostCall } from '../simulator/machine.ts';
import { CodeSpace } from './code-space.ts';
import { ARCHES, assembleForwarder, trampolineEnvironment } from './testing.ts';
import { assembleArrayToWasm, assembleNativeToWasm, entryTrampoline, type EntryRecord } from './trampolines.ts';

/** Nine parameters: more than either ABI passes in registers after the two vmctx arguments. */
const PARAMS: ValType[] = ['i32', 'i64', 'i32', 'i64', 'i64', 'i32', 'i64', 'i32', 'i64'];
const ARGS = [5n, 0x1_0000_0001n, 0xffff_fffen, -3n, 1n << 40n, 77n, 123456789012n, 9n, 0x7fff_ffff_ffff_ffffn];
const TYPE: FuncType = { params: PARAMS, results: ['i64'] };
const expectedSum = ARGS.reduce((s, v) => BigInt.asUintN(64, s + BigInt.asUintN(64, v)), 0n);

const setup = trampolineEnvironment;

/** A VMNativeCallHostFuncContext whose func_ref.native_call is `native`. */
function hostContext(env: Awaited<ReturnType<typeof setup>>['env'], native: bigint): bigint {
  const ctx = env.heap.alloc(VMHostFuncContextLayout.size, 16);
  env.machine.writeU32(ctx, VM_NATIVE_CALL_HOST_FUNC_MAGIC);
  env.machine.writeU64(ctx + BigInt(VMHostFuncContextLayout.funcRef + VMFuncRefLayout.nativeCall), native);
  env.machine.writeU64(ctx + BigInt(VMHostFuncContextLayout.funcRef + VMFuncRefLayout.vmctx), ctx);
  return ctx;
}

for (const arch of ARCHES) {
  test(`${arch}: array-to-wasm → wasm → wasm-to-native → host: ValRaw arguments, limits written, result slot`, async (t) => {
    const { env, m, inst, space, tr } = await setup(arch);
    const limits = env.limits;
    let seen: { args: bigint[]; call: HostCall; exitFp: bigint; exitPc: bigint; entrySp: bigint } | undefined;
    const native = m.addHostFunction('host_sum', 2 + PARAMS.length, (args, call) => {
      seen = { args, call, exitFp: limits.lastWasmExitFp, exitPc: limits.lastWasmExitPc, entrySp: limits.lastWasmEntrySp };
      return args.slice(2).reduce((s, v, i) => s + (PARAMS[i] === 'i32' ? BigInt.asUintN(32, v) : v), 0n);
    });
    const ctx = hostContext(env, native);
    const w2n = tr.wasmToNative(TYPE);
    const fake = assembleForwarder(arch, PARAMS.length, ctx, w2n);
    const body = space.place('wasm_body', fake.code).address;
    const a2w = tr.arrayToWasm(TYPE, body, 'body');
    // ValRaw buffer: 16 bytes per value; i32 slots carry garbage above bit 31 to prove the
    // trampoline loads only 32 bits.
    const values = env.heap.alloc(16 * PARAMS.length, 16);
    ARGS.forEach((v, i) => {
      m.writeU64(values + BigInt(16 * i), PARAMS[i] === 'i32' ? (0xdead_beefn << 32n) | BigInt.asUintN(32, v) : BigInt.asUintN(64, v));
    });
    m.call(a2w, [inst.address, inst.address, values, PARAMS.length]);
    t.truthy(seen);
    const s = seen!;
    t.is(s.args[0], ctx, 'callee vmctx = the host context');
    t.is(s.args[1], inst.address, 'caller vmctx = the Wasm instance');
    t.deepEqual(s.args.slice(2).map((v, i) => (PARAMS[i] === 'i32' ? BigInt.asUintN(32, v) : v)),
      ARGS.map((v, i) => BigInt.asUintN(PARAMS[i] === 'i32' ? 32 : 64, v)));
    t.is(s.exitPc, body + BigInt(fake.returnOffset), 'exit pc = return address into the Wasm body');
    t.is(s.exitFp, m.readU64(s.call.fp), 'exit fp = the Wasm body\'s FP (saved by the exit trampoline)');
    t.is(s.entrySp % 16n, 0n);
    t.true(s.exitFp < s.entrySp, 'Wasm frames lie below entry_sp');
    t.true(m.readU64(s.exitFp) >= s.entrySp, 'the next FP above the Wasm frame belongs to the entry trampoline');
    t.is(space.pieceAt(m.readU64(s.exitFp + 8n))?.address, a2w, 'the Wasm body returns into the array-to-wasm trampoline');
    t.is(m.readU64(values), expectedSumOf(s.args, PARAMS));
    t.is(m.readU64(values), expectedSum);
    m.close();
  });

  test(`${arch}: native-to-wasm passes register and stack arguments and the result; writes only entry_sp`, async (t) => {
    const { env, m, inst, space, tr } = await setup(arch);
    const limits = env.limits;
    limits.lastWasmExitFp = 0x1111n;
    limits.lastWasmExitPc = 0x2222n;
    let entrySp = 0n;
    let exit: bigint[] = [];
    const native = m.addHostFunction('host_sum', 2 + PARAMS.length, (args) => {
      entrySp = limits.lastWasmEntrySp;
      exit = [limits.lastWasmExitFp, limits.lastWasmExitPc];
      return args.slice(2).reduce((s, v, i) => s + (PARAMS[i] === 'i32' ? BigInt.asUintN(32, v) : v), 0n);
    });
    const ctx = hostContext(env, native);
    // The body calls the host directly (no exit trampoline), so exit fp/pc must be untouched.
    const body = space.place('wasm_body', assembleForwarder(arch, PARAMS.length, ctx, native).code).address;
    const n2w = tr.nativeToWasm(TYPE, body, 'body');
    const r = m.call(n2w, [inst.address, inst.address, ...ARGS.map((v, i) => (PARAMS[i] === 'i32' ? BigInt.asUintN(32, v) : v))]);
    t.is(r, expectedSum);
    t.deepEqual(exit, [0x1111n, 0x2222n]);
    t.not(entrySp, 0n);
    t.is(entrySp % 16n, 0n);
    t.is(limits.lastWasmEntrySp, entrySp, 'entry trampolines do not restore (activations do)');
    m.close();
  });

  test(`${arch}: wasm-to-array spills arguments into ValRaw slots and reads the result back`, async (t) => {
    const { env, m, inst, space, tr } = await setup(arch);
    const type: FuncType = { params: PARAMS, results: ['i32'] };
    let exitPc = 0n;
    const host = m.addHostFunction('array_host', 4, ([callee, caller, buf, len]) => {
      exitPc = env.limits.lastWasmExitPc;
      t.is(callee, 0xc0ffeen);
      t.is(caller, inst.address);
      t.is(len, BigInt(PARAMS.length));
      for (let i = 0; i < PARAMS.length; i++) {
        const raw = m.readU64(buf + BigInt(16 * i));
        t.is(raw, BigInt.asUintN(PARAMS[i] === 'i32' ? 32 : 64, ARGS[i]), `slot ${i}`);
      }
      m.writeU64(buf, 0xffff_ffff_0000_0042n); // garbage above an i32 result
    });
    const w2a = tr.wasmToArray(type, host, 'array_host');
    const fake = assembleForwarder(arch, PARAMS.length, 0xc0ffeen, w2a);
    const body = space.place('wasm_body', fake.code).address;
    const n2w = tr.nativeToWasm(type, body, 'body');
    // Registers carry garbage above i32 arguments; the trampoline must zero-extend.
    const r = m.call(n2w, [inst.address, inst.address, ...ARGS.map((v, i) => (PARAMS[i] === 'i32' ? (0xabcdn << 32n) | BigInt.asUintN(32, v) : v))]);
    t.is(r, 0x42n);
    t.is(exitPc, body + BigInt(fake.returnOffset));
    m.close();
  });

  test(`${arch}: a builtin stub records exit fp/pc and reaches its implementation with the arguments`, async (t) => {
    const { env, m, inst, space, tr } = await setup(arch);
    let seen: bigint[] = [];
    let fpAtCall = 0n;
    const impl = m.addHostFunction('memory_fill_impl', 5, (args, call) => {
      seen = [...args, env.limits.lastWasmExitFp, env.limits.lastWasmExitPc];
      fpAtCall = call.fp;
      return 99n;
    });
    const stub = tr.builtinStub('memory_fill', impl);
    const fake = assembleForwarder(arch, 3, 'own', stub);
    const body = space.place('wasm_body', fake.code).address;
    // The forwarder passes (own vmctx, own vmctx, p0, p1, p2): a builtin gets vmctx first.
    const r = m.call(body, [inst.address, inst.address, 1n, 2n, 3n]);
    t.is(r, 99n);
    t.deepEqual(seen.slice(0, 5), [inst.address, inst.address, 1n, 2n, 3n]);
    t.is(seen[5], fpAtCall, 'exit fp = the Wasm body\'s FP (the stub has no frame)');
    t.is(seen[6], body + BigInt(fake.returnOffset));
    t.is(space.symbolize(stub), 'builtin[memory_fill]+0x0');
    m.close();
  });

  test(`${arch}: trampolines are cached per signature; a multi-value signature gets its own`, async (t) => {
    const { m, tr } = await setup(arch);
    t.is(tr.wasmToNative(TYPE), tr.wasmToNative({ params: [...PARAMS], results: ['i64'] }));
    t.not(tr.wasmToNative(TYPE), tr.wasmToNative({ params: [...PARAMS], results: ['i64', 'i64'] }));
    t.true(assembleArrayToWasm(arch, { params: [], results: ['i32', 'i32'] }, 0n).code.length > 0);
    m.close();
  });
}

test('entry trampolines from a template are byte for byte the trampolines assembled whole', (t) => {
  const vals: ValType[] = ['i32', 'i64', 'f32', 'f64', 'externref'];
  // Register and stack arguments, no, one and several results (some through the return area).
  const types = [
    { params: [], results: [] }, { params: ['i32'], results: ['i32'] }, { params: ['externref', 'i64'], results: ['externref'] },
    { params: Array.from({ length: 12 }, (_, i) => vals[i % 5]), results: ['f64'] },
    { params: ['i32', 'f32'], results: ['i64', 'externref'] }, { params: [], results: ['i32', 'i64', 'f32', 'f64', 'externref', 'i32'] },
  ] as Array<{ params: ValType[]; results: ValType[] }>;
  // Targets whose loads take one to four instructions on AArch64.
  const targets = [0n, 0x1000n, 0x7f12_0000n, 0x1_0004_5000n, 0x1234_5678_9abc_def0n, 0xffff_ffff_ffff_f000n];
  let compared = 0;
  for (const arch of ['x64', 'aarch64'] as const) {
    for (const type of types) {
      for (const target of targets) {
        t.deepEqual(entryTrampoline(arch, 'native', type, target).code, assembleNativeToWasm(arch, type, target).code, `${arch} native ${target}`);
        for (const record of ['v17', 'v31', 'v44'] as EntryRecord[]) {
          t.deepEqual(entryTrampoline(arch, 'array', type, target, record).code, assembleArrayToWasm(arch, type, target, record).code, `${arch} array ${record} ${target}`);
        }
        compared += 4;
      }
    }
  }
  t.is(compared, 2 * types.length * targets.length * 4);
});

function expectedSumOf(args: bigint[], params: ValType[]): bigint {
  return args.slice(2).reduce((s, v, i) => BigInt.asUintN(64, s + (params[i] === 'i32' ? BigInt.asUintN(32, v) : v)), 0n);
}

test('CodeSpace.symbolize names the piece that holds an address, ends exclusive, pieces of several chunks', async (t) => {
  const m = await Machine.create({ arch: 'x64' });
  const space = new CodeSpace(m, 'symbolize-test');
  const code = (n: number) => ({ code: new Uint8Array(n).fill(0x90), relocations: [], traps: [] });
  const a = space.place('a', code(5));
  const [b, c] = space.placeAll([{ name: 'b', assembled: code(16) }, { name: 'c', assembled: code(1) }]);
  // A piece larger than what is left of the 64 KiB chunk: a new chunk.
  const d = space.place('d', code(70_000));
  t.is(space.symbolize(a.address), 'a+0x0');
  t.is(space.symbolize(a.address + 4n), 'a+0x4');
  t.is(space.symbolize(a.address + 5n), undefined, 'the padding after a piece is no piece');
  t.is(space.symbolize(b.address + 15n), 'b+0xf');
  t.is(space.symbolize(c.address), 'c+0x0');
  t.is(space.symbolize(c.address + 1n), undefined);
  t.is(space.symbolize(d.address + 69_999n), 'd+0x1116f');
  t.is(space.symbolize(d.address + 70_000n), undefined);
  t.is(space.symbolize(a.address - 1n), undefined);
  t.is(space.symbolize(0n), undefined);
  t.is(space.symbolize((1n << 64n) - 1n), undefined);
  t.is(m.symbolize(b.address + 2n), 'b+0x2', 'the machine asks the space');
  m.close();
});
