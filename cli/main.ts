#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArch, type Arch } from '../isa/arch.ts';
import { StackscopeError } from '../isa/error.ts';
import { GuestTrap } from '../simulator/trap.ts';
import { UsageError, parseArgs, rejectUnknown } from './args.ts';
import { CompileError } from '../compiler/frontend/index.ts';
import { WasmTrap } from '../runtime/api.ts';
import { compileCommand, COMPILE_HELP } from './commands/compile.ts';
import { disasmCommand, DISASM_HELP } from './commands/disasm.ts';
import { explainCommand, EXPLAIN_HELP } from './commands/explain.ts';
import { gcCommand, GC_HELP } from './commands/gc.ts';
import { demoCommand, DEMO_HELP } from './commands/demo.ts';
import { layoutCommand, LAYOUT_HELP } from './commands/layout.ts';
import { inspectCommand, INSPECT_HELP } from './commands/inspect.ts';
import { runCommand, RUN_HELP } from './commands/run.ts';
import { stdio, type Output } from './output.ts';

export const HELP = `stackscope — Cranelift-style x86-64 and AArch64 machine code on Unicorn, with wasmtime's
runtime layouts and a stack-walking GC.

usage: stackscope <command> [options]

commands:
  run       run a Wasm module (.wat, .wasm, compiled image, an example) or link ELF objects
            and call a function; --trace, --gc-explain
  explain   run a module until a function reaches a safepoint and draw that frame
  gc        run a module and report every collection at its env.gc calls (--explain draws frames)
  compile   compile a Wasm module into an ELF image for x64 or aarch64 (--print lists it)
  inspect   sections, symbols and relocations of an ELF64 object (as readelf shows them)
  disasm    disassemble raw machine code (hex or a file)
  layout    the wasmtime v17 VMContext layout of a module, image, or explicit counts
  demo      run the current teaching demo on both arches

options:
  --help     this text (or 'stackscope <command> --help')
  --version  print the version

exit codes (every command): 0 ok, 1 guest trap, 2 usage or input error.
JSON output (--json) and the text formats are described in docs/cli.md.`;

const HELPS: Record<string, string> = {
  run: RUN_HELP, explain: EXPLAIN_HELP, gc: GC_HELP, compile: COMPILE_HELP, inspect: INSPECT_HELP, disasm: DISASM_HELP, layout: LAYOUT_HELP, demo: DEMO_HELP,
};

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
    if ((rest.includes('--help') || rest.includes('-h')) && HELPS[command]) {
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
      case 'explain':
        return await explainCommand(rest, out);
      case 'gc':
        return await gcCommand(rest, out);
      case 'compile':
        return await compileCommand(rest, out);
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
    if (e instanceof GuestTrap || e instanceof WasmTrap) {
      // A trap outside the call a command reports (a start function, say).
      out.error(`stackscope${command ? ` ${command}` : ''}: guest trap: ${e.message}`);
      return 1;
    }
    if (e instanceof CompileError) {
      out.error(`stackscope ${command}: ${e.message}`);
      return 2;
    }
    if (e instanceof StackscopeError) {
      // Input errors (malformed modules, objects, bad counts) name what and where.
      out.error(`stackscope ${command}: ${e.name}: ${e.message}`);
      return 2;
    }
    out.error(`stackscope: internal error: ${(e as Error)?.stack ?? String(e)}`);
    return 70;
  }
}

const invokedDirectly = process.argv[1] !== undefined && /(?:cli[\\/]main\.ts|stackscope(?:\.mjs)?)$/.test(process.argv[1]);
if (invokedDirectly) {
  // `stackscope run --trace … | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  process.exitCode = await main(process.argv.slice(2));
}
