/**
 * What every example shares: where its files are, how its .wat becomes the committed images,
 * and how its driver (`examples/<name>/run.ts`) runs one image through the public API and
 * produces the text that `expected.<arch>.txt` holds.
 *
 * Outputs must be the same on every run: guest addresses are (the Machine lays regions out
 * deterministically), wall-clock times are not, so drivers never print times and
 * `renderGc` drops the collector's duration.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ARCHES, type Arch } from '../isa/arch.ts';
import { StackscopeError } from '../isa/error.ts';
import { compileModule } from '../compiler/index.ts';
import { parseWat } from '../compiler/frontend/index.ts';
import { renderExplanation } from '../gc/explain.ts';
import type { GcReport } from '../gc/collector.ts';
import { Engine, Module, Store, V44Store } from '../index.ts';
import { PROFILES } from '../profiles/profile.ts';

export { ARCHES, type Arch };

export const EXAMPLES_DIR = dirname(fileURLToPath(import.meta.url));

/** Every example, in teaching order (folder names under examples/). */
export const EXAMPLE_NAMES = [
  'host-call',
  'fib',
  'linked-list',
  'recursion-gc',
  'table-overflow',
  'thousand-refs',
  'destructor-reentry',
  'traps',
  'generator',
  'scheduler',
  'relay',
] as const;

export type ExampleName = (typeof EXAMPLE_NAMES)[number];

/**
 * Examples of another profile than v17 (docs/profiles.md): compiled for it, run in its store.
 * The stack-switching examples run from their .wat: the image format does not carry
 * continuation types and tags yet (their images are still committed and checked for staleness).
 */
export const EXAMPLE_PROFILES: Readonly<Partial<Record<ExampleName, 'v44'>>> = { generator: 'v44', scheduler: 'v44', relay: 'v44' };

function profileOf(name: string): 'v17' | 'v44' {
  return EXAMPLE_PROFILES[name as ExampleName] ?? 'v17';
}

/** A bad example name or a missing example file. */
export class ExampleError extends StackscopeError {
  override name = 'ExampleError';
  constructor(readonly example: string, readonly what: string) {
    super(`example ${example}: ${what}`);
  }
}

export interface ExampleFiles {
  dir: string;
  wat: string;
  image: (arch: Arch) => string;
  expected: (arch: Arch) => string;
}

export function exampleFiles(name: string): ExampleFiles {
  if (!(EXAMPLE_NAMES as readonly string[]).includes(name)) {
    throw new ExampleError(name, `unknown (known: ${EXAMPLE_NAMES.join(', ')})`);
  }
  const dir = join(EXAMPLES_DIR, name);
  return {
    dir,
    wat: join(dir, `${name}.wat`),
    image: (arch) => join(dir, `${name}.${arch}.o`),
    expected: (arch) => join(dir, `expected.${arch}.txt`),
  };
}

/** Compiles an example's .wat to the ELF image `stackscope compile` would write. */
export async function compileExample(name: string, arch: Arch): Promise<Uint8Array> {
  const files = exampleFiles(name);
  const wasm = await parseWat(readFileSync(files.wat, 'utf8'), { fileName: `${name}.wat` });
  return compileModule(wasm, { arch, file: `${name}.wat`, profile: PROFILES[profileOf(name)] }).elf;
}

/** What a driver gets: a fresh engine and store (a V44Store for a v44 example) for one arch, the module from its image. */
export interface ExampleContext<S = Store> {
  readonly arch: Arch;
  readonly engine: Engine;
  readonly store: S;
  readonly module: Module;
  /** Appends one line to the example's output. */
  print(line?: string): void;
}

export type ExampleDriver = (ctx: ExampleContext<Store | V44Store>) => void | Promise<void>;

/** Runs an example's driver on one image and returns its output text. */
export async function runExample(name: string, arch: Arch, image: Uint8Array): Promise<string> {
  const files = exampleFiles(name);
  const driver = (await import(pathToFileURL(join(files.dir, 'run.ts')).href)) as { run?: ExampleDriver };
  if (typeof driver.run !== 'function') throw new ExampleError(name, 'run.ts exports no run(ctx) function');
  const profile = profileOf(name);
  const engine = new Engine({ arch, profile });
  const store = profile === 'v44' ? await V44Store.create(engine) : await Store.create(engine);
  const lines: string[] = [];
  try {
    const module = profile === 'v44'
      ? await Module.fromWat(engine, readFileSync(files.wat, 'utf8'), `${name}.wat`)
      : Module.fromImage(engine, image, `${name}.o`);
    await driver.run({ arch, engine, store, module, print: (line = '') => lines.push(line) });
  } finally {
    store.close();
  }
  return lines.join('\n') + '\n';
}

/** Runs an example from its committed image. */
export async function runCommittedExample(name: string, arch: Arch): Promise<string> {
  return runExample(name, arch, readFileSync(exampleFiles(name).image(arch)));
}

/** The collector's explanation as text, without the wall-clock duration (outputs are compared byte for byte). */
export function renderGc(report: GcReport | undefined): string {
  if (!report?.explanation) throw new ExampleError('?', 'the collection was not run with explain: true');
  return renderExplanation(report.explanation).replace(/, \d+\.\d+ ms$/m, '');
}

/** One line of a collection's counts (no times). */
export function summarizeGc(r: GcReport): string {
  return `GC (${r.reason}): ${r.frames} frames (${r.framesWithMaps} with maps), ${r.slotsScanned} marked slots, ` +
    `${r.roots} roots, ${r.freedCount} freed; table bump ${r.tableBefore.bump} -> ${r.tableAfter.bump}, ` +
    `over-approximated ${r.tableBefore.overApproximated} -> ${r.tableAfter.overApproximated}`;
}
