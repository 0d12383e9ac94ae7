/**
 * Several results (multi-value) across calls and out of the function, with the convention of
 * compiler/codegen/returns.ts: the first results in the return registers, the rest in a return
 * area the caller reserves above its outgoing stack arguments and passes the address of.
 *
 * Stack maps stay exact: at the call nothing in the return area is live yet (the callee fills
 * it just before it returns), and the caller moves the results to their own locations right
 * after the call, before any other safepoint; a reference result is then mapped wherever it
 * lives, as any other value.
 */
import type { FuncType } from '../frontend/module.ts';
import type { Operand } from '../codegen/common.ts';
import { callStackBytes, returnConvention } from '../codegen/returns.ts';
import type { ControlFrame, Lowering } from './context.ts';
import { wideType } from './values.ts';

/** Where a call of type `type` has its return area (undefined: all results in registers). */
export function callReturnArea(cx: Lowering, type: FuncType): number | undefined {
  const { areaBase, convention } = callStackBytes(cx.m.arch, type.params, type.results);
  return convention.areaBytes > 0 ? areaBase : undefined;
}

/** The extra call argument: the return area's address (SP + `areaBase`). */
export const returnAreaOperand = (areaBase: number): Operand => ({ kind: 'stack-address', offset: areaBase });

/** After a call: pushes its results and moves them from the return registers and area. */
export function pushCallResults(cx: Lowering, type: FuncType, areaBase: number | undefined): void {
  const { m } = cx;
  const v = cx.values;
  if (type.results.length === 0) return;
  if (type.results.length === 1 && areaBase === undefined) {
    m.storeReturn(v.push(type.results[0]));
    return;
  }
  const locs = type.results.map((t) => v.push(t));
  const convention = returnConvention(m.arch, type.results);
  m.storeReturns(convention.inRegisters.map((r) => locs[r.index]));
  for (const r of convention.inArea) m.copySlot(locs[r.index], areaBase! + r.offset);
}

/**
 * At the function's end or a return (results on top of the operand stack): the results past
 * the return registers through the return-area pointer, then the others into the return
 * registers.
 */
export function loadFunctionResults(cx: Lowering, f: ControlFrame): void {
  const { m } = cx;
  const v = cx.values;
  const n = f.results.length;
  if (n === 0) return;
  if (n === 1 && cx.frame.returnAreaPointer === undefined) {
    m.loadResult(v.peek(v.h - 1), wideType(f.results[0]));
    return;
  }
  const convention = returnConvention(m.arch, f.results);
  const base = v.h - n;
  if (convention.inArea.length > 0) {
    m.loadSlot('R0', cx.frame.returnAreaPointer!, true);
    for (const r of convention.inArea) {
      m.loadSlot('R1', v.peek(base + r.index), wideType(f.results[r.index]));
      m.store('R0', r.offset, 'R1', 8);
    }
  }
  m.loadResults(convention.inRegisters.map((r) => ({ loc: v.peek(base + r.index), wide: wideType(f.results[r.index]) })));
}
