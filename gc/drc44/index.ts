/** The v44 profile's GC heap, stack-chain walk and DRC collection (see heap.ts and walk.ts). */
export { Drc44Heap, OverApproximatedListError, V44_FREE_LIST, type Drc44HeapOptions, type Drc44HeapStats, type Drc44ObjectHeader, type Freed44Object, type TraceInfo } from './heap.ts';
export { collectDrc44, type Drc44CollectionReport } from './collector.ts';
export {
  ABSENT, readCommonStackInformation, readContRef, readControlContext, readStackChain, readV44StoreContext,
  writeCommonStackInformation, writeControlContext, writeStackChain, writeV44StoreContext,
  type CommonStackInformation, type ContRefView, type StackChainValue, type V44StoreRecords,
} from './structs.ts';
export {
  describeStack, V44StackWalkError, walkV44,
  type V44Activation, type V44Frame, type V44SavedActivation, type V44Stack, type V44StackWalkFailure, type V44Walk, type V44WalkInputs,
} from './walk.ts';
export {
  drc44ExplanationToJson, renderDrc44Explanation, V44Collector,
  type Drc44Explanation, type Explained44Entry, type Explained44Frame, type Explained44Target, type V44CollectorOptions,
} from './v44-collector.ts';
