/**
 * The v31 stack walk and root scan, over emulated memory.
 *
 * `walkV31` is wasmtime v31.0.0's `Backtrace::trace_with_trap_state` / `trace_through_wasm`
 * (crates/wasmtime/src/runtime/vm/traphandlers/backtrace.rs): activations are (exit pc, exit fp,
 * entry fp) triples — the live one from VMStoreContext (+32, +24, +40), then the saved older
 * ones, up to the first with pc 0. Within an activation, frames are followed through
 * [FP] (caller FP) and [FP + 8] (return address) **while fp != entry fp**: the entry trampoline
 * stored its own FP, and the oldest Wasm frame's saved FP is exactly that. Each of v31's
 * assertions (entry fp > fp, next fp > fp, on x86-64 fp 16-byte aligned) is a typed
 * `V31StackWalkError`; so are an unreadable record and a chain longer than the stack between fp
 * and entry fp allows, so a corrupt chain ends the walk in bounded time.
 *
 * `v31StackRoots` is v31's `trace_wasm_stack_roots` (crates/wasmtime/src/runtime/store.rs):
 * for each frame, the user stack map at exactly its pc (none: no roots here); SP = FP − frame
 * size; each entry is a u32 VMGcRef at SP + offset (asserted inside the frame); 0 is null and
 * skipped. Entries of any type but i32 are refused: v31's GC references are 32-bit.
 */
import type { Machine } from '../../simulator/machine.ts';
import { mutated } from '../../compiler/mutants.ts';
import { abiOf } from '../../isa/abi.ts';
import { StackscopeError, hex } from '../../isa/error.ts';
import { VMStoreContextLayout } from '../../compiler/v31/vmoffsets.ts';
import { MemoryReader } from '../walk.ts';
import type { DrcRoot } from './collector.ts';
import type { FoundUserStackMap, UserStackMapRegistry } from './user-stackmap-registry.ts';

/** One activation's records, as VMStoreContext (or a saved snapshot of it) holds them. */
export interface V31ActivationTriple {
  exitPc: bigint;
  exitFp: bigint;
  entryFp: bigint;
}

export interface V31Frame {
  activation: number;
  index: number;
  pc: number;
  fp: number;
}

export type V31StackWalkFailure =
  | 'bad-terminator' | 'zero-fp' | 'zero-entry-fp' | 'fp-above-entry-fp' | 'fp-misaligned'
  | 'fp-not-increasing' | 'unreadable' | 'too-many-frames' | 'no-module' | 'entry-outside-frame' | 'not-a-32-bit-ref';

/** A chain or map that breaks one of v31's assertions, with the activation and frame. */
export class V31StackWalkError extends StackscopeError {
  override name = 'V31StackWalkError';
  constructor(
    readonly failure: V31StackWalkFailure,
    readonly activation: number,
    readonly frame: number,
    readonly pc: bigint,
    readonly fp: bigint,
    readonly entryFp: bigint,
    detail = '',
  ) {
    super(`v31 stack walk: ${failure} in activation ${activation} frame ${frame} (pc ${hex(pc)}, fp ${hex(fp)}, entry fp ${hex(entryFp)})${detail ? `: ${detail}` : ''}`);
  }
}

/** The live triple from the VMStoreContext at `storeContext`. */
export function readStoreContext(machine: Machine, storeContext: bigint): V31ActivationTriple {
  return {
    exitPc: machine.readU64(storeContext + BigInt(VMStoreContextLayout.lastWasmExitPc)),
    exitFp: machine.readU64(storeContext + BigInt(VMStoreContextLayout.lastWasmExitFp)),
    entryFp: machine.readU64(storeContext + BigInt(VMStoreContextLayout.lastWasmEntryFp)),
  };
}

/** Writes the activation fields of a VMStoreContext (what v31's trampolines do; hosts and tests). */
export function writeStoreContext(machine: Machine, storeContext: bigint, t: Partial<V31ActivationTriple>): void {
  if (t.exitPc !== undefined) machine.writeU64(storeContext + BigInt(VMStoreContextLayout.lastWasmExitPc), t.exitPc);
  if (t.exitFp !== undefined) machine.writeU64(storeContext + BigInt(VMStoreContextLayout.lastWasmExitFp), t.exitFp);
  if (t.entryFp !== undefined) machine.writeU64(storeContext + BigInt(VMStoreContextLayout.lastWasmEntryFp), t.entryFp);
}

/** Every Wasm frame, youngest first, of the live triple and then the `older` ones (youngest first). */
export function walkV31(machine: Machine, live: V31ActivationTriple, older: readonly V31ActivationTriple[] = [], reader = new MemoryReader(machine)): V31Frame[] {
  const fpAlignment = abiOf(machine.arch).fpAlignment;
  const frames: V31Frame[] = [];
  const all = [live, ...older];
  for (let a = 0; a < all.length; a++) {
    const t = all[a];
    if (t.exitPc === 0n) {
      if (t.exitFp !== 0n || t.entryFp !== 0n) throw new V31StackWalkError('bad-terminator', a, 0, t.exitPc, t.exitFp, t.entryFp, 'an activation with pc 0 must have fp 0 and entry fp 0');
      break;
    }
    if (t.exitFp === 0n) throw new V31StackWalkError('zero-fp', a, 0, t.exitPc, t.exitFp, t.entryFp);
    if (t.entryFp === 0n) throw new V31StackWalkError('zero-entry-fp', a, 0, t.exitPc, t.exitFp, t.entryFp);
    const entryFp = Number(t.entryFp);
    let pc = Number(t.exitPc);
    let fp = Number(t.exitFp);
    const maxFrames = entryFp > fp ? Math.floor((entryFp - fp) / 16) : 0;
    for (let index = 0; fp !== entryFp; index++) {
      const fail = (failure: V31StackWalkFailure, detail = '') => new V31StackWalkError(failure, a, index, BigInt(pc), BigInt(fp), t.entryFp, detail);
      if (!(entryFp > fp)) throw fail('fp-above-entry-fp', 'the trampoline fp must lie above every Wasm fp');
      if (fpAlignment !== undefined && fp % fpAlignment !== 0) throw fail('fp-misaligned', 'x86-64 frame pointers are 16-byte aligned');
      if (index >= maxFrames) throw fail('too-many-frames', `more than ${maxFrames} frames between fp and entry fp`);
      frames.push({ activation: a, index, pc, fp });
      const nextPc = reader.word(fp + 8);
      const nextFp = reader.word(fp);
      if (nextPc === undefined || nextFp === undefined) throw fail('unreadable', `cannot read the frame record at 0x${fp.toString(16)}`);
      if (!(nextFp > fp)) throw fail('fp-not-increasing', `next fp 0x${nextFp.toString(16)} is not above fp 0x${fp.toString(16)}`);
      pc = nextPc;
      fp = nextFp;
    }
  }
  return frames;
}

/** One entry of a frame's user stack map, read: where, and the raw u32 found there (0 = null). */
export interface ScannedEntry {
  type: 'i32';
  offset: number;
  slot: number;
  raw: number;
}

/** A frame with what its map says, as `scanV31Frame` reads it. */
export interface ScannedFrame {
  frame: V31Frame;
  /** Undefined: no map at this return address (no live refs here). */
  map?: FoundUserStackMap;
  functionName?: string;
  sp?: number;
  entries: ScannedEntry[];
}

/**
 * Reads every entry of `frame`'s user stack map (nulls included). @throws V31StackWalkError for
 * a frame outside every registered module, a map entry that is not a 32-bit ref, or a slot
 * outside readable memory.
 */
export function scanV31Frame(machine: Machine, frame: V31Frame, registry: UserStackMapRegistry, reader = new MemoryReader(machine)): ScannedFrame {
  const fail = (failure: V31StackWalkFailure, detail: string) => new V31StackWalkError(failure, frame.activation, frame.index, BigInt(frame.pc), BigInt(frame.fp), 0n, detail);
  const found = registry.lookup(frame.pc);
  if (!found) {
    if (!registry.moduleAt(frame.pc)) throw fail('no-module', 'the pc of a Wasm frame lies in no registered module');
    return { frame, entries: [] };
  }
  const { map, module } = found;
  const sp = frame.fp - map.frameSize;
  const functionName = module.functionNames?.get(map.funcIndex) ?? `${module.name}!func${map.funcIndex}`;
  const entries: ScannedEntry[] = [];
  // The frame's mapped area is checked readable once, then read in place through its region.
  const region = map.entries.length && reader.block(sp, map.frameSize) >= 0 ? reader.regionOf(sp) : undefined;
  for (const [k, entry] of map.entries.entries()) {
    if (k === 0 && mutated('v31-map-entry-dropped')) continue;
    if (entry.type !== 'i32') throw fail('not-a-32-bit-ref', `${entry.type} entry at SP+${entry.offset}: v31 GC references are i32`);
    if (entry.offset + 4 > map.frameSize) throw fail('entry-outside-frame', `entry at SP+${entry.offset} lies outside the ${map.frameSize}-byte frame`);
    const slot = sp + entry.offset;
    if (!region) throw fail('unreadable', `cannot read the stack slot at 0x${slot.toString(16)}`);
    entries.push({ type: 'i32', offset: entry.offset, slot, raw: region.data.getUint32(slot - Number(region.address), true) });
  }
  return { frame, map: found, functionName, sp, entries };
}

/**
 * The non-null GC references the frames' user stack maps mark, youngest frame first, each with
 * its stack slot and function (see `scanV31Frame` for the failures).
 */
export function v31StackRoots(machine: Machine, frames: readonly V31Frame[], registry: UserStackMapRegistry, reader = new MemoryReader(machine)): DrcRoot[] {
  const roots: DrcRoot[] = [];
  for (const frame of frames) {
    const scanned = scanV31Frame(machine, frame, registry, reader);
    for (const e of scanned.entries) if (e.raw !== 0) roots.push({ raw: e.raw, slot: e.slot, frame: scanned.functionName });
  }
  return roots;
}
