import test from 'ava';
import { ARCHES, type Arch } from '../isa/arch.ts';
import { Fixture, REC_REF_BIT } from './testing/fixture.ts';
import type { GcReport } from './collector.ts';
import { DestructorError, GcInvariantError } from './errors.ts';
import { reportToJson, renderExplanation } from './explain.ts';

/** rec(depth) holding refs[i] in its frames, then `onHost` runs inside the deepest frame. */
function runRec(f: Fixture, refs: bigint[], onHost: () => void): void {
  const array = f.words(refs);
  const host = f.hostFunction(`host${Math.random()}`, () => onHost());
  f.invoke(f.fn.rec, [BigInt(refs.length - 1), array, host]);
}

for (const arch of ARCHES) {
  test(`${arch}: refs held only by frames survive; table-only refs are freed; counts match holders`, async (t) => {
    const f = await Fixture.create({ arch });
    const live = f.rooted(4, 'live');
    const freedValues: unknown[] = [];
    f.garbage(3, 'dead', (v) => freedValues.push(v));
    let report: GcReport | undefined;
    runRec(f, live, () => {
      report = f.collector.collect({ reason: 'store-gc' });
      for (const r of live) t.is(f.heap.strongCount(r), 2); // host + the new over-approximation
    });
    t.is(report!.frames, 4);
    t.is(report!.framesWithMaps, 4);
    t.is(report!.slotsScanned, 4);
    t.is(report!.roots, 4);
    t.is(report!.freedCount, 3);
    t.true(report!.swept);
    t.deepEqual(freedValues.sort(), ['dead0', 'dead1', 'dead2']);
    t.deepEqual(report!.tableBefore, { bump: 0, overApproximated: 7 });
    t.deepEqual(report!.tableAfter, { bump: 0, overApproximated: 4 });
    // Outside Wasm (no activations) a GC drops the over-approximation: only the host holds them.
    const after = f.collector.collect();
    t.is(after.frames, 0);
    t.is(after.roots, 0);
    for (const r of live) t.is(f.heap.strongCount(r), 1);
    for (const r of live) t.true(f.heap.drop(r));
    t.is(f.heap.liveCount, 0);
    f.close();
  });

  test(`${arch}: a ref held only by a frame (its host count dropped) stays alive until the frame is gone`, async (t) => {
    const f = await Fixture.create({ arch });
    const refs = [f.heap.allocate('only-on-stack'), f.heap.allocate('second')];
    for (const r of refs) f.table.insertWithoutGc(r); // ownership moves into the table: no host count left
    let freedDuringCall = -1;
    runRec(f, refs, () => {
      f.collector.collect();
      f.collector.collect();
      freedDuringCall = f.heap.freedTotal;
      t.is(f.heap.value(refs[0]), 'only-on-stack');
      t.is(f.heap.strongCount(refs[0]), 1); // held by the over-approximation only
    });
    t.is(freedDuringCall, 0);
    f.collector.collect();
    t.false(f.heap.isLive(refs[0]));
    t.false(f.heap.isLive(refs[1]));
    f.close();
  });

  test(`${arch}: the chunk fills through compiled-code-style insertion and triggers GC; stack refs survive`, async (t) => {
    const reports: GcReport[] = [];
    const f = await Fixture.create({ arch, collector: { onCollect: (r) => reports.push(r) } });
    const live = f.rooted(3, 'live');
    let churned = 0;
    runRec(f, live, () => {
      for (let i = 0; i < 1200; i++) {
        const r = f.heap.allocate(`temp${i}`);
        // Inline path when there is room (clones), otherwise the libcall (which clones too).
        if (!f.table.bumpInsertInline(r)) f.collector.libcallInsertWithGc(r);
        f.heap.drop(r); // the host's own count: now only the table holds it
        churned++;
      }
    });
    t.is(churned, 1200);
    // v17's lazy chunk: the very first insertion collects and allocates the chunk; then a GC
    // every time 512 slots fill.
    t.true(reports.length >= 3);
    t.is(reports[0].reason, 'table-full');
    t.true(reports.every((r) => r.roots === 3 && r.swept));
    t.is(f.table.chunkLength, 512);
    for (const r of live) t.is(f.heap.strongCount(r), 2);
    f.collector.collect();
    t.is(f.heap.liveCount, 3);
    f.close();
  });

  test(`${arch}: at least 1,000 live refs in one frame`, async (t) => {
    const f = await Fixture.create({ arch, maps: { bigCount: 1000 } });
    const live = f.rooted(1000, 'r');
    f.garbage(10, 'g');
    const array = f.words(live);
    let report: GcReport | undefined;
    const host = f.hostFunction('gc', () => {
      report = f.collector.collect();
    });
    f.invoke(f.fn.big, [1000n, array, host]);
    t.is(report!.roots, 1000);
    t.is(report!.slotsScanned, 1000);
    t.is(report!.freedCount, 10);
    t.true(live.every((r) => f.heap.strongCount(r) === 2));
    f.close();
  });

  test(`${arch}: roots in an older activation (Wasm → host → Wasm) are found through the saved chain`, async (t) => {
    const f = await Fixture.create({ arch });
    const outer = f.rooted(2, 'outer');
    const inner = f.rooted(3, 'inner');
    f.garbage(2, 'g');
    const innerArray = f.words(inner);
    let report: GcReport | undefined;
    const gc = f.hostFunction('gc', () => {
      report = f.collector.collect();
    });
    runRec(f, outer, () => {
      f.invoke(f.fn.rec, [2n, innerArray, gc]);
    });
    t.is(report!.activations, 2);
    t.is(report!.frames, 5);
    t.is(report!.roots, 5);
    t.is(report!.freedCount, 2);
    f.close();
  });

  test(`${arch}: a destructor re-entering Wasm: its insertions survive and its GC returns early`, async (t) => {
    const f = await Fixture.create({ arch });
    f.table.sweep(false); // allocate the chunk (as the first GC would)
    const live = f.rooted(2, 'live');
    const reentrantRef = f.heap.allocate('made-by-destructor');
    const reentrantArray = f.words([reentrantRef, reentrantRef]);
    const nested: GcReport[] = [];
    const insertAndGc = f.hostFunction('insert-and-gc', () => {
      // Compiled code handing a ref to the table while the outer sweep runs: next == end, so
      // the slow path; its GC is nested and returns early.
      if (!f.table.bumpInsertInline(reentrantRef)) f.collector.libcallInsertWithGc(reentrantRef);
      nested.push(f.collector.collect());
    });
    let destructorRan = false;
    f.heap.allocate('trigger', () => {
      destructorRan = true;
      f.invoke(f.fn.rec, [1n, reentrantArray, insertAndGc]);
    });
    // Put the trigger's only count into the bump chunk so the sweep's chunk clearing frees it.
    const trigger = f.heap.liveRefs().find((r) => f.heap.value(r) === 'trigger')!;
    t.true(f.table.tryInsert(trigger));
    let outer: GcReport | undefined;
    runRec(f, live, () => {
      outer = f.collector.collect();
    });
    t.true(destructorRan);
    t.is(outer!.freedCount, 1);
    t.is(nested.length, 1);
    t.is(nested[0].skipped, 'reentrant');
    t.true(f.table.overApproximated.has(Number(reentrantRef)));
    t.is(f.heap.strongCount(reentrantRef), 2); // the host's + the over-approximation's
    f.close();
  });

  test(`${arch}: GC inside GC (a destructor calling collect) returns early`, async (t) => {
    const f = await Fixture.create({ arch });
    const inner: GcReport[] = [];
    f.garbage(2, 'g', () => inner.push(f.collector.collect()));
    const r = f.collector.collect();
    t.is(r.freedCount, 2);
    t.deepEqual(inner.map((x) => x.skipped), ['reentrant', 'reentrant']);
    t.false(f.table.gcInProgress);
    f.close();
  });

  test(`${arch}: destructor failures are reported after the sweep completes`, async (t) => {
    const f = await Fixture.create({ arch });
    f.garbage(3, 'g', (v) => {
      if (v === 'g1') throw new Error('bad destructor');
    });
    const e = t.throws(() => f.collector.collect(), { instanceOf: DestructorError });
    t.is(e!.failures.length, 1);
    t.is(f.heap.liveCount, 0);
    t.false(f.table.gcInProgress);
    t.is(f.collector.lastReport?.freedCount, 3);
    f.close();
  });

  // ---- negative tests: corrupted stack maps fail loudly instead of freeing live objects ----

  const corruptions: Array<[string, { recBits?: number[]; recWords?: number }, GcInvariantError['check']]> = [
    ['a flipped bit (a junk word marked as a reference)', { recBits: [0, REC_REF_BIT] }, 'root-not-in-table'],
    ['an off-by-one frame size (one word too many)', { recWords: 5 }, 'root-not-in-table'],
    ['an off-by-one frame size (one word too few)', { recWords: 3 }, 'root-not-in-table'],
  ];
  for (const [name, maps, check] of corruptions) {
    test(`${arch}: negative: ${name} → GcInvariantError(${check}); nothing freed`, async (t) => {
      const f = await Fixture.create({ arch, maps });
      const live = f.rooted(3, 'live');
      const dead = f.garbage(2, 'dead');
      let error: unknown;
      runRec(f, live, () => {
        try {
          f.collector.collect();
        } catch (e) {
          error = e;
        }
      });
      t.true(error instanceof GcInvariantError);
      t.is((error as GcInvariantError).check, check);
      t.is((error as GcInvariantError).where?.functionName, 'rec');
      // Nothing was freed and every count is back where it was.
      t.true(dead.every((r) => f.heap.isLive(r) && f.heap.strongCount(r) === 1));
      t.true(live.every((r) => f.heap.strongCount(r) === 2));
      t.is(f.table.precise.size, 0);
      t.is(f.table.overApproximated.size, 5);
      t.false(f.table.gcInProgress);
      f.close();
    });
  }

  test(`${arch}: negative: with debug checks off a corrupt map still fails (root-not-live)`, async (t) => {
    const f = await Fixture.create({ arch, maps: { recWords: 5 }, collector: { debugChecks: false } });
    const live = f.rooted(2, 'live');
    let error: unknown;
    runRec(f, live, () => {
      try {
        f.collector.collect();
      } catch (e) {
        error = e;
      }
    });
    t.is((error as GcInvariantError).check, 'root-not-live');
    f.close();
  });

  test(`${arch}: negative: a cleared bit (missed root) is caught by the strict conservative check`, async (t) => {
    const f = await Fixture.create({ arch, maps: { recBits: [] }, collector: { conservativeCheck: 'strict' } });
    const refs = [f.heap.allocate('held-only-by-frame')];
    f.table.insertWithoutGc(refs[0]);
    let error: unknown;
    runRec(f, refs, () => {
      try {
        f.collector.collect();
      } catch (e) {
        error = e;
      }
    });
    t.is((error as GcInvariantError).check, 'missed-root');
    t.is((error as GcInvariantError).where?.bit, REC_REF_BIT);
    t.true(f.heap.isLive(refs[0])); // not freed
    // In 'report' mode the suspect is listed (and the unmarked object would be freed).
    f.collector.conservativeCheck = 'report';
    let report: GcReport | undefined;
    runRec(f, refs, () => {
      report = f.collector.collect();
    });
    t.is(report!.suspects.length, 1);
    t.is(report!.suspects[0].value, refs[0]);
    f.close();
  });

  test(`${arch}: a failing table-full GC still keeps the inserted reference (fail closed)`, async (t) => {
    const f = await Fixture.create({ arch, maps: { recWords: 5 } }); // corrupt map: every GC in rec fails
    const live = f.rooted(1, 'live');
    const extra = f.heap.allocate('extra');
    let error: unknown;
    runRec(f, live, () => {
      try {
        f.collector.libcallInsertWithGc(extra); // lazy chunk: the slow path collects first
      } catch (e) {
        error = e;
      }
    });
    t.true(error instanceof GcInvariantError);
    t.true(f.table.overApproximated.has(Number(extra)));
    t.is(f.heap.strongCount(extra), 2);
    f.close();
  });

  test(`${arch}: a frame whose pc belongs to no module is an unknown-frame error`, async (t) => {
    const f = await Fixture.create({ arch });
    f.registry.unregister(f.text.address);
    const live = f.rooted(1, 'x');
    let error: unknown;
    runRec(f, live, () => {
      try {
        f.collector.collect();
      } catch (e) {
        error = e;
      }
    });
    t.is((error as GcInvariantError).check, 'unknown-frame');
    t.true(f.heap.isLive(live[0]));
    f.close();
  });

  test(`${arch}: gc_okay off: collection and insert_with_gc are refused`, async (t) => {
    const f = await Fixture.create({ arch });
    t.true(f.table.setGcOkay(false));
    t.throws(() => f.collector.collect(), { instanceOf: GcInvariantError, message: /gc-not-okay/ });
    t.throws(() => f.collector.insertWithGc(f.heap.allocate(1)), { instanceOf: GcInvariantError });
    t.false(f.table.setGcOkay(true));
    f.close();
  });
}

for (const arch of ARCHES) {
  for (const registryMode of ['v17', 'v0.22'] as const) {
    test(`${arch}: canary mode (${registryMode} registry): canary found → sweep; roots kept`, async (t) => {
      const f = await Fixture.create({ arch, walk: 'canary', registryMode });
      const live = f.rooted(3, 'live');
      f.garbage(2, 'g');
      let report: GcReport | undefined;
      runRec(f, live, () => {
        report = f.collector.collect();
      });
      t.true(report!.canary!.found);
      t.true(report!.swept);
      t.is(report!.roots, 3);
      t.is(report!.freedCount, 2);
      t.deepEqual(report!.warnings, []);
      f.close();
    });
  }

  test(`${arch}: canary mode: a broken FP chain hides the canary → sweep skipped with a warning`, async (t) => {
    const f = await Fixture.create({ arch, walk: 'canary' });
    const live = f.rooted(3, 'live');
    const dead = f.garbage(2, 'g');
    let report: GcReport | undefined;
    runRec(f, live, () => {
      // Break the chain at the second frame, collect, then repair it so the guest can return.
      const fp0 = f.hostCalls[f.hostCalls.length - 1].fp;
      const fp1 = f.m.readU64(fp0);
      const saved = f.m.readU64(fp1);
      f.m.writeU64(fp1, 0n);
      report = f.collector.collect();
      f.m.writeU64(fp1, saved);
    });
    t.false(report!.canary!.found);
    t.is(report!.canary!.stop, 'zero-fp');
    const json = reportToJson(report!) as { warnings: string[]; canary: { value: string; found: boolean } };
    t.is(json.canary.value, '0x' + f.m.stack.top.toString(16));
    t.false(json.canary.found);
    t.false(report!.swept);
    t.regex(report!.warnings[0], /did not find stack canary/);
    t.is(report!.freedCount, 0);
    t.true(dead.every((r) => f.heap.isLive(r) && f.heap.strongCount(r) === 1));
    t.true(live.every((r) => f.heap.strongCount(r) === 2)); // the precise counts were given back
    t.is(f.table.overApproximated.size, 5);
    f.close();
  });

  test(`${arch}: canary mode: nested entry resumes through the host call; no canary + Wasm frames is an error`, async (t) => {
    const f = await Fixture.create({ arch, walk: 'canary' });
    const outer = f.rooted(2, 'outer');
    const inner = f.rooted(2, 'inner');
    const innerArray = f.words(inner);
    let report: GcReport | undefined;
    const gc = f.hostFunction('gc', () => {
      report = f.collector.collect();
    });
    runRec(f, outer, () => f.invoke(f.fn.rec, [1n, innerArray, gc]));
    t.true(report!.canary!.found);
    t.is(report!.roots, 4);
    let error: unknown;
    runRec(f, outer, () => {
      try {
        f.collector.collect({ canary: null });
      } catch (e) {
        error = e;
      }
    });
    t.is((error as GcInvariantError).check, 'wasm-frame-without-canary');
    f.close();
  });
}

test('explain: a canary walk that misses the canary says so in text', async (t) => {
  const f = await Fixture.create({ arch: 'x64', walk: 'canary', registryMode: 'v0.22' });
  const live = f.rooted(2, 'live');
  let text = '';
  runRec(f, live, () => {
    const fp0 = f.hostCalls[0].fp;
    const fp1 = f.m.readU64(fp0);
    const saved = f.m.readU64(fp1);
    f.m.writeU64(fp1, 0n);
    text = renderExplanation(f.collector.collect({ explain: true }).explanation!);
    f.m.writeU64(fp1, saved);
  });
  t.regex(text, /NOT swept/);
  t.regex(text, /Canary: 0x[0-9a-f]+; not found \(zero-fp\)/);
  t.regex(text, /not kept: the sweep was skipped/);
  t.regex(text, /did not find stack canary/);
  f.close();
});

test('explain: text and JSON describe frames, words, roots, table and freed values', async (t) => {
  for (const arch of ARCHES as Arch[]) {
    const f = await Fixture.create({ arch });
    const live = f.rooted(2, 'live');
    f.garbage(1, 'dead');
    let report: GcReport | undefined;
    runRec(f, live, () => {
      report = f.collector.collect({ explain: true });
    });
    const e = report!.explanation!;
    t.is(e.frames.length, 2);
    t.is(e.frames[0].functionName, 'rec');
    t.is(e.frames[0].frameSize, 32);
    t.is(e.frames[0].map!.bits, '0100');
    t.is(e.frames[0].map!.words[1].value, live[0]);
    t.true(e.frames[0].map!.words[1].isRef);
    t.is(e.frames[0].map!.words[1].hostValue, '"live0"');
    t.is(e.roots.length, 2);
    t.deepEqual(e.freed.map((x) => x.value), ['"dead0"']);
    t.is(e.tableBefore.overApproximated.length, 3);
    t.is(e.tableAfter.overApproximated.length, 2);
    const { explanationToJson } = await import('./explain.ts');
    const text = renderExplanation(e);
    t.regex(text, /rec\+0x[0-9a-f]+ \[fixture\]/);
    t.regex(text, /REF bit 1 {2}-> "live1"/);
    t.regex(text, /return address/);
    t.regex(text, /Freed \(1\):\n {2}0x[0-9a-f]+ "dead0"/);
    const json = explanationToJson(e) as { frames: Array<{ pc: string; map: { words: Array<{ value: string }> } }> };
    t.regex(json.frames[0].pc, /^0x[0-9a-f]+$/);
    t.is(json.frames[0].map.words[1].value, '0x' + live[0].toString(16));
    f.close();
  }
});
