/**
 * The fuzzer's program representation: a small structured language whose every construct is
 * one or a few Wasm instructions of the compiler's subset. The generator builds it, the
 * reference model interprets it, the shrinker edits it and `printWat` turns it into the text
 * the compiler reads. Keeping the program structured (instead of raw instruction lists) is
 * what makes every generated and every shrunk program valid by construction.
 *
 * Shape of every program:
 * - the host imports of `HOST_IMPORTS`, always in that order (the harness defines them once
 *   per store and reuses them for every program);
 * - one externref table `$t` (initial size, maximum), `globals` mutable externref globals, and a
 *   funcref table `$ft` holding every function for `call_indirect`;
 * - functions 0..n-1 of type (externref × params, i32 depth) → externref. Function 0 is the
 *   export `main`; the host calls it with the pool objects and `depth`. A call happens only
 *   when the caller's depth is positive and passes depth − 1, so recursion is bounded;
 * - the export `on_free` (no params, no results), which destructors of "re-entrant" objects
 *   call: it only reads, allocates temporaries and collects, so whenever it runs it cannot
 *   change what the model predicts.
 *
 * Programs that switch stacks (wasmtime v44's stack switching; `tasks` present) add one
 * function type `$task` (externref) → externref, the continuation type `$k` (cont $task), the
 * tag `$yield` of type `$task` (a suspend passes an externref and receives one when resumed)
 * and task functions `$task0…` of type `$task` after on_free, which `cont.new` starts. Every
 * function may have continuation locals `$c0…` of type (ref null $k). A task starts with
 * `$depth` = `taskDepth` (its calls decrement it, as main's do). The i32 global `$on_task`
 * (after the externref globals) says whether a task's stack runs: a task sets it on entry and
 * after each of its suspends and resumes, main clears it after each of its resumes, and a
 * helper suspends only while it is set. Programs with players (`players` present) also have the
 * rec group `$pf` (externref, (ref null $pk)) → externref / `$pk` (cont $pf), `$pf0` (i32,
 * externref, (ref null $pk)) → externref / `$pk0` (cont $pf0), the tag `$sw` ([] → [externref])
 * and player functions `$player0…` of type `$pf0` after the tasks: main binds a player's depth
 * with `cont.bind $pk0 $pk` into its locals `$q0…`, resumes one with `(on $sw switch)` and the
 * other as its partner, and players `switch $pk $sw` to their partner `$p0`.
 *
 * Programs with GC objects (the GC proposal as wasmtime v31 compiles it; `gcObjects`) add the
 * struct type `$box` (one mutable externref field) and the array type `$vec` (mutable
 * externrefs), and functions may have box locals `$b0…` (ref null $box) and array locals
 * `$v0…` (ref null $vec), each set to a new object at the function's start: the objects hold
 * counts on the externrefs in their fields and give them back when the collector frees them.
 */

/** Host functions every program imports from module "host", in this order. */
export const HOST_IMPORTS = [
  { name: 'gc', params: [], results: [] },
  { name: 'new', params: ['i32'], results: ['externref'] },
  { name: 'new_temp', params: [], results: ['externref'] },
  { name: 'print', params: ['externref'], results: [] },
  { name: 'print_i32', params: ['i32'], results: [] },
  { name: 'release', params: ['i32'], results: [] },
  { name: 'pass', params: ['externref'], results: ['externref'] },
] as const;

export type HostImportName = (typeof HOST_IMPORTS)[number]['name'];

/** A `new` whose tag satisfies this has a destructor that re-enters Wasm (calls `on_free`). */
export function isReentrantTag(tag: number): boolean {
  return tag % 4 === 3;
}

export type RefExpr =
  | { k: 'local'; i: number }
  | { k: 'null' }
  | { k: 'table.get'; index: number }
  | { k: 'global.get'; g: number }
  | { k: 'new'; tag: number }
  | { k: 'new_temp' }
  | { k: 'pass'; e: RefExpr }
  | { k: 'select'; a: RefExpr; b: RefExpr; c: I32Expr }
  /** struct.get $box 0 of box local `b` (GC objects). */
  | { k: 'box.get'; b: number }
  /** array.get $vec of array local `v` at `i` (GC objects). */
  | { k: 'vec.get'; v: number; i: number };

export type I32Expr =
  | { k: 'const'; v: number }
  | { k: 'is_null'; e: RefExpr }
  | { k: 'table.size' }
  | { k: 'table.grow'; e: RefExpr; n: number };

export type Stmt =
  | { k: 'set'; i: number; e: RefExpr }
  | { k: 'table.set'; index: number; e: RefExpr }
  | { k: 'global.set'; g: number; e: RefExpr }
  | { k: 'table.fill'; start: number; e: RefExpr; len: number }
  | { k: 'print'; e: RefExpr }
  | { k: 'print_i32'; e: I32Expr }
  | { k: 'gc' }
  | { k: 'release'; pool: number }
  /**
   * local `dst` = f(args…, depth − 1), only when depth > 0; `indirect` goes through `$ft`. A
   * callee with several results (`FuncDef.extra`) sets `more` too, one local per extra result.
   */
  | { k: 'call'; dst: number; f: number; args: RefExpr[]; indirect: boolean; more?: number[] }
  /** `n` times: local `dst` = table.get `index` (or global.get `g`): fills the activations table. */
  | { k: 'churn'; dst: number; n: number; source: { table: number } | { global: number } }
  | { k: 'trap' }
  /**
   * Only when depth > 0: return f(args…, depth − 1) as a tail call (`return_call`, or
   * `return_call_indirect` through `$ft`): the frame is gone before the callee runs.
   */
  | { k: 'tail'; f: number; args: RefExpr[]; indirect: boolean }
  // ---- stack switching (programs with `tasks`) ----
  /** continuation local `c` = cont.new of task `task`. */
  | { k: 'cont.new'; c: number; task: number }
  /**
   * Unless continuation local `c` is null: resume it with `arg` under (on $yield $h). Returned:
   * local `dst` = its result, `c` = null; suspended: `dst` = the payload, `c` = the continuation.
   */
  | { k: 'resume'; c: number; arg: RefExpr; dst: number }
  /**
   * local `dst` = suspend $yield `e` (the value the next resume passes). In a task always; in a
   * helper (`guarded`) only while it runs on a task's stack (the global `$on_task` is set).
   */
  | { k: 'suspend'; e: RefExpr; dst: number; guarded?: true }
  /** continuation local `c` = null: a continuation dropped, finished or not. */
  | { k: 'cont.drop'; c: number }
  /**
   * Player-continuation local `q` of main = cont.bind $pk0 $pk (i32 `depth`) (cont.new $pk0
   * $player`player`): the player's depth bound, its externref and partner left for the resume.
   */
  | { k: 'cont.bind'; q: number; player: number; depth: number }
  /**
   * Main, unless player local `q` is null: local `dst` = resume $pk (on $sw switch) of it with
   * `arg` and the player local `other` (or null) as its partner; both locals become null (the
   * players own them now). Returns when some player of the round returns.
   */
  | { k: 'play'; q: number; other: number | null; arg: RefExpr; dst: number }
  /**
   * A player, unless its partner `$p0` is null: switch $pk $sw to the partner with `arg`;
   * switched back to, local `dst` = the value and `$p0` = the continuation that switched back.
   */
  | { k: 'switch'; arg: RefExpr; dst: number }
  // ---- GC objects (programs with `gcObjects`) ----
  /** box local `b` = struct.new $box `e`. */
  | { k: 'box.new'; b: number; e: RefExpr }
  /** struct.set $box 0 (box local `b`) `e` (a null box traps). */
  | { k: 'box.set'; b: number; e: RefExpr }
  /** array local `v` = array.new $vec `e` `len`. */
  | { k: 'vec.new'; v: number; e: RefExpr; len: number }
  /** array.set $vec (array local `v`) `i` `e` (out of bounds or null traps). */
  | { k: 'vec.set'; v: number; i: number; e: RefExpr };

export type StmtKind = Stmt['k'];

export interface FuncDef {
  /** Externref parameters (the i32 depth parameter follows them). */
  params: number;
  /** Extra externref locals. */
  locals: number;
  body: Stmt[];
  /** The local returned at the end. */
  result: number;
  /** Locals returned after it: a helper with several externref results (`--multi-results`). */
  extra?: number[];
  /** Continuation locals `$c0…` (programs that switch stacks). */
  conts?: number;
  /** Player-continuation locals `$q0…` (main, in programs with players). */
  qs?: number;
  /** Box locals `$b0…` and array locals `$v0…` (programs with GC objects). */
  boxes?: number;
  vecs?: number;
}

export interface Program {
  tableMin: number;
  tableMax: number;
  globals: number;
  /** Objects the host creates, holds and passes to main (main's params). */
  pool: number;
  /** main's depth argument. */
  depth: number;
  funcs: FuncDef[];
  /** on_free's body: reads, temporaries and collections only (no prints, no traps). */
  onFree: Stmt[];
  /** on_free's externref locals. */
  onFreeLocals: number;
  /**
   * Task functions (one externref parameter, the resume argument; `params` is 1) that
   * `cont.new` starts: present exactly when the program switches stacks (profile v44).
   */
  tasks?: FuncDef[];
  /** The `$depth` every task starts with. */
  taskDepth?: number;
  /**
   * Player functions (type $pf0: i32 depth, externref, (ref null $pk) partner → externref) that
   * main starts with `cont.bind` and `play`, and that `switch` to each other symmetrically:
   * present only in programs that switch stacks (each has `params` 1, the externref).
   */
  players?: FuncDef[];
  /** The program has the types `$box` and `$vec` (profile v31). */
  gcObjects?: true;
}

/** Whether `p` uses stack switching (runs only in the v44 profile). */
export function switchesStacks(p: Program): boolean {
  return p.tasks !== undefined;
}

/** Every function body with its function: the regular ones, then the tasks (on_free aside). */
export function allFuncs(p: Program): FuncDef[] {
  return [...p.funcs, ...(p.tasks ?? []), ...(p.players ?? [])];
}

/** Number of externref locals of a function, parameters included. */
export function refLocals(f: FuncDef): number {
  return f.params + f.locals;
}

/** Statements of a program (all functions and on_free), for statistics and shrinking. */
export function statementCount(p: Program): number {
  return allFuncs(p).reduce((n, f) => n + f.body.length, 0) + p.onFree.length;
}

/** How often each statement kind occurs (coverage per op). */
export function opCounts(p: Program, into: Map<string, number> = new Map()): Map<string, number> {
  const add = (k: string): void => {
    into.set(k, (into.get(k) ?? 0) + 1);
  };
  const ref = (e: RefExpr): void => {
    if (e.k === 'local' || e.k === 'null') return;
    add(e.k === 'box.get' ? 'struct.get' : e.k === 'vec.get' ? 'array.get' : e.k);
    if (e.k === 'pass') ref(e.e);
    if (e.k === 'select') {
      ref(e.a);
      ref(e.b);
      i32(e.c);
    }
  };
  const i32 = (e: I32Expr): void => {
    if (e.k === 'is_null') { add('ref.is_null'); ref(e.e); }
    if (e.k === 'table.size') add('table.size');
    if (e.k === 'table.grow') { add('table.grow'); ref(e.e); }
  };
  const stmt = (s: Stmt): void => {
    switch (s.k) {
      case 'set': ref(s.e); break;
      case 'table.set': add('table.set'); ref(s.e); break;
      case 'global.set': add('global.set'); ref(s.e); break;
      case 'table.fill': add('table.fill'); ref(s.e); break;
      case 'print': add('print'); ref(s.e); break;
      case 'print_i32': add('print_i32'); i32(s.e); break;
      case 'call': add(s.indirect ? 'call_indirect' : 'call'); s.args.forEach(ref); break;
      case 'tail': add(s.indirect ? 'return_call_indirect' : 'return_call'); s.args.forEach(ref); break;
      case 'resume': add('resume'); ref(s.arg); break;
      case 'suspend': add('suspend'); ref(s.e); break;
      case 'play': add('resume'); ref(s.arg); break;
      case 'switch': add('switch'); ref(s.arg); break;
      case 'box.new': add('struct.new'); ref(s.e); break;
      case 'box.set': add('struct.set'); ref(s.e); break;
      case 'vec.new': add('array.new'); ref(s.e); break;
      case 'vec.set': add('array.set'); ref(s.e); break;
      default: add(s.k);
    }
  };
  for (const f of allFuncs(p)) f.body.forEach(stmt);
  p.onFree.forEach(stmt);
  return into;
}

// ---- WAT ---------------------------------------------------------------------------------------

const IMPORT_INDEX = new Map<string, number>(HOST_IMPORTS.map((h, i) => [h.name, i]));
/** Function index of defined function `f` (the host imports come first). */
export function funcIndex(f: number): number {
  return HOST_IMPORTS.length + f;
}

/** The signature of a function with `params` externrefs (and the depth) and `results` externref results. */
function typeName(params: number, results = 1): string {
  return results === 1 ? `$sig${params}` : `$sig${params}r${results}`;
}

/** Number of results of helper `f`. */
export function resultCount(f: FuncDef): number {
  return 1 + (f.extra?.length ?? 0);
}

/** The program as WebAssembly text (what the compiler reads, and what a failure report shows). */
export function printWat(p: Program): string {
  const out: string[] = ['(module'];
  const arities = [...new Set(p.funcs.map((f) => `${f.params}:${resultCount(f)}`))].map((k) => k.split(':').map(Number)).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (const [n, r] of arities) {
    out.push(`  (type ${typeName(n, r)} (func (param${' externref'.repeat(n)} i32) (result${' externref'.repeat(r)})))`);
  }
  if (p.gcObjects) {
    out.push('  (type $box (struct (field (mut externref))))');
    out.push('  (type $vec (array (mut externref)))');
  }
  const tasks = p.tasks;
  if (tasks) {
    out.push('  (type $task (func (param externref) (result externref)))');
    out.push('  (type $k (cont $task))');
  }
  const players = p.players;
  if (players) {
    out.push('  (rec (type $pf (func (param externref (ref null $pk)) (result externref))) (type $pk (cont $pf)))');
    out.push('  (type $pf0 (func (param i32 externref (ref null $pk)) (result externref)))');
    out.push('  (type $pk0 (cont $pf0))');
  }
  for (const h of HOST_IMPORTS) {
    const params = h.params.length ? ` (param ${h.params.join(' ')})` : '';
    const results = h.results.length ? ` (result ${h.results.join(' ')})` : '';
    out.push(`  (import "host" "${h.name}" (func $${h.name}${params}${results}))`);
  }
  if (tasks) out.push('  (tag $yield (type $task))');
  if (players) out.push('  (tag $sw (result externref))');
  out.push(`  (table $t ${p.tableMin} ${p.tableMax} externref)`);
  out.push(`  (table $ft ${p.funcs.length} ${p.funcs.length} funcref)`);
  out.push(`  (elem (table $ft) (i32.const 0) func ${p.funcs.map((_, i) => `$f${i}`).join(' ')})`);
  const declared = [...(tasks ?? []).map((_, i) => `$task${i}`), ...(players ?? []).map((_, i) => `$player${i}`)];
  if (declared.length) out.push(`  (elem declare func ${declared.join(' ')})`);
  for (let g = 0; g < p.globals; g++) out.push(`  (global $g${g} (mut externref) (ref.null extern))`);
  if (tasks) out.push('  (global $on_task (mut i32) (i32.const 0))');
  const contLocals = (f: FuncDef): string => [
    ...Array.from({ length: f.conts ?? 0 }, (_, j) => ` (local $c${j} (ref null $k))`),
    ...Array.from({ length: f.qs ?? 0 }, (_, j) => ` (local $q${j} (ref null $pk))`),
    ...Array.from({ length: f.boxes ?? 0 }, (_, j) => ` (local $b${j} (ref null $box))`),
    ...Array.from({ length: f.vecs ?? 0 }, (_, j) => ` (local $v${j} (ref null $vec))`),
  ].join('');
  p.funcs.forEach((f, i) => {
    const exp = i === 0 ? ' (export "main")' : '';
    const params = Array.from({ length: f.params }, (_, j) => ` (param $r${j} externref)`).join('');
    out.push(`  (func $f${i}${exp} (type ${typeName(f.params, resultCount(f))})${params} (param $depth i32) (result${' externref'.repeat(resultCount(f))})`);
    const locals = Array.from({ length: f.locals }, (_, j) => ` (local $r${f.params + j} externref)`).join('');
    out.push(`   ${locals} (local $n i32)${contLocals(f)}`);
    for (const s of f.body) printStmt(p, s, '    ', out);
    out.push(`    ${[f.result, ...(f.extra ?? [])].map((r) => `(local.get $r${r})`).join(' ')})`);
  });
  out.push('  (func $on_free (export "on_free")');
  out.push(`   ${Array.from({ length: p.onFreeLocals }, (_, j) => ` (local $r${j} externref)`).join('')} (local $n i32) (local $depth i32)`);
  for (const s of p.onFree) printStmt(p, s, '    ', out);
  out.push('  )');
  tasks?.forEach((f, i) => {
    out.push(`  (func $task${i} (type $task) (param $r0 externref) (result externref)`);
    const locals = Array.from({ length: f.locals }, (_, j) => ` (local $r${1 + j} externref)`).join('');
    out.push(`   ${locals} (local $depth i32) (local $n i32)${contLocals(f)}`);
    out.push(`    (local.set $depth (i32.const ${p.taskDepth ?? 0}))`);
    out.push('    (global.set $on_task (i32.const 1))');
    for (const s of f.body) printStmt(p, s, '    ', out, true);
    out.push(`    (local.get $r${f.result}))`);
  });
  players?.forEach((f, i) => {
    out.push(`  (func $player${i} (type $pf0) (param $depth i32) (param $r0 externref) (param $p0 (ref null $pk)) (result externref)`);
    const locals = Array.from({ length: f.locals }, (_, j) => ` (local $r${1 + j} externref)`).join('');
    out.push(`   ${locals} (local $n i32)`);
    for (const s of f.body) printStmt(p, s, '    ', out);
    out.push(`    (local.get $r${f.result}))`);
  });
  out.push(')');
  return out.join('\n') + '\n';
}

function ref(e: RefExpr): string {
  switch (e.k) {
    case 'local': return `(local.get $r${e.i})`;
    case 'null': return '(ref.null extern)';
    case 'table.get': return `(table.get $t (i32.const ${e.index}))`;
    case 'global.get': return `(global.get $g${e.g})`;
    case 'new': return `(call $new (i32.const ${e.tag}))`;
    case 'new_temp': return '(call $new_temp)';
    case 'pass': return `(call $pass ${ref(e.e)})`;
    case 'select': return `(select (result externref) ${ref(e.a)} ${ref(e.b)} ${i32(e.c)})`;
    case 'box.get': return `(struct.get $box 0 (local.get $b${e.b}))`;
    case 'vec.get': return `(array.get $vec (local.get $v${e.v}) (i32.const ${e.i}))`;
  }
}

function i32(e: I32Expr): string {
  switch (e.k) {
    case 'const': return `(i32.const ${e.v})`;
    case 'is_null': return `(ref.is_null ${ref(e.e)})`;
    case 'table.size': return '(table.size $t)';
    case 'table.grow': return `(table.grow $t ${ref(e.e)} (i32.const ${e.n}))`;
  }
}

/** `(call $f args… depth−1)` or its `call_indirect` form; `prefix` 'return_' makes it a tail call. */
function callText(p: Program, s: { f: number; args: RefExpr[]; indirect: boolean }, prefix: '' | 'return_'): string {
  const args = s.args.map(ref).join(' ');
  const depth = '(i32.sub (local.get $depth) (i32.const 1))';
  const call = s.indirect
    ? `(${prefix}call_indirect $ft (type ${typeName(p.funcs[s.f].params, resultCount(p.funcs[s.f]))}) ${args} ${depth} (i32.const ${s.f}))`
    : `(${prefix}call $f${s.f} ${args} ${depth})`;
  return call.replace(/  +/g, ' ');
}

/** Prints `s`; `inTask`: the function is a task (what `$on_task` goes back to after a switch). */
function printStmt(p: Program, s: Stmt, ind: string, out: string[], inTask = false): void {
  switch (s.k) {
    case 'set': out.push(`${ind}(local.set $r${s.i} ${ref(s.e)})`); break;
    case 'table.set': out.push(`${ind}(table.set $t (i32.const ${s.index}) ${ref(s.e)})`); break;
    case 'global.set': out.push(`${ind}(global.set $g${s.g} ${ref(s.e)})`); break;
    case 'table.fill': out.push(`${ind}(table.fill $t (i32.const ${s.start}) ${ref(s.e)} (i32.const ${s.len}))`); break;
    case 'print': out.push(`${ind}(call $print ${ref(s.e)})`); break;
    case 'print_i32': out.push(`${ind}(call $print_i32 ${i32(s.e)})`); break;
    case 'gc': out.push(`${ind}(call $gc)`); break;
    case 'release': out.push(`${ind}(call $release (i32.const ${s.pool}))`); break;
    case 'trap': out.push(`${ind}(unreachable)`); break;
    case 'call':
      out.push(`${ind}(if (i32.gt_s (local.get $depth) (i32.const 0))`);
      // Several results: the call leaves them in order, the last set first.
      if (s.more?.length) out.push(`${ind}  (then ${callText(p, s, '')} ${[...s.more].reverse().map((d) => `(local.set $r${d})`).join(' ')} (local.set $r${s.dst})))`);
      else out.push(`${ind}  (then (local.set $r${s.dst} ${callText(p, s, '')})))`);
      break;
    case 'tail':
      out.push(`${ind}(if (i32.gt_s (local.get $depth) (i32.const 0))`);
      out.push(`${ind}  (then ${callText(p, s, 'return_')}))`);
      break;
    case 'churn': {
      const read = 'table' in s.source ? `(table.get $t (i32.const ${s.source.table}))` : `(global.get $g${s.source.global})`;
      out.push(`${ind}(local.set $n (i32.const ${s.n}))`);
      out.push(`${ind}(loop $churn`);
      out.push(`${ind}  (local.set $r${s.dst} ${read})`);
      out.push(`${ind}  (br_if $churn (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))`);
      break;
    }
    case 'cont.new': out.push(`${ind}(local.set $c${s.c} (cont.new $k (ref.func $task${s.task})))`); break;
    case 'cont.drop': out.push(`${ind}(local.set $c${s.c} (ref.null $k))`); break;
    case 'suspend': {
      const body = `(local.set $r${s.dst} (suspend $yield ${ref(s.e)})) (global.set $on_task (i32.const 1))`;
      out.push(s.guarded ? `${ind}(if (global.get $on_task) (then ${body}))` : `${ind}${body}`);
      break;
    }
    case 'cont.bind': out.push(`${ind}(local.set $q${s.q} (cont.bind $pk0 $pk (i32.const ${s.depth}) (cont.new $pk0 (ref.func $player${s.player}))))`); break;
    case 'play':
      out.push(`${ind}(if (i32.eqz (ref.is_null (local.get $q${s.q})))`);
      out.push(`${ind}  (then (local.set $r${s.dst} (resume $pk (on $sw switch) ${ref(s.arg)} ${s.other === null ? '(ref.null $pk)' : `(local.get $q${s.other})`} (local.get $q${s.q})))))`);
      out.push(`${ind}(local.set $q${s.q} (ref.null $pk))`);
      if (s.other !== null) out.push(`${ind}(local.set $q${s.other} (ref.null $pk))`);
      out.push(`${ind}(global.set $on_task (i32.const 0))`);
      break;
    case 'switch':
      out.push(`${ind}(if (i32.eqz (ref.is_null (local.get $p0)))`);
      out.push(`${ind}  (then (switch $pk $sw ${ref(s.arg)} (local.get $p0)) (local.set $p0) (local.set $r${s.dst})))`);
      break;
    case 'box.new': out.push(`${ind}(local.set $b${s.b} (struct.new $box ${ref(s.e)}))`); break;
    case 'box.set': out.push(`${ind}(struct.set $box 0 (local.get $b${s.b}) ${ref(s.e)})`); break;
    case 'vec.new': out.push(`${ind}(local.set $v${s.v} (array.new $vec ${ref(s.e)} (i32.const ${s.len})))`); break;
    case 'vec.set': out.push(`${ind}(array.set $vec (local.get $v${s.v}) (i32.const ${s.i}) ${ref(s.e)})`); break;
    case 'resume':
      out.push(`${ind}(if (i32.eqz (ref.is_null (local.get $c${s.c})))`);
      out.push(`${ind}  (then`);
      out.push(`${ind}    (block $done`);
      out.push(`${ind}      (block $on_yield (result externref (ref $k))`);
      out.push(`${ind}        (local.set $r${s.dst} (resume $k (on $yield $on_yield) ${ref(s.arg)} (local.get $c${s.c})))`);
      out.push(`${ind}        (local.set $c${s.c} (ref.null $k))`);
      out.push(`${ind}        (br $done))`);
      out.push(`${ind}      (local.set $c${s.c})`);
      out.push(`${ind}      (local.set $r${s.dst}))))`);
      out.push(`${ind}(global.set $on_task (i32.const ${inTask ? 1 : 0}))`);
      break;
  }
}

/** Silences "unused" for IMPORT_INDEX consumers that only need names. */
export function hostImportIndex(name: HostImportName): number {
  return IMPORT_INDEX.get(name)!;
}
