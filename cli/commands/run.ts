import { hex } from '../../isa/error.ts';
import { readElf } from '../../loader/elf.ts';
import { loadObjects, type HostBinding } from '../../loader/sandbox.ts';
import { Machine } from '../../simulator/machine.ts';
import { CycleModelError, type CycleReport } from '../../simulator/timing/cycles.ts';
import { UARCH_NAMES, UnknownUarchError, parseUarch, timingModel } from '../../simulator/timing/model.ts';
import { GuestTrap } from '../../simulator/trap.ts';
import { parseArgs, parseInteger, rejectUnknown, UsageError } from '../args.ts';
import type { Output } from '../output.ts';
import { readInput } from './inspect.ts';

export const RUN_HELP = `usage: stackscope run <file.o>... --entry NAME [--args 1,2,3] [--budget N] [--timeout MS]
                      [--cycles[=fast|detailed]] [--uarch NAME] [--json]

Links the objects (gcc or GNU as output, x86-64 or AArch64) into one image inside the
sandbox and calls NAME with integer arguments (System V / AAPCS64). Prints the integer result
and the instructions executed; on a guest trap, its kind, exact PC, the instruction there and
a symbolized backtrace from the frame-pointer chain (exit code 1).

Undefined symbols may name these host functions:
  print_i64(x)          prints x (signed) on its own line, returns x
  memcpy(d, s, n), memmove(d, s, n), memset(d, c, n)   on guest memory, return d
  strlen(s)             length of a NUL-terminated guest string
  __popcountdi2(x)      libgcc's popcount helper (gcc emits it without -mpopcnt)
  abort()               stops the run with an error
Any other undefined symbol is an error listing every unresolved name.

Limits: --budget instructions (default 4294967296, 0 = none) and --timeout ms (default
10000, 0 = none).

Cycles (docs/cycle-model.md): --cycles (= --cycles=fast) prices every executed block with a
static per-microarchitecture model counted natively; --cycles=detailed adds a branch
predictor, caches and a register scoreboard (slower). Prints total cycles, IPC, the CPI stack
(base / dependency / branch / memory) and the hottest functions and blocks. --uarch picks the
model: ${UARCH_NAMES.join(', ')} (default skylake on x86-64, neoverse-n2 on AArch64).

JSON: {"result": "<unsigned decimal>", "signed": "<signed decimal>", "instructions": N,
"trap": null | {"kind", "pc", "address", "instruction", "message", "backtrace": [...]},
"cycles": absent | {"mode", "uarch", "cycles", "instructions", "ipc", "stack", "cpi",
"pricing", "functions": [...], "blocks": [{"address": "0x…", ...}], "branches"?, "memory"?}}`;

class GuestAbort extends Error {}

function hostFunctions(machine: Machine, out: Output): Record<string, HostBinding> {
  const copy = (d: bigint, s: bigint, n: bigint) => {
    if (n > 0n) machine.writeBytes(d, machine.readBytes(s, Number(n)));
    return d;
  };
  return {
    print_i64: { arity: 1, fn: ([x]) => { out.text(`print_i64: ${BigInt.asIntN(64, x)}`); return x; } },
    memcpy: { arity: 3, fn: ([d, s, n]) => copy(d, s, n) },
    memmove: { arity: 3, fn: ([d, s, n]) => copy(d, s, n) },
    memset: { arity: 3, fn: ([d, c, n]) => {
      if (n > 0n) machine.writeBytes(d, new Uint8Array(Number(n)).fill(Number(c & 0xffn)));
      return d;
    } },
    strlen: { arity: 1, fn: ([s]) => {
      let n = 0n;
      while (machine.readBytes(s + n, 1)[0] !== 0) n++;
      return n;
    } },
    __popcountdi2: { arity: 1, fn: ([x]) => BigInt([...x.toString(2)].filter((c) => c === '1').length) },
    abort: { arity: 0, fn: () => { throw new GuestAbort('guest called abort()'); } },
  };
}

/** The cycle report as JSON (addresses as hex strings). */
export function cycleReportJson(r: CycleReport): unknown {
  return { ...r, blocks: r.blocks.map((b) => ({ ...b, address: hex(b.address) })) };
}

function percent(x: number): string {
  return `${(100 * x).toFixed(1).padStart(5)} %`;
}

/** The cycle report as text lines. */
export function cycleReportText(r: CycleReport): string[] {
  const lines = [
    `cycles: ${Math.round(r.cycles)} (${r.mode}, ${r.uarch}), IPC ${r.ipc.toFixed(2)}, CPI ${(r.instructions ? r.cycles / r.instructions : 0).toFixed(3)}`,
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

export async function runCommand(argv: string[], out: Output): Promise<number> {
  // `--cycles` alone means fast mode; `--cycles=MODE` names one.
  const args = parseArgs(argv.map((a) => (a === '--cycles' ? '--cycles=fast' : a)), ['entry', 'args', 'budget', 'timeout', 'cycles', 'uarch'], 'run');
  rejectUnknown(args, ['entry', 'args', 'budget', 'timeout', 'json', 'cycles', 'uarch'], 'run');
  const entry = args.flags.get('entry');
  if (typeof entry !== 'string' || entry === '') throw new UsageError('--entry NAME is required', 'run');
  if (args.positionals.length === 0) throw new UsageError('give at least one object file', 'run');
  const argText = args.flags.get('args');
  const callArgs = typeof argText === 'string' && argText.trim() !== ''
    ? argText.split(',').map((a, i) => parseInteger(a, `--args item ${i + 1}`, 'run'))
    : [];
  const limit = (name: string, dflt: bigint): bigint | null => {
    const v = args.flags.get(name);
    if (typeof v !== 'string') return dflt;
    const n = parseInteger(v, `--${name}`, 'run');
    return n === 0n ? null : n;
  };
  const budget = limit('budget', 1n << 32n);
  const cyclesFlag = args.flags.get('cycles');
  const uarchFlag = args.flags.get('uarch');
  if (cyclesFlag !== undefined && cyclesFlag !== 'fast' && cyclesFlag !== 'detailed' && cyclesFlag !== 'off') {
    throw new UsageError(`--cycles takes fast, detailed or off (got '${String(cyclesFlag)}')`, 'run');
  }
  if (typeof uarchFlag === 'string' && !parseUarch(uarchFlag)) throw new UsageError(new UnknownUarchError(uarchFlag).message, 'run');
  if (uarchFlag !== undefined && cyclesFlag === undefined) throw new UsageError('--uarch needs --cycles', 'run');
  const timeout = limit('timeout', 10_000n);

  const inputs = args.positionals.map((file) => ({ file, bytes: readInput(file, 'run') }));
  const arches = new Set(inputs.map((i) => readElf(i.bytes, i.file).arch));
  if (arches.size !== 1) throw new UsageError(`objects are for different architectures (${[...arches].join(', ')})`, 'run');
  const [arch] = arches;
  const json = args.flags.has('json');
  const printed: string[] = [];
  const hostOut: Output = json ? { ...out, text: (l) => printed.push(l) } : out;
  if (typeof uarchFlag === 'string' && timingModel(uarchFlag).arch !== arch) {
    throw new UsageError(new CycleModelError(`models ${timingModel(uarchFlag).arch}, the objects are ${arch}`, uarchFlag).message, 'run');
  }
  const cycles = cyclesFlag === 'fast' || cyclesFlag === 'detailed'
    ? { mode: cyclesFlag, ...(typeof uarchFlag === 'string' ? { uarch: uarchFlag } : {}) } as const
    : undefined;
  const machine = await Machine.create({ arch, budget, timeoutMs: timeout === null ? null : Number(timeout), ...(cycles ? { cycles } : {}) });
  try {
    const program = loadObjects(machine, inputs, { hostFunctions: hostFunctions(machine, hostOut) });
    const target = program.address(entry);
    try {
      const result = machine.call(target, callArgs);
      const instructions = machine.instructionsExecuted();
      const report = machine.cycleReport();
      if (json) {
        out.json({
          result: result.toString(), signed: BigInt.asIntN(64, result).toString(), instructions: Number(instructions), trap: null, output: printed,
          ...(report ? { cycles: cycleReportJson(report) } : {}),
        });
      } else {
        out.text(`result: ${result} (signed ${BigInt.asIntN(64, result)}, ${hex(result)})\ninstructions: ${instructions}`);
        if (report) for (const line of cycleReportText(report)) out.text(line);
      }
      return 0;
    } catch (e) {
      if (e instanceof GuestAbort) throw new UsageError(e.message, 'run');
      if (!(e instanceof GuestTrap)) throw e;
      const report = machine.cycleReport();
      if (json) {
        out.json({
          result: null, signed: null, instructions: Number(e.instructions ?? 0n), trap: e.toJSON(), output: printed,
          ...(report ? { cycles: cycleReportJson(report) } : {}),
        });
      } else {
        out.text(`trap: ${e.kind} at ${hex(e.pc)}${e.instruction ? `: ${e.instruction}` : ''}`);
        out.text(`  ${e.message}`);
        if (e.address !== undefined) out.text(`  address: ${hex(e.address)}`);
        out.text(`instructions: ${e.instructions ?? 0n}`);
        out.text('backtrace:');
        e.backtrace.forEach((f, i) => out.text(`  #${i} ${hex(f.pc)}${f.symbol ? ` ${f.symbol}` : ''}`));
        if (report) for (const line of cycleReportText(report)) out.text(line);
      }
      return 1;
    }
  } finally {
    machine.close();
  }
}
