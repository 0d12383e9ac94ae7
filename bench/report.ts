import { loadavg } from 'node:os';
import type { Arch } from '../isa/arch.ts';

export interface BenchOptions {
  arches: Arch[];
  repeats: number;
}

export interface BenchLine {
  bench: string;
  arch: Arch | 'any';
  metric: string;
  /** A measurement, or a name (what a run compared with: `host_uarch`, `model_uarch`). */
  value: number | string;
  /** A case's dimensions (e.g. bench/gc's collector, frames, roots), printed before the value. */
  [dimension: string]: string | number;
}

/**
 * Prints one benchmark result as a JSON line (values rounded to 3 significant decimals), with
 * the date and the machine's 1-minute load average when it was measured (`load`: on a shared
 * machine, the context every figure needs).
 */
export function emit(line: BenchLine): void {
  const value = typeof line.value === 'string' ? line.value : Math.abs(line.value) >= 100 ? Math.round(line.value) : Number(line.value.toFixed(3));
  process.stdout.write(JSON.stringify({ ...line, value, date: new Date().toISOString().slice(0, 10), load: Number(loadavg()[0].toFixed(2)) }) + '\n');
}
