/**
 * Frame layout, fixed before any code is emitted (the first stage of compileFunction):
 *
 *   [0, outgoing)                        outgoing stack arguments of Wasm calls (and the
 *                                        return area of a call with results past the registers)
 *   [stackBase, stackBase + 8·maxStack)  operand-stack slot d at stackBase + 8·d
 *   [localsBase, ...)                    local l (parameters first) at localsBase + 8·l
 *   (then the return-area pointer, for a function with results past the return registers)
 *   (padding to 16)
 *   [frameSize − 16, frameSize)          callee-save area: the caller's vmctx register, 8 pad
 *   FP → saved FP, return address, incoming stack arguments
 *
 * Offsets are from SP in the body; FP − SP = frameSize, a multiple of 16.
 */
import type { DefinedFunction, FuncType, WasmModule } from '../frontend/module.ts';
import type { FrameLayout } from '../codegen/common.ts';
import { callStackBytes, returnConvention } from '../codegen/returns.ts';
import type { Arch } from '../../isa/arch.ts';
import { wideType } from './values.ts';
import type { ValueAssignment } from '../regalloc/virtual.ts';

/** The frame of a `linear-scan` function: spill slots instead of operand-stack and local slots. */
export interface FrameAllocation {
  /** Spill slot k is at SP + spillBase + 8k. */
  readonly spillBase: number;
  readonly spillSlots: number;
  /** Where each value was put. */
  readonly values: readonly ValueAssignment[];
  /** The register memory 0's base is kept in for the whole function, if any. */
  readonly heapBase?: string;
}

/**
 * The frame the compiler chose, as the backends and listings see it. With `linear-scan`
 * (`allocation` set) [stackBase, localsBase) holds the spill slots instead of the operand
 * stack and no slot belongs to a local.
 */
export type FunctionFrame = FrameLayout & {
  readonly stackBase: number;
  readonly localsBase: number;
  readonly outgoingBytes: number;
  readonly allocation?: FrameAllocation;
};

/** What the frame word at SP + `offset` holds, from the layout (undefined: outside the frame). */
export function frameSlotName(f: FunctionFrame, offset: number): string | undefined {
  if (offset < 0 || offset >= f.frameSize) return undefined;
  if (offset === f.returnAreaPointer) return 'return-area pointer';
  if (f.floatSaveOffset !== undefined && f.savedFloatRegs !== undefined && offset >= f.floatSaveOffset && offset < f.calleeSaveOffset) {
    const reg = f.savedFloatRegs[(offset - f.floatSaveOffset) / 8];
    return reg === undefined ? 'callee-save pad' : `callee-save ${reg}`;
  }
  if (offset >= f.calleeSaveOffset) {
    const k = (offset - f.calleeSaveOffset) / 8;
    const saved = f.savedRegs ?? [undefined];
    const reg = saved[k];
    if (k >= saved.length) return 'callee-save pad';
    return reg === undefined || f.savedRegs === undefined ? 'callee-save (caller vmctx)' : `callee-save ${reg}${reg === 'r14' || reg === 'x19' ? ' (caller vmctx)' : ''}`;
  }
  if (offset < f.stackBase) return `outgoing[${offset / 8}]`;
  if (f.allocation) return offset < f.localsBase ? `spill[${(offset - f.stackBase) / 8}]` : 'padding';
  if (offset < f.localsBase) return `stack[${(offset - f.stackBase) / 8}]`;
  const local = (offset - f.localsBase) / 8;
  if (local < f.paramOffsets.length + f.zeroCount) return `local ${local}${local < f.paramOffsets.length ? ' (param)' : ''}`;
  return 'padding';
}

/**
 * The frame of `fn`: the outgoing-argument area sized for its largest call (checking each
 * callee's signature), then the operand-stack slots, the locals and the callee-save area.
 * `slot(d)` and `local(l)` give the SP-relative offset of operand-stack entry d and local l.
 */
export function layoutFrame(module: WasmModule, fn: DefinedFunction, arch: Arch): {
  frame: FunctionFrame;
  slot: (d: number) => number;
  local: (l: number) => number;
} {
  let outgoingBytes = 0;
  fn.body.forEach((instr) => {
    if (instr.dead) return;
    if (instr.op === 'call' || instr.op === 'call_indirect') {
      const t: FuncType = 'func' in instr ? module.types[module.funcTypeIndices[instr.func]] : module.types[instr.typeIndex];
      outgoingBytes = Math.max(outgoingBytes, callStackBytes(arch, t.params, t.results).total);
    }
  });
  const numParams = fn.type.params.length;
  const numLocals = numParams + fn.locals.length;
  const stackBase = outgoingBytes;
  const localsBase = stackBase + 8 * fn.maxStackHeight;
  const hasReturnArea = returnConvention(arch, fn.type.results).areaBytes > 0;
  const fixed = localsBase + 8 * numLocals + (hasReturnArea ? 8 : 0);
  const frameSize = Math.ceil(fixed / 16) * 16 + 16;
  const slot = (d: number): number => stackBase + 8 * d;
  const local = (l: number): number => localsBase + 8 * l;
  const frame = {
    frameSize,
    calleeSaveOffset: frameSize - 16,
    paramOffsets: fn.type.params.map((_, k) => local(k)),
    paramWide: fn.type.params.map(wideType),
    zeroStart: local(numParams),
    zeroCount: fn.locals.length,
    stackBase,
    localsBase,
    outgoingBytes,
    ...(hasReturnArea ? { returnAreaPointer: local(numLocals) } : {}),
  };
  return { frame, slot, local };
}
