/**
 * The structured account of one collection (`collector.collect({ explain: true })`) and its
 * two renderings: text with an ASCII diagram of every mapped frame, and JSON (addresses as
 * 0x-prefixed hex strings). `stackscope gc --explain [--json]` prints these.
 */
import { hex } from '../isa/error.ts';
import type { TableSnapshot } from './activations.ts';
import { describeValue, type ExplainedFrame, type GcExplanation } from './report.ts';

export { explanationToJson, reportToJson, type ExplainedFrame, type ExplainedWord, type GcExplanation } from './report.ts';

export interface RenderOptions {
  /** Frames with more mapped words than this show only marked words. Default 64. */
  maxWordsPerFrame?: number;
}

/** Renders an explanation as text (frames youngest first, each frame's words high to low). */
export function renderExplanation(e: GcExplanation, options: RenderOptions = {}): string {
  const maxWords = options.maxWordsPerFrame ?? 64;
  const out: string[] = [];
  const s = e.summary;
  out.push(`GC on ${e.arch} (${e.mode} walk, reason ${e.reason}, debug checks ${e.debugChecks ? 'on' : 'off'}): ` +
    `${s.swept ? 'swept' : 'NOT swept'}; ${s.frames} frames (${s.framesWithMaps} with maps), ${s.slotsScanned} marked slots, ` +
    `${s.roots} roots, ${s.freed} freed, ${s.durationMs.toFixed(3)} ms`);
  if (e.activations.length) {
    out.push('', 'Activations (youngest first):');
    for (const a of e.activations) out.push(`  #${a.index}  exit pc ${hex(a.exitPc)}  exit fp ${hex(a.exitFp)}  entry sp ${hex(a.entrySp)}`);
  }
  if (e.canary) {
    out.push('', `Canary: ${e.canary.value === null ? 'none (no guest frames expected)' : hex(e.canary.value)}; ${e.canary.found ? 'found' : `not found (${e.canary.stop})`}`);
  }
  out.push('', 'Frames (youngest first):');
  for (const f of e.frames) {
    const name = f.functionName ? `${f.functionName}+${hex(f.pcOffset ?? 0)}${f.moduleName ? ` [${f.moduleName}]` : ''}` : `<${f.kind}>`;
    out.push(`  a${f.activation} f${f.index}  ${name}  pc ${hex(f.pc)}  fp ${hex(f.fp)}` +
      (f.sp !== undefined ? `  sp ${hex(f.sp)}` : '') + (f.frameSize !== undefined ? `  frame ${f.frameSize} bytes` : ''));
    if (!f.map) {
      if (f.kind === 'wasm' || f.kind === 'guest') out.push('      (no stack map at this return address: no live references)');
      continue;
    }
    out.push(`      map at offset ${hex(f.map.mapOffset)}: ${f.map.mappedWords} words, bits (sp first) ${abbreviate(f.map.bits)}`);
    const col = 18;
    const bar = `      ${' '.repeat(10)}+${'-'.repeat(col + 2)}+`;
    out.push(bar);
    if (f.sp !== undefined && f.frameSize !== undefined && f.frameSize === Number(f.fp - f.sp)) {
      out.push(`      ${pad('fp+8', 10)}| ${pad(f.returnAddress === undefined ? '??' : hex(f.returnAddress), col)} | return address`);
      out.push(`      ${pad('fp+0', 10)}| ${pad(f.callerFp === undefined ? '??' : hex(f.callerFp), col)} | caller fp`);
      out.push(bar);
    }
    const words = f.map.words.length > maxWords ? f.map.words.filter((w) => w.isRef) : f.map.words;
    if (words.length !== f.map.words.length) out.push(`      (${f.map.words.length - words.length} unmarked words not shown)`);
    for (let i = words.length - 1; i >= 0; i--) {
      const w = words[i];
      const label = `sp+${w.bit * 8}`;
      const value = w.value === undefined ? '??' : hex(w.value);
      let note = w.isRef ? `REF bit ${w.bit}` : `    bit ${w.bit}`;
      if (w.isRef) {
        if (w.value === 0n) note += '  null';
        else if (w.hostValue !== undefined) note += `  -> ${w.hostValue}`;
        if (w.inTable === false) note += '  NOT IN TABLE';
      } else if (w.inTable) note += '  (copy of a table entry; not marked)';
      out.push(`      ${pad(label, 10)}| ${pad(value, col)} | ${note}`);
    }
    out.push(bar);
  }
  out.push('', `Roots found (${e.roots.length})${s.swept ? '' : ' — not kept: the sweep was skipped and their precise counts given back'}:`);
  for (const r of e.roots) {
    const sites = r.sites.map((x) => `${x.functionName} a${x.activation} f${x.frame} ${hex(x.slot)} bit ${x.bit}`).join('; ');
    out.push(`  ${hex(r.ref)} ${r.value}  count after ${r.countAfter}  at ${sites}`);
  }
  out.push('', `Table before: ${describeTable(e.tableBefore)}`, `Table after:  ${describeTable(e.tableAfter)}`);
  out.push('', `Freed (${e.freed.length}):`);
  for (const f of e.freed) out.push(`  ${hex(f.ref)} ${f.value}  (last count held by ${f.from})`);
  if (e.suspects.length) {
    out.push('', 'Suspected missed roots (table entries in unmarked words):');
    for (const x of e.suspects) out.push(`  ${hex(x.value)} in ${x.functionName} a${x.activation} f${x.frame} at ${hex(x.slot)} bit ${x.bit}`);
  }
  if (e.warnings.length) {
    out.push('', 'Warnings:');
    for (const w of e.warnings) out.push(`  ${w}`);
  }
  return out.join('\n') + '\n';
}

function describeTable(t: TableSnapshot): string {
  const bump = t.bumpEntries.length ? t.bumpEntries.map((x) => hex(x)).join(', ') : 'empty';
  const over = t.overApproximated.length ? t.overApproximated.map((x) => hex(x)).join(', ') : 'empty';
  return `chunk ${hex(t.chunk)} (${t.chunkSlots} slots), next ${hex(t.next)}, end ${hex(t.end)}; bump [${abbreviate(bump, 200)}]; over-approximated {${abbreviate(over, 200)}}`;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function abbreviate(s: string, max = 96): string {
  return s.length > max ? `${s.slice(0, max)}... (${s.length} chars)` : s;
}
