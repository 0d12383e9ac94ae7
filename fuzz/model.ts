/**
 * The reference model: an interpreter of generated programs plus wasmtime's deferred
 * reference-counting rules, independent of the compiler, the simulator and the collector.
 *
 * It runs `main` the way the Wasm semantics say and records:
 * - the observable trace: every host call main's code makes (with its arguments), then the
 *   result or the trap;
 * - for every object (the host pool, each `new`): when it was created and the last moment
 *   compiled code or the host *uses* it (stores it into a table or global, passes it to the
 *   host, returns it). Copies between locals, operands and Wasm arguments are not uses: in
 *   wasmtime they hold no count and the collector may free an object that only dead slots
 *   still mention. An object is **reachable** at host call e when a table slot, a global or a
 *   host handle holds it, or when it will be used after e;
 * - the non-stack holders of every object at every host call and at the end: table slots,
 *   globals and the host's pool handles. With no Wasm on the stack and an empty activations
 *   table, an object's `strongCount()` must equal exactly that number.
 *
 * Objects created inside `on_free` (temporaries) are not modelled one by one: the generator
 * keeps them unreachable, so each must simply be freed exactly once by the end.
 *
 * Stack switching (programs with tasks): each continuation is a paused interpreter (a
 * generator) with the frames of its own stack; `resume` runs it until it returns or suspends,
 * and a suspend hands the payload to the innermost resumer (every resume handles `$yield`).
 * Passing a reference through a resume or suspend is a copy, not a use (it travels through
 * the continuation's value buffer while nothing collects). Reachability needs nothing more: an
 * object a suspended frame will use after its resume is used later, whichever stack runs now.
 * Continuations still suspended when main ends keep their frames' references as roots until
 * the store drops (v44 walks every suspended continuation it ever made): `onStacksAtEnd`.
 */
import type { FuncDef, I32Expr, Program, RefExpr, Stmt } from './program.ts';

/** Model object ids: pool objects are 0..pool-1, main's `new`s follow in call order. */
export type ObjectId = number;

export interface ModelObject {
  id: ObjectId;
  /** `pool0`, or `#3:t42` (the fourth object, made by `new` with tag 42). */
  label: string;
  tag: number;
  /** Index of the host event that created it (−1 for pool objects). */
  created: number;
  /** The object must be live at every event e with created < e < lastUse. */
  lastUse: number;
}

export interface ModelResult {
  /** One line per host call of main's code, then `result …` or `trap …`. */
  trace: string[];
  /** Number of host events (trace lines before the last). */
  events: number;
  objects: ModelObject[];
  /**
   * Non-stack holders of each held object at each host event: [id, count] pairs (in the order
   * table slots, globals, pool handles first name them). Events with the same holders as the
   * event before share its list: read-only.
   */
  heldAt: ReadonlyArray<ReadonlyArray<readonly [ObjectId, number]>>;
  /** Non-stack holders at the end. */
  heldAtEnd: Map<ObjectId, number>;
  /**
   * Objects that frames of continuations left suspended at the end hold in their locals (v44
   * programs): roots until the store drops, so they may survive the final collection.
   */
  onStacksAtEnd?: ReadonlySet<ObjectId>;
  /** Pool handles the host still holds at the end. */
  poolHeld: boolean[];
  trap: string | null;
  /** Statements and loop iterations executed (a cost measure; see `MODEL_STEP_LIMIT`). */
  steps: number;
  /** True when the program would run longer than the step limit (the generator resamples). */
  tooLong: boolean;
}

/** Statements plus loop iterations a program may execute; above it the generator resamples. */
export const MODEL_STEP_LIMIT = 30_000;

class Trap {
  constructor(readonly code: string) {}
}
class TooLong {}

type Val = ObjectId | null;

/** What a paused interpreter yields: a suspend's payload, or a player's switch to a partner. */
type Yielded = Val | { switchTo: Cont; arg: Val };
/** What it receives: a resume's argument, or (switched back to) a value and a partner. */
type Received = Val | { value: Val; partner: Cont };

/** A continuation of the model: its task (or player), state, paused interpreter and its stack's frames. */
interface Cont {
  task: number;
  /** A player (started by cont.bind with its depth bound; switches instead of suspending). */
  player?: true;
  /** The values bound by cont.bind (a player's depth). */
  depth?: number;
  state: 'fresh' | 'running' | 'suspended' | 'returned';
  run?: Generator<Yielded, Val, Received>;
  /** The externref locals of each frame on its stack, oldest first. */
  frames: Val[][];
}

/** A struct $box and an array $vec of the model: their externref fields (each holds a count). */
interface Box {
  f: Val;
}
interface Vec {
  a: Val[];
}

/** A frame's locals: externrefs, continuations (programs with tasks), boxes and arrays (GC objects). */
interface Frame {
  refs: Val[];
  conts: Array<Cont | null>;
  /** Main's player-continuation locals; a player's partner is `partner`. */
  qs: Array<Cont | null>;
  partner: Cont | null;
  boxes: Array<Box | null>;
  vecs: Array<Vec | null>;
}

/** The box (array) in a local; a null one traps, as struct.get/set and array.get/set do. */
function box(frame: Frame, b: number): Box {
  const x = frame.boxes[b];
  if (!x) throw new Trap('NullReference');
  return x;
}
function vec(frame: Frame, v: number): Vec {
  const x = frame.vecs[v];
  if (!x) throw new Trap('NullReference');
  return x;
}

/** Runs the model of `p`. Never throws for a valid program. */
export function runModel(p: Program, stepLimit = MODEL_STEP_LIMIT): ModelResult {
  const trace: string[] = [];
  const objects: ModelObject[] = [];
  const heldAt: Array<ReadonlyArray<readonly [ObjectId, number]>> = [];
  const table: Val[] = new Array(p.tableMin).fill(null);
  const globals: Val[] = new Array(p.globals).fill(null);
  const pool: boolean[] = new Array(p.pool).fill(true);
  let steps = 0;

  for (let i = 0; i < p.pool; i++) objects.push({ id: i, label: `pool${i}`, tag: -1, created: -1, lastUse: -1 });

  const label = (v: Val): string => (v === null ? 'null' : objects[v].label);
  /** The held objects in the order table slots, then globals, then pool handles first name them, and their counts by id (0 when not held). */
  const held: ObjectId[] = [];
  const countOf: number[] = [];
  const hold = (v: ObjectId): void => {
    const n = countOf[v] ?? 0;
    if (n === 0) held.push(v);
    countOf[v] = n + 1;
  };
  /** Runs `read` on the current non-stack holders (`held`, `countOf`), then clears them. */
  const withHolders = <T>(read: () => T): T => {
    held.length = 0;
    for (const v of table) if (v !== null) hold(v);
    for (const v of globals) if (v !== null) hold(v);
    for (let i = 0; i < pool.length; i++) if (pool[i]) hold(i);
    const r = read();
    for (const v of held) countOf[v] = 0;
    return r;
  };
  /** The pairs of the last event, shared by the events after it while the holders stay the same (most events change none). */
  let lastHeld: ReadonlyArray<readonly [ObjectId, number]> = [];
  const heldPairs = (): ReadonlyArray<readonly [ObjectId, number]> => {
    let same = lastHeld.length === held.length;
    for (let i = 0; same && i < held.length; i++) same = lastHeld[i][0] === held[i] && lastHeld[i][1] === countOf[held[i]];
    if (!same) lastHeld = held.map((id) => [id, countOf[id]] as const);
    return lastHeld;
  };
  /** A use by compiled code between host events. */
  const use = (v: Val): void => {
    if (v !== null) objects[v].lastUse = Math.max(objects[v].lastUse, trace.length);
  };
  /** A host event; returns its index. Arguments passed to the host are used *at* it. */
  const event = (line: string, args: Val[] = []): number => {
    const e = trace.length;
    heldAt.push(withHolders(heldPairs));
    trace.push(line);
    for (const a of args) if (a !== null) objects[a].lastUse = Math.max(objects[a].lastUse, e + 1);
    return e;
  };
  const step = (n = 1): void => {
    steps += n;
    if (steps > stepLimit) throw new TooLong();
  };

  const ref = (e: RefExpr, frame: Frame): Val => {
    const locals = frame.refs;
    switch (e.k) {
      case 'local': return locals[e.i];
      case 'null': return null;
      case 'table.get':
        if (e.index >= table.length) throw new Trap('TableOutOfBounds');
        return table[e.index];
      case 'global.get': return globals[e.g];
      case 'new': {
        const e0 = event(`new ${e.tag}`);
        const id = objects.length;
        objects.push({ id, label: `#${id}:t${e.tag}`, tag: e.tag, created: e0, lastUse: -1 });
        return id;
      }
      case 'new_temp': throw new Error('internal: new_temp outside on_free');
      case 'pass': {
        const v = ref(e.e, frame);
        event(`pass ${label(v)}`, [v]);
        return v;
      }
      case 'select': {
        const a = ref(e.a, frame);
        const b = ref(e.b, frame);
        const c = i32(e.c, frame);
        return c !== 0 ? a : b;
      }
      case 'box.get': return box(frame, e.b).f;
      case 'vec.get': {
        const v = vec(frame, e.v);
        if (e.i >= v.a.length) throw new Trap('ArrayOutOfBounds');
        return v.a[e.i];
      }
    }
  };

  const i32 = (e: I32Expr, frame: Frame): number => {
    switch (e.k) {
      case 'const': return e.v;
      case 'is_null': return ref(e.e, frame) === null ? 1 : 0;
      case 'table.size': return table.length;
      case 'table.grow': {
        const v = ref(e.e, frame);
        const old = table.length;
        if (old + e.n > p.tableMax) return -1;
        for (let i = 0; i < e.n; i++) table.push(v);
        if (e.n > 0) use(v);
        return old;
      }
    }
  };

  const conts: Cont[] = [];
  /** The extra results of the function that returned last (helpers with several results). */
  let lastExtras: Val[] = [];
  /** The continuation whose stack runs (null: the initial stack). */
  let current: Cont | null = null;

  /**
   * Runs one statement that neither calls nor suspends (every kind but call, tail, suspend and
   * switch); false for those, which `stmt` runs. Most statements take this way, without a
   * generator of their own.
   */
  const plainStmt = (s: Stmt, frame: Frame): boolean => {
    const locals = frame.refs;
    switch (s.k) {
      case 'set':
        locals[s.i] = ref(s.e, frame);
        break;
      case 'table.set': {
        const v = ref(s.e, frame);
        if (s.index >= table.length) throw new Trap('TableOutOfBounds');
        use(v);
        table[s.index] = v;
        break;
      }
      case 'global.set': {
        const v = ref(s.e, frame);
        use(v);
        globals[s.g] = v;
        break;
      }
      case 'table.fill': {
        const v = ref(s.e, frame);
        if (s.start + s.len > table.length) throw new Trap('TableOutOfBounds');
        if (s.len > 0) use(v);
        for (let i = 0; i < s.len; i++) table[s.start + i] = v;
        break;
      }
      case 'print': {
        const v = ref(s.e, frame);
        event(`print ${label(v)}`, [v]);
        break;
      }
      case 'print_i32': {
        const v = i32(s.e, frame);
        event(`print_i32 ${v}`);
        break;
      }
      case 'gc':
        event('gc');
        break;
      case 'release':
        event(`release ${s.pool}`);
        pool[s.pool] = false;
        break;
      case 'churn': {
        step(s.n);
        const src = s.source;
        if ('table' in src && src.table >= table.length) throw new Trap('TableOutOfBounds');
        locals[s.dst] = 'table' in src ? table[src.table] : globals[src.global];
        break;
      }
      case 'trap':
        throw new Trap('UnreachableCodeReached');
      case 'cont.new': {
        const k: Cont = { task: s.task, state: 'fresh', frames: [] };
        conts.push(k);
        frame.conts[s.c] = k;
        break;
      }
      case 'cont.drop':
        frame.conts[s.c] = null;
        break;
      case 'cont.bind': {
        const k: Cont = { task: s.player, player: true, depth: s.depth, state: 'fresh', frames: [] };
        conts.push(k);
        frame.qs[s.q] = k;
        break;
      }
      case 'play': {
        const k = frame.qs[s.q];
        if (k !== null) {
          const arg = ref(s.arg, frame);
          const partner = s.other === null ? null : frame.qs[s.other];
          locals[s.dst] = play(k, arg, partner);
        }
        frame.qs[s.q] = null;
        if (s.other !== null) frame.qs[s.other] = null;
        break;
      }
      case 'box.new': {
        const v = ref(s.e, frame);
        use(v);
        frame.boxes[s.b] = { f: v };
        break;
      }
      case 'box.set': {
        // The value is evaluated before struct.set checks the box.
        const v = ref(s.e, frame);
        const b = box(frame, s.b);
        use(v);
        b.f = v;
        break;
      }
      case 'vec.new': {
        const v = ref(s.e, frame);
        if (s.len > 0) use(v);
        frame.vecs[s.v] = { a: new Array<Val>(s.len).fill(v) };
        break;
      }
      case 'vec.set': {
        const v = ref(s.e, frame);
        const a = vec(frame, s.v);
        if (s.i >= a.a.length) throw new Trap('ArrayOutOfBounds');
        use(v);
        a.a[s.i] = v;
        break;
      }
      case 'resume': {
        const k = frame.conts[s.c];
        if (k === null) break;
        const arg = ref(s.arg, frame);
        const resumer = current;
        current = k;
        let r: IteratorResult<Val, Val>;
        if (k.state === 'fresh') {
          k.state = 'running';
          k.run = call(p.tasks![k.task], [arg], p.taskDepth ?? 0);
          r = k.run.next() as IteratorResult<Val, Val>;
        } else {
          k.state = 'running';
          r = k.run!.next(arg) as IteratorResult<Val, Val>;
        }
        // (A trap thrown inside leaves the continuation running: it is no root any more.)
        current = resumer;
        locals[s.dst] = r.value;
        if (r.done) {
          k.state = 'returned';
          frame.conts[s.c] = null;
        } else k.state = 'suspended';
        break;
      }
      default:
        return false;
    }
    return true;
  };

  /**
   * Runs a call, tail call, suspend or switch; yields a suspend's payload and receives the next
   * resume's argument. Returns `{ value }` when the statement returned from the function (a tail call).
   */
  function* stmt(s: Stmt, frame: Frame, depth: number): Generator<Yielded, { value: Val } | undefined, Received> {
    const locals = frame.refs;
    switch (s.k) {
      case 'call':
        if (depth > 0) {
          const args = s.args.map((a) => ref(a, frame));
          const first = yield* call(p.funcs[s.f], args, depth - 1);
          // The results are set last first, as the local.sets after the call pop them.
          const values = [first, ...lastExtras];
          const dsts = [s.dst, ...(s.more ?? [])];
          for (let j = dsts.length - 1; j >= 0; j--) locals[dsts[j]] = values[j] ?? null;
        }
        break;
      case 'tail':
        if (depth > 0) {
          const args = s.args.map((a) => ref(a, frame));
          // The frame is torn down before the callee runs.
          current?.frames.pop();
          return { value: yield* call(p.funcs[s.f], args, depth - 1) };
        }
        break;
      case 'suspend':
        // A helper suspends only on a task's stack (the program's $on_task flag).
        if (s.guarded && (current === null || current.player)) break;
        locals[s.dst] = (yield ref(s.e, frame)) as Val;
        break;
      case 'switch': {
        const target = frame.partner;
        if (target === null) break;
        const arg = ref(s.arg, frame);
        const back = (yield { switchTo: target, arg }) as { value: Val; partner: Cont };
        locals[s.dst] = back.value;
        frame.partner = back.partner;
        break;
      }
      default:
        throw new Error(`internal: statement ${s.k} is not a call, tail call, suspend or switch`);
    }
  }

  /**
   * main's `play`: resumes player `k` (arg, partner) under (on $sw switch); each switch suspends
   * the switcher and runs its partner with (arg, the switcher), until a player returns.
   */
  const play = (k: Cont, arg: Val, partner: Cont | null): Val => {
    const resumer = current;
    let cur = k;
    let input: { value: Val; partner: Cont | null } = { value: arg, partner };
    for (;;) {
      current = cur;
      let r: IteratorResult<Yielded, Val>;
      if (cur.state === 'fresh') {
        cur.state = 'running';
        cur.run = call(p.players![cur.task], [input.value], cur.depth ?? 0, input.partner);
        r = cur.run.next();
      } else {
        cur.state = 'running';
        r = cur.run!.next(input as Received);
      }
      if (r.done) {
        cur.state = 'returned';
        current = resumer;
        return r.value;
      }
      const req = r.value as { switchTo: Cont; arg: Val };
      cur.state = 'suspended';
      input = { value: req.arg, partner: cur };
      cur = req.switchTo;
    }
  };

  function* call(f: FuncDef, args: Val[], depth: number, partner: Cont | null = null): Generator<Yielded, Val, Received> {
    const frame: Frame = {
      qs: new Array<Cont | null>(f.qs ?? 0).fill(null), partner,
      refs: [...args, ...new Array<Val>(f.locals).fill(null)], conts: new Array<Cont | null>(f.conts ?? 0).fill(null),
      boxes: new Array<Box | null>(f.boxes ?? 0).fill(null), vecs: new Array<Vec | null>(f.vecs ?? 0).fill(null),
    };
    const stack = current;
    stack?.frames.push(frame.refs);
    for (const s of f.body) {
      step();
      if (plainStmt(s, frame)) continue;
      const returned = yield* stmt(s, frame, depth);
      // A tail call returned the callee's result (and popped this frame before it ran).
      if (returned) return returned.value;
    }
    stack?.frames.pop();
    lastExtras = (f.extra ?? []).map((i) => frame.refs[i]);
    return frame.refs[f.result];
  }

  let trap: string | null = null;
  let tooLong = false;
  try {
    const main = call(p.funcs[0], pool.map((_, i) => i), p.depth).next();
    // Tasks run only as continuations, whose resumers handle $yield: main never suspends.
    if (!main.done) throw new Error('internal: main suspended');
    const result = main.value;
    // The host receives the result as a new handle: a use at the end.
    if (result !== null) objects[result].lastUse = Math.max(objects[result].lastUse, trace.length + 1);
    trace.push(`result ${label(result)}`);
  } catch (e) {
    if (e instanceof Trap) {
      trap = e.code;
      trace.push(`trap ${e.code}`);
    } else if (e instanceof TooLong) {
      tooLong = true;
    } else throw e;
  }
  const onStacks = new Set<ObjectId>();
  for (const k of conts) {
    if (k.state !== 'suspended') continue;
    for (const refs of k.frames) for (const v of refs) if (v !== null) onStacks.add(v);
  }
  return {
    trace, events: trace.length - 1, objects, heldAt, heldAtEnd: withHolders(() => new Map(held.map((id) => [id, countOf[id]]))), poolHeld: pool, trap, steps, tooLong,
    ...(p.tasks ? { onStacksAtEnd: onStacks } : {}),
  };
}

/** Model results of programs the generator already ran the model on (programs are not edited
 * after generation; the shrinker works on copies). */
const known = new WeakMap<Program, ModelResult>();

export function rememberModel(p: Program, m: ModelResult): void {
  known.set(p, m);
}

/** `runModel(p)`, reusing the generator's run when there was one. */
export function modelOf(p: Program): ModelResult {
  return known.get(p) ?? runModel(p);
}
