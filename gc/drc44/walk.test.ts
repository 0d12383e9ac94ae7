/**
 * The v44 walk across stack chains on both arches, over stacks built in guest memory as v44 lays
 * them out (testing.ts): one stack, two, many nested continuations, suspended chains that took
 * parents along, an older activation's chain; every frame labelled with its stack. Then corrupt
 * chains: each breaks one invariant and must be a V44StackWalkError naming it, never a wrong walk
 * or a hang.
 */
import test from 'ava';
import { ARCHES } from '../../isa/arch.ts';
import { Machine } from '../../simulator/machine.ts';
import { V44StoreContextLayout } from '../../compiler/v44/vmoffsets.ts';
import { ControlContextLayout, StackState, VMContRefLayout, VMCommonStackInformationLayout } from '../../compiler/v44/stack-switching.ts';
import { readControlContext, readV44StoreContext, writeStackChain, type StackChainValue } from './structs.ts';
import { V44StackWorld } from './testing.ts';
import { V44StackWalkError, walkV44, type V44StackWalkFailure, type V44Walk } from './walk.ts';

async function world(arch: (typeof ARCHES)[number], run: (w: V44StackWorld, m: Machine) => void | Promise<void>): Promise<void> {
  const m = await Machine.create({ arch });
  try {
    await run(new V44StackWorld(m, { slotsPerFrame: 2, maxFramesPerStack: 6, maxContinuations: 8 }), m);
  } finally {
    m.close();
  }
}

const walk = (w: V44StackWorld) => walkV44(w.machine, { storeContext: w.storeContext, continuations: w.continuations });

/** The refs each stack's frames hold, youngest frame first, keyed by the stack's address. */
function refsByStack(w: V44StackWorld, r: V44Walk): Map<bigint, number[]> {
  const out = new Map<bigint, number[]>();
  for (const f of r.frames) {
    const s = r.stacks[f.stack];
    const sp = f.fp - w.frameSize;
    const list = out.get(s.address) ?? [];
    list.push(w.machine.readU32(BigInt(sp)));
    out.set(s.address, list);
  }
  return out;
}

for (const arch of ARCHES) {
  test(`${arch}: one stack — the initial stack alone is walked from VMStoreContext's exit record to its entry FP`, (t) =>
    world(arch, (w) => {
      t.deepEqual(walk(w), { stacks: [], activations: [], frames: [] }, 'no Wasm: nothing to walk');
      w.push([0x10]);
      w.push([0x20]);
      w.push([0x30]);
      const r = walk(w);
      t.is(r.stacks.length, 1);
      t.like(r.stacks[0], { kind: 'initial', role: 'running', state: 'Running', chain: 'store' });
      t.deepEqual(r.frames.map((f) => [f.stack, f.index, f.fp]), [2, 1, 0].map((d, i) => [0, i, w.fpOf(w.stacks[0], d)]));
      t.deepEqual(refsByStack(w, r).get(w.stacks[0].address), [0x30, 0x20, 0x10]);
      // The exit record is the trampoline's FP; the youngest Wasm FP is the word it points at.
      const tfp = w.machine.readU64(w.storeContext + BigInt(V44StoreContextLayout.lastWasmExitTrampolineFp));
      t.is(Number(w.machine.readU64(tfp)), w.fpOf(w.stacks[0], 2));
    }));

  test(`${arch}: two stacks — a running continuation, then its parent from the control context below the continuation's top`, (t) =>
    world(arch, (w) => {
      w.push([0x10]);
      w.push([0x20]);
      const c = w.newContinuation();
      t.deepEqual(w.controlContext(c).pc, 0x7ead_1000n, 'fresh: the control context launches wasmtime_continuation_start');
      t.is(w.controlContext(c).fp, c.top - 0x10n);
      w.resume(c);
      t.deepEqual(w.controlContext(c), w.siteOf(w.stacks[0]), 'running: it holds where the parent stopped to resume it');
      w.push([0x30]);
      const r = walk(w);
      t.deepEqual(r.stacks.map((s) => [s.kind, s.role, s.state]), [['continuation', 'running', 'Running'], ['initial', 'parent', 'Parent']]);
      t.deepEqual(r.activations.map((a) => a.stack), [0, 1]);
      t.is(r.activations[1].entryFp, BigInt(w.stacks[0].entryFp), "the parent's saved VMStackLimits.last_wasm_entry_fp ends its frames");
      t.is(r.activations[0].entryFp, BigInt(c.entryFp), "the continuation's frames end at its array-to-Wasm trampoline's FP");
      t.deepEqual(refsByStack(w, r).get(c.address), [0x30]);
      t.deepEqual(refsByStack(w, r).get(w.stacks[0].address), [0x20, 0x10]);
      // Every continuation frame lies on the continuation's stack, above its guard page.
      for (const f of r.frames.filter((f) => f.stack === 0)) t.true(BigInt(f.fp) < c.top && BigInt(f.fp) >= c.region.address);
      // The whole chain is also one FP chain (what external tools rely on): continuation frames,
      // the trampolines, then the control context's FP slot holding the parent's FP.
      let fp = BigInt(w.fpOf(c, 0));
      const seen: bigint[] = [];
      for (let i = 0; i < 4; i++) seen.push((fp = w.machine.readU64(fp)));
      t.is(seen[2], c.top - 0x10n);
      t.is(seen[3], BigInt(w.fpOf(w.stacks[0], 1)));
    }));

  test(`${arch}: many stacks — five nested continuations, two suspended chains (one took a parent along), each frame on its own stack`, (t) =>
    world(arch, (w) => {
      w.push([0x10]);
      // A suspended continuation that was its own last ancestor.
      const s1 = w.newContinuation();
      w.resume(s1);
      w.push([0x100]);
      w.push([0x110]);
      w.suspend(1);
      // A suspended pair: s3 runs inside s2, suspends two levels up (to the initial stack).
      const s2 = w.newContinuation();
      w.resume(s2);
      w.push([0x200]);
      const s3 = w.newContinuation();
      w.resume(s3);
      w.push([0x300]);
      w.suspend(2);
      t.is(w.machine.readU64(s3.address + BigInt(VMContRefLayout.lastAncestor)), s2.address, "the suspended continuation's last ancestor is the detached chain's end");
      t.deepEqual(readControlContext(w.machine, s2.top), w.siteOf(s3), "the last ancestor's control context holds the suspended stack's own site");
      // Five nested running continuations.
      const nest = [];
      for (let i = 0; i < 5; i++) {
        const c = w.newContinuation();
        w.resume(c);
        w.push([0x400 + i]);
        w.push([0x480 + i]);
        nest.push(c);
      }
      const r = walk(w);
      t.is(r.stacks.length, 6 + 1 + 2);
      t.deepEqual(r.stacks.slice(0, 6).map((s) => s.role), ['running', 'parent', 'parent', 'parent', 'parent', 'parent']);
      t.deepEqual(r.stacks.slice(6).map((s) => [s.address, s.role, s.state]), [
        [s1.address, 'suspended', 'Suspended'],
        [s3.address, 'suspended', 'Suspended'],
        [s2.address, 'parent', 'Parent'],
      ]);
      const byStack = refsByStack(w, r);
      nest.forEach((c, i) => t.deepEqual(byStack.get(c.address), [0x480 + i, 0x400 + i]));
      t.deepEqual(byStack.get(w.stacks[0].address), [0x10]);
      t.deepEqual(byStack.get(s1.address), [0x110, 0x100]);
      t.deepEqual(byStack.get(s3.address), [0x300]);
      t.deepEqual(byStack.get(s2.address), [0x200]);
      t.deepEqual(r.frames.map((f) => w.machine.readU32(BigInt(f.fp - w.frameSize))).sort(), w.liveRefs().sort());
      // Resuming the pair puts it back under the running continuation; it is walked once, as running.
      w.resume(s3);
      const again = walk(w);
      t.deepEqual(again.stacks.slice(0, 3).map((s) => [s.address, s.role]), [[s3.address, 'running'], [s2.address, 'parent'], [nest[4].address, 'parent']]);
      t.is(again.stacks.filter((s) => s.address === s3.address).length, 1);
      // A continuation that returned is not walked at all.
      w.pop();
      w.finish();
      t.false(walk(w).stacks.some((s) => s.address === s3.address));
    }));

  test(`${arch}: older activations — Wasm re-entered from the host while a continuation ran: both chains are walked, each with its own stacks`, async (t) => {
    const m = await Machine.create({ arch });
    try {
      // The outer activation: Wasm on the initial stack resumed a continuation, which called the host.
      const outer = new V44StackWorld(m, { slotsPerFrame: 2, maxFramesPerStack: 4, maxContinuations: 2, name: 'outer' });
      outer.push([0x10]);
      const c = outer.newContinuation();
      outer.resume(c);
      outer.push([0x20]);
      outer.push([0x30]);
      // What CallThreadState saves when the host enters Wasm again (old chain, exit pc and Wasm fp, entry fp).
      const r = readV44StoreContext(m, outer.storeContext);
      const saved = { chain: r.chain as StackChainValue, exitPc: r.exitPc, exitFp: m.readU64(r.exitTrampolineFp), entryFp: r.entryFp };
      // The inner activation, with its own initial stack, is what the store's records describe now.
      const inner = new V44StackWorld(m, { slotsPerFrame: 2, maxFramesPerStack: 4, maxContinuations: 1, name: 'inner' });
      inner.push([0x40]);
      const walked = walkV44(m, { storeContext: inner.storeContext, olderActivations: [saved, { chain: { kind: 'Absent', payload: 0n }, exitPc: 0n, exitFp: 0n, entryFp: 0n }] });
      t.deepEqual(walked.stacks.map((s) => [s.address, s.role, s.chain]), [
        [inner.stacks[0].address, 'running', 'store'],
        [c.address, 'running', 'older 1'],
        [outer.stacks[0].address, 'parent', 'older 1'],
      ]);
      t.deepEqual(walked.frames.map((f) => [f.stack, m.readU32(BigInt(f.fp - inner.frameSize))]), [[0, 0x40], [1, 0x30], [1, 0x20], [2, 0x10]]);
      // A saved record with pc 0 but a stale fp is not a terminator: a typed error.
      const bad = { ...saved, exitPc: 0n };
      t.is(t.throws(() => walkV44(m, { storeContext: inner.storeContext, olderActivations: [bad] }), { instanceOf: V44StackWalkError })?.failure, 'bad-terminator');
    } finally {
      m.close();
    }
  });

  test(`${arch}: corrupt chains are V44StackWalkErrors naming what broke`, (t) =>
    world(arch, (w, m) => {
      w.push([0x10]);
      const c = w.newContinuation();
      w.resume(c);
      w.push([0x20]);
      const chainAt = w.storeContext + BigInt(V44StoreContextLayout.stackChain);
      const parentAt = c.address + BigInt(VMContRefLayout.parentChain);
      const stateAt = c.address + BigInt(VMCommonStackInformationLayout.state);
      const expect = (failure: V44StackWalkFailure, mutate: () => void, restore: () => void) => {
        mutate();
        const e = t.throws(() => walk(w), { instanceOf: V44StackWalkError }, failure);
        t.is(e?.failure, failure);
        restore();
        t.notThrows(() => walk(w));
      };
      const saveU64 = (a: bigint) => { const v = m.readU64(a); return () => m.writeU64(a, v); };
      const saveU32 = (a: bigint) => { const v = m.readU32(a); return () => m.writeU32(a, v); };
      let restore = saveU64(chainAt);
      expect('bad-discriminant', () => m.writeU64(chainAt, 7n), restore);
      expect('absent-chain', () => m.writeU64(chainAt, 0n), restore);
      restore = saveU64(chainAt + 8n);
      expect('null-payload', () => m.writeU64(chainAt + 8n, 0n), restore);
      restore = saveU64(parentAt + 8n);
      expect('chain-cycle', () => writeStackChain(m, parentAt, { kind: 'Continuation', payload: c.address }), () => { m.writeU64(parentAt, 1n); restore(); });
      restore = saveU64(parentAt);
      expect('chain-ends-absent', () => m.writeU64(parentAt, 0n), restore);
      restore = saveU64(chainAt + 8n);
      expect('unreadable', () => m.writeU64(chainAt + 8n, 0x10n), restore);
      restore = saveU32(stateAt);
      expect('bad-state', () => m.writeU32(stateAt, StackState.Suspended), restore);
      const ctxPc = c.top + BigInt(ControlContextLayout.pc);
      restore = saveU64(ctxPc);
      expect('zero-control-context', () => m.writeU64(ctxPc, 0n), restore);
      // A frame record inside the parent's frames that points downwards: v44's next_fp > fp assertion.
      const parentFp = BigInt(w.fpOf(w.stacks[0], 0));
      restore = saveU64(parentFp);
      expect('fp-not-increasing', () => m.writeU64(parentFp, parentFp - 32n), restore);
      // Suspended chains: the detached end's link must be Absent and be the last ancestor.
      w.suspend(1);
      restore = saveU64(c.address + BigInt(VMContRefLayout.lastAncestor));
      expect('bad-last-ancestor', () => m.writeU64(c.address + BigInt(VMContRefLayout.lastAncestor), w.stacks[0].address), restore);
      expect('suspended-chain-not-detached', () => writeStackChain(m, parentAt, { kind: 'InitialStack', payload: w.stacks[0].address }), () => writeStackChain(m, parentAt, { kind: 'Absent', payload: 0n }));
      const e = t.throws(() => walkV44(m, { storeContext: w.storeContext, continuations: [0x10n] }), { instanceOf: V44StackWalkError });
      t.is(e?.failure, 'unreadable');
      t.regex(e!.message, /continuation 0x10/);
    }));
}
