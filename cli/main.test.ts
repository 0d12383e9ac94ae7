import test from 'ava';
import { main } from './main.ts';
import { captureOutput } from './output.ts';

async function run(...argv: string[]) {
  const out = captureOutput();
  const code = await main(argv, out);
  return { code, stdout: out.stdout.join('\n'), stderr: out.stderr.join('\n') };
}

test('--help and --version', async (t) => {
  const help = await run('--help');
  t.is(help.code, 0);
  t.regex(help.stdout, /usage: stackscope <command>/);
  t.regex(help.stdout, /disasm/);
  const v = await run('--version');
  t.is(v.code, 0);
  t.regex(v.stdout, /^stackscope \d+\.\d+\.\d+$/);
  const d = await run('disasm', '--help');
  t.is(d.code, 0);
  t.regex(d.stdout, /--base ADDR/);
});

test('disasm x64 hex with a base address', async (t) => {
  const r = await run('disasm', '--arch', 'x64', '55 48 89 e5 c3', '--base', '0x1000');
  t.is(r.code, 0, r.stderr);
  t.deepEqual(r.stdout.split('\n').map((l) => l.trim().replace(/\s+/g, ' ')), [
    '0x1000: 55 push rbp',
    '0x1001: 4889e5 mov rbp, rsp',
    '0x1004: c3 ret',
  ]);
});

test('disasm aarch64 --json, with an undecodable word', async (t) => {
  const r = await run('disasm', '--arch', 'aarch64', 'fd7bbfa9 c0035fd6 ffffffff', '--json');
  t.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  t.is(j.arch, 'aarch64');
  t.is(j.instructions.length, 3);
  t.is(j.instructions[0].text, 'stp x29, x30, [sp, #-0x10]!');
  t.is(j.instructions[1].address, '0x4');
  t.is(j.instructions[1].mnemonic, 'ret');
  t.true(j.instructions[2].invalid);
});

test('bad command lines exit 2 with a message', async (t) => {
  for (const argv of [
    ['nope'],
    ['disasm'],
    ['disasm', '--arch', 'mips', '90'],
    ['disasm', '--arch', 'x64'],
    ['disasm', '--arch', 'x64', 'zz'],
    ['disasm', '--arch', 'x64', '90', '--base', 'ten'],
    ['disasm', '--arch', 'x64', '90', '--frobnicate'],
    ['demo', '--arch', 'sparc'],
  ]) {
    const r = await run(...argv);
    t.is(r.code, 2, argv.join(' '));
    t.regex(r.stderr, /^stackscope/, argv.join(' '));
  }
});

test('demo runs the recursion-gc example on both arches and prints its GC explanation', async (t) => {
  const r = await run('demo');
  t.is(r.code, 0, r.stderr);
  for (const arch of ['x64', 'aarch64']) {
    t.true(r.stdout.includes(`== ${arch} ==`));
    t.true(r.stdout.includes(`GC on ${arch} (v17 walk, reason host, debug checks on): swept; 3 frames (3 with maps), 3 marked slots, 3 roots, 3 freed`));
  }
  t.is(r.stdout.match(/REF bit 3 {2}-> "held by level 2"/g)?.length, 2);
  t.is(r.stdout.match(/"temporary of level 0" {2}\(last count held by chunk\)/g)?.length, 2);
  t.is(r.stdout.match(/check\(2\): frame still holds "held by level 2"/g)?.length, 2);
  const one = await run('demo', '--arch', 'aarch64');
  t.is(one.code, 0, one.stderr);
  t.false(one.stdout.includes('== x64 =='));
  t.true(one.stdout.includes('== aarch64 =='));
});

test('layout of a module: regions, padding and elements (hand-computed from v17 rules)', async (t) => {
  const r = await run('layout', 'cli/testdata/layout-one-of-each.wat', '--json');
  t.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  // 72-byte header, 1 imported function (32), 1 table (16), 1 memory pointer (8) and its owned
  // definition (16) = 144, already 16-aligned; 1 global (16); 1 escaped function (40) = 200.
  t.is(j.size, 200);
  const at = (name: string) => j.regions.find((x: { name: string }) => x.name === name);
  t.deepEqual(at('imported_functions'), { name: 'imported_functions', offset: 72, size: 32 });
  t.deepEqual(at('owned_memories'), { name: 'owned_memories', offset: 128, size: 16 });
  t.deepEqual(at('func_refs'), { name: 'func_refs', offset: 160, size: 40 });
  t.is(j.elements.func_refs[0].fields.type_index, 184);
  t.is(j.regions.length, 17);
});

test('layout --counts and its errors', async (t) => {
  let r = await run('layout', '--counts', '', '--json');
  t.is(JSON.parse(r.stdout).size, 80, 'the 72-byte header rounds up to 16 before defined_globals');
  r = await run('layout', '--counts', 'num_imported_functions=1,num_defined_globals=2');
  t.is(r.code, 0);
  t.regex(r.stdout, /: 144 bytes/); // 72 + 32 = 104 → 112, + 2 × 16
  t.regex(r.stdout, /104\s+8\s+\(padding to 16\)/);
  for (const argv of [['layout', '--counts', 'bogus=1'], ['layout', '--counts', 'num_defined_globals=x'], ['layout'], ['layout', 'x.txt'], ['layout', 'missing.wat']]) {
    r = await run(...argv);
    t.is(r.code, 2, argv.join(' '));
  }
  r = await run('layout', '--counts', 'num_defined_memories=1,num_owned_memories=2');
  t.is(r.code, 2);
  t.regex(r.stderr, /num_?[oO]wned_?[mM]emories/);
});
