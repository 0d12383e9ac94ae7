import test from 'ava';
import { readFileSync } from 'node:fs';
import { ARCHES } from '../isa/arch.ts';
import { Engine, Module, Store } from '../index.ts';
import { run as runRecursionGc } from '../examples/recursion-gc/run.ts';
import { cli, scratchFile, scratchPath } from '../cli/testing.ts';
import {
  RunRecorder, RUN_RECORD_FORMAT, SnapshotError, frameSvg, renderPage, replayGc, withRunStackMaps,
  type ArchRun, type GcSnapshot, type RunRecord, type TimelineEvent,
} from './index.ts';

type GcEvent = Extract<TimelineEvent, { type: 'gc' }>;
interface ExplanationJson { roots: Array<{ ref: string; value: string }>; freed: Array<{ ref: string; value: string }> }

const WAT_PATH = 'examples/recursion-gc/recursion-gc.wat';

/** recursion-gc run by its driver on one arch, recorded. */
async function recordRecursionGc(arch: (typeof ARCHES)[number]): Promise<ArchRun> {
  const text = readFileSync(WAT_PATH, 'utf8');
  const engine = new Engine({ arch });
  const module = await Module.from(engine, text, 'recursion-gc.wat');
  const store = await Store.create(engine);
  try {
    const recorder = new RunRecorder({ store, module, source: { file: 'recursion-gc.wat', text } });
    const lines: string[] = [];
    await runRecursionGc({ arch, engine, store, module, print: (l = '') => lines.push(l) });
    return recorder.finish({ output: lines, outcome: 'finished' });
  } finally {
    store.close();
  }
}

const recorded = new Map<string, Promise<ArchRun>>();
const recording = (arch: (typeof ARCHES)[number]) => {
  if (!recorded.has(arch)) recorded.set(arch, recordRecursionGc(arch));
  return recorded.get(arch)!;
};

const gcsOf = (run: ArchRun) => run.timeline.filter((e): e is GcEvent => e.type === 'gc');
const snapshotOf = (run: ArchRun, e: GcEvent): GcSnapshot => withRunStackMaps(e.snapshot!, run.stackMaps);

for (const arch of ARCHES) {
  test(`${arch}: the record has the timeline, frames with bits and slot names, code and WAT lines`, async (t) => {
    const run = await recording(arch);
    t.is(run.arch, arch);
    const types = new Set(run.timeline.map((e) => e.type));
    for (const ty of ['block', 'host-call', 'safepoint', 'gc']) t.true(types.has(ty as TimelineEvent['type']), ty);
    t.true(run.timeline.some((e) => e.type === 'block' && e.enters === 'descend'), 'calls into descend are marked');
    t.true(run.timeline.some((e) => e.type === 'host-call' && /gc/.test(e.name)), 'the host gc import is a host call');
    const sp = run.timeline.find((e): e is Extract<TimelineEvent, { type: 'safepoint' }> => e.type === 'safepoint')!;
    t.is(sp.frame.functionName, 'descend');
    t.regex(sp.frame.bits ?? '', /^[01]+$/);
    t.true(sp.frame.words.some((w) => w.slot.startsWith('local')), 'slot names from the frame layout');
    const descend = run.functions.find((f) => f.name === 'descend')!;
    t.true(descend.code.length > 20);
    t.true(descend.code.some(([, , text]) => (arch === 'x64' ? /call/ : /bl/).test(text)));
    t.is(descend.line, readFileSync(WAT_PATH, 'utf8').split('\n').findIndex((l) => l.includes('(func $descend')) + 1);
    t.true(descend.ops.some((o) => o.line !== undefined), 'some Wasm instructions have their WAT line');
    const gcs = gcsOf(run);
    t.is(gcs.length, 3);
    const x = gcs[1].explanation as ExplanationJson;
    t.deepEqual(x.roots.map((r) => r.value).sort(), ['"held by level 0"', '"held by level 1"', '"held by level 2"']);
    t.is(gcs[1].frames.length, 3);
    t.true(gcs[1].frames.every((f) => f.bits?.includes('1')));
  });

  test(`${arch}: every recorded collection replays to the same roots and frees, also after a JSON round trip`, async (t) => {
    const run = JSON.parse(JSON.stringify(await recording(arch))) as ArchRun;
    for (const e of gcsOf(run)) {
      const x = e.explanation as ExplanationJson;
      const out = replayGc(snapshotOf(run, e));
      t.is(out.error, undefined);
      t.deepEqual(out.roots, x.roots.map((r) => r.ref), `GC ${e.index} roots`);
      t.deepEqual(out.freed, x.freed.map((f) => f.ref), `GC ${e.index} freed`);
    }
  });

  test(`${arch}: what-if: a cleared bit frees a live object, a bit over a non-reference stops the collector, a shifted frame misses its root`, async (t) => {
    const run = await recording(arch);
    const e = gcsOf(run)[1];
    const x = e.explanation as ExplanationJson;
    const youngest = e.frames[0];
    const ra = youngest.returnAddress!;
    const bits = youngest.bits!;
    const refBit = bits.indexOf('1');
    const root = youngest.words.find((w) => w.bit === refBit)!.value!;
    t.true(x.roots.some((r) => r.ref === root));
    // The map is shared by the recursive frames with the same return address: all lose the bit.
    const cleared = replayGc(snapshotOf(run, e), [{ returnAddress: ra, mappedWords: bits.length, bits: bits.replace(/1/g, '0') }]);
    t.is(cleared.error, undefined);
    t.true(cleared.freed.includes(root), 'the root of the youngest frame is freed');
    t.false(cleared.roots.includes(root));
    // A bit over the word holding the saved vmctx: not an activations-table entry.
    const vmctxBit = youngest.words.find((w) => w.slot.startsWith('callee-save (caller vmctx)'))!.bit!;
    const wrong = bits.split('');
    wrong[vmctxBit] = '1';
    const stopped = replayGc(snapshotOf(run, e), [{ returnAddress: ra, mappedWords: bits.length, bits: wrong.join('') }]);
    t.is(stopped.error?.name, 'GcInvariantError');
    t.regex(stopped.error!.message, /root-not-in-table/);
    // One word more: SP moves down by 8, the marked bit now names the word below the root.
    const shifted = replayGc(snapshotOf(run, e), [{ returnAddress: ra, mappedWords: bits.length + 1, bits: bits + '0' }]);
    if (!shifted.error) t.false(shifted.roots.includes(root) && shifted.freed.length === x.freed.length, 'the shift changes the outcome');
    else t.regex(shifted.error.name, /Gc|StackWalk/);
  });
}

test('replay refuses what it cannot do with a typed error', async (t) => {
  const run = await recording('x64');
  const e = gcsOf(run)[1];
  t.throws(() => replayGc(e.snapshot!), { instanceOf: SnapshotError, message: /withRunStackMaps/ });
  t.throws(() => replayGc({ ...snapshotOf(run, e), walk: { kind: 'canary' } }), { instanceOf: SnapshotError, message: /v17/ });
  t.throws(() => replayGc(snapshotOf(run, e), [{ returnAddress: e.frames[0].returnAddress!, mappedWords: 3, bits: '01' }]), { instanceOf: SnapshotError });
});

test('the page is one self-contained file: the record inline, no network, the code bundled', async (t) => {
  const run = await recording('x64');
  const record: RunRecord = { format: RUN_RECORD_FORMAT, title: 'a </script> title', command: 'stackscope test', runs: [run] };
  const html = await renderPage(record);
  t.regex(html, /^<!doctype html>/);
  t.regex(html, /Content-Security-Policy" content="default-src 'none'/);
  t.false(/\b(src|href)=["']?(https?:|\/\/)/.test(html), 'no external resources');
  const json = /<script type="application\/json" id="stackscope-record">(.*?)<\/script>/s.exec(html);
  t.truthy(json);
  t.deepEqual(JSON.parse(json![1]).runs[0].timeline.length, run.timeline.length);
  t.is(html.match(/<\/script>/g)?.length, 2, 'no stray end of script inside the data or the code');
  t.true(html.includes('a &lt;/script&gt; title'));
});

test('frameSvg draws every word, the bits over them and where references point', async (t) => {
  const run = await recording('aarch64');
  const f = gcsOf(run)[1].frames[0];
  const svg = frameSvg(f, { targets: new Map([[f.words.find((w) => w.isRef)!.value!, '"held"']]) });
  t.regex(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  t.is(svg.match(/data-bit=/g)?.length, f.mappedWords!);
  t.is(svg.match(/ss-bit ss-bit-on/g)?.length, [...f.bits!].filter((b) => b === '1').length);
  t.true(svg.includes('→ &quot;held&quot;'));
  t.true(svg.includes(f.fp));
});

test('stackscope run/explain/gc --html write a page; --arch both records both arches', async (t) => {
  const page = scratchPath('run.html');
  const r = await cli('run', 'examples/recursion-gc', '--arch', 'both', '--html', page);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /== x64 ==[\s\S]*== aarch64 ==/);
  t.regex(r.stdout, /page: .*run\.html \(x64 and aarch64/);
  const record = JSON.parse(/id="stackscope-record">(.*?)<\/script>/s.exec(readFileSync(page, 'utf8'))![1]) as RunRecord;
  t.deepEqual(record.runs.map((x) => x.arch), ['x64', 'aarch64']);
  t.regex(record.command, /stackscope run examples\/recursion-gc --arch both --html/);

  const wat = scratchFile('keep.wat', `(module
  (import "env" "ref" (func $ref (param i32) (result externref)))
  (import "env" "gc" (func $gc))
  (func (export "keep") (param $n i32) (result externref)
    (local $r externref)
    (local.set $r (call $ref (local.get $n)))
    (drop (call $ref (i32.const 99)))
    (call $gc)
    (local.get $r)))`);
  const gcPage = scratchPath('gc.html');
  const g = await cli('gc', wat, '--invoke', 'keep', '1', '--arch', 'aarch64', '--html', gcPage);
  t.is(g.code, 0, g.stderr);
  const gr = JSON.parse(/id="stackscope-record">(.*?)<\/script>/s.exec(readFileSync(gcPage, 'utf8'))![1]) as RunRecord;
  t.is(gr.runs[0].arch, 'aarch64');
  // The page records every collection of the run: env.ref's first externref result collects
  // first (the activations table's chunk is empty until its first sweep, as in wasmtime v17),
  // then the one at env.gc that the report is about.
  t.deepEqual(gr.runs[0].timeline.filter((e): e is GcEvent => e.type === 'gc').map((e) => e.reason), ['table-full', 'host']);
  t.regex(gr.runs[0].outcome, /keep\(1\) = externref/);

  const explainPage = scratchPath('explain.html');
  const x = await cli('explain', 'examples/recursion-gc', '--at', 'descend', '--nth', '2', '--html', explainPage, '--json');
  t.is(x.code, 0, x.stderr);
  t.regex(x.stderr, /page: /, 'with --json the page line goes to stderr');
  JSON.parse(x.stdout);
  const xr = JSON.parse(/id="stackscope-record">(.*?)<\/script>/s.exec(readFileSync(explainPage, 'utf8'))![1]) as RunRecord;
  const focus = xr.runs[0].focus!;
  t.is(xr.runs[0].timeline[focus].type, 'safepoint');
  t.is(xr.runs[0].timeline.slice(0, focus + 1).filter((e) => e.type === 'safepoint' && e.frame.functionName === 'descend').length, 2);
});

test('--html and --arch both misuse are usage errors', async (t) => {
  const both = await cli('run', 'examples/fib', '--arch', 'both');
  t.is(both.code, 2);
  t.regex(both.stderr, /--arch both .* --html FILE/);
  const json = await cli('gc', 'x.wat', '--invoke', 'f', '--arch', 'both', '--html', scratchPath('x.html'), '--json');
  t.is(json.code, 2);
  const empty = await cli('explain', 'examples/fib', '--at', 'fib', '--html=');
  t.is(empty.code, 2);
  const elf = await cli('run', 'loader/testdata/does-not-matter.o', '--entry', 'f', '--html', scratchPath('y.html'));
  t.is(elf.code, 2);
  const nowhere = await cli('run', 'examples/fib', '--html', scratchPath('no/such/dir/z.html'));
  t.is(nowhere.code, 2);
  t.regex(nowhere.stderr, /no directory .* to write the page into/);
  t.is(nowhere.stdout, '', 'said before the run');
});
