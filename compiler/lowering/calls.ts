/**
 * Call sites of Wasm calls: `call` (direct, or through an import's VMFunctionImport) and
 * `call_indirect` (table element, null and signature checks, then through the VMFuncRef).
 * Each is recorded with the slots live across it (context.ts: CallRecorder).
 */
import { isImportedFunction, type Instr } from '../frontend/module.ts';
import { VMFuncRefLayout } from '../vmoffsets.ts';
import type { Lowering } from './context.ts';
import { funcrefTableElement } from './environment.ts';
import { slotArg, wideType } from './values.ts';

/** The symbol of defined or imported-by-index function `funcIndex` in the image. */
export function functionSymbol(funcIndex: number): string {
  return `wasm_func_${funcIndex}`;
}

/** Lowers `call` and `call_indirect`; false for any other instruction. */
export function lowerCall(cx: Lowering, instr: Instr): boolean {
  const { m, module, offsets } = cx;
  const v = cx.values;
  switch (instr.op) {
    case 'call': {
      const type = module.types[module.funcTypeIndices[instr.func]];
      v.h -= type.params.length;
      const args = type.params.map((t, k) => slotArg(v.slot(v.h + k), wideType(t)));
      if (isImportedFunction(module, instr.func)) {
        const at = m.callWasm(
          { kind: 'import', wasmCallOffset: offsets.vmctxVmfunctionImportWasmCall(instr.func), vmctxOffset: offsets.vmctxVmfunctionImportVmctx(instr.func) },
          args,
        );
        cx.calls.record('call-import', instr.func, at, v.h);
      } else {
        cx.calls.record('call', instr.func, m.callWasm({ kind: 'symbol', symbol: functionSymbol(instr.func) }, args), v.h);
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
      m.load('R1', 'R2', VMFuncRefLayout.typeIndex, 4);
      m.trapIf('ne', false, 'R0', 'R1', 'BadSignature');
      v.h -= type.params.length;
      const args = type.params.map((t, k) => slotArg(v.slot(v.h + k), wideType(t)));
      const at = m.callWasm({ kind: 'funcref', wasmCallOffset: VMFuncRefLayout.wasmCall, vmctxOffset: VMFuncRefLayout.vmctx }, args);
      cx.calls.record('call-indirect', instr.typeIndex, at, v.h);
      if (type.results.length === 1) m.storeReturn(v.push(type.results[0]));
      break;
    }
    default:
      return false;
  }
  return true;
}
