/**
 * x86-64 backend of the macro-assembler. Register use:
 * - r14 holds the function's own vmctx for the whole body (callee-saved in System V, so it
 *   survives every call; saved with `mov [rsp+k], r14` at the top of the frame, as Cranelift
 *   stores clobbered callee-saves);
 * - rax, r10, r11 are the pointer scratch registers R0, R1, R2;
 * - rcx and rdx are private scratch (shift counts, division, large immediates);
 * - r10 also carries the stack limit in the prologue, as Cranelift's stack-limit register.
 * With `--regalloc none` every value lives in a slot; the linear-scan allocator also assigns
 * rbx, r12, r13 and r15 (callee-saved: saved with `mov [rsp+k], reg` in ascending order at the
 * top of the frame, as Cranelift's gen_clobber_save stores them).
 */
import {
  X64Assembler,
  mem,
  memIndex,
  type Gpr,
  type Gpr32,
  type Gpr64,
  type SseWidth,
  type X64Address,
  type X64Cond,
  type Xmm,
} from '../../isa/x64/encoder.ts';
import {
  CodegenError,
  isFloatRegLoc,
  isRegLoc,
  registerArgMoves,
  sequenceMoves,
  type BackendOutput,
  type BinOp,
  type ImmBinOp,
  type CallOffsets,
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
import { X64_ABI } from '../../isa/abi.ts';
import { WASM_INT_RESULT_REGISTERS } from './returns.ts';
import type { Label } from '../../isa/code-buffer.ts';
import type { TrapCode } from '../../isa/trap-codes.ts';
import { f32Bits, f64Bits } from '../frontend/float-bits.ts';

const VREG: Record<VReg, Gpr64> = { R0: 'rax', R1: 'r10', R2: 'r11' };
const VMCTX: Gpr64 = 'r14';
const ARG_REGS: readonly Gpr64[] = X64_ABI.intArgs as readonly Gpr64[];
const RESULT_REGS = WASM_INT_RESULT_REGISTERS.x64 as readonly Gpr64[];
const COND: Record<Cond, X64Cond> = {
  eq: 'e', ne: 'ne', lt_s: 'l', lt_u: 'b', gt_s: 'g', gt_u: 'a', le_s: 'le', le_u: 'be', ge_s: 'ge', ge_u: 'ae',
};

const R32: Record<Gpr64, Gpr32> = {
  rax: 'eax', rcx: 'ecx', rdx: 'edx', rbx: 'ebx', rsp: 'esp', rbp: 'ebp', rsi: 'esi', rdi: 'edi',
  r8: 'r8d', r9: 'r9d', r10: 'r10d', r11: 'r11d', r12: 'r12d', r13: 'r13d', r14: 'r14d', r15: 'r15d',
};
const sized = (r: Gpr64, wide: boolean): Gpr => (wide ? r : R32[r]);
/** x86 shift instructions of the Wasm shift and rotate operators. */
const SHIFT_OPS = { shl: 'shl', shr_s: 'sar', shr_u: 'shr', rotl: 'rol', rotr: 'ror' } as const;
// Numbers compare as numbers (no BigInt per call); a non-integer still throws from BigInt as before.
const fitsI32 = (v: number | bigint): boolean =>
  typeof v === 'number' && Number.isInteger(v) ? v >= -0x80000000 && v <= 0x7fffffff : BigInt(v) >= -0x80000000n && BigInt(v) <= 0x7fffffffn;
/** The general-purpose register a call argument's value already sits in, if any. */
const argRegister = (op: Operand): Gpr64 | undefined =>
  (op.kind === 'value' || op.kind === 'sum') && isRegLoc(op.loc) && !isFloatRegLoc(op.loc) ? (op.loc as Gpr64) : op.kind === 'reg' ? VREG[op.reg] : undefined;
const sized32 = (r: string, narrowed: boolean): Gpr => (narrowed ? R32[r as Gpr64] : (r as Gpr64));

export class X64MacroAssembler implements MacroAssembler {
  readonly arch = 'x64' as const;
  readonly asm = new X64Assembler();

  offset(): number {
    return this.asm.offset;
  }
  /** x64 branches reach ±2 GiB: no island is ever needed. */
  islandCheckpoint(): void {}
  newLabel(): Label {
    return this.asm.newLabel();
  }
  bind(label: Label): void {
    this.asm.bind(label);
  }

  private slot(offset: number): X64Address {
    return mem('rsp', offset);
  }
  private base(b: VReg | 'vmctx'): Gpr64 {
    return b === 'vmctx' ? VMCTX : VREG[b];
  }
  /** dst ← the value at `loc` (`dst` sized: a 32-bit dst reads the low half, zero-extending). */
  private readLoc(dst: Gpr, loc: Loc): void {
    if (!isRegLoc(loc)) this.asm.load(dst, this.slot(loc));
    else if (isFloatRegLoc(loc)) this.asm.movFromXmm(dst, loc as Xmm);
    else if (dst !== loc && dst !== R32[loc as Gpr64]) this.asm.mov(dst, dst in R32 ? (loc as Gpr64) : R32[loc as Gpr64]);
  }
  /** The value at `loc` ← the 64-bit register `src`. */
  private writeLoc(loc: Loc, src: Gpr64): void {
    if (!isRegLoc(loc)) this.asm.store(this.slot(loc), src);
    else if (isFloatRegLoc(loc)) this.asm.movToXmm(loc as Xmm, src);
    else if (loc !== src) this.asm.mov(loc as Gpr64, src);
  }

  prologue(frame: FrameLayout): void {
    const a = this.asm;
    const n = frame.frameSize;
    a.push('rbp');
    a.mov('rbp', 'rsp');
    // Stack-limit check (Cranelift's insert_stack_check): limit + the checked size must not exceed rsp.
    const check = frame.stackCheck ?? n;
    if (check !== 'skip') {
      a.load('r10', mem('rdi', frame.stackLimit?.vmctxOffset ?? 8));
      a.load('r10', mem('r10', frame.stackLimit?.limitOffset ?? 0));
      if (check >= 32 * 1024) {
        a.cmp('rsp', 'r10');
        a.jcc('b', this.asm.deferredTrap('StackOverflow'));
      }
      if (check > 0) a.addImm('r10', check);
      a.cmp('rsp', 'r10');
      a.jcc('b', this.asm.deferredTrap('StackOverflow'));
    }
    a.subImm('rsp', n);
    const saved = frame.savedRegs ?? [VMCTX];
    saved.forEach((r, k) => a.store(mem('rsp', frame.calleeSaveOffset + 8 * k), r as Gpr64));
    a.mov(VMCTX, 'rdi');
    const storeArg = (off: number, argIndex: number): void => {
      if (argIndex < ARG_REGS.length) {
        a.store(this.slot(off), ARG_REGS[argIndex]);
      } else {
        a.load('rax', mem('rbp', 16 + 8 * (argIndex - ARG_REGS.length)));
        a.store(this.slot(off), 'rax');
      }
    };
    frame.paramOffsets.forEach((off, k) => storeArg(off, k + 2));
    // The return-area pointer follows the parameters (compiler/codegen/returns.ts).
    if (frame.returnAreaPointer !== undefined) storeArg(frame.returnAreaPointer, 2 + frame.paramWide.length);
    if (frame.zeroCount > 0) {
      a.xor('eax', 'eax');
      if (frame.zeroCount <= 16) {
        for (let i = 0; i < frame.zeroCount; i++) a.store(this.slot(frame.zeroStart + 8 * i), 'rax');
      } else {
        a.lea('rcx', this.slot(frame.zeroStart));
        a.movImm32('edx', frame.zeroCount);
        const loop = a.newLabel();
        a.bind(loop);
        a.store(mem('rcx', 0), 'rax');
        a.addImm('rcx', 8);
        a.subImm('edx', 1);
        a.jcc('ne', loop);
      }
    }
  }

  loadResult(loc: Loc, wide: boolean): void {
    this.readLoc(wide ? 'rax' : 'eax', loc);
  }
  loadResults(results: readonly { readonly loc: Loc; readonly wide: boolean }[]): void {
    // rax and rdx are no value's register: the loads cannot disturb each other.
    results.forEach(({ loc, wide }, k) => this.readLoc(sized(RESULT_REGS[k], wide), loc));
  }
  loadParams(params: readonly { readonly index: number; readonly dst: Loc }[]): void {
    const a = this.asm;
    const inRegs = params.filter((p) => p.index + 2 < ARG_REGS.length);
    // Slots first (they only read argument registers), then the register moves as one parallel
    // move, then the stack arguments (their destinations may be argument registers just read).
    for (const p of inRegs) if (!isRegLoc(p.dst)) a.store(this.slot(p.dst), ARG_REGS[p.index + 2]);
    // A float register destination is no argument register: it can be written first too.
    for (const p of inRegs) if (isFloatRegLoc(p.dst)) a.movToXmm(p.dst as Xmm, ARG_REGS[p.index + 2]);
    const moves = inRegs.filter((p) => isRegLoc(p.dst) && !isFloatRegLoc(p.dst)).map((p) => ({ dst: p.dst as string, src: ARG_REGS[p.index + 2] as string }));
    sequenceMoves(moves, 'rax', (d, s) => a.mov(d as Gpr64, s as Gpr64));
    for (const p of params) {
      if (p.index + 2 < ARG_REGS.length) continue;
      const from = mem('rbp', 16 + 8 * (p.index + 2 - ARG_REGS.length));
      if (isFloatRegLoc(p.dst)) {
        a.sseLoad(64, p.dst as Xmm, from);
      } else if (isRegLoc(p.dst)) {
        a.load(p.dst as Gpr64, from);
      } else {
        a.load('rax', from);
        a.store(this.slot(p.dst), 'rax');
      }
    }
  }

  epilogue(frame: FrameLayout): void {
    this.teardown(frame);
    this.asm.ret();
  }
  /** The epilogue up to its `ret`: callee-saved registers back, the frame popped. */
  private teardown(frame: FrameLayout): void {
    const a = this.asm;
    const saved = frame.savedRegs ?? [VMCTX];
    saved.forEach((r, k) => a.load(r as Gpr64, mem('rsp', frame.calleeSaveOffset + 8 * k)));
    a.addImm('rsp', frame.frameSize);
    a.mov('rsp', 'rbp');
    a.pop('rbp');
  }

  copySlot(dst: Loc, src: Loc): void {
    if (dst === src) return;
    if (isFloatRegLoc(dst) || isFloatRegLoc(src)) {
      this.copyFloat(dst, src);
    } else if (isRegLoc(dst)) {
      this.readLoc(dst as Gpr64, src);
    } else if (isRegLoc(src)) {
      this.asm.store(this.slot(dst), src as Gpr64);
    } else {
      this.asm.load('rax', this.slot(src));
      this.asm.store(this.slot(dst), 'rax');
    }
  }
  /** copySlot with a float register on either side (8 bytes: movsd, movaps or movq). */
  private copyFloat(dst: Loc, src: Loc): void {
    const a = this.asm;
    if (!isRegLoc(src)) a.sseLoad(64, dst as Xmm, this.slot(src));
    else if (!isRegLoc(dst)) a.sseStore(64, this.slot(dst), src as Xmm);
    else if (isFloatRegLoc(dst) && isFloatRegLoc(src)) a.movaps(dst as Xmm, src as Xmm);
    else if (isFloatRegLoc(dst)) a.movToXmm(dst as Xmm, src as Gpr64);
    else a.movFromXmm(dst as Gpr64, src as Xmm);
  }
  storeSlotImm(dst: Loc, value: bigint): void {
    if (isFloatRegLoc(dst)) {
      if (value === 0n) this.asm.sseLogic('xor', 32, dst as Xmm, dst as Xmm);
      else {
        this.asm.movImm('rax', BigInt.asUintN(64, value));
        this.asm.movToXmm(dst as Xmm, 'rax');
      }
    } else if (isRegLoc(dst)) {
      if (value === 0n) this.asm.xor(R32[dst as Gpr64], R32[dst as Gpr64]);
      else this.asm.movImm(dst as Gpr64, BigInt.asUintN(64, value));
    } else if (fitsI32(BigInt.asIntN(64, value))) {
      this.asm.storeImm(this.slot(dst), Number(BigInt.asIntN(64, value)), 64);
    } else {
      this.asm.movImm('rax', BigInt.asUintN(64, value));
      this.asm.store(this.slot(dst), 'rax');
    }
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
    this.loadPhys(VREG[r], this.base(base), disp, size, signed);
  }
  private loadPhys(dst: Gpr64, base: Gpr64, disp: number, size: 1 | 2 | 4 | 8, signed: boolean): void {
    this.loadAt(dst, mem(base, disp), size, signed);
  }
  private loadAt(dst: Gpr64, addr: X64Address, size: 1 | 2 | 4 | 8, signed: boolean): void {
    const a = this.asm;
    if (size === 8) a.load(dst, addr);
    else if (size === 4) signed ? a.loadSx(dst, addr, 32) : a.load(R32[dst], addr);
    else signed ? a.loadSx(dst, addr, size === 1 ? 8 : 16) : a.loadZx(R32[dst], addr, size === 1 ? 8 : 16);
  }
  store(base: VReg | 'vmctx', disp: number, r: VReg, size: 1 | 2 | 4 | 8): void {
    this.asm.store(mem(this.base(base), disp), VREG[r], (size * 8) as 8 | 16 | 32 | 64);
  }
  /**
   * `[base + index + disp]` for a Wasm access: the i32 index in rax (a 32-bit move zero-extends)
   * unless its register is known to be zero-extended already (`indexExtended`), a displacement
   * past simm32 added to it.
   */
  private heapAddress(base: HeapBase, index: Loc, disp: number, indexExtended: boolean): X64Address {
    const b = typeof base === 'string' ? VREG[base] : (base.reg as Gpr64);
    if (indexExtended && isRegLoc(index) && !isFloatRegLoc(index) && disp <= 0x7fff_ffff) return memIndex(b, index as Gpr64, 1, disp);
    this.readLoc('eax', index);
    if (disp <= 0x7fff_ffff) return memIndex(b, 'rax', 1, disp);
    this.asm.movImm('rcx', BigInt(disp));
    this.asm.alu('add', 'rax', 'rcx');
    return memIndex(b, 'rax', 1, 0);
  }
  loadPointer(dst: string, base: VReg | 'vmctx', disp: number): void {
    this.asm.load(dst as Gpr64, mem(this.base(base), disp));
  }
  heapLoad(dst: Loc, base: HeapBase, index: Loc, disp: number, size: 1 | 2 | 4 | 8, signed: boolean, indexExtended = false): void {
    const addr = this.heapAddress(base, index, disp, indexExtended);
    const direct = isRegLoc(dst) && !isFloatRegLoc(dst);
    const r: Gpr64 = direct ? (dst as Gpr64) : 'r11';
    this.asm.trapSiteHere('HeapOutOfBounds');
    this.loadAt(r, addr, size, signed);
    if (!direct) this.writeLoc(dst, 'r11');
  }
  heapBinop(op: BinOp, wide: boolean, dst: Loc, x: Loc, base: HeapBase, index: Loc, disp: number, indexExtended = false): void {
    if (op !== 'add' && op !== 'sub' && op !== 'and' && op !== 'or' && op !== 'xor' && op !== 'mul') throw new CodegenError('x64', `${op} takes no memory operand`);
    const direct = isRegLoc(dst) && !isFloatRegLoc(dst);
    const d: Gpr64 = direct ? (dst as Gpr64) : 'r11';
    const dr = sized(d, wide);
    if (d === index && x !== d && op !== 'sub') {
      // dst shares the index's register (the index dies here): load into it, then the
      // commutative operation with x (writing x to dst first would lose the index).
      const addr = this.heapAddress(base, index, disp, indexExtended);
      this.asm.trapSiteHere('HeapOutOfBounds');
      this.loadAt(d, addr, wide ? 8 : 4, false);
      this.binopInto(op, wide, d, d, x);
      return;
    }
    // A sub into the index's register: the address takes a copy of the index in rax first.
    const addr = this.heapAddress(base, index, disp, indexExtended && !(d === index && x !== d));
    this.readLoc(dr, x);
    this.asm.trapSiteHere('HeapOutOfBounds');
    if (op === 'mul') this.asm.imulLoad(dr, addr);
    else this.asm.aluLoad(op, dr, addr);
    if (!direct) this.writeLoc(dst, 'r11');
  }
  heapStore(base: HeapBase, index: Loc, disp: number, value: Loc, size: 1 | 2 | 4 | 8, indexExtended = false): void {
    const direct = isRegLoc(value) && !isFloatRegLoc(value);
    if (!direct) this.readLoc('r11', value);
    const addr = this.heapAddress(base, index, disp, indexExtended);
    this.asm.trapSiteHere('HeapOutOfBounds');
    this.asm.store(addr, direct ? (value as Gpr64) : 'r11', (size * 8) as 8 | 16 | 32 | 64);
  }
  addReg(dst: VReg, a: VReg, b: VReg): void {
    this.asm.lea(VREG[dst], memIndex(VREG[a], VREG[b], 1, 0));
  }
  addImm(dst: VReg, a: VReg, imm: number): void {
    if (fitsI32(imm)) {
      this.asm.lea(VREG[dst], mem(VREG[a], imm));
    } else {
      this.asm.movImm('rcx', BigInt(imm));
      this.asm.lea(VREG[dst], memIndex(VREG[a], 'rcx', 1, 0));
    }
  }
  andImm(dst: VReg, a: VReg, imm: bigint): void {
    if (dst !== a) this.asm.mov(VREG[dst], VREG[a]);
    this.asm.andImm(VREG[dst], Number(BigInt.asIntN(64, imm)));
  }
  orImm(dst: VReg, a: VReg, imm: bigint): void {
    if (dst !== a) this.asm.mov(VREG[dst], VREG[a]);
    this.asm.orImm(VREG[dst], Number(BigInt.asIntN(64, imm)));
  }
  addScaled8(dst: VReg, base: VReg, index: VReg): void {
    this.asm.lea(VREG[dst], memIndex(VREG[base], VREG[index], 8, 0));
  }

  binop(op: BinOp, wide: boolean, dst: Loc, x: Loc, y: Loc): void {
    const a = this.asm;
    if (isRegLoc(dst) && this.binopInto(op, wide, dst as Gpr64, x, y)) return;
    const ax = sized('rax', wide);
    const cx = sized('rcx', wide);
    const dx = sized('rdx', wide);
    // An operand in rax (the return register holds a call's result) is read before rax is written.
    if (y === 'rax') {
      this.readLoc(cx, y);
      this.readLoc(ax, x);
    } else {
      this.readLoc(ax, x);
      this.readLoc(cx, y);
    }
    let result: Gpr = ax;
    switch (op) {
      case 'add': case 'sub': case 'and': case 'or': case 'xor':
        a.alu(op, ax, cx);
        break;
      case 'mul':
        a.imul(ax, cx);
        break;
      case 'shl': a.shiftCl('shl', ax); break;
      case 'shr_s': a.shiftCl('sar', ax); break;
      case 'shr_u': a.shiftCl('shr', ax); break;
      case 'rotl': a.shiftCl('rol', ax); break;
      case 'rotr': a.shiftCl('ror', ax); break;
      case 'div_s': {
        a.test(cx, cx);
        a.jcc('e', this.asm.deferredTrap('IntegerDivisionByZero'));
        const ok = a.newLabel();
        a.cmpImm(cx, -1);
        a.jcc('ne', ok);
        a.movImm(dx, wide ? -(1n << 63n) : 0x80000000n);
        a.cmp(ax, dx);
        a.jcc('e', this.asm.deferredTrap('IntegerOverflow'));
        a.bind(ok);
        wide ? a.cqo() : a.cdq();
        a.idiv(cx);
        break;
      }
      case 'rem_s': {
        a.test(cx, cx);
        a.jcc('e', this.asm.deferredTrap('IntegerDivisionByZero'));
        const divide = a.newLabel();
        const done = a.newLabel();
        // x rem -1 is 0 for every x; idiv would fault on MIN / -1.
        a.cmpImm(cx, -1);
        a.jcc('ne', divide);
        a.xor('edx', 'edx');
        a.jmp(done);
        a.bind(divide);
        wide ? a.cqo() : a.cdq();
        a.idiv(cx);
        a.bind(done);
        result = dx;
        break;
      }
      case 'div_u':
      case 'rem_u':
        a.test(cx, cx);
        a.jcc('e', this.asm.deferredTrap('IntegerDivisionByZero'));
        a.xor('edx', 'edx');
        a.div(cx);
        if (op === 'rem_u') result = dx;
        break;
    }
    this.writeLoc(dst, result === ax ? 'rax' : 'rdx');
  }

  /**
   * Two-address form straight into a destination register (`mov d, x; op d, y`), for the
   * operators x86 has as `op reg, reg/mem`; false when the generic sequence is needed.
   */
  private binopInto(op: BinOp, wide: boolean, d: Gpr64, x: Loc, y: Loc): boolean {
    const alu = op === 'add' || op === 'sub' || op === 'and' || op === 'or' || op === 'xor';
    if (!alu && op !== 'mul') return false;
    const commutative = op !== 'sub';
    if (y === d && x !== d) {
      if (!commutative) return false;
      [x, y] = [y, x];
    }
    const a = this.asm;
    const dr = sized(d, wide);
    this.readLoc(dr, x);
    if (isRegLoc(y)) {
      const yr = sized(y as Gpr64, wide);
      op === 'mul' ? a.imul(dr, yr) : a.alu(op as 'add', dr, yr);
    } else if (op === 'mul') {
      a.load(sized('rcx', wide), this.slot(y));
      a.imul(dr, sized('rcx', wide));
    } else {
      a.aluLoad(op as 'add', dr, this.slot(y));
    }
    return true;
  }

  unop(op: UnOp, wide: boolean, dst: Loc, x: Loc): void {
    const a = this.asm;
    const ax = sized('rax', wide);
    switch (op) {
      case 'neg': {
        const d = isRegLoc(dst) && !isFloatRegLoc(dst) ? (dst as Gpr64) : 'rax';
        this.readLoc(sized(d, wide), x);
        a.neg(sized(d, wide));
        this.writeLoc(dst, d);
        return;
      }
      case 'clz': this.readLoc(ax, x); a.lzcnt(ax, ax); break;
      case 'ctz': this.readLoc(ax, x); a.tzcnt(ax, ax); break;
      case 'popcnt': this.popcnt(wide, x); break;
      case 'eqz':
        this.readLoc(ax, x);
        a.test(ax, ax);
        a.setcc('e', 'eax');
        a.movzx('eax', 'eax', 8);
        break;
      case 'extend8_s': this.readLoc('eax', x); a.movsx(ax, 'eax', 8); break;
      case 'extend16_s': this.readLoc('eax', x); a.movsx(ax, 'eax', 16); break;
      case 'extend32_s':
      case 'extend_i32_s':
        this.readLoc('eax', x);
        a.movsxd('rax', 'eax');
        break;
      case 'extend_i32_u':
        this.readLoc('eax', x);
        break;
    }
    this.writeLoc(dst, 'rax');
  }

  /** Population count without the POPCNT extension (Unicorn's default CPU model lacks it). */
  private popcnt(wide: boolean, x: Loc): void {
    const a = this.asm;
    const ax = sized('rax', wide);
    const cx = sized('rcx', wide);
    const dx = sized('rdx', wide);
    const k = (byte: bigint): bigint => (wide ? byte * 0x0101010101010101n : byte * 0x01010101n);
    this.readLoc(ax, x);
    a.mov(cx, ax);
    a.shiftImm('shr', cx, 1);
    a.movImm(dx, k(0x55n));
    a.and(cx, dx);
    a.sub(ax, cx);
    a.movImm(dx, k(0x33n));
    a.mov(cx, ax);
    a.and(cx, dx);
    a.shiftImm('shr', ax, 2);
    a.and(ax, dx);
    a.add(ax, cx);
    a.mov(cx, ax);
    a.shiftImm('shr', cx, 4);
    a.add(ax, cx);
    a.movImm(dx, k(0x0fn));
    a.and(ax, dx);
    a.movImm(dx, k(0x01n));
    a.imul(ax, dx);
    a.shiftImm('shr', ax, wide ? 56 : 24);
  }

  compare(cond: Cond, wide: boolean, dst: Loc, x: Loc, y: Loc): void {
    const a = this.asm;
    if (isRegLoc(x)) {
      const xr = sized(x as Gpr64, wide);
      if (isRegLoc(y)) a.cmp(xr, sized(y as Gpr64, wide));
      else a.aluLoad('cmp', xr, this.slot(y));
    } else {
      this.readLoc(sized('rax', wide), x);
      this.readLoc(sized('rcx', wide), y);
      a.cmp(sized('rax', wide), sized('rcx', wide));
    }
    a.setcc(COND[cond], 'eax');
    a.movzx('eax', 'eax', 8);
    this.writeLoc(dst, 'rax');
  }

  // --- floats (SSE2, roundss/roundsd from SSE4.1; xmm0-xmm2 are scratch) ----------------------

  /** xmm ← the float at `loc` (its low 32 or 64 bits). */
  private readF(x: Xmm, loc: Loc, width: SseWidth): void {
    if (!isRegLoc(loc)) this.asm.sseLoad(width, x, this.slot(loc));
    else if (isFloatRegLoc(loc)) this.asm.movaps(x, loc as Xmm);
    else this.asm.movToXmm(x, width === 32 ? R32[loc as Gpr64] : (loc as Gpr64));
  }
  /** The float in `x` → `loc`, through rax (an f32 lands zero-extended, as an i32 does). */
  private writeF(loc: Loc, x: Xmm, width: SseWidth): void {
    if (isFloatRegLoc(loc)) {
      this.asm.movaps(loc as Xmm, x);
      return;
    }
    this.asm.movFromXmm(width === 32 ? 'eax' : 'rax', x);
    this.writeLoc(loc, 'rax');
  }
  /** xmm ← a float constant given by its bits (through rax). */
  private floatConst(x: Xmm, width: SseWidth, bits: bigint): void {
    this.asm.movImm(width === 32 ? 'eax' : 'rax', bits);
    this.asm.movToXmm(x, width === 32 ? 'eax' : 'rax');
  }

  /** An xmm register holding the float at `loc`: its own register, or `scratch` loaded with it. */
  private floatIn(loc: Loc, scratch: Xmm, width: SseWidth): Xmm {
    if (isFloatRegLoc(loc)) return loc as Xmm;
    this.readF(scratch, loc, width);
    return scratch;
  }
  /** Where a float result is computed: the destination's own register, else xmm0. */
  private floatOut(dst: Loc): Xmm {
    return isFloatRegLoc(dst) ? (dst as Xmm) : 'xmm0';
  }
  /** The result computed in `r` → `dst` (nothing when `r` is dst's register). */
  private floatDone(dst: Loc, r: Xmm, width: SseWidth): void {
    if (r !== dst) this.writeF(dst, r, width);
  }

  fbinop(op: FBinOp, double: boolean, dst: Loc, x: Loc, y: Loc): void {
    const a = this.asm;
    const width: SseWidth = double ? 64 : 32;
    if (op === 'copysign') {
      // Sign-bit arithmetic on the bits: (x & ~sign) | (y & sign).
      const sign = double ? 1n << 63n : 1n << 31n;
      const r = sized('rax', double);
      const t = sized('rcx', double);
      const m = sized('rdx', double);
      this.readLoc(r, x);
      this.readLoc(t, y);
      a.movImm(m, sign);
      a.and(t, m);
      a.not(m);
      a.and(r, m);
      a.or(r, t);
      this.writeLoc(dst, 'rax');
      return;
    }
    // Two-address: d ← x, then d ← d op y; d is dst's own register unless that holds y.
    const yr = this.floatIn(y, 'xmm1', width);
    let d = this.floatOut(dst);
    if (d === yr && x !== dst) d = 'xmm0';
    if (x !== d) this.readF(d, x, width);
    if (op === 'min' || op === 'max') {
      // minss/maxss alone return the second operand for NaN and for ±0 pairs; Wasm wants NaN
      // for a NaN operand and -0 < +0. As Cranelift's XmmMinMaxSeq: unordered → x + y (a
      // NaN), equal → OR (min: -0 wins) or AND (max: +0 wins) of the bits, else minss/maxss.
      const ordered = a.newLabel();
      const nan = a.newLabel();
      const done = a.newLabel();
      a.ucomis(width, d, yr);
      a.jcc('ne', ordered);
      a.jcc('p', nan);
      a.sseLogic(op === 'min' ? 'or' : 'and', width, d, yr);
      a.jmp(done);
      a.bind(nan);
      a.sseArith('add', width, d, yr);
      a.jmp(done);
      a.bind(ordered);
      a.sseArith(op, width, d, yr);
      a.bind(done);
    } else {
      a.sseArith(op, width, d, yr);
    }
    this.floatDone(dst, d, width);
  }

  funop(op: FUnOp, double: boolean, dst: Loc, x: Loc): void {
    const a = this.asm;
    const width: SseWidth = double ? 64 : 32;
    if (op === 'abs' || op === 'neg') {
      // Sign-bit arithmetic on the bits (Cranelift uses andps/xorps with a mask: the same bits).
      const r = sized('rax', double);
      this.readLoc(r, x);
      a.movImm(sized('rcx', double), op === 'abs' ? (double ? (1n << 63n) - 1n : 0x7fffffffn) : double ? 1n << 63n : 1n << 31n);
      op === 'abs' ? a.and(r, sized('rcx', double)) : a.xor(r, sized('rcx', double));
      this.writeLoc(dst, 'rax');
      return;
    }
    const src = this.floatIn(x, 'xmm0', width);
    const d = this.floatOut(dst);
    if (op === 'sqrt') a.sseArith('sqrt', width, d, src);
    else a.sseRound(width, d, src, op);
    this.floatDone(dst, d, width);
  }

  fcompare(cond: FCond, double: boolean, dst: Loc, x: Loc, y: Loc): void {
    const a = this.asm;
    const width: SseWidth = double ? 64 : 32;
    const xr = this.floatIn(x, 'xmm0', width);
    const yr = this.floatIn(y, 'xmm1', width);
    // ucomis sets ZF, PF, CF all to 1 for unordered operands; lt/le compare the other way round
    // so that "above" (CF = ZF = 0) and "above or equal" (CF = 0) are false for NaN.
    switch (cond) {
      case 'eq':
      case 'ne':
        a.ucomis(width, xr, yr);
        a.setcc(cond === 'eq' ? 'e' : 'ne', 'eax');
        a.setcc(cond === 'eq' ? 'np' : 'p', 'ecx');
        cond === 'eq' ? a.and('eax', 'ecx') : a.or('eax', 'ecx');
        break;
      case 'gt': a.ucomis(width, xr, yr); a.setcc('a', 'eax'); break;
      case 'ge': a.ucomis(width, xr, yr); a.setcc('ae', 'eax'); break;
      case 'lt': a.ucomis(width, yr, xr); a.setcc('a', 'eax'); break;
      case 'le': a.ucomis(width, yr, xr); a.setcc('ae', 'eax'); break;
    }
    a.movzx('eax', 'eax', 8);
    this.writeLoc(dst, 'rax');
  }

  fconvert(c: FConversion, dst: Loc, x: Loc): void {
    const a = this.asm;
    switch (c.kind) {
      case 'promote':
      case 'demote': {
        const to: SseWidth = c.kind === 'promote' ? 64 : 32;
        const src = this.floatIn(x, 'xmm0', to === 64 ? 32 : 64);
        const d = this.floatOut(dst);
        a.cvtFloat(to, d, src);
        this.floatDone(dst, d, to);
        return;
      }
      case 'convert': {
        const d = this.floatOut(dst);
        this.convertIntToFloat(c.double ? 64 : 32, c.wide, c.signed, x, d);
        this.floatDone(dst, d, c.double ? 64 : 32);
        return;
      }
      case 'trunc': {
        const width: SseWidth = c.double ? 64 : 32;
        const src = this.floatIn(x, 'xmm0', width);
        if (c.signed) this.truncSigned(width, c.wide, c.saturating, src);
        else if (c.wide) this.truncU64(width, c.saturating, src);
        else this.truncU32(width, c.saturating, src);
        this.writeLoc(dst, 'rax');
        return;
      }
    }
  }

  /** d ← the integer at `x` as a float (unsigned i64 as Cranelift's halve-and-double sequence). */
  private convertIntToFloat(width: SseWidth, wide: boolean, signed: boolean, x: Loc, d: Xmm): void {
    const a = this.asm;
    a.sseLogic('xor', width, d, d); // no dependency on d's old upper lanes
    if (!wide) {
      // i32: signed from the 32-bit register; unsigned zero-extended to 64 bits, then signed.
      this.readLoc('eax', x);
      a.cvtIntToFloat(width, d, signed ? 'eax' : 'rax');
      return;
    }
    this.readLoc('rax', x);
    if (signed) {
      a.cvtIntToFloat(width, d, 'rax');
      return;
    }
    const large = a.newLabel();
    const done = a.newLabel();
    a.test('rax', 'rax');
    a.jcc('s', large);
    a.cvtIntToFloat(width, d, 'rax');
    a.jmp(done);
    a.bind(large);
    // Halve (keeping the low bit, so rounding stays correct), convert, double.
    a.mov('rcx', 'rax');
    a.shiftImm('shr', 'rcx', 1);
    a.andImm('eax', 1);
    a.or('rcx', 'rax');
    a.cvtIntToFloat(width, d, 'rcx');
    a.sseArith('add', width, d, d);
    a.bind(done);
  }

  /** rax ← trunc(src) as a signed integer (`wide`: i64), trapping or saturating as Wasm says. */
  private truncSigned(width: SseWidth, wide: boolean, saturating: boolean, src: Xmm): void {
    const a = this.asm;
    const r = sized('rax', wide);
    const done = a.newLabel();
    a.cvtFloatToInt(width, r, src);
    // cvtt gives the "integer indefinite" MIN for NaN and out-of-range inputs: `cmp r, 1`
    // overflows exactly when r is MIN, which is also the right answer for inputs near MIN.
    a.cmpImm(r, 1);
    a.jcc('no', done);
    a.ucomis(width, src, src);
    if (saturating) {
      const notNan = a.newLabel();
      a.jcc('np', notNan);
      a.xor('eax', 'eax');
      a.jmp(done);
      a.bind(notNan);
      // Negative: MIN is the answer; otherwise MAX (= ~MIN).
      a.sseLogic('xor', width, 'xmm1', 'xmm1');
      a.ucomis(width, 'xmm1', src);
      a.jcc('a', done);
      a.not(r);
    } else {
      a.jcc('p', a.deferredTrap('BadConversionToInteger'));
      // MIN is right when -2^(n-1) - 1 < x < 0 (x truncates to MIN). The lower bound is
      // exact in f64 for n = 32; otherwise the nearest representable bound is -2^(n-1) itself.
      const n = wide ? 64 : 32;
      const exactBelow = width === 64 && !wide;
      const bound = exactBelow ? -(2 ** (n - 1)) - 1 : -(2 ** (n - 1));
      this.floatConst('xmm1', width, width === 64 ? f64Bits(bound) : BigInt(f32Bits(bound)));
      a.ucomis(width, src, 'xmm1');
      a.jcc(exactBelow ? 'be' : 'b', a.deferredTrap('IntegerOverflow'));
      a.sseLogic('xor', width, 'xmm1', 'xmm1');
      a.ucomis(width, src, 'xmm1');
      a.jcc('ae', a.deferredTrap('IntegerOverflow'));
      // The constant went through rax: put MIN back.
      a.movImm(r, wide ? 1n << 63n : 1n << 31n);
    }
    a.bind(done);
  }

  /** eax ← trunc(src) as a u32: a 64-bit signed conversion covers the whole u32 range. */
  private truncU32(width: SseWidth, saturating: boolean, src: Xmm): void {
    const a = this.asm;
    const done = a.newLabel();
    if (saturating) {
      const zero = a.newLabel();
      a.sseLogic('xor', width, 'xmm1', 'xmm1');
      a.ucomis(width, src, 'xmm1');
      a.jcc('be', zero); // NaN (CF = ZF = 1), negative or zero
      a.cvtFloatToInt(width, 'rax', src);
      a.movImm32('ecx', 0xffffffff);
      a.cmp('rax', 'rcx');
      a.jcc('be', done); // unsigned: MIN (x ≥ 2^63) is above
      a.mov('rax', 'rcx');
      a.jmp(done);
      a.bind(zero);
      a.xor('eax', 'eax');
    } else {
      a.ucomis(width, src, src);
      a.jcc('p', a.deferredTrap('BadConversionToInteger'));
      a.cvtFloatToInt(width, 'rax', src);
      // In range exactly when the 64-bit result has no bit above 31 (negatives and MIN do).
      a.mov('rcx', 'rax');
      a.shiftImm('shr', 'rcx', 32);
      a.jcc('ne', a.deferredTrap('IntegerOverflow'));
    }
    a.bind(done);
  }

  /** rax ← trunc(src) as a u64: below 2^63 a signed conversion, above it one of x − 2^63. */
  private truncU64(width: SseWidth, saturating: boolean, src: Xmm): void {
    const a = this.asm;
    const large = a.newLabel();
    const done = a.newLabel();
    const overflow = saturating ? a.newLabel() : a.deferredTrap('IntegerOverflow');
    if (saturating) {
      const positive = a.newLabel();
      a.sseLogic('xor', width, 'xmm1', 'xmm1');
      a.ucomis(width, src, 'xmm1');
      a.jcc('a', positive);
      a.xor('eax', 'eax'); // NaN, negative or zero
      a.jmp(done);
      a.bind(positive);
    } else {
      a.ucomis(width, src, src);
      a.jcc('p', a.deferredTrap('BadConversionToInteger'));
    }
    this.floatConst('xmm1', width, width === 64 ? f64Bits(2 ** 63) : BigInt(f32Bits(2 ** 63)));
    a.ucomis(width, src, 'xmm1');
    a.jcc('ae', large);
    a.cvtFloatToInt(width, 'rax', src);
    if (!saturating) {
      // x ≤ -1 truncates to a negative number (x in (-1, 0) gives 0).
      a.test('rax', 'rax');
      a.jcc('s', overflow);
    }
    a.jmp(done);
    a.bind(large);
    // x − 2^63 in scratch (src may be a live value's register); exact: x ≥ 2^63 has no bits
    // below 2^(63-52).
    if (src !== 'xmm0') a.movaps('xmm0', src);
    a.sseArith('sub', width, 'xmm0', 'xmm1');
    a.cvtFloatToInt(width, 'rax', 'xmm0');
    a.test('rax', 'rax');
    a.jcc('s', overflow); // x − 2^63 ≥ 2^63: x ≥ 2^64
    a.movImm('rcx', 1n << 63n);
    a.xor('rax', 'rcx');
    if (saturating) {
      a.jmp(done);
      a.bind(overflow);
      a.movImm('rax', (1n << 64n) - 1n);
    }
    a.bind(done);
  }

  select(dst: Loc, x: Loc, y: Loc, c: Loc): void {
    const a = this.asm;
    this.readLoc('ecx', c);
    this.readLoc('rax', x);
    this.readLoc('rdx', y);
    a.test('ecx', 'ecx');
    a.cmovcc('e', 'rax', 'rdx');
    this.writeLoc(dst, 'rax');
  }

  selectCompare(dst: Loc, x: Loc, y: Loc, test: { readonly cond: Cond; readonly wide: boolean; readonly x: Loc; readonly y?: Loc; readonly imm?: bigint }): void {
    const a = this.asm;
    // The compare first (it may use rax and rcx); moves leave the flags alone.
    const r = this.inReg(test.x, test.wide);
    if (test.y === undefined) this.aluConst('cmp', r, test.imm!, test.wide);
    else if (isRegLoc(test.y)) a.cmp(r, sized(test.y as Gpr64, test.wide));
    else a.aluLoad('cmp', r, this.slot(test.y));
    this.readLoc('rax', y);
    this.readLoc('rdx', x);
    a.cmovcc(COND[test.cond], 'rax', 'rdx');
    this.writeLoc(dst, 'rax');
  }
  jump(label: Label): void {
    this.asm.jmp(label);
  }
  branchSlot(loc: Loc, ifZero: boolean, label: Label): void {
    if (isRegLoc(loc)) this.asm.test(R32[loc as Gpr64], R32[loc as Gpr64]);
    else this.asm.aluStoreImm('cmp', this.slot(loc), 0, 32);
    this.asm.jcc(ifZero ? 'e' : 'ne', label);
  }
  branchSlotEq(loc: Loc, value: number, label: Label): void {
    if (isRegLoc(loc)) this.asm.cmpImm(R32[loc as Gpr64], value | 0);
    else this.asm.aluStoreImm('cmp', this.slot(loc), value | 0, 32);
    this.asm.jcc('e', label);
  }
  private compareRegs(wide: boolean, x: VReg, y: VReg | number): void {
    const a = this.asm;
    const rx = sized(VREG[x], wide);
    if (typeof y === 'number') {
      if (fitsI32(y) || (!wide && y >= 0 && y <= 0xffffffff)) {
        a.cmpImm(rx, y);
      } else {
        a.movImm('rcx', BigInt(y));
        a.cmp(rx, sized('rcx', wide));
      }
    } else {
      a.cmp(rx, sized(VREG[y], wide));
    }
  }
  /** A constant as the imm32 of a `wide` (sign-extended) or 32-bit operation, or undefined. */
  private imm32(imm: bigint, wide: boolean): number | undefined {
    const v = wide ? BigInt.asIntN(64, imm) : BigInt.asIntN(32, imm);
    return fitsI32(v) ? Number(v) : undefined;
  }
  /** A register holding the value at `x`: its own, or rax loaded from the slot. */
  private inReg(x: Loc, wide: boolean): Gpr {
    if (isRegLoc(x)) return sized(x as Gpr64, wide);
    this.asm.load(sized('rax', wide), this.slot(x));
    return sized('rax', wide);
  }
  /** `op r, imm`, through rcx when the constant is no imm32. */
  private aluConst(op: 'add' | 'sub' | 'and' | 'or' | 'xor' | 'cmp', r: Gpr, imm: bigint, wide: boolean): void {
    const k = this.imm32(imm, wide);
    if (k !== undefined) {
      this.asm.aluImm(op, r, k);
    } else {
      this.asm.movImm('rcx', BigInt.asUintN(64, imm));
      this.asm.alu(op, r, sized('rcx', wide));
    }
  }
  branchCompareImm(cond: Cond, wide: boolean, x: Loc, imm: bigint, label: Label): void {
    this.aluConst('cmp', this.inReg(x, wide), imm, wide);
    this.asm.jcc(COND[cond], label);
  }
  branchTestImm(wide: boolean, x: Loc, mask: bigint, ifZero: boolean, label: Label): void {
    const r = this.inReg(x, wide);
    const k = this.imm32(mask, wide);
    if (k !== undefined) {
      this.asm.testImm(r, k);
    } else {
      this.asm.movImm('rcx', BigInt.asUintN(64, mask));
      this.asm.test(r, sized('rcx', wide));
    }
    this.asm.jcc(ifZero ? 'e' : 'ne', label);
  }
  binopImm(op: ImmBinOp, wide: boolean, dst: Loc, x: Loc, imm: bigint): void {
    const a = this.asm;
    const d = isRegLoc(dst) ? (dst as Gpr64) : 'rax';
    const dr = sized(d, wide);
    const shift = SHIFT_OPS[op as keyof typeof SHIFT_OPS];
    if (shift !== undefined) {
      // Wasm takes the count modulo the width, as the hardware does; no `cl` round trip.
      const count = Number(BigInt.asUintN(64, imm) & BigInt(wide ? 63 : 31));
      this.readLoc(dr, x);
      if (count !== 0) a.shiftImm(shift, dr, count);
    } else if (op === 'mul') {
      const k = this.imm32(imm, wide);
      if (k !== undefined) {
        a.imulImm(dr, this.inReg(x, wide), k);
      } else {
        this.readLoc(dr, x);
        a.movImm('rcx', BigInt.asUintN(64, imm));
        a.imul(dr, sized('rcx', wide));
      }
    } else {
      // An add or sub into another register is one `lea` (its 32-bit form wraps as i32.add does).
      const k = op === 'add' || op === 'sub' ? this.imm32(op === 'sub' ? -imm : imm, wide) : undefined;
      if (k !== undefined && isRegLoc(dst) && isRegLoc(x) && !isFloatRegLoc(x) && x !== dst) {
        a.lea(dr, mem(x as Gpr64, k));
      } else {
        this.readLoc(dr, x);
        this.aluConst(op as 'add', dr, imm, wide);
      }
    }
    this.writeLoc(dst, d);
  }
  addShifted(wide: boolean, dst: Loc, x: Loc, y: Loc, shift: number): void {
    const d = isRegLoc(dst) ? (dst as Gpr64) : 'rax';
    if (shift > 3) {
      this.readLoc(sized('rcx', wide), y);
      this.asm.shiftImm('shl', sized('rcx', wide), shift);
      this.readLoc(sized(d, wide), x);
      this.asm.alu('add', sized(d, wide), sized('rcx', wide));
    } else {
      // The 32-bit lea wraps as i32.add does; either operand may be in a slot or share d.
      const base = isRegLoc(x) && !isFloatRegLoc(x) ? (x as Gpr64) : (this.readLoc('rcx', x), 'rcx');
      const index = isRegLoc(y) && !isFloatRegLoc(y) ? (y as Gpr64) : (this.readLoc('rdx', y), 'rdx');
      this.asm.lea(sized(d, wide), memIndex(base, index, (1 << shift) as 1 | 2 | 4 | 8, 0));
    }
    this.writeLoc(dst, d);
  }
  compareImm(cond: Cond, wide: boolean, dst: Loc, x: Loc, imm: bigint): void {
    this.aluConst('cmp', this.inReg(x, wide), imm, wide);
    this.asm.setcc(COND[cond], 'eax');
    this.asm.movzx('eax', 'eax', 8);
    this.writeLoc(dst, 'rax');
  }
  branchCompare(cond: Cond, wide: boolean, x: Loc, y: Loc, label: Label): void {
    const xr = this.inReg(x, wide);
    if (isRegLoc(y)) this.asm.cmp(xr, sized(y as Gpr64, wide));
    else this.asm.aluLoad('cmp', xr, this.slot(y));
    this.asm.jcc(COND[cond], label);
  }
  branchCmp(cond: Cond, wide: boolean, x: VReg, y: VReg | number, label: Label): void {
    this.compareRegs(wide, x, y);
    this.asm.jcc(COND[cond], label);
  }
  trapIf(cond: Cond, wide: boolean, x: VReg, y: VReg | number, code: TrapCode): void {
    this.compareRegs(wide, x, y);
    this.asm.jcc(COND[cond], this.asm.deferredTrap(code));
  }
  trap(code: TrapCode): void {
    this.asm.trap(code);
  }
  addToMemory(r: VReg, delta: number, branchIfZeroAfter?: Label): void {
    // `lock add qword [r], delta`: the atomic ref-count update of VMExternData.
    this.asm.lockAluStoreImm('add', mem(VREG[r], 0), delta, 64);
    if (branchIfZeroAfter) this.asm.jcc('e', branchIfZeroAfter);
  }

  private loadOperand(dst: Gpr64, op: Operand): void {
    const a = this.asm;
    switch (op.kind) {
      case 'value': this.readLoc(op.wide ? dst : R32[dst], op.loc); break;
      case 'sum':
        this.readLoc(op.wide ? dst : R32[dst], op.loc);
        a.aluImm('add', op.wide ? dst : R32[dst], Number(op.imm));
        break;
      case 'vmctx': a.mov(dst, VMCTX); break;
      case 'imm': a.movImm(dst, BigInt.asUintN(64, op.value)); break;
      case 'reg': if (VREG[op.reg] !== dst) a.mov(dst, VREG[op.reg]); break;
      case 'mem': a.load(dst, mem(this.base(op.base), op.disp)); break;
      case 'stack-address': a.lea(dst, mem('rsp', op.offset)); break;
    }
  }

  /**
   * Loads register arguments: those whose value is in a register as one parallel move (a
   * value may sit in another argument's register), then the others; rax breaks cycles.
   */
  private loadArgs(moves: readonly { readonly dst: Gpr64; readonly op: Operand }[]): void {
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
    if (regMoves.some((m) => m.src === 'rax')) throw new CodegenError('x64', 'a call argument in rax');
    sequenceMoves(regMoves, 'rax', (d, s, addend) => {
      // A sum argument is one lea (its 32-bit form wraps as i32.add does).
      if (addend !== undefined) a.lea(sized32(d, narrow.has(d)), mem(s as Gpr64, Number(addend)));
      else a.mov(sized32(d, narrow.has(d)), sized32(s, narrow.has(d)));
    });
    // An i32 already in its argument register still needs its upper half cleared.
    for (const m of regMoves) if (m.dst === m.src && narrow.has(m.dst)) a.mov(R32[m.dst as Gpr64], R32[m.dst as Gpr64]);
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
    // Stack arguments first: rax is their scratch, and none of them lives in a scratch register.
    for (let k = ARG_REGS.length - 2; k < args.length; k++) {
      const argIndex = k + 2;
      this.loadOperand('rax', args[k]);
      a.store(mem('rsp', 8 * (argIndex - ARG_REGS.length)), 'rax');
    }
    this.loadRegisterArgs(args, 2);
    let callOffset: number;
    switch (target.kind) {
      case 'symbol':
        a.mov('rdi', VMCTX);
        a.mov('rsi', VMCTX);
        callOffset = this.offset();
        a.callSymbol(target.symbol);
        break;
      case 'import':
        a.load('rdi', mem(VMCTX, target.vmctxOffset));
        a.mov('rsi', VMCTX);
        callOffset = this.offset();
        a.callMem(mem(VMCTX, target.wasmCallOffset));
        break;
      case 'funcref':
        a.load('rdi', mem(VREG.R2, target.vmctxOffset));
        a.mov('rsi', VMCTX);
        callOffset = this.offset();
        a.callMem(mem(VREG.R2, target.wasmCallOffset));
        break;
    }
    return { callOffset, returnOffset: this.offset() };
  }

  tailCallWasm(target: WasmCallTarget, args: readonly Operand[], frame: FrameLayout): void {
    const a = this.asm;
    // Stack arguments into this function's incoming ones ([rbp + 16 + 8j]): no value of the
    // body lives there (parameters were moved out by the prologue), so nothing is overwritten
    // before it is read.
    for (let k = ARG_REGS.length - 2; k < args.length; k++) {
      const argIndex = k + 2;
      this.loadOperand('rax', args[k]);
      a.store(mem('rbp', 16 + 8 * (argIndex - ARG_REGS.length)), 'rax');
    }
    this.loadRegisterArgs(args, 2);
    // The target in r11 (no argument register, not restored by the teardown).
    switch (target.kind) {
      case 'symbol':
        a.mov('rdi', VMCTX);
        break;
      case 'import':
        a.load('rdi', mem(VMCTX, target.vmctxOffset));
        a.load('r11', mem(VMCTX, target.wasmCallOffset));
        break;
      case 'funcref':
        a.load('rdi', mem(VREG.R2, target.vmctxOffset));
        a.load('r11', mem(VREG.R2, target.wasmCallOffset));
        break;
    }
    a.mov('rsi', VMCTX);
    this.teardown(frame);
    if (target.kind === 'symbol') a.jmpSymbol(target.symbol);
    else a.jmpReg('r11');
  }

  callBuiltin(builtinsOffset: number, index: number, args: readonly Operand[]): CallOffsets {
    const a = this.asm;
    if (args.length + 1 > ARG_REGS.length) throw new CodegenError('x64', `builtin ${index} has too many arguments`);
    this.loadRegisterArgs(args, 1);
    a.mov('rdi', VMCTX);
    a.load('rax', mem(VMCTX, builtinsOffset));
    const callOffset = this.offset();
    a.callMem(mem('rax', index * 8));
    return { callOffset, returnOffset: this.offset() };
  }

  storeReturn(loc: Loc): void {
    this.writeLoc(loc, 'rax');
  }
  storeReturns(locs: readonly Loc[]): void {
    locs.forEach((loc, k) => this.writeLoc(loc, RESULT_REGS[k]));
  }

  moveReturn(r: VReg): void {
    if (VREG[r] !== 'rax') this.asm.mov(VREG[r], 'rax');
  }
  shrImm(r: VReg, amount: number): void {
    this.asm.shiftImm('shr', VREG[r], amount);
  }

  /** The code, with the out-of-line traps of conditional checks in the final island (CodeBuffer). */
  finish(): BackendOutput {
    return this.asm.finish();
  }
}
