/**
 * What the package root exports as `v31`: the v31 profile's layouts (compiler/v31/), the user
 * stack-map section (compiler/user-stackmaps.ts) and the DRC heap, walk and collection (gc/drc/).
 */
export * from './index.ts';
export { V31VMOffsets, VMStoreContextLayout, type V31OffsetsFields } from '../../compiler/v31/vmoffsets.ts';
export {
  VMGcHeaderLayout, VMDrcHeaderLayout, VMDrcArrayHeaderLayout, VMDrcExternRefLayout, VMGcRefActivationsTableLayout, VMGcKind,
  GC_HEAP_CAPACITY, FreeListConstants, drcStructLayout, drcArrayLayout, type GcStorageType,
} from '../../compiler/v31/gc-layout.ts';
export { V31_BUILTINS, type V31Builtin } from '../../compiler/v31/builtins.ts';
export {
  SECTION_USER_STACKMAPS, encodeUserStackMaps, readUserStackMaps, type UserStackMapEntry, type UserStackMapRecord,
} from '../../compiler/user-stackmaps.ts';
