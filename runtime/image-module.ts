/**
 * Modules from compiled images. The runtime needs two things from a module: its shape (the
 * `WasmModule` facts VMContext construction uses — types, imports, definitions, segments,
 * escaped functions) and its code (the ELF object, function offsets, trap sites, stack maps,
 * signature slots). `ModuleCode` is that code part, made either from a freshly compiled
 * `CompiledImage` or from an image's bytes alone: the ELF's `.stackscope.module`,
 * `.stackscope.traps` and `.stackscope.stackmaps` sections (docs/image-format.md), from which
 * the shape is rebuilt and checked for consistency so that a damaged image is a typed error.
 */
import type { Arch } from '../isa/arch.ts';
import type { CompiledImage, MemoryTunables } from '../compiler/index.ts';
import { SECTION_GC_TYPES, SECTION_MODULE, SECTION_STACKMAPS, SECTION_TAGS, SECTION_TRAPS } from '../compiler/image.ts';
import { readGcTypes, readTags, readModuleMetadata, readStackMaps, readTrapTable, type ImageMetadata } from '../compiler/image-reader.ts';
import type {
  ConstExpr, DefinedFunction, ElementSegment, DataSegment, Import, WasmModule,
} from '../compiler/frontend/module.ts';
import { stackMapsFromCompiledImage, stackMapsFromImageSections } from '../gc/image-stackmaps.ts';
import type { ModuleStackMapsInput } from '../gc/stackmap-registry.ts';
import { readElf } from '../loader/elf.ts';
import { SECTION_USER_STACKMAPS, readUserStackMaps, type UserStackMapRecord } from '../compiler/user-stackmaps.ts';
import { RuntimeError } from './errors.ts';
import { funcTypeDefs, type SubType } from '../compiler/frontend/module.ts';

/** An image that cannot be turned into a module; `file` and `what` say where. */
export class ImageModuleError extends RuntimeError {
  override name = 'ImageModuleError';
}

export interface ModuleCodeFunction {
  readonly funcIndex: number;
  readonly textOffset: number;
  readonly size: number;
  readonly name: string;
}

/** The code side of a module, whatever it was made from. */
export interface ModuleCode {
  readonly arch: Arch;
  /** The ELF relocatable object to link and place. */
  readonly elf: Uint8Array;
  /** Defined functions in defined-index order. */
  readonly functions: readonly ModuleCodeFunction[];
  /** Trap sites: text offset and trap code name (Cranelift's or wasmtime's). */
  readonly traps: readonly { readonly textOffset: number; readonly code: string }[];
  readonly signatureOf: readonly number[];
  readonly signatures: readonly number[];
  /** The memory tunables the code was compiled for: the address space its memories must have. */
  readonly memoryTunables: MemoryTunables;
  /** The stack maps for gc/'s registry, once `.text` is placed at `textStart`. */
  stackMaps(moduleName: string, textStart: bigint): ModuleStackMapsInput;
  /** Typed user stack maps (v31 code: `.stackscope.usermaps`); absent for v17 code. */
  readonly userStackMaps?: readonly UserStackMapRecord[];
  /**
   * The compiler's output, when the module was compiled in this process: a code area places
   * its text without the ELF round trip (runtime/place.ts relocatedText).
   */
  readonly compiled?: CompiledImage;
}

export function codeOfCompiledImage(image: CompiledImage): ModuleCode {
  return {
    arch: image.arch,
    // Read when the module is linked through its ELF object (images written by the compiler
    // are made on first read).
    get elf() {
      return image.elf;
    },
    compiled: image,
    functions: image.functions.map((f) => ({ funcIndex: f.funcIndex, textOffset: f.textOffset, size: f.code.length, name: f.name })),
    traps: image.traps.map((t) => ({ textOffset: t.textOffset, code: t.code })),
    signatureOf: image.signatureOf,
    signatures: image.signatures,
    memoryTunables: image.memoryTunables,
    stackMaps: (name, textStart) => stackMapsFromCompiledImage(name, textStart, image),
    ...(image.userStackMaps ? { userStackMaps: image.userStackMaps } : {}),
  };
}

/** Reads an image's sections and rebuilds the module shape and code. */
export function moduleFromImageBytes(bytes: Uint8Array, file = 'image.o'): { wasm: WasmModule; code: ModuleCode } {
  const elf = readElf(bytes, file);
  const section = (name: string): Uint8Array => {
    const s = elf.sections.find((x) => x.name === name);
    if (!s) throw new ImageModuleError(file, `no ${name} section: not a stackscope image`);
    return s.data;
  };
  const meta = readModuleMetadata(section(SECTION_MODULE));
  if (meta.arch !== elf.arch) throw new ImageModuleError(file, `metadata says ${meta.arch}, the ELF header ${elf.arch}`);
  const traps = readTrapTable(section(SECTION_TRAPS));
  const records = readStackMaps(section(SECTION_STACKMAPS));
  const gcTypes = elf.sections.find((x) => x.name === SECTION_GC_TYPES);
  const typeDefs = gcTypes ? readGcTypes(gcTypes.data) : funcTypeDefs(meta.types);
  if (typeDefs.length !== meta.types.length) throw new ImageModuleError(file, `${SECTION_GC_TYPES} has ${typeDefs.length} types, the metadata ${meta.types.length}`);
  const tagSection = elf.sections.find((x) => x.name === SECTION_TAGS);
  // The tag index space: imported tags (from the import list), then the section's.
  const tags = [
    ...meta.imports.flatMap((imp) => (imp.kind === 'tag' ? [{ typeIndex: imp.typeIndex, offset: 0 }] : [])),
    ...(tagSection ? readTags(tagSection.data) : []),
  ];
  tags.forEach((t, i) => {
    if (typeDefs[t.typeIndex]?.composite.kind !== 'func') throw new ImageModuleError(file, `${SECTION_TAGS}: tag ${i} names type ${t.typeIndex}, not a function type`);
  });
  const wasm = { ...shapeFromMetadata(meta, typeDefs, file, tags.length), ...(tags.length ? { tags } : {}) };
  const textSize = Number(elf.sections.find((s) => s.name === '.text')?.size ?? 0n);
  for (const f of meta.functions) {
    if (f.textOffset + f.size > textSize) throw new ImageModuleError(file, `function ${f.funcIndex} lies outside .text (${textSize} bytes)`);
  }
  for (const t of traps) {
    if (t.textOffset >= textSize) throw new ImageModuleError(file, `trap site at .text+${t.textOffset} lies outside .text`);
  }
  const userMaps = elf.sections.find((x) => x.name === SECTION_USER_STACKMAPS);
  const userStackMaps = userMaps ? readUserStackMaps(userMaps.data) : undefined;
  for (const r of userStackMaps ?? []) {
    if (r.textReturnOffset > textSize) throw new ImageModuleError(file, `user stack map at .text+${r.textReturnOffset} lies outside .text`);
  }
  const code: ModuleCode = {
    arch: elf.arch,
    elf: bytes,
    functions: meta.functions.map((f) => ({ funcIndex: f.funcIndex, textOffset: f.textOffset, size: f.size, name: f.name })),
    traps,
    signatureOf: meta.signatureOf,
    signatures: meta.signatures,
    memoryTunables: meta.memoryTunables,
    stackMaps: (name, textStart) => stackMapsFromImageSections(name, textStart, meta.functions, records),
    ...(userStackMaps ? { userStackMaps } : {}),
  };
  return { wasm, code };
}

function shapeFromMetadata(meta: ImageMetadata, typeDefs: SubType[], file: string, numTags: number): WasmModule {
  const fail = (what: string): never => { throw new ImageModuleError(file, what); };
  const c = meta.counts;
  const perKind = { func: 0, table: 0, memory: 0, global: 0, tag: 0 };
  const imports: Import[] = meta.imports.map((imp) => ({ ...imp, index: perKind[imp.kind]++, offset: 0 }) as Import);
  const pairs: Array<[string, number, number]> = [
    ['imported functions', perKind.func, c.numImportedFunctions], ['imported tables', perKind.table, c.numImportedTables],
    ['imported memories', perKind.memory, c.numImportedMemories], ['imported globals', perKind.global, c.numImportedGlobals],
    ['defined functions', meta.functions.length, c.numDefinedFunctions], ['defined tables', meta.tables.length, c.numDefinedTables],
    ['defined memories', meta.memories.length, c.numDefinedMemories], ['defined globals', meta.globals.length, c.numDefinedGlobals],
    ['escaped functions', meta.escapedFunctions.length, c.numEscapedFunctions],
  ];
  for (const [what, got, want] of pairs) if (got !== want) fail(`${got} ${what} listed, counts say ${want}`);
  if (c.numOwnedMemories !== meta.memories.filter((m) => !m.shared).length) fail('numOwnedMemories disagrees with the memories');
  if (meta.signatureOf.length !== meta.types.length) fail('signatureOf does not cover every type');
  meta.signatureOf.forEach((s, t) => { if (meta.signatures[s] === undefined) fail(`type ${t} maps to missing signature ${s}`); });
  meta.signatures.forEach((t, s) => { if (meta.types[t] === undefined) fail(`signature ${s} names missing type ${t}`); });
  const typeOf = (t: number, what: string) => meta.types[t] ?? fail(`${what}: type index ${t} out of range`);

  const funcTypeIndices: number[] = [];
  for (const imp of meta.imports) if (imp.kind === 'func') { typeOf(imp.typeIndex, `import ${imp.module}.${imp.name}`); funcTypeIndices.push(imp.typeIndex); }
  const functions: DefinedFunction[] = meta.functions.map((f, i) => {
    if (f.funcIndex !== c.numImportedFunctions + i) fail(`function entry ${i} has index ${f.funcIndex}, expected ${c.numImportedFunctions + i}`);
    funcTypeIndices.push(f.typeIndex);
    return {
      index: f.funcIndex, definedIndex: i, typeIndex: f.typeIndex, type: typeOf(f.typeIndex, `function ${f.funcIndex}`),
      locals: [], body: [], offset: 0, end: 0, maxStackHeight: 0,
    };
  });
  const nFuncs = funcTypeIndices.length;
  const tableTypes = [...meta.imports.flatMap((i) => (i.kind === 'table' ? [i.type] : [])), ...meta.tables];
  const memoryTypes = [...meta.imports.flatMap((i) => (i.kind === 'memory' ? [i.type] : [])), ...meta.memories];
  const globalTypes = [...meta.imports.flatMap((i) => (i.kind === 'global' ? [i.type] : [])), ...meta.globals.map((g) => g.type)];
  const checkConst = (e: ConstExpr, what: string): void => {
    if (e.op === 'ref.func' && (e.func < 0 || e.func >= nFuncs)) fail(`${what}: ref.func ${e.func} out of range`);
    if (e.op === 'global.get' && (e.global < 0 || e.global >= c.numImportedGlobals)) fail(`${what}: global.get ${e.global} is not an imported global`);
  };
  meta.globals.forEach((g, i) => checkConst(g.init, `global ${c.numImportedGlobals + i}`));
  const elements: ElementSegment[] = meta.elements.map((e, i) => {
    if (e.mode.kind === 'active') {
      if (tableTypes[e.mode.table] === undefined) fail(`element segment ${i}: table ${e.mode.table} out of range`);
      checkConst(e.mode.offsetExpr, `element segment ${i}`);
    }
    e.items.forEach((item) => checkConst(item, `element segment ${i}`));
    return { index: i, mode: e.mode, elemType: e.elemType, items: e.items, offset: 0 };
  });
  const datas: DataSegment[] = meta.datas.map((d, i) => {
    if (d.mode.kind === 'active') {
      if (memoryTypes[d.mode.memory] === undefined) fail(`data segment ${i}: memory ${d.mode.memory} out of range`);
      checkConst(d.mode.offsetExpr, `data segment ${i}`);
    }
    return { index: i, mode: d.mode, bytes: d.bytes, offset: 0 };
  });
  const limit = { func: nFuncs, table: tableTypes.length, memory: memoryTypes.length, global: globalTypes.length, tag: numTags };
  for (const e of meta.exports) if (e.index < 0 || e.index >= limit[e.kind]) fail(`export ${JSON.stringify(e.name)}: ${e.kind} ${e.index} out of range`);
  if (meta.start !== null && (meta.start >= nFuncs || typeOf(funcTypeIndices[meta.start], 'start').params.length > 0)) fail(`bad start function ${meta.start}`);
  const escapedIndex = new Map<number, number>();
  meta.escapedFunctions.forEach((f, i) => {
    if (f < 0 || f >= nFuncs || escapedIndex.has(f)) fail(`escaped function ${f} out of range or repeated`);
    escapedIndex.set(f, i);
  });
  const names = { module: null, functions: new Map(meta.functions.map((f) => [f.funcIndex, f.name])), locals: new Map() };
  return {
    types: meta.types, typeDefs, imports, functions,
    tables: meta.tables.map((type, i) => ({ index: c.numImportedTables + i, definedIndex: i, type })),
    memories: meta.memories.map((type, i) => ({ index: c.numImportedMemories + i, definedIndex: i, type })),
    globals: meta.globals.map((g, i) => ({ index: c.numImportedGlobals + i, definedIndex: i, type: g.type, init: g.init })),
    exports: meta.exports, start: meta.start, elements, datas, dataCount: null, names,
    funcTypeIndices, tableTypes, memoryTypes, globalTypes,
    canonicalTypeIndices: meta.signatureOf.map((s) => meta.signatures[s]),
    counts: c, escapedFunctions: meta.escapedFunctions, escapedIndex,
  };
}
