/**
 * Host→Wasm entries and the chain of saved activations, as wasmtime v17's CallThreadState does.
 *
 * Every entry into Wasm (`enter`) snapshots the store's (last_wasm_exit_pc, last_wasm_exit_fp,
 * last_wasm_entry_sp) before the entry trampoline overwrites entry_sp, and restores the snapshot
 * when the call ends, normally or by a trap. While a nested call runs, the snapshots of all outer
 * entries form a chain, youngest first; the outermost entry's snapshot is (0, 0, 0), which ends
 * the chain. A stack walker therefore visits: the live triple in VMRuntimeLimits (or a trap's PC
 * and FP), then each saved triple until one has PC 0 — each triple delimits one contiguous run of
 * Wasm frames (an "activation").
 *
 * stack_limit: set by the outermost entry (stack_limit still all-ones) to the guest SP minus
 * `maxWasmStack`, clamped to stay above the Machine stack's guard, and reset to all-ones when that
 * entry ends. Compiled prologues compare SP with it and trap with StackOverflow, so deep
 * recursion becomes a WasmTrap well before the guard page; a fault on the guard itself is also
 * reported as StackOverflow (runtime/traps.ts).
 */
import type { Machine } from '../simulator/machine.ts';
import type { BacktraceFrame } from '../simulator/trap.ts';
import { StackscopeError } from '../isa/error.ts';
import { collectActivations, walkV17, type ActivationTriple } from '../gc/walk.ts';
import { STACK_LIMIT_UNSET, type VMRuntimeLimits } from './limits.ts';
import type { TrapRegistry } from './traps.ts';

export const DEFAULT_MAX_WASM_STACK = 512 * 1024;
/** Bytes kept between the stack limit and the guard, for the host gateway and trampolines. */
const STACK_LIMIT_MARGIN = 16 * 1024;
/** Nested calls start this far below the interrupted guest SP (the Machine skips the red zone). */
const NESTED_CALL_GAP = 128n;

/**
 * The stack limit of an outermost entry (every store's): SP where the next guest call starts
 * minus the Wasm stack budget, and never within STACK_LIMIT_MARGIN of the guard.
 */
export function wasmStackLimit(m: Machine, maxWasmStack: number): bigint {
  const sp = m.active ? m.sp() - NESTED_CALL_GAP : m.stack.top;
  const floor = m.stack.region.address + BigInt(STACK_LIMIT_MARGIN);
  const limit = sp - BigInt(maxWasmStack);
  return limit < floor ? floor : limit;
}

export interface WasmFrame {
  readonly pc: bigint;
  readonly fp: bigint;
}

export class Activations {
  /** Saved triples of the entries in progress, oldest first (index 0 = the outermost entry's). */
  private readonly saved: ActivationTriple[] = [];
  maxWasmStack: number;

  constructor(
    readonly machine: Machine,
    readonly limits: VMRuntimeLimits,
    readonly traps: TrapRegistry,
    options: { maxWasmStack?: number; isWasmPc?: (pc: bigint) => boolean } = {},
  ) {
    this.maxWasmStack = options.maxWasmStack ?? DEFAULT_MAX_WASM_STACK;
    this.isWasmPc = options.isWasmPc;
  }

  /** Whether a PC is in placed Wasm code (an activation whose only Wasm frame tail-called the host has no frame: gc/walk.ts collectActivations). */
  private readonly isWasmPc: ((pc: bigint) => boolean) | undefined;

  /** Entries in progress. */
  get depth(): number {
    return this.saved.length;
  }

  /**
   * Runs `call` (which performs one guest call through an entry trampoline) as a host→Wasm
   * entry. Guest faults and trapping builtins come out as WasmTrap (runtime/traps.ts).
   */
  enter<T>(call: () => T): T {
    const limits = this.limits;
    const saved = limits.triple();
    const outermost = limits.stackLimit === STACK_LIMIT_UNSET;
    if (outermost) limits.stackLimit = this.stackLimitFor();
    this.saved.push(saved);
    try {
      return call();
    } catch (e) {
      throw this.traps.classify(e, this.machine, { pc: limits.lastWasmExitPc, fp: limits.lastWasmExitFp }, (pc, fp) => this.backtrace(pc, fp));
    } finally {
      this.saved.pop();
      limits.setTriple(saved);
      if (outermost) limits.stackLimit = STACK_LIMIT_UNSET;
    }
  }

  private stackLimitFor(): bigint {
    return wasmStackLimit(this.machine, this.maxWasmStack);
  }

  /**
   * wasmtime's trap backtrace: the Wasm frames of every activation, youngest first, starting at
   * a trapping PC and FP, symbolized by the Machine. Undefined when the walk breaks an invariant
   * (e.g. the trap happened outside Wasm code), so callers fall back to the raw FP chain.
   */
  backtrace(pc: bigint, fp: bigint): BacktraceFrame[] | undefined {
    try {
      return this.wasmFrames({ pc, fp }).flat().map((f) => ({ pc: f.pc, fp: f.fp, symbol: this.machine.symbolize(f.pc) }));
    } catch (e) {
      // An invariant broken or a frame pointer into unmapped memory: no Wasm backtrace.
      if (e instanceof StackscopeError) return undefined;
      throw e;
    }
  }

  /** The saved triples of the entries in progress, youngest first (v17's CallThreadState
   * `prev` chain); the last one is the outermost entry's (normally all zero). */
  chain(): readonly ActivationTriple[] {
    return [...this.saved].reverse();
  }

  /**
   * The Wasm frames of every activation, youngest first, found by gc/'s v17 walker (the one the
   * collector uses): the live limits triple (or `trap`'s PC and FP with the live entry_sp), then
   * the saved ones up to the outermost entry's. Throws gc/'s StackWalkError where v17 would
   * assert.
   */
  wasmFrames(trap?: { pc: bigint; fp: bigint }): WasmFrame[][] {
    const live = this.limits.triple();
    const first = trap ? { exitPc: trap.pc, exitFp: trap.fp, entrySp: live.entrySp } : live;
    const out: WasmFrame[][] = [];
    walkV17(this.machine, collectActivations(first, this.chain(), this.isWasmPc), (f) => {
      if (f.index === 0) out.push([]);
      out[f.activation].push({ pc: BigInt(f.pc), fp: BigInt(f.fp) });
    });
    return out;
  }
}
