import type { Arch } from '../isa/arch.ts';
import { StackscopeError, hex } from '../isa/error.ts';

/**
 * The CPU engine behind a Machine: a deliberately small, Unicorn-shaped interface (open, map,
 * read/write, registers, start/stop, hooks, limits), so another Unicorn build — a WebAssembly
 * one, say — can replace the native binding in simulator/unicorn.ts. Conveniences (named
 * regions, stacks, calling conventions, the host gateway) belong to Machine, not here.
 */
export interface CpuEngine {
  readonly arch: Arch;
  readonly name: string;

  /** Maps zero-filled guest memory and returns a host view of it (reads and writes through the
   * view are immediately visible to the guest, and vice versa). Address and size page-aligned. */
  map(address: bigint, size: number, perms: number): Uint8Array;
  unmap(address: bigint, size: number): void;
  protect(address: bigint, size: number, perms: number): void;
  /** Guest memory through the engine (slower than a view; works for any mapped range). */
  read(address: bigint, length: number): Uint8Array;
  write(address: bigint, bytes: Uint8Array): void;
  /** Drops translated code for [begin, end): call after the host rewrites executable memory. */
  invalidateCode(begin: bigint, end: bigint): void;

  regRead(id: number): bigint;
  regWrite(id: number, value: bigint): void;
  /** Reads several registers in one engine call into `out` (same order as `ids`). */
  regReadBatch(ids: readonly number[], out: BigUint64Array): void;
  saveContext(): EngineContext;

  /** Runs from `begin` until a stop, a fault, `until` (exclusive end address), a limit, or a
   * hook's stop(). Never throws for guest behaviour: the result says why it stopped. */
  start(begin: bigint, until?: bigint): EngineStop;
  /** Requests a stop; callable from hooks. */
  stop(): void;
  /**
   * Optional: `start` in one round trip to the engine together with what a call does around
   * it — the register writes listed in `callRegisters` before the run, a counter reset and
   * limits set since the last run, and the register reads listed there after the run stops
   * (their values are those at the final stop). Same result as doing each step on its own.
   */
  startCall?(begin: bigint, until: bigint): EngineStop;
  /** The registers `startCall` writes and reads (owned by the engine; at most 32 of each). */
  readonly callRegisters?: CallRegisters;
  /**
   * Optional: from now on every interrupt (CPU exception: a trap or undefined instruction...)
   * stops the run without a host callback, and `start` reports its number in
   * `EngineStop.interrupt`. Without it, use `hookInterrupt` and `stop`.
   */
  stopOnInterrupts?(): void;
  /**
   * Optional, with `stopOnInterrupts`: the v17 runtime's `activations_table_insert_with_gc`
   * calls through the gateway stub at `stub` that would change nothing (a collection running,
   * the object in the over-approximated set; docs/engine.md) are answered by the engine
   * without a stop, from the state the returned `InsertionAnswer` keeps: `table` is the host
   * view of the activations table struct (next, end, chunk pointer, length), the chunk starts
   * at `chunkBase` and holds at most `chunkCapacity` slots. One per engine.
   */
  answerInsertions?(stub: bigint, table: Uint8Array, chunkBase: bigint, chunkCapacity: number): InsertionAnswer;

  hookInterrupt(cb: (intno: number) => void): HookHandle;
  hookBlock(cb: (address: bigint, size: number) => void, begin?: bigint, end?: bigint): HookHandle;
  hookCode(cb: (address: bigint, size: number) => void, begin?: bigint, end?: bigint): HookHandle;
  /** Valid accesses (after the access for reads is not offered: Unicorn reports reads before). */
  hookMemory(kinds: MemoryAccessKinds, cb: (access: MemoryAccess) => void, begin?: bigint, end?: bigint): HookHandle;
  /** Invalid accesses (unmapped or not permitted), reported before the run stops with the
   * matching error. The callback cannot make the access succeed. */
  hookInvalidMemory(cb: (fault: MemoryFault) => void): HookHandle;
  removeHook(handle: HookHandle): void;

  /** Instruction budget (total instructions, null = unlimited) and wall-clock deadline
   * (ms since an arbitrary epoch from `now()`, null = none), enforced natively per block. */
  setLimits(limits: { budget: bigint | null; deadline: number | null }): void;
  /** Counters maintained by the native block hook (zero if limits were never enabled).
   * Blocks are counted whole when entered; `lastBlock` is the block entered last, so a run
   * that stopped inside it can subtract the part that did not execute. */
  counters(): { instructions: bigint; blocks: bigint; lastBlock: { address: bigint; size: number; instructions: number } | null };
  resetCounters(): void;
  /** Per-block execution counts since the last reset: [address, size, instructions, count]. */
  blockCounts(): Array<[bigint, number, number, bigint]>;
  /**
   * Optional, for the cycle model: replaces how the native counter describes a block it meets
   * for the first time (instruction count and static cost). Installs the native counter if
   * needed and forgets blocks described before.
   */
  setBlockDescriber?(describe: BlockDescriber): void;
  /**
   * Optional: called with every block's code when the native counter meets it for the first
   * time, before it runs (and before the describer). The inspector may add code hooks and
   * invalidate the block; the block is translated again before it runs.
   */
  setBlockInspector?(inspect: ((address: bigint, code: Uint8Array) => void) | null): void;
  /**
   * Optional: `flags` (one byte per code byte, simulator/system.ts `placedCodeFlags`) describe
   * the instructions of code at `address` that the caller placed and inspected itself. A new
   * block inside it that starts and ends on instruction starts and holds no PLACED_HOST
   * instruction is then counted by the native counter without a stop (no describer, no block
   * inspector). Taken only while the engine counts with its default describer: false otherwise.
   * Unmapping or re-protecting the range drops it; a caller that rewrites the code calls
   * `forgetPlacedCode`.
   */
  describePlacedCode?(address: bigint, flags: Uint8Array): boolean;
  forgetPlacedCode?(begin: bigint, end: bigint): void;
  /** Optional fast block hook: addresses as JS numbers (exact below 2^53), no bigint work. */
  hookBlockRaw?(cb: (address: number, size: number) => void): HookHandle;
  /**
   * Optional, for the cycle model's detailed mode: the native counter records every entered
   * block (its address) and, with `accesses`, every data access (`-(size * 2 + isWrite + 1)`
   * then the address) into a buffer of doubles, handed to `sink` whenever it fills and when
   * `start` returns, in execution order. `null` stops tracing.
   */
  traceBlocks?(sink: TraceSink | null, options?: { accesses?: boolean }): void;
  /** Optional fast hook on valid data accesses: addresses as JS numbers. */
  hookMemoryRaw?(kinds: MemoryAccessKinds, cb: (write: boolean, address: number, size: number) => void): HookHandle;
  now(): number;

  close(): void;
}

/** Describes a block the native counter has not met: how many instructions it holds and
 * (for the cycle model) what one execution costs, in 1/1000 cycle. */
export type BlockDescriber = (address: bigint, code: Uint8Array) => { instructions: number; costMilli?: number };

/**
 * Registers for `CpuEngine.startCall`: `writeIds[i]` gets `writeValues[2 * i]` (zero-extended to
 * 128 bits) for i < `writeCount`; after the run, `readValues[2 * i]` holds the low 64 bits of
 * `readIds[i]` for i < `readCount`.
 */
export interface CallRegisters {
  readonly writeIds: Int32Array;
  readonly writeValues: BigUint64Array;
  writeCount: number;
  readonly readIds: Int32Array;
  readonly readValues: BigUint64Array;
  readCount: number;
}

/**
 * What the engine reads to answer the activations table's no-op insertions itself
 * (`CpuEngine.answerInsertions`); the activations table keeps it up to date.
 */
export interface InsertionAnswer {
  /** Answers allowed: a collection runs, GC is allowed, and nothing else forbids it. */
  setArmed(armed: boolean): void;
  /** The over-approximated set's mark bit in an object's flag byte (0: answer nothing). */
  setMark(mark: number): void;
  /** An arena of the externref heap: guest addresses [base, end) and their flag bytes, one
   * per 8-byte granule (bit 0: live), in memory that stays where it is (an ArrayBuffer's).
   * False when the engine keeps no more (objects there are answered by the host). */
  addArena(base: number, end: number, flags: Uint8Array): boolean;
  /** Calls answered since the last take (then zero again). */
  takeAnswered(): number;
}

/** Receives `length` trace entries (see `CpuEngine.traceBlocks`); the buffer is reused after it returns. */
export type TraceSink = (trace: Float64Array, length: number) => void;

export const PROT_NONE = 0;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const PROT_EXEC = 4;

export interface MemoryAccessKinds { read?: boolean; write?: boolean; fetch?: boolean }
export interface MemoryAccess { kind: 'read' | 'write' | 'fetch'; address: bigint; size: number; value: bigint }

export interface HookHandle { readonly id: number }

export interface EngineContext {
  restore(): void;
  free(): void;
}

export type MemoryFaultKind =
  | 'read-unmapped' | 'write-unmapped' | 'fetch-unmapped'
  | 'read-protected' | 'write-protected' | 'fetch-protected';

export interface MemoryFault { kind: MemoryFaultKind; address: bigint; size: number }

/** Why `CpuEngine.start` returned. `error` is Unicorn's uc_err code (0 = none). */
export interface EngineStop {
  error: number;
  /** Unicorn's own text for `error`. */
  message: string;
  /** Set when the engine's limits stopped the run. */
  limit: 'budget' | 'timeout' | null;
  /** A block the native counter has not seen yet, when the run stopped to have it described. */
  newBlock: { address: bigint; size: number } | null;
  /** The faulting access, for memory errors. */
  fault: MemoryFault | null;
  /** The interrupt that stopped the run (see `stopOnInterrupts`), or null. */
  interrupt: number | null;
}

/** An engine-level failure: a Unicorn call returned an error outside of guest execution
 * (bad mapping, bad register id, engine not available...). Carries Unicorn's message. */
export class EngineError extends StackscopeError {
  override name = 'EngineError';
  constructor(
    readonly operation: string,
    readonly code: number,
    readonly engineMessage: string,
    readonly address?: bigint,
  ) {
    super(`${operation} failed${address === undefined ? '' : ` at ${hex(address)}`}: ${engineMessage} (uc_err ${code})`);
  }
}

export const PAGE_SIZE = 0x1000;

export function permsToString(perms: number): string {
  return (perms & PROT_READ ? 'r' : '-') + (perms & PROT_WRITE ? 'w' : '-') + (perms & PROT_EXEC ? 'x' : '-');
}
