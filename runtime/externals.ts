/**
 * Global, Table and Memory (wasmtime's `externals/`): the non-function externs, defined by an
 * instance or by the host, as handles onto their definitions in guest memory.
 */
import type { GlobalType, MemoryType, TableType } from '../compiler/frontend/module.ts';
import { valueBytes } from '../compiler/frontend/module.ts';
import { VMGlobalDefinitionLayout, VMMemoryDefinitionLayout } from '../compiler/vmoffsets.ts';
import { RuntimeError } from './errors.ts';
import type { Func } from './func.ts';
import { LinearMemory, WASM_PAGE_SIZE } from './memory.ts';
import { assertOpen, storeInternals, type Store } from './store.ts';
import { RuntimeTable } from './table.ts';
import { fromRaw, toRaw, type Val } from './values.ts';
import { writeGlobalStorage } from './vm-structs.ts';


/** A global: defined by an instance or by the host. */
export class Global {
  /** @internal */
  constructor(readonly store: Store, readonly type: GlobalType, readonly address: bigint) {}

  static new(store: Store, type: GlobalType, value: Val): Global {
    const address = storeInternals(store).heap.alloc(VMGlobalDefinitionLayout.size, VMGlobalDefinitionLayout.align);
    const g = new Global(store, type, address);
    g.write(value);
    return g;
  }

  get(): Val {
    assertOpen(this.store);
    const m = this.store.machine;
    const raw = valueBytes(this.type.valType) === 4 ? BigInt(m.readU32(this.address)) : m.readU64(this.address);
    return fromRaw(this.store, this.type.valType, raw);
  }

  set(value: Val): void {
    if (!this.type.mutable) throw new RuntimeError('Global.set', 'global is immutable');
    this.write(value);
  }

  private write(value: Val): void {
    assertOpen(this.store);
    const s = this.store;
    const raw = toRaw(s, this.type.valType, value, 'Global');
    const old = s.machine.readU64(this.address);
    const externRefs = storeInternals(s).externRefs;
    if (this.type.valType === 'externref' && raw !== 0n) externRefs.retain(raw);
    writeGlobalStorage(s.machine, this.address, raw);
    if (this.type.valType === 'externref' && old !== 0n) externRefs.release(old);
  }
}

/** A table: defined by an instance or by the host. */
export class Table {
  /** @internal */
  constructor(readonly store: Store, readonly table: RuntimeTable, readonly ownerVmctx: bigint) {}

  static new(store: Store, type: TableType, init: Val = null): Table {
    const internals = storeInternals(store);
    const t = new Table(store, RuntimeTable.create(store.machine, internals.heap, type, internals.externRefs), 0n);
    const raw = toRaw(store, type.elemType, init, 'Table.new');
    for (let i = 0; i < type.min; i++) t.table.set(i, raw);
    return t;
  }

  get type(): TableType {
    return { elemType: this.table.elemType, min: this.table.size, max: this.table.maximum };
  }

  size(): number {
    assertOpen(this.store);
    return this.table.size;
  }

  get(index: number): Val {
    assertOpen(this.store);
    const raw = this.table.get(index);
    return fromRaw(this.store, this.table.elemType, raw);
  }

  set(index: number, value: Val): void {
    assertOpen(this.store);
    this.table.set(index, toRaw(this.store, this.table.elemType, value, 'Table.set'));
  }

  /** The old size; throws when the table cannot grow (wasmtime returns an error). */
  grow(delta: number, init: Val = null): number {
    assertOpen(this.store);
    const r = this.table.grow(delta, toRaw(this.store, this.table.elemType, init, 'Table.grow'));
    if (r < 0) throw new RuntimeError('Table.grow', `cannot grow by ${delta} from ${this.table.size}`);
    return r;
  }
}

/** A linear memory: defined by an instance or by the host. */
export class Memory {
  /** @internal */
  constructor(readonly store: Store, readonly memory: LinearMemory, readonly ownerVmctx: bigint, readonly definedIndex: number) {}

  static new(store: Store, type: MemoryType): Memory {
    const internals = storeInternals(store);
    const memory = LinearMemory.create(store.machine, type, internals.env.memoryOptions);
    memory.writeDefinition(internals.heap.alloc(VMMemoryDefinitionLayout.size, 16));
    registerMemory(store, memory);
    return new Memory(store, memory, 0n, 0);
  }

  get type(): MemoryType {
    return this.memory.type;
  }

  /** Size in pages. */
  size(): number {
    assertOpen(this.store);
    return this.memory.pages;
  }

  dataSize(): number {
    assertOpen(this.store);
    return this.memory.byteLength;
  }

  /** Guest address of byte 0. */
  get base(): bigint {
    return this.memory.base;
  }

  read(offset: number, length: number): Uint8Array {
    assertOpen(this.store);
    return this.memory.read(offset, length);
  }

  write(offset: number, bytes: Uint8Array): void {
    assertOpen(this.store);
    this.memory.write(offset, bytes);
  }

  readU32(offset: number): number {
    return new DataView(this.read(offset, 4).buffer).getUint32(0, true);
  }

  writeU32(offset: number, value: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value >>> 0, true);
    this.write(offset, b);
  }

  /** The old size in pages; throws when the memory cannot grow. */
  grow(deltaPages: number): number {
    assertOpen(this.store);
    const r = this.memory.grow(deltaPages);
    if (r < 0) throw new RuntimeError('Memory.grow', `cannot grow by ${deltaPages} pages from ${this.memory.pages}`);
    return r;
  }
}

/** Makes a fault anywhere in `memory`'s reservation or guard a Wasm memory trap of `store`. */
export function registerMemory(store: Store, memory: LinearMemory): void {
  const reserved = BigInt(memory.reservedPages) * BigInt(WASM_PAGE_SIZE);
  storeInternals(store).traps.addMemoryRange(memory.base, memory.base + reserved + memory.guardBytes);
}

export type Extern = Func | Global | Table | Memory;
