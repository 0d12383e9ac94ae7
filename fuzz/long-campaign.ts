/**
 * The long false-alarm campaign in pieces: a fixed seed range (by default the issue's 10^6
 * unmutated programs) cut into pieces that any number of processes or machines run
 * independently, each resumable, each leaving a summary file; `reportPieces` adds them up.
 *
 * The plan (first seed, programs, pieces, profile, arches, regalloc modes) is written once to
 * `DIR/plan.json`; every later run in DIR must name the same plan, so pieces never overlap.
 * Piece i covers seeds [from + i·size, from + (i + 1)·size), size = programs / pieces. A piece
 * runs as chunks of consecutive seeds (each one `stackscope fuzz --seed S --programs N
 * --keep-going --json` campaign, with `--jobs`): after each chunk its counts are appended to
 * `DIR/piece-NNNNN.json` (written to a temporary file and renamed), so a piece that was stopped
 * continues after its last finished chunk. Every chunk records the commit it ran on; failures
 * are written (shrunk) to `DIR/failures/`.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { CampaignProgress } from './campaign.ts';
import { FuzzUsageError } from './errors.ts';

export interface PiecePlan {
  version: 1;
  /** First seed of the range. */
  from: number;
  /** Programs in the whole range (seeds from … from + programs − 1). */
  programs: number;
  pieces: number;
  profile: 'v17' | 'v31' | 'v44';
  arch: 'x64' | 'aarch64' | 'both';
  regalloc: 'none' | 'linear-scan' | 'both';
}

export const DEFAULT_PLAN: PiecePlan = { version: 1, from: 10_000_000, programs: 1_000_000, pieces: 200, profile: 'v17', arch: 'both', regalloc: 'none' };

/** One finished chunk of a piece: consecutive seeds, their counts, and where they ran. */
export interface ChunkSummary {
  seedFrom: number;
  programs: number;
  runs: number;
  gcs: number;
  framesWalked: number;
  roots: number;
  failures: number;
  /** Failure files the chunk wrote (names under DIR/failures). */
  failureFiles: string[];
  elapsedSeconds: number;
  commit: string;
  /** Load averages (1 minute) when the chunk started and ended. */
  load: [number, number];
  finishedAt: string;
}

export interface PieceSummary {
  version: 1;
  piece: number;
  seedFrom: number;
  /** One past the piece's last seed. */
  seedTo: number;
  chunks: ChunkSummary[];
  done: boolean;
}

/** Runs `programs` seeds from `seed` as one campaign; resolves with its summary and failure files. */
export type ChunkRunner = (a: { seed: number; programs: number; jobs: number; plan: PiecePlan; failuresDir: string }) => Promise<{ summary: CampaignProgress; failureFiles: string[] }>;

export function pieceSize(plan: PiecePlan): number {
  return Math.ceil(plan.programs / plan.pieces);
}

/** Seeds [seedFrom, seedTo) of piece `i`. */
export function pieceRange(plan: PiecePlan, i: number): { seedFrom: number; seedTo: number } {
  if (!Number.isInteger(i) || i < 0 || i >= plan.pieces) throw new FuzzUsageError(`piece ${i} is not in 0..${plan.pieces - 1}`);
  const size = pieceSize(plan);
  const seedFrom = plan.from + i * size;
  return { seedFrom, seedTo: Math.min(seedFrom + size, plan.from + plan.programs) };
}

const planFile = (dir: string): string => join(dir, 'plan.json');
const pieceFile = (dir: string, i: number): string => join(dir, `piece-${String(i).padStart(5, '0')}.json`);

function writeAtomically(file: string, value: unknown): void {
  writeFileSync(`${file}.tmp`, JSON.stringify(value, null, 1) + '\n');
  renameSync(`${file}.tmp`, file);
}

function checkPlan(p: PiecePlan): void {
  const int = (v: number, lo: number, name: string): void => {
    if (!Number.isSafeInteger(v) || v < lo) throw new FuzzUsageError(`${name} must be a whole number ≥ ${lo} (got ${v})`);
  };
  int(p.from, 0, 'from');
  int(p.programs, 1, 'programs');
  int(p.pieces, 1, 'pieces');
  if (p.pieces > p.programs) throw new FuzzUsageError(`${p.pieces} pieces of ${p.programs} programs: a piece needs at least one`);
  if (p.from + p.programs > 0xffff_ffff) throw new FuzzUsageError('seeds are 32-bit: from + programs must stay below 2^32');
  if (!['v17', 'v31', 'v44'].includes(p.profile)) throw new FuzzUsageError(`profile ${p.profile} is none of v17, v31, v44`);
  if (!['x64', 'aarch64', 'both'].includes(p.arch)) throw new FuzzUsageError(`arch ${p.arch} is none of x64, aarch64, both`);
  if (!['none', 'linear-scan', 'both'].includes(p.regalloc)) throw new FuzzUsageError(`regalloc ${p.regalloc} is none of none, linear-scan, both`);
}

/**
 * The plan of `dir`: the one written there, which `wanted` (when given) must equal; else
 * `wanted` (or the default), written now.
 */
export function openPlan(dir: string, wanted?: Partial<PiecePlan>): PiecePlan {
  const file = planFile(dir);
  if (existsSync(file)) {
    const plan = JSON.parse(readFileSync(file, 'utf8')) as PiecePlan;
    for (const [k, v] of Object.entries(wanted ?? {})) {
      if (v !== undefined && plan[k as keyof PiecePlan] !== v) throw new FuzzUsageError(`${dir} holds the plan ${JSON.stringify(plan)}; its ${k} is ${String(plan[k as keyof PiecePlan])}, not ${String(v)} (use another directory for another plan)`);
    }
    return plan;
  }
  const plan: PiecePlan = { ...DEFAULT_PLAN, ...Object.fromEntries(Object.entries(wanted ?? {}).filter(([, v]) => v !== undefined)), version: 1 };
  checkPlan(plan);
  mkdirSync(dir, { recursive: true });
  writeAtomically(file, plan);
  return plan;
}

export function readPiece(dir: string, i: number): PieceSummary | undefined {
  const file = pieceFile(dir, i);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as PieceSummary) : undefined;
}

/**
 * Runs (or continues) piece `i` of the plan in `dir`, `chunk` programs per campaign. Returns
 * the piece's summary; a finished piece is returned as it is.
 */
export async function runPiece(dir: string, plan: PiecePlan, i: number, o: { jobs?: number; chunk?: number; commit: string | (() => string); runChunk: ChunkRunner; onChunk?: (c: ChunkSummary, p: PieceSummary) => void }): Promise<PieceSummary> {
  const { seedFrom, seedTo } = pieceRange(plan, i);
  const chunk = o.chunk ?? 1000;
  if (!Number.isInteger(chunk) || chunk < 1) throw new FuzzUsageError(`chunk must be a whole number ≥ 1 (got ${chunk})`);
  const piece: PieceSummary = readPiece(dir, i) ?? { version: 1, piece: i, seedFrom, seedTo, chunks: [], done: false };
  if (piece.seedFrom !== seedFrom || piece.seedTo !== seedTo) throw new FuzzUsageError(`${pieceFile(dir, i)} covers seeds ${piece.seedFrom}..${piece.seedTo - 1}, not the plan's ${seedFrom}..${seedTo - 1}`);
  const failuresDir = join(dir, 'failures');
  mkdirSync(failuresDir, { recursive: true });
  let next = piece.chunks.reduce((s, c) => Math.max(s, c.seedFrom + c.programs), seedFrom);
  while (next < seedTo) {
    const programs = Math.min(chunk, seedTo - next);
    const load0 = loadavg()[0];
    // Asked before each chunk: the checkout may move while a campaign runs.
    const commit = typeof o.commit === 'function' ? o.commit() : o.commit;
    const { summary, failureFiles } = await o.runChunk({ seed: next, programs, jobs: o.jobs ?? 1, plan, failuresDir });
    if (summary.programs !== programs) throw new FuzzUsageError(`the chunk from seed ${next} ran ${summary.programs} programs, not ${programs}`);
    const c: ChunkSummary = {
      seedFrom: next, programs, runs: summary.runs, gcs: summary.gcs, framesWalked: summary.framesWalked, roots: summary.roots,
      failures: summary.failures, failureFiles, elapsedSeconds: summary.elapsedSeconds, commit,
      load: [round2(load0), round2(loadavg()[0])], finishedAt: new Date().toISOString(),
    };
    piece.chunks.push(c);
    next += programs;
    piece.done = next >= seedTo;
    writeAtomically(pieceFile(dir, i), piece);
    o.onChunk?.(c, piece);
  }
  if (!piece.done) {
    piece.done = true;
    writeAtomically(pieceFile(dir, i), piece);
  }
  return piece;
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

export interface PiecesReport {
  plan: PiecePlan;
  programs: number;
  runs: number;
  gcs: number;
  framesWalked: number;
  failures: number;
  failureFiles: string[];
  elapsedSeconds: number;
  /** Seed ranges covered, merged: [first, last] inclusive. */
  seedRanges: Array<[number, number]>;
  piecesDone: number;
  /** Pieces started but not finished. */
  piecesPartial: number[];
  piecesMissing: number;
  /** Programs run per commit. */
  commits: Record<string, number>;
}

/** Adds up the pieces in `dir`. */
export function reportPieces(dir: string): PiecesReport {
  if (!existsSync(planFile(dir))) throw new FuzzUsageError(`${dir} holds no plan.json: no campaign pieces were run there`);
  const plan = openPlan(dir);
  const r: PiecesReport = {
    plan, programs: 0, runs: 0, gcs: 0, framesWalked: 0, failures: 0, failureFiles: [], elapsedSeconds: 0, seedRanges: [],
    piecesDone: 0, piecesPartial: [], piecesMissing: 0, commits: {},
  };
  const ranges: Array<[number, number]> = [];
  const seen = new Set<number>();
  for (const name of readdirSync(dir).filter((n) => /^piece-\d+\.json$/.test(n)).sort()) {
    const piece = JSON.parse(readFileSync(join(dir, name), 'utf8')) as PieceSummary;
    seen.add(piece.piece);
    if (piece.done) r.piecesDone++;
    else if (piece.chunks.length) r.piecesPartial.push(piece.piece);
    for (const c of piece.chunks) {
      r.programs += c.programs;
      r.runs += c.runs;
      r.gcs += c.gcs;
      r.framesWalked += c.framesWalked;
      r.failures += c.failures;
      r.failureFiles.push(...c.failureFiles);
      r.elapsedSeconds += c.elapsedSeconds;
      r.commits[c.commit] = (r.commits[c.commit] ?? 0) + c.programs;
      ranges.push([c.seedFrom, c.seedFrom + c.programs - 1]);
    }
  }
  r.piecesMissing = plan.pieces - seen.size;
  ranges.sort((a, b) => a[0] - b[0]);
  for (const [a, b] of ranges) {
    const last = r.seedRanges[r.seedRanges.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else r.seedRanges.push([a, b]);
  }
  r.elapsedSeconds = round2(r.elapsedSeconds);
  return r;
}

/** The report as text lines. */
export function formatReport(r: PiecesReport): string {
  const n = (x: number): string => x.toLocaleString('en-US');
  const ranges = r.seedRanges.map(([a, b]) => (a === b ? `${a}` : `${a}..${b}`));
  return [
    `plan: seeds ${r.plan.from}..${r.plan.from + r.plan.programs - 1} (${n(r.plan.programs)} programs) in ${r.plan.pieces} pieces, profile ${r.plan.profile}, arch ${r.plan.arch}, regalloc ${r.plan.regalloc}`,
    `pieces: ${r.piecesDone} done, ${r.piecesPartial.length} partial${r.piecesPartial.length ? ` (${r.piecesPartial.join(', ')})` : ''}, ${r.piecesMissing} not started`,
    `programs ${n(r.programs)}, runs ${n(r.runs)}, GCs ${n(r.gcs)}, frames walked ${n(r.framesWalked)}, failures ${n(r.failures)}, ${n(Math.round(r.elapsedSeconds))} s of campaigns`,
    `seeds covered: ${ranges.length ? ranges.join(', ') : 'none'}`,
    `commits: ${Object.entries(r.commits).map(([c, k]) => `${c} (${n(k)} programs)`).join(', ') || 'none'}`,
    ...(r.failureFiles.length ? [`failure files: ${r.failureFiles.join(', ')}`] : []),
  ].join('\n');
}

/**
 * The chunk runner of real campaigns: `stackscope fuzz --json --keep-going` through `cli` (the
 * command and its first arguments, e.g. [process.execPath, '--import', 'tsx', 'cli/main.ts']).
 */
export function cliChunkRunner(cli: readonly string[]): ChunkRunner {
  return ({ seed, programs, jobs, plan, failuresDir }) => new Promise((resolve, reject) => {
    const args = [
      ...cli.slice(1), 'fuzz', '--seed', String(seed), '--programs', String(programs), '--jobs', String(jobs), '--keep-going', '--json',
      '--out', failuresDir, '--arch', plan.arch, '--profile', plan.profile, '--regalloc', plan.regalloc,
    ];
    const child = spawn(cli[0], args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-4000);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const lines = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { type: string; file?: string } & CampaignProgress);
      const summary = lines.find((l) => l.type === 'summary');
      if ((code !== 0 && code !== 1) || !summary) {
        reject(new FuzzUsageError(`stackscope fuzz from seed ${seed} exited ${code}: ${err.trim() || 'no summary line'}`));
        return;
      }
      const failureFiles = lines.filter((l) => l.type === 'failure' && typeof l.file === 'string').map((l) => l.file!.split('/').pop()!);
      resolve({ summary, failureFiles });
    });
  });
}
