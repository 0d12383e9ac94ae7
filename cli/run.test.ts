import test from 'ava';
import { ARCHES } from '../isa/arch.ts';
import { compileC } from '../loader/test-toolchain.ts';
import { main } from './main.ts';
import { captureOutput } from './output.ts';

async function run(...argv: string[]) {
  const out = captureOutput();
  const code = await main(argv, out);
  return { code, stdout: out.stdout.join('\n'), stderr: out.stderr.join('\n') };
}

const LIB = `
extern long print_i64(long);
static const long weights[4] = {3, 5, 7, 11};
long dot(long a, long b, long c, long d) {
  long v[4] = {a, b, c, d};
  long s = 0;
  for (int i = 0; i < 4; i++) s += weights[i] * v[i];
  print_i64(s);
  return s;
}
long deref(long *p) { return *p + 1; }
long outer(long *p) { return deref(p) * 2; }
`;
const MAIN = `
extern long dot(long, long, long, long);
long twice_dot(long x) { return 2 * dot(x, x + 1, -x, 1); }
`;

for (const arch of ARCHES) {
  // Frame records in leaf functions too, so the frame-pointer backtrace sees every frame.
  const flags = ['-O1', '-fno-omit-frame-pointer', '-mno-omit-leaf-frame-pointer', '-fno-inline', '-fno-stack-protector'];

  test(`${arch}: run links two objects, calls a host function and prints the result`, async (t) => {
    const lib = compileC(arch, LIB, flags);
    const entry = compileC(arch, MAIN, flags);
    const r = await run('run', entry.path, lib.path, '--entry', 'twice_dot', '--args', '5');
    t.is(r.code, 0, r.stderr);
    const s = 3 * 5 + 5 * 6 + 7 * -5 + 11;
    t.regex(r.stdout, new RegExp(`print_i64: ${s}\\n`));
    t.regex(r.stdout, new RegExp(`result: ${2 * s} `));
    t.regex(r.stdout, /instructions: \d+/);
    const j = JSON.parse((await run('run', entry.path, lib.path, '--entry', 'twice_dot', '--args', '-3', '--json')).stdout);
    const s2 = 3 * -3 + 5 * -2 + 7 * 3 + 11;
    t.is(j.signed, String(2 * s2));
    t.is(j.result, String(BigInt.asUintN(64, BigInt(2 * s2))));
    t.true(j.instructions > 10);
    t.is(j.trap, null);
    t.deepEqual(j.output, [`print_i64: ${s2}`]);
  });

  test(`${arch}: a guest fault is exit 1 with kind, exact PC and a symbolized backtrace`, async (t) => {
    // -O0 and -mno-omit-leaf-frame-pointer: every function, leaves too, gets the frame record an
    // FP-chain backtrace needs (gcc 12 on x86-64 still drops it from leaves at -O1).
    const lib = compileC(arch, LIB, ['-O0', '-mno-omit-leaf-frame-pointer', '-fno-stack-protector']);
    const r = await run('run', lib.path, '--entry', 'outer', '--args', '0x18', '--json');
    t.is(r.code, 1, r.stderr);
    const j = JSON.parse(r.stdout);
    t.is(j.trap.kind, 'read-unmapped');
    t.is(j.trap.address, '0x18');
    t.regex(j.trap.instruction, arch === 'x64' ? /^mov .*\[rax\]/ : /^ldr x\d+, \[x\d+\]/);
    t.regex(j.trap.backtrace[0].symbol, /^deref(\+0x[0-9a-f]+)?$/);
    t.regex(j.trap.backtrace[1].symbol, /^outer\+0x[0-9a-f]+$/);
    const text = await run('run', lib.path, '--entry', 'outer', '--args', '0x18');
    t.is(text.code, 1);
    t.regex(text.stdout, /trap: read-unmapped at 0x[0-9a-f]+: /);
    t.regex(text.stdout, /#1 0x[0-9a-f]+ outer\+0x/);
  });

  test(`${arch}: budget, unresolved symbols and bad input are reported`, async (t) => {
    const spin = compileC(arch, 'long spin(long n) { volatile long i = 0; while (n) i++; return i; }', ['-O1']);
    let r = await run('run', spin.path, '--entry', 'spin', '--args', '1', '--budget', '5000', '--json');
    t.is(r.code, 1);
    t.is(JSON.parse(r.stdout).trap.kind, 'budget-exhausted');
    for (const flags of [['--budget', '-1'], ['--timeout', '-5']]) {
      r = await run('run', spin.path, '--entry', 'spin', '--args', '1', ...flags);
      t.is(r.code, 2, flags.join(' '));
      t.regex(r.stderr, /is negative/);
    }
    const needs = compileC(arch, 'extern long f1(long); extern long f2(long); long g(long x) { return f1(x) + f2(x); }', ['-O1']);
    r = await run('run', needs.path, '--entry', 'g');
    t.is(r.code, 2);
    t.regex(r.stderr, /f1/);
    t.regex(r.stderr, /f2/);
    r = await run('run', spin.path, '--entry', 'nope');
    t.is(r.code, 2);
    t.regex(r.stderr, /no symbol named nope/);
    r = await run('run', spin.path);
    t.is(r.code, 2);
    r = await run('run', 'package.json', '--entry', 'g');
    t.is(r.code, 2);
    t.regex(r.stderr, /LoaderError/);
  });

  test(`${arch}: inspect lists sections, symbols and relocations`, async (t) => {
    const obj = compileC(arch, MAIN, flags);
    const r = await run('inspect', obj.path, '--json');
    t.is(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    const text = JSON.stringify(j);
    t.true(text.includes('twice_dot'));
    t.true(text.includes(arch === 'x64' ? 'R_X86_64_PLT32' : 'R_AARCH64_CALL26'));
    t.true(text.includes('.text'));
    const plain = await run('inspect', obj.path);
    t.regex(plain.stdout, /Section Headers:/);
  });
}
