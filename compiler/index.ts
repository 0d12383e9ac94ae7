/**
 * The compiler's entry point: a validated `WasmModule` in, a `CompiledImage` out (the ELF
 * relocatable object plus the same facts as structured data, for tests and tools).
 */
import type { Arch } from '../isa/arch.ts';
import { Aarch64MacroAssembler } from './codegen/aarch64.ts';
import type { MacroAssembler } from './codegen/common.ts';
import type { TrapCode } from '../isa/trap-codes.ts';
import { X64MacroAssembler } from './codegen/x64.ts';
import { compileFunction, signatureIndices, stackMapOf, type RegallocMode } from './function.ts';
import type { CompiledImage, ImageFunction, ImageStackMap, ImageTrap } from './image-types.ts';
import {
  FUNCTION_ALIGN,
  encodeModuleMetadata,
  encodeStackMaps,
  encodeTraps,
  writeImage,
  type PlacedFunction,
} from './image.ts';
import type { WasmModule } from './frontend/module.ts';
import { VMOffsets } from './vmoffsets.ts';
import { DEFAULT_PROFILE, PROFILES, type Profile } from '../profiles/profile.ts';
import { checkCodegen } from './profiles.ts';

export { CodegenError } from './codegen/common.ts';
export { TRAP_CODES, trapCodeNumber, type TrapCode } from '../isa/trap-codes.ts';
export { AARCH64_TRAP_IMMEDIATE } from '../isa/aarch64/encoder.ts';
export { functionSymbol, stackMapOf, REGALLOC_MODES } from './function.ts';
export type { CallSite, CallSiteKind, CompiledFunction, RegallocMode, StackMap } from './function.ts';
export { frameSlotName } from './lowering/frame.ts';
export { SECTION_MODULE, SECTION_STACKMAPS, SECTION_TRAPS } from './image.ts';
export { ImageFormatError, readModuleMetadata, readStackMaps, readTrapTable } from './image-reader.ts';
export type { ImageMetadata, StackMapRecord, TrapRecord } from './image-reader.ts';
export { StackMapIndex } from './stackmaps.ts';
export {
  SECTION_USER_STACKMAPS, encodeUserStackMaps, readUserStackMaps, userStackMapProblem,
  type UserStackMapEntry, type UserStackMapRecord, type UserStackMapType,
} from './user-stackmaps.ts';
export { formatListing } from './listing.ts';
export type { CompiledImage, ImageFunction, ImageStackMap, ImageTrap } from './image-types.ts';

export interface CompileOptions {
  readonly arch: Arch;
  /** Where values live: `none` (every value in its stack slot, the default) or `linear-scan`. */
  readonly regalloc?: RegallocMode;
  /** Name used in errors from the ELF writer. */
  readonly file?: string;
  /** The era to compile for (profiles/); default v17. Others throw ProfileUnsupportedError until implemented. */
  readonly profile?: Profile;
}

export function newMacroAssembler(arch: Arch): MacroAssembler {
  return arch === 'x64' ? new X64MacroAssembler() : new Aarch64MacroAssembler();
}

export function vmOffsetsFor(module: WasmModule): VMOffsets {
  const c = module.counts;
  return new VMOffsets({
    numImportedFunctions: c.numImportedFunctions,
    numImportedTables: c.numImportedTables,
    numImportedMemories: c.numImportedMemories,
    numImportedGlobals: c.numImportedGlobals,
    numDefinedTables: c.numDefinedTables,
    numDefinedMemories: c.numDefinedMemories,
    numOwnedMemories: c.numOwnedMemories,
    numDefinedGlobals: c.numDefinedGlobals,
    numEscapedFuncs: c.numEscapedFunctions,
  });
}

/** Compiles every defined function and writes the image. Throws CompileError for unsupported input. */
export function compileModule(module: WasmModule, options: CompileOptions): CompiledImage {
  checkCodegen(options.profile ?? PROFILES[DEFAULT_PROFILE]);
  const offsets = vmOffsetsFor(module);
  const sigs = signatureIndices(module);
  const ctx = { module, offsets, signatureOf: sigs.signatureOf, newAssembler: () => newMacroAssembler(options.arch), regalloc: options.regalloc };
  const compiled = module.functions.map((fn) => compileFunction(ctx, fn));

  let size = 0;
  const placed: PlacedFunction[] = compiled.map((fn) => {
    size = Math.ceil(size / FUNCTION_ALIGN) * FUNCTION_ALIGN;
    const p = { fn, textOffset: size };
    size += fn.code.length;
    return p;
  });
  const text = new Uint8Array(size);
  // Padding between functions traps if ever executed: int3 (0xcc) on x64, as assemblers pad,
  // and zero words (`udf #0`) on AArch64.
  if (options.arch === 'x64') text.fill(0xcc);
  for (const { fn, textOffset } of placed) text.set(fn.code, textOffset);

  const elf = writeImage({
    arch: options.arch,
    file: options.file,
    text,
    placed,
    moduleSection: encodeModuleMetadata(module, options.arch, placed, sigs),
    stackMapSection: encodeStackMaps(placed),
    trapSection: encodeTraps(placed),
  });
  const functions = placed.map(({ fn, textOffset }) => ({ ...fn, textOffset }));
  return {
    arch: options.arch,
    elf,
    text,
    functions,
    traps: functions.flatMap((f) => f.traps.map((t) => ({ textOffset: f.textOffset + t.offset, funcIndex: f.funcIndex, code: t.code }))),
    stackMaps: functions.flatMap((f) =>
      f.callSites.map((site) => ({ ...stackMapOf(site, f.frameSize), funcIndex: f.funcIndex, site, textReturnOffset: f.textOffset + site.returnOffset })),
    ),
    signatureOf: sigs.signatureOf,
    signatures: sigs.signatures,
    offsets,
  };
}
