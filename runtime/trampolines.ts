/**
 * Trampolines as real guest machine code, generated per architecture the way wasmtime v17's
 * Cranelift compiler builds them (crates/cranelift/src/compiler.rs), plus the per-builtin stubs of
 * crates/runtime/src/arch/{x86_64,aarch64}.rs (`wasm_to_libcall_trampoline`).
 *
 * Conventions. "native" and "array" calls use the platform ABI (System V on x86-64, AAPCS64).
 * stackscope's compiled Wasm uses the same integer argument assignment for its "wasm" convention
 * (isa/abi.ts: `intArgs`) with at most one result, in the return register, so
 * the wasm↔native conversions of v17 reduce to frame set-up, stack-argument copies and the limits
 * writes. Every signature starts with (callee vmctx, caller vmctx). All Wasm values of the subset
 * (i32, i64, funcref, externref) are integer-register values; i32 travels zero-extended.
 *
 * What each trampoline writes (the invariant the stack walker relies on):
 * - entry trampolines (array-to-wasm, native-to-wasm) write only last_wasm_entry_sp: their SP
 *   just before the call into Wasm, 16-byte aligned, so every Wasm frame pointer of the
 *   activation is below it and the trampoline's own frame pointer (the first "next FP" the walker
 *   sees above the oldest Wasm frame) is at or above it;
 * - exit trampolines (wasm-to-native, wasm-to-array) and builtin stubs write only
 *   last_wasm_exit_fp (the Wasm caller's FP) and last_wasm_exit_pc (the return address into it),
 *   reading the limits pointer from the caller's vmctx + 8.
 */
import type { Arch } from '../isa/arch.ts';
import { StackscopeError } from '../isa/error.ts';
import { AARCH64_ABI, X64_ABI, abiOf } from '../isa/abi.ts';
import { Aarch64Assembler, mem as amem, memPost, memPre, wreg, type X } from '../isa/aarch64/encoder.ts';
import type { AssembledCode } from '../isa/code-buffer.ts';
import { X64Assembler, gprName, gprNumber, mem as xmem, type Gpr32, type Gpr64 } from '../isa/x64/encoder.ts';
import type { FuncType, ValType } from '../compiler/frontend/module.ts';
import { valueBytes } from '../compiler/frontend/module.ts';
import { VMFuncRefLayout, VMHostFuncContextLayout, VMRuntimeLimitsLayout, ValRawLayout } from '../compiler/vmoffsets.ts';
import { V44StoreContextLayout } from '../compiler/v44/vmoffsets.ts';
import type { Machine } from '../simulator/machine.ts';
import { CodeSpace } from './code-space.ts';
import { funcTypeKey } from './signatures.ts';
import { callStackBytes, returnAreaPointerArg, returnConvention } from '../compiler/codegen/returns.ts';

export class TrampolineError extends StackscopeError {
  override name = 'TrampolineError';
  constructor(readonly kind: string, readonly signature: string, readonly what: string) {
    super(`${kind} trampoline for ${signature}: ${what}`);
  }
}

const LIMITS = VMRuntimeLimitsLayout;
/** `vmctx + 8` holds the VMRuntimeLimits pointer (v17 arch/x86_64.rs asserts vmctx_runtime_limits() = 8). */
const VMCTX_RUNTIME_LIMITS = 8;
const VAL = ValRawLayout.size;
/** Where a host-function context keeps the native entry its wasm-to-native trampoline calls. */
const HOST_CTX_NATIVE_CALL = VMHostFuncContextLayout.funcRef + VMFuncRefLayout.nativeCall;

const X64_ARGS = X64_ABI.intArgs as readonly Gpr64[];
const X64_ARGS32 = X64_ARGS.map((r) => gprName(gprNumber(r), 32) as Gpr32);
const A64_ARGS = AARCH64_ABI.intArgs as readonly X[];
const A64_ARGS32 = A64_ARGS.map((r) => wreg(Number(r.slice(1))));

function align16(n: number): number {
  return (n + 15) & ~15;
}

/**
 * Several results (compiler/codegen/returns.ts): Wasm code returns the first ones in registers
 * and the rest through a return area whose address the caller passes after the parameters.
 * A native-call function (Func.wrap's host side, a TypedFunc's entry) returns its first result
 * in the return register and writes the others through a trailing return pointer, packed in
 * declaration order, each aligned to its own size (wasmtime v17's native call signature).
 */
export function nativeReturnLayout(type: FuncType): { readonly offsets: readonly number[]; readonly bytes: number } {
  const offsets: number[] = [0];
  let next = 0;
  for (const t of type.results.slice(1)) {
    const size = is32(t) ? 4 : 8;
    next = Math.ceil(next / size) * size;
    offsets.push(next);
    next += size;
  }
  return { offsets, bytes: next };
}

/** Where result `index` of a Wasm call comes back: a register, or an offset into the return area. */
function wasmResultPlace(arch: Arch, type: FuncType, index: number): { reg: string } | { areaOffset: number } {
  const c = returnConvention(arch, type.results);
  const r = c.inRegisters.find((p) => p.index === index);
  return r ? { reg: r.reg } : { areaOffset: c.inArea.find((p) => p.index === index)!.offset };
}

/** Wasm parameters (after the two vmctx arguments) passed in registers / on the stack. */
function split(arch: Arch, type: FuncType): { inRegs: number; onStack: number } {
  const regs = abiOf(arch).intArgs.length - 2;
  const inRegs = Math.min(type.params.length, regs);
  return { inRegs, onStack: type.params.length - inRegs };
}

/** i32 and f32 travel as the low 32 bits of an integer register, zero-extended. */
const is32 = (t: ValType): boolean => valueBytes(t) === 4;

/**
 * The frame of a trampoline between a Wasm function and a native-call one with several results:
 * [0, bufferAt) stack arguments of the call it makes (the return pointer among them when it
 * goes on the stack), the native return buffer at `bufferAt`, the Wasm return-area pointer at
 * `pointerAt` (when the Wasm side has an area).
 */
function multiResultFrame(arch: Arch, type: FuncType): { frameBytes: number; bufferAt: number; pointerAt: number; area: boolean } {
  const { stackWord } = returnAreaPointerArg(arch, type.params);
  const words = split(arch, type).onStack + (stackWord === undefined ? 0 : 1);
  const bufferAt = 8 * words;
  const pointerAt = bufferAt + Math.ceil(nativeReturnLayout(type).bytes / 8) * 8;
  const area = returnConvention(arch, type.results).areaBytes > 0;
  return { frameBytes: align16(pointerAt + 8), bufferAt, pointerAt, area };
}

// ---------------------------------------------------------------------------------------------
// x86-64

/** sub/add rsp by a 16-aligned amount (nothing when 0). */
function x64AdjustSp(a: X64Assembler, op: 'sub' | 'add', bytes: number): void {
  if (bytes === 0) return;
  if (op === 'sub') a.subImm('rsp', bytes);
  else a.addImm('rsp', bytes);
}

/** Copies `count` incoming stack arguments ([rbp+16+8j], after `push rbp`) to [rsp+8j]. */
function x64CopyStackArgs(a: X64Assembler, count: number): void {
  for (let j = 0; j < count; j++) {
    a.load('r11', xmem('rbp', 16 + 8 * j));
    a.store(xmem('rsp', 8 * j), 'r11');
  }
}

/**
 * What an entry trampoline records in the store's limits block before calling Wasm: v17's
 * `last_wasm_entry_sp` (its SP) or v31's `last_wasm_entry_fp` (its own FP, which the oldest Wasm
 * frame's saved FP equals; VMStoreContext +40, the same offset).
 */
export type EntryRecord = 'v17' | 'v31' | 'v44';

/**
 * Where each era's trampolines keep their records in the store's limits block (vmctx + 8 → …):
 * the entry record (and whether it is the trampoline's SP or FP), the exit FP and PC, and whether
 * the exit FP is the Wasm caller's (v17, v31) or the exit trampoline's own (v44's
 * `last_wasm_exit_trampoline_fp`, whose saved word is the Wasm FP). v44's builtin stubs get a
 * frame of their own for that reason.
 */
const RECORDS: Readonly<Record<EntryRecord, { entry: number; entryIsFp: boolean; exitFp: number; exitPc: number; exitIsOwnFp: boolean }>> = {
  v17: { entry: LIMITS.lastWasmEntrySp, entryIsFp: false, exitFp: LIMITS.lastWasmExitFp, exitPc: LIMITS.lastWasmExitPc, exitIsOwnFp: false },
  v31: { entry: LIMITS.lastWasmEntrySp, entryIsFp: true, exitFp: LIMITS.lastWasmExitFp, exitPc: LIMITS.lastWasmExitPc, exitIsOwnFp: false },
  v44: { entry: V44StoreContextLayout.lastWasmEntryFp, entryIsFp: true, exitFp: V44StoreContextLayout.lastWasmExitTrampolineFp, exitPc: V44StoreContextLayout.lastWasmExitPc, exitIsOwnFp: true },
};

/** Passes SP + `areaBase` as the return-area pointer argument (after the parameters). */
function x64PassReturnArea(a: X64Assembler, type: FuncType, areaBase: number): void {
  const { argIndex, stackWord } = returnAreaPointerArg('x64', type.params);
  if (stackWord === undefined) {
    a.lea(X64_ARGS[argIndex], xmem('rsp', areaBase));
  } else {
    a.lea('r11', xmem('rsp', areaBase));
    a.store(xmem('rsp', 8 * stackWord), 'r11');
  }
}

/** dst ← Wasm result `j` just returned (an i32 zero-extended): from its register or the return area at SP + areaBase. */
function x64LoadWasmResult(a: X64Assembler, type: FuncType, j: number, dst: Gpr64, areaBase: number): void {
  const place = wasmResultPlace('x64', type, j);
  const narrow = is32(type.results[j]);
  if ('reg' in place) {
    const src = place.reg as Gpr64;
    if (narrow) a.mov(gprName(gprNumber(dst), 32) as Gpr32, gprName(gprNumber(src), 32) as Gpr32);
    else if (src !== dst) a.mov(dst, src);
  } else {
    a.load(narrow ? (gprName(gprNumber(dst), 32) as Gpr32) : dst, xmem('rsp', areaBase + place.areaOffset));
  }
}

function x64ArrayToWasm(type: FuncType, target: bigint, record: EntryRecord = 'v17', mark?: TargetMark): AssembledCode {
  const a = new X64Assembler();
  const { inRegs, onStack } = split('x64', type);
  a.push('rbp');
  a.mov('rbp', 'rsp');
  a.push('rbx'); // values_ptr lives in rbx across the call (callee-saved)
  a.push('r12'); // keeps SP 16-aligned
  a.mov('rbx', 'rdx');
  const outgoing = callStackBytes('x64', type.params, type.results);
  x64AdjustSp(a, 'sub', align16(outgoing.total));
  for (let j = 0; j < onStack; j++) {
    const i = inRegs + j;
    if (is32(type.params[i])) a.load('r11d', xmem('rbx', VAL * i));
    else a.load('r11', xmem('rbx', VAL * i));
    a.store(xmem('rsp', 8 * j), 'r11');
  }
  a.load('r10', xmem('rdi', VMCTX_RUNTIME_LIMITS));
  a.store(xmem('r10', RECORDS[record].entry), RECORDS[record].entryIsFp ? 'rbp' : 'rsp');
  // rdx is overwritten last among the parameter registers, but the values come from rbx.
  for (let i = 0; i < inRegs; i++) {
    if (is32(type.params[i])) a.load(X64_ARGS32[2 + i], xmem('rbx', VAL * i));
    else a.load(X64_ARGS[2 + i], xmem('rbx', VAL * i));
  }
  if (outgoing.convention.areaBytes > 0) x64PassReturnArea(a, type, outgoing.areaBase);
  loadTarget(a, mark, () => a.movabs('rax', target));
  a.callReg('rax');
  if (type.results.length === 1 && outgoing.convention.areaBytes === 0) {
    if (is32(type.results[0])) a.mov('eax', 'eax');
    a.store(xmem('rbx', 0), 'rax');
  } else {
    type.results.forEach((t, j) => {
      x64LoadWasmResult(a, type, j, 'r11', outgoing.areaBase);
      a.store(xmem('rbx', VAL * j), 'r11');
    });
  }
  a.lea('rsp', xmem('rbp', -16));
  a.pop('r12');
  a.pop('rbx');
  a.pop('rbp');
  a.ret();
  return a.finish();
}

function x64NativeToWasm(type: FuncType, target: bigint, mark?: TargetMark): AssembledCode {
  const a = new X64Assembler();
  const { onStack } = split('x64', type);
  const multi = type.results.length > 1;
  const outgoing = callStackBytes('x64', type.params, type.results);
  // With several results the native caller's return pointer is kept above the outgoing area.
  const pointerAt = Math.ceil(outgoing.total / 8) * 8;
  a.push('rbp');
  a.mov('rbp', 'rsp');
  x64AdjustSp(a, 'sub', multi ? align16(pointerAt + 8) : align16(8 * onStack));
  x64CopyStackArgs(a, onStack);
  if (multi) {
    x64SaveReturnAreaPointer(a, type, pointerAt);
    if (outgoing.convention.areaBytes > 0) x64PassReturnArea(a, type, outgoing.areaBase);
  }
  a.load('r10', xmem('rdi', VMCTX_RUNTIME_LIMITS));
  a.store(xmem('r10', LIMITS.lastWasmEntrySp), 'rsp');
  loadTarget(a, mark, () => a.movabs('rax', target));
  a.callReg('rax');
  if (multi) {
    const { offsets } = nativeReturnLayout(type);
    a.load('r11', xmem('rsp', pointerAt));
    for (let j = 1; j < type.results.length; j++) {
      x64LoadWasmResult(a, type, j, 'r10', outgoing.areaBase);
      a.store(xmem('r11', offsets[j]), is32(type.results[j]) ? 'r10d' : 'r10');
    }
  }
  a.mov('rsp', 'rbp');
  a.pop('rbp');
  a.ret();
  return a.finish();
}

/** Records the Wasm caller's FP (the word at our FP; v44: our FP) and the return address into it. */
function x64SaveExit(a: X64Assembler, record: EntryRecord = 'v17'): void {
  const r = RECORDS[record];
  a.load('r10', xmem('rsi', VMCTX_RUNTIME_LIMITS));
  if (r.exitIsOwnFp) {
    a.store(xmem('r10', r.exitFp), 'rbp');
  } else {
    a.load('r11', xmem('rbp', 0));
    a.store(xmem('r10', r.exitFp), 'r11');
  }
  a.load('r11', xmem('rbp', 8));
  a.store(xmem('r10', r.exitPc), 'r11');
}

function x64WasmToNative(type: FuncType): AssembledCode {
  const a = new X64Assembler();
  const { onStack } = split('x64', type);
  a.push('rbp');
  a.mov('rbp', 'rsp');
  x64SaveExit(a);
  const multi = type.results.length > 1 ? multiResultFrame('x64', type) : undefined;
  x64AdjustSp(a, 'sub', multi ? multi.frameBytes : align16(8 * onStack));
  x64CopyStackArgs(a, onStack);
  if (multi) {
    // The Wasm caller's return-area pointer (if any) is kept; the native callee gets a buffer
    // for its results past the first in the same argument position.
    if (multi.area) x64SaveReturnAreaPointer(a, type, multi.pointerAt);
    x64PassReturnArea(a, type, multi.bufferAt);
  }
  a.load('rax', xmem('rdi', HOST_CTX_NATIVE_CALL));
  a.callReg('rax');
  if (multi) {
    const { offsets } = nativeReturnLayout(type);
    x64ReturnWasmResults(a, type, (dst, j) => {
      const narrow = is32(type.results[j]);
      const d = narrow ? (gprName(gprNumber(dst), 32) as Gpr32) : dst;
      if (j === 0) {
        if (narrow) a.mov(d, 'eax');
        else if (dst !== 'rax') a.mov(dst, 'rax');
      } else {
        a.load(d, xmem('rsp', multi.bufferAt + offsets[j]));
      }
    }, multi.pointerAt);
  }
  a.mov('rsp', 'rbp');
  a.pop('rbp');
  a.ret();
  return a.finish();
}

/** Stores the incoming return-area pointer (argument 2 + #params) at [rsp + at] (the frame set up, rbp = FP). */
function x64SaveReturnAreaPointer(a: X64Assembler, type: FuncType, at: number): void {
  const { argIndex, stackWord } = returnAreaPointerArg('x64', type.params);
  if (stackWord === undefined) {
    a.store(xmem('rsp', at), X64_ARGS[argIndex]);
  } else {
    a.load('r11', xmem('rbp', 16 + 8 * stackWord));
    a.store(xmem('rsp', at), 'r11');
  }
}

/**
 * Returns every result in the Wasm convention: `load(dst, j)` puts result j in `dst`; the ones
 * past the return registers go through the return-area pointer saved at [rsp + pointerAt],
 * then the others into rax, rdx.
 */
function x64ReturnWasmResults(a: X64Assembler, type: FuncType, load: (dst: Gpr64, j: number) => void, pointerAt: number): void {
  const c = returnConvention('x64', type.results);
  if (c.inArea.length > 0) a.load('r11', xmem('rsp', pointerAt));
  for (const { index, offset } of c.inArea) {
    load('r10', index);
    a.store(xmem('r11', offset), 'r10');
  }
  for (const { index, reg } of c.inRegisters) load(reg as Gpr64, index);
}

function x64WasmToArray(type: FuncType, host: bigint, record: EntryRecord = 'v17'): AssembledCode {
  const a = new X64Assembler();
  const { inRegs, onStack } = split('x64', type);
  const slots = Math.max(type.params.length, type.results.length, 1);
  const area = returnConvention('x64', type.results).areaBytes > 0;
  a.push('rbp');
  a.mov('rbp', 'rsp');
  x64SaveExit(a, record);
  // With a return area, its pointer is kept above the ValRaw buffer across the host call.
  x64AdjustSp(a, 'sub', align16(VAL * slots + (area ? 8 : 0)));
  if (area) x64SaveReturnAreaPointer(a, type, VAL * slots);
  for (let i = 0; i < inRegs; i++) {
    if (is32(type.params[i])) a.mov(X64_ARGS32[2 + i], X64_ARGS32[2 + i]); // zero-extend
    a.store(xmem('rsp', VAL * i), X64_ARGS[2 + i]);
  }
  for (let j = 0; j < onStack; j++) {
    const i = inRegs + j;
    if (is32(type.params[i])) a.load('r11d', xmem('rbp', 16 + 8 * j));
    else a.load('r11', xmem('rbp', 16 + 8 * j));
    a.store(xmem('rsp', VAL * i), 'r11');
  }
  a.mov('rdx', 'rsp');
  a.movImm('rcx', BigInt(slots));
  a.movabs('rax', host);
  a.callReg('rax');
  if (type.results.length === 1 && !area) {
    if (is32(type.results[0])) a.load('eax', xmem('rsp', 0));
    else a.load('rax', xmem('rsp', 0));
  } else {
    x64ReturnWasmResults(a, type, (dst, j) => a.load(is32(type.results[j]) ? (gprName(gprNumber(dst), 32) as Gpr32) : dst, xmem('rsp', VAL * j)), VAL * slots);
  }
  a.mov('rsp', 'rbp');
  a.pop('rbp');
  a.ret();
  return a.finish();
}

function x64BuiltinStub(impl: bigint, record: EntryRecord = 'v17'): AssembledCode {
  const a = new X64Assembler();
  if (RECORDS[record].exitIsOwnFp) {
    // v44: a frame of its own, whose FP the exit record keeps (the saved word is the Wasm FP).
    a.push('rbp');
    a.mov('rbp', 'rsp');
    a.load('r11', xmem('rdi', VMCTX_RUNTIME_LIMITS));
    a.store(xmem('r11', RECORDS[record].exitFp), 'rbp');
    a.load('r10', xmem('rbp', 8));
    a.store(xmem('r11', RECORDS[record].exitPc), 'r10');
    a.movabs('r11', impl);
    a.callReg('r11');
    a.pop('rbp');
    a.ret();
    return a.finish();
  }
  // No frame of its own: RBP is still the Wasm caller's FP and [RSP] the return address into it.
  a.load('r11', xmem('rdi', VMCTX_RUNTIME_LIMITS));
  a.store(xmem('r11', LIMITS.lastWasmExitFp), 'rbp');
  a.load('r10', xmem('rsp', 0));
  a.store(xmem('r11', LIMITS.lastWasmExitPc), 'r10');
  a.movabs('r11', impl);
  a.jmpReg('r11');
  return a.finish();
}

// ---------------------------------------------------------------------------------------------
// AArch64

function a64AdjustSp(a: Aarch64Assembler, op: 'sub' | 'add', bytes: number): void {
  const hi = bytes & ~0xfff;
  const lo = bytes & 0xfff;
  const f = op === 'sub' ? a.subImm.bind(a) : a.addImm.bind(a);
  if (hi) f('sp', 'sp', hi);
  if (lo) f('sp', 'sp', lo);
}

function a64CopyStackArgs(a: Aarch64Assembler, count: number): void {
  for (let j = 0; j < count; j++) {
    a.ldr('x9', amem('x29', 16 + 8 * j));
    a.str('x9', amem('sp', 8 * j));
  }
}

/** Passes SP + `areaBase` as the return-area pointer argument (after the parameters). */
function a64PassReturnArea(a: Aarch64Assembler, type: FuncType, areaBase: number): void {
  const { argIndex, stackWord } = returnAreaPointerArg('aarch64', type.params);
  if (stackWord === undefined) {
    a.addImm(A64_ARGS[argIndex], 'sp', areaBase);
  } else {
    a.addImm('x11', 'sp', areaBase);
    a.str('x11', amem('sp', 8 * stackWord));
  }
}

/** dst ← Wasm result `j` just returned (an i32 zero-extended): from its register or the return area at SP + areaBase. */
function a64LoadWasmResult(a: Aarch64Assembler, type: FuncType, j: number, dst: X, areaBase: number): void {
  const place = wasmResultPlace('aarch64', type, j);
  const narrow = is32(type.results[j]);
  if ('reg' in place) {
    const src = place.reg as X;
    if (narrow) a.mov(wreg(Number(dst.slice(1))), wreg(Number(src.slice(1))));
    else if (src !== dst) a.mov(dst, src);
  } else {
    a.ldr(narrow ? wreg(Number(dst.slice(1))) : dst, amem('sp', areaBase + place.areaOffset));
  }
}

/** Stores the incoming return-area pointer (argument 2 + #params) at [sp + at] (the frame set up, x29 = FP). */
function a64SaveReturnAreaPointer(a: Aarch64Assembler, type: FuncType, at: number): void {
  const { argIndex, stackWord } = returnAreaPointerArg('aarch64', type.params);
  if (stackWord === undefined) {
    a.str(A64_ARGS[argIndex], amem('sp', at));
  } else {
    a.ldr('x11', amem('x29', 16 + 8 * stackWord));
    a.str('x11', amem('sp', at));
  }
}

/** As x64ReturnWasmResults: the results past x0–x7 through the saved pointer, then x0–x7. */
function a64ReturnWasmResults(a: Aarch64Assembler, type: FuncType, load: (dst: X, j: number) => void, pointerAt: number): void {
  const c = returnConvention('aarch64', type.results);
  if (c.inArea.length > 0) a.ldr('x11', amem('sp', pointerAt));
  for (const { index, offset } of c.inArea) {
    load('x10', index);
    a.str('x10', amem('x11', offset));
  }
  for (const { index, reg } of c.inRegisters) load(reg as X, index);
}

function a64ArrayToWasm(type: FuncType, target: bigint, record: EntryRecord = 'v17', mark?: TargetMark): AssembledCode {
  const a = new Aarch64Assembler();
  const { inRegs, onStack } = split('aarch64', type);
  a.stp('x29', 'x30', memPre('sp', -32));
  a.mov('x29', 'sp');
  a.str('x19', amem('sp', 16)); // values_ptr lives in x19 across the call (callee-saved)
  a.mov('x19', 'x2');
  const outgoing = callStackBytes('aarch64', type.params, type.results);
  a64AdjustSp(a, 'sub', align16(outgoing.total));
  for (let j = 0; j < onStack; j++) {
    const i = inRegs + j;
    if (is32(type.params[i])) a.ldr('w9', amem('x19', VAL * i));
    else a.ldr('x9', amem('x19', VAL * i));
    a.str('x9', amem('sp', 8 * j));
  }
  a.ldr('x9', amem('x0', VMCTX_RUNTIME_LIMITS));
  a.mov('x10', RECORDS[record].entryIsFp ? 'x29' : 'sp');
  a.str('x10', amem('x9', RECORDS[record].entry));
  for (let i = 0; i < inRegs; i++) {
    if (is32(type.params[i])) a.ldr(A64_ARGS32[2 + i], amem('x19', VAL * i));
    else a.ldr(A64_ARGS[2 + i], amem('x19', VAL * i));
  }
  if (outgoing.convention.areaBytes > 0) a64PassReturnArea(a, type, outgoing.areaBase);
  loadTarget(a, mark, () => a.movImm('x9', target));
  a.blr('x9');
  if (type.results.length === 1 && outgoing.convention.areaBytes === 0) {
    if (is32(type.results[0])) a.mov('w0', 'w0');
    a.str('x0', amem('x19', 0));
  } else {
    type.results.forEach((t, j) => {
      a64LoadWasmResult(a, type, j, 'x9', outgoing.areaBase);
      a.str('x9', amem('x19', VAL * j));
    });
  }
  a.mov('sp', 'x29');
  a.ldr('x19', amem('sp', 16));
  a.ldp('x29', 'x30', memPost('sp', 32));
  a.ret();
  return a.finish();
}

function a64NativeToWasm(type: FuncType, target: bigint, mark?: TargetMark): AssembledCode {
  const a = new Aarch64Assembler();
  const { onStack } = split('aarch64', type);
  const multi = type.results.length > 1;
  const outgoing = callStackBytes('aarch64', type.params, type.results);
  const pointerAt = Math.ceil(outgoing.total / 8) * 8;
  a.stp('x29', 'x30', memPre('sp', -16));
  a.mov('x29', 'sp');
  a64AdjustSp(a, 'sub', multi ? align16(pointerAt + 8) : align16(8 * onStack));
  a64CopyStackArgs(a, onStack);
  if (multi) {
    a64SaveReturnAreaPointer(a, type, pointerAt);
    if (outgoing.convention.areaBytes > 0) a64PassReturnArea(a, type, outgoing.areaBase);
  }
  a.ldr('x9', amem('x0', VMCTX_RUNTIME_LIMITS));
  a.mov('x10', 'sp');
  a.str('x10', amem('x9', LIMITS.lastWasmEntrySp));
  loadTarget(a, mark, () => a.movImm('x9', target));
  a.blr('x9');
  if (multi) {
    const { offsets } = nativeReturnLayout(type);
    a.ldr('x11', amem('sp', pointerAt));
    for (let j = 1; j < type.results.length; j++) {
      a64LoadWasmResult(a, type, j, 'x10', outgoing.areaBase);
      a.str(is32(type.results[j]) ? 'w10' : 'x10', amem('x11', offsets[j]));
    }
  }
  a.mov('sp', 'x29');
  a.ldp('x29', 'x30', memPost('sp', 16));
  a.ret();
  return a.finish();
}

function a64SaveExit(a: Aarch64Assembler, record: EntryRecord = 'v17'): void {
  const r = RECORDS[record];
  a.ldr('x9', amem('x1', VMCTX_RUNTIME_LIMITS));
  if (r.exitIsOwnFp) {
    a.str('x29', amem('x9', r.exitFp));
  } else {
    a.ldr('x10', amem('x29', 0));
    a.str('x10', amem('x9', r.exitFp));
  }
  a.ldr('x10', amem('x29', 8));
  a.str('x10', amem('x9', r.exitPc));
}

function a64WasmToNative(type: FuncType): AssembledCode {
  const a = new Aarch64Assembler();
  const { onStack } = split('aarch64', type);
  a.stp('x29', 'x30', memPre('sp', -16));
  a.mov('x29', 'sp');
  a64SaveExit(a);
  const multi = type.results.length > 1 ? multiResultFrame('aarch64', type) : undefined;
  a64AdjustSp(a, 'sub', multi ? multi.frameBytes : align16(8 * onStack));
  a64CopyStackArgs(a, onStack);
  if (multi) {
    if (multi.area) a64SaveReturnAreaPointer(a, type, multi.pointerAt);
    a64PassReturnArea(a, type, multi.bufferAt);
  }
  a.ldr('x9', amem('x0', HOST_CTX_NATIVE_CALL));
  a.blr('x9');
  if (multi) {
    const { offsets } = nativeReturnLayout(type);
    a64ReturnWasmResults(a, type, (dst, j) => {
      const narrow = is32(type.results[j]);
      const d = narrow ? wreg(Number(dst.slice(1))) : dst;
      if (j === 0) {
        if (narrow) a.mov(d, 'w0');
        else if (dst !== 'x0') a.mov(dst, 'x0');
      } else {
        a.ldr(d, amem('sp', multi.bufferAt + offsets[j]));
      }
    }, multi.pointerAt);
  }
  a.mov('sp', 'x29');
  a.ldp('x29', 'x30', memPost('sp', 16));
  a.ret();
  return a.finish();
}

function a64WasmToArray(type: FuncType, host: bigint, record: EntryRecord = 'v17'): AssembledCode {
  const a = new Aarch64Assembler();
  const { inRegs, onStack } = split('aarch64', type);
  const slots = Math.max(type.params.length, type.results.length, 1);
  const area = returnConvention('aarch64', type.results).areaBytes > 0;
  a.stp('x29', 'x30', memPre('sp', -16));
  a.mov('x29', 'sp');
  a64SaveExit(a, record);
  a64AdjustSp(a, 'sub', align16(VAL * slots + (area ? 8 : 0)));
  if (area) a64SaveReturnAreaPointer(a, type, VAL * slots);
  for (let i = 0; i < inRegs; i++) {
    if (is32(type.params[i])) a.mov(A64_ARGS32[2 + i], A64_ARGS32[2 + i]); // zero-extend
    a.str(A64_ARGS[2 + i], amem('sp', VAL * i));
  }
  for (let j = 0; j < onStack; j++) {
    const i = inRegs + j;
    if (is32(type.params[i])) a.ldr('w9', amem('x29', 16 + 8 * j));
    else a.ldr('x9', amem('x29', 16 + 8 * j));
    a.str('x9', amem('sp', VAL * i));
  }
  a.mov('x2', 'sp');
  a.movImm('x3', BigInt(slots));
  a.movImm('x9', host);
  a.blr('x9');
  if (type.results.length === 1 && !area) {
    if (is32(type.results[0])) a.ldr('w0', amem('sp', 0));
    else a.ldr('x0', amem('sp', 0));
  } else {
    a64ReturnWasmResults(a, type, (dst, j) => a.ldr(is32(type.results[j]) ? wreg(Number(dst.slice(1))) : dst, amem('sp', VAL * j)), VAL * slots);
  }
  a.mov('sp', 'x29');
  a.ldp('x29', 'x30', memPost('sp', 16));
  a.ret();
  return a.finish();
}

function a64BuiltinStub(impl: bigint, record: EntryRecord = 'v17'): AssembledCode {
  const a = new Aarch64Assembler();
  if (RECORDS[record].exitIsOwnFp) {
    a.stp('x29', 'x30', memPre('sp', -16));
    a.mov('x29', 'sp');
    a.ldr('x16', amem('x0', VMCTX_RUNTIME_LIMITS));
    a.str('x29', amem('x16', RECORDS[record].exitFp));
    a.str('x30', amem('x16', RECORDS[record].exitPc));
    a.movImm('x16', impl);
    a.blr('x16');
    a.ldp('x29', 'x30', memPost('sp', 16));
    a.ret();
    return a.finish();
  }
  // No frame of its own: x29 is still the Wasm caller's FP and x30 the return address into it.
  a.ldr('x16', amem('x0', VMCTX_RUNTIME_LIMITS));
  a.str('x29', amem('x16', LIMITS.lastWasmExitFp));
  a.str('x30', amem('x16', LIMITS.lastWasmExitPc));
  a.movImm('x16', impl);
  a.br('x16');
  return a.finish();
}

// ---------------------------------------------------------------------------------------------
// Public assemblers and the per-machine cache.

export function assembleArrayToWasm(arch: Arch, type: FuncType, wasmCall: bigint, record: EntryRecord = 'v17', mark?: TargetMark): AssembledCode {
  return arch === 'x64' ? x64ArrayToWasm(type, wasmCall, record, mark) : a64ArrayToWasm(type, wasmCall, record, mark);
}

export function assembleNativeToWasm(arch: Arch, type: FuncType, wasmCall: bigint, mark?: TargetMark): AssembledCode {
  return arch === 'x64' ? x64NativeToWasm(type, wasmCall, mark) : a64NativeToWasm(type, wasmCall, mark);
}

/** Where an entry trampoline loads its call target: [at, end) of its code. */
export interface TargetMark {
  at: number;
  end: number;
}

function loadTarget(a: { readonly offset: number }, mark: TargetMark | undefined, load: () => void): void {
  if (mark) mark.at = a.offset;
  load();
  if (mark) mark.end = a.offset;
}

/**
 * An entry trampoline of one type and kind with its call target cut out: the code before the
 * target's load and after it. Entry trampolines are made for every function of every instance
 * (a fuzz campaign instantiates a new module per program), and only that load differs between
 * the functions of one type: the code around it has no PC-relative reference, relocation or
 * trap site, so prefix + load + suffix is byte for byte the trampoline assembled whole
 * (trampolines.test.ts compares them).
 */
interface EntryTemplate {
  readonly prefix: Uint8Array;
  readonly suffix: Uint8Array;
}

const entryTemplates = new Map<string, EntryTemplate>();
/** Templates kept at most (the cache starts over when full): one per distinct type and kind. */
const MAX_ENTRY_TEMPLATES = 4096;

/** The `kind` entry trampoline of `type` calling `wasmCall`, from its type's template. */
export function entryTrampoline(arch: Arch, kind: 'native' | 'array', type: FuncType, wasmCall: bigint, record: EntryRecord = 'v17'): AssembledCode {
  const key = `${arch}:${kind}:${record}:${funcTypeKey(type)}`;
  let t = entryTemplates.get(key);
  if (t === undefined) {
    const mark: TargetMark = { at: -1, end: -1 };
    const whole = kind === 'native' ? assembleNativeToWasm(arch, type, 0n, mark) : assembleArrayToWasm(arch, type, 0n, record, mark);
    if (mark.at < 0 || whole.relocations.length > 0 || whole.traps.length > 0) throw new TrampolineError(`${kind}-to-wasm`, funcTypeKey(type), 'internal: its code cannot be cut around the call target');
    t = { prefix: whole.code.slice(0, mark.at), suffix: whole.code.slice(mark.end) };
    if (entryTemplates.size >= MAX_ENTRY_TEMPLATES) entryTemplates.clear();
    entryTemplates.set(key, t);
  }
  if (arch === 'x64' && wasmCall >= 0n && wasmCall < 1n << 64n) {
    // `movabs rax, wasmCall` (REX.W B8+rax, the 64-bit immediate little-endian), written in
    // place: an instance makes two of these per function, an assembler each was most of the cost.
    const code = new Uint8Array(t.prefix.length + 10 + t.suffix.length);
    code.set(t.prefix, 0);
    code[t.prefix.length] = 0x48;
    code[t.prefix.length + 1] = 0xb8;
    new DataView(code.buffer).setBigUint64(t.prefix.length + 2, wasmCall, true);
    code.set(t.suffix, t.prefix.length + 10);
    return { code, relocations: [], traps: [] };
  }
  const load = arch === 'x64' ? new X64Assembler() : new Aarch64Assembler();
  if (load instanceof X64Assembler) load.movabs('rax', wasmCall);
  else load.movImm('x9', wasmCall);
  const middle = load.finish().code;
  const code = new Uint8Array(t.prefix.length + middle.length + t.suffix.length);
  code.set(t.prefix, 0);
  code.set(middle, t.prefix.length);
  code.set(t.suffix, t.prefix.length + middle.length);
  return { code, relocations: [], traps: [] };
}

/** Calls the native entry stored in the callee's host-function context (ctx + 8). */
export function assembleWasmToNative(arch: Arch, type: FuncType): AssembledCode {
  return arch === 'x64' ? x64WasmToNative(type) : a64WasmToNative(type);
}

/** Calls `host(callee_vmctx, caller_vmctx, values, len)` with the host address baked in. */
export function assembleWasmToArray(arch: Arch, type: FuncType, host: bigint, record: EntryRecord = 'v17'): AssembledCode {
  return arch === 'x64' ? x64WasmToArray(type, host, record) : a64WasmToArray(type, host, record);
}

/** Records exit FP/PC from `vmctx + 8` → limits, then tail-jumps to `impl`. */
export function assembleBuiltinStub(arch: Arch, impl: bigint, record: EntryRecord = 'v17'): AssembledCode {
  return arch === 'x64' ? x64BuiltinStub(impl, record) : a64BuiltinStub(impl, record);
}

/**
 * Generates and places trampolines in one Machine, reusing code: entry trampolines per target
 * function, wasm-to-native per signature (the target is read from the callee context), wasm-to-
 * array per host function.
 */
export class Trampolines {
  readonly code: CodeSpace;
  private readonly cache = new Map<string, bigint>();

  constructor(readonly machine: Machine, code?: CodeSpace) {
    this.code = code ?? new CodeSpace(machine);
  }

  get arch(): Arch {
    return this.machine.arch;
  }

  private cached(key: string, name: string, make: () => AssembledCode): bigint {
    let address = this.cache.get(key);
    if (address === undefined) {
      address = this.code.place(name, make()).address;
      this.cache.set(key, address);
    }
    return address;
  }

  arrayToWasm(type: FuncType, wasmCall: bigint, name = 'function', record: EntryRecord = 'v17'): bigint {
    return this.cached(`a2w:${record}:${wasmCall}`, `array_to_wasm_trampoline[${name}]`, () => entryTrampoline(this.arch, 'array', type, wasmCall, record));
  }

  nativeToWasm(type: FuncType, wasmCall: bigint, name = 'function'): bigint {
    return this.cached(`n2w:${wasmCall}`, `native_to_wasm_trampoline[${name}]`, () => entryTrampoline(this.arch, 'native', type, wasmCall));
  }

  /**
   * The native-to-wasm and (v17) array-to-wasm trampolines of several functions (an
   * instance's), those not placed yet assembled and placed together (CodeSpace.placeAll).
   */
  entryTrampolines(functions: ReadonlyArray<{ type: FuncType; wasmCall: bigint; name: string }>): Array<{ nativeCall: bigint; arrayCall: bigint }> {
    const missing: Array<{ key: string; name: string; assembled: AssembledCode }> = [];
    const queued = new Set<string>();
    const want = (key: string, name: string, make: () => AssembledCode): void => {
      if (this.cache.has(key) || queued.has(key)) return;
      queued.add(key);
      missing.push({ key, name, assembled: make() });
    };
    for (const { type, wasmCall, name } of functions) {
      want(`n2w:${wasmCall}`, `native_to_wasm_trampoline[${name}]`, () => entryTrampoline(this.arch, 'native', type, wasmCall));
      want(`a2w:v17:${wasmCall}`, `array_to_wasm_trampoline[${name}]`, () => entryTrampoline(this.arch, 'array', type, wasmCall));
    }
    const placed = this.code.placeAll(missing);
    missing.forEach((m, i) => this.cache.set(m.key, placed[i].address));
    return functions.map(({ wasmCall }) => ({ nativeCall: this.cache.get(`n2w:${wasmCall}`)!, arrayCall: this.cache.get(`a2w:v17:${wasmCall}`)! }));
  }

  wasmToNative(type: FuncType): bigint {
    const key = funcTypeKey(type);
    return this.cached(`w2n:${key}`, `wasm_to_native_trampoline[${key}]`, () => assembleWasmToNative(this.arch, type));
  }

  wasmToArray(type: FuncType, host: bigint, name = 'host', record: EntryRecord = 'v17'): bigint {
    return this.cached(`w2a:${record}:${host}`, `wasm_to_array_trampoline[${name}]`, () => assembleWasmToArray(this.arch, type, host, record));
  }

  builtinStub(name: string, impl: bigint, record: EntryRecord = 'v17'): bigint {
    return this.cached(`builtin:${record}:${name}:${impl}`, `builtin[${name}]`, () => assembleBuiltinStub(this.arch, impl, record));
  }
}
