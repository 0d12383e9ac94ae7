import { checkProfileRunnable, storeKindIfAny } from '../../runtime/profiles.ts';
import { UsageError } from '../args.ts';
import { runRecursionGcDrc } from './demo-drc.ts';
import type { RegallocMode } from '../../compiler/regalloc/modes.ts';
import { DEFAULT_PROFILE, PROFILES, type Profile } from '../../profiles/profile.ts';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ARCHES, type Arch } from '../../isa/arch.ts';
import { StackscopeError } from '../../isa/error.ts';
import { compileModule } from '../../compiler/index.ts';
import { parseWat } from '../../compiler/frontend/index.ts';
import { Engine, Module, Store } from '../../index.ts';
import { run as runRecursionGc, LEVELS } from '../../examples/recursion-gc/run.ts';
import type { Output } from '../output.ts';
import type { ArchRun } from '../../viewer/index.ts';

/** The teaching example the demo runs (examples/recursion-gc). */
const EXAMPLE = 'recursion-gc';
const WAT_PATH = join('examples', EXAMPLE, `${EXAMPLE}.wat`);

export const DEMO_HELP = `usage: stackscope demo [--arch x64|aarch64] [--html FILE] [--profile v17|v31|v44] [--regalloc none|linear-scan]

Runs the teaching example examples/${EXAMPLE} end to end on both arches (or one): compiles
its .wat to a machine-code image, instantiates it through the runtime's API, calls a recursive
function whose frames hold externrefs, and runs a GC from a host function at the bottom of the
recursion. Prints the collector's explanation: each Wasm frame as a diagram with its stack-map
bits and words, the roots found, the activations table before and after, and what was freed.
See examples/README.md for the other examples.

--html FILE also records both runs and writes them as one page (stepping through the run, the
frames of each safepoint and collection on both arches side by side, and the what-if of
flipping a map bit); \`npm start\` writes build/demo.html.

--profile v31 (or v44) runs the same example in that era's store: typed user stack maps, the
GC heap's reference counts, the collection explained by gc/drc (gc/drc44); --html is v17 only.`;

/** The example's source could not be found next to the command. */
export class DemoSourceError extends StackscopeError {
  override name = 'DemoSourceError';
  constructor(readonly path: string, readonly searchedFrom: string) {
    super(`cannot find ${path} in ${searchedFrom} or any folder above it`);
  }
}

/**
 * The example's .wat, found by walking up from this file: from the sources (cli/commands/) or
 * from the bundle (dist/), the repository root is a few folders up.
 */
function readExampleWat(): string {
  const start = dirname(fileURLToPath(import.meta.url));
  let dir = start;
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, WAT_PATH);
    if (existsSync(candidate)) return readFileSync(candidate, 'utf8');
    dir = dirname(dir);
  }
  throw new DemoSourceError(WAT_PATH, start);
}

export async function demoCommand(arches: readonly Arch[], out: Output, htmlFile?: string, profile: Profile = PROFILES[DEFAULT_PROFILE], regalloc?: RegallocMode): Promise<number> {
  const kind = storeKindIfAny(profile);
  if (kind !== undefined && kind !== 'v17') return demoDrc(arches, out, htmlFile, profile, regalloc);
  checkProfileRunnable(profile, 'the demo (cli/commands/demo.ts)');
  const wat = readExampleWat();
  const viewer = htmlFile === undefined ? undefined : await import('../../viewer/index.ts');
  const runs: ArchRun[] = [];
  const wasm = await parseWat(wat, { fileName: `${EXAMPLE}.wat` });
  out.text(`stackscope demo: ${WAT_PATH}, refs held by recursive Wasm frames across a GC`);
  out.text('');
  out.text(`descend(n) keeps its level's externref in a local across the recursive call; at n = 0 a host`);
  out.text(`function runs the GC. Only the ${LEVELS} Wasm frames (through their stack maps) and the`);
  out.text('activations table hold those refs then; the temporaries each level dropped are freed.');
  for (const arch of arches.length ? arches : ARCHES) {
    out.text('');
    out.text(`== ${arch} ==`);
    const image = compileModule(wasm, { arch, file: `${EXAMPLE}.wat`, profile, regalloc });
    const descend = image.functions.find((f) => f.name === 'descend');
    const maps = image.stackMaps.filter((m) => m.funcIndex === descend?.funcIndex);
    out.text(`compiled: ${image.elf.length}-byte ELF image, ${image.functions.length} function${image.functions.length === 1 ? '' : 's'}, .text ${image.text.length} bytes; ` +
      `descend: ${descend?.frameSize ?? '?'}-byte frame, ${maps.length} call sites with stack maps`);
    const engine = new Engine({ arch, profile, ...(regalloc ? { regalloc } : {}) });
    const store = await Store.create(engine);
    try {
      // The page names frame slots from the compiler's layout: keep the image's compile record.
      const module = viewer ? Module.fromParsed(engine, wasm, image, `${EXAMPLE}.o`) : Module.fromImage(engine, image.elf, `${EXAMPLE}.o`);
      const recorder = viewer && new viewer.RunRecorder({ store, module, moduleName: `${EXAMPLE}.wat`, source: { file: `${EXAMPLE}.wat`, text: wat } });
      const lines: string[] = [];
      await runRecursionGc({ arch, engine, store, module, print: (line = '') => { lines.push(line); out.text(line); } });
      if (recorder) runs.push(recorder.finish({ output: lines, outcome: lines.find((l) => l.startsWith('descend returned')) ?? 'finished' }));
    } finally {
      store.close();
    }
  }
  out.text('');
  out.text('More examples, with READMEs and expected outputs: examples/README.md (npm run examples -- --print NAME).');
  if (viewer && htmlFile !== undefined) {
    const path = await viewer.writePage(htmlFile, {
      format: viewer.RUN_RECORD_FORMAT, title: `${EXAMPLE}: refs held by recursive Wasm frames across a GC`,
      command: `stackscope demo --html ${htmlFile}`, runs,
    });
    out.text('');
    out.text(`The run as a page (step through it, both arches side by side, flip a map bit): ${path}`);
  }
  return 0;
}

/** The demo in a DRC-era store (`--profile v31` or `v44`): cli/commands/demo-drc.ts. */
async function demoDrc(arches: readonly Arch[], out: Output, htmlFile: string | undefined, profile: Profile, regalloc?: RegallocMode): Promise<number> {
  if (htmlFile !== undefined) throw new UsageError(`--html is not available with --profile ${profile.name}: the page replays v17 collections`, 'demo');
  const wat = readExampleWat();
  const wasm = await parseWat(wat, { fileName: `${EXAMPLE}.wat` });
  out.text(`stackscope demo: ${WAT_PATH}, refs held by recursive Wasm frames across a GC (profile ${profile.name})`);
  out.text('');
  out.text(`descend(n) keeps its level's externref in a local across the recursive call; at n = 0 a host`);
  out.text(`function runs the GC. Only the ${LEVELS} Wasm frames (through their user stack maps) and the`);
  out.text('activations table hold those refs then; the temporaries each level dropped are freed.');
  for (const arch of arches.length ? arches : ARCHES) {
    out.text('');
    out.text(`== ${arch} ==`);
    await runRecursionGcDrc({ arch, profile, regalloc, wasm, file: `${EXAMPLE}.wat`, levels: LEVELS, print: (line = '') => out.text(line) });
  }
  out.text('');
  out.text('More examples, with READMEs and expected outputs: examples/README.md (npm run examples -- --print NAME).');
  return 0;
}
