/**
 * `run --profile v31` in the modes a v17 run has, on both arches: several results, and (below)
 * `--trace`, `--cycles`, `--html` and `demo --profile v31`.
 */
import test from 'ava';
import { ARCHES } from '../isa/arch.ts';
import { cli } from './testing.ts';

for (const arch of ARCHES) {
  test(`${arch}: run --profile v31 prints every result of a function with several, in text and JSON`, async (t) => {
    const r = await cli('run', 'cli/testdata/multi-value.wat', '--profile', 'v31', '--arch', arch, '--invoke', 'check', '17', '5');
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /^results: 3 \(i32\), 2 \(i32\), 17 \(i64\)\ninstructions: \d+\n?$/);
    const j = await cli('run', 'cli/testdata/multi-value.wat', '--profile', 'v31', '--arch', arch, '--json', '--invoke', 'dup', '-9');
    t.is(j.code, 0, j.stderr);
    t.deepEqual(JSON.parse(j.stdout).result, [{ type: 'i64', value: '-9' }, { type: 'i64', value: '-9' }]);
  });
}

for (const arch of ARCHES) {
  test(`${arch}: run --profile v31 --trace records blocks, the frames at safepoints with their typed map entries, and each collection's frames`, async (t) => {
    const r = await cli('run', 'cli/testdata/v31-refs.wat', '--profile', 'v31', '--arch', arch, '--trace', '--trace-limit', '40');
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /^trace \(blocks, limit 40\):\n {2}#0 {2}0x[0-9a-f]+ {2}\d+ bytes {2}array_to_wasm_trampoline\[v31-refs\.wat!4\]/m);
    t.regex(r.stdout, /-- safepoint in keep at 0x[0-9a-f]+ --\n {4}frame of keep\+0x[0-9a-f]+ \[v31-refs\.wat\] on /);
    // The collection at keep's first call of gc: keep's frame holds #0 (its argument) and #1 (the local).
    const gc = r.stdout.slice(r.stdout.indexOf('-- GC #1 (store-gc): 2 frame(s) walked --'));
    t.true(gc.length > 0, 'the first collection is in the trace');
    t.regex(gc, /REF \d+ +i32 @sp\+\d+ = 0x[0-9a-f]+ ExternRef, 24 bytes, count 1, host value "#1"/);
    t.regex(gc, /REF \d+ +i32 @sp\+\d+ = 0x[0-9a-f]+ ExternRef, 24 bytes, count 1, host value "#0"/);
    t.regex(r.stdout, /trace cut at 40 entries: \d+ more blocks ran unrecorded/);
    t.regex(r.stdout, /result: externref "#0" \(externref\)/);
    const j = await cli('run', 'cli/testdata/v31-refs.wat', '--profile', 'v31', '--arch', arch, '--json', '--trace=insn', '--trace-limit', '60');
    t.is(j.code, 0, j.stderr);
    const trace = JSON.parse(j.stdout).trace as { mode: string; entries: number; events: Array<{ type: string; frame?: { mappedWords: number; words: unknown[] } }> };
    t.is(trace.mode, 'insn');
    t.is(trace.entries, 60);
    const safepoint = trace.events.find((e) => e.type === 'safepoint');
    t.truthy(safepoint, 'main\'s first call is within the first 60 instructions');
    t.is(safepoint!.frame!.words.length, safepoint!.frame!.mappedWords + 2, 'every word from fp+8 down to sp');
  });

  test(`${arch}: run --profile v31 --cycles prices the invoked call; a model of the other arch is a usage error`, async (t) => {
    const r = await cli('run', 'cli/testdata/v31-refs.wat', '--profile', 'v31', '--arch', arch, '--cycles');
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /\ncycles: \d+ \(fast, [\w-]+\), IPC [\d.]+, CPI [\d.]+\n/);
    t.regex(r.stdout, /hot functions:\n(.*\n)*.*v31-refs\.wat!keep/);
    const j = await cli('run', 'cli/testdata/v31-refs.wat', '--profile', 'v31', '--arch', arch, '--cycles=detailed', '--json');
    t.is(j.code, 0, j.stderr);
    const cycles = JSON.parse(j.stdout).cycles as { mode: string; cycles: number; instructions: number };
    t.is(cycles.mode, 'detailed');
    t.true(cycles.cycles > 0 && cycles.instructions === JSON.parse(j.stdout).instructions, 'the report covers the invoked call, as the instruction count does');
    const other = await cli('run', 'cli/testdata/v31-refs.wat', '--profile', 'v31', '--arch', arch, '--cycles', '--uarch', arch === 'x64' ? 'neoverse-n2' : 'znver5');
    t.is(other.code, 2);
    t.is(other.stdout, '');
  });

  test(`${arch}: demo --profile v31 runs the teaching example in a v31 store; --html is a usage error`, async (t) => {
    const r = await cli('demo', '--arch', arch, '--profile', 'v31');
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, new RegExp(`== ${arch} ==\ncompiled \\(v31\\): \\d+-byte ELF image`));
    t.regex(r.stdout, new RegExp(`DRC collection on ${arch} \\(wasmtime v31\\): 3 frames, 3 precise roots, 3 freed`));
    for (const level of [0, 1, 2]) t.regex(r.stdout, new RegExp(`check\\(${level}\\): frame still holds "held by level ${level}" \\(count 2\\)`));
    t.regex(r.stdout, /descend returned 2\nback in the host, store\.gc\(\): 0 precise roots, 3 freed/);
    const html = await cli('run', 'cli/testdata/v31-refs.wat', '--profile', 'v31', '--arch', arch, '--html', 'never-written.html');
    t.is(html.code, 2);
    t.regex(html.stderr, /--html is not available with --profile v31/);
  });
}

for (const arch of ARCHES) {
  test(`${arch}: the same modes with --profile v44 (its store shares the DRC handles and the typed maps)`, async (t) => {
    const r = await cli('run', 'cli/testdata/v31-refs.wat', '--profile', 'v44', '--arch', arch, '--trace', '--trace-limit', '1000', '--cycles');
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /-- safepoint in keep at 0x[0-9a-f]+ --/);
    t.regex(r.stdout, /-- GC #1 \(store-gc\): 2 frame\(s\) walked --(.*\n)*.*REF \d+ +i32 @sp\+\d+ = 0x[0-9a-f]+ ExternRef, \d+ bytes, count \d+, host value "#1"/);
    t.regex(r.stdout, /\ncycles: \d+ \(fast, /);
    const multi = await cli('run', 'cli/testdata/multi-value.wat', '--profile', 'v44', '--arch', arch, '--invoke', 'check', '17', '5');
    t.is(multi.code, 0, multi.stderr);
    t.regex(multi.stdout, /^results: 3 \(i32\), 2 \(i32\), 17 \(i64\)\n/);
    const demo = await cli('demo', '--arch', arch, '--profile', 'v44');
    t.is(demo.code, 0, demo.stderr);
    t.regex(demo.stdout, new RegExp(`DRC collection on ${arch} \\(wasmtime v44\\): 1 stacks, 3 frames, 3 precise roots, 3 freed`));
  });
}
