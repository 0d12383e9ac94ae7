/**
 * stackscope's public API: a wasmtime-like embedding of Wasm compiled to x86-64 or AArch64
 * machine code and run in the simulator (see runtime/api.ts for the value and ownership rules).
 *
 *   const engine = new Engine({ arch: 'x64' });
 *   const store = await Store.create(engine);
 *   const module = await Module.fromWat(engine, '(module (func (export "f") (result i32) i32.const 42))');
 *   const instance = Instance.create(store, module, []);
 *   instance.getFunc('f').call(); // 42
 */
export {
  Engine, Store, Module, Instance, Linker, Func, Caller, Global, Table, Memory, ExternRef,
  type EngineConfig, type StoreOptions, type Extern, type Val, type HostFn, type ImportDescriptor,
  type FuncType, type GlobalType, type MemoryType, type TableType, type ValType, type RefType,
} from './runtime/api.ts';
export { WasmTrap, RuntimeError, InstantiationError, TRAP_CODE_NAMES, type TrapCode } from './runtime/errors.ts';
export { ImageModuleError } from './runtime/image-module.ts';
export { GuestTrap } from './simulator/trap.ts';
export { StackscopeError } from './isa/error.ts';
export type { Arch } from './isa/arch.ts';
/** viewer/: a run recorded as data (RunRecorder), replayed collections, the HTML page, frame SVGs. */
export {
  RunRecorder, renderPage, writePage, replayGc, withRunStackMaps, captureGcState, frameSvg, RUN_RECORD_FORMAT, SnapshotError, ViewerPageError,
  type RunRecord, type ArchRun, type TimelineEvent, type FrameRecord, type GcSnapshot, type MapEdit, type ReplayOutcome, type RecorderOptions,
} from './viewer/index.ts';
