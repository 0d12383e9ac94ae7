import test from 'ava';
import { ARCHES } from '../isa/arch.ts';
import { Fixture } from './testing/fixture.ts';
import { collectActivations, frameFromRegisters, readRuntimeLimits, walkCanary, walkV17, writeRuntimeLimits, type WalkedFrame, type CanaryFrame } from './walk.ts';
import { StackWalkError, type StackWalkFailure } from './errors.ts';
import { VMRuntimeLimitsLayout } from '../compiler/vmoffsets.ts';

for (const arch of ARCHES) {
  test(`${arch}: v17 walk over real emulated frames (entry trampoline + 4 recursive frames)`, async (t) => {
    const f = await Fixture.create({ arch });
    const refs = f.words([0n, 0n, 0n, 0n]);
    let frames: WalkedFrame[] = [];
    let callFp = 0n;
    const host = f.hostFunction('walk', (call) => {
      callFp = call.fp;
      const live = readRuntimeLimits(f.m, f.limits);
      // The trampoline wrote the entry SP; the host function the exit FP and PC.
      t.is(live.exitFp, call.fp);
      t.is(live.exitPc, call.returnAddress);
      t.is(live.entrySp % 16n, 0n);
      walkV17(f.m, collectActivations(live, []), (fr) => {
        frames.push({ ...fr });
      });
    });
    f.invoke(f.fn.rec, [3n, refs, host]);
    t.is(frames.length, 4);
    t.deepEqual(frames.map((x) => BigInt(x.pc)), [f.fn.rec_ret_host, f.fn.rec_ret_rec, f.fn.rec_ret_rec, f.fn.rec_ret_rec]);
    t.is(BigInt(frames[0].fp), callFp);
    for (let i = 1; i < frames.length; i++) t.is(frames[i].fp - frames[i - 1].fp, 48); // 32-byte frame + FP/LR record
    t.true(frames.every((x) => x.activation === 0 && x.fp < x.entrySp));
    // The limits were restored after the outermost call.
    t.deepEqual(readRuntimeLimits(f.m, f.limits), { exitPc: 0n, exitFp: 0n, entrySp: 0n });
    t.is(f.m.readU64(f.limits + BigInt(VMRuntimeLimitsLayout.stackLimit)), 0xffff_ffff_ffff_ffffn);
    // A stop request ends the walk early.
    frames = [];
    f.invoke(f.fn.rec, [3n, refs, f.hostFunction('walk2', () => {
      walkV17(f.m, collectActivations(readRuntimeLimits(f.m, f.limits)), (fr) => {
        frames.push({ ...fr });
        return fr.index < 1;
      });
    })]);
    t.is(frames.length, 2);
    f.close();
  });

  test(`${arch}: canary walk through the FP chain finds the canary above the entry`, async (t) => {
    const f = await Fixture.create({ arch, walk: 'canary' });
    const refs = f.words([0n, 0n, 0n]);
    const seen: CanaryFrame[] = [];
    let found = false;
    let missing = false;
    const host = f.hostFunction('walk', () => {
      const start = f.hostCalls[f.hostCalls.length - 1];
      // Unwinding from the emulated registers (stopped in the host stub) gives the same frame.
      t.deepEqual(frameFromRegisters(f.m), start);
      found = walkCanary(f.m, { canary: f.canary!, start }, (fr) => seen.push(fr)).foundCanary;
      // A canary below every frame is never found: the unwinder runs out of frames first.
      missing = !walkCanary(f.m, { canary: 0x10n, start }, () => {}).foundCanary;
    });
    f.invoke(f.fn.rec, [2n, refs, host]);
    t.true(found);
    t.true(missing);
    // rec ×3, the entry trampoline, then the return stub (host entry) whose SP is the stack
    // top the canary was taken from: found there, so the walk stops.
    t.deepEqual(seen.map((x) => x.kind), ['guest', 'guest', 'guest', 'guest', 'host-entry']);
    t.is(BigInt(seen[4].sp), f.m.stack.top);
    t.deepEqual(seen.slice(0, 3).map((x) => BigInt(x.pc)), [f.fn.rec_ret_host, f.fn.rec_ret_rec, f.fn.rec_ret_rec]);
    for (let i = 1; i < seen.length; i++) t.true(seen[i].sp > seen[i - 1].sp);
    // SP of each rec frame is the SP at its call: FP − 32.
    for (let i = 0; i < 3; i++) t.is(seen[i].fp - seen[i].sp, 32);
    f.close();
  });
}

/** Builds a hand-made chain in the stack region: frames at the given FPs with [fp] = next. */
async function corrupt(arch: 'x64' | 'aarch64', build: (f: Fixture, base: bigint) => { fp: bigint; entrySp: bigint; chain: Array<[bigint, bigint]> }): Promise<StackWalkError | undefined> {
  const f = await Fixture.create({ arch });
  const base = f.m.stack.top - 0x1000n;
  const { fp, entrySp, chain } = build(f, base);
  for (const [at, next] of chain) {
    f.m.writeU64(at, next);
    f.m.writeU64(at + 8n, f.fn.rec_ret_rec);
  }
  let error: StackWalkError | undefined;
  try {
    walkV17(f.m, [{ exitPc: f.fn.rec_ret_host, exitFp: fp, entrySp }], () => {});
  } catch (e) {
    if (!(e instanceof StackWalkError)) throw e;
    error = e;
  }
  f.close();
  return error;
}

for (const arch of ARCHES) {
  const cases: Array<[string, StackWalkFailure | undefined, (f: Fixture, b: bigint) => { fp: bigint; entrySp: bigint; chain: Array<[bigint, bigint]> }]> = [
    ['a good chain', undefined, (_f, b) => ({ fp: b, entrySp: b + 0x100n, chain: [[b, b + 0x40n], [b + 0x40n, b + 0x100n]] })],
    ['a cycle (next fp = fp)', 'fp-not-increasing', (_f, b) => ({ fp: b, entrySp: b + 0x100n, chain: [[b, b + 0x40n], [b + 0x40n, b + 0x40n]] })],
    ['a chain going down', 'fp-not-increasing', (_f, b) => ({ fp: b, entrySp: b + 0x100n, chain: [[b, b - 0x40n]] })],
    ['entry sp not 16-aligned', 'entry-sp-misaligned', (_f, b) => ({ fp: b, entrySp: b + 0x108n, chain: [[b, b + 0x200n]] })],
    ['exit fp above entry sp', 'fp-above-entry-sp', (_f, b) => ({ fp: b + 0x200n, entrySp: b + 0x100n, chain: [] })],
    ['an fp in the unmapped guard', 'unreadable', (f) => ({ fp: f.m.stack.guardBase + 0x100n, entrySp: f.m.stack.top, chain: [] })],
    ['zero exit fp', 'zero-fp', (_f, b) => ({ fp: 0n, entrySp: b, chain: [] })],
  ];
  if (arch === 'x64') cases.push(['a misaligned fp', 'fp-misaligned', (_f, b) => ({ fp: b, entrySp: b + 0x100n, chain: [[b, b + 0x48n], [b + 0x48n, b + 0x100n]] })]);
  else cases.push(['8-byte steps (more frames than 16-byte records fit)', 'too-many-frames', (_f, b) => ({ fp: b, entrySp: b + 0x400n, chain: Array.from({ length: 0x80 }, (_, i): [bigint, bigint] => [b + 8n * BigInt(i), b + 8n * BigInt(i + 1)]) })]);
  for (const [name, failure, build] of cases) {
    test(`${arch}: corrupt chain: ${name} → ${failure ?? 'no error'}`, async (t) => {
      const e = await corrupt(arch, build);
      t.is(e?.failure, failure);
      if (e) t.regex(e.message, /activation 0 frame \d+/);
    });
  }

  test(`${arch}: activation list ends at the first zero pc; a bad terminator is an error`, (t) => {
    const live = { exitPc: 0x1000n, exitFp: 0x2000n, entrySp: 0x3000n };
    t.is(collectActivations(live, [{ ...live }, { exitPc: 0n, exitFp: 0n, entrySp: 0n }, { ...live }]).length, 2);
    t.is(collectActivations({ exitPc: 0n, exitFp: 0n, entrySp: 0n }).length, 0);
    const e = t.throws(() => collectActivations(live, [{ exitPc: 0n, exitFp: 8n, entrySp: 0n }]), { instanceOf: StackWalkError });
    t.is(e!.failure, 'bad-terminator');
    t.is(e!.activation, 1);
  });
}

test('writeRuntimeLimits/readRuntimeLimits round trip at VMRuntimeLimits offsets', async (t) => {
  const f = await Fixture.create({ arch: 'x64' });
  writeRuntimeLimits(f.m, f.limits, { exitFp: 1n, exitPc: 2n, entrySp: 3n });
  t.is(f.m.readU64(f.limits + 24n), 1n);
  t.is(f.m.readU64(f.limits + 32n), 2n);
  t.is(f.m.readU64(f.limits + 40n), 3n);
  t.deepEqual(readRuntimeLimits(f.m, f.limits), { exitFp: 1n, exitPc: 2n, entrySp: 3n });
  f.close();
});
