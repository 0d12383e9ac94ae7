/**
 * Where the native helper (simulator/native/stackscope_hooks.c built as a shared library) comes
 * from. Everything is found relative to this module's own file, never by searching for a
 * package.json: the library root is the folder above simulator/, which is the repository in a
 * checkout (sources run through tsx) and `dist/` in the compiled package.
 *
 * Order: `STACKSCOPE_NATIVE_HELPER` (a path; used as is), then `<root>/build/` (what
 * scripts/setup.sh builds in a checkout; skipped when built from another C source), then `<root>/prebuilt/<platform>-<arch>/` (the one
 * `npm pack` puts in the package, built for linux-x64 against Debian 12's libunicorn 2.0.1),
 * then the same two under the installed package as Node resolves `stackscope` (for code bundled
 * into another file), then a per-user cache that the first use fills by compiling the shipped
 * C source with `cc`.
 * When none of them works, a NativeHelperError names the `apt-get install` line that fixes it.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StackscopeError } from '../isa/error.ts';

export const NATIVE_HELPER_FILE = 'libstackscope_hooks.so';
/** What the library needs at run time: Unicorn itself. */
export const UNICORN_APT_LINE = 'apt-get install libunicorn2';
/** What building the helper needs as well: a C compiler and Unicorn's headers. */
export const HELPER_BUILD_APT_LINE = 'apt-get install libunicorn2 libunicorn-dev gcc libc6-dev';

/** The native helper (or libunicorn under it) cannot be found, built or loaded. */
export class NativeHelperError extends StackscopeError {
  override name = 'NativeHelperError';
  constructor(
    readonly reason: string,
    /** The Debian command that installs what is missing. */
    readonly aptLine: string,
    /** Every place that was tried, in order, with why it did not fit. */
    readonly tried: readonly string[] = [],
  ) {
    super(`${reason}; install what is missing with \`${aptLine}\`` +
      (tried.length ? ` (tried: ${tried.join('; ')})` : ''));
  }
}

/** The folder above simulator/: the repository for the sources, `dist/` for the package. */
export const LIBRARY_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const NATIVE_HELPER_SOURCE = join(LIBRARY_ROOT, 'simulator', 'native', 'stackscope_hooks.c');

/** The platform tag of prebuilt helpers and cache entries (`linux-x64`, `linux-arm64`, …). */
export function platformTag(): string {
  return `${process.platform}-${process.arch}`;
}

/** Where the first use builds the helper: $STACKSCOPE_CACHE_DIR, else $XDG_CACHE_HOME/stackscope, else ~/.cache/stackscope. */
export function helperCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.STACKSCOPE_CACHE_DIR) return env.STACKSCOPE_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'stackscope');
}

/**
 * The installed package's library root as Node resolves `stackscope` from here. It differs from
 * LIBRARY_ROOT only when this code was bundled into someone else's file (esbuild, say): then
 * import.meta.url is the bundle's, and the package's own files are still in node_modules.
 */
function installedLibraryRoot(): string | undefined {
  try {
    const root = join(dirname(createRequire(import.meta.url).resolve('stackscope/package.json')), 'dist');
    return root === LIBRARY_ROOT ? undefined : root;
  } catch {
    return undefined;
  }
}

/** The built-in places, in the order they are tried (the cache entry last). */
export function helperCandidates(): { path: string; what: string; root?: string }[] {
  const roots = [LIBRARY_ROOT, installedLibraryRoot()].filter((r): r is string => r !== undefined);
  return roots.flatMap((root) => [
    { path: join(root, 'build', NATIVE_HELPER_FILE), what: 'the checkout\'s build', root },
    { path: join(root, 'prebuilt', platformTag(), NATIVE_HELPER_FILE), what: `the package's prebuilt ${platformTag()} helper` },
  ]);
}

/**
 * Whether `root`'s `build/` helper was built from another `stackscope_hooks.c` than the one
 * beside it: scripts/setup.sh writes the source's SHA-256 to `build/.hooks-src`, and a checkout
 * that moved past a change to the C source without running it again would otherwise load a
 * helper lacking the functions the TypeScript side now calls. Unknown (no stamp, no source): no.
 */
export function checkoutBuildIsStale(root: string): boolean {
  const stamp = join(root, 'build', '.hooks-src');
  const source = join(root, 'simulator', 'native', 'stackscope_hooks.c');
  if (!existsSync(stamp) || !existsSync(source)) return false;
  const built = readFileSync(stamp, 'utf8').trim();
  return built !== createHash('sha256').update(readFileSync(source)).digest('hex');
}

/** The C source the cache is built from (beside this module, or in the installed package). */
function helperSource(): string | undefined {
  const installed = installedLibraryRoot();
  return [NATIVE_HELPER_SOURCE, installed && join(installed, 'simulator', 'native', 'stackscope_hooks.c')]
    .find((p): p is string => typeof p === 'string' && existsSync(p));
}

/** True when a load failure means libunicorn itself is missing (no other helper can help). */
function unicornMissing(message: string): boolean {
  return /libunicorn\.so[.\d]*: cannot open shared object file/.test(message);
}

/**
 * Finds and loads the helper with `load` (koffi.load). Returns what `load` returned and the
 * path it came from; throws NativeHelperError when nothing fits.
 */
export function loadNativeHelper<T>(load: (path: string) => T, env: NodeJS.ProcessEnv = process.env): { lib: T; path: string } {
  const override = env.STACKSCOPE_NATIVE_HELPER;
  if (override) {
    try {
      return { lib: load(override), path: override };
    } catch (e) {
      const message = (e as Error).message;
      throw new NativeHelperError(`cannot load the native helper STACKSCOPE_NATIVE_HELPER=${override}: ${message}`,
        unicornMissing(message) ? UNICORN_APT_LINE : HELPER_BUILD_APT_LINE);
    }
  }
  const tried: string[] = [];
  for (const { path, what, root } of helperCandidates()) {
    if (!existsSync(path)) continue;
    if (root !== undefined && checkoutBuildIsStale(root)) {
      // Built from an older C source: the cache entry below is built from the current one.
      tried.push(`${what} ${path}: built from another stackscope_hooks.c (bash scripts/setup.sh rebuilds it)`);
      continue;
    }
    try {
      return { lib: load(path), path };
    } catch (e) {
      const message = (e as Error).message;
      if (unicornMissing(message)) throw new NativeHelperError(`libunicorn 2 is not installed (${message})`, UNICORN_APT_LINE);
      tried.push(`${what} ${path}: ${message}`);
    }
  }
  const path = buildIntoCache(env, tried);
  try {
    return { lib: load(path), path };
  } catch (e) {
    const message = (e as Error).message;
    throw new NativeHelperError(`cannot load the native helper built at ${path}: ${message}`,
      unicornMissing(message) ? UNICORN_APT_LINE : HELPER_BUILD_APT_LINE, tried);
  }
}

/**
 * Compiles the shipped C source into the per-user cache, keyed by the source's hash and the
 * platform (so an upgrade or another arch never picks up a stale build); returns the path.
 * An existing entry is reused. The file appears atomically (built beside it, then renamed).
 */
export function buildIntoCache(env: NodeJS.ProcessEnv = process.env, tried: string[] = []): string {
  const sourcePath = helperSource();
  if (sourcePath === undefined) {
    throw new NativeHelperError(`no native helper fits ${platformTag()} and its C source ${NATIVE_HELPER_SOURCE} is missing ` +
      '(bundled? keep stackscope installed in node_modules, or set STACKSCOPE_NATIVE_HELPER)', HELPER_BUILD_APT_LINE, tried);
  }
  const source = readFileSync(sourcePath);
  const key = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const dir = helperCacheDir(env);
  const path = join(dir, `${key}-${platformTag()}-${NATIVE_HELPER_FILE}`);
  if (existsSync(path)) return path;
  const partial = `${path}.${process.pid}.tmp`;
  const compiler = env.CC || 'cc';
  try {
    mkdirSync(dir, { recursive: true });
    execFileSync(compiler, ['-O2', '-shared', '-fPIC', '-o', partial, sourcePath, '-lunicorn'], { stdio: ['ignore', 'ignore', 'pipe'] });
    renameSync(partial, path);
  } catch (e) {
    rmSync(partial, { force: true });
    const err = e as Error & { stderr?: Buffer };
    const detail = (err.stderr?.toString() || err.message).trim().split('\n').slice(0, 3).join(' ');
    throw new NativeHelperError(
      `no prebuilt native helper fits ${platformTag()} and building one into ${dir} with \`${compiler}\` failed (${detail}); ` +
        'or set STACKSCOPE_NATIVE_HELPER to a built helper', HELPER_BUILD_APT_LINE, tried);
  }
  return path;
}
