/**
 * `stackscope explain`, `compile` and `layout` of images through the CLI, and `--help` of every
 * subcommand, on both arches.
 */
import test from 'ava';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ARCHES } from '../isa/arch.ts';
import { TEACHING_WAT, cli, scratchFile, scratchPath } from './testing.ts';

const wat = scratchFile('explain.wat', TEACHING_WAT);

interface Word { offset: string; value: string; bit?: number; isRef: boolean; slot: string; gcRead?: string }

for (const arch of ARCHES) {
  test(`${arch}: explain --at a function draws its frame at the first safepoint`, async (t) => {
    const r = await cli('explain', wat, '--arch', arch, '--at', 'hold', '--invoke', 'hold', 'hello', 'null');
    t.is(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    t.regex(lines[0], new RegExp(`explain\\.wat on ${arch}: safepoint 1 of --at hold, the call at 0x[0-9a-f]+ in hold \\(function 6\\)`));
    t.regex(lines[1], /^frame of hold\+0x[0-9a-f]+ \[explain\.wat\] on .*, at the call: pc 0x[0-9a-f]+ {2}fp 0x[0-9a-f]+ {2}sp 0x[0-9a-f]+ {2}\(48 bytes\)$/);
    t.regex(lines[2], /stack map for return address 0x[0-9a-f]+: 6 words, bits \(sp word first\) 011000/);
    t.regex(r.stdout, /fp\+8 {4}\| 0x[0-9a-f]{16} \| {10}return address \(into the caller\)/);
    t.regex(r.stdout, /sp\+8 {4}\| 0x[0-9a-f]{16} \| REF 1 {4}local 0 \(param\) {12}root 0x[0-9a-f]+ = "hello"/);
    t.regex(r.stdout, /sp\+16 {3}\| 0x0{16} \| REF 2 {4}local 1 \(param\) {12}null \(skipped\)/);

    const j = JSON.parse((await cli('explain', wat, '--arch', arch, '--at', '$hold', '--invoke', 'hold', 'hello', 'null', '--json')).stdout);
    t.is(j.arch, arch);
    t.is(j.safepoint.function, 'hold');
    const words = j.frame.words as Word[];
    t.is(words.length, 2 + 6, 'fp+8, fp+0 and the six mapped words');
    t.deepEqual(words.map((w) => w.offset), ['fp+8', 'fp+0', 'sp+40', 'sp+32', 'sp+24', 'sp+16', 'sp+8', 'sp+0']);
    t.deepEqual(words.filter((w) => w.isRef).map((w) => w.bit), [2, 1]);
    // The frame record really links to the caller: [fp] is an address above fp.
    t.true(BigInt(words[1].value) > BigInt(j.frame.fp));
    t.is(BigInt(j.frame.fp) - BigInt(j.frame.sp), 48n);
    t.is(j.frame.returnAddress, j.safepoint.return);
  });

  test(`${arch}: explain --nth walks down a recursion; --at a pc selects the same safepoint`, async (t) => {
    const first = JSON.parse((await cli('explain', wat, '--arch', arch, '--at', 'fib', '--invoke', 'fib', '6', '--json')).stdout);
    const third = JSON.parse((await cli('explain', wat, '--arch', arch, '--at', 'fib', '--nth', '3', '--invoke', 'fib', '6', '--json')).stdout);
    // fib(6) → fib(5) → fib(4): each level's frame lies one frame (plus its record) further down.
    const frameBytes = BigInt(first.frame.fp) - BigInt(first.frame.sp) + 16n;
    t.is(BigInt(first.frame.fp) - BigInt(third.frame.fp), 2n * frameBytes);
    t.is(third.safepoint.call, first.safepoint.call);
    // The n argument of each level is in local 0.
    const local0 = (j: { frame: { words: Word[] } }) => BigInt(j.frame.words.find((w) => w.slot === 'local 0 (param)')!.value);
    t.is(local0(first), 6n);
    t.is(local0(third), 4n);
    const byPc = JSON.parse((await cli('explain', wat, '--arch', arch, '--at', first.safepoint.call, '--invoke', 'fib', '6', '--json')).stdout);
    t.deepEqual(byPc.frame, first.frame);
  });

  test(`${arch}: compile -o, --print and --json; layout of the image equals layout of the source`, async (t) => {
    const obj = scratchPath(`explain.${arch}.o`);
    const c = await cli('compile', wat, '--arch', arch, '-o', obj, '--print');
    t.is(c.code, 0, c.stderr);
    t.regex(c.stdout, new RegExp(`^; stackscope image: ${arch}, 5 function\\(s\\)`));
    t.is(readFileSync(obj).subarray(0, 4).toString('latin1'), '\x7fELF');
    const j = JSON.parse((await cli('compile', wat, '--arch', arch, '--json')).stdout);
    t.deepEqual(j.functions.map((f: { name: string }) => f.name), ['fib', 'hold', 'scale', 'boom', 'main']);
    const fromImage = await cli('layout', obj, '--json');
    t.is(fromImage.code, 0, fromImage.stderr);
    t.deepEqual(JSON.parse(fromImage.stdout), JSON.parse((await cli('layout', wat, '--json')).stdout));
    // The image's own arch, used by explain too.
    const e = JSON.parse((await cli('explain', obj, '--at', 'hold', '--invoke', 'hold', 'a', 'b', '--json')).stdout);
    t.is(e.arch, arch);
    t.deepEqual((e.frame.words as Word[]).filter((w) => w.isRef).map((w) => w.bit), [2, 1]);
  });
}

test('explain runs an example directory through its driver, or with --invoke and stubbed imports', async (t) => {
  const dir = scratchPath('example-like');
  mkdirSync(dir, { recursive: true });
  scratchFile('example-like/keep.wat', `(module
  (import "host" "tick" (func $tick (param i32) (result i32)))
  (func (export "outer") (param $r externref) (result i32)
    (call $tick (i32.const 41))
    ;; $r is used after the call, so the call's stack map marks it
    (drop (local.get $r))))`);
  // ESM, as the repository's own examples are (package.json "type": "module").
  scratchFile('example-like/package.json', '{"type": "module"}');
  // A driver as examples/<name>/run.ts writes one: its own host function and arguments.
  const api = pathToFileURL(join(process.cwd(), 'runtime/api.ts')).href;
  scratchFile('example-like/run.ts', `import { ExternRef, Func, Instance } from '${api}';
export function run(ctx) {
  const tick = Func.wrap(ctx.store, { params: ['i32'], results: ['i32'] }, (_c, n) => n + 1);
  const instance = Instance.create(ctx.store, ctx.module, [tick]);
  const r = ExternRef.new(ctx.store, 'from the driver');
  ctx.print('outer returned ' + instance.getFunc('outer').call(r));
  r.release();
}
`);
  const r = await cli('explain', dir, '--at', 'outer');
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /keep\.wat on x64: safepoint 1 of --at outer, the call at 0x[0-9a-f]+ in outer/);
  t.regex(r.stdout, /\(run by the example's driver .*example-like\/run\.ts\)/);
  t.regex(r.stdout, /REF \d+ +local 0 \(param\) +root 0x[0-9a-f]+ = "from the driver"/);
  const stubbed = await cli('explain', dir, '--at', 'outer', '--invoke', 'outer', 'mine', '--arch', 'aarch64');
  t.is(stubbed.code, 0, stubbed.stderr);
  t.regex(stubbed.stdout, /\(stubbed imports, returning zero or null: host\.tick \(i32\) -> \(i32\)\)/);
  t.regex(stubbed.stdout, /root 0x[0-9a-f]+ = "mine"/);
  // `run` on the directory runs the same driver: its output, the trace and GC options apply.
  for (const arch of ['x64', 'aarch64']) {
    const run = await cli('run', dir, '--arch', arch, '--trace', '--json');
    t.is(run.code, 0, run.stderr);
    const j = JSON.parse(run.stdout);
    t.is(j.arch, arch);
    t.deepEqual(j.output, ['outer returned 42']);
    t.regex(j.driver, /example-like\/run\.ts$/);
    const safepoint = j.trace.events.find((e: { type: string }) => e.type === 'safepoint');
    t.is(safepoint.frame.functionName, 'outer');
    t.regex((safepoint.frame.words as Word[]).find((w) => w.isRef)!.gcRead!, /"from the driver"/);
  }
  const plain = await cli('run', dir);
  t.is(plain.stdout, 'outer returned 42');
  const noStubs = await cli('run', dir, '--invoke', 'outer', 'x');
  t.is(noStubs.code, 2, 'run provides no stubs: host.tick is unknown');
  t.regex(noStubs.stderr, /import "host" "tick" \(func\) is not a host import stackscope provides/);
  const missing = await cli('explain', dir, '--at', 'inner');
  t.is(missing.code, 2);
  t.regex(missing.stderr, /--at inner: no function of that name with a safepoint in .*keep\.wat \(functions with safepoints: outer\)/);
});

test('explain, compile and layout: bad input is exit 2 naming what and where', async (t) => {
  const invalid = scratchFile('tail-call.wat', '(module (func $f (param i64 i64 i64 i64 i64 i64 i64)) (func (return_call $f (i64.const 0) (i64.const 1) (i64.const 2) (i64.const 3) (i64.const 4) (i64.const 5) (i64.const 6))))');
  const cases: Array<[string[], RegExp]> = [
    [['explain', wat, '--at', 'nosuch'], /--at nosuch: no function of that name with a safepoint in .*explain\.wat \(functions with safepoints: fib, hold, scale, main\)/],
    [['explain', wat, '--at', 'fib', '--invoke', 'fib', '1'], /--at fib: the run of fib reached 0 matching safepoint\(s\), not 1/],
    [['explain', wat, '--at', 'fib', '--nth', '0'], /--nth: 0 is not between 1 and 1000000/],
    [['explain', wat], /--at <function \| pc> is required/],
    [['explain', wat, '--at', '0x10'], /--at 0x10: no safepoint at or after that address/],
    [['explain', 'examples/no-such-example', '--at', 'f'], /cannot read examples\/no-such-example: no such file or example/],
    [['explain', wat, '--at', 'fib', '--arch', 'sparc'], /--arch: unknown architecture 'sparc'/],
    [['compile', wat, '--arch', 'x64'], /nothing to do: give -o FILE, --print or --json/],
    [['compile', wat, '-o', 'x.o'], /--arch x64\|aarch64 is required/],
    [['compile', invalid, '--arch', 'aarch64', '--print'], /tail-call\.wat.*return_call: the callee takes 1 stack-argument word\(s\), this function received 0.*function 1/],
    [['compile', wat, '--arch', 'x64', '-o', '/nonexistent-dir/x.o'], /cannot write \/nonexistent-dir\/x\.o: ENOENT/],
    [['layout', scratchFile('not-an-image.o', new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]))], /not-an-image\.o/],
  ];
  for (const [argv, message] of cases) {
    const r = await cli(...argv);
    t.is(r.code, 2, argv.join(' '));
    t.regex(r.stderr, new RegExp(`^stackscope ${argv[0]}: `), argv.join(' '));
    t.regex(r.stderr, message, argv.join(' '));
  }
  // A trap before the requested frame is a trap (exit 1).
  const trap = await cli('explain', wat, '--at', 'hold', '--invoke', 'boom', '0');
  t.is(trap.code, 1);
  t.regex(trap.stdout, /^trap: IntegerDivisionByZero/);
});

test('every subcommand has --help, and the top-level help lists them', async (t) => {
  const top = await cli('--help');
  for (const command of ['run', 'explain', 'gc', 'compile', 'inspect', 'disasm', 'layout', 'demo']) {
    t.regex(top.stdout, new RegExp(`\\n  ${command} `), command);
    const r = await cli(command, '--help');
    t.is(r.code, 0, command);
    t.regex(r.stdout, new RegExp(`^usage: stackscope ${command}`), command);
  }
  t.regex(top.stdout, /exit codes \(every command\): 0 ok, 1 guest trap, 2 usage or input error/);
  t.is((await cli()).code, 2, 'no command is a usage error');
});
