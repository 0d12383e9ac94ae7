/**
 * The page's code (bundled into every page by viewer/page.ts; runs in the browser, no
 * network). It reads the run record from the page, lets the reader step through the timeline,
 * draws the frames of each safepoint and collection (viewer/frame-svg.ts), the machine code and
 * the WAT source at the current point, both arches side by side, and runs the what-if: gc/'s
 * collector replayed on the recorded memory with the maps the reader edited
 * (viewer/snapshot.ts's replayGc).
 */
import { frameSvg } from '../frame-svg.ts';
import type { ArchRun, FrameRecord, RecordedInstruction, RunRecord, TimelineEvent } from '../record.ts';
import { replayGc, withRunStackMaps, type MapEdit, type ReplayOutcome } from '../snapshot.ts';

interface ExplainedWordJson { bit: number; address: string; value?: string; isRef: boolean; inTable?: boolean; hostValue?: string }
interface ExplainedFrameJson {
  activation: number; index: number; functionName?: string; pc: string; pcOffset?: number; fp: string; sp?: string;
  returnAddress?: string; callerFp?: string; map?: { mapOffset: number; mappedWords: number; bits: string; words: ExplainedWordJson[] };
}
interface ExplanationJson {
  reason: string; mode: string;
  activations: Array<{ index: number; exitPc: string; exitFp: string; entrySp: string }>;
  frames: ExplainedFrameJson[];
  roots: Array<{ ref: string; value: string; countAfter: number; sites: Array<{ functionName: string; frame: number; slot: string; bit: number }> }>;
  tableBefore: TableJson; tableAfter: TableJson;
  freed: Array<{ ref: string; value: string; from: string }>;
  summary: { frames: number; framesWithMaps: number; slotsScanned: number; roots: number; freed: number; swept: boolean };
}
interface TableJson { next: string; end: string; chunk: string; chunkSlots: number; bumpEntries: string[]; overApproximated: string[] }
type GcEvent = Extract<TimelineEvent, { type: 'gc' }>;

const record = JSON.parse(document.getElementById('stackscope-record')!.textContent!) as RunRecord;
const runs = record.runs;
type Fn = ArchRun['functions'][number] & { instructions: RecordedInstruction[] };
/** Each function's machine code as instruction objects (the record keeps it compact). */
const listings = new Map<ArchRun, Fn[]>(runs.map((r) => [r, r.functions.map((f) => ({
  ...f, instructions: f.code.map(([offset, bytes, text, op]) => ({
    address: '0x' + (BigInt(f.start) + BigInt(offset)).toString(16), bytes: bytes.replace(/(..)(?!$)/g, '$1 '), text, ...(op >= 0 ? { op } : {}),
  })),
}))]));
const fnOf = (run: ArchRun, i: number): Fn | undefined => listings.get(run)![i];
const state = {
  primary: 0,
  both: runs.length > 1,
  step: 0,
  /** What-if edits per (run, gc index): return address → map. */
  edits: new Map<string, Map<string, { mappedWords: number; bits: string }>>(),
};

const $ = <T extends HTMLElement>(sel: string) => document.querySelector(sel) as T;
const h = (tag: string, attrs: Record<string, string> = {}, ...children: Array<Node | string>): HTMLElement => {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) el.append(c);
  return el;
};

function primaryRun(): ArchRun {
  return runs[state.primary];
}

function eventLabel(run: ArchRun, e: TimelineEvent): string {
  switch (e.type) {
    case 'block': return e.enters ? `call → ${e.enters}` : e.text !== undefined ? `${e.address}  ${e.text}` : `${e.symbol ?? e.address}  (${e.size} bytes)`;
    case 'host-call': return `host call: ${e.name.replace(/^host /, '')}`;
    case 'safepoint': return `safepoint in ${e.frame.functionName ?? '?'} at ${e.frame.pc}`;
    case 'gc': return `GC #${e.index} (${e.reason}): ${(e.explanation as ExplanationJson).summary.roots} roots, ${(e.explanation as ExplanationJson).summary.freed} freed`;
  }
  void run;
}

// ---------------------------------------------------------------------------------------------
// Layout

function buildShell(): void {
  document.title = `stackscope: ${record.title}`;
  const archButtons = h('div', { class: 'archsel', role: 'group', 'aria-label': 'architecture' });
  runs.forEach((r, i) => {
    const b = h('button', { type: 'button', 'data-arch': r.arch }, r.arch);
    b.addEventListener('click', () => { state.primary = i; state.both = false; state.step = 0; renderAll(); });
    archButtons.append(b);
  });
  if (runs.length > 1) {
    const b = h('button', { type: 'button', 'data-arch': 'both' }, 'both, side by side');
    b.addEventListener('click', () => { state.both = true; renderAll(); });
    archButtons.append(b);
  }
  const controls = h('nav', { id: 'controls' },
    button('prev', '◀ step', () => go(state.step - 1)),
    button('next', 'step ▶', () => go(state.step + 1)),
    button('prev-stop', '◀◀ safepoint/GC', () => go(findStop(-1))),
    button('next-stop', 'safepoint/GC ▶▶', () => go(findStop(1))),
    button('next-gc', 'next GC ▶▶', () => go(findStop(1, 'gc'))),
    h('input', { id: 'slider', type: 'range', min: '0', max: '0', value: '0', 'aria-label': 'timeline position' }),
    h('span', { id: 'position' }),
  );
  document.body.append(
    h('header', {},
      h('div', { class: 'brand' }, h('strong', {}, 'stackscope'), ' ', h('span', { id: 'title' }, record.title)),
      h('code', { class: 'cmd' }, record.command),
      archButtons),
    controls,
    h('main', {},
      h('aside', { id: 'timeline', 'aria-label': 'timeline' }),
      h('section', { id: 'detail' })),
  );
  $<HTMLInputElement>('#slider').addEventListener('input', (ev) => go(Number((ev.target as HTMLInputElement).value)));
  document.addEventListener('keydown', (ev) => {
    if ((ev.target as HTMLElement).tagName === 'INPUT') return;
    if (ev.key === 'ArrowRight' || ev.key === 'j') go(state.step + 1);
    else if (ev.key === 'ArrowLeft' || ev.key === 'k') go(state.step - 1);
    else if (ev.key === 'n') go(findStop(1));
    else if (ev.key === 'p') go(findStop(-1));
  });
}

function button(id: string, label: string, onClick: () => void): HTMLElement {
  const b = h('button', id ? { type: 'button', id } : { type: 'button', class: 'reset' }, label);
  b.addEventListener('click', onClick);
  return b;
}

function findStop(direction: 1 | -1, only?: 'gc'): number {
  const t = primaryRun().timeline;
  for (let i = state.step + direction; i >= 0 && i < t.length; i += direction) {
    const ty = t[i].type;
    if (only ? ty === only : ty === 'safepoint' || ty === 'gc') return i;
  }
  return state.step;
}

function go(step: number): void {
  const n = primaryRun().timeline.length;
  state.step = Math.max(0, Math.min(n - 1, step));
  renderDetail();
  markTimeline();
}

function renderAll(): void {
  for (const b of document.querySelectorAll<HTMLButtonElement>('.archsel button')) {
    const on = b.dataset.arch === 'both' ? state.both : !state.both && b.dataset.arch === primaryRun().arch;
    b.classList.toggle('on', on);
    b.setAttribute('aria-pressed', String(on));
  }
  renderTimeline();
  go(state.step);
}

function renderTimeline(): void {
  const run = primaryRun();
  const list = h('ol', {});
  run.timeline.forEach((e, i) => {
    const li = h('li', { class: `ev ev-${e.type}${e.type === 'block' && e.enters ? ' ev-call' : ''}`, 'data-step': String(i) }, eventLabel(run, e));
    li.addEventListener('click', () => go(i));
    list.append(li);
  });
  const box = $('#timeline');
  box.replaceChildren(h('div', { class: 'tl-head' }, `${run.arch}: ${run.timeline.length} events` + (run.dropped ? `; ${run.dropped} more ${run.granularity === 'insn' ? 'instructions' : 'blocks'} ran past the limit of ${run.timelineLimit}` : '') +
    (run.droppedSafepoints ? `; ${run.droppedSafepoints} more safepoints not recorded` : '')), list);
  const slider = $<HTMLInputElement>('#slider');
  slider.max = String(Math.max(0, run.timeline.length - 1));
}

function markTimeline(): void {
  const box = $('#timeline');
  box.querySelector('.current')?.classList.remove('current');
  const li = box.querySelector(`li[data-step="${state.step}"]`);
  if (li) {
    li.classList.add('current');
    reveal(box, li as HTMLElement);
  }
  $<HTMLInputElement>('#slider').value = String(state.step);
  $('#position').textContent = `${state.step + 1} / ${primaryRun().timeline.length}`;
}

// ---------------------------------------------------------------------------------------------
// The current event, on one or both arches

/** The event of `run` that corresponds to the primary's event: the same ordinal among safepoints or GCs. */
function matching(run: ArchRun, primary: ArchRun, step: number): { event: TimelineEvent | undefined; step: number } {
  const e = primary.timeline[step];
  if (run === primary) return { event: e, step };
  if (e.type === 'safepoint' || e.type === 'gc') {
    let k = 0;
    for (let i = 0; i < step; i++) if (primary.timeline[i].type === e.type) k++;
    for (let i = 0; i < run.timeline.length; i++) {
      if (run.timeline[i].type === e.type && k-- === 0) return { event: run.timeline[i], step: i };
    }
  }
  return { event: undefined, step: -1 };
}

function renderDetail(): void {
  const primary = primaryRun();
  const e = primary.timeline[state.step];
  const detail = $('#detail');
  if (!e) {
    detail.replaceChildren(h('p', {}, 'The timeline is empty: no guest code ran.'));
    return;
  }
  const shown = state.both ? runs : [primary];
  const columns = h('div', { class: `columns n${shown.length}` });
  for (const run of shown) {
    const m = matching(run, primary, state.step);
    columns.append(renderColumn(run, m.event, m.step, e));
  }
  const head = h('div', { class: 'event-head' },
    h('span', { class: `tag tag-${e.type}` }, e.type === 'block' ? (e.enters ? 'call' : e.text !== undefined ? 'instruction' : 'block') : e.type),
    ' ', eventLabel(primary, e));
  detail.replaceChildren(head, columns);
  const outcome = h('div', { class: 'outcome' }, ...shown.map((r) => h('div', {}, h('b', {}, `${r.arch}: `), r.outcome)));
  detail.append(outcome);
}

function renderColumn(run: ArchRun, e: TimelineEvent | undefined, step: number, primaryEvent: TimelineEvent): HTMLElement {
  const col = h('div', { class: 'column', 'data-arch': run.arch }, h('h2', {}, run.arch));
  if (!e) {
    // A block has no counterpart on the other arch: show the same Wasm instruction's code there.
    const where = wasmPosition(runs[state.primary], primaryEvent);
    col.append(h('p', { class: 'muted' }, where ? `the same point of the program: ${where.fn.name}, Wasm instruction ${where.op ?? '(prologue)'}` : 'no matching event on this arch'));
    if (where) {
      const fn = listings.get(run)!.find((f) => f.name === where.fn.name);
      if (fn) col.append(codeAndSource(run, fn, fn.instructions.filter((i) => i.op === where.op && where.op !== undefined).map((i) => i.address), where.op));
    }
    return col;
  }
  if (e.type === 'safepoint') {
    col.append(h('div', { class: 'frames' }, svgNode(frameSvg(e.frame, { title: `the caller's frame at the call: ${e.frame.functionName ?? '?'}+0x${(e.frame.pcOffset ?? 0).toString(16)}` }))));
    const fn = fnOf(run, e.fn);
    if (fn) {
      const insn = fn.instructions.find((i) => i.address === e.frame.pc);
      col.append(codeAndSource(run, fn, [e.frame.pc], insn?.op));
    }
  } else if (e.type === 'gc') {
    col.append(renderGc(run, e, step));
  } else if (e.type === 'host-call') {
    col.append(h('p', {}, `The code left Wasm through an exit trampoline or a builtin stub and reached the gateway stub of host function `, h('b', {}, e.name), ` at ${e.address}.`));
  } else {
    const fn = fnOf(run, e.fn);
    const start = BigInt(e.address);
    if (fn) {
      const inBlock = fn.instructions.filter((i) => BigInt(i.address) >= start && BigInt(i.address) < start + BigInt(e.size));
      col.append(codeAndSource(run, fn, inBlock.map((i) => i.address), inBlock.find((i) => i.op !== undefined)?.op));
    } else {
      col.append(h('p', { class: 'muted' }, `${e.symbol ?? 'code outside the module'} (trampoline, stub or builtin):`), codeTable(run.blocks[e.address] ?? [], new Set(), undefined));
    }
  }
  return col;
}

function wasmPosition(run: ArchRun, e: TimelineEvent): { fn: Fn; op: number | undefined } | undefined {
  if (e.type !== 'block' || e.fn < 0) return undefined;
  const fn = fnOf(run, e.fn);
  if (!fn) return undefined;
  const insn = fn.instructions.find((i) => BigInt(i.address) >= BigInt(e.address) && i.op !== undefined);
  return { fn, op: insn?.op };
}

/** Scrolls `box` (not the page) so that `row` is in view; `box` is positioned (the rows' offsetParent). */
function reveal(box: HTMLElement, row: HTMLElement): void {
  const top = row.offsetTop;
  if (top < box.scrollTop || top + row.offsetHeight > box.scrollTop + box.clientHeight) box.scrollTop = Math.max(0, top - box.clientHeight / 3);
}

function svgNode(svg: string): HTMLElement {
  const div = h('div', { class: 'svgbox' });
  div.innerHTML = svg;
  return div;
}

// ---------------------------------------------------------------------------------------------
// Machine code and WAT

function codeAndSource(run: ArchRun, fn: Fn, highlight: readonly string[], op: number | undefined): HTMLElement {
  const box = h('div', { class: 'code-source' });
  box.append(h('div', { class: 'pane' }, h('h3', {}, `machine code: ${fn.name} at ${fn.start}${fn.frameSize !== undefined ? `, frame ${fn.frameSize} bytes` : ''}`),
    codeTable(fn.instructions, new Set(highlight), fn)));
  if (run.source) {
    const line = (op !== undefined ? fn.ops[op]?.line : undefined) ?? fn.line;
    box.append(h('div', { class: 'pane' }, h('h3', {}, `${run.source.file}${op !== undefined ? `: Wasm [${op}] ${fn.ops[op]?.text ?? ''}` : ''}`), sourceView(run.source.text, line)));
  }
  return box;
}

function codeTable(all: readonly RecordedInstruction[], highlight: ReadonlySet<string>, fn: Fn | undefined): HTMLElement {
  const pre = h('div', { class: 'code' });
  // Long functions: the instructions around the highlighted ones.
  const at = Math.max(0, all.findIndex((i) => highlight.has(i.address)));
  const from = all.length > 600 ? Math.max(0, at - 200) : 0;
  const insns = all.length > 600 ? all.slice(from, from + 600) : all;
  if (from > 0) pre.append(h('div', { class: 'op' }, `;; ... ${from} instructions above`));
  let lastOp: number | undefined = -1;
  let first: HTMLElement | undefined;
  for (const i of insns) {
    if (fn && i.op !== lastOp && i.op !== undefined) pre.append(h('div', { class: 'op' }, `;; [${i.op}] ${fn.ops[i.op]?.text ?? ''}`));
    lastOp = i.op;
    const row = h('div', { class: `insn${highlight.has(i.address) ? ' hl' : ''}` },
      h('span', { class: 'a' }, i.address), h('span', { class: 'b' }, i.bytes), h('span', { class: 't' }, i.text));
    if (highlight.has(i.address) && !first) first = row;
    pre.append(row);
  }
  if (from + insns.length < all.length) pre.append(h('div', { class: 'op' }, `;; ... ${all.length - from - insns.length} instructions below`));
  if (first) requestAnimationFrame(() => reveal(pre, first!));
  return pre;
}

function sourceView(text: string, line: number | undefined): HTMLElement {
  const pre = h('div', { class: 'source' });
  let current: HTMLElement | undefined;
  text.split('\n').forEach((l, i) => {
    const row = h('div', { class: `line${i + 1 === line ? ' hl' : ''}` }, h('span', { class: 'n' }, String(i + 1)), l);
    if (i + 1 === line) current = row;
    pre.append(row);
  });
  if (current) requestAnimationFrame(() => reveal(pre, current!));
  return pre;
}

// ---------------------------------------------------------------------------------------------
// A collection, and the what-if

function objectNames(e: GcEvent): Map<string, string> {
  return new Map((e.snapshot?.heap.objects ?? []).map((o) => [o.ref, o.value]));
}

function renderGc(run: ArchRun, e: GcEvent, step: number): HTMLElement {
  const x = e.explanation as ExplanationJson;
  const names = objectNames(e);
  const box = h('div', { class: 'gc', 'data-gc': String(e.index) });
  const key = `${run.arch}:${step}`;
  const edits = state.edits.get(key) ?? new Map<string, { mappedWords: number; bits: string }>();
  currentRun = run;
  const outcome = e.snapshot && edits.size ? safeReplay(e, edits) : undefined;
  box.append(h('p', { class: 'summary' },
    `${x.mode} walk, reason ${x.reason}: ${x.summary.frames} frames (${x.summary.framesWithMaps} with maps), ${x.summary.slotsScanned} marked slots, ${x.summary.roots} roots, ${x.summary.freed} freed${x.summary.swept ? '' : ', NOT swept'}`));
  box.append(whatIfPanel(e, key, edits, outcome));
  box.append(h('h3', {}, 'Activations (youngest first)'), table(['#', 'exit pc', 'exit fp', 'entry sp'], x.activations.map((a) => [String(a.index), a.exitPc, a.exitFp, a.entrySp])));
  // Frames: the recorded ones, or the replay's when maps were edited (a new size moves SP).
  const frames = h('div', { class: 'frames' });
  const replayFrames = outcome?.explanation ? (outcome.explanation as ExplanationJson).frames : undefined;
  e.frames.forEach((f, i) => {
    const ra = f.returnAddress ?? f.pc;
    const edit = edits.get(ra);
    const drawn = replayFrames?.[i] ? fromExplained(f, replayFrames[i], names) : f;
    const holder = h('div', { class: 'frame', 'data-frame': String(i), 'data-return': ra });
    holder.append(svgNode(frameSvg(drawn, { bits: edit?.bits ?? drawn.bits ?? undefined, original: f.bits ?? undefined, targets: names, title: `a${x.frames[i]?.activation ?? 0} f${x.frames[i]?.index ?? i}: ${f.functionName ?? '?'}+0x${(f.pcOffset ?? 0).toString(16)}   fp ${f.fp}   sp ${drawn.sp ?? '?'}` })));
    if (f.mappedWords !== null && e.snapshot && e.snapshot.walk.kind === 'v17') {
      const size = h('input', { type: 'number', min: '0', step: '8', value: String((edit?.mappedWords ?? f.mappedWords) * 8), class: 'framesize', 'aria-label': `frame size of frame ${i}` }) as HTMLInputElement;
      size.addEventListener('change', () => {
        const bytes = Math.max(0, Math.round(Number(size.value) / 8)) * 8;
        const words = bytes / 8;
        const old = edit?.bits ?? f.bits ?? '';
        setEdit(key, ra, { mappedWords: words, bits: (old + '0'.repeat(words)).slice(0, words) }, f);
      });
      const shared = e.frames.filter((g) => (g.returnAddress ?? g.pc) === ra).length;
      holder.append(h('div', { class: 'frame-tools' },
        h('label', {}, 'frame size the map claims (bytes): ', size),
        h('span', { class: 'muted' }, shared > 1 ? ` this map (return address ${ra}) is shared by ${shared} frames of this walk` : ` click a bit to flip it`)));
      holder.addEventListener('click', (ev) => {
        const bitEl = (ev.target as Element).closest('[data-bit]');
        if (!bitEl) return;
        const bit = Number(bitEl.getAttribute('data-bit'));
        const cur = edits.get(ra) ?? { mappedWords: f.mappedWords!, bits: f.bits ?? '' };
        const bits = cur.bits.split('');
        bits[bit] = bits[bit] === '1' ? '0' : '1';
        setEdit(key, ra, { mappedWords: cur.mappedWords, bits: bits.join('') }, f);
      });
    }
    frames.append(holder);
  });
  box.append(h('h3', {}, 'Frames the collector walked'), frames);
  // Where the youngest frame stands: the call its return address follows.
  const young = e.frames[0];
  const fnIndex = young ? listings.get(run)!.findIndex((g) => BigInt(young.pc) > BigInt(g.start) && BigInt(young.pc) <= BigInt(g.start) + BigInt(g.size)) : -1;
  if (fnIndex >= 0) {
    const fn = fnOf(run, fnIndex)!;
    const call = [...fn.instructions].reverse().find((i) => BigInt(i.address) < BigInt(young.pc));
    if (call) box.append(h('h3', {}, `The youngest frame's call (return address ${young.pc})`), codeAndSource(run, fn, [call.address], call.op));
  }
  box.append(h('h3', {}, `Roots found (${x.roots.length})`), list(x.roots.map((r) => `${r.ref} ${r.value}  count after ${r.countAfter}  at ${r.sites.map((s) => `${s.functionName} f${s.frame} ${s.slot} bit ${s.bit}`).join('; ')}`), 'roots'));
  box.append(h('h3', {}, 'Activations table'), table(['', 'next', 'end', 'bump chunk entries', 'over-approximated set'], [
    ['before', x.tableBefore.next, x.tableBefore.end, refs(x.tableBefore.bumpEntries, names), refs(x.tableBefore.overApproximated, names)],
    ['after', x.tableAfter.next, x.tableAfter.end, refs(x.tableAfter.bumpEntries, names), refs(x.tableAfter.overApproximated, names)],
  ]));
  box.append(h('h3', {}, `Freed (${x.freed.length})`), list(x.freed.map((f) => `${f.ref} ${f.value}  (last count held by ${f.from})`), 'freed'));
  return box;
}

function setEdit(key: string, ra: string, map: { mappedWords: number; bits: string }, f: FrameRecord): void {
  const edits = state.edits.get(key) ?? new Map();
  if (map.mappedWords === f.mappedWords && map.bits === f.bits) edits.delete(ra);
  else edits.set(ra, map);
  state.edits.set(key, edits);
  renderDetail();
}

let currentRun: ArchRun = runs[0];

function safeReplay(e: GcEvent, edits: ReadonlyMap<string, { mappedWords: number; bits: string }>): ReplayOutcome {
  const list: MapEdit[] = [...edits].map(([returnAddress, m]) => ({ returnAddress, mappedWords: m.mappedWords, bits: m.bits }));
  try {
    return replayGc(withRunStackMaps(e.snapshot!, currentRun.stackMaps), list);
  } catch (error) {
    return { roots: [], freed: [], error: { name: (error as Error).name, message: (error as Error).message } };
  }
}

function whatIfPanel(e: GcEvent, key: string, edits: ReadonlyMap<string, { mappedWords: number; bits: string }>, outcome: ReplayOutcome | undefined): HTMLElement {
  const panel = h('div', { class: 'whatif' }, h('h3', {}, 'What if the stack map were different?'));
  panel.title = "Flip a map bit (click it) or change the frame size a map claims: the collector from gc/ (the same code, bundled into this page) runs again on the memory recorded when this collection started.";
  if (!e.snapshot) {
    panel.append(h('p', { class: 'muted' }, `This collection cannot be replayed: ${e.snapshotError ?? 'no snapshot was recorded'}.`));
    return panel;
  }
  if (e.snapshot.walk.kind !== 'v17') {
    panel.append(h('p', { class: 'muted' }, 'This collection used the canary walk; the what-if replays v17 walks only.'));
    return panel;
  }
  panel.append(h('p', { class: 'muted small' }, "Click a map bit below, or change a frame's size: gc/'s collector, bundled into this page, runs again on the memory recorded when this collection started."));
  const x = e.explanation as ExplanationJson;
  const recordedRoots = new Set(x.roots.map((r) => r.ref));
  const recordedFreed = new Set(x.freed.map((f) => f.ref));
  const names = objectNames(e);
  const result = h('div', { class: 'result whatif-result' });
  const run = outcome ?? safeReplay(e, new Map());
  result.dataset.edited = String(edits.size > 0);
  result.dataset.roots = run.roots.join(' ');
  result.dataset.freed = run.freed.join(' ');
  if (run.error) {
    result.dataset.error = run.error.name;
    result.classList.add('bad');
    result.append(h('p', {}, h('b', {}, 'The collector stops: '), `${run.error.name}: ${run.error.message}`),
      h('p', { class: 'muted' }, 'It checks before it drops anything, so the table and every count stay as they were (fail closed).'));
  } else {
    const newlyFreed = run.freed.filter((r) => !recordedFreed.has(r));
    const kept = [...recordedFreed].filter((r) => !run.freed.includes(r));
    const lost = newlyFreed.filter((r) => recordedRoots.has(r));
    result.dataset.newlyFreed = newlyFreed.join(' ');
    result.dataset.liveFreed = lost.join(' ');
    if (edits.size === 0) {
      const same = sameSet(run.roots, [...recordedRoots]) && sameSet(run.freed, [...recordedFreed]);
      result.dataset.matches = String(same);
      result.classList.add(same ? 'good' : 'bad');
      result.append(h('p', {}, same ? '✓ Replayed in this page, the recorded collection finds the same roots and frees the same objects as in the simulator.'
        : '✗ The replay differs from the recorded collection.'));
    } else {
      result.classList.add(lost.length ? 'bad' : newlyFreed.length || kept.length ? 'warn' : 'good');
      const lines: Array<Node | string> = [];
      for (const r of lost) lines.push(h('li', { class: 'lost' }, `would FREE ${r} ${names.get(r) ?? ''}: a live object (a root of the real collection) — the frame still uses it: use after free`));
      for (const r of newlyFreed.filter((q) => !recordedRoots.has(q))) lines.push(h('li', {}, `would also free ${r} ${names.get(r) ?? ''}`));
      for (const r of kept) lines.push(h('li', {}, `would keep ${r} ${names.get(r) ?? ''} alive (freed in the real run) until a later collection`));
      if (!lines.length) lines.push(h('li', {}, 'the same objects survive and the same are freed'));
      result.append(h('p', {}, h('b', {}, 'With your map: '), `${run.roots.length} roots (${run.roots.map((r) => names.get(r) ?? r).join(', ') || 'none'}), ${run.freed.length} freed.`), h('ul', {}, ...lines));
    }
  }
  panel.append(result);
  if (edits.size) panel.append(button('', 'reset the maps', () => { state.edits.delete(key); renderDetail(); }));
  return panel;
}

function fromExplained(recorded: FrameRecord, f: ExplainedFrameJson, names: ReadonlyMap<string, string>): FrameRecord {
  const slotAt = new Map(recorded.words.map((w) => [w.address, w.slot]));
  const words = [...(f.map?.words ?? [])].reverse().map((w) => ({
    address: w.address, offset: `sp+${w.bit * 8}`, value: w.value ?? null, bit: w.bit, isRef: w.isRef, slot: slotAt.get(w.address) ?? '',
    gcRead: w.isRef ? (w.value === '0x0' ? 'null (skipped)' : w.value ? `root ${w.value} = ${names.get(w.value) ?? '?'}` : 'unreadable') : null,
  }));
  return { ...recorded, sp: f.sp ?? null, mappedWords: f.map?.mappedWords ?? null, bits: f.map?.bits ?? null, words: [...recorded.words.filter((w) => w.bit === null), ...words] };
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

function refs(list: readonly string[], names: ReadonlyMap<string, string>): string {
  return list.length ? list.map((r) => `${r}${names.has(r) ? ` ${names.get(r)}` : ''}`).join(', ') : '(empty)';
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): HTMLElement {
  return h('table', {}, h('thead', {}, h('tr', {}, ...head.map((c) => h('th', {}, c)))), h('tbody', {}, ...rows.map((r) => h('tr', {}, ...r.map((c) => h('td', {}, c))))));
}

function list(items: readonly string[], cls: string): HTMLElement {
  return items.length ? h('ul', { class: cls }, ...items.map((i) => h('li', {}, i))) : h('p', { class: `muted ${cls}` }, '(none)');
}

buildShell();
const focus = primaryRun().focus;
state.step = focus ?? Math.max(0, primaryRun().timeline.findIndex((e) => e.type === 'gc' || e.type === 'safepoint'));
renderAll();
document.body.dataset.ready = 'true';
