import { REGALLOC_MODES, type RegallocMode } from '../../compiler/regalloc/modes.ts';
import { profileFlag } from '../profile.ts';
import { checkProfileRunnable, storeKindIfAny } from '../../runtime/profiles.ts';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArch, type Arch } from '../../isa/arch.ts';
import { mutantProfile } from '../../compiler/mutants.ts';
import {
  MUTANTS, formatRecord, makeRecord, parseMix, parseRecord, parseShard, recordFileName, replayCorpus, replayRecord, resolveGeneratorOptions,
  runCampaign, runParallel, withMutant, type CampaignProgress, type FailureRecord, type Walker,
} from '../../fuzz/index.ts';
import { parseArgs, parseInteger, rejectUnknown, UsageError } from '../args.ts';
import { stdio, type Output } from '../output.ts';

export const FUZZ_HELP = `usage: stackscope fuzz [--arch x64|aarch64|both] [--seed N] [--programs N | --time SECONDS]
                      [--ops N] [--jobs N] [--shard I/N] [--mutant NAME] [--list-mutants]
                      [--corpus DIR] [--replay FILE] [--json]
                      [--walker v17|canary|both] [--out DIR] [--mix KIND=W,...] [--functions N]
                      [--max-depth N] [--no-shrink] [--keep-going] [--no-debug-checks] [--profile v17|v31|v44]
                      [--regalloc none|linear-scan|both] [--gc-objects] [--tail-calls] [--multi-results]

Generates random Wasm programs that stress the externref collector (calls, recursion, tables,
globals, host calls that collect, create and drop references, re-entrant destructors, loops
that fill the activations table, traps), runs each on the simulator and checks it against a
reference model of wasmtime's deferred reference counting: the trace of host calls and the
result, that no object is freed while reachable or twice, and every count after the last
collection. The first failure is shrunk to a minimal program and written to --out (default
fuzz-failures/) as a .wat file with its seed, options and the command that replays it.

  --arch            x64, aarch64 or both (default both)
  --seed S          first seed (default 1); program k of shard I/N uses seed S + k·N + I
  --programs N      programs to run (default 1000); --time SECONDS runs until time is up
  --ops N           statements per program (default 50)
  --jobs N          worker processes (default 1; 0 = one per core); they split this shard's seeds
  --shard I/N       this machine's part of a campaign shared by N machines (default 0/1)
  --mutant NAME     inject one known GC bug for this run (see --list-mutants)
  --corpus DIR      run every file of DIR through the libFuzzer-style entry fuzz(data) instead
  --replay FILE     rerun a failure record written by an earlier run
  --walker          frame walker(s) every program runs under (default v17)
  --profile v31     every program compiled for wasmtime v31 and run in a V31Store (32-bit
                    VMGcRefs, v31's DRC barriers, user stack maps, the DRC collector), checked
                    by the same model; counts v31.0.0 itself leaks (a ref exposed again while in
                    the over-approximated set) are told apart, not failures.
  --profile v44     every program compiled for wasmtime v44 and run in a V44Store (stack
                    switching, the intrusive over-approximated list, mark and in-list bits); the
                    programs also create, resume, suspend and drop continuations (cont.new,
                    resume with (on $yield $h), suspend with externref payloads, and players
                    started by cont.bind that switch to each other); v44's own lost
                    counts (a ref exposed again while in the list) are told apart.
                    Mutants run in the profile whose code or collector they are in.
  --gc-objects      (with --profile v31) programs also keep structs and arrays with externref
                    fields in locals (struct.new/get/set, array.new/get/set): the objects hold
                    counts on their fields' refs and give them back when they are freed
  --tail-calls      programs also make tail calls (return_call, return_call_indirect) of
                    the helpers, which replace the caller's frame (any profile)
  --multi-results   helpers may return two or three externrefs (the extra ones through the
                    return area on the caller's stack), their callers setting a local per result
                    (any profile)
  --regalloc        how programs are compiled: none (values in stack slots, default), linear-scan
                    (values in registers, references spilled around calls) or both (every
                    program in each mode)
  --no-debug-checks turn off the collector's debug assertions (more detections are the model's)
  --keep-going      do not stop at the first failure
  --slice J/M       run only programs k ≡ J (mod M) of the shard (what --jobs gives each worker)

On a terminal a live line shows programs/s, GCs, frames walked, roots, failures and per-op
coverage. --json prints JSON lines: {"type":"progress",…} every 25 programs, {"type":
"failure",…} per failure, and a final {"type":"summary",…}.
Exit codes: 0 nothing failed (or the replayed failure is gone); 1 a failure was found (and
written) or still reproduces; 2 usage or input error.`;

const VALUED = ['regalloc', 'profile', 'arch', 'seed', 'programs', 'time', 'ops', 'jobs', 'shard', 'mutant', 'corpus', 'replay', 'walker', 'out', 'mix', 'functions', 'max-depth', 'slice'];
const BOOLEAN = ['list-mutants', 'json', 'no-shrink', 'keep-going', 'no-debug-checks', 'gc-objects', 'tail-calls', 'multi-results'];

function intFlag(v: string | true | undefined, name: string, lo: number, hi: number): number | undefined {
  if (v === undefined) return undefined;
  if (v === true) throw new UsageError(`--${name} needs a value`, 'fuzz');
  const n = Number(parseInteger(v, `--${name}`, 'fuzz'));
  if (!(n >= lo && n <= hi)) throw new UsageError(`--${name}: ${v} is not between ${lo} and ${hi}`, 'fuzz');
  return n;
}

function str(v: string | true | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function progressLine(p: CampaignProgress): string {
  const total = Object.values(p.ops).reduce((a, b) => a + b, 0) || 1;
  const cover = Object.entries(p.ops).map(([k, v]) => `${k} ${Math.round((100 * v) / total)}%`).join(' ');
  return `${p.programs} programs (${p.programsPerSecond.toFixed(1)}/s), ${p.runs} runs, ${p.gcs} GCs, ${p.framesWalked} frames, ${p.roots} roots, ${p.failures} failures | ${cover}`;
}

/** The command line that runs this CLI again (for --jobs workers). */
function selfCommand(): { command: string; prefix: string[] } {
  const script = process.argv[1];
  // The launcher, the sources (cli/main.ts) or the compiled package (dist/cli/main.js).
  const own = fileURLToPath(new URL(`../main${extname(fileURLToPath(import.meta.url))}`, import.meta.url));
  const entry = script && /(?:cli[\\/]main\.[jt]s|stackscope(?:\.mjs)?)$/.test(script) ? script : own;
  return { command: process.execPath, prefix: [...process.execArgv, entry] };
}

export async function fuzzCommand(argv: readonly string[], out: Output): Promise<number> {
  const args = parseArgs(argv, VALUED, 'fuzz');
  rejectUnknown(args, [...VALUED, ...BOOLEAN], 'fuzz');
  if (args.positionals.length) throw new UsageError(`unexpected argument '${args.positionals[0]}'`, 'fuzz');
  const f = args.flags;
  const json = f.has('json');

  if (f.has('list-mutants')) {
    if (json) out.json(MUTANTS);
    else for (const m of MUTANTS) out.text(`${m.name.padEnd(28)} ${m.layer.padEnd(9)} ${'profile' in m ? `(--profile ${m.profile}) ` : ''}${m.description}`);
    return 0;
  }

  // v17 campaigns run in v17 stores (walkers v17 and canary); --profile v31 runs every program
  // in a V31Store (the `v31` walker: v31 code, user stack maps, the DRC collector), --profile v44
  // in a V44Store (the `v44` walker: stack switching, the intrusive over-approximated list). Any
  // other profile must be runnable first (ProfileUnsupportedError naming what it lacks).
  const profile = profileFlag(args, 'fuzz');
  const kind = storeKindIfAny(profile);
  const era = kind === 'v31' || kind === 'v44' ? kind : null;
  if (era) checkProfileRunnable(profile, 'the fuzzer (fuzz/)', era);
  else checkProfileRunnable(profile, 'the fuzzer (fuzz/)');
  const archFlag = str(f.get('arch')) ?? 'both';
  const arch = archFlag === 'both' ? undefined : parseArch(archFlag);
  if (archFlag !== 'both' && !arch) throw new UsageError(`--arch: unknown architecture '${archFlag}' (x64, aarch64 or both)`, 'fuzz');
  const arches: Arch[] = arch ? [arch] : ['x64', 'aarch64'];
  const walkerFlag = str(f.get('walker')) ?? era ?? 'v17';
  if (era && walkerFlag !== era) throw new UsageError(`--walker ${walkerFlag} is not the ${era} walk; --profile ${era} runs the ${era} walk`, 'fuzz');
  if (!era && !['v17', 'canary', 'both'].includes(walkerFlag)) throw new UsageError(`--walker: '${walkerFlag}' is not v17, canary or both`, 'fuzz');
  const walkers: Walker[] = walkerFlag === 'both' ? ['v17', 'canary'] : [walkerFlag as Walker];
  const regallocFlag = str(f.get('regalloc')) ?? 'none';
  if (regallocFlag !== 'both' && !(REGALLOC_MODES as readonly string[]).includes(regallocFlag)) {
    throw new UsageError(`--regalloc: '${regallocFlag}' is not ${REGALLOC_MODES.join(', ')} or both`, 'fuzz');
  }
  const regallocs: RegallocMode[] = regallocFlag === 'both' ? [...REGALLOC_MODES] : [regallocFlag as RegallocMode];
  const programs = intFlag(f.get('programs'), 'programs', 1, 1e9);
  const time = intFlag(f.get('time'), 'time', 1, 1e7);
  if (programs !== undefined && time !== undefined) throw new UsageError('give --programs or --time, not both', 'fuzz');
  const seed = intFlag(f.get('seed'), 'seed', 0, 0xffffffff) ?? 1;
  const jobsFlag = intFlag(f.get('jobs'), 'jobs', 0, 256) ?? 1;
  const jobs = jobsFlag === 0 ? availableParallelism() : jobsFlag;
  const shard = f.has('shard') ? parseShard(str(f.get('shard')) ?? '') : undefined;
  const slice = f.has('slice') ? parseShard(str(f.get('slice')) ?? '') : undefined;
  const mutant = str(f.get('mutant')) ?? null;
  if (mutant !== null && !MUTANTS.some((m) => m.name === mutant)) throw new UsageError(`unknown mutant '${mutant}' (see --list-mutants)`, 'fuzz');
  if (mutant !== null && mutantProfile(mutant) !== (era ?? 'v17')) {
    throw new UsageError(`mutant ${mutant} is a bug of the ${mutantProfile(mutant)} profile's code or collector: run it with --profile ${mutantProfile(mutant)}`, 'fuzz');
  }
  if (f.has('gc-objects') && era !== 'v31') throw new UsageError('--gc-objects needs --profile v31 (the profile that compiles structs and arrays)', 'fuzz');
  const gen = resolveGeneratorOptions({
    gcObjects: f.has('gc-objects') ? true : undefined,
    tailCalls: f.has('tail-calls'),
    multiResults: f.has('multi-results'),
    ops: intFlag(f.get('ops'), 'ops', 1, 100_000), functions: intFlag(f.get('functions'), 'functions', 1, 64),
    maxDepth: intFlag(f.get('max-depth'), 'max-depth', 0, 8), mix: f.has('mix') ? parseMix(str(f.get('mix')) ?? '') : undefined,
  });
  const outDir = str(f.get('out')) ?? 'fuzz-failures';
  const stopOnFailure = !f.has('keep-going');
  const debugChecks = !f.has('no-debug-checks');
  const live = !json && out === stdio && process.stderr.isTTY === true;

  const writeRecord = (r: FailureRecord): string => {
    mkdirSync(outDir, { recursive: true });
    const path = join(outDir, recordFileName(r));
    writeFileSync(path, formatRecord(r, path));
    return path;
  };
  const report = (r: FailureRecord): void => {
    const path = writeRecord(r);
    if (json) out.text(JSON.stringify({ type: 'failure', ...r, file: path }));
    else {
      if (live) process.stderr.write('\n');
      out.text(`FAIL ${r.failure.kind} on ${r.arch} (${r.walker} walker${r.regalloc ? `, regalloc ${r.regalloc}` : ''}${r.mutant ? `, mutant ${r.mutant}` : ''}), ${r.input !== undefined ? `input ${r.input}` : `seed ${r.seed}`}: ${r.failure.message}`);
      out.text(`  shrunk to ${r.statements.shrunk} statements (from ${r.statements.original}); written to ${path}`);
      out.text(`  replay: stackscope fuzz --replay ${path}`);
    }
  };

  const replay = str(f.get('replay'));
  if (replay !== undefined) {
    let text: string;
    try {
      text = readFileSync(replay, 'utf8');
    } catch (e) {
      throw new UsageError(`--replay ${replay}: ${(e as Error).message}`, 'fuzz');
    }
    const r = await replayRecord(parseRecord(text, replay));
    if (json) out.text(JSON.stringify({ type: 'replay', file: replay, failure: r.failure, trace: r.trace }));
    else if (r.failure) out.text(`still fails: ${r.failure.kind} on ${r.failure.arch} (${r.failure.walker} walker): ${r.failure.message}`);
    else out.text(`passes now on ${r.record.arch} (${r.record.walker} walker${r.record.mutant ? `, mutant ${r.record.mutant}` : ''}): ${r.trace.length} trace lines match the model`);
    return r.failure ? 1 : 0;
  }

  const corpus = str(f.get('corpus'));
  if (corpus !== undefined) {
    const result = await withMutant(mutant, () => replayCorpus(corpus, (file, i, finding) => {
      if (json) out.text(JSON.stringify({ type: 'input', file, index: i, failure: finding?.failure ?? null }));
      else if (finding) out.text(`FAIL ${file}: ${finding.message}`);
    }));
    for (const { file, error } of result.findings) {
      const r = await withMutant(mutant, () => makeRecord(0, resolveGeneratorOptions({ ops: 64 }), error.program, error.failure, !f.has('no-shrink')));
      report({ ...r, input: file });
    }
    const summary = { type: 'summary', files: result.files, failures: result.findings.length };
    if (json) out.text(JSON.stringify(summary));
    else out.text(`${result.files} inputs, ${result.findings.length} failures`);
    return result.findings.length ? 1 : 0;
  }

  const onProgress = (p: CampaignProgress): void => {
    if (json) out.text(JSON.stringify({ type: 'progress', ...p }));
    else if (live) process.stderr.write(`\r\x1b[K${progressLine(p)}`);
  };

  if (jobs > 1 && slice === undefined) {
    const self = selfCommand();
    const passOn = argv.filter((a, i) => !(a === '--jobs' || a.startsWith('--jobs=') || argv[i - 1] === '--jobs' || a === '--json'));
    const r = await runParallel(jobs, {
      command: self.command,
      args: (j, n) => [...self.prefix, 'fuzz', ...passOn, '--json', '--slice', `${j}/${n}`],
    }, { stopOnFailure, onProgress, onFailure: (rec) => report(rec) });
    if (live) process.stderr.write('\n');
    const summary = { type: 'summary', ...r.progress, jobs };
    if (json) out.text(JSON.stringify(summary));
    else out.text(progressLine(r.progress));
    for (const c of r.crashes) {
      const how = c.signal ? `was killed by ${c.signal}` : c.code === 0 ? 'exited without its summary' : `exited ${c.code}`;
      out.error(`stackscope fuzz: worker ${c.worker} of ${jobs} ${how} after seed ${c.lastSeed}; the rest of its slice did not run${c.stderr ? `:\n${c.stderr}` : ''}`);
    }
    // A crashed worker is an internal error (70): the campaign did not cover what it was asked to.
    return r.crashes.length ? 70 : r.failureRecords.length ? 1 : 0;
  }

  const r = await runCampaign({
    ...gen, functions: gen.functions ?? undefined, arches, walkers, regallocs, seed, shard, slice, mutant, stopOnFailure, debugChecks,
    programs, timeSeconds: time, shrink: !f.has('no-shrink'), onProgress, onFailure: report,
  });
  if (live) process.stderr.write('\n');
  const { failureRecords: _r, ...summary } = r;
  if (json) out.text(JSON.stringify({ type: 'summary', ...summary }));
  else out.text(progressLine(r));
  return r.failures ? 1 : 0;
}
