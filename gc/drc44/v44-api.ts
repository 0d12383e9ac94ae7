/**
 * What the package root exports as `v44`: the v44 profile's layouts (compiler/v44/) and its GC
 * heap, stack-chain walk and DRC collection with their explanation (gc/drc44/).
 */
export * from './index.ts';
export {
  V44VMOffsets, V44StoreContextLayout, V44FuncRefLayout, V44FunctionImportLayout, V44TableImportLayout, V44GlobalImportLayout,
  V44TagImportLayout, V44MemoryImportLayout, type V44OffsetsFields,
} from '../../compiler/v44/vmoffsets.ts';
export {
  VMStackChainLayout, VMStackLimitsLayout, VMHostArrayLayout, VMCommonStackInformationLayout, VMContObjLayout, VMContRefLayout,
  VMContinuationStackLayout, ControlContextLayout, StackChainDiscriminant, StackState, ControlEffect,
} from '../../compiler/v44/stack-switching.ts';
export {
  V44DrcHeaderLayout, V44DrcArrayHeaderLayout, V44DrcExternRefLayout, V44DrcHeaderBits, V44GcKind, V44FreeListConstants, V44GcHeapConstants,
  drc44StructLayout, drc44ArrayLayout,
} from '../../compiler/v44/gc-layout.ts';
export { V44_BUILTINS, type V44Builtin } from '../../compiler/v44/builtins.ts';
