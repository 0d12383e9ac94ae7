/**
 * Call sites: every call the function makes (to a defined, imported or indirect Wasm function,
 * or to a builtin) is recorded with its return-address offset and the slots that hold live
 * externrefs across it, which become the call's stack map.
 */
import { builtinIndex, type BuiltinName } from '../builtins.ts';
import type { CallOffsets, MacroAssembler, Operand } from '../codegen/common.ts';
import { isImportedFunction, type Instr } from '../frontend/module.ts';
import { VMFuncRefLayout } from '../vmoffsets.ts';
import type { ExternrefLiveness } from '../liveness.ts';
import { funcrefTableElement } from './environment.ts';
import type { Lowering } from './context.ts';
import { wideType, type SlotValues } from './values.ts';

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

/** The symbol of defined or imported-by-index function `funcIndex` in the image. */
export function functionSymbol(funcIndex: number): string {
  return `wasm_func_${funcIndex}`;
}

/** A call argument read from a frame slot (`wide`: 64-bit load, else 32-bit zero-extending). */
export const slotArg = (offset: number, wide: boolean): Operand => ({ kind: 'slot', offset, wide });
/** A constant call argument. */
export const imm = (value: number | bigint): Operand => ({ kind: 'imm', value: BigInt(value) });

/** Records the function's call sites, in code order. */
export class CallRecorder {
  readonly sites: CallSite[] = [];

  constructor(
    private readonly m: MacroAssembler,
    private readonly builtinsOffset: number,
    private readonly values: SlotValues,
    private readonly liveness: ExternrefLiveness,
    /** The index of the Wasm instruction being lowered. */
    private readonly instrIndex: () => number,
  ) {}

  /** Records a call made at `offsets`; operand-stack entries below `liveHeight` survive it. */
  record(kind: CallSiteKind, callee: number, offsets: CallOffsets, liveHeight: number): void {
    const instrIndex = this.instrIndex();
    this.sites.push({ kind, callee, ...offsets, instrIndex, liveSlots: this.values.liveSlots(liveHeight, this.liveness.liveAfter(instrIndex)) });
  }

  /** Calls builtin `name` with the platform ABI and records the call site. */
  libcall(name: BuiltinName, args: Operand[], liveHeight: number): void {
    const index = builtinIndex(name);
    this.record('libcall', index, this.m.callBuiltin(this.builtinsOffset, index, args), liveHeight);
  }
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
