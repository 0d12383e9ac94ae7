/**
 * The long campaign in pieces: the plan fixes disjoint seed ranges, a piece stopped between
 * chunks continues after its last finished one (and covers each seed once), the report adds
 * pieces up (programs, runs, GCs, failures, merged seed ranges, commits), and
 * `npm run fuzz:long` runs real campaigns through the CLI and reports them.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FuzzUsageError } from './errors.ts';
import { runCampaign } from './campaign.ts';
import { formatReport, openPlan, pieceRange, readPiece, reportPieces, runPiece, type ChunkRunner } from './long-campaign.ts';

/** A fresh directory, removed when the test process exits (the tests also remove theirs as they end). */
const made: string[] = [];
process.on('exit', () => made.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'ss-long-'));
  made.push(d);
  return d;
};

/** Real campaigns in this process (x64, no shrinking); records the seeds each chunk ran. */
function inProcess(calls: Array<[number, number]>): ChunkRunner {
  return async ({ seed, programs }) => {
    calls.push([seed, programs]);
    const { failureRecords: _f, ...summary } = await runCampaign({ seed, programs, arches: ['x64'], shrink: false, stopOnFailure: false });
    return { summary, failureFiles: [] };
  };
}

test('the plan: pieces cover the range once; a directory keeps its plan', (t) => {
  const dir = tmp();
  try {
    const plan = openPlan(dir, { from: 100, programs: 10, pieces: 3 });
    t.deepEqual([0, 1, 2].map((i) => pieceRange(plan, i)), [{ seedFrom: 100, seedTo: 104 }, { seedFrom: 104, seedTo: 108 }, { seedFrom: 108, seedTo: 110 }]);
    t.deepEqual(openPlan(dir, { programs: 10 }), plan, 'the same plan reopens');
    t.throws(() => openPlan(dir, { pieces: 4 }), { instanceOf: FuzzUsageError, message: /its pieces is 3, not 4/ });
    t.throws(() => pieceRange(plan, 3), { instanceOf: FuzzUsageError });
    t.throws(() => openPlan(tmp(), { programs: 2, pieces: 3 }), { instanceOf: FuzzUsageError });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the commit is asked before each chunk: a checkout that moves during a piece is recorded chunk by chunk', async (t) => {
  const dir = tmp();
  try {
    const plan = openPlan(dir, { from: 200, programs: 3, pieces: 1, arch: 'x64' });
    const heads = ['aaa', 'bbb', 'ccc'];
    let asked = 0;
    const piece = await runPiece(dir, plan, 0, { chunk: 1, commit: () => heads[asked++], runChunk: inProcess([]) });
    t.is(asked, 3);
    t.deepEqual(piece.chunks.map((c) => c.commit), heads);
    t.deepEqual(reportPieces(dir).commits, { aaa: 1, bbb: 1, ccc: 1 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a piece stopped between chunks resumes after its last finished chunk; the report adds pieces up', async (t) => {
  const dir = tmp();
  try {
    const plan = openPlan(dir, { from: 100, programs: 8, pieces: 2, arch: 'x64' });
    const calls: Array<[number, number]> = [];
    const real = inProcess(calls);
    let n = 0;
    const interrupted: ChunkRunner = async (a) => {
      if (n++ === 1) throw new Error('stopped');
      return real(a);
    };
    await t.throwsAsync(runPiece(dir, plan, 0, { chunk: 3, commit: 'c1', runChunk: interrupted }), { message: 'stopped' });
    t.like(readPiece(dir, 0), { done: false, seedFrom: 100, seedTo: 104 });
    t.is(readPiece(dir, 0)!.chunks.length, 1);
    const piece = await runPiece(dir, plan, 0, { chunk: 3, commit: 'c2', runChunk: real });
    t.true(piece.done);
    t.deepEqual(calls, [[100, 3], [103, 1]], 'seeds 100..102, then only 103');
    t.deepEqual(piece.chunks.map((c) => c.commit), ['c1', 'c2']);
    const again = await runPiece(dir, plan, 0, { chunk: 3, commit: 'c3', runChunk: real });
    t.is(again.chunks.length, 2, 'a finished piece runs nothing');
    const r = reportPieces(dir);
    t.like(r, { programs: 4, runs: 4, failures: 0, piecesDone: 1, piecesMissing: 1, seedRanges: [[100, 103]], commits: { c1: 3, c2: 1 } });
    t.is(r.gcs, piece.chunks.reduce((s, c) => s + c.gcs, 0));
    t.true(r.gcs > 0);
    t.regex(formatReport(r), /programs 4, runs 4, GCs \d+, .*failures 0/);
    t.regex(formatReport(r), /seeds covered: 100\.\.103\ncommits: c1 \(3 programs\), c2 \(1 programs\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function script(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/fuzz-long.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('npm run fuzz:long: run pieces through the CLI, then report them; usage errors exit 2', async (t) => {
  const dir = tmp();
  try {
    const run = await script(['run', '--dir', dir, '--from', '7', '--programs', '3', '--pieces', '2', '--arch', 'x64', '--piece', '1']);
    t.is(run.code, 0, run.stderr);
    t.regex(run.stdout, /piece 1: seeds 9\.\.9: 1 runs, \d+ GCs, 0 failures/);
    const report = await script(['report', '--dir', dir, '--json']);
    t.is(report.code, 0, report.stderr);
    const r = JSON.parse(report.stdout) as ReturnType<typeof reportPieces>;
    t.like(r, { programs: 1, runs: 1, failures: 0, piecesDone: 1, piecesMissing: 1, seedRanges: [[9, 9]] });
    t.regex(Object.keys(r.commits)[0], /^([0-9a-f]{12}(-dirty)?|unknown)$/);
    t.like(JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8')), { from: 7, programs: 3, pieces: 2, arch: 'x64', profile: 'v17' });
    const other = await script(['run', '--dir', dir, '--pieces', '5']);
    t.is(other.code, 2);
    t.regex(other.stderr, /its pieces is 2, not 5/);
    t.is((await script(['frob'])).code, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
