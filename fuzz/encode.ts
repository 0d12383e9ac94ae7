/**
 * The program as a Wasm binary, written directly (the same module `printWat` describes, so
 * the harness need not run the WAT parser for every program). Only the encodings the
 * generator's constructs need; see the spec's binary format chapter for each opcode.
 */
import { HOST_IMPORTS, resultCount, type FuncDef, type Program, type RefExpr, type I32Expr, type Stmt } from './program.ts';

const EXTERNREF = 0x6f;
/** (ref null $t) and (ref $t), followed by the type index. */
const REF_NULL = 0x63;
const REF = 0x64;
const FUNCREF = 0x70;
const I32 = 0x7f;

const UTF8 = new TextEncoder();
/** Names' UTF-8 bytes, by name. */
const NAME_BYTES = new Map<string, number[]>();

class Bytes {
  readonly b: number[] = [];
  byte(...x: number[]): this {
    this.b.push(...x);
    return this;
  }
  u32(v: number): this {
    do {
      let byte = v & 0x7f;
      v >>>= 7;
      if (v !== 0) byte |= 0x80;
      this.b.push(byte);
    } while (v !== 0);
    return this;
  }
  s32(v: number): this {
    for (;;) {
      const byte = v & 0x7f;
      v >>= 7;
      if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) {
        this.b.push(byte);
        return this;
      }
      this.b.push(byte | 0x80);
    }
  }
  name(s: string): this {
    let utf8 = NAME_BYTES.get(s);
    if (!utf8) {
      utf8 = [...UTF8.encode(s)];
      // The names are the host imports', the exports' and the functions' (f0, task1, …): few.
      if (NAME_BYTES.size < 4096) NAME_BYTES.set(s, utf8);
    }
    this.u32(utf8.length);
    for (const x of utf8) this.b.push(x);
    return this;
  }
  bytes(other: Bytes): this {
    this.u32(other.b.length);
    for (const x of other.b) this.b.push(x);
    return this;
  }
}

/** Encodes `p`; the result decodes (and validates) to the module `printWat(p)` parses to. */
export function encodeProgram(p: Program): Uint8Array {
  const arities = [...new Set(p.funcs.map((f) => `${f.params}:${resultCount(f)}`))].map((k) => k.split(':').map(Number)).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const nHost = HOST_IMPORTS.length;
  const valType = (t: string): number => (t === 'i32' ? I32 : EXTERNREF);
  // Types in the order the WAT text gives them: the explicit signatures (and, switching stacks,
  // $task and $k), then each import's and on_free's inline type unless an equal one exists (so
  // both encodings compile alike); a value type is its bytes.
  type TypeDef = { params: number[][]; results: number[][] } | { cont: number } | { struct: number } | { array: number };
  const typeList: TypeDef[] = [];
  const typeKeys = new Map<string, number>();
  const typeIndex = (t: TypeDef): number => {
    // Equal keys for equal definitions (a value type is its bytes: joined by '.', the types by ',').
    const key = 'cont' in t ? `c${t.cont}` : 'struct' in t ? `s${t.struct}` : 'array' in t ? `a${t.array}`
      : `f${t.params.map((v) => v.join('.')).join(',')}>${t.results.map((v) => v.join('.')).join(',')}`;
    const i = typeKeys.get(key);
    if (i !== undefined) return i;
    typeKeys.set(key, typeList.length);
    typeList.push(t);
    return typeList.length - 1;
  };
  const func = (params: number[], results: number[]): TypeDef => ({ params: params.map((v) => [v]), results: results.map((v) => [v]) });
  const sigTypes = arities.map(([n, r]) => typeIndex(func([...new Array<number>(n).fill(EXTERNREF), I32], new Array<number>(r).fill(EXTERNREF))));
  // $box (struct (field (mut externref))) and $vec (array (mut externref))
  const boxType = p.gcObjects ? typeIndex({ struct: EXTERNREF }) : -1;
  const vecType = p.gcObjects ? typeIndex({ array: EXTERNREF }) : -1;
  const tasks = p.tasks;
  const taskType = tasks ? typeIndex(func([EXTERNREF], [EXTERNREF])) : -1;
  const contType = tasks ? typeIndex({ cont: taskType }) : -1;
  const hostTypes = HOST_IMPORTS.map((h) => typeIndex(func(h.params.map(valType), h.results.map(valType))));
  const sigType = (params: number, results = 1): number => sigTypes[arities.findIndex(([n, r]) => n === params && r === results)];
  const onFreeType = typeIndex(func([], []));
  // A resume's handler block: [] → [externref (ref $k)].
  const handlerType = tasks ? typeIndex({ params: [], results: [[EXTERNREF], [REF, contType]] }) : -1;
  // Players: the tag $sw's type [] → [externref] (new_temp's), then, last, the rec group of $pf
  // and $pk, and $pf0 and $pk0 (cont.bind takes $pk0 to $pk).
  const players = p.players;
  const swType = players ? typeIndex(func([], [EXTERNREF])) : -1;
  const pf = typeList.length;
  const pk = pf + 1;
  const pf0 = pf + 2;
  const pk0 = pf + 3;
  const funcIndex = (f: number): number => nHost + f;
  const taskIndex = (t: number): number => nHost + p.funcs.length + 1 + t;
  const out = new Bytes().byte(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00);
  const section = (id: number, body: Bytes): void => {
    out.byte(id).bytes(body);
  };

  const types = new Bytes().u32(typeList.length + (players ? 3 : 0));
  for (const t of typeList) {
    if ('cont' in t) types.byte(0x5d).u32(t.cont);
    else if ('struct' in t) types.byte(0x5f).u32(1).byte(t.struct, 0x01);
    else if ('array' in t) types.byte(0x5e).byte(t.array, 0x01);
    else types.byte(0x60).u32(t.params.length).byte(...t.params.flat()).u32(t.results.length).byte(...t.results.flat());
  }
  if (players) {
    // (rec (type $pf (func (param externref (ref null $pk)) (result externref))) (type $pk (cont $pf)))
    types.byte(0x4e).u32(2).byte(0x60).u32(2).byte(EXTERNREF, REF_NULL).u32(pk).u32(1).byte(EXTERNREF).byte(0x5d).u32(pf);
    types.byte(0x60).u32(3).byte(I32, EXTERNREF, REF_NULL).u32(pk).u32(1).byte(EXTERNREF);
    types.byte(0x5d).u32(pf0);
  }
  section(1, types);

  const imports = new Bytes().u32(nHost);
  HOST_IMPORTS.forEach((h, i) => imports.name('host').name(h.name).byte(0x00).u32(hostTypes[i]));
  section(2, imports);

  const nDefined = p.funcs.length + 1 + (tasks?.length ?? 0) + (players?.length ?? 0);
  const playerIndex = (i: number): number => nHost + p.funcs.length + 1 + (tasks?.length ?? 0) + i;
  const funcs = new Bytes().u32(nDefined);
  for (const f of p.funcs) funcs.u32(sigType(f.params, resultCount(f)));
  funcs.u32(onFreeType);
  for (const _ of tasks ?? []) funcs.u32(taskType);
  for (const _ of players ?? []) funcs.u32(pf0);
  section(3, funcs);

  const tables = new Bytes().u32(2);
  tables.byte(EXTERNREF, 0x01).u32(p.tableMin).u32(p.tableMax);
  tables.byte(FUNCREF, 0x01).u32(p.funcs.length).u32(p.funcs.length);
  section(4, tables);

  // tag $yield of type $task (attribute 0: an exception-style tag)
  // and, with players, tag $sw of type [] → [externref]
  if (tasks) section(13, players ? new Bytes().u32(2).byte(0x00).u32(taskType).byte(0x00).u32(swType) : new Bytes().u32(1).byte(0x00).u32(taskType));

  // the externref globals, then (switching stacks) $on_task, a mutable i32 starting at 0
  const onTask = tasks ? p.globals : -1;
  if (p.globals > 0 || tasks) {
    const globals = new Bytes().u32(p.globals + (tasks ? 1 : 0));
    for (let g = 0; g < p.globals; g++) globals.byte(EXTERNREF, 0x01, 0xd0, EXTERNREF, 0x0b);
    if (tasks) globals.byte(I32, 0x01, 0x41, 0x00, 0x0b);
    section(6, globals);
  }

  const exports = new Bytes().u32(2);
  exports.name('main').byte(0x00).u32(funcIndex(0));
  exports.name('on_free').byte(0x00).u32(funcIndex(p.funcs.length));
  section(7, exports);

  // elem: active segment for table 1 ($ft) at offset 0, every function
  // and, switching stacks, a declarative segment naming the tasks (what ref.func needs)
  const declare = (tasks?.length ?? 0) + (players?.length ?? 0) > 0;
  const elems = new Bytes().u32(declare ? 2 : 1).byte(0x02).u32(1).byte(0x41).s32(0).byte(0x0b).byte(0x00).u32(p.funcs.length);
  p.funcs.forEach((_, i) => elems.u32(funcIndex(i)));
  if (declare) {
    elems.byte(0x03, 0x00).u32((tasks?.length ?? 0) + (players?.length ?? 0));
    tasks?.forEach((_, t) => elems.u32(taskIndex(t)));
    players?.forEach((_, i) => elems.u32(playerIndex(i)));
  }
  section(9, elems);

  const code = new Bytes().u32(nDefined);
  // A function's continuation, player-continuation, box and array locals follow its i32s, in that order.
  const ext = (f: FuncDef, base: number): Extras => ({
    contBase: base, qBase: base + (f.conts ?? 0), boxBase: base + (f.conts ?? 0) + (f.qs ?? 0), vecBase: base + (f.conts ?? 0) + (f.qs ?? 0) + (f.boxes ?? 0),
    k: contType, handlerType, taskIndex, box: boxType, vec: vecType, onTask, inTask: false, pk, pk0, playerIndex, swTag: 1, partner: -1,
  });
  const extraGroups = (f: FuncDef): number => (f.conts ? 1 : 0) + (f.qs ? 1 : 0) + (f.boxes ? 1 : 0) + (f.vecs ? 1 : 0);
  const contGroup = (body: Bytes, f: FuncDef): void => {
    if (f.conts) body.u32(f.conts).byte(REF_NULL).u32(contType);
    if (f.qs) body.u32(f.qs).byte(REF_NULL).u32(pk);
    if (f.boxes) body.u32(f.boxes).byte(REF_NULL).u32(boxType);
    if (f.vecs) body.u32(f.vecs).byte(REF_NULL).u32(vecType);
  };
  p.funcs.forEach((f) => {
    // Locals: params r0..r(p-1), depth, then r(p)..r(p+l-1), n, then c0..c(k-1).
    const local = (i: number): number => (i < f.params ? i : i + 1);
    const body = new Bytes().u32(2 + extraGroups(f)).u32(f.locals).byte(EXTERNREF).u32(1).byte(I32);
    contGroup(body, f);
    const e = new Emitter(body, p, local, f.params, f.params + f.locals + 1, sigType, funcIndex, ext(f, f.params + f.locals + 2));
    for (const s of f.body) e.stmt(s);
    for (const r of [f.result, ...(f.extra ?? [])]) body.byte(0x20).u32(local(r));
    body.byte(0x0b);
    code.bytes(body);
  });
  {
    const k = p.onFreeLocals;
    const body = new Bytes().u32(2).u32(k).byte(EXTERNREF).u32(2).byte(I32);
    const e = new Emitter(body, p, (i) => i, k + 1, k, sigType, funcIndex);
    for (const s of p.onFree) e.stmt(s);
    body.byte(0x0b);
    code.bytes(body);
  }
  for (const f of tasks ?? []) {
    // Locals: r0 (the parameter), r1..r(l), depth, n, then c0..c(k-1); depth starts at taskDepth.
    const l = f.locals;
    const body = new Bytes().u32(2 + extraGroups(f)).u32(l).byte(EXTERNREF).u32(2).byte(I32);
    contGroup(body, f);
    body.byte(0x41).s32(p.taskDepth ?? 0).byte(0x21).u32(l + 1).byte(0x41).s32(1).byte(0x24).u32(onTask);
    const e = new Emitter(body, p, (i) => i, l + 1, l + 2, sigType, funcIndex, { ...ext(f, l + 3), inTask: true });
    for (const s of f.body) e.stmt(s);
    body.byte(0x20).u32(f.result).byte(0x0b);
    code.bytes(body);
  }
  for (const f of players ?? []) {
    // Locals: depth (bound), r0, p0 (the partner), then r1..r(l), n.
    const l = f.locals;
    const local = (i: number): number => (i === 0 ? 1 : i + 2);
    const body = new Bytes().u32(2).u32(l).byte(EXTERNREF).u32(1).byte(I32);
    const e = new Emitter(body, p, local, 0, l + 3, sigType, funcIndex, { ...ext(f, l + 4), partner: 2 });
    for (const s of f.body) e.stmt(s);
    body.byte(0x20).u32(local(f.result)).byte(0x0b);
    code.bytes(body);
  }
  section(10, code);

  // name section: function names as the WAT gives them (failure reports name frames by them)
  const names = new Bytes().u32(nHost + nDefined);
  HOST_IMPORTS.forEach((h, i) => names.u32(i).name(h.name));
  p.funcs.forEach((_, i) => names.u32(funcIndex(i)).name(`f${i}`));
  names.u32(funcIndex(p.funcs.length)).name('on_free');
  tasks?.forEach((_, t) => names.u32(taskIndex(t)).name(`task${t}`));
  players?.forEach((_, i) => names.u32(playerIndex(i)).name(`player${i}`));
  const nameSection = new Bytes().name('name').byte(0x01).bytes(names);
  section(0, nameSection);
  return new Uint8Array(out.b);
}

const HOST = new Map<string, number>(HOST_IMPORTS.map((h, i) => [h.name, i]));

/** What a function's stack-switching and GC-object statements need: its locals and the indices. */
interface Extras {
  /** Local indices of $c0, $q0, $b0 and $v0 (and a player's $p0: `partner`). */
  contBase: number;
  qBase: number;
  partner: number;
  /** Type indices of $pk and $pk0, function index of a player, tag index of $sw. */
  pk: number;
  pk0: number;
  playerIndex: (i: number) => number;
  swTag: number;
  boxBase: number;
  vecBase: number;
  /** Type indices of $box and $vec. */
  box: number;
  vec: number;
  /** Global index of $on_task, and whether the function is a task (the value it restores). */
  onTask: number;
  inTask: boolean;
  /** Type index of $k. */
  k: number;
  /** Type index of a handler block's [] → [externref (ref $k)]. */
  handlerType: number;
  taskIndex: (t: number) => number;
}

class Emitter {
  constructor(
    readonly b: Bytes,
    readonly p: Program,
    readonly local: (i: number) => number,
    readonly depth: number,
    readonly counter: number,
    readonly sigType: (params: number, results?: number) => number,
    readonly funcIndex: (f: number) => number,
    readonly ext?: Extras,
  ) {}

  private switching(): Extras {
    if (!this.ext) throw new Error('internal: a stack-switching or GC-object statement in a function without them');
    return this.ext;
  }

  ref(e: RefExpr): void {
    const b = this.b;
    switch (e.k) {
      case 'local': b.byte(0x20).u32(this.local(e.i)); break;
      case 'null': b.byte(0xd0, EXTERNREF); break;
      case 'table.get': b.byte(0x41).s32(e.index).byte(0x25).u32(0); break;
      case 'global.get': b.byte(0x23).u32(e.g); break;
      case 'new': b.byte(0x41).s32(e.tag).byte(0x10).u32(HOST.get('new')!); break;
      case 'new_temp': b.byte(0x10).u32(HOST.get('new_temp')!); break;
      case 'pass': this.ref(e.e); b.byte(0x10).u32(HOST.get('pass')!); break;
      case 'select': this.ref(e.a); this.ref(e.b); this.i32(e.c); b.byte(0x1c, 0x01, EXTERNREF); break;
      case 'box.get': {
        const x = this.switching();
        b.byte(0x20).u32(x.boxBase + e.b).byte(0xfb).u32(2).u32(x.box).u32(0);
        break;
      }
      case 'vec.get': {
        const x = this.switching();
        b.byte(0x20).u32(x.vecBase + e.v).byte(0x41).s32(e.i).byte(0xfb).u32(11).u32(x.vec);
        break;
      }
    }
  }

  i32(e: I32Expr): void {
    const b = this.b;
    switch (e.k) {
      case 'const': b.byte(0x41).s32(e.v); break;
      case 'is_null': this.ref(e.e); b.byte(0xd1); break;
      case 'table.size': b.byte(0xfc).u32(16).u32(0); break;
      case 'table.grow': this.ref(e.e); b.byte(0x41).s32(e.n).byte(0xfc).u32(15).u32(0); break;
    }
  }

  /** `if (depth > 0)` then the call (or tail call) of f with its arguments and depth − 1; the if stays open. */
  private guardedCall(s: { f: number; args: RefExpr[]; indirect: boolean }, tail: boolean): void {
    const b = this.b;
    b.byte(0x20).u32(this.depth).byte(0x41).s32(0).byte(0x4a).byte(0x04, 0x40);
    for (const a of s.args) this.ref(a);
    b.byte(0x20).u32(this.depth).byte(0x41).s32(1).byte(0x6b);
    if (s.indirect) b.byte(0x41).s32(s.f).byte(tail ? 0x13 : 0x11).u32(this.sigType(this.p.funcs[s.f].params, resultCount(this.p.funcs[s.f]))).u32(1);
    else b.byte(tail ? 0x12 : 0x10).u32(this.funcIndex(s.f));
  }

  stmt(s: Stmt): void {
    const b = this.b;
    switch (s.k) {
      case 'set': this.ref(s.e); b.byte(0x21).u32(this.local(s.i)); break;
      case 'table.set': b.byte(0x41).s32(s.index); this.ref(s.e); b.byte(0x26).u32(0); break;
      case 'global.set': this.ref(s.e); b.byte(0x24).u32(s.g); break;
      case 'table.fill': b.byte(0x41).s32(s.start); this.ref(s.e); b.byte(0x41).s32(s.len).byte(0xfc).u32(17).u32(0); break;
      case 'print': this.ref(s.e); b.byte(0x10).u32(HOST.get('print')!); break;
      case 'print_i32': this.i32(s.e); b.byte(0x10).u32(HOST.get('print_i32')!); break;
      case 'gc': b.byte(0x10).u32(HOST.get('gc')!); break;
      case 'release': b.byte(0x41).s32(s.pool).byte(0x10).u32(HOST.get('release')!); break;
      case 'trap': b.byte(0x00); break;
      case 'call':
        // (if (i32.gt_s depth 0) (then (local.set dst (call f args… (i32.sub depth 1)))))
        this.guardedCall(s, false);
        for (const d of [...(s.more ?? [])].reverse()) b.byte(0x21).u32(this.local(d));
        b.byte(0x21).u32(this.local(s.dst)).byte(0x0b);
        break;
      case 'tail':
        // (if (i32.gt_s depth 0) (then (return_call f args… (i32.sub depth 1))))
        this.guardedCall(s, true);
        b.byte(0x0b);
        break;
      case 'churn': {
        b.byte(0x41).s32(s.n).byte(0x21).u32(this.counter);
        b.byte(0x03, 0x40);
        if ('table' in s.source) b.byte(0x41).s32(s.source.table).byte(0x25).u32(0);
        else b.byte(0x23).u32(s.source.global);
        b.byte(0x21).u32(this.local(s.dst));
        b.byte(0x20).u32(this.counter).byte(0x41).s32(1).byte(0x6b).byte(0x22).u32(this.counter).byte(0x0d).u32(0);
        b.byte(0x0b);
        break;
      }
      case 'cont.new': {
        const sw = this.switching();
        b.byte(0xd2).u32(sw.taskIndex(s.task)).byte(0xe0).u32(sw.k).byte(0x21).u32(sw.contBase + s.c);
        break;
      }
      case 'cont.drop': {
        const sw = this.switching();
        b.byte(0xd0).s32(sw.k).byte(0x21).u32(sw.contBase + s.c);
        break;
      }
      case 'suspend': {
        // [(if (global.get $on_task) (then] (local.set dst (suspend $yield e)) (global.set $on_task 1) [))]
        const sw = this.switching();
        if (s.guarded) b.byte(0x23).u32(sw.onTask).byte(0x04, 0x40);
        this.ref(s.e);
        b.byte(0xe2).u32(0).byte(0x21).u32(this.local(s.dst)).byte(0x41).s32(1).byte(0x24).u32(sw.onTask);
        if (s.guarded) b.byte(0x0b);
        break;
      }
      case 'cont.bind': {
        // (local.set q (cont.bind $pk0 $pk (i32.const depth) (cont.new $pk0 (ref.func $player))))
        const x = this.switching();
        b.byte(0x41).s32(s.depth).byte(0xd2).u32(x.playerIndex(s.player)).byte(0xe0).u32(x.pk0).byte(0xe1).u32(x.pk0).u32(x.pk).byte(0x21).u32(x.qBase + s.q);
        break;
      }
      case 'play': {
        // (if (i32.eqz (ref.is_null q)) (then (local.set dst (resume $pk (on $sw switch) arg other q))))
        // (local.set q null) [(local.set other null)] (global.set $on_task 0)
        const x = this.switching();
        const q = x.qBase + s.q;
        b.byte(0x20).u32(q).byte(0xd1, 0x45, 0x04, 0x40);
        this.ref(s.arg);
        if (s.other === null) b.byte(0xd0).s32(x.pk);
        else b.byte(0x20).u32(x.qBase + s.other);
        b.byte(0x20).u32(q).byte(0xe3).u32(x.pk).u32(1).byte(0x01).u32(x.swTag).byte(0x21).u32(this.local(s.dst)).byte(0x0b);
        b.byte(0xd0).s32(x.pk).byte(0x21).u32(q);
        if (s.other !== null) b.byte(0xd0).s32(x.pk).byte(0x21).u32(x.qBase + s.other);
        b.byte(0x41).s32(0).byte(0x24).u32(x.onTask);
        break;
      }
      case 'switch': {
        // (if (i32.eqz (ref.is_null p0)) (then (switch $pk $sw arg p0) (local.set p0) (local.set dst)))
        const x = this.switching();
        b.byte(0x20).u32(x.partner).byte(0xd1, 0x45, 0x04, 0x40);
        this.ref(s.arg);
        b.byte(0x20).u32(x.partner).byte(0xe6).u32(x.pk).u32(x.swTag).byte(0x21).u32(x.partner).byte(0x21).u32(this.local(s.dst)).byte(0x0b);
        break;
      }
      case 'box.new': {
        const x = this.switching();
        this.ref(s.e);
        b.byte(0xfb).u32(0).u32(x.box).byte(0x21).u32(x.boxBase + s.b);
        break;
      }
      case 'box.set': {
        const x = this.switching();
        b.byte(0x20).u32(x.boxBase + s.b);
        this.ref(s.e);
        b.byte(0xfb).u32(5).u32(x.box).u32(0);
        break;
      }
      case 'vec.new': {
        const x = this.switching();
        this.ref(s.e);
        b.byte(0x41).s32(s.len).byte(0xfb).u32(6).u32(x.vec).byte(0x21).u32(x.vecBase + s.v);
        break;
      }
      case 'vec.set': {
        const x = this.switching();
        b.byte(0x20).u32(x.vecBase + s.v).byte(0x41).s32(s.i);
        this.ref(s.e);
        b.byte(0xfb).u32(14).u32(x.vec);
        break;
      }
      case 'resume': {
        // (if (i32.eqz (ref.is_null c)) (then (block $done (block $h (result externref (ref $k))
        //   (local.set dst (resume $k (on $yield $h) arg c)) (local.set c null) (br $done))
        //   (local.set c) (local.set dst))))
        const sw = this.switching();
        const c = sw.contBase + s.c;
        b.byte(0x20).u32(c).byte(0xd1, 0x45, 0x04, 0x40, 0x02, 0x40, 0x02).s32(sw.handlerType);
        this.ref(s.arg);
        b.byte(0x20).u32(c).byte(0xe3).u32(sw.k).u32(1).byte(0x00).u32(0).u32(0);
        b.byte(0x21).u32(this.local(s.dst)).byte(0xd0).s32(sw.k).byte(0x21).u32(c).byte(0x0c).u32(1).byte(0x0b);
        b.byte(0x21).u32(c).byte(0x21).u32(this.local(s.dst)).byte(0x0b, 0x0b);
        b.byte(0x41).s32(sw.inTask ? 1 : 0).byte(0x24).u32(sw.onTask);
        break;
      }
    }
  }
}
