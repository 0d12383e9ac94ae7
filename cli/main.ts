#!/usr/bin/env node
// Start-up matters (bench/cli): this file imports only what every command line needs. Each
// command's module (and with it Capstone, wabt, koffi, the timing tables) is imported when that
// command runs; the error classes checked below come from small modules of their own.
import { readFileSync } from 'node:fs';
import { parseArch, type Arch } from '../isa/arch.ts';
import { StackscopeError } from '../isa/error.ts';
import { GuestTrap } from '../simulator/trap.ts';
import { UsageError, parseArgs, parseRegalloc, rejectUnknown } from './args.ts';
import type { RegallocMode } from '../compiler/regalloc/modes.ts';
import { CompileError } from '../compiler/frontend/errors.ts';
import { WasmTrap } from '../runtime/errors.ts';
import { stdio, type Output } from './output.ts';
import { profileFlag } from './profile.ts';
import type { Profile } from '../profiles/profile.ts';

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
  layout    the VMContext layout (wasmtime v17, or --profile v31|v44) of a module, image, or counts
  demo      run the current teaching demo on both arches
  fuzz      generate random GC-heavy programs and check them against a reference model
  wast      run WebAssembly spec-test scripts (.wast) on both arches

options:
  --help     this text (or 'stackscope <command> --help')
  --version  print the version
  --profile  v17|v31|v44: the wasmtime era (run, explain, gc, compile, layout, demo, fuzz; default v17)
  --regalloc none|linear-scan: values in stack slots or in registers (run, explain, gc, compile,
             demo, fuzz; default none)

exit codes (every command): 0 ok, 1 guest trap, 2 usage or input error.
JSON output (--json) and the text formats are described in docs/cli.md.`;

/** A subcommand: its --help text and what runs it, both from the module imported on first use. */
interface Command {
  help: string;
  run(rest: readonly string[], out: Output): number | Promise<number>;
}

function demo(rest: readonly string[], out: Output, demoCommand: (arches: readonly Arch[], out: Output, htmlFile?: string, profile?: Profile, regalloc?: RegallocMode) => Promise<number>): Promise<number> {
  const args = parseArgs(rest, ['arch', 'html', 'profile', 'regalloc'], 'demo');
  rejectUnknown(args, ['arch', 'html', 'profile', 'regalloc'], 'demo');
  let arches: Arch[] = [];
  const a = args.flags.get('arch');
  if (typeof a === 'string') {
    const arch = parseArch(a);
    if (!arch) throw new UsageError(`unknown architecture '${a}' (x64 or aarch64)`, 'demo');
    arches = [arch];
  }
  if (args.positionals.length) throw new UsageError(`unexpected argument '${args.positionals[0]}'`, 'demo');
  const html = args.flags.get('html');
  if (html !== undefined && (typeof html !== 'string' || html === '')) throw new UsageError('--html needs a file name', 'demo');
  return demoCommand(arches, out, html, profileFlag(args, 'demo'), parseRegalloc(args, 'demo'));
}

/** The command table: add a command here (its module is imported only when it runs). */
export const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => { const m = await import('./commands/run.ts'); return { help: m.RUN_HELP, run: m.runCommand }; },
  explain: async () => { const m = await import('./commands/explain.ts'); return { help: m.EXPLAIN_HELP, run: m.explainCommand }; },
  gc: async () => { const m = await import('./commands/gc.ts'); return { help: m.GC_HELP, run: m.gcCommand }; },
  compile: async () => { const m = await import('./commands/compile.ts'); return { help: m.COMPILE_HELP, run: m.compileCommand }; },
  inspect: async () => { const m = await import('./commands/inspect.ts'); return { help: m.INSPECT_HELP, run: m.inspectCommand }; },
  disasm: async () => { const m = await import('./commands/disasm.ts'); return { help: m.DISASM_HELP, run: m.disasmCommand }; },
  layout: async () => { const m = await import('./commands/layout.ts'); return { help: m.LAYOUT_HELP, run: m.layoutCommand }; },
  demo: async () => { const m = await import('./commands/demo.ts'); return { help: m.DEMO_HELP, run: (rest, out) => demo(rest, out, m.demoCommand) }; },
  fuzz: async () => { const m = await import('./commands/fuzz.ts'); return { help: m.FUZZ_HELP, run: m.fuzzCommand }; },
  wast: async () => { const m = await import('./commands/wast.ts'); return { help: m.WAST_HELP, run: m.wastCommand }; },
};

/** The package's version: package.json sits above the library root (cli/..), which is the
 * repository for the sources and dist/ in the package. */
function version(): string {
  for (const candidate of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(candidate, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'stackscope' && pkg.version) return pkg.version;
    } catch {
      // not this one
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
    const load = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
    if (!load) throw new UsageError(`unknown command '${command}' (try --help)`);
    const cmd = await load();
    if (rest.includes('--help') || rest.includes('-h')) {
      out.text(cmd.help);
      return 0;
    }
    return await cmd.run(rest, out);
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

/** What the installed command (bin/stackscope.mjs) runs: process.argv in, process.exitCode out. */
export async function runCommandLine(): Promise<void> {
  // `stackscope run --trace … | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  process.exitCode = await main(process.argv.slice(2));
}

// `node --import tsx cli/main.ts …` (npm start) and `node dist/cli/main.js …`.
if (process.argv[1] !== undefined && /cli[\\/]main\.[jt]s$/.test(process.argv[1])) await runCommandLine();
