/**
 * stackscope's public API: a wasmtime-like embedding of Wasm compiled to x86-64 or AArch64
 * machine code and run in the simulator (see runtime/values.ts for the value and ownership rules).
 *
 *   const engine = new Engine({ arch: 'x64' });
 *   const store = await Store.create(engine);
 *   const module = await Module.fromWat(engine, '(module (func (export "f") (result i32) i32.const 42))');
 *   const instance = Instance.create(store, module, []);
 *   instance.getTypedFunc<[], number>('f').call(); // 42
 *
 * Everything a user constructs or catches is exported here, with the types of everything the
 * API returns. Reports and traps serialise with JSON.stringify (bigints as 0x-hex strings).
 */
export {
  Engine, Store, Module, Instance, Linker, Func, TypedFunc, Caller, Global, Table, Memory, ExternRef,
  type EngineConfig, type StoreOptions, type GcOptions, type CollectorChoice, type Extern, type Val,
  type HostFn, type ImportDescriptor, type ValTypeMap, type ValsOf, type ResultOf,
  type FuncType, type GlobalType, type MemoryType, type TableType, type ValType, type RefType,
  type CycleOptions, type CycleReport,
  openSession, sessionArch, HostImportError, SessionArchError, DEFAULT_HOST_IMPORTS, type Session, type SessionOptions,
  openModule, moduleFormatOf, chooseInvocation, callInvocation, invokeArgsOf, InvokeArgError, type OpenedModule, type Invocation,
  instantiateGcAtHost, type GcAtHost, type GcAtHostOptions, type GcAtHostRun,
} from './runtime/api.ts';

// Errors: every class a call of this API can throw. StackscopeError is the base of all of them.
export { StackscopeError } from './isa/error.ts';
// Float values as bits (Func.callRaw), and as the spec tests spell them.
export { floatBits, floatFromBits, formatFloat, parseFloatText } from './compiler/frontend/float-bits.ts';
export { WasmTrap, RuntimeError, InstantiationError, StoreClosedError, TRAP_CODE_NAMES, type TrapCode } from './runtime/errors.ts';
export { ImageModuleError } from './runtime/image-module.ts';
export { TrampolineError } from './runtime/trampolines.ts';
export { GuestTrap, type TrapKind, type BacktraceFrame } from './simulator/trap.ts';
export { EngineError } from './simulator/engine.ts';
export { MachineError } from './simulator/machine.ts';
export { NativeHelperError } from './simulator/native-helper.ts';
export { CycleModelError } from './simulator/timing/cycles.ts';
export { HostUarchError, UnknownUarchError, type UarchName } from './simulator/timing/model.ts';
export { CompileError } from './compiler/frontend/errors.ts';
export { WatNotLoadedError } from './compiler/frontend/wat.ts';
export { CodegenError } from './compiler/codegen/common.ts';
export { ImageFormatError } from './compiler/image-reader.ts';
export {
  VMOffsetsError, VMOffsetsCountError, VMOffsetsOverflowError, VMOffsetsIndexError, VMOffsetsTooManyElementsError,
} from './compiler/vmoffsets.ts';
export { LoaderError } from './loader/elf.ts';
export { ProfileError, UnknownProfileError, ProfileUnsupportedError } from './profiles/profile.ts';
export {
  FreeListLayoutError, FreeListDeallocError, HostDataError, ActivationsTableCorruptError, AllocationTooLargeError, DrcRefError,
  DrcRootError, NoGcScopeError, UserStackMapRegistryError, V31StackWalkError,
} from './gc/drc/index.ts';
export { OverApproximatedListError, V44StackWalkError } from './gc/drc44/index.ts';
export { DisasmError } from './isa/disasm.ts';
export {
  GcError, ExternRefError, HeapExhaustedError, HeapFreeError, ActivationsTableError, StackMapRegistryError,
  StackWalkError, GcInvariantError, DestructorError,
} from './gc/errors.ts';

// What the API returns.
export type { GcReport, GcReason, GcExplanation, ExplainedFrame, ExplainedWord, SuspectedRoot } from './gc/report.ts';
export type { StackMapLookupMode } from './gc/stackmap-registry.ts';
export type { Arch } from './isa/arch.ts';
/** profiles/: the wasmtime eras stackscope reproduces (EngineConfig.profile, `--profile`). */
export { PROFILES, PROFILE_NAMES, DEFAULT_PROFILE, profileNamed, type Profile, type ProfileName } from './profiles/profile.ts';
/**
 * The v31 profile's pieces (docs/profiles.md): its layouts, the DRC GC heap in guest memory,
 * typed user stack maps and their image section, the v31 walk and collection with its
 * explanation, usable on a Machine of your own.
 */
export * as v31 from './gc/drc/v31-api.ts';
/**
 * The v44 profile's pieces (docs/profiles.md): its layouts (VMContext, VMStoreContext, the
 * stack-switching structs, the DRC header, the builtins) and its GC heap, stack-chain walk and
 * collection with their explanation. The V44Store is exported below.
 */
export * as v44 from './gc/drc44/v44-api.ts';
/** The v31 store and its handles, for an `Engine({ profile: 'v31' })` (runtime/v31/). */
export {
  V31Store, V31Instance, V31Func, V31Table, V31Global, V31ExternRef, newV31Memory, GcHeapOutOfMemoryError, V31DestructorError,
  type V31GcReport, type V31StoreOptions, type V31Val, type V31Results, type V31Caller, type V31HostFn, type V31Extern, type V31InstanceOptions,
  openV31Session, externalSymbolsOf, findV31Safepoint, renderV31Frame, V31SafepointSelectError,
} from './runtime/v31/index.ts';
/** The v44 store for an `Engine({ profile: 'v44' })` (runtime/v44/); its handles are the DRC-era classes above under v44 names. */
export {
  V44Store, V44Instance, V44Func, V44Table, V44Global, V44ExternRef, type V44GcReport, type V44StoreOptions, type V44Val, type V44Results, type V44Caller, type V44HostFn,
  V44Tag, V44Linker, LinkerError,
} from './runtime/v44/index.ts';
/** viewer/: a run recorded as data (RunRecorder), replayed collections, the HTML page, frame SVGs. */
export {
  RunRecorder, renderPage, writePage, replayGc, withRunStackMaps, captureGcState, frameSvg, RUN_RECORD_FORMAT, SnapshotError, ViewerPageError,
  findSafepoint, selectSafepoints, SafepointSelectError, type FoundSafepoint, type SafepointSearch, type SafepointSearchOptions,
  type RunRecord, type ArchRun, type TimelineEvent, type FrameRecord, type GcSnapshot, type MapEdit, type ReplayOutcome, type RecorderOptions,
} from './viewer/index.ts';
/** viewer/trace.ts: what `run --trace` and `explain` watch, for an API user: safepoints, frames at them, refs described. */
export {
  Tracer, traceModule, traceOpened, safepointsOf, placedSafepoints, slotNamerFor, refDescriber, frameAtSafepoint, renderFrame, frameToJson, renderTrace, traceToJson, DEFAULT_TRACE_LIMIT,
  type Safepoint, type FrameView, type FrameWord, type SlotNamer, type RefDescriber, type TraceOptions, type ModuleTraceOptions, type TraceMode, type TraceEntry, type TraceEvent,
} from './viewer/trace.ts';
// The GC fuzzer (docs/fuzzing.md): generator, reference model, campaigns, shrinking, mutants.
export * as fuzzer from './fuzz/index.ts';
// WebAssembly spec-test scripts (.wast) through this API (wast/, docs/wast.md).
export {
  runWast, parseWast, spectestExports, WastSyntaxError,
  type WastOptions, type WastReport, type WastOutcome, type WastStatus, type WastCommand,
} from './wast/index.ts';

// Native objects in a sandbox (sandbox/, docs/sandbox.md) and the loader under it.
export {
  Sandbox, STACK_CANARY, parseSignature, signatureText, SignatureError, GuestExit, SandboxMemoryError, C_RUNTIME_FUNCTIONS,
  readArchive, isArchive, selectObjects,
  type SandboxInput, type SandboxOptions, type CallOutcome, type CType, type ScalarType, type StructType,
  type ResultType, type Signature, type CValue, type HostFunctionSpec, type HostContext, type VarArgs, type SyscallPolicy,
} from './sandbox/index.ts';
export { readElf, link, type ElfObject, type LinkedImage, type LinkInput } from './loader/index.ts';
export type { FrameMethod } from './simulator/trap.ts';
export type { SyscallHandler, SyscallRequest } from './simulator/machine.ts';
