/**
 * Keeps the committed data in step with its sources: every corpus line, assembled with GNU as
 * and decoded by Capstone, has an exact table entry on every microarchitecture of its arch, and
 * the kernel bytes in testing/kernel-goldens.ts are what GNU as makes of testing/kernels.ts today. A failure
 * means someone edited testing/corpus.ts, testing/kernels.ts or forms.ts without rerunning
 * `node --import tsx scripts/gen-timing-tables.ts`.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Arch } from '../../isa/arch.ts';
import { instructionCorpus } from './testing/corpus.ts';
import { KERNEL_GOLDENS } from './testing/kernel-goldens.ts';
import { disassemble } from './disasm.ts';
import { parseForm } from './forms.ts';
import { KERNELS } from './testing/kernels.ts';
import { UARCH_NAMES, loadTimingModels, timingModel } from './model.ts';

await loadTimingModels();

function assemble(arch: Arch, source: string): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'timing-test-'));
  try {
    const [as, objcopy] = arch === 'x64' ? ['as', 'objcopy'] : ['aarch64-linux-gnu-as', 'aarch64-linux-gnu-objcopy'];
    writeFileSync(join(dir, 'a.s'), (arch === 'x64' ? '.intel_syntax noprefix\n' : '') + source);
    execFileSync(as, ['-o', join(dir, 'a.o'), join(dir, 'a.s')], { stdio: 'pipe' });
    execFileSync(objcopy, ['-O', 'binary', '--only-section=.text', join(dir, 'a.o'), join(dir, 'a.bin')]);
    return new Uint8Array(readFileSync(join(dir, 'a.bin')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const arch of ['x64', 'aarch64'] as Arch[]) {
  test(`${arch}: every corpus line has an exact entry in each table`, async (t) => {
    const lines = instructionCorpus(arch);
    const insns = await disassemble(arch, assemble(arch, lines.join('\n') + '\n.Ltarget:\nnop\n'), 0n);
    t.is(insns.length, lines.length + 1);
    const models = UARCH_NAMES.map((u) => timingModel(u)).filter((m) => m.arch === arch);
    t.is(models.length, arch === 'x64' ? 5 : 4);
    const missing: string[] = [];
    insns.slice(0, -1).forEach((insn, i) => {
      const key = parseForm(arch, insn.mnemonic, insn.opStr).key;
      for (const m of models) if (!m.table.forms[key]) missing.push(`${m.uarch}: ${lines[i]} → ${key}`);
    });
    t.deepEqual(missing, []);
  });
}

test('kernel bytes in testing/kernel-goldens.ts match testing/kernels.ts', (t) => {
  t.is(KERNEL_GOLDENS.length, KERNELS.length);
  for (const k of KERNELS) {
    const golden = KERNEL_GOLDENS.find((g) => g.name === k.name);
    if (!golden) {
      t.fail(`no golden for ${k.name}`);
      continue;
    }
    const label = `.Lloop_${k.name.replace(/[^A-Za-z0-9]/g, '_')}`;
    const body = k.asm.trim().split('\n').map((l) => l.trim().replace(/\bLOOP\b/, label)).join('\n');
    t.is(Buffer.from(assemble(k.arch, `${label}:\n${body}\n`)).toString('hex'), golden.bytes, k.name);
  }
});

/** C shapes gcc turns into the common instruction forms: loops, FP, division, switch, bit tricks. */
const GCC_SAMPLE = String.raw`
#include <stddef.h>
#include <stdint.h>
typedef struct { double x, y; int64_t tag; } point;
double dot(const double *a, const double *b, size_t n) { double s = 0; for (size_t i = 0; i < n; i++) s += a[i] * b[i]; return s; }
int64_t sum(const int32_t *a, size_t n) { int64_t s = 0; for (size_t i = 0; i < n; i++) s += a[i]; return s; }
uint64_t hash(const uint8_t *p, size_t n) { uint64_t h = 1469598103934665603ull; while (n--) { h ^= *p++; h *= 1099511628211ull; } return h; }
int64_t divmod(int64_t a, int64_t b, int64_t *r) { *r = a % b; return a / b; }
uint32_t udiv(uint32_t a, uint32_t b) { return a / b + a % 7; }
int cmp(const void *a, const void *b) { int64_t x = *(const int64_t *)a, y = *(const int64_t *)b; return (x > y) - (x < y); }
double norm(point *p, int n) { double m = 0; for (int i = 0; i < n; i++) { double d = p[i].x * p[i].x + p[i].y * p[i].y; if (d > m) m = d; p[i].tag = (int64_t)d; } return m; }
int sw(int k, int v) { switch (k) { case 0: return v + 1; case 1: return v * 3; case 2: return v << 2; case 3: return v >> 1; case 4: return -v; case 5: return v & 0xff; default: return 0; } }
size_t slen(const char *s) { size_t n = 0; while (s[n]) n++; return n; }
void copy(int64_t *d, const int64_t *s, size_t n) { for (size_t i = 0; i < n; i++) d[i] = s[i]; }
float fmix(float a, float b, int c) { return c ? a * b + (float)c : a / b - (float)c; }
int popc(uint64_t x) { return __builtin_popcountll(x) + __builtin_ctzll(x | 1) + __builtin_clzll(x | 1); }
int64_t fib(int n) { int64_t a = 0, b = 1; for (int i = 0; i < n; i++) { int64_t t = a + b; a = b; b = t; } return a; }
uint64_t rot(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
int minmax(int *a, int n) { int lo = a[0], hi = a[0]; for (int i = 1; i < n; i++) { lo = a[i] < lo ? a[i] : lo; hi = a[i] > hi ? a[i] : hi; } return hi - lo; }
double conv(int64_t x, uint32_t y) { return (double)x + (double)y; }
int64_t trunc_(double d) { return (int64_t)d + (int64_t)(float)d; }
void scale(float *v, float k, int n) { for (int i = 0; i < n; i++) v[i] *= k; }
`;

test('gcc -O0 and -O2 output of a C sample is priced exactly on every microarchitecture', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'timing-gcc-'));
  try {
    writeFileSync(join(dir, 'k.c'), GCC_SAMPLE);
    for (const arch of ['x64', 'aarch64'] as Arch[]) {
      const [gcc, objcopy] = arch === 'x64' ? ['gcc', 'objcopy'] : ['aarch64-linux-gnu-gcc', 'aarch64-linux-gnu-objcopy'];
      for (const opt of ['-O0', '-O2']) {
        execFileSync(gcc, [opt, '-c', join(dir, 'k.c'), '-o', join(dir, 'k.o')], { stdio: 'pipe' });
        execFileSync(objcopy, ['-O', 'binary', '--only-section=.text', join(dir, 'k.o'), join(dir, 'k.bin')]);
        const insns = await disassemble(arch, new Uint8Array(readFileSync(join(dir, 'k.bin'))), 0n);
        t.true(insns.length > 150, `${arch} ${opt}`);
        for (const m of UARCH_NAMES.map((u) => timingModel(u)).filter((m) => m.arch === arch)) {
          const inexact = insns.filter((i) => m.lookup(i.mnemonic, i.opStr).match !== 'exact').map((i) => `${i.mnemonic} ${i.opStr}`);
          t.deepEqual(inexact, [], `${m.uarch} ${opt}`);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
