/**
 * `--profile` on every command that compiles, runs, lays out or collects: v17 is the default and
 * unchanged, v31 lays out, compiles and runs (in a V31Store) and otherwise fails with exit 2
 * naming what is missing, unknown names are usage errors.
 */
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { foreignImage } from '../runtime/v31/testing.ts';
import { cli, TEACHING_WAT_PATH } from './testing.ts';

const V31_WAT = 'cli/testdata/v31-refs.wat';

test('layout --profile v31 prints the v31 VMContext, structs, constants and builtins', async (t) => {
  const r = await cli('layout', '--profile', 'v31', '--counts', 'num_imported_functions=1,num_escaped_funcs=1');
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^VMContext \(wasmtime v31, pointer size 8\): 144 bytes/);
  t.regex(r.stdout, /\n {6}56 {7}8  gc_heap_data\n/);
  t.regex(r.stdout, /imported_functions\[0\] @ 80  wasm_call@80 array_call@88 vmctx@96/);
  t.regex(r.stdout, /func_refs\[0\] @ 112 {2}array_call@112 wasm_call@120 type_index@128 vmctx@136/);
  t.regex(r.stdout, /VMDrcExternRef +24 bytes {2}header@0 host_data@16/);
  t.regex(r.stdout, /gc_heap_capacity +524288 \(0x80000\)/);
  t.regex(r.stdout, /builtins \(40, index order\)/);
});

test('layout --profile v31 --json carries the profile, the structs and the constants', async (t) => {
  const r = await cli('layout', '--profile', 'v31', '--json', TEACHING_WAT_PATH);
  t.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { profile: string; regions: { name: string; offset: number }[]; structs: { name: string; fields: Record<string, number> }[]; constants: Record<string, number>; builtins: string[] };
  t.is(j.profile, 'v31');
  t.is(j.regions.find((r) => r.name === 'gc_heap_data')?.offset, 56);
  t.deepEqual(j.structs.find((s) => s.name === 'VMStoreContext')?.fields, {
    fuel_consumed: 0, epoch_deadline: 8, stack_limit: 16, last_wasm_exit_fp: 24, last_wasm_exit_pc: 32, last_wasm_entry_fp: 40,
  });
  t.is(j.constants.free_list_min_block, 24);
  t.is(j.builtins[26], 'gc');
});

test('layout --profile v44 prints the 48-byte header, VMStoreContext with the stack chain, every stack-switching struct, the DRC header and 58 builtins', async (t) => {
  const r = await cli('layout', '--profile', 'v44', '--counts', 'num_imported_functions=1,num_imported_tags=1,num_escaped_funcs=1');
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^VMContext \(wasmtime v44, pointer size 8\): 128 bytes/);
  t.regex(r.stdout, /\n {6}32 {7}8  gc_heap_data\n/);
  t.regex(r.stdout, /imported_tags\[0\] @ 72  from@72 vmctx@80 index@88/);
  t.regex(r.stdout, /func_refs\[0\] @ 96  array_call@96 wasm_call@104 type_index@112 vmctx@120/);
  t.regex(r.stdout, /VMStoreContext +128 bytes .*stack_chain@88/);
  t.regex(r.stdout, /VMContRef +136 bytes  common_stack_information@0 parent_chain@48 last_ancestor@64 revision@72 stack@80 args@104 values@120/);
  t.regex(r.stdout, /VMDrcHeader +24 bytes  header@0 ref_count@8 next_over_approximated_stack_root@16 object_size@20/);
  t.regex(r.stdout, /builtins \(58, index order\)/);
  const j = await cli('layout', '--profile', 'v44', '--json', TEACHING_WAT_PATH);
  t.is(j.code, 0, j.stderr);
  const view = JSON.parse(j.stdout) as { profile: string; structs: { name: string; fields: Record<string, number> }[]; constants: Record<string, number>; builtins: string[] };
  t.is(view.profile, 'v44');
  t.deepEqual(view.structs.find((s) => s.name === 'VMCommonStackInformation')?.fields, { limits: 0, state: 16, handlers: 24, first_switch_handler_index: 40 });
  t.is(view.constants.free_list_align, 16);
  t.is(view.builtins[52], 'cont_new');
});

for (const arch of ['x64', 'aarch64'] as const) {
  test(`${arch}: run, compile, gc and explain with --profile v44 run v44 code in a V44Store`, async (t) => {
    const run = await cli('run', TEACHING_WAT_PATH, '--arch', arch, '--invoke', 'fib', '10', '--profile', 'v44');
    t.is(run.code, 0, run.stderr);
    t.regex(run.stdout, /^result: 55 \(i32\)/m);
    const compile = await cli('compile', TEACHING_WAT_PATH, '--arch', arch, '--json', '--profile', 'v44');
    t.is(compile.code, 0, compile.stderr);
    const dir = mkdtempSync(join(tmpdir(), 'v44-cli-'));
    try {
      const wat = join(dir, 'g.wat');
      writeFileSync(wat, `(module
  (import "env" "gc" (func $gc))
  (import "env" "ref" (func $ref (param i32) (result externref)))
  (func $inner (param $r externref) (result externref) (call $gc) (local.get $r))
  (func (export "run") (param $x externref) (result externref)
    (drop (call $ref (i32.const 1)))
    (drop (call $inner (call $ref (i32.const 2))))
    (local.get $x)))`);
      const gc = await cli('gc', wat, '--invoke', 'run', 'hello', '--arch', arch, '--profile', 'v44', '--explain');
      t.is(gc.code, 0, gc.stderr);
      t.regex(gc.stdout, /=== GC 1 at env\.gc \(v44: user stack maps, DRC, every stack\) ===/);
      t.regex(gc.stdout, /#0 initial stack \(VMCommonStackInformation 0x[0-9a-f]+\), running \(Running\), store's chain/);
      t.regex(gc.stdout, /f0 {2}inner .*\n.*sp\+8 +i32 .* = 0x50 .*host value "ref 2"/);
      t.regex(gc.stdout, /Freed:\n {2}0x30 {2}ExternRef, 32 bytes, host value "ref 1"/);
      const explain = await cli('explain', wat, '--invoke', 'run', 'hello', '--at', 'inner', '--arch', arch, '--profile', 'v44');
      t.is(explain.code, 0, explain.stderr);
      t.regex(explain.stdout, /\(profile v44\): safepoint 1 of --at inner/);
      t.regex(explain.stdout, /i32 @sp\+8 = 0x50 ExternRef, 32 bytes, count 1, host value "ref 2"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

for (const arch of ['x64', 'aarch64'] as const) {
  test(`${arch}: run --profile v44 --gc-explain of the scheduler example shows a collection across four stacks`, async (t) => {
    const r = await cli('run', 'examples/scheduler/scheduler.wat', '--arch', arch, '--profile', 'v44', '--gc-explain');
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /^result: 3 \(i32\)$/m);
    t.regex(r.stdout, /\(wasmtime v44\): 4 stacks, 5 frames, 3 precise roots, 5 freed/);
    t.regex(r.stdout, /#0 continuation 0x[0-9a-f]+, running \(Running\)/);
    t.regex(r.stdout, /#1 initial stack .*, parent \(Parent\)/);
    t.is((r.stdout.match(/suspended \(Suspended\)/g) ?? []).length, 2);
    const v17 = await cli('run', 'examples/scheduler/scheduler.wat', '--arch', arch);
    t.is(v17.code, 2, 'v17 code generation names the instruction it lacks');
    t.regex(v17.stderr, /'suspend' is not supported by the code generator/);
  });

  test(`${arch}: run --profile v44 --gc-explain of the relay example (cont.bind, switch, a table of continuations) shows four stacks`, async (t) => {
    const r = await cli('run', 'examples/relay/relay.wat', '--arch', arch, '--profile', 'v44', '--gc-explain');
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /^print_i32: 7\nprint_i32: 106\nprint_i32: 205\nprint_i32: 4\n/);
    t.regex(r.stdout, /^print_externref: "ref 1"\nresult: 3 \(i32\)$/m);
    t.regex(r.stdout, /\(wasmtime v44\): 4 stacks, 4 frames, 3 precise roots, 8 freed/);
    t.regex(r.stdout, /#1 initial stack .*, parent \(Parent\).*\n.*\n +f0 +main \[relay\.wat\]/);
    t.is((r.stdout.match(/suspended \(Suspended\)/g) ?? []).length, 2);
  });
}

test('layout without --profile is the v17 layout, unchanged', async (t) => {
  const [plain, v17] = await Promise.all([cli('layout', '--json', TEACHING_WAT_PATH), cli('layout', '--json', '--profile', 'v17', TEACHING_WAT_PATH)]);
  t.is(plain.code, 0);
  t.is(plain.stdout, v17.stdout);
  t.false('profile' in (JSON.parse(plain.stdout) as object));
});

for (const arch of ['x64', 'aarch64'] as const) {
  test(`${arch}: run --profile v31 runs externref code with collections; compile --profile v31 writes user stack maps`, async (t) => {
    const run = await cli('run', V31_WAT, '--arch', arch, '--profile', 'v31', '--gc-explain');
    t.is(run.code, 0, run.stderr);
    t.regex(run.stdout, /^print_externref: "#1"\nprint_externref: "#2"\nresult: externref "#0" \(externref\)\n/);
    t.regex(run.stdout, new RegExp(`== GC #1 \\(store-gc\\) ==\nDRC collection on ${arch} \\(wasmtime v31\\): 2 frames, 2 precise roots, 1 freed`));
    t.regex(run.stdout, /sp\+\d+ +i32 +@ 0x[0-9a-f]+ += 0x20 +ExternRef type none, 24 bytes, count 1, host value "#1"/);
    t.regex(run.stdout, /Freed:\n {2}0x50 {2}ExternRef, 24 bytes, host value "#3"/);
    const compile = await cli('compile', V31_WAT, '--arch', arch, '--profile', 'v31', '--json');
    t.is(compile.code, 0, compile.stderr);
  });

  test(`${arch}: gc --profile v31 --explain explains the DRC collection inside compiled code`, async (t) => {
    const r = await cli('gc', 'cli/testdata/v31-gc.wat', '--invoke', 'outer', '--arch', arch, '--profile', 'v31', '--explain');
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, new RegExp(`DRC collection on ${arch} \\(wasmtime v31\\): 2 frames, 2 precise roots, 1 freed`));
    t.regex(r.stdout, /a0 f0 {2}inner \[v31-gc\.wat\].*frame 48 bytes\n {6}sp\+16 +i32 +@ 0x[0-9a-f]+ += 0x8 +ExternRef type none, 24 bytes, count 1, host value "ref 1"\n {6}sp\+24 +i32 .*= 0x20 .*"ref 2"/);
    t.regex(r.stdout, /a0 f1 {2}outer \[v31-gc\.wat\].*\n {6}sp\+8 +i32 .*= 0x8 /);
    t.regex(r.stdout, /before: chunk 0 slots, bump \[\], over-approximated \{0x8, 0x20, 0x38, 0x50\}\n {2}after : chunk 1024 slots, bump \[\], over-approximated \{0x8, 0x20\}/);
    t.regex(r.stdout, /Freed:\n {2}0x50 {2}ExternRef, 24 bytes, host value "ref 4"/);
    if (arch === 'x64') {
      const doc = readFileSync(new URL('../docs/gc.md', import.meta.url), 'utf8');
      const block = doc.slice(doc.indexOf('### 7.1 A collection inside compiled v31 code')).split('```text\n')[1].split('\n```')[0];
      t.is(block, `$ stackscope gc cli/testdata/v31-gc.wat --invoke outer --profile v31 --explain\n${r.stdout.replace(/\n$/, '')}`, 'docs/gc.md §7.1 shows exactly what gc prints');
    }
    const bad = await cli('gc', 'cli/testdata/v31-gc.wat', '--invoke', 'outer', '--profile', 'v31', '--walk', 'canary');
    t.is(bad.code, 2);
  });

  test(`${arch}: run --profile v31 runs memories, numeric globals, funcref tables and a start function, and traps as v17 does`, async (t) => {
    const r = await cli('run', 'cli/testdata/v31-mixed.wat', '--arch', arch, '--profile', 'v31');
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /^print_i32: 42\nprint_i32: 1\nprint_i32: 2\nprint_i32: 7\nprint_i32: 6\nprint_i32: 1\nprint_i32: 81\nresult: 42 \(i32\)\n/);
    for (const [name, code] of [['oob', 'MemoryOutOfBounds'], ['null', 'IndirectCallToNull']]) {
      const trap = await cli('run', 'cli/testdata/v31-mixed.wat', '--arch', arch, '--profile', 'v31', '--invoke', name);
      t.is(trap.code, 1, name);
      t.regex(trap.stdout, new RegExp(`^trap: ${code} at 0x[0-9a-f]+: [^\\n]*\\n[\\s\\S]*#0 0x[0-9a-f]+ v31-mixed\\.wat!${name}\\+0x`), name);
    }
  });

  test(`${arch}: run --profile v31 links an image's calls of undefined symbols to the host functions of those names`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'stackscope-v31-'));
    try {
      const foreign = join(dir, 'foreign.o');
      writeFileSync(foreign, await foreignImage(arch, 'print_i32', '(module (func $s (param i32)) (func (export "f") (param $a externref) (result externref) (call $s (i32.const 42)) (local.get $a)))'));
      const r = await cli('run', foreign, '--profile', 'v31', '--invoke', 'f', 'hello');
      t.is(r.code, 0, r.stderr);
      t.regex(r.stdout, /^print_i32: 42\nresult: externref "hello" \(externref\)\n/);
      const unknown = join(dir, 'unknown.o');
      writeFileSync(unknown, await foreignImage(arch, 'mystery'));
      const bad = await cli('run', unknown, '--profile', 'v31', '--invoke', 'f', 'hello');
      t.is(bad.code, 2);
      t.regex(bad.stderr, /symbol mystery is called but not defined/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`${arch}: explain --profile v31 shows the frame at a safepoint with its typed entries and the objects they name`, async (t) => {
    const r = await cli('explain', 'cli/testdata/v31-gc.wat', '--arch', arch, '--profile', 'v31', '--at', 'inner', '--nth', '4', '--invoke', 'outer');
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, new RegExp(`^cli/testdata/v31-gc\\.wat on ${arch} \\(profile v31\\): safepoint 4 of --at inner, the call at 0x[0-9a-f]+ in inner \\(function 3\\)\\nframe of inner \\(function 3\\): fp 0x[0-9a-f]+, sp 0x[0-9a-f]+, frame 48 bytes, 2 map entries\\n`));
    t.regex(r.stdout, /sp\+24 +0x20 +local 1 +i32 @sp\+24 = 0x20 ExternRef, 24 bytes, count 1, host value "ref 2"/);
    t.regex(r.stdout, /sp\+16 +0x8 +local 0 \(param\) +i32 @sp\+16 = 0x8 ExternRef, 24 bytes, count 1, host value "ref 1"/);
    const missing = await cli('explain', 'cli/testdata/v31-gc.wat', '--arch', arch, '--profile', 'v31', '--at', 'nowhere', '--invoke', 'outer');
    t.is(missing.code, 2);
    t.regex(missing.stderr, /--at nowhere: no function of that name with a safepoint/);
  });

  test(`${arch}: run --profile v17 is the default run`, async (t) => {
    const [plain, v17] = await Promise.all([
      cli('run', TEACHING_WAT_PATH, '--arch', arch, '--invoke', 'fib', '10'),
      cli('run', TEACHING_WAT_PATH, '--arch', arch, '--invoke', 'fib', '10', '--profile', 'v17'),
    ]);
    t.is(plain.code, 0, plain.stderr);
    t.is(v17.stdout, plain.stdout);
  });
}

test('demo checks its options before doing anything; fuzz --profile v31 runs the v31 walk', async (t) => {
  const demo = await cli('demo', '--arch', 'x64', '--profile', 'v31', '--html', 'never-written.html');
  t.is(demo.code, 2);
  t.is(demo.stdout, '', 'demo printed nothing before failing');
  t.regex(demo.stderr, /--html is not available with --profile v31: the page replays v17 collections/);
  const fuzz = await cli('fuzz', '--programs', '2', '--profile', 'v31', '--json');
  t.is(fuzz.code, 0, fuzz.stderr);
  t.regex(fuzz.stdout, /"type":"summary".*"failures":0/);
  const canary = await cli('fuzz', '--programs', '1', '--profile', 'v31', '--walker', 'canary');
  t.is(canary.code, 2);
  const mutant = await cli('fuzz', '--programs', '1', '--profile', 'v31', '--mutant', 'table-set-no-incref');
  t.is(mutant.code, 2);
});

test('unknown profiles and --profile on ELF objects are usage errors', async (t) => {
  const bad = await cli('layout', '--profile', 'v45', TEACHING_WAT_PATH);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--profile: 'v45' is not a profile \(v17 or v31 or v44\)/);
  const tags = await cli('layout', '--counts', 'num_defined_tags=1');
  t.is(tags.code, 2);
  t.regex(tags.stderr, /the v17 VMContext has no tags/);
});
