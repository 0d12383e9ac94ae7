/**
 * stackscope's own WAT reader, for the text wabt 1.0.39 cannot parse: modules that use the GC
 * proposal (`rec`, `sub`, `struct`, `array`, `(ref null $t)`, `anyref`, `struct.new`, ...).
 * wat.ts hands a module here only when wabt rejected it with a syntax error and the text uses
 * GC syntax; everything else keeps going through wabt.
 *
 * It reads the text format's module fields — `type` and `rec`, `import` (func, global, table,
 * memory), `func` (inline exports and imports, named params, results and locals), `table`,
 * `memory`, `global`, `export`, `start`, `elem` (active and declarative, function lists) and
 * `data` (active and passive) — and instructions in flat and folded form, with names (`$id`)
 * for types, fields, functions, locals, globals, tables and labels. It writes the standard
 * binary encoding, function order as written, and a name section with the function and local
 * names, which the decoder and validator (decode.ts, validate.ts) then check as for any
 * binary. Inline function types reuse an equal plain function type or are appended, as the
 * spec's abbreviation rules say.
 */
import { blockCommentEnd } from './block-comment.ts';
import { CompileError } from './errors.ts';
import { parseFloatText } from './float-bits.ts';
import { FB_SIMPLE_OPS, FC_SIMPLE_OPS, MEM_OPS, SIMPLE_OPS } from './opcodes.ts';
import type { WatSource } from './wat.ts';

/** Whether `text` uses syntax of the GC proposal (what wabt 1.0.39 cannot parse). */
export function usesGcSyntax(text: string): boolean {
  return /\((?:rec|sub|struct|array|field)\b|\(ref\s|\b(?:anyref|eqref|i31ref|structref|arrayref|nullref|nullfuncref|nullexternref)\b|\b(?:struct|array|i31)\.[a-z_]+|\bref\.(?:i31|eq|test|cast|as_non_null)\b/.test(text);
}

type Node =
  | { readonly kind: 'list'; readonly items: Node[]; readonly at: number }
  | { readonly kind: 'atom'; readonly text: string; readonly at: number }
  | { readonly kind: 'string'; readonly bytes: number[]; readonly at: number };

type List = Extract<Node, { kind: 'list' }>;

class Reader {
  /** Where the form being read starts: the location of errors about something missing in it. */
  at = 0;
  constructor(readonly source: WatSource) {}
  fail(at: number, detail: string): never {
    throw new CompileError('syntax', detail, { location: this.source.locationAt(at) });
  }
}

/** Text → one top-level list per form (comments and whitespace dropped). */
function parseSexprs(r: Reader, text: string): Node[] {
  const stack: { items: Node[]; at: number }[] = [{ items: [], at: 0 }];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') { i++; continue; }
    if (text.startsWith(';;', i)) {
      const eol = text.indexOf('\n', i);
      i = eol < 0 ? text.length : eol + 1;
      continue;
    }
    if (text.startsWith('(;', i)) {
      i = blockCommentEnd(text, i) ?? r.fail(i, 'unterminated block comment');
      continue;
    }
    if (c === '(') { stack.push({ items: [], at: i }); i++; continue; }
    if (c === ')') {
      if (stack.length === 1) r.fail(i, "unexpected ')'");
      const done = stack.pop()!;
      stack[stack.length - 1].items.push({ kind: 'list', items: done.items, at: done.at });
      i++;
      continue;
    }
    if (c === '"') {
      const start = i;
      const bytes: number[] = [];
      i++;
      for (;;) {
        if (i >= text.length) r.fail(start, 'unterminated string');
        const ch = text[i];
        if (ch === '"') { i++; break; }
        if (ch === '\\') {
          const n = text[i + 1];
          const esc: Record<string, number> = { n: 10, t: 9, r: 13, '"': 34, "'": 39, '\\': 92 };
          if (n in esc) { bytes.push(esc[n]); i += 2; continue; }
          if (/^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) { bytes.push(parseInt(text.slice(i + 1, i + 3), 16)); i += 3; continue; }
          r.fail(i, `unknown escape \\${n}`);
        }
        const cp = text.codePointAt(i)!;
        bytes.push(...new TextEncoder().encode(String.fromCodePoint(cp)));
        i += cp > 0xffff ? 2 : 1;
      }
      stack[stack.length - 1].items.push({ kind: 'string', bytes, at: start });
      continue;
    }
    const start = i;
    while (i < text.length && !' \t\n\r()"'.includes(text[i]) && !text.startsWith(';;', i)) i++;
    if (i === start) r.fail(start, `unexpected character '${text[i]}'`);
    stack[stack.length - 1].items.push({ kind: 'atom', text: text.slice(start, i), at: start });
  }
  if (stack.length !== 1) r.fail(stack[stack.length - 1].at, "unclosed '('");
  return stack[0].items;
}

const isAtom = (n: Node | undefined, text?: string): n is Extract<Node, { kind: 'atom' }> => n?.kind === 'atom' && (text === undefined || n.text === text);
const isList = (n: Node | undefined, head?: string): n is List => n?.kind === 'list' && (head === undefined || isAtom(n.items[0], head));
const isId = (n: Node | undefined): n is Extract<Node, { kind: 'atom' }> => isAtom(n) && n.text.startsWith('$');

// --- binary writing ---------------------------------------------------------------------

/** Unsigned LEB128 of `n`. */
export function uleb(n: number | bigint): number[] {
  let v = BigInt(n);
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) b |= 0x80;
    out.push(b);
  } while (v !== 0n);
  return out;
}
/** Signed LEB128 of `n`. */
export function sleb(n: number | bigint): number[] {
  let v = BigInt(n);
  const out: number[] = [];
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    const done = (v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0);
    out.push(done ? b : b | 0x80);
    if (done) return out;
  }
}
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const nameBytes = (s: string | number[]): number[] => {
  const b = typeof s === 'string' ? [...new TextEncoder().encode(s)] : s;
  return [...uleb(b.length), ...b];
};

const ABSTRACT_HEAP: Record<string, number> = {
  nofunc: 0x73, noextern: 0x72, none: 0x71, func: 0x70, extern: 0x6f, any: 0x6e, eq: 0x6d, i31: 0x6c, struct: 0x6b, array: 0x6a,
};
const SHORTHAND: Record<string, number> = {
  i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b, funcref: 0x70, externref: 0x6f, anyref: 0x6e, eqref: 0x6d,
  i31ref: 0x6c, structref: 0x6b, arrayref: 0x6a, nullref: 0x71, nullfuncref: 0x73, nullexternref: 0x72,
};

/** One function type in the module's type space, for matching inline type uses. */
interface PlainFunc { readonly key: string; readonly index: number }

interface Space {
  readonly names: Map<string, number>;
  count: number;
}
const newSpace = (): Space => ({ names: new Map(), count: 0 });

interface FuncDef {
  readonly node: List;
  readonly typeIndex: number;
  /** Local (params first) names → index, and the declared locals' encoded types. */
  readonly localNames: Map<string, number>;
  readonly locals: number[][];
  readonly bodyStart: number;
  readonly name: string | undefined;
}

/**
 * Reads a GC-proposal WAT module into the standard binary encoding (with a name section).
 * Every problem is a CompileError ('syntax') with line:column; should the reader itself fail on
 * some text, that too is a located syntax error ("could not read the text here") rather than
 * an exception of another kind (wat-gc.test.ts's mutation test fails on that message).
 */
export function gcWatToBinary(text: string, source: WatSource): Uint8Array {
  const r: Reader = new Reader(source);
  try {
    return readModule(r, text);
  } catch (e) {
    if (e instanceof CompileError) throw e;
    return r.fail(r.at, `could not read the text here (${e instanceof Error ? e.message : String(e)})`);
  }
}

function readModule(r: Reader, text: string): Uint8Array {
  let forms = parseSexprs(r, text);
  if (forms.length === 1 && isList(forms[0], 'module')) forms = forms[0].items.slice(1);
  if (isId(forms[0])) forms = forms.slice(1);
  for (const f of forms) if (!isList(f)) r.fail(f.at, `unexpected ${f.kind === 'atom' ? `'${f.text}'` : 'string'} at module level`);
  const fields = forms as List[];
  const head = (f: List): string => (isAtom(f.items[0]) ? f.items[0].text : '');

  const types = newSpace();
  const funcs = newSpace();
  const globals = newSpace();
  const tables = newSpace();
  const memories = newSpace();
  const elems = newSpace();
  const datas = newSpace();
  /** Field names per type index. */
  const fieldNames = new Map<number, Map<string, number>>();
  const typeEntries: number[][] = [];
  const plainFuncs: PlainFunc[] = [];
  const funcTypeOfIndex = new Map<number, { params: number[][]; results: number[][] }>();

  // Pass 1a: type names (rec groups count each member), so types can refer to each other.
  const typeNodes: { node: List; rec: List | null }[] = [];
  for (const f of fields) {
    if (head(f) === 'type') typeNodes.push({ node: f, rec: null });
    if (head(f) === 'rec') for (const t of f.items.slice(1)) {
      if (!isList(t, 'type')) r.fail(t.at, "a rec group holds only '(type ...)' definitions");
      typeNodes.push({ node: t, rec: f });
    }
  }
  typeNodes.forEach(({ node }, i) => {
    if (isId(node.items[1])) {
      if (types.names.has(node.items[1].text)) r.fail(node.items[1].at, `duplicate type ${node.items[1].text}`);
      types.names.set(node.items[1].text, i);
    }
  });
  types.count = typeNodes.length;

  const indexIn = (space: Space, n: Node | undefined, what: string): number => {
    if (n === undefined) return r.fail(r.at, `missing ${what}`);
    if (isAtom(n)) {
      if (n.text.startsWith('$')) {
        const i = space.names.get(n.text);
        if (i === undefined) r.fail(n.at, `unknown ${what} ${n.text}`);
        return i;
      }
      if (/^[0-9]+$/.test(n.text)) return Number(n.text);
    }
    return r.fail(n.at, `expected a ${what} index or $name`);
  };

  const heapType = (n: Node | undefined): number[] => {
    if (n === undefined) return r.fail(r.at, 'missing heap type');
    if (isAtom(n) && n.text in ABSTRACT_HEAP) return [ABSTRACT_HEAP[n.text]];
    return sleb(indexIn(types, n, 'type'));
  };
  const valType = (n: Node | undefined): number[] => {
    if (n === undefined) return r.fail(r.at, 'missing value type');
    if (isAtom(n) && n.text in SHORTHAND) return [SHORTHAND[n.text]];
    if (isList(n, 'ref')) {
      const nullable = isAtom(n.items[1], 'null');
      const ht = n.items[nullable ? 2 : 1];
      if (ht === undefined || n.items.length !== (nullable ? 3 : 2)) r.fail(n.at, 'expected (ref null? heaptype)');
      return [nullable ? 0x63 : 0x64, ...heapType(ht)];
    }
    return r.fail(n.at, 'expected a value type');
  };
  const storageType = (n: Node | undefined): number[] => {
    if (isAtom(n, 'i8')) return [0x78];
    if (isAtom(n, 'i16')) return [0x77];
    return valType(n);
  };
  const fieldType = (n: Node | undefined): number[] => (isList(n, 'mut') ? [...storageType(n.items[1]), 1] : [...storageType(n), 0]);

  /** `(param ...)* (result ...)*` starting at items[k]: the encoded types, named params, and where they end. */
  const signature = (items: Node[], k: number, paramNames?: Map<string, number>): { params: number[][]; results: number[][]; end: number } => {
    const params: number[][] = [];
    const results: number[][] = [];
    while (isList(items[k], 'param')) {
      const p = items[k] as List;
      if (isId(p.items[1])) {
        if (paramNames?.has(p.items[1].text)) r.fail(p.items[1].at, `duplicate local ${p.items[1].text}`);
        paramNames?.set(p.items[1].text, params.length);
        params.push(valType(p.items[2]));
      } else for (const t of p.items.slice(1)) params.push(valType(t));
      k++;
    }
    while (isList(items[k], 'result')) {
      for (const t of (items[k] as List).items.slice(1)) results.push(valType(t));
      k++;
    }
    return { params, results, end: k };
  };
  const funcKey = (params: number[][], results: number[][]): string => `${params.map((p) => p.join('.')).join(',')}->${results.map((p) => p.join('.')).join(',')}`;

  // Pass 1b: the type definitions themselves.
  const compType = (n: Node): number[] => {
    if (!isList(n)) return r.fail(n.at, 'expected (func ...), (struct ...) or (array ...)');
    const h = isAtom(n.items[0]) ? n.items[0].text : '';
    if (h === 'func') {
      const s = signature(n.items, 1);
      if (s.end !== n.items.length) r.fail(n.items[s.end]?.at ?? n.at, 'unexpected item in a function type');
      return [0x60, ...vec(s.params), ...vec(s.results)];
    }
    if (h === 'struct') return [0x5f, ...vec(structFields(n))];
    if (h === 'array') {
      const fieldNode = isList(n.items[1], 'field') ? (n.items[1] as List).items[1] : n.items[1];
      if (fieldNode === undefined) r.fail(n.at, 'an array type needs its element type');
      return [0x5e, ...fieldType(fieldNode)];
    }
    return r.fail(n.at, 'expected (func ...), (struct ...) or (array ...)');
  };
  let currentType = 0;
  const structFields = (n: List): number[][] => {
    const out: number[][] = [];
    const names = new Map<string, number>();
    for (const f of n.items.slice(1)) {
      if (!isList(f, 'field')) r.fail(f.at, 'expected (field ...)');
      if (isId(f.items[1])) {
        names.set(f.items[1].text, out.length);
        out.push(fieldType(f.items[2]));
      } else for (const t of f.items.slice(1)) out.push(fieldType(t));
    }
    fieldNames.set(currentType, names);
    return out;
  };
  const subType = (def: List): number[] => {
    r.at = def.at;
    const body = def.items[isId(def.items[1]) ? 2 : 1];
    if (body === undefined) r.fail(def.at, 'empty type definition');
    if (isList(body, 'sub')) {
      let k = 1;
      const final = isAtom(body.items[k], 'final');
      if (final) k++;
      const supers: number[][] = [];
      while (k < body.items.length - 1) supers.push(uleb(indexIn(types, body.items[k++], 'type')));
      const comp = body.items[k];
      if (comp === undefined) r.fail(body.at, 'sub needs a composite type');
      if (isList(comp, 'func')) recordFunc(comp);
      return [final ? 0x4f : 0x50, ...vec(supers), ...compType(comp)];
    }
    if (isList(body, 'func')) recordFunc(body, true);
    return compType(body);
  };
  const recordFunc = (n: List, plain = false): void => {
    const s = signature(n.items, 1);
    funcTypeOfIndex.set(currentType, { params: s.params, results: s.results });
    if (plain) plainFuncs.push({ key: funcKey(s.params, s.results), index: currentType });
  };
  {
    let k = 0;
    for (const f of fields) {
      if (head(f) === 'type') {
        currentType = k++;
        typeEntries.push(subType(f));
      } else if (head(f) === 'rec') {
        const members = f.items.slice(1) as List[];
        const encoded = members.map((m) => {
          currentType = k++;
          return subType(m);
        });
        typeEntries.push([0x4e, ...vec(encoded)]);
      }
    }
    // A bare (type (func)) inside a rec group is no plain type for inline uses.
    for (const f of fields) if (head(f) === 'rec') {
      const first = typeNodes.findIndex((t) => t.rec === f);
      for (let i = first; i < first + f.items.length - 1; i++) {
        const at = plainFuncs.findIndex((p) => p.index === i);
        if (at >= 0) plainFuncs.splice(at, 1);
      }
    }
  }

  /** A type use `(type $t)? (param ...)* (result ...)*`: the type index (an equal plain type, or a new one). */
  const typeUse = (items: Node[], k: number, paramNames?: Map<string, number>): { typeIndex: number; end: number } => {
    let explicit: number | undefined;
    if (isList(items[k], 'type')) explicit = indexIn(types, (items[k] as List).items[1], 'type'), k++;
    const s = signature(items, k, paramNames);
    if (explicit !== undefined) {
      if (s.end === k) {
        // Parameter names come from the type when the use spells none.
        return { typeIndex: explicit, end: s.end };
      }
      return { typeIndex: explicit, end: s.end };
    }
    const key = funcKey(s.params, s.results);
    const found = plainFuncs.find((p) => p.key === key);
    if (found) return { typeIndex: found.index, end: s.end };
    const index = types.count++;
    typeEntries.push([0x60, ...vec(s.params), ...vec(s.results)]);
    plainFuncs.push({ key, index });
    funcTypeOfIndex.set(index, { params: s.params, results: s.results });
    return { typeIndex: index, end: s.end };
  };

  // Pass 2: imports and definitions in each index space (imports must come first).
  const imports: number[][] = [];
  const funcDefs: FuncDef[] = [];
  const funcNames = new Map<number, string>();
  const exports: number[][] = [];
  const tablesOut: number[][] = [];
  const memoriesOut: number[][] = [];
  const globalNodes: { node: List; at: number; type: number[]; initStart: number }[] = [];
  const declare = (space: Space, n: Node | undefined): number => {
    const index = space.count++;
    if (isId(n)) {
      if (space.names.has(n.text)) r.fail(n.at, `duplicate name ${n.text}`);
      space.names.set(n.text, index);
    }
    return index;
  };
  const inlineExports = (items: Node[], k: number, kind: number, index: number): number => {
    while (isList(items[k], 'export')) {
      const e = items[k] as List;
      const nm = e.items[1];
      if (nm?.kind !== 'string') r.fail(e.at, 'expected (export "name")');
      exports.push([...nameBytes(nm.bytes), kind, ...uleb(index)]);
      k++;
    }
    return k;
  };
  const limits = (items: Node[], k: number): number[] => {
    const min = items[k];
    const max = items[k + 1];
    if (!isAtom(min) || !/^[0-9]+$/.test(min.text)) return r.fail(min?.at ?? r.at, 'expected limits');
    if (isAtom(max) && /^[0-9]+$/.test(max.text)) return [1, ...uleb(Number(min.text)), ...uleb(Number(max.text))];
    return [0, ...uleb(Number(min.text))];
  };
  const limitsLength = (items: Node[], k: number): number => (isAtom(items[k + 1]) && /^[0-9]+$/.test((items[k + 1] as { text: string }).text) ? 2 : 1);
  const globalType = (n: Node | undefined): number[] => (isList(n, 'mut') ? [...valType(n.items[1]), 1] : [...valType(n), 0]);

  for (const f of fields) {
    const h = head(f);
    r.at = f.at;
    if (h === 'import') {
      const [, mod, nm, desc] = f.items;
      if (mod?.kind !== 'string' || nm?.kind !== 'string' || !isList(desc)) r.fail(f.at, 'expected (import "module" "name" (kind ...))');
      const dh = head(desc);
      const id = desc.items[1];
      const k0 = isId(id) ? 2 : 1;
      const prefix = [...nameBytes(mod.bytes), ...nameBytes(nm.bytes)];
      if (dh === 'func') {
        const index = declare(funcs, id);
        if (isId(id)) funcNames.set(index, id.text.slice(1));
        const use = typeUse(desc.items, k0);
        imports.push([...prefix, 0x00, ...uleb(use.typeIndex)]);
      } else if (dh === 'global') {
        declare(globals, id);
        imports.push([...prefix, 0x03, ...globalType(desc.items[k0])]);
      } else if (dh === 'table') {
        declare(tables, id);
        const n = limitsLength(desc.items, k0);
        imports.push([...prefix, 0x01, ...valType(desc.items[k0 + n]), ...limits(desc.items, k0)]);
      } else if (dh === 'memory') {
        declare(memories, id);
        imports.push([...prefix, 0x02, ...limits(desc.items, k0)]);
      } else r.fail(desc.at, `unsupported import kind '${dh}'`);
    }
  }
  for (const f of fields) {
    const h = head(f);
    r.at = f.at;
    const id = f.items[1];
    const k0 = isId(id) ? 2 : 1;
    if (h === 'func') {
      if (f.items.some((n) => isList(n, 'import'))) r.fail(f.at, 'inline (import ...) in a func: write a separate (import ...) field');
      const index = declare(funcs, id);
      if (isId(id)) funcNames.set(index, id.text.slice(1));
      const k = inlineExports(f.items, k0, 0x00, index);
      const localNames = new Map<string, number>();
      const use = typeUse(f.items, k, localNames);
      let b = use.end;
      const numParams = funcTypeOfIndex.get(use.typeIndex)?.params.length ?? localNames.size;
      const locals: number[][] = [];
      while (isList(f.items[b], 'local')) {
        const l = f.items[b] as List;
        if (isId(l.items[1])) {
          localNames.set(l.items[1].text, numParams + locals.length);
          locals.push(valType(l.items[2]));
        } else for (const t of l.items.slice(1)) locals.push(valType(t));
        b++;
      }
      funcDefs.push({ node: f, typeIndex: use.typeIndex, localNames, locals, bodyStart: b, name: isId(id) ? id.text.slice(1) : undefined });
    } else if (h === 'table') {
      const index = declare(tables, id);
      const k = inlineExports(f.items, k0, 0x01, index);
      const n = limitsLength(f.items, k);
      tablesOut.push([...valType(f.items[k + n]), ...limits(f.items, k)]);
    } else if (h === 'memory') {
      const index = declare(memories, id);
      const k = inlineExports(f.items, k0, 0x02, index);
      memoriesOut.push(limits(f.items, k));
    } else if (h === 'global') {
      const index = declare(globals, id);
      const k = inlineExports(f.items, k0, 0x03, index);
      globalNodes.push({ node: f, at: f.at, type: globalType(f.items[k]), initStart: k + 1 });
    } else if (h === 'elem') {
      declare(elems, id);
    } else if (h === 'data') {
      declare(datas, id);
    } else if (!['type', 'rec', 'import', 'export', 'start'].includes(h)) {
      r.fail(f.at, `unknown or unsupported module field '${h}'`);
    }
  }
  for (const f of fields) {
    if (head(f) !== 'export') continue;
    r.at = f.at;
    const [, nm, desc] = f.items;
    if (nm?.kind !== 'string' || !isList(desc)) r.fail(f.at, 'expected (export "name" (kind index))');
    const kinds: Record<string, [number, Space]> = { func: [0, funcs], table: [1, tables], memory: [2, memories], global: [3, globals] };
    const kind = kinds[head(desc)];
    if (kind === undefined) r.fail(desc.at, `unsupported export kind '${head(desc)}'`);
    exports.push([...nameBytes(nm.bytes), kind[0], ...uleb(indexIn(kind[1], desc.items[1], head(desc)))]);
  }

  // Instructions.
  const instructions = (ctx: { locals: Map<string, number>; labels: (string | undefined)[] }, nodes: Node[], out: number[]): void => {
    let i = 0;
    const next = (): Node | undefined => nodes[i];
    const label = (n: Node | undefined): number => {
      if (isAtom(n) && n.text.startsWith('$')) {
        for (let d = ctx.labels.length - 1; d >= 0; d--) if (ctx.labels[d] === n.text) return ctx.labels.length - 1 - d;
        r.fail(n.at, `unknown label ${n.text}`);
      }
      if (isAtom(n) && /^[0-9]+$/.test(n.text)) return Number(n.text);
      return r.fail(n?.at ?? 0, 'expected a label');
    };
    const blockType = (items: Node[], k: number): { bytes: number[]; end: number } => {
      if (isList(items[k], 'type')) {
        const use = typeUse(items, k);
        return { bytes: sleb(use.typeIndex), end: use.end };
      }
      const s = signature(items, k);
      if (s.params.length === 0 && s.results.length === 0) return { bytes: [0x40], end: s.end };
      if (s.params.length === 0 && s.results.length === 1) return { bytes: s.results[0], end: s.end };
      const use = typeUse(items, k);
      return { bytes: sleb(use.typeIndex), end: use.end };
    };
    /** One plain instruction `op imm*` whose immediates are atoms from `items` at `k`; returns the next index. */
    const plain = (op: Extract<Node, { kind: 'atom' }>, items: Node[], k: number): number => {
      const name = op.text;
      const imm = (): Node => {
        const n = items[k++];
        if (n === undefined) r.fail(op.at, `'${name}' needs an immediate`);
        return n;
      };
      const u32Atom = (): number => {
        const n = imm();
        if (!isAtom(n) || !/^[0-9]+$/.test(n.text)) r.fail(n.at, `'${name}' expects a number`);
        return Number(n.text);
      };
      const local = (): number => {
        const n = imm();
        if (isAtom(n) && n.text.startsWith('$')) {
          const l = ctx.locals.get(n.text);
          if (l === undefined) r.fail(n.at, `unknown local ${n.text}`);
          return l;
        }
        if (isAtom(n) && /^[0-9]+$/.test(n.text)) return Number(n.text);
        return r.fail(n.at, 'expected a local');
      };
      const optIndex = (space: Space, what: string): number => {
        const n = items[k];
        if (isAtom(n) && (n.text.startsWith('$') || /^[0-9]+$/.test(n.text))) { k++; return indexIn(space, n, what); }
        return 0;
      };
      const field = (typeIndex: number): number => {
        const n = imm();
        if (isAtom(n) && n.text.startsWith('$')) {
          const f = fieldNames.get(typeIndex)?.get(n.text);
          if (f === undefined) r.fail(n.at, `unknown field ${n.text}`);
          return f;
        }
        if (isAtom(n) && /^[0-9]+$/.test(n.text)) return Number(n.text);
        return r.fail(n.at, 'expected a field');
      };
      const simple = [...SIMPLE_OPS].find(([, s]) => s.name === name);
      if (simple) { out.push(simple[0]); return k; }
      const fc = [...FC_SIMPLE_OPS].find(([, s]) => s.name === name);
      if (fc) { out.push(0xfc, ...uleb(fc[0])); return k; }
      const fb = [...FB_SIMPLE_OPS].find(([, s]) => s.name === name);
      if (fb) { out.push(0xfb, ...uleb(fb[0])); return k; }
      const mem = [...MEM_OPS].find(([, s]) => s.name === name);
      if (mem) {
        let offset = 0;
        let align = Math.log2(mem[1].width);
        while (isAtom(items[k]) && /^(offset|align)=/.test((items[k] as { text: string }).text)) {
          const [key, value] = (items[k] as { text: string }).text.split('=');
          const v = Number(value.replace(/_/g, ''));
          if (!Number.isInteger(v) || v < 0) r.fail(items[k].at, `bad ${key}`);
          if (key === 'offset') offset = v;
          else align = Math.log2(v);
          k++;
        }
        out.push(mem[0], ...uleb(align), ...uleb(offset));
        return k;
      }
      switch (name) {
        case 'drop': out.push(0x1a); return k;
        case 'br': out.push(0x0c, ...uleb(label(imm()))); return k;
        case 'br_if': out.push(0x0d, ...uleb(label(imm()))); return k;
        case 'br_table': {
          const ls: number[] = [];
          while (isAtom(items[k]) && ((items[k] as { text: string }).text.startsWith('$') || /^[0-9]+$/.test((items[k] as { text: string }).text))) ls.push(label(items[k++]));
          if (ls.length === 0) r.fail(op.at, 'br_table needs labels');
          const def = ls.pop()!;
          out.push(0x0e, ...vec(ls.map((l) => uleb(l))), ...uleb(def));
          return k;
        }
        case 'call': out.push(0x10, ...uleb(indexIn(funcs, imm(), 'function'))); return k;
        case 'return_call': out.push(0x12, ...uleb(indexIn(funcs, imm(), 'function'))); return k;
        case 'call_indirect':
        case 'return_call_indirect': {
          const table = optIndex(tables, 'table');
          const use = typeUse(items, k);
          k = use.end;
          out.push(name === 'call_indirect' ? 0x11 : 0x13, ...uleb(use.typeIndex), ...uleb(table));
          return k;
        }
        case 'select': {
          if (isList(items[k], 'result')) {
            const ts = (items[k++] as List).items.slice(1).map(valType);
            out.push(0x1c, ...vec(ts));
          } else out.push(0x1b);
          return k;
        }
        case 'local.get': out.push(0x20, ...uleb(local())); return k;
        case 'local.set': out.push(0x21, ...uleb(local())); return k;
        case 'local.tee': out.push(0x22, ...uleb(local())); return k;
        case 'global.get': out.push(0x23, ...uleb(indexIn(globals, imm(), 'global'))); return k;
        case 'global.set': out.push(0x24, ...uleb(indexIn(globals, imm(), 'global'))); return k;
        case 'table.get': out.push(0x25, ...uleb(optIndex(tables, 'table'))); return k;
        case 'table.set': out.push(0x26, ...uleb(optIndex(tables, 'table'))); return k;
        case 'table.size': out.push(0xfc, 16, ...uleb(optIndex(tables, 'table'))); return k;
        case 'table.grow': out.push(0xfc, 15, ...uleb(optIndex(tables, 'table'))); return k;
        case 'table.fill': out.push(0xfc, 17, ...uleb(optIndex(tables, 'table'))); return k;
        case 'memory.size': out.push(0x3f, 0); return k;
        case 'memory.grow': out.push(0x40, 0); return k;
        case 'memory.fill': out.push(0xfc, 11, 0); return k;
        case 'memory.copy': out.push(0xfc, 10, 0, 0); return k;
        case 'memory.init': out.push(0xfc, 8, ...uleb(indexIn(datas, imm(), 'data segment')), 0); return k;
        case 'data.drop': out.push(0xfc, 9, ...uleb(indexIn(datas, imm(), 'data segment'))); return k;
        case 'elem.drop': out.push(0xfc, 13, ...uleb(indexIn(elems, imm(), 'element segment'))); return k;
        case 'i32.const':
        case 'i64.const': {
          const n = imm();
          if (!isAtom(n)) r.fail(n.at, 'expected an integer');
          const v = intValue(r, n, name === 'i32.const' ? 32 : 64);
          out.push(name === 'i32.const' ? 0x41 : 0x42, ...sleb(v));
          return k;
        }
        case 'f32.const':
        case 'f64.const': {
          const n = imm();
          const t = name === 'f32.const' ? 'f32' : 'f64';
          const bits = isAtom(n) ? parseFloatText(t, n.text.replace(/_/g, '')) : undefined;
          if (bits === undefined) r.fail(n.at, `expected an ${t}`);
          const bytes: number[] = [];
          for (let b = 0; b < (t === 'f32' ? 4 : 8); b++) bytes.push(Number((bits >> BigInt(8 * b)) & 0xffn));
          out.push(name === 'f32.const' ? 0x43 : 0x44, ...bytes);
          return k;
        }
        case 'ref.null': out.push(0xd0, ...heapType(imm())); return k;
        case 'ref.func': out.push(0xd2, ...uleb(indexIn(funcs, imm(), 'function'))); return k;
        case 'ref.as_non_null': out.push(0xd4); return k;
        case 'struct.new':
        case 'struct.new_default': {
          out.push(0xfb, name === 'struct.new' ? 0 : 1, ...uleb(indexIn(types, imm(), 'type')));
          return k;
        }
        case 'struct.get':
        case 'struct.get_s':
        case 'struct.get_u':
        case 'struct.set': {
          const t = indexIn(types, imm(), 'type');
          const sub = { 'struct.get': 2, 'struct.get_s': 3, 'struct.get_u': 4, 'struct.set': 5 }[name];
          out.push(0xfb, sub, ...uleb(t), ...uleb(field(t)));
          return k;
        }
        case 'array.new': case 'array.new_default': case 'array.get': case 'array.get_s': case 'array.get_u': case 'array.set': {
          const sub = { 'array.new': 6, 'array.new_default': 7, 'array.get': 11, 'array.get_s': 12, 'array.get_u': 13, 'array.set': 14 }[name];
          out.push(0xfb, sub, ...uleb(indexIn(types, imm(), 'type')));
          return k;
        }
        case 'array.new_fixed': {
          const t = indexIn(types, imm(), 'type');
          out.push(0xfb, 8, ...uleb(t), ...uleb(u32Atom()));
          return k;
        }
        case 'ref.test':
        case 'ref.cast': {
          const n = imm();
          let nullable = false;
          let ht: Node;
          if (isList(n, 'ref')) {
            nullable = isAtom(n.items[1], 'null');
            ht = n.items[nullable ? 2 : 1];
          } else if (isAtom(n) && n.text in SHORTHAND && n.text.endsWith('ref')) {
            nullable = true;
            ht = { kind: 'atom', text: Object.keys(ABSTRACT_HEAP).find((h) => ABSTRACT_HEAP[h] === SHORTHAND[n.text])!, at: n.at };
          } else return r.fail(n.at, `'${name}' expects a reference type`);
          out.push(0xfb, (name === 'ref.test' ? 20 : 22) + (nullable ? 1 : 0), ...heapType(ht));
          return k;
        }
        default:
          return r.fail(op.at, `unknown or unsupported instruction '${name}'`);
      }
    };
    const blockLabel = (items: Node[], k: number): { name: string | undefined; end: number } =>
      isId(items[k]) ? { name: (items[k] as { text: string }).text, end: k + 1 } : { name: undefined, end: k };

    while (i < nodes.length) {
      const n = next()!;
      r.at = n.at;
      if (isList(n)) {
        folded(n);
        i++;
        continue;
      }
      if (!isAtom(n)) r.fail(n.at, 'unexpected string');
      const name = n.text;
      if (name === 'block' || name === 'loop' || name === 'if') {
        const lb = blockLabel(nodes, i + 1);
        const bt = blockType(nodes, lb.end);
        out.push(name === 'block' ? 0x02 : name === 'loop' ? 0x03 : 0x04, ...bt.bytes);
        ctx.labels.push(lb.name);
        i = bt.end;
        continue;
      }
      if (name === 'else') {
        out.push(0x05);
        i++;
        if (isId(nodes[i])) i++;
        continue;
      }
      if (name === 'end') {
        if (ctx.labels.length === 0) r.fail(n.at, "'end' without a block");
        out.push(0x0b);
        ctx.labels.pop();
        i++;
        if (isId(nodes[i])) i++;
        continue;
      }
      i = plain(n, nodes, i + 1);
    }

    function folded(list: List): void {
      r.at = list.at;
      const op = list.items[0];
      if (!isAtom(op)) r.fail(list.at, 'expected an instruction');
      const name = op.text;
      if (name === 'block' || name === 'loop') {
        const lb = blockLabel(list.items, 1);
        const bt = blockType(list.items, lb.end);
        out.push(name === 'block' ? 0x02 : 0x03, ...bt.bytes);
        ctx.labels.push(lb.name);
        instructions(ctx, list.items.slice(bt.end), out);
        ctx.labels.pop();
        out.push(0x0b);
        return;
      }
      if (name === 'if') {
        const lb = blockLabel(list.items, 1);
        const bt = blockType(list.items, lb.end);
        let k = bt.end;
        while (k < list.items.length && !isList(list.items[k], 'then')) {
          const c = list.items[k++];
          if (!isList(c)) r.fail(c.at, "expected a folded condition or '(then ...)'");
          folded(c);
        }
        const thenList = list.items[k];
        if (!isList(thenList, 'then')) r.fail(list.at, "'if' needs '(then ...)'");
        out.push(0x04, ...bt.bytes);
        ctx.labels.push(lb.name);
        instructions(ctx, thenList.items.slice(1), out);
        const elseList = list.items[k + 1];
        if (isList(elseList, 'else')) {
          out.push(0x05);
          instructions(ctx, elseList.items.slice(1), out);
        }
        ctx.labels.pop();
        out.push(0x0b);
        return;
      }
      // Immediates are the leading atoms (and a few lists: types, results); operands are the nested lists after them.
      const items = list.items;
      let k = 1;
      const immediates: Node[] = [];
      while (k < items.length && (!isList(items[k]) || isList(items[k], 'type') || isList(items[k], 'result') || isList(items[k], 'param') || isList(items[k], 'ref'))) {
        immediates.push(items[k++]);
      }
      for (; k < items.length; k++) {
        const operand = items[k];
        if (!isList(operand)) r.fail(operand.at, `unexpected '${isAtom(operand) ? operand.text : 'string'}' after the operands of '${name}'`);
        folded(operand);
      }
      const used = plain(op, immediates, 0);
      if (used !== immediates.length) r.fail(immediates[used].at, `unexpected immediate for '${name}'`);
    }
  };

  const constExpr = (nodes: Node[]): number[] => {
    const out: number[] = [];
    instructions({ locals: new Map(), labels: [] }, nodes, out);
    return [...out, 0x0b];
  };

  const codes = funcDefs.map((fd) => {
    const body: number[] = [];
    instructions({ locals: fd.localNames, labels: [] }, fd.node.items.slice(fd.bodyStart), body);
    const groups: number[][] = fd.locals.map((t) => [1, ...t]);
    const entry = [...vec(groups), ...body, 0x0b];
    return [...uleb(entry.length), ...entry];
  });
  const globalsOut = globalNodes.map((g) => [...g.type, ...constExpr(g.node.items.slice(g.initStart))]);

  let start: number[] | null = null;
  const elemsOut: number[][] = [];
  const datasOut: number[][] = [];
  for (const f of fields) {
    const h = head(f);
    r.at = f.at;
    if (h === 'start') start = uleb(indexIn(funcs, f.items[1], 'function'));
    if (h === 'elem') {
      let k = isId(f.items[1]) ? 2 : 1;
      const declareForm = isAtom(f.items[k], 'declare');
      let offset: number[] | null = null;
      if (declareForm) k++;
      else if (isList(f.items[k], 'offset')) offset = constExpr((f.items[k++] as List).items.slice(1));
      else if (isList(f.items[k])) offset = constExpr([f.items[k++]]);
      if (isAtom(f.items[k], 'func')) k++;
      const fnIndices = f.items.slice(k).map((n) => uleb(indexIn(funcs, n, 'function')));
      if (declareForm) elemsOut.push([3, 0x00, ...vec(fnIndices)]);
      else if (offset !== null) elemsOut.push([0, ...offset, ...vec(fnIndices)]);
      else elemsOut.push([1, 0x00, ...vec(fnIndices)]);
    }
    if (h === 'data') {
      let k = isId(f.items[1]) ? 2 : 1;
      let offset: number[] | null = null;
      if (isList(f.items[k], 'memory')) k++;
      if (isList(f.items[k], 'offset')) offset = constExpr((f.items[k++] as List).items.slice(1));
      else if (isList(f.items[k])) offset = constExpr([f.items[k++]]);
      const bytes = f.items.slice(k).flatMap((n) => (n.kind === 'string' ? n.bytes : r.fail(n.at, 'expected a string')));
      datasOut.push(offset === null ? [1, ...nameBytes(bytes)] : [0, ...offset, ...nameBytes(bytes)]);
    }
  }

  const section = (id: number, content: number[]): number[] => [id, ...uleb(content.length), ...content];
  const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  if (typeEntries.length) out.push(...section(1, vec(typeEntries)));
  if (imports.length) out.push(...section(2, vec(imports)));
  if (funcDefs.length) out.push(...section(3, vec(funcDefs.map((f) => uleb(f.typeIndex)))));
  if (tablesOut.length) out.push(...section(4, vec(tablesOut)));
  if (memoriesOut.length) out.push(...section(5, vec(memoriesOut)));
  if (globalsOut.length) out.push(...section(6, vec(globalsOut)));
  if (exports.length) out.push(...section(7, vec(exports)));
  if (start !== null) out.push(...section(8, start));
  if (elemsOut.length) out.push(...section(9, vec(elemsOut)));
  if (datasOut.length) out.push(...section(12, uleb(datasOut.length)));
  if (funcDefs.length) out.push(...section(10, vec(codes)));
  if (datasOut.length) out.push(...section(11, vec(datasOut)));
  // The name section: function names (1) and local names (2).
  const funcNameMap = [...funcNames].sort((a, b) => a[0] - b[0]).map(([i, n]) => [...uleb(i), ...nameBytes(n)]);
  const numImportedFuncs = funcs.count - funcDefs.length;
  const localMaps = funcDefs.flatMap((fd, i) => {
    if (fd.localNames.size === 0) return [];
    const entries = [...fd.localNames].sort((a, b) => a[1] - b[1]).map(([n, l]) => [...uleb(l), ...nameBytes(n.slice(1))]);
    return [[...uleb(numImportedFuncs + i), ...vec(entries)]];
  });
  const names: number[] = [];
  if (funcNameMap.length) names.push(1, ...uleb(vec(funcNameMap).length), ...vec(funcNameMap));
  if (localMaps.length) names.push(2, ...uleb(vec(localMaps).length), ...vec(localMaps));
  if (names.length) out.push(...section(0, [...nameBytes('name'), ...names]));
  return new Uint8Array(out);
}

/** An integer literal (decimal or 0x hex, optional sign and underscores) as a two's-complement value of `bits`. */
function intValue(r: Reader, n: Extract<Node, { kind: 'atom' }>, bits: 32 | 64): bigint {
  const m = /^([+-]?)(0x[0-9a-fA-F_]+|[0-9_]+)$/.exec(n.text);
  if (m === null) return r.fail(n.at, `'${n.text}' is not an integer`);
  let v = BigInt(m[2].replace(/_/g, ''));
  if (m[1] === '-') v = -v;
  const limit = 1n << BigInt(bits);
  if (v >= limit || v < -(limit >> 1n)) r.fail(n.at, `'${n.text}' does not fit in ${bits} bits`);
  return BigInt.asIntN(bits, v);
}
