/**
 * x86-64 backend of the macro-assembler. Register use:
 * - r14 holds the function's own vmctx for the whole body (callee-saved in System V, so it
 *   survives every call; saved with `mov [rsp+k], r14` at the top of the frame, as Cranelift
 *   stores clobbered callee-saves);
 * - rax, r10, r11 are the pointer scratch registers R0, R1, R2;
 * - rcx and rdx are private scratch (shift counts, division, large immediates);
 * - r10 also carries the stack limit in the prologue, as Cranelift's stack-limit register.
 * Nothing is kept in a register across a Wasm instruction, so no value is live in a register
 * at a call.
 */
import {
  X64Assembler,
  mem,
  memIndex,
  type Gpr,
  type Gpr32,
  type Gpr64,
  type X64Address,
  type X64Cond,
} from '../../isa/x64/encoder.ts';
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
import { X64_ABI } from '../../isa/abi.ts';
import type { Label } from '../../isa/code-buffer.ts';
import type { TrapCode } from '../../isa/trap-codes.ts';

const VREG: Record<VReg, Gpr64> = { R0: 'rax', R1: 'r10', R2: 'r11' };
const VMCTX: Gpr64 = 'r14';
const ARG_REGS: readonly Gpr64[] = X64_ABI.intArgs as readonly Gpr64[];
const COND: Record<Cond, X64Cond> = {
  eq: 'e', ne: 'ne', lt_s: 'l', lt_u: 'b', gt_s: 'g', gt_u: 'a', le_s: 'le', le_u: 'be', ge_s: 'ge', ge_u: 'ae',
};

const R32: Record<Gpr64, Gpr32> = {
  rax: 'eax', rcx: 'ecx', rdx: 'edx', rbx: 'ebx', rsp: 'esp', rbp: 'ebp', rsi: 'esi', rdi: 'edi',
  r8: 'r8d', r9: 'r9d', r10: 'r10d', r11: 'r11d', r12: 'r12d', r13: 'r13d', r14: 'r14d', r15: 'r15d',
};
const sized = (r: Gpr64, wide: boolean): Gpr => (wide ? r : R32[r]);
const fitsI32 = (v: number | bigint): boolean => BigInt(v) >= -0x80000000n && BigInt(v) <= 0x7fffffffn;

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

  prologue(frame: FrameLayout): void {
    const a = this.asm;
    const n = frame.frameSize;
    a.push('rbp');
    a.mov('rbp', 'rsp');
    // Stack-limit check (Cranelift's insert_stack_check): limit + frame size must not exceed rsp.
    a.load('r10', mem('rdi', 8));
    a.load('r10', mem('r10', 0));
    if (n >= 32 * 1024) {
      a.cmp('rsp', 'r10');
      a.jcc('b', this.asm.deferredTrap('StackOverflow'));
    }
    if (n > 0) a.addImm('r10', n);
    a.cmp('rsp', 'r10');
    a.jcc('b', this.asm.deferredTrap('StackOverflow'));
    a.subImm('rsp', n);
    a.store(mem('rsp', frame.calleeSaveOffset), VMCTX);
    a.mov(VMCTX, 'rdi');
    frame.paramOffsets.forEach((off, k) => {
      const argIndex = k + 2;
      if (argIndex < ARG_REGS.length) {
        a.store(this.slot(off), ARG_REGS[argIndex]);
      } else {
        a.load('rax', mem('rbp', 16 + 8 * (argIndex - ARG_REGS.length)));
        a.store(this.slot(off), 'rax');
      }
    });
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

  loadResult(offset: number, wide: boolean): void {
    this.asm.load(wide ? 'rax' : 'eax', this.slot(offset));
  }

  epilogue(frame: FrameLayout): void {
    const a = this.asm;
    a.load(VMCTX, mem('rsp', frame.calleeSaveOffset));
    a.addImm('rsp', frame.frameSize);
    a.mov('rsp', 'rbp');
    a.pop('rbp');
    a.ret();
  }

  copySlot(dst: number, src: number): void {
    if (dst === src) return;
    this.asm.load('rax', this.slot(src));
    this.asm.store(this.slot(dst), 'rax');
  }
  storeSlotImm(dst: number, value: bigint): void {
    if (fitsI32(BigInt.asIntN(64, value))) {
      this.asm.storeImm(this.slot(dst), Number(BigInt.asIntN(64, value)), 64);
    } else {
      this.asm.movImm('rax', BigInt.asUintN(64, value));
      this.asm.store(this.slot(dst), 'rax');
    }
  }
  loadSlot(r: VReg, offset: number, wide: boolean): void {
    this.asm.load(sized(VREG[r], wide), this.slot(offset));
  }
  storeSlot(offset: number, r: VReg): void {
    this.asm.store(this.slot(offset), VREG[r]);
  }
  movImm(r: VReg, value: bigint): void {
    this.asm.movImm(VREG[r], BigInt.asUintN(64, value));
  }

  load(r: VReg, base: VReg | 'vmctx', disp: number, size: 1 | 2 | 4 | 8, signed = false): void {
    this.loadPhys(VREG[r], this.base(base), disp, size, signed);
  }
  private loadPhys(dst: Gpr64, base: Gpr64, disp: number, size: 1 | 2 | 4 | 8, signed: boolean): void {
    const a = this.asm;
    const addr = mem(base, disp);
    if (size === 8) a.load(dst, addr);
    else if (size === 4) signed ? a.loadSx(dst, addr, 32) : a.load(R32[dst], addr);
    else signed ? a.loadSx(dst, addr, size === 1 ? 8 : 16) : a.loadZx(R32[dst], addr, size === 1 ? 8 : 16);
  }
  store(base: VReg | 'vmctx', disp: number, r: VReg, size: 1 | 2 | 4 | 8): void {
    this.asm.store(mem(this.base(base), disp), VREG[r], (size * 8) as 8 | 16 | 32 | 64);
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

  binop(op: BinOp, wide: boolean, dst: number, x: number, y: number): void {
    const a = this.asm;
    const ax = sized('rax', wide);
    const cx = sized('rcx', wide);
    const dx = sized('rdx', wide);
    a.load(ax, this.slot(x));
    a.load(cx, this.slot(y));
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
    a.store(this.slot(dst), result === ax ? 'rax' : 'rdx');
  }

  unop(op: UnOp, wide: boolean, dst: number, x: number): void {
    const a = this.asm;
    const ax = sized('rax', wide);
    switch (op) {
      case 'clz': a.load(ax, this.slot(x)); a.lzcnt(ax, ax); break;
      case 'ctz': a.load(ax, this.slot(x)); a.tzcnt(ax, ax); break;
      case 'popcnt': this.popcnt(wide, x); break;
      case 'eqz':
        a.load(ax, this.slot(x));
        a.test(ax, ax);
        a.setcc('e', 'eax');
        a.movzx('eax', 'eax', 8);
        break;
      case 'extend8_s': a.load('eax', this.slot(x)); a.movsx(ax, 'eax', 8); break;
      case 'extend16_s': a.load('eax', this.slot(x)); a.movsx(ax, 'eax', 16); break;
      case 'extend32_s':
      case 'extend_i32_s':
        a.load('eax', this.slot(x));
        a.movsxd('rax', 'eax');
        break;
      case 'extend_i32_u':
        a.load('eax', this.slot(x));
        break;
    }
    a.store(this.slot(dst), 'rax');
  }

  /** Population count without the POPCNT extension (Unicorn's default CPU model lacks it). */
  private popcnt(wide: boolean, x: number): void {
    const a = this.asm;
    const ax = sized('rax', wide);
    const cx = sized('rcx', wide);
    const dx = sized('rdx', wide);
    const k = (byte: bigint): bigint => (wide ? byte * 0x0101010101010101n : byte * 0x01010101n);
    a.load(ax, this.slot(x));
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

  compare(cond: Cond, wide: boolean, dst: number, x: number, y: number): void {
    const a = this.asm;
    a.load(sized('rax', wide), this.slot(x));
    a.load(sized('rcx', wide), this.slot(y));
    a.cmp(sized('rax', wide), sized('rcx', wide));
    a.setcc(COND[cond], 'eax');
    a.movzx('eax', 'eax', 8);
    a.store(this.slot(dst), 'rax');
  }

  select(dst: number, x: number, y: number, c: number): void {
    const a = this.asm;
    a.load('ecx', this.slot(c));
    a.load('rax', this.slot(x));
    a.load('rdx', this.slot(y));
    a.test('ecx', 'ecx');
    a.cmovcc('e', 'rax', 'rdx');
    a.store(this.slot(dst), 'rax');
  }

  jump(label: Label): void {
    this.asm.jmp(label);
  }
  branchSlot(offset: number, ifZero: boolean, label: Label): void {
    this.asm.aluStoreImm('cmp', this.slot(offset), 0, 32);
    this.asm.jcc(ifZero ? 'e' : 'ne', label);
  }
  branchSlotEq(offset: number, value: number, label: Label): void {
    this.asm.aluStoreImm('cmp', this.slot(offset), value | 0, 32);
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
      case 'slot': a.load(op.wide ? dst : R32[dst], this.slot(op.offset)); break;
      case 'vmctx': a.mov(dst, VMCTX); break;
      case 'imm': a.movImm(dst, BigInt.asUintN(64, op.value)); break;
      case 'reg': if (VREG[op.reg] !== dst) a.mov(dst, VREG[op.reg]); break;
      case 'mem': a.load(dst, mem(this.base(op.base), op.disp)); break;
    }
  }

  callWasm(target: WasmCallTarget, args: readonly Operand[]): CallOffsets {
    const a = this.asm;
    // Stack arguments first: rax is their scratch, and none of them lives in a scratch register.
    args.forEach((op, k) => {
      const argIndex = k + 2;
      if (argIndex < ARG_REGS.length) return;
      this.loadOperand('rax', op);
      a.store(mem('rsp', 8 * (argIndex - ARG_REGS.length)), 'rax');
    });
    args.forEach((op, k) => {
      const argIndex = k + 2;
      if (argIndex < ARG_REGS.length) this.loadOperand(ARG_REGS[argIndex], op);
    });
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

  callBuiltin(builtinsOffset: number, index: number, args: readonly Operand[]): CallOffsets {
    const a = this.asm;
    if (args.length + 1 > ARG_REGS.length) throw new CodegenError('x64', `builtin ${index} has too many arguments`);
    args.forEach((op, k) => this.loadOperand(ARG_REGS[k + 1], op));
    a.mov('rdi', VMCTX);
    a.load('rax', mem(VMCTX, builtinsOffset));
    const callOffset = this.offset();
    a.callMem(mem('rax', index * 8));
    return { callOffset, returnOffset: this.offset() };
  }

  storeReturn(offset: number): void {
    this.asm.store(this.slot(offset), 'rax');
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
