/**
 * Loop-invariant code motion over a validated Wasm function body (`linear-scan` only).
 *
 * Cranelift's mid-end computes a pure value once, at the outermost loop entry it does not vary
 * in (the egraph's elaboration places each value in the preheader of the loops it is invariant
 * in), so a matrix multiply's row offset `i * n` leaves the dot-product loop. stackscope lowers
 * the Wasm stack machine in one pass, so the motion happens on the Wasm body before lowering:
 *
 * - A *pure expression* is a run of instructions that computes one integer value without side
 *   effects or traps: `local.get` of an i32/i64 local, an integer constant, and the integer
 *   add/sub/mul/and/or/xor/shl/shr/rotate, wrap and extend operators over pure expressions.
 *   Because each of those pushes one value, the expression rooted at instruction i is found
 *   from i backwards: its last operand is the expression that ends at i − 1, the one before it
 *   ends right before that one starts.
 * - An expression is *invariant* in a loop when no `local.set`/`local.tee` inside the loop
 *   writes a local it reads (calls cannot write locals). Such an expression, with at least one
 *   operator, computed inside a loop and not part of a larger invariant one, is computed into a
 *   new local right before the outermost loop it is invariant in, and its run in the loop
 *   becomes a `local.get` of that local. Equal expressions hoisted before the same loop share
 *   one local.
 * - An address `x + ((y + z) << k)` (or `x + (y + z)`) in a loop where x and y are invariant
 *   and z is not is reassociated as `(x + (y << k)) + (z << k)`: the invariant part is hoisted
 *   and the rest becomes one scaled-index add (`lea` / `add …, lsl #k`). Wasm's integer
 *   arithmetic wraps, so both forms give the same bits. Cranelift v17 reassociates only
 *   constants; this is what gcc and LLVM do to expose a loop's address base.
 *
 * Nothing that can trap, read memory or globals, or make a call is moved; nothing is moved out
 * of dead code. References are never hoisted, so stack maps do not change: the new locals are
 * integers. Every instruction of the result records the instruction of the original body it
 * comes from (`origin`), so code offsets, call sites and errors still name the original body.
 */
import { localType, type DefinedFunction, type Instr, type ValType } from './frontend/module.ts';

/** The function with its invariants hoisted. */
export interface HoistedFunction {
  /** The same function with the new body and the new locals appended to its locals. */
  readonly fn: DefinedFunction;
  /** For each instruction of the new body, the index of the original instruction it comes from; -1 for those the motion made. */
  readonly origin: readonly number[];
  /** How many values were hoisted (new locals). */
  readonly hoisted: number;
}

type IntType = 'i32' | 'i64';

/** A pure integer expression: the instructions [start, end] of the body compute it. */
interface Expr {
  readonly start: number;
  readonly end: number;
  readonly type: IntType;
  /** The instruction at its root (`i32.add`, `local.get`, …). */
  readonly op: string;
  readonly args: readonly Expr[];
  /** The largest operand-stack depth it needs. */
  readonly depth: number;
  parent?: Expr;
}

const BINARY = new Set(['add', 'sub', 'mul', 'and', 'or', 'xor', 'shl', 'shr_s', 'shr_u', 'rotl', 'rotr']);
const UNARY: Readonly<Record<string, { from: IntType; to: IntType }>> = {
  'i32.wrap_i64': { from: 'i64', to: 'i32' },
  'i64.extend_i32_s': { from: 'i32', to: 'i64' },
  'i64.extend_i32_u': { from: 'i32', to: 'i64' },
};

/** Longer runs are left alone: keys and read sets stay small, the pass linear in the body. */
const MAX_EXPRESSION = 64;

/** At most this many rounds: each round hoists out of one more loop level. */
const ROUNDS = 6;

/** `fn` with its loop invariants hoisted (see the file comment); undefined when nothing moves. */
export function hoistLoopInvariants(fn: DefinedFunction): HoistedFunction | undefined {
  let current = fn;
  let origin: readonly number[] | undefined;
  let hoisted = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const step = hoistOnce(current);
    if (step === undefined) break;
    origin = origin === undefined ? step.origin : step.origin.map((o) => (o < 0 ? -1 : origin![o]));
    hoisted += step.hoisted;
    current = step.fn;
  }
  return origin === undefined ? undefined : { fn: current, origin, hoisted };
}

/** The pure expression rooted at each instruction (undefined where none is). */
function expressions(fn: DefinedFunction): (Expr | undefined)[] {
  const body = fn.body;
  const exprs: (Expr | undefined)[] = new Array(body.length);
  for (let i = 0; i < body.length; i++) {
    const instr = body[i];
    if (instr.dead) continue;
    let e: Expr | undefined;
    if (instr.op === 'local.get') {
      const t = localType(fn, instr.local);
      if (t === 'i32' || t === 'i64') e = { start: i, end: i, type: t, op: instr.op, args: [], depth: 1 };
    } else if (instr.op === 'i32.const' || instr.op === 'i64.const') {
      e = { start: i, end: i, type: instr.op === 'i32.const' ? 'i32' : 'i64', op: instr.op, args: [], depth: 1 };
    } else if (instr.op in UNARY) {
      const a = exprs[i - 1];
      if (a !== undefined && a.type === UNARY[instr.op]!.from) e = node(i, instr.op, UNARY[instr.op]!.to, [a]);
    } else {
      const [ty, name] = instr.op.split('.') as [string, string | undefined];
      if ((ty === 'i32' || ty === 'i64') && name !== undefined && BINARY.has(name)) {
        const b = exprs[i - 1];
        const a = b === undefined ? undefined : exprs[b.start - 1];
        if (a !== undefined && b !== undefined && a.type === ty && b.type === ty) e = node(i, instr.op, ty, [a, b]);
      }
    }
    exprs[i] = e;
  }
  return exprs;
}

function node(i: number, op: string, type: IntType, args: Expr[]): Expr | undefined {
  if (i - args[0]!.start >= MAX_EXPRESSION) return undefined;
  const depth = args.length === 1 ? args[0]!.depth : Math.max(args[0]!.depth, 1 + args[1]!.depth);
  const e: Expr = { start: args[0]!.start, end: i, type, op, args, depth };
  for (const a of args) a.parent = e;
  return e;
}

/** A loop of the body: its `loop` instruction, its `end`, the loop around it and the locals it writes. */
interface Loop {
  readonly start: number;
  readonly end: number;
  readonly outer: Loop | undefined;
  readonly writes: Set<number>;
}

/** The body's live loops, and for each instruction the innermost one around it. */
function loopsOf(fn: DefinedFunction): { loops: Loop[]; innermost: (Loop | undefined)[] } {
  const loops: Loop[] = [];
  const innermost: (Loop | undefined)[] = new Array(fn.body.length);
  const open: (Loop | undefined)[] = [];
  let inner: Loop | undefined;
  fn.body.forEach((instr, i) => {
    innermost[i] = inner;
    if (instr.op === 'block' || instr.op === 'if' || instr.op === 'loop') {
      if (instr.op === 'loop' && !instr.dead) {
        inner = { start: i, end: instr.end, outer: inner, writes: new Set() };
        loops.push(inner);
        open.push(inner);
      } else {
        open.push(undefined);
      }
    } else if (instr.op === 'end') {
      if (open.pop() !== undefined) inner = inner!.outer;
    } else if (instr.op === 'local.set' || instr.op === 'local.tee') {
      for (let l = inner; l !== undefined; l = l.outer) l.writes.add(instr.local);
    }
  });
  return { loops, innermost };
}

/** Whether no local that `e` reads is written inside `loop`. */
function invariantIn(body: readonly Instr[], e: Expr, loop: Loop): boolean {
  for (let k = e.start; k <= e.end; k++) {
    const instr = body[k]!;
    if (instr.op === 'local.get' && loop.writes.has(instr.local)) return false;
  }
  return true;
}

/** The outermost loop, from `loop` outwards, in which every one of `exprs` is invariant. */
function outermostInvariant(body: readonly Instr[], loop: Loop, exprs: readonly Expr[]): Loop {
  let target = loop;
  while (target.outer !== undefined && exprs.every((e) => invariantIn(body, e, target.outer!))) target = target.outer;
  return target;
}

/** The text of the instructions [start, end]: equal texts compute equal values in one place. */
function keyOf(body: readonly Instr[], e: Expr): string {
  const words: string[] = [];
  for (let k = e.start; k <= e.end; k++) {
    const instr = body[k]!;
    words.push(instr.op === 'local.get' ? `${instr.op} ${instr.local}` : instr.op === 'i32.const' || instr.op === 'i64.const' ? `${instr.op} ${instr.value}` : instr.op);
  }
  return words.join(' ');
}

/** One instruction of the new body and where it comes from. */
interface Emitted {
  readonly instr: Instr;
  readonly origin: number;
}

/** An instruction the motion makes (its byte offset is its place's). */
type Made = { readonly op: string; readonly local?: number; readonly value?: number | bigint };

/** What replaces the instructions [start, end] inside a loop. */
interface Replacement {
  readonly start: number;
  readonly end: number;
  readonly emit: () => Emitted[];
}

/** One round: hoists out of each loop what is invariant in it. */
function hoistOnce(fn: DefinedFunction): HoistedFunction | undefined {
  const body = fn.body;
  const { loops, innermost } = loopsOf(fn);
  if (loops.length === 0) return undefined;
  const exprs = expressions(fn);
  const numLocals = fn.type.params.length + fn.locals.length;
  const newLocals: ValType[] = [];
  /** Hoisted values per target loop (keyed by its `loop` index), by expression text. */
  const preheaders = new Map<number, Map<string, { local: number; code: () => Emitted[]; depth: number }>>();
  const replacements: Replacement[] = [];
  /** Instructions inside a replaced run (runs are taken outermost first, so a run overlapping one is inside it). */
  const covered = new Uint8Array(body.length);
  const taken = (e: Expr): boolean => covered[e.start] === 1 || covered[e.end] === 1;
  const replace = (r: Replacement): void => {
    replacements.push(r);
    covered.fill(1, r.start, r.end + 1);
  };
  const copy = (e: Expr): Emitted[] => {
    const out: Emitted[] = [];
    for (let k = e.start; k <= e.end; k++) out.push({ instr: body[k]!, origin: k });
    return out;
  };
  const made = (instr: Made, at: number): Emitted => ({ instr: { ...instr, offset: body[at]!.offset } as unknown as Instr, origin: -1 });

  /** The local holding `code` (text `key`, of type `type`) computed before `target`. */
  const hoist = (target: Loop, key: string, type: IntType, code: () => Emitted[], depth: number): number => {
    let values = preheaders.get(target.start);
    if (values === undefined) preheaders.set(target.start, (values = new Map()));
    let v = values.get(key);
    if (v === undefined) {
      v = { local: numLocals + newLocals.length, code, depth };
      newLocals.push(type);
      values.set(key, v);
    }
    return v.local;
  };

  // Outermost expressions first: a replaced run is never also part of another.
  const roots = exprs.filter((e): e is Expr => e !== undefined && e.args.length > 0).sort((a, b) => b.end - b.start - (a.end - a.start) || a.start - b.start);
  for (const e of roots) {
    const loop = innermost[e.start];
    if (loop === undefined || taken(e)) continue;
    const r = reassociation(body, e, loop);
    if (r !== undefined) {
      const { x, y, z, shift } = r;
      const target = outermostInvariant(body, loop, [x, y]);
      const op = (name: string): Made => ({ op: `${e.type}.${name}` });
      const shiftConst = (): Made => (e.type === 'i32' ? { op: 'i32.const', value: shift!.value } : { op: 'i64.const', value: BigInt(shift!.value) });
      const key = `${keyOf(body, x)} ${keyOf(body, y)} ${shift === undefined ? '' : `${e.type}.const ${shift.value} ${e.type}.shl `}${e.type}.add`;
      const local = hoist(target, key, e.type, () => [
        ...copy(x),
        ...copy(y),
        ...(shift === undefined ? [] : [made(shiftConst(), target.start), made(op('shl'), target.start)]),
        made(op('add'), target.start),
      ], Math.max(x.depth, 1 + y.depth, shift === undefined ? 0 : 3));
      replace({
        start: e.start,
        end: e.end,
        emit: () => [
          made({ op: 'local.get', local }, e.start),
          ...copy(z),
          ...(shift === undefined ? [] : [{ instr: body[shift.const]!, origin: shift.const }, { instr: body[shift.at]!, origin: shift.at }]),
          { instr: body[e.end]!, origin: e.end },
        ],
      });
      continue;
    }
    // The largest invariant expression moves, but a shift the lowering fuses into its add stays and its operand moves.
    const movable = (x: Expr): boolean => invariantIn(body, x, loop) && !fusesIntoParent(x, body);
    if (!movable(e) || (e.parent !== undefined && movable(e.parent))) continue;
    const target = outermostInvariant(body, loop, [e]);
    const local = hoist(target, keyOf(body, e), e.type, () => copy(e), e.depth);
    replace({ start: e.start, end: e.end, emit: () => [made({ op: 'local.get', local }, e.start)] });
  }
  if (replacements.length === 0) return undefined;

  // The new body: hoisted values before their loops, replaced runs, control indices renumbered.
  const starts = new Map(replacements.map((r) => [r.start, r] as const));
  const out: Emitted[] = [];
  let extraDepth = 0;
  for (let i = 0; i < body.length; i++) {
    for (const v of preheaders.get(i)?.values() ?? []) {
      out.push(...v.code(), made({ op: 'local.set', local: v.local }, i));
      extraDepth = Math.max(extraDepth, v.depth);
    }
    const r = starts.get(i);
    if (r !== undefined) {
      out.push(...r.emit());
      i = r.end;
    } else {
      out.push({ instr: body[i]!, origin: i });
    }
  }
  const renumbered = new Map<number, number>();
  out.forEach((x, k) => {
    if (x.origin >= 0 && isControl(x.instr)) renumbered.set(x.origin, k);
  });
  const at = (old: number): number => (old < 0 ? old : renumbered.get(old)!);
  const newBody = out.map(({ instr }): Instr => {
    if (instr.op === 'block' || instr.op === 'loop' || instr.op === 'if') return { ...instr, else: at(instr.else), end: at(instr.end) };
    if (instr.op === 'else' || instr.op === 'end') return { ...instr, opener: at(instr.opener) };
    return instr;
  });
  return {
    fn: { ...fn, locals: [...fn.locals, ...newLocals], body: newBody, maxStackHeight: fn.maxStackHeight + extraDepth },
    origin: out.map((x) => x.origin),
    hoisted: newLocals.length,
  };
}

const isControl = (instr: Instr): boolean => instr.op === 'block' || instr.op === 'loop' || instr.op === 'if' || instr.op === 'else' || instr.op === 'end';

/**
 * `e` = x + ((y + z) << k) or x + (y + z), operands in either order, where x and y are
 * invariant in `loop` and z is not: the parts, with the shift's constant (masked as Wasm masks a
 * shift count) and the places of the constant and the shift.
 */
function reassociation(body: readonly Instr[], e: Expr, loop: Loop): { x: Expr; y: Expr; z: Expr; shift?: Shift } | undefined {
  const add = `${e.type}.add`;
  if (e.op !== add) return undefined;
  for (const [x, m] of [[e.args[0]!, e.args[1]!], [e.args[1]!, e.args[0]!]] as const) {
    if (!invariantIn(body, x, loop)) continue;
    let inner = m;
    let shift: Shift | undefined;
    if (m.op === `${e.type}.shl`) {
      const k = m.args[1]!;
      const value = shiftCount(body, k);
      if (value === undefined) continue;
      shift = { const: k.start, at: m.end, value };
      inner = m.args[0]!;
    }
    if (inner.op !== add) continue;
    const [a, b] = inner.args as [Expr, Expr];
    const [ia, ib] = [invariantIn(body, a, loop), invariantIn(body, b, loop)];
    if (ia === ib) continue;
    return { x, y: ia ? a : b, z: ia ? b : a, ...(shift === undefined ? {} : { shift }) };
  }
  return undefined;
}

/** A shift by a constant: the constant's and the shift's instruction indices, and the count. */
interface Shift {
  readonly const: number;
  readonly at: number;
  readonly value: number;
}

/** The count of a constant shift operand, masked to its width as Wasm does; undefined if `e` is no constant. */
function shiftCount(body: readonly Instr[], e: Expr): number | undefined {
  const instr = body[e.start]!;
  if (e.args.length > 0) return undefined;
  if (instr.op === 'i32.const') return instr.value & 31;
  if (instr.op === 'i64.const') return Number(instr.value & 63n);
  return undefined;
}

/**
 * An invariant `y << k` that is an add's second operand: the lowering fuses the pair into one
 * scaled-index add, so hoisting the shift would save nothing and hold a register.
 */
function fusesIntoParent(e: Expr, body: readonly Instr[]): boolean {
  return e.op === `${e.type}.shl` && shiftCount(body, e.args[1]!) !== undefined && e.parent !== undefined && e.parent.args[1] === e && e.parent.op === `${e.type}.add`;
}
