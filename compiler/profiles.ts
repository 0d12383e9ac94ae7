/**
 * The compiler's side of the profiles (profiles/): one table per capability the compiler
 * implements, keyed by the value a profile record gives that capability. `compileModule` and the
 * layout tools ask these tables, so no compiler file tests a profile's name.
 *
 * - `VMCONTEXT_LAYOUTS`: the VMContext layout of a module shape (`stackscope layout`).
 * - `CODE_GENERATORS`: the era's code generator (lowering/era.ts: layout, barriers, builtins,
 *   stack-map format): v17's shared lowering, v31's DRC barriers and user stack maps
 *   (v31/codegen.ts), v44's over-approximated-list barriers (v44/codegen.ts).
 */
import { implementationOf, type CapabilityTable, type Profile, type VMContextFamily } from '../profiles/profile.ts';
import { numImportedTags, type WasmModule } from './frontend/module.ts';
import { V31_BUILTINS } from './v31/builtins.ts';
import {
  FreeListConstants,
  GC_HEAP_CAPACITY,
  I31_DISCRIMINANT,
  NO_TYPE_INDEX,
  VMDrcArrayHeaderLayout,
  VMDrcExternRefLayout,
  VMDrcHeaderLayout,
  VMGcHeaderLayout,
  VMGcKind,
  VMGcRefActivationsTableLayout,
} from './v31/gc-layout.ts';
import {
  V31ArrayCallHostFuncContextLayout,
  V31FuncRefLayout,
  V31FunctionImportLayout,
  V31TableDefinitionLayout,
  V31VMOffsets,
  VMStoreContextLayout,
  type V31OffsetsFields,
} from './v31/vmoffsets.ts';
import { VMOffsets, type VMOffsetsFields } from './vmoffsets.ts';
import { v44View } from './v44/layout-view.ts';
import { V17_CODEGEN, type CodegenEra } from './lowering/era.ts';
import { V31_CODEGEN } from './v31/codegen.ts';
import { V44_CODEGEN } from './v44/codegen.ts';

/** A module shape in the union of every era's VMOffsets inputs (eras ignore counts they lack). */
export type LayoutCounts = VMOffsetsFields & { numImportedTags: number; numDefinedTags: number };

/** The counts of a front-end module, its tags included (imported ones first in its tag index space). */
export function layoutCountsOf(module: Pick<WasmModule, 'counts' | 'imports' | 'tags'>): LayoutCounts {
  const counts = module.counts;
  const importedTags = numImportedTags(module);
  return {
    numImportedFunctions: counts.numImportedFunctions,
    numImportedTables: counts.numImportedTables,
    numImportedMemories: counts.numImportedMemories,
    numImportedGlobals: counts.numImportedGlobals,
    numDefinedTables: counts.numDefinedTables,
    numDefinedMemories: counts.numDefinedMemories,
    numOwnedMemories: counts.numOwnedMemories,
    numDefinedGlobals: counts.numDefinedGlobals,
    numEscapedFuncs: counts.numEscapedFunctions,
    numImportedTags: importedTags,
    numDefinedTags: (module.tags?.length ?? 0) - importedTags,
  };
}

/** A struct of the era, as the layout tool prints it: field name → offset, and the size. */
export interface LayoutStruct {
  readonly name: string;
  readonly size: number;
  readonly fields: Readonly<Record<string, number>>;
  readonly note?: string;
}

/** What `stackscope layout` shows of one module shape in one profile. */
export interface LayoutView {
  readonly profile: Profile['name'];
  readonly title: string;
  readonly size: number;
  readonly regions: readonly { name: string; offset: number; size: number }[];
  readonly paddings: readonly { after: string; offset: number; size: number; align: number }[];
  readonly elements: Readonly<Record<string, readonly { index: number; offset: number; size: number; fields: Record<string, number> }[]>>;
  /** The era's structs compiled code reaches through the vmctx (v17's view has none: docs/layouts.md lists them). */
  readonly structs: readonly LayoutStruct[];
  /** Named constants of the era (GC heap capacity, kinds, builtins count, ...). */
  readonly constants: Readonly<Record<string, number>>;
  /** The builtin table, index order (empty in the v17 view, which docs/layouts.md lists). */
  readonly builtins: readonly string[];
}

function v17View(counts: LayoutCounts): LayoutView {
  const offsets = new VMOffsets(counts);
  return {
    profile: 'v17',
    title: 'VMContext (wasmtime v17, pointer size 8)',
    size: offsets.size,
    regions: offsets.regions().map((r) => ({ name: r.name, offset: r.offset, size: r.size })),
    paddings: offsets.paddings().map((p) => ({ after: p.after, offset: p.offset, size: p.size, align: p.align })),
    elements: offsets.elements() as unknown as LayoutView['elements'],
    structs: [],
    constants: {},
    builtins: [],
  };
}

/** A layout record's field offsets under wasmtime's (snake_case) names: everything but sizes and alignment. */
export function fieldsOf(layout: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(layout)
      .filter(([k]) => k !== 'size' && k !== 'align' && !k.endsWith('Size'))
      .map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), v]),
  );
}

function v31View(counts: LayoutCounts): LayoutView {
  const fields: V31OffsetsFields = counts;
  const offsets = new V31VMOffsets(fields);
  return {
    profile: 'v31',
    title: 'VMContext (wasmtime v31, pointer size 8)',
    size: offsets.size,
    regions: offsets.regions().map((r) => ({ name: r.name, offset: r.offset, size: r.size })),
    paddings: offsets.paddings().map((p) => ({ ...p })),
    elements: offsets.elements(),
    structs: [
      { name: 'VMStoreContext', size: VMStoreContextLayout.size, fields: fieldsOf(VMStoreContextLayout) },
      { name: 'VMFuncRef', size: V31FuncRefLayout.size, fields: fieldsOf(V31FuncRefLayout) },
      { name: 'VMFunctionImport', size: V31FunctionImportLayout.size, fields: fieldsOf(V31FunctionImportLayout) },
      { name: 'VMTableDefinition', size: V31TableDefinitionLayout.size, fields: fieldsOf(V31TableDefinitionLayout) },
      { name: 'VMArrayCallHostFuncContext', size: V31ArrayCallHostFuncContextLayout.size, fields: fieldsOf(V31ArrayCallHostFuncContextLayout) },
      { name: 'VMGcHeader', size: VMGcHeaderLayout.size, fields: fieldsOf(VMGcHeaderLayout), note: 'kind word: 5 kind bits, 27 reserved bits (the DRC object size)' },
      { name: 'VMDrcHeader', size: VMDrcHeaderLayout.size, fields: fieldsOf(VMDrcHeaderLayout), note: 'ref_count is a u64' },
      { name: 'VMDrcArrayHeader', size: VMDrcArrayHeaderLayout.length + VMDrcArrayHeaderLayout.lengthSize, fields: { header: 0, length: VMDrcArrayHeaderLayout.length }, note: 'elements follow, aligned to their size' },
      { name: 'VMDrcExternRef', size: VMDrcExternRefLayout.size, fields: { header: 0, host_data: VMDrcExternRefLayout.hostData } },
      {
        name: 'VMGcRefActivationsTable',
        size: VMGcRefActivationsTableLayout.size,
        fields: { next: VMGcRefActivationsTableLayout.next, end: VMGcRefActivationsTableLayout.end, chunk: VMGcRefActivationsTableLayout.chunk },
        note: `vmctx.gc_heap_data points here; chunk = ${VMGcRefActivationsTableLayout.chunkSlots} u32 slots, empty until the first sweep`,
      },
    ],
    constants: {
      gc_heap_capacity: GC_HEAP_CAPACITY,
      free_list_align: FreeListConstants.align,
      free_list_min_block: FreeListConstants.minBlockSize,
      free_list_first_block: FreeListConstants.firstBlock,
      i31_discriminant: I31_DISCRIMINANT,
      no_type_index: NO_TYPE_INDEX,
      kind_externref: VMGcKind.ExternRef,
      kind_anyref: VMGcKind.AnyRef,
      kind_eqref: VMGcKind.EqRef,
      kind_arrayref: VMGcKind.ArrayRef,
      kind_structref: VMGcKind.StructRef,
      vm_drc_header_ref_count: offsets.vmDrcHeaderRefCount(),
      vm_gc_ref_activation_table_next: offsets.vmGcRefActivationTableNext(),
      vm_gc_ref_activation_table_end: offsets.vmGcRefActivationTableEnd(),
      builtins: V31_BUILTINS.length,
    },
    builtins: V31_BUILTINS.map((b) => b.name),
  };
}

/** The VMContext layout views, one per VMContext family. */
export const VMCONTEXT_LAYOUTS: CapabilityTable<VMContextFamily, (counts: LayoutCounts) => LayoutView> = {
  capability: 'vmcontext',
  where: 'compiler/profiles.ts',
  implementations: { v17: v17View, v31: v31View, v44: v44View },
  missing: {},
};

/** The layout of `counts` in `profile`. Throws the era's VMOffsets errors for bad counts. */
export function layoutViewOf(profile: Profile, counts: LayoutCounts): LayoutView {
  return implementationOf(profile, VMCONTEXT_LAYOUTS)(counts);
}

/** The code generators: which eras' code this compiler emits. */
export const CODE_GENERATORS: CapabilityTable<VMContextFamily, CodegenEra> = {
  capability: 'codegen',
  where: 'the compiler (compiler/)',
  implementations: { v17: V17_CODEGEN, v31: V31_CODEGEN, v44: V44_CODEGEN },
  missing: {},
};

/** The era code generator of `profile`. Throws ProfileUnsupportedError when the compiler has none. */
export function checkCodegen(profile: Profile): CodegenEra {
  return implementationOf(profile, CODE_GENERATORS);
}
