/**
 * AArch64 backend of the macro-assembler. Register use:
 * - x19 holds the function's own vmctx for the whole body (callee-saved in AAPCS64; saved
 *   with a pre-indexed `str` right below FP, as Cranelift saves clobbered callee-saves);
 * - x9, x10, x11 are the pointer scratch registers R0, R1, R2;
 * - x12–x15 are private scratch for arithmetic;
 * - x16 (IP0) carries the stack limit in the prologue and call targets; x17 (IP1) builds
 *   addresses whose offsets do not fit an immediate.
 * Nothing is kept in a register across a Wasm instruction, so no value is live in a register
 * at a call.
 */
import {
  Aarch64Assembler,
  mem,
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
  type BackendOutput,
  type BinOp,
  type CallOffsets,
  type Cond,
  type FrameLayout,
  type MacroAssembler,
  type Operand,
  type UnOp,
  type VReg,
  type WasmCallTarget,
} from './common.ts';
import { AARCH64_ABI } from '../../isa/abi.ts';
import type { Label } from '../../isa/code-buffer.ts';
import type { TrapCode } from '../../isa/trap-codes.ts';

const VREG: Record<VReg, X> = { R0: 'x9', R1: 'x10', R2: 'x11' };
const VMCTX: X = 'x19';
const ARG_REGS: readonly X[] = AARCH64_ABI.intArgs as readonly X[];
const COND: Record<Cond, A64Cond> = {
  eq: 'eq', ne: 'ne', lt_s: 'lt', lt_u: 'lo', gt_s: 'gt', gt_u: 'hi', le_s: 'le', le_u: 'ls', ge_s: 'ge', ge_u: 'hs',
};

const w = (x: X): W => (x === 'sp' ? 'wsp' : x === 'xzr' ? 'wzr' : (('w' + x.slice(1)) as W));
const sized = (x: X, wide: boolean): A64Reg => (wide ? x : w(x));

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
    a.ldr('x16', mem('x0', 8));
    a.ldr('x16', mem('x16', 0));
    if (n >= 32 * 1024) {
      a.cmpExt('sp', 'x16', 'uxtx');
      a.bCond('lo', this.asm.deferredTrap('StackOverflow'));
    }
    if (n > 0) this.addAny('x16', 'x16', n);
    a.cmpExt('sp', 'x16', 'uxtx');
    a.bCond('lo', this.asm.deferredTrap('StackOverflow'));
    a.str(VMCTX, memPre('sp', -16));
    if (frame.calleeSaveOffset !== n - 16) throw new CodegenError('aarch64', 'callee-save area must sit right below FP');
    this.addAny('sp', 'sp', -(n - 16));
    a.mov(VMCTX, 'x0');
    frame.paramOffsets.forEach((off, k) => {
      const argIndex = k + 2;
      if (argIndex < ARG_REGS.length) {
        a.str(ARG_REGS[argIndex], this.slot(off));
      } else {
        a.ldr('x16', mem('x29', 16 + 8 * (argIndex - ARG_REGS.length)));
        a.str('x16', this.slot(off));
      }
    });
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

  loadResult(offset: number, wide: boolean): void {
    this.asm.ldr(wide ? 'x0' : 'w0', this.slot(offset, wide ? 8 : 4));
  }

  epilogue(frame: FrameLayout): void {
    const a = this.asm;
    this.addAny('sp', 'sp', frame.frameSize - 16);
    a.ldr(VMCTX, memPost('sp', 16));
    a.ldp('x29', 'x30', memPost('sp', 16));
    a.ret();
  }

  copySlot(dst: number, src: number): void {
    if (dst === src) return;
    this.asm.ldr('x12', this.slot(src));
    this.asm.str('x12', this.slot(dst));
  }
  storeSlotImm(dst: number, value: bigint): void {
    const v = BigInt.asUintN(64, value);
    if (v === 0n) {
      this.asm.str('xzr', this.slot(dst));
      return;
    }
    this.asm.movImm('x12', v);
    this.asm.str('x12', this.slot(dst));
  }
  loadSlot(r: VReg, offset: number, wide: boolean): void {
    this.asm.ldr(sized(VREG[r], wide), this.slot(offset, wide ? 8 : 4));
  }
  storeSlot(offset: number, r: VReg): void {
    this.asm.str(VREG[r], this.slot(offset));
  }
  movImm(r: VReg, value: bigint): void {
    this.asm.movImm(VREG[r], BigInt.asUintN(64, value));
  }

  load(r: VReg, base: VReg | 'vmctx', disp: number, size: 1 | 2 | 4 | 8, signed = false): void {
    const a = this.asm;
    const x = VREG[r];
    const addr = this.address(this.base(base), disp, size);
    switch (size) {
      case 8: a.ldr(x, addr); break;
      case 4: signed ? a.ldrsw(x, addr) : a.ldr(w(x), addr); break;
      case 2: signed ? a.ldrsh(x, addr) : a.ldrh(w(x), addr); break;
      case 1: signed ? a.ldrsb(x, addr) : a.ldrb(w(x), addr); break;
    }
  }
  store(base: VReg | 'vmctx', disp: number, r: VReg, size: 1 | 2 | 4 | 8): void {
    const a = this.asm;
    const x = VREG[r];
    const addr = this.address(this.base(base), disp, size);
    switch (size) {
      case 8: a.str(x, addr); break;
      case 4: a.str(w(x), addr); break;
      case 2: a.strh(w(x), addr); break;
      case 1: a.strb(w(x), addr); break;
    }
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

  binop(op: BinOp, wide: boolean, dst: number, x: number, y: number): void {
    const a = this.asm;
    const size = wide ? 8 : 4;
    const r = sized('x12', wide);
    const s = sized('x13', wide);
    const t = sized('x14', wide);
    a.ldr(r, this.slot(x, size));
    a.ldr(s, this.slot(y, size));
    switch (op) {
      case 'add': a.add(r, r, s); break;
      case 'sub': a.sub(r, r, s); break;
      case 'mul': a.mul(r, r, s); break;
      case 'and': a.and(r, r, s); break;
      case 'or': a.orr(r, r, s); break;
      case 'xor': a.eor(r, r, s); break;
      case 'shl': a.lsl(r, r, s); break;
      case 'shr_s': a.asr(r, r, s); break;
      case 'shr_u': a.lsr(r, r, s); break;
      case 'rotr': a.ror(r, r, s); break;
      case 'rotl':
        a.neg(s, s);
        a.ror(r, r, s);
        break;
      case 'div_s':
        a.cmpImm(s, 0);
        a.bCond('eq', this.asm.deferredTrap('IntegerDivisionByZero'));
        // Cranelift's overflow test: divisor == -1 and dividend - 1 overflows (dividend == MIN).
        a.cmnImm(s, 1);
        a.ccmpImm(r, 1, 0, 'eq');
        a.bCond('vs', this.asm.deferredTrap('IntegerOverflow'));
        a.sdiv(r, r, s);
        break;
      case 'div_u':
        a.cmpImm(s, 0);
        a.bCond('eq', this.asm.deferredTrap('IntegerDivisionByZero'));
        a.udiv(r, r, s);
        break;
      case 'rem_s':
      case 'rem_u':
        // sdiv does not fault on MIN / -1 (it yields MIN), so msub gives the Wasm result 0.
        a.cmpImm(s, 0);
        a.bCond('eq', this.asm.deferredTrap('IntegerDivisionByZero'));
        op === 'rem_s' ? a.sdiv(t, r, s) : a.udiv(t, r, s);
        a.msub(r, t, s, r);
        break;
    }
    a.str('x12', this.slot(dst));
  }

  unop(op: UnOp, wide: boolean, dst: number, x: number): void {
    const a = this.asm;
    const r = sized('x12', wide);
    const load = (): void => a.ldr(r, this.slot(x, wide ? 8 : 4));
    switch (op) {
      case 'clz': load(); a.clz(r, r); break;
      case 'ctz': load(); a.rbit(r, r); a.clz(r, r); break;
      case 'popcnt': load(); this.popcnt(wide); break;
      case 'eqz': load(); a.cmpImm(r, 0); a.cset('w12', 'eq'); break;
      case 'extend8_s': a.ldr('w12', this.slot(x, 4)); a.sxtb(r, 'w12'); break;
      case 'extend16_s': a.ldr('w12', this.slot(x, 4)); a.sxth(r, 'w12'); break;
      case 'extend32_s':
      case 'extend_i32_s':
        a.ldr('w12', this.slot(x, 4));
        a.sxtw('x12', 'w12');
        break;
      case 'extend_i32_u':
        a.ldr('w12', this.slot(x, 4));
        break;
    }
    a.str('x12', this.slot(dst));
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

  compare(cond: Cond, wide: boolean, dst: number, x: number, y: number): void {
    const a = this.asm;
    const size = wide ? 8 : 4;
    a.ldr(sized('x12', wide), this.slot(x, size));
    a.ldr(sized('x13', wide), this.slot(y, size));
    a.cmp(sized('x12', wide), sized('x13', wide));
    a.cset('w12', COND[cond]);
    a.str('x12', this.slot(dst));
  }

  select(dst: number, x: number, y: number, c: number): void {
    const a = this.asm;
    a.ldr('w14', this.slot(c, 4));
    a.ldr('x12', this.slot(x));
    a.ldr('x13', this.slot(y));
    a.cmpImm('w14', 0);
    a.csel('x12', 'x12', 'x13', 'ne');
    a.str('x12', this.slot(dst));
  }

  jump(label: Label): void {
    this.asm.b(label);
  }
  branchSlot(offset: number, ifZero: boolean, label: Label): void {
    this.asm.ldr('w12', this.slot(offset, 4));
    ifZero ? this.asm.cbz('w12', label) : this.asm.cbnz('w12', label);
  }
  branchSlotEq(offset: number, value: number, label: Label): void {
    this.asm.ldr('w12', this.slot(offset, 4));
    this.compareWith('w12', false, value);
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
      case 'slot': a.ldr(op.wide ? dst : w(dst), this.slot(op.offset, op.wide ? 8 : 4)); break;
      case 'vmctx': a.mov(dst, VMCTX); break;
      case 'imm': a.movImm(dst, BigInt.asUintN(64, op.value)); break;
      case 'reg': if (VREG[op.reg] !== dst) a.mov(dst, VREG[op.reg]); break;
      case 'mem': a.ldr(dst, this.address(this.base(op.base), op.disp, 8)); break;
    }
  }

  callWasm(target: WasmCallTarget, args: readonly Operand[]): CallOffsets {
    const a = this.asm;
    args.forEach((op, k) => {
      const argIndex = k + 2;
      if (argIndex < ARG_REGS.length) return;
      this.loadOperand('x16', op);
      a.str('x16', this.slot(8 * (argIndex - ARG_REGS.length)));
    });
    args.forEach((op, k) => {
      const argIndex = k + 2;
      if (argIndex < ARG_REGS.length) this.loadOperand(ARG_REGS[argIndex], op);
    });
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

  callBuiltin(builtinsOffset: number, index: number, args: readonly Operand[]): CallOffsets {
    const a = this.asm;
    if (args.length + 1 > ARG_REGS.length) throw new CodegenError('aarch64', `builtin ${index} has too many arguments`);
    args.forEach((op, k) => this.loadOperand(ARG_REGS[k + 1], op));
    a.mov('x0', VMCTX);
    a.ldr('x16', this.address(VMCTX, builtinsOffset, 8));
    a.ldr('x16', mem('x16', index * 8));
    const callOffset = this.offset();
    a.blr('x16');
    return { callOffset, returnOffset: this.offset() };
  }

  storeReturn(offset: number): void {
    this.asm.str('x0', this.slot(offset));
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
