/**
 * Shrinking: reduces a failing program to a small one that still fails the same way (same
 * failure kind, arch, walker and mutant). Greedy passes, repeated until none helps or the
 * attempt budget is spent:
 * 1. drop statements (halves, quarters, … then one at a time) of every function, task and on_free;
 * 2. drop helper functions (calls to them go too; later functions are renumbered);
 * 3. lower main's depth;
 * 4. simplify expressions (a select or pass becomes an operand, anything becomes null) and
 *    statements (a call becomes a plain local.set of its first argument);
 * 5. shrink constants (loop counts, table indices and sizes, tags, grow amounts).
 * Every candidate is a valid program by construction (the passes only remove or simplify),
 * and candidates whose model would run too long are skipped.
 */
import type { FuncDef, I32Expr, Program, RefExpr, Stmt } from './program.ts';
import { statementCount } from './program.ts';
import { runModel } from './model.ts';

export interface ShrinkOptions {
  /** Candidate programs to try at most. Default 400. */
  maxAttempts?: number;
}

export interface ShrinkResult {
  program: Program;
  attempts: number;
  /** Statements before and after. */
  before: number;
  after: number;
}

function clone(p: Program): Program {
  return structuredClone(p);
}

/** Reduces `program` while `stillFails(candidate)` holds. */
export async function shrinkProgram(program: Program, stillFails: (p: Program) => Promise<boolean>, options: ShrinkOptions = {}): Promise<ShrinkResult> {
  const maxAttempts = options.maxAttempts ?? 400;
  let best = clone(program);
  let attempts = 0;
  const tryCandidate = async (c: Program): Promise<boolean> => {
    if (attempts >= maxAttempts) return false;
    if (runModel(c).tooLong) return false;
    attempts++;
    if (await stillFails(c)) {
      best = c;
      return true;
    }
    return false;
  };

  for (let round = 0; round < 8 && attempts < maxAttempts; round++) {
    let progress = false;
    // 1. statements, in chunks
    for (const target of bodies(best)) {
      let size = Math.max(1, Math.floor(target.get(best).length / 2));
      for (;;) {
        let i = 0;
        while (i < target.get(best).length) {
          const c = clone(best);
          target.get(c).splice(i, size);
          if (await tryCandidate(c)) progress = true;
          else i += size;
        }
        if (size === 1) break;
        size = Math.max(1, Math.floor(size / 2));
      }
    }
    // 2. helper functions
    for (let f = best.funcs.length - 1; f >= 1; f--) {
      if (f < best.funcs.length && (await tryCandidate(removeFunction(best, f)))) progress = true;
    }
    // 3. depth
    while (best.depth > 0 && (await tryCandidate({ ...clone(best), depth: best.depth - 1 }))) progress = true;
    // 4 and 5. expressions, statements and constants, one site at a time
    for (const target of bodies(best)) {
      for (let i = 0; i < target.get(best).length; i++) {
        for (const variant of simplerStmts(target.get(best)[i])) {
          const c = clone(best);
          target.get(c)[i] = variant;
          if (await tryCandidate(c)) {
            progress = true;
            break;
          }
        }
      }
    }
    if (best.tableMax > best.tableMin && (await tryCandidate({ ...clone(best), tableMax: best.tableMin }))) progress = true;
    if (!progress) break;
  }
  return { program: best, attempts, before: statementCount(program), after: statementCount(best) };
}

interface BodyRef {
  get(p: Program): Stmt[];
}

function bodies(p: Program): BodyRef[] {
  return [
    ...p.funcs.map((_, f) => ({ get: (q: Program) => (q.funcs[f]?.body ?? []) })),
    ...(p.tasks ?? []).map((_, t) => ({ get: (q: Program) => (q.tasks?.[t]?.body ?? []) })),
    ...(p.players ?? []).map((_, t) => ({ get: (q: Program) => (q.players?.[t]?.body ?? []) })),
    { get: (q: Program) => q.onFree },
  ];
}

function removeFunction(p: Program, f: number): Program {
  const c = clone(p);
  c.funcs.splice(f, 1);
  const calls = (s: Stmt): s is Extract<Stmt, { k: 'call' | 'tail' }> => s.k === 'call' || s.k === 'tail';
  const fix = (body: Stmt[]): Stmt[] => body.filter((s) => !(calls(s) && s.f === f)).map((s) => (calls(s) && s.f > f ? { ...s, f: s.f - 1 } : s));
  [...c.funcs, ...(c.tasks ?? []), ...(c.players ?? [])].forEach((fn: FuncDef) => {
    fn.body = fix(fn.body);
  });
  return c;
}

function simplerRefs(e: RefExpr): RefExpr[] {
  const out: RefExpr[] = [];
  if (e.k === 'pass') out.push(e.e);
  if (e.k === 'select') out.push(e.a, e.b);
  if (e.k === 'table.get' && e.index > 0) out.push({ ...e, index: 0 });
  if (e.k === 'new' && e.tag > 3) out.push({ ...e, tag: e.tag % 4 });
  if (e.k !== 'null') out.push({ k: 'null' });
  return out;
}

function simplerI32(e: I32Expr): I32Expr[] {
  if (e.k === 'const') return [];
  const out: I32Expr[] = [];
  if (e.k === 'table.grow' && e.n > 0) out.push({ ...e, n: 0 });
  out.push({ k: 'const', v: 0 }, { k: 'const', v: 1 });
  return out;
}

/** A call with one argument simplified, for each argument and each simpler form of it. */
function simplerArgs<S extends { args: RefExpr[] }>(s: S): S[] {
  const out: S[] = [];
  s.args.forEach((a, j) => {
    for (const r of simplerRefs(a)) out.push({ ...s, args: s.args.map((x, k) => (k === j ? r : x)) });
  });
  return out;
}

function simplerStmts(s: Stmt): Stmt[] {
  switch (s.k) {
    case 'set':
    case 'table.set':
    case 'global.set':
    case 'print': {
      const out: Stmt[] = simplerRefs(s.e).map((e) => ({ ...s, e }));
      if ((s.k === 'table.set') && s.index > 0) out.push({ ...s, index: 0 });
      return out;
    }
    case 'table.fill': {
      const out: Stmt[] = simplerRefs(s.e).map((e) => ({ ...s, e }));
      if (s.len > 1) out.push({ ...s, len: 1 });
      if (s.start > 0) out.push({ ...s, start: 0 });
      return out;
    }
    case 'print_i32': return simplerI32(s.e).map((e) => ({ ...s, e }));
    case 'call': {
      const out: Stmt[] = [];
      if (s.indirect) out.push({ ...s, indirect: false });
      out.push({ k: 'set', i: s.dst, e: s.args[0] ?? { k: 'null' } });
      return [...out, ...simplerArgs(s)];
    }
    case 'tail': return [...(s.indirect ? [{ ...s, indirect: false }] : []), ...simplerArgs(s)];
    case 'box.new':
    case 'box.set':
    case 'vec.new':
    case 'vec.set': return simplerRefs(s.e).map((e) => ({ ...s, e }));
    case 'resume': return simplerRefs(s.arg).map((arg) => ({ ...s, arg }));
    case 'suspend': return simplerRefs(s.e).map((e) => ({ ...s, e }));
    case 'play':
    case 'switch': return simplerRefs(s.arg).map((arg) => ({ ...s, arg }));
    case 'churn': {
      const out: Stmt[] = [];
      if (s.n > 520) out.push({ ...s, n: 520 });
      if (s.n > 1) out.push({ ...s, n: Math.floor(s.n / 2) }, { ...s, n: 1 });
      return out;
    }
    default: return [];
  }
}
