/**
 * Errors of the runtime layer. `RuntimeError` covers misuse and bad input (an import of the
 * wrong kind, a segment that does not fit); `WasmTrap` is what a guest trap becomes once the
 * runtime has given it wasmtime's trap code, so embedders can tell "the Wasm program trapped"
 * from "the host program is wrong".
 */
import { TRAP_CODES, type TrapCode as CompilerTrapCode } from '../isa/trap-codes.ts';
import { StackscopeError, hex } from '../isa/error.ts';
import { GuestTrap, type BacktraceFrame } from '../simulator/trap.ts';

/** Misuse of the runtime API or input it cannot accept; `where` names the object at fault. */
export class RuntimeError extends StackscopeError {
  override name = 'RuntimeError';
  constructor(
    readonly where: string,
    readonly what: string,
  ) {
    super(`${where}: ${what}`);
  }
}

/** A handle was used after its store's close(). */
export class StoreClosedError extends RuntimeError {
  override name = 'StoreClosedError';
  constructor(readonly storeId: bigint) {
    super(`store ${storeId}`, 'used after Store.close()');
  }
}

/** Instantiation failed (bad imports, segments out of bounds, limits exceeded). */
export class InstantiationError extends RuntimeError {
  override name = 'InstantiationError';
}

/** Cranelift's name for a code becomes wasmtime's (`HeapOutOfBounds` is `MemoryOutOfBounds`). */
type WasmtimeTrapName<C> = C extends 'HeapOutOfBounds' ? 'MemoryOutOfBounds' : C;

/**
 * wasmtime v17's `Trap` enum names (crates/environ/src/trap_encoding.rs), in declaration order,
 * so `TRAP_CODE_NAMES.indexOf(code)` is the byte a trap table stores. Derived from the
 * compiler's list, which writes those bytes, so the two cannot drift apart; only the name
 * of code 1 differs (Cranelift's HeapOutOfBounds is wasmtime's MemoryOutOfBounds).
 */
export const TRAP_CODE_NAMES = TRAP_CODES.map((c) => (c === 'HeapOutOfBounds' ? 'MemoryOutOfBounds' : c)) as readonly WasmtimeTrapName<CompilerTrapCode>[];

/** A wasmtime trap code, or `UnsupportedBuiltin` for a v17 builtin stackscope does not implement
 * and `HostError` for an exception thrown by a host function that was not a trap. */
export type TrapCode = WasmtimeTrapName<CompilerTrapCode> | 'UnsupportedBuiltin' | 'HostError' | 'UnhandledTag' | 'ContinuationAlreadyConsumed';

/** wasmtime's human messages for the codes (`Trap`'s Display), used in WasmTrap.message. */
const TRAP_MESSAGES: Record<TrapCode, string> = {
  StackOverflow: 'call stack exhausted',
  MemoryOutOfBounds: 'out of bounds memory access',
  HeapMisaligned: 'unaligned atomic',
  TableOutOfBounds: 'undefined element: out of bounds table access',
  IndirectCallToNull: 'uninitialized element',
  BadSignature: 'indirect call type mismatch',
  IntegerOverflow: 'integer overflow',
  IntegerDivisionByZero: 'integer divide by zero',
  BadConversionToInteger: 'invalid conversion to integer',
  UnreachableCodeReached: 'wasm `unreachable` instruction executed',
  Interrupt: 'interrupt',
  AlwaysTrapAdapter: 'degenerate component adapter called',
  OutOfFuel: 'all fuel consumed by WebAssembly',
  AtomicWaitNonSharedMemory: 'atomic wait on non-shared memory',
  NullReference: 'null reference',
  CannotEnterComponent: 'cannot enter component instance',
  ArrayOutOfBounds: 'out of bounds array access',
  AllocationTooLarge: 'allocation size too large',
  CastFailure: 'cast failure',
  UnsupportedBuiltin: 'unsupported builtin',
  HostError: 'host function error',
  // wasmtime v44's stack-switching traps (crates/environ/src/trap_encoding.rs).
  UnhandledTag: 'unhandled tag',
  ContinuationAlreadyConsumed: 'continuation already consumed',
};

/** Maps Cranelift's name for the heap trap to wasmtime's (the compiler uses Cranelift's). */
export function normalizeTrapCode(name: string): TrapCode | undefined {
  if (name === 'HeapOutOfBounds') return 'MemoryOutOfBounds';
  return (TRAP_CODE_NAMES as readonly string[]).includes(name) || name === 'UnsupportedBuiltin' || name === 'HostError'
    ? (name as TrapCode)
    : undefined;
}

export interface WasmTrapDetails {
  code: TrapCode;
  /** The guest PC the trap is attributed to (the faulting instruction, or the return address
   * into Wasm for traps raised by builtins and host functions); undefined if not in guest code. */
  pc?: bigint;
  /** Symbolized frames, youngest first. */
  backtrace?: readonly BacktraceFrame[];
  /** Extra words after wasmtime's message (e.g. the builtin's name). */
  detail?: string;
  /** The guest fault or host exception this trap was made from. */
  cause?: unknown;
}

/** A Wasm trap with wasmtime's code name and a backtrace from the frame-pointer chain. */
export class WasmTrap extends StackscopeError {
  override name = 'WasmTrap';
  readonly code: TrapCode;
  readonly pc: bigint | undefined;
  readonly backtrace: readonly BacktraceFrame[];
  readonly detail: string | undefined;

  constructor(d: WasmTrapDetails) {
    const at = d.pc === undefined ? '' : ` at pc ${hex(d.pc)}`;
    const frames = (d.backtrace ?? []).map((f, i) => `\n  ${i}: ${hex(f.pc)}${f.symbol ? ` ${f.symbol}` : ''}`).join('');
    super(`wasm trap: ${TRAP_MESSAGES[d.code]}${d.detail ? ` (${d.detail})` : ''}${at}${frames}`, { cause: d.cause });
    this.code = d.code;
    this.pc = d.pc;
    this.backtrace = d.backtrace ?? [];
    this.detail = d.detail;
  }

  /** wasmtime's message for this trap's code. */
  get trapMessage(): string {
    return TRAP_MESSAGES[this.code];
  }

  /**
   * The trap as JSON data (`JSON.stringify(trap)`; addresses as 0x-hex strings): the same
   * fields as `stackscope run --json`'s "trap", with the guest fault's kind, faulting
   * instruction and address when the trap came from one.
   */
  toJSON(): Record<string, unknown> {
    const fault = this.cause instanceof GuestTrap ? this.cause : undefined;
    return {
      code: this.code, kind: fault?.kind ?? null, message: this.trapMessage + (this.detail ? ` (${this.detail})` : ''),
      pc: this.pc === undefined ? null : hex(this.pc), instruction: fault?.instruction ?? null,
      address: fault?.address === undefined ? null : hex(fault.address),
      backtrace: this.backtrace.map((f) => ({ pc: hex(f.pc), symbol: f.symbol ?? null })),
    };
  }
}
