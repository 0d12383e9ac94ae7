/**
 * The walk reads the marked words of a long run of frames at one call site itself (V17Cursor's
 * scanning) instead of handing each frame to the collector. Whatever it finds, the collection
 * must be the one the frame-by-frame path makes: the same report, and on a bad root or a broken
 * chain the same error at the same frame and word. `explain: true` keeps every frame on the
 * frame-by-frame path (the explanation needs each one), so each case runs both ways.
 */
import test from 'ava';
import { ARCHES } from '../isa/arch.ts';
import { buildScaleCase, type ScaleCase } from './testing/scale-stack.ts';

/** Every error field that says what failed and where (bigints as hex). */
function describe(run: () => unknown): string {
  try {
    run();
    return 'no error';
  } catch (e) {
    const fields = Object.fromEntries(Object.entries(e as object).filter(([k]) => k !== 'stack'));
    return `${(e as Error).constructor.name}: ${(e as Error).message} ${JSON.stringify(fields, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v))}`;
  }
}

/** Addresses of the stack words that hold live externrefs, youngest frame first. */
function rootWords(c: ScaleCase): number[] {
  const region = c.machine.stack.region;
  const base = Number(region.address);
  const out: number[] = [];
  for (let o = region.size - 8; o >= 0; o -= 8) {
    const v = Number(region.data.getBigUint64(o, true));
    if (v !== 0 && c.heap.isLiveRaw(v)) out.push(base + o);
  }
  return out;
}

function summary(c: ScaleCase, explain: boolean): string {
  const r = c.collector.collect({ explain });
  return JSON.stringify({ frames: r.frames, withMaps: r.framesWithMaps, slots: r.slotsScanned, nulls: r.nullSlots, roots: r.roots, freed: r.freedCount });
}

for (const arch of ARCHES) {
  test(`${arch}: frames scanned in the walk give the frame-by-frame collection, errors included`, async (t) => {
    // 1,500 frames, the youngest 700 at one call site holding 3 words each and the rest at
    // another holding 2: two long runs, each scanned after its first few frames.
    const c = await buildScaleCase(arch, { frames: 1_500, roots: 3_700 });
    try {
      const before = c.collector.work.scannedInPlace;
      const scannedRun = summary(c, false);
      t.true(c.collector.work.scannedInPlace - before > 1_400, 'all but a few frames at the start of each run were scanned in the walk');
      t.is(scannedRun, summary(c, true));
      const words = rootWords(c);
      t.is(words.length, 3_700);
      const stray = c.heap.allocate('not in the table');
      // Bad roots in a scanned frame of each run, and in the last one the walk hands out anyway.
      for (const at of [words[1_000], words[3_000], words[words.length - 1]]) {
        for (const bad of [stray, 0x4321n]) {
          const r = c.machine.regionAt(BigInt(at))!;
          const o = at - Number(r.address);
          const good = r.data.getBigUint64(o, true);
          r.data.setBigUint64(o, bad, true);
          const scanned = describe(() => c.collector.collect());
          const framewise = describe(() => c.collector.collect({ explain: true }));
          t.regex(scanned, /GcInvariantError/);
          t.is(scanned, framewise, `word 0x${at.toString(16)} = 0x${bad.toString(16)}`);
          r.data.setBigUint64(o, good, true);
        }
      }
      // A broken chain deep in the second run: the same StackWalkError after the same frames.
      const region = c.machine.stack.region;
      const link = words[3_200] + 8 * 4; // a record above a frame's mapped words
      const at = link - Number(region.address);
      const saved = region.data.getBigUint64(at - (at % 16), true);
      for (const broken of [0n, saved - 16n, saved + 8n]) {
        region.data.setBigUint64(at - (at % 16), broken, true);
        const scanned = describe(() => c.collector.collect());
        t.is(scanned, describe(() => c.collector.collect({ explain: true })), `link 0x${broken.toString(16)}`);
      }
      region.data.setBigUint64(at - (at % 16), saved, true);
      t.is(summary(c, false), scannedRun, 'the same collection once every word is put back');
    } finally {
      c.close();
    }
  });

  test(`${arch}: frames folded in the walk (a long run whose map marks nothing) give the frame-by-frame collection, broken links included`, async (t) => {
    // 3,000 frames, 32 bytes apart: the youngest 500 hold one root each, the older 2,500 are at
    // a call site whose map marks nothing, which the walk folds into a count (bench/gc's
    // 10,000 x 1,000 case in small).
    const c = await buildScaleCase(arch, { frames: 3_000, roots: 500 });
    try {
      const folded = summary(c, false);
      t.is(folded, summary(c, true));
      t.is(JSON.parse(folded).frames, 3_000);
      const region = c.machine.stack.region;
      const entrySp = Number(c.machine.stack.top) - 64;
      // Frame i from the oldest has its record at entry SP - 16 - 32 i.
      for (const i of [1, 700, 1_999, 2_499]) {
        const at = entrySp - 16 - 32 * i - Number(region.address);
        const saved = region.data.getBigUint64(at, true);
        for (const broken of [0n, saved - 32n, saved + 8n, saved + 32n, saved + 64n, saved + 2n ** 32n]) {
          region.data.setBigUint64(at, broken, true);
          t.is(describe(() => summary(c, false)), describe(() => summary(c, true)), `frame ${i} links to 0x${broken.toString(16)}`);
        }
        region.data.setBigUint64(at, saved, true);
      }
      t.is(summary(c, false), folded, 'the same collection once every link is put back');
    } finally {
      c.close();
    }
  });
}
