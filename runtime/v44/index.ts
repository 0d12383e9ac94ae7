/**
 * The v44 store and its handles (docs/profiles.md): what the package root exports for a v44
 * engine. The handles are the DRC-era classes of runtime/v31/instance.ts (they work over either
 * store through runtime/v31/drc-store.ts), exported here under v44 names.
 */
export { V44Store, type V44GcReport, type V44StoreOptions } from './store.ts';
export { V44_IMPLEMENTED_BUILTINS } from './builtins.ts';
export {
  V31Instance as V44Instance, V31Func as V44Func, V31Table as V44Table, V31Global as V44Global, V31ExternRef as V44ExternRef,
  type V31Val as V44Val, type V31Results as V44Results, type V31Caller as V44Caller, type V31HostFn as V44HostFn, type V31InstanceOptions as V44InstanceOptions,
} from '../v31/instance.ts';
export { GcHeapOutOfMemoryError, V31DestructorError } from '../v31/store.ts';
export { V31Tag as V44Tag } from '../v31/tag.ts';
export { V31Linker as V44Linker, LinkerError } from '../v31/linker.ts';
