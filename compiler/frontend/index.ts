/**
 * Entry points of the front end: WAT text or a Wasm binary in, a validated `WasmModule` out,
 * or a `CompileError` saying what and where. Lower-level pieces (decodeModule, validateModule,
 * watToBinary) are re-exported for tools and tests.
 */
import { decodeModule } from './decode.ts';
import { blockCommentEnd } from './block-comment.ts';
import { CompileError } from './errors.ts';
import type { WasmModule } from './module.ts';
import { validateModule } from './validate.ts';
import { loadWat, mergeValidationErrors, watToBinary } from './wat.ts';
import type { WatSource } from './wat.ts';

export { CompileError } from './errors.ts';
export type { CompileErrorKind, CompileErrorSite, SourceLocation } from './errors.ts';
export { computeEscapedFunctions, decodeModule, MAX_FUNCTION_PARAMS_OR_RESULTS, MAX_LOCALS } from './decode.ts';
export { MAX_MEMORY_PAGES, validateModule } from './validate.ts';
export { isWatLoaded, loadWat, mergeValidationErrors, parseWabtDiagnostic, WAT_FEATURES, WatNotLoadedError, WatSource, watToBinary } from './wat.ts';
export type { WabtDiagnostic, WatBinary } from './wat.ts';
export * from './module.ts';
export { formatInstr } from './print.ts';
import { usesStackSwitchingSyntax, watToBinaryWithBinaryen } from './wat-binaryen.ts';

export interface WatOptions {
  /** File name used in locations (default 'input.wat'). */
  readonly fileName?: string;
}

/** Decodes and validates a binary module. */
export function parseWasm(bytes: Uint8Array): WasmModule {
  const module = decodeModule(bytes);
  validateModule(module);
  return module;
}

/**
 * WAT → validated module, synchronously (requires `await loadWat()` once beforehand).
 * Diagnosis order: wabt's syntax errors; then stackscope's decoder, so constructs outside the
 * subset are named as 'unsupported'; then wabt's validator (its messages carry line:column,
 * and stackscope's validator adds function, instruction index and byte offset when it finds
 * the same fault); then stackscope's validator, whose errors are located in the text when the
 * instruction can be found there unambiguously.
 */
export function parseWatText(text: string, options: WatOptions = {}): WasmModule {
  const { bytes, source, wabtValidationError } = watToBinary(text, options.fileName ?? 'input.wat');
  let module: WasmModule;
  try {
    module = decodeModule(bytes);
  } catch (e) {
    if (!(e instanceof CompileError)) throw e;
    if (wabtValidationError !== null && (e.kind === 'malformed' || e.kind === 'validation')) throw wabtValidationError;
    throw locateInText(e, source, null);
  }
  if (wabtValidationError !== null) {
    let ours: CompileError | null = null;
    try {
      validateModule(module);
    } catch (e) {
      if (!(e instanceof CompileError)) throw e;
      ours = e;
    }
    throw mergeValidationErrors(wabtValidationError, ours, source);
  }
  try {
    validateModule(module);
  } catch (e) {
    if (!(e instanceof CompileError)) throw e;
    throw locateInText(e, source, module);
  }
  return module;
}

/**
 * `parseWatText` after making sure wabt is loaded; text with stack-switching syntax, which wabt
 * does not parse, goes through Binaryen instead (wat-binaryen.ts) and is decoded and validated as
 * a binary.
 */
export async function parseWat(text: string, options: WatOptions = {}): Promise<WasmModule> {
  if (usesStackSwitchingSyntax(text)) return parseWasm(await watToBinaryWithBinaryen(text, options.fileName ?? 'input.wat'));
  await loadWat();
  return parseWatText(text, options);
}

/**
 * A string is WAT text. Bytes are WAT text when they are UTF-8 whose first token, after an
 * optional byte-order mark, whitespace and comments, is `(` (every text module starts so, as in
 * the wasm-tools `wat` crate's detection); anything else, including empty or truncated input,
 * is decoded as a binary and gets the binary format's errors (empty input, missing magic
 * header, ...), never read as an empty text module.
 */
export async function parseModuleSource(input: string | Uint8Array, options: WatOptions = {}): Promise<WasmModule> {
  if (typeof input !== 'string') {
    const text = watTextOf(input);
    if (text === null) return parseWasm(input);
    input = text;
  }
  return parseWat(input, options);
}

const utf8Text = new TextDecoder('utf-8', { fatal: true }); // drops a leading BOM, as editors expect

/** The text of `bytes` if they look like a WAT module (see parseModuleSource), else null. */
export function watTextOf(bytes: Uint8Array): string | null {
  if (bytes.length >= 4 && bytes[0] === 0 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d) return null;
  let text: string;
  try {
    text = utf8Text.decode(bytes);
  } catch {
    return null;
  }
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (text.startsWith(';;', i)) {
      const eol = text.indexOf('\n', i);
      i = eol < 0 ? text.length : eol + 1;
    } else if (text.startsWith('(;', i)) {
      i = blockCommentEnd(text, i) ?? text.length;
    } else {
      return c === '(' ? text : null;
    }
  }
  return null;
}

/** Adds a line:column to an error from the decoder or validator when the text pins it down. */
function locateInText(e: CompileError, source: WatSource, module: WasmModule | null): CompileError {
  if (e.location !== null || e.funcIndex === null || e.instr === null) return e;
  let location = null;
  const fn = module?.functions.find((f) => f.index === e.funcIndex);
  if (fn !== undefined && e.instrIndex !== null) {
    let before = 0;
    let total = 0;
    fn.body.forEach((instr, i) => {
      if (instr.op !== e.instr) return;
      total++;
      if (i < e.instrIndex!) before++;
    });
    location = source.locateInstruction(e.funcIndex, e.instr, before, total);
  } else if (e.kind === 'unsupported') {
    // The decoder stops at the first instruction it cannot handle, so this is the first
    // occurrence of the mnemonic in the function's binary body.
    location = source.locateInstruction(e.funcIndex, e.instr, 0);
  } else {
    location = source.locateInstruction(e.funcIndex, e.instr, 0, 1);
  }
  return location !== null ? e.withSite({ location }) : e;
}
