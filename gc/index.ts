/**
 * gc/: externref objects in guest memory, the activations table, the stack-map registry, the
 * frame walkers, the collector and its explanation. See gc/README.md.
 */
export * from './errors.ts';
export { GuestHeap, type GuestHeapOptions, type GuestHeapStats, type Arena } from './guest-heap.ts';
export {
  ExternRefHeap, VALUE_BLOCK_SIZE, EXTERNREF_ALLOCATION_SIZE, EXTERN_DATA_OFFSET, FREED_POISON,
  type ExternRefHeapOptions, type ExternRefDestructor, type ExternRefLayout,
} from './externref.ts';
export { AddressSet, type ReadonlyAddressSet } from './address-set.ts';
export { RefSet } from './ref-set.ts';
export { ActivationsTable, type ActivationsTableOptions, type FreedObject, type TableSnapshot, type SweepResult } from './activations.ts';
export {
  StackMapRegistry, stackMapBits, stackMapBit,
  type StackMapInput, type FunctionStackMapsInput, type ModuleStackMapsInput, type StackMapHit, type StackMapLookupMode,
} from './stackmap-registry.ts';
export {
  MemoryReader, readRuntimeLimits, writeRuntimeLimits, collectActivations, walkV17, walkCanary, callerFrameOfHostCall, frameFromRegisters,
  type ActivationTriple, type WalkedFrame, type FrameRegisters, type CanaryFrame, type CanaryWalkResult,
} from './walk.ts';
export {
  Collector, describeValue,
  type CollectorOptions, type CollectOptions, type CollectorWork, type GcReport, type GcReason, type WalkConfig, type ConservativeCheck, type SuspectedRoot,
} from './collector.ts';
export { stackMapsFromCompiledImage, stackMapsFromImageSections } from './image-stackmaps.ts';
export { renderExplanation, explanationToJson, reportToJson, type GcExplanation, type ExplainedFrame, type ExplainedWord, type RenderOptions } from './explain.ts';
