import test from 'ava';
import { ARCHES } from '../isa/arch.ts';
import { Fixture } from './testing/fixture.ts';
import { MemoryReader, V17Cursor, collectActivations, frameFromRegisters, readRuntimeLimits, walkCanary, walkV17, writeRuntimeLimits, type ActivationTriple, type WalkedFrame, type CanaryFrame } from './walk.ts';
import { PROT_READ, PROT_WRITE } from '../simulator/engine.ts';
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

/** A seeded xorshift32: each call gives the next number below `n`. */
function xorshift(seed: number): (n: number) => number {
  let x = seed;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

/** The return address the random chains below give every third frame, and fold. */
const FOLD_PC = 0xab0;

/**
 * The step-by-step v17 walk, written out plainly (one guest-memory read per word, as
 * `trace_through_wasm` reads them): the reference the batched V17Cursor behind `walkV17` must
 * match frame for frame and error for error.
 */
function referenceWalk(m: Fixture['m'], acts: readonly ActivationTriple[], visit: (pc: number, fp: number, a: number, index: number) => boolean): void {
  const word = (at: number): number | undefined => {
    const r = m.regionAt(BigInt(at));
    if (!r || !(r.perms & PROT_READ) || at + 8 > Number(r.address) + r.size) return undefined;
    const o = at - Number(r.address);
    return r.data.getUint32(o + 4, true) * 2 ** 32 + r.data.getUint32(o, true);
  };
  const align = m.arch === 'x64' ? 16 : 1;
  for (let a = 0; a < acts.length; a++) {
    const t = acts[a];
    const entrySp = Number(t.entrySp);
    let pc = Number(t.exitPc);
    let fp = Number(t.exitFp);
    const fail = (failure: StackWalkFailure, index: number) => new StackWalkError(failure, a, index, BigInt(pc), BigInt(fp), t.entrySp);
    const maxFrames = entrySp >= fp ? Math.floor((entrySp - fp) / 16) + 1 : 1;
    for (let index = 0; ; index++) {
      if (!(entrySp >= fp)) throw fail('fp-above-entry-sp', index);
      if (fp % align !== 0) throw fail('fp-misaligned', index);
      if (index >= maxFrames) throw fail('too-many-frames', index);
      if (!visit(pc, fp, a, index)) return;
      const nextPc = word(fp + 8);
      const nextFp = word(fp);
      if (nextPc === undefined || nextFp === undefined) throw fail('unreadable', index);
      if (nextFp >= entrySp) break;
      if (!(nextFp > fp)) throw fail('fp-not-increasing', index);
      pc = nextPc;
      fp = nextFp;
    }
  }
}

for (const arch of ARCHES) {
  test(`${arch}: the batched v17 walk visits the frames and meets the errors of the step-by-step walk (random chains, across batches and regions)`, async (t) => {
    const f = await Fixture.create({ arch });
    const stack = f.m.stack.region;
    // Readable regions above the stack, one beyond 4 GiB (a caller FP's high half differs from
    // the stack's); a record at the stack's last word straddles it and the region above it.
    const above = f.m.map('walk-above', 0x10000, PROT_READ | PROT_WRITE, 0x4000_0000n);
    const far = f.m.map('walk-far', 0x10000, PROT_READ | PROT_WRITE, 0x2_0000_0000n);
    const rand = xorshift(0x9e3779b9);
    const lo = Number(stack.address) + 0x1000;
    const hi = Number(f.m.stack.top);
    const places = [
      () => lo + 16 * rand((hi - lo) / 16),
      () => Number(above.address) + 16 * rand(0x1000),
      () => Number(far.address) + 16 * rand(0x1000),
      () => hi - 8, // straddles the stack's end and the region above
      () => Number(far.address) - 0x1000, // unmapped
    ];
    let errors = 0;
    let foldRounds = 0;
    let runToEnd = false;
    for (let round = 0; round < 60; round++) {
      // A chain of frames going up from a start, each record written where it lies, with a
      // few corruptions (cycles, steps down, misaligned steps, jumps to other regions).
      const frames = 1 + rand(round % 3 === 0 ? 900 : 40);
      let fp = round % 5 === 0 ? places[rand(places.length)]() : lo + 16 * rand(0x200);
      const start = fp;
      const chain: Array<[number, number]> = [];
      for (let i = 0; i < frames; i++) {
        const kind = rand(round % 3 === 0 ? 4000 : 40);
        const next = kind === 0 ? fp : kind === 1 ? fp - 16 : kind === 2 ? fp + 8 : kind === 3 ? places[rand(places.length)]() : fp + 16 * (1 + rand(6));
        chain.push([fp, next]);
        if (next <= fp) break;
        fp = next;
      }
      const entrySp = round % 7 === 0 ? Number(far.address) + 0x8000 : fp + 16 * rand(3);
      for (const [at, next] of chain) {
        for (const [o, v] of [[0, next], [8, at % 3 === 0 ? FOLD_PC : 0x1000 + at]] as const) {
          const r = f.m.regionAt(BigInt(at + o));
          if (r && at + o + 8 <= Number(r.address) + r.size) r.data.setBigUint64(at + o - Number(r.address), BigInt(v), true);
        }
      }
      const acts: ActivationTriple[] = [{ exitPc: 0x1234n, exitFp: BigInt(start), entrySp: BigInt(entrySp - (entrySp % 16)) }];
      if (round % 4 === 0) acts.push({ exitPc: 0x5678n, exitFp: BigInt(lo + 16 * rand(0x100)), entrySp: BigInt(hi - 64) });
      const stopAt = round % 6 === 0 ? rand(frames + 1) : -1;
      const run = (walk: (visit: (pc: number, fp: number, a: number, index: number) => boolean) => void) => {
        const seen: string[] = [];
        try {
          walk((pc, fp, a, index) => {
            seen.push(`${a}/${index} ${pc.toString(16)} ${fp.toString(16)}`);
            return runToEnd || seen.length !== stopAt;
          });
        } catch (e) {
          if (!(e instanceof StackWalkError)) throw e;
          seen.push(`${e.failure} ${e.activation}/${e.frame} ${e.pc.toString(16)} ${e.fp.toString(16)} ${e.entrySp.toString(16)}`);
        }
        return seen;
      };
      const expected = run((visit) => referenceWalk(f.m, acts, visit));
      const actual = run((visit) => walkV17(f.m, acts, (fr) => visit(fr.pc, fr.fp, fr.activation, fr.index)));
      t.deepEqual(actual, expected, `round ${round}`);
      // Folding one return address: the same walk without those frames, which are counted.
      runToEnd = true;
      const full = run((visit) => referenceWalk(f.m, acts, visit));
      const cursor = new V17Cursor(new MemoryReader(f.m), arch);
      let folded = 0;
      const foldedRun = run((visit) => {
        for (let a = 0; a < acts.length; a++) {
          cursor.begin(acts[a], a);
          cursor.foldPc = FOLD_PC;
          while (cursor.nextBatch()) {
            folded += cursor.folded;
            for (let k = 0; k < cursor.count; k++) visit(cursor.pcs[k], cursor.fps[k], a, cursor.indexes[k]);
          }
        }
      });
      runToEnd = false;
      const isFolded = (line: string) => / 0*ab0 /.test(line) && !/^[a-z-]+ /.test(line);
      t.deepEqual(foldedRun, full.filter((line) => !isFolded(line)), `round ${round}, folded`);
      t.is(folded, full.filter(isFolded).length, `round ${round}, folded count`);
      if (full.some(isFolded)) foldRounds++;
      if (/^[a-z-]+ /.test(expected[expected.length - 1] ?? '')) errors++;
      // Put the chain's words back to zero for the next round.
      for (const [at] of chain) {
        for (const o of [0, 8]) {
          const r = f.m.regionAt(BigInt(at + o));
          if (r && at + o + 8 <= Number(r.address) + r.size) r.data.setBigUint64(at + o - Number(r.address), 0n, true);
        }
      }
    }
    // The rounds met errors as well as clean walks.
    t.true(errors > 5 && errors < 55, `${errors} walks ended in an error`);
    t.true(foldRounds > 10, `${foldRounds} walks folded frames`);
    f.close();
  });
}

for (const arch of ARCHES) {
  test(`${arch}: long folded runs at one stride give the step-by-step walk, whatever breaks the run and wherever`, async (t) => {
    // V17Cursor counts a run of frames at foldPc whose records lie one stride apart without
    // waiting on each record's load: every way such a run can end or break, at any frame of
    // it, must give the reference walk's frames, count and error.
    const f = await Fixture.create({ arch });
    const stack = f.m.stack.region;
    const far = f.m.map('walk-far', 0x10000, PROT_READ | PROT_WRITE, 0x2_0000_0000n);
    const rand = xorshift(0x51ed27);
    const lo = Number(stack.address) + 0x1000;
    const breaks = ['none', 'self', 'down', 'plus8', 'wider', 'far', 'other-pc', 'entry-sp', 'high-half', 'entry-sp-mid-run'] as const;
    let folds = 0;
    for (let round = 0; round < 120; round++) {
      const kind = breaks[round % breaks.length];
      const stride = 16 * (1 + rand(4));
      const frames = 5 + rand(500);
      const at = rand(frames);
      let fp = lo + 16 * rand(0x100);
      const start = fp;
      const chain: Array<[number, number, number]> = [];
      for (let i = 0; i < frames; i++) {
        let next = fp + stride;
        let pc = FOLD_PC;
        if (i === at) {
          if (kind === 'self') next = fp;
          else if (kind === 'down') next = fp - 16;
          else if (kind === 'plus8') next = fp + stride + 8;
          else if (kind === 'wider') next = fp + 2 * stride;
          else if (kind === 'far') next = Number(far.address) + 16 * rand(0x100);
          else if (kind === 'high-half') next = fp + stride + 2 ** 32;
          else if (kind === 'other-pc') pc = 0x1000 + i;
        }
        chain.push([fp, next, pc]);
        if (next <= fp) break;
        // (After a link with the wrong high half the chain goes on in the stack as if it were right.)
        fp = kind === 'high-half' && i === at ? fp + stride : next;
      }
      const last = chain[chain.length - 1][0];
      // A far entry SP keeps a link with the wrong high half below it: the walk must follow it (and fail there).
      const entrySp = kind === 'high-half' ? Number(far.address) + 0x8000 : kind === 'entry-sp' ? chain[at][0] + 16 : kind === 'entry-sp-mid-run' ? chain[at][0] + 8 + 16 * rand(2) : last + 16;
      for (const [fpAt, next, pc] of chain) {
        for (const [o, v] of [[0, next], [8, pc]] as const) {
          const r = f.m.regionAt(BigInt(fpAt + o));
          if (r && fpAt + o + 8 <= Number(r.address) + r.size) r.data.setBigUint64(fpAt + o - Number(r.address), BigInt(v), true);
        }
      }
      const acts: ActivationTriple[] = [{ exitPc: BigInt(FOLD_PC), exitFp: BigInt(start), entrySp: BigInt(entrySp - (entrySp % 16)) }];
      const collect = (walk: (visit: (pc: number, fp: number, a: number, index: number) => void) => void) => {
        const seen: string[] = [];
        try {
          walk((pc, fp, a, index) => void seen.push(`${a}/${index} ${pc.toString(16)} ${fp.toString(16)}`));
        } catch (e) {
          if (!(e instanceof StackWalkError)) throw e;
          seen.push(`${e.failure} ${e.activation}/${e.frame} ${e.pc.toString(16)} ${e.fp.toString(16)} ${e.entrySp.toString(16)}`);
        }
        return seen;
      };
      const full = collect((visit) => referenceWalk(f.m, acts, (pc, fp, a, index) => (visit(pc, fp, a, index), true)));
      const cursor = new V17Cursor(new MemoryReader(f.m), arch);
      let folded = 0;
      const foldedRun = collect((visit) => {
        cursor.begin(acts[0], 0);
        cursor.foldPc = FOLD_PC;
        while (cursor.nextBatch()) {
          folded += cursor.folded;
          for (let k = 0; k < cursor.count; k++) visit(cursor.pcs[k], cursor.fps[k], 0, cursor.indexes[k]);
        }
      });
      const isFolded = (line: string) => / 0*ab0 /.test(line) && !/^[a-z-]+ /.test(line);
      const label = `round ${round}: ${kind} at frame ${at} of ${frames}, stride ${stride}`;
      t.deepEqual(foldedRun, full.filter((line) => !isFolded(line)), label);
      t.is(folded, full.filter(isFolded).length, label);
      folds += folded;
      for (const [fpAt] of chain) {
        for (const o of [0, 8]) {
          const r = f.m.regionAt(BigInt(fpAt + o));
          if (r && fpAt + o + 8 <= Number(r.address) + r.size) r.data.setBigUint64(fpAt + o - Number(r.address), 0n, true);
        }
      }
    }
    t.true(folds > 10_000, `${folds} frames folded`);
    f.close();
  });
}
