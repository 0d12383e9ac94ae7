/**
 * The Store (wasmtime's `store.rs`): one simulated address space. Its public face is what an
 * embedder uses (the Machine, the collector, gc(), cycles, epochs); everything the runtime's
 * handles, builtins and instantiation share sits in one StoreInternals object that only
 * runtime/ reaches, through `storeInternals(store)` (the package root does not export it).
 */
import { hex } from '../isa/error.ts';
import { ValRawLayout } from '../compiler/vmoffsets.ts';
import { ActivationsTable } from '../gc/activations.ts';
import { Collector, describeValue, type GcReport, type WalkConfig } from '../gc/collector.ts';
import { ExternRefHeap } from '../gc/externref.ts';
import { StackMapRegistry, type StackMapLookupMode } from '../gc/stackmap-registry.ts';
import { callerFrameOfHostCall } from '../gc/walk.ts';
import { PROT_READ, PROT_WRITE } from '../simulator/engine.ts';
import { Machine, type HostCall, type Region } from '../simulator/machine.ts';
import type { CycleOptions, CycleReport, ReportOptions } from '../simulator/timing/cycles.ts';
import { Activations, DEFAULT_MAX_WASM_STACK } from './activations.ts';
import { BuiltinsArray, type BuiltinHost } from './builtins.ts';
import { checkCycleOptions, type Engine } from './engine.ts';
import { checkStoreRuntime } from './profiles.ts';
import { RuntimeError, StoreClosedError, WasmTrap } from './errors.ts';
import { StoreExternRefs } from './externrefs.ts';
import type { Func } from './func.ts';
import { RuntimeHeap } from './heap.ts';
import type { Instance } from './instance.ts';
import { VMRuntimeLimits } from './limits.ts';
import type { Module } from './module.ts';
import { CodeArea, type PlacedImage } from './place.ts';
import { SignatureRegistry } from './signatures.ts';
import { Trampolines } from './trampolines.ts';
import { TrapRegistry } from './traps.ts';
import type { VMContextEnvironment } from './vmcontext.ts';

let storeIds = 1n;

/** A LIFO of ValRaw buffers in guest memory for array calls (calls nest, so buffers do too). */
class ValRawStack {
  private top: bigint;
  constructor(private readonly region: Region) {
    this.top = region.address + BigInt(region.size);
  }
  push(slots: number): bigint {
    const at = (this.top - BigInt(ValRawLayout.size * Math.max(slots, 1))) & ~15n;
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
  /**
   * Build the full explanation in every collection of the store's collector: store.gc(),
   * Caller.gc() and the collections compiled code starts when the activations table is full.
   */
  explainCollections?: boolean;
  /** Called with the report of every finished collection of the store's collector. */
  onCollection?: (report: GcReport) => void;
  /**
   * Place the text of every module instantiated in this store side by side in shared
   * executable chunks (1 MiB each) instead of mapping each module's segments as regions of
   * their own (runtime/place.ts CodeArea): for a store that instantiates many small modules,
   * as the fuzzer does. A module then has no unmapped page after its text, and its metadata
   * sections stay host-side. Modules with data segments are mapped as usual. Default false.
   */
  sharedCodeArea?: boolean;
  /**
   * Let the engine answer the `activations_table_insert_with_gc` calls that would change
   * nothing (a sweep's re-entered destructors reading an object the table already holds)
   * without a round trip to the host (Machine.answerInsertions, docs/engine.md). Results,
   * collections, instruction counts and host-call counts are the same either way; false
   * sends every call to the host (for comparison). Default true.
   */
  answerInsertionsNatively?: boolean;
}

/** Which frame walk and stack-map lookup a collection uses (the store's own: v17 and v17). */
export interface CollectorChoice {
  /**
   * `v17` (default) walks the activations VMRuntimeLimits and the saved chain delimit;
   * `canary` unwinds the FP chain from the innermost host call's caller up to the guest stack
   * top of the outermost entry, as wasmtime v0.22 did.
   */
  walk?: 'v17' | 'canary';
  /** `v17` (default): exact return-address match; `v0.22`: nearest preceding call offset. */
  registry?: StackMapLookupMode;
}

export interface GcOptions extends CollectorChoice {
  /** Build the full explanation (frames, map words, table before/after, freed host values). */
  explain?: boolean;
}

/**
 * What the runtime's handles, builtins and instantiation share about a store. Not public API:
 * a field here may change with the runtime's internals.
 */
export class StoreInternals {
  readonly heap: RuntimeHeap;
  readonly limits: VMRuntimeLimits;
  readonly epochAddress: bigint;
  readonly externRefHeap: ExternRefHeap;
  readonly activationsTable: ActivationsTable;
  readonly externRefs: StoreExternRefs;
  readonly signatures = new SignatureRegistry();
  readonly trampolines: Trampolines;
  readonly activations: Activations;
  readonly traps = new TrapRegistry();
  readonly builtins: BuiltinsArray;
  readonly env: VMContextEnvironment;
  /** Instances by the guest address of their VMContext. */
  readonly instances = new Map<bigint, Instance>();
  /** Where each module's code was placed (once per store and module). */
  readonly placed = new Map<Module, PlacedImage>();
  /** Where module text goes with StoreOptions.sharedCodeArea. */
  readonly codeArea: CodeArea | undefined;
  /** Func handles by the guest address of their VMFuncRef. */
  readonly funcsByRef = new Map<bigint, Func>();
  readonly valRaw: ValRawStack;
  /** The stack maps of every module placed in the store (Store.stackMaps). */
  readonly stackMaps = new StackMapRegistry();
  /** The same maps for v0.22's nearest-preceding lookup, made when a collector first asks. */
  private v022Maps: StackMapRegistry | undefined;
  /** The host calls in progress, innermost last (the canary walk starts at the innermost's caller). */
  readonly hostCalls: HostCall[] = [];

  constructor(store: Store, engine: Engine, machine: Machine, sharedCodeArea = false) {
    this.heap = new RuntimeHeap(machine, 'runtime-heap');
    this.codeArea = sharedCodeArea ? new CodeArea(machine) : undefined;
    this.limits = VMRuntimeLimits.allocate(machine, this.heap);
    this.epochAddress = this.heap.alloc(8, 8);
    machine.writeU64(this.epochAddress, engine.currentEpoch);
    this.externRefHeap = new ExternRefHeap(machine);
    this.activationsTable = new ActivationsTable(machine, this.externRefHeap);
    this.activations = new Activations(machine, this.limits, this.traps, {
      maxWasmStack: engine.config.maxWasmStack ?? DEFAULT_MAX_WASM_STACK,
      isWasmPc: (pc) => this.stackMaps.isWasmPc(pc),
    });
    this.externRefs = new StoreExternRefs(this.externRefHeap, this.activationsTable, () => this.activations.depth > 0);
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
        if (store.epochDeadlineDelta === null) throw new WasmTrap({ code: 'Interrupt', detail: 'epoch deadline reached' });
        const deadline = engine.currentEpoch + store.epochDeadlineDelta;
        this.limits.epochDeadline = deadline;
        return deadline;
      },
    };
    this.builtins = new BuiltinsArray(machine, this.heap, this.trampolines, host);
    this.valRaw = new ValRawStack(machine.map('valraw-stack', 256 * 1024, PROT_READ | PROT_WRITE));
    this.env = {
      machine, heap: this.heap, limits: this.limits, epochAddress: this.epochAddress,
      activationsTableAddress: this.activationsTable.address, storeId: store.id,
      builtinsArrayAddress: this.builtins.address, signatures: this.signatures, externRefs: this.externRefs,
      memoryOptions: engine.memoryOptions,
    };
  }

  /** Records where `module`'s code was placed; its stack maps join the store's registries. */
  placeModule(module: Module, placed: PlacedImage): void {
    this.placed.set(module, placed);
    this.stackMaps.register(module.code.stackMaps(module.name ?? `module@${hex(placed.textBase)}`, placed.textBase));
    this.v022Maps?.register(module.code.stackMaps(module.name ?? 'module', placed.textBase));
  }

  /** The placed modules' maps in a registry with v0.22's lookup, kept in step from its first use. */
  v022Registry(): StackMapRegistry {
    if (!this.v022Maps) {
      this.v022Maps = new StackMapRegistry({ mode: 'v0.22' });
      for (const [module, placed] of this.placed) this.v022Maps.register(module.code.stackMaps(module.name ?? 'module', placed.textBase));
    }
    return this.v022Maps;
  }

  /** Runs a guest call as one host→Wasm entry. */
  enter(call: () => bigint): bigint {
    return this.activations.enter(call);
  }

}

/**
 * The key of a store's StoreInternals. A registered symbol rather than a #private field: when
 * two copies of these classes meet in one process (the sources beside a compiled build, say),
 * a handle of one copy still reaches the internals of a store the other made.
 */
const INTERNALS: unique symbol = Symbol.for('stackscope.storeInternals');

/**
 * The runtime's shared state of `store` (runtime/ only; not exported by the package root).
 * Every handle (Func, Global, Table, Memory, ExternRef, Instance) reaches its store through
 * here, so a closed store makes each of them throw StoreClosedError instead of touching the
 * freed engine or reading guest memory that no longer means anything.
 */
export function storeInternals(store: Store): StoreInternals {
  if (store.closed) throw new StoreClosedError(store.id);
  return store[INTERNALS];
}

/** Throws StoreClosedError when `store` is closed (for handles that read guest memory directly). */
export function assertOpen(store: Store): void {
  if (store.closed) throw new StoreClosedError(store.id);
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
  /** The stack maps of every module placed in this store (gc/). */
  readonly stackMaps: StackMapRegistry;
  /** gc/'s collector: v17 frame walk over this store's activations, exact stack-map lookup. */
  readonly collector: Collector;
  /** Store-level deadline behaviour: the epoch delta to continue with, or null to trap. */
  epochDeadlineDelta: bigint | null = null;
  /** @internal */ readonly [INTERNALS]: StoreInternals;
  /** Collectors with another walk or registry than `collector`'s, made when first asked for. */
  readonly #otherCollectors = new Map<string, Collector>();
  /** Held here because the engine holds it only weakly. */
  readonly #epochWriter: (epoch: bigint) => void;
  readonly #unregisterEpoch: () => void;
  #closed = false;

  private constructor(engine: Engine, machine: Machine, options: StoreOptions<T>) {
    this.engine = engine;
    this.machine = machine;
    this.id = storeIds++;
    this.data = options.data;
    const internals = new StoreInternals(this as Store, engine, machine, options.sharedCodeArea === true);
    this[INTERNALS] = internals;
    this.stackMaps = internals.stackMaps;
    this.collector = new Collector({
      machine, heap: internals.externRefHeap, table: internals.activationsTable, registry: this.stackMaps,
      walk: { kind: 'v17', limits: internals.limits.address, olderActivations: () => internals.activations.chain() },
      explainAll: options.explainCollections,
      onCollect: options.onCollection,
    });
    internals.externRefs.attachCollector(this.collector);
    if (options.answerInsertionsNatively !== false) {
      const table = internals.activationsTable;
      const answer = machine.answerInsertions(
        internals.builtins.implementationOf('activations_table_insert_with_gc'),
        table.region.view.subarray(Number(table.address - table.region.address)), table.chunkAddress, table.chunkCapacity,
      );
      if (answer) this.collector.answerInsertionsNatively(answer);
    }
    this.#epochWriter = (epoch) => machine.writeU64(internals.epochAddress, epoch);
    this.#unregisterEpoch = engine.registerEpochCell(this.#epochWriter);
  }

  static async create<T = unknown>(engine: Engine, options: StoreOptions<T> = {}): Promise<Store<T>> {
    checkStoreRuntime(engine.profile);
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
    if (this.#closed) throw new StoreClosedError(this.id);
    return this.machine.cycleReport(options);
  }

  /** Starts the cycle model's counts afresh (between calls into Wasm, not from a host function). */
  resetCycles(): void {
    if (this.#closed) throw new StoreClosedError(this.id);
    this.machine.resetCycles();
  }

  /**
   * Collects externrefs no longer referenced (store.gc() in wasmtime): gc/'s collector walks the
   * live Wasm frames of every activation, keeps what their stack maps name, and sweeps the
   * activations table. Returns this collection's report; when a collection is already running
   * (a destructor called back in), the report says `skipped: 'reentrant'` and nothing happened.
   * `walk` and `registry` choose another walker or lookup for this collection (collectorWith).
   */
  gc(options: GcOptions = {}): GcReport {
    if (this.#closed) throw new StoreClosedError(this.id);
    return this.collectorWith(options).collect({ reason: 'store-gc', explain: options.explain });
  }

  /**
   * A collector over this store's heap and activations table with the walk and stack-map lookup
   * `choice` names: `collector` itself for v17/v17, otherwise one made on first use and kept.
   * The canary walk starts at the caller of the innermost host function in progress.
   */
  collectorWith(choice: CollectorChoice): Collector {
    if (this.#closed) throw new StoreClosedError(this.id);
    const walkKind = choice.walk ?? 'v17';
    const lookup = choice.registry ?? 'v17';
    if (walkKind === 'v17' && lookup === 'v17') return this.collector;
    const key = `${walkKind}/${lookup}`;
    let collector = this.#otherCollectors.get(key);
    if (!collector) {
      const internals = this[INTERNALS];
      const walk: WalkConfig = walkKind === 'v17'
        ? { kind: 'v17', limits: internals.limits.address, olderActivations: () => internals.activations.chain() }
        : {
          kind: 'canary',
          // Every entry starts at the top of the Machine's guest stack, so the canary lies just
          // above the outermost trampoline frame.
          canary: () => (internals.activations.depth > 0 ? this.machine.stack.top : null),
          start: () => {
            const call = internals.hostCalls[internals.hostCalls.length - 1];
            return call ? callerFrameOfHostCall(this.machine.arch, call) : undefined;
          },
        };
      collector = new Collector({
        machine: this.machine, heap: internals.externRefHeap, table: internals.activationsTable,
        registry: lookup === 'v17' ? this.stackMaps : internals.v022Registry(), walk,
      });
      this.#otherCollectors.set(key, collector);
    }
    return collector;
  }

  /** Guest address of `module`'s code in this store; undefined until an instance of it is made here. */
  textBaseOf(module: Module): bigint | undefined {
    return this[INTERNALS].placed.get(module)?.textBase;
  }

  /**
   * The host value of the live externref at guest address `pointer`, without taking a count,
   * as a described string; undefined when no live externref is there.
   */
  describeExternRef(pointer: bigint): string | undefined {
    if (this.#closed) throw new StoreClosedError(this.id);
    const heap = this[INTERNALS].externRefHeap;
    const n = Number(pointer);
    return heap.isLiveRaw(n) ? describeValue(heap.hostValueRaw(n)) : undefined;
  }

  /** Sets the epoch deadline `delta` epochs from now (compiled code checks it when enabled). */
  setEpochDeadline(delta: bigint): void {
    if (this.#closed) throw new StoreClosedError(this.id);
    this[INTERNALS].limits.epochDeadline = this.engine.currentEpoch + delta;
  }

  /** Entries into Wasm currently in progress. */
  get wasmDepth(): number {
    return this[INTERNALS].activations.depth;
  }

  /** True once close() ran: every handle into the store then throws StoreClosedError. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Releases everything the store holds, at once: every externref still live — in tables,
   * globals, the activations table or host ExternRef handles — has its destructor run exactly
   * once, then the Machine (its Unicorn engine and guest memory) is closed. Afterwards every
   * handle into the store throws StoreClosedError; ExternRef.release() is a no-op. Idempotent.
   * Not allowed while Wasm runs in the store (from a host function). A store dropped without
   * close() has its engine reclaimed when it is garbage-collected, but its destructors do not
   * run: call close() to run them at a known time.
   * Throws gc/'s DestructorError, after closing, if destructors threw.
   */
  close(): void {
    if (this.#closed) return;
    const internals = this[INTERNALS];
    if (internals.activations.depth > 0) throw new RuntimeError('Store.close', 'called while Wasm is running in this store');
    this.#closed = true; // from here on destructors calling into the store get StoreClosedError
    this.#unregisterEpoch();
    try {
      internals.externRefHeap.destroyAll();
    } finally {
      this.machine.close();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
