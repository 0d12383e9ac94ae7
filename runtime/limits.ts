/**
 * VMRuntimeLimits in guest memory: the 48-byte per-store block that compiled code, the
 * trampolines and the libcall stubs read and write through `vmctx + 8`.
 *
 * Who writes what (wasmtime v17):
 * - stack_limit: the host, before the outermost entry into Wasm (SP − max_wasm_stack), restored
 *   afterwards; all-ones means "no Wasm on the stack" and makes every prologue check pass.
 *   Compiled prologues compare SP against it.
 * - fuel_consumed / epoch_deadline: compiled code (when fuel or epochs are on) and the store.
 * - last_wasm_exit_fp / last_wasm_exit_pc: the Wasm-to-host trampolines and the builtin stubs,
 *   each time Wasm calls out. The stack walker (gc/, backtraces) starts from them, so a stale
 *   value there means frames are missed or misread.
 * - last_wasm_entry_sp: the host-to-Wasm trampolines, just before they call Wasm; the walker
 *   stops at the first frame pointer at or above it.
 * The host saves and restores the last three around every entry (runtime/activations.ts).
 */
import { VMRuntimeLimitsLayout } from '../compiler/vmoffsets.ts';
import { readRuntimeLimits, writeRuntimeLimits, type ActivationTriple } from '../gc/walk.ts';
import type { Machine } from '../simulator/machine.ts';
import type { RuntimeHeap } from './heap.ts';

/** usize::MAX: stack_limit's value while no Wasm is running. */
export const STACK_LIMIT_UNSET = (1n << 64n) - 1n;


export class VMRuntimeLimits {
  private constructor(
    readonly machine: Machine,
    /** Guest address of the struct (what `vmctx + 8` holds). */
    readonly address: bigint,
  ) {}

  /** Allocates a fresh block: stack_limit all-ones, everything else 0. */
  static allocate(machine: Machine, heap: RuntimeHeap): VMRuntimeLimits {
    const address = heap.alloc(VMRuntimeLimitsLayout.size, 16);
    const limits = new VMRuntimeLimits(machine, address);
    limits.stackLimit = STACK_LIMIT_UNSET;
    limits.fuelConsumed = 0n;
    limits.epochDeadline = 0n;
    limits.lastWasmExitFp = 0n;
    limits.lastWasmExitPc = 0n;
    limits.lastWasmEntrySp = 0n;
    return limits;
  }

  /** A view of an existing block (e.g. one found through a vmctx). */
  static at(machine: Machine, address: bigint): VMRuntimeLimits {
    return new VMRuntimeLimits(machine, address);
  }

  private get(offset: number): bigint {
    return this.machine.readU64(this.address + BigInt(offset));
  }
  private set(offset: number, value: bigint): void {
    this.machine.writeU64(this.address + BigInt(offset), value);
  }

  get stackLimit(): bigint { return this.get(VMRuntimeLimitsLayout.stackLimit); }
  set stackLimit(v: bigint) { this.set(VMRuntimeLimitsLayout.stackLimit, v); }
  /** i64 in wasmtime: read back as a signed value. */
  get fuelConsumed(): bigint { return BigInt.asIntN(64, this.get(VMRuntimeLimitsLayout.fuelConsumed)); }
  set fuelConsumed(v: bigint) { this.set(VMRuntimeLimitsLayout.fuelConsumed, v); }
  get epochDeadline(): bigint { return this.get(VMRuntimeLimitsLayout.epochDeadline); }
  set epochDeadline(v: bigint) { this.set(VMRuntimeLimitsLayout.epochDeadline, v); }
  get lastWasmExitFp(): bigint { return this.get(VMRuntimeLimitsLayout.lastWasmExitFp); }
  set lastWasmExitFp(v: bigint) { this.set(VMRuntimeLimitsLayout.lastWasmExitFp, v); }
  get lastWasmExitPc(): bigint { return this.get(VMRuntimeLimitsLayout.lastWasmExitPc); }
  set lastWasmExitPc(v: bigint) { this.set(VMRuntimeLimitsLayout.lastWasmExitPc, v); }
  get lastWasmEntrySp(): bigint { return this.get(VMRuntimeLimitsLayout.lastWasmEntrySp); }
  set lastWasmEntrySp(v: bigint) { this.set(VMRuntimeLimitsLayout.lastWasmEntrySp, v); }

  /** The live (exit_pc, exit_fp, entry_sp). */
  triple(): ActivationTriple {
    return readRuntimeLimits(this.machine, this.address);
  }

  setTriple(t: ActivationTriple): void {
    writeRuntimeLimits(this.machine, this.address, t);
  }
}
