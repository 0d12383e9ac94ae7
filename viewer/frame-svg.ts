/**
 * One Wasm frame as an SVG picture: every word from FP+8 down to SP with its address, offset
 * and value, the stack-map bit over it, the slot's name and, for a marked word, what the
 * reference points to. The page draws frames with it (each bit cell carries `data-bit`, so a
 * click can flip it) and `npm run docs` draws the pictures in docs/ with it. Plain string
 * building, no DOM: it runs in Node and in the browser.
 */
import type { FrameRecord } from './record.ts';

export interface FrameSvgOptions {
  /** Heading above the frame (default: function, arch, FP/SP). */
  title?: string;
  /** Bits to draw instead of the map's (the page's what-if edits), SP word first. */
  bits?: string;
  /** The recorded bits: a drawn bit that differs is outlined as edited. */
  original?: string;
  /** Frames with more mapped words show only the frame record and the marked words. Default 48. */
  maxWords?: number;
  /** Where marked references point: address → host value (overrides the frame's own gcRead text). */
  targets?: ReadonlyMap<string, string>;
}

const ROW = 22;
const COL = { address: 6, offset: 90, value: 140, bit: 294, slot: 340, target: 536 };
const WIDTH = 800;

export function frameSvg(f: FrameRecord, options: FrameSvgOptions = {}): string {
  const bits = options.bits ?? f.bits ?? '';
  const maxWords = options.maxWords ?? 48;
  const mapped = f.words.filter((w) => w.bit !== null);
  // A large frame shows its frame record, its marked words and any word whose bit was edited
  // (a cleared bit stays in view, outlined, instead of vanishing with its word).
  const original = options.original;
  const isMarked = (w: FrameRecord['words'][number]) => w.bit !== null && bits[w.bit] === '1';
  const isEdited = (w: FrameRecord['words'][number]) => w.bit !== null && original !== undefined && bits[w.bit] !== (original[w.bit] ?? '0');
  const shown = mapped.length > maxWords ? f.words.filter((w) => w.bit === null || isMarked(w) || isEdited(w)) : f.words;
  const size = f.sp === null ? null : Number(BigInt(f.fp) - BigInt(f.sp));
  const title = options.title ?? `${f.functionName ?? '?'}${f.pcOffset !== null ? `+0x${f.pcOffset.toString(16)}` : ''} on ${f.arch}` +
    `   fp ${f.fp}${f.sp !== null ? `   sp ${f.sp}   ${size} bytes` : ''}`;
  const out: string[] = [];
  let y = 0;
  const text = (x: number, yy: number, s: string, cls: string) => out.push(`<text x="${x}" y="${yy}" class="${cls}">${esc(s)}</text>`);
  text(COL.address, 16, title, 'ss-title');
  const mapNote = f.mappedWords === null ? 'no stack map at this return address: no live references'
    : `stack map at return address ${f.returnAddress}: ${f.mappedWords} words, bits (sp first) ${bits.length > 64 ? bits.slice(0, 64) + '…' : bits}`;
  text(COL.address, 34, mapNote, 'ss-note');
  y = 44;
  text(COL.address, y + 14, 'address', 'ss-head');
  text(COL.offset, y + 14, 'offset', 'ss-head');
  text(COL.value + 4, y + 14, 'word', 'ss-head');
  text(COL.bit - 2, y + 14, 'bit', 'ss-head');
  text(COL.slot, y + 14, 'slot', 'ss-head');
  text(COL.target, y + 14, f.at === 'gc' ? 'GC read' : 'GC would read', 'ss-head');
  y += ROW;
  let skippedNoted = false;
  for (const w of shown) {
    const marked = isMarked(w);
    const edited = isEdited(w);
    const rowCls = w.bit === null ? 'ss-record' : marked ? 'ss-ref' : 'ss-word';
    out.push(`<g class="ss-row ${rowCls}" data-address="${w.address}"${w.bit !== null ? ` data-word="${w.bit}"` : ''}>`);
    text(COL.address, y + 15, w.address, 'ss-addr');
    text(COL.offset, y + 15, w.offset, 'ss-off');
    out.push(`<rect x="${COL.value}" y="${y + 1}" width="146" height="${ROW - 2}" class="ss-box"/>`);
    text(COL.value + 6, y + 15, w.value === null ? '??' : w.value, 'ss-val');
    if (w.bit !== null) {
      out.push(`<g class="ss-bit${marked ? ' ss-bit-on' : ''}${edited ? ' ss-bit-edited' : ''}" data-bit="${w.bit}"><title>bit ${w.bit}: ${marked ? 'marked: a live reference' : 'clear'}</title>` +
        `<rect x="${COL.bit}" y="${y + 1}" width="30" height="${ROW - 2}" rx="3"/>` +
        `<text x="${COL.bit + 15}" y="${y + 15}" text-anchor="middle">${marked ? 1 : 0}</text></g>`);
      text(COL.bit + 34, y + 15, String(w.bit), 'ss-bitno');
    }
    text(COL.slot, y + 15, w.slot || (w.bit === null ? '' : '—'), 'ss-slot');
    const target = marked ? (w.value && options.targets?.get(w.value)) ?? w.gcRead ?? '' : w.gcRead ?? '';
    if (target) {
      const shownTarget = marked && options.targets?.get(w.value ?? '') ? `→ ${target}` : target.startsWith('not read') ? 'a table entry, not read' : target;
      text(COL.target, y + 15, shownTarget.length > 28 ? `${shownTarget.slice(0, 27)}…` : shownTarget, marked ? 'ss-target' : 'ss-dim');
    }
    out.push('</g>');
    y += ROW;
    if (w.offset === 'fp+0') {
      out.push(`<line x1="0" y1="${y}" x2="${WIDTH}" y2="${y}" class="ss-fpline"/>`);
      text(WIDTH - 4, y - 4, '← FP', 'ss-edge');
      if (shown !== f.words && !skippedNoted) {
        skippedNoted = true;
        text(COL.slot, y + 15, `(${mapped.length - shown.filter((x) => x.bit !== null).length} unmarked words of ${mapped.length} not drawn)`, 'ss-note');
        y += ROW;
      }
    }
  }
  if (f.sp !== null) {
    out.push(`<line x1="0" y1="${y}" x2="${WIDTH}" y2="${y}" class="ss-spline"/>`);
    text(WIDTH - 4, y - 4, '← SP', 'ss-edge');
  }
  const height = y + 8;
  return `<svg xmlns="http://www.w3.org/2000/svg" class="ss-frame" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="${esc(title)}">` +
    `<style>${FRAME_SVG_STYLE}</style>${out.join('')}</svg>`;
}

/** The picture's styles (inline in each SVG, so a file in docs/ stands alone). */
export const FRAME_SVG_STYLE = [
  'text{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12px;fill:#1f2328}',
  '.ss-title{font-weight:bold;font-size:13px}', '.ss-note{fill:#57606a}', '.ss-head{fill:#57606a;font-weight:bold}',
  '.ss-box{fill:#fff;stroke:#8c959f}', '.ss-ref .ss-box{fill:#fff1d6;stroke:#bf8700}', '.ss-record .ss-box{fill:#eef2f6}',
  '.ss-bit rect{fill:#f6f8fa;stroke:#8c959f}', '.ss-bit-on rect{fill:#bf8700;stroke:#9a6700}', '.ss-bit-on text{fill:#fff;font-weight:bold}',
  '.ss-bit-edited rect{stroke:#cf222e;stroke-width:2.5}', '.ss-bitno{fill:#8c959f;font-size:10px}',
  '.ss-slot{fill:#0550ae}', '.ss-target{fill:#9a6700;font-weight:bold}', '.ss-dim{fill:#8c959f}',
  '.ss-fpline{stroke:#1f2328;stroke-width:1.5}',
  '.ss-spline{stroke:#1f2328;stroke-width:1.5;stroke-dasharray:5 3}', '.ss-edge{fill:#57606a;text-anchor:end;font-size:11px}',
].join('');

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
