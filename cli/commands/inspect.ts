import { readFileSync } from 'node:fs';
import { formatInspect, inspectObject, inspectToJson } from '../../loader/inspect.ts';
import { parseArgs, rejectUnknown, UsageError } from '../args.ts';
import type { Output } from '../output.ts';

export const INSPECT_HELP = `usage: stackscope inspect <file.o> [--json]

Shows an ELF64 relocatable object (x86-64 or AArch64) the way readelf -S -s -r does:
section headers, symbols and relocations. Malformed objects are reported with the file,
section and offset where reading failed (exit code 2).`;

export function readInput(path: string, command: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, command);
  }
}

export function inspectCommand(argv: string[], out: Output): number {
  const args = parseArgs(argv, [], 'inspect');
  rejectUnknown(args, ['json'], 'inspect');
  if (args.positionals.length !== 1) throw new UsageError('give exactly one object file', 'inspect');
  const file = args.positionals[0];
  const report = inspectObject(readInput(file, 'inspect'), file);
  if (args.flags.has('json')) out.json(inspectToJson(report));
  else out.text(formatInspect(report).replace(/\n$/, ''));
  return 0;
}
