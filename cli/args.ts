import { StackscopeError } from '../isa/error.ts';
import { REGALLOC_MODES, type RegallocMode } from '../compiler/regalloc/modes.ts';

/** A bad command line: reported on stderr with exit code 2. */
export class UsageError extends StackscopeError {
  override name = 'UsageError';
  constructor(message: string, readonly command?: string) {
    super(message);
  }
}

export interface ParsedArgs {
  positionals: string[];
  flags: Map<string, string | true>;
}

/**
 * Splits argv into positionals and `--flag[=value]` / `--flag value` options. `valued` names
 * the flags that take a value; any other `--x` is a boolean. Unknown flags are the caller's
 * to reject (see `rejectUnknown`).
 */
export function parseArgs(argv: readonly string[], valued: readonly string[], command: string): ParsedArgs {
  const positionals: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      if (valued.includes(name)) {
        const value = eq >= 0 ? a.slice(eq + 1) : argv[++i];
        if (value === undefined) throw new UsageError(`--${name} needs a value`, command);
        flags.set(name, value);
      } else {
        if (eq >= 0) throw new UsageError(`--${name} takes no value`, command);
        flags.set(name, true);
      }
    } else {
      positionals.push(a);
    }
  }
  return { positionals, flags };
}

/** `--regalloc none|linear-scan` (undefined when absent: the engine's default). */
export function parseRegalloc(args: ParsedArgs, command: string): RegallocMode | undefined {
  const v = args.flags.get('regalloc');
  if (v === undefined) return undefined;
  if (v === true || !(REGALLOC_MODES as readonly string[]).includes(v)) {
    throw new UsageError(`--regalloc: unknown mode '${v === true ? '' : v}' (${REGALLOC_MODES.join(' or ')})`, command);
  }
  return v as RegallocMode;
}

/** `--regalloc` for a module about to be compiled; a usage error for a compiled image (ELF bytes). */
export function regallocFor(args: ParsedArgs, bytes: Uint8Array, command: string): RegallocMode | undefined {
  const mode = parseRegalloc(args, command);
  if (mode !== undefined && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46) {
    throw new UsageError('--regalloc applies when compiling a .wat or .wasm module; a compiled image keeps the allocation it was compiled with', command);
  }
  return mode;
}

export function rejectUnknown(args: ParsedArgs, known: readonly string[], command: string): void {
  for (const name of args.flags.keys()) {
    if (!known.includes(name)) throw new UsageError(`unknown option --${name}`, command);
  }
}

/** Parses a guest address or integer: decimal, 0x-hex, optionally negative (two's complement). */
export function parseInteger(text: string, what: string, command: string): bigint {
  const t = text.trim();
  if (!/^-?(0x[0-9a-f]+|[0-9]+)$/i.test(t)) throw new UsageError(`${what}: '${text}' is not an integer`, command);
  const negative = t.startsWith('-');
  const v = BigInt(negative ? t.slice(1) : t);
  if (v >= 1n << 64n) throw new UsageError(`${what}: '${text}' does not fit in 64 bits`, command);
  return BigInt.asUintN(64, negative ? -v : v);
}
