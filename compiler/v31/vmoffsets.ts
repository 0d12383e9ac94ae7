/**
 * wasmtime v31's `VMOffsets` for 64-bit targets: the VMContext of the v31 profile and the small
 * structs compiled code reaches through it.
 *
 * Facts from wasmtime v31.0.0 (commit 7a9be587f8): crates/environ/src/vmoffsets.rs (the fixed
 * header helpers of `PtrSize`, the `fields!` region order of `From<VMOffsetsFields>`, the struct
 * helpers), crates/wasmtime/src/runtime/vm/vmcontext.rs (the `#[repr(C)]` structs and their
 * offset tests) and vmcontext/vm_host_func_context.rs. What changed since v17, in short:
 * - the header is 80 bytes: magic, vm_store_context (was runtime_limits), builtin_functions,
 *   callee, epoch_ptr, gc_heap_base, gc_heap_bound, gc_heap_data (the collector's pointer: the
 *   DRC activations table), type_ids, stack_chain; no store fat pointer, no activations-table
 *   pointer of its own;
 * - memories come first, then functions, tables, globals, the new tags, then tables, globals
 *   (16-aligned), defined tags (4 bytes each) and func_refs;
 * - VMFuncRef lost `native_call` (32 bytes), VMFunctionImport too (24 bytes), and
 *   VMTableDefinition's `current_elements` is a usize;
 * - VMRuntimeLimits became VMStoreContext: fuel and epoch first, then the stack limit, and the
 *   entry record is `last_wasm_entry_fp` (v17: `last_wasm_entry_sp`).
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
  type VmctxRegion,
} from '../vmctx-regions.ts';

export { POINTER_SIZE, VMCONTEXT_MAGIC, VM_ARRAY_CALL_HOST_FUNC_MAGIC };

/** VMFunctionImport: `wasm_call`, `array_call`, `vmctx` (v31 has no native-call entry). */
export const V31FunctionImportLayout = Object.freeze({ wasmCall: 0, arrayCall: 8, vmctx: 16, size: 24 } as const);
/** VMTableImport: the owner's VMTableDefinition and the owner's VMContext. */
export const V31TableImportLayout = Object.freeze({ from: 0, vmctx: 8, size: 16 } as const);
/** VMMemoryImport: `from`, `vmctx`, then the u32 DefinedMemoryIndex and 4 bytes of padding. */
export const V31MemoryImportLayout = Object.freeze({ from: 0, vmctx: 8, index: 16, size: 24 } as const);
/** VMGlobalImport: a pointer to the owner's VMGlobalDefinition. */
export const V31GlobalImportLayout = Object.freeze({ from: 0, size: 8 } as const);
/** VMTagImport (new in this era): a pointer to the owner's VMTagDefinition. */
export const V31TagImportLayout = Object.freeze({ from: 0, size: 8 } as const);
/** VMTableDefinition: `base`, then `current_elements` as a usize (v17: u32 plus padding). */
export const V31TableDefinitionLayout = Object.freeze({ base: 0, currentElements: 8, currentElementsSize: 8, size: 16 } as const);
/** VMMemoryDefinition: unchanged since v17. */
export const V31MemoryDefinitionLayout = Object.freeze({ base: 0, currentLength: 8, size: 16 } as const);
/** VMGlobalDefinition: 16 bytes, 16-aligned; a GC reference is a u32 VMGcRef in the low 4 bytes. */
export const V31GlobalDefinitionLayout = Object.freeze({ storage: 0, size: 16, align: 16 } as const);
/** VMTagDefinition: the tag's u32 VMSharedTypeIndex. */
export const V31TagDefinitionLayout = Object.freeze({ typeIndex: 0, size: 4 } as const);
/** VMFuncRef: `array_call`, nullable `wasm_call`, u32 `type_index` (+4 padding), `vmctx`. */
export const V31FuncRefLayout = Object.freeze({ arrayCall: 0, wasmCall: 8, typeIndex: 16, typeIndexSize: 4, vmctx: 24, size: 32 } as const);

/**
 * VMStoreContext, one per store (v17's VMRuntimeLimits). The 64-bit counters come first so the
 * offsets are the same on 32-bit hosts. stack_limit starts at all-ones, the rest at 0. Exit
 * trampolines and libcall stubs maintain the exit pair, entry trampolines `last_wasm_entry_fp`.
 */
export const VMStoreContextLayout = Object.freeze({
  fuelConsumed: 0,
  epochDeadline: 8,
  stackLimit: 16,
  lastWasmExitFp: 24,
  lastWasmExitPc: 32,
  lastWasmEntryFp: 40,
  size: 48,
} as const);

/**
 * VMArrayCallHostFuncContext (the only host-function context left in v31): u32 magic "ACHF",
 * padding, an inline VMFuncRef whose `vmctx` points back at the context, then the boxed host state
 * (a 16-byte fat pointer). `func_ref` is v31's helper; the rest follows from `#[repr(C)]`.
 */
export const V31ArrayCallHostFuncContextLayout = Object.freeze({ magic: 0, funcRef: 8, hostState: 40, size: 56 } as const);

/** The fixed header of a v31 VMContext, in order, each one pointer wide except the magic. */
export const V31_HEADER_FIELDS = [
  'magic',
  'vm_store_context',
  'builtin_functions',
  'callee',
  'epoch_ptr',
  'gc_heap_base',
  'gc_heap_bound',
  'gc_heap_data',
  'type_ids',
  'stack_chain',
] as const;
export type V31HeaderField = (typeof V31_HEADER_FIELDS)[number];

/** v31's `vmctx_dynamic_data_start`: where the first variable-size region begins. */
export const V31_DYNAMIC_DATA_START = 80;

/** The variable-size regions, in v31's `fields!` order (v44 keeps it). */
export const V31_ARRAY_REGION_NAMES = TAGGED_ARRAY_REGION_NAMES;
export type V31ArrayRegionName = TaggedArrayRegionName;
export type V31RegionName = V31HeaderField | V31ArrayRegionName;

/** v31's `VMOffsetsFields` minus the pointer size: v17's counts plus the two tag counts. */
export type V31OffsetsFields = TaggedOffsetsFields;

/** Each array region: the count that sizes it, its element size and its fields (v31 names). */
const V31_ARRAY_REGIONS: Readonly<Record<V31ArrayRegionName, { count: keyof V31OffsetsFields; elementSize: number; fields: Readonly<Record<string, number>> }>> = {
  imported_memories: { count: 'numImportedMemories', elementSize: V31MemoryImportLayout.size, fields: { from: 0, vmctx: 8, index: 16 } },
  defined_memories: { count: 'numDefinedMemories', elementSize: POINTER_SIZE, fields: {} },
  owned_memories: { count: 'numOwnedMemories', elementSize: V31MemoryDefinitionLayout.size, fields: { base: 0, current_length: 8 } },
  imported_functions: { count: 'numImportedFunctions', elementSize: V31FunctionImportLayout.size, fields: { wasm_call: 0, array_call: 8, vmctx: 16 } },
  imported_tables: { count: 'numImportedTables', elementSize: V31TableImportLayout.size, fields: { from: 0, vmctx: 8 } },
  imported_globals: { count: 'numImportedGlobals', elementSize: V31GlobalImportLayout.size, fields: { from: 0 } },
  imported_tags: { count: 'numImportedTags', elementSize: V31TagImportLayout.size, fields: { from: 0 } },
  defined_tables: { count: 'numDefinedTables', elementSize: V31TableDefinitionLayout.size, fields: { base: 0, current_elements: 8 } },
  defined_globals: { count: 'numDefinedGlobals', elementSize: V31GlobalDefinitionLayout.size, fields: {} },
  defined_tags: { count: 'numDefinedTags', elementSize: V31TagDefinitionLayout.size, fields: { type_index: 0 } },
  func_refs: { count: 'numEscapedFuncs', elementSize: V31FuncRefLayout.size, fields: { array_call: 0, wasm_call: 8, type_index: 16, vmctx: 24 } },
};

const V31_SPEC: EraVmctxSpec<V31HeaderField> = { header: V31_HEADER_FIELDS, dynamicDataStart: V31_DYNAMIC_DATA_START, arrays: V31_ARRAY_REGIONS };

/** One region of a v31 VMContext (header fields are regions of one element). */
export type V31Region = VmctxRegion<V31RegionName>;

/** One element of an array region, with the absolute offset of each field. */
export type V31Element = VmctxElement;

/**
 * The VMContext layout of one module shape in the v31 profile. Header: magic (u32) and 4 bytes of
 * padding, then nine pointers up to 80. Then imported_memories, defined_memories (pointers),
 * owned_memories, imported_functions, imported_tables, imported_globals, imported_tags,
 * defined_tables, pad to 16, defined_globals, defined_tags, func_refs; nothing after func_refs.
 * An all-zero module is therefore 80 bytes.
 */
export class V31VMOffsets {
  readonly fields: Readonly<V31OffsetsFields>;
  /** size_of_vmctx. */
  readonly size: number;
  readonly #regions: readonly V31Region[];
  readonly #paddings: readonly { after: V31RegionName; offset: number; size: number; align: number }[];
  readonly #begin: Readonly<Record<V31RegionName, number>>;

  /**
   * @throws VMOffsetsCountError for a count that is not a u32, or more owned than defined memories.
   * @throws VMOffsetsOverflowError where wasmtime's checked arithmetic panics.
   */
  constructor(fields: V31OffsetsFields) {
    const layout = layOutVmctx(V31_SPEC, fields);
    this.fields = layout.fields;
    this.size = layout.size;
    this.#regions = layout.regions;
    this.#paddings = layout.paddings;
    this.#begin = layout.begin;
  }

  /** Header fields and array regions in layout order; empty regions included with size 0. */
  regions(): readonly V31Region[] {
    return this.#regions;
  }
  /** The padding after the magic and the one before defined_globals (when not empty). */
  paddings(): readonly { after: V31RegionName; offset: number; size: number; align: number }[] {
    return this.#paddings;
  }
  region(name: V31RegionName): V31Region {
    return this.#regions.find((r) => r.name === name)!;
  }

  // --- PtrSize helpers (v31 names in camelCase) ---
  vmctxMagic(): number {
    return this.#begin.magic;
  }
  vmctxStoreContext(): number {
    return this.#begin.vm_store_context;
  }
  vmctxBuiltinFunctions(): number {
    return this.#begin.builtin_functions;
  }
  vmctxCallee(): number {
    return this.#begin.callee;
  }
  vmctxEpochPtr(): number {
    return this.#begin.epoch_ptr;
  }
  vmctxGcHeapBase(): number {
    return this.#begin.gc_heap_base;
  }
  vmctxGcHeapBound(): number {
    return this.#begin.gc_heap_bound;
  }
  /** The collector's own pointer; the DRC collector stores its activations table here. */
  vmctxGcHeapData(): number {
    return this.#begin.gc_heap_data;
  }
  vmctxTypeIdsArray(): number {
    return this.#begin.type_ids;
  }
  vmctxStackChain(): number {
    return this.#begin.stack_chain;
  }
  vmctxDynamicDataStart(): number {
    return V31_DYNAMIC_DATA_START;
  }
  vmstoreContextFuelConsumed(): number {
    return VMStoreContextLayout.fuelConsumed;
  }
  vmstoreContextEpochDeadline(): number {
    return VMStoreContextLayout.epochDeadline;
  }
  vmstoreContextStackLimit(): number {
    return VMStoreContextLayout.stackLimit;
  }
  vmstoreContextLastWasmExitFp(): number {
    return VMStoreContextLayout.lastWasmExitFp;
  }
  vmstoreContextLastWasmExitPc(): number {
    return VMStoreContextLayout.lastWasmExitPc;
  }
  vmstoreContextLastWasmEntryFp(): number {
    return VMStoreContextLayout.lastWasmEntryFp;
  }
  vmFuncRefArrayCall(): number {
    return V31FuncRefLayout.arrayCall;
  }
  vmFuncRefWasmCall(): number {
    return V31FuncRefLayout.wasmCall;
  }
  vmFuncRefTypeIndex(): number {
    return V31FuncRefLayout.typeIndex;
  }
  vmFuncRefVmctx(): number {
    return V31FuncRefLayout.vmctx;
  }
  sizeOfVmFuncRef(): number {
    return V31FuncRefLayout.size;
  }
  sizeOfVmglobalDefinition(): number {
    return V31GlobalDefinitionLayout.size;
  }
  sizeOfVmtagDefinition(): number {
    return V31TagDefinitionLayout.size;
  }
  vmarrayCallHostFuncContextFuncRef(): number {
    return V31ArrayCallHostFuncContextLayout.funcRef;
  }
  sizeOfVmfunctionImport(): number {
    return V31FunctionImportLayout.size;
  }
  sizeOfVmtableImport(): number {
    return V31TableImportLayout.size;
  }
  sizeOfVmtableDefinition(): number {
    return V31TableDefinitionLayout.size;
  }
  sizeOfVmtableDefinitionCurrentElements(): number {
    return V31TableDefinitionLayout.currentElementsSize;
  }
  sizeOfVmmemoryImport(): number {
    return V31MemoryImportLayout.size;
  }
  sizeOfVmglobalImport(): number {
    return V31GlobalImportLayout.size;
  }
  sizeOfVmtagImport(): number {
    return V31TagImportLayout.size;
  }
  sizeOfVmsharedTypeIndex(): number {
    return 4;
  }
  /** `vm_drc_header_ref_count`: compiled code's inc/dec barrier target. */
  vmDrcHeaderRefCount(): number {
    return 8;
  }
  vmGcRefActivationTableNext(): number {
    return 0;
  }
  vmGcRefActivationTableEnd(): number {
    return POINTER_SIZE;
  }

  // --- Region begins and elements ---
  vmctxImportedMemoriesBegin(): number {
    return this.#begin.imported_memories;
  }
  vmctxMemoriesBegin(): number {
    return this.#begin.defined_memories;
  }
  vmctxOwnedMemoriesBegin(): number {
    return this.#begin.owned_memories;
  }
  vmctxImportedFunctionsBegin(): number {
    return this.#begin.imported_functions;
  }
  vmctxImportedTablesBegin(): number {
    return this.#begin.imported_tables;
  }
  vmctxImportedGlobalsBegin(): number {
    return this.#begin.imported_globals;
  }
  vmctxImportedTagsBegin(): number {
    return this.#begin.imported_tags;
  }
  vmctxTablesBegin(): number {
    return this.#begin.defined_tables;
  }
  /** 16-aligned. */
  vmctxGlobalsBegin(): number {
    return this.#begin.defined_globals;
  }
  vmctxTagsBegin(): number {
    return this.#begin.defined_tags;
  }
  vmctxFuncRefsBegin(): number {
    return this.#begin.func_refs;
  }
  sizeOfVmctx(): number {
    return this.size;
  }

  /**
   * Offset of element `index` of an array region (v31's `vmctx_vmfunction_import`,
   * `vmctx_vmtable_definition`, `vmctx_func_ref`, ...).
   * @throws VMOffsetsIndexError where v31 asserts.
   */
  element(region: V31ArrayRegionName, index: number): number {
    const r = this.region(region);
    if (!Number.isInteger(index) || index < 0 || index >= r.count) throw new VMOffsetsIndexError(region as never, index, r.count);
    return r.offset + index * r.elementSize;
  }

  /**
   * Every element of every array region with absolute field offsets (`layout --json`).
   * @throws VMOffsetsTooManyElementsError beyond `limit` elements in total.
   */
  elements(limit: number = DEFAULT_ELEMENT_VIEW_LIMIT): Record<V31ArrayRegionName, V31Element[]> {
    return vmctxElements(V31_SPEC, { fields: this.fields, size: this.size, regions: this.#regions, paddings: this.#paddings, begin: this.#begin }, limit);
  }
}
