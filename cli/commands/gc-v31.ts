/**
 * `stackscope gc --profile v31`: the module in a v31 store (runtime/v31/session.ts
 * `instantiateV31GcAtHost`), export NAME called, and each collection at `env.FN` printed: with
 * --explain gc/drc's full explanation (activations, frames with their typed map entries, the
 * activations table before and after, the frees), else one line per frame with its entries.
 */
import { hex } from '../../isa/error.ts';
import { describeValue } from '../../gc/collector.ts';
import { GuestTrap } from '../../simulator/trap.ts';
import { HostImportError, InvokeArgError } from '../../runtime/session.ts';
import { WasmTrap } from '../../runtime/errors.ts';
import { V31ExternRef, V31Func, type V31Results, type V31Val } from '../../runtime/v31/instance.ts';
import { chooseV31Invocation, createDrcStore, instantiateV31GcAtHost, v31ValText, type DrcGcReport } from '../../runtime/v31/session.ts';
import { isV44Report, renderDrcGc, v31GcJson } from './run-v31.ts';
import { sessionModule } from '../../runtime/session.ts';
import type { Arch } from '../../isa/arch.ts';
import type { Profile } from '../../profiles/profile.ts';
import type { RegallocMode } from '../../compiler/regalloc/modes.ts';
import { UsageError } from '../args.ts';
import type { Output } from '../output.ts';

export interface V31GcOptions {
  path: string;
  bytes: Uint8Array;
  invoke: string;
  args: string[];
  arch: Arch | undefined;
  atHost: string;
  explain: boolean;
  json: boolean;
  profile: Profile;
  regalloc: RegallocMode | undefined;
}

/** A result as `gc --json` prints it (several results: an array of these, in order). */
function resultJson(v: V31Val): unknown {
  return v instanceof V31Func ? null : v instanceof V31ExternRef ? { externref: `0x${v.raw.toString(16)}`, value: describeValue(v.value) } : typeof v === 'bigint' ? v.toString() : v;
}

function show(v: V31Results | undefined): string {
  if (v === undefined) return '(none)';
  if (Array.isArray(v)) return v.map((x) => show(x)).join(', ');
  if (v instanceof V31ExternRef) return `externref 0x${v.raw.toString(16)} -> ${describeValue(v.value)}`;
  return v31ValText(v);
}

/** A collection in a few lines: the headline, each frame (v44: with its stack) with its entries, roots and frees. */
function summarize(r: DrcGcReport): string[] {
  const e = r.explanation!;
  const lines = [renderDrcGc(r)!.split('\n')[0]];
  for (const f of e.frames) {
    const entries = f.entries.map((en) => `sp+${en.offset}=0x${en.raw.toString(16)}`).join(' ');
    const stack = 'stack' in f ? `s${f.stack} ` : '';
    lines.push(`  ${stack}a${f.activation} f${f.index}  ${f.functionName ?? '<no map>'}  pc ${hex(f.pc)}  fp ${hex(f.fp)}${f.sp !== undefined ? `  frame ${f.frameSize} bytes  entries: ${entries || 'none'}` : '  (no map)'}`);
  }
  lines.push(`roots: {${('roots' in e ? e.roots : r.preciseRoots).map((x) => `0x${x.toString(16)}`).join(', ')}}`);
  lines.push(`freed: ${r.freed.length ? r.freed.map((f) => `0x${f.ref.toString(16)} ${describeValue(f.hostValue)}`).join(', ') : 'nothing'}`);
  return lines;
}

/** Runs one `gc --profile v31`; returns the exit code (0 ok, 1 guest trap or failed GC). */
export async function gcV31(o: V31GcOptions, out: Output, command: string): Promise<number> {
  const { arch, engine, module } = await sessionModule(o.bytes, o.path, { arch: o.arch, profile: o.profile, regalloc: o.regalloc });
  const store = await createDrcStore(engine, []);
  try {
    const prints: string[] = [];
    let session;
    try {
      session = instantiateV31GcAtHost(store, module, { atHost: o.atHost, print: (args) => prints.push(args.map(show).join(' ')) });
    } catch (e) {
      if (e instanceof HostImportError) throw new UsageError(e.message, command);
      throw e;
    }
    let target;
    try {
      target = chooseV31Invocation({ arch, file: o.path, engine, module, store, instance: session.instance, gcs: [] }, { name: o.invoke, args: o.args })!;
    } catch (e) {
      if (e instanceof InvokeArgError) throw new UsageError(`--invoke ${e.message}`, command);
      throw e;
    }
    let result: V31Results | undefined;
    let failure: unknown;
    try {
      result = target.func.call(...target.args);
    } catch (e) {
      failure = e;
    }
    const trap = failure instanceof WasmTrap || failure instanceof GuestTrap ? failure : undefined;
    if (failure !== undefined && !trap) throw failure;
    const { gcs } = session;
    if (o.json) {
      out.json({
        module: o.path, arch, profile: o.profile.name, invoke: o.invoke, args: o.args, atHost: `env.${o.atHost}`,
        result: result === undefined ? null : Array.isArray(result) ? result.map(resultJson) : resultJson(result),
        trap: trap ? { code: trap instanceof WasmTrap ? trap.code : trap.kind, message: trap.message } : null,
        prints,
        gcs: gcs.map((g) => ({ call: g.call, explanation: (v31GcJson(g.report, true) as { explanation: unknown }).explanation })),
      });
    } else {
      for (const p of prints) out.text(`print: ${p}`);
      if (result !== undefined) out.text(`${o.invoke}(${o.args.join(', ')}) = ${show(result)}`);
      if (gcs.length === 0) out.text(`no GC ran: ${o.invoke} never called env.${o.atHost}`);
      for (const g of gcs) {
        out.text('');
        out.text(`=== GC ${g.call} at env.${o.atHost} (${o.profile.name}: user stack maps, DRC${isV44Report(g.report) ? ', every stack' : ''}) ===`);
        for (const line of o.explain ? renderDrcGc(g.report)!.split('\n') : summarize(g.report)) out.text(line);
      }
    }
    for (const a of target.args) if (a instanceof V31ExternRef) a.release();
    for (const r of Array.isArray(result) ? result : [result]) if (r instanceof V31ExternRef) r.release();
    if (trap) {
      out.error(`stackscope ${command}: guest trap: ${trap.message}`);
      return 1;
    }
    return 0;
  } finally {
    store.close();
  }
}
