/**
 * Example directories and their drivers, for `run` and `explain`.
 *
 * A target names a module file or a directory holding one .wat and, optionally, a driver
 * (`run.js`, `run.mjs` or `run.ts` exporting `run(ctx)`, as examples/harness.ts calls it). The
 * examples that ship with stackscope are found from anywhere: `examples/traps` or just `traps`
 * resolves to the package's own copy when the working directory has no such folder.
 *
 * One module graph: a driver must import the same stackscope modules as the CLI running it, or
 * `instanceof WasmTrap` fails across two copies of the class. So when the CLI runs compiled
 * (dist/) and the driver is a TypeScript source of this checkout, its compiled twin in dist/ is
 * loaded instead; the package ships only compiled drivers. Any other TypeScript driver needs
 * tsx (a development dependency), loaded only then.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve as resolvePath } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Arch } from '../isa/arch.ts';
import type { Engine, Module, Store } from '../runtime/api.ts';
import { UsageError } from './args.ts';

/** The library root: the repository for the sources, dist/ in the package (cli/..). */
const LIBRARY_ROOT = fileURLToPath(new URL('..', import.meta.url));
/** True when this module is compiled JavaScript (the package, or a checkout's dist/). */
const COMPILED = import.meta.url.endsWith('.js');
/** The tree whose TypeScript sources were compiled into LIBRARY_ROOT (the checkout, when there is one). */
const SOURCE_ROOT = COMPILED ? dirname(LIBRARY_ROOT) : LIBRARY_ROOT;

const DRIVER_NAMES = ['run.js', 'run.mjs', 'run.ts'];

export interface ModuleTarget {
  /** The .wat (or .wasm / image) to compile. */
  file: string;
  /** The example's driver (exporting run(ctx)), when the target is an example directory with one. */
  driver: string | undefined;
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

/** Where `path` may be, in order: as given, under ./examples, among the examples shipped with stackscope. */
function targetCandidates(path: string): string[] {
  return [path, join('examples', path), join(LIBRARY_ROOT, 'examples', path.replace(/^examples[\\/]/, ''))].filter((p) => existsSync(p));
}

/** `path` itself, or the shipped example file it names (`examples/fib/fib.wat` from any directory). */
export function resolveInputPath(path: string): string {
  return targetCandidates(path)[0] ?? path;
}

/** True when `path` names a directory (an example) rather than a file. */
export function isModuleDirectory(path: string): boolean {
  const first = targetCandidates(path)[0];
  return first !== undefined && statSync(first).isDirectory();
}

/** `examples/NAME`, `NAME` (an example, here or shipped with stackscope) or a file. */
export function resolveModulePath(path: string, command: string): ModuleTarget {
  const candidates = targetCandidates(path);
  if (candidates.length === 0) throw new UsageError(`cannot read ${path}: no such file or example`, command);
  const p = candidates[0];
  if (!statSync(p).isDirectory()) return { file: p, driver: undefined };
  const wats = readdirSync(p).filter((f) => f.endsWith('.wat')).sort();
  if (wats.length !== 1) throw new UsageError(`${p}: expected one .wat file in the example directory, found ${wats.length}`, command);
  const driver = DRIVER_NAMES.map((name) => join(p, name)).find((d) => existsSync(d));
  return { file: join(p, wats[0]), driver };
}

/** The file to import for a driver: its compiled twin when the CLI is compiled and the driver is one of this checkout's sources. */
export function driverModule(path: string): string {
  const absolute = resolvePath(path);
  if (COMPILED && absolute.endsWith('.ts') && inside(SOURCE_ROOT, absolute) && !inside(LIBRARY_ROOT, absolute)) {
    const twin = join(LIBRARY_ROOT, relative(SOURCE_ROOT, absolute)).replace(/\.ts$/, '.js');
    if (existsSync(twin)) return twin;
  }
  return absolute;
}

/** An example's driver: `run(ctx)` as examples/harness.ts calls it. */
export type ExampleDriver = (ctx: { arch: Arch; engine: Engine; store: Store; module: Module; print: (line?: string) => void }) => unknown;

/** Registers tsx for a TypeScript driver when the CLI itself is not running under it. */
async function typeScriptLoader(path: string, command: string): Promise<void> {
  try {
    const { register } = (await import('tsx/esm/api')) as { register: () => unknown };
    register();
  } catch {
    throw new UsageError(`cannot load the driver ${path}: a TypeScript driver needs tsx (npm install tsx), or compile it to run.js; or give --invoke NAME ARGS...`, command);
  }
}

/** Imports a driver (see driverModule) and returns its run(ctx). */
export async function loadDriver(path: string, command: string): Promise<ExampleDriver> {
  const file = driverModule(path);
  if (COMPILED && file.endsWith('.ts')) await typeScriptLoader(path, command);
  let driver: { run?: unknown };
  try {
    driver = (await import(pathToFileURL(file).href)) as typeof driver;
  } catch (e) {
    throw new UsageError(`cannot load the example's driver ${path} (${(e as Error).message.split('\n')[0]}); give --invoke NAME ARGS... to call a function instead`, command);
  }
  if (typeof driver.run !== 'function') throw new UsageError(`${path} exports no run(ctx) function`, command);
  return driver.run as ExampleDriver;
}
