import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

// The installed command: bin/stackscope.mjs runs the compiled CLI (dist/cli/main.js, built by
// scripts/setup.sh and by npm pack's prepack), with no TypeScript loader.
const bin = new URL('../bin/stackscope.mjs', import.meta.url).pathname;

test('the stackscope command runs the compiled CLI with exit codes', (t) => {
  t.true(existsSync(new URL('../dist/cli/main.js', import.meta.url)), 'npm test builds dist/ first');
  t.regex(execFileSync('node', [bin, '--version'], { encoding: 'utf8' }), /^stackscope \d+\.\d+\.\d+\n$/);
  const out = execFileSync('node', [bin, 'disasm', '--arch', 'x64', 'c3'], { encoding: 'utf8' });
  t.regex(out, /0x0:\s+c3\s+ret/);
  const bad = spawnSync('node', [bin, 'disasm', '--arch', 'm68k', 'c3'], { encoding: 'utf8' });
  t.is(bad.status, 2);
  t.regex(bad.stderr, /unknown architecture 'm68k'/);
  // An example's TypeScript driver runs as its compiled twin in dist/, in the CLI's module graph.
  const example = spawnSync('node', [bin, 'explain', 'examples/recursion-gc', '--at', 'descend'], { encoding: 'utf8' });
  t.is(example.status, 0, example.stderr);
  t.regex(example.stdout, /stack map for return address/);
});

test('one module graph: every call of examples/traps runs, each trap caught by the driver\'s instanceof WasmTrap', (t) => {
  const run = spawnSync('node', [bin, 'run', 'examples/traps'], { encoding: 'utf8' });
  t.is(run.status, 0, run.stderr);
  const calls = run.stdout.split('\n').filter((l) => /^\w+\(.*\) (=|trapped:)/.test(l));
  t.is(calls.length, 10, run.stdout);
  t.regex(run.stdout, /after every trap: Wasm depth 0/);
});

test('start-up: --version and inspect load none of koffi, Capstone, wabt; disasm only Capstone', (t) => {
  // CommonJS packages (koffi, capstone-js, wabt) land in require.cache however they are loaded.
  const probe = join(mkdtempSync(join(tmpdir(), 'stackscope-probe-')), 'probe.mjs');
  writeFileSync(probe, `
    import { createRequire } from 'node:module';
    const { main } = await import(${JSON.stringify(new URL('../dist/cli/main.js', import.meta.url).href)});
    const { captureOutput } = await import(${JSON.stringify(new URL('../dist/cli/output.js', import.meta.url).href)});
    const code = await main(process.argv.slice(2), captureOutput());
    const names = Object.keys(createRequire(import.meta.url).cache).map((k) => ['koffi', 'capstone-js', 'wabt'].find((n) => k.includes(n)));
    console.log(JSON.stringify({ code, loaded: [...new Set(names.filter(Boolean))].sort() }));`);
  try {
    const loaded = (...argv: string[]) => JSON.parse(execFileSync('node', [probe, ...argv], { encoding: 'utf8' })) as { code: number; loaded: string[] };
    t.deepEqual(loaded('--version'), { code: 0, loaded: [] });
    t.deepEqual(loaded('inspect', 'examples/fib/fib.x64.o'), { code: 0, loaded: [] });
    t.deepEqual(loaded('disasm', '--arch', 'x64', 'c3'), { code: 0, loaded: ['capstone-js'] });
    t.deepEqual(loaded('run', 'examples/fib/fib.wat', '--invoke', 'fib', '3'), { code: 0, loaded: ['capstone-js', 'koffi', 'wabt'] });
  } finally {
    rmSync(dirname(probe), { recursive: true, force: true });
  }
});
