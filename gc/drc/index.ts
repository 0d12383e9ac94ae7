/** The v31 profile's GC heap and DRC collector (see heap.ts). */
export { FreeList, FreeListDeallocError, FreeListLayoutError } from './free-list.ts';
export { ExternRefHostDataTable, HostDataError } from './host-data.ts';
export { ActivationsTableCorruptError, EMPTY_CHUNK_POINTER, GcRefActivationsTable } from './activations-table.ts';
export {
  AllocationTooLargeError, DrcHeap, DrcRefError, i31Ref, i31Value, isI31,
  type DrcHeapOptions, type DrcHeapStats, type DrcObjectHeader, type FreedGcObject,
} from './heap.ts';
export { collectDrc, DrcRootError, NoGcScopeError, type DrcCollectOptions, type DrcCollectionReport, type DrcRoot } from './collector.ts';
export { UserStackMapRegistry, UserStackMapRegistryError, type FoundUserStackMap, type UserStackMapModule } from './user-stackmap-registry.ts';
export { readStoreContext, v31StackRoots, V31StackWalkError, walkV31, writeStoreContext, type V31ActivationTriple, type V31Frame, type V31StackWalkFailure } from './walk.ts';
export { scanV31Frame, type ScannedEntry, type ScannedFrame } from './walk.ts';
export {
  V31Collector, drcExplanationToJson, renderDrcExplanation,
  type DrcExplanation, type ExplainedEntry, type ExplainedTarget, type ExplainedV31Frame, type TableView, type V31CollectorOptions,
} from './v31-collector.ts';
