/**
 * Test support: compiles C with gcc (the AArch64 cross gcc) or clang (--target) into a
 * temporary directory, and packs objects into `ar` archives. Tests only.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Arch } from '../isa/arch.ts';

export type Compiler = 'gcc' | 'clang';

let dir: string | undefined;
let counter = 0;
function workDir(): string {
  if (dir === undefined) {
    dir = mkdtempSync(join(tmpdir(), 'stackscope-sandbox-'));
    process.on('exit', () => rmSync(dir!, { recursive: true, force: true }));
  }
  return dir;
}

export function compilerCommand(arch: Arch, compiler: Compiler): { cmd: string; args: string[] } {
  if (compiler === 'clang') return { cmd: 'clang', args: ['--target=' + (arch === 'x64' ? 'x86_64-linux-gnu' : 'aarch64-linux-gnu')] };
  return { cmd: arch === 'x64' ? 'gcc' : 'aarch64-linux-gnu-gcc', args: [] };
}

/** `cc -c` of `source` with `flags`; returns the object's path and bytes. */
export function compile(arch: Arch, compiler: Compiler, source: string, flags: string[] = ['-O2']): { file: string; bytes: Uint8Array } {
  const d = workDir();
  const n = counter++;
  const src = join(d, `s${n}.c`);
  const obj = join(d, `s${n}.o`);
  writeFileSync(src, source);
  const { cmd, args } = compilerCommand(arch, compiler);
  execFileSync(cmd, [...args, '-c', ...flags, '-o', obj, src], { stdio: ['ignore', 'ignore', 'pipe'] });
  return { file: obj, bytes: new Uint8Array(readFileSync(obj)) };
}

/** `ar rcs` of the given objects. */
export function archive(objects: ReadonlyArray<{ file: string }>): { file: string; bytes: Uint8Array } {
  const out = join(workDir(), `lib${counter++}.a`);
  execFileSync('ar', ['rcs', out, ...objects.map((o) => o.file)]);
  return { file: out, bytes: new Uint8Array(readFileSync(out)) };
}
