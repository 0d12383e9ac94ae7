/**
 * Translation of one validated Wasm function into machine code through a `MacroAssembler`,
 * with wasmtime v17's calling convention, frame layout, trap sites and stack maps.
 * compileFunction runs the stages in lowering/: the frame layout (frame.ts), then a pass over
 * the body in which each instruction is lowered by control flow (control.ts), call sites
 * (calls.ts) or per-opcode lowering (instructions.ts), all of which address the environment
 * through environment.ts and find values through the value-location layer (values.ts).
 *
 * Two register-allocation modes (`RegallocMode`):
 * - `none`: one pass; the frame gives every operand-stack entry and every local its slot, every
 *   value lives in its slot between instructions, so at each call the only externref values
 *   that exist are in slots, and the stack map names them: operand-stack entries below the
 *   call's arguments (plus values an instruction keeps across its own libcall) and the
 *   externref locals live after the instruction.
 * - `linear-scan`: the same lowering runs twice. The recording pass (with an assembler that
 *   emits nothing) builds the virtual-register program (regalloc/virtual.ts); the linear-scan
 *   allocator (regalloc/linear-scan.ts) gives each value a register or a spill slot; the
 *   emitting pass generates code with those locations. The same values survive each call as
 *   in `none`, and the externrefs among them are in slots during the call (spilled before it
 *   and reloaded after it when they live in registers), which the stack map names.
 */
import { functionDisplayName, type DefinedFunction, type WasmModule } from './frontend/module.ts';
import { V17_CODEGEN, type CodegenEra, type LoweringOffsets } from './lowering/era.ts';
import { externrefLiveness, localLiveness } from './liveness.ts';
import { ALLOCATABLE, ALLOCATABLE_FLOAT, VMCTX_REGISTER, type MacroAssembler } from './codegen/common.ts';
import type { RelocationRequest, TrapSite } from '../isa/code-buffer.ts';
import { functionSymbol, lowerCall } from './lowering/calls.ts';
import { CallRecorder, type CallSite, type Lowering } from './lowering/context.ts';
import { lowerControl } from './lowering/control.ts';
import { layoutFrame, type FunctionFrame } from './lowering/frame.ts';
import { hoistLoopInvariants } from './licm.ts';
import { CompileError } from './frontend/errors.ts';
import { accessesMemoryRepeatedly, lowerInstruction } from './lowering/instructions.ts';
import { heapBaseRegister, loadHeapBase } from './lowering/environment.ts';
import { RegisterValues, SlotValues, type Values } from './lowering/values.ts';
import { VirtualProgram } from './regalloc/virtual.ts';
import { recordingAssembler } from './regalloc/recording-assembler.ts';
import type { Arch } from '../isa/arch.ts';
import type { ExternrefLiveness } from './liveness.ts';

import type { RegallocMode } from './regalloc/modes.ts';
import type { MemoryTunables } from './memory-tunables.ts';
export { REGALLOC_MODES, type RegallocMode } from './regalloc/modes.ts';

/**
 * Past this many (instructions × locals) a function is compiled with `none` even in
 * `linear-scan` mode: the locals' liveness is a dense bitset dataflow of that size.
 */
export const REGALLOC_ANALYSIS_LIMIT = 1 << 24;

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
  readonly offsets: LoweringOffsets;
  readonly signatureOf: readonly number[];
  readonly newAssembler: () => MacroAssembler;
  /** Default `none`. */
  readonly regalloc?: RegallocMode;
  /** The era whose code to emit (lowering/era.ts); default v17. */
  readonly era?: CodegenEra;
  /** The memory tunables to compile for; default the era's (compiler/memory-tunables.ts). */
  readonly memoryTunables?: MemoryTunables;
}

/** An instruction after which nothing falls through. */
const TERMINATORS = new Set(['br', 'br_table', 'return', 'unreachable', 'return_call', 'return_call_indirect']);

/** The lowering state of one pass over `fn`. */
function newLowering(
  ctx: FunctionContext, fn: DefinedFunction, m: MacroAssembler, frame: FunctionFrame, values: Values, liveness: ExternrefLiveness, heapBaseRegister?: string,
): Lowering {
  const era = ctx.era ?? V17_CODEGEN;
  const cx: Lowering = {
    m, module: ctx.module, offsets: ctx.offsets, era, memoryTunables: memoryTunablesOf(ctx), heapBaseRegister, fn, signatureOf: ctx.signatureOf, frame, values,
    calls: new CallRecorder(m, ctx.offsets.vmctxBuiltinFunctions(), values, liveness, () => cx.instrIndex, era.builtinIndex),
    ctrl: [],
    instrIndex: 0,
    reachable: true,
    returned: false,
    fusedCompare: undefined,
    fusedShift: undefined,
    fusedArg: undefined,
    fusedLoad: undefined,
    zeroExtended: undefined,
  };
  return cx;
}

/** Lowers the body (the prologue already emitted); returns each instruction's code offset. */
function lowerBody(cx: Lowering): number[] {
  const { m, fn } = cx;
  const instrOffsets: number[] = new Array(fn.body.length).fill(-1);
  cx.ctrl.push({
    kind: 'function', opener: -1, label: m.newLabel(), elseLabel: null, base: 0, params: [], results: fn.type.results,
    values: cx.values.enterBlock('function', [], fn.type.results),
  });
  for (cx.instrIndex = 0; cx.instrIndex < fn.body.length; cx.instrIndex++) {
    const instr = fn.body[cx.instrIndex];
    if (instr.dead) continue;
    m.islandCheckpoint();
    instrOffsets[cx.instrIndex] = m.offset();
    cx.returned = false;
    if (!lowerControl(cx, instr) && !lowerCall(cx, instr)) lowerInstruction(cx, instr);
    cx.reachable = !TERMINATORS.has(instr.op) && !cx.returned;
  }
  return instrOffsets;
}

export function compileFunction(ctx: FunctionContext, fn: DefinedFunction): CompiledFunction {
  const { module } = ctx;
  const arch = ctx.newAssembler().arch;
  const numLocals = fn.type.params.length + fn.locals.length;
  if (ctx.regalloc === 'linear-scan' && fn.body.length * numLocals <= REGALLOC_ANALYSIS_LIMIT) return compileHoisted(ctx, fn, arch);
  const { frame: laidOut, slot, local } = layoutFrame(module, fn, arch);
  const frame = withStackLimit(laidOut, ctx.era);

  const m = ctx.newAssembler();
  const cx = newLowering(ctx, fn, m, frame, new SlotValues(slot, local), externrefLiveness(fn));
  m.prologue(frame);
  const instrOffsets = lowerBody(cx);
  return finished(fn, module, m, cx, frame, instrOffsets);
}

const memoryTunablesOf = (ctx: FunctionContext): MemoryTunables => ctx.memoryTunables ?? (ctx.era ?? V17_CODEGEN).memoryTunables;

/** The frame with the era's stack-limit location (absent for v17, whose prologue is the default). */
function withStackLimit(frame: FunctionFrame, era: CodegenEra | undefined): FunctionFrame {
  return era?.stackLimit ? { ...frame, stackLimit: era.stackLimit } : frame;
}

const TAIL_CALLS = new Set(['return_call', 'return_call_indirect']);

/**
 * What a `linear-scan` function's stack-limit check covers, by the era's rule (CodegenEra.stackCheck):
 * v17 adds its fixed storage (spill slots and the return-area pointer, 16-aligned) to the limit
 * and skips the check in a leaf without any (machinst/abi.rs gen_prologue, v17.0.0); v31 and v44
 * add the whole frame below FP, and 16 bytes more for a callee's setup area when the function calls.
 */
function stackCheckOf(era: CodegenEra, f: { frameSize: number; fixedStorage: number; leaf: boolean }): number | 'skip' {
  const bytes = era.stackCheck === 'fixed-storage' ? f.fixedStorage : f.frameSize + (f.leaf ? 0 : 16);
  return bytes === 0 && f.leaf ? 'skip' : bytes;
}

/** The callee-saved registers in encoding order (rbx 3, r12–r15; x19–x28), as Cranelift sorts clobbers. */
const byEncoding = (a: string, b: string): number => (a === 'rbx' ? 3 : Number(a.slice(1))) - (b === 'rbx' ? 3 : Number(b.slice(1)));

/**
 * `linear-scan`: loop invariants hoisted first (licm.ts), the result's code offsets and call
 * sites given back in the original body's instruction indices. A body the motion made that the
 * lowering refuses is compiled as it was written instead, so errors name the original body.
 */
function compileHoisted(ctx: FunctionContext, fn: DefinedFunction, arch: Arch): CompiledFunction {
  const licm = hoistLoopInvariants(fn);
  const numLocals = (f: DefinedFunction): number => f.type.params.length + f.locals.length;
  if (licm === undefined || licm.fn.body.length * numLocals(licm.fn) > REGALLOC_ANALYSIS_LIMIT) return compileAllocated(ctx, fn, arch);
  let compiled: CompiledFunction;
  try {
    compiled = compileAllocated(ctx, licm.fn, arch);
  } catch (e) {
    if (e instanceof CompileError) return compileAllocated(ctx, fn, arch);
    throw e;
  }
  const instrOffsets = new Array<number>(fn.body.length).fill(-1);
  compiled.instrOffsets.forEach((offset, k) => {
    const o = licm.origin[k]!;
    if (o >= 0 && offset >= 0 && (instrOffsets[o]! < 0 || offset < instrOffsets[o]!)) instrOffsets[o] = offset;
  });
  const callSites = compiled.callSites.map((s) => ({ ...s, instrIndex: licm.origin[s.instrIndex]! }));
  return { ...compiled, instrOffsets, callSites };
}

/** `linear-scan`: record the virtual-register program, allocate, then emit. */
function compileAllocated(ctx: FunctionContext, fn: DefinedFunction, arch: Arch): CompiledFunction {
  const { module } = ctx;
  const { frame: slotFrame } = layoutFrame(module, fn, arch);
  const liveness = localLiveness(fn, () => true);
  let instrIndex = (): number => 0;
  const program = new VirtualProgram(arch, fn, () => instrIndex());

  const recording = newLowering(ctx, fn, recordingAssembler(arch, (name, args) => program.noteInstruction(name, args)), slotFrame, new RegisterValues(program, () => {}), liveness);
  instrIndex = () => recording.instrIndex;
  lowerBody(recording);
  // Memory 0's base in a register of its own (lowering/environment.ts), kept out of allocation.
  const heapBase = heapBaseRegister(module, memoryTunablesOf(ctx), ALLOCATABLE[arch], accessesMemoryRepeatedly(fn), recording.calls.sites.length > 0);
  const registers = heapBase === undefined ? ALLOCATABLE[arch] : {
    callerSaved: ALLOCATABLE[arch].callerSaved.filter((r) => r !== heapBase),
    calleeSaved: ALLOCATABLE[arch].calleeSaved.filter((r) => r !== heapBase),
  };
  const allocation = program.allocate(liveness, registers, ALLOCATABLE_FLOAT[arch]);

  const spillBase = slotFrame.outgoingBytes;
  const heapBaseSaved = heapBase !== undefined && ALLOCATABLE[arch].calleeSaved.includes(heapBase) ? [heapBase] : [];
  const savedRegs = [VMCTX_REGISTER[arch], ...allocation.usedCalleeSaved, ...heapBaseSaved].sort(byEncoding);
  const savedFloatRegs = [...allocation.usedFloatCalleeSaved].sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
  const floatSaveSize = 16 * Math.ceil(savedFloatRegs.length / 2);
  const clobberSize = 16 * Math.ceil(savedRegs.length / 2);
  const spillEnd = spillBase + 8 * allocation.slotCount;
  // The return-area pointer, if any, has its own slot after the spill slots.
  const returnAreaPointer = slotFrame.returnAreaPointer === undefined ? undefined : spillEnd;
  const frameSize = Math.ceil((spillEnd + (returnAreaPointer === undefined ? 0 : 8)) / 16) * 16 + floatSaveSize + clobberSize;
  program.beginEmitting(spillBase);
  const leaf = recording.calls.sites.length === 0 && !fn.body.some((instr) => !instr.dead && TAIL_CALLS.has(instr.op));
  const frame: FunctionFrame = withStackLimit({
    frameSize,
    stackCheck: stackCheckOf(ctx.era ?? V17_CODEGEN, { frameSize, fixedStorage: 16 * Math.ceil((8 * allocation.slotCount + (returnAreaPointer === undefined ? 0 : 8)) / 16), leaf }),
    calleeSaveOffset: frameSize - clobberSize,
    savedRegs,
    ...(savedFloatRegs.length > 0 ? { savedFloatRegs, floatSaveOffset: frameSize - clobberSize - floatSaveSize } : {}),
    paramOffsets: [],
    paramWide: slotFrame.paramWide,
    zeroStart: 0,
    zeroCount: 0,
    stackBase: spillBase,
    localsBase: spillEnd,
    outgoingBytes: slotFrame.outgoingBytes,
    ...(returnAreaPointer === undefined ? {} : { returnAreaPointer }),
    allocation: { spillBase, spillSlots: allocation.slotCount, values: program.assignments(), ...(heapBase === undefined ? {} : { heapBase }) },
  }, ctx.era);

  const m = ctx.newAssembler();
  const cx = newLowering(ctx, fn, m, frame, new RegisterValues(program, (dst, value) => m.storeSlotImm(dst, value)), liveness, heapBase);
  instrIndex = () => cx.instrIndex;
  m.prologue(frame);
  // Only the locals live at entry have a value there: parameters from their argument registers,
  // declared locals zero (Wasm locals start at zero).
  const entry = liveness.liveIn(0);
  m.loadParams(entry.filter((l) => l < fn.type.params.length).map((l) => ({ index: l, dst: program.locationOf(l)! })));
  for (const l of entry) if (l >= fn.type.params.length) m.storeSlotImm(program.locationOf(l)!, 0n);
  loadHeapBase(cx);
  const instrOffsets = lowerBody(cx);
  return finished(fn, module, m, cx, frame, instrOffsets);
}

function finished(fn: DefinedFunction, module: WasmModule, m: MacroAssembler, cx: Lowering, frame: FunctionFrame, instrOffsets: number[]): CompiledFunction {
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
  // A loop, not `new Array(n).fill(0)`: fill is a runtime call, and this runs twice per call site.
  const bitmap: number[] = [];
  for (let w = Math.ceil(mappedWords / 32); w > 0; w--) bitmap.push(0);
  for (const offset of site.liveSlots) {
    const i = offset / 8;
    bitmap[i >> 5] = (bitmap[i >> 5] | (1 << (i & 31))) >>> 0;
  }
  return { mappedWords, bitmap };
}
