/**
 * Builds the package's `dist/`: the compiled ESM JavaScript and `.d.ts` files of every library
 * folder, the files the library reads at run time, and the native helper.
 *
 *   node --import tsx scripts/build.ts              dist/ for the checkout (bin/stackscope.mjs runs it)
 *   node --import tsx scripts/build.ts --prebuilt   also requires a fresh build/ helper (npm pack's prepack)
 *
 * What is compiled is decided by tsconfig.build.json: every .ts file outside an explicit exclude
 * list (tests, test helpers and data, bench/, scripts/, docs/), so a new top-level library folder
 * is in the package without being registered anywhere. Then:
 *  - the `.ts` extensions tsc keeps in the declaration files' relative imports become `.js`, so a
 *    consumer's strict `module: nodenext` project reads them without `allowImportingTsExtensions`;
 *  - every other file of a compiled folder (the examples' .wat and expected outputs, the native
 *    helper's C source) is copied beside the JavaScript, except tests and test data;
 *  - build/libstackscope_hooks.so, when it was built from the current C source, is copied to
 *    dist/prebuilt/<platform>-<arch>/ (simulator/native-helper.ts looks there).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const requirePrebuilt = process.argv.includes('--prebuilt');

function fail(message: string): never {
  process.stderr.write(`build: ${message}\n`);
  process.exit(1);
}

function walk(dir: string, visit: (path: string) => void): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path, visit);
    else if (entry.isFile()) visit(path);
  }
}

/** Test files and test-only folders, which stay out of the package whatever their extension. */
function isTestOnly(rel: string): boolean {
  const parts = rel.split(/[\\/]/);
  const name = parts[parts.length - 1];
  return /\.test\.[a-z]+$/.test(name) || name === 'testing.ts' || parts.includes('testing') || parts.includes('testdata');
}

rmSync(dist, { recursive: true, force: true });
try {
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
} catch {
  fail('tsc failed (see above)');
}

// Declarations: './x.ts' → './x.js' in relative specifiers (import/export … from, import()).
const specifier = /((?:from|import)\s*\(?\s*['"])(\.{1,2}\/[^'"]*?)\.ts(['"])/g;
const folders = new Set<string>();
walk(dist, (path) => {
  folders.add(relative(dist, path).split(/[\\/]/)[0]);
  if (!path.endsWith('.d.ts')) return;
  const text = readFileSync(path, 'utf8');
  const fixed = text.replace(specifier, '$1$2.js$3');
  if (fixed !== text) writeFileSync(path, fixed);
});

// Run-time files of the compiled folders.
for (const folder of folders) {
  const source = join(root, folder);
  if (!existsSync(source) || !statSync(source).isDirectory()) continue;
  walk(source, (path) => {
    const rel = relative(root, path);
    if (rel.endsWith('.ts') || isTestOnly(rel)) return;
    mkdirSync(dirname(join(dist, rel)), { recursive: true });
    copyFileSync(path, join(dist, rel));
  });
}

// The viewer page's code, bundled for the browser: viewer/page.ts reads it from beside itself
// in dist/ (the TypeScript sources it bundles at run time from a checkout are not shipped).
buildSync({
  entryPoints: [join(root, 'viewer', 'browser', 'main.ts')], bundle: true, format: 'iife', platform: 'browser', target: 'es2022',
  minify: true, legalComments: 'none', logLevel: 'warning', outfile: join(dist, 'viewer', 'viewer-client.js'),
});

// The native helper, when build/ holds one made from the current source.
const helperSource = join(root, 'simulator', 'native', 'stackscope_hooks.c');
const helper = join(root, 'build', 'libstackscope_hooks.so');
const stamp = join(root, 'build', '.hooks-src');
const sourceHash = createHash('sha256').update(readFileSync(helperSource)).digest('hex');
const fresh = existsSync(helper) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === sourceHash;
if (fresh) {
  const target = join(dist, 'prebuilt', `${process.platform}-${process.arch}`);
  mkdirSync(target, { recursive: true });
  copyFileSync(helper, join(target, 'libstackscope_hooks.so'));
} else if (requirePrebuilt) {
  fail('build/libstackscope_hooks.so is missing or older than its source: run `bash scripts/setup.sh` first');
}
if (requirePrebuilt && `${process.platform}-${process.arch}` !== 'linux-x64') {
  process.stderr.write(`build: note: the prebuilt helper is for ${process.platform}-${process.arch}; published packages carry linux-x64\n`);
}
