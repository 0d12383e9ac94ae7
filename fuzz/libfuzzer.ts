/**
 * The libFuzzer-style entry point: `fuzz(data)` decodes a byte string into a program (every
 * byte string is a valid program: see ByteChoices), runs it on both arches and throws
 * `FuzzFindingError` when the oracle finds a failure. It is deterministic (same bytes, same
 * program, same outcome), keeps its runners between calls, and has the shape Jazzer.js
 * expects of a fuzz target (`module.exports.fuzz = (data: Buffer) => …`, here async), so a
 * coverage-guided engine can mutate the bytes (OSS-Fuzz, ClusterFuzzLite: docs/fuzzing.md).
 *
 * `replayCorpus` is the project's own driver for the same entry point: it feeds every file of
 * a corpus directory through `fuzz` (Jazzer.js 4's native addon needs glibc 2.38, newer than
 * Debian 12's 2.36, so here the corpus replay is how the entry point is exercised).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Arch } from '../isa/arch.ts';
import { StackscopeError } from '../isa/error.ts';
import { FuzzUsageError } from './errors.ts';
import { ByteChoices } from './random.ts';
import { generateBounded } from './generate.ts';
import { prepareProgram, type Failure } from './harness.ts';
import { runPrepared } from './campaign.ts';
import type { Program } from './program.ts';

/** Largest statement count a byte input may ask for. */
export const MAX_INPUT_OPS = 64;

/** The program a byte string stands for: its first bytes choose the size, the rest the program. */
export function decodeProgram(data: Uint8Array): Program {
  const c = new ByteChoices(data);
  const ops = c.int(1, MAX_INPUT_OPS);
  return generateBounded(c, { ops });
}

/** A failure found by `fuzz(data)`; Jazzer.js reports a thrown error as a finding. */
export class FuzzFindingError extends StackscopeError {
  override name = 'FuzzFindingError';
  constructor(readonly failure: Failure, readonly program: Program) {
    super(`${failure.kind} on ${failure.arch} (${failure.walker} walker): ${failure.message}`);
  }
}

const ARCHES: readonly Arch[] = ['x64', 'aarch64'];

/** The fuzz target: decode, run on both arches, throw on a failure. */
export async function fuzz(data: Uint8Array): Promise<void> {
  const program = decodeProgram(data);
  const prep = await prepareProgram(program);
  for (const arch of ARCHES) {
    const out = await runPrepared(prep, arch, 'v17');
    if (out.failure) throw new FuzzFindingError(out.failure, program);
  }
}

export interface CorpusReplay {
  files: number;
  findings: Array<{ file: string; error: FuzzFindingError }>;
}

/** Runs every regular file of `dir` (sorted by name) through `fuzz`. */
export async function replayCorpus(dir: string, onFile?: (file: string, index: number, finding: FuzzFindingError | null) => void): Promise<CorpusReplay> {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (e) {
    throw new FuzzUsageError(`corpus ${dir}: ${(e as Error).message}`);
  }
  const files = names.map((n) => join(dir, n)).filter((f) => statSync(f).isFile());
  const findings: CorpusReplay['findings'] = [];
  for (const [i, file] of files.entries()) {
    let finding: FuzzFindingError | null = null;
    try {
      await fuzz(readFileSync(file));
    } catch (e) {
      if (!(e instanceof FuzzFindingError)) throw e;
      finding = e;
      findings.push({ file, error: e });
    }
    onFile?.(file, i, finding);
  }
  return { files: files.length, findings };
}
