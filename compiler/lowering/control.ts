/**
 * Structured control flow: blocks, loops and ifs as labels, and branches that first move the
 * branch values to where the target expects them (br, br_if, br_table, return), as a
 * single-pass compiler lowers them. With slots the values move down to the target's base
 * (nothing at a fallthrough); with registers they move into the target's join values
 * (lowering/values.ts), also at a fallthrough into `else` or `end`.
 */
import type { Label } from '../../isa/code-buffer.ts';
import type { Instr } from '../frontend/module.ts';
import type { Cond, Loc } from '../codegen/common.ts';
import type { ControlFrame, Lowering } from './context.ts';
import { loadFunctionResults } from './results.ts';

const arityOf = (target: ControlFrame): number => (target.kind === 'loop' ? target.params.length : target.results.length);

/** Copies the top values a branch to `target` carries to where the target expects them. */
function moveBranchValues(cx: Lowering, target: ControlFrame): void {
  const v = cx.values;
  const arity = arityOf(target);
  for (let k = 0; k < arity; k++) cx.m.copySlot(v.labelLoc(target.values, target.base, k, v.h - arity + k), v.peek(v.h - arity + k));
}

/**
 * A branch to `target` with its values: moved, then a jump to its label. With registers a
 * branch out of the function (`return`, `br` to the function's frame) that carries results
 * loads them into the return registers and has its own epilogue, as Cranelift gives every
 * return one: no join value and no jump.
 */
export function branchTo(cx: Lowering, target: ControlFrame): void {
  if (returnsInPlace(cx, target)) {
    loadFunctionResults(cx, target);
    cx.m.epilogue(cx.frame);
    return;
  }
  moveBranchValues(cx, target);
  cx.m.jump(target.label);
}

/**
 * Whether branches to `target` return in place (see `branchTo`): the function's frame, or a
 * block (`block`, `if`) at the bottom of the operand stack whose `end` is the last instruction
 * before the function's, so that its results are the function's.
 */
function returnsInPlace(cx: Lowering, target: ControlFrame): boolean {
  if (!cx.values.movesAtJoins || target.results.length === 0) return false;
  if (target.kind === 'function') return true;
  if ((target.kind !== 'block' && target.kind !== 'if') || target.base !== 0) return false;
  const body = cx.fn.body;
  const opener = body[target.opener] as { end?: number };
  return opener.end === body.length - 2 && target.results.join() === cx.fn.type.results.join();
}

/** At a reachable fallthrough into a block's end (or `else`): its results to their join values. */
function moveFallthroughResults(cx: Lowering, f: ControlFrame): void {
  const v = cx.values;
  if (!cx.reachable || !v.movesAtJoins || f.kind === 'loop') return;
  const n = f.results.length;
  for (let k = 0; k < n; k++) cx.m.copySlot(v.resultLoc(f.values, f.base, k, v.h - n + k), v.peek(v.h - n + k));
}

/** Whether a branch to `target` must first move its values. */
export function needsMove(cx: Lowering, target: ControlFrame): boolean {
  const v = cx.values;
  const arity = arityOf(target);
  if (arity === 0) return false;
  if (!v.movesAtJoins) return v.h - arity !== target.base;
  if (returnsInPlace(cx, target)) {
    // Read (so a constant entry is written) before any conditional branch: the values stay on
    // the operand stack for the path that does not branch.
    for (let k = 0; k < arity; k++) v.peek(v.h - arity + k);
    return true;
  }
  // Registers: the recording pass records the moves' positions whether or not they are needed.
  let differ = v.recording;
  for (let k = 0; k < arity; k++) if (v.labelLoc(target.values, target.base, k) !== v.peek(v.h - arity + k)) differ = true;
  return differ;
}

/** The i32 condition on top of the operand stack, popped: a value, or a fused comparison's operands. */
type Condition =
  | { readonly loc: Loc }
  | { readonly cond: Cond; readonly wide: boolean; readonly a: Loc; readonly b: Loc }
  | { readonly cond: Cond; readonly wide: boolean; readonly a: Loc; readonly imm: bigint }
  | { readonly test: bigint; readonly wide: boolean; readonly a: Loc };

const INVERSE: Readonly<Record<Cond, Cond>> = {
  eq: 'ne', ne: 'eq', lt_s: 'ge_s', ge_s: 'lt_s', lt_u: 'ge_u', ge_u: 'lt_u', gt_s: 'le_s', le_s: 'gt_s', gt_u: 'le_u', le_u: 'gt_u',
};

function takeCondition(cx: Lowering): Condition {
  const fused = cx.fusedCompare;
  cx.fusedCompare = undefined;
  if (!fused) return { loc: cx.values.pop() };
  if (fused.test) return { test: fused.imm!, wide: fused.wide, a: cx.values.pop() };
  if (fused.imm !== undefined) return { cond: fused.cond, wide: fused.wide, a: cx.values.pop(), imm: fused.imm };
  const b = cx.values.pop();
  const a = cx.values.pop();
  return { cond: fused.cond, wide: fused.wide, a, b };
}

/** Branches to `label` when the condition is zero (`ifZero`) or non-zero. */
function branchOn(cx: Lowering, c: Condition, ifZero: boolean, label: Label): void {
  if ('loc' in c) cx.m.branchSlot(c.loc, ifZero, label);
  else if ('test' in c) cx.m.branchTestImm(c.wide, c.a, c.test, ifZero, label);
  else if ('imm' in c) cx.m.branchCompareImm(ifZero ? INVERSE[c.cond] : c.cond, c.wide, c.a, c.imm, label);
  else cx.m.branchCompare(ifZero ? INVERSE[c.cond] : c.cond, c.wide, c.a, c.b, label);
}

/** Lowers a control instruction; false for any other instruction. */
export function lowerControl(cx: Lowering, instr: Instr): boolean {
  const { m } = cx;
  const v = cx.values;
  switch (instr.op) {
    case 'block':
    case 'loop':
    case 'if': {
      const cond = instr.op === 'if' ? takeCondition(cx) : undefined;
      const params = instr.type.params;
      const base = v.h - params.length;
      const values = v.enterBlock(instr.op, params, instr.type.results);
      const f: ControlFrame = {
        kind: instr.op,
        opener: cx.instrIndex,
        label: m.newLabel(),
        elseLabel: instr.op === 'if' ? m.newLabel() : null,
        base,
        params,
        results: instr.type.results,
        values,
      };
      for (const { dst, src } of values.entryMoves) m.copySlot(dst, src);
      if (instr.op === 'loop') m.bind(f.label);
      if (cond) branchOn(cx, cond, true, f.elseLabel!);
      cx.ctrl.push(f);
      break;
    }
    case 'else': {
      const f = cx.ctrl[cx.ctrl.length - 1];
      if (returnsInPlace(cx, f)) {
        if (cx.reachable) branchTo(cx, f);
      } else {
        moveFallthroughResults(cx, f);
        m.jump(f.label);
      }
      m.bind(f.elseLabel!);
      f.elseLabel = null;
      v.restoreEntry(f.values);
      break;
    }
    case 'end': {
      const f = cx.ctrl.pop()!;
      if (returnsInPlace(cx, f)) {
        // Every branch here returned in place; so do the fallthrough and an if's implicit else
        // (its parameters are its results). Nothing falls through to the function's end.
        if (cx.reachable) branchTo(cx, f);
        if (f.elseLabel) {
          m.bind(f.elseLabel);
          v.restoreEntry(f.values);
          branchTo(cx, f);
        }
        m.bind(f.label);
        v.endBlock(f.kind, f.values, f.base, f.results);
        cx.returned = f.kind !== 'function';
        break;
      }
      moveFallthroughResults(cx, f);
      if (f.elseLabel) {
        if (v.movesAtJoins && f.results.length > 0) {
          // The implicit else passes the parameters through as the results.
          m.jump(f.label);
          m.bind(f.elseLabel);
          v.restoreEntry(f.values);
          cx.reachable = true;
          moveFallthroughResults(cx, f);
        } else {
          m.bind(f.elseLabel);
        }
      }
      if (f.kind !== 'loop') m.bind(f.label);
      v.endBlock(f.kind, f.values, f.base, f.results);
      if (f.kind === 'function') {
        loadFunctionResults(cx, f);
        m.epilogue(cx.frame);
      }
      break;
    }
    case 'br':
    case 'return': {
      branchTo(cx, instr.op === 'br' ? cx.ctrl[cx.ctrl.length - 1 - instr.depth] : cx.ctrl[0]);
      break;
    }
    case 'br_if': {
      const cond = takeCondition(cx);
      const target = cx.ctrl[cx.ctrl.length - 1 - instr.depth];
      if (needsMove(cx, target)) {
        const skip = m.newLabel();
        branchOn(cx, cond, true, skip);
        branchTo(cx, target);
        m.bind(skip);
      } else {
        branchOn(cx, cond, false, target.label);
      }
      break;
    }
    case 'br_table': {
      const index = v.pop();
      const stubs = new Map<number, Label>();
      const labelFor = (depth: number): Label => {
        const target = cx.ctrl[cx.ctrl.length - 1 - depth];
        if (!needsMove(cx, target)) return target.label;
        let l = stubs.get(depth);
        if (l === undefined) stubs.set(depth, (l = m.newLabel()));
        return l;
      };
      instr.depths.forEach((depth, k) => {
        m.branchSlotEq(index, k, labelFor(depth));
        m.islandCheckpoint(); // a table of 100,000 entries is megabytes of compare-and-branch
      });
      branchTo(cx, cx.ctrl[cx.ctrl.length - 1 - instr.defaultDepth]);
      for (const [depth, l] of stubs) {
        m.bind(l);
        branchTo(cx, cx.ctrl[cx.ctrl.length - 1 - depth]);
      }
      break;
    }
    default:
      return false;
  }
  return true;
}
