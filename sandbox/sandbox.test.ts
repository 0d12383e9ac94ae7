import test from 'ava';
import { ARCHES, type Arch } from '../isa/arch.ts';
import { LoaderError } from '../loader/elf.ts';
import { GuestTrap } from '../simulator/trap.ts';
import { SignatureError, parseSignature } from './abi.ts';
import { SandboxMemoryError } from './memory.ts';
import { Sandbox } from './sandbox.ts';
import { archive, compile, type Compiler } from './testing.ts';

const ABI = `
int add(int a, int b) { return a + b; }
unsigned short uadd(unsigned short a, unsigned short b) { return a + b; }
signed char narrow(signed char c) { return c - 1; }
double fmul(double a, double b) { return a * b; }
float fadd(float a, float b) { return a + b; }
double itof(int a, float b, long c, double d) { return a * b + c * d; }
struct P { int x, y; };
struct P swap(struct P p) { struct P q = { p.y, p.x }; return q; }
struct Big { long a, b, c, d; };
struct Big big(long v) { struct Big b = { v, v + 1, v + 2, v + 3 }; return b; }
long sumbig(struct Big b) { return b.a + b.b + b.c + b.d; }
struct V { double x, y; };
struct V vscale(struct V v, double k) { struct V r = { v.x * k, v.y * k }; return r; }
struct F3 { float a, b, c; };
float f3sum(struct F3 f) { return f.a + f.b + f.c; }
struct M { long n; double d; };
struct M mswap(struct M m) { struct M r = { (long)m.d, (double)m.n }; return r; }
long many(long a, long b, long c, long d, long e, long f, long g, long h, long i, long j) { return a+b*2+c*3+d*4+e*5+f*6+g*7+h*8+i*9+j*10; }
double mixed(int a, double b, int c, double d, int e, double f, int g, double h, int i, double j, double k, double l, double m, double n) { return a+b+c+d+e+f+g+h+i+j+k+l+m+n; }
`;

const CASES: Array<[string, string, unknown[], unknown]> = [
  ['add', 'i32(i32,i32)', [-1, -2], -3],
  ['uadd', 'u16(u16,u16)', [65535, 2], 1],
  ['narrow', 'i8(i8)', [-128], 127],
  ['fmul', 'f64(f64,f64)', [2, 3], 6],
  ['fadd', 'f32(f32,f32)', [1.5, 2.25], 3.75],
  ['itof', 'f64(i32,f32,i64,f64)', [3, 0.5, 2n, 0.25], 2],
  ['swap', '{i32,i32}({i32,i32})', [[1, -2]], [-2, 1]],
  ['big', '{i64,i64,i64,i64}(i64)', [10n], [10n, 11n, 12n, 13n]],
  ['sumbig', 'i64({i64,i64,i64,i64})', [[1n, 2n, 3n, 4n]], 10n],
  ['vscale', '{f64,f64}({f64,f64},f64)', [[1.5, 2], 2], [3, 4]],
  ['f3sum', 'f32({f32,f32,f32})', [[1, 2, 3.5]], 6.5],
  ['mswap', '{i64,f64}({i64,f64})', [[7n, 2.5]], [2n, 7]],
  ['many', 'i64(i64,i64,i64,i64,i64,i64,i64,i64,i64,i64)', Array(10).fill(1n), 55n],
  ['mixed', 'f64(i32,f64,i32,f64,i32,f64,i32,f64,i32,f64,f64,f64,f64,f64)', [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1.5], 14.5],
];

for (const arch of ARCHES) {
  for (const cc of ['gcc', 'clang'] as Compiler[]) {
    for (const opt of ['-O0', '-O2']) {
      test(`${arch} ${cc} ${opt}: integer, float, struct-by-value, sret and stack arguments follow the ABI`, async (t) => {
        const sb = await Sandbox.load([compile(arch, cc, ABI, [opt])]);
        try {
          for (const [name, sig, args, expected] of CASES) t.deepEqual(sb.call(name, sig, args as never).value, expected, `${name} ${sig}`);
        } finally {
          sb.close();
        }
      });
    }
  }
}

const RUNTIME = `
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int hello(const char *name) { return printf("hello %s %d %.3f %c|%5s|%-4d|%x\\n", name, 42, 2.5, 'z', "ab", 7, 255u); }
int count(const char *s, char c) { int n = 0; while (*s) n += *s++ == c; return n; }
void fill(unsigned char *out, int n) { for (int i = 0; i < n; i++) out[i] = i * 3; }
char *dup(const char *s) { char *p = malloc(strlen(s) + 1); strcpy(p, s); return p; }
int copylen(char *d, const char *s) { strcpy(d, s); return strlen(d); }
int fmt(char *buf, unsigned long n, double x) { return snprintf(buf, n, "[%g|%e]", x, x); }
int cmp(const char *a, const char *b) { return strcmp(a, b) < 0 ? -1 : strcmp(a, b) > 0; }
void die(void) { abort(); }
void twice(char *p) { free(p); free(p); }
void overrun(char *p, unsigned long n) { memset(p, 1, n); }
void poke_text(unsigned long n) { memcpy((void *)&poke_text, "xx", n); }
int smash(const char *s) { char buf[8]; strcpy(buf, s); return buf[0]; }
`;

for (const arch of ARCHES) {
  test(`${arch}: the C runtime, guest memory helpers and captured output`, async (t) => {
    const sb = await Sandbox.load([compile(arch, 'gcc', RUNTIME, ['-O2', '-fstack-protector-all'])]);
    try {
      const name = sb.allocateCString('world');
      const hello = sb.call('hello', 'i32(ptr)', [name]);
      t.is(hello.stdout, 'hello world 42 2.500 z|   ab|7   |ff\n');
      t.is(hello.value, hello.output.length);
      t.is(sb.call('count', 'i32(ptr,i8)', [sb.allocateCString('banana'), 97]).value, 3);
      const buf = sb.allocate(8);
      sb.call('fill', 'void(ptr,i32)', [buf, 8]);
      t.is(Buffer.from(sb.read(buf, 8)).toString('hex'), '000306090c0f1215');
      t.is(sb.readCString(sb.call('dup', 'ptr(ptr)', [name]).value as bigint), 'world');
      const copy = sb.allocate(16);
      t.is(sb.call('copylen', 'i32(ptr,ptr)', [copy, name]).value, 5); // stpcpy at -O2
      t.is(sb.readCString(copy), 'world');
      const out = sb.allocate(64);
      t.is(sb.call('fmt', 'i32(ptr,u64,f64)', [out, 64n, 0.0001]).value, 21);
      t.is(sb.readCString(out), '[0.0001|1.000000e-04]');
      t.is(sb.call('fmt', 'i32(ptr,u64,f64)', [out, 4n, 1]).value, 16);
      t.is(sb.readCString(out), '[1|');
      t.is(sb.call('cmp', 'i32(ptr,ptr)', [sb.allocateCString('abc'), sb.allocateCString('abd')]).value, -1);
      t.throws(() => sb.allocate(1 << 30), { instanceOf: SandboxMemoryError });
      t.throws(() => sb.write(sb.address('die'), new Uint8Array(1)), { instanceOf: SandboxMemoryError });
    } finally {
      sb.close();
    }
  });

  test(`${arch}: abort, stack smashing, double free and bad host pointers are guest traps at the calling instruction`, async (t) => {
    const sb = await Sandbox.load([compile(arch, 'gcc', RUNTIME, ['-O0', '-fstack-protector-all'])]);
    try {
      const trap = (name: string, sig: string, args: unknown[]) => t.throws(() => sb.call(name, sig, args as never), { instanceOf: GuestTrap }) as GuestTrap;
      let e = trap('die', 'void()', []);
      t.is(e.kind, 'abort');
      t.is(e.hostFunction, 'abort');
      t.regex(e.instruction ?? '', arch === 'x64' ? /^call/ : /^bl/);
      t.regex(e.backtrace[0].symbol ?? '', /^die\+/);
      e = trap('smash', 'i32(ptr)', [sb.allocateCString('0123456789abcdefghijklm')]);
      t.is(e.kind, 'abort');
      t.is(e.hostFunction, '__stack_chk_fail');
      e = trap('twice', 'void(ptr)', [sb.call('dup', 'ptr(ptr)', [sb.allocateCString('x')]).value]);
      t.is(e.kind, 'abort');
      t.is(e.hostFunction, 'free');
      // Lengths are the guest's unsigned values: -1 and 2^53 are checked, never allocated.
      for (const n of [-1n, 1n << 53n, 1n << 31n]) {
        e = trap('overrun', 'void(ptr,u64)', [sb.allocate(16), BigInt.asUintN(64, n)]);
        t.is(e.kind, 'write-unmapped');
        t.is(e.hostFunction, 'memset');
        t.regex(e.instruction ?? '', arch === 'x64' ? /^call/ : /^bl/);
      }
      e = trap('poke_text', 'void(u64)', [2n]);
      t.is(e.kind, 'write-protected');
      t.is(e.address, sb.address('poke_text'));
      e = trap('count', 'i32(ptr,i8)', [0x10n, 1]);
      t.is(e.kind, 'read-unmapped');
      e = trap('hello', 'i32(ptr)', [0x10n]);
      t.is(e.kind, 'read-unmapped');
      t.is(e.address, 0x10n);
      t.is(e.hostFunction, 'printf');
      t.regex(e.backtrace[0].symbol ?? '', /^hello\+/);
    } finally {
      sb.close();
    }
  });

  test(`${arch}: host work counts against the budget and the timeout`, async (t) => {
    const sb = await Sandbox.load([compile(arch, 'gcc', RUNTIME, ['-O2'])], { heapSize: 64 << 20 });
    try {
      const p = sb.allocate(32 << 20);
      const full = sb.call('overrun', 'void(ptr,u64)', [p, BigInt(32 << 20)]);
      t.true(full.instructions > BigInt((32 << 20) / 8));
      const e = t.throws(() => sb.call('overrun', 'void(ptr,u64)', [p, BigInt(32 << 20)], { budget: 100_000n }), { instanceOf: GuestTrap }) as GuestTrap;
      t.is(e.kind, 'budget-exhausted');
      t.is(e.hostFunction, 'memset');
    } finally {
      sb.close();
    }
  });

  test(`${arch}: host functions with C signatures, archives, unresolved names`, async (t) => {
    const user = compile(arch, 'gcc', `
      double cb(double, int);
      long total(long, long, long, long, long, long, long, long, long, long);
      long helper(long);
      double use(double x) { return cb(x, 3) + cb(x, -1); }
      long use10(void) { return total(1, 2, 3, 4, 5, 6, 7, 8, 9, 10) + helper(5); }
    `, ['-O2']);
    const lib = archive([
      compile(arch, 'gcc', 'long helper(long x) { return x * 100; }', ['-O2']),
      compile(arch, 'gcc', 'long unused(long x) { return missing_symbol(x); }', ['-O2', '-w']),
    ]);
    const seen: unknown[][] = [];
    const sb = await Sandbox.load([user, lib], {
      host: {
        cb: { sig: 'f64(f64,i32)', fn: ([x, k]) => { seen.push([x, k]); return (x as number) * (k as number); } },
        total: { sig: 'i64(i64,i64,i64,i64,i64,i64,i64,i64,i64,i64)', fn: (args) => (args as bigint[]).reduce((a, b) => a + b, 0n) },
      },
    });
    try {
      t.is(sb.call('use', 'f64(f64)', [1.5]).value, 3);
      t.deepEqual(seen, [[1.5, 3], [1.5, -1]]);
      t.is(sb.call('use10', 'i64()', []).value, 555n);
      t.deepEqual(sb.objects.map((f) => f.replace(/.*\//, '')).length, 2);
    } finally {
      sb.close();
    }
    await t.throwsAsync(() => Sandbox.load([user]), { instanceOf: LoaderError, message: /cb|total|helper/ });
    t.throws(() => parseSignature('f64(f65)'), { instanceOf: SignatureError });
  });
}
