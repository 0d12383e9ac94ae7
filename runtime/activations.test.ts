import test from 'ava';
import type { FuncType } from '../compiler/frontend/module.ts';
import { VMFuncRefLayout, VMHostFuncContextLayout } from '../compiler/vmoffsets.ts';
import { StackWalkError } from '../gc/errors.ts';
import { Activations } from './activations.ts';
import { WasmTrap } from './errors.ts';
import { STACK_LIMIT_UNSET } from './limits.ts';
import { ARCHES, assembleForwarder, assembleRecursive, assembleTrap, trampolineEnvironment } from './testing.ts';
import { TrapRegistry } from './traps.ts';

const I64_TO_I64: FuncType = { params: ['i64'], results: ['i64'] };

async function setup(arch: 'x64' | 'aarch64') {
  const base = await trampolineEnvironment(arch);
  const traps = new TrapRegistry();
  const acts = new Activations(base.m, base.env.limits, traps);
  return { ...base, traps, acts };
}

for (const arch of ARCHES) {
  test(`${arch}: backtraces walk with gc/'s v17 walker: a broken chain is its StackWalkError, and a trap falls back`, async (t) => {
    const { env, m, inst, space, tr, acts } = await setup(arch);
    const limits = env.limits;
    const ctx = env.heap.alloc(VMHostFuncContextLayout.size, 16);
    let seen: { frames: ReturnType<Activations['wasmFrames']>; broken: unknown; backtrace: ReturnType<Activations['backtrace']> } | undefined;
    const host = m.addHostFunction('inspect', 3, () => {
      const frames = acts.wasmFrames();
      const exitFp = limits.lastWasmExitFp;
      limits.lastWasmExitFp = limits.lastWasmEntrySp + 16n; // above entry_sp: a corrupt chain
      let broken: unknown;
      try {
        acts.wasmFrames();
      } catch (e) {
        broken = e;
      }
      const backtrace = acts.backtrace(limits.lastWasmExitPc, limits.lastWasmExitFp);
      limits.lastWasmExitFp = exitFp;
      seen = { frames, broken, backtrace };
      return 7n;
    });
    m.writeU64(ctx + BigInt(VMHostFuncContextLayout.funcRef + VMFuncRefLayout.nativeCall), host);
    const fake = assembleForwarder(arch, 1, ctx, tr.wasmToNative(I64_TO_I64));
    const body = space.place('inspect_body', fake.code).address;
    const n2w = tr.nativeToWasm(I64_TO_I64, body, 'inspect_body');
    t.is(acts.enter(() => m.call(n2w, [inst.address, inst.address, 1n])), 7n);
    t.deepEqual(seen!.frames.map((a) => a.map((f) => f.pc)), [[body + BigInt(fake.returnOffset)]]);
    t.true(seen!.broken instanceof StackWalkError, String(seen!.broken));
    t.is((seen!.broken as StackWalkError).failure, 'fp-above-entry-sp');
    t.is(seen!.backtrace, undefined, 'no Wasm backtrace from a broken chain: the trap keeps the raw one');
    m.close();
  });

  test(`${arch}: host→wasm→host→wasm nesting to depth 100 saves and restores the triple chain`, async (t) => {
    const { env, m, inst, space, tr, acts } = await setup(arch);
    const limits = env.limits;
    const DEPTH = 100;
    const ctx = env.heap.alloc(VMHostFuncContextLayout.size, 16);
    let n2w = 0n;
    let body = 0n;
    let returnOffset = 0;
    const stackLimitSeen = new Set<bigint>();
    let innermost: { chain: ReturnType<Activations['chain']>; frames: ReturnType<Activations['wasmFrames']> } | undefined;
    const host = m.addHostFunction('reenter', 3, ([, , n]) => {
      stackLimitSeen.add(limits.stackLimit);
      if (n === 0n) {
        innermost = { chain: acts.chain(), frames: acts.wasmFrames() };
        return 1000n;
      }
      return acts.enter(() => m.call(n2w, [inst.address, inst.address, n - 1n])) + 1n;
    });
    m.writeU64(ctx + BigInt(VMHostFuncContextLayout.funcRef + VMFuncRefLayout.nativeCall), host);
    const fake = assembleForwarder(arch, 1, ctx, tr.wasmToNative(I64_TO_I64));
    body = space.place('reenter_body', fake.code).address;
    returnOffset = fake.returnOffset;
    n2w = tr.nativeToWasm(I64_TO_I64, body, 'reenter_body');

    const r = acts.enter(() => m.call(n2w, [inst.address, inst.address, BigInt(DEPTH)]));
    t.is(r, 1000n + BigInt(DEPTH));
    const { chain, frames } = innermost!;
    t.is(chain.length, DEPTH + 1);
    t.deepEqual(chain[chain.length - 1], { exitPc: 0n, exitFp: 0n, entrySp: 0n }, 'the outermost entry saved zeros');
    for (const saved of chain.slice(0, -1)) t.is(saved.exitPc, body + BigInt(returnOffset));
    // Entry SPs decrease from outer to inner activations.
    const sps = chain.slice(0, -1).map((s) => s.entrySp);
    t.true(sps.every((sp, i) => i === 0 || sp > sps[i - 1]));
    t.is(frames.length, DEPTH + 1, 'one activation per entry');
    t.true(frames.every((a) => a.length === 1 && a[0].pc === body + BigInt(returnOffset)));
    t.is(stackLimitSeen.size, 1, 'stack_limit set once, by the outermost entry');
    t.true([...stackLimitSeen][0] < m.stack.top && [...stackLimitSeen][0] > m.stack.region.address);
    t.deepEqual(limits.triple(), { exitPc: 0n, exitFp: 0n, entrySp: 0n }, 'restored after the outermost entry');
    t.is(limits.stackLimit, STACK_LIMIT_UNSET);
    t.is(acts.depth, 0);
    m.close();
  });

  test(`${arch}: deep recursion hits the stack limit and traps with StackOverflow at the check`, async (t) => {
    const { env, m, inst, space, tr, traps, acts } = await setup(arch);
    const fake = assembleRecursive(arch, true);
    const body = space.place('recurse', fake.code).address;
    traps.addSites(body, [{ offset: fake.trapOffset!, code: 'StackOverflow' }]);
    const n2w = tr.nativeToWasm({ params: [], results: [] }, body, 'recurse');
    const e = t.throws(() => acts.enter(() => m.call(n2w, [inst.address, inst.address])));
    t.true(e instanceof WasmTrap, String(e));
    const trap = e as WasmTrap;
    t.is(trap.code, 'StackOverflow');
    t.is(trap.pc, body + BigInt(fake.trapOffset!));
    t.true(trap.backtrace.length > 10);
    t.regex(trap.backtrace[1].symbol ?? '', /^recurse\+0x/);
    t.is(env.limits.stackLimit, STACK_LIMIT_UNSET);
    t.is(env.limits.lastWasmEntrySp, 0n);
    // The machine is still usable afterwards.
    acts.maxWasmStack = 4096;
    t.throws(() => acts.enter(() => m.call(n2w, [inst.address, inst.address])), { instanceOf: WasmTrap });
    m.close();
  });

  test(`${arch}: recursion without a check ends on the guard page as StackOverflow, not a crash`, async (t) => {
    const { m, inst, space, tr, acts } = await setup(arch);
    const body = space.place('recurse_unchecked', assembleRecursive(arch, false).code).address;
    const n2w = tr.nativeToWasm({ params: [], results: [] }, body, 'recurse_unchecked');
    const e = t.throws(() => acts.enter(() => m.call(n2w, [inst.address, inst.address])));
    t.true(e instanceof WasmTrap && e.code === 'StackOverflow', String(e));
    m.close();
  });

  test(`${arch}: a trap deep inside nested entries propagates as one WasmTrap and every level restores`, async (t) => {
    const { env, m, inst, space, tr, traps, acts } = await setup(arch);
    const trapFn = assembleTrap(arch);
    const trapBody = space.place('trapper', trapFn.code).address;
    traps.addSites(trapBody, [{ offset: trapFn.trapOffset!, code: 'UnreachableCodeReached' }]);
    const trapN2w = tr.nativeToWasm({ params: [], results: [] }, trapBody, 'trapper');
    const ctx = env.heap.alloc(VMHostFuncContextLayout.size, 16);
    let n2w = 0n;
    const host = m.addHostFunction('reenter', 3, ([, , n]) => {
      if (n === 0n) return acts.enter(() => m.call(trapN2w, [inst.address, inst.address]));
      return acts.enter(() => m.call(n2w, [inst.address, inst.address, n - 1n]));
    });
    m.writeU64(ctx + BigInt(VMHostFuncContextLayout.funcRef + VMFuncRefLayout.nativeCall), host);
    n2w = tr.nativeToWasm(I64_TO_I64, space.place('body', assembleForwarder(arch, 1, ctx, tr.wasmToNative(I64_TO_I64)).code).address, 'body');
    const e = t.throws(() => acts.enter(() => m.call(n2w, [inst.address, inst.address, 5n])));
    t.true(e instanceof WasmTrap, String(e));
    t.is((e as WasmTrap).code, 'UnreachableCodeReached');
    t.is((e as WasmTrap).pc, trapBody + BigInt(trapFn.trapOffset!));
    t.deepEqual(env.limits.triple(), { exitPc: 0n, exitFp: 0n, entrySp: 0n });
    t.is(env.limits.stackLimit, STACK_LIMIT_UNSET);
    t.is(acts.depth, 0);
    m.close();
  });
}
