/**
 * The GC heap layouts of the v31 profile (wasmtime v31's DRC collector): what a 32-bit VMGcRef
 * means, the object headers, the externref object, struct and array layouts, the activations
 * table, the heap and its free list. Compiled code, the heap (gc/drc/) and the layout tool all
 * read these numbers from here.
 *
 * Facts from wasmtime v31.0.0 (commit 7a9be587f8):
 * - crates/environ/src/gc.rs: `I31_DISCRIMINANT`, `VM_GC_HEADER_*`, `VMGcKind` (top 5 bits of the
 *   kind word, 27 reserved bits), `byte_size_of_wasm_ty_in_gc_heap`, `common_struct_layout`,
 *   `common_array_layout`;
 * - crates/environ/src/gc/drc.rs: `HEADER_SIZE` 16, `HEADER_ALIGN` 8, `ARRAY_LENGTH_OFFSET` 16;
 * - crates/wasmtime/src/runtime/vm/gc/enabled/drc.rs (seed drc-v31): `VMDrcHeader`,
 *   `VMDrcArrayHeader`, `VMDrcExternRef`, `VMGcRefActivationsTable` / `VMGcRefTableAlloc`
 *   (CHUNK_SIZE = 4096 / 4);
 * - crates/wasmtime/src/runtime/vm/gc/enabled.rs: `DEFAULT_GC_HEAP_CAPACITY` = 1 << 19;
 * - crates/wasmtime/src/runtime/vm/gc/enabled/free_list.rs: ALIGN 8, MIN_BLOCK_SIZE 24, the
 *   first block at ALIGN;
 * - crates/wasmtime/src/runtime/vm/gc/gc_ref.rs: `VMGcHeader { kind: u32, ty: VMSharedTypeIndex }`,
 *   the externref header has no type (u32::MAX);
 * - crates/slab/src/lib.rs: a host-data id is a slab index plus one (never 0).
 */
import { StackscopeError } from '../../isa/error.ts';

/** A VMGcRef whose low bit is this value is an i31ref: raw = (value << 1) | 1. */
export const I31_DISCRIMINANT = 1;

/** VMGcHeader: the kind word (kind bits + 27 reserved bits) and the u32 type index. */
export const VMGcHeaderLayout = Object.freeze({ kind: 0, typeIndex: 4, size: 8, align: 8 } as const);

/** VMDrcHeader: a VMGcHeader then the u64 reference count compiled code increments. */
export const VMDrcHeaderLayout = Object.freeze({ header: 0, refCount: 8, size: 16, align: 8 } as const);

/** VMDrcArrayHeader: a VMDrcHeader then the u32 length (`ARRAY_LENGTH_OFFSET`). */
export const VMDrcArrayHeaderLayout = Object.freeze({ length: 16, lengthSize: 4 } as const);

/**
 * VMDrcExternRef: a VMDrcHeader then the u32 ExternRefHostDataId. `#[repr(C)]` with a u64 inside
 * rounds the 20 bytes up to 24 (= `Layout::new::<VMDrcExternRef>()`), which is also the free
 * list's minimum block.
 */
export const VMDrcExternRefLayout = Object.freeze({ hostData: 16, size: 24, align: 8 } as const);

/** The type index stored in headers that have none (externref): `VMSharedTypeIndex::reserved_value()`. */
export const NO_TYPE_INDEX = 0xffff_ffff;

/** VMGcKind values: the top 5 bits of the kind word. Subtyping is `(a & b) === b`. */
export const VMGcKind = Object.freeze({
  ExternRef: 0b01000 << 27,
  AnyRef: (0b10000 << 27) >>> 0,
  EqRef: (0b10100 << 27) >>> 0,
  ArrayRef: (0b10101 << 27) >>> 0,
  StructRef: (0b10110 << 27) >>> 0,
} as const);
export type VMGcKindName = keyof typeof VMGcKind;
/** The kind bits of the kind word. */
export const VM_GC_KIND_MASK = (0b11111 << 27) >>> 0;
/** The reserved bits: the DRC collector keeps the object's size in them. */
export const VM_GC_KIND_UNUSED_MASK = ~VM_GC_KIND_MASK >>> 0;

/** The kind named by the high bits of a kind word, or undefined for a corrupt one. */
export function gcKindOf(kindWord: number): VMGcKindName | undefined {
  const masked = (kindWord & VM_GC_KIND_MASK) >>> 0;
  return (Object.keys(VMGcKind) as VMGcKindName[]).find((k) => VMGcKind[k] === masked);
}

/** `VMGcKind::matches`: whether `kind` is `sup` or one of its subkinds. */
export function gcKindMatches(kind: VMGcKindName, sup: VMGcKindName): boolean {
  return ((VMGcKind[kind] & VMGcKind[sup]) >>> 0) === VMGcKind[sup];
}

/** `VMGcKind::value_fits_in_unused_bits`: an object size the kind word can hold (< 2^27). */
export function fitsInReservedBits(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && (value & VM_GC_KIND_UNUSED_MASK) >>> 0 === value;
}

/** The GC heap of a DRC store: one fixed region of 1 << 19 bytes (512 KiB). */
export const GC_HEAP_CAPACITY = 1 << 19;

/** The free list's constants: every block is 8-aligned, at least 24 bytes, the first at 8 (0 is null). */
export const FreeListConstants = Object.freeze({ align: 8, minBlockSize: 24, firstBlock: 8 } as const);

/**
 * VMGcRefActivationsTable: the bump area {next, end, chunk} first (the only part compiled code
 * touches), elements are u32 raw VMGcRefs, a chunk is 4096 / 4 = 1024 slots. A new table's chunk
 * is empty (next == end), so the first insert takes the slow path; the first sweep allocates the
 * chunk. `chunk` is a Box<[u32]>: a 16-byte fat pointer (data, length).
 */
export const VMGcRefActivationsTableLayout = Object.freeze({
  next: 0,
  end: 8,
  chunk: 16,
  chunkLength: 24,
  /** Size of the part of the table that lives in guest memory (the `alloc` member). */
  size: 32,
  slotSize: 4,
  chunkSlots: 1024,
} as const);

/** A field's or element's type in the GC heap (`WasmStorageType`, the subset plus packed ints). */
export type GcStorageType = 'i8' | 'i16' | 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | 'ref';

/** `byte_size_of_wasm_ty_in_gc_heap`: references are 4-byte VMGcRefs. */
export function gcStorageSize(ty: GcStorageType): number {
  switch (ty) {
    case 'i8':
      return 1;
    case 'i16':
      return 2;
    case 'i32':
    case 'f32':
    case 'ref':
      return 4;
    case 'i64':
    case 'f64':
      return 8;
    case 'v128':
      return 16;
  }
}

/** A struct type's layout: field offsets from the object start, total size and alignment. */
export interface GcStructLayout {
  readonly size: number;
  readonly align: number;
  readonly fields: readonly number[];
}

/** An array type's layout: elements start at `baseSize`, each `elemSize` bytes. */
export interface GcArrayLayout {
  readonly baseSize: number;
  readonly align: number;
  readonly elemSize: number;
}

/** The layout of a type the heap cannot hold (an object of 2^27 bytes or more). */
export class GcLayoutError extends StackscopeError {
  override name = 'GcLayoutError';
}

function alignUp(offset: number, align: number): number {
  return Math.ceil(offset / align) * align;
}

/** A collector's object header as the common layouts see it (v44 passes its 24-byte DRC header). */
export interface GcHeaderShape {
  readonly size: number;
  readonly align: number;
  /** Where an array's u32 length goes (`ARRAY_LENGTH_OFFSET`). */
  readonly arrayLength: number;
}

const V31_HEADER_SHAPE: GcHeaderShape = { size: VMDrcHeaderLayout.size, align: VMDrcHeaderLayout.align, arrayLength: VMDrcArrayHeaderLayout.length };

/** `common_struct_layout` with the DRC header: each field aligned to its size, the total to the max. */
export function drcStructLayout(fieldTypes: readonly GcStorageType[], header: GcHeaderShape = V31_HEADER_SHAPE): GcStructLayout {
  let size: number = header.size;
  let align: number = header.align;
  const fields = fieldTypes.map((ty) => {
    const bytes = gcStorageSize(ty);
    const offset = alignUp(size, bytes);
    align = Math.max(align, bytes);
    size = offset + bytes;
    return offset;
  });
  size = alignUp(size, align);
  return Object.freeze({ size, align, fields: Object.freeze(fields) });
}

/** `common_array_layout` with the DRC header: length u32 at 16 (v31), elements aligned to their size. */
export function drcArrayLayout(elemType: GcStorageType, header: GcHeaderShape = V31_HEADER_SHAPE): GcArrayLayout {
  const elemSize = gcStorageSize(elemType);
  const afterLength = header.arrayLength + VMDrcArrayHeaderLayout.lengthSize;
  return Object.freeze({ baseSize: alignUp(afterLength, elemSize), align: Math.max(header.align, elemSize), elemSize });
}

/** `GcArrayLayout::size_for_len`. */
export function drcArraySize(layout: GcArrayLayout, length: number): number {
  return layout.baseSize + length * layout.elemSize;
}
