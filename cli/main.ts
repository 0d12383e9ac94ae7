#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArch, type Arch } from '../isa/arch.ts';
import { StackscopeError } from '../isa/error.ts';
import { GuestTrap } from '../simulator/trap.ts';
import { UsageError, parseArgs, rejectUnknown } from './args.ts';
import { disasmCommand, DISASM_HELP } from './commands/disasm.ts';
import { demoCommand, DEMO_HELP } from './commands/demo.ts';
import { layoutCommand, LAYOUT_HELP } from './commands/layout.ts';
import { inspectCommand, INSPECT_HELP } from './commands/inspect.ts';
import { runCommand, RUN_HELP } from './commands/run.ts';
import { stdio, type Output } from './output.ts';

export const HELP = `stackscope — Cranelift-style x86-64 and AArch64 machine code on Unicorn, with wasmtime's
runtime layouts and a stack-walking GC.

usage: stackscope <command> [options]

commands:
  demo      run the current teaching demo on both arches
  disasm    disassemble raw machine code (hex or a file)
  inspect   sections, symbols and relocations of an ELF64 object (as readelf shows them)
  layout    the wasmtime v17 VMContext layout of a module, or of explicit counts
  run       link ELF objects in the sandbox and call a function

options:
  --help     this text (or 'stackscope <command> --help')
  --version  print the version

exit codes: 0 ok, 1 guest trap, 2 usage or input error`;

const HELPS: Record<string, string> = { disasm: DISASM_HELP, demo: DEMO_HELP, layout: LAYOUT_HELP, inspect: INSPECT_HELP, run: RUN_HELP };

function version(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    try {
      return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version as string;
    } catch {
      dir = dirname(dir);
    }
  }
  return 'unknown';
}

/** Runs one command line; returns the exit code. Never throws. */
export async function main(argv: readonly string[], out: Output = stdio): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
      out.text(HELP);
      return command === undefined ? 2 : 0;
    }
    if (command === '--version' || command === '-V') {
      out.text(`stackscope ${version()}`);
      return 0;
    }
    if (rest.includes('--help') && HELPS[command]) {
      out.text(HELPS[command]);
      return 0;
    }
    switch (command) {
      case 'disasm':
        return disasmCommand(rest, out);
      case 'inspect':
        return inspectCommand(rest, out);
      case 'run':
        return await runCommand(rest, out);
      case 'layout':
        return await layoutCommand(rest, out);
      case 'demo': {
        const args = parseArgs(rest, ['arch'], 'demo');
        rejectUnknown(args, ['arch'], 'demo');
        let arches: Arch[] = [];
        const a = args.flags.get('arch');
        if (typeof a === 'string') {
          const arch = parseArch(a);
          if (!arch) throw new UsageError(`unknown architecture '${a}' (x64 or aarch64)`, 'demo');
          arches = [arch];
        }
        if (args.positionals.length) throw new UsageError(`unexpected argument '${args.positionals[0]}'`, 'demo');
        return await demoCommand(arches, out);
      }
      default:
        throw new UsageError(`unknown command '${command}' (try --help)`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      out.error(`stackscope${e.command ? ' ' + e.command : ''}: ${e.message}`);
      return 2;
    }
    if (e instanceof GuestTrap) {
      out.error(`stackscope: guest trap: ${e.message}`);
      return 1;
    }
    if (e instanceof StackscopeError) {
      // Input errors (malformed modules, objects, bad counts) name what and where.
      out.error(`stackscope: ${e.name}: ${e.message}`);
      return 2;
    }
    out.error(`stackscope: internal error: ${(e as Error)?.stack ?? String(e)}`);
    return 70;
  }
}

const invokedDirectly = process.argv[1] !== undefined && /(?:cli[\\/]main\.ts|stackscope(?:\.mjs)?)$/.test(process.argv[1]);
if (invokedDirectly) {
  process.exitCode = await main(process.argv.slice(2));
}
