/** Helpers shared by the CLI's tests: run a command line in-process, write scratch modules. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from './main.ts';
import { captureOutput } from './output.ts';

export async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = captureOutput();
  const code = await main(argv, out);
  return { code, stdout: out.stdout.join('\n'), stderr: out.stderr.join('\n') };
}

const scratch = mkdtempSync(join(tmpdir(), 'stackscope-cli-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

/** A fresh directory inside the scratch directory (removed with it when the test process exits). */
export function scratchDir(prefix: string): string {
  return mkdtempSync(join(scratch, prefix));
}

/** Writes `text` to a fresh file named `name` and returns its path. */
export function scratchFile(name: string, text: string | Uint8Array): string {
  const path = join(scratch, name);
  writeFileSync(path, text);
  return path;
}

export function scratchPath(name: string): string {
  return join(scratch, name);
}

/**
 * The module of the CLI tests and docs/cli.md (cli/testdata/teaching.wat): every default host
 * import, recursion (fib), externref parameters held across a GC (hold), a trap (boom), i64
 * arithmetic and a default entry point (main).
 */
export const TEACHING_WAT_PATH = 'cli/testdata/teaching.wat';
export const TEACHING_WAT = readFileSync(new URL('./testdata/teaching.wat', import.meta.url), 'utf8');
