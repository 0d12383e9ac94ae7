/**
 * Reading and writing v44's stack-switching structs in guest memory, at the offsets of
 * compiler/v44/stack-switching.ts: the VMStackChain (in VMStoreContext at +88, in each VMContRef
 * at +48), VMCommonStackInformation, VMContRef and the control context below a continuation
 * stack's top. The walk (walk.ts) reads through these; the runtime and the tests write with them.
 */
import type { Machine } from '../../simulator/machine.ts';
import { V44StoreContextLayout } from '../../compiler/v44/vmoffsets.ts';
import {
  ContinuationStackAllocator,
  ControlContextLayout,
  StackChainDiscriminant,
  StackState,
  VMCommonStackInformationLayout,
  VMContRefLayout,
  VMContinuationStackLayout,
  VMHostArrayLayout,
  VMStackChainLayout,
  VMStackLimitsLayout,
  type StackChainKind,
  type StackStateName,
} from '../../compiler/v44/stack-switching.ts';

/** A VMStackChain value: which stack, and the pointer it carries (0 for Absent). */
export interface StackChainValue {
  kind: StackChainKind;
  payload: bigint;
}

export const ABSENT: StackChainValue = Object.freeze({ kind: 'Absent', payload: 0n });

const CHAIN_KINDS = Object.keys(StackChainDiscriminant) as StackChainKind[];
const STATE_NAMES = Object.keys(StackState) as StackStateName[];

/** The chain at `address`; an unknown discriminant comes back as its number. */
export function readStackChain(machine: Machine, address: bigint): StackChainValue | { kind: number; payload: bigint } {
  const d = machine.readU64(address + BigInt(VMStackChainLayout.discriminant));
  const payload = machine.readU64(address + BigInt(VMStackChainLayout.payload));
  const kind = CHAIN_KINDS.find((k) => BigInt(StackChainDiscriminant[k]) === d);
  return kind === undefined ? { kind: Number(d), payload } : { kind, payload: kind === 'Absent' ? 0n : payload };
}

export function writeStackChain(machine: Machine, address: bigint, chain: StackChainValue): void {
  machine.writeU64(address + BigInt(VMStackChainLayout.discriminant), BigInt(StackChainDiscriminant[chain.kind]));
  machine.writeU64(address + BigInt(VMStackChainLayout.payload), chain.kind === 'Absent' ? 0n : chain.payload);
}

/**
 * The fields of a VMContRef that has not run yet, as a new continuation starts out, with the stack it
 * was given: no parent, itself as its last ancestor, revision 0, and its continuation stack (top,
 * length including the guard, mmap allocator). The rest of the struct is left as it is.
 */
export function writeFreshContRef(machine: Machine, address: bigint, stack: { top: bigint; len: bigint }): void {
  const put = (offset: number, v: bigint) => machine.writeU64(address + BigInt(offset), v);
  writeStackChain(machine, address + BigInt(VMContRefLayout.parentChain), ABSENT);
  put(VMContRefLayout.lastAncestor, address);
  put(VMContRefLayout.revision, 0n);
  put(VMContRefLayout.stack + VMContinuationStackLayout.top, stack.top);
  put(VMContRefLayout.stack + VMContinuationStackLayout.len, stack.len);
  machine.writeBytes(address + BigInt(VMContRefLayout.stack + VMContinuationStackLayout.allocator), Uint8Array.of(ContinuationStackAllocator.Mmap));
}

/** A VMCommonStackInformation as read. */
export interface CommonStackInformation {
  stackLimit: bigint;
  lastWasmEntryFp: bigint;
  /** The state's name, or its raw value when it is no VMStackState. */
  state: StackStateName | number;
  handlers: { length: number; capacity: number; data: bigint };
  firstSwitchHandlerIndex: number;
}

export function readCommonStackInformation(machine: Machine, address: bigint): CommonStackInformation {
  const limits = address + BigInt(VMCommonStackInformationLayout.limits);
  const raw = machine.readU32(address + BigInt(VMCommonStackInformationLayout.state));
  const handlers = address + BigInt(VMCommonStackInformationLayout.handlers);
  return {
    stackLimit: machine.readU64(limits + BigInt(VMStackLimitsLayout.stackLimit)),
    lastWasmEntryFp: machine.readU64(limits + BigInt(VMStackLimitsLayout.lastWasmEntryFp)),
    state: STATE_NAMES.find((s) => StackState[s] === raw) ?? raw,
    handlers: {
      length: machine.readU32(handlers + BigInt(VMHostArrayLayout.length)),
      capacity: machine.readU32(handlers + BigInt(VMHostArrayLayout.capacity)),
      data: machine.readU64(handlers + BigInt(VMHostArrayLayout.data)),
    },
    firstSwitchHandlerIndex: machine.readU32(address + BigInt(VMCommonStackInformationLayout.firstSwitchHandlerIndex)),
  };
}

export function writeCommonStackInformation(machine: Machine, address: bigint, csi: Partial<Pick<CommonStackInformation, 'stackLimit' | 'lastWasmEntryFp'>> & { state?: StackStateName }): void {
  const limits = address + BigInt(VMCommonStackInformationLayout.limits);
  if (csi.stackLimit !== undefined) machine.writeU64(limits + BigInt(VMStackLimitsLayout.stackLimit), csi.stackLimit);
  if (csi.lastWasmEntryFp !== undefined) machine.writeU64(limits + BigInt(VMStackLimitsLayout.lastWasmEntryFp), csi.lastWasmEntryFp);
  if (csi.state !== undefined) machine.writeU32(address + BigInt(VMCommonStackInformationLayout.state), StackState[csi.state]);
}

/** The fields of a VMContRef the walk needs. */
export interface ContRefView {
  address: bigint;
  csi: CommonStackInformation;
  parent: StackChainValue | { kind: number; payload: bigint };
  lastAncestor: bigint;
  revision: bigint;
  stackTop: bigint;
  stackLen: bigint;
}

export function readContRef(machine: Machine, address: bigint): ContRefView {
  const stack = address + BigInt(VMContRefLayout.stack);
  return {
    address,
    csi: readCommonStackInformation(machine, address + BigInt(VMContRefLayout.commonStackInformation)),
    parent: readStackChain(machine, address + BigInt(VMContRefLayout.parentChain)),
    lastAncestor: machine.readU64(address + BigInt(VMContRefLayout.lastAncestor)),
    revision: machine.readU64(address + BigInt(VMContRefLayout.revision)),
    stackTop: machine.readU64(stack + BigInt(VMContinuationStackLayout.top)),
    stackLen: machine.readU64(stack + BigInt(VMContinuationStackLayout.len)),
  };
}

/** The saved PC, FP and SP of a continuation stack's control context (`top` is the stack's top). */
export function readControlContext(machine: Machine, top: bigint): { pc: bigint; fp: bigint; sp: bigint } {
  return {
    pc: machine.readU64(top + BigInt(ControlContextLayout.pc)),
    fp: machine.readU64(top + BigInt(ControlContextLayout.fp)),
    sp: machine.readU64(top + BigInt(ControlContextLayout.sp)),
  };
}

export function writeControlContext(machine: Machine, top: bigint, ctx: { pc: bigint; fp: bigint; sp: bigint }): void {
  machine.writeU64(top + BigInt(ControlContextLayout.pc), ctx.pc);
  machine.writeU64(top + BigInt(ControlContextLayout.fp), ctx.fp);
  machine.writeU64(top + BigInt(ControlContextLayout.sp), ctx.sp);
}

/** The live records of a v44 VMStoreContext the walk reads. */
export interface V44StoreRecords {
  exitTrampolineFp: bigint;
  exitPc: bigint;
  entrySp: bigint;
  entryFp: bigint;
  stackLimit: bigint;
  chain: StackChainValue | { kind: number; payload: bigint };
}

export function readV44StoreContext(machine: Machine, storeContext: bigint): V44StoreRecords {
  const at = (o: number) => machine.readU64(storeContext + BigInt(o));
  return {
    exitTrampolineFp: at(V44StoreContextLayout.lastWasmExitTrampolineFp),
    exitPc: at(V44StoreContextLayout.lastWasmExitPc),
    entrySp: at(V44StoreContextLayout.lastWasmEntrySp),
    entryFp: at(V44StoreContextLayout.lastWasmEntryFp),
    stackLimit: at(V44StoreContextLayout.stackLimit),
    chain: readStackChain(machine, storeContext + BigInt(V44StoreContextLayout.stackChain)),
  };
}

export function writeV44StoreContext(machine: Machine, storeContext: bigint, r: Partial<V44StoreRecords> & { chain?: StackChainValue }): void {
  const put = (o: number, v: bigint | undefined) => v !== undefined && machine.writeU64(storeContext + BigInt(o), v);
  put(V44StoreContextLayout.lastWasmExitTrampolineFp, r.exitTrampolineFp);
  put(V44StoreContextLayout.lastWasmExitPc, r.exitPc);
  put(V44StoreContextLayout.lastWasmEntrySp, r.entrySp);
  put(V44StoreContextLayout.lastWasmEntryFp, r.entryFp);
  put(V44StoreContextLayout.stackLimit, r.stackLimit);
  if (r.chain) writeStackChain(machine, storeContext + BigInt(V44StoreContextLayout.stackChain), r.chain);
}
