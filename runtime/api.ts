/**
 * The embedding API, modelled on wasmtime's: Engine → Store → Module → Instance, with Func,
 * Global, Table, Memory, ExternRef, Caller and Linker. Everything a Wasm program can observe
 * lives in the Store's Machine (guest memory); the objects here are handles onto it. One file
 * per concept, as in wasmtime's crate (values.ts has the value and ownership rules); this file
 * only gathers them, and the package root (index.ts) re-exports it.
 */
export { Engine, type EngineConfig } from './engine.ts';
export { Store, type StoreOptions, type GcOptions, type CollectorChoice } from './store.ts';
export type { Val } from './values.ts';
export { ExternRef } from './ref.ts';
export { Func, Caller, TypedFunc, type HostFn, type ValTypeMap, type ValsOf, type ResultOf, type Results } from './func.ts';
export { Global, Table, Memory, type Extern } from './externals.ts';
export { Module, type ImportDescriptor } from './module.ts';
export { Instance } from './instance.ts';
export { Linker } from './linker.ts';
export { WasmTrap, RuntimeError, InstantiationError, StoreClosedError } from './errors.ts';
export type { TrapCode } from './errors.ts';
export type { FuncType, GlobalType, MemoryType, TableType, ValType, RefType } from '../compiler/frontend/module.ts';
export type { CycleOptions, CycleReport } from '../simulator/timing/cycles.ts';
export {
  openSession, sessionArch, HostImportError, SessionArchError, DEFAULT_HOST_IMPORTS, type Session, type SessionOptions,
  openModule, moduleFormatOf, chooseInvocation, callInvocation, invokeArgsOf, InvokeArgError, type OpenedModule, type Invocation,
  instantiateGcAtHost, type GcAtHost, type GcAtHostOptions, type GcAtHostRun,
} from './session.ts';
