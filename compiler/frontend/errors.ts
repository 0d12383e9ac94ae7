import { StackscopeError, hex } from '../../isa/error.ts';

/**
 * What went wrong, in the order the front end can discover it:
 * - `syntax`: the WAT text does not parse (wabt's parser said so);
 * - `malformed`: the binary does not follow the encoding (bad LEB128, truncated section, ...);
 * - `validation`: well-formed but ill-typed (the spec's validation algorithm rejects it);
 * - `unsupported`: valid WebAssembly outside stackscope's subset (floats, SIMD, threads, ...);
 * - `limit`: valid, but beyond an implementation limit (e.g. too many locals).
 */
export type CompileErrorKind = 'syntax' | 'malformed' | 'validation' | 'unsupported' | 'limit';

/** A position in WAT source text; line and column are 1-based, as wabt and editors print them. */
export interface SourceLocation {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/**
 * Where an error was found. Every field is optional because different stages know different
 * things: the decoder knows byte offsets and sections, the validator also knows the function
 * and instruction, and only the WAT layer can add a line:column.
 */
export interface CompileErrorSite {
  /** Byte offset in the Wasm binary (for WAT input: the binary wabt produced from it). */
  readonly offset?: number;
  readonly location?: SourceLocation;
  /** The input file, when the error has no line:column to carry it (a binary's errors). */
  readonly file?: string;
  /** Section name, e.g. 'code', 'element'. */
  readonly section?: string;
  /** Function index in the module's function index space (imports first). */
  readonly funcIndex?: number;
  /** Index of the instruction within the function body's instruction array. */
  readonly instrIndex?: number;
  /** Mnemonic of the offending instruction, e.g. 'f32.add'. */
  readonly instr?: string;
  /** Readable function name (from the name section), if known. */
  readonly funcName?: string;
}

/** The one error class of the compiler: syntax, decoding, validation and subset errors. */
export class CompileError extends StackscopeError {
  override name = 'CompileError';
  readonly kind: CompileErrorKind;
  /** The message without the location prefix/suffix. */
  readonly detail: string;
  readonly offset: number | null;
  readonly location: SourceLocation | null;
  readonly file: string | null;
  readonly section: string | null;
  readonly funcIndex: number | null;
  readonly instrIndex: number | null;
  readonly instr: string | null;
  readonly funcName: string | null;

  constructor(kind: CompileErrorKind, detail: string, site: CompileErrorSite = {}) {
    super(formatCompileError(kind, detail, site));
    this.kind = kind;
    this.detail = detail;
    this.offset = site.offset ?? null;
    this.location = site.location ?? null;
    this.file = site.file ?? null;
    this.section = site.section ?? null;
    this.funcIndex = site.funcIndex ?? null;
    this.instrIndex = site.instrIndex ?? null;
    this.instr = site.instr ?? null;
    this.funcName = site.funcName ?? null;
  }

  get site(): CompileErrorSite {
    const site: { -readonly [K in keyof CompileErrorSite]: CompileErrorSite[K] } = {};
    if (this.offset !== null) site.offset = this.offset;
    if (this.location !== null) site.location = this.location;
    if (this.file !== null) site.file = this.file;
    if (this.section !== null) site.section = this.section;
    if (this.funcIndex !== null) site.funcIndex = this.funcIndex;
    if (this.instrIndex !== null) site.instrIndex = this.instrIndex;
    if (this.instr !== null) site.instr = this.instr;
    if (this.funcName !== null) site.funcName = this.funcName;
    return site;
  }

  /** The same error with more location facts (later stages know more than earlier ones). */
  withSite(extra: CompileErrorSite): CompileError {
    return new CompileError(this.kind, this.detail, { ...this.site, ...extra });
  }

  /**
   * The same error said of `file` (the path the user gave): `FILE:line:col: …` when it has a
   * line and column, else `FILE: …`.
   */
  inFile(file: string): CompileError {
    return this.withSite(this.location ? { location: { ...this.location, file } } : { file });
  }
}

function formatCompileError(kind: CompileErrorKind, detail: string, site: CompileErrorSite): string {
  const where: string[] = [];
  if (site.funcIndex !== undefined) {
    where.push(`function ${site.funcIndex}` + (site.funcName !== undefined ? ` ($${site.funcName})` : ''));
  }
  if (site.instrIndex !== undefined) {
    where.push(`instruction ${site.instrIndex}` + (site.instr !== undefined ? ` '${site.instr}'` : ''));
  } else if (site.instr !== undefined) {
    where.push(`'${site.instr}'`);
  }
  if (site.section !== undefined) where.push(`${site.section} section`);
  if (site.offset !== undefined) where.push(`byte offset ${hex(site.offset)}`);
  const prefix = site.location ? `${site.location.file}:${site.location.line}:${site.location.column}: ` : site.file !== undefined ? `${site.file}: ` : '';
  const suffix = where.length > 0 ? ` (${where.join(', ')})` : '';
  return `${prefix}${kind} error: ${detail}${suffix}`;
}
