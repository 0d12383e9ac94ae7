/**
 * Test support: gcc as an independent layout oracle. Rust's `repr(C)` follows the platform C
 * rules, so compiling the equivalent C structs on LP64 and printing `sizeof`/`offsetof` checks
 * every derived size and padding without trusting our own arithmetic.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Compiles `declarations` (C structs) with a `main` that prints `"T.size"` and `"T.field"` for
 * every `T` / `T.field` named in `probes`, and returns those numbers.
 */
export function cLayout(declarations: string, probes: readonly string[]): Record<string, number> {
  const dir = mkdtempSync(join(tmpdir(), 'c-layout-'));
  try {
    const prints = probes.map((p) => {
      const [type, field] = p.split('.');
      return field === 'size'
        ? `printf("\\"%s\\":%zu,", "${p}", sizeof(struct ${type}));`
        : `printf("\\"%s\\":%zu,", "${p}", offsetof(struct ${type}, ${field}));`;
    });
    const source = `#include <stddef.h>\n#include <stdint.h>\n#include <stdio.h>\ntypedef struct { void *data, *vtable; } fat;\n${declarations}\n` +
      `int main(void) {\n  printf("{");\n  ${prints.join('\n  ')}\n  printf("\\"end\\":0}");\n  return 0;\n}\n`;
    writeFileSync(join(dir, 'layout.c'), source);
    execFileSync('gcc', ['-std=c11', '-o', join(dir, 'layout'), join(dir, 'layout.c')], { timeout: 30_000 });
    const out = JSON.parse(execFileSync(join(dir, 'layout'), { encoding: 'utf8', timeout: 10_000 })) as Record<string, number>;
    delete out.end;
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
