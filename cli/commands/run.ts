import { profileFlag } from '../profile.ts';
import { isDrcProfile } from '../../runtime/profiles.ts';
import { runWasmV31 } from './run-v31.ts';
import { regallocFor } from '../args.ts';
import type { RegallocMode } from '../../compiler/regalloc/modes.ts';
import type { Profile } from '../../profiles/profile.ts';
import { basename } from 'node:path';
import type { Arch } from '../../isa/arch.ts';
import { hex } from '../../isa/error.ts';
import type { ValType } from '../../compiler/frontend/module.ts';
import { describeValue, type GcReport } from '../../gc/collector.ts';
import { renderExplanation, reportToJson } from '../../gc/explain.ts';
import { ExternRef, Func, WasmTrap, type Results, type Val } from '../../runtime/api.ts';
import {
  HostImportError, InvokeArgError, SessionArchError, chooseInvocation, callInvocation, moduleFormatOf, openModule, openSession, sessionArch, valText, type Invocation, type Session,
} from '../../runtime/session.ts';

export { valText } from '../../runtime/session.ts';
import type { CycleOptions, CycleReport } from '../../simulator/timing/cycles.ts';
import { UARCH_NAMES } from '../../simulator/timing/model.ts';
import { GuestTrap } from '../../simulator/trap.ts';
import { runNative, takeRepeated } from './run-native.ts';
import { parseArgs, rejectUnknown, UsageError, type ParsedArgs } from '../args.ts';
import type { Output } from '../output.ts';
import { readInput } from './inspect.ts';
import { isModuleDirectory, loadDriver, resolveInputPath, resolveModulePath } from '../drivers.ts';
import { HtmlPage, archesOf } from '../html.ts';
import { DEFAULT_TRACE_LIMIT, renderTrace, traceOpened, traceToJson } from '../../viewer/trace.ts';
import {
  checkUarchArch, cycleFlags, cycleReportJson, cycleReportText, normalizeOptionalValues, parseArchFlag, runLimits, splitInvoke, traceFlags,
} from './run-options.ts';

export const RUN_HELP = `usage: stackscope run <file.wat | file.wasm | image.o | examples/NAME> [--arch x64|aarch64|both] [--invoke NAME ARGS...]
                      [--cycles[=fast|detailed]] [--uarch NAME]
                      [--trace[=block|insn]] [--trace-limit N] [--gc-explain] [--json] [--html FILE]
                      [--profile v17|v31|v44] [--regalloc none|linear-scan] [--preload NAME=FILE]...
       stackscope run <file.o | lib.a>... --entry NAME [--arg TYPE:VALUE]... [--sig SIG]
                      [--host FILE.mjs] [--syscalls deny|linux-min] [--args 1,2,3]
                      [--cycles[=fast|detailed]] [--uarch NAME] [--trace[=block|insn]] [--json]
       (both: [--budget N] [--timeout MS])

Wasm modules (.wat text, .wasm binary, or an image written by 'stackscope compile', known by
its .stackscope.module section) are compiled for --arch (default x64; an image keeps its own
arch), instantiated through the runtime's API with the host imports below, and the exported
function NAME is called with ARGS (i32/i64 as integers, decimal or 0x-hex; externref as
'null' or any other word, which becomes a host string). Without --invoke, an export named
'main' or '_start' taking no arguments is called, if there is one. Prints what the host
imports printed, the result and the instructions executed.

examples/NAME (or NAME, or any directory) means the directory's one .wat file. If it has a
driver (run.js, run.mjs or run.ts) and no --invoke is given, the driver runs the module (its
own host functions, tables and calls; the example's README says what it prints). The examples
shipped with stackscope run from any directory, their drivers compiled; a TypeScript driver of
your own needs tsx installed. JSON then: {"arch", "module", "driver", "trap",
"output", "gcs", "trace"?, "cycles"?}.

Host imports (module "env"):
  print_i32(i32), print_i64(i64)    print the value (signed) on its own line
  print_f32(f32), print_f64(f64)    print the value as the spec tests spell it (2.5, -0, inf, nan)
  print_externref(externref)        prints the host value it holds (or null)
  print(any parameters)             prints 'print:' and its arguments (as 'stackscope gc' does)
  new_ref(i32) -> externref         a new externref holding the host string "#N"
  ref(i32) -> externref             a new externref holding the host string "ref N" (as gc's)
  gc(any parameters)                collects externrefs now (the store's GC)
Host imports (module "host"), the GC fuzzer's, so a failure file of 'stackscope fuzz' runs
(its ';; run the program alone' line gives the command; docs/fuzzing.md §4):
  gc, new(i32) -> externref, new_temp, print(externref), print_i32(i32), release(i32),
  pass(externref) -> externref    each prints 'host OP ARG' as the fuzzer's trace spells it
Any other import is an input error (exit 2).

--profile v17|v31|v44 picks the wasmtime era of a Wasm run (default v17; docs/profiles.md). v31
compiles 32-bit VMGcRefs with v31's DRC barriers and typed user stack maps and runs them in a
V31Store (GC heap, activations table of u32 refs); --gc-explain then prints gc/drc's
explanation of each collection. v44 compiles v44's barriers (the over-approximated-list read
barrier) and runs them in a V44Store (a growable GC heap, the store's stack chain); --gc-explain
prints gc/drc44's explanation, every frame labelled with the stack it lies on. --trace (frames
at safepoints and collections as the typed user stack maps describe them) and --cycles work
with v31 and v44 too; --html (its page replays v17 collections) and example drivers are v17
only (a usage error with v31 and v44). ELF objects have no profile.

--preload NAME=FILE (repeatable; v31 and v44 runs, as wasmtime's run --preload) instantiates the
module in FILE (.wat, .wasm or an image) first, in the same store, and links its exports under
module name NAME: a later module's import "NAME" "x" is that export (a function, table, memory,
global, or — v44 — a tag, so a suspend in one module is handled by a resume in another that
imported the same tag). Each import is type-checked against its export (exit 2 on a mismatch:
"incompatible tag types" for a tag of another function type). Preloaded modules may import the
env host functions and the exports of modules preloaded before them.

--regalloc none|linear-scan chooses how a .wat/.wasm module is compiled (docs/stack-maps.md §5):
none (default) gives every value its own stack slot; linear-scan keeps values in registers and
spills references to slots around each call they survive. A compiled image keeps the
allocation it was compiled with (compile --regalloc), so the flag is a usage error there.

--gc-explain prints the explanation of every collection that ran: each Wasm frame the
collector walked as an ASCII diagram, the roots, the activations table before and after, and
what was freed (gc/explain.ts).

--html FILE writes the run as one self-contained page (no network; open it from file://):
the timeline of blocks, calls, host calls, safepoints and GCs to step through, every Wasm frame
at each safepoint and GC with its map bits, the WAT line and the machine code, and a what-if
that re-runs the collector on the recorded memory after you flip a map bit. --arch both runs
the module on x64 and then AArch64 and shows both side by side (needs --html, not --json).

--trace records each executed block (--trace=insn: each instruction, disassembled) with the
registers it changed and the memory it wrote, and at every safepoint (a call with a stack map)
and every GC the Wasm frame as a diagram: addresses, words, the stack-map bit over each word,
the slot's name and what the GC read there. At most --trace-limit entries (default
${DEFAULT_TRACE_LIMIT}, at most 1000000) are kept; the trace says when it was cut. A
module's start function runs before tracing begins.

ELF objects and ar archives (gcc, clang or GNU as output, x86-64 or AArch64) are loaded into a
sandbox (sandbox/, docs/sandbox.md): archive members that define a still-undefined symbol
are pulled in as ld does, and NAME is called per System V / AAPCS64.
  --arg TYPE:VALUE    repeatable, in order: i8 i16 i32 i64 u8 u16 u32 u64 (decimal or 0x-hex),
                      f32 f64, ptr; str:TEXT, buf:@FILE, buf:hex:00ff and out:N pass a pointer
                      to a guest copy (out:N: N zeroed bytes, printed as hex after the call)
  --args 1,2,3        the older form: integers typed by --sig (default i64)
  --sig 'f64(f64,i32)'  result and parameter types (void i8..u64 f32 f64 ptr); default: i64
                      for the result and every argument
  --host FILE.mjs     extra host functions: export default { name: { sig: 'i64(ptr,u64)',
                      fn(args, ctx) { ... } } } (ctx.memory checks guest pointers)
  --syscalls deny|linux-min   deny (default): every system call is a trap; linux-min emulates
                      write to fd 1/2 (captured), exit and exit_group, and traps on the rest
Undefined symbols may name the minimal C runtime: memcpy memmove memset memcmp strlen strcmp
strncmp strchr strcpy strncpy malloc calloc realloc free abort __stack_chk_fail
__stack_chk_guard puts putchar printf snprintf, stdout/stderr with putc fputc fputs fwrite
(and print_i64, __popcountdi2). Every pointer
they get is checked against the guest's mappings; a bad one, abort() and a smashed stack are
guest traps (exit 1). Any other undefined symbol is an error listing every unresolved name.
What the guest printed comes first, then the result (typed by --sig), out buffers, and the
instructions executed.

Limits: --budget instructions (default 4294967296, 0 = none) and --timeout ms (default
10000, 0 = none), per call into guest code; a negative value is a usage error.

Cycles (docs/cycle-model.md): --cycles (= --cycles=fast) prices every executed block with a
static per-microarchitecture model counted natively; --cycles=detailed adds a branch
predictor, caches and a register scoreboard (slower). Prints total cycles, IPC, the CPI stack
(base / dependency / branch / memory) and the hottest functions and blocks (Wasm functions
as module!name) of the call: the --entry call, or the invoked export (a start function run
by instantiation is not in it); for an example run by its driver, of every call the driver
makes, start functions included, added up. --uarch picks the model: ${UARCH_NAMES.join(', ')},
or host for the table closest to this machine (default skylake on x86-64, neoverse-n2 on
AArch64); the report names the model and the detected host.

On a guest trap: its code (Wasm) or kind (ELF), exact PC, the instruction there and a
symbolized backtrace, exit code 1. Bad input or usage: exit code 2. JSON shapes: docs/cli.md.`;

/** A .wat/.wasm module (by name or content) or a stackscope image, as the API tells them (moduleFormatOf). */
export function isWasmInput(file: string, bytes: Uint8Array): boolean {
  return /\.(wat|wast|wasm)$/i.test(file) || moduleFormatOf(bytes, file) !== undefined;
}

export interface WasmSessionOptions {
  file: string;
  bytes: Uint8Array;
  /** Undefined: x64 for source modules, the image's own arch for images. */
  arch: Arch | undefined;
  command: string;
  /** Where the host imports print. */
  print: (line: string) => void;
  budget?: bigint | null;
  timeoutMs?: number | null;
  /** Function imports stackscope does not provide become stubs returning zero or null. */
  stubUnknownImports?: boolean;
  /** The store's cycle model (its uarch must model the module's arch: a UsageError otherwise). */
  cycles?: CycleOptions;
  /** The wasmtime era (`--profile`); default v17. */
  profile?: Profile;
  /** `--regalloc` (compiled modules only). */
  regalloc?: RegallocMode;
}

/** The library's session (runtime/session.ts) with the CLI's usage errors. */
export async function openWasmSession(o: WasmSessionOptions): Promise<Session> {
  let arch: Arch;
  try {
    arch = sessionArch(o.bytes, o.file, o.arch);
  } catch (e) {
    if (e instanceof SessionArchError) throw new UsageError(e.message, o.command);
    throw e;
  }
  checkUarchArch(o.cycles, arch, o.bytes[0] === 0x7f ? `${o.file} is an image compiled for` : 'the module runs on', o.command);
  let session: Session;
  try {
    session = await openSession(o.bytes, o.file, {
      arch, print: o.print, budget: o.budget, timeoutMs: o.timeoutMs, cycles: o.cycles, stubUnknownImports: o.stubUnknownImports, profile: o.profile, regalloc: o.regalloc,
    });
  } catch (e) {
    if (e instanceof HostImportError) throw new UsageError(e.message, o.command);
    throw e;
  }
  return session;
}

/** The export to call: --invoke NAME ARGS..., else a no-argument `main` or `_start`, else none. */
export function chooseInvoke(session: Session, invoke: { name: string; args: string[] } | undefined, command: string): Invocation | undefined {
  try {
    return chooseInvocation(session, invoke);
  } catch (e) {
    if (e instanceof InvokeArgError) throw new UsageError(`--invoke ${e.message}`, command);
    throw e;
  }
}

/** The values of a call's results, in order (Func.call gives one value, or an array for several). */
const resultsOf = (r: Results): Val[] => (Array.isArray(r) ? r : [r]);
/** The exact bits of result k (callInvocation gives them for numeric signatures: one, or an array). */
const bitsOf = (bits: bigint | bigint[] | null | undefined, k: number): bigint | null | undefined => (Array.isArray(bits) ? bits[k] : bits);

export function valJson(type: ValType, v: Val, bits?: bigint | null): { type: ValType; value: string | number | null } {
  if ((type === 'f32' || type === 'f64') && typeof bits === 'bigint') return { type, value: valText(v, type, bits) };
  if (v === null) return { type, value: null };
  if (v instanceof ExternRef) return { type, value: describeValue(v.value) };
  if (v instanceof Func) return { type, value: 'funcref' };
  if ((type === 'f32' || type === 'f64') && typeof v === 'number') return { type, value: valText(v, type) };
  return { type, value: typeof v === 'bigint' ? v.toString() : v };
}

/** The trap as text lines and JSON: wasmtime's code, PC, instruction and backtrace. */
export function describeTrap(e: WasmTrap | GuestTrap): { lines: string[]; json: Record<string, unknown> } {
  const cause = e instanceof WasmTrap && e.cause instanceof GuestTrap ? e.cause : e instanceof GuestTrap ? e : undefined;
  const code = e instanceof WasmTrap ? e.code : e.kind;
  const pc = e.pc;
  const instruction = cause?.instruction;
  const message = e instanceof WasmTrap ? e.trapMessage + (e.detail ? ` (${e.detail})` : '') : e.message;
  const lines = [`trap: ${code} at ${pc === undefined ? '??' : hex(pc)}${instruction ? `: ${instruction}` : ''}`, `  ${message}`];
  if (cause?.address !== undefined) lines.push(`  address: ${hex(cause.address)}`);
  lines.push('backtrace:');
  e.backtrace.forEach((f, i) => lines.push(`  #${i} ${hex(f.pc)}${f.symbol ? ` ${f.symbol}` : ''}`));
  if (e instanceof WasmTrap) return { lines, json: e.toJSON() };
  return {
    lines,
    json: {
      code, kind: e.kind, message, pc: hex(pc!), instruction: instruction ?? null,
      address: e.address === undefined ? null : hex(e.address),
      backtrace: e.backtrace.map((f) => ({ pc: hex(f.pc), symbol: f.symbol ?? null })),
    },
  };
}

function isTrap(e: unknown): e is WasmTrap | GuestTrap {
  return e instanceof WasmTrap || e instanceof GuestTrap;
}

// ---------------------------------------------------------------------------------------------

const RUN_VALUED = ['entry', 'args', 'budget', 'timeout', 'cycles', 'uarch', 'arch', 'trace', 'trace-limit', 'html', 'sig', 'host', 'syscalls', 'profile', 'regalloc'];

export async function runCommand(argv: string[], out: Output): Promise<number> {
  const split = splitInvoke(argv, 'run');
  const { invoke } = split;
  // --arg repeats (ELF objects): taken out before the parser, which keeps one value per flag.
  const { rest: withoutArgs, values: argTexts } = takeRepeated(split.rest, 'arg', 'run');
  // --preload NAME=FILE repeats too (wasmtime's flag): modules linked before the main one.
  const { rest, values: preloadTexts } = takeRepeated(withoutArgs, 'preload', 'run');
  const preloads = preloadTexts.map((text) => {
    const m = /^([^=]+)=(.+)$/.exec(text);
    if (!m) throw new UsageError(`--preload ${text}: expected NAME=FILE (the module name its exports are imported from, and the module's file)`, 'run');
    return { name: m[1], file: m[2] };
  });
  // `--cycles` alone means fast mode and `--trace` block mode; `--x=MODE` names one.
  const args = parseArgs(normalizeOptionalValues(rest), RUN_VALUED, 'run');
  rejectUnknown(args, [...RUN_VALUED, 'json', 'gc-explain'], 'run');
  if (invoke) args.flags.set('invoke', invoke.name);
  if (args.positionals.length === 0) throw new UsageError('give a .wat/.wasm module, a compiled image, or ELF objects', 'run');
  const arches = archesOf(args, 'run');
  const html = await HtmlPage.fromArgs(args, 'run');
  let code = 0;
  for (const arch of arches) {
    if (arches.length > 1) {
      args.flags.set('arch', arch!);
      out.text(`== ${arch} ==`);
    }
    code = Math.max(code, await runOnce(args, invoke, out, html, argTexts, preloads));
  }
  if (html) await html.write(out, basename(args.positionals[0]), argv, args.flags.has('json'));
  return code;
}

async function runOnce(args: ParsedArgs, invoke: { name: string; args: string[] } | undefined, out: Output, html: HtmlPage | undefined, argTexts: readonly string[], preloads: readonly Preload[]): Promise<number> {
  // A directory (examples/NAME, or just NAME) means its one .wat, run by its driver if it has one.
  const first = args.positionals[0];
  if (args.positionals.length === 1 && isModuleDirectory(first)) {
    const target = resolveModulePath(first, 'run');
    if (target.driver && !invoke) {
      if (preloads.length) throw new UsageError(`--preload links modules of a Wasm run; ${first} is run by its driver (give --invoke NAME)`, 'run');
      for (const flag of ['entry', 'args', 'sig', 'host', 'syscalls']) {
        if (args.flags.has(flag)) throw new UsageError(`--${flag} applies to ELF objects; ${first} is an example`, 'run');
      }
      return runDriver(args, target.file, target.driver, out, html);
    }
    args.positionals[0] = target.file;
  }
  const inputs = args.positionals.map((file) => ({ file, bytes: readInput(resolveInputPath(file), 'run') }));
  const wasm = inputs.filter((i) => isWasmInput(i.file, i.bytes));
  if (wasm.length === 0) {
    if (args.flags.has('trace-limit') && !args.flags.has('trace')) throw new UsageError('--trace-limit needs --trace', 'run');
    if (html) throw new UsageError('--html records Wasm modules (.wat, .wasm, compiled .o images), not ELF objects', 'run');
    if (args.flags.has('profile')) throw new UsageError('--profile applies to Wasm modules (.wat, .wasm, compiled .o images), not ELF objects', 'run');
    if (args.flags.has('regalloc')) throw new UsageError('--regalloc applies to Wasm modules the run compiles (.wat, .wasm), not ELF objects', 'run');
    if (preloads.length) throw new UsageError('--preload links Wasm modules, not ELF objects', 'run');
    return runNative(args, argTexts, inputs, out);
  }
  if (inputs.length !== 1) throw new UsageError(`give one Wasm module (got ${inputs.map((i) => i.file).join(', ')})`, 'run');
  for (const flag of ['entry', 'args', 'sig', 'host', 'syscalls']) {
    if (args.flags.has(flag)) throw new UsageError(`--${flag} applies to ELF objects; ${inputs[0].file} is a Wasm module (use --invoke NAME ARGS...)`, 'run');
  }
  if (argTexts.length) throw new UsageError(`--arg applies to ELF objects; ${inputs[0].file} is a Wasm module (use --invoke NAME ARGS...)`, 'run');
  return runWasm(args, invoke, inputs[0], out, html, preloads);
}

/** One `--preload NAME=FILE`. */
interface Preload {
  readonly name: string;
  readonly file: string;
}

/**
 * Runs an example through its driver (its run.ts), as examples/harness.ts does but with the
 * module compiled here for --arch: the driver's lines are the program's output; --trace and
 * --gc-explain work as for a module.
 */
async function runDriver(args: ParsedArgs, file: string, driverPath: string, out: Output, html: HtmlPage | undefined): Promise<number> {
  const archFlag = args.flags.get('arch');
  const arch = typeof archFlag === 'string' ? parseArchFlag(archFlag) : 'x64';
  const trace = traceFlags(args);
  const json = args.flags.has('json');
  const explainGc = args.flags.has('gc-explain');
  const { budget, timeoutMs } = runLimits(args);
  // The driver makes many calls from the host: one report adds them all up.
  const cyclesFlag = cycleFlags(args);
  const cycles = cyclesFlag && { ...cyclesFlag, accumulate: true };
  checkUarchArch(cycles, arch, 'the example runs on');
  if (isDrcProfile(profileFlag(args, 'run'))) throw new UsageError(`an example's driver runs v17 stores; give --invoke NAME to run ${file} with --profile ${profileFlag(args, 'run').name}`, 'run');
  const driver = await loadDriver(driverPath, 'run');
  const bytes = readInput(file, 'run');
  const opened = await openModule(bytes, file, { arch, budget, timeoutMs, ...(cycles ? { cycles } : {}), profile: profileFlag(args, 'run'), regalloc: regallocFor(args, bytes, 'run') });
  const { engine, store, module, gcs } = opened;
  try {
    // The driver instantiates the module: the tracer finds its safepoints once it is placed.
    const tracer = trace ? traceOpened(opened, trace) : undefined;
    const recorder = html?.record(store, module, file);
    const printed: string[] = [];
    const lines: string[] = [];
    let trap: WasmTrap | GuestTrap | undefined;
    try {
      await driver({ arch, engine, store, module, print: (line = '') => { lines.push(line); if (json) printed.push(line); else out.text(line); } });
    } catch (e) {
      if (!isTrap(e)) throw e;
      trap = e;
    } finally {
      tracer?.close();
      if (recorder) html!.add(recorder.finish({ output: lines, outcome: trap ? describeTrap(trap).lines[0] : `the example's driver finished (${gcs.length} collection(s))` }));
    }
    const report = store.cycleReport();
    if (json) {
      out.json({
        arch, module: file, driver: driverPath, trap: trap ? describeTrap(trap).json : null, output: printed,
        gcs: gcsToJson(gcs, explainGc),
        ...(tracer ? { trace: traceToJson(tracer) } : {}),
        ...(report ? { cycles: cycleReportJson(report) } : {}),
      });
    } else {
      if (tracer) for (const line of renderTrace(tracer)) out.text(line);
      if (trap) for (const line of describeTrap(trap).lines) out.text(line);
      if (explainGc) {
        printGcExplanations(out, gcs);
      }
      if (report) for (const line of cycleReportText(report)) out.text(line);
    }
    return trap ? 1 : 0;
  } finally {
    store.close();
  }
}

async function runWasm(args: ParsedArgs, invoke: { name: string; args: string[] } | undefined, input: { file: string; bytes: Uint8Array }, out: Output, html: HtmlPage | undefined, preloads: readonly Preload[]): Promise<number> {
  const profile = profileFlag(args, 'run');
  if (isDrcProfile(profile)) {
    const preload = preloads.map((p) => ({ ...p, bytes: readInput(resolveInputPath(p.file), 'run') }));
    return runWasmV31(args, invoke, input, out, profile, preload);
  }
  if (preloads.length) throw new UsageError('--preload links modules in v31 and v44 runs (--profile v31|v44); a v17 run has one module and the env host imports', 'run');
  const archFlag = args.flags.get('arch');
  const arch = typeof archFlag === 'string' ? parseArchFlag(archFlag) : undefined;
  const trace = traceFlags(args);
  const json = args.flags.has('json');
  const explainGc = args.flags.has('gc-explain');
  const { budget, timeoutMs } = runLimits(args);
  const cycles = cycleFlags(args);
  const printed: string[] = [];
  const lines: string[] = [];
  const session = await openWasmSession({
    file: input.file, bytes: input.bytes, arch, command: 'run', budget, timeoutMs, profile: profileFlag(args, 'run'), regalloc: regallocFor(args, input.bytes, 'run'),
    print: (line) => { lines.push(line); if (json) printed.push(line); else out.text(line); }, ...(cycles ? { cycles } : {}),
  });
  const { store } = session;
  try {
    const target = chooseInvoke(session, invoke, 'run');
    const tracer = trace ? traceOpened(session, trace) : undefined;
    const recorder = html?.record(store, session.module, input.file);
    let result: Results = null;
    let trap: WasmTrap | GuestTrap | undefined;
    let report: CycleReport | undefined;
    const gcsBefore = session.gcs.length;
    // Described before the call: externref arguments are released after it.
    const argsJson = target ? target.args.map((a, i) => valJson(target.func.type.params[i], a, target.raw?.[i])) : [];
    let resultBits: bigint | bigint[] | null | undefined;
    try {
      if (target) ({ value: result, bits: resultBits } = callInvocation(target));
    } catch (e) {
      if (!isTrap(e)) throw e;
      trap = e;
    } finally {
      tracer?.close();
      if (recorder) {
        const outcome = trap ? describeTrap(trap).lines[0]
          : !target ? 'nothing invoked' : `${target.name}(${target.args.map((a, i) => valText(a, target.func.type.params[i], target.raw?.[i])).join(', ')}) = ${target.func.type.results.length === 0 ? '(no result)' : resultsOf(result).map((v, k) => valText(v, target.func.type.results[k], bitsOf(resultBits, k))).join(', ')}`;
        html!.add(recorder.finish({ output: lines, outcome }));
      }
      // The invoked call's cycles (instantiation's start function was an entry of its own).
      if (target) report = store.cycleReport();
      for (const a of target?.args ?? []) if (a instanceof ExternRef) a.release();
    }
    const instructions = target ? store.machine.instructionsExecuted() : 0n;
    const resultTypes = target?.func.type.results ?? [];
    const gcs = session.gcs;
    if (json) {
      const t = trap ? describeTrap(trap) : undefined;
      out.json({
        arch: session.arch, module: session.file,
        invoke: target ? { name: target.name, args: argsJson } : null,
        // One result: its value; several: an array of them, in order (as Func.call returns them).
        result: trap || !target || resultTypes.length === 0 ? null
          : resultTypes.length === 1 ? valJson(resultTypes[0], result as Val, bitsOf(resultBits, 0))
            : resultsOf(result).map((v, k) => valJson(resultTypes[k], v, bitsOf(resultBits, k))),
        instructions: Number(instructions), trap: t ? t.json : null, output: printed,
        ...(report ? { cycles: cycleReportJson(report) } : {}),
        gcs: gcsToJson(gcs, explainGc),
        ...(tracer ? { trace: traceToJson(tracer) } : {}),
      });
    } else {
      if (tracer) for (const line of renderTrace(tracer)) out.text(line);
      if (!target) out.text(`instantiated ${session.file} on ${session.arch}; nothing invoked (exports: ${session.module.wasm.exports.map((e) => e.name).join(', ') || 'none'}; use --invoke NAME ARGS...)`);
      else if (!trap) out.text(`${resultTypes.length > 1 ? 'results' : 'result'}: ${resultTypes.length === 0 ? '(none)' : resultsOf(result).map((v, k) => `${valText(v, resultTypes[k], bitsOf(resultBits, k))} (${resultTypes[k]})`).join(', ')}\ninstructions: ${instructions}`);
      if (trap) for (const line of describeTrap(trap).lines) out.text(line);
      if (report) for (const line of cycleReportText(report)) out.text(line);
      if (gcs.length && !explainGc) out.text(`gc: ${gcs.length} collection(s) ran${gcsBefore ? ` (${gcsBefore} during instantiation)` : ''} (--gc-explain shows them)`);
      if (explainGc) {
        if (gcs.length === 0) out.text('gc: no collection ran');
        printGcExplanations(out, gcs);
      }
    }
    if (result instanceof ExternRef) result.release();
    return trap ? 1 : 0;
  } finally {
    store.close();
  }
}

/** The GC reports of a run as JSON; the per-word explanation only when it was asked for. */
function gcsToJson(gcs: readonly GcReport[], explain: boolean): Record<string, unknown>[] {
  return gcs.map((r) => {
    const j = reportToJson(r) as Record<string, unknown>;
    if (!explain) delete j.explanation;
    return j;
  });
}

/** Prints each GC's explanation under a numbered heading. */
function printGcExplanations(out: Output, gcs: readonly GcReport[]): void {
  gcs.forEach((r, i) => {
    out.text(`== GC #${i + 1} ==`);
    if (r.explanation) out.text(renderExplanation(r.explanation).replace(/\n$/, ''));
  });
}
