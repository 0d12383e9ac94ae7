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
import type { Machine } from '../simulator/machine.ts';
import { CodeSpace } from './code-space.ts';
import { funcTypeKey } from './signatures.ts';

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

function checkSignature(kind: string, type: FuncType): void {
  if (type.results.length > 1) {
    throw new TrampolineError(kind, funcTypeKey(type), 'multi-value results are not supported by stackscope\'s Wasm convention');
  }
}

/** Wasm parameters (after the two vmctx arguments) passed in registers / on the stack. */
function split(arch: Arch, type: FuncType): { inRegs: number; onStack: number } {
  const regs = abiOf(arch).intArgs.length - 2;
  const inRegs = Math.min(type.params.length, regs);
  return { inRegs, onStack: type.params.length - inRegs };
}

/** i32 and f32 travel as the low 32 bits of an integer register, zero-extended. */
const is32 = (t: ValType): boolean => valueBytes(t) === 4;

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
export type EntryRecord = 'v17' | 'v31';

function x64ArrayToWasm(type: FuncType, target: bigint, record: EntryRecord = 'v17'): AssembledCode {
  const a = new X64Assembler();
  const { inRegs, onStack } = split('x64', type);
  a.push('rbp');
  a.mov('rbp', 'rsp');
  a.push('rbx'); // values_ptr lives in rbx across the call (callee-saved)
  a.push('r12'); // keeps SP 16-aligned
  a.mov('rbx', 'rdx');
  x64AdjustSp(a, 'sub', align16(8 * onStack));
  for (let j = 0; j < onStack; j++) {
    const i = inRegs + j;
    if (is32(type.params[i])) a.load('r11d', xmem('rbx', VAL * i));
    else a.load('r11', xmem('rbx', VAL * i));
    a.store(xmem('rsp', 8 * j), 'r11');
  }
  a.load('r10', xmem('rdi', VMCTX_RUNTIME_LIMITS));
  a.store(xmem('r10', LIMITS.lastWasmEntrySp), record === 'v31' ? 'rbp' : 'rsp');
  // rdx is overwritten last among the parameter registers, but the values come from rbx.
  for (let i = 0; i < inRegs; i++) {
    if (is32(type.params[i])) a.load(X64_ARGS32[2 + i], xmem('rbx', VAL * i));
    else a.load(X64_ARGS[2 + i], xmem('rbx', VAL * i));
  }
  a.movabs('rax', target);
  a.callReg('rax');
  if (type.results.length === 1) {
    if (is32(type.results[0])) a.mov('eax', 'eax');
    a.store(xmem('rbx', 0), 'rax');
  }
  a.lea('rsp', xmem('rbp', -16));
  a.pop('r12');
  a.pop('rbx');
  a.pop('rbp');
  a.ret();
  return a.finish();
}

function x64NativeToWasm(type: FuncType, target: bigint): AssembledCode {
  const a = new X64Assembler();
  const { onStack } = split('x64', type);
  a.push('rbp');
  a.mov('rbp', 'rsp');
  x64AdjustSp(a, 'sub', align16(8 * onStack));
  x64CopyStackArgs(a, onStack);
  a.load('r10', xmem('rdi', VMCTX_RUNTIME_LIMITS));
  a.store(xmem('r10', LIMITS.lastWasmEntrySp), 'rsp');
  a.movabs('rax', target);
  a.callReg('rax');
  a.mov('rsp', 'rbp');
  a.pop('rbp');
  a.ret();
  return a.finish();
}

/** Records the Wasm caller's FP (the word at our FP) and the return address into it. */
function x64SaveExit(a: X64Assembler): void {
  a.load('r10', xmem('rsi', VMCTX_RUNTIME_LIMITS));
  a.load('r11', xmem('rbp', 0));
  a.store(xmem('r10', LIMITS.lastWasmExitFp), 'r11');
  a.load('r11', xmem('rbp', 8));
  a.store(xmem('r10', LIMITS.lastWasmExitPc), 'r11');
}

function x64WasmToNative(type: FuncType): AssembledCode {
  const a = new X64Assembler();
  const { onStack } = split('x64', type);
  a.push('rbp');
  a.mov('rbp', 'rsp');
  x64SaveExit(a);
  x64AdjustSp(a, 'sub', align16(8 * onStack));
  x64CopyStackArgs(a, onStack);
  a.load('rax', xmem('rdi', HOST_CTX_NATIVE_CALL));
  a.callReg('rax');
  a.mov('rsp', 'rbp');
  a.pop('rbp');
  a.ret();
  return a.finish();
}

function x64WasmToArray(type: FuncType, host: bigint): AssembledCode {
  const a = new X64Assembler();
  const { inRegs, onStack } = split('x64', type);
  const slots = Math.max(type.params.length, type.results.length, 1);
  a.push('rbp');
  a.mov('rbp', 'rsp');
  x64SaveExit(a);
  x64AdjustSp(a, 'sub', align16(VAL * slots));
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
  if (type.results.length === 1) {
    if (is32(type.results[0])) a.load('eax', xmem('rsp', 0));
    else a.load('rax', xmem('rsp', 0));
  }
  a.mov('rsp', 'rbp');
  a.pop('rbp');
  a.ret();
  return a.finish();
}

function x64BuiltinStub(impl: bigint): AssembledCode {
  const a = new X64Assembler();
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

function a64ArrayToWasm(type: FuncType, target: bigint, record: EntryRecord = 'v17'): AssembledCode {
  const a = new Aarch64Assembler();
  const { inRegs, onStack } = split('aarch64', type);
  a.stp('x29', 'x30', memPre('sp', -32));
  a.mov('x29', 'sp');
  a.str('x19', amem('sp', 16)); // values_ptr lives in x19 across the call (callee-saved)
  a.mov('x19', 'x2');
  a64AdjustSp(a, 'sub', align16(8 * onStack));
  for (let j = 0; j < onStack; j++) {
    const i = inRegs + j;
    if (is32(type.params[i])) a.ldr('w9', amem('x19', VAL * i));
    else a.ldr('x9', amem('x19', VAL * i));
    a.str('x9', amem('sp', 8 * j));
  }
  a.ldr('x9', amem('x0', VMCTX_RUNTIME_LIMITS));
  a.mov('x10', record === 'v31' ? 'x29' : 'sp');
  a.str('x10', amem('x9', LIMITS.lastWasmEntrySp));
  for (let i = 0; i < inRegs; i++) {
    if (is32(type.params[i])) a.ldr(A64_ARGS32[2 + i], amem('x19', VAL * i));
    else a.ldr(A64_ARGS[2 + i], amem('x19', VAL * i));
  }
  a.movImm('x9', target);
  a.blr('x9');
  if (type.results.length === 1) {
    if (is32(type.results[0])) a.mov('w0', 'w0');
    a.str('x0', amem('x19', 0));
  }
  a.mov('sp', 'x29');
  a.ldr('x19', amem('sp', 16));
  a.ldp('x29', 'x30', memPost('sp', 32));
  a.ret();
  return a.finish();
}

function a64NativeToWasm(type: FuncType, target: bigint): AssembledCode {
  const a = new Aarch64Assembler();
  const { onStack } = split('aarch64', type);
  a.stp('x29', 'x30', memPre('sp', -16));
  a.mov('x29', 'sp');
  a64AdjustSp(a, 'sub', align16(8 * onStack));
  a64CopyStackArgs(a, onStack);
  a.ldr('x9', amem('x0', VMCTX_RUNTIME_LIMITS));
  a.mov('x10', 'sp');
  a.str('x10', amem('x9', LIMITS.lastWasmEntrySp));
  a.movImm('x9', target);
  a.blr('x9');
  a.mov('sp', 'x29');
  a.ldp('x29', 'x30', memPost('sp', 16));
  a.ret();
  return a.finish();
}

function a64SaveExit(a: Aarch64Assembler): void {
  a.ldr('x9', amem('x1', VMCTX_RUNTIME_LIMITS));
  a.ldr('x10', amem('x29', 0));
  a.str('x10', amem('x9', LIMITS.lastWasmExitFp));
  a.ldr('x10', amem('x29', 8));
  a.str('x10', amem('x9', LIMITS.lastWasmExitPc));
}

function a64WasmToNative(type: FuncType): AssembledCode {
  const a = new Aarch64Assembler();
  const { onStack } = split('aarch64', type);
  a.stp('x29', 'x30', memPre('sp', -16));
  a.mov('x29', 'sp');
  a64SaveExit(a);
  a64AdjustSp(a, 'sub', align16(8 * onStack));
  a64CopyStackArgs(a, onStack);
  a.ldr('x9', amem('x0', HOST_CTX_NATIVE_CALL));
  a.blr('x9');
  a.mov('sp', 'x29');
  a.ldp('x29', 'x30', memPost('sp', 16));
  a.ret();
  return a.finish();
}

function a64WasmToArray(type: FuncType, host: bigint): AssembledCode {
  const a = new Aarch64Assembler();
  const { inRegs, onStack } = split('aarch64', type);
  const slots = Math.max(type.params.length, type.results.length, 1);
  a.stp('x29', 'x30', memPre('sp', -16));
  a.mov('x29', 'sp');
  a64SaveExit(a);
  a64AdjustSp(a, 'sub', align16(VAL * slots));
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
  if (type.results.length === 1) {
    if (is32(type.results[0])) a.ldr('w0', amem('sp', 0));
    else a.ldr('x0', amem('sp', 0));
  }
  a.mov('sp', 'x29');
  a.ldp('x29', 'x30', memPost('sp', 16));
  a.ret();
  return a.finish();
}

function a64BuiltinStub(impl: bigint): AssembledCode {
  const a = new Aarch64Assembler();
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

export function assembleArrayToWasm(arch: Arch, type: FuncType, wasmCall: bigint, record: EntryRecord = 'v17'): AssembledCode {
  checkSignature('array-to-wasm', type);
  return arch === 'x64' ? x64ArrayToWasm(type, wasmCall, record) : a64ArrayToWasm(type, wasmCall, record);
}

export function assembleNativeToWasm(arch: Arch, type: FuncType, wasmCall: bigint): AssembledCode {
  checkSignature('native-to-wasm', type);
  return arch === 'x64' ? x64NativeToWasm(type, wasmCall) : a64NativeToWasm(type, wasmCall);
}

/** Calls the native entry stored in the callee's host-function context (ctx + 8). */
export function assembleWasmToNative(arch: Arch, type: FuncType): AssembledCode {
  checkSignature('wasm-to-native', type);
  return arch === 'x64' ? x64WasmToNative(type) : a64WasmToNative(type);
}

/** Calls `host(callee_vmctx, caller_vmctx, values, len)` with the host address baked in. */
export function assembleWasmToArray(arch: Arch, type: FuncType, host: bigint): AssembledCode {
  checkSignature('wasm-to-array', type);
  return arch === 'x64' ? x64WasmToArray(type, host) : a64WasmToArray(type, host);
}

/** Records exit FP/PC from `vmctx + 8` → limits, then tail-jumps to `impl`. */
export function assembleBuiltinStub(arch: Arch, impl: bigint): AssembledCode {
  return arch === 'x64' ? x64BuiltinStub(impl) : a64BuiltinStub(impl);
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
    return this.cached(`a2w:${record}:${wasmCall}`, `array_to_wasm_trampoline[${name}]`, () => assembleArrayToWasm(this.arch, type, wasmCall, record));
  }

  nativeToWasm(type: FuncType, wasmCall: bigint, name = 'function'): bigint {
    return this.cached(`n2w:${wasmCall}`, `native_to_wasm_trampoline[${name}]`, () => assembleNativeToWasm(this.arch, type, wasmCall));
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
      want(`n2w:${wasmCall}`, `native_to_wasm_trampoline[${name}]`, () => assembleNativeToWasm(this.arch, type, wasmCall));
      want(`a2w:v17:${wasmCall}`, `array_to_wasm_trampoline[${name}]`, () => assembleArrayToWasm(this.arch, type, wasmCall));
    }
    const placed = this.code.placeAll(missing);
    missing.forEach((m, i) => this.cache.set(m.key, placed[i].address));
    return functions.map(({ wasmCall }) => ({ nativeCall: this.cache.get(`n2w:${wasmCall}`)!, arrayCall: this.cache.get(`a2w:v17:${wasmCall}`)! }));
  }

  wasmToNative(type: FuncType): bigint {
    const key = funcTypeKey(type);
    return this.cached(`w2n:${key}`, `wasm_to_native_trampoline[${key}]`, () => assembleWasmToNative(this.arch, type));
  }

  wasmToArray(type: FuncType, host: bigint, name = 'host'): bigint {
    return this.cached(`w2a:${host}`, `wasm_to_array_trampoline[${name}]`, () => assembleWasmToArray(this.arch, type, host));
  }

  builtinStub(name: string, impl: bigint): bigint {
    return this.cached(`builtin:${name}:${impl}`, `builtin[${name}]`, () => assembleBuiltinStub(this.arch, impl));
  }
}
