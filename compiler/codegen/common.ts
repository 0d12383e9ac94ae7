/**
 * What the architecture-neutral function compiler (compiler/function.ts) asks of a backend.
 *
 * A Wasm value lives at a `Loc`: an 8-byte frame slot addressed from SP (every value, with
 * `--regalloc none`) or one of the arch's allocatable registers (`ALLOCATABLE`, chosen by the
 * linear-scan allocator in compiler/regalloc/). The backend offers a small macro-instruction
 * set over locations, three pointer scratch registers (R0–R2) and the pinned vmctx register.
 * Stack maps only ever name slots: the lowering spills a reference that lives in a register to
 * its slot before each call it survives and reloads it after (compiler/lowering/context.ts).
 */
import type { Arch } from '../../isa/arch.ts';
import type { AssembledCode, Label } from '../../isa/code-buffer.ts';
import type { TrapCode } from '../../isa/trap-codes.ts';
import { StackscopeError } from '../../isa/error.ts';

/** Pointer scratch registers of the macro-assembler (x64: rax, r10, r11; aarch64: x9, x10, x11). */
export type VReg = 'R0' | 'R1' | 'R2';

/** Where a linear memory's base is for an access: a scratch register, or the general register
 * the function keeps it in (a physical register name, `--regalloc linear-scan`). */
export type HeapBase = VReg | { readonly reg: string };

export type Cond = 'eq' | 'ne' | 'lt_s' | 'lt_u' | 'gt_s' | 'gt_u' | 'le_s' | 'le_u' | 'ge_s' | 'ge_u';

export type BinOp =
  | 'add' | 'sub' | 'mul' | 'and' | 'or' | 'xor' | 'shl' | 'shr_s' | 'shr_u' | 'rotl' | 'rotr'
  | 'div_s' | 'div_u' | 'rem_s' | 'rem_u';
export type UnOp =
  | 'clz' | 'ctz' | 'popcnt' | 'eqz' | 'neg'
  | 'extend8_s' | 'extend16_s' | 'extend32_s' | 'extend_i32_s' | 'extend_i32_u';
/**
 * The operators `binopImm` takes a constant operand b for (Wasm's semantics: shift and rotate
 * counts are taken modulo the width).
 */
export type ImmBinOp = 'add' | 'sub' | 'mul' | 'and' | 'or' | 'xor' | 'shl' | 'shr_s' | 'shr_u' | 'rotl' | 'rotr';
export const IMM_BINOPS: ReadonlySet<string> = new Set<ImmBinOp>(['add', 'sub', 'mul', 'and', 'or', 'xor', 'shl', 'shr_s', 'shr_u', 'rotl', 'rotr']);

/** Float operators: `double` chooses f64 (else f32). abs, neg and copysign only touch the sign bit. */
export type FBinOp = 'add' | 'sub' | 'mul' | 'div' | 'min' | 'max' | 'copysign';
export type FUnOp = 'abs' | 'neg' | 'sqrt' | 'ceil' | 'floor' | 'trunc' | 'nearest';
/** Float comparisons: every one but `ne` is false when an operand is NaN. */
export type FCond = 'eq' | 'ne' | 'lt' | 'gt' | 'le' | 'ge';
/**
 * Conversions between floats and integers (reinterpretations need no code: values are bits).
 * `trunc` traps as Wasm requires (BadConversionToInteger for NaN, IntegerOverflow out of
 * range) unless `saturating`, which gives 0 for NaN and the nearest bound otherwise.
 */
export type FConversion =
  | { readonly kind: 'trunc'; readonly double: boolean; readonly wide: boolean; readonly signed: boolean; readonly saturating: boolean }
  | { readonly kind: 'convert'; readonly double: boolean; readonly wide: boolean; readonly signed: boolean }
  | { readonly kind: 'promote' }
  | { readonly kind: 'demote' };

/**
 * Where a Wasm value lives: a frame slot (its SP-relative byte offset, a number) or an
 * allocatable physical register of the backend's arch (its 64-bit name, a string).
 */
export type Loc = number | string;

/** Whether `loc` is a register (else an SP-relative slot offset). */
export const isRegLoc = (loc: Loc): loc is string => typeof loc === 'string';

/**
 * The registers the allocator may assign, per arch, callee-saved ones listed separately: a value
 * that must survive a call is either in a callee-saved register or in a slot. Argument
 * registers are allocatable: call arguments and incoming parameters are moved in as parallel
 * moves (`sequenceMoves`), and the two vmctx arguments are written after the others. Reserved:
 * the vmctx register, the scratch registers R0–R2 and the backends' private scratch (x64 rcx
 * and rdx, which are also argument registers; AArch64 x12–x14, x16, x17), the return register
 * (rax, x0) and the frame and stack pointers (AArch64 also keeps x18, the platform register).
 * The return register (the first of WASM_INT_RESULT_REGISTERS) is given only to values that are
 * a call's result read by the very next macro-instruction, or a value computed to be returned
 * (regalloc/virtual.ts: returnRegisterValues), as Cranelift's fixed-register operands leave
 * them where they arrive.
 */
export const ALLOCATABLE: Readonly<Record<Arch, { readonly callerSaved: readonly string[]; readonly calleeSaved: readonly string[] }>> = {
  x64: { callerSaved: ['rsi', 'rdi', 'r8', 'r9'], calleeSaved: ['rbx', 'r12', 'r13', 'r15'] },
  aarch64: {
    callerSaved: ['x8', 'x15', 'x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7'],
    calleeSaved: ['x20', 'x21', 'x22', 'x23', 'x24', 'x25', 'x26', 'x27', 'x28'],
  },
};

/**
 * The float register class: registers the allocator may give f32/f64 values (the float
 * operations' scratch registers, x64 xmm0–xmm2 and AArch64 d0/d1, are excluded). System V has
 * no callee-saved vector register, so on x64 a float value live across a call goes to a slot;
 * AAPCS64 preserves the low 64 bits of v8–v15, which the prologue saves (`stp d8, d9`) when
 * the function uses them, as Cranelift saves clobbered float registers.
 */
export const ALLOCATABLE_FLOAT: Readonly<Record<Arch, { readonly callerSaved: readonly string[]; readonly calleeSaved: readonly string[] }>> = {
  x64: { callerSaved: ['xmm3', 'xmm4', 'xmm5', 'xmm6', 'xmm7', 'xmm8', 'xmm9', 'xmm10', 'xmm11', 'xmm12', 'xmm13', 'xmm14', 'xmm15'], calleeSaved: [] },
  aarch64: {
    callerSaved: ['d16', 'd17', 'd18', 'd19', 'd20', 'd21', 'd22', 'd23', 'd24', 'd25', 'd26', 'd27', 'd28', 'd29', 'd30', 'd31', 'd2', 'd3', 'd4', 'd5', 'd6', 'd7'],
    calleeSaved: ['d8', 'd9', 'd10', 'd11', 'd12', 'd13', 'd14', 'd15'],
  },
};

/** Whether `loc` is a float register (x64 `xmmN`, AArch64 `dN`) rather than a slot or a general register. */
export const isFloatRegLoc = (loc: Loc): loc is string => typeof loc === 'string' && (loc.startsWith('xmm') || /^d\d+$/.test(loc));

/**
 * Orders register-to-register moves that happen "at once" (call arguments, incoming
 * parameters): a move is emitted once no pending move still reads its destination; a cycle is
 * broken by copying one source to `scratch`. `emit(dst, src, addend)` moves one register (plus
 * the move's constant `addend`, if any: a `sum` argument).
 */
export function sequenceMoves(
  moves: readonly { readonly dst: string; readonly src: string; readonly addend?: bigint }[],
  scratch: string,
  emit: (dst: string, src: string, addend?: bigint) => void,
): void {
  const pending = moves.filter((m) => m.dst !== m.src || (m.addend ?? 0n) !== 0n).map((m) => ({ ...m }));
  while (pending.length > 0) {
    const k = pending.findIndex((m) => !pending.some((o) => o !== m && o.src === m.dst));
    if (k >= 0) {
      const [m] = pending.splice(k, 1);
      emit(m.dst, m.src, m.addend);
      continue;
    }
    // Every destination is still read: a cycle. Park one source in the scratch register.
    const m = pending[0];
    emit(scratch, m.src);
    for (const o of pending) if (o.src === m.src) o.src = scratch;
  }
}

/**
 * The moves that put `args[k]` into `argRegs[first + k]` (every k with an argument register),
 * or undefined when no argument already sits in a register (`inRegister`, the usual case
 * without register allocation): then nothing needs ordering, and the backend loads each in
 * turn without making a move list.
 */
export function registerArgMoves<R extends string>(
  args: readonly Operand[],
  argRegs: readonly R[],
  first: number,
  inRegister: (op: Operand) => string | undefined,
): { dst: R; op: Operand }[] | undefined {
  const n = Math.min(args.length, argRegs.length - first);
  let k = 0;
  while (k < n && inRegister(args[k]) === undefined) k++;
  if (k === n) return undefined;
  const moves: { dst: R; op: Operand }[] = [];
  for (k = 0; k < n; k++) moves.push({ dst: argRegs[first + k], op: args[k] });
  return moves;
}

/** The register holding the function's own vmctx for the whole body (callee-saved). */
export const VMCTX_REGISTER: Readonly<Record<Arch, string>> = { x64: 'r14', aarch64: 'x19' };

/** A call argument: a value at its location (`wide` = 64 bits, else the low 32 bits
 * zero-extended), the function's own vmctx, a constant, a scratch register, or a load from
 * [reg + disp]. */
export type Operand =
  | { readonly kind: 'value'; readonly loc: Loc; readonly wide: boolean }
  /** A value plus a constant (|imm| ≤ 4095): an add whose only use is this argument, computed straight into its register. */
  | { readonly kind: 'sum'; readonly loc: Loc; readonly imm: bigint; readonly wide: boolean }
  | { readonly kind: 'vmctx' }
  | { readonly kind: 'imm'; readonly value: bigint }
  | { readonly kind: 'reg'; readonly reg: VReg }
  | { readonly kind: 'mem'; readonly base: VReg | 'vmctx'; readonly disp: number }
  /** The address SP + offset (a return area in the outgoing-argument area). */
  | { readonly kind: 'stack-address'; readonly offset: number };

/** Where a Wasm-convention call goes. */
export type WasmCallTarget =
  /** A defined function: direct call with a relocation; own vmctx is callee and caller vmctx. */
  | { readonly kind: 'symbol'; readonly symbol: string }
  /** wasm_call and vmctx loaded from the vmctx at these offsets (VMFunctionImport). */
  | { readonly kind: 'import'; readonly wasmCallOffset: number; readonly vmctxOffset: number }
  /** A VMFuncRef pointer in R2: wasm_call at +wasmCallOffset, vmctx at +vmctxOffset. */
  | { readonly kind: 'funcref'; readonly wasmCallOffset: number; readonly vmctxOffset: number };

export interface CallOffsets {
  /** Offset of the call instruction within the function. */
  readonly callOffset: number;
  /** Offset of the instruction after it (the return address). */
  readonly returnOffset: number;
}

/** The frame the compiler chose; offsets are from SP in the body. */
export interface FrameLayout {
  /** FP − SP in the body: a multiple of 16. */
  readonly frameSize: number;
  /** Where the pinned vmctx register's caller value is saved (SP-relative). */
  readonly calleeSaveOffset: number;
  /**
   * Callee-saved registers the prologue saves at [calleeSaveOffset, frameSize), in ascending
   * order (the vmctx register among them), as Cranelift stores clobbered callee-saves. Absent:
   * only the vmctx register, at calleeSaveOffset, with 8 bytes of padding above it.
   */
  readonly savedRegs?: readonly string[];
  /**
   * Callee-saved float registers the prologue saves (AArch64 d8–d15, ascending), right below the
   * integer callee-save area: register k at floatSaveOffset + 8k, pushed in pairs after the
   * integer ones as Cranelift's gen_clobber_save does (an odd last one with 8 bytes of padding).
   */
  readonly savedFloatRegs?: readonly string[];
  readonly floatSaveOffset?: number;
  /** Slot of each Wasm parameter (the two vmctx arguments excluded) that the prologue stores;
   * empty when the lowering moves parameters itself (`loadParam`). */
  readonly paramOffsets: readonly number[];
  readonly paramWide: readonly boolean[];
  /** Declared (non-parameter) locals occupy `zeroCount` consecutive slots from `zeroStart`;
   * the prologue zeroes them (Wasm locals start at zero, and a stale word in a slot that a
   * stack map marks would be a wild pointer). */
  readonly zeroStart: number;
  readonly zeroCount: number;
  /**
   * Where the prologue finds the stack limit: the struct pointer at `vmctx + vmctxOffset`, the
   * limit at `limitOffset` in it. Absent: v17's VMRuntimeLimits (vmctx + 8, limit at 0).
   */
  readonly stackLimit?: { readonly vmctxOffset: number; readonly limitOffset: number };
  /**
   * The bytes the stack-limit check adds to the limit before comparing it with SP (Cranelift's
   * insert_stack_check), or `skip` for no check (a leaf function with nothing to check).
   * Absent: the frame size.
   */
  readonly stackCheck?: number | 'skip';
  /**
   * The slot where the prologue keeps the return-area pointer the caller passed (a function
   * with more results than return registers, compiler/codegen/returns.ts); absent otherwise.
   */
  readonly returnAreaPointer?: number;
}

/** A backend's function: code, relocation requests and trap sites sorted by offset. */
export type BackendOutput = AssembledCode;

/** The macro-instruction set; every `wide` flag chooses 64-bit (true) or 32-bit operation. */
export interface MacroAssembler {
  readonly arch: Arch;
  offset(): number;
  /**
   * A point between macro-instructions where an island may go (isa/code-buffer.ts): AArch64's
   * conditional branches reach ±1 MiB, so a longer function needs veneers on the way.
   */
  islandCheckpoint(): void;
  newLabel(): Label;
  bind(label: Label): void;

  prologue(frame: FrameLayout): void;
  /** Emits the epilogue (result, if any, already in the return register via `loadResult`). */
  epilogue(frame: FrameLayout): void;
  /** Loads the function result from its location into the return register. */
  loadResult(loc: Loc, wide: boolean): void;
  /** Result k ← `results[k]`, into the k-th integer return register, as one parallel move
   * (a location may be another result's return register). */
  loadResults(results: readonly { readonly loc: Loc; readonly wide: boolean }[]): void;
  /** Each `dst` ← Wasm parameter `index` (from its argument register or the incoming stack
   * area), as one parallel move: a destination may be another parameter's argument register. */
  loadParams(params: readonly { readonly index: number; readonly dst: Loc }[]): void;

  /** dst ← src (8 bytes; nothing when they are the same location). */
  copySlot(dst: Loc, src: Loc): void;
  storeSlotImm(dst: Loc, value: bigint): void;
  loadSlot(r: VReg, loc: Loc, wide: boolean): void;
  storeSlot(loc: Loc, r: VReg): void;
  movImm(r: VReg, value: bigint): void;
  /** r ← [base + disp], `size` bytes, zero- or sign-extended to 64 bits. */
  load(r: VReg, base: VReg | 'vmctx', disp: number, size: 1 | 2 | 4 | 8, signed?: boolean): void;
  /** [base + disp] ← low `size` bytes of r. */
  store(base: VReg | 'vmctx', disp: number, r: VReg, size: 1 | 2 | 4 | 8): void;
  /**
   * A Wasm load: `dst` ← `size` bytes at `base` + the i32 at `index` zero-extended + `disp`
   * (0 ≤ disp < 2^32), zero- or sign-extended to 64 bits. The access instruction is recorded as
   * a HeapOutOfBounds trap site: where no explicit bounds check precedes it, its fault in the
   * memory's unmapped reservation or guard is the check. `indexExtended`: the index is in a
   * register whose upper half is known to be zero (x64 then needs no zero-extending move).
   */
  heapLoad(dst: Loc, base: HeapBase, index: Loc, disp: number, size: 1 | 2 | 4 | 8, signed: boolean, indexExtended?: boolean): void;
  /**
   * dst ← a op (the 4- or 8-byte Wasm load at `base` + `index` + `disp`), op an integer ALU binop
   * (add, sub, and, or, xor, mul): x64 folds the load into the operation (`add r, [mem]`,
   * `imul r, [mem]`) as Cranelift's x64 lowering sinks a load whose only use is the operation;
   * the operation is the access instruction and its HeapOutOfBounds trap site. AArch64 has no
   * memory operands: a load, then the binop (the lowering only fuses on x64).
   */
  heapBinop(op: BinOp, wide: boolean, dst: Loc, a: Loc, base: HeapBase, index: Loc, disp: number, indexExtended?: boolean): void;
  /** A Wasm store of the low `size` bytes of the value at `value`: address and trap site as heapLoad. */
  heapStore(base: HeapBase, index: Loc, disp: number, value: Loc, size: 1 | 2 | 4 | 8, indexExtended?: boolean): void;
  /** The general register `dst` (a physical register name) ← the 8 bytes at [base + disp]. */
  loadPointer(dst: string, base: VReg | 'vmctx', disp: number): void;
  /** dst ← a + b (64-bit). */
  addReg(dst: VReg, a: VReg, b: VReg): void;
  /** dst ← a + imm (64-bit; any imm that fits in 64 bits). */
  addImm(dst: VReg, a: VReg, imm: number): void;
  /** dst ← a & imm (64-bit). */
  andImm(dst: VReg, a: VReg, imm: bigint): void;
  /** dst ← a | imm (64-bit). */
  orImm(dst: VReg, a: VReg, imm: bigint): void;
  /** dst ← base + index·8 (index zero-extended from 32 bits). */
  addScaled8(dst: VReg, base: VReg, index: VReg): void;

  /** dst ← a op b; traps for division as Wasm requires. `dst` may be the location of `a` or `b`
   * (a value's last use and the next definition share a register). */
  binop(op: BinOp, wide: boolean, dst: Loc, a: Loc, b: Loc): void;
  /** dst ← op a; for extend_i32_* the source is i32 and the result i64. */
  unop(op: UnOp, wide: boolean, dst: Loc, a: Loc): void;
  /** dst ← (a cond b) as an i32 0/1. */
  compare(cond: Cond, wide: boolean, dst: Loc, a: Loc, b: Loc): void;
  /**
   * Floats. Every value is its bit pattern at its location (an f32 in the low 32 bits, like an
   * i32), so moves, select, calls, loads and stores treat floats as integers of their width;
   * these operate in the arch's float registers (scratch only) with Wasm's rules: NaN results
   * are arithmetic NaNs, min/max order -0 below +0 and return NaN for a NaN operand.
   */
  fbinop(op: FBinOp, double: boolean, dst: Loc, a: Loc, b: Loc): void;
  funop(op: FUnOp, double: boolean, dst: Loc, a: Loc): void;
  /** dst ← (a cond b) as an i32 0/1. */
  fcompare(cond: FCond, double: boolean, dst: Loc, a: Loc, b: Loc): void;
  fconvert(conversion: FConversion, dst: Loc, a: Loc): void;

  /** dst ← i32 c ≠ 0 ? a : b (8 bytes). */
  select(dst: Loc, a: Loc, b: Loc, c: Loc): void;
  /** dst ← (x cond y) ? a : b (8 bytes), y a location or the constant `imm`: a compare and a conditional move. */
  selectCompare(dst: Loc, a: Loc, b: Loc, test: { readonly cond: Cond; readonly wide: boolean; readonly x: Loc; readonly y?: Loc; readonly imm?: bigint }): void;

  jump(label: Label): void;
  /** Branch if the i32 at `loc` is zero (`ifZero`) or non-zero. */
  branchSlot(loc: Loc, ifZero: boolean, label: Label): void;
  /** Compare the values at two locations and branch when `cond` holds. */
  branchCompare(cond: Cond, wide: boolean, a: Loc, b: Loc, label: Label): void;
  /** Compare the value at `a` with a constant (32- or 64-bit two's complement) and branch when `cond` holds. */
  branchCompareImm(cond: Cond, wide: boolean, a: Loc, imm: bigint, label: Label): void;
  /** Branch when `a & mask` is zero (`ifZero`) or non-zero (x64 `test`, AArch64 `tst`). */
  branchTestImm(wide: boolean, a: Loc, mask: bigint, ifZero: boolean, label: Label): void;
  /**
   * dst ← a op constant, with the ISA's immediate forms where the constant fits (x64 imm32,
   * shifts by an imm8, `imul r, r/m, imm32`, `lea` for an add into another register; AArch64
   * 12-bit arithmetic immediates, optionally shifted by 12, logical bitmask immediates, shifts
   * as bitfield moves, multiplies by 2^k and 2^k+1 as shifts and shifted adds).
   */
  binopImm(op: ImmBinOp, wide: boolean, dst: Loc, a: Loc, imm: bigint): void;
  /** dst ← a + (b << shift) (x64 `lea` for shift ≤ 3; AArch64 `add` with a shifted register). */
  addShifted(wide: boolean, dst: Loc, a: Loc, b: Loc, shift: number): void;
  /** dst ← (a cond constant) as an i32 0/1. */
  compareImm(cond: Cond, wide: boolean, dst: Loc, a: Loc, imm: bigint): void;
  /** Compare registers (or a register and an immediate) and branch. */
  branchCmp(cond: Cond, wide: boolean, a: VReg, b: VReg | number, label: Label): void;
  /** Trap with `code` when the comparison holds. */
  trapIf(cond: Cond, wide: boolean, a: VReg, b: VReg | number, code: TrapCode): void;
  /** Unconditional trap. */
  trap(code: TrapCode): void;
  /** The i32 at `loc` compared to `value`; branch when equal. */
  branchSlotEq(loc: Loc, value: number, label: Label): void;
  /** Atomically adds `delta` to the u64 at [r + 0] (ref counts); with
   * `branchIfZeroAfter`, branches to it when the new value is 0. */
  addToMemory(r: VReg, delta: number, branchIfZeroAfter?: Label): void;

  /** Calls a Wasm function. `args` are the Wasm parameters (vmctx arguments are implied). */
  callWasm(target: WasmCallTarget, args: readonly Operand[]): CallOffsets;
  /**
   * A tail call (`return_call`, `return_call_indirect`): the arguments to their registers and to
   * this function's own incoming stack-argument words (the callee needs no more of them than
   * the function received), the frame torn down as the epilogue does (callee-saved registers
   * restored), then a jump: the callee returns straight to this function's caller.
   */
  tailCallWasm(target: WasmCallTarget, args: readonly Operand[], frame: FrameLayout): void;
  /** Calls builtin `index` with the platform ABI; `args` exclude the leading vmctx. Result in R0. */
  callBuiltin(builtinsOffset: number, index: number, args: readonly Operand[]): CallOffsets;
  /** Moves the integer return register to `loc`. */
  storeReturn(loc: Loc): void;
  /** `locs[k]` ← the k-th integer return register, as one parallel move. */
  storeReturns(locs: readonly Loc[]): void;
  /** r ← the integer return register. */
  moveReturn(r: VReg): void;
  /** r ← r >> amount (64-bit logical). */
  shrImm(r: VReg, amount: number): void;

  finish(): BackendOutput;
}

/** A backend limit hit while compiling (a frame too large to address, ...). */
export class CodegenError extends StackscopeError {
  override name = 'CodegenError';
  constructor(
    readonly arch: Arch,
    readonly what: string,
  ) {
    super(`${arch} code generation: ${what}`);
  }
}
