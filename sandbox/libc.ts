/**
 * The default minimal C runtime: host functions for the names gcc and clang objects commonly
 * leave undefined. Every pointer they receive is checked (sandbox/memory.ts); the heap is the
 * sandbox's guest heap; what they print is captured per call. `abort`, `__stack_chk_fail`
 * and heap misuse (a double or invalid `free`) are `abort` guest traps at the calling
 * instruction.
 */
import { hex } from '../isa/error.ts';
import { PROT_WRITE } from '../simulator/engine.ts';
import type { HostContext, HostFunctionSpec } from './host.ts';
import { formatC } from './printf.ts';

const enc = new TextEncoder();

/** Names the default runtime defines (besides the `__stack_chk_guard` data word). */
export const C_RUNTIME_FUNCTIONS = [
  'memcpy', 'memmove', 'memset', 'memcmp', 'strlen', 'strcmp', 'strncmp', 'strchr', 'strcpy', 'stpcpy', 'strncpy',
  'malloc', 'calloc', 'realloc', 'free', 'abort', '__stack_chk_fail', 'puts', 'putchar', 'printf', 'snprintf',
  'putc', 'fputc', 'fputs', 'fwrite', 'print_i64', '__popcountdi2',
] as const;

/** Data the runtime provides: the canary word and the `stdout`/`stderr` FILE pointers. */
export const C_RUNTIME_DATA = ['__stack_chk_guard', 'stdout', 'stderr'] as const;

function formatArgs(ctx: HostContext) {
  return {
    int: () => ctx.varargs.int(),
    double: () => ctx.varargs.double(),
    string: (address: bigint, max?: bigint) => ctx.memory.cstring(ctx.call, address, `${ctx.call.name}: %s argument`, max),
    store: (address: bigint, count: bigint, size: number) => {
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i++) bytes[i] = Number((count >> BigInt(8 * i)) & 0xffn);
      ctx.memory.write(ctx.call, address, bytes, `${ctx.call.name}: %n argument`);
    },
  };
}

function compare(a: Uint8Array, b: Uint8Array, n: number): number {
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

/** Bytes of the string at `address`, up to `n` of them (for strncmp-like functions). */
function strBytes(ctx: HostContext, address: bigint, what: string, max?: bigint): Uint8Array {
  return ctx.memory.cstring(ctx.call, address, `${ctx.call.name}: ${what}`, max);
}

/**
 * The runtime. `streams` are the guest addresses of the two FILE objects `stdout` and
 * `stderr` point to (opaque to the guest; glibc's headers turn putchar into putc(c, stdout)
 * at -O2): output to either is captured.
 */
export function cRuntime(streams: readonly bigint[] = []): Record<string, HostFunctionSpec> {
  const stream = (ctx: HostContext, f: bigint): void => {
    if (!streams.includes(f)) ctx.trap('abort', `${ctx.call.name}: ${hex(f)} is not stdout or stderr (the only streams the sandbox has)`, f);
  };
  const m = (ctx: HostContext) => ctx.memory;
  const allocate = (ctx: HostContext, size: bigint): bigint => {
    if (size > BigInt(ctx.heap.region.size)) return 0n;
    ctx.machine.chargeHostWork(ctx.call, 16n);
    return ctx.heap.allocate(Number(size)) ?? 0n;
  };
  const release = (ctx: HostContext, p: bigint, what: string): void => {
    if (p === 0n) return;
    if (!ctx.heap.release(p)) ctx.trap('abort', `${what}(): invalid pointer ${hex(p)} (not returned by malloc, or freed already)`, p);
  };
  return {
    memcpy: { sig: 'ptr(ptr,ptr,u64)', fn: ([d, s, n], ctx) => { m(ctx).move(ctx.call, d as bigint, s as bigint, n as bigint, 'memcpy'); return d; } },
    memmove: { sig: 'ptr(ptr,ptr,u64)', fn: ([d, s, n], ctx) => { m(ctx).move(ctx.call, d as bigint, s as bigint, n as bigint, 'memmove'); return d; } },
    memset: { sig: 'ptr(ptr,i32,u64)', fn: ([d, c, n], ctx) => { m(ctx).fill(ctx.call, d as bigint, (c as number) & 0xff, n as bigint, 'memset'); return d; } },
    memcmp: { sig: 'i32(ptr,ptr,u64)', fn: ([a, b, n], ctx) => {
      const len = n as bigint;
      const x = m(ctx).read(ctx.call, a as bigint, len, 'memcmp (first)');
      const y = m(ctx).read(ctx.call, b as bigint, len, 'memcmp (second)');
      return compare(x, y, x.length);
    } },
    strlen: { sig: 'u64(ptr)', fn: ([s], ctx) => m(ctx).strlen(ctx.call, s as bigint, 'strlen') },
    strcmp: { sig: 'i32(ptr,ptr)', fn: ([a, b], ctx) => {
      const x = strBytes(ctx, a as bigint, 'first string');
      const y = strBytes(ctx, b as bigint, 'second string');
      return compare(Uint8Array.of(...x, 0), Uint8Array.of(...y, 0), Math.min(x.length, y.length) + 1);
    } },
    strncmp: { sig: 'i32(ptr,ptr,u64)', fn: ([a, b, n], ctx) => {
      const x = strBytes(ctx, a as bigint, 'first string', n as bigint);
      const y = strBytes(ctx, b as bigint, 'second string', n as bigint);
      const len = Math.min(Math.min(x.length, y.length) + 1, Number(n as bigint > 1n << 40n ? 1n << 40n : n as bigint));
      return compare(Uint8Array.of(...x, 0), Uint8Array.of(...y, 0), len);
    } },
    strchr: { sig: 'ptr(ptr,i32)', fn: ([s, c], ctx) => {
      const bytes = strBytes(ctx, s as bigint, 'string');
      const ch = (c as number) & 0xff;
      if (ch === 0) return (s as bigint) + BigInt(bytes.length);
      const i = bytes.indexOf(ch);
      return i < 0 ? 0n : (s as bigint) + BigInt(i);
    } },
    strcpy: { sig: 'ptr(ptr,ptr)', fn: ([d, s], ctx) => {
      const bytes = strBytes(ctx, s as bigint, 'source');
      m(ctx).write(ctx.call, d as bigint, Uint8Array.of(...bytes, 0), 'strcpy (destination)');
      return d;
    } },
    // gcc -O2 turns `strcpy(d, s); ... strlen(d)` into stpcpy, which returns the end of the copy.
    stpcpy: { sig: 'ptr(ptr,ptr)', fn: ([d, s], ctx) => {
      const bytes = strBytes(ctx, s as bigint, 'source');
      m(ctx).write(ctx.call, d as bigint, Uint8Array.of(...bytes, 0), 'stpcpy (destination)');
      return (d as bigint) + BigInt(bytes.length);
    } },
    strncpy: { sig: 'ptr(ptr,ptr,u64)', fn: ([d, s, n], ctx) => {
      const len = n as bigint;
      const bytes = strBytes(ctx, s as bigint, 'source', len);
      m(ctx).check(ctx.call, d as bigint, len, PROT_WRITE, 'strncpy (destination)');
      const out = new Uint8Array(Number(len));
      out.set(bytes.subarray(0, out.length));
      m(ctx).write(ctx.call, d as bigint, out, 'strncpy (destination)');
      return d;
    } },
    malloc: { sig: 'ptr(u64)', fn: ([n], ctx) => allocate(ctx, n as bigint) },
    calloc: { sig: 'ptr(u64,u64)', fn: ([n, size], ctx) => {
      const total = (n as bigint) * (size as bigint);
      if (total >= 1n << 63n) return 0n;
      const p = allocate(ctx, total);
      if (p !== 0n && total > 0n) m(ctx).fill(ctx.call, p, 0, total, 'calloc');
      return p;
    } },
    realloc: { sig: 'ptr(ptr,u64)', fn: ([p, n], ctx) => {
      const old = p as bigint;
      const size = n as bigint;
      if (old === 0n) return allocate(ctx, size);
      const oldSize = ctx.heap.sizeOf(old);
      if (oldSize === undefined) ctx.trap('abort', `realloc(): invalid pointer ${hex(old)}`, old);
      if (size === 0n) {
        release(ctx, old, 'realloc');
        return 0n;
      }
      const fresh = allocate(ctx, size);
      if (fresh === 0n) return 0n;
      const keep = BigInt(Math.min(oldSize!, Number(size)));
      m(ctx).move(ctx.call, fresh, old, keep, 'realloc');
      release(ctx, old, 'realloc');
      return fresh;
    } },
    free: { sig: 'void(ptr)', fn: ([p], ctx) => release(ctx, p as bigint, 'free') },
    abort: { sig: 'void()', fn: (_args, ctx) => ctx.trap('abort', 'abort() called') },
    __stack_chk_fail: { sig: 'void()', fn: (_args, ctx) => ctx.trap('abort', 'stack smashing detected (__stack_chk_fail)') },
    puts: { sig: 'i32(ptr)', fn: ([s], ctx) => {
      const bytes = strBytes(ctx, s as bigint, 'string');
      ctx.output(bytes);
      ctx.output('\n');
      return Math.min(bytes.length + 1, 0x7fffffff);
    } },
    putchar: { sig: 'i32(i32)', fn: ([c], ctx) => {
      ctx.output(Uint8Array.of((c as number) & 0xff));
      return (c as number) & 0xff;
    } },
    printf: { sig: 'i32(ptr)', variadic: true, fn: ([f], ctx) => {
      const out = formatC(strBytes(ctx, f as bigint, 'format'), formatArgs(ctx));
      ctx.machine.chargeHostWork(ctx.call, BigInt(out.length));
      ctx.output(out);
      return out.length;
    } },
    snprintf: { sig: 'i32(ptr,u64,ptr)', variadic: true, fn: ([buf, n, f], ctx) => {
      const out = formatC(strBytes(ctx, f as bigint, 'format'), formatArgs(ctx));
      ctx.machine.chargeHostWork(ctx.call, BigInt(out.length));
      const size = n as bigint;
      if (size > 0n) {
        const keep = Number(BigInt(out.length) < size - 1n ? BigInt(out.length) : size - 1n);
        m(ctx).write(ctx.call, buf as bigint, Uint8Array.of(...out.subarray(0, keep), 0), 'snprintf (buffer)');
      }
      return out.length;
    } },
    putc: { sig: 'i32(i32,ptr)', fn: ([c, f], ctx) => {
      stream(ctx, f as bigint);
      ctx.output(Uint8Array.of((c as number) & 0xff));
      return (c as number) & 0xff;
    } },
    fputc: { sig: 'i32(i32,ptr)', fn: ([c, f], ctx) => {
      stream(ctx, f as bigint);
      ctx.output(Uint8Array.of((c as number) & 0xff));
      return (c as number) & 0xff;
    } },
    fputs: { sig: 'i32(ptr,ptr)', fn: ([s, f], ctx) => {
      stream(ctx, f as bigint);
      ctx.output(strBytes(ctx, s as bigint, 'string'));
      return 1;
    } },
    fwrite: { sig: 'u64(ptr,u64,u64,ptr)', fn: ([p, size, n, f], ctx) => {
      stream(ctx, f as bigint);
      const total = (size as bigint) * (n as bigint);
      if ((size as bigint) === 0n || total / (size as bigint) !== (n as bigint)) return 0n;
      ctx.output(m(ctx).read(ctx.call, p as bigint, total, 'fwrite'));
      return n;
    } },
    // Not C library functions, kept for objects written against `stackscope run`'s first runtime.
    print_i64: { sig: 'i64(i64)', fn: ([x], ctx) => {
      ctx.output(enc.encode(`print_i64: ${x}\n`));
      return x;
    } },
    __popcountdi2: { sig: 'i32(u64)', fn: ([x]) => [...(x as bigint).toString(2)].filter((c) => c === '1').length },
  };
}
