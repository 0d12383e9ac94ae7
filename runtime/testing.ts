/**
 * Test helpers of the runtime layer: a Machine with the store-level structures a VMContext
 * points at, without the full Store API.
 */
import type { Arch } from '../isa/arch.ts';
import type { AssembledCode } from '../isa/code-buffer.ts';
import { AARCH64_TRAP_IMMEDIATE, Aarch64Assembler, mem as amem, memPost, memPre } from '../isa/aarch64/encoder.ts';
import { X64Assembler, mem as xmem } from '../isa/x64/encoder.ts';
import { BUILTIN_FUNCTIONS_TOTAL_NUMBER } from '../compiler/builtins.ts';
import { VMExternRefActivationsTableLayout } from '../compiler/vmoffsets.ts';
import { Machine } from '../simulator/machine.ts';
import { RuntimeHeap } from './heap.ts';
import { VMRuntimeLimits } from './limits.ts';
import { SignatureRegistry } from './signatures.ts';
import { NO_IMPORTS, VMContextInstance, type VMContextEnvironment } from './vmcontext.ts';
import { CodeSpace } from './code-space.ts';
import { Trampolines } from './trampolines.ts';
import { parseWat } from '../compiler/frontend/index.ts';

export const ARCHES: readonly Arch[] = ['x64', 'aarch64'];

/**
 * A counted loop in `sum` (i32 Σ i² for i < n), reached through `outer`, which first passes n
 * to the host import `env.<hostImport>` (i32) -> (). The cycle-model tests' workload.
 */
export function sumLoopWat(hostImport: string): string {
  return `(module
  (import "env" "${hostImport}" (func $host (param i32)))
  (func $sum (export "sum") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_s (local.get $i) (local.get $n)))
        (local.set $acc (i32.add (local.get $acc) (i32.mul (local.get $i) (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $acc))
  (func $outer (export "outer") (param $n i32) (result i32)
    (call $host (local.get $n))
    (call $sum (local.get $n))))`;
}

/** What `sum` of sumLoopWat returns (i32 arithmetic). */
export function sumOfSquares(n: number): number {
  let acc = 0;
  for (let i = 0; i < n; i++) acc = (acc + i * i) | 0;
  return acc;
}

export async function testEnvironment(arch: Arch, storeId = 7n): Promise<VMContextEnvironment & { machine: Machine }> {
  const machine = await Machine.create({ arch });
  const heap = new RuntimeHeap(machine);
  const limits = VMRuntimeLimits.allocate(machine, heap);
  const epochAddress = heap.alloc(8, 8);
  const activationsTableAddress = heap.alloc(VMExternRefActivationsTableLayout.chunk + 8, 16);
  const builtinsArrayAddress = heap.alloc(8 * BUILTIN_FUNCTIONS_TOTAL_NUMBER, 16);
  return {
    machine, heap, limits, epochAddress, activationsTableAddress, storeId, builtinsArrayAddress,
    signatures: new SignatureRegistry(),
    memoryOptions: { guardBytes: 1n << 20n },
  };
}

/**
 * testEnvironment plus what trampoline tests run on: an instance of an empty module (a real
 * VMContext, whose +8 holds the limits pointer), a code space and the trampolines.
 */
export async function trampolineEnvironment(arch: Arch) {
  const env = await testEnvironment(arch);
  const m = env.machine;
  const inst = new VMContextInstance(env, await parseWat('(module)'), [], NO_IMPORTS);
  const space = new CodeSpace(m);
  const tr = new Trampolines(m, space);
  return { env, m, inst, space, tr };
}

// ---------------------------------------------------------------------------------------------
// Hand-written stand-ins for compiled Wasm functions, with the frame shape Cranelift gives
// (push rbp / mov rbp, rsp; stp x29, x30 / mov x29, sp), for tests that need Wasm frames before
// the compiler's images exist.


/**
 * The frame record and, with `checkStack`, a Cranelift-style stack-limit check (SP against
 * [[vmctx+8]+0], trapping when below). Returns the trap instruction's offset, if any.
 */
function x64Prologue(a: X64Assembler, checkStack: boolean): number | undefined {
  a.push('rbp');
  a.mov('rbp', 'rsp');
  if (!checkStack) return undefined;
  const ok = a.newLabel();
  a.load('r10', xmem('rdi', 8));
  a.load('r10', xmem('r10', 0));
  a.cmp('rsp', 'r10');
  a.jcc('ae', ok);
  const trapOffset = a.offset;
  a.ud2();
  a.bind(ok);
  return trapOffset;
}

function aarch64Prologue(a: Aarch64Assembler, checkStack: boolean): number | undefined {
  a.stp('x29', 'x30', memPre('sp', -16));
  a.mov('x29', 'sp');
  if (!checkStack) return undefined;
  const ok = a.newLabel();
  a.ldr('x16', amem('x0', 8));
  a.ldr('x16', amem('x16', 0));
  a.mov('x17', 'sp');
  a.cmp('x17', 'x16');
  a.bCond('hs', ok);
  const trapOffset = a.offset;
  a.udf(AARCH64_TRAP_IMMEDIATE);
  a.bind(ok);
  return trapOffset;
}

export interface FakeWasm {
  code: AssembledCode;
  /** Offset of the return address of the call the function makes. */
  returnOffset: number;
  /** Offset of the trap instruction of the stack-limit check, when there is one. */
  trapOffset?: number;
}

/**
 * A Wasm-convention function (callee vmctx, caller vmctx, p0..pn-1) that calls
 * `target(calleeCtx, own vmctx, p0..pn-1)` and returns its result. With `target` undefined it
 * calls through the pointer stored at [own vmctx + `loadTargetFrom`] instead. With
 * `checkStack` it begins with a Cranelift-style stack-limit check (SP vs [[vmctx+8]+0]) that
 * traps with ud2 / udf.
 */
export function assembleForwarder(arch: Arch, nparams: number, calleeCtx: bigint | 'own', target: bigint, checkStack = false): FakeWasm {
  const regs = arch === 'x64' ? 4 : 6;
  const onStack = Math.max(0, nparams - regs);
  const area = (8 * onStack + 15) & ~15;
  let trapOffset: number | undefined;
  if (arch === 'x64') {
    const a = new X64Assembler();
    trapOffset = x64Prologue(a, checkStack);
    if (area) a.subImm('rsp', area);
    for (let j = 0; j < onStack; j++) {
      a.load('r11', xmem('rbp', 16 + 8 * j));
      a.store(xmem('rsp', 8 * j), 'r11');
    }
    a.mov('rsi', 'rdi');
    if (calleeCtx !== 'own') a.movabs('rdi', calleeCtx);
    a.movabs('rax', target);
    a.callReg('rax');
    const returnOffset = a.offset;
    a.mov('rsp', 'rbp');
    a.pop('rbp');
    a.ret();
    return { code: a.finish(), returnOffset, trapOffset };
  }
  const a = new Aarch64Assembler();
  trapOffset = aarch64Prologue(a, checkStack);
  if (area) a.subImm('sp', 'sp', area);
  for (let j = 0; j < onStack; j++) {
    a.ldr('x9', amem('x29', 16 + 8 * j));
    a.str('x9', amem('sp', 8 * j));
  }
  a.mov('x1', 'x0');
  if (calleeCtx !== 'own') a.movImm('x0', calleeCtx);
  a.movImm('x9', target);
  a.blr('x9');
  const returnOffset = a.offset;
  a.mov('sp', 'x29');
  a.ldp('x29', 'x30', memPost('sp', 16));
  a.ret();
  return { code: a.finish(), returnOffset, trapOffset };
}

/** A Wasm-convention function that calls itself forever with a 32-byte frame, optionally
 * behind the stack-limit check (so it ends in StackOverflow at `trapOffset` or on the guard). */
export function assembleRecursive(arch: Arch, checkStack: boolean): FakeWasm {
  let trapOffset: number | undefined;
  if (arch === 'x64') {
    const a = new X64Assembler();
    const top = a.newLabel();
    a.bind(top);
    trapOffset = x64Prologue(a, checkStack);
    a.subImm('rsp', 32);
    a.call(top);
    const returnOffset = a.offset;
    a.mov('rsp', 'rbp');
    a.pop('rbp');
    a.ret();
    return { code: a.finish(), returnOffset, trapOffset };
  }
  const a = new Aarch64Assembler();
  const top = a.newLabel();
  a.bind(top);
  trapOffset = aarch64Prologue(a, checkStack);
  a.subImm('sp', 'sp', 32);
  a.bl(top);
  const returnOffset = a.offset;
  a.mov('sp', 'x29');
  a.ldp('x29', 'x30', memPost('sp', 16));
  a.ret();
  return { code: a.finish(), returnOffset, trapOffset };
}

/** A Wasm-convention function that executes one trap instruction (ud2 / udf #0xc11f). */
export function assembleTrap(arch: Arch): FakeWasm {
  if (arch === 'x64') {
    const a = new X64Assembler();
    a.push('rbp');
    a.mov('rbp', 'rsp');
    const trapOffset = a.offset;
    a.ud2();
    return { code: a.finish(), returnOffset: 0, trapOffset };
  }
  const a = new Aarch64Assembler();
  a.stp('x29', 'x30', memPre('sp', -16));
  a.mov('x29', 'sp');
  const trapOffset = a.offset;
  a.udf(AARCH64_TRAP_IMMEDIATE);
  return { code: a.finish(), returnOffset: 0, trapOffset };
}

/**
 * A Wasm-convention function (callee vmctx, caller vmctx, a0..an-1) that calls builtin `index`
 * as compiled code does: the array pointer from [vmctx + 56], the entry at index·8, called with
 * the platform ABI as (vmctx, a0..an-1). n ≤ 5 (the most any v17 builtin takes after vmctx).
 */
export function assembleBuiltinCaller(arch: Arch, index: number, nargs: number): FakeWasm {
  if (nargs > 5) throw new RangeError('at most 5 builtin arguments');
  if (arch === 'x64') {
    const a = new X64Assembler();
    a.push('rbp');
    a.mov('rbp', 'rsp');
    const from = ['rdx', 'rcx', 'r8', 'r9'] as const;
    const to = ['rsi', 'rdx', 'rcx', 'r8', 'r9'] as const;
    for (let i = 0; i < Math.min(nargs, 4); i++) a.mov(to[i], from[i]);
    if (nargs === 5) a.load('r9', xmem('rbp', 16));
    a.load('rax', xmem('rdi', 56));
    a.load('rax', xmem('rax', 8 * index));
    a.callReg('rax');
    const returnOffset = a.offset;
    a.pop('rbp');
    a.ret();
    return { code: a.finish(), returnOffset };
  }
  const a = new Aarch64Assembler();
  a.stp('x29', 'x30', memPre('sp', -16));
  a.mov('x29', 'sp');
  const regs = ['x1', 'x2', 'x3', 'x4', 'x5', 'x6'] as const;
  for (let i = 0; i < nargs; i++) a.mov(regs[i], regs[i + 1]);
  a.ldr('x9', amem('x0', 56));
  a.ldr('x9', amem('x9', 8 * index));
  a.blr('x9');
  const returnOffset = a.offset;
  a.ldp('x29', 'x30', memPost('sp', 16));
  a.ret();
  return { code: a.finish(), returnOffset };
}
