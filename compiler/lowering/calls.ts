/**
 * Call sites of Wasm calls: `call` (direct, or through an import's VMFunctionImport) and
 * `call_indirect` (table element, null and signature checks, then through the VMFuncRef).
 * Each is recorded with the slots live across it (context.ts: CallRecorder).
 */
import { isImportedFunction, type Instr, type ValType } from '../frontend/module.ts';
import type { Loc, Operand } from '../codegen/common.ts';
import type { Lowering } from './context.ts';
import { funcrefTableElement } from './environment.ts';
import { valueArg, wideType } from './values.ts';

/** The symbol of defined or imported-by-index function `funcIndex` in the image. */
export function functionSymbol(funcIndex: number): string {
  return `wasm_func_${funcIndex}`;
}

/** Pops a call's arguments (the top `params.length` entries) as operands, first argument first. */
function popArgs(cx: Lowering, params: readonly ValType[]): Operand[] {
  const v = cx.values;
  const locs: Loc[] = [];
  for (let k = params.length - 1; k >= 0; k--) locs[k] = v.pop();
  return params.map((t, k) => valueArg(locs[k], wideType(t)));
}

/** Lowers `call` and `call_indirect`; false for any other instruction. */
export function lowerCall(cx: Lowering, instr: Instr): boolean {
  const { m, module, offsets } = cx;
  const v = cx.values;
  switch (instr.op) {
    case 'call': {
      const type = module.types[module.funcTypeIndices[instr.func]];
      const args = popArgs(cx, type.params);
      if (isImportedFunction(module, instr.func)) {
        const target = { kind: 'import', wasmCallOffset: offsets.vmctxVmfunctionImportWasmCall(instr.func), vmctxOffset: offsets.vmctxVmfunctionImportVmctx(instr.func) } as const;
        cx.calls.call('call-import', instr.func, v.h, () => m.callWasm(target, args));
      } else {
        cx.calls.call('call', instr.func, v.h, () => m.callWasm({ kind: 'symbol', symbol: functionSymbol(instr.func) }, args));
      }
      if (type.results.length === 1) m.storeReturn(v.push(type.results[0]));
      break;
    }
    case 'call_indirect': {
      const type = module.types[instr.typeIndex];
      const index = v.pop();
      funcrefTableElement(cx, instr.table, index);
      m.trapIf('eq', true, 'R2', 0, 'IndirectCallToNull');
      m.load('R0', 'vmctx', offsets.vmctxSignatureIdsArray(), 8);
      m.load('R0', 'R0', 4 * cx.signatureOf[instr.typeIndex], 4);
      m.load('R1', 'R2', cx.era.funcRef.typeIndex, 4);
      m.trapIf('ne', false, 'R0', 'R1', 'BadSignature');
      const args = popArgs(cx, type.params);
      const target = { kind: 'funcref', wasmCallOffset: cx.era.funcRef.wasmCall, vmctxOffset: cx.era.funcRef.vmctx } as const;
      cx.calls.call('call-indirect', instr.typeIndex, v.h, () => m.callWasm(target, args));
      if (type.results.length === 1) m.storeReturn(v.push(type.results[0]));
      break;
    }
    default:
      return false;
  }
  return true;
}
