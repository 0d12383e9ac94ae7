/**
 * What `stackscope layout --profile v44` shows: the v44 VMContext of a module shape, the structs
 * compiled code and the runtime reach through it (VMStoreContext with the stack chain, the
 * imports and definitions, every stack-switching struct, the DRC objects), the GC constants and
 * the 58 builtins — all from compiler/v44/.
 */
import { fieldsOf, type LayoutCounts, type LayoutView } from '../profiles.ts';
import { V44_BUILTINS } from './builtins.ts';
import {
  I31_DISCRIMINANT,
  NO_TYPE_INDEX,
  V44DrcArrayHeaderLayout,
  V44DrcExternRefLayout,
  V44DrcHeaderBits,
  V44DrcHeaderLayout,
  V44ExceptionHeaderLayout,
  V44FreeListConstants,
  V44GcHeapConstants,
  V44GcKind,
  VMGcHeaderLayout,
} from './gc-layout.ts';
import {
  ControlContextLayout,
  StackChainDiscriminant,
  StackState,
  VMCommonStackInformationLayout,
  VMContObjLayout,
  VMContRefLayout,
  VMContinuationStackLayout,
  VMHostArrayLayout,
  VMStackChainLayout,
  VMStackLimitsLayout,
} from './stack-switching.ts';
import {
  V44ArrayCallHostFuncContextLayout,
  V44FuncRefLayout,
  V44FunctionImportLayout,
  V44GlobalImportLayout,
  V44MemoryImportLayout,
  V44StoreContextLayout,
  V44TableDefinitionLayout,
  V44TableImportLayout,
  V44TagImportLayout,
  V44VMOffsets,
} from './vmoffsets.ts';

export function v44View(counts: LayoutCounts): LayoutView {
  const offsets = new V44VMOffsets(counts);
  const struct = (name: string, layout: Record<string, number> & { size: number }, note?: string) => ({ name, size: layout.size, fields: fieldsOf(layout), ...(note ? { note } : {}) });
  return {
    profile: 'v44',
    title: 'VMContext (wasmtime v44, pointer size 8)',
    size: offsets.size,
    regions: offsets.regions().map((r) => ({ name: r.name, offset: r.offset, size: r.size })),
    paddings: offsets.paddings().map((p) => ({ ...p })),
    elements: offsets.elements(),
    structs: [
      struct('VMStoreContext', V44StoreContextLayout, 'last_wasm_exit_trampoline_fp is the exit trampoline\'s FP; stack_chain is a VMStackChain'),
      struct('VMFuncRef', V44FuncRefLayout),
      struct('VMFunctionImport', V44FunctionImportLayout),
      struct('VMTableImport', V44TableImportLayout),
      struct('VMMemoryImport', V44MemoryImportLayout),
      struct('VMGlobalImport', V44GlobalImportLayout, 'kind is a repr(C, u32) VMGlobalKind: discriminant then index'),
      struct('VMTagImport', V44TagImportLayout),
      struct('VMTableDefinition', V44TableDefinitionLayout),
      struct('VMArrayCallHostFuncContext', V44ArrayCallHostFuncContextLayout),
      struct('VMStackChain', VMStackChainLayout, 'discriminant: 0 Absent, 1 InitialStack (payload: *VMCommonStackInformation), 2 Continuation (payload: *VMContRef)'),
      struct('VMStackLimits', VMStackLimitsLayout),
      struct('VMHostArray', VMHostArrayLayout, 'capacity counts slots, not bytes'),
      struct('VMCommonStackInformation', VMCommonStackInformationLayout, 'state: 0 Fresh, 1 Running, 2 Parent, 3 Suspended, 4 Returned'),
      struct('VMContObj', VMContObjLayout),
      struct('VMContinuationStack', VMContinuationStackLayout, 'control context below top: pc -8, fp -16, sp -24, args capacity -32'),
      struct('VMContRef', VMContRefLayout),
      struct('VMGcHeader', VMGcHeaderLayout, 'kind word: 6 kind bits, 26 reserved bits (bit 0 mark, bit 1 in the over-approximated list)'),
      {
        name: 'VMDrcHeader',
        size: V44DrcHeaderLayout.size,
        fields: { ...fieldsOf(V44DrcHeaderLayout), object_size: V44DrcHeaderLayout.objectSize },
        note: 'ref_count is a u64; next_over_approximated_stack_root is a u32 VMGcRef (0 = end)',
      },
      { name: 'VMDrcArrayHeader', size: 32, fields: { header: 0, length: V44DrcArrayHeaderLayout.length }, note: 'GC-ref elements start at 28' },
      { name: 'VMDrcExternRef', size: V44DrcExternRefLayout.size, fields: { header: 0, host_data: V44DrcExternRefLayout.hostData } },
      { name: 'VMDrcExnHeader', size: V44ExceptionHeaderLayout.size, fields: { header: 0, tag_instance: V44ExceptionHeaderLayout.tagInstance, tag_defined: V44ExceptionHeaderLayout.tagDefined } },
    ],
    constants: {
      gc_heap_page_size: V44GcHeapConstants.pageSize,
      gc_heap_min_pages: V44GcHeapConstants.minPages,
      free_list_align: V44FreeListConstants.align,
      free_list_first_block: V44FreeListConstants.firstBlock,
      drc_header_mark_bit: V44DrcHeaderBits.mark,
      drc_header_in_over_approx_list_bit: V44DrcHeaderBits.inOverApproxList,
      i31_discriminant: I31_DISCRIMINANT,
      no_type_index: NO_TYPE_INDEX,
      kind_externref: V44GcKind.ExternRef,
      kind_anyref: V44GcKind.AnyRef,
      kind_eqref: V44GcKind.EqRef,
      kind_arrayref: V44GcKind.ArrayRef,
      kind_structref: V44GcKind.StructRef,
      kind_exnref: V44GcKind.ExnRef,
      vm_drc_header_ref_count: offsets.vmDrcHeaderRefCount(),
      vm_drc_header_next_over_approximated_stack_root: offsets.vmDrcHeaderNextOverApproximatedStackRoot(),
      vmstore_context_stack_chain: offsets.vmstoreContextStackChain(),
      stack_chain_absent: StackChainDiscriminant.Absent,
      stack_chain_initial_stack: StackChainDiscriminant.InitialStack,
      stack_chain_continuation: StackChainDiscriminant.Continuation,
      stack_state_fresh: StackState.Fresh,
      stack_state_running: StackState.Running,
      stack_state_parent: StackState.Parent,
      stack_state_suspended: StackState.Suspended,
      stack_state_returned: StackState.Returned,
      control_context_pc_below_top: -ControlContextLayout.pc,
      control_context_fp_below_top: -ControlContextLayout.fp,
      control_context_sp_below_top: -ControlContextLayout.sp,
      builtins: V44_BUILTINS.length,
    },
    builtins: V44_BUILTINS.map((b) => b.name),
  };
}
