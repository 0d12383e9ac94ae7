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
  encodeGcTypes,
  encodeTags,
  encodeModuleMetadata,
  encodeStackMaps,
  encodeTraps,
  writeImage,
  type PlacedFunction,
} from './image.ts';
import { numImportedTags, type WasmModule } from './frontend/module.ts';
import { vmOffsetsFor } from './lowering/era.ts';
import { encodeUserStackMaps, type UserStackMapRecord } from './user-stackmaps.ts';
import { DEFAULT_PROFILE, PROFILES, type Profile } from '../profiles/profile.ts';
import { checkCodegen } from './profiles.ts';
import type { MemoryTunables } from './memory-tunables.ts';

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
export {
  V17_MEMORY_TUNABLES, V31_MEMORY_TUNABLES, CHECKED_MEMORY_TUNABLES, boundsCheckOf, memoryStyleOf, tunablesHonoured, tunablesWith,
  type BoundsCheck, type MemoryStyle, type MemoryTunables,
} from './memory-tunables.ts';
export type { CompiledImage, ImageFunction, ImageStackMap, ImageTrap } from './image-types.ts';

export interface CompileOptions {
  readonly arch: Arch;
  /** Where values live: `none` (every value in its stack slot, the default) or `linear-scan`. */
  readonly regalloc?: RegallocMode;
  /** Name used in errors from the ELF writer. */
  readonly file?: string;
  /** The era to compile for (profiles/); default v17. Others throw ProfileUnsupportedError until implemented. */
  readonly profile?: Profile;
  /**
   * The address space the runtime reserves for each memory (compiler/memory-tunables.ts);
   * default the era's (v17: 4 GiB + 2 GiB guard). Accesses these let through unchecked rely on
   * the guard pages; the image records them and the runtime refuses memories that fall short.
   */
  readonly memoryTunables?: MemoryTunables;
}

export function newMacroAssembler(arch: Arch): MacroAssembler {
  return arch === 'x64' ? new X64MacroAssembler() : new Aarch64MacroAssembler();
}

export { vmOffsetsFor };

/** Compiles every defined function and writes the image. Throws CompileError for unsupported input. */
export function compileModule(module: WasmModule, options: CompileOptions): CompiledImage {
  const era = checkCodegen(options.profile ?? PROFILES[DEFAULT_PROFILE]);
  const lowered = era.prepareModule(module);
  const layout = era.offsetsFor(lowered);
  const sigs = signatureIndices(module);
  const memoryTunables = options.memoryTunables ?? era.memoryTunables;
  const ctx = { module: lowered, offsets: layout, signatureOf: sigs.signatureOf, newAssembler: () => newMacroAssembler(options.arch), regalloc: options.regalloc, era, memoryTunables };
  const compiled = lowered.functions.map((fn) => compileFunction(ctx, fn));

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

  const userStackMaps = era.userStackMaps ? userStackMapsOf(placed) : undefined;
  const writeElfObject = (): Uint8Array => writeImage({
    arch: options.arch,
    file: options.file,
    text,
    placed,
    moduleSection: encodeModuleMetadata(module, options.arch, placed, sigs, memoryTunables),
    // An image with user stack maps carries no bitmap records (its refs are 4 bytes wide).
    stackMapSection: encodeStackMaps(userStackMaps ? [] : placed),
    trapSection: encodeTraps(placed),
    ...(userStackMaps ? { userStackMapSection: encodeUserStackMaps(userStackMaps) } : {}),
    ...(module.typeDefs.some((d) => d.composite.kind !== 'func' || !d.final || d.supertypes.length > 0 || d.recGroupSize !== 1)
      ? { gcTypeSection: encodeGcTypes(module.typeDefs) } : {}),
    // The tag section holds the defined tags; imported ones are in the import list.
    ...(module.tags?.length ? { tagSection: encodeTags(module.tags.slice(numImportedTags(module))) } : {}),
  });
  let elf: Uint8Array | undefined;
  const functions = placed.map(({ fn, textOffset }) => ({ ...fn, textOffset }));
  return {
    arch: options.arch,
    // Written on first read: a module instantiated in this process is placed without it
    // (runtime/place.ts relocatedText), so a fuzz campaign never writes one.
    get elf() {
      return (elf ??= writeElfObject());
    },
    text,
    functions,
    traps: functions.flatMap((f) => f.traps.map((t) => ({ textOffset: f.textOffset + t.offset, funcIndex: f.funcIndex, code: t.code }))),
    stackMaps: userStackMaps ? [] : imageStackMaps(functions),
    ...(userStackMaps ? { userStackMaps } : {}),
    signatureOf: sigs.signatureOf,
    signatures: sigs.signatures,
    memoryTunables,
    offsets: era.userStackMaps ? vmOffsetsFor(module) : (layout as ReturnType<typeof vmOffsetsFor>),
    layout,
  };
}

/** Every call site's stack map with where it is in `.text` (an object literal: a spread here cost more than the rest of it). */
function imageStackMaps(functions: readonly ImageFunction[]): ImageStackMap[] {
  const out: ImageStackMap[] = [];
  for (const f of functions) {
    for (const site of f.callSites) {
      const { mappedWords, bitmap } = stackMapOf(site, f.frameSize);
      out.push({ mappedWords, bitmap, funcIndex: f.funcIndex, site, textReturnOffset: f.textOffset + site.returnOffset });
    }
  }
  return out;
}

/**
 * The typed user stack maps of every call site (v31): the frame size and one `i32` entry per
 * live reference slot — a 32-bit VMGcRef in the low half of its 8-byte slot.
 */
function userStackMapsOf(placed: readonly PlacedFunction[]): UserStackMapRecord[] {
  return placed.flatMap(({ fn, textOffset }) => fn.callSites.map((site) => ({
    funcIndex: fn.funcIndex,
    textReturnOffset: textOffset + site.returnOffset,
    returnOffset: site.returnOffset,
    frameSize: fn.frameSize,
    entries: site.liveSlots.map((offset) => ({ type: 'i32' as const, offset })),
  })));
}
