/**
 * docs/cli.md shows real output: every complete example in it whose inputs are in the
 * repository is run again and must print exactly what the document shows (apart from the
 * collector's wall-clock duration). Examples with elided lines (`...`) are skipped, as are
 * those naming files the reader makes first.
 */
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { cli } from './testing.ts';

interface DocExample {
  command: string;
  argv: string[];
  expected: string[];
}

/** `$ stackscope …` lines inside fenced blocks, each with the output lines after it. */
function examples(markdown: string): DocExample[] {
  const out: DocExample[] = [];
  const blocks = markdown.split('```').filter((_, i) => i % 2 === 1);
  for (const block of blocks) {
    let current: DocExample | undefined;
    for (const line of block.split('\n').slice(1)) {
      const m = /^\$ stackscope (.*)$/.exec(line);
      if (m) {
        current = { command: line, argv: (m[1].match(/'[^']*'|\S+/g) ?? []).map((a) => a.replace(/^'(.*)'$/, '$1')), expected: [] };
        out.push(current);
      } else if (current) current.expected.push(line);
    }
  }
  for (const e of out) while (e.expected.length && e.expected[e.expected.length - 1] === '') e.expected.pop();
  return out;
}

// Durations, and the machine the example ran on (the cycle report names the detected host).
const normalize = (s: string) => s.replace(/, \d+\.\d+ ms$/gm, ', <duration> ms').replace(/^(model: [^;]+); host: .*$/gm, '$1; host: <host>');

test('the complete examples in docs/cli.md print what the document shows', async (t) => {
  const all = examples(readFileSync(new URL('../docs/cli.md', import.meta.url), 'utf8'));
  const checkable = all.filter((e) =>
    !e.expected.some((l) => l.trim() === '...') &&
    e.argv.filter((a) => /\.(wat|o)$/.test(a) || a.startsWith('examples/')).every((a) => existsSync(a)) &&
    e.expected.length > 0);
  t.true(checkable.length >= 8, `only ${checkable.length} of ${all.length} examples checkable`);
  for (const e of checkable) {
    const r = await cli(...e.argv);
    const printed = normalize([r.stdout, r.stderr].filter(Boolean).join('\n'));
    t.is(printed, normalize(e.expected.join('\n')), e.command);
  }
});
