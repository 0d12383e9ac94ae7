/**
 * Single-pass translation of one validated Wasm function into machine code through a
 * `MacroAssembler`, with wasmtime v17's calling convention, frame layout, trap sites and
 * stack maps. compileFunction runs the stages in lowering/: the frame layout (frame.ts), then
 * one pass over the body in which each instruction is lowered by control flow (control.ts),
 * call sites (calls.ts) or per-opcode lowering (instructions.ts), all of which address the
 * environment through environment.ts and find values through the value-location layer
 * (values.ts, the layer a register allocator replaces).
 *
 * The frame (lowering/frame.ts) gives every operand-stack entry and every local its slot.
 * Every value lives in its slot between instructions, so at each call the only externref
 * values that exist are in slots, and the stack map names them: operand-stack entries below
 * the call's arguments (plus values an instruction keeps across its own libcall) and the
 * externref locals live after the instruction.
 */
import { functionDisplayName, type DefinedFunction, type WasmModule } from './frontend/module.ts';
import type { VMOffsets } from './vmoffsets.ts';
import { externrefLiveness } from './liveness.ts';
import type { MacroAssembler } from './codegen/common.ts';
import { abiOf } from '../isa/abi.ts';
import type { RelocationRequest, TrapSite } from '../isa/code-buffer.ts';
import { functionSymbol, lowerCall } from './lowering/calls.ts';
import { CallRecorder, type CallSite, type Lowering } from './lowering/context.ts';
import { lowerControl } from './lowering/control.ts';
import { checkSignature, layoutFrame, type FunctionFrame } from './lowering/frame.ts';
import { lowerInstruction } from './lowering/instructions.ts';
import { SlotValues } from './lowering/values.ts';

export { functionSymbol } from './lowering/calls.ts';
export type { CallSite, CallSiteKind } from './lowering/context.ts';

export interface StackMap {
  /** (FP − SP at the call) / 8. */
  readonly mappedWords: number;
  /** Bit i (bit i%32 of word i/32) = the word at SP + 8·i holds a live externref. */
  readonly bitmap: readonly number[];
}

export interface CompiledFunction {
  readonly funcIndex: number;
  readonly definedIndex: number;
  readonly symbol: string;
  readonly name: string;
  readonly code: Uint8Array;
  readonly relocations: readonly RelocationRequest[];
  readonly traps: readonly TrapSite[];
  readonly callSites: readonly CallSite[];
  readonly frameSize: number;
  readonly frame: FunctionFrame;
  /** Code offset where each Wasm instruction's code begins (-1 for dead instructions). */
  readonly instrOffsets: readonly number[];
}

/** The module's signature list: unique function types, numbered in order of first appearance. */
export function signatureIndices(module: WasmModule): { signatureOf: number[]; signatures: number[] } {
  const signatureOf: number[] = [];
  const signatures: number[] = [];
  const byCanonical = new Map<number, number>();
  module.types.forEach((_, t) => {
    const canonical = module.canonicalTypeIndices[t] ?? t;
    let s = byCanonical.get(canonical);
    if (s === undefined) {
      s = signatures.length;
      signatures.push(canonical);
      byCanonical.set(canonical, s);
    }
    signatureOf.push(s);
  });
  return { signatureOf, signatures };
}

export interface FunctionContext {
  readonly module: WasmModule;
  readonly offsets: VMOffsets;
  readonly signatureOf: readonly number[];
  readonly newAssembler: () => MacroAssembler;
}

export function compileFunction(ctx: FunctionContext, fn: DefinedFunction): CompiledFunction {
  const { module, offsets } = ctx;
  checkSignature(module, fn, fn.type, null, 'the function');
  const arch = ctx.newAssembler().arch;
  const { frame, slot, local } = layoutFrame(module, fn, abiOf(arch).intArgs.length);

  const m = ctx.newAssembler();
  const liveness = externrefLiveness(fn);
  const instrOffsets: number[] = new Array(fn.body.length).fill(-1);
  const values = new SlotValues(slot, local);
  const cx: Lowering = {
    m, module, offsets, fn, signatureOf: ctx.signatureOf, frame, values,
    calls: new CallRecorder(m, offsets.vmctxBuiltinFunctions(), values, liveness, () => cx.instrIndex),
    ctrl: [],
    instrIndex: 0,
  };

  m.prologue(frame);
  cx.ctrl.push({ kind: 'function', label: m.newLabel(), elseLabel: null, base: 0, params: [], results: fn.type.results, entryTypes: [] });
  for (cx.instrIndex = 0; cx.instrIndex < fn.body.length; cx.instrIndex++) {
    const instr = fn.body[cx.instrIndex];
    if (instr.dead) continue;
    m.islandCheckpoint();
    instrOffsets[cx.instrIndex] = m.offset();
    if (!lowerControl(cx, instr) && !lowerCall(cx, instr)) lowerInstruction(cx, instr);
  }

  const out = m.finish();
  return {
    funcIndex: fn.index,
    definedIndex: fn.definedIndex,
    symbol: functionSymbol(fn.index),
    name: functionDisplayName(module, fn.index),
    code: out.code,
    relocations: out.relocations,
    traps: out.traps,
    callSites: cx.calls.sites,
    frameSize: frame.frameSize,
    frame,
    instrOffsets,
  };
}

/** The v17-era bitmap of a call site: one bit per word from SP up to FP. */
export function stackMapOf(site: CallSite, frameSize: number): StackMap {
  const mappedWords = frameSize / 8;
  const bitmap = new Array<number>(Math.ceil(mappedWords / 32)).fill(0);
  for (const offset of site.liveSlots) {
    const i = offset / 8;
    bitmap[i >> 5] = (bitmap[i >> 5] | (1 << (i & 31))) >>> 0;
  }
  return { mappedWords, bitmap };
}
