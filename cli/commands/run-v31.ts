/**
 * `stackscope run --profile v31`: a Wasm module run in a v31 session (runtime/v31/session.ts),
 * printed as `run` prints a v17 run — the host imports' lines, the result and the instructions,
 * the collections (with --gc-explain, gc/drc's explanation of each), a trap with its backtrace.
 */
import type { ValType } from '../../compiler/frontend/module.ts';
import { describeValue } from '../../gc/collector.ts';
import { drcExplanationToJson, renderDrcExplanation } from '../../gc/drc/v31-collector.ts';
import type { Profile } from '../../profiles/profile.ts';
import { HostImportError, InvokeArgError, SessionArchError, sessionArch } from '../../runtime/session.ts';
import { WasmTrap } from '../../runtime/errors.ts';
import { V31ExternRef, V31Func, type V31Results, type V31Val } from '../../runtime/v31/instance.ts';
import { chooseV31Invocation, openV31Session, v31ValText, type DrcGcReport, type V31Session, type V31SessionOptions } from '../../runtime/v31/session.ts';
import { renderTrace, traceToJson, type Tracer } from '../../viewer/trace.ts';
import { recordDrcGc, traceDrc } from '../../viewer/trace-v31.ts';
import type { CycleReport } from '../../simulator/timing/cycles.ts';
import type { V31GcReport } from '../../runtime/v31/store.ts';
import type { V44GcReport } from '../../runtime/v44/store.ts';
import { drc44ExplanationToJson, renderDrc44Explanation } from '../../gc/drc44/v44-collector.ts';
import { GuestTrap } from '../../simulator/trap.ts';
import { UsageError, type ParsedArgs } from '../args.ts';
import { regallocFor } from '../args.ts';
import type { Output } from '../output.ts';
import { checkUarchArch, cycleFlags, cycleReportJson, cycleReportText, parseArchFlag, runLimits, traceFlags } from './run-options.ts';

/**
 * The flags of `run` a DRC-era run (v31, v44) does not offer: `--html`, whose page replays v17
 * collections (viewer/snapshot.ts reads the v17 activations table and bitmap stack maps), and,
 * for commands other than `run`, the trace and the cycle model.
 */
const NOT_IN_DRC_RUN = ['html'];
const NOT_IN_DRC = ['trace', 'trace-limit', 'html', 'cycles', 'uarch'];

function valJsonV31(type: ValType, v: V31Val): { type: ValType; value: string | number | null } {
  if (v === null) return { type, value: null };
  if (v instanceof V31ExternRef) return { type, value: describeValue(v.value) };
  if (v instanceof V31Func) return { type, value: 'funcref' };
  if (type === 'f32' || type === 'f64') return { type, value: v31ValText(v, type) };
  return { type, value: typeof v === 'bigint' ? v.toString() : v };
}

/** Whether a collection report is v44's (it counts the stacks it walked). */
export function isV44Report(r: DrcGcReport): r is V44GcReport {
  return 'stacks' in r;
}

/** A collection's explanation as text (gc/drc's for v31, gc/drc44's for v44). */
export function renderDrcGc(r: DrcGcReport): string | undefined {
  if (!r.explanation) return undefined;
  return isV44Report(r) ? renderDrc44Explanation(r.explanation!) : renderDrcExplanation((r as V31GcReport).explanation!);
}

const hexRef = (x: number) => `0x${x.toString(16)}`;

/** A v31 or v44 collection as JSON: the report's numbers, and the explanation when asked for. */
export function v31GcJson(r: DrcGcReport, explain: boolean): Record<string, unknown> {
  const freed = r.freed.map((f) => ({ ref: hexRef(f.ref), kind: f.kind, size: f.size, ...(f.hostValue !== undefined ? { hostValue: describeValue(f.hostValue) } : {}) }));
  if (isV44Report(r)) {
    return {
      reason: r.reason, stacks: r.stacks, frames: r.frames, preciseRoots: r.preciseRoots.map(hexRef),
      listBefore: r.listBefore.map(hexRef), kept: r.kept.map(hexRef), unlinked: r.unlinked.map(hexRef), freed,
      ...(explain && r.explanation ? { explanation: drc44ExplanationToJson(r.explanation) } : {}),
    };
  }
  return {
    reason: r.reason,
    preciseRoots: r.preciseRoots.map(hexRef),
    droppedFromChunk: r.droppedFromChunk,
    droppedFromOverApproximated: r.droppedFromOverApproximated,
    allocatedChunk: r.allocatedChunk,
    freed,
    ...(explain && r.explanation ? { explanation: drcExplanationToJson(r.explanation) } : {}),
  };
}

/** Prints each collection's explanation under a numbered heading. */
export function printV31Explanations(out: Output, gcs: readonly DrcGcReport[]): void {
  if (gcs.length === 0) out.text('gc: no collection ran');
  gcs.forEach((r, i) => {
    out.text(`== GC #${i + 1} (${r.reason}) ==`);
    const text = renderDrcGc(r);
    if (text) out.text(text.replace(/\n$/, ''));
  });
}

/** Opens the v31 session of a command, with the CLI's usage errors. */
export async function openV31ForCli(
  args: ParsedArgs, input: { file: string; bytes: Uint8Array }, command: string, profile: Profile, print: (line: string) => void,
  extra: Pick<V31SessionOptions, 'cycles' | 'onCollection' | 'preload'> = {},
): Promise<V31Session> {
  for (const flag of command === 'run' ? NOT_IN_DRC_RUN : NOT_IN_DRC) {
    if (args.flags.has(flag)) {
      throw new UsageError(flag === 'html'
        ? `--html is not available with --profile ${profile.name}: the page replays v17 collections (use --trace or --gc-explain for a ${profile.name} run)`
        : `--${flag} is not available with --profile ${profile.name} yet`, command);
    }
  }
  const archFlag = args.flags.get('arch');
  const { budget, timeoutMs } = runLimits(args);
  const requested = typeof archFlag === 'string' ? parseArchFlag(archFlag) : undefined;
  try {
    checkUarchArch(extra.cycles, sessionArch(input.bytes, input.file, requested), input.bytes[0] === 0x7f ? `${input.file} is an image compiled for` : 'the module runs on', command);
    return await openV31Session(input.bytes, input.file, {
      arch: requested, print, budget, timeoutMs, profile, regalloc: regallocFor(args, input.bytes, command), ...extra,
    });
  } catch (e) {
    if (e instanceof HostImportError || e instanceof SessionArchError) throw new UsageError(e.message, command);
    throw e;
  }
}

export async function runWasmV31(args: ParsedArgs, invoke: { name: string; args: string[] } | undefined, input: { file: string; bytes: Uint8Array }, out: Output, profile: Profile, preload: V31SessionOptions['preload'] = []): Promise<number> {
  const json = args.flags.has('json');
  const explainGc = args.flags.has('gc-explain');
  const printed: string[] = [];
  const trace = traceFlags(args);
  const cycles = cycleFlags(args);
  let tracer: Tracer | undefined;
  const session = await openV31ForCli(args, input, 'run', profile, (line) => (json ? printed.push(line) : out.text(line)), {
    ...(cycles ? { cycles } : {}),
    preload,
    // Collections join the trace as they happen (instantiation's ran before it started).
    onCollection: (r) => {
      if (tracer) recordDrcGc(tracer, session.store, r);
    },
  });
  const { store } = session;
  try {
    let target;
    try {
      target = chooseV31Invocation(session, invoke);
    } catch (e) {
      if (e instanceof InvokeArgError) throw new UsageError(`--invoke ${e.message}`, 'run');
      throw e;
    }
    const argsJson = target ? target.args.map((a, i) => valJsonV31(target!.func.type.params[i], a)) : [];
    let result: V31Results = null;
    let trap: WasmTrap | GuestTrap | undefined;
    let report: CycleReport | undefined;
    if (trace) tracer = traceDrc(store, session.module, { ...trace, moduleName: session.file.replace(/^.*[\\/]/, '') });
    try {
      if (target) result = target.func.call(...target.args);
    } catch (e) {
      if (!(e instanceof WasmTrap || e instanceof GuestTrap)) throw e;
      trap = e;
    } finally {
      tracer?.close();
      // The invoked call's cycles (each outermost call starts the counts afresh).
      if (target && cycles) report = store.machine.cycleReport();
      for (const a of target?.args ?? []) if (a instanceof V31ExternRef) a.release();
    }
    const { describeTrap } = await import('./run.ts');
    const instructions = target ? store.machine.instructionsExecuted() : 0n;
    const resultTypes = target?.func.type.results ?? [];
    // The values of the call's results, in order (the call gives one value, or an array for several).
    const results: V31Val[] = Array.isArray(result) ? result : [result];
    if (json) {
      out.json({
        arch: session.arch, module: session.file, profile: profile.name,
        invoke: target ? { name: target.name, args: argsJson } : null,
        // One result: its value; several: an array of them, in order (as a v17 run prints them).
        result: trap || !target || resultTypes.length === 0 ? null
          : resultTypes.length === 1 ? valJsonV31(resultTypes[0], results[0])
            : results.map((v, k) => valJsonV31(resultTypes[k], v)),
        instructions: Number(instructions), trap: trap ? describeTrap(trap).json : null, output: printed,
        ...(report ? { cycles: cycleReportJson(report) } : {}),
        gcs: session.gcs.map((r) => v31GcJson(r, explainGc)),
        ...(tracer ? { trace: traceToJson(tracer) } : {}),
      });
    } else {
      if (tracer) for (const line of renderTrace(tracer)) out.text(line);
      if (!target) out.text(`instantiated ${session.file} on ${session.arch} (profile ${profile.name}); nothing invoked (exports: ${session.module.wasm.exports.map((e) => e.name).join(', ') || 'none'}; use --invoke NAME ARGS...)`);
      else if (!trap) out.text(`${resultTypes.length > 1 ? 'results' : 'result'}: ${resultTypes.length === 0 ? '(none)' : results.map((v, k) => `${v31ValText(v, resultTypes[k])} (${resultTypes[k]})`).join(', ')}\ninstructions: ${instructions}`);
      if (trap) for (const line of describeTrap(trap).lines) out.text(line);
      if (report) for (const line of cycleReportText(report)) out.text(line);
      if (explainGc) printV31Explanations(out, session.gcs);
      else if (session.gcs.length) out.text(`gc: ${session.gcs.length} collection(s) ran (--gc-explain shows them)`);
    }
    for (const r of results) if (r instanceof V31ExternRef) r.release();
    return trap ? 1 : 0;
  } finally {
    store.close();
  }
}
