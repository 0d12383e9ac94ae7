/**
 * One self-contained HTML page of a run record: the record inline as JSON, the page's code
 * (viewer/browser/main.ts with gc/'s collector, bundled by esbuild) and its styles inline. No
 * network access (a Content-Security-Policy forbids it), so the file opens from file://.
 *
 * The code is bundled when the first page is written, from the sources next to this file; the
 * compiled package (dist/, without those sources) uses the bundle `npm run build` wrote beside
 * this module (dist/viewer/viewer-client.js).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StackscopeError } from '../isa/error.ts';
import type { RunRecord } from './record.ts';

/** The page's code could not be bundled or found, or the page could not be written. */
export class ViewerPageError extends StackscopeError {
  override name = 'ViewerPageError';
  constructor(readonly what: string, reason: string) {
    super(`${what}: ${reason}`);
  }
}

let bundled: Promise<string> | undefined;

/** The page's JavaScript (built once per process). */
export function viewerBundle(): Promise<string> {
  bundled ??= buildBundle();
  return bundled;
}

async function buildBundle(): Promise<string> {
  const here = dirname(fileURLToPath(import.meta.url));
  const entry = join(here, 'browser', 'main.ts');
  if (existsSync(entry)) {
    let esbuild: typeof import('esbuild');
    try {
      esbuild = await import('esbuild');
    } catch {
      return prebuilt(here, 'the sources are here but esbuild is not installed');
    }
    const result = await esbuild.build({
      entryPoints: [entry], bundle: true, write: false, format: 'iife', platform: 'browser', target: 'es2022',
      minify: true, legalComments: 'none', logLevel: 'silent',
    }).catch((e: Error) => {
      throw new ViewerPageError('bundling viewer/browser/main.ts', e.message.split('\n').slice(0, 3).join(' '));
    });
    return result.outputFiles[0].text;
  }
  return prebuilt(here, 'no sources next to this module');
}

function prebuilt(here: string, why: string): string {
  for (const candidate of [join(here, 'viewer-client.js'), join(here, '..', 'dist', 'viewer', 'viewer-client.js')]) {
    if (existsSync(candidate)) return readFileSync(candidate, 'utf8');
  }
  throw new ViewerPageError('the page code', `${why}, and no prebuilt viewer-client.js (npm run build makes it)`);
}

/** Text safe inside a <script> element. */
function scriptSafe(s: string): string {
  return s.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The page of `record` as one HTML string. */
export async function renderPage(record: RunRecord): Promise<string> {
  const code = await viewerBundle();
  const data = JSON.stringify(record).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>stackscope: ${esc(record.title)}</title>
<style>${PAGE_STYLE}</style>
</head>
<body>
<noscript>This page shows a stackscope run; it needs JavaScript (no network access).</noscript>
<script type="application/json" id="stackscope-record">${data}</script>
<script>${scriptSafe(code)}</script>
</body>
</html>
`;
}

/** Writes the page of `record` to `file`; returns the absolute path. */
export async function writePage(file: string, record: RunRecord): Promise<string> {
  const html = await renderPage(record);
  const path = resolve(file);
  try {
    writeFileSync(path, html);
  } catch (e) {
    throw new ViewerPageError(`writing ${file}`, (e as Error).message);
  }
  return path;
}

const PAGE_STYLE = `
:root{--fg:#1f2328;--muted:#57606a;--line:#d0d7de;--bg:#fff;--panel:#f6f8fa;--accent:#0969da;--ref:#bf8700;--bad:#cf222e;--good:#1a7f37}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;gap:16px;align-items:center;flex-wrap:wrap;padding:10px 16px;border-bottom:1px solid var(--line);background:#24292f;color:#fff}
header .brand{font-size:16px}
header .cmd{background:#32383f;color:#e6edf3;padding:3px 8px;border-radius:4px;font-size:12px}
.archsel{margin-left:auto;display:flex;gap:4px}
button{font:inherit;border:1px solid var(--line);background:#fff;color:var(--fg);border-radius:6px;padding:3px 10px;cursor:pointer}
button:hover{background:var(--panel)}
.archsel button.on{background:var(--accent);border-color:var(--accent);color:#fff}
nav#controls{display:flex;gap:6px;align-items:center;padding:8px 16px;border-bottom:1px solid var(--line);background:var(--panel);position:sticky;top:0;z-index:2}
#slider{flex:1;min-width:120px}
#position{font:12px ui-monospace,monospace;color:var(--muted);min-width:90px;text-align:right}
main{display:grid;grid-template-columns:280px minmax(0,1fr);min-height:calc(100vh - 100px)}
#timeline{border-right:1px solid var(--line);overflow:auto;max-height:calc(100vh - 96px);position:sticky;top:42px;font:12px ui-monospace,"DejaVu Sans Mono",monospace}
#timeline .tl-head{padding:6px 10px;color:var(--muted);border-bottom:1px solid var(--line);font-family:system-ui,sans-serif}
#timeline ol{list-style:none;margin:0;padding:0}
#timeline li{padding:2px 10px;cursor:pointer;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;border-left:3px solid transparent}
#timeline li:hover{background:var(--panel)}
#timeline li.ev-block{color:var(--muted)}
#timeline li.ev-call{color:var(--accent)}
#timeline li.ev-host-call{color:#8250df}
#timeline li.ev-safepoint{color:#9a6700;font-weight:600}
#timeline li.ev-gc{color:var(--bad);font-weight:700}
#timeline li.current{background:#ddf4ff;border-left-color:var(--accent)}
#detail{padding:12px 18px;min-width:0}
.event-head{font-size:15px;margin-bottom:8px}
.tag{display:inline-block;font-size:11px;text-transform:uppercase;letter-spacing:.04em;padding:1px 6px;border-radius:10px;background:var(--panel);border:1px solid var(--line)}
.tag-gc{background:#ffebe9;border-color:#ff8182}.tag-safepoint{background:#fff8c5;border-color:#d4a72c}
.columns{display:grid;gap:18px}.columns.n2{grid-template-columns:1fr 1fr}
.column{min-width:0}.column h2{margin:4px 0 8px;font-size:15px;border-bottom:2px solid var(--accent);display:inline-block}
h3{font-size:13px;margin:14px 0 6px;color:var(--muted);text-transform:uppercase;letter-spacing:.03em}
.svgbox svg{width:100%;max-width:800px;height:auto;display:block}
.frame{border:1px solid var(--line);border-radius:6px;padding:6px;margin-bottom:10px;background:#fff}
.frame [data-bit]{cursor:pointer}.frame [data-bit]:hover rect{stroke:var(--accent);stroke-width:2}
.frame-tools{font-size:12px;margin-top:4px}.frame-tools input{width:80px}
.code-source{display:grid;grid-template-columns:1fr;gap:10px}.columns.n1 .code-source{grid-template-columns:minmax(0,1.2fr) minmax(0,1fr)}
.pane{border:1px solid var(--line);border-radius:6px;overflow:hidden}
.pane h3{margin:0;padding:5px 8px;background:var(--panel);border-bottom:1px solid var(--line);text-transform:none;letter-spacing:0;font-size:12px;color:var(--fg)}
.code,.source{font:12px/1.5 ui-monospace,"DejaVu Sans Mono",monospace;max-height:300px;overflow:auto;padding:4px 0;position:relative}
.insn,.line{white-space:pre;padding:0 8px}
.insn .a{color:var(--muted);display:inline-block;width:86px}.insn .b{color:#8c959f;display:inline-block;width:190px;overflow:hidden;vertical-align:bottom}
.op{color:#1a7f37;padding:0 8px;white-space:pre}
.insn.hl,.line.hl{background:#fff8c5;box-shadow:inset 3px 0 0 #d4a72c}
.line .n{display:inline-block;width:34px;color:#8c959f;text-align:right;margin-right:10px}
table{border-collapse:collapse;font:12px ui-monospace,monospace;margin:2px 0}
td,th{border:1px solid var(--line);padding:3px 7px;text-align:left;vertical-align:top}th{background:var(--panel)}
ul.roots li,ul.freed li{font:12px ui-monospace,monospace}
.muted{color:var(--muted)}
.summary{font-weight:600;margin:4px 0}
.whatif{border:2px solid var(--accent);border-radius:8px;padding:2px 12px 8px;margin-top:10px;background:#f6faff}.whatif p{margin:4px 0}.small{font-size:12px}
.whatif h3{color:var(--accent)}
.result{border-radius:6px;padding:4px 10px;margin:6px 0}.result ul{margin:4px 0;padding-left:20px}
.result.good{background:#dafbe1;border:1px solid #4ac26b}.result.warn{background:#fff8c5;border:1px solid #d4a72c}.result.bad{background:#ffebe9;border:1px solid #ff8182}
.result li.lost{color:var(--bad);font-weight:700}
.outcome{margin-top:14px;font-size:12px;color:var(--muted)}
`;
