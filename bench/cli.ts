/**
 * bench/cli: start-up cost of the installed command (bin/stackscope.mjs → dist/cli/main.js),
 * as a user feels it: wall time of whole processes, from spawn to exit.
 *
 * The baseline is `node -e 0`, measured in the same run and interleaved with the commands
 * (each round runs every command once, in turn), so machine load moves every figure alike.
 * Each figure is the median of at least 10 rounds; each ratio is a median over the baseline's
 * median. Targets (issue 13): --version ≤ 2×, run fib 20 ≤ 6×, inspect of a small object ≤ 3×.
 *
 * Two clocks: wall time (`*_ms`, `*_vs_node`), what a user waits, and the child's CPU time
 * (user + system, from this process's children totals in /proc/self/stat, 10 ms ticks;
 * `*_cpu_ms`, `*_cpu_vs_node`), which a loaded machine distorts far less: when other work
 * competes for the cores, every wall time grows by waiting and the wall ratios shrink
 * towards 1.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { emit, type BenchOptions } from './report.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = fileURLToPath(new URL('../bin/stackscope.mjs', import.meta.url));

interface Case {
  metric: string;
  args: string[];
  /** Ratio to bare node start this must stay within. */
  target?: number;
}

const CASES: Case[] = [
  { metric: 'node_e_0', args: ['-e', '0'] },
  { metric: 'version', args: [bin, '--version'], target: 2 },
  { metric: 'inspect_fib_o', args: [bin, 'inspect', 'examples/fib/fib.x64.o'], target: 3 },
  { metric: 'run_fib_20', args: [bin, 'run', 'examples/fib/fib.wat', '--invoke', 'fib', '20'], target: 6 },
  { metric: 'disasm_ret', args: [bin, 'disasm', '--arch', 'x64', 'c3'] },
];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** CPU ms of every waited-for child so far (cutime + cstime), or NaN where /proc is absent. */
function childrenCpuMs(): number {
  try {
    const fields = readFileSync('/proc/self/stat', 'utf8').replace(/^.*\) /, '').split(' ');
    // After the command name: field 3 is index 0, so cutime (16) and cstime (17) are 13 and 14.
    return (Number(fields[13]) + Number(fields[14])) * 10;
  } catch {
    return Number.NaN;
  }
}

function once(c: Case): { wall: number; cpu: number } {
  const cpu0 = childrenCpuMs();
  const start = performance.now();
  const r = spawnSync(process.execPath, c.args, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
  const wall = performance.now() - start;
  if (r.status !== 0) throw new Error(`bench/cli: node ${c.args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return { wall, cpu: childrenCpuMs() - cpu0 };
}

export async function benchCli(o: BenchOptions): Promise<void> {
  if (!existsSync(new URL('../dist/cli/main.js', import.meta.url))) throw new Error('bench/cli: dist/ is not built (npm run build)');
  const rounds = Math.max(10, o.repeats);
  const wall = new Map<string, number[]>(CASES.map((c) => [c.metric, []]));
  const cpu = new Map<string, number[]>(CASES.map((c) => [c.metric, []]));
  for (const c of CASES) once(c); // warm the file cache
  for (let i = 0; i < rounds; i++) {
    for (const c of CASES) {
      const t = once(c);
      wall.get(c.metric)!.push(t.wall);
      cpu.get(c.metric)!.push(t.cpu);
    }
  }
  for (const [clock, times, suffix] of [['wall', wall, ''], ['cpu', cpu, '_cpu']] as const) {
    const base = median(times.get('node_e_0')!);
    for (const c of CASES) {
      const ms = median(times.get(c.metric)!);
      emit({ bench: 'cli', arch: 'any', metric: `${c.metric}${suffix}_ms`, value: ms });
      if (c.metric === 'node_e_0') continue;
      const ratio = ms / base;
      emit({ bench: 'cli', arch: 'any', metric: `${c.metric}${suffix}_vs_node`, value: ratio });
      if (c.target !== undefined && ratio > c.target) {
        process.stderr.write(`bench/cli: ${c.metric} is ${ratio.toFixed(2)}x bare node start in ${clock} time (target ≤ ${c.target}x)\n`);
      }
    }
  }
}
