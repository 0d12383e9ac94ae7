import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ARCHES } from '../isa/arch.ts';
import { compileModule, SECTION_STACKMAPS } from '../compiler/index.ts';
import { parseWat } from '../compiler/frontend/index.ts';
import { readElf } from '../loader/elf.ts';
import { gcCommand, GC_HELP } from './commands/gc.ts';
import { captureOutput } from './output.ts';
import { scratchDir } from './testing.ts';

const DEMO = fileURLToPath(new URL('../runtime/testdata/gc/cli-demo.wat', import.meta.url));
const CORRUPT = fileURLToPath(new URL('../runtime/testdata/gc/corrupt.wat', import.meta.url));

async function run(argv: string[]) {
  const out = captureOutput();
  const code = await gcCommand(argv, out);
  return { code, stdout: out.stdout.join('\n'), stderr: out.stderr.join('\n') };
}

interface JsonWord { bit: number; address: string; value: string; isRef: boolean }
interface JsonFrame {
  activation: number; index: number; kind: string; functionName?: string; pc: string; fp: string; sp?: string;
  frameSize?: number; map?: { bits: string; mappedWords: number; words: JsonWord[] };
}
interface JsonReport {
  reason: string; mode: string; swept: boolean; frames: number; roots: number; freedCount: number;
  freed: Array<{ value: string }>;
  explanation: {
    arch: string;
    activations: Array<{ exitPc: string; exitFp: string; entrySp: string }>;
    canary?: { found: boolean };
    frames: JsonFrame[];
    roots: Array<{ value: string; countAfter: number; sites: Array<{ functionName: string; frame: number }> }>;
    tableBefore: { overApproximated: string[]; bumpEntries: string[] };
    tableAfter: { overApproximated: string[]; bumpEntries: string[] };
    freed: Array<{ value: string }>;
  };
}
interface JsonOutput {
  arch: string; result: { value: string } | null; trap: { code: string } | null; error: unknown; prints: string[];
  gcs: Array<{ call: number; report: JsonReport }>;
}

for (const arch of ARCHES) {
  test(`${arch}: gc prints the result and a summary of the GC at env.gc`, async (t) => {
    const r = await run([DEMO, '--invoke', 'main', 'hello', '7', '--arch', arch]);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /^print: externref 0x[0-9a-f]+ -> "hello" 7$/m);
    t.regex(r.stdout, /^main\(hello, 7\) = externref 0x[0-9a-f]+ -> "ref 7"$/m);
    t.regex(r.stdout, /=== GC 1 at env\.gc \(v17 walk, v17 registry\) ===/);
    t.regex(r.stdout, /swept: 1 activation\(s\), 2 frames \(2 with maps\), 2 marked slots, 2 roots, 1 freed/);
    t.regex(r.stdout, /^activation 0: exit pc 0x[0-9a-f]+ {2}exit fp 0x[0-9a-f]+ {2}entry sp 0x[0-9a-f]+$/m);
    t.regex(r.stdout, /^ {2}a0 f0 {2}inner\+0x[0-9a-f]+ {2}pc 0x[0-9a-f]+ {2}fp 0x[0-9a-f]+ {2}sp 0x[0-9a-f]+ {2}frame \d+ bytes {2}bits [01]+$/m);
    t.regex(r.stdout, /^ {2}a0 f1 {2}main\+/m);
    t.regex(r.stdout, /^ {2}0x[0-9a-f]+ "hello" {2}count after 2 {2}in inner f0 0x[0-9a-f]+$/m);
    t.regex(r.stdout, /^freed \(1\):\n {2}0x[0-9a-f]+ "ref 99"$/m);
    // The first externref argument collected before entry (v17's empty first chunk), so the
    // three references are in the bump chunk by the time env.gc runs.
    t.regex(r.stdout, /^table before: 3 bump, 0 over-approximated$/m);
    t.regex(r.stdout, /^table after: {2}0 bump, 2 over-approximated$/m);
  });

  test(`${arch}: gc --explain draws every frame word; --json carries the same data`, async (t) => {
    const text = await run([DEMO, '--invoke', 'main', 'hello', '7', '--arch', arch, '--explain']);
    t.is(text.code, 0, text.stderr);
    t.regex(text.stdout, new RegExp(`GC on ${arch} \\(v17 walk, reason host, debug checks on\\): swept`));
    t.regex(text.stdout, /fp\+8 +\| 0x[0-9a-f]+ +\| return address/);
    t.regex(text.stdout, /sp\+\d+ +\| 0x[0-9a-f]+ +\| REF bit \d+ {2}-> "hello"/);
    t.regex(text.stdout, /Table before: chunk 0x[0-9a-f]+/);
    t.regex(text.stdout, /Freed \(1\):\n {2}0x[0-9a-f]+ "ref 99"/);

    const r = await run([DEMO, '--invoke', 'main', 'hello', '7', '--arch', arch, '--json']);
    t.is(r.code, 0, r.stderr);
    const json = JSON.parse(r.stdout) as JsonOutput;
    t.is(json.arch, arch);
    t.is(json.result!.value, '"ref 7"');
    t.is(json.trap, null);
    t.deepEqual(json.prints.map((p) => p.replace(/0x[0-9a-f]+/, 'P')), ['externref P -> "hello" 7', 'externref P -> "ref 7" 0']);
    t.is(json.gcs.length, 1);
    const report = json.gcs[0].report;
    t.is(report.reason, 'host');
    t.true(report.swept);
    t.is(report.frames, 2);
    t.is(report.roots, 2);
    t.deepEqual(report.freed.map((f) => f.value), ['"ref 99"']);
    const e = report.explanation;
    t.is(e.arch, arch);
    t.is(e.activations.length, 1);
    t.deepEqual(e.frames.map((f) => f.functionName), ['inner', 'main']);
    for (const f of e.frames) {
      t.regex(f.pc, /^0x[0-9a-f]+$/);
      t.is(BigInt(f.fp) - BigInt(f.sp!), BigInt(f.frameSize!));
      t.is(f.map!.words.length, f.map!.mappedWords);
      t.is(f.map!.bits, f.map!.words.map((w) => (w.isRef ? '1' : '0')).join(''));
      f.map!.words.forEach((w, i) => t.is(BigInt(w.address), BigInt(f.sp!) + BigInt(8 * i)));
    }
    t.deepEqual(new Set(e.roots.map((x) => x.value)), new Set(['"hello"', '"ref 7"']));
    t.true(e.roots.every((x) => x.sites.every((s) => s.functionName === 'inner')));
    t.is(e.tableBefore.overApproximated.length, 0);
    t.is(e.tableBefore.bumpEntries.length, 3);
    t.is(e.tableAfter.overApproximated.length, 2);
    t.deepEqual(e.freed.map((f) => f.value), ['"ref 99"']);
  });

  test(`${arch}: gc --walk canary --registry v0.22 finds the same roots and frees the same object`, async (t) => {
    const r = await run([DEMO, '--invoke', 'main', 'hello', '7', '--arch', arch, '--json', '--walk', 'canary', '--registry', 'v0.22']);
    t.is(r.code, 0, r.stderr);
    const report = (JSON.parse(r.stdout) as JsonOutput).gcs[0].report;
    t.is(report.mode, 'canary');
    t.true(report.explanation.canary!.found);
    t.true(report.swept);
    t.is(report.roots, 2);
    t.deepEqual(report.freed.map((f) => f.value), ['"ref 99"']);
    // The unwinder also sees the trampolines and the host entry; the two Wasm frames have maps.
    t.deepEqual(report.explanation.frames.filter((f) => f.map).map((f) => f.functionName), ['inner', 'main']);
    t.true(report.explanation.frames.some((f) => f.kind === 'host-entry'));
    const text = await run([DEMO, '--invoke', 'main', 'hello', '7', '--arch', arch, '--walk', 'canary', '--registry', 'v0.22']);
    t.regex(text.stdout, /=== GC 1 at env\.gc \(canary walk, v0\.22 registry\) ===/);
    t.regex(text.stdout, /^canary 0x[0-9a-f]+: found$/m);
  });

  test(`${arch}: gc exits 1 on a guest trap, after printing the GC that ran before it`, async (t) => {
    const r = await run([DEMO, '--invoke', 'boom', 'x', '--arch', arch]);
    t.is(r.code, 1);
    t.regex(r.stderr, /^stackscope gc: guest trap: wasm trap: wasm `unreachable` instruction executed/);
    t.regex(r.stdout, /=== GC 1 at env\.gc/);
    const j = await run([DEMO, '--invoke', 'boom', 'null', '--arch', arch, '--json']);
    t.is(j.code, 1);
    const json = JSON.parse(j.stdout) as JsonOutput;
    t.is(json.trap!.code, 'UnreachableCodeReached');
    t.is(json.gcs.length, 1);
  });

  test(`${arch}: gc --at-host names another import; several GCs are numbered`, async (t) => {
    const dir = scratchDir('gc-');
    const twice = join(dir, 'twice.wat');
    writeFileSync(twice, `(module (import "env" "checkpoint" (func $c (param i32)))
      (func (export "f") (param $r externref) (result externref)
        (call $c (i32.const 1)) (call $c (i32.const 2)) (local.get $r)))`);
    const r = await run([twice, '--invoke', 'f', 'kept', '--arch', arch, '--at-host', 'checkpoint']);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /=== GC 1 at env\.checkpoint[^]*=== GC 2 at env\.checkpoint/);
    t.regex(r.stdout, /^f\(kept\) = externref 0x[0-9a-f]+ -> "kept"$/m);
    // The i64 of corrupt.wat's `mixed` sits in an unmarked word next to the two marked refs.
    const m = await run([CORRUPT, '--invoke', 'mixed', 'a', '0x1235', 'b', '--arch', arch, '--json']);
    t.is(m.code, 0, m.stderr);
    const json = JSON.parse(m.stdout) as JsonOutput;
    t.is(json.result as unknown, '4661');
    t.is(json.gcs[0].report.roots, 2);
    const x = json.gcs[0].report.explanation.frames[0].map!.words.find((w) => w.value === '0x1235');
    t.false(x!.isRef, 'the i64 word is not a reference');
  });
}

for (const arch of ARCHES) {
  test(`${arch}: gc on an image whose stack-map bytes were corrupted exits 1 with GcInvariantError`, async (t) => {
    const dir = scratchDir('gc-');
    const elf = compileModule(await parseWat(readFileSync(CORRUPT, 'utf8')), { arch }).elf;
    const clean = join(dir, 'clean.o');
    writeFileSync(clean, elf);
    const argv = ['--invoke', 'mixed', 'a', '0x1235', 'b', '--arch', arch, '--json'];
    const ok = await run([clean, ...argv]);
    t.is(ok.code, 0, ok.stderr);
    const words = (JSON.parse(ok.stdout) as JsonOutput).gcs[0].report.explanation.frames[0].map!.words;
    const xWord = words.findIndex((w) => w.value === '0x1235');
    t.true(xWord >= 0 && !words[xWord].isRef);
    // .stackscope.stackmaps: magic, count, then one 28-byte record header (mapped_words last)
    // and the bitmap words for `mixed`'s only call site.
    const section = readElf(elf, 'clean.o').sections.find((s) => s.name === SECTION_STACKMAPS)!;
    const base = Number(section.offset);
    const view = new DataView(elf.buffer, elf.byteOffset);
    t.is(view.getUint32(base + 4, true), 1);
    const mappedWordsAt = base + 8 + 24;
    t.is(view.getUint32(mappedWordsAt, true), words.length);
    const corruptions: Array<[string, (bytes: Uint8Array) => void]> = [
      ['flipped bit', (b) => { b[mappedWordsAt + 4 + 4 * (xWord >> 5) + ((xWord & 31) >> 3)] ^= 1 << (xWord & 7); }],
      ['frame size off by one', (b) => {
        // Pick the direction that moves a marked bit onto x (one always exists: x sits between refs).
        const shift = words[xWord + 1]?.isRef ? -1 : 1;
        new DataView(b.buffer, b.byteOffset).setUint32(mappedWordsAt, words.length - shift, true);
      }],
    ];
    for (const [name, corrupt] of corruptions) {
      const bytes = Uint8Array.from(elf);
      corrupt(bytes);
      const badPath = join(dir, 'bad.o');
      writeFileSync(badPath, bytes);
      const bad = await run([badPath, ...argv]);
      t.is(bad.code, 1, `${name}: ${bad.stderr}`);
      t.regex(bad.stderr, /^stackscope gc: GcInvariantError: GC invariant root-not-in-table: value 0x1235 in mixed/, name);
      const json = JSON.parse(bad.stdout) as JsonOutput;
      t.deepEqual(json.error, { name: 'GcInvariantError', message: (json.error as { message: string }).message });
      t.is(json.gcs.length, 0, 'the failed collection produced no report');
    }
  });
}

test('gc usage and input errors exit 2 with a message; --help prints GC_HELP', async (t) => {
  const dir = scratchDir('gc-');
  const bad = join(dir, 'bad.wat');
  writeFileSync(bad, '(module (func (export "f") i32.add))');
  const otherImport = join(dir, 'other.wat');
  writeFileSync(otherImport, '(module (import "env" "gc" (func)) (import "env" "clock" (func (result i64))) (func (export "f")))');
  const noGc = join(dir, 'nogc.wat');
  writeFileSync(noGc, '(module (func (export "f")))');
  const cases: Array<[string[], RegExp]> = [
    [[DEMO], /--invoke NAME is required/],
    [['--invoke', 'main'], /give a module file/],
    [[DEMO, '--invoke', 'main', 'a', '1', '--arch', 'mips'], /unknown architecture 'mips'/],
    [[DEMO, '--invoke', 'main', 'a'], /--invoke main: takes 2 argument\(s\) \(externref, i32\) -> \(externref\), got 1/],
    [[DEMO, '--invoke', 'main', 'a', 'seven'], /--invoke main argument 2 \(i32\): 'seven' is not an integer/],
    [[DEMO, '--invoke', 'main', 'a', '0x100000000'], /--invoke main argument 2 \(i32\): '0x100000000' does not fit in 32 bits/],
    [[DEMO, '--invoke', 'main', 'a', '-2147483649'], /--invoke main argument 2 \(i32\): '-2147483649' does not fit in 32 bits/],
    [[DEMO, '--invoke', 'nope'], /--invoke nope: .*exports no function of that name \(exports: main, boom\)/],
    [[DEMO, '--invoke', 'main', '--walk', 'sideways'], /--walk: 'sideways' is not v17 or canary/],
    [[DEMO, '--invoke', 'main', '--registry', 'v9'], /--registry: 'v9' is not v17 or v0\.22/],
    [[DEMO, '--invoke', 'main', '--frobnicate'], /unknown option --frobnicate/],
    [[join(dir, 'missing.wat'), '--invoke', 'f'], /cannot read/],
    [[bad, '--invoke', 'f'], /^stackscope gc: \S*bad\.wat:1:\d+: validation error: /],
    [[otherImport, '--invoke', 'f'], /import env\.clock: not provided/],
    [[noGc, '--invoke', 'f'], /does not import env\.gc/],
  ];
  for (const [argv, message] of cases) {
    const r = await run(argv);
    t.is(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, message, argv.join(' '));
  }
  const help = await run(['--help']);
  t.is(help.code, 0);
  t.is(help.stdout, GC_HELP);
  t.regex(GC_HELP, /exit codes: 0 ok, 1 guest trap/);
});
