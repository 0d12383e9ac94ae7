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

/**
 * Successor instruction indices of every instruction, flat: instruction i's successors are
 * `to[start[i]] … to[start[i + 1] - 1]` (exits and dead instructions have none).
 */
export interface Successors {
  readonly start: Int32Array;
  readonly to: readonly number[];
}

/**
 * The instruction a branch of `depth` goes to from inside the blocks `openers` opened (their
 * opening instructions' indices, innermost last), or -1 for the function's own label (it leaves
 * the function).
 */
function branchTarget(body: DefinedFunction['body'], openers: readonly number[], depth: number): number {
  const opener = openers[openers.length - 1 - depth];
  if (opener === undefined) return -1;
  const o = body[opener];
  if (o.op === 'loop') return opener + 1;
  if (o.op === 'block' || o.op === 'if') return o.end;
  return -1;
}

/** The successors of each instruction of `fn` over its structured control flow. */
export function successors(fn: DefinedFunction): Successors {
  const body = fn.body;
  const n = body.length;
  const openers: number[] = [];
  const start = new Int32Array(n + 1);
  const to: number[] = [];
  for (let i = 0; i < n; i++) {
    start[i] = to.length;
    const instr = body[i];
    const next = i + 1 < n ? i + 1 : -1;
    switch (instr.op) {
      case 'block':
      case 'loop':
        openers.push(i);
        if (!instr.dead && next >= 0) to.push(next);
        continue;
      case 'if':
        openers.push(i);
        if (!instr.dead) {
          to.push(i + 1);
          const t = instr.else >= 0 ? instr.else + 1 : instr.end;
          if (t >= 0) to.push(t);
        }
        continue;
      case 'else': {
        const o = body[openers[openers.length - 1]];
        if (!instr.dead && o.op === 'if' && o.end >= 0) to.push(o.end);
        continue;
      }
      case 'end':
        openers.pop();
        if (!instr.dead && next >= 0) to.push(next);
        continue;
      default:
        break;
    }
    if (instr.dead) continue;
    switch (instr.op) {
      case 'br': {
        const t = branchTarget(body, openers, instr.depth);
        if (t >= 0) to.push(t);
        break;
      }
      case 'br_if': {
        if (next >= 0) to.push(next);
        const t = branchTarget(body, openers, instr.depth);
        if (t >= 0) to.push(t);
        break;
      }
      // A resume returns normally or branches to the label of the handler that caught a suspend.
      case 'resume':
        if (next >= 0) to.push(next);
        for (const h of instr.handlers) {
          const t = h.depth === 'switch' ? -1 : branchTarget(body, openers, h.depth);
          if (t >= 0) to.push(t);
        }
        break;
      case 'br_table': {
        const all = new Set<number>();
        for (const d of instr.depths) all.add(branchTarget(body, openers, d));
        all.add(branchTarget(body, openers, instr.defaultDepth));
        for (const t of all) if (t >= 0) to.push(t);
        break;
      }
      case 'return':
      case 'return_call':
      case 'return_call_indirect':
      case 'unreachable':
        break;
      default:
        if (next >= 0) to.push(next);
    }
  }
  start[n] = to.length;
  return { start, to };
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
  const bitOf = new Int32Array(numLocals).fill(-1);
  refLocals.forEach((l, k) => {
    bitOf[l] = k;
  });
  const words = Math.ceil(refLocals.length / 32);
  const n = fn.body.length;
  const { start, to } = successors(fn);
  // Int32Array: bitwise results are int32, so they compare equal to what the arrays hold.
  const liveIn = new Int32Array(n * words);
  const liveOut = new Int32Array(n * words);
  // The word and bit each instruction reads (gen) or overwrites (kill); word -1 for none.
  const genWord = new Int32Array(n).fill(-1);
  const genBit = new Int32Array(n);
  const killWord = new Int32Array(n).fill(-1);
  const killBit = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const instr = fn.body[i];
    if (instr.dead) continue;
    if (instr.op === 'local.get') {
      const b = instr.local < numLocals ? bitOf[instr.local] : -1;
      if (b >= 0) {
        genWord[i] = b >> 5;
        genBit[i] = 1 << (b & 31);
      }
    } else if (instr.op === 'local.set' || instr.op === 'local.tee') {
      const b = instr.local < numLocals ? bitOf[instr.local] : -1;
      if (b >= 0) {
        killWord[i] = b >> 5;
        killBit[i] = 1 << (b & 31);
      }
    }
  }
  let changed = true;
  while (changed) {
    changed = false;
    for (let i = n - 1; i >= 0; i--) {
      const out = i * words;
      for (let e = start[i]; e < start[i + 1]; e++) {
        const s = to[e] * words;
        for (let k = 0; k < words; k++) liveOut[out + k] |= liveIn[s + k];
      }
      for (let k = 0; k < words; k++) {
        let v = liveOut[out + k];
        if (killWord[i] === k) v &= ~killBit[i];
        if (genWord[i] === k) v |= genBit[i];
        if (v !== liveIn[out + k]) {
          liveIn[out + k] = v;
          changed = true;
        }
      }
    }
  }
  const read = (bits: Int32Array, i: number): number[] => {
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
