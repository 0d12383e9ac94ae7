/**
 * Func and Caller (wasmtime's `func.rs`): functions defined by an instance or by the host, and
 * what a host function sees of its caller.
 */
import { hex } from '../isa/error.ts';
import { valueBytes, type FuncType, type ValType } from '../compiler/frontend/module.ts';
import { VM_ARRAY_CALL_HOST_FUNC_MAGIC, VM_NATIVE_CALL_HOST_FUNC_MAGIC, VMFuncRefLayout, VMHostFuncContextLayout, ValRawLayout } from '../compiler/vmoffsets.ts';
import type { GcReport } from '../gc/collector.ts';
import type { HostCall } from '../simulator/machine.ts';
import { RuntimeError } from './errors.ts';
import type { Extern } from './externals.ts';
import type { Instance } from './instance.ts';
import { ExternRef } from './ref.ts';
import { formatFuncType } from './signatures.ts';
import { readValRaw, writeHostFuncContext, writeValRaw } from './vm-structs.ts';
import { assertOpen, storeInternals, type GcOptions, type Store } from './store.ts';
import { collectIfTableCannotHold, fromRaw, resultsToRaw, rootForWasm, toRaw, type Val } from './values.ts';
import { nativeReturnLayout } from './trampolines.ts';


/** The JS type of each Wasm value type as values cross the API (values.ts). */
export interface ValTypeMap {
  i32: number;
  i64: bigint;
  f32: number;
  f64: number;
  externref: ExternRef | null;
  funcref: Func | null;
}

/** The JS argument types of a list of Wasm parameter types. */
export type ValsOf<T extends readonly ValType[]> = { -readonly [K in keyof T]: T[K] extends keyof ValTypeMap ? ValTypeMap[T[K]] : Val };

/** The JS result type of a list of Wasm result types (null for none, an array for several). */
export type ResultOf<T extends readonly ValType[]> = T extends readonly [] ? null : T extends readonly [infer R extends ValType] ? (R extends keyof ValTypeMap ? ValTypeMap[R] : Val) : ValsOf<T>;

/**
 * What a call returns: null for no result, the value for one, and an array of the values for
 * several (multi-value), in the order of the result types (as the WebAssembly JS API does).
 */
export type Results = Val | Val[];

/**
 * A function with static argument and result types (wasmtime's `TypedFunc<Params, Results>`):
 * `instance.getTypedFunc<[number, number], number>('add').call(40, 2)` is a number.
 */
export class TypedFunc<Params extends readonly Val[] = Val[], Result extends Results = Val> {
  constructor(readonly func: Func) {}

  call(...args: Params): Result {
    return this.func.call(...args) as Result;
  }
}

/** What a host function sees of its caller. */
export class Caller<T = unknown> {
  /** @internal */
  constructor(
    readonly store: Store<T>,
    /** The calling instance, when Wasm called. */
    readonly instance: Instance | undefined,
    /** The guest call as the Machine reports it (SP, FP, return address). */
    readonly call: HostCall | undefined,
  ) {}

  get data(): T | undefined {
    return this.store.data;
  }

  /** Collects externrefs; the calling Wasm frames are walked and their stack maps honoured. */
  gc(options: GcOptions = {}): GcReport {
    return this.store.gc(options);
  }

  /** An export of the calling instance (wasmtime's Caller::get_export). */
  getExport(name: string): Extern | undefined {
    return this.instance?.getExport(name);
  }
}

/** A host function: returns its result, an array of its results when it has several, or nothing. */
export type HostFn<T = unknown> = (caller: Caller<T>, ...args: Val[]) => Val | Val[] | void;

/** A function: defined by a Wasm instance or by the host. */
export class Func {
  /** @internal */
  constructor(
    readonly store: Store,
    /** Guest address of the function's VMFuncRef. */
    readonly funcRefPointer: bigint,
    readonly type: FuncType,
    /** @internal The JS implementation of a host function. */
    readonly host: ((caller: Caller, args: Val[]) => Val | Val[] | void) | undefined,
  ) {}

  /**
   * A host function with a typed signature, callable from Wasm through the wasm-to-native
   * trampoline (its VMNativeCallHostFuncContext holds the gateway entry as native_call).
   * v17 leaves wasm_call null until a module supplies the trampoline; here it is generated at
   * once, so it is never null.
   */
  static wrap<T>(store: Store<T>, type: FuncType, fn: HostFn<T>): Func {
    const host = hostFunction(store as Store, type, fn as HostFn, 'Func.wrap');
    const { s, internals, m, name } = host;
    // The signature id is taken before the host function and its trampoline are made.
    const typeId = internals.signatures.idOf(type);
    // Several results: the first comes back in the return register, the others are written
    // through the trailing return pointer the wasm-to-native trampoline passes.
    const multi = type.results.length > 1;
    const { offsets } = nativeReturnLayout(type);
    // Made once per function, not per call (raw: the gateway's argument registers).
    const argAt = (raw: readonly bigint[], i: number): bigint => raw[2 + i];
    const deliver = (raw: readonly bigint[], result: Val | Val[] | void): bigint => {
      const raws = resultsToRaw(s, type, result, `host function ${name}`);
      for (let j = 1; j < raws.length; j++) {
        const at = raw[2 + type.params.length] + BigInt(offsets[j]);
        if (valueBytes(type.results[j]) === 4) m.writeU32(at, Number(BigInt.asUintN(32, raws[j])));
        else m.writeU64(at, BigInt.asUintN(64, raws[j]));
      }
      return raws[0] ?? 0n;
    };
    const native = m.addHostFunction(`host ${name}`, 2 + type.params.length + (multi ? 1 : 0), (raw, call) =>
      host.enter(call, raw[1], raw, argAt, deliver));
    return host.finish(writeHostFuncContext(m, host.ctx, VM_NATIVE_CALL_HOST_FUNC_MAGIC, {
      nativeCall: native, arrayCall: 0n, wasmCall: internals.trampolines.wasmToNative(type), typeIndex: typeId,
    }, s.id));
  }

  /**
   * A host function reached through the array calling convention, like wasmtime's Func::new:
   * Wasm calls the per-function wasm-to-array trampoline, which spills the arguments into a
   * ValRaw buffer on the guest stack and calls the host with (callee ctx, caller vmctx, values,
   * len); the result comes back in slot 0. The context is a VMArrayCallHostFuncContext ("ACHF").
   */
  static new<T>(store: Store<T>, type: FuncType, fn: HostFn<T>): Func {
    const host = hostFunction(store as Store, type, fn as HostFn, 'Func.new');
    const { s, internals, m, name } = host;
    // Made once per function, not per call (values: the ValRaw buffer's guest address).
    const argAt = (values: bigint, i: number): bigint => readValRaw(m, values, i);
    const deliver = (values: bigint, result: Val | Val[] | void): void => {
      const raws = resultsToRaw(s, type, result, `host function ${name}`);
      for (let j = 0; j < raws.length; j++) writeValRaw(m, values, j, raws[j]);
    };
    const slots = BigInt(Math.max(type.params.length, type.results.length));
    const arrayHost = m.addHostFunction(`host-array ${name}`, 4, (raw, call) => {
      const len = raw[3];
      if (len < slots) {
        throw new RuntimeError(`host function ${name}`, `ValRaw buffer of ${len} slots is too small`);
      }
      host.enter(call, raw[1], raw[2], argAt, deliver);
    });
    // The signature id is taken after the wasm-to-array trampoline is made.
    const wasmCall = internals.trampolines.wasmToArray(type, arrayHost, name);
    return host.finish(writeHostFuncContext(m, host.ctx, VM_ARRAY_CALL_HOST_FUNC_MAGIC, {
      nativeCall: 0n, arrayCall: arrayHost, wasmCall, typeIndex: internals.signatures.idOf(type),
    }, s.id));
  }

  private field(offset: number): bigint {
    return this.store.machine.readU64(this.funcRefPointer + BigInt(offset));
  }

  /** The callee context (a VMContext, or the host-function context). */
  get vmctx(): bigint {
    return this.field(VMFuncRefLayout.vmctx);
  }

  /** Non-null externref arguments among `raws` (each takes an activations-table slot). */
  private externRefArgs(raws: readonly bigint[]): number {
    let n = 0;
    this.type.params.forEach((t, i) => {
      if (t === 'externref' && raws[i] !== 0n) n++;
    });
    return n;
  }

  /** Calls the function through its array-call entry (ValRaw buffer), like wasmtime's Func::call. */
  call(...args: Val[]): Results {
    assertOpen(this.store);
    const s = this.store;
    this.checkArgs(args);
    if (this.host) return this.callHost(args);
    const raws = this.type.params.map((t, i) => toRaw(s, t, args[i], `argument ${i}`));
    const results = this.callArray(raws).map((r, j) => fromRaw(s, this.type.results[j], r));
    return results.length === 0 ? null : results.length === 1 ? results[0] : results;
  }

  /**
   * Calls with raw bits in and out, like wasmtime's `Func::call_unchecked` over ValRaw: i32 and
   * f32 values are their 32 bits, i64 and f64 values their 64 bits, as unsigned bigints; the
   * result is null when there is none. This is how floats cross the API exactly: a JS number
   * cannot carry every NaN (an f32 signalling NaN gains its quiet bit on the way, and V8 quiets
   * NaNs stored in arrays). Only for functions whose parameters and results are all numbers.
   * Several results come back as an array of their bits.
   */
  callRaw(...args: readonly bigint[]): bigint | bigint[] | null {
    assertOpen(this.store);
    const s = this.store;
    const { params, results } = this.type;
    if (![...params, ...results].every((t) => t === 'i32' || t === 'i64' || t === 'f32' || t === 'f64')) {
      throw new RuntimeError('Func.callRaw', `${formatFuncType(this.type)} has a reference parameter or result; use Func.call`);
    }
    if (args.length !== params.length) throw new RuntimeError('Func.callRaw', `${formatFuncType(this.type)} takes ${params.length} arguments, got ${args.length}`);
    const raws = args.map((a, i) => {
      if (typeof a !== 'bigint') throw new RuntimeError('Func.callRaw', `argument ${i}: expected the bits of a ${params[i]} as a bigint, got ${typeof a}`);
      return BigInt.asUintN(8 * valueBytes(params[i]), a);
    });
    let bits: bigint[];
    if (this.host) {
      const r = this.callHost(raws.map((b, i) => fromRaw(s, params[i], b)));
      const values = results.length > 1 && Array.isArray(r) ? r : [r as Val];
      bits = results.map((t, j) => toRaw(s, t, values[j] ?? null, 'host function result'));
    } else {
      bits = this.callArray(raws).map((r, j) => BigInt.asUintN(8 * valueBytes(results[j]), r));
    }
    return bits.length === 0 ? null : bits.length === 1 ? bits[0] : bits;
  }

  /** The array call with raw arguments: roots externrefs, fills the ValRaw buffer, returns the result slots. */
  private callArray(raws: readonly bigint[]): bigint[] {
    const s = this.store;
    const internals = storeInternals(s);
    const arrayCall = this.field(VMFuncRefLayout.arrayCall);
    const vmctx = this.vmctx;
    collectIfTableCannotHold(s, this.externRefArgs(raws));
    const mark = internals.valRaw.mark;
    const slots = Math.max(this.type.params.length, this.type.results.length);
    const buf = internals.valRaw.push(slots);
    try {
      raws.forEach((r, i) => {
        rootForWasm(s, this.type.params[i], r);
        writeValRaw(s.machine, buf, i, r);
      });
      internals.enter(() => s.machine.call(arrayCall, [vmctx, vmctx, buf, BigInt(slots)]));
      return this.type.results.map((_, j) => readValRaw(s.machine, buf, j));
    } finally {
      internals.valRaw.pop(mark);
    }
  }

  /** Calls through the native-call entry (arguments in registers), like a TypedFunc. */
  callNative(...args: Val[]): Results {
    assertOpen(this.store);
    const s = this.store;
    this.checkArgs(args);
    if (this.host) return this.callHost(args);
    const nativeCall = this.field(VMFuncRefLayout.nativeCall);
    const vmctx = this.vmctx;
    const raws = this.type.params.map((t, i) => toRaw(s, t, args[i], `argument ${i}`));
    collectIfTableCannotHold(s, this.externRefArgs(raws));
    raws.forEach((r, i) => rootForWasm(s, this.type.params[i], r));
    if (this.type.results.length <= 1) {
      const result = storeInternals(s).enter(() => s.machine.call(nativeCall, [vmctx, vmctx, ...raws]));
      return this.type.results.length === 0 ? null : fromRaw(s, this.type.results[0], result);
    }
    // Several results: the ones past the first come back through a return buffer (on the
    // ValRaw stack), packed as the native-to-wasm trampoline writes them.
    const internals = storeInternals(s);
    const mark = internals.valRaw.mark;
    const { offsets, bytes } = nativeReturnLayout(this.type);
    const buf = internals.valRaw.push(Math.ceil(bytes / ValRawLayout.size));
    try {
      const first = internals.enter(() => s.machine.call(nativeCall, [vmctx, vmctx, ...raws, buf]));
      return this.type.results.map((t, j) => {
        if (j === 0) return fromRaw(s, t, first);
        const at = buf + BigInt(offsets[j]);
        return fromRaw(s, t, valueBytes(t) === 4 ? BigInt(s.machine.readU32(at)) : s.machine.readU64(at));
      });
    } finally {
      internals.valRaw.pop(mark);
    }
  }

  /**
   * This function with static types, like wasmtime's `Func::typed`. Given the Wasm types,
   * they are checked against the function's signature now (a RuntimeError if they differ) and
   * the JS types follow from them: `f.typed(['i32', 'i32'], ['i32'])` is a
   * `TypedFunc<[number, number], number>`. Given only type arguments
   * (`f.typed<[number, number], number>()`), they are the caller's word for it.
   */
  typed<const P extends readonly ValType[], const R extends readonly ValType[]>(params: P, results: R): TypedFunc<ValsOf<P>, ResultOf<R>>;
  typed<Params extends readonly Val[] = Val[], Result extends Results = Val>(): TypedFunc<Params, Result>;
  typed(params?: readonly ValType[], results?: readonly ValType[]): TypedFunc<Val[], Results> {
    if (params !== undefined || results !== undefined) {
      const want: FuncType = { params: [...(params ?? [])], results: [...(results ?? [])] };
      const same = (a: readonly ValType[], b: readonly ValType[]) => a.length === b.length && a.every((t, i) => t === b[i]);
      if (!same(want.params, this.type.params) || !same(want.results, this.type.results)) {
        throw new RuntimeError('Func.typed', `the function is ${formatFuncType(this.type)}, not ${formatFuncType(want)}`);
      }
    }
    return new TypedFunc(this);
  }

  /** A plain JS function calling this one. */
  toFunction(): (...args: Val[]) => Results {
    const f = (...args: Val[]): Results => this.call(...args);
    Object.defineProperty(f, 'func', { value: this });
    return f;
  }

  private checkArgs(args: Val[]): void {
    if (args.length !== this.type.params.length) {
      throw new RuntimeError('Func.call', `${formatFuncType(this.type)} takes ${this.type.params.length} arguments, got ${args.length}`);
    }
  }

  private callHost(args: Val[]): Results {
    const r = this.host!(new Caller(this.store, undefined, undefined), args);
    return r === undefined ? null : r;
  }
}

/** The Func for a VMFuncRef pointer of `store` (0 → null). */
export function funcFromRef(store: Store, ptr: bigint): Func | null {
  if (ptr === 0n) return null;
  const internals = storeInternals(store);
  let f = internals.funcsByRef.get(ptr);
  if (!f) {
    const id = store.machine.readU32(ptr + BigInt(VMFuncRefLayout.typeIndex));
    const type = internals.signatures.typeOf(id);
    if (!type) throw new RuntimeError('funcref', `${hex(ptr)} has no known signature (id ${id})`);
    f = new Func(store, ptr, type, undefined);
    internals.funcsByRef.set(ptr, f);
  }
  return f;
}

/**
 * What Func.wrap and Func.new share: the one-result check, the host-function context (a
 * VMNativeCallHostFuncContext or VMArrayCallHostFuncContext, both of VMHostFuncContextLayout),
 * the call into `fn` — arguments converted from their raw words, the call on the store's
 * host-call stack, the result delivered while the argument handles are still held, those
 * borrowed handles released after — and the Func registered under its VMFuncRef.
 */
function hostFunction(s: Store, type: FuncType, fn: HostFn, api: 'Func.wrap' | 'Func.new') {
  const internals = storeInternals(s);
  const m = s.machine;
  const ctx = internals.heap.alloc(VMHostFuncContextLayout.size, 16);
  const name = fn.name || 'host';
  const invoke = (caller: Caller, args: Val[]): Val | Val[] | void => fn(caller, ...args);
  return {
    s, internals, m, ctx, name,
    /**
     * One call: `argAt(source, i)` is argument i's raw word, `deliver(source, result)` stores
     * the result. Both are made once per function and take the call's `source` (the argument
     * registers, or the ValRaw buffer), so a call makes no closure.
     */
    enter<S, R>(call: HostCall, callerVmctx: bigint, source: S, argAt: (source: S, i: number) => bigint, deliver: (source: S, result: Val | Val[] | void) => R): R {
      const params = type.params;
      const args: Val[] = new Array(params.length);
      for (let i = 0; i < params.length; i++) args[i] = fromRaw(s, params[i], argAt(source, i));
      internals.hostCalls.push(call);
      try {
        return deliver(source, invoke(new Caller(s, internals.instances.get(callerVmctx), call), args));
      } finally {
        internals.hostCalls.pop();
        // Borrowed arguments: the handles made for this call give their counts back.
        for (const a of args) if (a instanceof ExternRef) a.release();
      }
    },
    finish(funcRef: bigint): Func {
      const f = new Func(s, funcRef, type, invoke);
      internals.funcsByRef.set(funcRef, f);
      return f;
    },
  };
}
