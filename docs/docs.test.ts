import test from 'ava';
import { checkDocs as checkDocsUncached, fillBlocks, GenDocsError } from '../scripts/gen-docs.ts';

// Generation compiles and runs the examples on both arches; do it once for the whole file.
let generated: ReturnType<typeof checkDocsUncached> | undefined;
const checkDocs = () => (generated ??= checkDocsUncached());

// The generated parts of docs/layouts.md, docs/stack-maps.md, docs/gc.md and docs/wasm-subset.md, and the SVG
// pictures of frames in docs/img/, must be exactly what the code produces now: layouts from
// compiler/vmoffsets.ts, listings, frame dumps, pictures and GC reports from compiling and
// running the examples on both arches.
test('generated documents are current (regenerate: node --import tsx scripts/gen-docs.ts)', async (t) => {
  const docs = await checkDocs();
  t.is(docs.filter((d) => d.file.endsWith('.md')).length, 4);
  t.true(docs.filter((d) => d.file.endsWith('.svg')).length >= 6, 'the SVG pictures of real frames are checked too');
  for (const d of docs) {
    if (d.current === d.expected) {
      t.pass();
      continue;
    }
    const a = d.current.split('\n');
    const b = d.expected.split('\n');
    let i = 0;
    while (i < a.length && a[i] === b[i]) i++;
    t.fail(`${d.file} is stale from line ${i + 1}:\n  committed: ${a[i] ?? '<end>'}\n  generated: ${b[i] ?? '<end>'}`);
  }
});

test('every generated document really contains generated blocks', async (t) => {
  for (const d of (await checkDocs()).filter((x) => x.file.endsWith('.md'))) {
    t.true((d.expected.match(/<!-- gen-docs:begin /g) ?? []).length >= 2, d.file);
    t.false(/<!-- gen-docs:begin [^ ]+ -->\n<!-- gen-docs:end/.test(d.expected), `${d.file} has an empty block`);
  }
});

test('fillBlocks replaces only marked regions and rejects broken markers', (t) => {
  const blocks = new Map([['a/one', 'NEW\n']]);
  const doc = 'intro\n<!-- gen-docs:begin a/one -->\nOLD\n<!-- gen-docs:end a/one -->\noutro\n';
  const { text, used } = fillBlocks('x.md', doc, blocks);
  t.is(text, 'intro\n<!-- gen-docs:begin a/one -->\nNEW\n<!-- gen-docs:end a/one -->\noutro\n');
  t.deepEqual(used, ['a/one']);
  t.is(fillBlocks('x.md', text, blocks).text, text, 'idempotent');
  const unterminated = t.throws(() => fillBlocks('x.md', 'x\n<!-- gen-docs:begin a/one -->\nOLD\n', blocks), { instanceOf: GenDocsError });
  t.is(unterminated?.block, 'a/one');
  const unknown = t.throws(() => fillBlocks('y.md', '<!-- gen-docs:begin b/two -->\n<!-- gen-docs:end b/two -->\n', blocks), { instanceOf: GenDocsError });
  t.is(unknown?.file, 'y.md');
});
