import test from 'ava';
import { execFileSync } from 'node:child_process';
import { ARCHES } from '../isa/arch.ts';
import { archive, compile } from '../sandbox/testing.ts';
import { cli, scratchFile } from './testing.ts';

const SOURCE = `
#include <stdio.h>
#include <string.h>
int add(int a, int b) { return a + b; }
double fmul(double a, double b) { return a * b; }
float half(float x) { return x / 2; }
unsigned char lowbyte(unsigned long x) { return x; }
int shout(const char *s, unsigned char *out, unsigned long n) {
  unsigned long len = strlen(s);
  for (unsigned long i = 0; i < n; i++) out[i] = i < len ? s[i] - 32 : 0;
  return printf("%s!\\n", s);
}
unsigned sum(const unsigned char *b, int n) { unsigned s = 0; for (int i = 0; i < n; i++) s += b[i]; return s; }
void boom(void) { *(volatile int *)16 = 1; }
int leaf(int *p) { return *p + 1; }
int caller(int *p) { return leaf(p) * 2 + 1; }
`;
const EXTERNAL = `
long ask(long x);
long viahost(long x) { return ask(x) + 1; }
long lib_fn(long x);
long vialib(long x) { return lib_fn(x) * 2; }
`;

for (const arch of ARCHES) {
  test(`${arch}: run takes typed --arg values, --sig types the result, buffers come back`, async (t) => {
    const obj = compile(arch, 'gcc', SOURCE, ['-O2']);
    const lib = archive([compile(arch, 'clang', 'long lib_fn(long x) { return x + 40; }', ['-O2'])]);
    const hostFile = scratchFile(`host-${arch}.mjs`, 'export default { ask: { sig: "i64(i64)", fn: ([x]) => x * 10n } };\n');
    let r = await cli('run', obj.file, '--entry', 'add', '--args', '-1,-2');
    t.regex(r.stdout, /result: 4294967293 /); // the default stays i64
    r = await cli('run', obj.file, '--entry', 'add', '--arg', 'i32:-1', '--arg', 'i32:-2', '--sig', 'i32(i32,i32)');
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /^result: -3 \(i32\)$/m);
    r = await cli('run', obj.file, '--entry', 'fmul', '--sig', 'f64(f64,f64)', '--arg', 'f64:2', '--arg', 'f64:3');
    t.regex(r.stdout, /^result: 6 \(f64\)$/m);
    r = await cli('run', obj.file, '--entry', 'half', '--sig', 'f32(f32)', '--arg', 'f32:2.5');
    t.regex(r.stdout, /^result: 1.25 \(f32\)$/m);
    r = await cli('run', obj.file, '--entry', 'lowbyte', '--sig', 'u8(u64)', '--arg', 'u64:0x1ff');
    t.regex(r.stdout, /^result: 255 \(u8\)$/m);
    r = await cli('run', obj.file, '--entry', 'shout', '--sig', 'i32(ptr,ptr,u64)', '--arg', 'str:hey', '--arg', 'out:4', '--arg', 'u64:4', '--json');
    t.is(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    t.is(j.value, 5);
    t.is(j.stdout, 'hey!\n');
    t.deepEqual(j.output, ['hey!']);
    t.is(j.buffers[1].hex, '48455900');
    t.is(j.type, 'i32');
    const bin = scratchFile(`bytes-${arch}.bin`, Uint8Array.of(1, 2, 3, 250));
    r = await cli('run', obj.file, '--entry', 'sum', '--sig', 'u32(ptr,i32)', '--arg', `buf:@${bin}`, '--arg', 'i32:4');
    t.regex(r.stdout, /^result: 256 \(u32\)$/m);
    r = await cli('run', obj.file, '--entry', 'sum', '--sig', 'u32(ptr,i32)', '--arg', 'buf:hex:00ff01', '--arg', '3');
    t.regex(r.stdout, /^result: 256 \(u32\)$/m);
    const ext = compile(arch, 'gcc', EXTERNAL, ['-O2']);
    r = await cli('run', ext.file, lib.file, '--entry', 'viahost', '--host', hostFile, '--arg', '4');
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /^result: 41 /m);
    r = await cli('run', ext.file, lib.file, '--entry', 'vialib', '--host', hostFile, '--arg', '2');
    t.regex(r.stdout, /^result: 84 /m);
  });

  test(`${arch}: run reports traps with kind, PC and a backtrace whose frames say how they were found`, async (t) => {
    const obj = compile(arch, 'gcc', SOURCE, ['-O2', '-fno-inline']);
    let r = await cli('run', obj.file, '--entry', 'caller', '--sig', 'i32(ptr)', '--arg', 'ptr:0x18', '--json');
    t.is(r.code, 1);
    const j = JSON.parse(r.stdout);
    t.is(j.trap.kind, 'read-unmapped');
    t.deepEqual(j.trap.backtrace.map((f: { symbol: string; method: string }) => [f.symbol.replace(/\+.*/, ''), f.method]), [['leaf', 'pc'], ['caller', 'cfi']]);
    r = await cli('run', obj.file, '--entry', 'boom');
    t.is(r.code, 1);
    t.regex(r.stdout, /trap: write-unmapped/);
    t.regex(r.stdout, /#0 0x[0-9a-f]+ boom(\+0x[0-9a-f]+)? \[pc\]/);
  });

  test(`${arch}: run usage errors for typed arguments exit 2`, async (t) => {
    const obj = compile(arch, 'gcc', SOURCE, ['-O2']);
    const cases: Array<[string[], RegExp]> = [
      [['--arg', 'i33:1'], /unknown type 'i33'/],
      [['--arg', 'i8:300', '--sig', 'i32(i8)'], /does not fit i8/],
      [['--arg', 'i32:1', '--sig', 'i32(i64)'], /is i32; --sig says i64/],
      [['--arg', 'str:x', '--sig', 'i32(i32)'], /passes a pointer/],
      [['--sig', 'i32(i32'], /--sig/],
      [['--arg', '1', '--args', '1'], /either --args/],
      [['--syscalls', 'all'], /deny or linux-min/],
      [['--arg', 'buf:zz'], /buf takes @FILE or hex/],
      [['--host', '/nonexistent.mjs'], /cannot import/],
    ];
    for (const [flags, message] of cases) {
      const r = await cli('run', obj.file, '--entry', 'add', ...flags);
      t.is(r.code, 2, flags.join(' '));
      t.regex(r.stderr, message, flags.join(' '));
    }
  });

  test(`${arch}: --syscalls linux-min captures write and ends at exit; deny traps at the svc/syscall`, async (t) => {
    const asm = arch === 'x64'
      ? `.intel_syntax noprefix\n.globl hi\nhi:\n lea rsi, [rip + msg]\n mov edi, 1\n mov edx, 3\n mov eax, 1\n syscall\n mov edi, 7\n mov eax, 60\n syscall\n ud2\nmsg: .ascii "hi\\n"\n`
      : `.globl hi\nhi:\n adr x1, msg\n mov x0, #1\n mov x2, #3\n mov x8, #64\n svc #0\n mov x0, #7\n mov x8, #93\n svc #0\n udf #0\nmsg: .ascii "hi\\n"\n.align 2\n`;
    const src = scratchFile(`sys-${arch}.s`, asm);
    const obj = `${src}.o`;
    execFileSync(arch === 'x64' ? 'as' : 'aarch64-linux-gnu-as', ['-o', obj, src]);
    let r = await cli('run', obj, '--entry', 'hi', '--syscalls', 'linux-min', '--json');
    t.is(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    t.is(j.stdout, 'hi\n');
    t.is(j.exit, 7);
    r = await cli('run', obj, '--entry', 'hi', '--json');
    t.is(r.code, 1);
    const d = JSON.parse(r.stdout).trap;
    t.is(d.kind, 'syscall');
    t.is(d.syscall, arch === 'x64' ? 1 : 64);
    t.regex(d.instruction, arch === 'x64' ? /^syscall/ : /^svc/);
  });

  test(`${arch}: disasm of an object lists code sections with labels and relocations like objdump -dr`, async (t) => {
    const obj = compile(arch, 'gcc', SOURCE, ['-O2', '-ffunction-sections']);
    let r = await cli('disasm', compile(arch, 'gcc', EXTERNAL, ['-O2', '-ffunction-sections']).file, '--section', '.text.viahost');
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /Disassembly of section \.text\.viahost:/);
    t.regex(r.stdout, /<viahost>:/);
    t.regex(r.stdout, arch === 'x64' ? /R_X86_64_PLT32\task-0x4/ : /R_AARCH64_CALL26\task/);
    r = await cli('disasm', obj.file, '--symbol', 'add', '--json');
    const j = JSON.parse(r.stdout);
    t.is(j.sections.length, 1);
    t.is(j.sections[0].symbols[0].name, 'add');
    t.true(j.sections[0].symbols[0].instructions.length >= 2);
    r = await cli('disasm', obj.file, '--symbol', 'nope');
    t.is(r.code, 2);
  });
}
