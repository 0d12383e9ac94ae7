/**
 * wasmtime v44's `VMOffsets` for 64-bit targets: the VMContext of the v44 profile, VMStoreContext
 * with its stack chain, and the small structs compiled code reaches through them.
 *
 * Facts from wasmtime v44.0.0 (commit af382d7d94): crates/environ/src/vmoffsets.rs (the `PtrSize`
 * helpers, the `fields!` region order of `From<VMOffsetsFields>`, the import and definition
 * helpers), crates/wasmtime/src/runtime/vm/vmcontext.rs (the `#[repr(C)]` structs and their offset
 * tests) and vmcontext/vm_host_func_context.rs. What changed since v31, in short:
 * - the header is 48 bytes: magic, store_context, builtin_functions, epoch_ptr, gc_heap_data (the
 *   DRC collector's over-approximated-list head), type_ids; no callee, no gc_heap_base/bound (the
 *   GC heap's VMMemoryDefinition moved into VMStoreContext), no stack_chain (also moved there);
 * - VMTableImport, VMGlobalImport and VMTagImport are 24 bytes (an owner vmctx and an index or
 *   a VMGlobalKind beside `from`);
 * - VMStoreContext gained `execution_version`, the GC heap's VMMemoryDefinition, the exit
 *   trampoline's FP (not the Wasm FP), the entry SP, FP and trap handler, the stack chain, the
 *   store data pointer and the async guard range.
 * The region order is v31's (compiler/vmctx-regions.ts lays out both).
 */
import { DEFAULT_ELEMENT_VIEW_LIMIT, POINTER_SIZE, VMCONTEXT_MAGIC, VM_ARRAY_CALL_HOST_FUNC_MAGIC, VMOffsetsIndexError } from '../vmoffsets.ts';
import {
  TAGGED_ARRAY_REGION_NAMES,
  layOutVmctx,
  vmctxElements,
  type EraVmctxSpec,
  type TaggedArrayRegionName,
  type TaggedOffsetsFields,
  type VmctxElement,
  type VmctxLayout,
  type VmctxPadding,
  type VmctxRegion,
} from '../vmctx-regions.ts';

export { POINTER_SIZE, VMCONTEXT_MAGIC, VM_ARRAY_CALL_HOST_FUNC_MAGIC };

/** VMFunctionImport: `wasm_call`, `array_call`, `vmctx` (unchanged since v31). */
export const V44FunctionImportLayout = Object.freeze({ wasmCall: 0, arrayCall: 8, vmctx: 16, size: 24 } as const);
/** VMTableImport: the owner's VMTableDefinition, the owner's VMContext, the u32 DefinedTableIndex (+4 padding). */
export const V44TableImportLayout = Object.freeze({ from: 0, vmctx: 8, index: 16, size: 24 } as const);
/** VMMemoryImport: `from`, `vmctx`, the u32 DefinedMemoryIndex (+4 padding). */
export const V44MemoryImportLayout = Object.freeze({ from: 0, vmctx: 8, index: 16, size: 24 } as const);
/**
 * VMGlobalImport: `from`, the owning context (`None` for a host global) and `kind`, a
 * `#[repr(C, u32)]` VMGlobalKind: a u32 discriminant then a u32 payload (the DefinedGlobalIndex).
 */
export const V44GlobalImportLayout = Object.freeze({ from: 0, vmctx: 8, kind: 16, kindIndex: 20, size: 24 } as const);
/** VMGlobalKind discriminants in declaration order (the component-model ones exist with that feature). */
export const VMGlobalKind = Object.freeze({ Host: 0, Instance: 1, ComponentFlags: 2, TaskMayBlock: 3 } as const);
/** VMTagImport: the owner's VMTagDefinition, the owner's VMContext, the u32 DefinedTagIndex (+4 padding). */
export const V44TagImportLayout = Object.freeze({ from: 0, vmctx: 8, index: 16, size: 24 } as const);
/** VMTableDefinition: `base`, then `current_elements` as a usize. */
export const V44TableDefinitionLayout = Object.freeze({ base: 0, currentElements: 8, currentElementsSize: 8, size: 16 } as const);
/** VMMemoryDefinition: `base` and the atomic `current_length`. */
export const V44MemoryDefinitionLayout = Object.freeze({ base: 0, currentLength: 8, size: 16 } as const);
/** VMGlobalDefinition: 16 bytes, 16-aligned; a GC reference is a u32 VMGcRef in the low 4 bytes. */
export const V44GlobalDefinitionLayout = Object.freeze({ storage: 0, size: 16, align: 16 } as const);
/** VMTagDefinition: the tag's u32 VMSharedTypeIndex. */
export const V44TagDefinitionLayout = Object.freeze({ typeIndex: 0, size: 4 } as const);
/** VMFuncRef: `array_call`, nullable `wasm_call`, u32 `type_index` (+4 padding), `vmctx`. */
export const V44FuncRefLayout = Object.freeze({ arrayCall: 0, wasmCall: 8, typeIndex: 16, typeIndexSize: 4, vmctx: 24, size: 32 } as const);
/** VMArrayCallHostFuncContext: u32 magic "ACHF", padding, an inline VMFuncRef, the boxed host state (fat pointer). */
export const V44ArrayCallHostFuncContextLayout = Object.freeze({ magic: 0, funcRef: 8, hostState: 40, size: 56 } as const);

/**
 * VMStoreContext, one per store. The 64-bit counters come first; then the stack limit (initially
 * all-ones), the GC heap's VMMemoryDefinition, the exit record of the Wasm-to-host trampolines
 * (their own FP, and the Wasm PC), the entry record of the host-to-Wasm trampolines (SP, FP and
 * the trap handler's PC), the stack chain (a 16-byte VMStackChain: which stack runs now), the
 * store data pointer and the async guard range (a `Range<*mut u8>`). The exit FP is the
 * *trampoline's*: the youngest Wasm FP is the word it points at.
 */
export const V44StoreContextLayout = Object.freeze({
  fuelConsumed: 0,
  epochDeadline: 8,
  executionVersion: 16,
  stackLimit: 24,
  gcHeap: 32,
  gcHeapBase: 32,
  gcHeapCurrentLength: 40,
  lastWasmExitTrampolineFp: 48,
  lastWasmExitPc: 56,
  lastWasmEntrySp: 64,
  lastWasmEntryFp: 72,
  lastWasmEntryTrapHandler: 80,
  stackChain: 88,
  storeData: 104,
  asyncGuardRange: 112,
  size: 128,
} as const);

/** The fixed header of a v44 VMContext, in order, each one pointer wide except the magic. */
export const V44_HEADER_FIELDS = ['magic', 'store_context', 'builtin_functions', 'epoch_ptr', 'gc_heap_data', 'type_ids'] as const;
export type V44HeaderField = (typeof V44_HEADER_FIELDS)[number];

/** v44's `vmctx_dynamic_data_start`: where the first variable-size region begins. */
export const V44_DYNAMIC_DATA_START = 48;

export type V44ArrayRegionName = TaggedArrayRegionName;
export type V44RegionName = V44HeaderField | V44ArrayRegionName;
/** v44's `VMOffsetsFields` minus the pointer size (the same eleven counts as v31). */
export type V44OffsetsFields = TaggedOffsetsFields;
export type V44Region = VmctxRegion<V44RegionName>;
export type V44Element = VmctxElement;

const V44_SPEC: EraVmctxSpec<V44HeaderField> = {
  header: V44_HEADER_FIELDS,
  dynamicDataStart: V44_DYNAMIC_DATA_START,
  arrays: {
    imported_memories: { count: 'numImportedMemories', elementSize: V44MemoryImportLayout.size, fields: { from: 0, vmctx: 8, index: 16 } },
    defined_memories: { count: 'numDefinedMemories', elementSize: POINTER_SIZE, fields: {} },
    owned_memories: { count: 'numOwnedMemories', elementSize: V44MemoryDefinitionLayout.size, fields: { base: 0, current_length: 8 } },
    imported_functions: { count: 'numImportedFunctions', elementSize: V44FunctionImportLayout.size, fields: { wasm_call: 0, array_call: 8, vmctx: 16 } },
    imported_tables: { count: 'numImportedTables', elementSize: V44TableImportLayout.size, fields: { from: 0, vmctx: 8, index: 16 } },
    imported_globals: { count: 'numImportedGlobals', elementSize: V44GlobalImportLayout.size, fields: { from: 0, vmctx: 8, kind: 16 } },
    imported_tags: { count: 'numImportedTags', elementSize: V44TagImportLayout.size, fields: { from: 0, vmctx: 8, index: 16 } },
    defined_tables: { count: 'numDefinedTables', elementSize: V44TableDefinitionLayout.size, fields: { base: 0, current_elements: 8 } },
    defined_globals: { count: 'numDefinedGlobals', elementSize: V44GlobalDefinitionLayout.size, fields: {} },
    defined_tags: { count: 'numDefinedTags', elementSize: V44TagDefinitionLayout.size, fields: { type_index: 0 } },
    func_refs: { count: 'numEscapedFuncs', elementSize: V44FuncRefLayout.size, fields: { array_call: 0, wasm_call: 8, type_index: 16, vmctx: 24 } },
  },
};

/**
 * The VMContext layout of one module shape in the v44 profile. Header: magic (u32) and 4 bytes of
 * padding, then five pointers up to 48. Then imported_memories, defined_memories (pointers),
 * owned_memories, imported_functions, imported_tables, imported_globals, imported_tags,
 * defined_tables, pad to 16, defined_globals, defined_tags, func_refs; nothing after func_refs.
 * An all-zero module is therefore 48 bytes.
 */
export class V44VMOffsets {
  readonly #layout: VmctxLayout<V44RegionName>;

  /**
   * @throws VMOffsetsCountError for a count that is not a u32, or more owned than defined memories.
   * @throws VMOffsetsOverflowError where wasmtime's checked arithmetic panics.
   */
  constructor(fields: V44OffsetsFields) {
    this.#layout = layOutVmctx(V44_SPEC, fields);
  }

  get fields(): Readonly<V44OffsetsFields> {
    return this.#layout.fields;
  }
  /** size_of_vmctx. */
  get size(): number {
    return this.#layout.size;
  }
  /** Header fields and array regions in layout order; empty regions included with size 0. */
  regions(): readonly V44Region[] {
    return this.#layout.regions;
  }
  /** The padding after the magic and the one before defined_globals (when not empty). */
  paddings(): readonly VmctxPadding<V44RegionName>[] {
    return this.#layout.paddings;
  }
  region(name: V44RegionName): V44Region {
    return this.#layout.regions.find((r) => r.name === name)!;
  }

  // --- PtrSize helpers (v44 names in camelCase) ---
  vmctxMagic(): number {
    return this.#layout.begin.magic;
  }
  vmctxStoreContext(): number {
    return this.#layout.begin.store_context;
  }
  vmctxBuiltinFunctions(): number {
    return this.#layout.begin.builtin_functions;
  }
  vmctxEpochPtr(): number {
    return this.#layout.begin.epoch_ptr;
  }
  /** The DRC collector's pointer to the head (a u32 VMGcRef cell) of the over-approximated list. */
  vmctxGcHeapData(): number {
    return this.#layout.begin.gc_heap_data;
  }
  vmctxTypeIdsArray(): number {
    return this.#layout.begin.type_ids;
  }
  vmctxDynamicDataStart(): number {
    return V44_DYNAMIC_DATA_START;
  }
  vmstoreContextFuelConsumed(): number {
    return V44StoreContextLayout.fuelConsumed;
  }
  vmstoreContextEpochDeadline(): number {
    return V44StoreContextLayout.epochDeadline;
  }
  vmstoreContextExecutionVersion(): number {
    return V44StoreContextLayout.executionVersion;
  }
  vmstoreContextStackLimit(): number {
    return V44StoreContextLayout.stackLimit;
  }
  vmstoreContextGcHeap(): number {
    return V44StoreContextLayout.gcHeap;
  }
  vmstoreContextGcHeapBase(): number {
    return V44StoreContextLayout.gcHeapBase;
  }
  vmstoreContextGcHeapCurrentLength(): number {
    return V44StoreContextLayout.gcHeapCurrentLength;
  }
  vmstoreContextLastWasmExitTrampolineFp(): number {
    return V44StoreContextLayout.lastWasmExitTrampolineFp;
  }
  vmstoreContextLastWasmExitPc(): number {
    return V44StoreContextLayout.lastWasmExitPc;
  }
  vmstoreContextLastWasmEntrySp(): number {
    return V44StoreContextLayout.lastWasmEntrySp;
  }
  vmstoreContextLastWasmEntryFp(): number {
    return V44StoreContextLayout.lastWasmEntryFp;
  }
  vmstoreContextLastWasmEntryTrapHandler(): number {
    return V44StoreContextLayout.lastWasmEntryTrapHandler;
  }
  vmstoreContextStackChain(): number {
    return V44StoreContextLayout.stackChain;
  }
  vmstoreContextStoreData(): number {
    return V44StoreContextLayout.storeData;
  }
  vmFuncRefArrayCall(): number {
    return V44FuncRefLayout.arrayCall;
  }
  vmFuncRefWasmCall(): number {
    return V44FuncRefLayout.wasmCall;
  }
  vmFuncRefTypeIndex(): number {
    return V44FuncRefLayout.typeIndex;
  }
  vmFuncRefVmctx(): number {
    return V44FuncRefLayout.vmctx;
  }
  sizeOfVmFuncRef(): number {
    return V44FuncRefLayout.size;
  }
  sizeOfVmglobalDefinition(): number {
    return V44GlobalDefinitionLayout.size;
  }
  sizeOfVmtagDefinition(): number {
    return V44TagDefinitionLayout.size;
  }
  vmarrayCallHostFuncContextFuncRef(): number {
    return V44ArrayCallHostFuncContextLayout.funcRef;
  }
  sizeOfVmfunctionImport(): number {
    return V44FunctionImportLayout.size;
  }
  sizeOfVmtableImport(): number {
    return V44TableImportLayout.size;
  }
  vmtableImportIndex(): number {
    return V44TableImportLayout.index;
  }
  sizeOfVmtableDefinition(): number {
    return V44TableDefinitionLayout.size;
  }
  sizeOfVmmemoryImport(): number {
    return V44MemoryImportLayout.size;
  }
  sizeOfVmglobalImport(): number {
    return V44GlobalImportLayout.size;
  }
  sizeOfVmtagImport(): number {
    return V44TagImportLayout.size;
  }
  vmtagImportVmctx(): number {
    return V44TagImportLayout.vmctx;
  }
  vmtagImportIndex(): number {
    return V44TagImportLayout.index;
  }
  sizeOfVmsharedTypeIndex(): number {
    return 4;
  }
  vmGcHeaderKind(): number {
    return 0;
  }
  /** The reserved bits are the kind word's unused low bits: the same u32. */
  vmGcHeaderReservedBits(): number {
    return 0;
  }
  vmGcHeaderTy(): number {
    return 4;
  }
  vmDrcHeaderRefCount(): number {
    return 8;
  }
  vmDrcHeaderNextOverApproximatedStackRoot(): number {
    return 16;
  }

  // --- Region begins and elements ---
  vmctxImportedMemoriesBegin(): number {
    return this.#layout.begin.imported_memories;
  }
  vmctxMemoriesBegin(): number {
    return this.#layout.begin.defined_memories;
  }
  vmctxOwnedMemoriesBegin(): number {
    return this.#layout.begin.owned_memories;
  }
  vmctxImportedFunctionsBegin(): number {
    return this.#layout.begin.imported_functions;
  }
  vmctxImportedTablesBegin(): number {
    return this.#layout.begin.imported_tables;
  }
  vmctxImportedGlobalsBegin(): number {
    return this.#layout.begin.imported_globals;
  }
  vmctxImportedTagsBegin(): number {
    return this.#layout.begin.imported_tags;
  }
  vmctxTablesBegin(): number {
    return this.#layout.begin.defined_tables;
  }
  /** 16-aligned. */
  vmctxGlobalsBegin(): number {
    return this.#layout.begin.defined_globals;
  }
  vmctxTagsBegin(): number {
    return this.#layout.begin.defined_tags;
  }
  vmctxFuncRefsBegin(): number {
    return this.#layout.begin.func_refs;
  }
  sizeOfVmctx(): number {
    return this.#layout.size;
  }

  /**
   * Offset of element `index` of an array region (v44's `vmctx_vmfunction_import`,
   * `vmctx_vmtag_import`, `vmctx_func_ref`, ...).
   * @throws VMOffsetsIndexError where v44 asserts.
   */
  element(region: V44ArrayRegionName, index: number): number {
    const r = this.region(region);
    if (!Number.isInteger(index) || index < 0 || index >= r.count) throw new VMOffsetsIndexError(region as never, index, r.count);
    return r.offset + index * r.elementSize;
  }

  /**
   * Every element of every array region with absolute field offsets (`layout --json`).
   * @throws VMOffsetsTooManyElementsError beyond `limit` elements in total.
   */
  elements(limit: number = DEFAULT_ELEMENT_VIEW_LIMIT): Record<V44ArrayRegionName, V44Element[]> {
    return vmctxElements(V44_SPEC, this.#layout, limit);
  }
}

export { TAGGED_ARRAY_REGION_NAMES as V44_ARRAY_REGION_NAMES };
