/**
 * The v44 store (wasmtime v44.0.0's `Store` with the DRC collector): one simulated address space
 * with its VMStoreContext (128 bytes, the stack chain at +88), its GC heap (gc/drc44: a memory of
 * 64 KiB pages that grows on demand, the intrusive over-approximated-stack-roots list instead of
 * v31's activations table), the user-stack-map registry of every module placed in it, the v44
 * builtin array and trampolines, and the chain of host→Wasm entries.
 *
 * Entering Wasm (`enter`, v44's `invoke_wasm_and_catch_traps` → `EntryStoreContext::enter_wasm`):
 * the store saves its stack limit (set for the outermost entry, all-ones while no Wasm runs), exit
 * record (`last_wasm_exit_trampoline_fp`, `last_wasm_exit_pc`), entry record
 * (`last_wasm_entry_fp`, `_sp`, `_trap_handler`) and stack chain; points the chain at a fresh
 * `VMCommonStackInformation` (`running_default`: state Running, zero limits, no handlers) that
 * the entry owns (wasmtime keeps it in the entering host frame; here one per nesting depth, in
 * the runtime heap); and restores everything on the way out. The array-to-Wasm trampoline records
 * its FP at +72; exit trampolines and builtin stubs record their own FP at +48 and the Wasm return
 * address at +56 (runtime/trampolines.ts, record `v44`).
 *
 * One deliberate difference: v44.0.0's `enter_wasm` saves the stack chain *after* replacing it
 * (func.rs: `stack_chain: (*vm_store_context.stack_chain.get()).clone()` follows the store), so
 * its `exit_wasm` restores the new InitialStack, not the chain that was current before the entry.
 * stackscope saves the chain before replacing it, which is what the struct's comment says
 * ("Stores some state of the runtime just before entering Wasm") and what the walk of older
 * activations needs (each interrupted entry's chain is the one it was running on).
 *
 * Reference ownership follows v31's rules (runtime/v31/store.ts), with v44's exposure: a
 * reference handed to Wasm joins the over-approximated list, which takes the clone's count,
 * unless it is already a member; then, as in v44.0.0 (a VMGcRef has no destructor), that clone's
 * count is never given back and the object outlives its last holder.
 * v44 needs no collection before entering Wasm (the list has no capacity).
 *
 * Allocation (`allocExternRef`) follows v44's `retry_after_gc` → `grow_or_collect_gc_heap`: grow
 * the heap first; only when it cannot grow, collect; then one more try, else GcHeapOutOfMemoryError.
 */
import { hex, StackscopeError } from '../../isa/error.ts';
import { VMCONTEXT_MAGIC } from '../../compiler/vmoffsets.ts';
import { V44StoreContextLayout, type V44VMOffsets } from '../../compiler/v44/vmoffsets.ts';
import { V44DrcExternRefLayout } from '../../compiler/v44/gc-layout.ts';
import { VMCommonStackInformationLayout } from '../../compiler/v44/stack-switching.ts';
import { v44OffsetsFor } from '../../compiler/v44/codegen.ts';
import { isI31 } from '../../gc/drc/heap.ts';
import { UserStackMapRegistry } from '../../gc/drc/user-stackmap-registry.ts';
import { Drc44Heap, type Freed44Object } from '../../gc/drc44/heap.ts';
import type { Drc44CollectionReport } from '../../gc/drc44/collector.ts';
import { readV44StoreContext, writeCommonStackInformation, writeV44StoreContext, type StackChainValue, type V44StoreRecords } from '../../gc/drc44/structs.ts';
import { V44Collector, type Drc44Explanation } from '../../gc/drc44/v44-collector.ts';
import { walkV44, type V44SavedActivation } from '../../gc/drc44/walk.ts';
import { walkV31 } from '../../gc/drc/walk.ts';
import { Machine } from '../../simulator/machine.ts';
import type { BacktraceFrame } from '../../simulator/trap.ts';
import { PROT_READ, PROT_WRITE } from '../../simulator/engine.ts';
import { checkCycleOptions, type Engine } from '../engine.ts';
import { RuntimeError, StoreClosedError } from '../errors.ts';
import { RuntimeHeap } from '../heap.ts';
import { SignatureRegistry } from '../signatures.ts';
import { Trampolines } from '../trampolines.ts';
import { TrapRegistry } from '../traps.ts';
import { DEFAULT_MAX_WASM_STACK, wasmStackLimit } from '../activations.ts';
import { STACK_LIMIT_UNSET } from '../limits.ts';
import type { Module } from '../module.ts';
import type { PlacedImage } from '../place.ts';
import type { CycleOptions } from '../../simulator/timing/cycles.ts';
import { checkStoreRuntime } from '../profiles.ts';
import { GcHeapOutOfMemoryError } from '../v31/store.ts';
import { ExternRefDestructors } from '../v31/destructors.ts';
import { registerUserStackMaps, type DrcStore, type DrcStoreEra } from '../v31/drc-store.ts';
import type { V31Func, V31Instance } from '../v31/instance.ts';
import { V44BuiltinsArray } from './builtins.ts';
import { V44Continuations } from './continuations.ts';
import type { WasmModule } from '../../compiler/frontend/module.ts';


/** What one collection of a v44 store did (and, when asked, its account). */
export interface V44GcReport extends Drc44CollectionReport {
  reason: 'store-gc' | 'heap-full';
  /** Wasm frames the walk visited, over every stack. */
  frames: number;
  /** Stacks the walk visited (the running one, its parents, suspended continuations). */
  stacks: number;
  /** Set when the collection was refused because one was already running. */
  skipped?: 'reentrant';
  explanation?: Drc44Explanation;
}

export interface V44StoreOptions<T> {
  data?: T;
  cycles?: CycleOptions;
  /** Build the explanation of every collection (gc/drc44's explain output). */
  explainCollections?: boolean;
  /** Called with every finished collection's report. */
  onCollection?: (report: V44GcReport) => void;
  /** Guest bytes reserved for the GC heap: its maximum size, a multiple of 64 KiB (default 4 MiB). */
  gcHeapMaxCapacity?: number;
}

/** What one entry into Wasm saved of the VMStoreContext (v44's EntryStoreContext). */
interface SavedEntry {
  records: V44StoreRecords;
  chain: StackChainValue;
  trapHandler: bigint;
}

/**
 * A v44 store. Create with `V44Store.create(engine)` for an engine whose profile is v44; modules
 * are instantiated with `V44Instance.create`.
 */
export class V44Store<T = unknown> implements DrcStore<T> {
  readonly era: DrcStoreEra;
  readonly engine: Engine;
  readonly machine: Machine;
  data: T | undefined;
  /** @internal */ readonly heap: RuntimeHeap;
  /** Guest address of the VMStoreContext (what every vmctx holds at +8). */
  readonly storeContext: bigint;
  readonly epochAddress: bigint;
  /** The GC heap, free list, host-data table and over-approximated list (gc/drc44). */
  readonly gcHeap: Drc44Heap;
  /** Typed user stack maps of every module placed here, by return address. */
  readonly stackMaps = new UserStackMapRegistry();
  readonly collector: V44Collector;
  /** @internal */ readonly signatures = new SignatureRegistry();
  /** @internal */ readonly trampolines: Trampolines;
  /** @internal */ readonly traps = new TrapRegistry();
  /** @internal */ readonly builtins: V44BuiltinsArray;
  /** @internal Instances by VMContext address. */
  readonly instances = new Map<bigint, V31Instance>();
  /** @internal Funcs by the guest address of their VMFuncRef. */
  readonly funcs = new Map<bigint, V31Func>();
  /** @internal Where each module's code was placed. */
  readonly placed = new Map<Module, PlacedImage>();
  /** @internal ValRaw buffers of array calls (a LIFO in guest memory). */
  readonly valRaw: { top: bigint; readonly bottom: bigint };
  /**
   * Every VMContRef this store allocated and has not reclaimed (wasmtime's
   * `StoreOpaque::continuations`): the collector walks the suspended ones.
   */
  readonly continuations: bigint[] = [];
  /** @internal cont.new, resume and suspend (continuations.ts). */
  readonly stackSwitching: V44Continuations;
  readonly #options: V44StoreOptions<T>;
  /** What each entry in progress saved, oldest first. */
  readonly #saved: SavedEntry[] = [];
  /** The initial stack's VMCommonStackInformation of each nesting depth (reused). */
  readonly #initialStacks: bigint[] = [];
  readonly #destructors = new ExternRefDestructors();
  #collecting = false;
  #closed = false;
  readonly maxWasmStack: number;
  /** wasmtime's debug-build checks of every root in each collection (default on). */
  debugChecks = true;

  private constructor(engine: Engine, machine: Machine, options: V44StoreOptions<T>) {
    this.engine = engine;
    this.machine = machine;
    this.data = options.data;
    this.#options = options;
    this.maxWasmStack = engine.config.maxWasmStack ?? DEFAULT_MAX_WASM_STACK;
    this.heap = new RuntimeHeap(machine, 'runtime-heap');
    this.storeContext = this.heap.alloc(V44StoreContextLayout.size, 16);
    machine.writeU64(this.storeContext + BigInt(V44StoreContextLayout.stackLimit), STACK_LIMIT_UNSET);
    this.epochAddress = this.heap.alloc(8, 8);
    machine.writeU64(this.epochAddress, engine.currentEpoch);
    this.gcHeap = new Drc44Heap(machine, {
      ...(options.gcHeapMaxCapacity !== undefined ? { maxCapacity: options.gcHeapMaxCapacity } : {}),
      onFree: (freed: Freed44Object) => this.#destructors.freed(freed.ref, freed.hostValue),
    });
    machine.writeU64(this.storeContext + BigInt(V44StoreContextLayout.gcHeapBase), this.gcHeap.base);
    this.#syncHeapLength();
    this.collector = new V44Collector({
      machine, heap: this.gcHeap, registry: this.stackMaps, storeContext: this.storeContext,
      olderActivations: () => this.#olderActivations(),
      continuations: () => this.continuations,
    });
    this.trampolines = new Trampolines(machine);
    this.era = {
      name: 'v44',
      entryRecord: 'v44',
      offsetsFor: v44OffsetsFor,
      writeVmctxHeader: (vmctx, offsets, typeIds, wasm) => this.#writeVmctxHeader(vmctx, offsets as V44VMOffsets, typeIds, wasm),
    };
    this.stackSwitching = new V44Continuations(this);
    this.builtins = new V44BuiltinsArray(this);
    const region = machine.map('valraw-stack', 256 * 1024, PROT_READ | PROT_WRITE);
    this.valRaw = { top: region.address + BigInt(region.size), bottom: region.address };
  }

  /** A store for an engine whose profile is v44 (a RuntimeError naming the right class otherwise). */
  static async create<T = unknown>(engine: Engine, options: V44StoreOptions<T> = {}): Promise<V44Store<T>> {
    checkStoreRuntime(engine.profile, 'v44');
    const cycles = options.cycles ?? engine.config.cycles;
    checkCycleOptions(engine.arch, cycles);
    const machine = await Machine.create({ arch: engine.arch, budget: engine.config.budget, timeoutMs: engine.config.timeoutMs, ...(cycles ? { cycles } : {}) });
    return new V44Store(engine, machine, options);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Entries into Wasm in progress. */
  get wasmDepth(): number {
    return this.#saved.length;
  }

  /**
   * The v44 header of a VMContext: magic "core", the VMStoreContext, the builtins array, the
   * epoch counter, `gc_heap_data` (the over-approximated list's head cell), `type_ids`.
   */
  #writeVmctxHeader(vmctx: bigint, o: V44VMOffsets, typeIds: bigint, wasm: WasmModule): void {
    const m = this.machine;
    const at = (offset: number) => vmctx + BigInt(offset);
    m.writeU32(at(o.vmctxMagic()), VMCONTEXT_MAGIC);
    m.writeU64(at(o.vmctxStoreContext()), this.storeContext);
    m.writeU64(at(o.vmctxBuiltinFunctions()), this.builtins.address);
    m.writeU64(at(o.vmctxEpochPtr()), this.epochAddress);
    m.writeU64(at(o.vmctxGcHeapData()), this.gcHeap.listHead);
    m.writeU64(at(o.vmctxTypeIdsArray()), typeIds);
  }

  /** VMStoreContext.gc_heap.current_length follows the heap's size. */
  #syncHeapLength(): void {
    this.machine.writeU64(this.storeContext + BigInt(V44StoreContextLayout.gcHeapCurrentLength), BigInt(this.gcHeap.capacity));
  }

  /** The saved records of interrupted entries, youngest first, up to the first without Wasm. */
  #olderActivations(): V44SavedActivation[] {
    const out: V44SavedActivation[] = [];
    for (let i = this.#saved.length - 1; i >= 0; i--) {
      const r = this.#saved[i].records;
      if (r.exitPc === 0n) break;
      out.push({ chain: this.#saved[i].chain, exitPc: r.exitPc, exitFp: this.machine.readU64(r.exitTrampolineFp), entryFp: r.entryFp });
    }
    return out;
  }

  /** @internal Throws StoreClosedError once closed. */
  assertOpen(): void {
    if (this.#closed) throw new StoreClosedError(0n);
  }

  /** The host value of a live externref. */
  externRefValue(raw: number): unknown {
    return this.gcHeap.externRefValue(raw);
  }

  /**
   * A new externref holding `value` (v44's `ExternRef::new`): a 32-byte object in the GC heap,
   * count 1, owned by the returned handle. `destructor` runs once when the object is freed.
   * @internal use V44ExternRef.new
   */
  allocExternRef(value: unknown, destructor?: (value: unknown) => void): number {
    this.assertOpen();
    const size = V44DrcExternRefLayout.size;
    let ref = this.gcHeap.allocExternRef(value);
    if (ref === undefined) {
      if (this.gcHeap.grow(size)) this.#syncHeapLength();
      else this.gc({ reason: 'heap-full' });
      ref = this.gcHeap.allocExternRef(value);
    }
    if (ref === undefined) throw new GcHeapOutOfMemoryError(size, this.gcHeap.capacity);
    if (destructor) this.#destructors.set(ref, destructor);
    return ref;
  }

  /** @internal A count given back; frees (and later destroys) at zero. */
  dropRef(raw: number): void {
    if (raw === 0 || isI31(raw) || this.#closed) return;
    this.gcHeap.decRefAndMaybeDealloc(raw);
    this.runDestructors();
  }

  /** @internal A new count on `raw` (non-null, non-i31). */
  cloneRef(raw: number): void {
    if (raw !== 0 && !isI31(raw)) this.gcHeap.incRef(raw);
  }

  /** @internal `expose_gc_ref_to_wasm`: the over-approximated list takes the caller's count (or, already a member, keeps it). */
  exposeToWasm(raw: number): void {
    if (raw !== 0 && !isI31(raw)) this.gcHeap.exposeGcRefToWasm(raw);
  }

  /** v44 has no bump chunk to fill: nothing to collect before entering Wasm. */
  collectBeforeEnteringWasm(_count: number): void {}

  /**
   * One DRC collection (v44's `Store::gc`): walks every Wasm frame of every live stack — the
   * store's chain, the chains of interrupted entries, every suspended continuation — reads each
   * frame's user stack map, marks and sweeps the over-approximated list. A collection asked for
   * while one runs (a destructor collecting) is skipped.
   */
  gc(options: { explain?: boolean; reason?: V44GcReport['reason'] } = {}): V44GcReport {
    this.assertOpen();
    const reason = options.reason ?? 'store-gc';
    if (this.#collecting) {
      return { reason, skipped: 'reentrant', frames: 0, stacks: 0, preciseRoots: [], i31Roots: 0, listBefore: [], kept: [], unlinked: [], freed: [] };
    }
    this.#collecting = true;
    let report: V44GcReport;
    try {
      const explain = options.explain ?? this.#options.explainCollections ?? false;
      const r = this.collector.collect({ explain, debugChecks: this.debugChecks });
      const walk = r.explanation ?? this.#lastWalkCounts();
      report = { ...r.report, reason, frames: walk.frames.length, stacks: walk.stacks.length, ...(r.explanation ? { explanation: r.explanation } : {}) };
    } finally {
      this.#collecting = false;
    }
    this.#options.onCollection?.(report);
    this.runDestructors();
    return report;
  }

  /** Frame and stack counts of the live stacks (a walk without scanning; after a collection without explanation). */
  #lastWalkCounts(): { frames: unknown[]; stacks: unknown[] } {
    return walkV44(this.machine, { storeContext: this.storeContext, olderActivations: this.#olderActivations(), continuations: this.continuations });
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
    registerUserStackMaps(this.stackMaps, module, placed, 'V44Store');
    this.placed.set(module, placed);
  }

  /** The initial stack's VMCommonStackInformation of nesting depth `depth`, reset to `running_default`. */
  #initialStack(depth: number): bigint {
    let csi = this.#initialStacks[depth];
    if (csi === undefined) {
      csi = this.heap.alloc(VMCommonStackInformationLayout.size, 16);
      this.#initialStacks[depth] = csi;
    }
    this.machine.writeBytes(csi, new Uint8Array(VMCommonStackInformationLayout.size));
    writeCommonStackInformation(this.machine, csi, { state: 'Running' });
    return csi;
  }

  /**
   * @internal Runs a guest call as one host→Wasm entry (`enter_wasm` … `exit_wasm`, see the file
   * comment); guest faults become WasmTraps.
   */
  enter<R>(call: () => R): R {
    this.assertOpen();
    const m = this.machine;
    const sc = this.storeContext;
    const records = readV44StoreContext(m, sc);
    const saved: SavedEntry = {
      records,
      chain: records.chain as StackChainValue,
      trapHandler: m.readU64(sc + BigInt(V44StoreContextLayout.lastWasmEntryTrapHandler)),
    };
    const outermost = records.stackLimit === STACK_LIMIT_UNSET;
    if (outermost) writeV44StoreContext(m, sc, { stackLimit: wasmStackLimit(this.machine, this.maxWasmStack) });
    writeV44StoreContext(m, sc, { chain: { kind: 'InitialStack', payload: this.#initialStack(this.#saved.length) } });
    this.#saved.push(saved);
    try {
      return call();
    } catch (e) {
      const live = readV44StoreContext(m, sc);
      const exitFp = live.exitTrampolineFp === 0n ? 0n : m.readU64(live.exitTrampolineFp);
      throw this.traps.classify(e, m, { pc: live.exitPc, fp: exitFp }, (pc, fp) => this.backtrace(pc, fp));
    } finally {
      this.#saved.pop();
      // A trap can leave values staged for a bookkeeping call that never ran.
      if (this.#saved.length === 0) this.stackSwitching.resetStaging();
      const r = saved.records;
      writeV44StoreContext(m, sc, { stackLimit: r.stackLimit, exitTrampolineFp: r.exitTrampolineFp, exitPc: r.exitPc, entryFp: r.entryFp, entrySp: r.entrySp, chain: saved.chain });
      m.writeU64(sc + BigInt(V44StoreContextLayout.lastWasmEntryTrapHandler), saved.trapHandler);
    }
  }

  /**
   * The Wasm frames from a trapping pc/fp to the running stack's entry, then those of each
   * interrupted entry's running stack (the frames a trap unwinds; parents of a continuation are
   * not on the trapping stack).
   */
  backtrace(pc: bigint, fp: bigint): BacktraceFrame[] | undefined {
    try {
      const live = readV44StoreContext(this.machine, this.storeContext);
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
    if (this.#saved.length > 0) throw new RuntimeError('V44Store.close', 'called while Wasm is running in this store');
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
