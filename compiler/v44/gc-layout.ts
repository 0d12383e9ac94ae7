/**
 * The GC heap layouts of the v44 profile (wasmtime v44's DRC collector): the kinds, the 24-byte
 * DRC header with the intrusive over-approximated-stack-roots link and the object size, the mark
 * and in-list bits in the header's reserved bits, arrays, externrefs and exceptions, the free
 * list and the growable heap. Compiled code, the heap (gc/drc44/) and the layout tool all read
 * these numbers from here.
 *
 * Facts from wasmtime v44.0.0 (commit af382d7d94):
 * - crates/environ/src/gc.rs: `VMGcKind` (top 6 bits of the kind word, 26 reserved bits, the new
 *   ExnRef kind), `common_struct_layout` / `common_array_layout` (unchanged rules);
 * - crates/environ/src/gc/drc.rs: `HEADER_SIZE` 24, `HEADER_ALIGN` 8, `ARRAY_LENGTH_OFFSET` 24,
 *   the exception tag fields at 24 and 28, `HEADER_MARK_BIT` 1 << 0,
 *   `HEADER_IN_OVER_APPROX_LIST_BIT` 1 << 1;
 * - crates/wasmtime/src/runtime/vm/gc/enabled/drc.rs: `VMDrcHeader { header, ref_count: u64,
 *   next_over_approximated_stack_root: Option<VMGcRef>, object_size: u32 }`,
 *   `VMDrcArrayHeader`, `VMDrcExternRef`, `GC_REF_ARRAY_ELEMS_OFFSET` = 28, the list head
 *   (`over_approximated_stack_roots: Box<Option<VMGcRef>>`) that vmctx `gc_heap_data` points at;
 * - crates/wasmtime/src/runtime/vm/gc/enabled/free_list.rs: ALIGN 16 (also the smallest block;
 *   sizes round up to 16), the first block at 16, no minimum block size beyond that;
 * - crates/environ/src/tunables.rs `gc_heap_memory_type`: an i32-indexed memory, min 0 pages,
 *   no maximum, 64 KiB pages; crates/wasmtime/src/runtime/store/gc.rs `grow_gc_heap`: grow by
 *   max(double the pages, the pages the allocation needs), capped at 4 GiB, before collecting.
 */
import { drcArrayLayout, drcStructLayout, type GcArrayLayout, type GcHeaderShape, type GcStorageType, type GcStructLayout } from '../v31/gc-layout.ts';

export { I31_DISCRIMINANT, NO_TYPE_INDEX, VMGcHeaderLayout, gcStorageSize, drcArraySize, type GcStorageType } from '../v31/gc-layout.ts';

/** VMDrcHeader: the VMGcHeader, the u64 ref count, the u32 next link of the over-approximated list (0 = none) and the u32 object size. */
export const V44DrcHeaderLayout = Object.freeze({ header: 0, refCount: 8, nextOverApproximatedStackRoot: 16, objectSize: 20, size: 24, align: 8 } as const);

/** VMDrcArrayHeader: the DRC header, then the u32 length; GC-reference elements start right after it. */
export const V44DrcArrayHeaderLayout = Object.freeze({ length: 24, lengthSize: 4, gcRefElems: 28 } as const);

/** VMDrcExternRef: the DRC header then the u32 host-data id; `#[repr(C)]` rounds 28 up to 32. */
export const V44DrcExternRefLayout = Object.freeze({ hostData: 24, size: 32, align: 8 } as const);

/** An exception object's header: the DRC header, then the tag's instance index and defined tag index. */
export const V44ExceptionHeaderLayout = Object.freeze({ tagInstance: 24, tagDefined: 28, size: 32 } as const);

/** The header shape the common struct and array layouts take. */
export const V44_DRC_HEADER_SHAPE: GcHeaderShape = Object.freeze({ size: V44DrcHeaderLayout.size, align: V44DrcHeaderLayout.align, arrayLength: V44DrcArrayHeaderLayout.length });

/** Reserved-bit flags of the kind word (`drc::HEADER_*_BIT`). */
export const V44DrcHeaderBits = Object.freeze({ mark: 1 << 0, inOverApproxList: 1 << 1 } as const);

/** VMGcKind values: the top 6 bits of the kind word. Subtyping is `(a & b) === b`. */
export const V44GcKind = Object.freeze({
  ExternRef: 0b010000 << 26,
  AnyRef: (0b100000 << 26) >>> 0,
  EqRef: (0b101000 << 26) >>> 0,
  ArrayRef: (0b101010 << 26) >>> 0,
  StructRef: (0b101100 << 26) >>> 0,
  ExnRef: 0b000001 << 26,
} as const);
export type V44GcKindName = keyof typeof V44GcKind;
/** The kind bits of the kind word. */
export const V44_GC_KIND_MASK = (0b111111 << 26) >>> 0;
/** The 26 reserved bits: the DRC collector keeps its mark and in-list bits there. */
export const V44_GC_KIND_UNUSED_MASK = ~V44_GC_KIND_MASK >>> 0;

/** The kind named by the high bits of a kind word, or undefined for a corrupt one. */
export function v44GcKindOf(kindWord: number): V44GcKindName | undefined {
  return KIND_BY_BITS.get((kindWord & V44_GC_KIND_MASK) >>> 0);
}
const KIND_BY_BITS = new Map((Object.keys(V44GcKind) as V44GcKindName[]).map((k) => [V44GcKind[k] as number, k]));

/** `VMGcKind::matches`: whether `kind` is `sup` or one of its subkinds. */
export function v44GcKindMatches(kind: V44GcKindName, sup: V44GcKindName): boolean {
  return ((V44GcKind[kind] & V44GcKind[sup]) >>> 0) === V44GcKind[sup];
}

/** The free list's constants: every block 16-aligned and a multiple of 16, the first at 16 (0 is null). */
export const V44FreeListConstants = Object.freeze({ align: 16, firstBlock: 16 } as const);

/** The GC heap: a 32-bit-indexed memory of 64 KiB pages, empty until the first allocation grows it. */
export const V44GcHeapConstants = Object.freeze({ pageSize: 65_536, minPages: 0, maxBytes: 2 ** 32 } as const);

/** `common_struct_layout` with v44's 24-byte DRC header. */
export function drc44StructLayout(fieldTypes: readonly GcStorageType[]): GcStructLayout {
  return drcStructLayout(fieldTypes, V44_DRC_HEADER_SHAPE);
}

/** `common_array_layout` with v44's DRC header: length u32 at 24, elements aligned to their size. */
export function drc44ArrayLayout(elemType: GcStorageType): GcArrayLayout {
  return drcArrayLayout(elemType, V44_DRC_HEADER_SHAPE);
}
