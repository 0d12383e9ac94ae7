/**
 * Test support: assembles and compiles sources with the host's GNU toolchains into a temporary
 * directory and runs readelf, so loader tests can use real objects and readelf as an oracle.
 * Used only by `*.test.ts` files.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Arch } from '../isa/arch.ts';

const tools: Record<Arch, { as: string; gcc: string; readelf: string; objdump: string }> = {
  x64: { as: 'as', gcc: 'gcc', readelf: 'readelf', objdump: 'objdump' },
  aarch64: { as: 'aarch64-linux-gnu-as', gcc: 'aarch64-linux-gnu-gcc', readelf: 'readelf', objdump: 'aarch64-linux-gnu-objdump' },
};

let dir: string | undefined;
let counter = 0;
function workDir(): string {
  if (dir === undefined) {
    dir = mkdtempSync(join(tmpdir(), 'stackscope-loader-'));
    process.on('exit', () => rmSync(dir!, { recursive: true, force: true }));
  }
  return dir;
}

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err.stderr ?? err.message}`);
  }
}

/** Assembles GNU as source for `arch`; returns the object's path and bytes. */
export function assemble(arch: Arch, source: string): { path: string; bytes: Uint8Array } {
  const d = workDir();
  const n = counter++;
  const src = join(d, `a${n}.s`);
  const obj = join(d, `a${n}.o`);
  writeFileSync(src, source + '\n');
  run(tools[arch].as, ['-o', obj, src]);
  return { path: obj, bytes: new Uint8Array(readFileSync(obj)) };
}

/** Compiles C source with `gcc -c` (or the AArch64 cross gcc) and the given flags. */
export function compileC(arch: Arch, source: string, flags: string[] = ['-O2']): { path: string; bytes: Uint8Array } {
  const d = workDir();
  const n = counter++;
  const src = join(d, `c${n}.c`);
  const obj = join(d, `c${n}.o`);
  writeFileSync(src, source);
  run(tools[arch].gcc, ['-c', ...flags, '-o', obj, src]);
  return { path: obj, bytes: new Uint8Array(readFileSync(obj)) };
}

/** Writes bytes to a temp file (e.g. to hand writer output to readelf). */
export function writeTemp(bytes: Uint8Array, ext = '.o'): string {
  const p = join(workDir(), `w${counter++}${ext}`);
  writeFileSync(p, bytes);
  return p;
}

export function readelf(args: string[], path: string): string {
  return run('readelf', [...args, path]);
}

export function objdump(arch: Arch, args: string[], path: string): string {
  return run(tools[arch].objdump, [...args, path]);
}
