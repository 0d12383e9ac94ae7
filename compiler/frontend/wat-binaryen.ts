/**
 * WAT with the stack-switching proposal's syntax (`(cont $ft)` types, `(tag ...)`, `cont.new`,
 * `resume ... (on $tag $label)`, `suspend`), which wabt 1.0.39 cannot parse, turned into a binary
 * by Binaryen (npm `binaryen`, the WebAssembly project's toolchain library compiled to Wasm). It
 * is loaded only for such text (it takes seconds to instantiate) and only asked to parse and
 * write the module back: no optimisation passes. Binaryen writes the name section
 * (debug info on), so function names survive into listings and explanations.
 *
 * Binaryen's text parser has its own order rules (imports before definitions) and its binary
 * writer may restructure multi-value blocks into scratch locals; the decoder and validator then
 * see that binary like any other.
 */
import { CompileError } from './errors.ts';

/** The part of Binaryen's JS API used here (typed locally, so type-checking does not need the package installed). */
interface BinaryenModule {
  setFeatures(features: number): void;
  emitBinary(): Uint8Array;
  dispose(): void;
}
interface Binaryen {
  parseText(text: string): BinaryenModule;
  setDebugInfo(on: boolean): void;
  readonly Features: Readonly<Record<'MutableGlobals' | 'NontrappingFPToInt' | 'BulkMemory' | 'SignExt' | 'TailCall' | 'ReferenceTypes' | 'Multivalue' | 'GC' | 'StackSwitching' | 'ExceptionHandling', number>>;
}
const BINARYEN = 'binaryen';
let binaryen: Binaryen | undefined;

/** Whether `text` uses stack-switching syntax wabt does not know. */
export function usesStackSwitchingSyntax(text: string): boolean {
  return /\(\s*(?:cont\s|tag[\s)]|cont\.new\b|resume\b|suspend\b)|\bcont\.new\b|\bresume\s+\$|\bsuspend\s+\$/.test(text);
}

/**
 * The binary of WAT `text` through Binaryen's parser; a syntax or type error is a CompileError
 * ('malformed') carrying Binaryen's line:column message.
 */
export async function watToBinaryWithBinaryen(text: string, file = 'input.wat'): Promise<Uint8Array> {
  binaryen ??= ((await import(BINARYEN)) as { default: Binaryen }).default;
  const b = binaryen;
  let module: BinaryenModule;
  try {
    module = b.parseText(text);
  } catch (e) {
    const message = e instanceof Error ? e.message : String((e as { message?: unknown })?.message ?? e);
    throw new CompileError('malformed', `${file}:${message.replace(/^(\d+:\d+): error: /, '$1: ')} (Binaryen's WAT parser)`);
  }
  try {
    // The proposals the subset decodes (Binaryen files tags under exception handling); not All,
    // which turns on encodings the decoder does not know (compact imports). Validation is
    // stackscope's own, after decoding.
    const f = b.Features;
    module.setFeatures(f.MutableGlobals | f.NontrappingFPToInt | f.BulkMemory | f.SignExt | f.TailCall | f.ReferenceTypes | f.Multivalue | f.GC | f.StackSwitching | f.ExceptionHandling);
    b.setDebugInfo(true);
    return module.emitBinary();
  } finally {
    module.dispose();
  }
}
