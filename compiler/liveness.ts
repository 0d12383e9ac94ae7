/**
 * Backward liveness of externref locals over a function's structured control flow.
 *
 * A stack map must mark exactly the externref locals whose current value can still be read:
 * a local is live after instruction i when some path from i reaches a `local.get` of it before
 * any `local.set`/`local.tee` of it. Dead instructions (after br/return/unreachable) have no
 * predecessors in this graph, so their reads never make anything live.
 */
import type { DefinedFunction } from './frontend/module.ts';
import { localType } from './frontend/module.ts';

export interface ExternrefLiveness {
  /** Externref locals live after instruction `i` (ascending local indices). */
  liveAfter(i: number): readonly number[];
}

const EMPTY: readonly number[] = Object.freeze([]);
const NONE: ExternrefLiveness = { liveAfter: () => EMPTY };

/** Successor instruction indices of each instruction (-1 entries never appear; exits have none). */
export function successors(fn: DefinedFunction): number[][] {
  const body = fn.body;
  const openers: number[] = [];
  const succ: number[][] = new Array(body.length);
  const target = (depth: number): number[] => {
    const opener = openers[openers.length - 1 - depth];
    if (opener === undefined) return []; // the function's own label: leaves the function
    const o = body[opener];
    if (o.op === 'loop') return [opener + 1];
    if (o.op === 'block' || o.op === 'if') return [o.end];
    return [];
  };
  for (let i = 0; i < body.length; i++) {
    const instr = body[i];
    const next = i + 1 < body.length ? [i + 1] : [];
    switch (instr.op) {
      case 'block':
      case 'loop':
        openers.push(i);
        succ[i] = instr.dead ? [] : next;
        continue;
      case 'if':
        openers.push(i);
        succ[i] = instr.dead ? [] : [i + 1, instr.else >= 0 ? instr.else + 1 : instr.end];
        continue;
      case 'else': {
        const opener = openers[openers.length - 1];
        const o = body[opener];
        succ[i] = instr.dead || o.op !== 'if' ? [] : [o.end];
        continue;
      }
      case 'end':
        openers.pop();
        succ[i] = instr.dead ? [] : next;
        continue;
      default:
        break;
    }
    if (instr.dead) {
      succ[i] = [];
      continue;
    }
    switch (instr.op) {
      case 'br': succ[i] = target(instr.depth); break;
      case 'br_if': succ[i] = [...next, ...target(instr.depth)]; break;
      // A resume returns normally or branches to the label of the handler that caught a suspend.
      case 'resume': succ[i] = [...next, ...instr.handlers.flatMap((h) => (h.depth === 'switch' ? [] : target(h.depth)))]; break;
      case 'br_table': {
        const all = new Set<number>();
        for (const d of [...instr.depths, instr.defaultDepth]) for (const t of target(d)) all.add(t);
        succ[i] = [...all];
        break;
      }
      case 'return':
      case 'return_call':
      case 'return_call_indirect':
      case 'unreachable':
        succ[i] = [];
        break;
      default:
        succ[i] = next;
    }
  }
  return succ;
}

/** Computes externref-local liveness; cheap (nothing at all) when the function has none. */
export function externrefLiveness(fn: DefinedFunction): ExternrefLiveness {
  return localLiveness(fn, (l) => localType(fn, l) === 'externref');
}

/**
 * Liveness of the locals `tracked` selects (all of them for the register allocator, which
 * must keep every live local across calls; only externrefs for stack maps). `liveAfter(i)`
 * lists the selected locals live after instruction i; `liveIn(i)`, those live before it.
 */
export function localLiveness(fn: DefinedFunction, tracked: (local: number) => boolean): ExternrefLiveness & { liveIn(i: number): readonly number[] } {
  const numLocals = fn.type.params.length + fn.locals.length;
  const refLocals: number[] = [];
  for (let l = 0; l < numLocals; l++) if (tracked(l)) refLocals.push(l);
  if (refLocals.length === 0) return { ...NONE, liveIn: () => EMPTY };
  const bitOf = new Map<number, number>(refLocals.map((l, k) => [l, k]));
  const words = Math.ceil(refLocals.length / 32);
  const n = fn.body.length;
  const succ = successors(fn);
  const liveIn = new Uint32Array(n * words);
  const liveOut = new Uint32Array(n * words);
  const gen = new Int32Array(n).fill(-1);
  const kill = new Int32Array(n).fill(-1);
  fn.body.forEach((instr, i) => {
    if (instr.dead) return;
    if (instr.op === 'local.get') gen[i] = bitOf.get(instr.local) ?? -1;
    else if (instr.op === 'local.set' || instr.op === 'local.tee') kill[i] = bitOf.get(instr.local) ?? -1;
  });
  let changed = true;
  while (changed) {
    changed = false;
    for (let i = n - 1; i >= 0; i--) {
      const out = i * words;
      for (const s of succ[i]) {
        for (let k = 0; k < words; k++) {
          // `>>> 0`: bitwise ops give signed int32, the arrays hold uint32; bit 31 would
          // otherwise never compare equal and the fixpoint would never settle.
          const v = (liveOut[out + k] | liveIn[s * words + k]) >>> 0;
          if (v !== liveOut[out + k]) liveOut[out + k] = v;
        }
      }
      for (let k = 0; k < words; k++) {
        let v = liveOut[out + k];
        if (kill[i] >= 0 && kill[i] >> 5 === k) v &= ~(1 << (kill[i] & 31));
        if (gen[i] >= 0 && gen[i] >> 5 === k) v |= 1 << (gen[i] & 31);
        v >>>= 0;
        if (v !== liveIn[out + k]) {
          liveIn[out + k] = v;
          changed = true;
        }
      }
    }
  }
  const read = (bits: Uint32Array, i: number): number[] => {
    const result: number[] = [];
    for (let k = 0; k < refLocals.length; k++) {
      if (bits[i * words + (k >> 5)] & (1 << (k & 31))) result.push(refLocals[k]);
    }
    return result;
  };
  return {
    liveAfter: (i: number): readonly number[] => read(liveOut, i),
    liveIn: (i: number): readonly number[] => read(liveIn, i),
  };
}
