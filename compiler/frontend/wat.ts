/**
 * WAT text → Wasm binary through wabt (WebAssembly/wabt compiled to Wasm, npm `wabt`), and the
 * mapping of errors back to line:column. wabt's instance is created asynchronously once and
 * cached, after which every conversion is synchronous (`loadWat()` then `watToBinary()`).
 *
 * wabt reports syntax and validation errors with line:column; it offers no map from binary
 * offsets to text, so errors found by stackscope's own decoder or validator are located by
 * `WatSource.locateInstruction`, which finds the instruction's mnemonic in the function's text
 * when that is unambiguous (see there) and otherwise leaves the location out.
 */
import { createRequire } from 'node:module';
import type wabtFactory from 'wabt';
import { StackscopeError } from '../../isa/error.ts';
import { CompileError } from './errors.ts';
import type { SourceLocation } from './errors.ts';
import { gcWatToBinary, usesGcSyntax } from './wat-gc.ts';
import { blockCommentEnd } from './block-comment.ts';

type Wabt = Awaited<ReturnType<typeof wabtFactory>>;

/**
 * Features wabt accepts. Everything wabt can parse is enabled (except the GC and typed
 * function-reference proposals, which change the text syntax), so that constructs outside
 * stackscope's subset reach its decoder and are reported as 'unsupported' with their name,
 * not as a syntax error.
 */
export const WAT_FEATURES = {
  mutable_globals: true,
  sat_float_to_int: true,
  sign_extension: true,
  simd: true,
  threads: true,
  multi_value: true,
  tail_call: true,
  bulk_memory: true,
  reference_types: true,
  exceptions: true,
  extended_const: true,
  memory64: true,
  relaxed_simd: true,
} as const;

/** `watToBinary` was called before `loadWat()` resolved: a programming error, not bad input. */
export class WatNotLoadedError extends StackscopeError {
  override name = 'WatNotLoadedError';
  constructor() {
    super('wabt is not initialized: await loadWat() before using the synchronous WAT functions');
  }
}

/**
 * The deepest WAT nesting handed to wabt: parentheses plus unfolded `block`/`loop`/`if`/`try`
 * bodies, counting `(module` and `(func`. wabt's parser, encoder and validator recurse once per
 * level on a fixed 64 KiB stack inside its Wasm instance, with no check: past ≈ 150 levels
 * (folded `block`s, the costliest form measured, ≈ 440 bytes a level) it traps with
 * "memory access out of bounds", loops forever, or corrupts its memory so that later valid
 * modules fail. Deeper text is rejected before wabt sees it; the binary format has no such
 * limit (`decode.ts` nests iteratively).
 */
export const MAX_WAT_NESTING = 128;

let wabtInstance: Wabt | null = null;
let wabtLoading: Promise<Wabt> | null = null;

/**
 * wabt failed without a diagnostic (a trap inside its Wasm code): its memory may be corrupt,
 * so the instance is dropped and a fresh one loaded. `parseWat` awaits it; a synchronous call
 * before it is ready gets WatNotLoadedError.
 */
function discardWabt(): void {
  wabtInstance = null;
  wabtLoading = null;
  void loadWat().catch(() => undefined); // a failure to load shows at the next loadWat()
}

/** Initializes wabt once (≈ tens of ms); later calls return the same promise. */
export async function loadWat(): Promise<void> {
  if (wabtInstance !== null) return;
  // Required on first use, not imported: wabt's 0.7 MB of JavaScript is parsed only by programs
  // that read WAT, and a consumer's bundler leaves a createRequire call to node_modules.
  wabtLoading ??= (createRequire(import.meta.url)('wabt') as typeof wabtFactory)().then((w) => (wabtInstance = w));
  await wabtLoading;
}

export function isWatLoaded(): boolean {
  return wabtInstance !== null;
}

function requireWabt(): Wabt {
  if (wabtInstance === null) throw new WatNotLoadedError();
  return wabtInstance;
}

/** A `file:line:col: error: message` line as wabt prints it (first one wins); `file`, when
 * given, replaces the name in the line. */
export interface WabtDiagnostic {
  readonly location: SourceLocation;
  readonly message: string;
}

export function parseWabtDiagnostic(text: string, file?: string): WabtDiagnostic | null {
  for (const line of text.split('\n')) {
    const m = /^(.*):(\d+):(\d+): error: (.*)$/.exec(line);
    // wabt echoes the file name it was given, but its validator's copy may carry a stray byte
    // after it ("/tmp/bad.watC"): the name we gave is the one to report.
    if (m) return { location: { file: file ?? m[1], line: Number(m[2]), column: Number(m[3]) }, message: m[4] };
  }
  return null;
}

/** The instruction wabt's validator names in messages like "type mismatch in i32.add, ...". */
function instrFromWabtMessage(message: string): string | undefined {
  const m = /(?:mismatch|error) in ([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)?)/.exec(message);
  return m ? m[1] : undefined;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** WAT text plus what is needed to turn token positions into line:column. */
export class WatSource {
  private readonly lineStarts: number[] = [0];
  private tokenCache: Token[] | null = null;
  private funcCache: FuncSpans | null = null;

  constructor(readonly file: string, readonly text: string) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.lineStarts.push(i + 1);
  }

  /** 1-based line and column of a character index. */
  locationAt(index: number): SourceLocation {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid] <= index) lo = mid;
      else hi = mid - 1;
    }
    return { file: this.file, line: lo + 1, column: index - this.lineStarts[lo] + 1 };
  }

  /**
   * Where the text first nests deeper than `limit` (parentheses plus unfolded block bodies),
   * or null. Unbalanced text is left to wabt's parser, which reports it with its location.
   */
  firstNestingBeyond(limit: number): SourceLocation | null {
    const open: boolean[] = []; // true: a parenthesis, false: an unfolded block
    let previous: Token | undefined;
    for (const t of this.tokens) {
      if (t.kind === 'open') open.push(true);
      else if (t.kind === 'close') {
        while (open.length > 0 && open.pop() === false);
      } else if (t.kind === 'atom' && previous?.kind !== 'open' && UNFOLDED_BLOCK.has(t.text)) open.push(false);
      else if (t.kind === 'atom' && (t.text === 'end' || t.text === 'delegate') && open.at(-1) === false) open.pop();
      if (open.length > limit) return this.locationAt(t.start);
      previous = t;
    }
    return null;
  }

  private get tokens(): Token[] {
    this.tokenCache ??= tokenizeWat(this.text);
    return this.tokenCache;
  }

  private get funcs(): FuncSpans {
    this.funcCache ??= findFunctionSpans(this.tokens);
    return this.funcCache;
  }

  /** Location of the `(func` of function `funcIndex` (imports first), if it is defined in the text. */
  functionLocation(funcIndex: number): SourceLocation | null {
    const span = this.funcs.defined[funcIndex - this.funcs.numImported];
    return span ? this.locationAt(this.tokens[span.open].start) : null;
  }

  /** The index of the defined function whose text contains `location`, if any. */
  functionIndexAt(location: SourceLocation): number | null {
    const lineStart = this.lineStarts[location.line - 1];
    if (lineStart === undefined) return null;
    const at = lineStart + location.column - 1;
    const k = this.funcs.defined.findIndex((span) => this.tokens[span.open].start <= at && at <= this.tokens[span.close].start);
    return k < 0 ? null : this.funcs.numImported + k;
  }

  /**
   * Where instruction `instr` of function `funcIndex` is written, given that it is the
   * `occurrence`-th (0-based) instruction with that mnemonic in the function's binary body.
   * Folded expressions emit an operator after its operands, so text order equals binary order
   * only among instructions written flat; the answer is given only when that holds for every
   * occurrence of the mnemonic, or when the mnemonic occurs exactly once. `expectedCount`
   * (occurrences in the binary body), when known, must match the text's count.
   */
  locateInstruction(funcIndex: number, instr: string, occurrence: number, expectedCount?: number): SourceLocation | null {
    const span = this.funcs.defined[funcIndex - this.funcs.numImported];
    if (!span) return null;
    const hits: number[] = [];
    let allFlat = true;
    for (let i = span.open + 1; i < span.close; i++) {
      const t = this.tokens[i];
      if (t.kind === 'atom' && t.text === instr) {
        hits.push(i);
        if (this.tokens[i - 1].kind === 'open') allFlat = false;
      }
    }
    if (hits.length === 0) return null;
    if (expectedCount !== undefined && hits.length !== expectedCount) return null;
    if (hits.length === 1) return occurrence === 0 ? this.locationAt(this.tokens[hits[0]].start) : null;
    if (!allFlat || occurrence >= hits.length) return null;
    return this.locationAt(this.tokens[hits[occurrence]].start);
  }
}

/** Instructions that open a body closed by `end` (or `delegate`) when written unfolded. */
const UNFOLDED_BLOCK = new Set(['block', 'loop', 'if', 'try', 'try_table']);

interface Token {
  readonly kind: 'open' | 'close' | 'atom' | 'string';
  readonly start: number;
  readonly text: string;
}

/** A lexer good enough to find forms: parens, atoms, strings; comments are skipped. */
function tokenizeWat(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (c === ';' && text[i + 1] === ';') {
      while (i < n && text[i] !== '\n') i++;
    } else if (c === '(' && text[i + 1] === ';') {
      i = blockCommentEnd(text, i) ?? n;
    } else if (c === '(') {
      tokens.push({ kind: 'open', start: i, text: '(' });
      i++;
    } else if (c === ')') {
      tokens.push({ kind: 'close', start: i, text: ')' });
      i++;
    } else if (c === '"') {
      const start = i++;
      while (i < n && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      i++;
      tokens.push({ kind: 'string', start, text: text.slice(start, Math.min(i, n)) });
    } else {
      const start = i;
      while (i < n && !' \t\n\r()";'.includes(text[i])) i++;
      if (i === start) i++; // a lone ';'
      tokens.push({ kind: 'atom', start, text: text.slice(start, i) });
    }
  }
  return tokens;
}

interface FuncSpans {
  /** Number of imported functions (inline `(func (import ..))` and `(import .. (func ..))`). */
  readonly numImported: number;
  /** Token index of `(` and its matching `)` for each defined function, in order. */
  readonly defined: { open: number; close: number }[];
}

function findFunctionSpans(tokens: Token[]): FuncSpans {
  // Matching parens once makes every "skip this form" O(1).
  const match = new Int32Array(tokens.length).fill(-1);
  const stack: number[] = [];
  tokens.forEach((t, i) => {
    if (t.kind === 'open') stack.push(i);
    else if (t.kind === 'close') {
      const o = stack.pop();
      if (o !== undefined) {
        match[o] = i;
        match[i] = o;
      }
    }
  });
  const head = (i: number): string | undefined => (tokens[i]?.kind === 'open' && tokens[i + 1]?.kind === 'atom' ? tokens[i + 1].text : undefined);
  let fieldsStart = 0;
  let fieldsEnd = tokens.length;
  if (head(0) === 'module' && match[0] > 0) {
    fieldsStart = 2;
    fieldsEnd = match[0];
  }
  let numImported = 0;
  const defined: { open: number; close: number }[] = [];
  for (let i = fieldsStart; i < fieldsEnd; ) {
    const close = tokens[i].kind === 'open' ? match[i] : -1;
    if (close < 0) {
      i++;
      continue;
    }
    const h = head(i);
    if (h === 'func') {
      // Inline import: `(func $id? (export ..)* (import ..) ...)`.
      let j = i + 2;
      if (tokens[j]?.kind === 'atom' && tokens[j].text.startsWith('$')) j++;
      while (head(j) === 'export' && match[j] > 0) j = match[j] + 1;
      if (head(j) === 'import') numImported++;
      else defined.push({ open: i, close });
    } else if (h === 'import') {
      for (let j = i + 2; j < close; j++) {
        if (tokens[j].kind === 'open' && match[j] > 0) {
          if (head(j) === 'func') numImported++;
          j = match[j];
        }
      }
    }
    i = close + 1;
  }
  return { numImported, defined };
}

/** Result of converting WAT: the binary and the source it came from (for locating errors). */
export interface WatBinary {
  readonly bytes: Uint8Array;
  readonly source: WatSource;
  /**
   * wabt's validator's first complaint (a CompileError 'validation' with line:column), or null
   * if it accepted the module or was not asked (`validate: false`).
   */
  readonly wabtValidationError: CompileError | null;
}

/**
 * Parses WAT and writes a binary with a name section; syntax errors throw CompileError
 * 'syntax' with line:column. wabt's validator runs too unless `validate` is false, but its
 * verdict is returned, not thrown, so callers can decide which diagnosis to report. Call
 * `loadWat()` first.
 */
export function watToBinary(text: string, file = 'input.wat', options: { validate?: boolean } = {}): WatBinary {
  try {
    return wabtToBinary(text, file, options);
  } catch (e) {
    // wabt 1.0.39 has no GC proposal: a module it cannot parse that uses GC syntax is read by
    // stackscope's own reader (wat-gc.ts), whose syntax errors then stand instead of wabt's.
    if (!(e instanceof CompileError) || e.kind !== 'syntax' || !usesGcSyntax(text)) throw e;
    const source = new WatSource(file, text);
    return { bytes: gcWatToBinary(text, source), source, wabtValidationError: null };
  }
}

function wabtToBinary(text: string, file: string, options: { validate?: boolean }): WatBinary {
  return withWabtModule(text, file, (wasmModule, source) => {
    const { buffer } = wasmModule.toBinary({ write_debug_names: true });
    const bytes = buffer.slice();
    let wabtValidationError: CompileError | null = null;
    if (options.validate !== false) {
      try {
        wasmModule.validate();
      } catch (e) {
        if (e instanceof Error && e.name === 'RuntimeError') throw e; // a trap in wabt's own code (see withWabtModule)
        wabtValidationError = validationErrorFromWabt(errorText(e), source.file);
      }
    }
    return { bytes, source, wabtValidationError };
  });
}

function validationErrorFromWabt(raw: string, file: string): CompileError {
  const diag = parseWabtDiagnostic(raw, file);
  if (diag === null) return new CompileError('validation', raw.trim());
  const instr = instrFromWabtMessage(diag.message);
  return new CompileError('validation', diag.message, instr !== undefined ? { location: diag.location, instr } : { location: diag.location });
}

type WabtModule = ReturnType<Wabt['parseWat']>;

function withWabtModule<T>(text: string, file: string, use: (m: WabtModule, source: WatSource) => T): T {
  const wabt = requireWabt();
  const source = new WatSource(file, text);
  const tooDeep = source.firstNestingBeyond(MAX_WAT_NESTING);
  if (tooDeep !== null) {
    throw new CompileError('limit', `nesting deeper than ${MAX_WAT_NESTING} levels (the WAT parser's limit; the binary format has none)`, { location: tooDeep });
  }
  let wasmModule: WabtModule;
  try {
    // As UTF-8 bytes: wabt.js copies a JS string into its memory one code unit per byte, which
    // mangles every character past U+007F (a name "é" or a byte-order mark in a string).
    wasmModule = wabt.parseWat(file, new TextEncoder().encode(text), WAT_FEATURES);
  } catch (e) {
    const raw = errorText(e);
    const diag = parseWabtDiagnostic(raw, file);
    if (diag !== null) throw new CompileError('syntax', diag.message, { location: diag.location });
    discardWabt();
    throw new CompileError('syntax', `the WAT parser failed: ${raw.trim()}`, { location: source.locationAt(0) });
  }
  try {
    return use(wasmModule, source);
  } catch (e) {
    if (e instanceof CompileError) throw e;
    discardWabt();
    throw new CompileError('syntax', `wabt could not encode the module: ${errorText(e).trim()}`, { location: source.locationAt(0) });
  } finally {
    if (wabtInstance === wabt) wasmModule.destroy(); // a discarded instance's memory is not touched again
  }
}

/**
 * wabt's validation error has the line:column; stackscope's the function, instruction index
 * and byte offset. They are combined when they evidently describe the same fault: same
 * function (wabt's location lies in its text) and, if wabt names one, the same instruction.
 */
export function mergeValidationErrors(wabtError: CompileError, ours: CompileError | null, source: WatSource): CompileError {
  if (ours === null || ours.kind !== 'validation' || ours.funcIndex === null || wabtError.location === null) return wabtError;
  if (source.functionIndexAt(wabtError.location) !== ours.funcIndex) return wabtError;
  if (wabtError.instr !== null && wabtError.instr !== ours.instr) return wabtError;
  return new CompileError('validation', wabtError.detail, { ...ours.site, location: wabtError.location });
}
