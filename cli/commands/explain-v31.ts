/**
 * `stackscope explain --profile v31`: the module run in a v31 session until the safepoint
 * `--at`/`--nth` selects (runtime/v31/safepoints.ts), then that frame word by word with its
 * typed user-stack-map entries and the GC objects they name.
 */
import { hex } from '../../isa/error.ts';
import type { Profile } from '../../profiles/profile.ts';
import { InvokeArgError } from '../../runtime/session.ts';
import { WasmTrap } from '../../runtime/errors.ts';
import { V31ExternRef, type V31Results } from '../../runtime/v31/instance.ts';
import { V31SafepointSelectError, findV31Safepoint, renderV31Frame, type V31SafepointSearch } from '../../runtime/v31/safepoints.ts';
import { chooseV31Invocation } from '../../runtime/v31/session.ts';
import { GuestTrap } from '../../simulator/trap.ts';
import { UsageError, type ParsedArgs } from '../args.ts';
import type { Output } from '../output.ts';
import { openV31ForCli } from './run-v31.ts';

export async function explainV31(args: ParsedArgs, input: { file: string; bytes: Uint8Array }, invoke: { name: string; args: string[] } | undefined, at: string, nth: number, json: boolean, out: Output, profile: Profile): Promise<number> {
  const session = await openV31ForCli(args, input, 'explain', profile, () => undefined);
  const { store } = session;
  try {
    let search: V31SafepointSearch;
    try {
      search = findV31Safepoint(store, session.module, { at, nth });
    } catch (e) {
      if (e instanceof V31SafepointSelectError) throw new UsageError(`--at ${e.message}`, 'explain');
      throw e;
    }
    let trap: WasmTrap | GuestTrap | undefined;
    let target;
    try {
      try {
        target = chooseV31Invocation(session, invoke);
      } catch (e) {
        if (e instanceof InvokeArgError) throw new UsageError(`--invoke ${e.message}`, 'explain');
        throw e;
      }
      if (!target) throw new UsageError(`${input.file} exports no 'main' or '_start' without parameters: give --invoke NAME ARGS...`, 'explain');
      let result: V31Results = null;
      try {
        result = target.func.call(...target.args);
      } catch (e) {
        if (!(e instanceof WasmTrap || e instanceof GuestTrap)) throw e;
        trap = e;
      } finally {
        for (const a of target.args) if (a instanceof V31ExternRef) a.release();
        for (const r of Array.isArray(result) ? result : [result]) if (r instanceof V31ExternRef) r.release();
      }
    } finally {
      search.close();
    }
    const found = search.found;
    if (!found) {
      if (trap) {
        const { describeTrap } = await import('./run.ts');
        for (const line of describeTrap(trap).lines) out.text(line);
        out.error(`stackscope explain: the program trapped before reaching safepoint ${nth} of --at ${at} (${search.seen} reached)`);
        return 1;
      }
      throw new UsageError(`--at ${at}: the run of ${target.name} reached ${search.seen} matching safepoint(s), not ${nth}`, 'explain');
    }
    const s = found.safepoint;
    const where = s.callAddress !== undefined ? `the call at ${hex(s.callAddress)}` : `the return address ${hex(s.returnAddress)}`;
    if (json) {
      out.json({
        arch: session.arch, module: input.file, profile: profile.name, at, nth,
        safepoint: { call: s.callAddress === undefined ? null : hex(s.callAddress), return: hex(s.returnAddress), function: s.functionName, funcIndex: s.funcIndex, frameSize: s.map.frameSize },
        frame: {
          fp: hex(found.fp), sp: hex(found.sp),
          words: found.words.map((w) => ({ address: hex(w.address), offset: w.offset, value: hex(w.value), slot: w.slot ?? null, entries: w.entries.map((e) => ({ offset: e.offset, raw: `0x${e.raw.toString(16)}`, target: e.target })) })),
        },
      });
    } else {
      out.text(`${input.file} on ${session.arch} (profile ${profile.name}): safepoint ${nth} of --at ${at}, ${where} in ${s.functionName} (function ${s.funcIndex})`);
      for (const line of renderV31Frame(found)) out.text(line);
    }
    return 0;
  } finally {
    store.close();
  }
}
