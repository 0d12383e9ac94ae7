/**
 * wasmtime v17's `VMOffsets` for 64-bit targets: the one place that says where every field
 * of a VMContext, and of every struct compiled code touches through it, lives.
 *
 * The compiler bakes these offsets into machine code, the runtime writes the structs at the
 * same offsets and the GC reads them back; if any of the three computed a layout on its own
 * they could silently disagree, so they all ask this module.
 *
 * Facts come from wasmtime v17.0.0 (commit ab5a4484eb): crates/environ/src/vmoffsets.rs
 * (the region algorithm and the PtrSize helpers), crates/runtime/src/vmcontext.rs and
 * vmcontext/vm_host_func_context.rs (the `#[repr(C)]` structs), crates/runtime/src/externref.rs
 * (VMExternData and the activations table). Both simulated ISAs (x86-64, AArch64) have 8-byte
 * pointers, so pointer size 8 is the only one implemented.
 *
 * Offsets are byte offsets from the start of a struct (or of the VMContext), so they are plain
 * `number`s: v17 computes them in u32, and every value here fits in one exactly.
 */
import { StackscopeError } from '../isa/error.ts';

/** Pointer size of both simulated targets; every layout below assumes it. */
export const POINTER_SIZE = 8;

/** Largest value v17's u32 offset arithmetic can hold; anything beyond is an overflow. */
const U32_MAX = 0xffff_ffff;

// ---------------------------------------------------------------------------------------------
// Magic values. Every context that compiled code receives as an opaque `vmctx` starts with a u32
// magic so debug checks can tell a VMContext from a host-function context.

/** Little-endian bytes "core": the u32 at offset 0 of every VMContext. */
export const VMCONTEXT_MAGIC = 0x6572_6f63;
/** Little-endian bytes "ACHF": the u32 at offset 0 of a VMArrayCallHostFuncContext. */
export const VM_ARRAY_CALL_HOST_FUNC_MAGIC = 0x4648_4341;
/** Little-endian bytes "NCHF": the u32 at offset 0 of a VMNativeCallHostFuncContext. */
export const VM_NATIVE_CALL_HOST_FUNC_MAGIC = 0x4648_434e;

// ---------------------------------------------------------------------------------------------
// Struct layouts (pointer size 8). Field offsets in bytes from the start of the struct.

/**
 * An imported function. Note the field order differs from VMFuncRef: `wasm_call` comes first
 * because Wasm-to-Wasm calls through imports are the hot path.
 */
export const VMFunctionImportLayout = Object.freeze({
  wasmCall: 0,
  nativeCall: 8,
  arrayCall: 16,
  vmctx: 24,
  size: 32,
} as const);

/** An imported table: the owner's VMTableDefinition and the owner's VMContext. */
export const VMTableImportLayout = Object.freeze({ from: 0, vmctx: 8, size: 16 } as const);

/**
 * An imported memory. `index` (the DefinedMemoryIndex inside the owning instance, a u32) has
 * no VMOffsets helper in v17: compiled code never reads it, only the runtime does. Its offset
 * follows from `#[repr(C)]`; 4 bytes of tail padding bring the size to 24.
 */
export const VMMemoryImportLayout = Object.freeze({
  from: 0,
  vmctx: 8,
  index: 16,
  indexSize: 4,
  size: 24,
} as const);

/** An imported global: only a pointer to the owner's VMGlobalDefinition (globals never move). */
export const VMGlobalImportLayout = Object.freeze({ from: 0, size: 8 } as const);

/**
 * A table defined by the instance, inline in the VMContext. `current_elements` is a u32
 * (compiled code does 32-bit loads and stores of it); 4 bytes of tail padding follow.
 */
export const VMTableDefinitionLayout = Object.freeze({
  base: 0,
  currentElements: 8,
  currentElementsSize: 4,
  size: 16,
} as const);

/**
 * A linear memory's base and byte length. `current_length` is a usize (atomic, because a shared
 * memory can grow from another thread).
 */
export const VMMemoryDefinitionLayout = Object.freeze({
  base: 0,
  currentLength: 8,
  size: 16,
} as const);

/**
 * Storage of one defined global: 16 bytes, 16-aligned, big enough for a v128. Scalars and
 * references live in the low bytes (i32/f32 in 4, i64/f64/externref/funcref in 8).
 */
export const VMGlobalDefinitionLayout = Object.freeze({ storage: 0, size: 16, align: 16 } as const);

/**
 * A funcref. `wasm_call` may be null (a `Func::wrap` host function before any module supplied a
 * Wasm-to-native trampoline for it). `type_index` is a u32 VMSharedSignatureIndex (u32::MAX =
 * none) followed by 4 bytes of padding.
 */
export const VMFuncRefLayout = Object.freeze({
  nativeCall: 0,
  arrayCall: 8,
  wasmCall: 16,
  typeIndex: 24,
  typeIndexSize: 4,
  vmctx: 32,
  size: 40,
} as const);

/**
 * Per-store limits that compiled code and trampolines read and write; the VMContext only holds
 * a pointer to it. stack_limit starts at all-ones, the others at 0. Trampolines and libcall
 * stubs maintain the last_wasm_* fields and the stack walker trusts them, so a wrong offset here
 * silently corrupts every backtrace and every GC root scan.
 */
export const VMRuntimeLimitsLayout = Object.freeze({
  stackLimit: 0,
  fuelConsumed: 8,
  epochDeadline: 16,
  lastWasmExitFp: 24,
  lastWasmExitPc: 32,
  lastWasmEntrySp: 40,
  size: 48,
} as const);

/**
 * What a v17 externref points at. The boxed value sits *before* it in the same allocation and
 * `value_ptr` (a 16-byte fat pointer) points back at it. Compiled code only touches `ref_count`,
 * with atomic adds.
 */
export const VMExternDataLayout = Object.freeze({ refCount: 0, valuePtr: 8, size: 24 } as const);

/**
 * The bump area at the start of VMExternRefActivationsTable: compiled code inserts a reference
 * at `*next` and bumps `next` while `next != end`, otherwise calls the
 * activations_table_insert_with_gc builtin. `chunk` is runtime-only. A fresh table starts with an
 * empty chunk (next == end), so the first insert takes the slow path, which allocates
 * 4096 / 8 = 512 slots.
 */
export const VMExternRefActivationsTableLayout = Object.freeze({
  next: 0,
  end: 8,
  chunk: 16,
  slotSize: 8,
  chunkSlots: 512,
} as const);

/**
 * VMArrayCallHostFuncContext and VMNativeCallHostFuncContext share this shape: u32 magic, 4 bytes
 * padding, an inline VMFuncRef whose `vmctx` points back at the context itself, then the boxed
 * host state (a 16-byte fat pointer). v17's only helper is the func_ref offset; the others follow
 * from `#[repr(C)]`.
 */
export const VMHostFuncContextLayout = Object.freeze({
  magic: 0,
  funcRef: 8,
  hostState: 48,
  size: 64,
} as const);

/**
 * One slot of the array-call argument/result buffer: 16 bytes, always little-endian; i32/f32 are
 * stored zero-extended to 64 bits so the low 8 bytes are always initialised.
 */
export const ValRawLayout = Object.freeze({ size: 16 } as const);

/** A u32 VMSharedSignatureIndex, as stored in the array `signature_ids` points at. */
export const VMSharedSignatureIndexLayout = Object.freeze({ size: 4 } as const);

/** The VMContext allocation is 16-aligned, so the 16-aligned globals region really is. */
export const VMCONTEXT_ALIGN = 16;

// ---------------------------------------------------------------------------------------------
// Inputs, regions and errors.

/** Exactly v17's `VMOffsetsFields` minus the pointer size. Each count is a u32. */
export interface VMOffsetsFields {
  numImportedFunctions: number;
  numImportedTables: number;
  numImportedMemories: number;
  numImportedGlobals: number;
  numDefinedTables: number;
  /** All defined memories, shared or not: each gets a pointer slot. */
  numDefinedMemories: number;
  /** Defined memories that are not shared: each also gets an inline VMMemoryDefinition. */
  numOwnedMemories: number;
  numDefinedGlobals: number;
  /** Functions that can be referenced as funcref (exported, in elements, `ref.func`...). */
  numEscapedFuncs: number;
}

const FIELD_NAMES: readonly (keyof VMOffsetsFields)[] = [
  'numImportedFunctions',
  'numImportedTables',
  'numImportedMemories',
  'numImportedGlobals',
  'numDefinedTables',
  'numDefinedMemories',
  'numOwnedMemories',
  'numDefinedGlobals',
  'numEscapedFuncs',
];

/** v17's region names, in layout order. */
export const VMCONTEXT_REGION_NAMES = [
  'magic',
  'runtime_limits',
  'callee',
  'epoch_ptr',
  'externref_activations_table',
  'store',
  'builtin_functions',
  'signature_ids',
  'imported_functions',
  'imported_tables',
  'imported_memories',
  'imported_globals',
  'defined_tables',
  'defined_memories',
  'owned_memories',
  'defined_globals',
  'func_refs',
] as const;

export type VMContextRegionName = (typeof VMCONTEXT_REGION_NAMES)[number];

/** The regions that are arrays of per-import / per-definition elements. */
export type VMContextArrayRegionName =
  | 'imported_functions'
  | 'imported_tables'
  | 'imported_memories'
  | 'imported_globals'
  | 'defined_tables'
  | 'defined_memories'
  | 'owned_memories'
  | 'defined_globals'
  | 'func_refs';

/**
 * One region of the VMContext. `size` = `count * elementSize` and never includes alignment
 * padding (see `paddings()`); this differs from v17's own `region_sizes()`, which folds the pad
 * into the region before it.
 */
export interface VMContextRegion {
  name: VMContextRegionName;
  offset: number;
  size: number;
  count: number;
  elementSize: number;
}

/** Bytes the layout skips to align the next region; never part of a region. */
export interface VMContextPadding {
  /** The region that ends where the padding starts. */
  after: VMContextRegionName;
  offset: number;
  size: number;
  /** The alignment the next region needed. */
  align: number;
}

/** Base of every VMOffsets error; `instanceof` this to catch them all. */
export class VMOffsetsError extends StackscopeError {
  override name = 'VMOffsetsError';
}

/** An input count is not a u32, or the counts contradict each other. */
export class VMOffsetsCountError extends VMOffsetsError {
  override name = 'VMOffsetsCountError';
  constructor(
    readonly field: keyof VMOffsetsFields,
    readonly value: unknown,
    readonly reason: string,
  ) {
    super(`VMOffsets input ${field} = ${String(value)}: ${reason}`);
  }
}

/**
 * The layout does not fit in v17's u32 offsets (wasmtime panics in `checked_add`/`checked_mul`
 * at the same point).
 */
export class VMOffsetsOverflowError extends VMOffsetsError {
  override name = 'VMOffsetsOverflowError';
  constructor(
    readonly region: VMContextRegionName,
    /** Offset where the region would begin. */
    readonly offset: number,
    readonly count: number,
    readonly elementSize: number,
  ) {
    super(
      `VMContext region ${region} (${count} x ${elementSize} bytes at offset ${offset}) overflows u32 offsets`,
    );
  }
}

/** An element helper was asked for an index its region does not have (wasmtime asserts). */
export class VMOffsetsIndexError extends VMOffsetsError {
  override name = 'VMOffsetsIndexError';
  constructor(
    readonly region: VMContextArrayRegionName,
    readonly index: number,
    readonly count: number,
  ) {
    super(`VMContext region ${region} has ${count} elements; index ${index} is out of range`);
  }
}

/** `elements()` would have to materialise more entries than the caller allowed. */
export class VMOffsetsTooManyElementsError extends VMOffsetsError {
  override name = 'VMOffsetsTooManyElementsError';
  constructor(
    readonly total: number,
    readonly limit: number,
  ) {
    super(`VMContext has ${total} elements, more than the element view limit ${limit}`);
  }
}

/** One import or definition in the element view. All offsets are from the VMContext start. */
export interface VMContextElement<Field extends string> {
  /** Index within the region (see `VMContextElements`). */
  index: number;
  offset: number;
  size: number;
  /** Absolute VMContext offset of each field; empty for single-value elements. */
  fields: Record<Field, number>;
}

/**
 * Every element of every array region, for `stackscope layout --json`. Indices are those
 * wasmtime uses for the region: FuncIndex / TableIndex / MemoryIndex / GlobalIndex for the
 * imports (imports come first in each index space, so these are also the Wasm indices),
 * DefinedTableIndex / DefinedMemoryIndex / DefinedGlobalIndex for definitions, OwnedMemoryIndex
 * for owned memories and FuncRefIndex for func_refs. Field names are v17's Rust field names.
 */
export interface VMContextElements {
  imported_functions: VMContextElement<'wasm_call' | 'native_call' | 'array_call' | 'vmctx'>[];
  imported_tables: VMContextElement<'from' | 'vmctx'>[];
  imported_memories: VMContextElement<'from' | 'vmctx' | 'index'>[];
  imported_globals: VMContextElement<'from'>[];
  defined_tables: VMContextElement<'base' | 'current_elements'>[];
  /** Pointer slots (`*mut VMMemoryDefinition`): no fields. */
  defined_memories: VMContextElement<never>[];
  owned_memories: VMContextElement<'base' | 'current_length'>[];
  /** 16-byte value storage: no fields. */
  defined_globals: VMContextElement<never>[];
  func_refs: VMContextElement<'native_call' | 'array_call' | 'wasm_call' | 'type_index' | 'vmctx'>[];
}

/** Where a VMContext offset falls, for annotating memory traces. */
export interface VMContextLocation {
  region: VMContextRegionName;
  /** Element index for array regions; 0 for header regions. */
  index: number;
  /** Field name (as in `elements()`) if the offset is at or inside a named field. */
  field?: string;
  /** Bytes from the start of the field (or of the element when there is no field). */
  within: number;
}

/** Field offsets (relative to the element) of each array region, v17 field names. */
const ELEMENT_FIELDS: Readonly<Record<VMContextArrayRegionName, Readonly<Record<string, number>>>> = {
  imported_functions: {
    wasm_call: VMFunctionImportLayout.wasmCall,
    native_call: VMFunctionImportLayout.nativeCall,
    array_call: VMFunctionImportLayout.arrayCall,
    vmctx: VMFunctionImportLayout.vmctx,
  },
  imported_tables: { from: VMTableImportLayout.from, vmctx: VMTableImportLayout.vmctx },
  imported_memories: {
    from: VMMemoryImportLayout.from,
    vmctx: VMMemoryImportLayout.vmctx,
    index: VMMemoryImportLayout.index,
  },
  imported_globals: { from: VMGlobalImportLayout.from },
  defined_tables: {
    base: VMTableDefinitionLayout.base,
    current_elements: VMTableDefinitionLayout.currentElements,
  },
  defined_memories: {},
  owned_memories: {
    base: VMMemoryDefinitionLayout.base,
    current_length: VMMemoryDefinitionLayout.currentLength,
  },
  defined_globals: {},
  func_refs: {
    native_call: VMFuncRefLayout.nativeCall,
    array_call: VMFuncRefLayout.arrayCall,
    wasm_call: VMFuncRefLayout.wasmCall,
    type_index: VMFuncRefLayout.typeIndex,
    vmctx: VMFuncRefLayout.vmctx,
  },
};

/** Default cap of `elements()`; real modules stay far below it (Wasm's JS-API limits). */
export const DEFAULT_ELEMENT_VIEW_LIMIT = 1_000_000;

/** Round `offset` up to a multiple of `width`, in u32 like v17 (which would panic on overflow). */
function alignUp(offset: number, width: number, after: VMContextRegionName): number {
  const aligned = Math.ceil(offset / width) * width;
  if (aligned > U32_MAX) throw new VMOffsetsOverflowError(after, offset, 0, 0);
  return aligned;
}

/**
 * The VMContext layout of one module shape, with v17's helper names in camelCase.
 *
 * Layout, in order: magic (u32), pad to 8, runtime_limits, callee, epoch_ptr,
 * externref_activations_table (one pointer each), store (16-byte `*mut dyn Store` fat pointer),
 * builtin_functions, signature_ids (pointers), then the arrays imported_functions,
 * imported_tables, imported_memories, imported_globals, defined_tables, defined_memories
 * (pointers), owned_memories (inline definitions), pad to 16, defined_globals, func_refs. No
 * padding follows func_refs. The fixed header is 72 bytes, so imported_functions always begins
 * at 72, and an all-zero module is 80 bytes (72 padded to 16).
 */
export class VMOffsets {
  readonly numImportedFunctions: number;
  readonly numImportedTables: number;
  readonly numImportedMemories: number;
  readonly numImportedGlobals: number;
  readonly numDefinedTables: number;
  readonly numDefinedMemories: number;
  readonly numOwnedMemories: number;
  readonly numDefinedGlobals: number;
  readonly numEscapedFuncs: number;
  /** size_of_vmctx: bytes to allocate for one VMContext of this shape. */
  readonly size: number;

  readonly #regions: readonly VMContextRegion[];
  readonly #paddings: readonly VMContextPadding[];
  readonly #begin: Readonly<Record<VMContextRegionName, number>>;

  /**
   * @throws VMOffsetsCountError if a count is not an integer in [0, 2^32), or
   *   numOwnedMemories > numDefinedMemories (owned memories are a subset of the defined ones;
   *   v17 does not check this, but a layout violating it cannot belong to any module).
   * @throws VMOffsetsOverflowError if the layout does not fit in u32 offsets.
   */
  constructor(fields: VMOffsetsFields) {
    if (typeof fields !== 'object' || fields === null) {
      throw new VMOffsetsCountError('numImportedFunctions', fields, 'VMOffsets needs an object of counts');
    }
    for (const name of FIELD_NAMES) {
      const value: unknown = fields[name];
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > U32_MAX) {
        throw new VMOffsetsCountError(name, value, 'must be an integer in [0, 2^32)');
      }
    }
    if (fields.numOwnedMemories > fields.numDefinedMemories) {
      throw new VMOffsetsCountError(
        'numOwnedMemories',
        fields.numOwnedMemories,
        `exceeds numDefinedMemories (${fields.numDefinedMemories}); owned memories are the non-shared defined ones`,
      );
    }
    this.numImportedFunctions = fields.numImportedFunctions;
    this.numImportedTables = fields.numImportedTables;
    this.numImportedMemories = fields.numImportedMemories;
    this.numImportedGlobals = fields.numImportedGlobals;
    this.numDefinedTables = fields.numDefinedTables;
    this.numDefinedMemories = fields.numDefinedMemories;
    this.numOwnedMemories = fields.numOwnedMemories;
    this.numDefinedGlobals = fields.numDefinedGlobals;
    this.numEscapedFuncs = fields.numEscapedFuncs;

    const regions: VMContextRegion[] = [];
    const paddings: VMContextPadding[] = [];
    let next = 0;
    const place = (name: VMContextRegionName, count: number, elementSize: number): void => {
      const size = count * elementSize; // exact: < 2^32 * 40 < 2^53
      if (size > U32_MAX || next + size > U32_MAX) {
        throw new VMOffsetsOverflowError(name, next, count, elementSize);
      }
      regions.push({ name, offset: next, size, count, elementSize });
      next += size;
    };
    const align = (width: number): void => {
      const last = regions[regions.length - 1]!;
      const aligned = alignUp(next, width, last.name);
      if (aligned !== next) paddings.push({ after: last.name, offset: next, size: aligned - next, align: width });
      next = aligned;
    };

    place('magic', 1, 4);
    align(POINTER_SIZE);
    place('runtime_limits', 1, POINTER_SIZE);
    place('callee', 1, POINTER_SIZE);
    place('epoch_ptr', 1, POINTER_SIZE);
    place('externref_activations_table', 1, POINTER_SIZE);
    place('store', 1, 2 * POINTER_SIZE);
    place('builtin_functions', 1, POINTER_SIZE);
    place('signature_ids', 1, POINTER_SIZE);
    place('imported_functions', this.numImportedFunctions, VMFunctionImportLayout.size);
    place('imported_tables', this.numImportedTables, VMTableImportLayout.size);
    place('imported_memories', this.numImportedMemories, VMMemoryImportLayout.size);
    place('imported_globals', this.numImportedGlobals, VMGlobalImportLayout.size);
    place('defined_tables', this.numDefinedTables, VMTableDefinitionLayout.size);
    place('defined_memories', this.numDefinedMemories, POINTER_SIZE);
    place('owned_memories', this.numOwnedMemories, VMMemoryDefinitionLayout.size);
    align(VMGlobalDefinitionLayout.align);
    place('defined_globals', this.numDefinedGlobals, VMGlobalDefinitionLayout.size);
    place('func_refs', this.numEscapedFuncs, VMFuncRefLayout.size);

    this.size = next;
    this.#regions = Object.freeze(regions.map((r) => Object.freeze(r)));
    this.#paddings = Object.freeze(paddings.map((p) => Object.freeze(p)));
    this.#begin = Object.freeze(
      Object.fromEntries(regions.map((r) => [r.name, r.offset])) as Record<VMContextRegionName, number>,
    );
  }

  /** The counts this layout was computed from. */
  fields(): VMOffsetsFields {
    const out = {} as VMOffsetsFields;
    for (const name of FIELD_NAMES) out[name] = this[name];
    return out;
  }

  /** All regions in layout order; empty array regions are included with size 0. */
  regions(): readonly VMContextRegion[] {
    return this.#regions;
  }

  /** The alignment pads (at most two: after magic, before defined_globals); zero-size ones omitted. */
  paddings(): readonly VMContextPadding[] {
    return this.#paddings;
  }

  /** The region called `name`. */
  region(name: VMContextRegionName): VMContextRegion {
    return this.#regions[VMCONTEXT_REGION_NAMES.indexOf(name)]!;
  }

  // --- PtrSize-level helpers (v17 `PtrSize` trait and the struct-offset impls on VMOffsets) ---

  pointerSize(): number {
    return POINTER_SIZE;
  }
  vmcontextRuntimeLimits(): number {
    return POINTER_SIZE; // align(size_of::<u32>(), ptr)
  }
  vmFuncRefNativeCall(): number {
    return VMFuncRefLayout.nativeCall;
  }
  vmFuncRefArrayCall(): number {
    return VMFuncRefLayout.arrayCall;
  }
  vmFuncRefWasmCall(): number {
    return VMFuncRefLayout.wasmCall;
  }
  vmFuncRefTypeIndex(): number {
    return VMFuncRefLayout.typeIndex;
  }
  vmFuncRefVmctx(): number {
    return VMFuncRefLayout.vmctx;
  }
  sizeOfVmFuncRef(): number {
    return VMFuncRefLayout.size;
  }
  sizeOfVmglobalDefinition(): number {
    return VMGlobalDefinitionLayout.size;
  }
  vmruntimeLimitsStackLimit(): number {
    return VMRuntimeLimitsLayout.stackLimit;
  }
  vmruntimeLimitsFuelConsumed(): number {
    return VMRuntimeLimitsLayout.fuelConsumed;
  }
  vmruntimeLimitsEpochDeadline(): number {
    return VMRuntimeLimitsLayout.epochDeadline;
  }
  vmruntimeLimitsLastWasmExitFp(): number {
    return VMRuntimeLimitsLayout.lastWasmExitFp;
  }
  vmruntimeLimitsLastWasmExitPc(): number {
    return VMRuntimeLimitsLayout.lastWasmExitPc;
  }
  vmruntimeLimitsLastWasmEntrySp(): number {
    return VMRuntimeLimitsLayout.lastWasmEntrySp;
  }
  vmmemoryDefinitionBase(): number {
    return VMMemoryDefinitionLayout.base;
  }
  vmmemoryDefinitionCurrentLength(): number {
    return VMMemoryDefinitionLayout.currentLength;
  }
  sizeOfVmmemoryDefinition(): number {
    return VMMemoryDefinitionLayout.size;
  }
  sizeOfVmmemoryPointer(): number {
    return POINTER_SIZE;
  }
  vmnativeCallHostFuncContextFuncRef(): number {
    return VMHostFuncContextLayout.funcRef;
  }
  vmfunctionImportWasmCall(): number {
    return VMFunctionImportLayout.wasmCall;
  }
  vmfunctionImportNativeCall(): number {
    return VMFunctionImportLayout.nativeCall;
  }
  vmfunctionImportArrayCall(): number {
    return VMFunctionImportLayout.arrayCall;
  }
  vmfunctionImportVmctx(): number {
    return VMFunctionImportLayout.vmctx;
  }
  sizeOfVmfunctionImport(): number {
    return VMFunctionImportLayout.size;
  }
  sizeOfVmfunctionBodyPtr(): number {
    return POINTER_SIZE;
  }
  vmtableImportFrom(): number {
    return VMTableImportLayout.from;
  }
  vmtableImportVmctx(): number {
    return VMTableImportLayout.vmctx;
  }
  sizeOfVmtableImport(): number {
    return VMTableImportLayout.size;
  }
  vmtableDefinitionBase(): number {
    return VMTableDefinitionLayout.base;
  }
  vmtableDefinitionCurrentElements(): number {
    return VMTableDefinitionLayout.currentElements;
  }
  sizeOfVmtableDefinitionCurrentElements(): number {
    return VMTableDefinitionLayout.currentElementsSize;
  }
  sizeOfVmtableDefinition(): number {
    return VMTableDefinitionLayout.size;
  }
  vmmemoryImportFrom(): number {
    return VMMemoryImportLayout.from;
  }
  vmmemoryImportVmctx(): number {
    return VMMemoryImportLayout.vmctx;
  }
  sizeOfVmmemoryImport(): number {
    return VMMemoryImportLayout.size;
  }
  vmglobalImportFrom(): number {
    return VMGlobalImportLayout.from;
  }
  sizeOfVmglobalImport(): number {
    return VMGlobalImportLayout.size;
  }
  sizeOfVmsharedSignatureIndex(): number {
    return VMSharedSignatureIndexLayout.size;
  }
  vmExternDataRefCount(): number {
    return VMExternDataLayout.refCount;
  }
  vmExternRefActivationTableNext(): number {
    return VMExternRefActivationsTableLayout.next;
  }
  vmExternRefActivationTableEnd(): number {
    return VMExternRefActivationsTableLayout.end;
  }

  // --- VMContext header fields and region begins ---

  /** Always 0: host code checks the magic without trusting any offset read from memory. */
  vmctxMagic(): number {
    return this.#begin.magic;
  }
  vmctxRuntimeLimits(): number {
    return this.#begin.runtime_limits;
  }
  vmctxCallee(): number {
    return this.#begin.callee;
  }
  vmctxEpochPtr(): number {
    return this.#begin.epoch_ptr;
  }
  vmctxExternrefActivationsTable(): number {
    return this.#begin.externref_activations_table;
  }
  /** The 16-byte `*mut dyn Store` fat pointer (data word, then vtable word). */
  vmctxStore(): number {
    return this.#begin.store;
  }
  vmctxBuiltinFunctions(): number {
    return this.#begin.builtin_functions;
  }
  /** v17's `vmctx_signature_ids_array`: the pointer to the module's u32 signature ids. */
  vmctxSignatureIdsArray(): number {
    return this.#begin.signature_ids;
  }
  /** Same as `vmctxSignatureIdsArray()`, named after the region. */
  vmctxSignatureIds(): number {
    return this.#begin.signature_ids;
  }
  vmctxImportedFunctionsBegin(): number {
    return this.#begin.imported_functions;
  }
  vmctxImportedTablesBegin(): number {
    return this.#begin.imported_tables;
  }
  vmctxImportedMemoriesBegin(): number {
    return this.#begin.imported_memories;
  }
  vmctxImportedGlobalsBegin(): number {
    return this.#begin.imported_globals;
  }
  vmctxTablesBegin(): number {
    return this.#begin.defined_tables;
  }
  vmctxMemoriesBegin(): number {
    return this.#begin.defined_memories;
  }
  vmctxOwnedMemoriesBegin(): number {
    return this.#begin.owned_memories;
  }
  /** 16-aligned. */
  vmctxGlobalsBegin(): number {
    return this.#begin.defined_globals;
  }
  vmctxFuncRefsBegin(): number {
    return this.#begin.func_refs;
  }
  sizeOfVmctx(): number {
    return this.size;
  }

  // --- Element helpers; each throws VMOffsetsIndexError where v17 asserts ---

  #element(region: VMContextArrayRegionName, index: number): number {
    const r = this.region(region);
    if (!Number.isInteger(index) || index < 0 || index >= r.count) {
      throw new VMOffsetsIndexError(region, index, r.count);
    }
    return r.offset + index * r.elementSize;
  }

  /** @param index FuncIndex of an imported function. */
  vmctxVmfunctionImport(index: number): number {
    return this.#element('imported_functions', index);
  }
  /** @param index TableIndex of an imported table. */
  vmctxVmtableImport(index: number): number {
    return this.#element('imported_tables', index);
  }
  /** @param index MemoryIndex of an imported memory. */
  vmctxVmmemoryImport(index: number): number {
    return this.#element('imported_memories', index);
  }
  /** @param index GlobalIndex of an imported global. */
  vmctxVmglobalImport(index: number): number {
    return this.#element('imported_globals', index);
  }
  vmctxVmtableDefinition(definedIndex: number): number {
    return this.#element('defined_tables', definedIndex);
  }
  /** The `*mut VMMemoryDefinition` slot of a defined memory (shared or owned). */
  vmctxVmmemoryPointer(definedIndex: number): number {
    return this.#element('defined_memories', definedIndex);
  }
  /** The inline VMMemoryDefinition of an owned (non-shared defined) memory. */
  vmctxVmmemoryDefinition(ownedIndex: number): number {
    return this.#element('owned_memories', ownedIndex);
  }
  vmctxVmglobalDefinition(definedIndex: number): number {
    return this.#element('defined_globals', definedIndex);
  }
  /** @param index FuncRefIndex (position in the escaped-functions array). */
  vmctxFuncRef(index: number): number {
    return this.#element('func_refs', index);
  }

  vmctxVmfunctionImportWasmCall(index: number): number {
    return this.vmctxVmfunctionImport(index) + VMFunctionImportLayout.wasmCall;
  }
  vmctxVmfunctionImportNativeCall(index: number): number {
    return this.vmctxVmfunctionImport(index) + VMFunctionImportLayout.nativeCall;
  }
  vmctxVmfunctionImportArrayCall(index: number): number {
    return this.vmctxVmfunctionImport(index) + VMFunctionImportLayout.arrayCall;
  }
  vmctxVmfunctionImportVmctx(index: number): number {
    return this.vmctxVmfunctionImport(index) + VMFunctionImportLayout.vmctx;
  }
  vmctxVmtableImportFrom(index: number): number {
    return this.vmctxVmtableImport(index) + VMTableImportLayout.from;
  }
  vmctxVmtableDefinitionBase(definedIndex: number): number {
    return this.vmctxVmtableDefinition(definedIndex) + VMTableDefinitionLayout.base;
  }
  vmctxVmtableDefinitionCurrentElements(definedIndex: number): number {
    return this.vmctxVmtableDefinition(definedIndex) + VMTableDefinitionLayout.currentElements;
  }
  vmctxVmmemoryImportFrom(index: number): number {
    return this.vmctxVmmemoryImport(index) + VMMemoryImportLayout.from;
  }
  vmctxVmmemoryImportVmctx(index: number): number {
    return this.vmctxVmmemoryImport(index) + VMMemoryImportLayout.vmctx;
  }
  vmctxVmmemoryDefinitionBase(ownedIndex: number): number {
    return this.vmctxVmmemoryDefinition(ownedIndex) + VMMemoryDefinitionLayout.base;
  }
  vmctxVmmemoryDefinitionCurrentLength(ownedIndex: number): number {
    return this.vmctxVmmemoryDefinition(ownedIndex) + VMMemoryDefinitionLayout.currentLength;
  }
  vmctxVmglobalImportFrom(index: number): number {
    return this.vmctxVmglobalImport(index) + VMGlobalImportLayout.from;
  }

  // --- Views for tools ---

  /**
   * Every element of every array region with absolute field offsets.
   * @throws VMOffsetsTooManyElementsError if there are more than `limit` elements in total, so a
   *   hostile module cannot make a tool allocate without bound.
   */
  elements(limit: number = DEFAULT_ELEMENT_VIEW_LIMIT): VMContextElements {
    const arrayRegions = this.#regions.filter((r): r is VMContextRegion & { name: VMContextArrayRegionName } =>
      r.name in ELEMENT_FIELDS,
    );
    const total = arrayRegions.reduce((sum, r) => sum + r.count, 0);
    if (total > limit) throw new VMOffsetsTooManyElementsError(total, limit);
    const out = {} as Record<VMContextArrayRegionName, VMContextElement<string>[]>;
    for (const r of arrayRegions) {
      const fieldOffsets = Object.entries(ELEMENT_FIELDS[r.name]);
      const list: VMContextElement<string>[] = [];
      for (let index = 0; index < r.count; index++) {
        const offset = r.offset + index * r.elementSize;
        const fields: Record<string, number> = {};
        for (const [field, rel] of fieldOffsets) fields[field] = offset + rel;
        list.push({ index, offset, size: r.elementSize, fields });
      }
      out[r.name] = list;
    }
    return out as unknown as VMContextElements;
  }

  /**
   * Names what lives at VMContext offset `offset`, or returns undefined for padding and for
   * offsets outside [0, size). Inside an element, `field` is the last named field starting at or
   * below the offset (so struct tail padding reports as part of the last field).
   */
  locate(offset: number): VMContextLocation | undefined {
    if (!Number.isInteger(offset) || offset < 0 || offset >= this.size) return undefined;
    for (const r of this.#regions) {
      if (offset < r.offset || offset >= r.offset + r.size) continue;
      const index = Math.floor((offset - r.offset) / r.elementSize);
      const rel = offset - r.offset - index * r.elementSize;
      const fieldTable = (ELEMENT_FIELDS as Readonly<Record<string, Readonly<Record<string, number>>>>)[r.name];
      if (fieldTable === undefined) return { region: r.name, index, within: rel };
      let best: [string, number] | undefined;
      for (const [field, fieldOffset] of Object.entries(fieldTable)) {
        if (fieldOffset <= rel && (best === undefined || fieldOffset > best[1])) best = [field, fieldOffset];
      }
      return best === undefined
        ? { region: r.name, index, within: rel }
        : { region: r.name, index, field: best[0], within: rel - best[1] };
    }
    return undefined;
  }
}
