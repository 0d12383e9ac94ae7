import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Arch } from '../../isa/arch.ts';
import { runWast, type WastReport } from '../../wast/index.ts';
import { UsageError, parseArgs, parseRegalloc, rejectUnknown } from '../args.ts';
import type { Output } from '../output.ts';

export const WAST_HELP = `usage: stackscope wast <file.wast | directory>... [--arch x64|aarch64|both] [--regalloc none|linear-scan] [--json] [--quiet]

Runs WebAssembly spec-test scripts (.wast: modules, register, invoke/get, assert_return,
assert_trap, assert_exhaustion, assert_invalid, assert_malformed, assert_unlinkable) through
stackscope's compiler and runtime (wasmtime v17 profile), with the spectest host module. A
directory means every .wast file in it. Results are compared exactly: numbers by their bits,
NaNs by class (nan:canonical, nan:arithmetic), references by identity. Only SIMD is skipped.

  --arch      x64, aarch64 or both (default both)
  --regalloc  compile with values in stack slots (none, the default) or registers
  --json      one JSON object: every file's counts and each failure and skip
  --quiet     print only the failures and the total

exit codes: 0 every command passed (SIMD skips allowed), 1 a command failed, 2 usage error or
a script that cannot be read.`;

export async function wastCommand(argv: string[], out: Output): Promise<number> {
  const args = parseArgs(argv, ['arch', 'regalloc'], 'wast');
  rejectUnknown(args, ['arch', 'regalloc', 'json', 'quiet'], 'wast');
  if (args.positionals.length === 0) throw new UsageError('give one or more .wast files or directories', 'wast');
  const archFlag = args.flags.get('arch') ?? 'both';
  const arches: Arch[] = archFlag === 'both' ? ['x64', 'aarch64'] : archFlag === 'x64' || archFlag === 'aarch64' ? [archFlag] : [];
  if (arches.length === 0) throw new UsageError(`--arch: '${archFlag === true ? '' : archFlag}' is not x64, aarch64 or both`, 'wast');
  const regalloc = parseRegalloc(args, 'wast');
  const files = args.positionals.flatMap((p) => scriptsAt(p));
  const scripts = files.map((file) => ({ file, text: readScript(file) }));

  const reports: WastReport[] = [];
  for (const { file, text } of scripts) {
    for (const arch of arches) reports.push(await runWast(text, { arch, file, regalloc }));
  }
  const total = { passed: 0, failed: 0, skipped: 0 };
  for (const r of reports) {
    total.passed += r.passed;
    total.failed += r.failed;
    total.skipped += r.skipped;
  }
  if (args.flags.has('json')) {
    out.json({
      ...total,
      files: reports.map((r) => ({
        file: r.file, arch: r.arch, passed: r.passed, failed: r.failed, skipped: r.skipped,
        failures: r.outcomes.filter((o) => o.status === 'failed').map(({ line, column, command, detail }) => ({ line, column, command, detail })),
        skips: r.outcomes.filter((o) => o.status === 'skipped').map(({ line, column, command, detail }) => ({ line, column, command, detail })),
      })),
    });
  } else {
    const quiet = args.flags.has('quiet');
    for (const r of reports) {
      if (!quiet) out.text(`${r.file} (${r.arch}): ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped`);
      for (const o of r.outcomes) if (o.status === 'failed') out.text(`  ${r.file}:${o.line}:${o.column}: ${o.command} (${r.arch}): ${o.detail}`);
    }
    out.text(`total: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped (SIMD) in ${scripts.length} script${scripts.length === 1 ? '' : 's'} on ${arches.join(' and ')}`);
  }
  return total.failed > 0 ? 1 : 0;
}

/** A file, or the .wast files of a directory in name order. */
function scriptsAt(path: string): string[] {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'wast');
  }
  if (!isDir) return [path];
  const names = readdirSync(path).filter((n) => n.endsWith('.wast')).sort();
  if (names.length === 0) throw new UsageError(`${path} holds no .wast files`, 'wast');
  return names.map((n) => join(path, n));
}

function readScript(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'wast');
  }
}
