/**
 * The program generator: valid programs of the compiler's subset that stress the collector.
 * Deterministic in its `Choices` (a seed or a byte string). Each statement and expression kind
 * is one entry of a table with a weight and a builder, so a new operation (or a profile that
 * favours some) plugs in as one more entry; `GeneratorOptions.mix` reweights kinds by name.
 */
import type { Choices } from './random.ts';
import { SeededChoices } from './random.ts';
import type { FuncDef, I32Expr, Program, RefExpr, Stmt, StmtKind } from './program.ts';
import { isReentrantTag } from './program.ts';
import { FuzzUsageError } from './errors.ts';
import { rememberModel, runModel } from './model.ts';

export interface GeneratorOptions {
  /** Statements in the whole program (all functions and on_free), about. Default 50. */
  ops?: number;
  /** Defined functions besides on_free, main included: a fixed number, or 1..4 when unset. */
  functions?: number;
  /** Largest depth main is called with (each call level decrements it). Default 3. */
  maxDepth?: number;
  /** Relative weights by statement kind (0 disables a kind); unnamed kinds keep their default. */
  mix?: Partial<Record<StmtKind, number>>;
  /**
   * Programs that switch stacks (wasmtime v44's stack switching; they run only in the v44
   * profile): task functions, continuation locals, `cont.new`, `resume` with a `$yield`
   * handler, `suspend` with an externref payload, continuations dropped unfinished; and players
   * (`cont.bind` of their depth, `resume` with a switch handler, symmetric `switch`). Default false.
   */
  stackSwitching?: boolean;
  /**
   * Programs with GC objects (the GC proposal as wasmtime v31 compiles it; they run only in the
   * v31 profile): box (struct) and array locals with externref fields, `struct.new/get/set`,
   * `array.new/get/set`. Default false.
   */
  gcObjects?: boolean;
  /** Tail calls (`return_call`, `return_call_indirect`) among the statements. Default false. */
  tailCalls?: boolean;
  /**
   * Helpers with two or three externref results (the extra ones returned through Cranelift's
   * return area on the stack), their callers setting a local per result. Default false.
   */
  multiResults?: boolean;
}

/** The default weight of each statement kind. */
export const DEFAULT_MIX: Readonly<Record<StmtKind, number>> = {
  set: 12, 'table.set': 10, 'global.set': 6, 'table.fill': 3, print: 8, print_i32: 4, gc: 6,
  release: 2, call: 9, churn: 3, trap: 1,
  // Only in programs that switch stacks (`stackSwitching`); `resume` also comes as a round over
  // every continuation local of the function (a scheduler's turn).
  'cont.new': 3, resume: 9, suspend: 12, 'cont.drop': 1,
  // Players (programs that switch stacks): `switch` in a player's body; main's `cont.bind`s and
  // `play`s are placed among its statements after the body is built (so the rest of a seed's
  // program is what it was before players existed); their weights scale how many, 0 turns off.
  switch: 24, 'cont.bind': 2, play: 4,
  // Only in programs with GC objects (`gcObjects`); `struct.get`/`array.get` are expressions.
  'box.new': 2, 'box.set': 5, 'vec.new': 2, 'vec.set': 5,
  // Only with `tailCalls`.
  tail: 3,
};

export const STMT_KINDS = Object.keys(DEFAULT_MIX) as StmtKind[];

/** The options as the generator uses them (defaults filled in); part of every replay record. */
export interface ResolvedGeneratorOptions {
  ops: number;
  functions: number | null;
  maxDepth: number;
  mix: Record<StmtKind, number>;
  /** Present (true) only for programs that switch stacks, so older records read the same. */
  stackSwitching?: true;
  /** Present (true) only for programs with GC objects. */
  gcObjects?: true;
  /** Present (true) only for programs with tail calls. */
  tailCalls?: true;
  /** Present (true) only for programs with helpers of several results. */
  multiResults?: true;
}

export function resolveGeneratorOptions(o: GeneratorOptions = {}): ResolvedGeneratorOptions {
  const ops = o.ops ?? 50;
  if (!Number.isInteger(ops) || ops < 1 || ops > 100_000) throw new FuzzUsageError(`ops must be an integer in 1..100000 (got ${ops})`);
  const functions = o.functions ?? null;
  if (functions !== null && (!Number.isInteger(functions) || functions < 1 || functions > 64)) throw new FuzzUsageError(`functions must be in 1..64 (got ${functions})`);
  const maxDepth = o.maxDepth ?? 3;
  if (!Number.isInteger(maxDepth) || maxDepth < 0 || maxDepth > 8) throw new FuzzUsageError(`maxDepth must be in 0..8 (got ${maxDepth})`);
  const mix = { ...DEFAULT_MIX };
  for (const [k, w] of Object.entries(o.mix ?? {})) {
    if (!(k in DEFAULT_MIX)) throw new FuzzUsageError(`unknown op kind '${k}' in the mix (kinds: ${STMT_KINDS.join(', ')})`);
    if (typeof w !== 'number' || !(w >= 0)) throw new FuzzUsageError(`weight of '${k}' must be a number ≥ 0`);
    mix[k as StmtKind] = w;
  }
  if (o.stackSwitching && o.gcObjects) throw new FuzzUsageError('programs switch stacks (v44) or have GC objects (v31), not both: no profile compiles both');
  return { ops, functions, maxDepth, mix, ...(o.stackSwitching ? { stackSwitching: true as const } : {}), ...(o.gcObjects ? { gcObjects: true as const } : {}), ...(o.tailCalls ? { tailCalls: true as const } : {}), ...(o.multiResults ? { multiResults: true as const } : {}) };
}

/** Parses a mix given as text: `call=20,trap=0`. */
export function parseMix(text: string): Partial<Record<StmtKind, number>> {
  const out: Partial<Record<StmtKind, number>> = {};
  for (const part of text.split(',').filter(Boolean)) {
    const m = /^([a-z_.0-9]+)=(\d+(?:\.\d+)?)$/.exec(part.trim());
    if (!m) throw new FuzzUsageError(`mix entry '${part}' is not kind=weight`);
    out[m[1] as StmtKind] = Number(m[2]);
  }
  return out;
}

interface Ctx {
  c: Choices;
  p: Program;
  /** Externref locals of the function being generated. */
  locals: number;
  /** Building on_free: only reads, temporaries and collections. */
  onFree: boolean;
  /** Continuation locals of the function being generated. */
  conts: number;
  /** Building a task (the only functions that suspend: they run only as continuations). */
  task: boolean;
  /** The task's index, when building one. */
  taskIndex?: number;
  /** Box and array locals of the function being generated. */
  boxes?: number;
  vecs?: number;
  /** Tail calls may be generated. */
  tailCalls?: boolean;
  /** Building a helper that may suspend (when a task called it). */
  helperSuspends?: boolean;
  /** Building a player (it switches to its partner). */
  player?: boolean;
}

/** The keys of each weight table (tables are fixed objects: the defaults, a resolved mix). */
const KEYS = new WeakMap<object, readonly string[]>();
/** The allowed keys of the current pick (pickWeighted never runs inside itself: `allowed` only reads the context). */
const allowedKeys: string[] = [];

function pickWeighted<T extends string>(c: Choices, weights: Readonly<Record<T, number>>, allowed: (k: T) => boolean): T | undefined {
  let all = KEYS.get(weights);
  if (!all) KEYS.set(weights, (all = Object.keys(weights)));
  const keys = allowedKeys as T[];
  keys.length = 0;
  let total = 0;
  for (const k of all as T[]) {
    if (weights[k] > 0 && allowed(k)) {
      keys.push(k);
      total += weights[k];
    }
  }
  if (total <= 0) return undefined;
  // Integer weights keep the decision one int() call, whatever the source.
  let x = c.int(0, Math.ceil(total * 16) - 1) / 16;
  for (const k of keys) {
    x -= weights[k];
    if (x < 0) return k;
  }
  return keys[keys.length - 1];
}

/** A table index: mostly in range of the initial size (always valid), sometimes up to the maximum (may trap). */
function tableIndex(x: Ctx, safe: boolean): number {
  if (safe || x.c.int(0, 19) !== 0) return x.c.int(0, x.p.tableMin - 1);
  return x.c.int(0, x.p.tableMax);
}

const REF_WEIGHTS = { local: 5, null: 2, 'table.get': 4, 'global.get': 2, new: 4, new_temp: 1, pass: 2, select: 2, 'box.get': 3, 'vec.get': 3 } as const;
type RefKind = keyof typeof REF_WEIGHTS;

function genRef(x: Ctx, nest: number): RefExpr {
  const kind = pickWeighted<RefKind>(x.c, REF_WEIGHTS, (k) => {
    if (k === 'local') return x.locals > 0;
    if (k === 'global.get') return x.p.globals > 0;
    if (k === 'pass' || k === 'select') return nest < 2 && !x.onFree;
    if (k === 'new') return !x.onFree;
    if (k === 'new_temp') return x.onFree;
    if (k === 'box.get') return (x.boxes ?? 0) > 0;
    if (k === 'vec.get') return (x.vecs ?? 0) > 0;
    return true;
  })!;
  switch (kind) {
    case 'local': return { k: 'local', i: x.c.int(0, x.locals - 1) };
    case 'null': return { k: 'null' };
    case 'table.get': return { k: 'table.get', index: tableIndex(x, x.onFree) };
    case 'global.get': return { k: 'global.get', g: x.c.int(0, x.p.globals - 1) };
    case 'new': return { k: 'new', tag: x.c.int(0, 99) };
    case 'new_temp': return { k: 'new_temp' };
    case 'pass': return { k: 'pass', e: genRef(x, nest + 1) };
    case 'select': return { k: 'select', a: genRef(x, nest + 1), b: genRef(x, nest + 1), c: genI32(x, nest + 1) };
    case 'box.get': return { k: 'box.get', b: x.c.int(0, x.boxes! - 1) };
    case 'vec.get': return { k: 'vec.get', v: x.c.int(0, x.vecs! - 1), i: vecIndex(x) };
  }
}

function genI32(x: Ctx, nest: number): I32Expr {
  switch (x.c.int(0, 5)) {
    case 0: return { k: 'const', v: x.c.int(0, 1) };
    case 1:
    case 2: return { k: 'is_null', e: genRef(x, nest + 1) };
    case 3: return { k: 'table.size' };
    default: return nest < 2 ? { k: 'table.grow', e: genRef(x, nest + 1), n: x.c.int(0, 3) } : { k: 'table.size' };
  }
}

/** An array index: mostly below every array's smallest length (1), sometimes up to 4 (may trap). */
function vecIndex(x: Ctx): number {
  return x.c.int(0, 9) === 0 ? x.c.int(1, 4) : 0;
}

function dstLocal(x: Ctx): number {
  return x.c.int(0, x.locals - 1);
}

function resumeOf(x: Ctx, c: number): Stmt {
  return { k: 'resume', c, arg: genRef(x, 1), dst: dstLocal(x) };
}

/** Builders by statement kind; each may assume `allowed` said yes. */
const STMT_BUILDERS: Record<StmtKind, { allowed: (x: Ctx) => boolean; build: (x: Ctx) => Stmt | Stmt[] }> = {
  set: { allowed: (x) => x.locals > 0, build: (x) => ({ k: 'set', i: dstLocal(x), e: genRef(x, 0) }) },
  'table.set': { allowed: (x) => !x.onFree, build: (x) => ({ k: 'table.set', index: tableIndex(x, false), e: genRef(x, 0) }) },
  'global.set': { allowed: (x) => !x.onFree && x.p.globals > 0, build: (x) => ({ k: 'global.set', g: x.c.int(0, x.p.globals - 1), e: genRef(x, 0) }) },
  'table.fill': {
    allowed: (x) => !x.onFree,
    build: (x) => {
      const start = tableIndex(x, false);
      return { k: 'table.fill', start, e: genRef(x, 0), len: x.c.int(0, Math.max(0, x.p.tableMin - start)) };
    },
  },
  print: { allowed: (x) => !x.onFree, build: (x) => ({ k: 'print', e: genRef(x, 0) }) },
  print_i32: { allowed: (x) => !x.onFree, build: (x) => ({ k: 'print_i32', e: genI32(x, 0) }) },
  gc: { allowed: () => true, build: () => ({ k: 'gc' }) },
  release: { allowed: (x) => !x.onFree && x.p.pool > 0, build: (x) => ({ k: 'release', pool: x.c.int(0, x.p.pool - 1) }) },
  call: {
    // Programs that switch stacks never call main (its continuations start tasks, which would
    // start again with a fresh depth): recursion stays bounded by the depth.
    allowed: (x) => !x.onFree && x.locals > 0 && (!x.p.tasks || x.p.funcs.length > 1),
    build: (x) => {
      const f = x.c.int(x.p.tasks ? 1 : 0, x.p.funcs.length - 1);
      const args = Array.from({ length: x.p.funcs[f].params }, () => genRef(x, 1));
      return { k: 'call', dst: dstLocal(x), f, args, indirect: x.c.int(0, 2) === 0 };
    },
  },
  churn: {
    allowed: (x) => x.locals > 0,
    build: (x) => {
      const useGlobal = x.p.globals > 0 && x.c.int(0, 3) === 0;
      // Past 512 the bump chunk is full and the insert-with-GC libcall collects.
      const n = useGlobal ? x.c.int(1, 48) : x.c.int(0, 1) ? x.c.int(500, 1100) : x.c.int(1, 64);
      return { k: 'churn', dst: dstLocal(x), n, source: useGlobal ? { global: x.c.int(0, x.p.globals - 1) } : { table: x.c.int(0, x.p.tableMin - 1) } };
    },
  },
  trap: { allowed: (x) => !x.onFree, build: () => ({ k: 'trap' }) },
  'cont.new': {
    // A task starts only tasks after it, so continuations nest at most as deep as there are tasks.
    allowed: (x) => x.conts > 0 && !x.onFree && (x.taskIndex ?? -1) < x.p.tasks!.length - 1,
    build: (x) => ({ k: 'cont.new', c: x.c.int(0, x.conts - 1), task: x.c.int((x.taskIndex ?? -1) + 1, x.p.tasks!.length - 1) }),
  },
  resume: {
    allowed: (x) => x.conts > 0 && x.locals > 0 && !x.onFree,
    build: (x) => {
      // One continuation, or (a third of the time, with several) a round over all of them.
      if (x.conts === 1 || x.c.int(0, 2) !== 0) return resumeOf(x, x.c.int(0, x.conts - 1));
      return Array.from({ length: x.conts }, (_, c) => resumeOf(x, c));
    },
  },
  // Tasks suspend; helpers too, guarded by $on_task (when a task called them), so a suspended
  // stack holds several frames. Main and on_free never do.
  suspend: {
    allowed: (x) => x.task || (x.helperSuspends === true && x.locals > 0),
    build: (x) => ({ k: 'suspend', e: genRef(x, 1), dst: dstLocal(x), ...(x.task ? {} : { guarded: true as const }) }),
  },
  'cont.drop': { allowed: (x) => x.conts > 0 && !x.onFree, build: (x) => ({ k: 'cont.drop', c: x.c.int(0, x.conts - 1) }) },
  switch: { allowed: (x) => x.player === true, build: (x) => ({ k: 'switch', arg: genRef(x, 1), dst: dstLocal(x) }) },
  // Placed by `addPlayers`, never drawn by genBody.
  'cont.bind': { allowed: () => false, build: () => [] },
  play: { allowed: () => false, build: () => [] },
  tail: {
    allowed: (x) => x.tailCalls === true && !x.onFree && (!x.p.tasks || x.p.funcs.length > 1),
    build: (x) => {
      const f = x.c.int(x.p.tasks ? 1 : 0, x.p.funcs.length - 1);
      return { k: 'tail', f, args: Array.from({ length: x.p.funcs[f].params }, () => genRef(x, 1)), indirect: x.c.int(0, 2) === 0 };
    },
  },
  'box.new': { allowed: (x) => (x.boxes ?? 0) > 0, build: (x) => ({ k: 'box.new', b: x.c.int(0, x.boxes! - 1), e: genRef(x, 1) }) },
  'box.set': { allowed: (x) => (x.boxes ?? 0) > 0, build: (x) => ({ k: 'box.set', b: x.c.int(0, x.boxes! - 1), e: genRef(x, 1) }) },
  'vec.new': { allowed: (x) => (x.vecs ?? 0) > 0, build: (x) => ({ k: 'vec.new', v: x.c.int(0, x.vecs! - 1), e: genRef(x, 1), len: x.c.int(1, 4) }) },
  'vec.set': { allowed: (x) => (x.vecs ?? 0) > 0, build: (x) => ({ k: 'vec.set', v: x.c.int(0, x.vecs! - 1), i: vecIndex(x), e: genRef(x, 1) }) },
};

function genBody(x: Ctx, count: number, mix: Readonly<Record<StmtKind, number>>): Stmt[] {
  const body: Stmt[] = [];
  for (let i = 0; i < count; i++) {
    const kind = pickWeighted<StmtKind>(x.c, mix, (k) => STMT_BUILDERS[k].allowed(x));
    if (kind === undefined) break;
    const built = STMT_BUILDERS[kind].build(x);
    if (Array.isArray(built)) {
      body.push(...built);
      i += built.length - 1;
    } else body.push(built);
  }
  return body;
}

/** Builds a program from `choices` (see `generateProgram` for a seed). */
export function generateFrom(choices: Choices, options: GeneratorOptions = {}): Program {
  const o = resolveGeneratorOptions(options);
  const c = choices;
  const nFuncs = o.functions ?? c.int(1, 4);
  const tableMin = c.int(1, 6);
  const p: Program = {
    tableMin, tableMax: tableMin + c.int(0, 8), globals: c.int(0, 3), pool: c.int(0, 3), depth: c.int(0, o.maxDepth),
    funcs: [], onFree: [], onFreeLocals: c.int(1, 2),
  };
  for (let i = 0; i < nFuncs; i++) {
    const params = i === 0 ? p.pool : c.int(0, 3);
    p.funcs.push({ params, locals: c.int(i === 0 && params === 0 ? 1 : 0, 3), body: [], result: 0 });
  }
  // Every function returns one of its locals; a function without any gets one.
  for (const f of p.funcs) if (f.params + f.locals === 0) f.locals = 1;
  const sw = o.stackSwitching === true;
  if (sw) {
    // Main keeps one to three continuations (a scheduler), a task up to one (a continuation
    // resuming another: chains of stacks); helpers none (they may run inside tasks).
    p.funcs[0].conts = c.int(1, 3);
    p.tasks = Array.from({ length: c.int(1, 3) }, () => ({ params: 1, locals: c.int(0, 3), conts: c.int(0, 1), body: [], result: 0 }));
    // At least 1: tasks call helpers (which may suspend on the task's stack).
    p.taskDepth = c.int(Math.min(1, o.maxDepth), o.maxDepth);
  }
  if (o.gcObjects) {
    // Every function but on_free keeps up to two boxes and two arrays (main at least one box).
    p.gcObjects = true;
    p.funcs.forEach((f, i) => {
      f.boxes = c.int(i === 0 ? 1 : 0, 2);
      f.vecs = c.int(0, 2);
    });
  }
  const onFreeOps = Math.min(4, Math.max(0, Math.round(o.ops / 12)));
  const all = Math.max(1, o.ops - onFreeOps);
  // Tasks get a third when there are any; main about half of the rest; helpers share the rest.
  const taskOps = sw ? Math.floor(all / 3) : 0;
  const rest = Math.max(1, all - taskOps);
  const shares = p.funcs.map((_, i) => (i === 0 ? (nFuncs === 1 ? rest : Math.ceil(rest / 2)) : Math.floor(rest / 2 / (nFuncs - 1))));
  // A third of the helpers of a program that switches stacks may suspend.
  const suspending = p.funcs.map((_, i) => sw && i > 0 && c.int(0, 2) === 0);
  const ctx = (f: FuncDef, task?: number, helperSuspends?: boolean): Ctx => ({
    c, p, locals: f.params + f.locals, onFree: false, conts: f.conts ?? 0, task: task !== undefined, taskIndex: task, boxes: f.boxes, vecs: f.vecs,
    tailCalls: o.tailCalls === true, helperSuspends,
  });
  p.funcs.forEach((f: FuncDef, i) => {
    const x = ctx(f, undefined, suspending[i]);
    // Main starts every continuation it keeps.
    const starts: Stmt[] = i === 0 && sw ? Array.from({ length: f.conts! }, (_, k) => ({ k: 'cont.new', c: k, task: c.int(0, p.tasks!.length - 1) })) : [];
    // Every helper starts with a suspend that fires when a task called it (its frame above the task's).
    if (sw && i > 0) starts.push({ k: 'suspend', e: genRef(x, 1), dst: dstLocal(x), guarded: true });
    // Every box and array local starts as a new object (so reads rarely meet null).
    for (let b = 0; b < (f.boxes ?? 0); b++) starts.push({ k: 'box.new', b, e: genRef(x, 1) });
    for (let v = 0; v < (f.vecs ?? 0); v++) starts.push({ k: 'vec.new', v, e: genRef(x, 1), len: c.int(1, 4) });
    f.body = [...starts, ...genBody(x, Math.max(0, shares[i] - starts.length), o.mix)];
    f.result = c.int(0, f.params + f.locals - 1);
  });
  for (const [t, f] of (p.tasks ?? []).entries()) {
    // A task first fills its own locals with new objects only its frame holds (across its
    // suspends, while other stacks collect).
    const own: Stmt[] = Array.from({ length: f.locals }, (_, j) => ({ k: 'set', i: 1 + j, e: { k: 'new', tag: c.int(0, 99) } }));
    f.body = [...own, ...genBody(ctx(f, t), Math.max(1, Math.floor(taskOps / p.tasks!.length) - own.length), o.mix)];
    f.result = c.int(0, f.params + f.locals - 1);
  }
  p.onFree = genBody({ c, p, locals: p.onFreeLocals, onFree: true, conts: 0, task: false }, onFreeOps, o.mix);
  if (sw) addPlayers(c, p, o);
  if (o.multiResults) addMultiResults(c, p);
  return p;
}

/**
 * Several results, drawn after everything else (so the rest of the program is the seed's
 * usual one): each helper that no tail call involves (a tail call needs equal results) gets,
 * half of the time, one or two more of its locals as extra externref results, and every call
 * of it sets one more local of the caller per extra result.
 */
function addMultiResults(c: Choices, p: Program): void {
  const bodies: Array<{ body: Stmt[]; locals: number }> = [...p.funcs, ...(p.tasks ?? []), ...(p.players ?? [])].map((f) => ({ body: f.body, locals: f.params + f.locals }));
  const tailTargets = new Set(bodies.flatMap((b) => b.body.flatMap((s) => (s.k === 'tail' ? [s.f] : []))));
  p.funcs.forEach((f, i) => {
    if (i === 0 || tailTargets.has(i) || f.body.some((s) => s.k === 'tail') || c.int(0, 1) === 0) return;
    f.extra = Array.from({ length: c.int(1, 2) }, () => c.int(0, f.params + f.locals - 1));
  });
  for (const { body, locals } of bodies) {
    for (const s of body) {
      const extra = s.k === 'call' ? p.funcs[s.f].extra : undefined;
      if (s.k === 'call' && extra) s.more = extra.map(() => c.int(0, locals - 1));
    }
  }
}

/**
 * Players, drawn after everything else (so the rest of the program is the one the seed gave
 * before players existed): none in a third of the programs, else one or two player functions
 * (own objects in their locals, then statements with `switch` among them), two player locals
 * in main bound at its start, and `cont.bind`s and `play`s placed among main's statements.
 */
function addPlayers(c: Choices, p: Program, o: ResolvedGeneratorOptions): void {
  const n = c.int(0, 2);
  if (n === 0 || o.mix.play === 0) return;
  p.players = Array.from({ length: n }, () => ({ params: 1, locals: c.int(1, 3), body: [], result: 0 }));
  for (const f of p.players) {
    const x: Ctx = { c, p, locals: f.params + f.locals, onFree: false, conts: 0, task: false, tailCalls: o.tailCalls === true, player: true };
    const own: Stmt[] = Array.from({ length: f.locals }, (_, j) => ({ k: 'set', i: 1 + j, e: { k: 'new', tag: c.int(0, 99) } }));
    f.body = [...own, ...genBody(x, c.int(3, 10), o.mix)];
    f.result = c.int(0, f.params + f.locals - 1);
  }
  const main = p.funcs[0];
  main.qs = 2;
  const mx: Ctx = { c, p, locals: main.params + main.locals, onFree: false, conts: 0, task: false };
  const bind = (q: number): Stmt => ({ k: 'cont.bind', q, player: c.int(0, n - 1), depth: c.int(0, o.maxDepth) });
  const play = (): Stmt => {
    const q = c.int(0, 1);
    return { k: 'play', q, other: c.int(0, 3) === 0 ? null : 1 - q, arg: genRef(mx, 1), dst: dstLocal(mx) };
  };
  const scale = (w: number): number => Math.max(0, Math.round(w / 2));
  const placed: Stmt[] = [
    ...Array.from({ length: c.int(1, 2 + scale(o.mix.play)) }, play),
    ...Array.from({ length: c.int(0, scale(o.mix['cont.bind'])) }, () => bind(c.int(0, 1))),
  ];
  // After main's own starts (its cont.news), at random places, each play after a fresh bind of both locals.
  const body = main.body;
  const first = body.findIndex((st) => st.k !== 'cont.new');
  const start = first < 0 ? body.length : first;
  for (const st of placed) {
    const at = c.int(start, body.length);
    body.splice(at, 0, ...(st.k === 'play' ? [bind(0), bind(1), st] : [st]));
  }
}

/**
 * A program from `choices` whose model run stays within the step limit: a program that would
 * run too long (deep recursion around long loops) is replaced by the next one the same stream
 * gives, so the result is still a pure function of the choices.
 */
export function generateBounded(choices: Choices, options: GeneratorOptions = {}): Program {
  for (let attempt = 0; ; attempt++) {
    const p = generateFrom(choices, options);
    const model = runModel(p);
    if (!model.tooLong) {
      rememberModel(p, model);
      return p;
    }
    if (attempt >= 8) {
      // Without calls nothing repeats except the loops, which are bounded.
      p.depth = 0;
      return p;
    }
  }
}

/** The program of `seed` (deterministic: the same seed and options give the same program). */
export function generateProgram(seed: number, options: GeneratorOptions = {}): Program {
  return generateBounded(new SeededChoices(seed), options);
}

export { isReentrantTag };
