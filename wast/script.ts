/**
 * The `.wast` script format of the WebAssembly specification's test suite, read into commands.
 *
 * A script is a sequence of S-expressions: module definitions (text, `binary` or `quote`),
 * `register`, actions (`invoke`, `get`) and assertions about them. Module text is not parsed
 * here: a text module keeps its source span, so the WAT front end sees exactly what the script
 * says (and reports positions in the script's own lines).
 */
import { StackscopeError } from '../isa/error.ts';
import { parseFloatText } from '../compiler/frontend/float-bits.ts';
import { blockCommentEnd } from '../compiler/frontend/block-comment.ts';

/** Where a node starts in the script: 1-based line and column. */
export interface ScriptPosition {
  readonly line: number;
  readonly column: number;
}

export type SExpr = SList | SAtom | SString;

interface Spanned {
  /** Offset of the first character (the `(` of a list, the `"` of a string). */
  readonly start: number;
  /** Offset just past the last character. */
  readonly end: number;
  readonly at: ScriptPosition;
}

export interface SList extends Spanned {
  readonly kind: 'list';
  readonly items: readonly SExpr[];
}

export interface SAtom extends Spanned {
  readonly kind: 'atom';
  readonly text: string;
}

export interface SString extends Spanned {
  readonly kind: 'string';
  /** The string's bytes after escapes (`\\hh` may produce any byte, not only UTF-8). */
  readonly bytes: Uint8Array;
}

/** A string's bytes as text; a leading U+FEFF is a character of the name, not a byte-order mark. */
function utf8(bytes: Uint8Array): string {
  return new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
}

/** A script that cannot be read: bad tokens, unbalanced parentheses, an unknown command. */
export class WastSyntaxError extends StackscopeError {
  override name = 'WastSyntaxError';
  constructor(
    readonly file: string,
    readonly at: ScriptPosition,
    readonly detail: string,
  ) {
    super(`${file}:${at.line}:${at.column}: ${detail}`);
  }
}

/** The deepest list nesting read; deeper text is a WastSyntaxError, not a host stack overflow. */
export const MAX_SCRIPT_NESTING = 10_000;

/** Reads every top-level S-expression of `text`. */
export function readSExprs(text: string, file = 'script.wast'): SExpr[] {
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) lineStarts.push(i + 1);
  const positionOf = (offset: number): ScriptPosition => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - lineStarts[lo] + 1 };
  };
  const fail = (offset: number, detail: string): never => {
    throw new WastSyntaxError(file, positionOf(offset), detail);
  };

  const top: SExpr[] = [];
  const open: { start: number; items: SExpr[] }[] = [];
  const push = (e: SExpr): void => {
    (open.length ? open[open.length - 1].items : top).push(e);
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (c === ';' && text[i + 1] === ';') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '(' && text[i + 1] === ';') {
      i = blockCommentEnd(text, i) ?? fail(i, 'unclosed block comment "(;"');
    } else if (c === '(') {
      if (open.length >= MAX_SCRIPT_NESTING) fail(i, `nesting deeper than ${MAX_SCRIPT_NESTING} lists`);
      open.push({ start: i, items: [] });
      i++;
    } else if (c === ')') {
      const list = open.pop() ?? fail(i, 'unbalanced ")"');
      i++;
      push({ kind: 'list', items: list.items, start: list.start, end: i, at: positionOf(list.start) });
    } else if (c === '"') {
      const { bytes, end } = readString(text, i, fail);
      push({ kind: 'string', bytes, start: i, end, at: positionOf(i) });
      i = end;
    } else {
      const start = i;
      while (i < text.length && !' \t\n\r()";'.includes(text[i])) i++;
      if (i === start) fail(i, `unexpected character ${JSON.stringify(c)}`);
      push({ kind: 'atom', text: text.slice(start, i), start, end: i, at: positionOf(start) });
    }
  }
  if (open.length) fail(open[open.length - 1].start, 'unclosed "("');
  return top;
}


const SIMPLE_ESCAPES: Record<string, number> = { t: 9, n: 10, r: 13, '"': 34, "'": 39, '\\': 92 };

function readString(text: string, from: number, fail: (offset: number, detail: string) => never): { bytes: Uint8Array; end: number } {
  const out: number[] = [];
  const encoder = new TextEncoder();
  let i = from + 1;
  while (i < text.length && text[i] !== '"') {
    const c = text[i];
    if (c === '\n') fail(i, 'line break inside a string');
    if (c !== '\\') {
      const cp = text.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      out.push(...encoder.encode(ch));
      i += ch.length;
      continue;
    }
    const e = text[i + 1];
    if (e !== undefined && e in SIMPLE_ESCAPES) {
      out.push(SIMPLE_ESCAPES[e]);
      i += 2;
    } else if (e === 'u' && text[i + 2] === '{') {
      const close = text.indexOf('}', i + 3);
      const digits = close < 0 ? '' : text.slice(i + 3, close).replaceAll('_', '');
      if (!/^[0-9a-fA-F]+$/.test(digits)) fail(i, 'bad \\u{…} escape');
      const cp = parseInt(digits, 16);
      if (cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000)) fail(i, `\\u{${digits}} is not a Unicode scalar value`);
      out.push(...encoder.encode(String.fromCodePoint(cp)));
      i = close + 1;
    } else if (/^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) {
      out.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 3;
    } else {
      fail(i, `unknown escape "\\${e ?? ''}"`);
    }
  }
  if (i >= text.length) fail(from, 'unclosed string');
  return { bytes: Uint8Array.from(out), end: i + 1 };
}

// ---------------------------------------------------------------------------------------------
// Commands

/** A constant argument or an expected result. */
export type WastValue =
  | { readonly type: 'i32' | 'f32'; readonly bits: bigint }
  | { readonly type: 'i64' | 'f64'; readonly bits: bigint }
  | { readonly type: 'v128' }
  | { readonly type: 'ref.null'; readonly heap: string }
  | { readonly type: 'ref.extern'; readonly id: number | null }
  | { readonly type: 'ref.func' };

/** An expected result: a value, a NaN class, or any of several alternatives (`either`). */
export type WastExpected =
  | { readonly kind: 'value'; readonly value: WastValue }
  | { readonly kind: 'nan'; readonly type: 'f32' | 'f64'; readonly nan: 'canonical' | 'arithmetic' }
  | { readonly kind: 'either'; readonly options: readonly WastExpected[] };

export type WastModuleSource =
  | { readonly form: 'text'; readonly text: string }
  | { readonly form: 'binary'; readonly bytes: Uint8Array }
  | { readonly form: 'quote'; readonly text: string };

export interface WastModule {
  readonly name: string | null;
  readonly source: WastModuleSource;
  readonly at: ScriptPosition;
}

export type WastAction =
  | { readonly kind: 'invoke'; readonly module: string | null; readonly name: string; readonly args: readonly WastValue[]; readonly at: ScriptPosition }
  | { readonly kind: 'get'; readonly module: string | null; readonly name: string; readonly at: ScriptPosition };

export type WastCommand =
  | { readonly kind: 'module'; readonly module: WastModule; readonly at: ScriptPosition }
  | { readonly kind: 'register'; readonly as: string; readonly module: string | null; readonly at: ScriptPosition }
  | { readonly kind: 'action'; readonly action: WastAction; readonly at: ScriptPosition }
  | { readonly kind: 'assert_return'; readonly action: WastAction; readonly expected: readonly WastExpected[]; readonly at: ScriptPosition }
  | { readonly kind: 'assert_trap'; readonly action: WastAction; readonly message: string; readonly at: ScriptPosition }
  | { readonly kind: 'assert_exhaustion'; readonly action: WastAction; readonly message: string; readonly at: ScriptPosition }
  | { readonly kind: 'assert_module_trap'; readonly module: WastModule; readonly message: string; readonly at: ScriptPosition }
  | { readonly kind: 'assert_malformed' | 'assert_invalid' | 'assert_unlinkable'; readonly module: WastModule; readonly message: string; readonly at: ScriptPosition };

/** Reads a whole script into commands. */
export function parseWast(text: string, file = 'script.wast'): WastCommand[] {
  const exprs = readSExprs(text, file);
  // A script that starts with a module field, not a command, is one module written inline.
  const first = exprs[0];
  if (first?.kind === 'list' && first.items[0]?.kind === 'atom' && MODULE_FIELDS.has(first.items[0].text)) {
    return [{ kind: 'module', module: { name: null, source: { form: 'text', text: `(module ${text}\n)` }, at: first.at }, at: first.at }];
  }
  return exprs.map((e) => commandOf(e, text, file));
}

/** The fields a module's text consists of (an inline module starts with one of them). */
const MODULE_FIELDS = new Set(['type', 'import', 'func', 'table', 'memory', 'global', 'export', 'start', 'elem', 'data', 'rec', 'tag']);

function commandOf(e: SExpr, text: string, file: string): WastCommand {
  const fail = (at: ScriptPosition, detail: string): never => {
    throw new WastSyntaxError(file, at, detail);
  };
  if (e.kind !== 'list' || e.items.length === 0 || e.items[0].kind !== 'atom') return fail(e.at, 'expected a command such as (module …) or (assert_return …)');
  const head = (e.items[0] as SAtom).text;
  const at = e.at;
  const items = e.items;
  const message = (i: number): string => {
    const m = items[i];
    return m?.kind === 'string' ? utf8(m.bytes) : fail(m?.at ?? at, `${head} needs a failure message string`);
  };
  switch (head) {
    case 'module':
      return { kind: 'module', module: moduleOf(e, text, file), at };
    case 'register': {
      const as = items[1]?.kind === 'string' ? utf8(items[1].bytes) : fail(at, 'register needs a name string');
      const name = items[2]?.kind === 'atom' ? items[2].text : null;
      return { kind: 'register', as, module: name, at };
    }
    case 'invoke':
    case 'get':
      return { kind: 'action', action: actionOf(e, file), at };
    case 'assert_return': {
      const action = actionOf(listAt(items, 1, file, at), file);
      const expected = items.slice(2).map((r) => expectedOf(r, file));
      return { kind: 'assert_return', action, expected, at };
    }
    case 'assert_trap': {
      const target = listAt(items, 1, file, at);
      const first = target.items[0];
      if (first?.kind === 'atom' && first.text === 'module') return { kind: 'assert_module_trap', module: moduleOf(target, text, file), message: message(2), at };
      return { kind: 'assert_trap', action: actionOf(target, file), message: message(2), at };
    }
    case 'assert_exhaustion':
      return { kind: 'assert_exhaustion', action: actionOf(listAt(items, 1, file, at), file), message: message(2), at };
    case 'assert_malformed':
    case 'assert_invalid':
    case 'assert_unlinkable':
      return { kind: head, module: moduleOf(listAt(items, 1, file, at), text, file), message: message(2), at };
    case 'assert_uninstantiable':
      return { kind: 'assert_module_trap', module: moduleOf(listAt(items, 1, file, at), text, file), message: message(2), at };
    default:
      return fail(at, `unknown command '${head}'`);
  }
}

function listAt(items: readonly SExpr[], i: number, file: string, at: ScriptPosition): SList {
  const e = items[i];
  if (e?.kind !== 'list') throw new WastSyntaxError(file, e?.at ?? at, 'expected a parenthesised module or action');
  return e;
}

function moduleOf(e: SList, text: string, file: string): WastModule {
  const head = e.items[0];
  if (head?.kind !== 'atom' || head.text !== 'module') throw new WastSyntaxError(file, e.at, 'expected (module …)');
  let i = 1;
  let name: string | null = null;
  if (e.items[i]?.kind === 'atom' && (e.items[i] as SAtom).text.startsWith('$')) name = (e.items[i++] as SAtom).text;
  const form = e.items[i];
  if (form?.kind === 'atom' && (form.text === 'binary' || form.text === 'quote')) {
    const parts = e.items.slice(i + 1).map((p) => {
      if (p.kind !== 'string') throw new WastSyntaxError(file, p.at, `(module ${form.text} …) takes strings only`);
      return p.bytes;
    });
    const bytes = concat(parts);
    if (form.text === 'binary') return { name, source: { form: 'binary', bytes }, at: e.at };
    return { name, source: { form: 'quote', text: `(module ${utf8(bytes)})` }, at: e.at };
  }
  // A text module: handed to the WAT front end as written, padded so that its line and column
  // numbers are the script's own.
  const before = text.slice(0, e.start);
  const padding = before.replace(/[^\n]/g, ' ');
  return { name, source: { form: 'text', text: padding + text.slice(e.start, e.end) }, at: e.at };
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function actionOf(e: SList, file: string): WastAction {
  const head = e.items[0];
  if (head?.kind !== 'atom' || (head.text !== 'invoke' && head.text !== 'get')) throw new WastSyntaxError(file, e.at, 'expected (invoke …) or (get …)');
  let i = 1;
  let module: string | null = null;
  if (e.items[i]?.kind === 'atom') module = (e.items[i++] as SAtom).text;
  const n = e.items[i++];
  if (n?.kind !== 'string') throw new WastSyntaxError(file, n?.at ?? e.at, `${head.text} needs an export name string`);
  const name = utf8(n.bytes);
  if (head.text === 'get') return { kind: 'get', module, name, at: e.at };
  const args = e.items.slice(i).map((a) => valueOf(a, file));
  return { kind: 'invoke', module, name, args, at: e.at };
}

function expectedOf(e: SExpr, file: string): WastExpected {
  if (e.kind === 'list' && e.items[0]?.kind === 'atom') {
    const head = (e.items[0] as SAtom).text;
    if (head === 'either') return { kind: 'either', options: e.items.slice(1).map((o) => expectedOf(o, file)) };
    const arg = e.items[1];
    if ((head === 'f32.const' || head === 'f64.const') && arg?.kind === 'atom' && /^[+-]?nan:(canonical|arithmetic)$/.test(arg.text)) {
      return { kind: 'nan', type: head === 'f32.const' ? 'f32' : 'f64', nan: arg.text.endsWith('canonical') ? 'canonical' : 'arithmetic' };
    }
  }
  return { kind: 'value', value: valueOf(e, file) };
}

function valueOf(e: SExpr, file: string): WastValue {
  const fail = (detail: string): never => {
    throw new WastSyntaxError(file, e.at, detail);
  };
  if (e.kind !== 'list' || e.items[0]?.kind !== 'atom') return fail('expected a constant such as (i32.const 1)');
  const head = (e.items[0] as SAtom).text;
  const arg = e.items[1];
  const argText = arg?.kind === 'atom' ? arg.text : undefined;
  switch (head) {
    case 'i32.const':
    case 'i64.const': {
      const width = head === 'i32.const' ? 32 : 64;
      const v = argText === undefined ? undefined : parseIntText(argText, width);
      if (v === undefined) return fail(`bad ${head} literal ${argText ?? '(missing)'}`);
      return { type: head === 'i32.const' ? 'i32' : 'i64', bits: v };
    }
    case 'f32.const':
    case 'f64.const': {
      const type = head === 'f32.const' ? 'f32' : 'f64';
      const v = argText === undefined ? undefined : parseFloatText(type, argText);
      if (v === undefined) return fail(`bad ${head} literal ${argText ?? '(missing)'}`);
      return { type, bits: v };
    }
    case 'v128.const':
      return { type: 'v128' };
    case 'ref.null':
      return { type: 'ref.null', heap: argText ?? fail('ref.null needs a heap type') };
    case 'ref.extern':
    case 'ref.host': {
      if (argText === undefined) return { type: 'ref.extern', id: null };
      const id = parseIntText(argText, 32);
      if (id === undefined) return fail(`bad ${head} index ${argText}`);
      return { type: 'ref.extern', id: Number(id) };
    }
    case 'ref.func':
      return { type: 'ref.func' };
    default:
      return fail(`unknown constant '${head}'`);
  }
}

/** An integer literal (decimal or hex, `_` separators, signed or unsigned) as its `width` bits. */
export function parseIntText(text: string, width: 32 | 64): bigint | undefined {
  const m = /^([+-]?)(0x[0-9a-fA-F](?:_?[0-9a-fA-F])*|[0-9](?:_?[0-9])*)$/.exec(text);
  if (!m) return undefined;
  const magnitude = BigInt(m[2].replaceAll('_', ''));
  const limit = 1n << BigInt(width);
  if (m[1] === '-') {
    if (magnitude > limit >> 1n) return undefined;
    return BigInt.asUintN(width, -magnitude);
  }
  return magnitude < limit ? magnitude : undefined;
}


