import { profileFlag } from '../profile.ts';
import { isDrcProfile } from '../../runtime/profiles.ts';
import { gcV31 } from './gc-v31.ts';
import type { RegallocMode } from '../../compiler/regalloc/modes.ts';
import type { Profile } from '../../profiles/profile.ts';
import { basename } from 'node:path';
import type { Arch } from '../../isa/arch.ts';
import { StackscopeError, hex } from '../../isa/error.ts';
import { GuestTrap } from '../../simulator/trap.ts';
import { describeValue } from '../../gc/collector.ts';
import { GcError } from '../../gc/errors.ts';
import { renderExplanation, reportToJson, type GcExplanation } from '../../gc/explain.ts';
import type { StackMapLookupMode } from '../../gc/stackmap-registry.ts';
import { CompileError } from '../../compiler/frontend/errors.ts';
import { ExternRef, Func, WasmTrap, type Results, type Val } from '../../runtime/api.ts';
import type { ValType } from '../../compiler/frontend/module.ts';
import {
  HostImportError, InvokeArgError, chooseInvocation, instantiateGcAtHost, openModule, valText, type GcAtHostRun, type OpenedModule,
} from '../../runtime/session.ts';
import { parseArgs, parseRegalloc, regallocFor, rejectUnknown, UsageError, type ParsedArgs } from '../args.ts';
import { readInput } from './inspect.ts';
import { HtmlPage, archesOf } from '../html.ts';
import type { Output } from '../output.ts';

export const GC_HELP = `usage: stackscope gc <module.wat | module.wasm | image.o> --invoke NAME [ARGS...]
                     [--arch x64|aarch64|both] [--at-host FN] [--explain] [--json] [--html FILE]
                     [--walk v17|canary] [--registry v17|v0.22] [--profile v17|v31|v44]
                     [--regalloc none|linear-scan]

Instantiates the module (default arch x64; an image keeps its own), calls export NAME with ARGS, and collects
externrefs every time the Wasm code calls the host import env.FN (default env.gc): the
collection walks the live Wasm frames, applies their stack maps and sweeps the activations
table, exactly as store.gc() would at that point. Prints the result and the report of each
of those collections: every activation (exit pc, exit fp, entry sp) and frame (function,
PC, FP, SP, frame size), each map's bits and the words they cover (address, value,
reference or not), the roots found, the activations table before and after, and the
objects freed with their host values. Without --explain the frame words are summarized as
the map's bit string; --explain draws every frame word by word.

Host imports the module may use (import module "env"):
  env.FN (default env.gc)   any parameters, no results: runs the collection above
  env.ref (i32) -> externref a new externref whose host value is the string "ref N"
  env.print (any params)    prints its arguments (externrefs as their host values)
Any other import is an input error. Collections the runtime runs by itself (a full
activations table, from compiled code) use the store's v17 collector and are not printed.

--profile v31 compiles for wasmtime v31 and collects in a v31 store (docs/profiles.md): each
collection at env.FN is the DRC collection of gc/drc — frames found from the VMStoreContext,
typed user-stack-map entries (i32 VMGcRefs at SP offsets), trace and sweep of the activations
table of u32 refs. Without --explain one line per frame lists its entries; --explain prints the
full account (activations, every entry with the object's header, the table before and after,
the frees). --profile v44 does the same in a v44 store: the collection of gc/drc44 walks every
stack (the running one, its parents, suspended continuations) and sweeps the over-approximated
list; frames are labelled s<stack>, and --explain lists the stacks with their kind, role and
state. --walk, --registry and --html are v17 only.

ARGS: one per parameter of NAME, read as 'stackscope run --invoke' reads them: integers
(decimal or 0x-hex, may be negative) for i32/i64 (an i32 is signed or unsigned 32-bit; a
value that does not fit is a usage error naming the argument), and for externref either null
or any other text, which becomes a new externref whose host value is that text (the host
keeps its handle for the whole run).

--walk v17 (default) walks VMRuntimeLimits' activations; --walk canary unwinds the FP chain
from the host call's caller to the stack canary (the guest stack top of the outermost entry)
as wasmtime v0.22 did. --registry v0.22 looks maps up with the v0.22 StackMapRegistry
(nearest preceding call offset) instead of v17's exact return-address match.

--html FILE writes the run as a page (see 'stackscope run --help'): every collection's frames
and map bits, and a what-if that re-runs the collector with a flipped bit (v17 walks);
--arch both (with --html) runs on x64 and AArch64 and pages both side by side.

JSON: {"module", "arch", "invoke", "args", "result", "trap": null | {"code", "message"},
"error": null | {"name", "message"}, "prints": [...], "gcs": [{"call", "report"}]} where
each report is the collector's GcReport with its full "explanation" (addresses as 0x-hex).

exit codes: 0 ok, 1 guest trap or failed GC check (GcInvariantError, StackWalkError),
2 usage or input error`;

const COMMAND = 'gc';

interface Options {
  path: string;
  invoke: string;
  args: string[];
  /** Undefined: x64 for source modules, an image's own arch. */
  arch: Arch | undefined;
  /** --arch both: x64 then aarch64 (with --html). */
  arches: Array<Arch | undefined>;
  parsed: ParsedArgs;
  atHost: string;
  explain: boolean;
  json: boolean;
  walk: 'v17' | 'canary';
  registry: StackMapLookupMode;
  profile: Profile;
  regalloc: RegallocMode | undefined;
}

function parseOptions(argv: string[]): Options {
  const args = parseArgs(argv, ['invoke', 'arch', 'at-host', 'walk', 'registry', 'html', 'profile', 'regalloc'], COMMAND);
  rejectUnknown(args, ['invoke', 'arch', 'at-host', 'explain', 'json', 'walk', 'registry', 'html', 'profile', 'regalloc'], COMMAND);
  const [path, ...rest] = args.positionals;
  if (path === undefined) throw new UsageError('give a module file', COMMAND);
  const invoke = args.flags.get('invoke');
  if (typeof invoke !== 'string' || invoke === '') throw new UsageError('--invoke NAME is required', COMMAND);
  const arches = archesOf(args, COMMAND);
  const atHost = args.flags.get('at-host') ?? 'gc';
  if (typeof atHost !== 'string' || !/^[^\s]+$/.test(atHost)) throw new UsageError('--at-host needs an import name', COMMAND);
  const walk = args.flags.get('walk') ?? 'v17';
  if (walk !== 'v17' && walk !== 'canary') throw new UsageError(`--walk: '${String(walk)}' is not v17 or canary`, COMMAND);
  const registry = args.flags.get('registry') ?? 'v17';
  if (registry !== 'v17' && registry !== 'v0.22') throw new UsageError(`--registry: '${String(registry)}' is not v17 or v0.22`, COMMAND);
  return {
    path, invoke, args: rest, arch: arches[0], arches, atHost, walk, registry, parsed: args, profile: profileFlag(args, COMMAND), regalloc: parseRegalloc(args, COMMAND),
    explain: args.flags.has('explain'), json: args.flags.has('json'),
  };
}

/** The result type of `func` as showValue and jsonValue take it: one type, or one per result. */
const resultTypeOf = (func: Func): ValType | readonly ValType[] => (func.type.results.length === 1 ? func.type.results[0] : func.type.results);

function showValue(v: Results | void, type?: ValType | readonly ValType[]): string {
  if (Array.isArray(v)) return v.map((x, k) => showValue(x, Array.isArray(type) ? type[k] : undefined)).join(', ');
  if ((type === 'f32' || type === 'f64') && typeof v === 'number') return valText(v, type);
  if (v === undefined || v === null) return v === null ? 'null' : '(none)';
  if (v instanceof ExternRef) return `externref ${hex(v.pointer)} -> ${describeValue(v.value)}`;
  if (v instanceof Func) return `funcref ${hex(v.funcRefPointer)}`;
  return String(v);
}

/** Runs `stackscope gc`; returns the exit code (0 ok, 1 guest trap or failed GC, 2 usage/input). */
export async function gcCommand(argv: string[], out: Output): Promise<number> {
  if (argv.includes('--help')) {
    out.text(GC_HELP);
    return 0;
  }
  let options: Options;
  try {
    options = parseOptions(argv);
  } catch (e) {
    return fail(e, out);
  }
  try {
    const html = await HtmlPage.fromArgs(options.parsed, COMMAND);
    let code = 0;
    for (const arch of options.arches) {
      if (options.arches.length > 1) out.text(`== ${arch} ==`);
      code = Math.max(code, await runOnArch({ ...options, arch }, out, html));
    }
    if (html) await html.write(out, `${basename(options.path)}: ${options.invoke}`, argv, options.json);
    return code;
  } catch (e) {
    return fail(e, out);
  }
}

async function runOnArch(options: Options, out: Output, html: HtmlPage | undefined): Promise<number> {
  if (isDrcProfile(options.profile)) {
    for (const flag of ['walk', 'registry', 'html']) if (options.parsed.flags.has(flag)) return fail(new UsageError(`--${flag} applies to v17 collections, not --profile ${options.profile.name}`, COMMAND), out);
    try {
      return await gcV31({ ...options, bytes: readInput(options.path, COMMAND) }, out, COMMAND);
    } catch (e) {
      return fail(e, out);
    }
  }
  let opened: OpenedModule | undefined;
  try {
    // The same opening as 'run' and 'explain': WAT, Wasm binary or image, compile errors naming the file.
    opened = await openModule(readInput(options.path, COMMAND), options.path, { arch: options.arch, profile: options.profile });
    return run(opened, options, out, html);
  } catch (e) {
    return fail(e, out);
  } finally {
    opened?.store.close();
  }
}

function run(opened: OpenedModule, options: Options, out: Output, html: HtmlPage | undefined): number {
  const { store, module, arch } = opened;
  const prints: string[] = [];
  let session: GcAtHostRun;
  try {
    session = instantiateGcAtHost(store, module, {
      atHost: options.atHost, walk: options.walk, registry: options.registry, print: (args) => prints.push(args.map((a) => showValue(a)).join(' ')),
    });
  } catch (e) {
    if (e instanceof HostImportError) throw new UsageError(e.message, COMMAND);
    throw e;
  }
  const { instance, collector, gcs } = session;
  let func: Func;
  let args: Val[];
  try {
    // The argument rules of every command that invokes (runtime/session.ts invokeArgsOf).
    ({ func, args } = chooseInvocation({ ...opened, instance }, { name: options.invoke, args: options.args })!);
  } catch (e) {
    if (e instanceof InvokeArgError) throw new UsageError(`--invoke ${e.message}`, COMMAND);
    throw e;
  }
  const recorder = html?.record(store, module, options.path);
  recorder?.watch(collector);
  let result: Results | undefined;
  let failure: unknown;
  try {
    result = func.call(...args);
  } catch (e) {
    failure = e;
  }
  const trap = failure instanceof WasmTrap || failure instanceof GuestTrap ? failure : undefined;
  const gcError = failure instanceof GcError ? failure : undefined;
  if (recorder) {
    const outcome = trap ? `trap: ${trap.message}` : gcError ? `${gcError.name}: ${gcError.message}` : failure === undefined ? `${options.invoke}(${options.args.join(', ')}) = ${showValue(result, resultTypeOf(func))}` : 'failed';
    html!.add(recorder.finish({ output: prints.map((p) => `print: ${p}`), outcome }));
  }
  if (failure !== undefined && !trap && !gcError) throw failure;

  if (options.json) {
    out.json({
      module: options.path, arch, invoke: options.invoke, args: options.args,
      walk: options.walk, registry: options.registry, atHost: `env.${options.atHost}`,
      result: result === undefined ? null : jsonValue(result, resultTypeOf(func)),
      trap: trap ? { code: trap instanceof WasmTrap ? trap.code : trap.kind, message: trap.message } : null,
      error: gcError ? { name: gcError.name, message: gcError.message } : null,
      prints,
      gcs: gcs.map((g) => ({ call: g.call, report: reportToJson(g.report) })),
    });
  } else {
    const argText = options.args.join(', ');
    for (const p of prints) out.text(`print: ${p}`);
    if (result !== undefined) out.text(`${options.invoke}(${argText}) = ${showValue(result, resultTypeOf(func))}`);
    if (gcs.length === 0) out.text(`no GC ran: ${options.invoke} never called env.${options.atHost}`);
    for (const g of gcs) {
      out.text('');
      out.text(`=== GC ${g.call} at env.${options.atHost} (${options.walk} walk, ${options.registry} registry) ===`);
      const e = g.report.explanation!;
      for (const line of (options.explain ? renderExplanation(e) : summarize(e)).replace(/\n$/, '').split('\n')) out.text(line);
    }
  }
  for (const a of args) if (a instanceof ExternRef) a.release();
  for (const r of Array.isArray(result) ? result : [result]) if (r instanceof ExternRef) r.release();
  if (trap) {
    out.error(`stackscope gc: guest trap: ${trap.message}`);
    return 1;
  }
  if (gcError) {
    out.error(`stackscope gc: ${gcError.name}: ${gcError.message}`);
    return 1;
  }
  return 0;
}

function jsonValue(v: Results, type?: ValType | readonly ValType[]): unknown {
  if (Array.isArray(v)) return v.map((x, k) => jsonValue(x, Array.isArray(type) ? type[k] : undefined));
  // Floats as the text spells them (JSON has no NaN or infinity).
  if ((type === 'f32' || type === 'f64') && typeof v === 'number') return valText(v, type);
  if (v === null) return null;
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof ExternRef) return { externref: hex(v.pointer), value: describeValue(v.value) };
  if (v instanceof Func) return { funcref: hex(v.funcRefPointer) };
  return v;
}

/** The report without frame diagrams: frames one per line with their map's bit string. */
function summarize(e: GcExplanation): string {
  const s = e.summary;
  const lines = [
    `${s.swept ? 'swept' : 'NOT swept'}: ${e.mode === 'v17' ? `${e.activations.length} activation(s), ` : ''}${s.frames} frames (${s.framesWithMaps} with maps), ` +
      `${s.slotsScanned} marked slots, ${s.roots} roots, ${s.freed} freed`,
  ];
  for (const a of e.activations) lines.push(`activation ${a.index}: exit pc ${hex(a.exitPc)}  exit fp ${hex(a.exitFp)}  entry sp ${hex(a.entrySp)}`);
  if (e.canary) lines.push(`canary ${e.canary.value === null ? 'none' : hex(e.canary.value)}: ${e.canary.found ? 'found' : `not found (${e.canary.stop})`}`);
  lines.push('frames (youngest first):');
  for (const f of e.frames) {
    const name = f.functionName ? `${f.functionName}+${hex(f.pcOffset ?? 0)}` : `<${f.kind}>`;
    let line = `  a${f.activation} f${f.index}  ${name}  pc ${hex(f.pc)}  fp ${hex(f.fp)}`;
    if (f.sp !== undefined) line += `  sp ${hex(f.sp)}`;
    if (f.frameSize !== undefined) line += `  frame ${f.frameSize} bytes`;
    line += f.map ? `  bits ${f.map.bits}` : '  (no map)';
    lines.push(line);
  }
  lines.push(`roots (${e.roots.length}):`);
  for (const r of e.roots) lines.push(`  ${hex(r.ref)} ${r.value}  count after ${r.countAfter}  in ${r.sites.map((x) => `${x.functionName} f${x.frame} ${hex(x.slot)}`).join(', ')}`);
  lines.push(`table before: ${e.tableBefore.bumpEntries.length} bump, ${e.tableBefore.overApproximated.length} over-approximated`);
  lines.push(`table after:  ${e.tableAfter.bumpEntries.length} bump, ${e.tableAfter.overApproximated.length} over-approximated`);
  lines.push(`freed (${e.freed.length}):`);
  for (const f of e.freed) lines.push(`  ${hex(f.ref)} ${f.value}`);
  for (const w of e.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}

function fail(e: unknown, out: Output): number {
  if (e instanceof UsageError) {
    out.error(`stackscope gc: ${e.message}`);
    return 2;
  }
  if (e instanceof WasmTrap || e instanceof GuestTrap) {
    out.error(`stackscope gc: guest trap: ${e.message}`);
    return 1;
  }
  if (e instanceof GcError) {
    out.error(`stackscope gc: ${e.name}: ${e.message}`);
    return 1;
  }
  if (e instanceof CompileError) {
    // `FILE:line:col: …` as every command prints it.
    out.error(`stackscope gc: ${e.message}`);
    return 2;
  }
  if (e instanceof StackscopeError) {
    // Malformed modules and images, instantiation errors: input errors naming what and where.
    out.error(`stackscope gc: ${e.name}: ${e.message}`);
    return 2;
  }
  throw e;
}
