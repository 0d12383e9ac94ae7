/**
 * Test and benchmark support: v44 stacks built in guest memory exactly as wasmtime v44 lays them
 * out, and switched as its generated code and runtime switch them — without compiled code.
 *
 * - The initial stack: a Machine stack with an entry trampoline frame; its
 *   VMCommonStackInformation in a host region (wasmtime keeps it in the frame of
 *   `invoke_wasm_and_catch_traps`); VMStoreContext's chain starts as InitialStack(it).
 * - A continuation (`newContinuation`, `cont_new` + `VMContinuationStack::initialize`): a
 *   VMContRef from a pool region and a stack mapped above one unmapped guard page (`len` counts
 *   it); the control context and launch data written below `top` (PC = the start trampoline, FP =
 *   top − 0x10, SP = top − 0x40 − args), state Fresh, parent Absent, last ancestor itself.
 * - `resume` (translate_resume): the parent's limits saved into its common stack information
 *   (state Parent), the last ancestor linked to the parent's chain, the control context *of the
 *   last ancestor* swapped (it now holds where the parent stopped), the store's chain and limits
 *   switched to the continuation; a fresh one gets its start, fiber-start and array-to-Wasm
 *   trampoline frames, the last of which is its entry FP.
 * - `suspend(levels)` (translate_suspend): the running continuation becomes Suspended with the
 *   `levels − 1` parents above it; the last of them is its last ancestor, detached (parent
 *   Absent), and its control context swapped to hold the suspended stack's own PC/FP/SP; the
 *   handler's stack runs again with its saved limits.
 * - `finish` (the function of cont.new returned): state Returned, the parent runs again.
 *
 * Frames are Wasm-shaped (FP chain to the stack's entry FP, return addresses into one fake
 * module) and each depth has a user stack map of `slotsPerFrame` i32 entries, so the collector's
 * walk and scan see exactly the refs pushed. The store's exit record (the exit trampoline's FP,
 * under the youngest frame, and the youngest PC) follows the running stack.
 */
import { Machine, type Region } from '../../simulator/machine.ts';
import { PROT_READ, PROT_WRITE } from '../../simulator/engine.ts';
import { V44StoreContextLayout } from '../../compiler/v44/vmoffsets.ts';
import {
  ContinuationLaunchLayout,
  ControlContextLayout,
  VMContRefLayout,
  VMCommonStackInformationLayout,
} from '../../compiler/v44/stack-switching.ts';
import type { UserStackMapRecord } from '../../compiler/user-stackmaps.ts';
import { UserStackMapRegistry } from '../drc/user-stackmap-registry.ts';
import { ABSENT, readControlContext, readStackChain, readV44StoreContext, writeCommonStackInformation, writeControlContext, writeFreshContRef, writeStackChain, writeV44StoreContext, type StackChainValue } from './structs.ts';
import { V44Collector, drc44ExplanationToJson, renderDrc44Explanation } from './v44-collector.ts';
import { Drc44Heap } from './heap.ts';
import type { Arch } from '../../isa/arch.ts';

/** Where the fake module's text starts (never executed: only its addresses matter). */
const TEXT_START = 0x7000_0000n;
/** Fake host code addresses: the return into the entry trampoline, the start trampoline, fiber_start. */
const HOST_RETURN = 0x7ead_0000n;
export const CONTINUATION_START = 0x7ead_1000n;
const FIBER_START_RETURN = 0x7ead_2000n;
const GUARD = 4096;

const STATES = ['Fresh', 'Running', 'Parent', 'Suspended', 'Returned'] as const;
export type SimStackState = (typeof STATES)[number];

export interface SimStack {
  id: number;
  kind: 'initial' | 'continuation';
  /** The VMContRef (continuations) or the initial stack's VMCommonStackInformation. */
  address: bigint;
  region: Region;
  top: bigint;
  /** FP of the trampoline that entered Wasm on this stack (0 until a fresh continuation starts). */
  entryFp: number;
  /** Refs held by each frame, oldest first. */
  frames: number[][];
}

export interface V44StackWorldOptions {
  slotsPerFrame: number;
  maxFramesPerStack: number;
  maxContinuations: number;
  name?: string;
}

export class V44StackWorld {
  readonly registry = new UserStackMapRegistry();
  readonly storeContext: bigint;
  readonly frameSize: number;
  readonly stacks: SimStack[] = [];
  /** The store's `continuations`: every VMContRef allocated, as the collector is told. */
  readonly continuations: bigint[] = [];
  private readonly pool: Region;
  private readonly byAddress = new Map<bigint, SimStack>();
  private readonly stackBytes: number;

  constructor(
    readonly machine: Machine,
    readonly options: V44StackWorldOptions,
  ) {
    const name = options.name ?? 'v44-world';
    this.frameSize = Math.max(16, Math.ceil((options.slotsPerFrame * 4) / 16) * 16);
    this.stackBytes = Math.ceil((options.maxFramesPerStack * (this.frameSize + 16) + 512) / 4096) * 4096;
    this.storeContext = machine.map(`${name}-store-context`, V44StoreContextLayout.size, PROT_READ | PROT_WRITE).address;
    this.pool = machine.map(`${name}-contrefs`, Math.max(1, options.maxContinuations) * VMContRefLayout.size, PROT_READ | PROT_WRITE);
    const maps: UserStackMapRecord[] = Array.from({ length: options.maxFramesPerStack }, (_, d) => ({
      funcIndex: d,
      textReturnOffset: 4 * (d + 1),
      returnOffset: 4 * (d + 1),
      frameSize: this.frameSize,
      entries: Array.from({ length: options.slotsPerFrame }, (_, k) => ({ type: 'i32' as const, offset: 4 * k })),
    }));
    this.registry.register({ name, textStart: TEXT_START, textSize: 4 * (options.maxFramesPerStack + 1), maps });
    // The initial stack and its VMCommonStackInformation (Running, as `running_default`).
    const host = machine.map(`${name}-host`, VMCommonStackInformationLayout.size, PROT_READ | PROT_WRITE);
    const stack = machine.createStack(`${name}-initial-stack`, this.stackBytes, GUARD);
    const initial: SimStack = { id: 0, kind: 'initial', address: host.address, region: stack.region, top: stack.top, entryFp: Number(stack.top) - 64, frames: [] };
    this.add(initial);
    writeCommonStackInformation(machine, initial.address, { state: 'Running', stackLimit: 0n, lastWasmEntryFp: 0n });
    writeV44StoreContext(machine, this.storeContext, { chain: { kind: 'InitialStack', payload: initial.address }, entryFp: BigInt(initial.entryFp), stackLimit: BigInt(Number(stack.region.address)) });
    this.sync();
  }

  /** The stacks of the store's chain, running first. */
  chain(): SimStack[] {
    return this.chainFrom(readStackChain(this.machine, this.storeContext + BigInt(V44StoreContextLayout.stackChain)) as StackChainValue);
  }

  get running(): SimStack {
    return this.chain()[0];
  }

  stateOf(s: SimStack): SimStackState {
    return STATES[this.machine.readU32(s.address + BigInt(VMCommonStackInformationLayout.state))];
  }

  fpOf(s: SimStack, depth: number): number {
    return s.entryFp - (depth + 1) * (16 + this.frameSize);
  }

  /** A new youngest frame on the running stack holding `refs` (0 = null) in its first slots. */
  push(refs: readonly number[]): void {
    const s = this.running;
    const d = s.frames.length;
    if (d >= this.options.maxFramesPerStack) throw new RangeError('stack is full');
    if (refs.length > this.options.slotsPerFrame) throw new RangeError(`a frame has ${this.options.slotsPerFrame} slots`);
    const fp = this.fpOf(s, d);
    this.machine.writeU64(BigInt(fp), BigInt(d === 0 ? s.entryFp : this.fpOf(s, d - 1)));
    this.machine.writeU64(BigInt(fp + 8), d === 0 ? HOST_RETURN : TEXT_START + BigInt(4 * d));
    const sp = fp - this.frameSize;
    for (let k = 0; k < this.options.slotsPerFrame; k++) this.machine.writeU32(BigInt(sp + 4 * k), refs[k] ?? 0);
    s.frames.push([...refs]);
    this.sync();
  }

  pop(): void {
    const s = this.running;
    if (!s.frames.length) throw new RangeError('no frame to pop');
    s.frames.pop();
    this.sync();
  }

  /** `cont.new`: a Fresh continuation with its own stack (see the file comment). */
  newContinuation(): SimStack {
    const index = this.continuations.length;
    if (index >= this.options.maxContinuations) throw new RangeError('continuation pool is full');
    const address = this.pool.address + BigInt(index * VMContRefLayout.size);
    const stack = this.machine.createStack(`${this.options.name ?? 'v44-world'}-continuation-${index}`, this.stackBytes, GUARD);
    const top = stack.top;
    const s: SimStack = { id: this.stacks.length, kind: 'continuation', address, region: stack.region, top, entryFp: 0, frames: [] };
    this.add(s);
    const m = this.machine;
    writeFreshContRef(m, address, { top, len: BigInt(stack.region.size + GUARD) });
    // Launch data of `initialize` (no parameters or results: args capacity 0, args.data null).
    writeControlContext(m, top, { pc: CONTINUATION_START, fp: top - 0x10n, sp: top - 0x40n });
    m.writeU64(top + BigInt(ControlContextLayout.argsCapacity), 0n);
    m.writeU64(top + BigInt(ContinuationLaunchLayout.funcRef), 0x7ead_3000n);
    m.writeU64(top + BigInt(ContinuationLaunchLayout.callerVmctx), 0x7ead_4000n);
    m.writeU64(top + BigInt(ContinuationLaunchLayout.args), address + BigInt(VMContRefLayout.args));
    m.writeU64(top + BigInt(ContinuationLaunchLayout.returnValueCount), 0n);
    writeCommonStackInformation(m, address, { state: 'Fresh', stackLimit: stack.region.address, lastWasmEntryFp: 0n });
    this.continuations.push(address);
    return s;
  }

  /** `resume c` from the running stack's youngest frame. */
  resume(c: SimStack): void {
    const m = this.machine;
    const state = this.stateOf(c);
    if (c.kind !== 'continuation' || (state !== 'Fresh' && state !== 'Suspended')) throw new RangeError(`cannot resume a ${state} stack`);
    const parent = this.running;
    if (!parent.frames.length) throw new RangeError('resume executes in a Wasm frame: the running stack has none');
    const store = readV44StoreContext(m, this.storeContext);
    writeCommonStackInformation(m, parent.address, { state: 'Parent', stackLimit: store.stackLimit, lastWasmEntryFp: store.entryFp });
    const last = this.byAddress.get(m.readU64(c.address + BigInt(VMContRefLayout.lastAncestor)))!;
    writeStackChain(m, last.address + BigInt(VMContRefLayout.parentChain), store.chain as StackChainValue);
    m.writeU64(c.address + BigInt(VMContRefLayout.lastAncestor), 0n);
    writeControlContext(m, last.top, this.siteOf(parent));
    if (state === 'Fresh') {
      // wasmtime_continuation_start (RBP = top − 0x10) calls fiber_start, which calls the
      // array-to-Wasm trampoline; the trampoline's FP is this stack's entry FP.
      const fiberFp = c.top - 0x40n - 0x10n;
      const trampolineFp = fiberFp - 0x20n;
      m.writeU64(fiberFp, c.top - 0x10n);
      m.writeU64(fiberFp + 8n, CONTINUATION_START + 0x20n);
      m.writeU64(trampolineFp, fiberFp);
      m.writeU64(trampolineFp + 8n, FIBER_START_RETURN);
      c.entryFp = Number(trampolineFp);
      writeCommonStackInformation(m, c.address, { lastWasmEntryFp: trampolineFp });
    }
    const limits = { stackLimit: m.readU64(c.address), entryFp: m.readU64(c.address + 8n) };
    writeCommonStackInformation(m, c.address, { state: 'Running' });
    writeV44StoreContext(m, this.storeContext, { chain: { kind: 'Continuation', payload: c.address }, stackLimit: limits.stackLimit, entryFp: limits.entryFp });
    this.sync();
  }

  /** `suspend` to the handler `levels` stacks up the chain (1: the direct parent). */
  suspend(levels = 1): void {
    const m = this.machine;
    const chain = this.chain();
    const c0 = chain[0];
    if (c0.kind !== 'continuation') throw new RangeError('the initial stack cannot suspend');
    if (!c0.frames.length) throw new RangeError('suspend executes in a Wasm frame: the running continuation has none');
    if (levels < 1 || levels >= chain.length) throw new RangeError(`no handler ${levels} stacks up a chain of ${chain.length}`);
    const end = chain[levels - 1];
    if (end.kind !== 'continuation') throw new RangeError('the initial stack cannot be detached');
    const handler = chain[levels];
    const store = readV44StoreContext(m, this.storeContext);
    const handlerChain = readStackChain(m, end.address + BigInt(VMContRefLayout.parentChain)) as StackChainValue;
    m.writeU64(c0.address + BigInt(VMContRefLayout.lastAncestor), end.address);
    writeCommonStackInformation(m, c0.address, { state: 'Suspended', stackLimit: store.stackLimit, lastWasmEntryFp: store.entryFp });
    writeStackChain(m, end.address + BigInt(VMContRefLayout.parentChain), ABSENT);
    writeControlContext(m, end.top, this.siteOf(c0));
    this.activate(handler, handlerChain);
  }

  /** The function of the running continuation returned (its frames must be gone). */
  finish(): void {
    const m = this.machine;
    const chain = this.chain();
    const c0 = chain[0];
    if (c0.kind !== 'continuation') throw new RangeError('the initial stack does not finish');
    if (c0.frames.length) throw new RangeError('a continuation finishes after its frames returned');
    writeCommonStackInformation(m, c0.address, { state: 'Returned' });
    const parentChain = readStackChain(m, c0.address + BigInt(VMContRefLayout.parentChain)) as StackChainValue;
    writeStackChain(m, c0.address + BigInt(VMContRefLayout.parentChain), ABSENT);
    this.activate(chain[1], parentChain);
  }

  /** Stops telling the collector about a continuation (a store that reclaimed it). */
  forget(c: SimStack): void {
    const i = this.continuations.indexOf(c.address);
    if (i >= 0) this.continuations.splice(i, 1);
  }

  /** The refs on every stack a collection must see: the store's chain and every suspended chain. */
  liveRefs(): number[] {
    const out: number[] = [];
    const visit = (s: SimStack) => s.frames.forEach((f) => out.push(...f.filter((r) => r !== 0)));
    this.chain().forEach(visit);
    for (const address of this.continuations) {
      const s = this.byAddress.get(address)!;
      if (this.stateOf(s) !== 'Suspended') continue;
      for (const t of this.chainFrom({ kind: 'Continuation', payload: s.address })) visit(t);
    }
    return out;
  }

  /** A collector over this world and `heap`. */
  collector(heap: Drc44Heap): V44Collector {
    return new V44Collector({ machine: this.machine, heap, registry: this.registry, storeContext: this.storeContext, continuations: () => this.continuations });
  }

  /** Where a stack's youngest frame stopped (its PC, FP and SP): what a stack switch saves. */
  siteOf(s: SimStack): { pc: bigint; fp: bigint; sp: bigint } {
    const d = s.frames.length;
    const fp = this.fpOf(s, d - 1);
    return { pc: TEXT_START + BigInt(4 * d), fp: BigInt(fp), sp: BigInt(fp - this.frameSize) };
  }

  /** The control context below a continuation's top. */
  controlContext(s: SimStack): { pc: bigint; fp: bigint; sp: bigint } {
    return readControlContext(this.machine, s.top);
  }

  private activate(s: SimStack, chain: StackChainValue): void {
    const m = this.machine;
    writeCommonStackInformation(m, s.address, { state: 'Running' });
    writeV44StoreContext(m, this.storeContext, { chain, stackLimit: m.readU64(s.address), entryFp: m.readU64(s.address + 8n) });
    this.sync();
  }

  private chainFrom(head: StackChainValue): SimStack[] {
    const out: SimStack[] = [];
    for (let c: StackChainValue = head; c.kind !== 'Absent'; ) {
      const s = this.byAddress.get(c.payload)!;
      out.push(s);
      if (c.kind === 'InitialStack') break;
      c = readStackChain(this.machine, s.address + BigInt(VMContRefLayout.parentChain)) as StackChainValue;
    }
    return out;
  }

  private add(s: SimStack): void {
    this.stacks.push(s);
    this.byAddress.set(s.address, s);
  }

  /** The exit record: an exit trampoline frame under the running stack's youngest frame, or none. */
  private sync(): void {
    const s = this.running;
    const d = s.frames.length;
    if (d === 0) {
      writeV44StoreContext(this.machine, this.storeContext, { exitPc: 0n, exitTrampolineFp: 0n });
      if (s.kind === 'initial') writeV44StoreContext(this.machine, this.storeContext, { entryFp: 0n });
      return;
    }
    const site = this.siteOf(s);
    const trampolineFp = site.sp - 16n;
    this.machine.writeU64(trampolineFp, site.fp);
    this.machine.writeU64(trampolineFp + 8n, site.pc);
    writeV44StoreContext(this.machine, this.storeContext, { exitPc: site.pc, exitTrampolineFp: trampolineFp, entryFp: BigInt(s.kind === 'initial' ? s.entryFp : this.machine.readU64(this.storeContext + BigInt(V44StoreContextLayout.lastWasmEntryFp))) });
  }
}

/**
 * The scenario of docs/gc.md §8 (and gc/drc44/explain.test.ts): a producer suspended holding
 * `item`, a task suspended two levels up taking its scheduler along, the consumer on the initial
 * stack collecting after it dropped `consumed`. Returns the explanation's text and JSON.
 */
export async function generatorScenario(arch: Arch): Promise<{ text: string; json: unknown }> {
  const m = await Machine.create({ arch });
  try {
    const heap = new Drc44Heap(m, { maxCapacity: 65536, initialPages: 1 });
    const w = new V44StackWorld(m, { slotsPerFrame: 2, maxFramesPerStack: 4, maxContinuations: 3, name: 'gen' });
    const ref = (v: string) => {
      const r = heap.allocExternRef(v)!;
      heap.exposeGcRefToWasm(r);
      return r;
    };
    const [item, task, consumed] = ['item', 'task', 'consumed'].map(ref);
    // The consumer on the initial stack resumes the producer, which suspends holding `item`.
    w.push([consumed]);
    const producer = w.newContinuation();
    w.resume(producer);
    w.push([item]);
    w.suspend();
    // A scheduler continuation runs a task that suspends two levels up, taking the scheduler along.
    const scheduler = w.newContinuation();
    w.resume(scheduler);
    w.push([]);
    const worker = w.newContinuation();
    w.resume(worker);
    w.push([task, item]);
    w.suspend(2);
    // The consumer is done with `consumed`; the collection runs from its next call out.
    w.pop();
    w.push([]);
    const { explanation } = w.collector(heap).collect({ explain: true });
    return { text: renderDrc44Explanation(explanation!), json: drc44ExplanationToJson(explanation!) };
  } finally {
    m.close();
  }
}

