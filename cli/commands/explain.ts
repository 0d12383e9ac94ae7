import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { hex } from '../../isa/error.ts';
import { ExternRef, WasmTrap, type Val } from '../../runtime/api.ts';
import { GuestTrap } from '../../simulator/trap.ts';
import { parseArgs, parseInteger, rejectUnknown, UsageError } from '../args.ts';
import type { Output } from '../output.ts';
import { readInput } from './inspect.ts';
import { chooseInvoke, describeTrap, openWasmSession, parseArchFlag, splitInvoke } from './run.ts';
import { Tracer, frameToJson, renderFrame, type FrameView, type Safepoint } from './trace.ts';

export const EXPLAIN_HELP = `usage: stackscope explain <file.wat | file.wasm | image.o | examples/NAME> --at <function | pc>
                          [--arch x64|aarch64] [--invoke NAME ARGS...] [--nth N] [--json]

Runs the module (as 'stackscope run' does, with the same host imports and --invoke; without
--invoke, an export named 'main' or '_start') until execution reaches a safepoint — a call
with a stack map — in the function named by --at (its name from the name section or an
export, with or without '$'), or the first safepoint at or after the code address --at 0x…
in the function holding it. It then shows that frame as an ASCII diagram: every word from
FP+8 down to SP with its address, offset, value, the stack-map bit over it, the slot's name in
the compiler's frame layout, and for marked words the reference the GC would read there.
--nth N takes the N-th such safepoint (default 1), e.g. a deeper level of recursion.
examples/NAME names the example's directory (its one .wat file).

Exit codes: 0 frame shown; 1 the program trapped before reaching it; 2 usage or input error,
or the run finished without reaching such a safepoint.
JSON: {"arch", "module", "at", "nth", "safepoint": {"call", "return", "function"}, "frame":
{... FrameView, addresses as 0x-hex strings ...}}`;

/** `examples/NAME` (a directory with one .wat) or a file. */
export function resolveModulePath(path: string, command: string): string {
  const candidates = existsSync(path) ? [path] : [join('examples', path)].filter(existsSync);
  if (candidates.length === 0) throw new UsageError(`cannot read ${path}: no such file or example`, command);
  const p = candidates[0];
  if (!statSync(p).isDirectory()) return p;
  const wats = readdirSync(p).filter((f) => f.endsWith('.wat')).sort();
  if (wats.length !== 1) throw new UsageError(`${p}: expected one .wat file in the example directory, found ${wats.length}`, command);
  return join(p, wats[0]);
}

export async function explainCommand(argv: string[], out: Output): Promise<number> {
  const { rest, invoke } = splitInvoke(argv, 'explain');
  const args = parseArgs(rest, ['at', 'arch', 'nth'], 'explain');
  rejectUnknown(args, ['at', 'arch', 'nth', 'json'], 'explain');
  if (args.positionals.length !== 1) throw new UsageError('give exactly one module (file.wat, file.wasm, image.o or examples/NAME)', 'explain');
  const at = args.flags.get('at');
  if (typeof at !== 'string' || at === '') throw new UsageError('--at <function | pc> is required', 'explain');
  const nthText = args.flags.get('nth');
  const nth = typeof nthText === 'string' ? Number(parseInteger(nthText, '--nth', 'explain')) : 1;
  if (!(nth >= 1 && nth <= 1_000_000)) throw new UsageError(`--nth: ${String(nthText)} is not between 1 and 1000000`, 'explain');
  const archFlag = args.flags.get('arch');
  const arch = typeof archFlag === 'string' ? parseArchFlag(archFlag, 'explain') : undefined;
  const file = resolveModulePath(args.positionals[0], 'explain');
  const json = args.flags.has('json');

  const session = await openWasmSession({ file, bytes: readInput(file, 'explain'), arch, command: 'explain', print: () => {} });
  const { store } = session;
  try {
    const exported = new Map(session.module.wasm.exports.filter((e) => e.kind === 'func').map((e) => [e.name, e.index] as const));
    const matches = safepointMatcher(at, session.safepoints, file, exported);
    const target = chooseInvoke(session, invoke, 'explain');
    if (!target) throw new UsageError(`${file} exports no 'main' or '_start' without parameters: give --invoke NAME ARGS...`, 'explain');
    let seen = 0;
    let found: { frame: FrameView; safepoint: Safepoint } | undefined;
    const tracer = new Tracer(store.machine, {
      mode: 'safepoints', limit: 0, safepoints: session.safepoints.filter(matches), namer: session.namer, describeRef: session.describeRef,
      onSafepoint: (frame, safepoint) => {
        if (!found && ++seen === nth) found = { frame, safepoint };
      },
    });
    let trap: WasmTrap | GuestTrap | undefined;
    let result: Val = null;
    try {
      result = target.func.call(...target.args);
    } catch (e) {
      if (!(e instanceof WasmTrap || e instanceof GuestTrap)) throw e;
      trap = e;
    } finally {
      tracer.close();
      for (const a of target.args) if (a instanceof ExternRef) a.release();
      if (result instanceof ExternRef) result.release();
    }
    if (!found) {
      if (trap) {
        for (const line of describeTrap(trap).lines) out.text(line);
        out.error(`stackscope explain: the program trapped before reaching safepoint ${nth} of --at ${at} (${seen} reached)`);
        return 1;
      }
      throw new UsageError(`--at ${at}: the run of ${target.name} reached ${seen} matching safepoint(s), not ${nth}`, 'explain');
    }
    const { frame, safepoint } = found;
    if (json) {
      out.json({
        arch: session.arch, module: file, at, nth,
        safepoint: { call: hex(safepoint.callAddress), return: hex(safepoint.returnAddress), function: safepoint.functionName, funcIndex: safepoint.funcIndex },
        frame: frameToJson(frame),
      });
    } else {
      out.text(`${file} on ${session.arch}: safepoint ${nth} of --at ${at}, the call at ${hex(safepoint.callAddress)} in ${safepoint.functionName} (function ${safepoint.funcIndex})`);
      for (const line of renderFrame(frame, '')) out.text(line);
    }
    return 0;
  } finally {
    store.close();
  }
}

/** Which safepoints `--at` selects: a function's, or those at/after a pc in its function. */
function safepointMatcher(at: string, safepoints: readonly Safepoint[], file: string, exported: ReadonlyMap<string, number>): (s: Safepoint) => boolean {
  if (/^0x[0-9a-f]+$/i.test(at)) {
    const pc = BigInt(at);
    const inFunction = safepoints.filter((s) => s.functionStart <= pc && pc <= s.returnAddress);
    const holder = inFunction.find((s) => s.callAddress >= pc || s.returnAddress === pc);
    if (!holder) throw new UsageError(`--at ${at}: no safepoint at or after that address in a function of ${file}`, 'explain');
    return (s) => s.functionStart === holder.functionStart && (s.callAddress >= pc || s.returnAddress === pc);
  }
  const name = at.replace(/^\$/, '');
  const byIndex = /^#?\d+$/.test(name) ? Number(name.replace('#', '')) : exported.get(name);
  const selected = (s: Safepoint) => s.functionName === name || (byIndex !== undefined && s.funcIndex === byIndex);
  if (!safepoints.some(selected)) {
    const names = [...new Set(safepoints.map((s) => s.functionName))];
    throw new UsageError(`--at ${at}: no function of that name with a safepoint in ${file} (functions with safepoints: ${names.join(', ') || 'none'})`, 'explain');
  }
  return selected;
}
