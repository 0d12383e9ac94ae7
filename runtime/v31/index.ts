/** The v31 store and its handles (docs/profiles.md): what the package root exports for a v31 engine. */
export { V31Store, GcHeapOutOfMemoryError, V31DestructorError, type V31GcReport, type V31StoreOptions } from './store.ts';
export {
  V31Instance, V31Func, V31Table, V31Global, V31ExternRef, newV31Memory,
  type V31Val, type V31Results, type V31Caller, type V31HostFn, type V31Extern, type V31InstanceOptions,
} from './instance.ts';
export { V31_IMPLEMENTED_BUILTINS } from './builtins.ts';
export { V31Linker, LinkerError } from './linker.ts';
export { openV31Session, chooseV31Invocation, instantiateV31GcAtHost, externalSymbolsOf, type V31Session, type V31SessionOptions } from './session.ts';
export { findV31Safepoint, renderV31Frame, v31Safepoints, V31SafepointSelectError, type V31FoundFrame, type V31Safepoint, type V31SafepointSearch } from './safepoints.ts';
