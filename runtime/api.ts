/**
 * The embedding API, modelled on wasmtime's: Engine → Store → Module → Instance, with Func,
 * Global, Table, Memory, ExternRef and Caller. Everything a Wasm program can observe lives in
 * the Store's Machine (guest memory); the objects here are handles onto it.
 *
 * Values cross the API as: i32 → number (signed), i64 → bigint (signed), externref →
 * ExternRef | null, funcref → Func | null. Arguments may also be given as the unsigned forms.
 *
 * ExternRef ownership (wasmtime's Rust rules, made explicit for JS):
 * - every ExternRef handle owns one reference count until `release()` (or `using`);
 * - results (Func.call, Table.get, Global.get) are new handles the caller must release;
 * - arguments given to Wasm are cloned into the activations table; the caller keeps its handle;
 * - a host function's externref arguments are borrowed for the duration of the call (call
 *   `clone()` to keep one); an ExternRef a host function returns is moved to Wasm (the handle
 *   is released by the runtime).
 */
import type { Arch } from '../isa/arch.ts';
import { hex } from '../isa/error.ts';
import { compileModule, type CompiledImage } from '../compiler/index.ts';
import { parseModuleSource, parseWasm, parseWat } from '../compiler/frontend/index.ts';
import {
  funcTypeOf, type FuncType, type GlobalType, type MemoryType, type TableType, type ValType, type WasmModule,
} from '../compiler/frontend/module.ts';
import {
  VM_ARRAY_CALL_HOST_FUNC_MAGIC, VM_NATIVE_CALL_HOST_FUNC_MAGIC, VMFuncRefLayout, VMHostFuncContextLayout, VMGlobalDefinitionLayout,
} from '../compiler/vmoffsets.ts';
import { ActivationsTable } from '../gc/activations.ts';
import { Collector, type GcReport } from '../gc/collector.ts';
import { ExternRefHeap } from '../gc/externref.ts';
import { StackMapRegistry } from '../gc/stackmap-registry.ts';
import { PROT_READ, PROT_WRITE } from '../simulator/engine.ts';
import { Machine, type HostCall, type Region } from '../simulator/machine.ts';
import { CycleModelError, type CycleOptions, type CycleReport, type ReportOptions } from '../simulator/timing/cycles.ts';
import { timingModel } from '../simulator/timing/model.ts';
import { Activations, DEFAULT_MAX_WASM_STACK } from './activations.ts';
import { BuiltinsArray, type BuiltinHost } from './builtins.ts';
import { InstantiationError, RuntimeError, WasmTrap, normalizeTrapCode } from './errors.ts';
import { StoreExternRefs } from './externrefs.ts';
import { RuntimeHeap } from './heap.ts';
import { VMRuntimeLimits } from './limits.ts';
import { LinearMemory, WASM_PAGE_SIZE } from './memory.ts';
import { placeModuleCode, type PlacedImage } from './place.ts';
import { codeOfCompiledImage, moduleFromImageBytes, type ModuleCode } from './image-module.ts';
import { SignatureRegistry, formatFuncType, funcTypeKey } from './signatures.ts';
import { RuntimeTable } from './table.ts';
import { Trampolines } from './trampolines.ts';
import { TrapRegistry } from './traps.ts';
import {
  VMContextInstance, type DefinedFunctionCode, type ImportedFunction, type ImportedGlobal, type ImportedMemory,
  type ImportedTable, type VMContextEnvironment,
} from './vmcontext.ts';

export type { FuncType, GlobalType, MemoryType, TableType, ValType, RefType } from '../compiler/frontend/module.ts';
export type { CycleOptions, CycleReport } from '../simulator/timing/cycles.ts';

/** A Wasm value as the API passes it. */
export type Val = number | bigint | ExternRef | Func | null;

// ---------------------------------------------------------------------------------------------
// Engine

export interface EngineConfig {
  arch: Arch;
  /** Bytes of guest stack one outermost entry may use (default 512 KiB). */
  maxWasmStack?: number;
  /** Unmapped bytes after each linear memory's reservation (default 2 GiB). */
  memoryGuardBytes?: bigint;
  /** Upper bound of a linear memory's reservation, in pages (default 65536 = 4 GiB). */
  memoryReservationPages?: number;
  /** Resource limit: pages a memory may make accessible (default 4096 = 256 MiB). */
  maxMemoryPages?: number;
  /** Instruction budget of one outermost guest call (default 2^32; null = none). */
  budget?: bigint | null;
  /** Wall-clock limit of one outermost guest call in ms (default 10 s; null = none). */
  timeoutMs?: number | null;
  /**
   * Cycle model of every store's Machine (docs/cycle-model.md): `fast` or `detailed`, with an
   * optional microarchitecture for this arch. Default off. A store may override it
   * (StoreOptions.cycles); read results with `store.cycleReport()`.
   */
  cycles?: CycleOptions;
}

/**
 * Checks a cycle-model request against the arch before any Machine exists, so a bad request
 * fails where it was made: UnknownUarchError for a name no model has, CycleModelError for a
 * mode that does not exist or a model of the other arch.
 */
function checkCycleOptions(arch: Arch, cycles: CycleOptions | undefined): void {
  if (cycles === undefined) return;
  const mode: unknown = cycles.mode;
  if (mode !== 'off' && mode !== 'fast' && mode !== 'detailed') {
    throw new CycleModelError(`unknown cycle mode ${JSON.stringify(mode)} (off, fast or detailed)`);
  }
  if (cycles.accumulate !== undefined && typeof cycles.accumulate !== 'boolean') {
    throw new CycleModelError(`cycles.accumulate must be a boolean (got ${JSON.stringify(cycles.accumulate)})`);
  }
  if (cycles.uarch === undefined) return;
  const model = timingModel(cycles.uarch);
  if (model.arch !== arch) throw new CycleModelError(`models ${model.arch}, the engine is ${arch}`, cycles.uarch);
}

/** Compilation settings shared by stores: the target architecture and limits. */
export class Engine {
  readonly arch: Arch;
  readonly config: Readonly<EngineConfig>;
  private readonly stores = new Set<Store>();
  private epoch = 0n;

  constructor(config: EngineConfig) {
    if (config.arch !== 'x64' && config.arch !== 'aarch64') throw new RuntimeError('Engine', `unknown arch ${String(config.arch)}`);
    this.arch = config.arch;
    checkCycleOptions(config.arch, config.cycles);
    this.config = Object.freeze({ ...config });
  }

  /** Advances the engine's epoch (every store's epoch counter in guest memory). */
  incrementEpoch(): void {
    this.epoch++;
    for (const s of this.stores) s.machine.writeU64(s.epochAddress, this.epoch);
  }

  get currentEpoch(): bigint {
    return this.epoch;
  }

  /** @internal */
  register(store: Store): void {
    this.stores.add(store);
  }
  /** @internal */
  unregister(store: Store): void {
    this.stores.delete(store);
  }
}

// ---------------------------------------------------------------------------------------------
// Store

let storeIds = 1n;

/** A LIFO of ValRaw buffers in guest memory for array calls (calls nest, so buffers do too). */
class ValRawStack {
  private top: bigint;
  constructor(private readonly region: Region) {
    this.top = region.address + BigInt(region.size);
  }
  push(slots: number): bigint {
    const at = (this.top - BigInt(16 * Math.max(slots, 1))) & ~15n;
    if (at < this.region.address) throw new RuntimeError('store', 'array-call argument stack exhausted');
    this.top = at;
    return at;
  }
  pop(to: bigint): void {
    this.top = to;
  }
  get mark(): bigint {
    return this.top;
  }
}

export interface StoreOptions<T> {
  data?: T;
  /** This store's cycle model, instead of the engine's (`{ mode: 'off' }` turns it off). */
  cycles?: CycleOptions;
}

/**
 * One simulated address space: its Machine, runtime limits, externref heap and activations
 * table, builtins, trampolines, and every instance, memory, table and global made in it.
 */
export class Store<T = unknown> {
  readonly engine: Engine;
  readonly machine: Machine;
  readonly id: bigint;
  data: T | undefined;
  /** @internal */ readonly heap: RuntimeHeap;
  /** @internal */ readonly limits: VMRuntimeLimits;
  /** @internal */ readonly epochAddress: bigint;
  /** @internal */ readonly externRefHeap: ExternRefHeap;
  /** @internal */ readonly activationsTable: ActivationsTable;
  /** @internal */ readonly externRefs: StoreExternRefs;
  /** The stack maps of every module placed in this store (gc/). */
  readonly stackMaps: StackMapRegistry;
  /** gc/'s collector: v17 frame walk over this store's activations, exact stack-map lookup. */
  readonly collector: Collector;
  /** @internal */ readonly signatures = new SignatureRegistry();
  /** @internal */ readonly trampolines: Trampolines;
  /** @internal */ readonly activations: Activations;
  /** @internal */ readonly traps = new TrapRegistry();
  /** @internal */ readonly builtins: BuiltinsArray;
  /** @internal */ readonly env: VMContextEnvironment;
  /** @internal */ readonly instances = new Map<bigint, Instance>();
  /** @internal */ readonly placed = new Map<Module, PlacedImage>();
  /** @internal */ readonly funcsByRef = new Map<bigint, Func>();
  /** @internal */ readonly valRaw: ValRawStack;
  /** Store-level deadline behaviour: the epoch delta to continue with, or null to trap. */
  epochDeadlineDelta: bigint | null = null;
  private closed = false;

  private constructor(engine: Engine, machine: Machine, options: StoreOptions<T>) {
    this.engine = engine;
    this.machine = machine;
    this.id = storeIds++;
    this.data = options.data;
    this.heap = new RuntimeHeap(machine, 'runtime-heap');
    this.limits = VMRuntimeLimits.allocate(machine, this.heap);
    this.epochAddress = this.heap.alloc(8, 8);
    machine.writeU64(this.epochAddress, engine.currentEpoch);
    this.externRefHeap = new ExternRefHeap(machine);
    this.activationsTable = new ActivationsTable(machine, this.externRefHeap);
    this.activations = new Activations(machine, this.limits, this.traps, { maxWasmStack: engine.config.maxWasmStack ?? DEFAULT_MAX_WASM_STACK });
    this.externRefs = new StoreExternRefs(this.externRefHeap, this.activationsTable, () => this.activations.depth > 0);
    this.stackMaps = new StackMapRegistry();
    this.collector = new Collector({
      machine, heap: this.externRefHeap, table: this.activationsTable, registry: this.stackMaps,
      walk: { kind: 'v17', limits: this.limits.address, olderActivations: () => this.activations.chain() },
    });
    this.externRefs.attachCollector(this.collector);
    this.trampolines = new Trampolines(machine);
    const host: BuiltinHost = {
      machine,
      externRefs: this.externRefs,
      instanceAt: (vmctx) => {
        const inst = this.instances.get(vmctx);
        if (!inst) throw new RuntimeError('builtin', `no instance has its VMContext at ${hex(vmctx)}`);
        return inst.vm;
      },
      outOfGas: () => { throw new WasmTrap({ code: 'OutOfFuel' }); },
      newEpoch: () => {
        if (this.epochDeadlineDelta === null) throw new WasmTrap({ code: 'Interrupt', detail: 'epoch deadline reached' });
        const deadline = this.engine.currentEpoch + this.epochDeadlineDelta;
        this.limits.epochDeadline = deadline;
        return deadline;
      },
    };
    this.builtins = new BuiltinsArray(machine, this.heap, this.trampolines, host);
    this.valRaw = new ValRawStack(machine.map('valraw-stack', 256 * 1024, PROT_READ | PROT_WRITE));
    this.env = {
      machine, heap: this.heap, limits: this.limits, epochAddress: this.epochAddress,
      activationsTableAddress: this.activationsTable.address, storeId: this.id,
      builtinsArrayAddress: this.builtins.address, signatures: this.signatures, externRefs: this.externRefs,
      memoryOptions: {
        guardBytes: engine.config.memoryGuardBytes,
        reservationPages: engine.config.memoryReservationPages,
        maxAccessiblePages: engine.config.maxMemoryPages,
      },
    };
    engine.register(this);
  }

  static async create<T = unknown>(engine: Engine, options: StoreOptions<T> = {}): Promise<Store<T>> {
    const cycles = options.cycles ?? engine.config.cycles;
    checkCycleOptions(engine.arch, cycles);
    const machine = await Machine.create({
      arch: engine.arch, budget: engine.config.budget, timeoutMs: engine.config.timeoutMs, ...(cycles ? { cycles } : {}),
    });
    return new Store(engine, machine, options);
  }

  /**
   * The cycle model's report of the current or last entry into Wasm from the host: each
   * outermost entry (`Func.call` from the host, a start function run by instantiation) starts
   * from empty counts; host functions and builtins Wasm calls, and Wasm they call back, run
   * inside it. With `cycles.accumulate` the report instead covers every entry since the store
   * was made or `resetCycles()`. Total cycles, IPC, CPI stack, hot blocks and hot functions
   * named `module!func` (trampolines by their runtime names). Undefined when the store has no
   * cycle model (EngineConfig.cycles / StoreOptions.cycles).
   */
  cycleReport(options: Omit<ReportOptions, 'symbolize' | 'exclude'> = {}): CycleReport | undefined {
    return this.machine.cycleReport(options);
  }

  /** Starts the cycle model's counts afresh (between calls into Wasm, not from a host function). */
  resetCycles(): void {
    this.machine.resetCycles();
  }

  /**
   * Collects externrefs no longer referenced (store.gc() in wasmtime): gc/'s collector walks the
   * live Wasm frames of every activation, keeps what their stack maps name, and sweeps the
   * activations table. Returns this collection's report; when a collection is already running
   * (a destructor called back in), the report says `skipped: 'reentrant'` and nothing happened.
   */
  gc(options: GcOptions = {}): GcReport {
    return this.collector.collect({ reason: 'store-gc', explain: options.explain });
  }

  /** Sets the epoch deadline `delta` epochs from now (compiled code checks it when enabled). */
  setEpochDeadline(delta: bigint): void {
    this.limits.epochDeadline = this.engine.currentEpoch + delta;
  }

  /** Entries into Wasm currently in progress. */
  get wasmDepth(): number {
    return this.activations.depth;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.engine.unregister(this);
    this.machine.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** @internal The Func for a VMFuncRef pointer (0 → null). */
  funcFromRef(ptr: bigint): Func | null {
    if (ptr === 0n) return null;
    let f = this.funcsByRef.get(ptr);
    if (!f) {
      const id = this.machine.readU32(ptr + BigInt(VMFuncRefLayout.typeIndex));
      const type = this.signatures.typeOf(id);
      if (!type) throw new RuntimeError('funcref', `${hex(ptr)} has no known signature (id ${id})`);
      f = new Func(this, ptr, type, undefined);
      this.funcsByRef.set(ptr, f);
    }
    return f;
  }

  /** @internal Runs a guest call as one host→Wasm entry. */
  enter(call: () => bigint): bigint {
    return this.activations.enter(call);
  }
}

// ---------------------------------------------------------------------------------------------
// Values

export interface GcOptions {
  /** Build the full explanation (frames, map words, table before/after, freed host values). */
  explain?: boolean;
}

/** A host-side handle on an externref object in guest memory; owns one reference count. */
export class ExternRef {
  private ptr: bigint;

  /** @internal Wraps a pointer whose count this handle now owns. */
  constructor(readonly store: Store, ptr: bigint) {
    this.ptr = ptr;
  }

  /**
   * A new externref object holding any JS value. `destructor` runs once when the last count is
   * dropped (by the host, by compiled code through drop_externref, or by a GC sweep); it may
   * call back into Wasm.
   */
  static new(store: Store, value: unknown, destructor?: (value: unknown) => void): ExternRef {
    return new ExternRef(store, store.externRefHeap.allocate(value, destructor && ((v) => destructor(v))));
  }

  /** The guest address of the VMExternData (what Wasm sees). Throws once released. */
  get pointer(): bigint {
    if (this.ptr === 0n) throw new RuntimeError('ExternRef', 'used after release()');
    return this.ptr;
  }

  get released(): boolean {
    return this.ptr === 0n;
  }

  /** The JS value this reference holds. */
  get value(): unknown {
    return this.store.externRefHeap.value(this.pointer);
  }

  /** The reference count as stored in guest memory (compiled code changes it directly). */
  strongCount(): number {
    return this.store.externRefHeap.strongCount(this.pointer);
  }

  /** Another handle on the same object, with its own count. */
  clone(): ExternRef {
    return new ExternRef(this.store, this.store.externRefHeap.clone(this.pointer));
  }

  /** Gives this handle's count back; the object is freed when no count is left. Idempotent. */
  release(): void {
    if (this.ptr === 0n) return;
    const p = this.ptr;
    this.ptr = 0n;
    this.store.externRefHeap.drop(p);
  }

  [Symbol.dispose](): void {
    this.release();
  }

  /** @internal Hands this handle's count to the runtime (a moved host result). */
  take(): bigint {
    const p = this.pointer;
    this.ptr = 0n;
    return p;
  }
}

function checkStore(store: Store, other: Store, what: string): void {
  if (store !== other) throw new RuntimeError(what, 'belongs to a different store');
}

/**
 * Converts an API value to raw bits for Wasm. `forWasm` externrefs get a count in the
 * activations table (the Wasm frame may hold them with no count of its own).
 */
function toRaw(store: Store, type: ValType, v: Val, where: string): bigint {
  switch (type) {
    case 'i32':
    case 'i64': {
      if (typeof v === 'number') {
        if (!Number.isInteger(v)) throw new RuntimeError(where, `${v} is not an integer ${type}`);
        return BigInt.asUintN(type === 'i32' ? 32 : 64, BigInt(v));
      }
      if (typeof v === 'bigint') return BigInt.asUintN(type === 'i32' ? 32 : 64, v);
      throw new RuntimeError(where, `expected ${type}, got ${describe(v)}`);
    }
    case 'externref': {
      if (v === null) return 0n;
      if (!(v instanceof ExternRef)) throw new RuntimeError(where, `expected ExternRef or null, got ${describe(v)}`);
      checkStore(store, v.store, where);
      return v.pointer;
    }
    case 'funcref': {
      if (v === null) return 0n;
      if (!(v instanceof Func)) throw new RuntimeError(where, `expected Func or null, got ${describe(v)}`);
      checkStore(store, v.store, where);
      return v.funcRefPointer;
    }
  }
}

/** Raw bits from Wasm to an API value; externrefs become new owned handles. */
function fromRaw(store: Store, type: ValType, raw: bigint): Val {
  switch (type) {
    case 'i32': return Number(BigInt.asIntN(32, raw));
    case 'i64': return BigInt.asIntN(64, raw);
    case 'externref': return raw === 0n ? null : new ExternRef(store, store.externRefHeap.clone(raw));
    case 'funcref': return store.funcFromRef(raw);
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return `${typeof v} ${String(v)}`;
}

/** Gives a raw externref argument to Wasm: a count in the activations table keeps it alive. */
function rootForWasm(store: Store, type: ValType, raw: bigint): void {
  if (type === 'externref' && raw !== 0n) {
    store.externRefHeap.clone(raw);
    store.activationsTable.insertWithoutGc(raw);
  }
}

// ---------------------------------------------------------------------------------------------
// Func

/** What a host function sees of its caller. */
export class Caller<T = unknown> {
  /** @internal */
  constructor(
    readonly store: Store<T>,
    /** The calling instance, when Wasm called. */
    readonly instance: Instance | undefined,
    /** The guest call as the Machine reports it (SP, FP, return address). */
    readonly call: HostCall | undefined,
  ) {}

  get data(): T | undefined {
    return this.store.data;
  }

  /** Collects externrefs; the calling Wasm frames are walked and their stack maps honoured. */
  gc(options: GcOptions = {}): GcReport {
    return this.store.gc(options);
  }

  /** An export of the calling instance (wasmtime's Caller::get_export). */
  getExport(name: string): Extern | undefined {
    return this.instance?.getExport(name);
  }
}

export type HostFn<T = unknown> = (caller: Caller<T>, ...args: Val[]) => Val | void;

/** A function: defined by a Wasm instance or by the host. */
export class Func {
  /** @internal */
  constructor(
    readonly store: Store,
    /** Guest address of the function's VMFuncRef. */
    readonly funcRefPointer: bigint,
    readonly type: FuncType,
    /** @internal The JS implementation of a host function. */
    readonly host: ((caller: Caller, args: Val[]) => Val | void) | undefined,
  ) {}

  /**
   * A host function with a typed signature, callable from Wasm through the wasm-to-native
   * trampoline (its VMNativeCallHostFuncContext holds the gateway entry as native_call).
   * v17 leaves wasm_call null until a module supplies the trampoline; here it is generated at
   * once, so it is never null.
   */
  static wrap<T>(store: Store<T>, type: FuncType, fn: HostFn<T>): Func {
    const s = store as Store;
    if (type.results.length > 1) throw new RuntimeError('Func.wrap', 'at most one result is supported');
    const m = s.machine;
    const ctx = s.heap.alloc(VMHostFuncContextLayout.size, 16);
    const funcRef = ctx + BigInt(VMHostFuncContextLayout.funcRef);
    const typeId = s.signatures.idOf(type);
    const name = fn.name || 'host';
    const invoke = (caller: Caller, args: Val[]): Val | void => (fn as HostFn)(caller, ...args);
    const native = m.addHostFunction(`host ${name}`, 2 + type.params.length, (raw, call) => {
      const callerInstance = s.instances.get(raw[1]);
      const args = type.params.map((t, i) => fromRaw(s, t, raw[2 + i]));
      try {
        const result = invoke(new Caller(s, callerInstance, call), args);
        return resultToRaw(s, type, result, `host function ${name}`);
      } finally {
        // Borrowed arguments: the handles made for this call give their counts back.
        for (const a of args) if (a instanceof ExternRef) a.release();
      }
    });
    m.writeU32(ctx, VM_NATIVE_CALL_HOST_FUNC_MAGIC);
    m.writeU64(funcRef + BigInt(VMFuncRefLayout.nativeCall), native);
    m.writeU64(funcRef + BigInt(VMFuncRefLayout.arrayCall), 0n);
    m.writeU64(funcRef + BigInt(VMFuncRefLayout.wasmCall), s.trampolines.wasmToNative(type));
    m.writeU64(funcRef + BigInt(VMFuncRefLayout.typeIndex), BigInt(typeId));
    m.writeU64(funcRef + BigInt(VMFuncRefLayout.vmctx), ctx);
    m.writeU64(ctx + BigInt(VMHostFuncContextLayout.hostState), s.id);
    const f = new Func(s, funcRef, type, invoke);
    s.funcsByRef.set(funcRef, f);
    return f;
  }

  /**
   * A host function reached through the array calling convention, like wasmtime's Func::new:
   * Wasm calls the per-function wasm-to-array trampoline, which spills the arguments into a
   * ValRaw buffer on the guest stack and calls the host with (callee ctx, caller vmctx, values,
   * len); the result comes back in slot 0. The context is a VMArrayCallHostFuncContext ("ACHF").
   */
  static new<T>(store: Store<T>, type: FuncType, fn: HostFn<T>): Func {
    const s = store as Store;
    if (type.results.length > 1) throw new RuntimeError('Func.new', 'at most one result is supported');
    const m = s.machine;
    const ctx = s.heap.alloc(VMHostFuncContextLayout.size, 16);
    const funcRef = ctx + BigInt(VMHostFuncContextLayout.funcRef);
    const name = fn.name || 'host';
    const invoke = (caller: Caller, args: Val[]): Val | void => (fn as HostFn)(caller, ...args);
    const arrayHost = m.addHostFunction(`host-array ${name}`, 4, ([, callerVmctx, values, len], call) => {
      if (len < BigInt(Math.max(type.params.length, type.results.length))) {
        throw new RuntimeError(`host function ${name}`, `ValRaw buffer of ${len} slots is too small`);
      }
      const args = type.params.map((t, i) => fromRaw(s, t, m.readU64(values + BigInt(16 * i))));
      try {
        const result = invoke(new Caller(s, s.instances.get(callerVmctx), call), args);
        if (type.results.length === 1) {
          m.writeU64(values, resultToRaw(s, type, result, `host function ${name}`));
          m.writeU64(values + 8n, 0n);
        }
      } finally {
        for (const a of args) if (a instanceof ExternRef) a.release();
      }
    });
    m.writeU32(ctx, VM_ARRAY_CALL_HOST_FUNC_MAGIC);
    m.writeU64(funcRef + BigInt(VMFuncRefLayout.nativeCall), 0n);
    m.writeU64(funcRef + BigInt(VMFuncRefLayout.arrayCall), arrayHost);
    m.writeU64(funcRef + BigInt(VMFuncRefLayout.wasmCall), s.trampolines.wasmToArray(type, arrayHost, name));
    m.writeU64(funcRef + BigInt(VMFuncRefLayout.typeIndex), BigInt(s.signatures.idOf(type)));
    m.writeU64(funcRef + BigInt(VMFuncRefLayout.vmctx), ctx);
    m.writeU64(ctx + BigInt(VMHostFuncContextLayout.hostState), s.id);
    const f = new Func(s, funcRef, type, invoke);
    s.funcsByRef.set(funcRef, f);
    return f;
  }

  private field(offset: number): bigint {
    return this.store.machine.readU64(this.funcRefPointer + BigInt(offset));
  }

  /** The callee context (a VMContext, or the host-function context). */
  get vmctx(): bigint {
    return this.field(VMFuncRefLayout.vmctx);
  }

  /** Calls the function through its array-call entry (ValRaw buffer), like wasmtime's Func::call. */
  call(...args: Val[]): Val {
    const s = this.store;
    this.checkArgs(args);
    if (this.host) return this.callHost(args);
    const arrayCall = this.field(VMFuncRefLayout.arrayCall);
    const vmctx = this.vmctx;
    const raws = this.type.params.map((t, i) => toRaw(s, t, args[i], `argument ${i}`));
    const mark = s.valRaw.mark;
    const slots = Math.max(this.type.params.length, this.type.results.length);
    const buf = s.valRaw.push(slots);
    try {
      raws.forEach((r, i) => {
        rootForWasm(s, this.type.params[i], r);
        s.machine.writeU64(buf + BigInt(16 * i), r);
        s.machine.writeU64(buf + BigInt(16 * i + 8), 0n);
      });
      s.enter(() => s.machine.call(arrayCall, [vmctx, vmctx, buf, BigInt(slots)]));
      return this.type.results.length === 0 ? null : fromRaw(s, this.type.results[0], s.machine.readU64(buf));
    } finally {
      s.valRaw.pop(mark);
    }
  }

  /** Calls through the native-call entry (arguments in registers), like a TypedFunc. */
  callNative(...args: Val[]): Val {
    const s = this.store;
    this.checkArgs(args);
    if (this.host) return this.callHost(args);
    const nativeCall = this.field(VMFuncRefLayout.nativeCall);
    const vmctx = this.vmctx;
    const raws = this.type.params.map((t, i) => toRaw(s, t, args[i], `argument ${i}`));
    raws.forEach((r, i) => rootForWasm(s, this.type.params[i], r));
    const result = s.enter(() => s.machine.call(nativeCall, [vmctx, vmctx, ...raws]));
    return this.type.results.length === 0 ? null : fromRaw(s, this.type.results[0], result);
  }

  /** A plain JS function calling this one. */
  toFunction(): (...args: Val[]) => Val {
    const f = (...args: Val[]): Val => this.call(...args);
    Object.defineProperty(f, 'func', { value: this });
    return f;
  }

  private checkArgs(args: Val[]): void {
    if (args.length !== this.type.params.length) {
      throw new RuntimeError('Func.call', `${formatFuncType(this.type)} takes ${this.type.params.length} arguments, got ${args.length}`);
    }
  }

  private callHost(args: Val[]): Val {
    const r = this.host!(new Caller(this.store, undefined, undefined), args);
    return r === undefined ? null : r;
  }
}

function resultToRaw(s: Store, type: FuncType, result: Val | void, where: string): bigint {
  if (type.results.length === 0) return 0n;
  const t = type.results[0];
  const v = result === undefined ? null : result;
  if ((t === 'i32' || t === 'i64') && v === null) throw new RuntimeError(where, `returned nothing, ${t} expected`);
  const raw = toRaw(s, t, v, where);
  if (t === 'externref' && v instanceof ExternRef) {
    // Moved to Wasm: the handle's count goes into the activations table.
    s.activationsTable.insertWithoutGc(v.take());
  }
  return raw;
}

// ---------------------------------------------------------------------------------------------
// Global, Table, Memory

/** A global: defined by an instance or by the host. */
export class Global {
  /** @internal */
  constructor(readonly store: Store, readonly type: GlobalType, readonly address: bigint) {}

  static new(store: Store, type: GlobalType, value: Val): Global {
    const address = store.heap.alloc(VMGlobalDefinitionLayout.size, VMGlobalDefinitionLayout.align);
    const g = new Global(store, type, address);
    g.write(value);
    return g;
  }

  get(): Val {
    const m = this.store.machine;
    const raw = this.type.valType === 'i32' ? BigInt(m.readU32(this.address)) : m.readU64(this.address);
    return fromRaw(this.store, this.type.valType, raw);
  }

  set(value: Val): void {
    if (!this.type.mutable) throw new RuntimeError('Global.set', 'global is immutable');
    this.write(value);
  }

  private write(value: Val): void {
    const s = this.store;
    const raw = toRaw(s, this.type.valType, value, 'Global');
    const old = s.machine.readU64(this.address);
    if (this.type.valType === 'externref' && raw !== 0n) s.externRefs.retain(raw);
    s.machine.writeU64(this.address, raw);
    s.machine.writeU64(this.address + 8n, 0n);
    if (this.type.valType === 'externref' && old !== 0n) s.externRefs.release(old);
  }
}

/** A table: defined by an instance or by the host. */
export class Table {
  /** @internal */
  constructor(readonly store: Store, readonly table: RuntimeTable, readonly ownerVmctx: bigint) {}

  static new(store: Store, type: TableType, init: Val = null): Table {
    const t = new Table(store, RuntimeTable.create(store.machine, store.heap, type, store.externRefs), 0n);
    const raw = toRaw(store, type.elemType, init, 'Table.new');
    for (let i = 0; i < type.min; i++) t.table.set(i, raw);
    return t;
  }

  get type(): TableType {
    return { elemType: this.table.elemType, min: this.table.size, max: this.table.maximum };
  }

  size(): number {
    return this.table.size;
  }

  get(index: number): Val {
    const raw = this.table.get(index);
    return fromRaw(this.store, this.table.elemType, raw);
  }

  set(index: number, value: Val): void {
    this.table.set(index, toRaw(this.store, this.table.elemType, value, 'Table.set'));
  }

  /** The old size; throws when the table cannot grow (wasmtime returns an error). */
  grow(delta: number, init: Val = null): number {
    const r = this.table.grow(delta, toRaw(this.store, this.table.elemType, init, 'Table.grow'));
    if (r < 0) throw new RuntimeError('Table.grow', `cannot grow by ${delta} from ${this.table.size}`);
    return r;
  }
}

/** A linear memory: defined by an instance or by the host. */
export class Memory {
  /** @internal */
  constructor(readonly store: Store, readonly memory: LinearMemory, readonly ownerVmctx: bigint, readonly definedIndex: number) {}

  static new(store: Store, type: MemoryType): Memory {
    const memory = LinearMemory.create(store.machine, type, store.env.memoryOptions);
    memory.writeDefinition(store.heap.alloc(16, 16));
    registerMemory(store, memory);
    return new Memory(store, memory, 0n, 0);
  }

  get type(): MemoryType {
    return this.memory.type;
  }

  /** Size in pages. */
  size(): number {
    return this.memory.pages;
  }

  dataSize(): number {
    return this.memory.byteLength;
  }

  /** Guest address of byte 0. */
  get base(): bigint {
    return this.memory.base;
  }

  read(offset: number, length: number): Uint8Array {
    return this.memory.read(offset, length);
  }

  write(offset: number, bytes: Uint8Array): void {
    this.memory.write(offset, bytes);
  }

  readU32(offset: number): number {
    return new DataView(this.read(offset, 4).buffer).getUint32(0, true);
  }

  writeU32(offset: number, value: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value >>> 0, true);
    this.write(offset, b);
  }

  /** The old size in pages; throws when the memory cannot grow. */
  grow(deltaPages: number): number {
    const r = this.memory.grow(deltaPages);
    if (r < 0) throw new RuntimeError('Memory.grow', `cannot grow by ${deltaPages} pages from ${this.memory.pages}`);
    return r;
  }
}

function registerMemory(store: Store, memory: LinearMemory): void {
  const reserved = BigInt(memory.reservedPages) * BigInt(WASM_PAGE_SIZE);
  store.traps.addMemoryRange(memory.base, memory.base + reserved + memory.guardBytes);
}

export type Extern = Func | Global | Table | Memory;

// ---------------------------------------------------------------------------------------------
// Module and Instance

export interface ImportDescriptor {
  readonly module: string;
  readonly name: string;
  readonly kind: 'func' | 'table' | 'memory' | 'global';
}

/** A validated, compiled module for one engine's architecture. */
export class Module {
  private constructor(
    readonly engine: Engine,
    /** The module's shape (from the front end, or rebuilt from an image's metadata). */
    readonly wasm: WasmModule,
    /** The code: ELF object, function offsets, trap sites, stack maps. */
    readonly code: ModuleCode,
    /** The compiler's output, when the module was compiled here. */
    readonly image: CompiledImage | undefined,
    readonly name: string | undefined,
  ) {
    if (code.arch !== engine.arch) throw new RuntimeError('Module', `image is for ${code.arch}, the engine for ${engine.arch}`);
  }

  /** Compiles an already parsed module, or adopts an image compiled from it. */
  static fromParsed(engine: Engine, wasm: WasmModule, image?: CompiledImage, name?: string): Module {
    const img = image ?? compileModule(wasm, { arch: engine.arch });
    return new Module(engine, wasm, codeOfCompiledImage(img), img, name);
  }

  /**
   * A module from a compiled image's bytes (the ELF object `stackscope compile` writes): the
   * shape comes from its `.stackscope.module` section, trap sites and stack maps from the
   * others. Throws ImageModuleError / ImageFormatError / LoaderError on a damaged image.
   */
  static fromImage(engine: Engine, bytes: Uint8Array, name?: string): Module {
    const { wasm, code } = moduleFromImageBytes(bytes, name ?? 'image.o');
    return new Module(engine, wasm, code, undefined, name);
  }

  static async fromWat(engine: Engine, text: string, name?: string): Promise<Module> {
    return Module.fromParsed(engine, await parseWat(text, { fileName: name }), undefined, name);
  }

  static fromBinary(engine: Engine, bytes: Uint8Array, name?: string): Module {
    return Module.fromParsed(engine, parseWasm(bytes), undefined, name);
  }

  /** WAT text or Wasm bytes (recognised by the `\0asm` magic). */
  static async from(engine: Engine, source: string | Uint8Array, name?: string): Promise<Module> {
    return Module.fromParsed(engine, await parseModuleSource(source, { fileName: name }), undefined, name);
  }

  get imports(): ImportDescriptor[] {
    return this.wasm.imports.map((i) => ({ module: i.module, name: i.name, kind: i.kind }));
  }

  get exports(): Array<{ name: string; kind: string }> {
    return this.wasm.exports.map((e) => ({ name: e.name, kind: e.kind }));
  }
}

/** An instantiated module; its exports are Func / Global / Table / Memory handles. */
export class Instance {
  /** @internal */ readonly vm: VMContextInstance;
  /** Exports by name: functions as callable JS functions (with a `.func` property), other kinds as handles. */
  readonly exports: Readonly<Record<string, Extern | ((...args: Val[]) => Val)>>;
  private readonly externs = new Map<string, Extern>();

  private constructor(readonly store: Store, readonly module: Module, imports: readonly Extern[]) {
    const s = store;
    const wasm = module.wasm;
    if (module.engine !== s.engine) throw new InstantiationError('Instance', 'module and store belong to different engines');
    if (imports.length !== wasm.imports.length) {
      throw new InstantiationError('Instance', `${imports.length} imports given, the module needs ${wasm.imports.length}`);
    }
    const resolved = resolveImports(s, wasm, imports);
    let placed = s.placed.get(module);
    if (!placed) {
      placed = placeModuleCode(s.machine, wasm, module.code, module.name);
      s.placed.set(module, placed);
      s.stackMaps.register(module.code.stackMaps(module.name ?? `module@${hex(placed.textBase)}`, placed.textBase));
      s.traps.addSites(placed.textBase, module.code.traps.map((t) => ({ offset: t.textOffset, code: normalizeTrapCode(t.code) ?? 'UnreachableCodeReached' })));
    }
    const code: DefinedFunctionCode[] = wasm.functions.map((fn, i) => {
      const wasmCall = placed!.functionAddresses[i];
      const label = `${module.name ?? 'module'}!${fn.index}`;
      const callable = fn.type.results.length <= 1;
      return {
        wasmCall,
        nativeCall: callable ? s.trampolines.nativeToWasm(fn.type, wasmCall, label) : 0n,
        arrayCall: callable ? s.trampolines.arrayToWasm(fn.type, wasmCall, label) : 0n,
      };
    });
    this.vm = new VMContextInstance(s.env, wasm, code, resolved, module.code);
    s.instances.set(this.vm.address, this);
    for (const mem of this.vm.memories.slice(wasm.counts.numImportedMemories)) registerMemory(s, mem);
    const exports: Record<string, Extern | ((...args: Val[]) => Val)> = {};
    for (const e of wasm.exports) {
      const ext = this.externFor(e.kind, e.index);
      this.externs.set(e.name, ext);
      exports[e.name] = ext instanceof Func ? ext.toFunction() : ext;
    }
    this.exports = Object.freeze(exports);
  }

  /**
   * Instantiates `module` with `imports` in the module's import order: resolves imports, places
   * the code (once per store and module), builds the VMContext, applies segments, runs the start
   * function. Segment and start-function traps are thrown as WasmTrap.
   */
  static create(store: Store, module: Module, imports: readonly Extern[] = []): Instance {
    const inst = new Instance(store, module, imports);
    inst.vm.initializeSegments();
    if (module.wasm.start !== null) inst.func(module.wasm.start).call();
    return inst;
  }

  /** Guest address of this instance's VMContext. */
  get vmctx(): bigint {
    return this.vm.address;
  }

  getExport(name: string): Extern | undefined {
    return this.externs.get(name);
  }

  getFunc(name: string): Func {
    const e = this.externs.get(name);
    if (!(e instanceof Func)) throw new RuntimeError('Instance.getFunc', `no function export ${JSON.stringify(name)}`);
    return e;
  }

  getGlobal(name: string): Global {
    const e = this.externs.get(name);
    if (!(e instanceof Global)) throw new RuntimeError('Instance.getGlobal', `no global export ${JSON.stringify(name)}`);
    return e;
  }

  getTable(name: string): Table {
    const e = this.externs.get(name);
    if (!(e instanceof Table)) throw new RuntimeError('Instance.getTable', `no table export ${JSON.stringify(name)}`);
    return e;
  }

  getMemory(name: string): Memory {
    const e = this.externs.get(name);
    if (!(e instanceof Memory)) throw new RuntimeError('Instance.getMemory', `no memory export ${JSON.stringify(name)}`);
    return e;
  }

  /** The Func of function index `funcIndex` (it must be escaped, as exports are). */
  func(funcIndex: number): Func {
    const ptr = this.vm.funcRef(funcIndex);
    let f = this.store.funcsByRef.get(ptr);
    if (!f) {
      const imported = funcIndex < this.module.wasm.counts.numImportedFunctions
        ? this.store.funcsByRef.get(this.vm.imports.functions[funcIndex].vmctx + BigInt(VMHostFuncContextLayout.funcRef))
        : undefined;
      f = new Func(this.store, ptr, funcTypeOf(this.module.wasm, funcIndex), imported?.host);
      this.store.funcsByRef.set(ptr, f);
    }
    return f;
  }

  private externFor(kind: string, index: number): Extern {
    const wasm = this.module.wasm;
    switch (kind) {
      case 'func': return this.func(index);
      case 'global': return new Global(this.store, wasm.globalTypes[index], this.vm.globalAddress(index));
      case 'table': return new Table(this.store, this.vm.tables[index], this.vm.address);
      case 'memory': {
        const definedIndex = index - wasm.counts.numImportedMemories;
        return new Memory(this.store, this.vm.memories[index], this.vm.address, definedIndex);
      }
      default: throw new RuntimeError('Instance', `unknown export kind ${kind}`);
    }
  }
}

function sameType(a: FuncType, b: FuncType): boolean {
  return funcTypeKey(a) === funcTypeKey(b);
}

function resolveImports(s: Store, wasm: WasmModule, imports: readonly Extern[]) {
  const functions: ImportedFunction[] = [];
  const tables: ImportedTable[] = [];
  const memories: ImportedMemory[] = [];
  const globals: ImportedGlobal[] = [];
  wasm.imports.forEach((imp, i) => {
    const ext = imports[i];
    const where = `import ${i} (${imp.module}.${imp.name})`;
    if (ext === undefined || ext === null) throw new InstantiationError(where, 'missing');
    checkStore(s, (ext as { store: Store }).store, where);
    switch (imp.kind) {
      case 'func': {
        if (!(ext instanceof Func)) throw new InstantiationError(where, `expected a function, got ${describe(ext)}`);
        const want = wasm.types[imp.typeIndex];
        if (!sameType(ext.type, want)) {
          throw new InstantiationError(where, `function type ${formatFuncType(ext.type)} does not match ${formatFuncType(want)}`);
        }
        const m = s.machine;
        const p = ext.funcRefPointer;
        functions.push({
          wasmCall: m.readU64(p + BigInt(VMFuncRefLayout.wasmCall)),
          nativeCall: m.readU64(p + BigInt(VMFuncRefLayout.nativeCall)),
          arrayCall: m.readU64(p + BigInt(VMFuncRefLayout.arrayCall)),
          vmctx: m.readU64(p + BigInt(VMFuncRefLayout.vmctx)),
          typeId: s.signatures.idOf(want),
        });
        break;
      }
      case 'table': {
        if (!(ext instanceof Table)) throw new InstantiationError(where, `expected a table, got ${describe(ext)}`);
        if (imp.type.max !== null && (ext.table.maximum === null || ext.table.maximum > imp.type.max)) {
          throw new InstantiationError(where, `table maximum ${ext.table.maximum ?? 'none'} exceeds the import's ${imp.type.max}`);
        }
        tables.push({ table: ext.table, vmctx: ext.ownerVmctx });
        break;
      }
      case 'memory': {
        if (!(ext instanceof Memory)) throw new InstantiationError(where, `expected a memory, got ${describe(ext)}`);
        if (imp.type.max !== null && (ext.memory.type.max === null || ext.memory.type.max > imp.type.max)) {
          throw new InstantiationError(where, `memory maximum ${ext.memory.type.max ?? 'none'} exceeds the import's ${imp.type.max}`);
        }
        memories.push({ memory: ext.memory, vmctx: ext.ownerVmctx, index: ext.definedIndex });
        break;
      }
      case 'global': {
        if (!(ext instanceof Global)) throw new InstantiationError(where, `expected a global, got ${describe(ext)}`);
        globals.push({ address: ext.address, type: ext.type });
        break;
      }
    }
  });
  return { functions, tables, memories, globals };
}

export { WasmTrap, RuntimeError, InstantiationError } from './errors.ts';
export type { TrapCode } from './errors.ts';

// ---------------------------------------------------------------------------------------------
// Linker

/** Resolves imports by (module, name), like wasmtime's Linker. */
export class Linker {
  private readonly items = new Map<string, Extern>();

  constructor(readonly engine: Engine) {}

  private static key(module: string, name: string): string {
    return `${module}\u0000${name}`;
  }

  /** Defines one item; redefining a name is an error. */
  define(module: string, name: string, item: Extern): this {
    const key = Linker.key(module, name);
    if (this.items.has(key)) throw new RuntimeError('Linker', `${module}.${name} is already defined`);
    this.items.set(key, item);
    return this;
  }

  /** A typed host function (Func.wrap) under `module.name`. */
  funcWrap<T>(store: Store<T>, module: string, name: string, type: FuncType, fn: HostFn<T>): this {
    return this.define(module, name, Func.wrap(store, type, fn));
  }

  /** Every export of `instance` under `module`. */
  instance(module: string, instance: Instance): this {
    for (const e of instance.module.wasm.exports) {
      const item = instance.getExport(e.name);
      if (item) this.define(module, e.name, item);
    }
    return this;
  }

  get(module: string, name: string): Extern | undefined {
    return this.items.get(Linker.key(module, name));
  }

  /** Instantiates `module` with its imports looked up by name. */
  instantiate(store: Store, module: Module): Instance {
    const imports = module.wasm.imports.map((imp) => {
      const item = this.get(imp.module, imp.name);
      if (!item) throw new InstantiationError(`import ${imp.module}.${imp.name}`, 'not defined in the linker');
      return item;
    });
    return Instance.create(store, module, imports);
  }
}
