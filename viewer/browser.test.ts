/**
 * The page in a real browser: Debian's chromium (installed by `scripts/setup.sh --test`),
 * driven by playwright-core, one browser for every page. For three examples recorded on both
 * arches it checks the frames, the map bits, the roots and the what-if in the DOM against the
 * record and against gc/'s collector run here in Node on the same edit, that nothing was
 * logged as an error, and saves screenshots to build/screenshots/ (git-ignored).
 */
import test from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { cli, scratchPath } from '../cli/testing.ts';
import { replayGc, withRunStackMaps, type ArchRun, type MapEdit, type RunRecord, type TimelineEvent } from './index.ts';

const CHROMIUM = process.env.STACKSCOPE_CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOTS = join('build', 'screenshots');
// Examples with a collection that walks a Wasm frame (a bit to clear in the what-if).
// linked-list has none: its collections are the one before the first push (the activations
// table's chunk is empty until its first sweep, as in wasmtime v17) and store.gc() with no
// Wasm running. thousand-refs has frames of 1,000 words and more, which the page abbreviates.
const EXAMPLES = ['recursion-gc', 'table-overflow', 'thousand-refs'] as const;
// The page draws every mapped word of a frame of at most this many, and only the marked ones
// of a larger frame (viewer/frame-svg.ts's default maxWords).
const PAGE_MAX_WORDS = 48;
const setBits = (bits: string | null | undefined): number => [...(bits ?? '')].filter((b) => b === '1').length;
const drawnBitCells = (f: { mappedWords?: number | null; bits?: string | null }): number =>
  (f.mappedWords ?? 0) > PAGE_MAX_WORDS ? setBits(f.bits) : f.mappedWords ?? 0;

type GcEvent = Extract<TimelineEvent, { type: 'gc' }>;
interface ExplanationJson { roots: Array<{ ref: string; value: string }>; freed: Array<{ ref: string }> }

let context: BrowserContext | undefined;
let profile: string | undefined;

test.before(async () => {
  profile = mkdtempSync(join(tmpdir(), 'stackscope-chromium-'));
  mkdirSync(SCREENSHOTS, { recursive: true });
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, viewport: { width: 1500, height: 950 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  // Clicks and waits get two minutes: a page of 1,000-word frames renders slowly under load.
  context.setDefaultTimeout(120_000);
});

test.after.always(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

/** Opens a page and collects everything the browser reports as an error. */
async function open(file: string): Promise<{ page: Page; errors: string[] }> {
  const page = await context!.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') errors.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => errors.push(`request: ${r.url()}`));
  page.on('request', (r) => {
    if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) errors.push(`network request: ${r.url()}`);
  });
  await page.goto(pathToFileURL(file).href);
  await page.waitForSelector('body[data-ready="true"]');
  return { page, errors };
}

function recordOf(file: string): RunRecord {
  return JSON.parse(/id="stackscope-record">(.*?)<\/script>/s.exec(readFileSync(file, 'utf8'))![1]) as RunRecord;
}

interface Target { step: number; event: GcEvent; frame: number; bit: number; ref: string; edit: MapEdit }

/**
 * The bit to clear: over a live reference of some collection's frame, preferably one whose
 * clearing frees that object (what the what-if is for); the first marked reference otherwise.
 */
function interestingBit(run: ArchRun): Target {
  let first: Target | undefined;
  for (let step = 0; step < run.timeline.length; step++) {
    const e = run.timeline[step];
    if (e.type !== 'gc' || !e.snapshot) continue;
    for (let frame = 0; frame < e.frames.length; frame++) {
      const f = e.frames[frame];
      for (const w of f.words) {
        if (!w.isRef || w.value === null || w.value === '0x0') continue;
        const bits = f.bits!.split('');
        bits[w.bit!] = '0';
        const target = { step, event: e, frame, bit: w.bit!, ref: w.value, edit: { returnAddress: f.returnAddress!, mappedWords: f.mappedWords!, bits: bits.join('') } };
        first ??= target;
        if (replayGc(withRunStackMaps(e.snapshot, run.stackMaps), [target.edit]).freed.includes(w.value)) return target;
      }
    }
  }
  if (!first) throw new Error(`${run.arch}: no collection with a marked reference`);
  return first;
}

// One page at a time: three pages rendering at once in one chromium, beside the rest of the
// suite, took past Playwright's 30 s action timeout on a loaded 2-core machine.
for (const example of EXAMPLES) {
  test.serial(`${example}: the page shows both arches' frames, bits, roots and what-if in chromium`, async (t) => {
    const file = scratchPath(`${example}.html`);
    const made = await cli('run', `examples/${example}`, '--arch', 'both', '--html', file);
    t.is(made.code, 0, made.stderr);
    const record = recordOf(file);
    const { page, errors } = await open(file);
    try {
      t.is(await page.locator('.column').count(), 2, 'both arches side by side by default');
      const [x64] = record.runs;
      const target = interestingBit(x64);
      await page.locator(`#timeline li[data-step="${target.step}"]`).click();
      for (const run of record.runs) {
        const col = page.locator(`.column[data-arch="${run.arch}"]`);
        const k = x64.timeline.slice(0, target.step).filter((e) => e.type === 'gc').length;
        const e = run.timeline.filter((x): x is GcEvent => x.type === 'gc')[k];
        const x = e.explanation as ExplanationJson;
        // Frames and map bits, as recorded.
        t.is(await col.locator('.frame').count(), e.frames.length, `${run.arch}: frames`);
        t.is(await col.locator('.frame [data-bit]').count(), e.frames.reduce((n, f) => n + drawnBitCells(f), 0), `${run.arch}: one bit cell per mapped word (only marked ones in a large frame)`);
        t.is(await col.locator('.frame .ss-bit-on').count(), e.frames.reduce((n, f) => n + setBits(f.bits), 0), `${run.arch}: set bits`);
        const firstFrame = await col.locator('.frame').first().textContent();
        t.true(firstFrame!.includes(e.frames[0].fp), `${run.arch}: the youngest frame's FP is drawn`);
        // Roots and frees.
        const roots = await col.locator('ul.roots li').allTextContents();
        t.is(roots.length, x.roots.length, `${run.arch}: roots`);
        for (const r of x.roots) t.true(roots.some((line) => line.startsWith(r.ref) && line.includes(r.value)), `${run.arch}: root ${r.ref}`);
        // The unedited replay in the page agrees with the simulator.
        t.is(await col.locator('.whatif-result').getAttribute('data-matches'), 'true', `${run.arch}: the page's replay matches the recorded collection`);
      }
      await page.screenshot({ path: join(SCREENSHOTS, `${example}-gc.png`) });
      // What-if on x64: clear the bit over a live reference; the page's collector must decide
      // exactly what gc/'s collector decides here in Node on the same edit.
      const col = page.locator('.column[data-arch="x64"]');
      await col.locator(`.frame[data-frame="${target.frame}"] [data-bit="${target.bit}"]`).click();
      const expected = replayGc(withRunStackMaps(target.event.snapshot!, x64.stackMaps), [target.edit]);
      const result = col.locator('.whatif-result');
      t.is(await result.getAttribute('data-edited'), 'true');
      t.is(await result.getAttribute('data-error'), expected.error?.name ?? null);
      t.is(await result.getAttribute('data-roots'), expected.roots.join(' '));
      t.is(await result.getAttribute('data-freed'), expected.freed.join(' '));
      const liveFreed = (await result.getAttribute('data-live-freed'))?.split(' ') ?? [];
      t.is(liveFreed.includes(target.ref), expected.freed.includes(target.ref), 'a live object freed by the edit is reported as such');
      if (expected.freed.includes(target.ref)) t.regex((await result.textContent())!, /would FREE/);
      t.is(await col.locator('.frame .ss-bit-edited').count() > 0, true, 'the flipped bit is marked as edited');
      await page.screenshot({ path: join(SCREENSHOTS, `${example}-whatif.png`) });
      // A frame one word bigger than its map says: SP moves down 8 bytes and every bit names
      // the word below the one it meant; again the page decides as gc/ does here.
      await col.locator('button.reset').click();
      const f = target.event.frames[target.frame];
      const size = col.locator(`.frame[data-frame="${target.frame}"] input.framesize`);
      await size.fill(String((f.mappedWords! + 1) * 8));
      await size.blur(); // the input's change event
      const grown = replayGc(withRunStackMaps(target.event.snapshot!, x64.stackMaps), [{ returnAddress: f.returnAddress!, mappedWords: f.mappedWords! + 1, bits: f.bits! + '0' }]);
      t.is(await result.getAttribute('data-edited'), 'true', 'the size change reached the page');
      t.is(await result.getAttribute('data-error'), grown.error?.name ?? null, 'frame size: the same outcome');
      t.is(await result.getAttribute('data-roots'), grown.roots.join(' '));
      t.is(await result.getAttribute('data-freed'), grown.freed.join(' '));
      if (!grown.error) t.is(await col.locator(`.frame[data-frame="${target.frame}"] [data-bit]`).count(), f.mappedWords! + 1, 'the grown frame is drawn with one more word');
      // Stepping: the safepoint/GC buttons move along the timeline, one arch at a time works too.
      await page.locator('button[data-arch="aarch64"]').click();
      t.is(await page.locator('.column').count(), 1);
      await page.locator('#next-stop').click();
      t.regex((await page.locator('.event-head').textContent())!, /safepoint|GC/);
      t.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });
}
