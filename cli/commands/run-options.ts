/**
 * The options `run` shares with the other commands that run code: --cycles/--uarch and the
 * cycle report's text and JSON, --budget/--timeout, --trace/--trace-limit, --arch, and
 * --invoke NAME ARGS... taken out of argv. `run` (Wasm), its ELF path (run-native.ts) and
 * `explain` import them from here, so no command module imports another.
 */
import { parseArch, type Arch } from '../../isa/arch.ts';
import { hex } from '../../isa/error.ts';
import { toJsonData } from '../../isa/json.ts';
import { CycleModelError, type CycleOptions, type CycleReport } from '../../simulator/timing/cycles.ts';
import { HostUarchError, UnknownUarchError, parseUarch, resolveUarch } from '../../simulator/timing/model.ts';
import { UARCH_SPECS } from '../../simulator/timing/table.ts';
import { DEFAULT_TRACE_LIMIT, type TraceMode } from '../../viewer/trace.ts';
import { parseInteger, UsageError, type ParsedArgs } from '../args.ts';

/** The cycle report as JSON (addresses as hex strings). */
export function cycleReportJson(r: CycleReport): unknown {
  return toJsonData({ ...r });
}

function percent(x: number): string {
  return `${(100 * x).toFixed(1).padStart(5)} %`;
}

/** The cycle report as text lines. */
export function cycleReportText(r: CycleReport): string[] {
  const lines = [
    `cycles: ${Math.round(r.cycles)} (${r.mode}, ${r.uarch}), IPC ${r.ipc.toFixed(2)}, CPI ${(r.instructions ? r.cycles / r.instructions : 0).toFixed(3)}`,
    `model: ${r.uarch}; host: ${r.host.description}`,
    `CPI stack: base ${r.cpi.base.toFixed(3)}, dependency ${r.cpi.dependency.toFixed(3)}, branch ${r.cpi.branch.toFixed(3)}, memory ${r.cpi.memory.toFixed(3)}`,
  ];
  const priced = r.pricing.exact + r.pricing.approximate + r.pricing.unknown;
  if (priced > 0 && r.pricing.exact < priced) {
    lines.push(`pricing: ${percent(r.pricing.approximate / priced).trim()} of instructions by a relaxed table key, ${percent(r.pricing.unknown / priced).trim()} by the default entry`);
  }
  if (r.branches) {
    const b = r.branches;
    lines.push(`branches: ${b.conditionalMispredicted} of ${b.conditional} conditional, ${b.indirectMispredicted} of ${b.indirect} indirect, ${b.returnsMispredicted} of ${b.returns} returns mispredicted`);
  }
  if (r.memory) {
    const m = r.memory;
    const level = (name: string, s: { accesses: number; misses: number } | undefined) => (s ? `${name} ${s.misses}/${s.accesses} missed` : '');
    lines.push(`memory: ${m.loads} loads, ${m.stores} stores; ${[level('L1', m.l1), level('L2', m.l2), level('L3', m.l3)].filter(Boolean).join(', ')}; ${m.prefetches} prefetches, ${m.dramLines} lines from DRAM`);
  }
  lines.push('hot functions:');
  for (const f of r.functions.slice(0, 10)) lines.push(`  ${percent(f.share)} ${String(Math.round(f.cycles)).padStart(12)} cycles  ${f.name}`);
  lines.push('hot blocks:');
  for (const b of r.blocks.slice(0, 10)) {
    lines.push(`  ${percent(b.share)} ${String(Math.round(b.cycles)).padStart(12)} cycles  ${hex(b.address)}${b.symbol ? ` ${b.symbol}` : ''}  ×${b.executions}, ${b.staticCycles.toFixed(2)} cycles static${b.loop ? ' (loop' : ' ('}${b.bottleneck ? `${b.loop ? ', ' : ''}${b.bottleneck}` : ''})`);
  }
  return lines;
}

/**
 * `--cycles[=fast|detailed|off]` and `--uarch NAME` as the Machine's (or Engine's) cycle
 * options; undefined when no model is asked for. The uarch's arch is checked once the arch of
 * the run is known (checkUarchArch).
 */
export function cycleFlags(args: ParsedArgs, command = 'run'): CycleOptions | undefined {
  const cyclesFlag = args.flags.get('cycles');
  const uarchFlag = args.flags.get('uarch');
  if (cyclesFlag !== undefined && cyclesFlag !== 'fast' && cyclesFlag !== 'detailed' && cyclesFlag !== 'off') {
    throw new UsageError(`--cycles takes fast, detailed or off (got '${String(cyclesFlag)}')`, command);
  }
  if (typeof uarchFlag === 'string' && !parseUarch(uarchFlag) && uarchFlag.toLowerCase() !== 'host') throw new UsageError(new UnknownUarchError(uarchFlag).message, command);
  if (uarchFlag !== undefined && cyclesFlag === undefined) throw new UsageError('--uarch needs --cycles', command);
  return cyclesFlag === 'fast' || cyclesFlag === 'detailed'
    ? { mode: cyclesFlag, ...(typeof uarchFlag === 'string' ? { uarch: uarchFlag } : {}) }
    : undefined;
}

/** A --uarch model of the other arch is a usage error (`what` says what runs on `arch`). */
export function checkUarchArch(cycles: CycleOptions | undefined, arch: Arch, what: string, command = 'run'): void {
  if (cycles?.uarch === undefined) return;
  let modelArch: Arch;
  try {
    modelArch = UARCH_SPECS[resolveUarch(cycles.uarch, arch)].arch;
  } catch (e) {
    if (e instanceof HostUarchError) throw new UsageError(e.message, command);
    throw e;
  }
  if (modelArch !== arch) throw new UsageError(new CycleModelError(`models ${modelArch}, ${what} ${arch}`, cycles.uarch).message, command);
}

/** Flags whose value may be attached (`--trace=insn`) or omitted (`--trace`). */
export function normalizeOptionalValues(argv: readonly string[]): string[] {
  return argv.map((a) => (a === '--cycles' ? '--cycles=fast' : a === '--trace' ? '--trace=block' : a));
}

/**
 * Takes `--invoke NAME ARGS...` (or `--invoke=NAME ARGS...`) out of argv: NAME and every
 * following word up to the next option. Negative numbers (`-5`) are arguments, not options.
 */
export function splitInvoke(argv: readonly string[], command: string): { rest: string[]; invoke: { name: string; args: string[] } | undefined } {
  const rest: string[] = [];
  let invoke: { name: string; args: string[] } | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (a === '--invoke' || a.startsWith('--invoke=')) {
      if (invoke) throw new UsageError('--invoke given twice', command);
      const name = a.startsWith('--invoke=') ? a.slice('--invoke='.length) : argv[++i];
      if (name === undefined || name === '' || name.startsWith('--')) throw new UsageError('--invoke needs a function name', command);
      const args: string[] = [];
      while (i + 1 < argv.length && !argv[i + 1].startsWith('--')) args.push(argv[++i]);
      invoke = { name, args };
      continue;
    }
    rest.push(a);
  }
  return { rest, invoke };
}

export function parseArchFlag(text: string, command = 'run'): Arch {
  const arch = parseArch(text);
  if (!arch) throw new UsageError(`--arch: unknown architecture '${text}' (x64 or aarch64)`, command);
  return arch;
}

function limitFlag(args: ParsedArgs, name: string, dflt: bigint): bigint | null {
  const v = args.flags.get(name);
  if (typeof v !== 'string') return dflt;
  // parseInteger reads a negative number as its 64-bit two's complement: a limit of 2^64 − 5.
  if (v.trim().startsWith('-')) throw new UsageError(`--${name}: '${v}' is negative (0 turns the limit off)`, 'run');
  const n = parseInteger(v, `--${name}`, 'run');
  return n === 0n ? null : n;
}

/** --budget (instructions, default 2^32) and --timeout (ms, default 10 s); 0 turns either off. */
export function runLimits(args: ParsedArgs): { budget: bigint | null; timeoutMs: number | null } {
  const budget = limitFlag(args, 'budget', 1n << 32n);
  const timeout = limitFlag(args, 'timeout', 10_000n);
  return { budget, timeoutMs: timeout === null ? null : Number(timeout) };
}

export function traceFlags(args: ParsedArgs, command = 'run'): { mode: TraceMode; limit: number } | undefined {
  const t = args.flags.get('trace');
  const limitText = args.flags.get('trace-limit');
  if (t === undefined) {
    if (limitText !== undefined) throw new UsageError('--trace-limit needs --trace', command);
    return undefined;
  }
  if (t !== 'block' && t !== 'insn') throw new UsageError(`--trace takes block or insn (got '${String(t)}')`, command);
  let limit = DEFAULT_TRACE_LIMIT;
  if (typeof limitText === 'string') {
    const n = parseInteger(limitText, '--trace-limit', command);
    // Each entry keeps its registers and writes: a million is already hundreds of MB.
    if (n > 1_000_000n) throw new UsageError(`--trace-limit: ${limitText} is above 1000000`, command);
    limit = Number(n);
  }
  return { mode: t, limit };
}
