/**
 * `npm run fuzz:long -- run|report …`: the long false-alarm campaign of unmutated programs in
 * resumable pieces (fuzz/long-campaign.ts; docs/fuzzing.md §5.1). Not part of CI.
 *
 *   run    [--dir DIR] [--piece all|I|I..J] [--jobs N] [--chunk N]
 *          [--from SEED] [--programs N] [--pieces N] [--profile v17|v31|v44] [--arch x64|aarch64|both]
 *          [--regalloc none|linear-scan|both]
 *   report [--dir DIR] [--json]
 *
 * The plan options are fixed by the first run in DIR (default fuzz-long/); later runs may
 * repeat them but not change them. Exit codes: 0 done and no failure, 1 a failure was found
 * (its file is under DIR/failures), 2 usage error.
 */
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliChunkRunner, formatReport, openPlan, readPiece, reportPieces, runPiece, type PiecePlan } from '../fuzz/long-campaign.ts';
import { FuzzUsageError } from '../fuzz/errors.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [command, ...argv] = process.argv.slice(2);

function flag(name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new FuzzUsageError(`--${name} needs a value`);
  return v;
}
function intFlag(name: string): number | undefined {
  const v = flag(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new FuzzUsageError(`--${name}: '${v}' is not a whole number`);
  return n;
}

/** The commit the campaign runs on, with `-dirty` when tracked files differ from it. */
function commit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head}-dirty` : head;
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<number> {
  const known = command === 'run'
    ? ['dir', 'piece', 'jobs', 'chunk', 'from', 'programs', 'pieces', 'profile', 'arch', 'regalloc']
    : command === 'report' ? ['dir', 'json'] : null;
  if (known === null) throw new FuzzUsageError(`usage: npm run fuzz:long -- run|report [options] (got '${command ?? ''}')`);
  for (const a of argv) if (a.startsWith('--') && !known.includes(a.slice(2))) throw new FuzzUsageError(`${command}: unknown option ${a}`);
  const dir = flag('dir') ?? 'fuzz-long';
  if (command === 'report') {
    const r = reportPieces(dir);
    process.stdout.write(argv.includes('--json') ? JSON.stringify(r) + '\n' : formatReport(r) + '\n');
    return r.failures > 0 ? 1 : 0;
  }
  const plan = openPlan(dir, {
    from: intFlag('from'), programs: intFlag('programs'), pieces: intFlag('pieces'),
    profile: flag('profile') as PiecePlan['profile'] | undefined, arch: flag('arch') as PiecePlan['arch'] | undefined,
    regalloc: flag('regalloc') as PiecePlan['regalloc'] | undefined,
  });
  const which = flag('piece') ?? 'all';
  const m = /^(\d+)(?:\.\.(\d+))?$/.exec(which);
  if (which !== 'all' && !m) throw new FuzzUsageError(`--piece '${which}' is not all, I or I..J`);
  const [lo, hi] = which === 'all' ? [0, plan.pieces - 1] : [Number(m![1]), Number(m![2] ?? m![1])];
  if (lo > hi || hi >= plan.pieces) throw new FuzzUsageError(`--piece ${which}: pieces are 0..${plan.pieces - 1}`);
  const runChunk = cliChunkRunner([process.execPath, '--import', 'tsx', join(root, 'cli', 'main.ts')]);
  let failures = 0;
  for (let i = lo; i <= hi; i++) {
    if (readPiece(dir, i)?.done) continue;
    const piece = await runPiece(dir, plan, i, {
      jobs: intFlag('jobs') ?? 1, chunk: intFlag('chunk'), commit, runChunk,
      onChunk: (c) => process.stdout.write(`piece ${i}: seeds ${c.seedFrom}..${c.seedFrom + c.programs - 1}: ${c.runs} runs, ${c.gcs} GCs, ${c.failures} failures, ${c.elapsedSeconds.toFixed(0)} s (${c.commit})\n`),
    });
    failures += piece.chunks.reduce((n, c) => n + c.failures, 0);
  }
  return failures > 0 ? 1 : 0;
}

try {
  process.exitCode = await main();
} catch (e) {
  if (!(e instanceof FuzzUsageError)) throw e;
  process.stderr.write(`fuzz:long: ${e.message}\n`);
  process.exitCode = 2;
}
