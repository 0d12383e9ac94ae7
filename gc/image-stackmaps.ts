/**
 * Adapters from the compiler's stack-map output to the registry's input model: either the
 * in-memory `CompiledImage` or the `.stackscope.module` / `.stackscope.stackmaps` sections
 * read back from an image (compiler/image-reader.ts; format in docs/image-format.md). Function
 * starts are text-section offsets, so `textStart` is the guest address `.text` was placed at.
 */
import type { CompiledImage } from '../compiler/index.ts';
import type { ImageFunctionInfo, StackMapRecord } from '../compiler/image-reader.ts';
import { StackMapRegistryError } from './errors.ts';
import type { FunctionStackMapsInput, ModuleStackMapsInput } from './stackmap-registry.ts';

/** From a freshly compiled image. */
export function stackMapsFromCompiledImage(moduleName: string, textStart: bigint, image: CompiledImage): ModuleStackMapsInput {
  const byIndex = new Map<number, FunctionStackMapsInput>();
  const functions = image.functions.map((f) => {
    const entry: FunctionStackMapsInput = { name: f.name, start: BigInt(f.textOffset), length: f.code.length, maps: [] };
    byIndex.set(f.funcIndex, entry);
    return entry;
  });
  for (const m of image.stackMaps) {
    const f = byIndex.get(m.funcIndex);
    if (!f) throw new StackMapRegistryError(moduleName, 'bad-map', `stack map for unknown function index ${m.funcIndex}`);
    f.maps.push({
      returnAddressOffset: m.site.returnOffset, callOffset: m.site.callOffset, mappedWords: m.mappedWords, bits: Uint32Array.from(m.bitmap),
    });
  }
  return { moduleName, textStart, functions };
}

/** From the image's sections (the function table of `.stackscope.module` and `.stackscope.stackmaps`). */
export function stackMapsFromImageSections(
  moduleName: string,
  textStart: bigint,
  functions: readonly ImageFunctionInfo[],
  records: readonly StackMapRecord[],
): ModuleStackMapsInput {
  const byIndex = new Map<number, FunctionStackMapsInput & { textOffset: number }>();
  const out = functions.map((f) => {
    const entry = { name: f.name, start: BigInt(f.textOffset), length: f.size, maps: [], textOffset: f.textOffset };
    byIndex.set(f.funcIndex, entry);
    return entry;
  });
  for (const r of records) {
    const f = byIndex.get(r.funcIndex);
    if (!f) throw new StackMapRegistryError(moduleName, 'bad-map', `stack map record for unknown function index ${r.funcIndex}`);
    if (f.textOffset + r.returnOffset !== r.textReturnOffset) {
      throw new StackMapRegistryError(moduleName, 'bad-map', `record's text return offset ${r.textReturnOffset} disagrees with function offset ${f.textOffset} + ${r.returnOffset}`, f.name);
    }
    f.maps.push({ returnAddressOffset: r.returnOffset, callOffset: r.callOffset, mappedWords: r.mappedWords, bits: Uint32Array.from(r.bitmap) });
  }
  return { moduleName, textStart, functions: out.map(({ textOffset: _, ...f }) => f) };
}
