/**
 * Test helper: assembles a self-contained snippet (no external symbols) with GNU as and
 * returns its .text bytes. Intel syntax on x86-64. Tests only — production code never
 * spawns binutils.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Arch } from '../../isa/arch.ts';

const tools = {
  x64: { as: 'as', objcopy: 'objcopy', prelude: '.intel_syntax noprefix\n' },
  aarch64: { as: 'aarch64-linux-gnu-as', objcopy: 'aarch64-linux-gnu-objcopy', prelude: '' },
};

/** Assembles several snippets in one `as` run; returns each snippet's bytes. */
export function assembleMany(arch: Arch, snippets: readonly string[]): Uint8Array[] {
  const t = tools[arch];
  const dir = mkdtempSync(join(tmpdir(), 'stackscope-asm-'));
  try {
    const src = snippets.map((s, i) => `.section .text.s${i},"ax"\n${s}\n`).join('');
    writeFileSync(join(dir, 'a.s'), t.prelude + src + '\n');
    execFileSync(t.as, ['-o', join(dir, 'a.o'), join(dir, 'a.s')], { stdio: ['ignore', 'ignore', 'pipe'] });
    return snippets.map((_, i) => {
      execFileSync(t.objcopy, ['-O', 'binary', `--only-section=.text.s${i}`, join(dir, 'a.o'), join(dir, `s${i}.bin`)]);
      return new Uint8Array(readFileSync(join(dir, `s${i}.bin`)));
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function assemble(arch: Arch, snippet: string): Uint8Array {
  return assembleMany(arch, [snippet])[0];
}
