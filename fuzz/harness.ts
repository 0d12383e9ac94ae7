/**
 * Runs generated programs on the real runtime and checks them against the reference model.
 *
 * One `ArchRunner` per architecture keeps an Engine, a Store and the host functions every
 * program imports, and reuses them across programs (a Store costs a Machine, the host
 * functions cost gateway stubs and trampolines). A store is replaced after
 * `programsPerStore` programs (each program leaves its instance, code and table behind) and
 * after any failure (a failing program may leave the heap inconsistent). Compiled modules are
 * cached by program binary, so a mutant campaign or a shrinker that replays the same programs
 * compiles each once per arch.
 *
 * Checked invariants (each failure names the program's event where it was seen):
 * - at every host call of main's code: the call is the one the model predicts (trace), every
 *   reachable object is live (its destructor has not run), and every object a table slot,
 *   global or host handle holds has `strongCount()` ≥ that number of holders;
 * - no destructor runs twice, and no freed object is ever seen again (freed host values are
 *   poisoned: a later print, pass or result of one fails);
 * - the result or trap equals the model's;
 * - after main, collections with no Wasm on the stack until the activations table is empty;
 *   then every object the model says is held has exactly its holders as `strongCount()`, and
 *   every other object (temporaries included) was freed exactly once;
 * - any error the runtime or collector throws (a failed debug check, a broken frame chain, an
 *   activations-table inconsistency) is a failure too.
 */
import type { RegallocMode } from '../compiler/regalloc/modes.ts';
import type { Arch } from '../isa/arch.ts';
import { StackscopeError } from '../isa/error.ts';
import { Engine, ExternRef, Func, Instance, Module, Store, WasmTrap, type Val } from '../runtime/api.ts';
import { parseWasm, parseWat } from '../compiler/frontend/index.ts';
// The heap's counts and the activations table are runtime internals; the oracle checks them.
import { storeInternals } from '../runtime/store.ts';
import { encodeProgram } from './encode.ts';
import type { WasmModule } from '../compiler/frontend/module.ts';
import type { GcReport } from '../gc/collector.ts';
import type { ProfileName } from '../profiles/profile.ts';
import { frameFromRegisters, type FrameRegisters } from '../gc/walk.ts';
import { HOST_IMPORTS, isReentrantTag, printWat, type Program } from './program.ts';
import { modelOf, type ModelObject, type ModelResult } from './model.ts';
import { activeMutant, mutantAffectsCompilation } from '../compiler/mutants.ts';

/**
 * Where a program's collections come from: `v17` and `canary` are the v17 store's two walks;
 * `v31` runs the program compiled for wasmtime v31 in a V31Store (its own walk, user stack maps
 * and DRC collector; fuzz/harness-v31.ts); `v44` the program compiled for wasmtime v44 in a V44Store
 * (stack switching, the intrusive over-approximated list; fuzz/harness-v44.ts).
 */
export type Walker = 'v17' | 'canary' | 'v31' | 'v44';

/** Why a program failed, and where. */
export interface Failure {
  arch: Arch;
  walker: Walker;
  /** Short class of the failure, stable across runs (used to keep a shrunk program failing the same way). */
  kind: 'trace' | 'freed-while-reachable' | 'count' | 'double-free' | 'use-after-free' | 'leak' | 'result' | 'error';
  message: string;
  /** Host event index where it was seen (−1: after main). */
  event: number;
}

export interface RunStats {
  gcs: number;
  framesWalked: number;
  roots: number;
  freed: number;
  /** Objects kept only by counts the era itself leaks (v31's lost over-approximated inserts). */
  eraLeaks?: number;
}

export interface ProgramOutcome {
  failure: Failure | null;
  /** The observable trace the runtime produced (host calls, then result or trap). */
  trace: string[];
  stats: RunStats;
}

/** Raised inside a host function when a check fails; the harness has recorded the failure already. */
class CheckFailed extends StackscopeError {
  override name = 'CheckFailed';
}

/** A host handle on a reference (v17's ExternRef, v31's V31ExternRef): owns one count. */
export interface FuzzRef {
  readonly value: unknown;
  release(): void;
  clone(): FuzzRef;
}

/** Implementations of the host imports, by name, as the runner makes them. */
export type HostImpls = ReadonlyMap<string, (caller: unknown, ...args: unknown[]) => unknown>;

/**
 * What the runner needs from one store of its era: references with destructors and their
 * counts, the host imports, instantiation and calls, collections and the activations table.
 */
export interface StoreKit {
  readonly wasmDepth: number;
  /** A new reference holding `value`, its destructor, and the key `strongCount` reads. */
  newRef(value: unknown, destructor: () => void): { ref: FuzzRef; key: bigint };
  /** The object's count (v17 strongCount, v31 ref_count). */
  strongCount(key: bigint): number;
  /**
   * Counts of the object the era itself leaks, by design of its sources (v31.0.0 loses the
   * count of a ref exposed again while it is in the over-approximated set); v17 leaks none.
   */
  eraLeaks?(key: bigint): number;
  /** Instantiates `module` with the host imports; returns main and on_free. */
  instantiate(module: Module, host: HostImpls): { main: (...args: unknown[]) => unknown; onFree: () => void };
  /** Collects with no Wasm on the stack (the final checks), or from a host call (`gc`). */
  gc(caller?: unknown): void;
  /**
   * Entries left in the activations table (bump chunk + over-approximated set), those of the
   * objects in `keep` aside (v44: refs that frames of continuations left suspended may hold).
   */
  tableEntries(keep?: ReadonlySet<bigint>): number;
  /**
   * Counts the object holds for stacks still alive after main (v44: the list's count of a ref
   * that a suspended continuation's frame keeps a root); asked only for such objects.
   */
  stackHeld?(key: bigint): number;
  /**
   * Puts the store's collector state back as a new store has it, before a program runs in a
   * reused store (v17: the activations table's empty lazy chunk, whose first insertion
   * collects), so the program's collections are the ones it makes in a fresh store.
   */
  resetForProgram?(): void;
  /** True when the store should be replaced before the next program (v44: too many continuations kept). */
  worn?(): boolean;
  /** Sets the walk (v17 kits: v17 or canary) and the collector's debug checks for the next program. */
  configure(walker: Walker, debugChecks: boolean, resume: () => FrameRegisters[]): void;
  /** The registers of the innermost guest frame (canary walks resume there after a re-entry). */
  innermostFrame(): FrameRegisters;
  close(): void;
}

/** Counters a kit adds every finished collection to. */
export type CollectionCounter = (frames: number, roots: number, freed: number) => void;

interface HostValue {
  /** Model id, or null for an on_free temporary. */
  id: number | null;
  label: string;
  freedTimes: number;
  reentrant: boolean;
  /** The run it belongs to (destructors of older programs' objects must not touch the current one). */
  run: RunState;
}

interface RunState {
  program: Program;
  model: ModelResult;
  walker: Walker;
  /** Record per model id. */
  objects: Array<{ value: HostValue; ptr: bigint } | undefined>;
  temps: HostValue[];
  pool: Array<FuzzRef | undefined>;
  nextEvent: number;
  nextId: number;
  failure: Failure | null;
  trace: string[];
  /** The instance's on_free export, once instantiated. */
  onFree: (() => void) | undefined;
  /** > 0 while a destructor runs on_free: host calls then are not main's events. */
  reentry: number;
  /** Canary walk: guest frames that called the host functions which re-entered Wasm, youngest first. */
  resume: FrameRegisters[];
  /** Model objects created before the last checked event whose last use may be still to come. */
  inUse: ModelObject[];
  /** Index of the first model object not yet in `inUse` (objects are in creation order). */
  nextCreated: number;
}

export interface ArchRunnerOptions {
  /** Programs a store runs before it is replaced. Default 64. */
  programsPerStore?: number;
  /** Compiled modules kept per arch (least recently used dropped). Default 256. */
  moduleCache?: number;
  /**
   * The collector's own debug checks (v17's debug assertions). Default true; false leaves
   * every detection to the model's oracle, which measures what the oracle alone sees.
   */
  debugChecks?: boolean;
  /** How the programs are compiled (EngineConfig.regalloc). Default none. */
  regalloc?: RegallocMode;
  /** Add each program's CPU time by phase to `ArchRunner.phases` (bench/fuzz). Default false. */
  timePhases?: boolean;
  /** v17 stores: StoreOptions.answerInsertionsNatively (default true; false for comparison). */
  answerInsertionsNatively?: boolean;
}

/**
 * CPU milliseconds (this process, all threads) a runner spent per phase since it was made:
 * compiling modules (cache misses only), instantiating them, running main (its host calls and
 * the collections they make included), and the final collections and checks.
 */
export interface PhaseTimes {
  compile: number;
  instantiate: number;
  run: number;
  final: number;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

const HOST_TYPES = HOST_IMPORTS.map((h) => ({ params: [...h.params], results: [...h.results] }));

/** Modules parsed from WAT text by parseProgram, by text (arch-independent; shared by the runners of one process). */
const parsedCache = new Map<string, WasmModule>();

/** A program's WAT text through the WAT parser (tests compare it with the direct encoding). */
export async function parseProgram(text: string): Promise<WasmModule> {
  let m = parsedCache.get(text);
  if (!m) {
    m = await parseWat(text, { fileName: 'fuzz.wat' });
    parsedCache.set(text, m);
    if (parsedCache.size > 512) parsedCache.delete(parsedCache.keys().next().value!);
  }
  return m;
}

/** The v17 store's kit: ExternRef, Func.wrap/Func.new host imports, the v17 or canary walk. */
async function v17Kit(engine: Engine, count: CollectionCounter, options: ArchRunnerOptions = {}): Promise<StoreKit> {
  // Every program's text in one code area: no region mapped per program (each costs Unicorn 0.1-1 ms).
  const store = await Store.create(engine, { sharedCodeArea: true, answerInsertionsNatively: options.answerInsertionsNatively });
  const collector = store.collector;
  const collect = collector.collect.bind(collector);
  collector.collect = (options) => {
    const r: GcReport = collect(options);
    if (!r.skipped) count(r.frames, r.roots, r.freedCount);
    return r;
  };
  const internals = storeInternals(store);
  let hostFuncs: Func[] | undefined;
  return {
    get wasmDepth() { return store.wasmDepth; },
    newRef(value, destructor) {
      const ref = ExternRef.new(store, value, destructor);
      return { ref, key: ref.pointer };
    },
    strongCount: (key) => internals.externRefHeap.strongCount(key),
    instantiate(module, host) {
      // Half the imports go through the array calling convention (Func.new), half through
      // the native one (Func.wrap): both trampolines carry externrefs across. Made once per store.
      hostFuncs ??= HOST_IMPORTS.map((h, i) => {
        const impl = host.get(h.name)! as (caller: unknown, ...args: Val[]) => Val | void;
        return i % 2 === 0 ? Func.wrap(store, HOST_TYPES[i], impl) : Func.new(store, HOST_TYPES[i], impl);
      });
      const instance = Instance.create(store, module, hostFuncs);
      const main = instance.getFunc('main');
      const onFree = instance.getFunc('on_free');
      return { main: (...args) => main.call(...(args as Val[])), onFree: () => { onFree.call(); } };
    },
    gc(caller) {
      if (caller) (caller as { gc(): unknown }).gc();
      else store.gc();
    },
    tableEntries: () => internals.activationsTable.overApproximated.size + internals.activationsTable.numFilledInBumpChunk(),
    resetForProgram: () => internals.activationsTable.resetEmpty(),
    configure(walker, debugChecks, resume) {
      collector.walk = walker === 'v17'
        ? { kind: 'v17', limits: internals.limits.address, olderActivations: () => internals.activations.chain() }
        : {
          kind: 'canary',
          canary: () => (store.wasmDepth > 0 ? store.machine.stack.top : null),
          start: () => (store.wasmDepth > 0 ? frameFromRegisters(store.machine) : undefined),
          resume,
        };
      collector.debugChecks = debugChecks;
    },
    innermostFrame: () => frameFromRegisters(store.machine),
    close: () => store.close(),
  };
}

/** Makes the store kit of a runner's era (v17 here; fuzz/harness-v31.ts registers v31's). */
export type KitMaker = (engine: Engine, count: CollectionCounter, options?: ArchRunnerOptions) => Promise<StoreKit>;

export class ArchRunner {
  readonly engine: Engine;
  private kit: StoreKit | undefined;
  private programsInStore = 0;
  private storeMutant: string | null = null;
  private run: RunState | undefined;
  private impls: HostImpls | undefined;
  private readonly modules = new Map<string, Module>();
  private readonly programsPerStore: number;
  private readonly moduleCacheSize: number;
  private readonly debugChecks: boolean;
  private readonly makeKit: KitMaker;
  private stats: RunStats = { gcs: 0, framesWalked: 0, roots: 0, freed: 0 };
  /** Filled only with `timePhases`. */
  readonly phases: PhaseTimes = { compile: 0, instantiate: 0, run: 0, final: 0 };
  private readonly timePhases: boolean;

  constructor(readonly arch: Arch, private readonly options: ArchRunnerOptions = {}, era: { profile?: ProfileName; kit?: KitMaker } = {}) {
    // No wall-clock limit: on a loaded machine it would turn a slow run into a false alarm. The
    // model bounds every program's work, and the engine's instruction budget stays.
    this.engine = new Engine({ arch, maxWasmStack: 256 * 1024, timeoutMs: null, regalloc: options.regalloc ?? 'none', ...(era.profile ? { profile: era.profile } : {}) });
    this.makeKit = era.kit ?? v17Kit;
    this.programsPerStore = options.programsPerStore ?? 64;
    this.moduleCacheSize = options.moduleCache ?? 256;
    this.debugChecks = options.debugChecks ?? true;
    this.timePhases = options.timePhases ?? false;
  }

  /** Adds the CPU time since `since` to `phase` (with `timePhases`); returns now. */
  private lap(phase: keyof PhaseTimes, since: number): number {
    if (!this.timePhases) return 0;
    const now = cpuMs();
    this.phases[phase] += now - since;
    return now;
  }

  close(): void {
    this.kit?.close();
    this.kit = undefined;
  }

  private module(program: string, wasm: WasmModule): Module {
    // Code compiled under a compiler mutant carries the bug: cache it separately.
    const mutant = activeMutant();
    const key = mutantAffectsCompilation(mutant) ? `;; mutant ${mutant}\n${program}` : program;
    let m = this.modules.get(key);
    if (m) {
      this.modules.delete(key);
      this.modules.set(key, m);
      return m;
    }
    m = Module.fromParsed(this.engine, wasm, undefined, 'fuzz.wat');
    this.modules.set(key, m);
    if (this.modules.size > this.moduleCacheSize) this.modules.delete(this.modules.keys().next().value!);
    return m;
  }

  private async freshStore(): Promise<StoreKit> {
    this.kit?.close();
    this.kit = undefined;
    // Let the event loop turn once. A campaign's awaits all resolve at once, so without this
    // it runs as one job, and V8 keeps every object a WeakRef.deref() returned during a job
    // alive until the job ends (the engine's koffi callbacks reach their hooks and the store
    // through WeakRefs): every closed store, its machine and its instances stayed in memory.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const kit = await this.makeKit(this.engine, (frames, roots, freed) => {
      this.stats.gcs++;
      this.stats.framesWalked += frames;
      this.stats.roots += roots;
      this.stats.freed += freed;
    }, this.options);
    this.kit = kit;
    this.storeMutant = activeMutant();
    this.programsInStore = 0;
    return kit;
  }

  private fail(kind: Failure['kind'], message: string, event: number): never {
    const r = this.run!;
    r.failure ??= { arch: this.arch, walker: r.walker, kind, message, event };
    throw new CheckFailed(message);
  }

  private labelOf(v: unknown): string {
    if (v === null) return 'null';
    const value = (v as FuzzRef).value as HostValue;
    if (value.freedTimes > 0) this.fail('use-after-free', `object ${value.label} was seen after it was freed`, this.run!.nextEvent);
    return value.label;
  }

  private newObject(run: RunState, id: number | null, label: string, reentrant: boolean): FuzzRef {
    const value: HostValue = { id, label, freedTimes: 0, reentrant, run };
    const { ref, key } = this.kit!.newRef(value, () => this.destroyed(value));
    if (id === null) run.temps.push(value);
    else run.objects[id] = { value, ptr: key };
    return ref;
  }

  private destroyed(value: HostValue): void {
    value.freedTimes++;
    const run = value.run;
    if (run !== this.run) return;
    if (value.freedTimes > 1) this.fail('double-free', `object ${value.label} was destroyed ${value.freedTimes} times`, run.nextEvent);
    if (value.reentrant && run.onFree) {
      // The destructor re-enters Wasm: on_free reads, allocates and collects.
      run.reentry++;
      const kit = this.kit!;
      const nested = kit.wasmDepth > 0;
      if (nested) run.resume.unshift(kit.innermostFrame());
      try {
        run.onFree();
      } finally {
        if (nested) run.resume.shift();
        run.reentry--;
      }
    }
  }

  /** Matches a host call of main's code against the model's next event and checks reachability. */
  private event(line: string): void {
    const run = this.run!;
    if (run.reentry > 0) return;
    const e = run.nextEvent++;
    run.trace.push(line);
    const expected = e < run.model.events ? run.model.trace[e] : `(${run.model.trace[run.model.events]})`;
    if (expected !== line) this.fail('trace', `host call ${e}: expected '${expected}', got '${line}'`, e);
    this.checkReachable(e);
  }

  private checkReachable(e: number): void {
    const run = this.run!;
    const kit = this.kit!;
    for (const [id, count] of run.model.heldAt[e]) {
      const rec = run.objects[id];
      if (!rec || rec.value.freedTimes > 0) this.fail('freed-while-reachable', `object ${run.model.objects[id].label} (held by ${count} table slot(s)/global(s)/handle(s)) was freed before host call ${e}`, e);
      const n = kit.strongCount(rec.ptr);
      if (n < count) this.fail('count', `object ${rec.value.label} has strongCount ${n} at host call ${e}, below its ${count} non-stack holder(s)`, e);
    }
    // Objects in creation order (their `created` events never decrease): those created before
    // e join the in-use list once; each check drops the ones whose last use has passed.
    const objects = run.model.objects;
    while (run.nextCreated < objects.length && objects[run.nextCreated].created < e) run.inUse.push(objects[run.nextCreated++]);
    let kept = 0;
    for (const o of run.inUse) {
      if (e >= o.lastUse) continue;
      run.inUse[kept++] = o;
      const rec = run.objects[o.id];
      if (!rec || rec.value.freedTimes > 0) this.fail('freed-while-reachable', `object ${o.label} was freed before host call ${e}, but the program uses it later`, e);
    }
    run.inUse.length = kept;
  }

  /** The host imports, by name. */
  private hostImpls(): HostImpls {
    return new Map(HOST_IMPORTS.map((h) => [h.name, this.hostImpl(h.name)]));
  }

  private hostImpl(name: string): (caller: unknown, ...args: unknown[]) => unknown {
    switch (name) {
      case 'gc': return (caller) => {
        this.event('gc');
        this.kit!.gc(caller);
      };
      case 'new': return (_c, tag) => {
        this.event(`new ${tag as number}`);
        const run = this.run!;
        const id = run.nextId++;
        return this.newObject(run, id, `#${id}:t${tag as number}`, isReentrantTag(tag as number));
      };
      case 'new_temp': return () => {
        const run = this.run!;
        if (run.reentry === 0) this.fail('trace', 'new_temp called outside on_free', run.nextEvent);
        return this.newObject(run, null, 'temp', false);
      };
      case 'print': return (_c, v) => {
        this.event(`print ${this.labelOf(v)}`);
      };
      case 'print_i32': return (_c, v) => {
        this.event(`print_i32 ${v as number}`);
      };
      case 'release': return (_c, k) => {
        this.event(`release ${k as number}`);
        const run = this.run!;
        const h = run.pool[k as number];
        run.pool[k as number] = undefined;
        h?.release();
      };
      case 'pass': return (_c, v) => {
        this.event(`pass ${this.labelOf(v)}`);
        return v === null ? null : (v as FuzzRef).clone();
      };
      default: throw new Error(`internal: no host function ${name}`);
    }
  }

  /**
   * Runs `program` (with its model and parsed module) under `walker`; never throws for a check
   * failure. `key` names the module in the runner's cache of compiled modules: the program's
   * binary (PreparedProgram.key) or its text.
   */
  async runProgram(program: Program, key: string, wasm: WasmModule, model: ModelResult, walker: Walker = 'v17'): Promise<ProgramOutcome> {
    // A store made under another mutant may hold state that mutant shaped (caches included).
    if (!this.kit || this.programsInStore >= this.programsPerStore || this.storeMutant !== activeMutant() || this.kit.worn?.()) await this.freshStore();
    const kit = this.kit!;
    // The last program left the table empty (its final checks), else the store was replaced.
    if (this.programsInStore > 0) kit.resetForProgram?.();
    this.programsInStore++;
    this.stats = { gcs: 0, framesWalked: 0, roots: 0, freed: 0 };
    const run: RunState = {
      program, model, walker, objects: [], temps: [], pool: [], nextEvent: 0, nextId: program.pool, failure: null,
      trace: [], onFree: undefined, reentry: 0, resume: [], inUse: [], nextCreated: 0,
    };
    this.run = run;
    kit.configure(walker, this.debugChecks, () => this.run?.resume ?? []);
    const setFailure = (kind: Failure['kind'], message: string, event: number): void => {
      run.failure ??= { arch: this.arch, walker, kind, message, event };
    };
    let t = this.timePhases ? cpuMs() : 0;
    try {
      const module = this.module(key, wasm);
      t = this.lap('compile', t);
      for (let i = 0; i < program.pool; i++) run.pool.push(this.newObject(run, i, `pool${i}`, false));
      const { main, onFree } = kit.instantiate(module, (this.impls ??= this.hostImpls()));
      run.onFree = onFree;
      t = this.lap('instantiate', t);
      let last: string;
      try {
        const result = main(...run.pool.map((h) => h ?? null), program.depth);
        const label = result === null ? 'null' : this.labelOf(result);
        (result as FuzzRef | null)?.release();
        last = `result ${label}`;
      } catch (e) {
        if (run.failure) throw e;
        if (!(e instanceof WasmTrap) || e.code === 'HostError') throw e;
        last = `trap ${e.code}`;
      }
      t = this.lap('run', t);
      run.trace.push(last);
      const expected = model.trace[model.events];
      if (run.nextEvent !== model.events) setFailure('trace', `main made ${run.nextEvent} host calls, the model predicts ${model.events}`, -1);
      else if (last !== expected) setFailure('result', `main ended with '${last}', the model predicts '${expected}'`, -1);
      if (!run.failure) this.finalChecks(kit, run);
      this.lap('final', t);
    } catch (e) {
      if (!run.failure) {
        const err = e as Error;
        const cause = err instanceof WasmTrap && err.cause instanceof Error ? ` (cause: ${err.cause.name}: ${err.cause.message})` : '';
        setFailure('error', `${err?.name ?? 'Error'}: ${err?.message ?? String(e)}${cause}`, run.nextEvent);
      }
    } finally {
      // Give back the pool handles; objects that only they held are freed (their checks are done).
      for (const h of run.pool) {
        try {
          h?.release();
        } catch {
          // the store is replaced below when the run failed
        }
      }
      this.run = undefined;
    }
    if (run.failure) {
      // A failing program may leave counts or the table inconsistent: start the next one afresh.
      this.close();
    }
    return { failure: run.failure, trace: run.trace, stats: { ...this.stats } };
  }

  private finalChecks(kit: StoreKit, run: RunState): void {
    // Objects frames of continuations left suspended may still hold (v44): they may stay in
    // the list, with its count, until the store drops.
    // (Only those still alive: a freed one's heap index may hold a new object, a temporary.)
    const onStacks = run.model.onStacksAtEnd;
    const keep = (): ReadonlySet<bigint> | undefined => (onStacks?.size
      ? new Set([...onStacks].flatMap((id) => { const rec = run.objects[id]; return rec && rec.value.freedTimes === 0 ? [rec.ptr] : []; }))
      : undefined);
    // Collect with no Wasm on the stack until nothing is left in the activations table
    // (destructors that re-enter Wasm put their reads into the fresh table; the next round
    // frees those).
    for (let round = 0; round < 16; round++) {
      kit.gc();
      if (kit.tableEntries(keep()) === 0) break;
    }
    const left = kit.tableEntries(keep());
    if (left !== 0) this.fail('leak', `the activations table still holds ${left} entries after collections with no Wasm on the stack`, -1);
    for (const o of run.model.objects) {
      const rec = run.objects[o.id];
      if (!rec) this.fail('trace', `object ${o.label} was never created`, -1);
      const held = run.model.heldAtEnd.get(o.id) ?? 0;
      const freed = rec.value.freedTimes;
      const leaked = kit.eraLeaks?.(rec.ptr) ?? 0;
      const stack = freed === 0 && onStacks?.has(o.id) ? kit.stackHeld?.(rec.ptr) ?? 0 : 0;
      const extra = `${leaked ? ` + ${leaked} the era leaks` : ''}${stack ? ` + ${stack} for a suspended continuation's frame` : ''}`;
      if (held > 0) {
        if (freed > 0) this.fail('freed-while-reachable', `object ${o.label} is held by ${held} table slot(s)/global(s)/handle(s) but was freed`, -1);
        const n = kit.strongCount(rec.ptr);
        if (n !== held + leaked + stack) this.fail('count', `object ${o.label} has strongCount ${n} after the final collection, ${held} expected (its non-stack holders)${extra}`, -1);
      } else if (freed === 0 && leaked + stack > 0) {
        // Kept alive only by counts the era's own sources leak (v31's lost over-approximated
        // inserts, v44's exposures of list members) or by a suspended continuation's frame:
        // exactly those counts must be left.
        const n = kit.strongCount(rec.ptr);
        if (n !== leaked + stack) this.fail('count', `object ${o.label} is unreachable; its count ${n} should be only${extra.slice(2)}`, -1);
        if (leaked) this.stats.eraLeaks = (this.stats.eraLeaks ?? 0) + 1;
      } else if (freed !== 1) {
        this.fail(freed === 0 ? 'leak' : 'double-free', `object ${o.label} is unreachable after the final collection but was freed ${freed} times (once expected)`, -1);
      }
    }
    for (const t of run.temps) {
      if (t.freedTimes !== 1) this.fail(t.freedTimes === 0 ? 'leak' : 'double-free', `an on_free temporary was freed ${t.freedTimes} times (once expected)`, -1);
    }
  }
}

/** Everything one program needs before it runs: its binary (the cache key), parsed module and model. */
export interface PreparedProgram {
  program: Program;
  /**
   * The program's binary as a latin1 string: the key of its decoded module here and of its
   * compiled module in a runner (equal binaries are the same module). Cheaper than the text,
   * which is printed only when something reads `text` (a failure record, a test).
   */
  key: string;
  /** The program's WAT text (printed on first read). */
  readonly text: string;
  wasm: WasmModule;
  model: ModelResult;
}

/** Decoded modules by binary (PreparedProgram.key; arch-independent, shared by the runners of one process). */
const decodedCache = new Map<string, WasmModule>();

/**
 * Encodes (fuzz/encode.ts: no WAT printing or parsing per program), decodes, validates and
 * models `program`; its text is printed only if asked for.
 */
export async function prepareProgram(program: Program): Promise<PreparedProgram> {
  const bytes = encodeProgram(program);
  const key = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  let wasm = decodedCache.get(key);
  if (!wasm) {
    wasm = parseWasm(bytes);
    decodedCache.set(key, wasm);
    if (decodedCache.size > 512) decodedCache.delete(decodedCache.keys().next().value!);
  }
  let text: string | undefined;
  return {
    program, key, wasm, model: modelOf(program),
    get text() {
      return (text ??= printWat(program));
    },
  };
}
