/**
 * Differential corpus: every function of testdata/corpus.c, compiled by gcc and clang at -O0
 * and -O2 for both arches, is called in the sandbox and natively (linked into a generated C
 * harness and run on this x86-64 host, or statically linked and run under qemu-aarch64); the
 * printed results, buffers and captured output must be equal, line for line.
 *
 * Objects and native outputs are cached in .cache/sandbox-corpus/ (git-ignored), keyed by the
 * sources, the harness and the compilers' versions, so CI compiles and runs natively once.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ARCHES, type Arch } from '../isa/arch.ts';
import { GuestTrap } from '../simulator/trap.ts';
import { parseSignature, type CValue } from './abi.ts';
import { formatC } from './printf.ts';
import { Sandbox } from './sandbox.ts';
import { compilerCommand, type Compiler } from './testing.ts';

type Show = 'hex' | 'str' | 'ints';
type Arg =
  | number | bigint
  | { str: string; show?: Show }
  | { bytes: number[]; show?: Show }
  | { doubles: number[] }
  | { floats: number[] }
  | { ints: number[]; show?: Show }
  | { out: number; show: Show }
  | { struct: string; fields: Array<number | bigint> };

interface Case { fn: string; sig: string; args: Arg[]; fmt?: string; fields?: string[] }

const CASES: Case[] = [
  { fn: 'add_i32', sig: 'i32(i32,i32)', args: [-1, -2], fmt: '%d' },
  { fn: 'add_i32', sig: 'i32(i32,i32)', args: [2147483647, 1], fmt: '%d' },
  { fn: 'sub_u8', sig: 'u8(u8,u8)', args: [3, 5], fmt: '%u' },
  { fn: 'neg_i16', sig: 'i16(i16)', args: [-32768], fmt: '%d' },
  { fn: 'mul_i64', sig: 'i64(i64,i64)', args: [-123456789n, 987654321n], fmt: '%ld' },
  { fn: 'udiv_u64', sig: 'u64(u64,u64)', args: [18446744073709551615n, 7n], fmt: '%lu' },
  { fn: 'fmul_f64', sig: 'f64(f64,f64)', args: [2, 3.25], fmt: '%.17g' },
  { fn: 'fdiv_f32', sig: 'f32(f32,f32)', args: [1, 3], fmt: '%.9g' },
  { fn: 'mix_args', sig: 'f64(i32,f64,i64,f32,u8,f64,i32,f64,i64,f64,f64,f64,f64,i64,i64)', args: [1, 0.5, 3n, 0.25, 200, 1.5, -7, 2.5, 9n, 0.125, 3.5, 4.5, 5.5, 100n, -200n], fmt: '%.17g' },
  { fn: 'many_longs', sig: 'i64(i64,i64,i64,i64,i64,i64,i64,i64,i64,i64)', args: [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n], fmt: '%ld' },
  { fn: 'poly', sig: 'f64(f64,ptr,i32)', args: [1.5, { doubles: [1, -2, 0.5, 3] }, 4], fmt: '%.17g' },
  { fn: 'sum_bytes', sig: 'u32(ptr,u64)', args: [{ bytes: [1, 2, 3, 250, 99, 0, 17] }, 7n], fmt: '%u' },
  { fn: 'reverse', sig: 'void(ptr,u64)', args: [{ bytes: [1, 2, 3, 4, 5, 6, 7], show: 'hex' }, 7n] },
  { fn: 'str_len', sig: 'u64(ptr)', args: [{ str: 'sandboxed strings' }], fmt: '%lu' },
  { fn: 'count_char', sig: 'i32(ptr,i32)', args: [{ str: 'mississippi' }, 115], fmt: '%d' },
  { fn: 'to_upper', sig: 'void(ptr)', args: [{ str: 'Hello, World 42', show: 'str' }] },
  { fn: 'str_compare', sig: 'i32(ptr,ptr)', args: [{ str: 'apple' }, { str: 'apricot' }], fmt: '%d' },
  { fn: 'str_compare', sig: 'i32(ptr,ptr)', args: [{ str: 'same' }, { str: 'same' }], fmt: '%d' },
  { fn: 'copy_str', sig: 'void(ptr,ptr,u64)', args: [{ out: 8, show: 'hex' }, { str: 'truncated text' }, 8n] },
  { fn: 'make_point', sig: '{i32,i32}(i32,i32)', args: [21, -4], fmt: '%d %d', fields: ['r.x', 'r.y'] },
  { fn: 'point_dist2', sig: 'i64({i32,i32},{i32,i32})', args: [{ struct: 'point', fields: [1, 2] }, { struct: 'point', fields: [-3, 7] }], fmt: '%ld' },
  { fn: 'vec_add', sig: '{f64,f64}({f64,f64},{f64,f64})', args: [{ struct: 'vec2', fields: [1.25, 2] }, { struct: 'vec2', fields: [-0.5, 3.5] }], fmt: '%.17g %.17g', fields: ['r.x', 'r.y'] },
  { fn: 'make_big', sig: '{i64,i64,i64,i64}(i64)', args: [-11n], fmt: '%ld %ld %ld %ld', fields: ['r.a', 'r.b', 'r.c', 'r.d'] },
  { fn: 'big_sum', sig: 'i64({i64,i64,i64,i64})', args: [{ struct: 'big', fields: [1n, 2n, 3n, 4n] }], fmt: '%ld' },
  { fn: 'rgb_pack', sig: 'u32({u8,u8,u8,u8})', args: [{ struct: 'rgba', fields: [0x12, 0x34, 0x56, 0x78] }], fmt: '%u' },
  { fn: 'f3_scale', sig: '{f32,f32,f32}({f32,f32,f32},f32)', args: [{ struct: 'f3', fields: [1.5, -2, 0.25] }, 3], fmt: '%.9g %.9g %.9g', fields: ['r.a', 'r.b', 'r.c'] },
  { fn: 'swap_ld', sig: '{f64,i64}({i64,f64})', args: [{ struct: 'ld', fields: [41n, 0.75] }], fmt: '%.17g %ld', fields: ['r.d', 'r.n'] },
  { fn: 'fmt_ints', sig: 'i32(i64,i64)', args: [-42n, 255n], fmt: '%d' },
  { fn: 'fmt_floats', sig: 'i32(f64)', args: [3.14159265358979], fmt: '%d' },
  { fn: 'fmt_floats', sig: 'i32(f64)', args: [-0.000125], fmt: '%d' },
  { fn: 'fmt_floats', sig: 'i32(f64)', args: [2.5], fmt: '%d' },
  { fn: 'fmt_str', sig: 'i32(ptr)', args: [{ str: 'wasm' }], fmt: '%d' },
  { fn: 'snprintf_into', sig: 'i32(ptr,u64,i64,f64)', args: [{ out: 12, show: 'str' }, 12n, -7n, 2.675], fmt: '%d' },
  { fn: 'fib_rec', sig: 'i64(i32)', args: [20], fmt: '%ld' },
  { fn: 'ackermann', sig: 'i64(i64,i64)', args: [2n, 3n], fmt: '%ld' },
  { fn: 'apply_op', sig: 'i64(i32,i64,i64)', args: [1, 6n, 7n], fmt: '%ld' },
  { fn: 'apply_op', sig: 'i64(i32,i64,i64)', args: [5, 6n, 7n], fmt: '%ld' },
  { fn: 'host_callback_sum', sig: 'i64(i32)', args: [10], fmt: '%ld' },
  { fn: 'heap_list', sig: 'i64(i32)', args: [12], fmt: '%ld' },
  { fn: 'realloc_grow', sig: 'i64(i32)', args: [40], fmt: '%ld' },
  { fn: 'calloc_zero', sig: 'i64(i32)', args: [100], fmt: '%ld' },
  { fn: 'memops', sig: 'i32(ptr,i32)', args: [{ out: 16, show: 'hex' }, 16], fmt: '%d' },
  { fn: 'sort_ints', sig: 'void(ptr,i32)', args: [{ ints: [5, -3, 99, 0, 7, -100, 42], show: 'ints' }, 7] },
  { fn: 'puts_putchar', sig: 'i32(i32)', args: [5], fmt: '%d' },
  { fn: 'float_classify', sig: 'i32(f64)', args: [Number.NaN], fmt: '%d' },
  { fn: 'float_classify', sig: 'i32(f64)', args: [-Infinity], fmt: '%d' },
  { fn: 'float_classify', sig: 'i32(f64)', args: [12.34], fmt: '%d' },
  { fn: 'collatz', sig: 'i64(i64)', args: [27n], fmt: '%ld' },
  { fn: 'bitops', sig: 'i32(u64)', args: [0xf0f0_0000_1234_5670n], fmt: '%d' },
  { fn: 'dot3', sig: 'f64(ptr,ptr)', args: [{ floats: [1.5, 2, -3] }, { floats: [0.1, 4, 2.5] }], fmt: '%.17g' },
  { fn: 'parse_int', sig: 'i32(ptr)', args: [{ str: '-12345xyz' }], fmt: '%d' },
];

// ---- the native harness ------------------------------------------------------------------

function cScalar(type: string, v: number | bigint): string {
  if (type === 'f64' || type === 'f32') {
    const n = Number(v);
    const text = Number.isNaN(n) ? '(0.0/0.0)' : n === Infinity ? '(1.0/0.0)' : n === -Infinity ? '(-1.0/0.0)' : String(n).includes('.') || String(n).includes('e') ? String(n) : `${n}.0`;
    return type === 'f32' && !text.startsWith('(') ? `${text}f` : text;
  }
  if (type === 'u64') return `${v}UL`;
  if (type === 'i64') return `${v}L`;
  if (type === 'u32') return `${v}U`;
  return String(v);
}

/** corpus.c's struct definitions and prototypes of its external functions. */
function declarations(source: string): string[] {
  const out: string[] = [];
  for (const line of source.split('\n')) {
    if (/^struct \w+ \{.*\};$/.test(line)) out.push(line);
    else if (/^[a-z]/.test(line) && !line.startsWith('static') && line.includes('(') && line.includes('{')) out.push(`${line.slice(0, line.indexOf('{')).trim()};`);
  }
  return out;
}

function harness(): string {
  const lines = [
    '#include <stdio.h>',
    ...declarations(readFileSync(SOURCE, 'utf8')),
    'long host_scale(long x, double k) { return (long)(x * k) + 1; }',
    'static void hex(const void *p, unsigned long n) { const unsigned char *b = p; printf("  buf:"); for (unsigned long i = 0; i < n; i++) printf("%02x", b[i]); printf("\\n"); }',
    'static void ints(const int *p, int n) { printf("  ints:"); for (int i = 0; i < n; i++) printf("%d,", p[i]); printf("\\n"); }',
    'int main(void) {',
  ];
  CASES.forEach((c, ci) => {
    const sig = parseSignature(c.sig);
    const decls: string[] = [];
    const after: string[] = [];
    const args = c.args.map((a, i) => {
      const name = `a${ci}_${i}`;
      const type = sig.params[i];
      if (typeof a === 'number' || typeof a === 'bigint') return cScalar(type as string, a);
      if ('struct' in a) {
        const fields = (type as { struct: string[] }).struct;
        return `(struct ${a.struct}){${a.fields.map((f, k) => cScalar(fields[k], f)).join(', ')}}`;
      }
      if ('str' in a) {
        decls.push(`char ${name}[] = ${JSON.stringify(a.str)};`);
        if (a.show === 'str') after.push(`printf("  str:%s\\n", ${name});`);
        return name;
      }
      if ('bytes' in a) {
        decls.push(`unsigned char ${name}[] = {${a.bytes.join(', ')}};`);
        if (a.show === 'hex') after.push(`hex(${name}, sizeof ${name});`);
        return name;
      }
      if ('doubles' in a) { decls.push(`double ${name}[] = {${a.doubles.map((d) => cScalar('f64', d)).join(', ')}};`); return name; }
      if ('floats' in a) { decls.push(`float ${name}[] = {${a.floats.map((d) => cScalar('f32', d)).join(', ')}};`); return name; }
      if ('ints' in a) {
        decls.push(`int ${name}[] = {${a.ints.join(', ')}};`);
        if (a.show === 'ints') after.push(`ints(${name}, ${a.ints.length});`);
        return name;
      }
      decls.push(`char ${name}[${a.out}] = {0};`);
      after.push(a.show === 'str' ? `printf("  str:%s\\n", ${name});` : `hex(${name}, sizeof ${name});`);
      return name;
    });
    const call = `${c.fn}(${args.join(', ')})`;
    const body = sig.result === 'void'
      ? `${call}; printf("${c.fn}:\\n");`
      : `__typeof__(${call}) r = ${call}; printf("${c.fn}: ${c.fmt}\\n", ${(c.fields ?? ['r']).join(', ')});`;
    lines.push(`  { ${decls.join(' ')} ${body} ${after.join(' ')} fflush(stdout); }`);
  });
  lines.push('  return 0;', '}');
  return lines.join('\n') + '\n';
}

// ---- the sandbox side ----------------------------------------------------------------------

const f64 = new DataView(new ArrayBuffer(8));
function doubleBits(x: number): bigint {
  f64.setFloat64(0, x, true);
  return f64.getBigUint64(0, true);
}

function flatten(v: CValue | undefined): Array<number | bigint> {
  if (v === undefined) return [];
  return Array.isArray(v) ? v.flatMap((x) => flatten(x)) : [v as number | bigint];
}

function printf(fmt: string, values: Array<number | bigint>): string {
  let k = 0;
  return new TextDecoder().decode(formatC(new TextEncoder().encode(fmt), {
    int: () => BigInt.asUintN(64, BigInt(values[k++] as number | bigint)),
    double: () => doubleBits(Number(values[k++])),
    string: () => new Uint8Array(0),
    store: () => undefined,
  }));
}

async function runInSandbox(arch: Arch, object: { file: string; bytes: Uint8Array }): Promise<string> {
  const sb = await Sandbox.load([object], {
    host: { host_scale: { sig: 'i64(i64,f64)', fn: ([x, k]) => BigInt(Math.trunc(Number(x) * (k as number))) + 1n } },
  });
  const out: string[] = [];
  try {
    for (const c of CASES) {
      const sig = parseSignature(c.sig);
      const after: Array<() => string> = [];
      const values: CValue[] = c.args.map((a) => {
        if (typeof a === 'number' || typeof a === 'bigint') return a;
        if ('struct' in a) return a.fields;
        if ('str' in a) {
          const p = sb.allocateCString(a.str);
          if (a.show === 'str') after.push(() => `  str:${sb.readCString(p)}\n`);
          return p;
        }
        if ('bytes' in a) {
          const p = sb.allocateBytes(Uint8Array.from(a.bytes));
          if (a.show === 'hex') after.push(() => `  buf:${Buffer.from(sb.read(p, a.bytes.length)).toString('hex')}\n`);
          return p;
        }
        if ('doubles' in a) return sb.allocateBytes(new Uint8Array(Float64Array.from(a.doubles).buffer));
        if ('floats' in a) return sb.allocateBytes(new Uint8Array(Float32Array.from(a.floats).buffer));
        if ('ints' in a) {
          const p = sb.allocateBytes(new Uint8Array(Int32Array.from(a.ints).buffer));
          if (a.show === 'ints') {
            after.push(() => {
              const b = sb.read(p, a.ints.length * 4);
              const dv = new DataView(b.buffer, b.byteOffset, b.length);
              return `  ints:${a.ints.map((_, k) => `${dv.getInt32(4 * k, true)},`).join('')}\n`;
            });
          }
          return p;
        }
        const p = sb.allocate(a.out);
        after.push(() => (a.show === 'str' ? `  str:${sb.readCString(p)}\n` : `  buf:${Buffer.from(sb.read(p, a.out)).toString('hex')}\n`));
        return p;
      });
      try {
        const r = sb.call(c.fn, sig, values);
        out.push(r.stdout);
        out.push(sig.result === 'void' ? `${c.fn}:\n` : `${c.fn}: ${printf(c.fmt!, flatten(r.value))}\n`);
      } catch (e) {
        out.push(e instanceof GuestTrap ? `${c.fn}: trap ${e.message}\n` : `${c.fn}: error ${(e as Error).message}\n`);
      }
      for (const f of after) out.push(f());
    }
  } finally {
    sb.close();
  }
  return out.join('');
}

// ---- building, cached ----------------------------------------------------------------------

const ROOT = new URL('../', import.meta.url).pathname;
const SOURCE = join(ROOT, 'sandbox/testdata/corpus.c');
const CACHE = join(ROOT, '.cache/sandbox-corpus');

function version(cmd: string): string {
  try {
    return execFileSync(cmd, ['--version'], { encoding: 'utf8' }).split('\n')[0];
  } catch {
    return 'missing';
  }
}

/** The object and its native output for one build, from the cache or made now. */
function build(arch: Arch, cc: Compiler, opt: string): { object: { file: string; bytes: Uint8Array }; native: string } {
  const { cmd, args } = compilerCommand(arch, cc);
  const linker = arch === 'x64' ? 'gcc' : 'aarch64-linux-gnu-gcc';
  const source = readFileSync(SOURCE, 'utf8');
  const h = harness();
  const key = createHash('sha256').update([source, h, version(cmd), version(linker), version('qemu-aarch64'), arch, cc, opt].join('\0')).digest('hex').slice(0, 16);
  const dir = join(CACHE, `${arch}-${cc}${opt}-${key}`);
  const obj = join(dir, 'corpus.o');
  const nativeOut = join(dir, 'native.txt');
  if (!existsSync(nativeOut)) {
    mkdirSync(dir, { recursive: true });
    execFileSync(cmd, [...args, '-c', opt, '-w', '-o', obj, SOURCE]);
    writeFileSync(join(dir, 'harness.c'), h);
    const exe = join(dir, 'native');
    execFileSync(linker, [...(arch === 'aarch64' ? ['-static'] : []), '-w', '-O0', '-o', exe, join(dir, 'harness.c'), obj]);
    const output = arch === 'x64' ? execFileSync(exe, { encoding: 'utf8' }) : execFileSync('qemu-aarch64', [exe], { encoding: 'utf8' });
    writeFileSync(nativeOut, output);
  }
  return { object: { file: obj, bytes: new Uint8Array(readFileSync(obj)) }, native: readFileSync(nativeOut, 'utf8') };
}

test('the corpus has at least 30 functions and every one is called', (t) => {
  const defined = [...readFileSync(SOURCE, 'utf8').matchAll(/^[a-z][^(;]*?\b(\w+)\(.*\) \{/gm)].map((m) => m[1]).filter((n) => !n.startsWith('op_'));
  const called = new Set(CASES.map((c) => c.fn));
  t.true(defined.length >= 30, `${defined.length} functions`);
  t.deepEqual(defined.filter((n) => !called.has(n)), []);
});

for (const arch of ARCHES) {
  for (const cc of ['gcc', 'clang'] as Compiler[]) {
    for (const opt of ['-O0', '-O2']) {
      test(`${arch} ${cc} ${opt}: the corpus prints the same in the sandbox as natively`, async (t) => {
        const { object, native } = build(arch, cc, opt);
        const sandboxed = await runInSandbox(arch, object);
        t.is(sandboxed, native);
      });
    }
  }
}
