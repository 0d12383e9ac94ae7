/**
 * v31 instantiation and the v31 API handles: `V31Instance` (the VMContext written where
 * compiler/v31's `V31VMOffsets` says, as v31's `Instance::initialize_vmctx` does), `V31Func`
 * (defined and host functions, array calls), `V31Table` (funcref tables of tagged VMFuncRef
 * pointers, externref tables of 4-byte VMGcRefs), `V31Global`, and `V31ExternRef`.
 *
 * The handles serve both DRC-era stores (runtime/v31/drc-store.ts): a V31Store, or a V44Store
 * (runtime/v44/, which exports them under v44 names). The store writes the VMContext header of
 * its era (v31: magic, store context, builtins, callee, epoch, gc_heap_base/bound/data, type_ids,
 * stack_chain; v44: its 48-byte header) and says what its trampolines record; the rest of the
 * layout has the same region order and element layouts in both eras. Then owned memories
 * (inline VMMemoryDefinitions) and the pointers to them, imported functions (VMFunctionImport: wasm_call, array_call, vmctx), defined tables
 * (VMTableDefinition with a usize `current_elements`), defined globals (16 bytes; a reference in
 * the low 4), and one 32-byte VMFuncRef per escaped function, written at instantiation.
 *
 * Imports, in the module's import order: functions (host functions made with `V31Func.new`, or
 * another instance's exports), tables (`V31Table.new`, or an export), memories (`newV31Memory`,
 * or an export) and globals (`V31Global.new`, or an export), each of this store and matching the
 * import's type as the spec's import matching says (a table or memory at least as large as the
 * import's minimum, with a maximum no larger than its maximum; a global of the same type and
 * mutability). The VMContext then holds v31's import records: VMTableImport (the owner's
 * VMTableDefinition and vmctx), VMMemoryImport (the owner's VMMemoryDefinition, vmctx and
 * defined index) and VMGlobalImport (the owner's VMGlobalDefinition), which compiled code reads
 * through, so both instances see every change. (v44's VMTableImport and VMGlobalImport are 24
 * bytes, with an index after `from` and `vmctx`; those fields come first in both eras and are
 * what compiled code reads.) `tables`, `memories` and `globalAddresses` are indexed as the
 * module indexes them: the imported ones first.
 *
 * External symbols: an image (hand-written or from another toolchain) may call symbols it does
 * not define; `V31InstanceOptions.symbols` names the host functions they are, and the linker
 * points each call at the function's wasm-to-array trampoline. The call follows the Wasm
 * convention of a direct call (callee vmctx, caller vmctx, arguments), which the trampoline
 * accepts from any caller. The symbols are linked when the module's code is first placed in the
 * store; later instances share that code.
 */
import { floatFromBits } from '../../compiler/frontend/float-bits.ts';
import { describe, numericToRaw } from '../values.ts';
import { funcTypeOf, isContRefType, numImportedTags, type ConstExpr, type RefType, type WasmModule, type FuncType, type GlobalType, type Import, type MemoryType, type TableType, type ValType } from '../../compiler/frontend/module.ts';
import {
  V31ArrayCallHostFuncContextLayout, V31FuncRefLayout, V31FunctionImportLayout, V31GlobalDefinitionLayout, V31GlobalImportLayout,
  V31MemoryDefinitionLayout, V31MemoryImportLayout, V31TableDefinitionLayout, V31TableImportLayout, VM_ARRAY_CALL_HOST_FUNC_MAGIC,
} from '../../compiler/v31/vmoffsets.ts';
import { isI31 } from '../../gc/drc/heap.ts';
import { PROT_READ, PROT_WRITE } from '../../simulator/engine.ts';
import type { Machine, Region } from '../../simulator/machine.ts';
import { InstantiationError, RuntimeError, WasmTrap, normalizeTrapCode } from '../errors.ts';
import { LinearMemory } from '../memory.ts';
import type { Module } from '../module.ts';
import { placeModuleCode } from '../place.ts';
import { formatFuncType, funcTypeKey } from '../signatures.ts';
import { readValRaw, writeValRaw } from '../vm-structs.ts';
import type { DrcStore, DrcVmctxOffsets } from './drc-store.ts';
import { V31_MEMORY_TUNABLES } from '../../compiler/memory-tunables.ts';
import { V44TagDefinitionLayout, V44TagImportLayout } from '../../compiler/v44/vmoffsets.ts';
import { VMContObjLayout } from '../../compiler/v44/stack-switching.ts';
import { V31Tag } from './tag.ts';

/** A Wasm value as the v31 API passes it. */
export type V31Val = number | bigint | V31ExternRef | V31Func | null;
/** What a call returns: null (no result), the value (one), or every value in order (several), as v17's `Results`. */
export type V31Results = V31Val | V31Val[];

/** A host-side handle on an externref object in the GC heap; owns one count until `release()`. */
export class V31ExternRef {
  #raw: number;

  /** @internal Wraps a ref whose count this handle now owns. */
  constructor(readonly store: DrcStore, raw: number) {
    this.#raw = raw;
  }

  /**
   * v31's `ExternRef::new`: a new externref holding `value` (a collection and one retry when the
   * heap is full; GcHeapOutOfMemoryError after that). `destructor` runs once when it is freed.
   */
  static new(store: DrcStore, value: unknown, destructor?: (value: unknown) => void): V31ExternRef {
    return new V31ExternRef(store, store.allocExternRef(value, destructor));
  }

  /** The 32-bit VMGcRef (a byte index into the GC heap). Throws once released. */
  get raw(): number {
    if (this.#raw === 0) throw new RuntimeError('V31ExternRef', 'used after release()');
    return this.#raw;
  }

  get released(): boolean {
    return this.#raw === 0;
  }

  /** The host value. */
  get value(): unknown {
    return this.store.externRefValue(this.raw);
  }

  /** A second handle with its own count. */
  clone(): V31ExternRef {
    this.store.cloneRef(this.raw);
    return new V31ExternRef(this.store, this.#raw);
  }

  /** Gives the count back (idempotent; a no-op once the store is closed). */
  release(): void {
    const raw = this.#raw;
    if (raw === 0) return;
    this.#raw = 0;
    this.store.dropRef(raw);
  }

  /** @internal The raw ref with this handle's count, the handle emptied. */
  take(): number {
    const raw = this.raw;
    this.#raw = 0;
    return raw;
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

/** What a v31 host function sees of its caller. */
export interface V31Caller<T = unknown> {
  readonly store: DrcStore<T>;
  readonly instance: V31Instance | undefined;
}

/** A host function: returns nothing, its one result, or (several results) an array of them in order. */
export type V31HostFn<T = unknown> = (caller: V31Caller<T>, ...args: V31Val[]) => V31Results | void;

/** An API value to raw bits (refs: their raw ref; the caller decides who owns a count). */
function toRaw(store: DrcStore, type: ValType, v: V31Val, where: string): bigint {
  switch (type) {
    case 'i32':
    case 'i64':
    case 'f32':
    case 'f64':
      return numericToRaw(type, v, where);
    case 'externref': {
      if (v === null) return 0n;
      if (!(v instanceof V31ExternRef)) throw new RuntimeError(where, `expected V31ExternRef or null, got ${describe(v)}`);
      if (v.store !== store) throw new RuntimeError(where, 'belongs to a different store');
      return BigInt(v.raw);
    }
    case 'funcref': {
      if (v === null) return 0n;
      if (!(v instanceof V31Func)) throw new RuntimeError(where, `expected V31Func or null, got ${describe(v)}`);
      if (v.store !== store) throw new RuntimeError(where, 'belongs to a different store');
      return v.funcRefPointer;
    }
    default:
      throw new RuntimeError(where, `${type} values cannot cross the host boundary (the v31 store passes externref and funcref only)`);
  }
}

/** Raw bits to an API value; a non-null, non-i31 externref is cloned into a new handle. */
function fromRaw(store: DrcStore, type: ValType, raw: bigint): V31Val {
  switch (type) {
    case 'i32': return Number(BigInt.asIntN(32, raw));
    case 'i64': return BigInt.asIntN(64, raw);
    case 'f32':
    case 'f64': return floatFromBits(type, raw);
    case 'externref': {
      const r = Number(BigInt.asUintN(32, raw));
      if (r === 0) return null;
      store.cloneRef(r);
      return new V31ExternRef(store, r);
    }
    case 'funcref': return raw === 0n ? null : store.funcAt(raw & ~1n);
    default: throw new RuntimeError('fromRaw', `${type} values cannot cross the host boundary (the v31 store passes externref and funcref only)`);
  }
}

const isGcRef = (t: ValType): boolean => t === 'externref';

/** A function of a v31 store: defined by an instance, or by the host (`V31Func.new`). */
export class V31Func {
  /** @internal */
  constructor(
    readonly store: DrcStore,
    /** Guest address of the function's VMFuncRef. */
    readonly funcRefPointer: bigint,
    readonly type: FuncType,
    /** @internal The host implementation of a host function. */
    readonly host?: (caller: V31Caller, args: V31Val[]) => V31Results | void,
  ) {}

  /**
   * A host function Wasm calls through a wasm-to-array trampoline (v31's `Func::new`): the
   * VMArrayCallHostFuncContext ("ACHF") holds its VMFuncRef. Reference arguments are borrowed
   * handles (released after the call); a returned externref is moved to Wasm (exposed). With
   * several results `fn` returns an array of them, which the trampoline hands back in the Wasm
   * convention (registers, then the return area).
   */
  static new<T>(store: DrcStore<T>, type: FuncType, fn: V31HostFn<T>): V31Func {
    const s = store as DrcStore;
    const m = s.machine;
    const name = fn.name || 'host';
    const ctx = s.heap.alloc(V31ArrayCallHostFuncContextLayout.size, 16);
    const invoke = (caller: V31Caller, args: V31Val[]) => (fn as V31HostFn)(caller, ...args);
    const arrayHost = m.addHostFunction(`host-array ${name}`, 4, ([, callerVmctx, values, len]) => {
      if (len < BigInt(Math.max(type.params.length, type.results.length))) throw new RuntimeError(`host function ${name}`, `ValRaw buffer of ${len} slots is too small`);
      const args = type.params.map((t, i) => fromRaw(s, t, readValRaw(m, values, i)));
      let result: V31Results | void;
      try {
        result = invoke({ store: s, instance: s.instances.get(callerVmctx) }, args);
      } finally {
        for (const a of args) if (a instanceof V31ExternRef) a.release();
      }
      const where = `host function ${name}`;
      if (type.results.length === 1) writeValRaw(m, values, 0, resultToWasm(s, type.results[0], result as V31Val | void, where));
      else if (type.results.length > 1) {
        if (!Array.isArray(result) || result.length !== type.results.length) {
          throw new RuntimeError(where, `returned ${describe(result)}; ${formatFuncType(type)} needs an array of ${type.results.length} results`);
        }
        // Every value is checked before any externref among them is moved to Wasm.
        type.results.forEach((t, j) => toRaw(s, t, result[j], `${where} result ${j}`));
        type.results.forEach((t, j) => writeValRaw(m, values, j, resultToWasm(s, t, result[j], `${where} result ${j}`)));
      }
    });
    const wasmCall = s.trampolines.wasmToArray(type, arrayHost, name, s.era.entryRecord);
    m.writeU32(ctx + BigInt(V31ArrayCallHostFuncContextLayout.magic), VM_ARRAY_CALL_HOST_FUNC_MAGIC);
    const funcRef = ctx + BigInt(V31ArrayCallHostFuncContextLayout.funcRef);
    writeV31FuncRef(s, funcRef, { arrayCall: arrayHost, wasmCall, typeIndex: s.signatures.idOf(type), vmctx: ctx });
    const f = new V31Func(s, funcRef, type, invoke);
    s.funcs.set(funcRef, f);
    return f;
  }

  private field(offset: number): bigint {
    return this.store.machine.readU64(this.funcRefPointer + BigInt(offset));
  }

  /**
   * Calls the function through its array-call entry, as v31's `Func::call`: collects first when
   * the reference arguments would not fit in the bump chunk, clones and exposes each to Wasm,
   * and clones a reference result into a new handle.
   */
  call(...args: V31Val[]): V31Results {
    const s = this.store;
    s.assertOpen();
    if (args.length !== this.type.params.length) {
      throw new RuntimeError('V31Func.call', `${formatFuncType(this.type)} takes ${this.type.params.length} arguments, got ${args.length}`);
    }
    if (this.host) {
      const r = this.host({ store: s, instance: undefined }, args);
      return r === undefined ? null : r;
    }
    const raws = this.type.params.map((t, i) => toRaw(s, t, args[i], `argument ${i}`));
    s.collectBeforeEnteringWasm(this.type.params.filter((t, i) => isGcRef(t) && raws[i] !== 0n && !isI31(Number(raws[i]))).length);
    const slots = Math.max(this.type.params.length, this.type.results.length, 1);
    const mark = s.valRaw.top;
    const buf = (mark - BigInt(16 * slots)) & ~15n;
    if (buf < s.valRaw.bottom) throw new RuntimeError('V31Func.call', 'array-call argument stack exhausted');
    s.valRaw.top = buf;
    try {
      raws.forEach((r, i) => {
        if (isGcRef(this.type.params[i]) && r !== 0n) {
          s.cloneRef(Number(r));
          s.exposeToWasm(Number(r));
        }
        writeValRaw(s.machine, buf, i, r);
      });
      const arrayCall = this.field(V31FuncRefLayout.arrayCall);
      const vmctx = this.field(V31FuncRefLayout.vmctx);
      s.enter(() => s.machine.call(arrayCall, [vmctx, vmctx, buf, BigInt(slots)]));
      // The trampoline wrote every result into the buffer (those past the return registers from the return area).
      const results = this.type.results.map((t, j) => fromRaw(s, t, readValRaw(s.machine, buf, j)));
      return results.length === 0 ? null : results.length === 1 ? results[0] : results;
    } finally {
      s.valRaw.top = mark;
    }
  }

  /** A plain JS function calling this one. */
  toFunction(): (...args: V31Val[]) => V31Results {
    const f = (...args: V31Val[]): V31Results => this.call(...args);
    Object.defineProperty(f, 'func', { value: this });
    return f;
  }
}

/** A host function's result to raw bits: an externref handle is moved to Wasm (exposed). */
function resultToWasm(s: DrcStore, t: ValType, result: V31Val | void, where: string): bigint {
  const v = result === undefined ? null : result;
  if ((t === 'i32' || t === 'i64') && v === null) throw new RuntimeError(where, `returned nothing, ${t} expected`);
  const raw = toRaw(s, t, v, where);
  // v31's `Val::to_raw` → `expose_gc_ref_to_wasm`: the table takes the handle's count (into the
  // over-approximated set when the bump chunk is full; v31 checks need_gc_before_entering_wasm
  // only for `Func::call` arguments, not for host results).
  if (t === 'externref' && v instanceof V31ExternRef) s.exposeToWasm(v.take());
  return raw;
}

/** Writes a 32-byte v31 VMFuncRef. */
function writeV31FuncRef(s: DrcStore, at: bigint, f: { arrayCall: bigint; wasmCall: bigint; typeIndex: number; vmctx: bigint }): void {
  const m = s.machine;
  m.writeU64(at + BigInt(V31FuncRefLayout.arrayCall), f.arrayCall);
  m.writeU64(at + BigInt(V31FuncRefLayout.wasmCall), f.wasmCall);
  m.writeU64(at + BigInt(V31FuncRefLayout.typeIndex), BigInt(f.typeIndex)); // u32 + 4 bytes of padding
  m.writeU64(at + BigInt(V31FuncRefLayout.vmctx), f.vmctx);
}

/**
 * A defined table: funcref elements are VMFuncRef pointers tagged with FUNCREF_INIT_BIT (bit 0;
 * an initialized null is 1), externref elements 4-byte VMGcRefs. Every externref element owns
 * one count (v31's table barriers and `table_*_gc_ref` libcalls keep it so).
 */
export class V31Table {
  readonly elementSize: number;
  /** What the elements are: VMFuncRef pointers, VMGcRefs, or (v44) VMContObjs. */
  readonly kind: 'func' | 'extern' | 'cont';
  #region: Region;
  #size: number;

  /**
   * @internal `definition`: where its VMTableDefinition lives (a defined_tables slot of its
   * instance's VMContext, or a block of the store's heap for a host table); `ownerVmctx`: that
   * instance's VMContext (0 for a host table), what an importer's VMTableImport records.
   * `elemType` is funcref, externref, or (v44) a continuation reference type: then each element
   * is v44's 16-byte `Option<VMContObj>` (contref at +0, revision at +8; null: contref 0, and
   * stackscope writes the revision as 0 too, as v44's `ref.null` does) and a raw element value
   * is the fat pointer `contref | revision << 64` (v44's `fatpointer::construct`).
   */
  constructor(readonly store: DrcStore, readonly elemType: RefType, size: number, readonly maximum: number | null, readonly definition: bigint, readonly ownerVmctx = 0n) {
    this.kind = elemType === 'funcref' ? 'func' : elemType === 'externref' ? 'extern' : 'cont';
    this.elementSize = this.kind === 'extern' ? 4 : this.kind === 'func' ? 8 : VMContObjLayout.size;
    this.#size = size;
    this.#region = this.#map(Math.max(size, 1));
    this.#writeDefinition();
    if (this.kind === 'func') for (let i = 0; i < size; i++) this.#write(i, 1n);
  }

  /**
   * A table defined by the host (v31's `Table::new`), `type.min` elements of `init` (an externref
   * table's elements each take a count of it), to import into instances of this store.
   */
  static new(store: DrcStore, type: TableType, init: V31Val = null): V31Table {
    store.assertOpen();
    if (type.elemType !== 'funcref' && type.elemType !== 'externref') throw new RuntimeError('V31Table.new', `a table of ${type.elemType} is not supported (funcref or externref)`);
    if (type.max !== null && type.max < type.min) throw new RuntimeError('V31Table.new', `maximum ${type.max} is below minimum ${type.min}`);
    const definition = store.heap.alloc(V31TableDefinitionLayout.size, 16);
    const t = new V31Table(store, type.elemType, type.min, type.max, definition);
    const raw = toRaw(store, type.elemType, init, 'V31Table.new');
    if (raw !== 0n) for (let i = 0; i < type.min; i++) t.set(i, raw);
    return t;
  }

  #map(capacity: number): Region {
    return this.store.machine.map(`v31-table(${this.kind})`, Math.ceil((capacity * this.elementSize) / 4096) * 4096, PROT_READ | PROT_WRITE);
  }

  #writeDefinition(): void {
    const m = this.store.machine;
    m.writeU64(this.definition + BigInt(V31TableDefinitionLayout.base), this.#region.address);
    m.writeU64(this.definition + BigInt(V31TableDefinitionLayout.currentElements), BigInt(this.#size));
  }

  get size(): number {
    return this.#size;
  }

  #check(index: number, what: string): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.#size) throw new WasmTrap({ code: 'TableOutOfBounds', detail: `${what} of element ${index} of a ${this.#size}-element table` });
  }

  #read(i: number): bigint {
    const at = this.#region.address + BigInt(i * this.elementSize);
    const m = this.store.machine;
    if (this.kind === 'cont') return readContObj(m, at);
    return this.elementSize === 4 ? BigInt(m.readU32(at)) : m.readU64(at);
  }

  #write(i: number, raw: bigint): void {
    const at = this.#region.address + BigInt(i * this.elementSize);
    const m = this.store.machine;
    if (this.kind === 'cont') writeContObj(m, at, raw);
    else if (this.elementSize === 4) m.writeU32(at, Number(raw));
    else m.writeU64(at, raw);
  }

  /** The stored element (funcrefs with their init bit). */
  getRaw(index: number): bigint {
    this.#check(index, 'table.get');
    return this.#read(index);
  }

  /** Stores a raw value with the write barrier: the new ref takes a count, the old one drops one. */
  set(index: number, raw: bigint): void {
    this.#check(index, 'table.set');
    this.#store(index, raw);
  }

  #store(index: number, raw: bigint): void {
    if (this.kind === 'func') {
      this.#write(index, raw | 1n);
      return;
    }
    if (this.kind === 'cont') {
      this.#write(index, raw);
      return;
    }
    const r = Number(raw);
    if (r !== 0) this.store.cloneRef(r);
    const old = Number(this.#read(index));
    this.#write(index, raw);
    if (old !== 0) this.store.dropRef(old);
  }

  /** table.grow: the old size, or -1 when the maximum (or 2^32) is exceeded. */
  grow(delta: number, init: bigint): number {
    const old = this.#size;
    const next = old + delta;
    if (next > (this.maximum ?? 0xffff_ffff) || next > 10_000_000) return -1;
    if (next * this.elementSize > this.#region.size) {
      const bigger = this.#map(Math.max(next, 2 * old));
      bigger.view.set(this.#region.view.subarray(0, old * this.elementSize));
      this.#region = bigger;
    }
    this.#size = next;
    this.#writeDefinition();
    for (let i = old; i < next; i++) {
      this.#write(i, this.kind === 'func' ? 1n : 0n);
      this.#store(i, init);
    }
    return old;
  }

  fill(dst: number, raw: bigint, len: number): void {
    if (dst + len > this.#size) throw new WasmTrap({ code: 'TableOutOfBounds', detail: `table.fill of ${len} elements at ${dst} of ${this.#size}` });
    for (let i = 0; i < len; i++) this.#store(dst + i, raw);
  }

  /** table.copy from `src` (possibly this table), overlapping ranges as memmove. */
  copyFrom(src: V31Table, dst: number, from: number, len: number): void {
    if (dst + len > this.#size || from + len > src.size) throw new WasmTrap({ code: 'TableOutOfBounds', detail: `table.copy of ${len} elements` });
    const values = Array.from({ length: len }, (_, i) => src.#read(from + i));
    values.forEach((v, i) => this.#store(dst + i, v));
  }

  /** Every count the table's elements hold, given back (store close). */
  elements(): bigint[] {
    return Array.from({ length: this.#size }, (_, i) => this.#read(i));
  }

  /** The element as an API value (a new handle for an externref). */
  get(index: number): V31Val {
    return fromRaw(this.store, this.elemType, this.getRaw(index));
  }
}

/** A global of a v31 instance: its VMGlobalDefinition (a reference in the low 4 bytes). */
export class V31Global {
  /**
   * @internal `address`: its VMGlobalDefinition (an instance's defined_globals slot, or a host
   * global's block); `cont`: it holds a continuation reference (v44: the 16-byte VMContObj in the
   * definition itself, a raw value the fat pointer `contref | revision << 64`).
   */
  constructor(readonly store: DrcStore, readonly type: GlobalType, readonly address: bigint, readonly cont = false) {}

  /**
   * A global defined by the host (v31's `Global::new`) holding `value` (an externref takes a
   * count of it), to import into instances of this store.
   */
  static new(store: DrcStore, type: GlobalType, value: V31Val): V31Global {
    store.assertOpen();
    const address = store.heap.alloc(V31GlobalDefinitionLayout.size, V31GlobalDefinitionLayout.align);
    writeGlobal(store, type, address, toRaw(store, type.valType, value, 'V31Global.new'));
    return new V31Global(store, type, address);
  }

  private raw(): bigint {
    const m = this.store.machine;
    const t = this.type.valType;
    if (this.cont) return readContObj(m, this.address);
    return t === 'externref' || t === 'i32' || t === 'f32' ? BigInt(m.readU32(this.address)) : m.readU64(this.address);
  }

  get(): V31Val {
    this.store.assertOpen();
    return fromRaw(this.store, this.type.valType, this.raw());
  }

  /** Sets a mutable global (an externref with the write barrier). */
  set(v: V31Val): void {
    this.store.assertOpen();
    if (!this.type.mutable) throw new RuntimeError('V31Global.set', 'the global is immutable');
    writeGlobal(this.store, this.type, this.address, toRaw(this.store, this.type.valType, v, 'V31Global.set'), this.cont);
  }
}

function writeGlobal(s: DrcStore, type: GlobalType, address: bigint, raw: bigint, cont = false): void {
  const m = s.machine;
  if (cont) {
    // v44 keeps a continuation global's VMContObj in the 16-byte VMGlobalDefinition itself.
    writeContObj(m, address, raw);
    return;
  }
  if (type.valType !== 'externref') {
    m.writeU64(address + 8n, 0n);
    m.writeU64(address, raw);
    return;
  }
  const r = Number(raw);
  if (r !== 0) s.cloneRef(r);
  const old = m.readU32(address);
  m.writeU64(address + 8n, 0n);
  m.writeU64(address, raw);
  if (old !== 0) s.dropRef(old);
}

export type V31Extern = V31Func | V31Table | V31Global | LinearMemory | V31Tag;

/** A 16-byte `Option<VMContObj>` (contref +0, revision +8) as the fat value `contref | revision << 64`. */
export function readContObj(m: Machine, at: bigint): bigint {
  return m.readU64(at + BigInt(VMContObjLayout.contref)) | (m.readU64(at + BigInt(VMContObjLayout.revision)) << 64n);
}

/** Writes the fat value `contref | revision << 64` as a 16-byte `Option<VMContObj>`. */
export function writeContObj(m: Machine, at: bigint, fat: bigint): void {
  m.writeU64(at + BigInt(VMContObjLayout.contref), BigInt.asUintN(64, fat));
  m.writeU64(at + BigInt(VMContObjLayout.revision), BigInt.asUintN(64, fat >> 64n));
}

/** The store, VMContext (0 for the host) and defined index of every memory a v31 store made. */
/** v31's memories (v44's too): `Tunables::default_u64`, a 4 GiB reservation and a 32 MiB guard. */
const V31_MEMORY_OPTIONS = { guardBytes: V31_MEMORY_TUNABLES.guard, reservationPages: Number(V31_MEMORY_TUNABLES.reservation / 0x1_0000n) };

/** Makes a fault in `memory`'s reservation or guard a Wasm memory trap of `store`. */
function addV31MemoryRange(store: DrcStore, memory: LinearMemory): void {
  const { reservation, guard } = memory.addressSpace;
  store.traps.addMemoryRange(memory.base, memory.base + reservation + guard);
}

const memoryOwners = new WeakMap<LinearMemory, { store: DrcStore; vmctx: bigint; index: number }>();

/**
 * A linear memory defined by the host (v31's `Memory::new`), to import into instances of this
 * store: its VMMemoryDefinition in the store's heap, its reservation a Wasm memory trap range.
 */
export function newV31Memory(store: DrcStore, type: MemoryType): LinearMemory {
  store.assertOpen();
  if (type.shared) throw new RuntimeError('newV31Memory', 'shared memories are not supported');
  if (type.max !== null && type.max < type.min) throw new RuntimeError('newV31Memory', `maximum ${type.max} is below minimum ${type.min}`);
  const memory = LinearMemory.create(store.machine, type, V31_MEMORY_OPTIONS);
  memory.writeDefinition(store.heap.alloc(V31MemoryDefinitionLayout.size, 16));
  addV31MemoryRange(store, memory);
  memoryOwners.set(memory, { store, vmctx: 0n, index: 0 });
  return memory;
}

/** An import's value checked against the import (kind, store, type), as `InstantiationError`s naming it. */
function checkImport(store: DrcStore, imp: Import, ext: unknown, where: string, module: WasmModule, typeIds: readonly number[]): void {
  const types = module.types;
  const fail = (why: string): never => {
    throw new InstantiationError(where, why);
  };
  const limits = (what: string, size: number, max: number | null, want: { min: number; max: number | null }) => {
    if (size < want.min) fail(`${what} of ${size} is below the import's minimum ${want.min}`);
    if (want.max !== null && (max === null || max > want.max)) fail(`maximum ${max ?? 'none'} exceeds the import's ${want.max}`);
  };
  switch (imp.kind) {
    case 'func': {
      if (!(ext instanceof V31Func)) return fail(`expected a V31Func, got ${describe(ext)}`);
      if (ext.store !== store) fail('belongs to a different store');
      if (funcTypeKey(ext.type) !== funcTypeKey(types[imp.typeIndex])) fail(`function type ${formatFuncType(ext.type)} does not match ${formatFuncType(types[imp.typeIndex])}`);
      return;
    }
    case 'table': {
      if (!(ext instanceof V31Table)) return fail(`expected a V31Table, got ${describe(ext)}`);
      if (ext.kind === 'cont' || isContRefType(module, imp.type.elemType)) fail('continuation tables cannot be imported: their element type names a type of one module (stackscope compares element types by name, not by engine type)');
      if (ext.store !== store) fail('belongs to a different store');
      if (ext.elemType !== imp.type.elemType) fail(`a table of ${ext.elemType} does not match a table of ${imp.type.elemType}`);
      return limits('a table size', ext.size, ext.maximum, imp.type);
    }
    case 'memory': {
      if (!(ext instanceof LinearMemory)) return fail(`expected a memory (an export, or newV31Memory), got ${describe(ext)}`);
      if (memoryOwners.get(ext)?.store !== store) fail('belongs to a different store');
      return limits('a memory of pages', ext.pages, ext.type.max, imp.type);
    }
    case 'tag': {
      if (!(ext instanceof V31Tag)) return fail(`expected a tag (V44Tag.new, or a tag export), got ${describe(ext)}`);
      if (ext.store !== store) fail('belongs to a different store');
      if (store.era.name !== 'v44') fail(`tags belong to the stack-switching proposal, which only v44 stores run (this is a ${store.era.name} store)`);
      // v44's tag_ty: the same engine type, no subtyping.
      if (ext.typeId !== typeIds[imp.typeIndex]) fail(`incompatible tag types: the tag is ${formatFuncType(ext.type)}, the import wants ${formatFuncType(types[imp.typeIndex])}`);
      return;
    }
    case 'global': {
      if (!(ext instanceof V31Global)) return fail(`expected a V31Global, got ${describe(ext)}`);
      if (ext.cont || isContRefType(module, imp.type.valType)) fail('continuation globals cannot be imported: their type names a type of one module (stackscope compares global types by name, not by engine type)');
      if (ext.store !== store) fail('belongs to a different store');
      if (ext.type.valType !== imp.type.valType || ext.type.mutable !== imp.type.mutable) {
        fail(`a ${ext.type.mutable ? 'mutable' : 'immutable'} ${ext.type.valType} global does not match a ${imp.type.mutable ? 'mutable' : 'immutable'} ${imp.type.valType} one`);
      }
    }
  }
}

export interface V31InstanceOptions {
  /** Host functions (V31Func.new) for the symbols the image calls by name but does not define. */
  readonly symbols?: Readonly<Record<string, V31Func>>;
}

/** The linker's resolver for `symbols`: each name to its host function's wasm_call entry. */
function symbolResolver(store: DrcStore, symbols: Readonly<Record<string, V31Func>>): (name: string) => bigint | undefined {
  for (const [name, f] of Object.entries(symbols)) {
    if (!(f instanceof V31Func) || f.store !== store) throw new InstantiationError(`symbol ${name}`, 'must be a V31Func of this store');
    if (!f.host) throw new InstantiationError(`symbol ${name}`, 'only host functions (V31Func.new) can be called by name: a Wasm function needs its own vmctx, which a direct call does not pass');
  }
  return (name) => {
    const f = Object.hasOwn(symbols, name) ? symbols[name] : undefined;
    return f && store.machine.readU64(f.funcRefPointer + BigInt(V31FuncRefLayout.wasmCall));
  };
}

/** A module instantiated in a v31 store. */
export class V31Instance {
  readonly offsets: DrcVmctxOffsets;
  /** Guest address of the VMContext. */
  readonly address: bigint;
  readonly tables: V31Table[] = [];
  readonly memories: LinearMemory[] = [];
  readonly globalAddresses: bigint[] = [];
  readonly droppedElements = new Set<number>();
  readonly droppedDatas = new Set<number>();
  /** Exports by name: functions as callable JS functions (with `.func`), other kinds as handles. */
  readonly exports: Readonly<Record<string, V31Extern | ((...args: V31Val[]) => V31Results)>>;
  readonly #externs = new Map<string, V31Extern>();
  readonly #typeIds: number[];

  /** @internal The engine-wide id (VMSharedTypeIndex) of this module's type `typeIndex`. */
  typeId(typeIndex: number): number {
    const id = this.#typeIds[typeIndex];
    if (id === undefined) throw new RuntimeError('type_ids', `module has no type ${typeIndex}`);
    return id;
  }
  readonly #code: { wasmCall: bigint; arrayCall: bigint }[];
  /** Imported functions, by function index. */
  readonly #imports: V31Func[] = [];
  readonly #importedTables: V31Table[] = [];
  readonly #importedMemories: LinearMemory[] = [];
  readonly #importedGlobals: V31Global[] = [];
  readonly #importedTags: V31Tag[] = [];

  private constructor(readonly store: DrcStore, readonly module: Module, imports: readonly V31Extern[], options: V31InstanceOptions) {
    const s = store;
    s.assertOpen();
    const wasm = module.wasm;
    if (module.engine !== s.engine) throw new InstantiationError('V31Instance', 'module and store belong to different engines');
    if (imports.length !== wasm.imports.length) throw new InstantiationError('V31Instance', `${imports.length} imports given, the module needs ${wasm.imports.length}`);
    this.#typeIds = s.signatures.idsOfModuleTypes(wasm);
    wasm.imports.forEach((imp, i) => {
      const ext = imports[i];
      checkImport(s, imp, ext, `import ${i} (${imp.module}.${imp.name})`, wasm, this.#typeIds);
      if (imp.kind === 'func') this.#imports.push(ext as V31Func);
      else if (imp.kind === 'table') this.#importedTables.push(ext as V31Table);
      else if (imp.kind === 'memory') this.#importedMemories.push(ext as LinearMemory);
      else if (imp.kind === 'tag') this.#importedTags.push(ext as V31Tag);
      else this.#importedGlobals.push(ext as V31Global);
    });
    let placed = s.placed.get(module);
    if (!placed) {
      placed = placeModuleCode(s.machine, wasm, module.code, module.name, options.symbols ? symbolResolver(s, options.symbols) : undefined);
      s.placeModule(module, placed);
      s.traps.addSites(placed.textBase, module.code.traps.map((t) => ({ offset: t.textOffset, code: normalizeTrapCode(t.code) ?? 'UnreachableCodeReached' })));
    }
    this.#code = wasm.functions.map((fn, i) => ({
      wasmCall: placed!.functionAddresses[i],
      arrayCall: s.trampolines.arrayToWasm(fn.type, placed!.functionAddresses[i], `${module.name ?? 'module'}!${fn.index}`, s.era.entryRecord),
    }));
    this.offsets = s.era.offsetsFor(wasm);
    this.address = s.heap.alloc(Math.max(this.offsets.size, 16), 16);
    s.instances.set(this.address, this);
    this.#writeVmctx();
    const exports: Record<string, V31Extern | ((...args: V31Val[]) => V31Results)> = {};
    for (const e of wasm.exports) {
      const ext = this.#externFor(e.kind, e.index);
      this.#externs.set(e.name, ext);
      exports[e.name] = ext instanceof V31Func ? ext.toFunction() : ext;
    }
    this.exports = Object.freeze(exports);
  }

  /**
   * Instantiates `module` (compiled for a v31 engine) with its imports in import order:
   * places the code once per store (linking `options.symbols`), writes the VMContext, applies
   * segments, runs the start function.
   */
  static create(store: DrcStore, module: Module, imports: readonly V31Extern[] = [], options: V31InstanceOptions = {}): V31Instance {
    const inst = new V31Instance(store, module, imports, options);
    inst.#initializeSegments();
    if (module.wasm.start !== null) inst.func(module.wasm.start).call();
    return inst;
  }

  get vmctx(): bigint {
    return this.address;
  }

  #at(offset: number): bigint {
    return this.address + BigInt(offset);
  }

  #writeVmctx(): void {
    const s = this.store;
    const m = s.machine;
    const o = this.offsets;
    const wasm = this.module.wasm;
    const sigs = this.module.code.signatures;
    const typeIds = s.heap.alloc(Math.max(4 * sigs.length, 4), 16);
    sigs.forEach((t, i) => m.writeU32(typeIds + BigInt(4 * i), this.#typeIds[t]));
    s.era.writeVmctxHeader(this.address, o, typeIds, wasm);
    this.#imports.forEach((f, i) => {
      const base = this.#at(o.element('imported_functions', i));
      m.writeU64(base + BigInt(V31FunctionImportLayout.wasmCall), m.readU64(f.funcRefPointer + BigInt(V31FuncRefLayout.wasmCall)));
      m.writeU64(base + BigInt(V31FunctionImportLayout.arrayCall), m.readU64(f.funcRefPointer + BigInt(V31FuncRefLayout.arrayCall)));
      m.writeU64(base + BigInt(V31FunctionImportLayout.vmctx), m.readU64(f.funcRefPointer + BigInt(V31FuncRefLayout.vmctx)));
    });
    this.#importedTables.forEach((t, i) => {
      const base = this.#at(o.element('imported_tables', i));
      m.writeU64(base + BigInt(V31TableImportLayout.from), t.definition);
      m.writeU64(base + BigInt(V31TableImportLayout.vmctx), t.ownerVmctx);
      this.tables.push(t);
    });
    this.#importedMemories.forEach((mem, i) => {
      const base = this.#at(o.element('imported_memories', i));
      const owner = memoryOwners.get(mem)!;
      m.writeU64(base + BigInt(V31MemoryImportLayout.from), mem.definitionAddress!);
      m.writeU64(base + BigInt(V31MemoryImportLayout.vmctx), owner.vmctx);
      m.writeU64(base + BigInt(V31MemoryImportLayout.index), BigInt(owner.index)); // u32 + 4 bytes of padding
      this.memories.push(mem);
    });
    this.#importedGlobals.forEach((g, i) => {
      m.writeU64(this.#at(o.element('imported_globals', i)) + BigInt(V31GlobalImportLayout.from), g.address);
      this.globalAddresses.push(g.address);
    });
    // Tags: each import's VMTagImport (the owner's definition, vmctx and defined index), then
    // each defined tag's VMTagDefinition (its type's engine id); a tag's identity is that address.
    this.#importedTags.forEach((t, i) => {
      const base = this.#at(o.element('imported_tags', i));
      m.writeU64(base + BigInt(V44TagImportLayout.from), t.definition);
      m.writeU64(base + BigInt(V44TagImportLayout.vmctx), t.ownerVmctx);
      m.writeU64(base + BigInt(V44TagImportLayout.index), BigInt(t.index)); // u32 + 4 bytes of padding
    });
    (wasm.tags ?? []).slice(this.#importedTags.length).forEach((t, i) => {
      m.writeU32(this.#at(o.element('defined_tags', i)) + BigInt(V44TagDefinitionLayout.typeIndex), this.#typeIds[t.typeIndex]);
    });
    let owned = 0;
    for (const mem of wasm.memories) {
      if (mem.type.shared) throw new InstantiationError(`memory ${mem.index}`, 'shared memories are not supported');
      const memory = LinearMemory.create(m, mem.type, V31_MEMORY_OPTIONS);
      const definition = this.#at(o.element('owned_memories', owned++));
      memory.writeDefinition(definition);
      m.writeU64(this.#at(o.element('defined_memories', mem.definedIndex)), definition);
      addV31MemoryRange(s, memory);
      memoryOwners.set(memory, { store: s, vmctx: this.address, index: mem.definedIndex });
      this.memories.push(memory);
    }
    for (const t of wasm.tables) {
      const elemType = t.type.elemType;
      const cont = isContRefType(wasm, elemType);
      if (cont && s.era.name !== 'v44') throw new InstantiationError(`table ${t.index}`, `${elemType} elements: continuation tables belong to the stack-switching proposal, which only v44 stores run`);
      if (elemType !== 'funcref' && elemType !== 'externref' && !cont) throw new InstantiationError(`table ${t.index}`, `${elemType} elements: DRC-era tables hold funcref, externref or (v44) continuation references`);
      this.tables.push(new V31Table(s, elemType, t.type.min, t.type.max, this.#at(o.element('defined_tables', t.definedIndex)), this.address));
    }
    for (const g of wasm.globals) {
      const address = this.#at(o.element('defined_globals', g.definedIndex));
      this.globalAddresses.push(address);
      writeGlobal(s, g.type, address, this.#evalConst(g.init), isContRefType(wasm, g.type.valType));
    }
    wasm.escapedFunctions.forEach((f) => this.funcRef(f));
  }

  /** A constant expression's raw value (refs: a VMFuncRef pointer, or a ref whose count the caller takes). */
  #evalConst(expr: ConstExpr): bigint {
    switch (expr.op) {
      case 'i32.const': return BigInt.asUintN(32, BigInt(expr.value));
      case 'i64.const': return BigInt.asUintN(64, expr.value);
      case 'f32.const': return BigInt(expr.bits >>> 0);
      case 'f64.const': return BigInt.asUintN(64, expr.bits);
      case 'ref.null': return 0n;
      case 'ref.func': return this.funcRef(expr.func);
      case 'global.get': {
        const address = this.globalAddresses[expr.global];
        if (address === undefined) throw new InstantiationError('constant expression', `global ${expr.global} is not available`);
        const t = this.module.wasm.globalTypes[expr.global].valType;
        return t === 'i64' || t === 'f64' || t === 'funcref' ? this.store.machine.readU64(address) : BigInt(this.store.machine.readU32(address));
      }
    }
  }

  /** The VMFuncRef of function `funcIndex` (its func_refs slot, written at instantiation). */
  funcRef(funcIndex: number): bigint {
    const wasm = this.module.wasm;
    const escaped = wasm.escapedIndex.get(funcIndex);
    if (escaped === undefined) throw new RuntimeError(`function ${funcIndex}`, 'is not escaped, so it has no VMFuncRef slot');
    const slot = this.#at(this.offsets.element('func_refs', escaped));
    const nImported = wasm.counts.numImportedFunctions;
    if (funcIndex < nImported) {
      const f = this.#imports[funcIndex];
      const m = this.store.machine;
      writeV31FuncRef(this.store, slot, {
        arrayCall: m.readU64(f.funcRefPointer + BigInt(V31FuncRefLayout.arrayCall)),
        wasmCall: m.readU64(f.funcRefPointer + BigInt(V31FuncRefLayout.wasmCall)),
        typeIndex: this.#typeIds[wasm.funcTypeIndices[funcIndex]],
        vmctx: m.readU64(f.funcRefPointer + BigInt(V31FuncRefLayout.vmctx)),
      });
    } else {
      const c = this.#code[funcIndex - nImported];
      writeV31FuncRef(this.store, slot, { arrayCall: c.arrayCall, wasmCall: c.wasmCall, typeIndex: this.#typeIds[wasm.funcTypeIndices[funcIndex]], vmctx: this.address });
    }
    return slot;
  }

  /** The function `funcIndex` as a handle (it must be escaped). */
  func(funcIndex: number): V31Func {
    const wasm = this.module.wasm;
    if (funcIndex < wasm.counts.numImportedFunctions) return this.#imports[funcIndex];
    const ptr = this.funcRef(funcIndex);
    let f = this.store.funcs.get(ptr);
    if (!f) {
      f = new V31Func(this.store, ptr, funcTypeOf(wasm, funcIndex));
      this.store.funcs.set(ptr, f);
    }
    return f;
  }

  #initializeSegments(): void {
    const wasm = this.module.wasm;
    for (const seg of wasm.elements) {
      if (seg.mode.kind === 'active') {
        const table = this.tables[seg.mode.table];
        const offset = Number(this.#evalConst(seg.mode.offsetExpr));
        if (offset + seg.items.length > table.size) throw new WasmTrap({ code: 'TableOutOfBounds', detail: `element segment ${seg.index} at ${offset}+${seg.items.length} of ${table.size}` });
        seg.items.forEach((item, i) => table.set(offset + i, this.#evalConst(item)));
      }
      if (seg.mode.kind !== 'passive') this.droppedElements.add(seg.index);
    }
    for (const seg of wasm.datas) {
      if (seg.mode.kind === 'active') {
        this.memories[seg.mode.memory].write(Number(this.#evalConst(seg.mode.offsetExpr)), seg.bytes);
        this.droppedDatas.add(seg.index);
      }
    }
  }

  /** table.init from element segment `elem` (empty once dropped). */
  tableInit(tableIndex: number, elem: number, dst: number, src: number, len: number): void {
    const t = this.tables[tableIndex];
    const seg = this.module.wasm.elements[elem];
    const items = seg === undefined || this.droppedElements.has(elem) ? [] : seg.items;
    if (src + len > items.length || dst + len > t.size) throw new WasmTrap({ code: 'TableOutOfBounds', detail: `table.init of ${len} elements from segment ${elem}+${src} to table ${tableIndex}+${dst}` });
    for (let i = 0; i < len; i++) t.set(dst + i, this.#evalConst(items[src + i]));
  }

  #externFor(kind: string, index: number): V31Extern {
    const wasm = this.module.wasm;
    switch (kind) {
      case 'func': return this.func(index);
      case 'global': return index < wasm.counts.numImportedGlobals ? this.#importedGlobals[index] : new V31Global(this.store, wasm.globalTypes[index], this.globalAddresses[index], isContRefType(wasm, wasm.globalTypes[index].valType));
      case 'table': return this.tables[index];
      case 'memory': return this.memories[index];
      case 'tag': return this.tag(index);
      default: throw new RuntimeError('V31Instance', `unknown export kind ${kind}`);
    }
  }

  /** Tag `tagIndex` of the module's tag index space (an imported one is the tag it was given). */
  tag(tagIndex: number): V31Tag {
    const wasm = this.module.wasm;
    const t = wasm.tags?.[tagIndex];
    if (t === undefined) throw new RuntimeError('V31Instance.tag', `the module has no tag ${tagIndex}`);
    const nImported = numImportedTags(wasm);
    if (tagIndex < nImported) return this.#importedTags[tagIndex];
    const defined = tagIndex - nImported;
    return new V31Tag(this.store, wasm.types[t.typeIndex], this.#typeIds[t.typeIndex], this.#at(this.offsets.element('defined_tags', defined)), this.address, defined);
  }

  /** The VMTagDefinition address of tag `tagIndex` (its identity): its own, or what its VMTagImport names. */
  tagDefinition(tagIndex: number): bigint {
    const nImported = numImportedTags(this.module.wasm);
    if (tagIndex < nImported) return this.store.machine.readU64(this.#at(this.offsets.element('imported_tags', tagIndex)) + BigInt(V44TagImportLayout.from));
    return this.#at(this.offsets.element('defined_tags', tagIndex - nImported));
  }

  getTag(name: string): V31Tag {
    const e = this.#externs.get(name);
    if (!(e instanceof V31Tag)) throw new RuntimeError('V31Instance.getTag', `no tag export ${JSON.stringify(name)}`);
    return e;
  }

  getFunc(name: string): V31Func {
    const e = this.#externs.get(name);
    if (!(e instanceof V31Func)) throw new RuntimeError('V31Instance.getFunc', `no function export ${JSON.stringify(name)}`);
    return e;
  }

  getTable(name: string): V31Table {
    const e = this.#externs.get(name);
    if (!(e instanceof V31Table)) throw new RuntimeError('V31Instance.getTable', `no table export ${JSON.stringify(name)}`);
    return e;
  }

  getGlobal(name: string): V31Global {
    const e = this.#externs.get(name);
    if (!(e instanceof V31Global)) throw new RuntimeError('V31Instance.getGlobal', `no global export ${JSON.stringify(name)}`);
    return e;
  }

  getExport(name: string): V31Extern | undefined {
    return this.#externs.get(name);
  }
}
