/**
 * The v44 explanation on both arches, over a generator and a scheduler built as v44 lays them
 * out: the producer holds an externref across `suspend`, a second task is suspended inside a
 * scheduler continuation that was detached with it, and the collection runs from the consumer on
 * the initial stack. The text names the stack of every frame; docs/gc.md §8 shows the x86-64 text
 * exactly as the collector prints it.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { ARCHES } from '../../isa/arch.ts';
import { generatorScenario } from './testing.ts';

for (const arch of ARCHES) {
  test(`${arch}: the explanation names every stack and the stack of every frame`, async (t) => {
    const { text, json } = await generatorScenario(arch);
    const lines = text.split('\n');
    t.regex(lines[0], new RegExp(`^DRC collection on ${arch} \\(wasmtime v44\\): 4 stacks, 4 frames, 2 precise roots, 1 freed;`));
    t.true(lines.some((l) => /^ {2}#0 initial stack .*, running \(Running\), store's chain$/.test(l)), text);
    t.true(lines.some((l) => /^ {2}#1 continuation 0x[0-9a-f]+, suspended \(Suspended\), chain of the suspended 0x[0-9a-f]+ continuation {2}stack /.test(l)));
    t.true(lines.some((l) => /^ {2}#3 continuation 0x[0-9a-f]+, parent \(Parent\), chain of the suspended 0x[0-9a-f]+ continuation/.test(l)));
    t.true(lines.includes('  0x50  ExternRef, 32 bytes, host value "consumed"'));
    const j = json as { stacks: { role: string; kind: string }[]; frames: { stack: number; entries: { raw: string }[] }[] };
    t.deepEqual(j.stacks.map((s) => `${s.kind}/${s.role}`), ['initial/running', 'continuation/suspended', 'continuation/suspended', 'continuation/parent']);
    t.deepEqual(j.frames.map((f) => [f.stack, f.entries.map((e) => e.raw)]), [[0, ['0x0', '0x0']], [1, ['0x10', '0x0']], [2, ['0x30', '0x10']], [3, ['0x0', '0x0']]]);
    if (arch === 'x64') {
      const doc = readFileSync(new URL('../../docs/gc.md', import.meta.url), 'utf8');
      const block = doc.slice(doc.indexOf('## 8. The v44 profile')).split('```text\n')[1].split('\n```')[0];
      t.is(block, text, 'docs/gc.md §8 shows exactly what the collector prints');
    }
  });
}
