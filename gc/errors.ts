/**
 * Typed errors of the externref heap, the activations table, the stack-map registry, the
 * frame walkers and the collector. Every one names what went wrong and where (addresses are
 * guest addresses), so a failed GC can be diagnosed from the error alone.
 */
import { StackscopeError, hex } from '../isa/error.ts';

/** Root of every gc/ error. */
export class GcError extends StackscopeError {
  override name = 'GcError';
}

/** A pointer handed to the externref heap is not a live VMExternData it allocated. */
export class ExternRefError extends GcError {
  override name = 'ExternRefError';
  constructor(
    readonly operation: string,
    readonly address: bigint,
    readonly reason: 'not-live' | 'null' | 'refcount-underflow' | 'refcount-overflow' | 'corrupt-value-ptr' | 'unknown-value-id',
    detail = '',
  ) {
    super(`${operation}: externref ${hex(address)}: ${reason}${detail ? ` (${detail})` : ''}`);
  }
}

/** The guest heap that holds externref objects cannot satisfy an allocation. */
export class HeapExhaustedError extends GcError {
  override name = 'HeapExhaustedError';
  constructor(readonly heap: string, readonly requested: number, readonly capacity: number) {
    super(`guest heap ${heap}: cannot allocate ${requested} bytes (capacity ${capacity})`);
  }
}

/** Misuse of the guest heap allocator: freeing something it never handed out, twice, etc. */
export class HeapFreeError extends GcError {
  override name = 'HeapFreeError';
  constructor(readonly heap: string, readonly address: bigint, readonly reason: 'not-allocated' | 'outside-heap') {
    super(`guest heap ${heap}: free of ${hex(address)}: ${reason}`);
  }
}

/** The activations table's guest-memory bump area holds values the host cannot accept. */
export class ActivationsTableError extends GcError {
  override name = 'ActivationsTableError';
  constructor(
    readonly field: 'next' | 'end' | 'chunk' | 'slot' | 'gc-okay',
    readonly address: bigint,
    readonly value: bigint,
    detail: string,
  ) {
    super(`activations table ${field} at ${hex(address)} = ${hex(value)}: ${detail}`);
  }
}

/** Registering stack maps that violate the registry's invariants (the seed's assertions). */
export class StackMapRegistryError extends GcError {
  override name = 'StackMapRegistryError';
  constructor(
    readonly moduleName: string,
    readonly reason:
      | 'overlapping-module' | 'conflicting-reregistration' | 'offset-outside-function'
      | 'overlapping-functions' | 'duplicate-offset' | 'bad-map' | 'bad-function',
    detail: string,
    readonly functionName?: string,
  ) {
    super(`stack maps of module ${moduleName}${functionName ? ` function ${functionName}` : ''}: ${reason}: ${detail}`);
  }
}

export type StackWalkFailure =
  | 'zero-pc' | 'zero-fp' | 'zero-entry-sp' | 'bad-terminator'
  | 'entry-sp-misaligned' | 'fp-misaligned' | 'fp-above-entry-sp' | 'fp-not-increasing'
  | 'unreadable' | 'too-many-frames';

/**
 * A frame-pointer chain that breaks one of the v17 walker's assertions. `activation` counts
 * from 0 = the live VMRuntimeLimits triple, then the saved older triples; `frame` counts from
 * 0 = the youngest frame of that activation.
 */
export class StackWalkError extends GcError {
  override name = 'StackWalkError';
  constructor(
    readonly failure: StackWalkFailure,
    readonly activation: number,
    readonly frame: number,
    readonly pc: bigint,
    readonly fp: bigint,
    readonly entrySp: bigint,
    detail = '',
  ) {
    super(`stack walk: ${failure} in activation ${activation} frame ${frame} (pc ${hex(pc)}, fp ${hex(fp)}, entry sp ${hex(entrySp)})${detail ? `: ${detail}` : ''}`);
  }
}

/** Where in the stack a root (or a suspected root) was read. */
export interface RootLocation {
  activation: number;
  frame: number;
  functionName: string;
  pc: bigint;
  fp: bigint;
  /** Address of the stack word. */
  slot: bigint;
  /** Bit index in the stack map. */
  bit: number;
}

/**
 * The collector's invariant checks failed: a stack-map root is not in the activations table
 * (wasmtime's debug assertion), is not a live externref at all, or (strict conservative check)
 * a table entry sits in a frame slot whose map bit is clear. Thrown before anything is freed.
 */
export class GcInvariantError extends GcError {
  override name = 'GcInvariantError';
  constructor(
    readonly check: 'root-not-in-table' | 'root-not-live' | 'missed-root' | 'unknown-frame' | 'gc-not-okay' | 'wasm-frame-without-canary',
    readonly value: bigint,
    readonly where: RootLocation | undefined,
    detail = '',
  ) {
    super(`GC invariant ${check}: value ${hex(value)}${where ? ` in ${where.functionName} (activation ${where.activation} frame ${where.frame}, pc ${hex(where.pc)}, fp ${hex(where.fp)}) slot ${hex(where.slot)} bit ${where.bit}` : ''}${detail ? `: ${detail}` : ''}`);
  }
}

/** One or more host destructors threw while the collector or a drop freed objects. */
export class DestructorError extends GcError {
  override name = 'DestructorError';
  constructor(readonly failures: ReadonlyArray<{ address: bigint; error: unknown }>) {
    super(`${failures.length} externref destructor(s) threw; first at ${hex(failures[0].address)}: ${String((failures[0].error as Error)?.message ?? failures[0].error)}`);
  }
}
