/**
 * Serializes a compiled module as an ELF64 relocatable object: `.text`, its relocations, one
 * symbol per defined function, and three custom (non-allocated) sections specified byte for
 * byte in docs/image-format.md:
 *
 * - `.stackscope.module`: everything the runtime needs to instantiate (types, signatures,
 *   imports, functions, tables, memories, globals, exports, start, elements, data, escaped
 *   functions, VMOffsets counts);
 * - `.stackscope.stackmaps`: one record per call site, keyed by return-address offset;
 * - `.stackscope.traps`: wasmtime's trap-table layout (count, text offsets, code bytes).
 *
 * All integers are little-endian; the output depends only on the input module and the arch.
 */
import type { Arch } from '../isa/arch.ts';
import { writeElf, type WriterRelocation, type WriterSymbol } from '../loader/elf-writer.ts';
import { trapCodeNumber } from '../isa/trap-codes.ts';
import type { CallSiteKind, CompiledFunction } from './function.ts';
import { stackMapOf } from './function.ts';
import type { AbsHeapType, ConstExpr, RefType, StorageType, SubType, ValType, WasmModule } from './frontend/module.ts';
import { refTypeParts } from './frontend/module.ts';
import type { MemoryTunables } from './memory-tunables.ts';

export const SECTION_MODULE = '.stackscope.module';
export const SECTION_STACKMAPS = '.stackscope.stackmaps';
/** Typed user stack maps (compiler/user-stackmaps.ts); only in images whose maps are of that kind. */
export const SECTION_USER_STACKMAPS = '.stackscope.usermaps';
export const SECTION_TRAPS = '.stackscope.traps';
/** The type definitions of a module that uses the GC proposal (struct, array, rec, sub); absent otherwise. */
export const SECTION_GC_TYPES = '.stackscope.gctypes';
/** The tag section of a module that switches stacks (profile v44): each tag's function type index. */
export const SECTION_TAGS = '.stackscope.tags';
export const MODULE_MAGIC = 0x444d5353; // "SSMD"
export const STACKMAPS_MAGIC = 0x4d535353; // "SSSM"
export const IMAGE_FORMAT_VERSION = 2;
/** Functions start at multiples of this in `.text`. */
export const FUNCTION_ALIGN = 16;

/** One-byte value types: the numbers and the nullable abstract references, as in the Wasm binary format. */
export const VALTYPE_CODES: Readonly<Record<string, number>> = {
  i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, funcref: 0x70, externref: 0x6f,
  nullfuncref: 0x73, nullexternref: 0x72, nullref: 0x71, anyref: 0x6e, eqref: 0x6d, i31ref: 0x6c, structref: 0x6b, arrayref: 0x6a,
  contref: 0x68, nullcontref: 0x75,
};
/** The abstract heap types' codes (the same bytes as their nullable shorthands). */
export const HEAP_TYPE_CODES: Readonly<Record<AbsHeapType, number>> = {
  nofunc: 0x73, noextern: 0x72, none: 0x71, func: 0x70, extern: 0x6f, any: 0x6e, eq: 0x6d, i31: 0x6c, struct: 0x6b, array: 0x6a,
  cont: 0x68, nocont: 0x75,
};

/**
 * A value type in the image: its one-byte code, or for any other reference 0x64 (non-null) /
 * 0x63 (nullable), then 0 and an abstract heap type's code, or 1 and a u32 type index.
 */
function writeValType(w: ByteWriter, t: ValType): void {
  const code = VALTYPE_CODES[t];
  if (code !== undefined) return w.u8(code);
  const { nullable, heap } = refTypeParts(t as RefType);
  w.u8(nullable ? 0x63 : 0x64);
  if (typeof heap === 'number') {
    w.u8(1);
    w.u32(heap);
  } else {
    w.u8(0);
    w.u8(HEAP_TYPE_CODES[heap]);
  }
}
export const CALL_SITE_KIND_CODES: Readonly<Record<CallSiteKind, number>> = { call: 0, 'call-import': 1, 'call-indirect': 2, libcall: 3 };

const UTF8 = new TextEncoder();

class ByteWriter {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  private len = 0;
  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.len++] = v & 0xff;
  }
  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.len, v >>> 0, true);
    this.len += 4;
  }
  u64(v: bigint): void {
    this.ensure(8);
    this.view.setBigUint64(this.len, BigInt.asUintN(64, v), true);
    this.len += 8;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  str(s: string): void {
    const b = UTF8.encode(s);
    this.u32(b.length);
    this.bytes(b);
  }
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

function constExpr(w: ByteWriter, e: ConstExpr): void {
  switch (e.op) {
    case 'i32.const': w.u8(0); w.u32(e.value); break;
    case 'i64.const': w.u8(1); w.u64(e.value); break;
    case 'ref.null': w.u8(2); writeValType(w, e.type); break;
    case 'ref.func': w.u8(3); w.u32(e.func); break;
    case 'global.get': w.u8(4); w.u32(e.global); break;
    case 'f32.const': w.u8(5); w.u32(e.bits); break;
    case 'f64.const': w.u8(6); w.u64(e.bits); break;
  }
}
const limits = (w: ByteWriter, min: number, max: number | null): void => {
  w.u32(min);
  w.u8(max === null ? 0 : 1);
  w.u32(max ?? 0);
};

export interface PlacedFunction {
  readonly fn: CompiledFunction;
  /** Offset of the function in `.text`. */
  readonly textOffset: number;
}

/** `.stackscope.module` contents. */
export function encodeModuleMetadata(
  module: WasmModule,
  arch: Arch,
  placed: readonly PlacedFunction[],
  signatures: { signatureOf: readonly number[]; signatures: readonly number[] },
  memoryTunables: MemoryTunables,
): Uint8Array {
  const w = new ByteWriter();
  w.u32(MODULE_MAGIC);
  w.u32(IMAGE_FORMAT_VERSION);
  w.u32(arch === 'x64' ? 0 : 1);
  w.u64(memoryTunables.reservation);
  w.u64(memoryTunables.guard);
  const c = module.counts;
  for (const n of [
    c.numImportedFunctions, c.numImportedTables, c.numImportedMemories, c.numImportedGlobals, c.numDefinedFunctions,
    c.numDefinedTables, c.numDefinedMemories, c.numOwnedMemories, c.numDefinedGlobals, c.numEscapedFunctions,
  ]) w.u32(n);

  w.u32(module.types.length);
  for (const t of module.types) {
    w.u32(t.params.length);
    for (const p of t.params) writeValType(w, p);
    w.u32(t.results.length);
    for (const r of t.results) writeValType(w, r);
  }
  w.u32(signatures.signatures.length);
  for (const s of signatures.signatures) w.u32(s);
  for (const s of signatures.signatureOf) w.u32(s);

  w.u32(module.imports.length);
  for (const imp of module.imports) {
    const kind = { func: 0, table: 1, memory: 2, global: 3, tag: 4 }[imp.kind];
    w.u8(kind);
    w.str(imp.module);
    w.str(imp.name);
    switch (imp.kind) {
      case 'func': w.u32(imp.typeIndex); break;
      case 'table': writeValType(w, imp.type.elemType); limits(w, imp.type.min, imp.type.max); break;
      case 'memory': limits(w, imp.type.min, imp.type.max); w.u8(imp.type.shared ? 1 : 0); break;
      case 'global': writeValType(w, imp.type.valType); w.u8(imp.type.mutable ? 1 : 0); break;
      case 'tag': w.u32(imp.typeIndex); break;
    }
  }

  w.u32(placed.length);
  for (const { fn, textOffset } of placed) {
    w.u32(fn.funcIndex);
    w.u32(module.funcTypeIndices[fn.funcIndex]);
    w.u32(textOffset);
    w.u32(fn.code.length);
    w.u32(fn.frameSize);
    w.str(fn.name);
  }

  w.u32(module.tables.length);
  for (const t of module.tables) {
    writeValType(w, t.type.elemType);
    limits(w, t.type.min, t.type.max);
  }
  w.u32(module.memories.length);
  for (const mem of module.memories) {
    limits(w, mem.type.min, mem.type.max);
    w.u8(mem.type.shared ? 1 : 0);
  }
  w.u32(module.globals.length);
  for (const g of module.globals) {
    writeValType(w, g.type.valType);
    w.u8(g.type.mutable ? 1 : 0);
    constExpr(w, g.init);
  }
  w.u32(module.exports.length);
  for (const e of module.exports) {
    w.str(e.name);
    w.u8({ func: 0, table: 1, memory: 2, global: 3, tag: 4 }[e.kind]);
    w.u32(e.index);
  }
  w.u32(module.start ?? 0xffffffff);

  w.u32(module.elements.length);
  for (const seg of module.elements) {
    if (seg.mode.kind === 'active') {
      w.u8(0);
      w.u32(seg.mode.table);
      constExpr(w, seg.mode.offsetExpr);
    } else {
      w.u8(seg.mode.kind === 'passive' ? 1 : 2);
    }
    writeValType(w, seg.elemType);
    w.u32(seg.items.length);
    for (const item of seg.items) constExpr(w, item);
  }
  w.u32(module.datas.length);
  for (const seg of module.datas) {
    if (seg.mode.kind === 'active') {
      w.u8(0);
      w.u32(seg.mode.memory);
      constExpr(w, seg.mode.offsetExpr);
    } else {
      w.u8(1);
    }
    w.u32(seg.bytes.length);
    w.bytes(seg.bytes);
  }
  w.u32(module.escapedFunctions.length);
  for (const f of module.escapedFunctions) w.u32(f);
  return w.finish();
}

/** `.stackscope.stackmaps` contents: sorted by text offset of the return address. */
export function encodeStackMaps(placed: readonly PlacedFunction[]): Uint8Array {
  const w = new ByteWriter();
  const records = placed.flatMap(({ fn, textOffset }) => fn.callSites.map((site) => ({ fn, textOffset, site })));
  w.u32(STACKMAPS_MAGIC);
  w.u32(records.length);
  for (const { fn, textOffset, site } of records) {
    const map = stackMapOf(site, fn.frameSize);
    w.u32(fn.funcIndex);
    w.u32(textOffset + site.returnOffset);
    w.u32(site.returnOffset);
    w.u32(site.callOffset);
    w.u8(CALL_SITE_KIND_CODES[site.kind]);
    w.u8(0);
    w.u8(0);
    w.u8(0);
    w.u32(site.callee);
    w.u32(map.mappedWords);
    for (const word of map.bitmap) w.u32(word);
  }
  return w.finish();
}

/** `.stackscope.traps` contents: wasmtime's layout (u32 count, u32 text offsets, u8 codes). */
export function encodeTraps(placed: readonly PlacedFunction[]): Uint8Array {
  const w = new ByteWriter();
  const traps = placed.flatMap(({ fn, textOffset }) => fn.traps.map((t) => ({ offset: textOffset + t.offset, code: t.code })));
  w.u32(traps.length);
  for (const t of traps) w.u32(t.offset);
  for (const t of traps) w.u8(trapCodeNumber(t.code));
  return w.finish();
}

export interface ElfImageInput {
  readonly arch: Arch;
  readonly text: Uint8Array;
  readonly placed: readonly PlacedFunction[];
  readonly moduleSection: Uint8Array;
  readonly stackMapSection: Uint8Array;
  readonly trapSection: Uint8Array;
  /** `.stackscope.usermaps` (user-stackmaps.ts), for code whose maps are typed user stack maps; absent in v17 images. */
  readonly userStackMapSection?: Uint8Array;
  /** `encodeGcTypes` of a module with GC type definitions. */
  readonly gcTypeSection?: Uint8Array;
  /** `encodeTags` of a module with a tag section. */
  readonly tagSection?: Uint8Array;
  readonly file?: string;
}

/** Magic of `.stackscope.gctypes`: "SSGT". */
export const GC_TYPES_MAGIC = 0x54475353;

/**
 * `.stackscope.gctypes`: magic, count, then per type definition its final flag (u8), supertype
 * count and indices (u32), rec group start and size (u32), and its composite type: 0 func
 * (params, results as value types), 1 struct (field count, each storage and mutability), 2 array
 * (storage, mutability). A storage is 0x78 (i8), 0x77 (i16) or a value type as `writeValType`
 * writes it. The runtime needs these for the engine's type ids, `is_subtype` and the collector's
 * field layouts.
 */
export function encodeGcTypes(typeDefs: readonly SubType[]): Uint8Array {
  const w = new ByteWriter();
  const storage = (t: StorageType): void => (t === 'i8' ? w.u8(0x78) : t === 'i16' ? w.u8(0x77) : writeValType(w, t));
  w.u32(GC_TYPES_MAGIC);
  w.u32(typeDefs.length);
  for (const d of typeDefs) {
    w.u8(d.final ? 1 : 0);
    w.u32(d.supertypes.length);
    for (const s of d.supertypes) w.u32(s);
    w.u32(d.recGroupStart);
    w.u32(d.recGroupSize);
    const c = d.composite;
    if (c.kind === 'func') {
      w.u8(0);
      w.u32(c.type.params.length);
      for (const p of c.type.params) writeValType(w, p);
      w.u32(c.type.results.length);
      for (const r of c.type.results) writeValType(w, r);
    } else if (c.kind === 'struct') {
      w.u8(1);
      w.u32(c.fields.length);
      for (const f of c.fields) {
        storage(f.storage);
        w.u8(f.mutable ? 1 : 0);
      }
    } else if (c.kind === 'cont') {
      w.u8(3);
      w.u32(c.funcType);
    } else {
      w.u8(2);
      storage(c.element.storage);
      w.u8(c.element.mutable ? 1 : 0);
    }
  }
  return w.finish();
}

/** Magic of `.stackscope.tags`: "SSTG". */
export const TAGS_MAGIC = 0x47545353;

/** `.stackscope.tags`: magic, count, then each tag's function type index (u32). */
export function encodeTags(tags: readonly { readonly typeIndex: number }[]): Uint8Array {
  const w = new ByteWriter();
  w.u32(TAGS_MAGIC);
  w.u32(tags.length);
  for (const t of tags) w.u32(t.typeIndex);
  return w.finish();
}

export function writeImage(input: ElfImageInput): Uint8Array {
  const symbols: WriterSymbol[] = input.placed.map(({ fn, textOffset }) => ({
    name: fn.symbol,
    section: '.text',
    value: BigInt(textOffset),
    size: BigInt(fn.code.length),
    type: 'func',
    binding: 'global',
  }));
  const relocations: WriterRelocation[] = input.placed.flatMap(({ fn, textOffset }) =>
    fn.relocations.map((r) => ({
      section: '.text',
      offset: BigInt(textOffset + r.offset),
      type: r.kind,
      symbol: r.symbol,
      addend: r.addend,
    })),
  );
  return writeElf({
    arch: input.arch,
    file: input.file,
    sections: [
      { name: '.text', kind: 'text', bytes: input.text, align: BigInt(FUNCTION_ALIGN) },
      { name: SECTION_MODULE, kind: 'custom', bytes: input.moduleSection, align: 4n },
      { name: SECTION_STACKMAPS, kind: 'custom', bytes: input.stackMapSection, align: 4n },
      { name: SECTION_TRAPS, kind: 'custom', bytes: input.trapSection, align: 4n },
      ...(input.userStackMapSection ? [{ name: SECTION_USER_STACKMAPS, kind: 'custom' as const, bytes: input.userStackMapSection, align: 4n }] : []),
      ...(input.gcTypeSection ? [{ name: SECTION_GC_TYPES, kind: 'custom' as const, bytes: input.gcTypeSection, align: 4n }] : []),
      ...(input.tagSection ? [{ name: SECTION_TAGS, kind: 'custom' as const, bytes: input.tagSection, align: 4n }] : []),
    ],
    symbols,
    relocations,
  });
}
