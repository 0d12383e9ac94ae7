/**
 * The v31 store (wasmtime v31.0.0's `Store` with the DRC collector): one simulated address space
 * with its VMStoreContext, its GC heap (gc/drc: 512 KiB, free list, host-data table, activations
 * table of u32 refs), the user-stack-map registry of every module placed in it, the v31 builtin
 * array and trampolines, and the chain of host→Wasm entries.
 *
 * Reference ownership (v31's rules, as for v17 in runtime/values.ts):
 * - a `V31ExternRef` handle owns one count of its object until `release()`;
 * - arguments given to Wasm are cloned and exposed to Wasm (`expose_gc_ref_to_wasm`: the
 *   activations table takes the clone's count); when they would not fit in the bump chunk the
 *   store collects first (`need_gc_before_entering_wasm`);
 * - results from Wasm are cloned into new handles;
 * - a host function's reference arguments are borrowed handles, released after the call; a
 *   reference it returns is moved to Wasm (exposed).
 *
 * Destructors: v31's host data is dropped when its object is freed. stackscope runs an
 * externref's destructor right after the heap operation that freed it (a collection, a
 * `drop_gc_ref`, a handle's release) has finished, so a destructor may call back into Wasm or
 * into the store (even collect) without meeting a half-swept activations table.
 */
import { hex, StackscopeError } from '../../isa/error.ts';
import { V31VMOffsets, VMStoreContextLayout } from '../../compiler/v31/vmoffsets.ts';
import { VMCONTEXT_MAGIC } from '../../compiler/vmoffsets.ts';
import { v31OffsetsFor } from '../../compiler/v31/codegen.ts';
import { registerUserStackMaps, type DrcStore, type DrcStoreEra } from './drc-store.ts';
import { ExternRefDestructors } from './destructors.ts';

export { V31DestructorError } from './destructors.ts';
import { FreeListConstants, fitsInReservedBits, gcKindOf } from '../../compiler/v31/gc-layout.ts';
import { DrcHeap, isI31, type FreedGcObject } from '../../gc/drc/heap.ts';
import { UserStackMapRegistry } from '../../gc/drc/user-stackmap-registry.ts';
import { V31Collector, type DrcExplanation } from '../../gc/drc/v31-collector.ts';
import type { DrcCollectionReport } from '../../gc/drc/collector.ts';
import { readStoreContext, writeStoreContext, walkV31, type V31ActivationTriple } from '../../gc/drc/walk.ts';
import { Machine, type HostCall } from '../../simulator/machine.ts';
import type { BacktraceFrame } from '../../simulator/trap.ts';
import { PROT_READ, PROT_WRITE } from '../../simulator/engine.ts';
import { checkCycleOptions, type Engine } from '../engine.ts';
import { RuntimeError, StoreClosedError, WasmTrap } from '../errors.ts';
import { RuntimeHeap } from '../heap.ts';
import { SignatureRegistry } from '../signatures.ts';
import { Trampolines } from '../trampolines.ts';
import { TrapRegistry } from '../traps.ts';
import { DEFAULT_MAX_WASM_STACK, wasmStackLimit } from '../activations.ts';
import { STACK_LIMIT_UNSET } from '../limits.ts';
import type { Module } from '../module.ts';
import type { PlacedImage } from '../place.ts';
import { V31BuiltinsArray } from './builtins.ts';
import type { V31Func, V31Instance } from './instance.ts';
import type { CycleOptions } from '../../simulator/timing/cycles.ts';
import { checkStoreRuntime } from '../profiles.ts';


/** v31's `GcHeapOutOfMemory`: the GC heap has no room for an object even after a collection. */
export class GcHeapOutOfMemoryError extends StackscopeError {
  override name = 'GcHeapOutOfMemoryError';
  constructor(readonly bytes: number, readonly capacity: number) {
    super(`GC heap out of memory: no room for a ${bytes}-byte object in the ${capacity}-byte heap, even after a collection`);
  }
}

/** What one collection of a v31 store did (and, when asked, its account). */
export interface V31GcReport extends DrcCollectionReport {
  reason: 'store-gc' | 'gc-builtin' | 'before-entering-wasm' | 'heap-full';
  /** Wasm frames the walk visited. */
  frames: number;
  /** Set when the collection was refused because one was already running. */
  skipped?: 'reentrant';
  explanation?: DrcExplanation;
}

export interface V31StoreOptions<T> {
  data?: T;
  cycles?: CycleOptions;
  /** Build the explanation of every collection (gc/drc's explain output). */
  explainCollections?: boolean;
  /** Called with every finished collection's report. */
  onCollection?: (report: V31GcReport) => void;
  /** GC heap bytes (default v31's 512 KiB). */
  gcHeapCapacity?: number;
  /** Slots of the activations table's chunk (default v31's 1024). */
  activationsTableSlots?: number;
}

/**
 * A v31 store. Create with `V31Store.create(engine)` for an engine whose profile is v31; modules
 * are instantiated with `V31Instance.create`.
 */
export class V31Store<T = unknown> implements DrcStore<T> {
  /** v31's VMContext header and entry record (runtime/v31/drc-store.ts). */
  readonly era: DrcStoreEra;
  readonly engine: Engine;
  readonly machine: Machine;
  data: T | undefined;
  /** @internal */ readonly heap: RuntimeHeap;
  /** Guest address of the VMStoreContext (what every vmctx holds at +8). */
  readonly storeContext: bigint;
  readonly epochAddress: bigint;
  /** The GC heap, free list, host-data table and activations table (gc/drc). */
  readonly gcHeap: DrcHeap;
  /** Typed user stack maps of every module placed here, by return address. */
  readonly stackMaps = new UserStackMapRegistry();
  readonly collector: V31Collector;
  /** @internal */ readonly signatures = new SignatureRegistry();
  /** @internal */ readonly trampolines: Trampolines;
  /** @internal */ readonly traps = new TrapRegistry();
  /** @internal */ readonly builtins: V31BuiltinsArray;
  /** @internal Instances by VMContext address. */
  readonly instances = new Map<bigint, V31Instance>();
  /** @internal Funcs by the guest address of their VMFuncRef. */
  readonly funcs = new Map<bigint, V31Func>();
  /** @internal Where each module's code was placed. */
  readonly placed = new Map<Module, PlacedImage>();
  /** @internal The host calls in progress, innermost last. */
  readonly hostCalls: HostCall[] = [];
  /** @internal ValRaw buffers of array calls (a LIFO in guest memory). */
  readonly valRaw: { top: bigint; readonly bottom: bigint };
  readonly #options: V31StoreOptions<T>;
  /** Saved VMStoreContext triples of the entries in progress, oldest first. */
  readonly #saved: V31ActivationTriple[] = [];
  readonly #destructors = new ExternRefDestructors();
  #collecting = false;
  #closed = false;
  readonly maxWasmStack: number;
  /** wasmtime's debug-build checks of every root in each collection (default on). */
  debugChecks = true;

  private constructor(engine: Engine, machine: Machine, options: V31StoreOptions<T>) {
    this.engine = engine;
    this.machine = machine;
    this.data = options.data;
    this.#options = options;
    this.maxWasmStack = engine.config.maxWasmStack ?? DEFAULT_MAX_WASM_STACK;
    this.heap = new RuntimeHeap(machine, 'runtime-heap');
    this.storeContext = this.heap.alloc(VMStoreContextLayout.size, 16);
    machine.writeU64(this.storeContext + BigInt(VMStoreContextLayout.stackLimit), STACK_LIMIT_UNSET);
    this.epochAddress = this.heap.alloc(8, 8);
    machine.writeU64(this.epochAddress, engine.currentEpoch);
    this.gcHeap = new DrcHeap(machine, {
      ...(options.gcHeapCapacity !== undefined ? { capacity: options.gcHeapCapacity } : {}),
      ...(options.activationsTableSlots !== undefined ? { chunkSlots: options.activationsTableSlots } : {}),
      onFree: (freed: FreedGcObject) => this.#destructors.freed(freed.ref, freed.hostValue),
      // Freeing a struct or array gives back the counts its reference fields hold, by the
      // layouts of the types compiled code allocated (runtime/signatures.ts).
      refSlotsOf: (header, length) => this.signatures.refSlots(header.typeIndex, length),
    });
    this.collector = new V31Collector({
      machine, heap: this.gcHeap, registry: this.stackMaps, storeContext: this.storeContext,
      // The outermost entry saved the all-zero triple (no Wasm before it): the chain ends there.
      olderActivations: () => this.#olderActivations(),
      describeType: (typeIndex, length) => {
        const info = this.signatures.gcTypeOf(typeIndex);
        return info === undefined ? undefined : { text: info.text, refOffsets: this.signatures.refSlots(typeIndex, length) };
      },
    });
    this.trampolines = new Trampolines(machine);
    this.era = {
      name: 'v31',
      entryRecord: 'v31',
      offsetsFor: v31OffsetsFor,
      writeVmctxHeader: (vmctx, offsets, typeIds) => this.#writeVmctxHeader(vmctx, offsets as V31VMOffsets, typeIds),
    };
    this.builtins = new V31BuiltinsArray(this);
    const region = machine.map('valraw-stack', 256 * 1024, PROT_READ | PROT_WRITE);
    this.valRaw = { top: region.address + BigInt(region.size), bottom: region.address };
  }

  /** A store for an engine whose profile is v31 (ProfileUnsupportedError for one that is not). */
  static async create<T = unknown>(engine: Engine, options: V31StoreOptions<T> = {}): Promise<V31Store<T>> {
    checkStoreRuntime(engine.profile, 'v31');
    const cycles = options.cycles ?? engine.config.cycles;
    checkCycleOptions(engine.arch, cycles);
    const machine = await Machine.create({ arch: engine.arch, budget: engine.config.budget, timeoutMs: engine.config.timeoutMs, ...(cycles ? { cycles } : {}) });
    return new V31Store(engine, machine, options);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The saved triples of interrupted activations, youngest first, up to the first without Wasm. */
  #olderActivations(): V31ActivationTriple[] {
    const out: V31ActivationTriple[] = [];
    for (let i = this.#saved.length - 1; i >= 0 && this.#saved[i].exitPc !== 0n; i--) out.push(this.#saved[i]);
    return out;
  }

  /** @internal Throws StoreClosedError once closed. */
  assertOpen(): void {
    if (this.#closed) throw new StoreClosedError(0n);
  }

  /** Entries into Wasm in progress. */
  get wasmDepth(): number {
    return this.#saved.length;
  }

  /**
   * A new externref holding `value` (v31's `ExternRef::new`): a 24-byte object in the GC heap,
   * count 1, owned by the returned handle. When the heap is full the store collects once and
   * retries; still full is a GcHeapOutOfMemoryError. `destructor` runs once when the object is
   * freed.
   * @internal use V31ExternRef.new
   */
  allocExternRef(value: unknown, destructor?: (value: unknown) => void): number {
    this.assertOpen();
    let ref = this.gcHeap.allocExternRef(value);
    if (ref === undefined) {
      this.gc({ reason: 'heap-full' });
      ref = this.gcHeap.allocExternRef(value);
    }
    if (ref === undefined) throw new GcHeapOutOfMemoryError(24, this.gcHeap.capacity);
    if (destructor) this.#destructors.set(ref, destructor);
    return ref;
  }

  /**
   * @internal `gc_alloc_raw`: a struct or array of `size` bytes whose header names engine type
   * `typeId`, count 1, exposed to Wasm (the activations table holds that count). A full heap
   * collects once and retries; still full is GcHeapOutOfMemoryError (v31's `GcHeapOutOfMemory`).
   * A size of 2^27 bytes or more, or larger than the heap, is v31's `AllocationTooLarge` trap.
   */
  allocGcObject(kindWord: number, typeId: number, size: number, align: number): number {
    this.assertOpen();
    const kind = gcKindOf(kindWord);
    if (kind !== 'StructRef' && kind !== 'ArrayRef') throw new RuntimeError('gc_alloc_raw', `kind word 0x${kindWord.toString(16)} is not a struct or array kind`);
    if (align > FreeListConstants.align) throw new RuntimeError('gc_alloc_raw', `alignment ${align} exceeds the free list's ${FreeListConstants.align}`);
    if (!fitsInReservedBits(size) || size > this.gcHeap.capacity) {
      throw new WasmTrap({ code: 'AllocationTooLarge', detail: `a ${size}-byte ${kind === 'StructRef' ? 'struct' : 'array'} in the ${this.gcHeap.capacity}-byte GC heap` });
    }
    let ref = this.gcHeap.allocObject(kind, typeId, size);
    if (ref === undefined) {
      this.gc({ reason: 'heap-full' });
      ref = this.gcHeap.allocObject(kind, typeId, size);
    }
    if (ref === undefined) throw new GcHeapOutOfMemoryError(size, this.gcHeap.capacity);
    this.gcHeap.exposeGcRefToWasm(ref);
    return ref;
  }

  /** @internal A count given back; frees (and later destroys) at zero. */
  dropRef(raw: number): void {
    if (raw === 0 || this.#closed) return;
    this.gcHeap.decRefAndMaybeDealloc(raw);
    this.runDestructors();
  }

  /** @internal A new count on `raw` (non-null, non-i31). */
  cloneRef(raw: number): void {
    if (raw !== 0) this.gcHeap.incRef(raw);
  }

  /**
   * @internal `expose_gc_ref_to_wasm` of a count the caller owns: the activations table takes it
   * (bump chunk, or the over-approximated set when the chunk is full).
   */
  exposeToWasm(raw: number): void {
    if (raw !== 0 && !isI31(raw)) this.gcHeap.exposeGcRefToWasm(raw);
  }

  /** @internal Collects first when `count` refs would not fit in the bump chunk (v31's `need_gc_before_entering_wasm`). */
  collectBeforeEnteringWasm(count: number): void {
    if (count > 0 && this.gcHeap.needGcBeforeEnteringWasm(count)) this.gc({ reason: 'before-entering-wasm' });
  }

  /**
   * One DRC collection (v31's `Store::gc`): walks the Wasm frames of every activation from the
   * VMStoreContext's exit record and the saved older ones, reads each frame's user stack map,
   * traces and sweeps. A collection asked for while one runs (a destructor collecting) is skipped.
   */
  gc(options: { explain?: boolean; reason?: V31GcReport['reason'] } = {}): V31GcReport {
    this.assertOpen();
    const reason = options.reason ?? 'store-gc';
    if (this.#collecting) {
      return { reason, skipped: 'reentrant', frames: 0, preciseRoots: [], i31Roots: 0, droppedFromChunk: 0, droppedFromOverApproximated: 0, allocatedChunk: false, freed: [] };
    }
    this.#collecting = true;
    let report: V31GcReport;
    try {
      const explain = options.explain ?? this.#options.explainCollections ?? false;
      const r = this.collector.collect({ explain, debugChecks: this.debugChecks });
      report = { ...r.report, reason, frames: r.frames, ...(r.explanation ? { explanation: r.explanation } : {}) };
    } finally {
      this.#collecting = false;
    }
    this.#options.onCollection?.(report);
    this.runDestructors();
    return report;
  }

  /**
   * The v31 header of a VMContext: magic "core", the VMStoreContext, the builtins array, callee
   * null, the epoch counter, `gc_heap_base`, `gc_heap_bound`, `gc_heap_data` (the activations
   * table), `type_ids`, `stack_chain` null.
   */
  #writeVmctxHeader(vmctx: bigint, o: V31VMOffsets, typeIds: bigint): void {
    const m = this.machine;
    const at = (offset: number) => vmctx + BigInt(offset);
    m.writeU32(at(o.vmctxMagic()), VMCONTEXT_MAGIC);
    m.writeU64(at(o.vmctxStoreContext()), this.storeContext);
    m.writeU64(at(o.vmctxBuiltinFunctions()), this.builtins.address);
    m.writeU64(at(o.vmctxCallee()), 0n);
    m.writeU64(at(o.vmctxEpochPtr()), this.epochAddress);
    m.writeU64(at(o.vmctxGcHeapBase()), this.gcHeap.base);
    m.writeU64(at(o.vmctxGcHeapBound()), BigInt(this.gcHeap.capacity));
    m.writeU64(at(o.vmctxGcHeapData()), this.gcHeap.activations.address);
    m.writeU64(at(o.vmctxTypeIdsArray()), typeIds);
    m.writeU64(at(o.vmctxStackChain()), 0n);
  }

  /** The host value of a live externref. */
  externRefValue(raw: number): unknown {
    return this.gcHeap.externRefValue(raw);
  }

  /** @internal The V31Func of a VMFuncRef pointer of this store. */
  funcAt(ptr: bigint): V31Func {
    const f = this.funcs.get(ptr);
    if (!f) throw new RuntimeError('funcref', `${hex(ptr)} is no VMFuncRef of this store`);
    return f;
  }

  /** @internal Runs the destructors of objects freed so far (not re-entrantly). */
  runDestructors(): void {
    this.#destructors.run();
  }

  /** @internal Records where `module`'s code was placed and registers its user stack maps. */
  placeModule(module: Module, placed: PlacedImage): void {
    registerUserStackMaps(this.stackMaps, module, placed, 'V31Store');
    this.placed.set(module, placed);
  }

  /**
   * @internal Runs a guest call as one host→Wasm entry: saves the VMStoreContext's activation
   * triple (the entry trampoline overwrites entry fp), sets the stack limit for the outermost
   * entry, and restores both afterwards; guest faults become WasmTraps.
   */
  enter<R>(call: () => R): R {
    this.assertOpen();
    const m = this.machine;
    const limitAt = this.storeContext + BigInt(VMStoreContextLayout.stackLimit);
    const saved = readStoreContext(m, this.storeContext);
    const outermost = m.readU64(limitAt) === STACK_LIMIT_UNSET;
    if (outermost) m.writeU64(limitAt, wasmStackLimit(this.machine, this.maxWasmStack));
    this.#saved.push(saved);
    try {
      return call();
    } catch (e) {
      const live = readStoreContext(m, this.storeContext);
      throw this.traps.classify(e, m, { pc: live.exitPc, fp: live.exitFp }, (pc, fp) => this.backtrace(pc, fp));
    } finally {
      this.#saved.pop();
      writeStoreContext(m, this.storeContext, saved);
      if (outermost) m.writeU64(limitAt, STACK_LIMIT_UNSET);
    }
  }

  /** The Wasm frames from a trapping pc/fp through every older activation (v31's backtrace). */
  backtrace(pc: bigint, fp: bigint): BacktraceFrame[] | undefined {
    try {
      const live = readStoreContext(this.machine, this.storeContext);
      const frames = walkV31(this.machine, { exitPc: pc, exitFp: fp, entryFp: live.entryFp }, this.#olderActivations());
      return frames.map((f) => ({ pc: BigInt(f.pc), fp: BigInt(f.fp), symbol: this.machine.symbolize(BigInt(f.pc)) }));
    } catch (e) {
      if (e instanceof StackscopeError) return undefined;
      throw e;
    }
  }

  /**
   * Releases everything: the destructors of every externref still in the heap run once, then the
   * Machine closes. Not allowed while Wasm runs in the store.
   */
  close(): void {
    if (this.#closed) return;
    if (this.#saved.length > 0) throw new RuntimeError('V31Store.close', 'called while Wasm is running in this store');
    this.#closed = true;
    try {
      this.#destructors.runAll((ref) => (this.gcHeap.isLive(ref) ? this.gcHeap.externRefValue(ref) : undefined));
    } finally {
      this.machine.close();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
