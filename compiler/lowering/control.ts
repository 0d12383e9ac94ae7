/**
 * Structured control flow: blocks, loops and ifs as labels, and branches that first move the
 * branch values down to the target's base (br, br_if, br_table, return), as a single-pass
 * compiler lowers them.
 */
import type { Label } from '../../isa/code-buffer.ts';
import type { Instr } from '../frontend/module.ts';
import type { ControlFrame, Lowering } from './context.ts';
import { wideType } from './values.ts';

/** Copies the top `arity` values down to the target frame's base. */
export function moveBranchValues(cx: Lowering, target: ControlFrame): void {
  const v = cx.values;
  const arity = target.kind === 'loop' ? target.params.length : target.results.length;
  for (let k = 0; k < arity; k++) cx.m.copySlot(v.slot(target.base + k), v.slot(v.h - arity + k));
}

/** Whether a branch to `target` must first move its values down to the target's base. */
export function needsMove(cx: Lowering, target: ControlFrame): boolean {
  const v = cx.values;
  const arity = target.kind === 'loop' ? target.params.length : target.results.length;
  return arity > 0 && v.h - arity !== target.base;
}

/** Lowers a control instruction; false for any other instruction. */
export function lowerControl(cx: Lowering, instr: Instr): boolean {
  const { m } = cx;
  const v = cx.values;
  switch (instr.op) {
    case 'block':
    case 'loop':
    case 'if': {
      const cond = instr.op === 'if' ? v.pop() : 0;
      const params = instr.type.params;
      const base = v.h - params.length;
      const f: ControlFrame = {
        kind: instr.op,
        label: m.newLabel(),
        elseLabel: instr.op === 'if' ? m.newLabel() : null,
        base,
        params,
        results: instr.type.results,
        entryTypes: v.types.slice(0, v.h),
      };
      if (instr.op === 'loop') m.bind(f.label);
      if (instr.op === 'if') m.branchSlot(cond, true, f.elseLabel!);
      cx.ctrl.push(f);
      break;
    }
    case 'else': {
      const f = cx.ctrl[cx.ctrl.length - 1];
      m.jump(f.label);
      m.bind(f.elseLabel!);
      f.elseLabel = null;
      v.h = f.entryTypes.length;
      v.types.length = 0;
      v.types.push(...f.entryTypes);
      break;
    }
    case 'end': {
      const f = cx.ctrl.pop()!;
      if (f.elseLabel) m.bind(f.elseLabel);
      if (f.kind !== 'loop') m.bind(f.label);
      v.h = f.base + f.results.length;
      v.types.length = f.base;
      v.types.push(...f.results);
      if (f.kind === 'function') {
        if (f.results.length === 1) m.loadResult(v.slot(0), wideType(f.results[0]));
        m.epilogue(cx.frame);
      }
      break;
    }
    case 'br':
    case 'return': {
      const target = instr.op === 'br' ? cx.ctrl[cx.ctrl.length - 1 - instr.depth] : cx.ctrl[0];
      moveBranchValues(cx, target);
      m.jump(target.label);
      break;
    }
    case 'br_if': {
      const cond = v.pop();
      const target = cx.ctrl[cx.ctrl.length - 1 - instr.depth];
      if (needsMove(cx, target)) {
        const skip = m.newLabel();
        m.branchSlot(cond, true, skip);
        moveBranchValues(cx, target);
        m.jump(target.label);
        m.bind(skip);
      } else {
        m.branchSlot(cond, false, target.label);
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
      const def = cx.ctrl[cx.ctrl.length - 1 - instr.defaultDepth];
      moveBranchValues(cx, def);
      m.jump(def.label);
      for (const [depth, l] of stubs) {
        const target = cx.ctrl[cx.ctrl.length - 1 - depth];
        m.bind(l);
        moveBranchValues(cx, target);
        m.jump(target.label);
      }
      break;
    }
    default:
      return false;
  }
  return true;
}
