/**
 * Finding one safepoint of a v31 run and showing its frame: what `stackscope explain --profile
 * v31` does, for any API user. A safepoint is a call site with a user stack map; the search
 * hooks the call instructions (or, for an image, whose call sites are not recorded, the return
 * addresses: the caller's frame is the same there) of the functions `at` selects, counts the
 * hits, and at the `nth` reads the frame: every word from FP+8 down to SP = FP − frame size,
 * with the typed map entries over it and the object each names.
 *
 *   const search = findV31Safepoint(store, module, { at: 'inner', nth: 1 });
 *   try { instance.getFunc('outer').call(); } finally { search.close(); }
 *   if (search.found) console.log(renderV31Frame(search.found).join('\n'));
 */
import { StackscopeError, hex } from '../../isa/error.ts';
import { frameSlotName } from '../../compiler/lowering/frame.ts';
import type { UserStackMapRecord } from '../../compiler/user-stackmaps.ts';
import { describeValue } from '../../gc/collector.ts';
import { isI31 } from '../../gc/drc/heap.ts';
import type { HookHandle } from '../../simulator/engine.ts';
import type { Module } from '../module.ts';
import type { DrcSessionStore } from './session.ts';

/** A selector naming no function with a safepoint, an address with none after it, or a bad nth. */
export class V31SafepointSelectError extends StackscopeError {
  override name = 'V31SafepointSelectError';
  constructor(readonly at: string, message: string) {
    super(`${at}: ${message}`);
  }
}

export interface V31Safepoint {
  funcIndex: number;
  functionName: string;
  /** Where the search stops: the call instruction, or the return address for an image. */
  address: bigint;
  callAddress: bigint | undefined;
  returnAddress: bigint;
  map: UserStackMapRecord;
}

export interface V31FrameWord {
  address: bigint;
  /** `fp+8`, `fp+0` or `sp+N`. */
  offset: string;
  value: bigint;
  /** The map's entries in this word (0, 1 or 2 4-byte refs), with what each names. */
  entries: { offset: number; raw: number; target: string }[];
  /** What the compiler's frame layout keeps there (compiled modules). */
  slot: string | undefined;
}

export interface V31FoundFrame {
  safepoint: V31Safepoint;
  fp: bigint;
  sp: bigint;
  words: V31FrameWord[];
}

/** The module's safepoints once its code is placed in `store`. */
export function v31Safepoints(store: DrcSessionStore, module: Module): V31Safepoint[] {
  const placed = store.placed.get(module);
  const maps = module.code.userStackMaps;
  if (!placed || !maps) return [];
  const names = new Map(module.code.functions.map((f) => [f.funcIndex, f.name]));
  const calls = new Map<number, number>();
  for (const f of module.image?.functions ?? []) for (const s of f.callSites) calls.set(f.textOffset + s.returnOffset, f.textOffset + s.callOffset);
  return maps.map((map) => {
    const call = calls.get(map.textReturnOffset);
    const returnAddress = placed.textBase + BigInt(map.textReturnOffset);
    const callAddress = call === undefined ? undefined : placed.textBase + BigInt(call);
    return { funcIndex: map.funcIndex, functionName: names.get(map.funcIndex) ?? `func${map.funcIndex}`, address: callAddress ?? returnAddress, callAddress, returnAddress, map };
  });
}

function select(at: string, all: readonly V31Safepoint[], module: Module): V31Safepoint[] {
  if (/^0x[0-9a-f]+$/i.test(at)) {
    const pc = BigInt(at);
    const holder = all.find((s) => s.address >= pc && all.some((o) => o.funcIndex === s.funcIndex && o.address <= pc));
    if (!holder) throw new V31SafepointSelectError(at, 'no safepoint at or after that address in its function');
    return all.filter((s) => s.funcIndex === holder.funcIndex && s.address >= pc);
  }
  const name = at.replace(/^\$/, '');
  const exported = module.wasm.exports.find((e) => e.kind === 'func' && e.name === name)?.index;
  const byIndex = /^#?\d+$/.test(name) ? Number(name.replace('#', '')) : exported;
  const chosen = all.filter((s) => s.functionName === name || s.funcIndex === byIndex);
  if (!chosen.length) {
    throw new V31SafepointSelectError(at, `no function of that name with a safepoint (functions with safepoints: ${[...new Set(all.map((s) => s.functionName))].join(', ') || 'none'})`);
  }
  return chosen;
}

/** Reads the frame of the safepoint just reached (the store's machine stopped at it). */
export function readV31Frame(store: DrcSessionStore, module: Module, safepoint: V31Safepoint): V31FoundFrame {
  const m = store.machine;
  const fp = m.reg(m.arch === 'x64' ? 'rbp' : 'x29');
  const sp = fp - BigInt(safepoint.map.frameSize);
  const frame = module.image?.functions.find((f) => f.funcIndex === safepoint.funcIndex)?.frame;
  const heap = store.gcHeap;
  const describe = (raw: number): string => {
    if (raw === 0) return 'null';
    if (isI31(raw)) return 'i31';
    if (!heap.isLive(raw)) return 'NOT A LIVE OBJECT';
    const h = heap.header(raw);
    const type = h.kind === 'StructRef' || h.kind === 'ArrayRef' ? store.signatures.gcTypeOf(h.typeIndex)?.text : undefined;
    const length = h.kind === 'ArrayRef' ? `, length ${heap.arrayLen(raw)}` : '';
    return `${h.kind}${type !== undefined ? ` (${type})` : ''}, ${h.size} bytes${length}, count ${h.refCount}${h.kind === 'ExternRef' ? `, host value ${describeValue(heap.externRefValue(raw))}` : ''}`;
  };
  const words: V31FrameWord[] = [
    { address: fp + 8n, offset: 'fp+8', value: m.readU64(fp + 8n), entries: [], slot: 'return address' },
    { address: fp, offset: 'fp+0', value: m.readU64(fp), entries: [], slot: 'saved fp' },
  ];
  for (let off = safepoint.map.frameSize - 8; off >= 0; off -= 8) {
    const at = sp + BigInt(off);
    const entries = safepoint.map.entries
      .filter((e) => e.offset >= off && e.offset < off + 8)
      .map((e) => {
        const raw = m.readU32(sp + BigInt(e.offset));
        return { offset: e.offset, raw, target: describe(raw) };
      });
    words.push({ address: at, offset: `sp+${off}`, value: m.readU64(at), entries, slot: frame ? frameSlotName(frame, off) : undefined });
  }
  return { safepoint, fp, sp, words };
}

export interface V31SafepointSearch {
  readonly found: V31FoundFrame | undefined;
  readonly seen: number;
  close(): void;
}

/**
 * Watches `store`'s machine, until `close()`, for the `nth` safepoint of `module` (already
 * instantiated in `store`) that `at` selects — a function's name, export name or index (`#N`),
 * or a code address `0x…` — and keeps its frame. V31SafepointSelectError when nothing matches.
 */
export function findV31Safepoint(store: DrcSessionStore, module: Module, options: { at: string; nth?: number }): V31SafepointSearch {
  const nth = options.nth ?? 1;
  if (!Number.isSafeInteger(nth) || nth < 1) throw new V31SafepointSelectError(options.at, `nth must be a positive integer (got ${String(options.nth)})`);
  const all = v31Safepoints(store, module);
  if (!all.length && !store.placed.get(module)) throw new V31SafepointSelectError(options.at, 'the module is not instantiated in this store yet');
  const chosen = select(options.at, all, module);
  const state: { found: V31FoundFrame | undefined; seen: number } = { found: undefined, seen: 0 };
  const engine = store.machine.engine;
  const hooks: HookHandle[] = chosen.map((s) => engine.hookCode(() => {
    if (state.found || ++state.seen !== nth) return;
    state.found = readV31Frame(store, module, s);
  }, s.address, s.address));
  return {
    get found() { return state.found; },
    get seen() { return state.seen; },
    close: () => {
      for (const h of hooks.splice(0)) engine.removeHook(h);
    },
  };
}

/** The frame as text: one line per word, the map's entries and the objects they name beside it. */
export function renderV31Frame(f: V31FoundFrame): string[] {
  const s = f.safepoint;
  const lines = [`frame of ${s.functionName} (function ${s.funcIndex}): fp ${hex(f.fp)}, sp ${hex(f.sp)}, frame ${s.map.frameSize} bytes, ${s.map.entries.length} map entr${s.map.entries.length === 1 ? 'y' : 'ies'}`];
  for (const w of f.words) {
    const refs = w.entries.map((e) => `i32 @sp+${e.offset} = 0x${e.raw.toString(16)} ${e.target}`).join('; ');
    lines.push(`  ${hex(w.address)}  ${w.offset.padEnd(7)} ${hex(w.value).padEnd(18)}  ${(w.slot ?? '').padEnd(26)}${refs ? ` ${refs}` : ''}`.trimEnd());
  }
  return lines;
}
