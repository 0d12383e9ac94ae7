import { profileFlag } from '../profile.ts';
import { isDrcProfile } from '../../runtime/profiles.ts';
import { explainV31 } from './explain-v31.ts';
import type { Profile } from '../../profiles/profile.ts';
import { basename } from 'node:path';
import type { Arch } from '../../isa/arch.ts';
import { hex } from '../../isa/error.ts';
import { ExternRef, WasmTrap, type Module, type Results, type Store, type Val } from '../../runtime/api.ts';
import { openModule, type Invocation } from '../../runtime/session.ts';
import { GuestTrap } from '../../simulator/trap.ts';
import { parseArgs, parseInteger, regallocFor, rejectUnknown, UsageError, type ParsedArgs } from '../args.ts';
import type { Output } from '../output.ts';
import { readInput } from './inspect.ts';
import { chooseInvoke, describeTrap, openWasmSession, valText } from './run.ts';
import { splitInvoke } from './run-options.ts';
import { HtmlPage, archesOf } from '../html.ts';
import type { RunRecorder } from '../../viewer/index.ts';
import { frameToJson, renderFrame } from '../../viewer/trace.ts';
import { SafepointSelectError, findSafepoint, type FoundSafepoint, type SafepointSearch } from '../../viewer/safepoint-search.ts';
import { loadDriver, resolveModulePath } from '../drivers.ts';

export const EXPLAIN_HELP = `usage: stackscope explain <file.wat | file.wasm | image.o | examples/NAME> --at <function | pc>
                          [--arch x64|aarch64|both] [--invoke NAME ARGS...] [--nth N] [--json] [--html FILE]
                          [--profile v17|v31|v44] [--regalloc none|linear-scan]

Runs the module (as 'stackscope run' does, with the same host imports and --invoke; without
--invoke, an export named 'main' or '_start') until execution reaches a safepoint — a call
with a stack map — in the function named by --at (its name from the name section or an
export, with or without '$'), or the first safepoint at or after the code address --at 0x…
in the function holding it. It then shows that frame as an ASCII diagram: every word from
FP+8 down to SP with its address, offset, value, the stack-map bit over it, the slot's name in
the compiler's frame layout, and for marked words the reference the GC would read there.
--nth N takes the N-th such safepoint (default 1), e.g. a deeper level of recursion.

examples/NAME (or NAME) names an example's directory. Without --invoke, the example's own
driver (its run.ts: the host functions, table contents and calls its README describes) runs
the module (the examples shipped with stackscope run from any directory, their drivers
compiled; a TypeScript driver of your own needs tsx installed). With --invoke, or for any other module, the
'run' host imports are provided and any other function import becomes a stub that does
nothing and returns zero or null (listed in the output).

--html FILE also writes the whole run as a page (see 'stackscope run --help') that opens at
this safepoint; --arch both (with --html) explains on x64 and AArch64 and pages both.

--profile v31|v44 (with --invoke) runs the module in a v31 or v44 store and shows the frame as
that era sees it: each word from FP+8 down to SP with the typed user-stack-map entries in it (4-byte refs)
and the GC object each names; --html and example drivers are v17 only.

Exit codes: 0 frame shown; 1 the program trapped before reaching it; 2 usage or input error,
or the run finished without reaching such a safepoint.
JSON: {"arch", "module", "at", "nth", "driver", "stubbed", "safepoint": {"call", "return",
"function", "funcIndex"}, "frame": {"fp", "sp", "bits", "words": [{"address", "offset",
"value", "bit", "isRef", "slot", "gcRead"}], ...}} (docs/cli.md; addresses as 0x-hex).`;

export async function explainCommand(argv: string[], out: Output): Promise<number> {
  const { rest, invoke } = splitInvoke(argv, 'explain');
  const args = parseArgs(rest, ['at', 'arch', 'nth', 'html', 'profile', 'regalloc'], 'explain');
  rejectUnknown(args, ['at', 'arch', 'nth', 'json', 'html', 'profile', 'regalloc'], 'explain');
  const profile = profileFlag(args, 'explain');
  if (args.positionals.length !== 1) throw new UsageError('give exactly one module (file.wat, file.wasm, image.o or examples/NAME)', 'explain');
  const at = args.flags.get('at');
  if (typeof at !== 'string' || at === '') throw new UsageError('--at <function | pc> is required', 'explain');
  const nthText = args.flags.get('nth');
  const nth = typeof nthText === 'string' ? Number(parseInteger(nthText, '--nth', 'explain')) : 1;
  if (!(nth >= 1 && nth <= 1_000_000)) throw new UsageError(`--nth: ${String(nthText)} is not between 1 and 1000000`, 'explain');
  const arches = archesOf(args, 'explain');
  const html = await HtmlPage.fromArgs(args, 'explain');
  const { file, driver } = resolveModulePath(args.positionals[0], 'explain');
  const json = args.flags.has('json');
  if (isDrcProfile(profile)) {
    if (driver && !invoke) throw new UsageError(`an example's driver runs v17 stores; give --invoke NAME to explain ${file} with --profile ${profile.name}`, 'explain');
    if (arches.length > 1) throw new UsageError('--arch both needs --html, which is v17 only', 'explain');
    return explainV31(args, { file, bytes: readInput(file, 'explain') }, invoke, at, nth, json, out, profile);
  }
  let code = 0;
  for (const arch of arches) {
    if (arches.length > 1) out.text(`== ${arch} ==`);
    code = Math.max(code, driver && !invoke
      ? await explainWithDriver(file, driver, arch ?? 'x64', at, nth, json, out, html, profile, args)
      : await explainModule(file, invoke, arch, at, nth, json, out, html, profile, args));
  }
  if (html) await html.write(out, `${basename(file)} at ${at}`, argv, json);
  return code;
}

/** Adds the recording to the page, opening at the safepoint found. */
function addRecording(html: HtmlPage, recorder: RunRecorder, found: FoundSafepoint | undefined, outcome: string): void {
  const run = recorder.finish({ output: [], outcome });
  if (found) {
    const pc = hex(found.safepoint.callAddress);
    const fp = hex(found.frame.fp);
    const at = run.timeline.findIndex((e) => e.type === 'safepoint' && e.frame.pc === pc && e.frame.fp === fp);
    if (at >= 0) run.focus = at;
  }
  html.add(run);
}

async function explainModule(file: string, invoke: { name: string; args: string[] } | undefined, arch: Arch | undefined, at: string, nth: number, json: boolean, out: Output, html: HtmlPage | undefined, profile: Profile, args: ParsedArgs): Promise<number> {
  const bytes = readInput(file, 'explain');
  const session = await openWasmSession({ file, bytes, arch, command: 'explain', print: () => {}, stubUnknownImports: true, profile, regalloc: regallocFor(args, bytes, 'explain') });
  const { store } = session;
  try {
    const search = searchFor(store, session.module, file, at, nth);
    let trap: WasmTrap | GuestTrap | undefined;
    let result: Results = null;
    let target: Invocation | undefined;
    try {
      target = chooseInvoke(session, invoke, 'explain');
      if (!target) throw new UsageError(`${file} exports no 'main' or '_start' without parameters: give --invoke NAME ARGS...`, 'explain');
      const recorder = html?.record(store, session.module, file);
      try {
        result = target.func.call(...target.args);
      } catch (e) {
        if (!(e instanceof WasmTrap || e instanceof GuestTrap)) throw e;
        trap = e;
      } finally {
        if (recorder) addRecording(html!, recorder, search.found, trap ? describeTrap(trap).lines[0] : `${target.name}(${target.args.map((a, i) => valText(a, target!.func.type.params[i])).join(', ')}) returned`);
        for (const a of target.args) if (a instanceof ExternRef) a.release();
        for (const r of Array.isArray(result) ? result : [result]) if (r instanceof ExternRef) r.release();
      }
    } finally {
      search.close();
    }
    const { found, seen } = search;
    if (!found) {
      if (trap) {
        for (const line of describeTrap(trap).lines) out.text(line);
        out.error(`stackscope explain: the program trapped before reaching safepoint ${nth} of --at ${at} (${seen} reached)`);
        return 1;
      }
      throw new UsageError(`--at ${at}: the run of ${target.name} reached ${seen} matching safepoint(s), not ${nth}`, 'explain');
    }
    printFound(out, json, { arch: session.arch, file, at, nth, stubbed: session.stubbed, driver: undefined }, found);
    return 0;
  } finally {
    store.close();
  }
}

/** The search for --at/--nth (viewer/safepoint-search.ts); a selector matching nothing is a usage error. */
function searchFor(store: Store, module: Module, file: string, at: string, nth: number): SafepointSearch {
  try {
    return findSafepoint(store, module, { at, nth, moduleName: basename(file) });
  } catch (e) {
    if (e instanceof SafepointSelectError) throw new UsageError(`--at ${e.message}`, 'explain');
    throw e;
  }
}

interface Shown {
  arch: Arch;
  file: string;
  at: string;
  nth: number;
  stubbed: readonly string[];
  driver: string | undefined;
}

function printFound(out: Output, json: boolean, w: Shown, found: FoundSafepoint): void {
  const { frame, safepoint } = found;
  if (json) {
    out.json({
      arch: w.arch, module: w.file, at: w.at, nth: w.nth, driver: w.driver ?? null, stubbed: w.stubbed,
      safepoint: { call: hex(safepoint.callAddress), return: hex(safepoint.returnAddress), function: safepoint.functionName, funcIndex: safepoint.funcIndex },
      frame: frameToJson(frame),
    });
    return;
  }
  out.text(`${w.file} on ${w.arch}: safepoint ${w.nth} of --at ${w.at}, the call at ${hex(safepoint.callAddress)} in ${safepoint.functionName} (function ${safepoint.funcIndex})`);
  if (w.driver) out.text(`(run by the example's driver ${w.driver})`);
  if (w.stubbed.length) out.text(`(stubbed imports, returning zero or null: ${w.stubbed.join(', ')})`);
  for (const line of renderFrame(frame, '')) out.text(line);
}

/**
 * Runs an example through its own driver (examples/<name>/run.ts, `run(ctx)` with a fresh
 * engine, store and module, as examples/harness.ts does) and stops watching at the wanted
 * safepoint. The driver places the code itself, so safepoints are found once it has.
 */
async function explainWithDriver(file: string, driverPath: string, arch: Arch, at: string, nth: number, json: boolean, out: Output, html: HtmlPage | undefined, profile: Profile, args: ParsedArgs): Promise<number> {
  const driver = await loadDriver(driverPath, 'explain');
  const bytes = readInput(file, 'explain');
  const { engine, store, module } = await openModule(bytes, file, { arch, profile, regalloc: regallocFor(args, bytes, 'explain') });
  try {
    // The driver places the code itself: an address selector is resolved once it has.
    const search = searchFor(store, module, file, at, nth);
    const recorder = html?.record(store, module, file);
    const lines: string[] = [];
    let outcome = "the example's driver finished";
    try {
      await driver({ arch, engine, store, module, print: (line = '') => lines.push(line) });
    } catch (e) {
      if (e instanceof WasmTrap || e instanceof GuestTrap) outcome = describeTrap(e).lines[0];
      if (!search.found && (e instanceof WasmTrap || e instanceof GuestTrap)) {
        for (const line of describeTrap(e).lines) out.text(line);
        out.error(`stackscope explain: the program trapped before reaching safepoint ${nth} of --at ${at} (${search.seen} reached)`);
        return 1;
      }
      if (!search.found) throw e;
    } finally {
      search.close();
      if (recorder) addRecording(html!, recorder, search.found, outcome);
    }
    const found = search.found;
    if (!found) throw new UsageError(`--at ${at}: the example's driver reached ${search.seen} matching safepoint(s), not ${nth}`, 'explain');
    printFound(out, json, { arch, file, at, nth, stubbed: [], driver: driverPath }, found);
    return 0;
  } finally {
    store.close();
  }
}
