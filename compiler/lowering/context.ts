/**
 * What the stages of compileFunction share while one function is lowered: the assembler, the
 * module and its VMOffsets, the frame, the value locations, the call sites being recorded, the
 * control stack and the index of the instruction being lowered.
 */
import type { Label } from '../../isa/code-buffer.ts';
import type { BuiltinName } from '../builtins.ts';
import type { CallOffsets, Cond, Loc, MacroAssembler, Operand } from '../codegen/common.ts';
import type { DefinedFunction, ValType, WasmModule } from '../frontend/module.ts';
import type { ExternrefLiveness } from '../liveness.ts';
import type { CodegenEra, LoweringOffsets } from './era.ts';
import type { MemoryTunables } from '../memory-tunables.ts';
import type { FunctionFrame } from './frame.ts';
import type { BlockValues, SafepointSpill, Values } from './values.ts';

/** What kind of callee a call site has. */
export type CallSiteKind = 'call' | 'call-import' | 'call-indirect' | 'libcall';

export interface CallSite {
  readonly kind: CallSiteKind;
  /** Function index (call, call-import), type index (call-indirect) or builtin index (libcall). */
  readonly callee: number;
  /** Offset of the call instruction within the function. */
  readonly callOffset: number;
  /** Return-address offset within the function: the key of the stack map. */
  readonly returnOffset: number;
  /** Index of the Wasm instruction that made the call. */
  readonly instrIndex: number;
  /** SP-relative byte offsets of the slots holding live externrefs, ascending. */
  readonly liveSlots: readonly number[];
  /**
   * References in registers that survive the call (`--regalloc linear-scan`): each is stored to
   * its slot before the call (at `spillOffsets`) and loaded back after it (at `reloadOffsets`).
   */
  readonly spills: readonly SafepointSpill[];
  readonly spillOffsets: readonly number[];
  readonly reloadOffsets: readonly number[];
}

/** The spill and reload offsets of a call site without spills (frozen: shared by all of them). */
const NO_OFFSETS: readonly number[] = Object.freeze([]);

/** Records the function's call sites, in code order. */
export class CallRecorder {
  readonly sites: CallSite[] = [];

  constructor(
    private readonly m: MacroAssembler,
    private readonly builtinsOffset: number,
    private readonly values: Values,
    /** Locals that survive a call when live after it (externrefs only for slots, all for registers). */
    private readonly liveness: ExternrefLiveness,
    /** The index of the Wasm instruction being lowered. */
    private readonly instrIndex: () => number,
    /** The era's builtin index of a builtin name (lowering/era.ts). */
    private readonly builtinIndex: (name: BuiltinName) => number,
  ) {}

  /**
   * Emits a call with `emit` and records its site: operand-stack entries below `liveHeight` and
   * the locals live after the instruction survive it. References among them that are in
   * registers are spilled to their slots before the call and reloaded after it.
   */
  call(kind: CallSiteKind, callee: number, liveHeight: number, emit: () => CallOffsets): void {
    const instrIndex = this.instrIndex();
    const { liveSlots, spills } = this.values.safepoint(liveHeight, this.liveness.liveAfter(instrIndex));
    // Without spills (every call site with `none`) both offset lists are one shared empty list.
    const spillOffsets = spills.length === 0 ? NO_OFFSETS : spills.map((s) => {
      const at = this.m.offset();
      this.m.copySlot(s.slot, s.reg);
      return at;
    });
    const { callOffset, returnOffset } = emit();
    const reloadOffsets = spills.length === 0 ? NO_OFFSETS : spills.map((s) => {
      const at = this.m.offset();
      this.m.copySlot(s.reg, s.slot);
      return at;
    });
    this.sites.push({ kind, callee, callOffset, returnOffset, instrIndex, liveSlots, spills, spillOffsets, reloadOffsets });
  }

  /** Calls builtin `name` with the platform ABI and records the call site. */
  libcall(name: BuiltinName, args: Operand[], liveHeight: number): void {
    const index = this.builtinIndex(name);
    this.call('libcall', index, liveHeight, () => this.m.callBuiltin(this.builtinsOffset, index, args));
  }
}

/** An open block, loop or if (or the function body itself) on the control stack. */
export interface ControlFrame {
  readonly kind: 'function' | 'block' | 'loop' | 'if';
  /** Index of the instruction that opened it (-1 for the function's frame). */
  readonly opener: number;
  readonly label: Label;
  elseLabel: Label | null;
  /** Operand-stack height below the block's parameters. */
  readonly base: number;
  readonly params: readonly ValType[];
  readonly results: readonly ValType[];
  /** What the value layer keeps for the block (its entry stack, join values). */
  readonly values: BlockValues;
}

export interface Lowering {
  readonly m: MacroAssembler;
  readonly module: WasmModule;
  readonly offsets: LoweringOffsets;
  /** The era whose code is emitted (barriers, layouts, builtins, stack-map format). */
  readonly era: CodegenEra;
  /** The address-space tunables the image is compiled for: which accesses need explicit bounds checks. */
  readonly memoryTunables: MemoryTunables;
  /** The register memory 0's base is kept in for the whole function, if any (environment.ts). */
  readonly heapBaseRegister?: string;
  /**
   * The location the last instruction wrote with a 32-bit operation (whose upper half is zero on
   * x64: an i32 `addShifted`), and that instruction's index: a memory access right after it uses
   * the register as its index without a zero-extending move.
   */
  zeroExtended: { readonly loc: Loc; readonly instrIndex: number } | undefined;
  readonly fn: DefinedFunction;
  /** Type index → signature index (call_indirect compares signature ids). */
  readonly signatureOf: readonly number[];
  readonly frame: FunctionFrame;
  readonly values: Values;
  readonly calls: CallRecorder;
  /** Open blocks, the function's own frame first. */
  readonly ctrl: ControlFrame[];
  instrIndex: number;
  /** Whether the point after the last lowered instruction is reachable by falling through. */
  reachable: boolean;
  /** Set by an `end` whose block returned on every path (control.ts: nothing falls through it). */
  returned: boolean;
  /**
   * A comparison whose i32 result only feeds the next instruction's branch (`if`, `br_if`),
   * with registers: nothing was emitted for it, its operands are still on the operand stack,
   * and the branch compares them itself (compare-and-branch, as Cranelift fuses icmp + brif).
   * With `test`, an `and` with the constant `imm` whose result is only tested (`cond` ne):
   * the branch tests the bits.
   */
  fusedCompare: { readonly cond: Cond; readonly wide: boolean; readonly imm?: bigint; readonly test?: true } | undefined;
  /**
   * A left shift by a constant whose result only feeds the next instruction, an add of the same
   * type, with registers: nothing was emitted for it, its operand is still on the operand stack
   * (the count was taken as a constant), and the add computes a + (b << shift) itself (x64
   * `lea`, AArch64 `add` with a shifted register).
   */
  fusedShift: number | undefined;
  /**
   * An add of a small constant (|imm| ≤ 4095) whose result is only the last argument of the
   * `call` after it, with registers: nothing was emitted, its operand is still on the operand
   * stack, and the call computes the sum straight into the argument's register (a `sum`
   * operand: x64 `lea`, AArch64 `add`/`sub`).
   */
  fusedArg: bigint | undefined;
  /**
   * x64, with registers: an `i32.load`/`i64.load` whose value is only the second operand of the
   * next instruction, an integer ALU binop of its type. Nothing was emitted for it, its address
   * is still on the operand stack, and the binop reads the memory itself (`heapBinop`: `add r,
   * [mem]`), as Cranelift's x64 backend sinks such a load into the operation.
   */
  fusedLoad: { readonly memory: number; readonly offset: number; readonly size: 4 | 8; readonly indexExtended: boolean } | undefined;
}
