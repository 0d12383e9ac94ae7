import test from 'ava';
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The package as a user gets it: `npm pack` (with its prepack) once, the tarball installed into
// a fresh project, then what a user does there — plain node, strict tsc of the README's
// TypeScript, an esbuild bundle, `npx stackscope` — with no tsx anywhere.
//
// The pack runs in a copy of the checkout (node_modules linked, not copied), so its prepack
// rebuilding dist/ never disturbs the other tests using this checkout's dist/.

const root = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'stackscope-package-'));
const consumer = join(work, 'consumer');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const esbuild = join(root, 'node_modules', 'esbuild', 'bin', 'esbuild');
let tarball = '';
let files: string[] = [];

function run(cmd: string, args: string[], cwd = consumer, env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '', ...env }, timeout: 300_000 });
}

test.before(() => {
  const checkout = join(work, 'checkout');
  cpSync(root, checkout, {
    recursive: true,
    filter: (src) => !/[\\/](node_modules|dist|\.git|\.stackscope-tmp)$/.test(src),
  });
  symlinkSync(join(root, 'node_modules'), join(checkout, 'node_modules'));
  const pack = execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: checkout, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const info = JSON.parse(pack) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = join(work, info[0].filename);
  files = info[0].files.map((f) => f.path);
  rmSync(checkout, { recursive: true, force: true });
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  const typesNode = JSON.parse(readFileSync(join(root, 'node_modules', '@types', 'node', 'package.json'), 'utf8')) as { version: string };
  execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball, `@types/node@${typesNode.version}`], { cwd: consumer, stdio: 'ignore' });
});

test.after.always(() => {
  rmSync(work, { recursive: true, force: true });
});

test('the tarball: compiled JavaScript with .d.ts, the prebuilt helper and its source; no TypeScript sources, tests, fixtures or benchmarks', (t) => {
  for (const f of ['package.json', 'bin/stackscope.mjs', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'dist/examples/traps/run.js',
    'dist/examples/traps/traps.wat', 'dist/simulator/native/stackscope_hooks.c', 'dist/prebuilt/linux-x64/libstackscope_hooks.so']) {
    t.true(files.includes(f), f);
  }
  const stray = files.filter((f) => (/\.ts$/.test(f) && !f.endsWith('.d.ts')) || /\.test\.|testdata|[\\/]testing[\\/.]|^bench\/|^scripts\/|^docs\//.test(f));
  t.deepEqual(stray, []);
  // Test data that lives beside library code: the cycle model's llvm-mca goldens, validation
  // kernels and instruction corpus (simulator/timing/testing/).
  t.deepEqual(files.filter((f) => /kernel|golden|corpus\.(js|d\.ts)$/.test(f)), []);
  t.true(files.includes('dist/simulator/timing/data/skylake.js'), 'the timing tables the model reads at run time are in');
  const pkg = JSON.parse(readFileSync(join(consumer, 'node_modules', 'stackscope', 'package.json'), 'utf8')) as { exports: Record<string, unknown>; dependencies: Record<string, string> };
  t.deepEqual(pkg.exports['.'], { types: './dist/index.d.ts', default: './dist/index.js' });
  t.false('tsx' in pkg.dependencies);
  t.false(existsSync(join(consumer, 'node_modules', 'tsx')), 'installing stackscope brings no TypeScript loader');
});

test('(a) plain node compiles and calls a Wasm function on both arches', (t) => {
  writeFileSync(join(consumer, 'app.mjs'), `import { Engine, Store, Module, Instance, WasmTrap } from 'stackscope';
for (const arch of ['x64', 'aarch64']) {
  const engine = new Engine({ arch });
  const store = await Store.create(engine);
  const module = await Module.fromWat(engine, '(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add) (func (export "boom") unreachable))');
  const instance = Instance.create(store, module, []);
  let trapped = false;
  try { instance.getFunc('boom').call(); } catch (e) { trapped = e instanceof WasmTrap && JSON.parse(JSON.stringify(e)).code === 'UnreachableCodeReached'; }
  console.log(arch, instance.getTypedFunc('add', ['i32', 'i32'], ['i32']).call(40, 2), trapped);
  store.close();
}
`);
  const r = run(process.execPath, ['app.mjs']);
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, 'x64 42 true\naarch64 42 true\n');
});

test('(b) the README\'s TypeScript snippets type-check under a strict module: nodenext project', (t) => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const snippets = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
  t.true(snippets.length >= 1);
  snippets.forEach((s, i) => writeFileSync(join(consumer, `readme-${i}.ts`), s));
  writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'] },
    include: ['readme-*.ts'],
  }));
  const r = run(process.execPath, [tsc, '-p', '.']);
  t.is(r.status, 0, r.stdout + r.stderr);
  // And the first snippet runs as written (compiled by esbuild, run by plain node).
  const js = run(process.execPath, [esbuild, 'readme-0.ts', '--format=esm', '--platform=node', '--outfile=readme-0.mjs', '--log-level=warning']);
  t.is(js.status, 0, js.stderr);
  const out = run(process.execPath, ['readme-0.mjs']);
  t.is(out.status, 0, out.stderr);
  t.regex(out.stdout, /^42 0 \{"reason":"store-gc"/);
});

test('(c) an esbuild bundle of a consumer script finds Capstone\'s wasm, wabt and the native helper', (t) => {
  writeFileSync(join(consumer, 'bundled.mjs'), `import { Engine, Store, Module, Instance } from 'stackscope';
const engine = new Engine({ arch: 'x64' });
const store = await Store.create(engine);
const module = await Module.fromWat(engine, '(module (func (export "f") (param i64) (result i64) local.get 0 i64.const 1 i64.add))');
console.log(String(Instance.create(store, module, []).getFunc('f').call(41n)));
store.close();
`);
  const b = run(process.execPath, [esbuild, 'bundled.mjs', '--bundle', '--platform=node', '--format=esm', '--outfile=out/bundled.mjs', '--log-level=warning']);
  t.is(b.status, 0, b.stderr);
  const bundle = readFileSync(join(consumer, 'out', 'bundled.mjs'), 'utf8');
  t.false(/from\s*["']stackscope["']/.test(bundle), 'stackscope itself is in the bundle, not imported');
  t.true(bundle.includes('NativeHelperError'));
  const r = run(process.execPath, ['out/bundled.mjs']);
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, '42\n');
});

test('(d) npx stackscope runs there: --version, every call of examples/traps, exit codes', (t) => {
  const version = run('npx', ['--no-install', 'stackscope', '--version']);
  t.regex(version.stdout, /^stackscope \d+\.\d+\.\d+\n$/);
  const traps = run('npx', ['--no-install', 'stackscope', 'run', 'examples/traps']);
  t.is(traps.status, 0, traps.stderr);
  t.is(traps.stdout.split('\n').filter((l) => /^\w+\(.*\) (=|trapped:)/.test(l)).length, 10, traps.stdout);
  const fib = run('npx', ['--no-install', 'stackscope', 'run', 'examples/fib/fib.wat', '--arch', 'aarch64', '--invoke', 'fib', '20']);
  t.is(fib.status, 0, fib.stderr);
  t.regex(fib.stdout, /result: 6765/);
  const bad = run('npx', ['--no-install', 'stackscope', 'run', 'no-such.wat']);
  t.is(bad.status, 2);
  t.deepEqual(readdirSync(join(consumer, 'node_modules', '.bin')).filter((n) => n === 'tsx'), []);
});
