/**
 * Call sites of Wasm calls: `call` (direct, or through an import's VMFunctionImport) and
 * `call_indirect` (table element, null and signature checks, then through the VMFuncRef).
 * Each is recorded with the slots live across it (context.ts: CallRecorder). Tail calls
 * (`return_call`, `return_call_indirect`) reach the same targets but leave no call site: the
 * frame is gone before the jump, and the callee returns to this function's caller.
 */
import { functionDisplayName, isImportedFunction, type FuncType, type Instr, type ValType } from '../frontend/module.ts';
import type { Loc, Operand, WasmCallTarget } from '../codegen/common.ts';
import { stackArgumentWords } from '../codegen/returns.ts';
import { CompileError } from '../frontend/errors.ts';
import type { Lowering } from './context.ts';
import { funcrefTableElement } from './environment.ts';
import { valueArg, wideType } from './values.ts';
import { callReturnArea, pushCallResults, returnAreaOperand } from './results.ts';

/** The symbol of defined or imported-by-index function `funcIndex` in the image. */
export function functionSymbol(funcIndex: number): string {
  return `wasm_func_${funcIndex}`;
}

/**
 * Pops a call's arguments (the top `params.length` entries) as operands, first argument first;
 * the last one is a `sum` when the add before the call was fused into it (`Lowering.fusedArg`).
 */
function popArgs(cx: Lowering, params: readonly ValType[]): Operand[] {
  const v = cx.values;
  const fused = cx.fusedArg;
  cx.fusedArg = undefined;
  const locs: Loc[] = [];
  for (let k = params.length - 1; k >= 0; k--) locs[k] = v.pop();
  return params.map((t, k) =>
    fused !== undefined && k === params.length - 1 ? { kind: 'sum', loc: locs[k], imm: fused, wide: wideType(t) } : valueArg(locs[k], wideType(t)),
  );
}

/** Lowers `call`, `call_indirect`, `return_call` and `return_call_indirect`; false for any other instruction. */
export function lowerCall(cx: Lowering, instr: Instr): boolean {
  const { m, module } = cx;
  const v = cx.values;
  switch (instr.op) {
    case 'call': {
      const type = module.types[module.funcTypeIndices[instr.func]];
      const args = popArgs(cx, type.params);
      const area = callReturnArea(cx, type);
      if (area !== undefined) args.push(returnAreaOperand(area));
      const target = directTarget(cx, instr.func);
      cx.calls.call(target.kind === 'import' ? 'call-import' : 'call', instr.func, v.h, () => m.callWasm(target, args));
      pushCallResults(cx, type, area);
      break;
    }
    case 'call_indirect': {
      const type = module.types[instr.typeIndex];
      checkedFuncref(cx, instr.table, instr.typeIndex);
      const args = popArgs(cx, type.params);
      const area = callReturnArea(cx, type);
      if (area !== undefined) args.push(returnAreaOperand(area));
      const target = { kind: 'funcref', wasmCallOffset: cx.era.funcRef.wasmCall, vmctxOffset: cx.era.funcRef.vmctx } as const;
      cx.calls.call('call-indirect', instr.typeIndex, v.h, () => m.callWasm(target, args));
      pushCallResults(cx, type, area);
      break;
    }
    case 'return_call': {
      const type = module.types[module.funcTypeIndices[instr.func]];
      m.tailCallWasm(directTarget(cx, instr.func), tailCallArgs(cx, type), cx.frame);
      break;
    }
    case 'return_call_indirect': {
      const type = module.types[instr.typeIndex];
      checkedFuncref(cx, instr.table, instr.typeIndex);
      const args = tailCallArgs(cx, type);
      m.tailCallWasm({ kind: 'funcref', wasmCallOffset: cx.era.funcRef.wasmCall, vmctxOffset: cx.era.funcRef.vmctx }, args, cx.frame);
      break;
    }
    default:
      return false;
  }
  return true;
}

/** The target of a direct call: a defined function's symbol, or an import's VMFunctionImport. */
function directTarget(cx: Lowering, func: number): WasmCallTarget {
  if (!isImportedFunction(cx.module, func)) return { kind: 'symbol', symbol: functionSymbol(func) };
  return { kind: 'import', wasmCallOffset: cx.offsets.vmctxVmfunctionImportWasmCall(func), vmctxOffset: cx.offsets.vmctxVmfunctionImportVmctx(func) };
}

/**
 * Pops the table index and leaves the VMFuncRef of that element in R2, trapping on a null
 * element or a signature other than type `typeIndex`'s.
 */
function checkedFuncref(cx: Lowering, table: number, typeIndex: number): void {
  const { m, offsets } = cx;
  const index = cx.values.pop();
  funcrefTableElement(cx, table, index);
  m.trapIf('eq', true, 'R2', 0, 'IndirectCallToNull');
  m.load('R0', 'vmctx', offsets.vmctxSignatureIdsArray(), 8);
  m.load('R0', 'R0', 4 * cx.signatureOf[typeIndex], 4);
  m.load('R1', 'R2', cx.era.funcRef.typeIndex, 4);
  m.trapIf('ne', false, 'R0', 'R1', 'BadSignature');
}

/**
 * The arguments of a tail call: the Wasm parameters, then (when the results need a return
 * area: the callee's results are this function's own) the return-area pointer this function
 * was given, so the callee fills its caller's area. v17's `fast` convention has the caller pop
 * stack arguments, so the callee may use only the incoming stack-argument words this function
 * itself received; a callee that needs more is a CompileError ('unsupported').
 */
function tailCallArgs(cx: Lowering, type: FuncType): Operand[] {
  const arch = cx.m.arch;
  const ownWords = stackArgumentWords(arch, cx.fn.type.params, cx.fn.type.results);
  const calleeWords = stackArgumentWords(arch, type.params, type.results);
  if (calleeWords > ownWords) {
    throw new CompileError('unsupported', `${cx.fn.body[cx.instrIndex].op}: the callee takes ${calleeWords} stack-argument word(s), this function received ${ownWords}; with wasmtime v17's caller-pops 'fast' convention a tail call cannot grow the caller's argument area`, {
      funcIndex: cx.fn.index,
      funcName: functionDisplayName(cx.module, cx.fn.index),
      instrIndex: cx.instrIndex,
      instr: cx.fn.body[cx.instrIndex].op,
      offset: cx.fn.body[cx.instrIndex].offset,
    });
  }
  const args = popArgs(cx, type.params);
  if (cx.frame.returnAreaPointer !== undefined) args.push(valueArg(cx.frame.returnAreaPointer, true));
  return args;
}
