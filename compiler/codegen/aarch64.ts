/**
 * AArch64 backend of the macro-assembler. Register use:
 * - x19 holds the function's own vmctx for the whole body (callee-saved in AAPCS64; saved
 *   with a pre-indexed `str` right below FP, as Cranelift saves clobbered callee-saves);
 * - x9, x10, x11 are the pointer scratch registers R0, R1, R2;
 * - x12–x15 are private scratch for arithmetic;
 * - x16 (IP0) carries the stack limit in the prologue and call targets; x17 (IP1) builds
 *   addresses whose offsets do not fit an immediate.
 * With `--regalloc none` every value lives in a slot; the linear-scan allocator also assigns
 * x20–x28 (callee-saved: pushed right below FP as Cranelift's gen_clobber_save does, an odd
 * last register with `str [sp, #-16]!`, then pairs in reverse order with `stp [sp, #-16]!`,
 * so register k of the ascending list sits at calleeSaveOffset + 8k) and x8, x15.
 */
import {
  Aarch64Assembler,
  encodeLogicalImmediate,
  mem,
  memIndex,
  memPost,
  memPre,
  type A64Address,
  type A64Cond,
  type A64Reg,
  type W,
  type X,
} from '../../isa/aarch64/encoder.ts';
import {
  CodegenError,
  isFloatRegLoc,
  isRegLoc,
  registerArgMoves,
  sequenceMoves,
  type BackendOutput,
  type BinOp,
  type CallOffsets,
  type ImmBinOp,
  type Cond,
  type FBinOp,
  type FCond,
  type FConversion,
  type FUnOp,
  type FrameLayout,
  type HeapBase,
  type Loc,
  type MacroAssembler,
  type Operand,
  type UnOp,
  type VReg,
  type WasmCallTarget,
} from './common.ts';
import { AARCH64_ABI } from '../../isa/abi.ts';
import { WASM_INT_RESULT_REGISTERS } from './returns.ts';
import type { Label } from '../../isa/code-buffer.ts';
import type { TrapCode } from '../../isa/trap-codes.ts';
import { f32Bits, f64Bits } from '../frontend/float-bits.ts';

const VREG: Record<VReg, X> = { R0: 'x9', R1: 'x10', R2: 'x11' };
const VMCTX: X = 'x19';
const ARG_REGS: readonly X[] = AARCH64_ABI.intArgs as readonly X[];
const RESULT_REGS = WASM_INT_RESULT_REGISTERS.aarch64 as readonly X[];
const COND: Record<Cond, A64Cond> = {
  eq: 'eq', ne: 'ne', lt_s: 'lt', lt_u: 'lo', gt_s: 'gt', gt_u: 'hi', le_s: 'le', le_u: 'ls', ge_s: 'ge', ge_u: 'hs',
};

/** The register number of a float register location (`d8` → 8). */
const fpNum = (loc: Loc): number => Number((loc as string).slice(1));
const w = (x: X): W => (x === 'sp' ? 'wsp' : x === 'xzr' ? 'wzr' : (('w' + x.slice(1)) as W));
const sized = (x: X, wide: boolean): A64Reg => (wide ? x : w(x));
/** The general-purpose register a call argument's value already sits in, if any. */
const argRegister = (op: Operand): X | undefined =>
  (op.kind === 'value' || op.kind === 'sum') && isRegLoc(op.loc) && !isFloatRegLoc(op.loc) ? (op.loc as X) : op.kind === 'reg' ? VREG[op.reg] : undefined;
const sizedTo = (r: string, narrowed: boolean): A64Reg => (narrowed ? w(r as X) : (r as X));

export class Aarch64MacroAssembler implements MacroAssembler {
  readonly arch = 'aarch64' as const;
  readonly asm = new Aarch64Assembler();

  offset(): number {
    return this.asm.offset;
  }
  islandCheckpoint(): void {
    this.asm.islandCheckpoint();
  }
  newLabel(): Label {
    return this.asm.newLabel();
  }
  bind(label: Label): void {
    this.asm.bind(label);
  }
  private base(b: VReg | 'vmctx'): X {
    return b === 'vmctx' ? VMCTX : VREG[b];
  }

  /** `[base, #disp]` for an access of `size` bytes, through x17 when the offset cannot be encoded. */
  private address(base: X, disp: number, size: number): A64Address {
    if ((disp >= 0 && disp % size === 0 && disp / size < 4096) || (disp >= -256 && disp < 256)) return mem(base, disp);
    this.asm.movImm('x17', disp);
    this.asm.addExt('x17', base, 'x17', 'uxtx');
    return mem('x17', 0);
  }
  private slot(offset: number, size = 8): A64Address {
    return this.address('sp', offset, size);
  }
  /** dst ← the value at `loc` (a `w` dst reads the low half, zero-extending). */
  private readLoc(dst: A64Reg, loc: Loc): void {
    const wide = dst.startsWith('x');
    if (!isRegLoc(loc)) this.asm.ldr(dst, this.slot(loc, wide ? 8 : 4));
    else if (isFloatRegLoc(loc)) this.asm.fmovFromFp(dst, fpNum(loc));
    else if (sized(loc as X, wide) !== dst) this.asm.mov(dst, sized(loc as X, wide));
  }
  /** The value at `loc` ← the 64-bit register `src`. */
  private writeLoc(loc: Loc, src: X): void {
    if (!isRegLoc(loc)) this.asm.str(src, this.slot(loc));
    else if (isFloatRegLoc(loc)) this.asm.fmovToFp(fpNum(loc), src);
    else if (loc !== src) this.asm.mov(loc as X, src);
  }
  /** A register holding the value at `loc`: its own register, or `scratch` loaded from the slot. */
  private inReg(loc: Loc, scratch: X, wide: boolean): A64Reg {
    if (isRegLoc(loc) && !isFloatRegLoc(loc)) return sized(loc as X, wide);
    this.readLoc(sized(scratch, wide), loc);
    return sized(scratch, wide);
  }
  /** rd ← rn + imm (64-bit), any imm; uses x17 for large values. */
  private addAny(rd: X, rn: X, imm: number): void {
    const a = this.asm;
    if (imm >= 0 && (imm <= 0xfff || ((imm & 0xfff) === 0 && imm <= 0xfff000))) a.addImm(rd, rn, imm);
    else if (imm < 0 && (-imm <= 0xfff || ((-imm & 0xfff) === 0 && -imm <= 0xfff000))) a.subImm(rd, rn, -imm);
    else {
      a.movImm('x17', imm);
      a.addExt(rd, rn, 'x17', 'uxtx');
    }
  }

  prologue(frame: FrameLayout): void {
    const a = this.asm;
    const n = frame.frameSize;
    a.stp('x29', 'x30', memPre('sp', -16));
    a.mov('x29', 'sp');
    // Stack-limit check (Cranelift's insert_stack_check): limit + the checked size must not exceed sp.
    const check = frame.stackCheck ?? n;
    if (check !== 'skip') {
      a.ldr('x16', mem('x0', frame.stackLimit?.vmctxOffset ?? 8));
      a.ldr('x16', mem('x16', frame.stackLimit?.limitOffset ?? 0));
      if (check >= 32 * 1024) {
        a.cmpExt('sp', 'x16', 'uxtx');
        a.bCond('lo', this.asm.deferredTrap('StackOverflow'));
      }
      if (check > 0) this.addAny('x16', 'x16', check);
      a.cmpExt('sp', 'x16', 'uxtx');
      a.bCond('lo', this.asm.deferredTrap('StackOverflow'));
    }
    const saved = (frame.savedRegs ?? [VMCTX]) as readonly X[];
    const clobberSize = 16 * Math.ceil(saved.length / 2);
    if (frame.calleeSaveOffset !== n - clobberSize) throw new CodegenError('aarch64', 'callee-save area must sit right below FP');
    if (saved.length % 2 === 1) a.str(saved[saved.length - 1], memPre('sp', -16));
    for (let k = 2 * Math.floor(saved.length / 2) - 2; k >= 0; k -= 2) a.stp(saved[k], saved[k + 1], memPre('sp', -16));
    // Then the float callee-saves (d8–d15) below them, the same way.
    const floats = (frame.savedFloatRegs ?? []).map(fpNum);
    const floatSize = 16 * Math.ceil(floats.length / 2);
    if (floats.length > 0 && frame.floatSaveOffset !== n - clobberSize - floatSize) throw new CodegenError('aarch64', 'float callee-save area must sit right below the integer one');
    if (floats.length % 2 === 1) a.fpPush(floats[floats.length - 1]);
    for (let k = 2 * Math.floor(floats.length / 2) - 2; k >= 0; k -= 2) a.fpPushPair(floats[k], floats[k + 1]);
    // (The slot mode always adjusts, even by 0, which keeps its code as it was.)
    if (frame.savedRegs === undefined || n !== clobberSize + floatSize) this.addAny('sp', 'sp', -(n - clobberSize - floatSize));
    a.mov(VMCTX, 'x0');
    const storeArg = (off: number, argIndex: number): void => {
      if (argIndex < ARG_REGS.length) {
        a.str(ARG_REGS[argIndex], this.slot(off));
      } else {
        a.ldr('x16', mem('x29', 16 + 8 * (argIndex - ARG_REGS.length)));
        a.str('x16', this.slot(off));
      }
    };
    frame.paramOffsets.forEach((off, k) => storeArg(off, k + 2));
    // The return-area pointer follows the parameters (compiler/codegen/returns.ts).
    if (frame.returnAreaPointer !== undefined) storeArg(frame.returnAreaPointer, 2 + frame.paramWide.length);
    if (frame.zeroCount > 0) {
      if (frame.zeroCount <= 16) {
        for (let i = 0; i < frame.zeroCount; i++) a.str('xzr', this.slot(frame.zeroStart + 8 * i));
      } else {
        this.addAny('x12', 'sp', frame.zeroStart);
        a.movImm('w13', frame.zeroCount);
        const loop = a.newLabel();
        a.bind(loop);
        a.str('xzr', memPost('x12', 8));
        a.subsImm('w13', 'w13', 1);
        a.bCond('ne', loop);
      }
    }
  }

  loadResult(loc: Loc, wide: boolean): void {
    this.readLoc(wide ? 'x0' : 'w0', loc);
  }
  loadResults(results: readonly { readonly loc: Loc; readonly wide: boolean }[]): void {
    // Register sources as one parallel move (a value may sit in another result's register),
    // then the loads from slots.
    this.loadArgs(results.map(({ loc, wide }, k) => ({ dst: RESULT_REGS[k], op: { kind: 'value', loc, wide } })));
  }
  loadParams(params: readonly { readonly index: number; readonly dst: Loc }[]): void {
    const a = this.asm;
    const inRegs = params.filter((p) => p.index + 2 < ARG_REGS.length);
    // Slots first (they only read argument registers), then the register moves as one parallel
    // move, then the stack arguments (their destinations may be argument registers just read).
    for (const p of inRegs) if (!isRegLoc(p.dst)) a.str(ARG_REGS[p.index + 2], this.slot(p.dst));
    // A float register destination is no argument register: it can be written first too.
    for (const p of inRegs) if (isFloatRegLoc(p.dst)) a.fmovToFp(fpNum(p.dst), ARG_REGS[p.index + 2]);
    const moves = inRegs.filter((p) => isRegLoc(p.dst) && !isFloatRegLoc(p.dst)).map((p) => ({ dst: p.dst as string, src: ARG_REGS[p.index + 2] as string }));
    sequenceMoves(moves, 'x16', (d, s) => a.mov(d as X, s as X));
    for (const p of params) {
      if (p.index + 2 < ARG_REGS.length) continue;
      const from = mem('x29', 16 + 8 * (p.index + 2 - ARG_REGS.length));
      if (isFloatRegLoc(p.dst)) {
        a.ldr('x16', from);
        a.fmovToFp(fpNum(p.dst), 'x16');
      } else if (isRegLoc(p.dst)) {
        a.ldr(p.dst as X, from);
      } else {
        a.ldr('x16', from);
        a.str('x16', this.slot(p.dst));
      }
    }
  }

  epilogue(frame: FrameLayout): void {
    this.teardown(frame);
    this.asm.ret();
  }
  /** The epilogue up to its `ret`: callee-saved registers back, FP and LR reloaded, the frame popped. */
  private teardown(frame: FrameLayout): void {
    const a = this.asm;
    const saved = (frame.savedRegs ?? [VMCTX]) as readonly X[];
    const clobberSize = 16 * Math.ceil(saved.length / 2);
    const floats = (frame.savedFloatRegs ?? []).map(fpNum);
    const floatSize = 16 * Math.ceil(floats.length / 2);
    if (frame.savedRegs === undefined || frame.frameSize !== clobberSize + floatSize) this.addAny('sp', 'sp', frame.frameSize - clobberSize - floatSize);
    for (let k = 0; k + 1 < floats.length; k += 2) a.fpPopPair(floats[k], floats[k + 1]);
    if (floats.length % 2 === 1) a.fpPop(floats[floats.length - 1]);
    for (let k = 0; k + 1 < saved.length; k += 2) a.ldp(saved[k], saved[k + 1], memPost('sp', 16));
    if (saved.length % 2 === 1) a.ldr(saved[saved.length - 1], memPost('sp', 16));
    a.ldp('x29', 'x30', memPost('sp', 16));
  }

  copySlot(dst: Loc, src: Loc): void {
    if (dst === src) return;
    if (isFloatRegLoc(dst) && isFloatRegLoc(src)) {
      this.asm.fp1('fmov', true, fpNum(dst), fpNum(src));
    } else if (isFloatRegLoc(dst)) {
      this.asm.fmovToFp(fpNum(dst), this.inReg(src, 'x12', true));
    } else if (isFloatRegLoc(src)) {
      this.asm.fmovFromFp(isRegLoc(dst) ? (dst as X) : 'x12', fpNum(src));
      if (!isRegLoc(dst)) this.asm.str('x12', this.slot(dst));
    } else if (isRegLoc(dst)) {
      this.readLoc(dst as X, src);
    } else if (isRegLoc(src)) {
      this.asm.str(src as X, this.slot(dst));
    } else {
      this.asm.ldr('x12', this.slot(src));
      this.asm.str('x12', this.slot(dst));
    }
  }
  storeSlotImm(dst: Loc, value: bigint): void {
    const v = BigInt.asUintN(64, value);
    if (isFloatRegLoc(dst)) {
      if (v !== 0n) this.asm.movImm('x12', v);
      this.asm.fmovToFp(fpNum(dst), v === 0n ? 'xzr' : 'x12');
      return;
    }
    if (isRegLoc(dst)) {
      if (v === 0n) this.asm.mov(dst as X, 'xzr');
      else this.asm.movImm(dst as X, v);
      return;
    }
    if (v === 0n) {
      this.asm.str('xzr', this.slot(dst));
      return;
    }
    this.asm.movImm('x12', v);
    this.asm.str('x12', this.slot(dst));
  }
  loadSlot(r: VReg, loc: Loc, wide: boolean): void {
    this.readLoc(sized(VREG[r], wide), loc);
  }
  storeSlot(loc: Loc, r: VReg): void {
    this.writeLoc(loc, VREG[r]);
  }
  movImm(r: VReg, value: bigint): void {
    this.asm.movImm(VREG[r], BigInt.asUintN(64, value));
  }

  load(r: VReg, base: VReg | 'vmctx', disp: number, size: 1 | 2 | 4 | 8, signed = false): void {
    this.loadAt(VREG[r], this.address(this.base(base), disp, size), size, signed);
  }
  private loadAt(x: X, addr: A64Address, size: 1 | 2 | 4 | 8, signed: boolean): void {
    const a = this.asm;
    switch (size) {
      case 8: a.ldr(x, addr); break;
      case 4: signed ? a.ldrsw(x, addr) : a.ldr(w(x), addr); break;
      case 2: signed ? a.ldrsh(x, addr) : a.ldrh(w(x), addr); break;
      case 1: signed ? a.ldrsb(x, addr) : a.ldrb(w(x), addr); break;
    }
  }
  store(base: VReg | 'vmctx', disp: number, r: VReg, size: 1 | 2 | 4 | 8): void {
    this.storeAt(VREG[r], this.address(this.base(base), disp, size), size);
  }
  private storeAt(x: X, addr: A64Address, size: 1 | 2 | 4 | 8): void {
    const a = this.asm;
    switch (size) {
      case 8: a.str(x, addr); break;
      case 4: a.str(w(x), addr); break;
      case 2: a.strh(w(x), addr); break;
      case 1: a.strb(w(x), addr); break;
    }
  }
  /**
   * `[base, windex, uxtw]` for a Wasm access (the i32 index zero-extended by the address mode);
   * with a displacement, x9 ← base + windex (uxtw) and `[x9, #disp]`.
   */
  private heapAddress(base: HeapBase, index: Loc, disp: number, size: number): A64Address {
    const b = typeof base === 'string' ? VREG[base] : (base.reg as X);
    const idx = this.inReg(index, 'x9', false) as W;
    if (disp === 0) return memIndex(b, idx, 'uxtw', false);
    this.asm.addExt('x9', b, idx, 'uxtw');
    return this.address('x9', disp, size);
  }
  loadPointer(dst: string, base: VReg | 'vmctx', disp: number): void {
    this.asm.ldr(dst as X, this.address(this.base(base), disp, 8));
  }
  heapLoad(dst: Loc, base: HeapBase, index: Loc, disp: number, size: 1 | 2 | 4 | 8, signed: boolean): void {
    const addr = this.heapAddress(base, index, disp, size);
    const direct = isRegLoc(dst) && !isFloatRegLoc(dst);
    const x: X = direct ? (dst as X) : 'x11';
    this.asm.trapSiteHere('HeapOutOfBounds');
    this.loadAt(x, addr, size, signed);
    if (!direct) this.writeLoc(dst, 'x11');
  }
  /** No memory operands on AArch64: the load into x11 (a scratch binop leaves alone), then the binop. */
  heapBinop(op: BinOp, wide: boolean, dst: Loc, x: Loc, base: HeapBase, index: Loc, disp: number): void {
    this.heapLoad('x11', base, index, disp, wide ? 8 : 4, false);
    this.binop(op, wide, dst, x, 'x11');
  }
  heapStore(base: HeapBase, index: Loc, disp: number, value: Loc, size: 1 | 2 | 4 | 8): void {
    const direct = isRegLoc(value) && !isFloatRegLoc(value);
    if (!direct) this.readLoc('x11', value);
    const addr = this.heapAddress(base, index, disp, size);
    this.asm.trapSiteHere('HeapOutOfBounds');
    this.storeAt(direct ? (value as X) : 'x11', addr, size);
  }
  addReg(dst: VReg, x: VReg, y: VReg): void {
    this.asm.add(VREG[dst], VREG[x], VREG[y]);
  }
  addImm(dst: VReg, x: VReg, imm: number): void {
    this.addAny(VREG[dst], VREG[x], imm);
  }
  andImm(dst: VReg, x: VReg, imm: bigint): void {
    this.asm.andImm(VREG[dst], VREG[x], BigInt.asUintN(64, imm));
  }
  orImm(dst: VReg, x: VReg, imm: bigint): void {
    this.asm.orrImm(VREG[dst], VREG[x], BigInt.asUintN(64, imm));
  }
  addScaled8(dst: VReg, base: VReg, index: VReg): void {
    this.asm.add(VREG[dst], VREG[base], VREG[index], { kind: 'lsl', amount: 3 });
  }

  /** The register a result goes to: its own, or x12 to be stored to its slot (`storeResult`). */
  private resultReg(dst: Loc, wide: boolean): A64Reg {
    return sized(isRegLoc(dst) && !isFloatRegLoc(dst) ? (dst as X) : 'x12', wide);
  }
  private storeResult(dst: Loc): void {
    if (!isRegLoc(dst) || isFloatRegLoc(dst)) this.writeLoc(dst, 'x12');
  }

  binop(op: BinOp, wide: boolean, dst: Loc, x: Loc, y: Loc): void {
    const a = this.asm;
    const t = sized('x14', wide);
    const r = this.inReg(x, 'x12', wide);
    const s = this.inReg(y, 'x13', wide);
    const d = this.resultReg(dst, wide);
    switch (op) {
      case 'add': a.add(d, r, s); break;
      case 'sub': a.sub(d, r, s); break;
      case 'mul': a.mul(d, r, s); break;
      case 'and': a.and(d, r, s); break;
      case 'or': a.orr(d, r, s); break;
      case 'xor': a.eor(d, r, s); break;
      case 'shl': a.lsl(d, r, s); break;
      case 'shr_s': a.asr(d, r, s); break;
      case 'shr_u': a.lsr(d, r, s); break;
      case 'rotr': a.ror(d, r, s); break;
      case 'rotl':
        // The count is negated in x13: `s` may be a register that holds a live value.
        a.neg(sized('x13', wide), s);
        a.ror(d, r, sized('x13', wide));
        break;
      case 'div_s':
        a.cmpImm(s, 0);
        a.bCond('eq', this.asm.deferredTrap('IntegerDivisionByZero'));
        // Cranelift's overflow test: divisor == -1 and dividend - 1 overflows (dividend == MIN).
        a.cmnImm(s, 1);
        a.ccmpImm(r, 1, 0, 'eq');
        a.bCond('vs', this.asm.deferredTrap('IntegerOverflow'));
        a.sdiv(d, r, s);
        break;
      case 'div_u':
        a.cmpImm(s, 0);
        a.bCond('eq', this.asm.deferredTrap('IntegerDivisionByZero'));
        a.udiv(d, r, s);
        break;
      case 'rem_s':
      case 'rem_u':
        // sdiv does not fault on MIN / -1 (it yields MIN), so msub gives the Wasm result 0.
        a.cmpImm(s, 0);
        a.bCond('eq', this.asm.deferredTrap('IntegerDivisionByZero'));
        op === 'rem_s' ? a.sdiv(t, r, s) : a.udiv(t, r, s);
        a.msub(d, t, s, r);
        break;
    }
    this.storeResult(dst);
  }

  unop(op: UnOp, wide: boolean, dst: Loc, x: Loc): void {
    const a = this.asm;
    const r = sized('x12', wide);
    const load = (): void => this.readLoc(r, x);
    switch (op) {
      case 'neg':
        a.neg(this.resultReg(dst, wide), this.inReg(x, 'x12', wide));
        this.storeResult(dst);
        return;
      case 'clz': load(); a.clz(r, r); break;
      case 'ctz': load(); a.rbit(r, r); a.clz(r, r); break;
      case 'popcnt': load(); this.popcnt(wide); break;
      case 'eqz': load(); a.cmpImm(r, 0); a.cset('w12', 'eq'); break;
      case 'extend8_s': this.readLoc('w12', x); a.sxtb(r, 'w12'); break;
      case 'extend16_s': this.readLoc('w12', x); a.sxth(r, 'w12'); break;
      case 'extend32_s':
      case 'extend_i32_s':
        this.readLoc('w12', x);
        a.sxtw('x12', 'w12');
        break;
      case 'extend_i32_u':
        this.readLoc('w12', x);
        break;
    }
    this.writeLoc(dst, 'x12');
  }

  /** Scalar population count (base AArch64 has none outside SIMD; Cranelift uses cnt.8b). */
  private popcnt(wide: boolean): void {
    const a = this.asm;
    const r = sized('x12', wide);
    const s = sized('x13', wide);
    const k = (byte: bigint): bigint => (wide ? byte * 0x0101010101010101n : byte * 0x01010101n);
    a.lsrImm(s, r, 1);
    a.andImm(s, s, k(0x55n));
    a.sub(r, r, s);
    a.andImm(s, r, k(0x33n));
    a.lsrImm(r, r, 2);
    a.andImm(r, r, k(0x33n));
    a.add(r, r, s);
    a.add(r, r, r, { kind: 'lsr', amount: 4 });
    a.andImm(r, r, k(0x0fn));
    a.movImm(s, k(0x01n));
    a.mul(r, r, s);
    a.lsrImm(r, r, wide ? 56 : 24);
  }

  compare(cond: Cond, wide: boolean, dst: Loc, x: Loc, y: Loc): void {
    const a = this.asm;
    const r = this.inReg(x, 'x12', wide);
    const s = this.inReg(y, 'x13', wide);
    a.cmp(r, s);
    a.cset(this.resultReg(dst, false), COND[cond]);
    this.storeResult(dst);
  }

  // --- floats (FP scalar instructions; d0/s0 and d1/s1 are scratch) ---------------------------

  /** Float register `fd` ← the float at `loc` (through `scratch` when it is in a slot). */
  private readF(fd: number, loc: Loc, double: boolean, scratch: X): void {
    if (isFloatRegLoc(loc)) this.asm.fp1('fmov', true, fd, fpNum(loc));
    else this.asm.fmovToFp(fd, this.inReg(loc, scratch, double));
  }
  /** The float in register `fn` → `loc`, through x12 (an f32 lands zero-extended, as an i32 does). */
  private writeF(loc: Loc, fn: number, double: boolean): void {
    if (isFloatRegLoc(loc)) {
      this.asm.fp1('fmov', true, fpNum(loc), fn);
      return;
    }
    this.asm.fmovFromFp(sized('x12', double), fn);
    this.writeLoc(loc, 'x12');
  }

  /** The float register holding the value at `loc`: its own, or `fd` loaded with it. */
  private floatIn(loc: Loc, fd: number, double: boolean, scratch: X): number {
    if (isFloatRegLoc(loc)) return fpNum(loc);
    this.readF(fd, loc, double, scratch);
    return fd;
  }
  /** Where a float result is computed: the destination's own register, else d0. */
  private floatOut(dst: Loc): number {
    return isFloatRegLoc(dst) ? fpNum(dst) : 0;
  }
  /** The result computed in register `fn` → `dst` (nothing when it is dst's register). */
  private floatDone(dst: Loc, fn: number, double: boolean): void {
    if (!isFloatRegLoc(dst)) this.writeF(dst, fn, double);
  }

  fbinop(op: FBinOp, double: boolean, dst: Loc, x: Loc, y: Loc): void {
    const a = this.asm;
    if (op === 'copysign') {
      // Sign-bit arithmetic on the bits: (x & ~sign) | (y & sign).
      const sign = double ? 1n << 63n : 1n << 31n;
      const r = sized('x12', double);
      const s = sized('x13', double);
      this.readLoc(r, x);
      this.readLoc(s, y);
      a.andImm(s, s, sign);
      a.andImm(r, r, sign - 1n);
      a.orr(r, r, s);
      this.writeLoc(dst, 'x12');
      return;
    }
    const n = this.floatIn(x, 0, double, 'x12');
    const m = this.floatIn(y, 1, double, 'x13');
    const d = this.floatOut(dst);
    // AArch64's fmin/fmax already follow Wasm: NaN for a NaN operand, -0 below +0.
    const FP2 = { add: 'fadd', sub: 'fsub', mul: 'fmul', div: 'fdiv', min: 'fmin', max: 'fmax' } as const;
    a.fp2(FP2[op], double, d, n, m);
    this.floatDone(dst, d, double);
  }

  funop(op: FUnOp, double: boolean, dst: Loc, x: Loc): void {
    const FP1 = { abs: 'fabs', neg: 'fneg', sqrt: 'fsqrt', ceil: 'frintp', floor: 'frintm', trunc: 'frintz', nearest: 'frintn' } as const;
    const n = this.floatIn(x, 0, double, 'x12');
    const d = this.floatOut(dst);
    this.asm.fp1(FP1[op], double, d, n);
    this.floatDone(dst, d, double);
  }

  fcompare(cond: FCond, double: boolean, dst: Loc, x: Loc, y: Loc): void {
    // After fcmp an unordered pair sets NZCV = 0011: mi, gt, ls and ge are then false, ne true.
    const FCOND = { eq: 'eq', ne: 'ne', lt: 'mi', gt: 'gt', le: 'ls', ge: 'ge' } as const;
    const n = this.floatIn(x, 0, double, 'x12');
    const m = this.floatIn(y, 1, double, 'x13');
    this.asm.fcmp(double, n, m);
    this.asm.cset(this.resultReg(dst, false), FCOND[cond]);
    this.storeResult(dst);
  }

  fconvert(c: FConversion, dst: Loc, x: Loc): void {
    const a = this.asm;
    switch (c.kind) {
      case 'promote':
      case 'demote': {
        const n = this.floatIn(x, 0, c.kind === 'demote', 'x12');
        const d = this.floatOut(dst);
        a.fcvt(c.kind === 'promote', d, n);
        this.floatDone(dst, d, c.kind === 'promote');
        return;
      }
      case 'convert': {
        const d = this.floatOut(dst);
        a.cvtIntToFp(c.signed, c.double, d, this.inReg(x, 'x12', c.wide));
        this.floatDone(dst, d, c.double);
        return;
      }
      case 'trunc': {
        const n = this.floatIn(x, 0, c.double, 'x12');
        // fcvtzs/fcvtzu saturate (NaN → 0), which is exactly trunc_sat; the trapping forms
        // check NaN and the bounds first, as Cranelift does.
        if (!c.saturating) this.truncChecks(c.double, c.wide, c.signed, n);
        a.cvtFpToInt(c.signed, c.double, this.resultReg(dst, c.wide), n);
        this.storeResult(dst);
        return;
      }
    }
  }

  /** Traps unless float register `n` truncates to an integer of the target type (d1 is scratch). */
  private truncChecks(double: boolean, wide: boolean, signed: boolean, n: number): void {
    const a = this.asm;
    const bits = wide ? 64 : 32;
    const constant = (x: number): void => {
      a.movImm(sized('x13', double), double ? f64Bits(x) : BigInt(f32Bits(x)));
      a.fmovToFp(1, sized('x13', double));
      a.fcmp(double, n, 1);
    };
    a.fcmp(double, n, n);
    a.bCond('vs', a.deferredTrap('BadConversionToInteger'));
    // Below: x ≤ -1 (unsigned), x ≤ -2^31 - 1 (f64 → i32, exact in f64), else x < -2^(n-1).
    if (!signed) {
      constant(-1);
      a.bCond('ls', a.deferredTrap('IntegerOverflow'));
    } else if (double && !wide) {
      constant(-(2 ** 31) - 1);
      a.bCond('ls', a.deferredTrap('IntegerOverflow'));
    } else {
      constant(-(2 ** (bits - 1)));
      a.bCond('mi', a.deferredTrap('IntegerOverflow'));
    }
    constant(signed ? 2 ** (bits - 1) : 2 ** bits);
    a.bCond('ge', a.deferredTrap('IntegerOverflow'));
  }

  select(dst: Loc, x: Loc, y: Loc, c: Loc): void {
    const a = this.asm;
    const rc = this.inReg(c, 'x14', false);
    const r = this.inReg(x, 'x12', true);
    const s = this.inReg(y, 'x13', true);
    a.cmpImm(rc, 0);
    a.csel(this.resultReg(dst, true), r, s, 'ne');
    this.storeResult(dst);
  }

  selectCompare(dst: Loc, x: Loc, y: Loc, test: { readonly cond: Cond; readonly wide: boolean; readonly x: Loc; readonly y?: Loc; readonly imm?: bigint }): void {
    const p = this.inReg(test.x, 'x12', test.wide);
    if (test.y === undefined) this.cmpConst(p, test.wide, test.imm!);
    else this.asm.cmp(p, this.inReg(test.y, 'x13', test.wide));
    const r = this.inReg(x, 'x12', true);
    const s = this.inReg(y, 'x13', true);
    this.asm.csel(this.resultReg(dst, true), r, s, COND[test.cond]);
    this.storeResult(dst);
  }
  jump(label: Label): void {
    this.asm.b(label);
  }
  branchSlot(loc: Loc, ifZero: boolean, label: Label): void {
    const r = this.inReg(loc, 'x12', false);
    ifZero ? this.asm.cbz(r, label) : this.asm.cbnz(r, label);
  }
  branchSlotEq(loc: Loc, value: number, label: Label): void {
    this.compareWith(this.inReg(loc, 'x12', false), false, value);
    this.asm.bCond('eq', label);
  }
  private compareWith(rx: A64Reg, wide: boolean, y: A64Reg | number): void {
    const a = this.asm;
    if (typeof y !== 'number') {
      a.cmp(rx, y);
    } else if (y >= 0 && y <= 0xfff) {
      a.cmpImm(rx, y);
    } else if (y < 0 && y >= -0xfff) {
      a.cmnImm(rx, -y);
    } else {
      a.movImm(sized('x16', wide), wide ? BigInt(y) : BigInt.asUintN(32, BigInt(y)));
      a.cmp(rx, sized('x16', wide));
    }
  }
  branchCompareImm(cond: Cond, wide: boolean, x: Loc, imm: bigint, label: Label): void {
    const r = this.inReg(x, 'x12', wide);
    const v = wide ? BigInt.asIntN(64, imm) : BigInt.asIntN(32, imm);
    // Against zero, eq and ne are cbz / cbnz.
    if (v === 0n && (cond === 'eq' || cond === 'ne')) {
      cond === 'eq' ? this.asm.cbz(r, label) : this.asm.cbnz(r, label);
      return;
    }
    this.cmpConst(r, wide, imm);
    this.asm.bCond(COND[cond], label);
  }
  branchTestImm(wide: boolean, x: Loc, mask: bigint, ifZero: boolean, label: Label): void {
    const bits = wide ? 64 : 32;
    const u = BigInt.asUintN(bits, mask);
    const r = this.inReg(x, 'x12', wide);
    if (u !== 0n && encodeLogicalImmediate(u, bits)) {
      this.asm.tstImm(r, u);
    } else {
      this.asm.movImm(sized('x13', wide), u);
      this.asm.tst(r, sized('x13', wide));
    }
    this.asm.bCond(ifZero ? 'eq' : 'ne', label);
  }
  binopImm(op: ImmBinOp, wide: boolean, dst: Loc, x: Loc, imm: bigint): void {
    const a = this.asm;
    const bits = wide ? 64 : 32;
    const v = BigInt.asIntN(bits, imm);
    const u = BigInt.asUintN(bits, imm);
    const r = this.inReg(x, 'x12', wide);
    const d = this.resultReg(dst, wide);
    const count = Number(u & BigInt(bits - 1));
    /** The constant in x13, and the register form. */
    const inRegister = (): A64Reg => {
      const s = sized('x13', wide);
      a.movImm(s, u);
      return s;
    };
    switch (op) {
      case 'add':
      case 'sub': {
        // 12-bit immediates, optionally shifted by 12; a negative constant flips the operation.
        const n = op === 'sub' ? BigInt.asIntN(bits, -v) : v;
        if (arithImmediate(n)) a.addImm(d, r, Number(n));
        else if (arithImmediate(-n)) a.subImm(d, r, Number(-n));
        else op === 'add' ? a.add(d, r, inRegister()) : a.sub(d, r, inRegister());
        break;
      }
      case 'and':
      case 'or':
      case 'xor': {
        const all = (1n << BigInt(bits)) - 1n;
        if (u === 0n || (u === all && op !== 'xor')) {
          // x & 0 = 0, x | ~0 = ~0; x | 0 = x ^ 0 = x & ~0 = x.
          const zeroOrOnes = (op === 'and') === (u === 0n);
          if (zeroOrOnes) op === 'and' ? a.mov(d, sized('xzr', wide)) : a.movImm(d, all);
          else if (d !== r) a.mov(d, r);
        } else if (u === all) {
          a.mvn(d, r);
        } else if (encodeLogicalImmediate(u, bits)) {
          op === 'and' ? a.andImm(d, r, u) : op === 'or' ? a.orrImm(d, r, u) : a.eorImm(d, r, u);
        } else {
          const s = inRegister();
          op === 'and' ? a.and(d, r, s) : op === 'or' ? a.orr(d, r, s) : a.eor(d, r, s);
        }
        break;
      }
      case 'shl': count === 0 ? this.moveReg(d, r) : a.lslImm(d, r, count); break;
      case 'shr_u': count === 0 ? this.moveReg(d, r) : a.lsrImm(d, r, count); break;
      case 'shr_s': count === 0 ? this.moveReg(d, r) : a.asrImm(d, r, count); break;
      case 'rotr': count === 0 ? this.moveReg(d, r) : a.rorImm(d, r, count); break;
      case 'rotl': count === 0 ? this.moveReg(d, r) : a.rorImm(d, r, bits - count); break;
      case 'mul': {
        // By 0, 2^k and 2^k + 1 without a multiply; else through x13.
        const k = log2(u);
        const k1 = log2(u - 1n);
        if (u === 0n) a.mov(d, sized('xzr', wide));
        else if (k !== undefined) k === 0 ? this.moveReg(d, r) : a.lslImm(d, r, k);
        else if (k1 !== undefined) a.add(d, r, r, { kind: 'lsl', amount: k1 });
        else a.mul(d, r, inRegister());
        break;
      }
    }
    this.storeResult(dst);
  }
  /** d ← r + imm for |imm| ≤ 4095 (`add` or `sub`). */
  private addSmall(d: A64Reg, r: A64Reg, imm: bigint): void {
    if (imm >= 0n) this.asm.addImm(d, r, Number(imm));
    else this.asm.subImm(d, r, Number(-imm));
  }
  /** d ← r (same width; nothing when they are one register). */
  private moveReg(d: A64Reg, r: A64Reg): void {
    if (d !== r) this.asm.mov(d, r);
  }
  addShifted(wide: boolean, dst: Loc, x: Loc, y: Loc, shift: number): void {
    const r = this.inReg(x, 'x12', wide);
    const s = this.inReg(y, 'x13', wide);
    this.asm.add(this.resultReg(dst, wide), r, s, { kind: 'lsl', amount: shift });
    this.storeResult(dst);
  }
  compareImm(cond: Cond, wide: boolean, dst: Loc, x: Loc, imm: bigint): void {
    this.cmpConst(this.inReg(x, 'x12', wide), wide, imm);
    this.asm.cset(this.resultReg(dst, false), COND[cond]);
    this.storeResult(dst);
  }
  /** `cmp r, #imm` (or `cmn` for a negative one, either 12-bit, optionally shifted by 12), else through x13. */
  private cmpConst(r: A64Reg, wide: boolean, imm: bigint): void {
    const bits = wide ? 64 : 32;
    const v = BigInt.asIntN(bits, imm);
    if (arithImmediate(v)) this.asm.cmpImm(r, Number(v));
    else if (arithImmediate(-v)) this.asm.cmnImm(r, Number(-v));
    else {
      this.asm.movImm(sized('x13', wide), BigInt.asUintN(bits, v));
      this.asm.cmp(r, sized('x13', wide));
    }
  }
  branchCompare(cond: Cond, wide: boolean, x: Loc, y: Loc, label: Label): void {
    this.asm.cmp(this.inReg(x, 'x12', wide), this.inReg(y, 'x13', wide));
    this.asm.bCond(COND[cond], label);
  }
  branchCmp(cond: Cond, wide: boolean, x: VReg, y: VReg | number, label: Label): void {
    this.compareWith(sized(VREG[x], wide), wide, typeof y === 'number' ? y : sized(VREG[y], wide));
    this.asm.bCond(COND[cond], label);
  }
  trapIf(cond: Cond, wide: boolean, x: VReg, y: VReg | number, code: TrapCode): void {
    this.compareWith(sized(VREG[x], wide), wide, typeof y === 'number' ? y : sized(VREG[y], wide));
    this.asm.bCond(COND[cond], this.asm.deferredTrap(code));
  }
  trap(code: TrapCode): void {
    this.asm.trap(code);
  }
  addToMemory(r: VReg, delta: number, branchIfZeroAfter?: Label): void {
    // Cranelift's atomic_rmw loop without LSE: ldaxr / add / stlxr / cbnz.
    const a = this.asm;
    const base = VREG[r];
    const again = a.newLabel();
    a.bind(again);
    a.ldaxr('x16', base);
    delta >= 0 ? a.addImm('x16', 'x16', delta) : a.subImm('x16', 'x16', -delta);
    a.stlxr('w17', 'x16', base);
    a.cbnz('w17', again);
    if (branchIfZeroAfter) a.cbz('x16', branchIfZeroAfter);
  }


  private loadOperand(dst: X, op: Operand): void {
    const a = this.asm;
    switch (op.kind) {
      case 'value': this.readLoc(op.wide ? dst : w(dst), op.loc); break;
      case 'sum': {
        const d = op.wide ? dst : w(dst);
        this.addSmall(d, this.inReg(op.loc, dst, op.wide), op.imm);
        break;
      }
      case 'vmctx': a.mov(dst, VMCTX); break;
      case 'imm': a.movImm(dst, BigInt.asUintN(64, op.value)); break;
      case 'reg': if (VREG[op.reg] !== dst) a.mov(dst, VREG[op.reg]); break;
      case 'mem': a.ldr(dst, this.address(this.base(op.base), op.disp, 8)); break;
      case 'stack-address': this.addAny(dst, 'sp', op.offset); break;
    }
  }

  /**
   * Loads register arguments: those whose value is in a register as one parallel move (a
   * value may sit in another argument's register), then the others; x16 breaks cycles.
   */
  private loadArgs(moves: readonly { readonly dst: X; readonly op: Operand }[]): void {
    const a = this.asm;
    const regMoves = moves.flatMap((m) => {
      const src = argRegister(m.op);
      return src === undefined ? [] : [{ dst: m.dst as string, src: src as string, ...(m.op.kind === 'sum' ? { addend: m.op.imm } : {}) }];
    });
    // Every argument from memory, a constant or a slot (the usual case without register allocation): no moves to order.
    if (regMoves.length === 0) {
      for (const m of moves) this.loadOperand(m.dst, m.op);
      return;
    }
    const narrow = new Set(moves.filter((m) => (m.op.kind === 'value' || m.op.kind === 'sum') && !m.op.wide).map((m) => m.dst as string));
    sequenceMoves(regMoves, 'x16', (d, s, addend) => {
      // A sum argument is one add or sub with an immediate.
      if (addend !== undefined) this.addSmall(sizedTo(d, narrow.has(d)), sizedTo(s, narrow.has(d)), addend);
      else a.mov(sizedTo(d, narrow.has(d)), sizedTo(s, narrow.has(d)));
    });
    // An i32 already in its argument register still needs its upper half cleared.
    for (const m of regMoves) if (m.dst === m.src && narrow.has(m.dst)) a.mov(w(m.dst as X), w(m.dst as X));
    for (const m of moves) if (argRegister(m.op) === undefined) this.loadOperand(m.dst, m.op);
  }

  /** Loads the register arguments of `args`, `args[k]` into `ARG_REGS[first + k]` (registerArgMoves). */
  private loadRegisterArgs(args: readonly Operand[], first: number): void {
    const moves = registerArgMoves(args, ARG_REGS, first, argRegister);
    if (moves !== undefined) this.loadArgs(moves);
    else for (let k = 0; k < args.length && first + k < ARG_REGS.length; k++) this.loadOperand(ARG_REGS[first + k], args[k]);
  }

  callWasm(target: WasmCallTarget, args: readonly Operand[]): CallOffsets {
    const a = this.asm;
    for (let k = ARG_REGS.length - 2; k < args.length; k++) {
      const argIndex = k + 2;
      this.loadOperand('x16', args[k]);
      a.str('x16', this.slot(8 * (argIndex - ARG_REGS.length)));
    }
    this.loadRegisterArgs(args, 2);
    let callOffset: number;
    switch (target.kind) {
      case 'symbol':
        a.mov('x0', VMCTX);
        a.mov('x1', VMCTX);
        callOffset = this.offset();
        a.blSymbol(target.symbol);
        break;
      case 'import':
        a.ldr('x16', this.address(VMCTX, target.wasmCallOffset, 8));
        a.ldr('x0', this.address(VMCTX, target.vmctxOffset, 8));
        a.mov('x1', VMCTX);
        callOffset = this.offset();
        a.blr('x16');
        break;
      case 'funcref':
        a.ldr('x16', mem(VREG.R2, target.wasmCallOffset));
        a.ldr('x0', mem(VREG.R2, target.vmctxOffset));
        a.mov('x1', VMCTX);
        callOffset = this.offset();
        a.blr('x16');
        break;
    }
    return { callOffset, returnOffset: this.offset() };
  }

  tailCallWasm(target: WasmCallTarget, args: readonly Operand[], frame: FrameLayout): void {
    const a = this.asm;
    // Stack arguments into this function's incoming ones ([x29 + 16 + 8j]): no value of the
    // body lives there (parameters were moved out by the prologue).
    for (let k = ARG_REGS.length - 2; k < args.length; k++) {
      const argIndex = k + 2;
      this.loadOperand('x16', args[k]);
      a.str('x16', this.address('x29', 16 + 8 * (argIndex - ARG_REGS.length), 8));
    }
    this.loadRegisterArgs(args, 2);
    // The target in x16 (IP0: no argument register, not restored by the teardown).
    switch (target.kind) {
      case 'symbol':
        a.mov('x0', VMCTX);
        break;
      case 'import':
        a.ldr('x16', this.address(VMCTX, target.wasmCallOffset, 8));
        a.ldr('x0', this.address(VMCTX, target.vmctxOffset, 8));
        break;
      case 'funcref':
        a.ldr('x16', mem(VREG.R2, target.wasmCallOffset));
        a.ldr('x0', mem(VREG.R2, target.vmctxOffset));
        break;
    }
    a.mov('x1', VMCTX);
    this.teardown(frame);
    if (target.kind === 'symbol') a.bSymbol(target.symbol);
    else a.br('x16');
  }

  callBuiltin(builtinsOffset: number, index: number, args: readonly Operand[]): CallOffsets {
    const a = this.asm;
    if (args.length + 1 > ARG_REGS.length) throw new CodegenError('aarch64', `builtin ${index} has too many arguments`);
    this.loadRegisterArgs(args, 1);
    a.mov('x0', VMCTX);
    a.ldr('x16', this.address(VMCTX, builtinsOffset, 8));
    a.ldr('x16', mem('x16', index * 8));
    const callOffset = this.offset();
    a.blr('x16');
    return { callOffset, returnOffset: this.offset() };
  }

  storeReturn(loc: Loc): void {
    this.writeLoc(loc, 'x0');
  }
  storeReturns(locs: readonly Loc[]): void {
    // Slots and float registers first (they only read return registers), then the general
    // register moves as one parallel move.
    locs.forEach((loc, k) => { if (!isRegLoc(loc) || isFloatRegLoc(loc)) this.writeLoc(loc, RESULT_REGS[k]); });
    const moves = locs.flatMap((loc, k) => (isRegLoc(loc) && !isFloatRegLoc(loc) ? [{ dst: loc as string, src: RESULT_REGS[k] as string }] : []));
    sequenceMoves(moves, 'x16', (d, s) => this.asm.mov(d as X, s as X));
  }

  moveReturn(r: VReg): void {
    this.asm.mov(VREG[r], 'x0');
  }
  shrImm(r: VReg, amount: number): void {
    this.asm.lsrImm(VREG[r], VREG[r], amount);
  }

  /** The code, with the out-of-line traps of conditional checks in the final island (CodeBuffer). */
  finish(): BackendOutput {
    return this.asm.finish();
  }
}

/** Whether `v` fits AArch64's arithmetic immediate: 0..4095, optionally shifted left by 12. */
function arithImmediate(v: bigint): boolean {
  return v >= 0n && (v <= 0xfffn || ((v & 0xfffn) === 0n && v <= 0xfff000n));
}

/** k when `v` is 2^k (v > 0), else undefined. */
function log2(v: bigint): number | undefined {
  if (v <= 0n || (v & (v - 1n)) !== 0n) return undefined;
  return v.toString(2).length - 1;
}
