import koffi from 'koffi';
import type * as Koffi from 'koffi';
import type { Arch } from '../isa/arch.ts';
import { createDisassembler } from '../isa/disasm.ts';
import { x64ScanBlock } from '../isa/x64/length.ts';
import { registersOf } from '../isa/registers.ts';
import { cpuOf } from '../isa/cpu.ts';
import { NativeHelperError, UNICORN_APT_LINE, loadNativeHelper } from './native-helper.ts';
import {
  EngineError, PAGE_SIZE, PROT_EXEC, PROT_READ, PROT_WRITE,
  type CallRegisters, type CpuEngine, type EngineContext, type EngineStop, type HookHandle, type InsertionAnswer, type MemoryAccess,
  type MemoryAccessKinds, type MemoryFault, type MemoryFaultKind, type BlockDescriber, type TraceSink,
} from './engine.ts';

/**
 * The native engine: Debian's libunicorn 2.0.1 through koffi, plus stackscope's C block hook
 * (simulator/native/stackscope_hooks.c; native-helper.ts finds, or builds, the library) for the instruction
 * counter, budget and timeout. Traps of this Unicorn version that shape the code below are
 * recorded in ../shared/reference/tooling.md and docs/engine.md.
 */

const UC_ARCH_ARM64 = 2;
const UC_ARCH_X86 = 4;
const UC_MODE_ARM = 0;
const UC_MODE_64 = 8;

const UC_HOOK_INTR = 1 << 0;
const UC_HOOK_CODE = 1 << 2;
const UC_HOOK_BLOCK = 1 << 3;
const UC_HOOK_MEM_READ_UNMAPPED = 1 << 4;
const UC_HOOK_MEM_WRITE_UNMAPPED = 1 << 5;
const UC_HOOK_MEM_FETCH_UNMAPPED = 1 << 6;
const UC_HOOK_MEM_READ_PROT = 1 << 7;
const UC_HOOK_MEM_WRITE_PROT = 1 << 8;
const UC_HOOK_MEM_FETCH_PROT = 1 << 9;
const UC_HOOK_MEM_READ = 1 << 10;
const UC_HOOK_MEM_WRITE = 1 << 11;
const UC_HOOK_MEM_FETCH = 1 << 12;
const UC_HOOK_MEM_INVALID =
  UC_HOOK_MEM_READ_UNMAPPED | UC_HOOK_MEM_WRITE_UNMAPPED | UC_HOOK_MEM_FETCH_UNMAPPED |
  UC_HOOK_MEM_READ_PROT | UC_HOOK_MEM_WRITE_PROT | UC_HOOK_MEM_FETCH_PROT;

/** uc_mem_type values as the memory callbacks receive them. */
const MEM_TYPE: Record<number, MemoryAccess['kind'] | MemoryFaultKind> = {
  16: 'read', 17: 'write', 18: 'fetch',
  19: 'read-unmapped', 20: 'write-unmapped', 21: 'fetch-unmapped',
  22: 'write-protected', 23: 'read-protected', 24: 'fetch-protected', 25: 'read',
};

/** UC_CTL(type, nr, rw) = type | nr << 26 | rw << 30; TB_REMOVE_CACHE = 9, write, 2 args. */
const UC_CTL_TB_REMOVE_CACHE = 9 | (2 << 26) | (1 << 30);

/** Reasons written by the native hook into the shared state (see stackscope_hooks.c). */
const REASON_NEW_BLOCK = 1;
const REASON_BUDGET = 2;
const REASON_TIMEOUT = 3;
const REASON_TRACE_FULL = 4;
/** Trace buffer of the detailed cycle model, in doubles (the native side keeps 2,049 free per block). */
const TRACE_CAPACITY = 1 << 16;
/** Shared state layout, in 64-bit words. */
const S_INSTRUCTIONS = 0, S_BLOCKS = 1, S_BUDGET = 2, S_DEADLINE = 3, S_NEW_ADDRESS = 4, S_NEW_SIZE_REASON = 5;
const S_LAST_ADDRESS = 7, S_LAST_SIZE_ICOUNT = 8, S_INTERRUPT = 9;
const STATE_BYTES = 128;
/** ss_call's io block (call_io in stackscope_hooks.c): header, then ids and 16-byte values. */
const CALL_RESET = 1, CALL_LIMITS = 2;
const IO_REGS = 32;
const IO_FLAGS = 4, IO_NWRITE = 5, IO_NREAD = 6, IO_RAN = 7; // in 32-bit words
const IO_WRITE_IDS = 32, IO_READ_IDS = IO_WRITE_IDS + 4 * IO_REGS;
const IO_WRITE_VALUES = IO_READ_IDS + 4 * IO_REGS, IO_READ_VALUES = IO_WRITE_VALUES + 16 * IO_REGS;
const IO_BYTES = IO_READ_VALUES + 16 * IO_REGS;
/** The insertion answer block (insert_answer in stackscope_hooks.c): 64-bit words stub, chunk
 * base, chunk capacity; 32-bit armed and mark; the answered count; 32-bit arch and arena count;
 * the table pointer; 64 arenas of three words. */
const A_STUB = 0, A_CHUNK_BASE = 1, A_CHUNK_CAPACITY = 2, A_ANSWERED = 4; // 64-bit words
const A_ARMED = 6, A_MARK = 7, A_ARCH = 10; // 32-bit words
const ANSWER_BYTES = 56 + 64 * 24;
/** performance.now() and the native helper's CLOCK_MONOTONIC differ by a constant: the offset
 * (taken once) lets `now()` skip a call into native code. */
let clockOffsetMs: number | undefined;

/**
 * The native deadline clock (CLOCK_MONOTONIC) minus performance.now(), in ms. Each sample reads
 * the native clock between two performance.now() readings and takes their midpoint; the sample
 * with the narrowest bracket wins. (One unbracketed pair was off by however long the process was
 * preempted between the two reads, 20 ms on a loaded machine, and every deadline came that much
 * early: a 150 ms timeout fired after 127 ms.)
 */
function clockOffset(helper: { nowNs: () => bigint }): number {
  let offset = 0;
  let narrowest = Infinity;
  for (let i = 0; i < 8; i++) {
    const before = performance.now();
    const native = Number(helper.nowNs()) / 1e6;
    const after = performance.now();
    if (after - before < narrowest) {
      narrowest = after - before;
      offset = native - (before + after) / 2;
    }
  }
  return offset;
}

const UNLIMITED = 0xffff_ffff_ffff_ffffn;

interface UnicornLib {
  open: (arch: number, mode: number, out: unknown[]) => number;
  close: (uc: unknown) => number;
  strerror: (code: number) => string;
  memMapPtr: (uc: unknown, address: bigint, size: number, perms: number, ptr: Uint8Array) => number;
  memUnmap: (uc: unknown, address: bigint, size: number) => number;
  memProtect: (uc: unknown, address: bigint, size: number, perms: number) => number;
  memRead: (uc: unknown, address: bigint, out: Uint8Array, size: number) => number;
  memWrite: (uc: unknown, address: bigint, bytes: Uint8Array, size: number) => number;
  regRead: (uc: unknown, id: number, out: BigUint64Array) => number;
  regWrite: (uc: unknown, id: number, value: BigUint64Array) => number;
  regReadBatch: (uc: unknown, ids: Int32Array, vals: BigUint64Array, count: number) => number;
  emuStart: (uc: unknown, begin: bigint, until: bigint, timeout: bigint, count: number) => number;
  emuStop: (uc: unknown) => number;
  hookAdd: (...args: unknown[]) => number;
  hookDel: (uc: unknown, hh: bigint) => number;
  ctl: (...args: unknown[]) => number;
  contextAlloc: (uc: unknown, out: unknown[]) => number;
  contextSave: (uc: unknown, ctx: unknown) => number;
  contextRestore: (uc: unknown, ctx: unknown) => number;
  contextFree: (ctx: unknown) => number;
  protoIntr: Koffi.TypeObject;
  protoCode: Koffi.TypeObject;
  protoMem: Koffi.TypeObject;
}

interface HelperLib {
  create: (state: Uint8Array) => unknown;
  destroy: (ctx: unknown) => void;
  install: (uc: unknown, ctx: unknown, out: BigUint64Array) => number;
  setBlock: (ctx: unknown, address: bigint, size: number, icount: number, cost: bigint) => number;
  resetCounts: (ctx: unknown) => void;
  syncIn: (ctx: unknown) => void;
  syncOut: (ctx: unknown) => void;
  trace: (uc: unknown, ctx: unknown, buffer: Float64Array | null, capacity: number, accesses: number, out: BigUint64Array) => number;
  traceTake: (ctx: unknown) => number;
  forgetRange: (ctx: unknown, lo: bigint, hi: bigint) => void;
  codeAdd: (ctx: unknown, address: bigint, flags: Uint8Array, size: bigint) => number;
  codeForget: (ctx: unknown, lo: bigint, hi: bigint) => void;
  dump: (ctx: unknown, out: BigUint64Array, max: bigint) => bigint;
  nowNs: () => bigint;
  pageCollections: () => number | bigint;
  fastStoresClear: (uc: unknown) => void;
  fastStoresAdd: (uc: unknown, guest: bigint, size: bigint, host: Uint8Array) => number;
  fastStoresMarked: (uc: unknown) => number | bigint;
  engineOpen: (uc: unknown, arch: number) => number;
  engineClose: (uc: unknown) => void;
  exactFaults: (uc: unknown, out: BigUint64Array) => number;
  storeFaultsExit: (uc: unknown, out: BigUint64Array) => number;
  faultsRestored: (uc: unknown) => number | bigint;
  inlineCounting: (uc: unknown, on: number) => void;
  inlineCounters: (uc: unknown) => number | bigint;
  inlineCountersNear: (uc: unknown) => number | bigint;
  startChecksElided: (uc: unknown) => number | bigint;
  emuStart: (uc: unknown, begin: bigint, until: bigint, timeout: bigint, count: number) => number;
  call: (uc: unknown, ctx: unknown, io: Uint8Array) => number;
  stopOnInterrupts: (uc: unknown, ctx: unknown, out: BigUint64Array) => number;
  tlbFills: (uc: unknown) => number | bigint;
  tlbGrown: (uc: unknown) => number | bigint;
  memoryHooks: (uc: unknown, count: number) => void;
  exitChecksElided: (uc: unknown) => number | bigint;
  answerInsertions: (ctx: unknown, answer: Uint8Array | null, table: Uint8Array | null) => void;
  answerArena: (answer: Uint8Array, base: bigint, end: bigint, flags: Uint8Array) => number;
}

let unicorn: UnicornLib | undefined;
let helper: HelperLib | undefined;

function loadUnicorn(): UnicornLib {
  if (unicorn) return unicorn;
  // The native helper goes first: it brings libunicorn in as its dependency, and the dynamic
  // linker then binds libunicorn's calls to the store-path functions the helper replaces
  // (guest stores on Unicorn's fast path; see simulator/native/stackscope_hooks.c).
  loadHelper();
  let lib: Koffi.LibraryHandle;
  try {
    lib = koffi.load('libunicorn.so.2');
  } catch (e) {
    throw new NativeHelperError(`cannot load libunicorn.so.2: ${(e as Error).message}`, UNICORN_APT_LINE);
  }
  koffi.opaque('uc_engine');
  koffi.opaque('uc_context');
  const protoIntr = koffi.proto('void ss_hook_intr(uc_engine *uc, uint32_t intno, void *user)');
  const protoCode = koffi.proto('void ss_hook_code(uc_engine *uc, uint64_t address, uint32_t size, void *user)');
  const protoMem = koffi.proto('bool ss_hook_mem(uc_engine *uc, int type, uint64_t address, int size, int64_t value, void *user)');
  unicorn = {
    open: lib.func('int uc_open(int arch, int mode, _Out_ uc_engine **uc)'),
    close: lib.func('int uc_close(uc_engine *uc)'),
    strerror: lib.func('const char *uc_strerror(int code)'),
    memMapPtr: lib.func('int uc_mem_map_ptr(uc_engine *uc, uint64_t address, size_t size, uint32_t perms, void *ptr)'),
    memUnmap: lib.func('int uc_mem_unmap(uc_engine *uc, uint64_t address, size_t size)'),
    memProtect: lib.func('int uc_mem_protect(uc_engine *uc, uint64_t address, size_t size, uint32_t perms)'),
    memRead: lib.func('int uc_mem_read(uc_engine *uc, uint64_t address, _Out_ void *bytes, size_t size)'),
    memWrite: lib.func('int uc_mem_write(uc_engine *uc, uint64_t address, const void *bytes, size_t size)'),
    regRead: lib.func('int uc_reg_read(uc_engine *uc, int regid, _Out_ void *value)'),
    regWrite: lib.func('int uc_reg_write(uc_engine *uc, int regid, const void *value)'),
    regReadBatch: lib.func('int uc_reg_read_batch(uc_engine *uc, int *regs, void *vals, int count)'),
    emuStart: lib.func('int uc_emu_start(uc_engine *uc, uint64_t begin, uint64_t until, uint64_t timeout, size_t count)'),
    emuStop: lib.func('int uc_emu_stop(uc_engine *uc)'),
    hookAdd: lib.func('int uc_hook_add(uc_engine *uc, _Out_ uint64_t *hh, int type, void *callback, void *user, uint64_t begin, uint64_t end, ...)'),
    hookDel: lib.func('int uc_hook_del(uc_engine *uc, uint64_t hh)'),
    ctl: lib.func('int uc_ctl(uc_engine *uc, int control, ...)'),
    contextAlloc: lib.func('int uc_context_alloc(uc_engine *uc, _Out_ uc_context **ctx)'),
    contextSave: lib.func('int uc_context_save(uc_engine *uc, uc_context *ctx)'),
    contextRestore: lib.func('int uc_context_restore(uc_engine *uc, uc_context *ctx)'),
    contextFree: lib.func('int uc_context_free(uc_context *ctx)'),
    protoIntr, protoCode, protoMem,
  };
  return unicorn;
}

function loadHelper(): HelperLib {
  if (helper) return helper;
  const { lib } = loadNativeHelper((path) => koffi.load(path));
  helper = {
    create: lib.func('void *ss_create(void *state)'),
    destroy: lib.func('void ss_destroy(void *ctx)'),
    install: lib.func('int ss_install(void *uc, void *ctx, _Out_ uint64_t *hh)'),
    setBlock: lib.func('int ss_set_block(void *ctx, uint64_t address, uint32_t size, uint32_t icount, uint64_t cost)'),
    resetCounts: lib.func('void ss_reset_counts(void *ctx)'),
    syncIn: lib.func('void ss_sync_in(void *ctx)'),
    syncOut: lib.func('void ss_sync_out(void *ctx)'),
    trace: lib.func('int ss_trace(void *uc, void *ctx, double *trace, uint32_t capacity, int accesses, _Out_ uint64_t *hh)'),
    traceTake: lib.func('uint32_t ss_trace_take(void *ctx)'),
    forgetRange: lib.func('void ss_forget_range(void *ctx, uint64_t lo, uint64_t hi)'),
    codeAdd: lib.func('int ss_code_add(void *ctx, uint64_t address, const uint8_t *flags, uint64_t size)'),
    codeForget: lib.func('void ss_code_forget(void *ctx, uint64_t lo, uint64_t hi)'),
    dump: lib.func('uint64_t ss_dump(void *ctx, _Out_ uint64_t *out, uint64_t max)'),
    nowNs: lib.func('int64_t ss_now_ns(void)'),
    pageCollections: lib.func('uint64_t ss_page_collections(void)'),
    fastStoresClear: lib.func('void ss_fast_stores_clear(void *uc)'),
    fastStoresAdd: lib.func('int ss_fast_stores_add(void *uc, uint64_t guest, uint64_t size, void *host)'),
    fastStoresMarked: lib.func('int64_t ss_fast_stores_marked(void *uc)'),
    engineOpen: lib.func('int ss_engine_open(void *uc, int arch)'),
    engineClose: lib.func('void ss_engine_close(void *uc)'),
    exactFaults: lib.func('int ss_exact_faults(void *uc, _Out_ uint64_t *hh)'),
    storeFaultsExit: lib.func('int ss_store_faults_exit(void *uc, _Out_ uint64_t *hh)'),
    faultsRestored: lib.func('uint64_t ss_faults_restored(void *uc)'),
    inlineCounting: lib.func('void ss_inline_counting(void *uc, int on)'),
    inlineCounters: lib.func('int64_t ss_inline_counters(void *uc)'),
    inlineCountersNear: lib.func('int64_t ss_inline_counters_near(void *uc)'),
    startChecksElided: lib.func('uint64_t ss_start_checks_elided(void *uc)'),
    emuStart: lib.func('int ss_emu_start(void *uc, uint64_t begin, uint64_t until, uint64_t timeout, size_t count)'),
    call: lib.func('int ss_call(void *uc, void *ctx, void *io)'),
    stopOnInterrupts: lib.func('int ss_stop_on_interrupts(void *uc, void *ctx, _Out_ uint64_t *hh)'),
    tlbFills: lib.func('uint64_t ss_tlb_fills(void *uc)'),
    tlbGrown: lib.func('uint64_t ss_tlb_grown(void *uc)'),
    memoryHooks: lib.func('void ss_memory_hooks(void *uc, int count)'),
    exitChecksElided: lib.func('uint64_t ss_exit_checks_elided(void *uc)'),
    answerInsertions: lib.func('void ss_answer_insertions(void *ctx, void *answer, void *table)'),
    answerArena: lib.func('int ss_answer_arena(void *answer, uint64_t base, uint64_t end, void *flags)'),
  };
  return helper;
}

/** Callback arguments declared uint64_t arrive as JS numbers (possibly negative); make them
 * unsigned 64-bit bigints again. */
function u64(value: number | bigint): bigint {
  return BigInt.asUintN(64, BigInt(value));
}

export type { BlockDescriber } from './engine.ts';

export interface UnicornOptions {
  /** Make the PC of a faulting memory access exact (docs/engine.md: how, and the fallback). */
  exactFaultPc?: boolean;
  /**
   * Count blocks with code generated into each translated block (the default) rather than a
   * call from each block to the native hook; `false` is for comparing the two (bench/timing,
   * tests). Either way the counts, budget stops and timeouts are the same (docs/engine.md).
   */
  inlineCounters?: boolean;
  /** Describes blocks for the native counter; the default counts instructions as Capstone
   * does (an undecodable tail counts as the one instruction that will fault), on x86-64 with
   * isa/x64/length.ts first and Capstone only for the forms it does not know. */
  describeBlock?: BlockDescriber;
}

function countingDescriber(arch: Arch): BlockDescriber {
  const size = cpuOf(arch).instructionSize;
  if (size !== undefined) return (_address, code) => ({ instructions: Math.floor(code.length / size) });
  let disassembler: ReturnType<typeof createDisassembler> | undefined;
  return (address, code) => {
    // Compiled code and trampolines decode without Capstone (isa/x64/length.ts answers only
    // when sure, with Capstone's count); anything else is counted by Capstone.
    const quick = x64ScanBlock(code);
    if (quick) return { instructions: quick.count };
    disassembler ??= createDisassembler(arch);
    const scan = disassembler.scan(code, address);
    return { instructions: scan.count + (scan.invalidAt === undefined ? 0 : 1) };
  };
}

/** `partial`: part of it was unmapped or changed protection; its `perms` no longer say it all. */
interface Mapping { address: bigint; size: number; perms: number; view: Uint8Array; partial?: boolean }

let nextHookId = 1;

type HookFn = (...args: never[]) => unknown;
/** What koffi's callback for a hook reaches through a WeakRef (see addHook). */
interface HookSlot {
  readonly fn: HookFn;
}

/** The highest guest address (a block cannot start there). */
const MAX_ADDRESS = (1n << 64n) - 1n;

/** ss_emu_start's error when Unicorn called abort() during the run (see the native helper). */
export const ENGINE_ABORTED = 1000;
const ABORTED_MESSAGE = 'Unicorn 2.0.1 aborted translating this code (an encoding it cannot handle, e.g. x86-64 lcall/ljmp with a register operand); the engine can run nothing more';

/**
 * What an engine holds outside the JS heap, kept apart from the engine object so that it can
 * be released when the engine is garbage-collected without close(). It must not reference
 * the engine: the finalization registry holds it strongly.
 */
interface NativeHandles {
  readonly lib: UnicornLib;
  uc: unknown;
  /** koffi callbacks registered for this engine (koffi allows 8,192 in a process). */
  readonly callbacks: Set<unknown>;
  helperCtx: unknown;
  aborted: boolean;
  /** Host buffers native code writes into (the counter's state, the trace buffer). */
  readonly buffers: unknown[];
  /** Saved-context buffers freed by their users, kept for the next saveContext. */
  readonly contexts: unknown[];
}

/**
 * One saved CPU state (UnicornEngine.saveContext). A class rather than two closures: a nested
 * call (a destructor re-entering guest code) saves one, and under tsx every closure made costs
 * a name definition.
 */
class SavedContext implements EngineContext {
  private freed = false;

  constructor(private readonly engine: UnicornEngine, private readonly ctx: unknown) {}

  restore(): void {
    this.engine.restoreContext(this.ctx);
  }

  free(): void {
    if (this.freed) return;
    this.freed = true;
    this.engine.releaseContext(this.ctx);
  }
}

/** Context buffers an engine keeps for reuse (nested calls seldom go deeper at once). */
const MAX_POOLED_CONTEXTS = 16;

function releaseNative(n: NativeHandles): void {
  if (n.uc === null) return;
  loadHelper().engineClose(n.uc); // before the engine's address can be reused
  // An engine Unicorn aborted in is half-way through a translation: closing it could fault.
  // Its memory is left behind.
  if (!n.aborted) n.lib.close(n.uc);
  n.uc = null;
  for (const cb of n.callbacks) koffi.unregister(cb as never);
  n.callbacks.clear();
  if (n.helperCtx) loadHelper().destroy(n.helperCtx);
  n.helperCtx = null;
  n.buffers.length = 0;
  for (const ctx of n.contexts) n.lib.contextFree(ctx);
  n.contexts.length = 0;
}

/**
 * Engines dropped without close() (a Machine or Store the embedder forgot) are closed when
 * collected. Nothing global references an engine strongly: koffi's callbacks reach it through
 * WeakRefs.
 */
const reclaim = new FinalizationRegistry<NativeHandles>((n) => {
  unicornEngineCounts.reclaimed++;
  releaseNative(n);
});

/** Engines opened, closed, and reclaimed (collected without close()) in this process. */
export const unicornEngineCounts = { opened: 0, closed: 0, reclaimed: 0 };

class UnicornEngine implements CpuEngine {
  readonly name = 'unicorn-2.0.1-native';
  private readonly lib: UnicornLib;
  private readonly uc: unknown;
  private mappings: Mapping[] = [];
  private readonly regBuf = new BigUint64Array(8);
  private readonly hooks = new Map<number, { hh: bigint; callback: bigint; slot: HookSlot | null; access: boolean }>();
  /** Hooks on valid data accesses (the native helper translates accesses without an exit
   * check while there are none; see stackscope_hooks.c). */
  private accessHooks = 0;
  private readonly native: NativeHandles;
  private readonly batchCache = new Map<string, { ids: Int32Array; ptrs: BigUint64Array; vals: BigUint64Array }>();
  private lastFault: MemoryFault | null = null;
  private readonly invalidListeners = new Map<number, (fault: MemoryFault) => void>();
  private exactFaultHooks: number[] = [];
  private closed = false;
  /** Unicorn aborted inside a run (ENGINE_ABORTED): the engine runs nothing more. */
  private aborted = false;
  private describer: BlockDescriber | undefined;
  private inspector: ((address: bigint, code: Uint8Array) => void) | undefined;
  /** describePlacedCode is taken: the engine counts with its default describer. */
  private placedCodeAllowed: boolean;
  private stopsForNewBlocks = 0;
  /** The `until` of the last start (see start). */
  private lastUntil = 0n;
  private traceSink: TraceSink | null = null;
  private traceBuffer: Float64Array | null = null;
  private traceAccessHook: bigint | null = null;
  // Native counter (lazily installed when limits are first enabled).
  private helperCtx: unknown = null;
  private state: Buffer | null = null;
  private stateWords: BigUint64Array | null = null;
  private stateU32: Uint32Array | null = null;
  /** Work setLimits and resetCounters leave to the next native call that needs it. */
  private resetPending = false;
  private limitsPending = false;
  /** The state's totals are up to date (ss_sync_out wrote them, nothing ran or changed since). */
  private countersFresh = false;
  private interruptsStop = false;
  /** answerInsertions was called (one per engine). */
  private answering = false;
  /** ss_call's io block and the views `callRegisters` hands out. */
  private readonly io = Buffer.alloc(IO_BYTES);
  private readonly ioU32 = new Uint32Array(this.io.buffer, this.io.byteOffset, IO_BYTES / 4);
  private readonly ioWords = new BigUint64Array(this.io.buffer, this.io.byteOffset, 2);
  /** Addresses of the io block's read slots, for uc_reg_read_batch. */
  private readPointers: BigUint64Array | undefined;
  readonly callRegisters: CallRegisters = {
    writeIds: new Int32Array(this.io.buffer, this.io.byteOffset + IO_WRITE_IDS, IO_REGS),
    writeValues: new BigUint64Array(this.io.buffer, this.io.byteOffset + IO_WRITE_VALUES, 2 * IO_REGS),
    writeCount: 0,
    readIds: new Int32Array(this.io.buffer, this.io.byteOffset + IO_READ_IDS, IO_REGS),
    readValues: new BigUint64Array(this.io.buffer, this.io.byteOffset + IO_READ_VALUES, 2 * IO_REGS),
    readCount: 0,
  };

  constructor(readonly arch: Arch, private readonly options: UnicornOptions) {
    this.lib = loadUnicorn();
    this.placedCodeAllowed = options.describeBlock === undefined;
    const out: unknown[] = [null];
    const err = arch === 'x64' ? this.lib.open(UC_ARCH_X86, UC_MODE_64, out) : this.lib.open(UC_ARCH_ARM64, UC_MODE_ARM, out);
    this.check('uc_open', err);
    this.uc = out[0];
    this.native = { lib: this.lib, uc: this.uc, callbacks: new Set(), helperCtx: null, aborted: false, buffers: [], contexts: [] };
    unicornEngineCounts.opened++;
    reclaim.register(this, this.native, this.native);
    try {
      this.setUp(arch, options);
    } catch (e) {
      this.close(); // an engine that failed half-way set up must not hold its callbacks
      throw e;
    }
  }

  private setUp(arch: Arch, options: UnicornOptions): void {
    // Any register access makes Unicorn build its CPU, which the native helper looks for.
    const regs = registersOf(arch);
    this.regRead(regs.ids[regs.pc]);
    const h = loadHelper();
    const cpuFound = h.engineOpen(this.uc, arch === 'x64' ? 0 : 1);
    if (cpuFound < 0) throw new EngineError('ss_engine_open', -1, 'native helper out of memory for another engine');
    if (options.inlineCounters === false) h.inlineCounting(this.uc, 0);
    if (options.exactFaultPc) {
      // Exact fault PCs: restored by the helper's invalid-access hook (which must come before
      // the fault recorder), or, where it cannot work, by access hooks over every hole.
      if (cpuFound === 1) {
        const hh = new BigUint64Array(1);
        this.check('uc_hook_add(native fault PC)', h.exactFaults(this.uc, hh));
        this.exactFaultMethod = 'restore';
      } else {
        this.exactFaultMethod = 'hooks';
      }
    }
    this.installFaultRecorder();
    // After the recorder, last: a faulting store leaves its block at once, so stores are
    // translated without Unicorn's exit check after them (docs/engine.md).
    if (cpuFound === 1) this.storeFaultsExit = h.storeFaultsExit(this.uc, new BigUint64Array(1)) === 0;
    if (this.exactFaultMethod === 'hooks') this.refreshExactFaultHooks();
  }

  /** Whether a faulting store leaves its block at once (the native helper's last invalid-access
   * hook), so stores, like loads, need no exit check while no access hook is on. */
  storeFaultsExit = false;

  /**
   * How exact fault PCs are obtained: `restore` (the native helper restores the PC from the
   * translated code's return address when an access faults; free otherwise), `hooks` (access
   * hooks over every hole; every load and store takes Unicorn's slow path), or `off`.
   */
  exactFaultMethod: 'restore' | 'hooks' | 'off' = 'off';

  /** Faulting accesses whose PC the native helper restored so far. */
  faultPcsRestored(): number {
    return Number(loadHelper().faultsRestored(this.uc));
  }

  /** After close() the engine's native handle is gone: using it would touch freed memory. */
  private throwClosed(): never {
    throw new EngineError('engine', -1, 'used after close() (Machine.close, Store.close)');
  }

  private check(operation: string, err: number, address?: bigint): void {
    if (err !== 0) throw new EngineError(operation, err, this.lib.strerror(err), address);
  }

  private installFaultRecorder(): void {
    const weak = new WeakRef<UnicornEngine>(this);
    const cb = koffi.register((_uc: unknown, type: number, address: number | bigint, size: number) => {
      const self = weak.deref();
      if (self === undefined) return false;
      const fault = { kind: MEM_TYPE[type] as MemoryFaultKind, address: u64(address), size };
      self.lastFault = fault;
      for (const listener of self.invalidListeners.values()) listener(fault);
      return false;
    }, koffi.pointer(this.lib.protoMem));
    this.native.callbacks.add(cb);
    const hh = new BigUint64Array(1);
    const err = this.lib.hookAdd(this.uc, hh, UC_HOOK_MEM_INVALID, cb, null, 1n, 0n);
    if (err !== 0) {
      koffi.unregister(cb);
      this.native.callbacks.delete(cb);
    }
    this.check('uc_hook_add(mem invalid)', err);
    // Kept with the other hooks so close() unregisters it: koffi allows 8,192 live callbacks
    // per process.
    this.hooks.set(nextHookId++, { hh: hh[0], callback: cb, slot: null, access: false });
  }

  /**
   * Unicorn 2.0.1 leaves the PC at the start of the translation block after a faulting
   * access; it is exact only when a memory-access hook covers the faulting address. So, when
   * asked, we cover every address that can fault — the holes between readable (for reads) and
   * writable (for writes) mappings — with hooks whose callback never runs for a valid access.
   */
  private refreshExactFaultHooks(): void {
    for (const id of this.exactFaultHooks) this.removeHook({ id });
    this.exactFaultHooks = [];
    const noop = () => undefined;
    const holes = (need: number): Array<[bigint, bigint]> => {
      const out: Array<[bigint, bigint]> = [];
      let cursor = 0n;
      const sorted = this.mappings.filter((m) => m.perms & need).sort((a, b) => (a.address < b.address ? -1 : 1));
      for (const m of sorted) {
        if (m.address > cursor) out.push([cursor, m.address - 1n]);
        cursor = m.address + BigInt(m.size);
      }
      out.push([cursor, UNLIMITED]);
      return out;
    };
    for (const [lo, hi] of holes(PROT_READ)) this.exactFaultHooks.push(this.hookMemory({ read: true }, noop, lo, hi).id);
    for (const [lo, hi] of holes(PROT_WRITE)) this.exactFaultHooks.push(this.hookMemory({ write: true }, noop, lo, hi).id);
  }

  map(address: bigint, size: number, perms: number): Uint8Array {
    if (this.closed) this.throwClosed();
    if (size <= 0 || size % PAGE_SIZE !== 0 || address % BigInt(PAGE_SIZE) !== 0n) {
      throw new EngineError('uc_mem_map_ptr', 15, `address and size must be page-aligned and size > 0 (size ${size})`, address);
    }
    const view = pageAlignedBuffer(size);
    this.check('uc_mem_map_ptr', this.lib.memMapPtr(this.uc, address, size, perms, view), address);
    this.mappings.push({ address, size, perms, view });
    if (this.exactFaultMethod === 'hooks') this.refreshExactFaultHooks();
    this.refreshFastStores();
    return view;
  }

  /**
   * Tells the native helper which mappings are writable and not executable: after the first
   * store to one of their pages, stores there take Unicorn's fast path (see
   * simulator/native/stackscope_hooks.c). A mapping only part of which changed protection is
   * left out.
   */
  private refreshFastStores(): void {
    const h = loadHelper();
    h.fastStoresClear(this.uc);
    for (const m of this.mappings) {
      if (m.partial || !(m.perms & PROT_WRITE) || m.perms & PROT_EXEC) continue;
      if (h.fastStoresAdd(this.uc, m.address, BigInt(m.size), m.view) !== 0) throw new EngineError('ss_fast_stores_add', -1, 'native helper out of memory', m.address);
    }
  }

  /** New blocks the native counter stopped for so the host could describe them (blocks of
   * code described at placement, describePlacedCode, are counted without a stop). */
  newBlockStops(): number {
    return this.stopsForNewBlocks;
  }

  /** Blocks translated so far with an inline counter (no call per block); -1 if Unicorn's
   * code generator could not be used for them (the blocks call the native hook). */
  inlineBlockCounters(): number {
    return Number(loadHelper().inlineCounters(this.uc));
  }

  /** Of those, the blocks whose counter reaches its count from the CPU state pointer the
   * translated code holds in a register (no constant address to load; stackscope_hooks.c,
   * "Inline counters"). */
  nearInlineBlockCounters(): number {
    return Number(loadHelper().inlineCountersNear(this.uc));
  }

  /** Blocks translated without Unicorn's exit check at their start: counted inline by a
   * counter whose call leaves the block itself when it stops the run. */
  blockStartChecksElided(): number {
    return Number(loadHelper().startChecksElided(this.uc));
  }

  /** TLB entries Unicorn filled so far, and the flushes the native helper made to let the TLB
   * grow (see stackscope_hooks.c, "TLB fills"). */
  tlbFills(): { fills: number; growths: number } {
    const h = loadHelper();
    return { fills: Number(h.tlbFills(this.uc)), growths: Number(h.tlbGrown(this.uc)) };
  }

  /** Pages the native helper marked dirty so stores to them are fast; -1 if it could not (slow stores). */
  fastStorePages(): number {
    return Number(loadHelper().fastStoresMarked(this.uc));
  }

  unmap(address: bigint, size: number): void {
    if (this.closed) this.throwClosed();
    this.check('uc_mem_unmap', this.lib.memUnmap(this.uc, address, size), address);
    const end = address + BigInt(size);
    this.forgetPlacedCode(address, end);
    this.mappings = this.mappings.filter((m) => !(m.address >= address && m.address + BigInt(m.size) <= end));
    for (const m of this.mappings) if (m.address < end && address < m.address + BigInt(m.size)) m.partial = true;
    if (this.exactFaultMethod === 'hooks') this.refreshExactFaultHooks();
    this.refreshFastStores();
  }

  protect(address: bigint, size: number, perms: number): void {
    if (this.closed) this.throwClosed();
    this.check('uc_mem_protect', this.lib.memProtect(this.uc, address, size, perms), address);
    const end = address + BigInt(size);
    this.forgetPlacedCode(address, end);
    for (const m of this.mappings) {
      if (m.address === address && m.size === size) m.perms = perms;
      else if (m.address < end && address < m.address + BigInt(m.size)) m.partial = true;
    }
    // Code translated from these pages must not outlive their execute permission: stores to
    // them may take the fast path, which does not look for translated code.
    this.check('uc_ctl(TB_REMOVE_CACHE)', this.lib.ctl(this.uc, UC_CTL_TB_REMOVE_CACHE, 'uint64_t', address, 'uint64_t', end));
    if (this.exactFaultMethod === 'hooks') this.refreshExactFaultHooks();
    this.refreshFastStores();
  }

  read(address: bigint, length: number): Uint8Array {
    if (this.closed) this.throwClosed();
    const out = new Uint8Array(length);
    if (length > 0) this.check('uc_mem_read', this.lib.memRead(this.uc, address, out, length), address);
    return out;
  }

  write(address: bigint, bytes: Uint8Array): void {
    if (this.closed) this.throwClosed();
    if (bytes.length > 0) this.check('uc_mem_write', this.lib.memWrite(this.uc, address, bytes, bytes.length), address);
  }

  invalidateCode(begin: bigint, end: bigint): void {
    if (this.closed) this.throwClosed();
    this.check('uc_ctl(TB_REMOVE_CACHE)', this.lib.ctl(this.uc, UC_CTL_TB_REMOVE_CACHE, 'uint64_t', begin, 'uint64_t', end));
    if (this.helperCtx) {
      loadHelper().forgetRange(this.helperCtx, begin, end);
      this.countersFresh = false;
    }
  }

  regRead(id: number): bigint {
    if (this.closed) this.throwClosed();
    this.check('uc_reg_read', this.lib.regRead(this.uc, id, this.regBuf));
    return this.regBuf[0];
  }

  regWrite(id: number, value: bigint): void {
    if (this.closed) this.throwClosed();
    this.regBuf[0] = BigInt.asUintN(64, value);
    this.regBuf[1] = 0n; // the upper half of a 128-bit register (XMM, Q) written through this
    this.check('uc_reg_write', this.lib.regWrite(this.uc, id, this.regBuf));
  }

  regReadBatch(ids: readonly number[], out: BigUint64Array): void {
    if (this.closed) this.throwClosed();
    const key = ids.join(',');
    let entry = this.batchCache.get(key);
    if (!entry) {
      // At least 64 bytes each so V8 keeps the arrays off-heap and their addresses stable.
      const n = Math.max(ids.length, 8);
      const vals = new BigUint64Array(n);
      const ptrs = new BigUint64Array(n);
      const base = BigInt(koffi.address(vals) as bigint);
      for (let i = 0; i < ids.length; i++) ptrs[i] = base + BigInt(8 * i);
      entry = { ids: Int32Array.from(ids), ptrs, vals };
      this.batchCache.set(key, entry);
    }
    this.check('uc_reg_read_batch', this.lib.regReadBatch(this.uc, entry.ids, entry.ptrs, ids.length));
    for (let i = 0; i < ids.length; i++) out[i] = entry.vals[i];
  }

  saveContext(): EngineContext {
    if (this.closed) this.throwClosed();
    // A context is the whole CPU state (5.4 KiB on x86-64, 12.3 KiB on AArch64). Freed ones
    // are kept for the next save, not freed and allocated again at every nested call (a
    // destructor re-entering guest code), and given back when the engine closes.
    let ctx = this.native.contexts.pop();
    if (ctx === undefined) {
      const out: unknown[] = [null];
      this.check('uc_context_alloc', this.lib.contextAlloc(this.uc, out));
      ctx = out[0];
    }
    const status = this.lib.contextSave(this.uc, ctx);
    if (status !== 0) this.native.contexts.push(ctx);
    this.check('uc_context_save', status);
    return new SavedContext(this, ctx);
  }

  /** SavedContext.restore. */
  restoreContext(ctx: unknown): void {
    this.check('uc_context_restore', this.lib.contextRestore(this.uc, ctx));
  }

  /** SavedContext.free: back to the pool, or freed when the pool is full or the engine closed. */
  releaseContext(ctx: unknown): void {
    if (this.closed || this.native.contexts.length >= MAX_POOLED_CONTEXTS) this.lib.contextFree(ctx);
    else this.native.contexts.push(ctx);
  }

  start(begin: bigint, until = 0n): EngineStop {
    if (this.closed) this.throwClosed();
    this.prepareRun(until);
    return this.run(begin, until, false);
  }

  startCall(begin: bigint, until: bigint): EngineStop {
    if (this.closed) this.throwClosed();
    this.ensureCounter();
    this.prepareRun(until);
    const regs = this.callRegisters;
    if (regs.writeCount > IO_REGS || regs.readCount > IO_REGS) throw new EngineError('ss_call', -1, `at most ${IO_REGS} registers are written and read`);
    return this.run(begin, until, true);
  }

  /** Unicorn 2.0.1 checks `until` when it translates a block: a block at the new `until`
   * translated in an earlier run (and jumps chained to it) would run on. Translate it again. */
  private prepareRun(until: bigint): void {
    if (until !== 0n && until !== this.lastUntil && until < MAX_ADDRESS) this.invalidateCode(until, until + 1n);
    this.lastUntil = until;
  }

  /** Runs until a stop the caller must see (new blocks are described and resumed here). The
   * first run is ss_call's when `call` is set. */
  private run(begin: bigint, until: bigint, call: boolean): EngineStop {
    let pc = begin;
    let first = call;
    for (;;) {
      this.lastFault = null;
      this.countersFresh = false;
      let error: number;
      if (first) {
        const io = this.ioU32;
        io[IO_FLAGS] = (this.resetPending ? CALL_RESET : 0) | (this.limitsPending ? CALL_LIMITS : 0);
        this.resetPending = false;
        this.limitsPending = false;
        io[IO_NWRITE] = this.callRegisters.writeCount;
        io[IO_NREAD] = this.callRegisters.readCount;
        this.ioWords[0] = pc;
        this.ioWords[1] = until;
        error = loadHelper().call(this.uc, this.helperCtx, this.io);
        if (io[IO_RAN] === 0) this.check('ss_call (register writes)', error);
      } else {
        this.applyPending();
        if (this.stateU32) {
          this.stateU32[S_NEW_SIZE_REASON * 2 + 1] = 0;
          this.stateU32[S_INTERRUPT * 2] = 0;
        }
        error = loadHelper().emuStart(this.uc, pc, until, 0n, 0);
      }
      if (error === ENGINE_ABORTED) {
        this.aborted = true;
        this.native.aborted = true;
        return { error, message: ABORTED_MESSAGE, limit: null, newBlock: null, fault: null, interrupt: null };
      }
      const u32 = this.stateU32;
      const reason = u32 ? u32[S_NEW_SIZE_REASON * 2 + 1] : 0;
      if (this.traceSink) this.drainTrace();
      if (reason === REASON_TRACE_FULL && error === 0) {
        pc = this.stateWords![S_NEW_ADDRESS];
      } else if (reason === REASON_NEW_BLOCK && error === 0) {
        const address = this.stateWords![S_NEW_ADDRESS];
        this.describe(address, u32![S_NEW_SIZE_REASON * 2]);
        pc = address;
      } else {
        // ss_call read the registers at its own stop: read them again at the final one.
        if (call && !first) this.readCallRegisters();
        const interrupt = u32 && this.interruptsStop ? u32[S_INTERRUPT * 2] : 0;
        return {
          error,
          message: error ? this.lib.strerror(error) : '',
          limit: reason === REASON_BUDGET ? 'budget' : reason === REASON_TIMEOUT ? 'timeout' : null,
          newBlock: null,
          fault: error ? this.lastFault : null,
          interrupt: interrupt === 0 ? null : interrupt - 1,
        };
      }
      first = false;
    }
  }

  private readCallRegisters(): void {
    const regs = this.callRegisters;
    if (!this.readPointers) {
      // The io block is off the V8 heap (over 64 bytes): its slots' addresses are stable.
      const base = BigInt(koffi.address(this.io) as bigint) + BigInt(IO_READ_VALUES);
      this.readPointers = BigUint64Array.from({ length: IO_REGS }, (_, i) => base + BigInt(16 * i));
    }
    for (let i = 0; i < regs.readCount; i++) regs.readValues[2 * i + 1] = 0n;
    this.check('uc_reg_read_batch', this.lib.regReadBatch(this.uc, regs.readIds, this.readPointers, regs.readCount));
  }

  answerInsertions(stub: bigint, table: Uint8Array, chunkBase: bigint, chunkCapacity: number): InsertionAnswer {
    if (this.closed) this.throwClosed();
    if (!this.interruptsStop) throw new EngineError('ss_answer_insertions', -1, 'answers need the native interrupt stop (stopOnInterrupts) first');
    if (this.answering) throw new EngineError('ss_answer_insertions', -1, 'the engine answers one host function already');
    if (table.byteLength < 32) throw new EngineError('ss_answer_insertions', -1, `the table view has ${table.byteLength} bytes, not 32`);
    const h = loadHelper();
    // Off the V8 heap (a Buffer's memory), so the helper keeps its address.
    const block = Buffer.alloc(ANSWER_BYTES);
    const words = new BigUint64Array(block.buffer, block.byteOffset, ANSWER_BYTES / 8);
    const u32 = new Uint32Array(block.buffer, block.byteOffset, ANSWER_BYTES / 4);
    words[A_STUB] = stub;
    words[A_CHUNK_BASE] = chunkBase;
    words[A_CHUNK_CAPACITY] = BigInt(chunkCapacity);
    u32[A_ARCH] = this.arch === 'x64' ? 0 : 1;
    // What the helper points at lives as long as the engine's native handles.
    this.native.buffers.push(block, table);
    h.answerInsertions(this.helperCtx, block, table);
    this.answering = true;
    const native = this.native;
    return {
      setArmed: (armed) => void (u32[A_ARMED] = armed ? 1 : 0),
      setMark: (mark) => void (u32[A_MARK] = mark),
      addArena: (base, end, flags) => {
        if (native.uc === null) return false;
        native.buffers.push(flags);
        return h.answerArena(block, BigInt(base), BigInt(end), flags) === 0;
      },
      takeAnswered: () => {
        const n = u32[2 * A_ANSWERED] + u32[2 * A_ANSWERED + 1] * 2 ** 32;
        if (n !== 0) words[A_ANSWERED] = 0n;
        return n;
      },
    };
  }

  stopOnInterrupts(): void {
    if (this.closed) this.throwClosed();
    if (this.interruptsStop) return;
    this.ensureCounter();
    this.check('uc_hook_add(native interrupt stop)', loadHelper().stopOnInterrupts(this.uc, this.helperCtx, new BigUint64Array(1)));
    this.interruptsStop = true;
  }

  /** Applies a counter reset and limits set since the last native call that needed them. */
  private applyPending(): void {
    if (!this.resetPending && !this.limitsPending) return;
    const h = loadHelper();
    if (this.resetPending) {
      this.stateWords![S_INSTRUCTIONS] = 0n;
      this.stateWords![S_BLOCKS] = 0n;
      h.resetCounts(this.helperCtx);
    }
    h.syncIn(this.helperCtx);
    this.resetPending = false;
    this.limitsPending = false;
  }

  private describe(address: bigint, size: number): void {
    this.stopsForNewBlocks++;
    this.describer ??= this.options.describeBlock ?? countingDescriber(this.arch);
    const code = this.codeBytes(address, size);
    this.inspector?.(address, code);
    const { instructions, costMilli = 0 } = this.describer(address, code);
    if (loadHelper().setBlock(this.helperCtx, address, size, instructions, BigInt(Math.round(costMilli))) !== 0) {
      throw new EngineError('ss_set_block', -1, 'native helper out of memory', address);
    }
  }

  /** A copy of a new block's bytes: from the host memory behind its mapping (every mapping is
   * host memory given to Unicorn), without a native read; a mapping that was partly unmapped
   * or re-protected is read through Unicorn. */
  private codeBytes(address: bigint, size: number): Uint8Array {
    const end = address + BigInt(size);
    for (const m of this.mappings) {
      if (m.partial || address < m.address || end > m.address + BigInt(m.size)) continue;
      const offset = Number(address - m.address);
      return m.view.slice(offset, offset + size);
    }
    return this.read(address, size);
  }

  stop(): void {
    this.lib.emuStop(this.uc);
  }

  private addHook(type: number, proto: Koffi.TypeObject, fn: HookFn, begin: bigint, end: bigint): HookHandle {
    if (this.closed) this.throwClosed();
    // koffi keeps what it registers for ever (until unregistered): it gets a WeakRef to the
    // hook, which only this engine holds, so a dropped engine is not kept alive by it.
    const slot: HookSlot = { fn };
    const weak = new WeakRef(slot);
    const callback = koffi.register(
      (a: never, b: never, c: never, d: never, e: never, f: never) => weak.deref()?.fn(a, b, c, d, e, f) ?? false,
      koffi.pointer(proto),
    );
    const hh = new BigUint64Array(1);
    const err = this.lib.hookAdd(this.uc, hh, type, callback, null, begin, end);
    if (err !== 0) {
      koffi.unregister(callback);
      this.check('uc_hook_add', err);
    }
    this.native.callbacks.add(callback);
    const id = nextHookId++;
    const access = (type & (UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE | UC_HOOK_MEM_FETCH)) !== 0;
    this.hooks.set(id, { hh: hh[0], callback, slot, access });
    if (access) this.countAccessHooks(1);
    return { id };
  }

  hookInterrupt(cb: (intno: number) => void): HookHandle {
    return this.addHook(UC_HOOK_INTR, this.lib.protoIntr, (_uc: unknown, intno: number) => cb(intno), 1n, 0n);
  }

  hookBlock(cb: (address: bigint, size: number) => void, begin = 1n, end = 0n): HookHandle {
    return this.addHook(UC_HOOK_BLOCK, this.lib.protoCode, (_uc: unknown, a: number, s: number) => cb(u64(a), s), begin, end);
  }

  hookCode(cb: (address: bigint, size: number) => void, begin = 1n, end = 0n): HookHandle {
    return this.addHook(UC_HOOK_CODE, this.lib.protoCode, (_uc: unknown, a: number, s: number) => cb(u64(a), s), begin, end);
  }

  hookMemory(kinds: MemoryAccessKinds, cb: (access: MemoryAccess) => void, begin = 1n, end = 0n): HookHandle {
    const type = (kinds.read ? UC_HOOK_MEM_READ : 0) | (kinds.write ? UC_HOOK_MEM_WRITE : 0) | (kinds.fetch ? UC_HOOK_MEM_FETCH : 0);
    return this.addHook(type, this.lib.protoMem, (_uc: unknown, t: number, a: number, s: number, v: number) => {
      cb({ kind: MEM_TYPE[t] as MemoryAccess['kind'], address: u64(a), size: s, value: u64(v) });
      return true;
    }, begin, end);
  }

  hookBlockRaw(cb: (address: number, size: number) => void): HookHandle {
    return this.addHook(UC_HOOK_BLOCK, this.lib.protoCode, (_uc: unknown, a: number, s: number) => cb(a, s), 1n, 0n);
  }

  hookMemoryRaw(kinds: MemoryAccessKinds, cb: (write: boolean, address: number, size: number) => void): HookHandle {
    const type = (kinds.read ? UC_HOOK_MEM_READ : 0) | (kinds.write ? UC_HOOK_MEM_WRITE : 0);
    // uc_mem_type: UC_MEM_WRITE = 17.
    return this.addHook(type, this.lib.protoMem, (_uc: unknown, t: number, a: number, s: number) => {
      cb(t === 17, a, s);
      return true;
    }, 1n, 0n);
  }

  traceBlocks(sink: TraceSink | null, options: { accesses?: boolean } = {}): void {
    if (this.closed) this.throwClosed();
    this.ensureCounter();
    const h = loadHelper();
    if (this.traceAccessHook !== null) {
      this.check('uc_hook_del(trace accesses)', this.lib.hookDel(this.uc, this.traceAccessHook));
      this.traceAccessHook = null;
      this.countAccessHooks(-1);
    }
    this.traceSink = sink;
    if (!sink) {
      h.trace(this.uc, this.helperCtx, null, 0, 0, new BigUint64Array(1));
      this.traceBuffer = null;
      return;
    }
    // Off the V8 heap (a Buffer's memory), so its address stays fixed while C writes into it.
    const bytes = Buffer.alloc(TRACE_CAPACITY * 8);
    this.traceBuffer = new Float64Array(bytes.buffer, bytes.byteOffset, TRACE_CAPACITY);
    this.native.buffers.push(bytes);
    const hh = new BigUint64Array(1);
    this.check('ss_trace', h.trace(this.uc, this.helperCtx, this.traceBuffer, TRACE_CAPACITY, options.accesses ? 1 : 0, hh));
    if (options.accesses) {
      this.traceAccessHook = hh[0];
      this.countAccessHooks(1);
    }
    // Code translated before the access hook existed would not report its accesses.
    if (options.accesses) {
      for (const m of this.mappings) {
        this.check('uc_ctl(TB_REMOVE_CACHE)', this.lib.ctl(this.uc, UC_CTL_TB_REMOVE_CACHE, 'uint64_t', m.address, 'uint64_t', m.address + BigInt(m.size)));
      }
    }
  }

  private countAccessHooks(delta: number): void {
    this.accessHooks += delta;
    if (!this.closed) loadHelper().memoryHooks(this.uc, this.accessHooks);
  }

  /** Loads and stores translated without Unicorn's exit check after them, so far. */
  exitChecksElided(): number {
    return Number(loadHelper().exitChecksElided(this.uc));
  }

  private drainTrace(): void {
    const n = loadHelper().traceTake(this.helperCtx);
    if (n > 0) this.traceSink!(this.traceBuffer!, n);
  }

  setBlockInspector(inspect: ((address: bigint, code: Uint8Array) => void) | null): void {
    this.inspector = inspect ?? undefined;
  }

  setBlockDescriber(describe: BlockDescriber): void {
    this.describer = describe;
    this.ensureCounter();
    // Blocks registered earlier carry the old description; placed code is described by it too.
    this.placedCodeAllowed = false;
    loadHelper().codeForget(this.helperCtx, 0n, UNLIMITED);
    loadHelper().forgetRange(this.helperCtx, 0n, UNLIMITED);
  }

  describePlacedCode(address: bigint, flags: Uint8Array): boolean {
    if (this.closed) this.throwClosed();
    if (!this.placedCodeAllowed) return false;
    this.ensureCounter();
    if (loadHelper().codeAdd(this.helperCtx, address, flags, BigInt(flags.length)) !== 0) {
      throw new EngineError('ss_code_add', -1, 'native helper out of memory', address);
    }
    return true;
  }

  forgetPlacedCode(begin: bigint, end: bigint): void {
    if (this.closed) this.throwClosed();
    if (this.helperCtx) loadHelper().codeForget(this.helperCtx, begin, end);
  }

  hookInvalidMemory(cb: (fault: MemoryFault) => void): HookHandle {
    // One native hook (installed at open) records every invalid access; listeners share it.
    const id = nextHookId++;
    this.invalidListeners.set(id, cb);
    return { id };
  }

  removeHook(handle: HookHandle): void {
    if (this.invalidListeners.delete(handle.id)) return;
    const h = this.hooks.get(handle.id);
    if (!h) return;
    this.check('uc_hook_del', this.lib.hookDel(this.uc, h.hh));
    koffi.unregister(h.callback);
    this.native.callbacks.delete(h.callback);
    this.hooks.delete(handle.id);
    if (h.access) this.countAccessHooks(-1);
  }

  private ensureCounter(): void {
    if (this.helperCtx) return;
    const h = loadHelper();
    this.state = Buffer.alloc(STATE_BYTES);
    this.stateWords = new BigUint64Array(this.state.buffer, this.state.byteOffset, STATE_BYTES / 8);
    this.stateU32 = new Uint32Array(this.state.buffer, this.state.byteOffset, STATE_BYTES / 4);
    this.stateWords[S_BUDGET] = UNLIMITED;
    this.helperCtx = h.create(this.state);
    this.native.helperCtx = this.helperCtx;
    this.native.buffers.push(this.state);
    if (!this.helperCtx) throw new EngineError('ss_create', -1, 'native helper out of memory');
    const hh = new BigUint64Array(1);
    this.check('uc_hook_add(native block counter)', h.install(this.uc, this.helperCtx, hh));
    // Unicorn inserts hook calls when it translates a block: code translated before the
    // counter existed (a run without limits) would never reach it. Translate it again.
    for (const m of this.mappings) {
      this.check('uc_ctl(TB_REMOVE_CACHE)', this.lib.ctl(this.uc, UC_CTL_TB_REMOVE_CACHE, 'uint64_t', m.address, 'uint64_t', m.address + BigInt(m.size)));
    }
  }

  setLimits(limits: { budget: bigint | null; deadline: number | null }): void {
    if (this.closed) this.throwClosed();
    if (limits.budget === null && limits.deadline === null && !this.helperCtx) return;
    this.ensureCounter();
    const w = this.stateWords!;
    // The hook hands out the budget in per-block grants: before the next run it withdraws them
    // all and starts again from the new limits (ss_sync_in).
    w[S_BUDGET] = limits.budget === null ? UNLIMITED : limits.budget;
    w[S_DEADLINE] = limits.deadline === null ? 0n : BigInt(Math.round(limits.deadline * 1e6));
    this.limitsPending = true;
  }

  counters(): { instructions: bigint; blocks: bigint; lastBlock: { address: bigint; size: number; instructions: number } | null } {
    if (!this.stateWords || !this.stateU32) return { instructions: 0n, blocks: 0n, lastBlock: null };
    if (!this.countersFresh) {
      this.applyPending();
      loadHelper().syncOut(this.helperCtx);
      this.countersFresh = true;
    }
    const w = this.stateWords;
    const lastBlock = w[S_BLOCKS] === 0n ? null : {
      address: w[S_LAST_ADDRESS], size: this.stateU32[S_LAST_SIZE_ICOUNT * 2], instructions: this.stateU32[S_LAST_SIZE_ICOUNT * 2 + 1],
    };
    return { instructions: w[S_INSTRUCTIONS], blocks: w[S_BLOCKS], lastBlock };
  }

  resetCounters(): void {
    if (!this.stateWords) return;
    // Done before the next native call that needs it (keeps the budget and deadline).
    this.resetPending = true;
    this.countersFresh = false;
  }

  blockCounts(): Array<[bigint, number, number, bigint]> {
    if (!this.helperCtx) return [];
    this.applyPending();
    const h = loadHelper();
    let max = 4096;
    for (;;) {
      const out = new BigUint64Array(max * 4);
      const n = Number(h.dump(this.helperCtx, out, BigInt(max)));
      if (n < max) {
        const rows: Array<[bigint, number, number, bigint]> = [];
        for (let i = 0; i < n; i++) rows.push([out[4 * i], Number(out[4 * i + 1]), Number(out[4 * i + 2]), out[4 * i + 3]]);
        return rows;
      }
      max *= 4;
    }
  }

  now(): number {
    clockOffsetMs ??= clockOffset(loadHelper());
    return performance.now() + clockOffsetMs;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    reclaim.unregister(this.native);
    unicornEngineCounts.closed++;
    if (!this.aborted) {
      for (const id of [...this.hooks.keys()]) this.removeHook({ id });
    }
    this.hooks.clear();
    releaseNative(this.native);
    this.helperCtx = null;
    this.mappings = [];
  }
}

/**
 * Zeroed host memory for a guest mapping, starting on a host page boundary, so a guest
 * address and its host address share their offset in the page. Node's Buffers start anywhere;
 * with guest pages at arbitrary host offsets, whether the native hook's stack traffic and a
 * guest's hot data collide in the CPU's store-to-load checks (same low 12 address bits) was a
 * matter of chance per process, and cost up to 2.5× on a load loop (docs/engine.md).
 */
export function pageAlignedBuffer(size: number): Buffer {
  const raw = Buffer.alloc(size + PAGE_SIZE);
  const skip = (PAGE_SIZE - Number(koffi.address(raw) % BigInt(PAGE_SIZE))) % PAGE_SIZE;
  return raw.subarray(skip, skip + size);
}

/**
 * Loads libunicorn the way engines use it (after the native helper, whose replacements on
 * Unicorn's store path speed up guest stores). Code that loads libunicorn through koffi on its
 * own (bench/bare.ts) calls this first, so it runs the same library.
 */
export function ensureUnicornLoaded(): void {
  loadUnicorn();
}

/** Calls libunicorn made to the helper's page-collection replacement so far (0: not in effect, or no store yet). */
export function pageCollectionsReplaced(): bigint {
  return BigInt(loadHelper().pageCollections()); // koffi gives uint64_t as a number when it fits
}

/** Opens a native Unicorn engine for `arch`. Throws EngineError if libunicorn is missing. */
export function openUnicorn(arch: Arch, options: UnicornOptions = {}): CpuEngine {
  return new UnicornEngine(arch, options);
}
