/**
 * Single-pass translation of one validated Wasm function into machine code through a
 * `MacroAssembler`, with wasmtime v17's calling convention, frame layout, trap sites and
 * stack maps.
 *
 * Frame (offsets from SP in the body; FP − SP = frameSize, a multiple of 16):
 *
 *   [0, outgoing)                        outgoing stack arguments of Wasm calls
 *   [stackBase, stackBase + 8·maxStack)  operand-stack slot d at stackBase + 8·d
 *   [localsBase, ...)                    local l (parameters first) at localsBase + 8·l
 *   (padding to 16)
 *   [frameSize − 16, frameSize)          callee-save area: the caller's vmctx register, 8 pad
 *   FP → saved FP, return address, incoming stack arguments
 *
 * Every value lives in its slot between instructions, so at each call the only externref
 * values that exist are in slots, and the stack map names them: operand-stack entries below
 * the call's arguments (plus values an instruction keeps across its own libcall) and the
 * externref locals live after the instruction.
 */
import { CompileError } from './frontend/errors.ts';
import { mutated } from './mutants.ts';
import {
  functionDisplayName,
  isImportedFunction,
  localType,
  type DefinedFunction,
  type FuncType,
  type Instr,
  type LoadOp,
  type SimpleOp,
  type StoreOp,
  type ValType,
  type WasmModule,
} from './frontend/module.ts';
import { builtinIndex, type BuiltinName } from './builtins.ts';
import type { VMOffsets } from './vmoffsets.ts';
import { VMFuncRefLayout } from './vmoffsets.ts';
import { externrefLiveness, type ExternrefLiveness } from './liveness.ts';
import {
  type BinOp,
  type Cond,
  type FrameLayout,
  type MacroAssembler,
  type Operand,
  type UnOp,
} from './codegen/common.ts';
import { abiOf } from '../isa/abi.ts';
import type { Label, RelocationRequest, TrapSite } from '../isa/code-buffer.ts';

/** What kind of callee a call site has. */
export type CallSiteKind = 'call' | 'call-import' | 'call-indirect' | 'libcall';

export interface CallSite {
  readonly kind: CallSiteKind;
  /** Function index (call, call-import), type index (call-indirect) or builtin index (libcall). */
  readonly callee: number;
  /** Offset of the call instruction within the function. */
  readonly callOffset: number;
  /** Return-address offset within the function: the key of the stack map. */
  readonly returnOffset: number;
  /** Index of the Wasm instruction that made the call. */
  readonly instrIndex: number;
  /** SP-relative byte offsets of the slots holding live externrefs, ascending. */
  readonly liveSlots: readonly number[];
}

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
  readonly frame: FrameLayout & { readonly stackBase: number; readonly localsBase: number; readonly outgoingBytes: number };
  /** Code offset where each Wasm instruction's code begins (-1 for dead instructions). */
  readonly instrOffsets: readonly number[];
}

/** The symbol of defined or imported-by-index function `funcIndex` in the image. */
export function functionSymbol(funcIndex: number): string {
  return `wasm_func_${funcIndex}`;
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

interface ControlFrame {
  readonly kind: 'function' | 'block' | 'loop' | 'if';
  readonly label: Label;
  elseLabel: Label | null;
  /** Operand-stack height below the block's parameters. */
  readonly base: number;
  readonly params: readonly ValType[];
  readonly results: readonly ValType[];
  readonly entryTypes: readonly ValType[];
}

const wideType = (t: ValType): boolean => t !== 'i32';

const BINOPS: ReadonlyMap<string, BinOp> = new Map(
  (['add', 'sub', 'mul', 'and', 'or', 'xor', 'shl', 'shr_s', 'shr_u', 'rotl', 'rotr', 'div_s', 'div_u', 'rem_s', 'rem_u'] as const).map(
    (op) => [op, op],
  ),
);
const COMPARES: ReadonlyMap<string, Cond> = new Map(
  (['eq', 'ne', 'lt_s', 'lt_u', 'gt_s', 'gt_u', 'le_s', 'le_u', 'ge_s', 'ge_u'] as const).map((c) => [c, c]),
);
const UNOPS: Readonly<Record<string, UnOp>> = {
  clz: 'clz', ctz: 'ctz', popcnt: 'popcnt', eqz: 'eqz', extend8_s: 'extend8_s', extend16_s: 'extend16_s',
  extend32_s: 'extend32_s',
};

const LOADS: Readonly<Record<LoadOp, { size: 1 | 2 | 4 | 8; signed: boolean; type: ValType }>> = {
  'i32.load': { size: 4, signed: false, type: 'i32' },
  'i64.load': { size: 8, signed: false, type: 'i64' },
  'i32.load8_s': { size: 1, signed: true, type: 'i32' },
  'i32.load8_u': { size: 1, signed: false, type: 'i32' },
  'i32.load16_s': { size: 2, signed: true, type: 'i32' },
  'i32.load16_u': { size: 2, signed: false, type: 'i32' },
  'i64.load8_s': { size: 1, signed: true, type: 'i64' },
  'i64.load8_u': { size: 1, signed: false, type: 'i64' },
  'i64.load16_s': { size: 2, signed: true, type: 'i64' },
  'i64.load16_u': { size: 2, signed: false, type: 'i64' },
  'i64.load32_s': { size: 4, signed: true, type: 'i64' },
  'i64.load32_u': { size: 4, signed: false, type: 'i64' },
};
const STORES: Readonly<Record<StoreOp, { size: 1 | 2 | 4 | 8; wide: boolean }>> = {
  'i32.store': { size: 4, wide: false },
  'i64.store': { size: 8, wide: true },
  'i32.store8': { size: 1, wide: false },
  'i32.store16': { size: 2, wide: false },
  'i64.store8': { size: 1, wide: true },
  'i64.store16': { size: 2, wide: true },
  'i64.store32': { size: 4, wide: true },
};

/** Throws 'unsupported' for function types outside what the code generator handles. */
function checkSignature(module: WasmModule, fn: DefinedFunction, type: FuncType, instrIndex: number | null, what: string): void {
  if (type.results.length > 1) {
    throw new CompileError('unsupported', `${what} has ${type.results.length} results; functions with more than one result are not supported`, {
      funcIndex: fn.index,
      funcName: functionDisplayName(module, fn.index),
      ...(instrIndex !== null ? { instrIndex, instr: fn.body[instrIndex]?.op } : {}),
    });
  }
}

export function compileFunction(ctx: FunctionContext, fn: DefinedFunction): CompiledFunction {
  const { module, offsets } = ctx;
  checkSignature(module, fn, fn.type, null, 'the function');
  const arch = ctx.newAssembler().arch;
  const nRegs = abiOf(arch).intArgs.length;
  const stackArgs = (t: FuncType): number => Math.max(0, 2 + t.params.length - nRegs);

  // Frame layout, fixed before emission.
  let maxOutgoing = 0;
  fn.body.forEach((instr, i) => {
    if (instr.dead) return;
    if (instr.op === 'call' || instr.op === 'call_indirect') {
      const t = instr.op === 'call' ? module.types[module.funcTypeIndices[instr.func]] : module.types[instr.typeIndex];
      checkSignature(module, fn, t, i, instr.op === 'call' ? `callee ${instr.func}` : `type ${instr.typeIndex}`);
      maxOutgoing = Math.max(maxOutgoing, stackArgs(t));
    }
  });
  const numParams = fn.type.params.length;
  const numLocals = numParams + fn.locals.length;
  const outgoingBytes = 8 * maxOutgoing;
  const stackBase = outgoingBytes;
  const localsBase = stackBase + 8 * fn.maxStackHeight;
  const fixed = localsBase + 8 * numLocals;
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
  };

  const m = ctx.newAssembler();
  const liveness: ExternrefLiveness = externrefLiveness(fn);
  const callSites: CallSite[] = [];
  const instrOffsets: number[] = new Array(fn.body.length).fill(-1);
  const builtinsOffset = offsets.vmctxBuiltinFunctions();

  let h = 0;
  const types: ValType[] = [];
  const push = (t: ValType): number => {
    types[h] = t;
    return slot(h++);
  };
  const pop = (): number => {
    h--;
    return slot(h);
  };
  let instrIndex = 0;

  const liveSlotsAt = (liveHeight: number): number[] => {
    const live: number[] = [];
    for (let d = 0; d < liveHeight; d++) if (types[d] === 'externref') live.push(slot(d));
    for (const l of liveness.liveAfter(instrIndex)) live.push(local(l));
    return live.sort((a, b) => a - b);
  };
  const record = (kind: CallSiteKind, callee: number, offsets: { callOffset: number; returnOffset: number }, liveHeight: number): void => {
    callSites.push({ kind, callee, ...offsets, instrIndex, liveSlots: liveSlotsAt(liveHeight) });
  };
  const libcall = (name: BuiltinName, args: Operand[], liveHeight: number): void => {
    const index = builtinIndex(name);
    record('libcall', index, m.callBuiltin(builtinsOffset, index, args), liveHeight);
  };
  const slotArg = (offset: number, wide: boolean): Operand => ({ kind: 'slot', offset, wide });
  const imm = (value: number | bigint): Operand => ({ kind: 'imm', value: BigInt(value) });

  /** Copies the top `arity` values down to the target frame's base. */
  const moveBranchValues = (target: ControlFrame): void => {
    const arity = target.kind === 'loop' ? target.params.length : target.results.length;
    for (let k = 0; k < arity; k++) m.copySlot(slot(target.base + k), slot(h - arity + k));
  };
  const needsMove = (target: ControlFrame): boolean => {
    const arity = target.kind === 'loop' ? target.params.length : target.results.length;
    return arity > 0 && h - arity !== target.base;
  };

  /** The definition of table `t`: base register/offsets of its `base` and `current_elements`. */
  const tableDefinition = (t: number): { reg: 'vmctx' | 'R1'; base: number; length: number } => {
    if (t < offsets.numImportedTables) {
      m.load('R1', 'vmctx', offsets.vmctxVmtableImportFrom(t), 8);
      return { reg: 'R1', base: 0, length: 8 };
    }
    const d = t - offsets.numImportedTables;
    return { reg: 'vmctx', base: offsets.vmctxVmtableDefinitionBase(d), length: offsets.vmctxVmtableDefinitionCurrentElements(d) };
  };
  /** R0 ← address of element [i32 slot `index`] of table `t`, trapping when out of bounds. */
  const tableElementAddress = (t: number, index: number): void => {
    const def = tableDefinition(t);
    m.loadSlot('R0', index, false);
    m.load('R2', def.reg, def.length, 4);
    m.trapIf('ge_u', false, 'R0', 'R2', 'TableOutOfBounds');
    m.load('R2', def.reg, def.base, 8);
    m.addScaled8('R0', 'R2', 'R0');
  };
  /** R2 ← the VMFuncRef pointer of funcref table `t` at [i32 slot `index`], initializing lazily. */
  const funcrefTableElement = (t: number, index: number): void => {
    tableElementAddress(t, index);
    m.load('R2', 'R0', 0, 8);
    const lazy = m.newLabel();
    const done = m.newLabel();
    m.branchCmp('eq', true, 'R2', 0, lazy);
    // Entries carry FUNCREF_INIT_BIT (bit 0); an initialized null is 1.
    m.andImm('R2', 'R2', ~1n);
    m.jump(done);
    m.bind(lazy);
    libcall('table_get_lazy_init_func_ref', [imm(t), slotArg(index, false)], h);
    m.moveReturn('R2');
    m.bind(done);
  };
  /** The definition of memory `mem`: where its base and current_length are. */
  const memoryDefinition = (memIndex: number): { reg: 'vmctx' | 'R1'; base: number; length: number } => {
    if (memIndex < offsets.numImportedMemories) {
      m.load('R1', 'vmctx', offsets.vmctxVmmemoryImportFrom(memIndex), 8);
      return { reg: 'R1', base: 0, length: 8 };
    }
    // Shared memories are rejected by the front end, so defined memory i is owned memory i.
    const d = memIndex - offsets.numImportedMemories;
    return { reg: 'vmctx', base: offsets.vmctxVmmemoryDefinitionBase(d), length: offsets.vmctxVmmemoryDefinitionCurrentLength(d) };
  };
  /** R0 ← host address of a `size`-byte access at [i32 slot `addr`] + offset, bounds-checked. */
  const heapAddress = (memIndex: number, addr: number, offset: number, size: number): void => {
    m.loadSlot('R0', addr, false);
    m.addImm('R2', 'R0', offset + size);
    let def = memoryDefinition(memIndex);
    m.load('R1', def.reg, def.length, 8);
    m.trapIf('gt_u', true, 'R2', 'R1', 'HeapOutOfBounds');
    def = memoryDefinition(memIndex);
    m.load('R1', def.reg, def.base, 8);
    if (offset !== 0) m.addImm('R0', 'R0', offset);
    m.addReg('R0', 'R0', 'R1');
  };
  const globalLocation = (g: number): { reg: 'vmctx' | 'R1'; disp: number } => {
    if (g < offsets.numImportedGlobals) {
      m.load('R1', 'vmctx', offsets.vmctxVmglobalImportFrom(g), 8);
      return { reg: 'R1', disp: 0 };
    }
    return { reg: 'vmctx', disp: offsets.vmctxVmglobalDefinition(g - offsets.numImportedGlobals) };
  };

  m.prologue(frame);
  const ctrl: ControlFrame[] = [
    { kind: 'function', label: m.newLabel(), elseLabel: null, base: 0, params: [], results: fn.type.results, entryTypes: [] },
  ];
  const unsupported = (instr: Instr): never => {
    throw new CompileError('unsupported', `'${instr.op}' is not supported by the code generator`, {
      funcIndex: fn.index,
      funcName: functionDisplayName(module, fn.index),
      instrIndex,
      instr: instr.op,
      offset: instr.offset,
    });
  };

  for (instrIndex = 0; instrIndex < fn.body.length; instrIndex++) {
    const instr = fn.body[instrIndex];
    if (instr.dead) continue;
    instrOffsets[instrIndex] = m.offset();
    switch (instr.op) {
      case 'nop':
        break;
      case 'unreachable':
        m.trap('UnreachableCodeReached');
        break;
      case 'block':
      case 'loop':
      case 'if': {
        const cond = instr.op === 'if' ? pop() : 0;
        const params = instr.type.params;
        const base = h - params.length;
        const f: ControlFrame = {
          kind: instr.op,
          label: m.newLabel(),
          elseLabel: instr.op === 'if' ? m.newLabel() : null,
          base,
          params,
          results: instr.type.results,
          entryTypes: types.slice(0, h),
        };
        if (instr.op === 'loop') m.bind(f.label);
        if (instr.op === 'if') m.branchSlot(cond, true, f.elseLabel!);
        ctrl.push(f);
        break;
      }
      case 'else': {
        const f = ctrl[ctrl.length - 1];
        m.jump(f.label);
        m.bind(f.elseLabel!);
        f.elseLabel = null;
        h = f.entryTypes.length;
        types.length = 0;
        types.push(...f.entryTypes);
        break;
      }
      case 'end': {
        const f = ctrl.pop()!;
        if (f.elseLabel) m.bind(f.elseLabel);
        if (f.kind !== 'loop') m.bind(f.label);
        h = f.base + f.results.length;
        types.length = f.base;
        types.push(...f.results);
        if (f.kind === 'function') {
          if (f.results.length === 1) m.loadResult(slot(0), wideType(f.results[0]));
          m.epilogue(frame);
        }
        break;
      }
      case 'br':
      case 'return': {
        const target = instr.op === 'br' ? ctrl[ctrl.length - 1 - instr.depth] : ctrl[0];
        moveBranchValues(target);
        m.jump(target.label);
        break;
      }
      case 'br_if': {
        const cond = pop();
        const target = ctrl[ctrl.length - 1 - instr.depth];
        if (needsMove(target)) {
          const skip = m.newLabel();
          m.branchSlot(cond, true, skip);
          moveBranchValues(target);
          m.jump(target.label);
          m.bind(skip);
        } else {
          m.branchSlot(cond, false, target.label);
        }
        break;
      }
      case 'br_table': {
        const index = pop();
        const stubs = new Map<number, Label>();
        const labelFor = (depth: number): Label => {
          const target = ctrl[ctrl.length - 1 - depth];
          if (!needsMove(target)) return target.label;
          let l = stubs.get(depth);
          if (l === undefined) stubs.set(depth, (l = m.newLabel()));
          return l;
        };
        instr.depths.forEach((depth, k) => m.branchSlotEq(index, k, labelFor(depth)));
        const def = ctrl[ctrl.length - 1 - instr.defaultDepth];
        moveBranchValues(def);
        m.jump(def.label);
        for (const [depth, l] of stubs) {
          const target = ctrl[ctrl.length - 1 - depth];
          m.bind(l);
          moveBranchValues(target);
          m.jump(target.label);
        }
        break;
      }
      case 'call': {
        const type = module.types[module.funcTypeIndices[instr.func]];
        h -= type.params.length;
        const args = type.params.map((t, k) => slotArg(slot(h + k), wideType(t)));
        if (isImportedFunction(module, instr.func)) {
          const at = m.callWasm(
            { kind: 'import', wasmCallOffset: offsets.vmctxVmfunctionImportWasmCall(instr.func), vmctxOffset: offsets.vmctxVmfunctionImportVmctx(instr.func) },
            args,
          );
          record('call-import', instr.func, at, h);
        } else {
          record('call', instr.func, m.callWasm({ kind: 'symbol', symbol: functionSymbol(instr.func) }, args), h);
        }
        if (type.results.length === 1) m.storeReturn(push(type.results[0]));
        break;
      }
      case 'call_indirect': {
        const type = module.types[instr.typeIndex];
        const index = pop();
        funcrefTableElement(instr.table, index);
        m.trapIf('eq', true, 'R2', 0, 'IndirectCallToNull');
        m.load('R0', 'vmctx', offsets.vmctxSignatureIdsArray(), 8);
        m.load('R0', 'R0', 4 * ctx.signatureOf[instr.typeIndex], 4);
        m.load('R1', 'R2', VMFuncRefLayout.typeIndex, 4);
        m.trapIf('ne', false, 'R0', 'R1', 'BadSignature');
        h -= type.params.length;
        const args = type.params.map((t, k) => slotArg(slot(h + k), wideType(t)));
        const at = m.callWasm({ kind: 'funcref', wasmCallOffset: VMFuncRefLayout.wasmCall, vmctxOffset: VMFuncRefLayout.vmctx }, args);
        record('call-indirect', instr.typeIndex, at, h);
        if (type.results.length === 1) m.storeReturn(push(type.results[0]));
        break;
      }
      case 'drop':
        pop();
        break;
      case 'select': {
        const c = pop();
        const b = pop();
        const a = pop();
        const t = types[h];
        m.select(push(instr.type ?? t), a, b, c);
        break;
      }
      case 'local.get': {
        const t = localType(fn, instr.local)!;
        m.copySlot(push(t), local(instr.local));
        break;
      }
      case 'local.set':
        m.copySlot(local(instr.local), pop());
        break;
      case 'local.tee':
        m.copySlot(local(instr.local), slot(h - 1));
        break;
      case 'global.get': {
        const t = module.globalTypes[instr.global].valType;
        if (t === 'externref') {
          libcall('externref_global_get', [imm(instr.global)], h);
          m.storeReturn(push(t));
        } else {
          const loc = globalLocation(instr.global);
          m.load('R0', loc.reg, loc.disp, t === 'i32' ? 4 : 8);
          m.storeSlot(push(t), 'R0');
        }
        break;
      }
      case 'global.set': {
        const t = module.globalTypes[instr.global].valType;
        const value = pop();
        if (t === 'externref') {
          libcall('externref_global_set', [imm(instr.global), slotArg(value, true)], h);
        } else {
          m.loadSlot('R0', value, true);
          const loc = globalLocation(instr.global);
          m.store(loc.reg, loc.disp, 'R0', t === 'i32' ? 4 : 8);
        }
        break;
      }
      case 'i32.const':
        m.storeSlotImm(push('i32'), BigInt(instr.value >>> 0));
        break;
      case 'i64.const':
        m.storeSlotImm(push('i64'), instr.value);
        break;
      case 'ref.null':
        m.storeSlotImm(push(instr.type), 0n);
        break;
      case 'ref.is_null': {
        const a = pop();
        m.unop('eqz', true, push('i32'), a);
        break;
      }
      case 'ref.func':
        libcall('ref_func', [imm(instr.func)], h);
        m.storeReturn(push('funcref'));
        break;
      case 'table.get': {
        const elemType = module.tableTypes[instr.table].elemType;
        const index = pop();
        if (elemType === 'funcref') {
          funcrefTableElement(instr.table, index);
          m.storeSlot(slot(h), 'R2');
          push('funcref');
          break;
        }
        // externref read barrier: hold the element alive in the activations table.
        tableElementAddress(instr.table, index);
        m.load('R0', 'R0', 0, 8);
        const result = slot(h);
        m.storeSlot(result, 'R0');
        types[h] = 'externref';
        const done = m.newLabel();
        const slow = m.newLabel();
        m.branchCmp('eq', true, 'R0', 0, done);
        m.load('R1', 'vmctx', offsets.vmctxExternrefActivationsTable(), 8);
        m.load('R0', 'R1', offsets.vmExternRefActivationTableNext(), 8);
        m.load('R2', 'R1', offsets.vmExternRefActivationTableEnd(), 8);
        m.branchCmp('eq', true, 'R0', 'R2', slow);
        m.loadSlot('R2', result, true);
        m.addToMemory('R2', 1);
        m.store('R0', 0, 'R2', 8);
        m.addImm('R0', 'R0', 8);
        m.store('R1', offsets.vmExternRefActivationTableNext(), 'R0', 8);
        m.jump(done);
        m.bind(slow);
        // The element is live across this call (it is the result), so its slot is in the map.
        libcall('activations_table_insert_with_gc', [slotArg(result, true)], h + 1);
        m.bind(done);
        push('externref');
        break;
      }
      case 'table.set': {
        const elemType = module.tableTypes[instr.table].elemType;
        const value = pop();
        const index = pop();
        tableElementAddress(instr.table, index);
        m.loadSlot('R1', value, true);
        if (elemType === 'funcref') {
          m.orImm('R1', 'R1', 1n);
          m.store('R0', 0, 'R1', 8);
          break;
        }
        // externref write barrier: count the new reference before dropping the old one.
        const checkOld = m.newLabel();
        const done = m.newLabel();
        const drop = m.newLabel();
        m.branchCmp('eq', true, 'R1', 0, checkOld);
        if (!mutated('table-set-no-incref')) m.addToMemory('R1', 1);
        m.bind(checkOld);
        m.load('R2', 'R0', 0, 8);
        m.store('R0', 0, 'R1', 8);
        m.branchCmp('eq', true, 'R2', 0, done);
        if (!mutated('table-set-no-decref')) m.addToMemory('R2', -1, drop);
        m.jump(done);
        m.bind(drop);
        libcall('drop_externref', [{ kind: 'reg', reg: 'R2' }], h);
        m.bind(done);
        break;
      }
      case 'table.size': {
        const def = tableDefinition(instr.table);
        m.load('R0', def.reg, def.length, 4);
        m.storeSlot(push('i32'), 'R0');
        break;
      }
      case 'table.grow': {
        const elemType = module.tableTypes[instr.table].elemType;
        const delta = pop();
        const init = pop();
        libcall(elemType === 'funcref' ? 'table_grow_func_ref' : 'table_grow_externref', [imm(instr.table), slotArg(delta, false), slotArg(init, true)], h);
        m.storeReturn(push('i32'));
        break;
      }
      case 'table.fill': {
        const elemType = module.tableTypes[instr.table].elemType;
        const len = pop();
        const value = pop();
        const dst = pop();
        libcall(elemType === 'funcref' ? 'table_fill_func_ref' : 'table_fill_externref', [imm(instr.table), slotArg(dst, false), slotArg(value, true), slotArg(len, false)], h);
        break;
      }
      case 'table.copy': {
        const len = pop();
        const src = pop();
        const dst = pop();
        libcall('table_copy', [imm(instr.dstTable), imm(instr.srcTable), slotArg(dst, false), slotArg(src, false), slotArg(len, false)], h);
        break;
      }
      case 'table.init': {
        const len = pop();
        const src = pop();
        const dst = pop();
        libcall('table_init', [imm(instr.table), imm(instr.elem), slotArg(dst, false), slotArg(src, false), slotArg(len, false)], h);
        break;
      }
      case 'elem.drop':
        libcall('elem_drop', [imm(instr.elem)], h);
        break;
      case 'memory.size': {
        const def = memoryDefinition(instr.memory);
        m.load('R0', def.reg, def.length, 8);
        m.shrImm('R0', 16);
        m.storeSlot(push('i32'), 'R0');
        break;
      }
      case 'memory.grow': {
        const delta = pop();
        libcall('memory32_grow', [slotArg(delta, false), imm(instr.memory)], h);
        m.storeReturn(push('i32'));
        break;
      }
      case 'memory.fill': {
        const len = pop();
        const value = pop();
        const dst = pop();
        libcall('memory_fill', [imm(instr.memory), slotArg(dst, false), slotArg(value, false), slotArg(len, false)], h);
        break;
      }
      case 'memory.copy': {
        const len = pop();
        const src = pop();
        const dst = pop();
        libcall('memory_copy', [imm(instr.dstMemory), slotArg(dst, false), imm(instr.srcMemory), slotArg(src, false), slotArg(len, false)], h);
        break;
      }
      case 'memory.init': {
        const len = pop();
        const src = pop();
        const dst = pop();
        libcall('memory_init', [imm(instr.memory), imm(instr.data), slotArg(dst, false), slotArg(src, false), slotArg(len, false)], h);
        break;
      }
      case 'data.drop':
        libcall('data_drop', [imm(instr.data)], h);
        break;
      default: {
        const op = instr.op;
        if (op in LOADS) {
          const l = LOADS[op as LoadOp];
          const addr = pop();
          const memarg = (instr as { memarg: { offset: number } }).memarg;
          heapAddress((instr as { memory: number }).memory, addr, memarg.offset, l.size);
          m.load('R2', 'R0', 0, l.size, l.signed);
          m.storeSlot(push(l.type), 'R2');
          break;
        }
        if (op in STORES) {
          const s = STORES[op as StoreOp];
          const value = pop();
          const addr = pop();
          const memarg = (instr as { memarg: { offset: number } }).memarg;
          heapAddress((instr as { memory: number }).memory, addr, memarg.offset, s.size);
          m.loadSlot('R2', value, s.wide);
          m.store('R0', 0, 'R2', s.size);
          break;
        }
        if (!emitNumeric(op as SimpleOp)) unsupported(instr);
      }
    }
  }

  function emitNumeric(op: SimpleOp): boolean {
    const dot = op.indexOf('.');
    if (dot < 0) return false;
    const ty = op.slice(0, dot) as 'i32' | 'i64';
    const name = op.slice(dot + 1);
    const wide = ty === 'i64';
    const bin = BINOPS.get(name);
    if (bin !== undefined) {
      const b = pop();
      const a = pop();
      m.binop(bin, wide, push(ty), a, b);
      return true;
    }
    const cmp = COMPARES.get(name);
    if (cmp !== undefined) {
      const b = pop();
      const a = pop();
      m.compare(cmp, wide, push('i32'), a, b);
      return true;
    }
    const un = UNOPS[name];
    if (un !== undefined) {
      const a = pop();
      m.unop(un, wide, push(un === 'eqz' ? 'i32' : ty), a);
      return true;
    }
    switch (op) {
      case 'i32.wrap_i64': {
        // The slot keeps all 64 bits; i32 readers only look at the low half.
        pop();
        push('i32');
        return true;
      }
      case 'i64.extend_i32_s':
      case 'i64.extend_i32_u': {
        const a = pop();
        m.unop(op === 'i64.extend_i32_s' ? 'extend_i32_s' : 'extend_i32_u', true, push('i64'), a);
        return true;
      }
      default:
        return false;
    }
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
    callSites,
    frameSize,
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
