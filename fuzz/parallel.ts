/**
 * `--jobs`: one campaign split over worker processes. Each worker is the same campaign with a
 * `slice` (programs k ≡ j mod jobs of the shard), started as a command that prints JSON lines
 * (`stackscope fuzz --json --slice j/jobs …`); this module starts them, merges their progress
 * and failures, and stops the others once one fails (unless the campaign keeps going).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { CampaignProgress, FailureRecord } from './campaign.ts';
import { FuzzUsageError } from './errors.ts';

export interface WorkerCommand {
  /** Executable (normally process.execPath). */
  command: string;
  /** Arguments of worker j of `jobs` (they must make it print JSON lines). */
  args: (j: number, jobs: number) => string[];
}

/** A worker that ended without finishing its slice: killed by a signal the runner did not send, an unexpected exit code, or exit 0 without its summary line. */
export interface WorkerCrash {
  worker: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last seed the worker reported (its slice's programs after it did not run). */
  lastSeed: number;
  /** The end of its standard error. */
  stderr: string;
}

export interface ParallelResult {
  progress: CampaignProgress;
  failureRecords: FailureRecord[];
  /** Exit codes of the workers (0 for one the runner stopped after another's failure). */
  exitCodes: number[];
  /** Workers that crashed: their programs are missing from `progress`. */
  crashes: WorkerCrash[];
}

/** A JSON line a worker prints (`stackscope fuzz --json`). */
export type WorkerLine =
  | ({ type: 'progress' } & CampaignProgress)
  | ({ type: 'summary' } & CampaignProgress)
  | ({ type: 'failure' } & FailureRecord);

function merge(parts: readonly CampaignProgress[], t0: number): CampaignProgress {
  const sum = (f: (p: CampaignProgress) => number): number => parts.reduce((n, p) => n + f(p), 0);
  const ops: Record<string, number> = {};
  const counts = new Map<string, number>();
  for (const p of parts) for (const [k, v] of Object.entries(p.ops)) counts.set(k, (counts.get(k) ?? 0) + v);
  for (const [k, v] of [...counts].sort((a, b) => b[1] - a[1])) ops[k] = v;
  const elapsedSeconds = (performance.now() - t0) / 1000;
  const programs = sum((p) => p.programs);
  return {
    programs, runs: sum((p) => p.runs), failures: sum((p) => p.failures), gcs: sum((p) => p.gcs),
    framesWalked: sum((p) => p.framesWalked), roots: sum((p) => p.roots), freed: sum((p) => p.freed),
    elapsedSeconds, programsPerSecond: programs / Math.max(elapsedSeconds, 1e-9), ops,
    lastSeed: Math.max(0, ...parts.map((p) => p.lastSeed)),
  };
}

const EMPTY: CampaignProgress = {
  programs: 0, runs: 0, failures: 0, gcs: 0, framesWalked: 0, roots: 0, freed: 0, elapsedSeconds: 0, programsPerSecond: 0, ops: {}, lastSeed: 0,
};

export async function runParallel(
  jobs: number,
  worker: WorkerCommand,
  options: { stopOnFailure?: boolean; onProgress?: (p: CampaignProgress) => void; onFailure?: (r: FailureRecord) => void } = {},
): Promise<ParallelResult> {
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 256) throw new FuzzUsageError(`jobs must be in 1..256 (got ${jobs})`);
  const t0 = performance.now();
  const parts: CampaignProgress[] = Array.from({ length: jobs }, () => ({ ...EMPTY }));
  const failureRecords: FailureRecord[] = [];
  const children: ChildProcess[] = [];
  const crashes: WorkerCrash[] = [];
  const stopped = new Set<ChildProcess>();
  const stopOthers = (): void => {
    for (const c of children) {
      if (c.exitCode === null && c.pid !== undefined) {
        stopped.add(c);
        c.kill('SIGTERM');
      }
    }
  };
  const exitCodes = await Promise.all(Array.from({ length: jobs }, (_, j) => new Promise<number>((resolve, reject) => {
    const child = spawn(worker.command, worker.args(j, jobs), { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stderr = '';
    let summarised = false;
    child.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let msg: WorkerLine;
      try {
        msg = JSON.parse(line) as WorkerLine;
      } catch {
        return; // not a protocol line
      }
      if (msg.type === 'progress' || msg.type === 'summary') {
        const { type: _t, ...p } = msg;
        parts[j] = p;
        if (msg.type === 'summary') summarised = true;
        options.onProgress?.(merge(parts, t0));
      } else if (msg.type === 'failure') {
        const { type: _t, ...r } = msg;
        failureRecords.push(r as FailureRecord);
        options.onFailure?.(r as FailureRecord);
        if (options.stopOnFailure ?? true) stopOthers();
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 2) return reject(new FuzzUsageError(`worker ${j} rejected its options: ${stderr.trim()}`));
      const ours = stopped.has(child);
      const crashed = signal !== null ? !ours : (code !== 0 && code !== 1) || (code === 0 && !summarised && !ours);
      if (crashed) crashes.push({ worker: j, code, signal, lastSeed: parts[j].lastSeed, stderr: stderr.trim() });
      resolve(code ?? (ours ? 0 : 70));
    });
  })));
  return { progress: merge(parts, t0), failureRecords, exitCodes, crashes };
}
