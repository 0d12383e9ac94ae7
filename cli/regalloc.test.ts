/**
 * `--regalloc` on the commands that compile: compile's listing shows spills and reloads, run,
 * explain and gc give the same results in both modes, fuzz runs every program in each mode,
 * and misuse (an unknown mode, the flag with a compiled image or ELF objects) is exit 2.
 */
import test from 'ava';
import { fileURLToPath } from 'node:url';
import { cli, scratchPath, TEACHING_WAT_PATH } from './testing.ts';

const GC_DEMO = fileURLToPath(new URL('../runtime/testdata/gc/cli-demo.wat', import.meta.url));

for (const arch of ['x64', 'aarch64'] as const) {
  test(`${arch}: compile --regalloc linear-scan --print shows registers, spills and reloads; none is the slot layout`, async (t) => {
    const ls = await cli('compile', TEACHING_WAT_PATH, '--arch', arch, '--regalloc', 'linear-scan', '--print');
    t.is(ls.code, 0, ls.stderr);
    t.regex(ls.stdout, /regalloc linear-scan: outgoing \[0,\d+\) spill \[\d+,\d+\) callee-save/);
    t.regex(ls.stdout, /; spill v\d+ \(externref\) \w+ -> \[sp\+\d+\] for the call/);
    t.regex(ls.stdout, /; reload v\d+ \(externref\) \[sp\+\d+\] -> \w+ after the call/);
    t.regex(ls.stdout, /-> \[sp\+\d+\] spill\[\d+\]/, 'the map names the spill slot');
    const none = await cli('compile', TEACHING_WAT_PATH, '--arch', arch, '--print');
    t.notRegex(none.stdout, /spill|reload/);
  });

  test(`${arch}: run, explain and gc agree across --regalloc modes`, async (t) => {
    const outs: string[] = [];
    for (const mode of ['none', 'linear-scan']) {
      const run = await cli('run', TEACHING_WAT_PATH, '--arch', arch, '--regalloc', mode, '--invoke', 'fib', '15');
      t.is(run.code, 0, run.stderr);
      const gc = await cli('gc', GC_DEMO, '--arch', arch, '--regalloc', mode, '--invoke', 'main', 'hello', '7');
      t.is(gc.code, 0, gc.stderr);
      outs.push(gc.stdout.split('\n').filter((l) => /result|freed|roots/i.test(l)).join('\n'));
      const explain = await cli('explain', TEACHING_WAT_PATH, '--arch', arch, '--regalloc', mode, '--at', 'hold', '--invoke', 'hold', 'apple', 'null', '--json');
      t.is(explain.code, 0, explain.stderr);
      const j = JSON.parse(explain.stdout) as { frame: { words: Array<{ slot?: string; marked?: boolean }> } };
      if (mode === 'linear-scan') t.true(j.frame.words.some((w) => (w.slot ?? '').startsWith('spill[')), 'frame words are named spill[k]');
      outs.splice(outs.length - 1, 0, run.stdout.split('\n').filter((l) => l.startsWith('result')).join('\n'));
    }
    t.is(outs[0], outs[2]);
    t.is(outs[1], outs[3]);
  });
}

test('fuzz --regalloc both runs every program in each mode', async (t) => {
  const r = await cli('fuzz', '--programs', '2', '--arch', 'x64', '--regalloc', 'both', '--json');
  t.is(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { runs: number; failures: number };
  t.is(summary.runs, 4);
  t.is(summary.failures, 0);
});

test('--regalloc misuse is exit 2 naming the problem', async (t) => {
  const bad = await cli('compile', TEACHING_WAT_PATH, '--arch', 'x64', '--regalloc', 'greedy', '--print');
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--regalloc: unknown mode 'greedy' \(none or linear-scan\)/);
  const fuzz = await cli('fuzz', '--programs', '1', '--regalloc', 'greedy');
  t.is(fuzz.code, 2);
  t.regex(fuzz.stderr, /--regalloc: 'greedy' is not none, linear-scan or both/);
  const obj = scratchPath('regalloc-teaching.o');
  t.is((await cli('compile', TEACHING_WAT_PATH, '--arch', 'x64', '--regalloc', 'linear-scan', '-o', obj)).code, 0);
  const image = await cli('run', obj, '--regalloc', 'none', '--invoke', 'fib', '5');
  t.is(image.code, 2);
  t.regex(image.stderr, /a compiled image keeps the allocation it was compiled with/);
  // The image compiled with linear-scan runs as it is.
  const ran = await cli('run', obj, '--invoke', 'fib', '10');
  t.is(ran.code, 0, ran.stderr);
  t.regex(ran.stdout, /55/);
});
