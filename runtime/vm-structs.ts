/**
 * Writes and reads of the small VM structs the runtime fills in guest memory, each through its
 * layout in compiler/vmoffsets.ts (the one source of truth the compiler bakes into code), so no
 * other file spells a field offset or a struct size: VMFuncRef, the host-function contexts,
 * ValRaw slots of an array call, and VMGlobalDefinition storage.
 */
import {
  VMFuncRefLayout, VMGlobalDefinitionLayout, VMHostFuncContextLayout, ValRawLayout,
} from '../compiler/vmoffsets.ts';
import type { Machine } from '../simulator/machine.ts';

/** The fields of a VMFuncRef. */
export interface VMFuncRefFields {
  readonly nativeCall: bigint;
  readonly arrayCall: bigint;
  readonly wasmCall: bigint;
  /** A VMSharedSignatureIndex (u32); the 4 bytes of padding after it are written as zero. */
  readonly typeIndex: number;
  readonly vmctx: bigint;
}

export function writeVMFuncRef(machine: Machine, address: bigint, f: VMFuncRefFields): void {
  machine.writeU64(address + BigInt(VMFuncRefLayout.nativeCall), f.nativeCall);
  machine.writeU64(address + BigInt(VMFuncRefLayout.arrayCall), f.arrayCall);
  machine.writeU64(address + BigInt(VMFuncRefLayout.wasmCall), f.wasmCall);
  machine.writeU64(address + BigInt(VMFuncRefLayout.typeIndex), BigInt(f.typeIndex)); // u32 + 4 bytes of padding
  machine.writeU64(address + BigInt(VMFuncRefLayout.vmctx), f.vmctx);
}

export function readVMFuncRef(machine: Machine, address: bigint): VMFuncRefFields {
  return {
    nativeCall: machine.readU64(address + BigInt(VMFuncRefLayout.nativeCall)),
    arrayCall: machine.readU64(address + BigInt(VMFuncRefLayout.arrayCall)),
    wasmCall: machine.readU64(address + BigInt(VMFuncRefLayout.wasmCall)),
    typeIndex: machine.readU32(address + BigInt(VMFuncRefLayout.typeIndex)),
    vmctx: machine.readU64(address + BigInt(VMFuncRefLayout.vmctx)),
  };
}

/**
 * A VMNativeCallHostFuncContext or VMArrayCallHostFuncContext at `ctx` (`magic` says which):
 * its inline VMFuncRef, whose vmctx is the context itself, and the store id as host state.
 * Returns the VMFuncRef's address.
 */
export function writeHostFuncContext(
  machine: Machine, ctx: bigint, magic: number, funcRef: Omit<VMFuncRefFields, 'vmctx'>, hostState: bigint,
): bigint {
  const address = ctx + BigInt(VMHostFuncContextLayout.funcRef);
  machine.writeU32(ctx + BigInt(VMHostFuncContextLayout.magic), magic);
  writeVMFuncRef(machine, address, { ...funcRef, vmctx: ctx });
  machine.writeU64(ctx + BigInt(VMHostFuncContextLayout.hostState), hostState);
  return address;
}

/** Guest address of slot `index` of the ValRaw buffer at `buffer`. */
export function valRawSlot(buffer: bigint, index: number): bigint {
  return buffer + BigInt(ValRawLayout.size * index);
}

/** Slot `index` of a ValRaw buffer: the value in the low 8 bytes (little-endian). */
export function readValRaw(machine: Machine, buffer: bigint, index: number): bigint {
  return machine.readU64(valRawSlot(buffer, index));
}

/** Writes slot `index` of a ValRaw buffer: the value in the low 8 bytes, the high 8 zero. */
export function writeValRaw(machine: Machine, buffer: bigint, index: number, raw: bigint): void {
  const at = valRawSlot(buffer, index);
  machine.writeU64(at, raw);
  machine.writeU64(at + 8n, 0n);
}

/** A VMGlobalDefinition's storage: the value in the low 8 bytes, the rest of the 16 zero. */
export function writeGlobalStorage(machine: Machine, address: bigint, raw: bigint): void {
  const at = address + BigInt(VMGlobalDefinitionLayout.storage);
  machine.writeU64(at + 8n, 0n);
  machine.writeU64(at, raw);
}
