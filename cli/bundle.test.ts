import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

// The installed command: bin/stackscope.mjs runs the esbuild bundle (built by setup) or,
// before a build, the sources through tsx.
const bin = new URL('../bin/stackscope.mjs', import.meta.url).pathname;

test('the stackscope command runs (bundle or sources) with exit codes', (t) => {
  t.true(existsSync(new URL('../dist/stackscope.mjs', import.meta.url)), 'npm test builds the bundle first');
  t.regex(execFileSync('node', [bin, '--version'], { encoding: 'utf8' }), /^stackscope \d+\.\d+\.\d+\n$/);
  const out = execFileSync('node', [bin, 'disasm', '--arch', 'x64', 'c3'], { encoding: 'utf8' });
  t.regex(out, /0x0:\s+c3\s+ret/);
  const bad = spawnSync('node', [bin, 'disasm', '--arch', 'm68k', 'c3'], { encoding: 'utf8' });
  t.is(bad.status, 2);
  t.regex(bad.stderr, /unknown architecture 'm68k'/);
  // An example directory's TypeScript driver loads from the bundle too (the launcher registers tsx).
  const example = spawnSync('node', [bin, 'explain', 'examples/recursion-gc', '--at', 'descend'], { encoding: 'utf8' });
  t.is(example.status, 0, example.stderr);
  t.regex(example.stdout, /stack map for return address/);
});
