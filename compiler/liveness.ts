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
const NONE: ExternrefLiveness & { liveIn(i: number): readonly number[] } = Object.freeze({ liveAfter: () => EMPTY, liveIn: () => EMPTY });

/**
 * Successor instruction indices of every instruction, flat: instruction i's successors are
 * `to[start[i]] … to[start[i + 1] - 1]` (exits and dead instructions have none).
 */
export interface Successors {
  readonly start: readonly number[];
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
  // Plain arrays: small typed arrays each cost a separate backing store (a malloc) in V8.
  const start: number[] = [];
  const to: number[] = [];
  for (let i = 0; i < n; i++) {
    start.push(to.length);
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
  start.push(to.length);
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
  if (refLocals.length === 0) return NONE;
  const bitOf: number[] = [];
  for (let l = 0; l < numLocals; l++) bitOf.push(-1);
  for (let k = 0; k < refLocals.length; k++) bitOf[refLocals[k]] = k;
  const words = Math.ceil(refLocals.length / 32);
  const n = fn.body.length;
  const { start, to } = successors(fn);
  // The tracked local each instruction reads (gen) or overwrites (kill), as its bit index; -1 for none.
  const gen: number[] = [];
  const kill: number[] = [];
  for (let i = 0; i < n; i++) {
    const instr = fn.body[i];
    const b = instr.dead || !(instr.op === 'local.get' || instr.op === 'local.set' || instr.op === 'local.tee') ? -1 : (bitOf[instr.local] ?? -1);
    gen.push(instr.op === 'local.get' ? b : -1);
    kill.push(instr.op === 'local.get' ? -1 : b);
  }
  // liveIn of instruction i at [i * words, …), liveOut at [n * words + i * words, …): one array
  // (one backing store); Int32Array, so bitwise results compare equal to what it holds.
  const bits = new Int32Array(2 * n * words);
  const outBase = n * words;
  let changed = true;
  while (changed) {
    changed = false;
    for (let i = n - 1; i >= 0; i--) {
      const inAt = i * words;
      const outAt = outBase + inAt;
      for (let e = start[i]; e < start[i + 1]; e++) {
        const s = to[e] * words;
        for (let k = 0; k < words; k++) bits[outAt + k] |= bits[s + k];
      }
      const g = gen[i];
      const x = kill[i];
      for (let k = 0; k < words; k++) {
        let v = bits[outAt + k];
        if (x >= 0 && x >> 5 === k) v &= ~(1 << (x & 31));
        if (g >= 0 && g >> 5 === k) v |= 1 << (g & 31);
        if (v !== bits[inAt + k]) {
          bits[inAt + k] = v;
          changed = true;
        }
      }
    }
  }
  return new LiveLocals(bits, n * words, words, refLocals);
}

/** The answers of localLiveness: bit k of a word set = tracked local `refLocals[k]` is live. */
class LiveLocals implements ExternrefLiveness {
  constructor(
    /** liveIn of instruction i at [i * words, …), its liveOut at [outBase + i * words, …). */
    private readonly bits: Int32Array,
    private readonly outBase: number,
    private readonly words: number,
    private readonly refLocals: readonly number[],
  ) {}

  liveAfter(i: number): readonly number[] {
    return this.read(this.outBase + i * this.words);
  }

  liveIn(i: number): readonly number[] {
    return this.read(i * this.words);
  }

  private read(at: number): number[] {
    const result: number[] = [];
    for (let k = 0; k < this.refLocals.length; k++) {
      if (this.bits[at + (k >> 5)] & (1 << (k & 31))) result.push(this.refLocals[k]);
    }
    return result;
  }
}
