/**
 * The v44 stack walk over emulated memory: every Wasm frame of every live stack — the running
 * stack, its parents, and every suspended continuation with its parents — each frame labelled
 * with the stack it lies on.
 *
 * wasmtime v44.0.0 (crates/wasmtime/src/runtime/vm/traphandlers/backtrace.rs and
 * crates/wasmtime/src/runtime/store.rs `trace_wasm_stack_roots` /
 * `trace_wasm_continuation_roots`):
 * - The live activation comes from VMStoreContext: the exit PC (+56), the youngest Wasm FP = the
 *   word at the exit *trampoline's* FP (+48), the entry trampoline's FP (+72) and the store's
 *   stack chain (+88), whose head is the running stack. Older activations (interrupted entries)
 *   carry the chain, exit PC, exit FP and entry FP they saved; the first with PC 0 ends the list.
 * - `trace_through_continuations`: the running stack is walked from the exit record. Then, down
 *   the chain, continuation i's control context (below its stack top: PC at -8, FP at -16)
 *   says where its parent — continuation i+1, or the initial stack — stopped to resume it, and
 *   the parent's saved `VMStackLimits.last_wasm_entry_fp` ends that parent's frames.
 * - Within one activation frames follow [FP] and [FP+8] while fp != entry fp (v31's walk:
 *   gc/drc/walk.ts), with v44's assertions.
 * - Suspended continuations: a `suspend` swaps the control context of the chain's *last
 *   ancestor* (the end of the detached chain, `VMContRef.last_ancestor`), so the suspended
 *   stack's own PC and FP are there, while each intermediate continuation's control context
 *   still points into its parent, as in a running chain.
 *
 * Two places where stackscope does what v44.0.0's comments describe rather than what its code
 * would do: v44's `trace_suspended_continuation` reads the suspended continuation's *own*
 * control context (right only when it is its own last ancestor), and its
 * `trace_through_continuations` asserts one more VMStackLimits than continuations, which a
 * detached chain (ending in Absent) never has — read, not run: a collection with a suspended
 * continuation would panic there. Here the walk follows the chain as the layouts define it.
 *
 * Every inconsistency — an unknown discriminant, a null or unreadable payload, a cycle, a state
 * that cannot be where it is, a suspended chain that is not detached, a zero control context, a
 * frame chain breaking v44's assertions — is a `V44StackWalkError` naming the stack and frame.
 */
import type { Machine } from '../../simulator/machine.ts';
import { hex } from '../../isa/error.ts';
import { GcError } from '../errors.ts';
import { MemoryReader } from '../walk.ts';
import { V31StackWalkError, walkV31 } from '../drc/walk.ts';
import { ControlContextLayout, type StackStateName } from '../../compiler/v44/stack-switching.ts';
import { readCommonStackInformation, readContRef, readV44StoreContext, type CommonStackInformation, type ContRefView, type StackChainValue } from './structs.ts';
import { mutated } from '../../compiler/mutants.ts';

export type V44StackWalkFailure =
  | 'bad-terminator' | 'absent-chain' | 'bad-discriminant' | 'null-payload' | 'chain-cycle' | 'chain-ends-absent'
  | 'bad-state' | 'bad-last-ancestor' | 'suspended-chain-not-detached' | 'zero-control-context' | 'unreadable'
  // Frame-level failures (v31's walk with v44's assertions).
  | 'zero-fp' | 'zero-entry-fp' | 'fp-above-entry-fp' | 'fp-misaligned' | 'fp-not-increasing' | 'too-many-frames'
  // A frame's user stack map (v31's reader): a PC in no module, an entry outside the frame or not 32-bit.
  | 'no-module' | 'entry-outside-frame' | 'not-a-32-bit-ref';

/** What kind of stack, in which role. */
export interface V44Stack {
  index: number;
  kind: 'initial' | 'continuation';
  /** The VMContRef, or the initial stack's VMCommonStackInformation. */
  address: bigint;
  state: StackStateName;
  /** running: head of a chain; parent: resumed a younger stack of a live chain; suspended: stopped at suspend/switch. */
  role: 'running' | 'parent' | 'suspended';
  /** Which chain it was found on: the store's, an older activation's, or a suspended continuation's. */
  chain: 'store' | `older ${number}` | `suspended ${string}`;
  /** Continuation stacks: [top − len, top) including the guard page. */
  top?: bigint;
  len?: bigint;
}

export interface V44Activation {
  stack: number;
  exitPc: bigint;
  exitFp: bigint;
  entryFp: bigint;
}

export interface V44Frame {
  activation: number;
  stack: number;
  /** Frame index within its activation, 0 = youngest. */
  index: number;
  pc: number;
  fp: number;
}

export interface V44Walk {
  stacks: V44Stack[];
  activations: V44Activation[];
  frames: V44Frame[];
}

/** What an interrupted entry saved (CallThreadState's old_* fields). */
export interface V44SavedActivation {
  chain: StackChainValue;
  exitPc: bigint;
  /** The youngest Wasm FP (not the trampoline's). */
  exitFp: bigint;
  entryFp: bigint;
}

export interface V44WalkInputs {
  storeContext: bigint;
  olderActivations?: readonly V44SavedActivation[];
  /** Every VMContRef the store allocated (the store's `continuations`); the suspended ones are walked. */
  continuations?: readonly bigint[];
}

/** A chain, stack or frame that breaks the v44 layouts' invariants. */
export class V44StackWalkError extends GcError {
  override name = 'V44StackWalkError';
  constructor(
    readonly failure: V44StackWalkFailure,
    /** Where: `store chain`, `older activation N`, or `suspended continuation 0x…`, plus the stack. */
    readonly where: string,
    readonly address: bigint,
    detail: string,
    readonly frame?: { activation: number; index: number; pc: bigint; fp: bigint; entryFp: bigint },
  ) {
    super(`v44 stack walk: ${failure} in ${where} at ${hex(address)}${frame ? ` frame ${frame.index} (pc ${hex(frame.pc)}, fp ${hex(frame.fp)}, entry fp ${hex(frame.entryFp)})` : ''}: ${detail}`);
  }
}

/** More links than this is a cycle the visited set missed (it cannot: a guard for corrupt memory). */
const MAX_CHAIN = 1 << 16;

class Walker {
  readonly stacks: V44Stack[] = [];
  readonly activations: V44Activation[] = [];
  readonly frames: V44Frame[] = [];

  constructor(
    readonly machine: Machine,
    readonly reader: MemoryReader,
  ) {}

  private read<T>(where: string, address: bigint, what: string, f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof V44StackWalkError) throw e;
      throw new V44StackWalkError('unreadable', where, address, `cannot read the ${what}: ${(e as Error).message}`);
    }
  }

  /** The chain's continuations (youngest first) and the stack it ends with. */
  private links(where: string, chain: StackChainValue | { kind: number; payload: bigint }): { conts: ContRefView[]; initial?: { address: bigint; csi: CommonStackInformation } } {
    const conts: ContRefView[] = [];
    const seen = new Set<bigint>();
    let cur = chain;
    for (;;) {
      if (typeof cur.kind === 'number') throw new V44StackWalkError('bad-discriminant', where, cur.payload, `VMStackChain discriminant ${cur.kind} is none of Absent 0, InitialStack 1, Continuation 2`);
      if (cur.kind === 'Absent') return { conts };
      if (cur.payload === 0n) throw new V44StackWalkError('null-payload', where, 0n, `a ${cur.kind} link with a null pointer`);
      if (cur.kind === 'InitialStack') {
        const address = cur.payload;
        return { conts, initial: { address, csi: this.read(where, address, 'initial stack VMCommonStackInformation', () => readCommonStackInformation(this.machine, address)) } };
      }
      const address = cur.payload;
      if (seen.has(address) || conts.length >= MAX_CHAIN) throw new V44StackWalkError('chain-cycle', where, address, `VMContRef ${hex(address)} appears twice in one chain`);
      seen.add(address);
      const view = this.read(where, address, 'VMContRef', () => readContRef(this.machine, address));
      conts.push(view);
      cur = view.parent;
    }
  }

  private addStack(s: Omit<V44Stack, 'index'>): number {
    this.stacks.push({ index: this.stacks.length, ...s });
    return this.stacks.length - 1;
  }

  private expectState(where: string, address: bigint, actual: StackStateName | number, expected: StackStateName, role: string): StackStateName {
    if (actual !== expected) throw new V44StackWalkError('bad-state', where, address, `a ${role} stack must be ${expected}, this one is ${typeof actual === 'number' ? `state ${actual}` : actual}`);
    return expected;
  }

  private controlContext(where: string, c: ContRefView): { pc: bigint; fp: bigint } {
    const pc = this.read(where, c.stackTop, 'control context', () => this.machine.readU64(c.stackTop + BigInt(ControlContextLayout.pc)));
    const fp = this.read(where, c.stackTop, 'control context', () => this.machine.readU64(c.stackTop + BigInt(ControlContextLayout.fp)));
    if (pc === 0n || fp === 0n) throw new V44StackWalkError('zero-control-context', where, c.address, `the control context below top ${hex(c.stackTop)} holds pc ${hex(pc)}, fp ${hex(fp)}`);
    return { pc, fp };
  }

  private frameWalk(where: string, stack: number, exitPc: bigint, exitFp: bigint, entryFp: bigint): void {
    const activation = this.activations.length;
    this.activations.push({ stack, exitPc, exitFp, entryFp });
    try {
      for (const f of walkV31(this.machine, { exitPc, exitFp, entryFp }, [], this.reader)) this.frames.push({ activation, stack, index: f.index, pc: f.pc, fp: f.fp });
    } catch (e) {
      if (!(e instanceof V31StackWalkError)) throw e;
      const failure = e.failure === 'bad-terminator' ? 'zero-control-context' : (e.failure as V44StackWalkFailure);
      throw new V44StackWalkError(failure, `${where}, stack ${stack}`, e.fp, e.message.replace(/^v31 stack walk: /, ''), { activation, index: e.frame, pc: e.pc, fp: e.fp, entryFp });
    }
  }

  /** `trace_through_continuations` for a chain that ends with the initial stack. */
  liveChain(where: string, origin: V44Stack['chain'], chain: StackChainValue | { kind: number; payload: bigint }, exitPc: bigint, exitFp: bigint, entryFp: bigint): void {
    if (chain.kind === 'Absent') throw new V44StackWalkError('absent-chain', where, 0n, 'Wasm is on the stack but the stack chain is Absent');
    const { conts, initial } = this.links(where, chain);
    if (!initial) throw new V44StackWalkError('chain-ends-absent', where, conts[conts.length - 1]?.address ?? 0n, 'a live chain must end with the initial stack, not Absent');
    const ids = conts.map((c, i) =>
      this.addStack({ kind: 'continuation', address: c.address, state: this.expectState(where, c.address, c.csi.state, i === 0 ? 'Running' : 'Parent', i === 0 ? 'running' : 'parent'), role: i === 0 ? 'running' : 'parent', chain: origin, top: c.stackTop, len: c.stackLen }),
    );
    const first = conts.length === 0;
    ids.push(this.addStack({ kind: 'initial', address: initial.address, state: this.expectState(where, initial.address, initial.csi.state, first ? 'Running' : 'Parent', first ? 'running' : 'parent'), role: first ? 'running' : 'parent', chain: origin }));
    this.frameWalk(where, ids[0], exitPc, exitFp, entryFp);
    if (mutated('v44-parent-stack-skipped')) return;
    for (let i = 0; i < conts.length; i++) {
      const ctx = this.controlContext(where, conts[i]);
      const parentEntryFp = i + 1 < conts.length ? conts[i + 1].csi.lastWasmEntryFp : initial.csi.lastWasmEntryFp;
      this.frameWalk(where, ids[i + 1], ctx.pc, ctx.fp, parentEntryFp);
    }
  }

  /** A suspended continuation and the parents it took along (up to its last ancestor). */
  suspended(address: bigint): void {
    const where = `suspended continuation ${hex(address)}`;
    const origin = `suspended ${hex(address)}` as const;
    const { conts, initial } = this.links(where, { kind: 'Continuation', payload: address });
    if (initial) throw new V44StackWalkError('suspended-chain-not-detached', where, initial.address, 'a suspended continuation\'s chain must end with Absent, not the initial stack');
    const last = conts[conts.length - 1];
    if (conts[0].lastAncestor !== last.address) {
      throw new V44StackWalkError('bad-last-ancestor', where, conts[0].lastAncestor, `last_ancestor is ${hex(conts[0].lastAncestor)}, but the chain ends at ${hex(last.address)}`);
    }
    const ids = conts.map((c, i) =>
      this.addStack({ kind: 'continuation', address: c.address, state: this.expectState(where, c.address, c.csi.state, i === 0 ? 'Suspended' : 'Parent', i === 0 ? 'suspended' : 'parent'), role: i === 0 ? 'suspended' : 'parent', chain: origin, top: c.stackTop, len: c.stackLen }),
    );
    const own = this.controlContext(where, last);
    const first = this.frames.length;
    this.frameWalk(where, ids[0], own.pc, own.fp, conts[0].csi.lastWasmEntryFp);
    if (mutated('v44-suspended-stack-top-frame-only')) this.frames.length = Math.min(this.frames.length, first + 1);
    for (let i = 0; i + 1 < conts.length; i++) {
      const ctx = this.controlContext(where, conts[i]);
      this.frameWalk(where, ids[i + 1], ctx.pc, ctx.fp, conts[i + 1].csi.lastWasmEntryFp);
    }
  }
}

/**
 * Every Wasm frame of every live stack, youngest first within each activation: the store's
 * chain, the older activations' chains, then each suspended continuation in `continuations`.
 * @throws V44StackWalkError
 */
export function walkV44(machine: Machine, inputs: V44WalkInputs, reader = new MemoryReader(machine)): V44Walk {
  const w = new Walker(machine, reader);
  const live = readV44StoreContext(machine, inputs.storeContext);
  let exitFp = 0n;
  if (live.exitTrampolineFp !== 0n) {
    const word = reader.word(Number(live.exitTrampolineFp));
    if (word === undefined) throw new V44StackWalkError('unreadable', 'store chain', live.exitTrampolineFp, 'cannot read the Wasm FP the exit trampoline saved');
    exitFp = BigInt(word);
  }
  const all: (V44SavedActivation & { where: string; origin: V44Stack['chain'] })[] = [
    { chain: live.chain as StackChainValue, exitPc: live.exitPc, exitFp, entryFp: live.entryFp, where: 'store chain', origin: 'store' },
    ...(inputs.olderActivations ?? []).map((a, i) => ({ ...a, where: `older activation ${i + 1}`, origin: `older ${i + 1}` as const })),
  ];
  for (const a of all) {
    if (a.exitPc === 0n) {
      if (a.exitFp !== 0n || a.entryFp !== 0n) throw new V44StackWalkError('bad-terminator', a.where, a.exitFp, 'an activation with pc 0 must have fp 0 and entry fp 0');
      break;
    }
    w.liveChain(a.where, a.origin, a.chain, a.exitPc, a.exitFp, a.entryFp);
  }
  const seen = new Set<bigint>();
  for (const c of inputs.continuations ?? []) {
    if (seen.has(c)) continue;
    seen.add(c);
    const csi = (() => {
      try {
        return readCommonStackInformation(machine, c);
      } catch (e) {
        throw new V44StackWalkError('unreadable', `continuation ${hex(c)}`, c, `cannot read the VMContRef: ${(e as Error).message}`);
      }
    })();
    if (typeof csi.state === 'number') throw new V44StackWalkError('bad-state', `continuation ${hex(c)}`, c, `state ${csi.state} is no VMStackState`);
    if (csi.state === 'Suspended' && !mutated('v44-suspended-stack-skipped')) w.suspended(c);
  }
  return { stacks: w.stacks, activations: w.activations, frames: w.frames };
}

/** One line naming a stack, for messages and explanations. */
export function describeStack(s: V44Stack): string {
  const what = s.kind === 'initial' ? `initial stack (VMCommonStackInformation ${hex(s.address)})` : `continuation ${hex(s.address)}`;
  return `#${s.index} ${what}, ${s.role} (${s.state}), ${s.chain === 'store' ? "store's chain" : s.chain.startsWith('older') ? `${s.chain} activation's chain` : `chain of the ${s.chain} continuation`}`;
}
