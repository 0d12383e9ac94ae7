import { hex } from '../../isa/error.ts';
import { readElf } from '../../loader/elf.ts';
import { loadObjects, type HostBinding } from '../../loader/sandbox.ts';
import { Machine } from '../../simulator/machine.ts';
import { GuestTrap } from '../../simulator/trap.ts';
import { parseArgs, parseInteger, rejectUnknown, UsageError } from '../args.ts';
import type { Output } from '../output.ts';
import { readInput } from './inspect.ts';

export const RUN_HELP = `usage: stackscope run <file.o>... --entry NAME [--args 1,2,3] [--budget N] [--timeout MS] [--json]

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
JSON: {"result": "<unsigned decimal>", "signed": "<signed decimal>", "instructions": N,
"trap": null | {"kind", "pc", "address", "instruction", "message", "backtrace": [...]}}`;

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

export async function runCommand(argv: string[], out: Output): Promise<number> {
  const args = parseArgs(argv, ['entry', 'args', 'budget', 'timeout'], 'run');
  rejectUnknown(args, ['entry', 'args', 'budget', 'timeout', 'json'], 'run');
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
  const timeout = limit('timeout', 10_000n);

  const inputs = args.positionals.map((file) => ({ file, bytes: readInput(file, 'run') }));
  const arches = new Set(inputs.map((i) => readElf(i.bytes, i.file).arch));
  if (arches.size !== 1) throw new UsageError(`objects are for different architectures (${[...arches].join(', ')})`, 'run');
  const [arch] = arches;
  const json = args.flags.has('json');
  const printed: string[] = [];
  const hostOut: Output = json ? { ...out, text: (l) => printed.push(l) } : out;
  const machine = await Machine.create({ arch, budget, timeoutMs: timeout === null ? null : Number(timeout) });
  try {
    const program = loadObjects(machine, inputs, { hostFunctions: hostFunctions(machine, hostOut) });
    const target = program.address(entry);
    try {
      const result = machine.call(target, callArgs);
      const instructions = machine.instructionsExecuted();
      if (json) out.json({ result: result.toString(), signed: BigInt.asIntN(64, result).toString(), instructions: Number(instructions), trap: null, output: printed });
      else out.text(`result: ${result} (signed ${BigInt.asIntN(64, result)}, ${hex(result)})\ninstructions: ${instructions}`);
      return 0;
    } catch (e) {
      if (e instanceof GuestAbort) throw new UsageError(e.message, 'run');
      if (!(e instanceof GuestTrap)) throw e;
      if (json) {
        out.json({ result: null, signed: null, instructions: Number(e.instructions ?? 0n), trap: e.toJSON(), output: printed });
      } else {
        out.text(`trap: ${e.kind} at ${hex(e.pc)}${e.instruction ? `: ${e.instruction}` : ''}`);
        out.text(`  ${e.message}`);
        if (e.address !== undefined) out.text(`  address: ${hex(e.address)}`);
        out.text(`instructions: ${e.instructions ?? 0n}`);
        out.text('backtrace:');
        e.backtrace.forEach((f, i) => out.text(`  #${i} ${hex(f.pc)}${f.symbol ? ` ${f.symbol}` : ''}`));
      }
      return 1;
    }
  } finally {
    machine.close();
  }
}
