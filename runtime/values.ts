/**
 * Values (wasmtime's `values.rs`): how Wasm values cross the API, and who owns an externref.
 *
 * Values cross the API as: i32 → number (signed), i64 → bigint (signed), f32 and f64 → number,
 * externref → ExternRef | null, funcref → Func | null. Arguments may also be given as the
 * unsigned forms. An f32 argument is rounded to the nearest f32 (Math.fround). Inside Wasm
 * floats are their exact bits; a NaN crossing the API as a JS number may lose its payload
 * (use `Func.callRaw`-level bits, `floatBits`, where the payload matters).
 *
 * ExternRef ownership (wasmtime's Rust rules, made explicit for JS):
 * - every ExternRef handle owns one reference count until `release()` (or `using`);
 * - results (Func.call, Table.get, Global.get) are new handles the caller must release;
 * - arguments given to Wasm are cloned into the activations table; the caller keeps its handle;
 * - a host function's externref arguments are borrowed for the duration of the call (call
 *   `clone()` to keep one); an ExternRef a host function returns is moved to Wasm (the handle
 *   is released by the runtime).
 */
import type { FuncType, ValType } from '../compiler/frontend/module.ts';
import { VMExternRefActivationsTableLayout } from '../compiler/vmoffsets.ts';
import { floatBits, floatFromBits } from '../compiler/frontend/float-bits.ts';
import { RuntimeError } from './errors.ts';
import { Func, funcFromRef } from './func.ts';
import { ExternRef } from './ref.ts';
import { storeInternals, type Store } from './store.ts';
import { mutated } from '../compiler/mutants.ts';

/** A Wasm value as the API passes it. */
export type Val = number | bigint | ExternRef | Func | null;

export function checkStore(store: Store, other: Store, what: string): void {
  if (store !== other) throw new RuntimeError(what, 'belongs to a different store');
}

/**
 * Converts an API value to raw bits for Wasm. `forWasm` externrefs get a count in the
 * activations table (the Wasm frame may hold them with no count of its own).
 */
export function toRaw(store: Store, type: ValType, v: Val, where: string): bigint {
  switch (type) {
    case 'i32':
    case 'i64':
    case 'f32':
    case 'f64':
      return numericToRaw(type, v, where);
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
    default:
      throw new RuntimeError(where, `${type} values cannot cross the host boundary under this profile`);
  }
}

/** The raw bits of a numeric API value (i32/i64 from a number or bigint, floats from a number). */
export function numericToRaw(type: 'i32' | 'i64' | 'f32' | 'f64', v: unknown, where: string): bigint {
  if (type === 'f32' || type === 'f64') {
    if (typeof v !== 'number') throw new RuntimeError(where, `expected ${type} (a number), got ${describe(v)}`);
    return floatBits(type, v);
  }
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new RuntimeError(where, `${v} is not an integer ${type}`);
    return BigInt.asUintN(type === 'i32' ? 32 : 64, BigInt(v));
  }
  if (typeof v === 'bigint') return BigInt.asUintN(type === 'i32' ? 32 : 64, v);
  throw new RuntimeError(where, `expected ${type}, got ${describe(v)}`);
}

/** Raw bits from Wasm to an API value; externrefs become new owned handles. */
export function fromRaw(store: Store, type: ValType, raw: bigint): Val {
  switch (type) {
    case 'i32': return Number(BigInt.asIntN(32, raw));
    case 'i64': return BigInt.asIntN(64, raw);
    case 'f32':
    case 'f64': return floatFromBits(type, raw);
    case 'externref': return raw === 0n ? null : new ExternRef(store, storeInternals(store).externRefHeap.clone(raw));
    case 'funcref': return funcFromRef(store, raw);
    default: throw new RuntimeError('fromRaw', `${type} values cannot cross the host boundary under this profile`);
  }
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return `${typeof v} ${String(v)}`;
}

/**
 * wasmtime's "GC before entering Wasm" (v17's Func::call, need_gc_before_entering_wasm in the
 * DRC collector): when `count` externrefs handed to Wasm (call arguments, a host function's
 * results) would not fit in the activations table's bump chunk, collect first, so they go into
 * the swept chunk instead of growing the over-approximated set until something else collects.
 * wasmtime compares the count with the chunk's remaining bytes; this compares slots, which
 * is what the comparison means. The references are owned by host handles meanwhile, so the
 * collection cannot free them.
 */
export function collectIfTableCannotHold(store: Store, count: number): void {
  if (count === 0) return;
  // As in wasmtime v17, the table's chunk is empty until its first sweep allocates it (v17's
  // VMExternRefActivationsTable::new starts with an empty chunk), so no bump capacity remains
  // and a store's first call that hands Wasm an externref collects before entering Wasm.
  const internals = storeInternals(store);
  const slotsLeft = internals.activationsTable.bumpCapacityRemaining() / VMExternRefActivationsTableLayout.slotSize;
  if (count > slotsLeft) store.collector.collect({ reason: 'table-full' });
}

/** Gives a raw externref argument to Wasm: a count in the activations table keeps it alive. */
export function rootForWasm(store: Store, type: ValType, raw: bigint): void {
  if (type === 'externref' && raw !== 0n && !mutated('host-args-not-rooted')) {
    const internals = storeInternals(store);
    internals.externRefHeap.clone(raw);
    internals.activationsTable.insertWithoutGc(raw);
  }
}

export function resultToRaw(s: Store, type: FuncType, result: Val | readonly Val[] | void, where: string): bigint {
  return resultsToRaw(s, type, result, where)[0] ?? 0n;
}

/**
 * A host function's results as raw words, one per result type: a single result is the value
 * itself, several are an array of that many values (the order of the Wasm result types).
 */
export function resultsToRaw(s: Store, type: FuncType, result: Val | readonly Val[] | void, where: string): bigint[] {
  if (type.results.length === 0) return [];
  let values: readonly Val[];
  if (type.results.length === 1) {
    values = [result === undefined ? null : (result as Val)];
  } else {
    if (!Array.isArray(result) || result.length !== type.results.length) {
      throw new RuntimeError(where, `returned ${describe(result)}, an array of ${type.results.length} results expected (${type.results.join(', ')})`);
    }
    values = result;
  }
  return type.results.map((t, k) => {
    const v = values[k] === undefined ? null : values[k];
    const at = type.results.length > 1 ? ` (result ${k})` : '';
    if (t !== 'externref' && t !== 'funcref' && v === null) throw new RuntimeError(where, `returned nothing${at}, ${t} expected`);
    const raw = toRaw(s, t, v, where + at);
    if (t === 'externref' && v instanceof ExternRef) {
      // Moved to Wasm: the handle's count goes into the activations table.
      collectIfTableCannotHold(s, 1);
      storeInternals(s).activationsTable.insertWithoutGc(v.take());
    }
    return raw;
  });
}
