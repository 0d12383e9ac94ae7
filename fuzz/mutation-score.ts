/**
 * The mutation score: for each mutant and arch, how many programs a campaign needs before it
 * fails (programs-to-kill), within a budget. A mutant not killed within the budget is
 * reported as such; `measureMutants` never throws for a survivor.
 */
import type { Arch } from '../isa/arch.ts';
import { MUTANTS, mutantProfile } from '../compiler/mutants.ts';
import { runCampaign } from './campaign.ts';
import type { GeneratorOptions } from './generate.ts';
import type { Failure, Walker } from './harness.ts';

export interface MutantScore {
  mutant: string;
  arch: Arch;
  walker: Walker;
  /** 1-based index of the first failing program, or null when the budget ran out. */
  programsToKill: number | null;
  budget: number;
  failure: Failure | null;
  seconds: number;
}

export async function measureMutants(options: GeneratorOptions & {
  mutants?: readonly string[];
  arches?: readonly Arch[];
  walker?: Walker;
  seed?: number;
  /** The collector's debug checks (default true); false measures the model's oracle alone. */
  debugChecks?: boolean;
  /** Programs per mutant and arch at most. Default 10000. */
  budget?: number;
  onScore?: (s: MutantScore) => void;
} = {}): Promise<MutantScore[]> {
  const scores: MutantScore[] = [];
  const budget = options.budget ?? 10_000;
  for (const mutant of options.mutants ?? MUTANTS.map((m) => m.name)) {
    // A v31 (v44) mutant's hook is in v31 (v44) code or collector: measure it under that walker.
    const era = mutantProfile(mutant);
    const walker = era === 'v17' ? options.walker ?? 'v17' : era;
    for (const arch of options.arches ?? ['x64', 'aarch64'] as const) {
      const t0 = performance.now();
      const r = await runCampaign({
        ...options, arches: [arch], walkers: [walker], mutant, programs: budget, seed: options.seed ?? 1, shrink: false, stopOnFailure: true,
      });
      const s: MutantScore = {
        mutant, arch, walker, programsToKill: r.firstFailureAt, budget, failure: r.failureRecords[0]?.failure ?? null,
        seconds: (performance.now() - t0) / 1000,
      };
      scores.push(s);
      options.onScore?.(s);
    }
  }
  return scores;
}
