/**
 * Wasm tables in guest memory. The VMTableDefinition {base, current_elements} lives in the
 * defining instance's vmctx (or in a standalone block for host-created tables); the elements are
 * an array of 8-byte words in the runtime heap. Growing past the capacity moves the elements and
 * rewrites `base`, as wasmtime's dynamic tables do, so compiled code must reload `base` after any
 * call that may grow a table.
 *
 * Element encoding (wasmtime v17, table.rs):
 * - funcref: 0 means "not initialised yet" (lazy initialisation); any other word is a
 *   `*mut VMFuncRef` with bit 0 set (FUNCREF_INIT_BIT), so an initialised null is 1. Compiled
 *   `table.get`/`call_indirect` load the word, call `table_get_lazy_init_func_ref` when it is 0,
 *   and otherwise clear bit 0.
 * - externref: a VMExternData pointer or 0 (null). The table owns one reference count per
 *   non-null element.
 */
import type { RefType, TableType } from '../compiler/frontend/module.ts';
import { VMTableDefinitionLayout } from '../compiler/vmoffsets.ts';
import type { Machine } from '../simulator/machine.ts';
import { RuntimeError, WasmTrap } from './errors.ts';
import type { RuntimeHeap } from './heap.ts';

export const FUNCREF_INIT_BIT = 1n;
export const MAX_TABLE_ELEMENTS = 0xffff_ffff;
/** Elements a table may hold at most (a resource limit, as wasmtime's default limiter has);
 * growth beyond fails with −1. */
export const DEFAULT_TABLE_ELEMENT_LIMIT = 1 << 20;

/** Reference counting of externrefs, implemented by the store's externref heap. */
export interface ExternRefCounts {
  /** Adds one count to a non-null VMExternData pointer. */
  retain(ptr: bigint): void;
  /** Drops one count; the heap frees the object when it reaches 0. */
  release(ptr: bigint): void;
}

/** Something that can produce the VMFuncRef of one of its functions on demand. */
export interface FuncRefSource {
  funcRef(funcIndex: number): bigint;
}

/** A funcref element not yet written to guest memory. */
export interface LazyFuncRef {
  readonly source: FuncRefSource;
  /** null for a `ref.null func` item. */
  readonly funcIndex: number | null;
}

let tableCounter = 0;

export class RuntimeTable {
  readonly name: string;
  readonly elemType: RefType;
  readonly maximum: number | null;
  private storage: bigint;
  private capacity: number;
  private length: number;
  /** Initial values of elements still 0 in guest memory, by element index. */
  private readonly lazy = new Map<number, LazyFuncRef>();
  definitionAddress: bigint;

  private constructor(
    readonly machine: Machine,
    private readonly heap: RuntimeHeap,
    type: TableType,
    private readonly externRefs: ExternRefCounts | undefined,
    definitionAddress: bigint | undefined,
  ) {
    this.name = `table${tableCounter++}`;
    this.elemType = type.elemType;
    this.maximum = type.max;
    this.length = type.min;
    this.capacity = Math.max(type.min, 4);
    this.storage = heap.alloc(this.capacity * 8, 16);
    this.definitionAddress = definitionAddress ?? heap.alloc(VMTableDefinitionLayout.size, 16);
    this.writeDefinition(this.definitionAddress);
  }

  /**
   * A table of `type.min` elements. Funcref elements start uninitialised (0), which reads as null
   * unless a lazy initial value is recorded; externref elements start null.
   */
  static create(machine: Machine, heap: RuntimeHeap, type: TableType, externRefs?: ExternRefCounts, definitionAddress?: bigint): RuntimeTable {
    if (type.min > DEFAULT_TABLE_ELEMENT_LIMIT) throw new RuntimeError('table', `minimum ${type.min} exceeds the limit of ${DEFAULT_TABLE_ELEMENT_LIMIT} elements`);
    return new RuntimeTable(machine, heap, type, externRefs, definitionAddress);
  }

  get size(): number {
    return this.length;
  }

  get base(): bigint {
    return this.storage;
  }

  /** Writes {base, current_elements} at `address` (a defined-table slot of a vmctx) and uses it. */
  writeDefinition(address: bigint): void {
    this.definitionAddress = address;
    this.machine.writeU64(address + BigInt(VMTableDefinitionLayout.base), this.storage);
    this.machine.writeU32(address + BigInt(VMTableDefinitionLayout.currentElements), this.length);
  }

  private slot(index: number): bigint {
    return this.storage + BigInt(index) * 8n;
  }

  private checkIndex(index: number, count = 1): void {
    if (!Number.isInteger(index) || index < 0 || index + count > this.length) {
      throw new WasmTrap({ code: 'TableOutOfBounds', detail: `${this.name}: elements [${index}, ${index + count}) of ${this.length}` });
    }
  }

  /** The raw element word as compiled code sees it. */
  rawGet(index: number): bigint {
    this.checkIndex(index);
    return this.machine.readU64(this.slot(index));
  }

  /** Records the initial value of a funcref element without touching guest memory. */
  setLazy(index: number, value: LazyFuncRef): void {
    this.checkIndex(index);
    if (this.elemType !== 'funcref') throw new RuntimeError(this.name, 'lazy initial values are for funcref tables');
    this.machine.writeU64(this.slot(index), 0n);
    this.lazy.set(index, value);
  }

  /**
   * A funcref element as a VMFuncRef pointer (0 = null), initialising it first if it is still
   * lazy: v17's `get_table_with_lazy_init` plus the mask.
   */
  getFuncRef(index: number): bigint {
    this.expect('funcref');
    this.checkIndex(index);
    const word = this.machine.readU64(this.slot(index));
    if (word !== 0n) return word & ~FUNCREF_INIT_BIT;
    const pending = this.lazy.get(index);
    const ptr = pending === undefined || pending.funcIndex === null ? 0n : pending.source.funcRef(pending.funcIndex);
    this.lazy.delete(index);
    this.machine.writeU64(this.slot(index), ptr | FUNCREF_INIT_BIT);
    return ptr;
  }

  setFuncRef(index: number, ptr: bigint): void {
    this.expect('funcref');
    this.checkIndex(index);
    this.lazy.delete(index);
    this.machine.writeU64(this.slot(index), ptr | FUNCREF_INIT_BIT);
  }

  /** An externref element (a VMExternData pointer, 0 = null). The table keeps its own count. */
  getExternRef(index: number): bigint {
    this.expect('externref');
    this.checkIndex(index);
    return this.machine.readU64(this.slot(index));
  }

  /** Stores an externref, taking a new count on it and dropping the old element's count. */
  setExternRef(index: number, ptr: bigint): void {
    this.expect('externref');
    this.checkIndex(index);
    const old = this.machine.readU64(this.slot(index));
    if (ptr !== 0n) this.externRefs?.retain(ptr);
    this.machine.writeU64(this.slot(index), ptr);
    if (old !== 0n) this.externRefs?.release(old);
  }

  /** Sets an element from a value of the table's type (funcref pointer or externref pointer). */
  set(index: number, value: bigint): void {
    if (this.elemType === 'funcref') this.setFuncRef(index, value);
    else this.setExternRef(index, value);
  }

  /** Reads an element as a pointer (funcref: initialising lazily). */
  get(index: number): bigint {
    return this.elemType === 'funcref' ? this.getFuncRef(index) : this.getExternRef(index);
  }

  /** table.fill: traps before writing anything when the range is out of bounds. */
  fill(dst: number, value: bigint, count: number): void {
    this.checkIndex(dst, count);
    for (let i = 0; i < count; i++) this.set(dst + i, value);
  }

  /**
   * table.grow: the old size, or −1 when the maximum (or u32) forbids. New elements get `init`
   * (a pointer of the table's type).
   */
  grow(delta: number, init: bigint): number {
    const old = this.length;
    if (!Number.isInteger(delta) || delta < 0) return -1;
    const wanted = old + delta;
    if (wanted > DEFAULT_TABLE_ELEMENT_LIMIT || (this.maximum !== null && wanted > this.maximum)) return -1;
    if (wanted > this.capacity) {
      const capacity = Math.max(wanted, this.capacity * 2);
      const storage = this.heap.alloc(capacity * 8, 16);
      if (old > 0) this.machine.writeBytes(storage, this.machine.readBytes(this.storage, old * 8));
      this.storage = storage;
      this.capacity = capacity;
    }
    this.length = wanted;
    for (let i = old; i < wanted; i++) {
      this.machine.writeU64(this.slot(i), 0n);
      this.set(i, init);
    }
    this.writeDefinition(this.definitionAddress);
    return old;
  }

  /** table.copy between (possibly the same) tables, memmove semantics, bounds checked first. */
  static copy(dst: RuntimeTable, src: RuntimeTable, dstIndex: number, srcIndex: number, count: number): void {
    dst.checkIndex(dstIndex, count);
    src.checkIndex(srcIndex, count);
    const values: bigint[] = [];
    for (let i = 0; i < count; i++) values.push(src.get(srcIndex + i));
    for (let i = 0; i < count; i++) dst.set(dstIndex + i, values[i]);
  }

  private expect(type: RefType): void {
    if (this.elemType !== type) throw new RuntimeError(this.name, `is a ${this.elemType} table, not ${type}`);
  }
}
