/**
 * `npm run fuzz:mutants -- [--budget N] [--seed N] [--no-debug-checks] [--walker v17|canary]`:
 * the fuzzer's mutation score. For every mutant of compiler/mutants.ts and both arches, runs a
 * campaign from the same seed until the first failure and prints one JSON line per mutant and
 * arch (`programsToKill`, null when the budget ran out), then a Markdown table for
 * docs/fuzzing.md. --no-debug-checks turns off the collector's own checks, so every kill is
 * the reference model's.
 */
import { measureMutants, type MutantScore } from '../fuzz/index.ts';

const argv = process.argv.slice(2);
const value = (name: string, dflt: number): number => {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const n = Number(argv[i + 1]);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`mutation-score: --${name} needs a whole number\n`);
    process.exit(2);
  }
  return n;
};
const budget = value('budget', 10_000);
const seed = value('seed', 1);
const debugChecks = !argv.includes('--no-debug-checks');
const walker = argv.includes('--walker') && argv[argv.indexOf('--walker') + 1] === 'canary' ? 'canary' : 'v17';
const scores: MutantScore[] = await measureMutants({
  budget, seed, debugChecks, walker,
  onScore: (s) => process.stdout.write(JSON.stringify({ ...s, debugChecks, date: new Date().toISOString().slice(0, 10) }) + '\n'),
});
const byMutant = new Map<string, MutantScore[]>();
for (const s of scores) byMutant.set(s.mutant, [...(byMutant.get(s.mutant) ?? []), s]);
process.stdout.write(`\n| mutant | x64 | aarch64 | first failure (x64) |\n|---|---:|---:|---|\n`);
for (const [mutant, ss] of byMutant) {
  const cell = (arch: string): string => {
    const s = ss.find((x) => x.arch === arch);
    return s?.programsToKill === null ? `not killed in ${budget}` : String(s?.programsToKill ?? '-');
  };
  const f = ss.find((x) => x.arch === 'x64')?.failure;
  process.stdout.write(`| ${mutant} | ${cell('x64')} | ${cell('aarch64')} | ${f ? `${f.kind}: ${f.message.slice(0, 70).replace(/\|/g, '/')}` : '-'} |\n`);
}
