/**
 * `stackscope run` on Wasm modules and compiled images, on both arches: results, host imports,
 * --gc-explain, --trace (blocks and instructions, bounded, frames at safepoints and GCs),
 * traps (exit 1) and bad input (exit 2, naming what and where).
 */
import test from 'ava';
import { ARCHES } from '../isa/arch.ts';
import { compileC } from '../loader/test-toolchain.ts';
import { loadWat, watToBinary } from '../compiler/frontend/index.ts';
import { TEACHING_WAT, cli, scratchFile, scratchPath } from './testing.ts';
import { sumLoopWat, sumOfSquares } from '../runtime/testing.ts';
import { describeHost, detectHost } from '../simulator/timing/host.ts';

const wat = scratchFile('teaching.wat', TEACHING_WAT);

for (const arch of ARCHES) {
  test(`${arch}: run --invoke with i32 and i64 arguments, text and JSON`, async (t) => {
    let r = await cli('run', wat, '--arch', arch, '--invoke', 'fib', '10');
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /^result: 55 \(i32\)\ninstructions: \d+$/);
    r = await cli('run', wat, '--arch', arch, '--invoke', 'scale', '-0x10', '--json');
    t.is(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    t.is(j.arch, arch);
    t.deepEqual(j.invoke, { name: 'scale', args: [{ type: 'i64', value: '-16' }] });
    t.deepEqual(j.result, { type: 'i64', value: '48' });
    t.deepEqual(j.output, ['print_i64: 48']);
    t.is(j.trap, null);
    t.deepEqual(j.gcs, []);
    t.true(j.instructions > 10);
  });

  test(`${arch}: run prints every result of a multi-value function, text and JSON, in both regalloc modes`, async (t) => {
    const mv = new URL('./testdata/multi-value.wat', import.meta.url).pathname;
    for (const regalloc of ['none', 'linear-scan']) {
      let r = await cli('run', mv, '--arch', arch, '--regalloc', regalloc, '--invoke', 'check', '17', '5');
      t.is(r.code, 0, r.stderr);
      t.regex(r.stdout, /^results: 3 \(i32\), 2 \(i32\), 17 \(i64\)\ninstructions: \d+$/);
      r = await cli('run', mv, '--arch', arch, '--regalloc', regalloc, '--invoke', 'dup', '-4', '--json');
      t.is(r.code, 0, r.stderr);
      t.deepEqual(JSON.parse(r.stdout).result, [{ type: 'i64', value: '-4' }, { type: 'i64', value: '-4' }]);
    }
  });

  test(`${arch}: an empty file is a malformed binary (exit 2), not an empty text module`, async (t) => {
    const empty = scratchFile('empty.wasm', new Uint8Array(0));
    for (const command of ['run', 'compile']) {
      const r = await cli(command, empty, '--arch', arch, ...(command === 'compile' ? ['--print'] : []));
      t.is(r.code, 2, `${command}: ${r.stderr}`);
      t.regex(r.stderr, /empty\.wasm: malformed error: empty input: a Wasm binary starts with the magic header/);
    }
  });

  test(`${arch}: a negative --timeout or --budget is a usage error, not a limit of 2^64 − n`, async (t) => {
    for (const flags of [['--timeout', '-5'], ['--budget', '-1'], ['--timeout', ' -0x10']]) {
      const r = await cli('run', wat, '--arch', arch, '--invoke', 'fib', '10', ...flags);
      t.is(r.code, 2, flags.join(' '));
      t.regex(r.stderr, new RegExp(`${flags[0]}: .* is negative`));
    }
    const r = await cli('run', wat, '--arch', arch, '--invoke', 'fib', '10', '--timeout', '0', '--budget', '0');
    t.is(r.code, 0, r.stderr);
  });

  test(`${arch}: WAT nested past the parser's limit is exit 2 at its line:column; a 120-case br_table switch within it runs`, async (t) => {
    const deep = scratchFile(`deep-${arch}.wat`, `(module\n  (func (export "f")\n${'    block\n'.repeat(180)}${'end '.repeat(180)}))`);
    let r = await cli('run', deep, '--arch', arch, '--invoke', 'f');
    t.is(r.code, 2);
    t.regex(r.stderr, new RegExp(`deep-${arch}\\.wat:129:5: limit error: nesting deeper than 128`));
    const cases = 120;
    let body = `${'block '.repeat(cases)}local.get 0 br_table ${Array.from({ length: cases }, (_, i) => i).join(' ')}\n`;
    for (let k = 0; k < cases; k++) body += `end i32.const ${100 + k} return\n`;
    const sw = scratchFile(`switch-${arch}.wat`, `(module (func (export "pick") (param i32) (result i32)\n${body}))`);
    for (const [arg, want] of [['57', 157], ['0', 100], ['999', 219]] as const) {
      r = await cli('run', sw, '--arch', arch, '--invoke', 'pick', arg);
      t.is(r.code, 0, r.stderr);
      t.regex(r.stdout, new RegExp(`^result: ${want} \\(i32\\)`));
    }
  });

  test(`${arch}: default entry main, every host import, and a GC explained`, async (t) => {
    let r = await cli('run', wat, '--arch', arch);
    t.is(r.code, 0, r.stderr);
    t.deepEqual(r.stdout.split('\n').slice(0, 4), ['print_i32: 13', 'print_externref: "#5"', 'print_externref: "#5"', 'result: (none)']);
    // As in wasmtime v17, the table's chunk is empty until the first sweep: new_ref's externref
    // result collects ('table-full') before it goes to Wasm, then hold calls env.gc.
    t.regex(r.stdout, /gc: 2 collection\(s\) ran \(--gc-explain shows them\)/);
    r = await cli('run', wat, '--arch', arch, '--invoke', 'hold', 'hello', 'null', '--gc-explain');
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /result: externref "hello" \(externref\)/);
    // The externref argument collects before entering Wasm (no frames yet); env.gc is the second.
    t.regex(r.stdout, /== GC #1 ==\nGC on .* reason table-full, .* swept; 0 frames \(0 with maps\), 0 marked slots, 0 roots, 0 freed/);
    t.regex(r.stdout, /== GC #2 ==\nGC on .* reason store-gc, .* swept; 1 frames \(1 with maps\), 2 marked slots, 1 roots, 0 freed/);
    t.regex(r.stdout, /REF bit 1 {2}-> "hello"/);
    t.regex(r.stdout, /REF bit 2 {2}null/);
    const j = JSON.parse((await cli('run', wat, '--arch', arch, '--invoke', 'hold', 'hello', 'null', '--gc-explain', '--json')).stdout);
    t.deepEqual(j.result, { type: 'externref', value: '"hello"' });
    t.deepEqual(j.gcs.map((g: { reason: string }) => g.reason), ['table-full', 'store-gc']);
    const frame = j.gcs[1].explanation.frames[0];
    t.is(frame.functionName, 'hold');
    t.is(frame.map.bits, '011000');
    t.is(frame.map.words[1].hostValue, '"hello"');
    // Without --gc-explain the report is summarised (no explanation).
    const plain = JSON.parse((await cli('run', wat, '--arch', arch, '--invoke', 'hold', 'a', 'b', '--json')).stdout);
    t.deepEqual(plain.gcs.map((g: { reason: string }) => g.reason), ['table-full', 'store-gc']);
    t.is(plain.gcs[1].explanation, undefined);
    t.is(plain.gcs[1].roots, 2);
  });

  test(`${arch}: a trap is exit 1 with code, pc, instruction and backtrace`, async (t) => {
    let r = await cli('run', wat, '--arch', arch, '--invoke', 'boom', '0');
    t.is(r.code, 1);
    t.regex(r.stdout, new RegExp(`^trap: IntegerDivisionByZero at 0x[0-9a-f]+: ${arch === 'x64' ? 'ud2' : 'udf'}`));
    t.regex(r.stdout, /#0 0x[0-9a-f]+ teaching\.wat!boom\+0x[0-9a-f]+/);
    r = await cli('run', wat, '--arch', arch, '--invoke', 'boom', '0', '--json');
    t.is(r.code, 1);
    const j = JSON.parse(r.stdout);
    t.is(j.result, null);
    t.is(j.trap.code, 'IntegerDivisionByZero');
    t.regex(j.trap.message, /^integer divide by zero/);
    t.regex(j.trap.instruction, arch === 'x64' ? /^ud2$/ : /^udf #0x[0-9a-f]+$/);
    t.regex(j.trap.pc, /^0x[0-9a-f]+$/);
    t.is(j.trap.backtrace[0].pc, j.trap.pc);
    t.regex(j.trap.backtrace[0].symbol, /boom/);
    t.is((await cli('run', wat, '--arch', arch, '--invoke', 'boom', '2')).code, 0);
  });

  test(`${arch}: a compiled image runs like its source; its arch is its own`, async (t) => {
    const obj = scratchPath(`teaching.${arch}.o`);
    const c = await cli('compile', wat, '--arch', arch, '-o', obj);
    t.is(c.code, 0, c.stderr);
    const r = await cli('run', obj, '--invoke', 'fib', '12', '--json');
    t.is(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    t.is(j.arch, arch);
    t.deepEqual(j.result, { type: 'i32', value: 144 });
    const other = arch === 'x64' ? 'aarch64' : 'x64';
    const bad = await cli('run', obj, '--arch', other, '--invoke', 'fib', '1');
    t.is(bad.code, 2);
    t.regex(bad.stderr, new RegExp(`--arch ${other}: .*teaching\\.${arch}\\.o is an image compiled for ${arch}`));
    // Trace safepoints come from the image's stack-map section (no slot names without the compiler's layout).
    const tr = JSON.parse((await cli('run', obj, '--invoke', 'hold', 'x', 'null', '--trace', '--json')).stdout);
    const sp = tr.trace.events.find((e: { type: string }) => e.type === 'safepoint');
    t.is(sp.frame.functionName, 'hold');
    t.is(sp.frame.bits, '011000');
  });

  test(`${arch}: --trace records blocks, register changes, writes, safepoint and GC frames`, async (t) => {
    const r = await cli('run', wat, '--arch', arch, '--invoke', 'hold', 'hello', 'null', '--trace', '--json');
    t.is(r.code, 0, r.stderr);
    const trace = JSON.parse(r.stdout).trace;
    t.is(trace.mode, 'block');
    t.is(trace.limit, 10000);
    t.false(trace.truncated);
    const blocks = trace.events.filter((e: { type: string }) => e.type === 'block');
    t.is(blocks.length, trace.entries);
    t.true(blocks.some((b: { symbol: string | null }) => /hold\+0x0$/.test(b.symbol ?? '')));
    t.true(blocks.some((b: { changed: Record<string, string> }) => Object.keys(b.changed).includes(arch === 'x64' ? 'rsp' : 'sp')));
    t.true(blocks.some((b: { writes: unknown[] }) => b.writes.length > 0));
    // The safepoint before `call $gc` and the GC's walk show the same frame and the same roots.
    const safepoint = trace.events.find((e: { type: string }) => e.type === 'safepoint').frame;
    // The first GC event is the 'table-full' collection before entry (the externref argument,
    // as v17 with its empty first chunk); the one at `call $gc` is the second.
    const gcs = trace.events.filter((e: { type: string }) => e.type === 'gc');
    t.deepEqual(gcs.map((e: { reason: string; frames: unknown[] }) => [e.reason, e.frames.length]), [['table-full', 0], ['store-gc', 1]]);
    const gc = gcs[1];
    const walked = gc.frames[0];
    t.is(safepoint.at, 'safepoint');
    t.is(walked.at, 'gc');
    t.is(safepoint.fp, walked.fp);
    t.is(safepoint.sp, walked.sp);
    t.is(safepoint.returnAddress, walked.returnAddress);
    const refs = (f: { words: Array<{ isRef: boolean; offset: string; slot: string; gcRead?: string }> }) => f.words.filter((w) => w.isRef);
    t.deepEqual(refs(safepoint).map((w) => [w.offset, w.slot]), [['sp+16', 'local 1 (param)'], ['sp+8', 'local 0 (param)']]);
    t.deepEqual(refs(walked).map((w) => w.offset), ['sp+16', 'sp+8']);
    t.regex(refs(safepoint)[1].gcRead!, /^root 0x[0-9a-f]+ = "hello"$/);
    t.regex(refs(walked)[1].gcRead!, /^root 0x[0-9a-f]+ = "hello" \(in table\)$/);
    t.is(refs(walked)[0].gcRead, 'null (skipped)');
    t.deepEqual(safepoint.words.slice(0, 2).map((w: { offset: string }) => w.offset), ['fp+8', 'fp+0']);
  });

  test(`${arch}: --trace=insn disassembles, and --trace-limit cuts the trace and says so`, async (t) => {
    const r = await cli('run', wat, '--arch', arch, '--invoke', 'fib', '3', '--trace=insn', '--trace-limit', '40');
    t.is(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    t.is(lines[0], 'trace (instructions, limit 40):');
    t.is(lines.filter((l) => /^ {2}#\d+ {2}0x/.test(l)).length, 40);
    t.regex(r.stdout, arch === 'x64' ? /#0 {2}0x[0-9a-f]+ {2}push rbp/ : /#0 {2}0x[0-9a-f]+ {2}stp x29, x30/);
    t.regex(r.stdout, /trace cut at 40 entries: \d+ more instructions ran unrecorded \(--trace-limit N\)/);
    t.regex(r.stdout, /result: 2 \(i32\)/);
    const full = JSON.parse((await cli('run', wat, '--arch', arch, '--invoke', 'fib', '3', '--trace=insn', '--json')).stdout);
    t.false(full.trace.truncated);
    // Every instruction the run executed outside the host gateway is in the trace.
    t.true(full.trace.entries >= full.instructions - 10 && full.trace.entries <= full.instructions + 10, `${full.trace.entries} vs ${full.instructions}`);
    const calls = full.trace.events.filter((e: { type: string; text?: string }) => e.type === 'insn' && /^(call|bl) /.test(e.text ?? ''));
    t.true(calls.length >= 4);
    t.is(full.trace.events.filter((e: { type: string }) => e.type === 'safepoint').length, 4, 'fib(3) makes four Wasm calls with stack maps');
    // Block mode: a cut trace accounts for every block of the full one; the cut entry keeps its changes.
    const blocks = JSON.parse((await cli('run', wat, '--arch', arch, '--invoke', 'fib', '3', '--trace', '--json')).stdout).trace;
    const cut = JSON.parse((await cli('run', wat, '--arch', arch, '--invoke', 'fib', '3', '--trace', '--trace-limit', '2', '--json')).stdout).trace;
    t.false(blocks.truncated);
    t.is(cut.entries, 2);
    t.is(cut.entries + cut.dropped, blocks.entries);
    t.deepEqual(cut.events.slice(0, 2), blocks.events.slice(0, 2));
  });
}

/** The cycle-model workload, printing n through env.print_i32 first. */
const loopWat = scratchFile('loop.wat', sumLoopWat('print_i32'));

interface CyclesJson {
  mode: string; uarch: string; cycles: number; instructions: number; ipc: number;
  stack: { base: number; dependency: number; branch: number; memory: number };
  functions: Array<{ name: string; share: number }>;
  blocks: Array<{ address: string; symbol: string | null; executions: number }>;
  branches?: { conditional: number };
}

for (const arch of ARCHES) {
  for (const mode of ['fast', 'detailed'] as const) {
    test(`${arch}: run --cycles=${mode} on a Wasm module: the invoked call's cycles, text and JSON`, async (t) => {
      const flag = mode === 'fast' ? '--cycles' : '--cycles=detailed';
      const r = await cli('run', loopWat, '--arch', arch, '--invoke', 'outer', '2000', flag, '--json');
      t.is(r.code, 0, r.stderr);
      const j = JSON.parse(r.stdout);
      t.deepEqual(j.output, ['print_i32: 2000']);
      const c = j.cycles as CyclesJson;
      t.is(c.mode, mode);
      t.is(c.uarch, arch === 'x64' ? 'skylake' : 'neoverse-n2');
      t.is(c.instructions, j.instructions, 'the report covers the instructions the run executed');
      t.true(c.instructions > 2000 * 4);
      t.true(c.cycles > 0);
      const parts = c.stack.base + c.stack.dependency + c.stack.branch + c.stack.memory;
      t.true(Math.abs(parts - c.cycles) <= 1e-9 * c.cycles, `CPI stack ${parts} vs ${c.cycles}`);
      t.is(c.functions[0].name, 'loop.wat!sum');
      t.true(c.functions[0].share > 0.9);
      t.regex(c.blocks[0].symbol ?? '', /^loop\.wat!sum\+0x[0-9a-f]+$/);
      t.regex(c.blocks[0].address, /^0x[0-9a-f]+$/);
      t.true(c.blocks[0].executions >= 2000);
      if (mode === 'detailed') t.true(c.branches!.conditional >= 2000);
      else t.is(c.branches, undefined);
      // Text: the same numbers after the result.
      const text = await cli('run', loopWat, '--arch', arch, '--invoke', 'outer', '2000', flag);
      t.is(text.code, 0, text.stderr);
      const lines = text.stdout.split('\n');
      t.deepEqual(lines.slice(0, 3), ['print_i32: 2000', `result: ${sumOfSquares(2000)} (i32)`, `instructions: ${j.instructions}`]);
      t.is(lines[3], `cycles: ${Math.round(c.cycles)} (${mode}, ${c.uarch}), IPC ${c.ipc.toFixed(2)}, CPI ${(c.cycles / c.instructions).toFixed(3)}`);
      t.regex(text.stdout, /\nCPI stack: base \d+\.\d{3}, dependency \d+\.\d{3}, branch \d+\.\d{3}, memory \d+\.\d{3}\n/);
      t.regex(text.stdout, /\nhot functions:\n +\d+\.\d % +\d+ cycles {2}loop\.wat!sum\n/);
      t.regex(text.stdout, /\nhot blocks:\n +\d+\.\d % +\d+ cycles {2}0x[0-9a-f]+ loop\.wat!sum\+0x[0-9a-f]+ {2}×\d+/);
    });
  }

  test(`${arch}: --cycles on an example run by its driver adds up all the driver's calls`, async (t) => {
    const plain = JSON.parse((await cli('run', 'examples/fib', '--arch', arch, '--json')).stdout);
    const r = await cli('run', 'examples/fib', '--arch', arch, '--cycles', '--json');
    t.is(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    t.deepEqual(j.output, plain.output, 'counting cycles changes nothing the driver prints');
    t.is(plain.cycles, undefined);
    const c = j.cycles as CyclesJson;
    t.is(c.mode, 'fast');
    // fib and fib_iter are called by separate entries from the driver: both are in the one report.
    const names = c.functions.map((f) => f.name);
    t.true(names.includes('fib.wat!fib') && names.includes('fib.wat!fib_iter'), names.join(', '));
    const parts = c.stack.base + c.stack.dependency + c.stack.branch + c.stack.memory;
    t.true(Math.abs(parts - c.cycles) <= 1e-9 * c.cycles);
    const text = await cli('run', 'examples/fib', '--arch', arch, '--cycles=detailed');
    t.is(text.code, 0, text.stderr);
    t.true(text.stdout.startsWith(plain.output.join('\n') + '\n'), 'the report follows the driver\'s output');
    t.regex(text.stdout, /\ncycles: \d+ \(detailed, (skylake|neoverse-n2)\), IPC \d+\.\d\d, CPI \d+\.\d{3}\n/);
    t.regex(text.stdout, /\nbranches: \d+ of \d+ conditional/);
  });

  test(`${arch}: --cycles --uarch on a compiled image and on a trap`, async (t) => {
    const obj = scratchPath(`loop.${arch}.o`);
    const c = await cli('compile', loopWat, '--arch', arch, '-o', obj);
    t.is(c.code, 0, c.stderr);
    const uarch = arch === 'x64' ? 'zen3' : 'a72';
    const j = JSON.parse((await cli('run', obj, '--invoke', 'sum', '300', '--cycles', '--uarch', uarch, '--json')).stdout);
    t.is(j.result.value, sumOfSquares(300));
    t.is(j.cycles.uarch, arch === 'x64' ? 'znver3' : 'cortex-a72');
    t.is(j.cycles.instructions, j.instructions);
    t.is(j.cycles.functions[0].name, `loop.${arch}.o!sum`);
    // A trapping call still reports the cycles it ran (exit 1).
    const trap = await cli('run', wat, '--arch', arch, '--invoke', 'boom', '0', '--cycles=detailed', '--json');
    t.is(trap.code, 1);
    const tj = JSON.parse(trap.stdout);
    t.is(tj.trap.code, 'IntegerDivisionByZero');
    t.true(tj.cycles.cycles > 0);
    t.true(tj.cycles.functions.some((f: { name: string }) => f.name === 'teaching.wat!boom'));
    // The other arch's model is a usage error, for a module and for an image.
    const other = arch === 'x64' ? 'a72' : 'skylake';
    const bad = await cli('run', loopWat, '--arch', arch, '--invoke', 'sum', '3', '--cycles', '--uarch', other);
    t.is(bad.code, 2);
    t.regex(bad.stderr, new RegExp(`^stackscope run: ${other}: models ${arch === 'x64' ? 'aarch64' : 'x64'}, the module runs on ${arch}$`));
    const badImage = await cli('run', obj, '--invoke', 'sum', '3', '--cycles', '--uarch', other);
    t.is(badImage.code, 2);
    t.regex(badImage.stderr, new RegExp(`${other}: models .*, .*loop\\.${arch}\\.o is an image compiled for ${arch}$`));
  });
}


for (const arch of ARCHES) {
  test(`${arch}: run on ELF objects keeps --entry/--args and traces them too`, async (t) => {
    const obj = compileC(arch, 'long tri(long n) { long s = 0; for (long i = 1; i <= n; i++) s += i; return s; }', ['-O1']);
    const r = await cli('run', obj.path, '--entry', 'tri', '--args', '4', '--trace', '--json');
    t.is(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    t.is(j.signed, '10');
    const blocks = j.trace.events.filter((e: { type: string }) => e.type === 'block');
    t.true(blocks.length >= 4, 'entry, loop iterations and exit');
    t.regex(blocks[0].symbol, /^tri/);
    t.true(blocks.some((b: { changed: Record<string, string> }) => Object.values(b.changed).includes('0xa')), 'the sum 10 appears in a register');
    const text = await cli('run', obj.path, '--entry', 'tri', '--args', '4', '--trace=insn', '--trace-limit', '3');
    t.regex(text.stdout, /trace cut at 3 entries/);
    t.regex(text.stdout, /result: 10 /);
    const bad = await cli('run', obj.path, '--entry', 'tri', '--gc-explain');
    t.is(bad.code, 2);
    t.regex(bad.stderr, /--gc-explain applies to Wasm modules/);
  });
}

test('run: a .wasm binary, WAT without its extension, and a budget', async (t) => {
  await loadWat();
  const binary = scratchFile('teaching.wasm', watToBinary(TEACHING_WAT, 'teaching.wat').bytes);
  let r = await cli('run', binary, '--invoke', 'fib', '9', '--arch', 'aarch64');
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^result: 34 \(i32\)/);
  r = await cli('run', scratchFile('teaching-text', TEACHING_WAT), '--invoke', 'fib', '9');
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^result: 34 \(i32\)/);
  // The budget counts guest instructions; running out is a guest trap (exit 1) with a backtrace.
  r = await cli('run', wat, '--invoke', 'fib', '25', '--budget', '1000', '--json');
  t.is(r.code, 1);
  const j = JSON.parse(r.stdout);
  t.is(j.trap.code, 'budget-exhausted');
  t.regex(j.trap.backtrace[0].symbol, /fib\+0x/);
  t.true(j.trap.backtrace.length > 5);
});

test('run: WAT without its extension is found as the API finds it: leading whitespace, ;; and (; ;) comments', async (t) => {
  for (const [name, head] of [
    ['block-comment', '(; a block comment (; nested ;) ;)\n'],
    ['whitespace', '\n\n   \t'],
    ['both', ';; a line comment\n  (; block ;)  '],
  ]) {
    const r = await cli('run', scratchFile(`teaching-${name}`, head + TEACHING_WAT), '--invoke', 'fib', '9');
    t.is(r.code, 0, `${name}: ${r.stderr}`);
    t.regex(r.stdout, /^result: 34 \(i32\)/, name);
  }
  // Anything else without an extension is not a module: the ELF path says so.
  const r = await cli('run', scratchFile('not-a-module', 'hello (module)'), '--entry', 'f');
  t.is(r.code, 2);
  t.notRegex(r.stderr, /syntax error/);
});

test('compile errors print FILE:line:col: message (the path as given) on every command that compiles', async (t) => {
  const bad = scratchFile('compile-error.wat', '(module\n  (func (export "f") (result i32)\n    i64.const 1))\n');
  const badBinary = scratchFile('compile-error.wasm', 'zzzz');
  const where = `${bad}:3:5: validation error: type mismatch`;
  for (const [argv, line] of [
    [['run', bad, '--invoke', 'f'], `stackscope run: ${where}`],
    [['explain', bad, '--at', 'f'], `stackscope explain: ${where}`],
    [['gc', bad, '--invoke', 'f'], `stackscope gc: ${where}`],
    [['compile', bad, '--arch', 'x64', '--print'], `stackscope compile: ${where}`],
    [['layout', bad], `stackscope layout: ${where}`],
    [['run', badBinary, '--invoke', 'f'], `stackscope run: ${badBinary}: malformed error: magic header not detected`],
    [['compile', badBinary, '--arch', 'aarch64', '--print'], `stackscope compile: ${badBinary}: malformed error: magic header not detected`],
    [['layout', badBinary], `stackscope layout: ${badBinary}: malformed error: magic header not detected`],
  ] as const) {
    const r = await cli(...argv);
    t.is(r.code, 2, argv.join(' '));
    t.true(r.stderr.startsWith(line), `${argv.join(' ')}: ${r.stderr}`);
  }
});

test('run and gc read --invoke arguments by one rule: an i32 out of range is exit 2 naming the argument', async (t) => {
  const module = scratchFile('invoke-args.wat', '(module (import "env" "gc" (func)) (func (export "f") (param i32 i64) (result i32) (call 0) (local.get 0)))');
  for (const command of ['run', 'gc']) {
    for (const [value, error] of [
      ['4294967296', /--invoke f argument 1 \(i32\): '4294967296' does not fit in 32 bits/],
      ['-2147483649', /--invoke f argument 1 \(i32\): '-2147483649' does not fit in 32 bits/],
      ['1x', /--invoke f argument 1 \(i32\): '1x' is not an integer/],
    ] as const) {
      const r = await cli(command, module, '--invoke', 'f', value, '0');
      t.is(r.code, 2, `${command} ${value}: ${r.stderr}`);
      t.regex(r.stderr, error, `${command} ${value}`);
    }
    const big = await cli(command, module, '--invoke', 'f', '1', '0x10000000000000000');
    t.is(big.code, 2, command);
    t.regex(big.stderr, /--invoke f argument 2 \(i64\): '0x10000000000000000' does not fit in 64 bits/, command);
    // Both ends of the range are accepted the same way: 0xffffffff is -1, -2147483648 itself.
    for (const [value, shown] of [['0xffffffff', '-1'], ['-2147483648', '-2147483648']]) {
      const r = await cli(command, module, '--invoke', 'f', value, '0');
      t.is(r.code, 0, `${command} ${value}: ${r.stderr}`);
      t.regex(r.stdout, command === 'run' ? new RegExp(`result: ${shown} \\(i32\\)`) : new RegExp(`= ${shown}$`, 'm'), `${command} ${value}`);
    }
  }
});

test('run provides stackscope gc\'s host imports too (env.ref, env.print and env.gc with any parameters)', async (t) => {
  const gcStyle = scratchFile('gc-style.wat', `(module
  (import "env" "ref" (func $ref (param i32) (result externref)))
  (import "env" "print" (func $print (param i32 externref)))
  (import "env" "gc" (func $gc (param i32)))
  (func (export "go") (param $n i32) (result i32)
    (local $r externref)
    (local.set $r (call $ref (local.get $n)))
    (call $gc (i32.const 1))
    (call $print (local.get $n) (local.get $r))
    (local.get $n)))`);
  for (const arch of ARCHES) {
    const r = await cli('run', gcStyle, '--arch', arch, '--invoke', 'go', '7', '--json');
    t.is(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    t.deepEqual(j.output, ['print: 7 externref "ref 7"']);
    // env.ref's externref result collects first ('table-full': the chunk is empty until the
    // first sweep, as v17), then env.gc.
    t.deepEqual(j.gcs.map((g: { reason: string }) => g.reason), ['table-full', 'store-gc']);
    t.is(j.gcs[1].roots, 1, 'the local holding the ref is a root');
    const same = await cli('gc', gcStyle, '--arch', arch, '--invoke', 'go', '7');
    t.is(same.code, 0, same.stderr);
  }
  const withResult = scratchFile('gc-with-result.wat', '(module (import "env" "gc" (func (result i32))))');
  const r = await cli('run', withResult);
  t.is(r.code, 2);
  t.regex(r.stderr, /import "env" "gc" has type \(\) -> \(i32\); stackscope provides \(any parameters\) -> \(\)/);
});

test('run: bad input is exit 2 with a message naming what and where', async (t) => {
  const badImport = scratchFile('bad-import.wat', '(module (import "env" "frob" (func (param i32))))');
  const badType = scratchFile('bad-type.wat', '(module (import "env" "print_i32" (func (param i64))))');
  const syntax = scratchFile('syntax.wat', '(module\n  (func (result i32)\n    (i32.const oops)))');
  const cases: Array<[string[], RegExp]> = [
    [['run', badImport, '--invoke', 'x'], /bad-import\.wat: import "env" "frob" \(func\) is not a host import stackscope provides \(env\.print_i32/],
    [['run', badType], /bad-type\.wat: import "env" "print_i32" has type \(i64\) -> \(\); stackscope provides \(i32\) -> \(\)/],
    [['run', syntax], /syntax\.wat:3:/],
    [['run', wat, '--invoke', 'fib'], /--invoke fib: takes 1 argument\(s\) \(i32\) -> \(i32\), got 0/],
    [['run', wat, '--invoke', 'fib', '0x100000000'], /--invoke fib argument 1 \(i32\): '0x100000000' does not fit in 32 bits/],
    [['run', wat, '--invoke', 'fib', 'ten'], /--invoke fib argument 1 \(i32\): 'ten' is not an integer/],
    [['run', wat, '--invoke', 'nope'], /--invoke nope: .*teaching\.wat exports no function of that name \(exports: fib, hold, scale, boom, main\)/],
    [['run', wat, '--invoke'], /--invoke needs a function name/],
    [['run', wat, '--arch', 'mips'], /--arch: unknown architecture 'mips'/],
    [['run', wat, '--entry', 'fib'], /--entry applies to ELF objects/],
    [['run', wat, '--cycles=slow'], /--cycles takes fast, detailed or off \(got 'slow'\)/],
    [['run', wat, '--invoke', 'fib', '3', '--cycles', '--uarch', 'pentium'], /unknown microarchitecture 'pentium' \(known: skylake, sapphirerapids, znver3, znver4, znver5, cortex-a72, neoverse-n1, neoverse-n2, neoverse-v2, host\)/],
    [['run', wat, '--invoke', 'fib', '3', '--uarch', 'zen3'], /--uarch needs --cycles/],
    [['run', 'examples/fib', '--arch', 'aarch64', '--cycles', '--uarch', 'skylake'], /skylake: models x64, the example runs on aarch64/],
    [['run', wat, '--trace=loud'], /--trace takes block or insn \(got 'loud'\)/],
    [['run', wat, '--trace-limit', '5'], /--trace-limit needs --trace/],
    [['run', wat, '--trace', '--trace-limit', 'x'], /--trace-limit: 'x' is not an integer/],
    [['run', wat, '--trace', '--trace-limit', '2000000'], /--trace-limit: 2000000 is above 1000000/],
    [['run', wat, wat], /give one Wasm module/],
    [['run', 'missing.wat'], /cannot read missing\.wat: ENOENT/],
    [['run'], /give a \.wat\/\.wasm module, a compiled image, or ELF objects/],
    [['run', wat, '--frobnicate'], /unknown option --frobnicate/],
    [['run', scratchFile('garbage.o', new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 1, 2, 3])), '--entry', 'f'], /LoaderError: .*garbage\.o/],
  ];
  for (const [argv, message] of cases) {
    const r = await cli(...argv);
    t.is(r.code, 2, argv.join(' '));
    t.regex(r.stderr, /^stackscope run: /, argv.join(' '));
    t.regex(r.stderr, message, argv.join(' '));
  }
});

test('run --cycles --uarch host prices with this machine\'s table and names the host', async (t) => {
  const host = detectHost();
  if (host.arch === undefined || host.uarch === undefined) {
    const r = await cli('run', wat, '--invoke', 'fib', '5', '--cycles', '--uarch', 'host');
    t.is(r.code, 2);
    return;
  }
  const r = await cli('run', wat, '--invoke', 'fib', '5', '--cycles', '--uarch', 'host', '--arch', host.arch);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, new RegExp(`^cycles: \\d+ \\(fast, ${host.uarch}\\)`, 'm'));
  t.true(r.stdout.includes(`model: ${host.uarch}; host: ${describeHost(host)}`));
  const json = await cli('run', wat, '--invoke', 'fib', '5', '--cycles', '--uarch', 'host', '--arch', host.arch, '--json');
  t.like(JSON.parse(json.stdout).cycles, { uarch: host.uarch, host: { core: host.core, uarch: host.uarch } });
  const other = await cli('run', wat, '--invoke', 'fib', '5', '--cycles', '--uarch', 'host', '--arch', host.arch === 'x64' ? 'aarch64' : 'x64');
  t.is(other.code, 2);
  t.regex(other.stderr, /uarch 'host': this host is/);
});
