/**
 * wasmtime v31's VMBuiltinFunctionsArray for the v31 store: 40 entries in compiler/v31/builtins.ts
 * order. Each is a guest stub (runtime/trampolines.ts `builtinStub`: records the Wasm caller's FP
 * and return address in the VMStoreContext at vmctx+8 → +24/+32, as v31's wasm-to-builtin
 * trampolines do) that tail-jumps through the host gateway into the TypeScript implementation
 * below (v31's crates/wasmtime/src/runtime/vm/libcalls.rs).
 *
 * v31's libcalls return a trap sentinel (`bool` false, a negative pointer) that compiled code
 * tests; here a trapping implementation throws the WasmTrap itself, which unwinds the gateway and
 * the guest call as wasmtime's `raise` does. Builtins outside the subset (atomics, wmemcheck, the
 * GC-proposal helpers, fuel and epochs, which v31 code from stackscope never calls) trap with
 * UnsupportedBuiltin naming the builtin.
 */
import { V31_BUILTINS } from '../../compiler/v31/builtins.ts';
import { isI31 } from '../../gc/drc/heap.ts';
import { RuntimeError, WasmTrap } from '../errors.ts';
import type { V31Instance } from './instance.ts';
import type { V31Store } from './store.ts';
import type { DrcStore } from './drc-store.ts';

/** A builtin's implementation: the store, the calling instance, the raw arguments (vmctx first). */
export type BuiltinImpl<S extends DrcStore = DrcStore> = (store: S, inst: V31Instance, args: bigint[]) => bigint | void;

const USIZE_MAX = (1n << 64n) - 1n;
const u32 = (v: bigint): number => Number(BigInt.asUintN(32, v));

/** Builtins whose implementation exists (the rest trap with UnsupportedBuiltin). */
export const V31_IMPLEMENTED_BUILTINS: ReadonlySet<string> = new Set([
  'memory32_grow', 'table_copy', 'table_init', 'elem_drop', 'memory_copy', 'memory_fill', 'memory_init', 'ref_func',
  'data_drop', 'table_get_lazy_init_func_ref', 'table_grow_func_ref', 'table_fill_func_ref', 'drop_gc_ref', 'gc',
  'table_grow_gc_ref', 'table_fill_gc_ref', 'gc_alloc_raw', 'is_subtype',
]);

function memory(inst: V31Instance, index: number) {
  const mem = inst.memories[index];
  if (!mem) throw new RuntimeError('builtin', `instance has no memory ${index}`);
  return mem;
}

function table(inst: V31Instance, index: number) {
  const t = inst.tables[index];
  if (!t) throw new RuntimeError('builtin', `instance has no table ${index}`);
  return t;
}

/** The builtins both DRC eras implement the same way, by name. */
export const DRC_BUILTIN_IMPLS: Readonly<Record<string, BuiltinImpl>> = {
  memory32_grow(_s, inst, [, delta, index]) {
    const old = memory(inst, u32(index)).grow(delta);
    return old < 0 ? USIZE_MAX : BigInt(old);
  },
  table_copy(_s, inst, [, dstTable, srcTable, dst, src, len]) {
    table(inst, u32(dstTable)).copyFrom(table(inst, u32(srcTable)), u32(dst), u32(src), u32(len));
  },
  table_init(_s, inst, [, tableIndex, elem, dst, src, len]) {
    inst.tableInit(u32(tableIndex), u32(elem), u32(dst), u32(src), u32(len));
  },
  elem_drop(_s, inst, [, elem]) {
    inst.droppedElements.add(u32(elem));
  },
  memory_copy(_s, inst, [, dstIndex, dst, srcIndex, src, len]) {
    memory(inst, u32(dstIndex)).copyFrom(memory(inst, u32(srcIndex)), dst, src, len);
  },
  memory_fill(_s, inst, [, index, dst, val, len]) {
    memory(inst, u32(index)).fill(Number(dst), u32(val) & 0xff, Number(len));
  },
  memory_init(_s, inst, [, index, data, dst, src, len]) {
    const mem = memory(inst, u32(index));
    const bytes = inst.droppedDatas.has(u32(data)) ? new Uint8Array(0) : (inst.module.wasm.datas[u32(data)]?.bytes ?? new Uint8Array(0));
    const [s, n] = [u32(src), u32(len)];
    if (s + n > bytes.length) throw new WasmTrap({ code: 'MemoryOutOfBounds', detail: `memory.init of ${n} bytes from data segment ${u32(data)}+${s} (${bytes.length} bytes)` });
    mem.checkRange(dst, n);
    mem.write(Number(dst), bytes.subarray(s, s + n));
  },
  ref_func(_s, inst, [, func]) {
    return inst.funcRef(u32(func));
  },
  data_drop(_s, inst, [, data]) {
    inst.droppedDatas.add(u32(data));
  },
  table_get_lazy_init_func_ref(_s, inst, [, tableIndex, index]) {
    return table(inst, u32(tableIndex)).getRaw(Number(index)) & ~1n;
  },
  table_grow_func_ref(_s, inst, [, tableIndex, delta, init]) {
    const r = table(inst, u32(tableIndex)).grow(Number(BigInt.asUintN(32, delta)), init);
    return r < 0 ? USIZE_MAX : BigInt(r);
  },
  table_fill_func_ref(_s, inst, [, tableIndex, dst, val, len]) {
    table(inst, u32(tableIndex)).fill(u32(dst), val, u32(len));
  },
  table_grow_gc_ref(_s, inst, [, tableIndex, delta, init]) {
    const r = table(inst, u32(tableIndex)).grow(Number(BigInt.asUintN(32, delta)), BigInt(u32(init)));
    return r < 0 ? USIZE_MAX : BigInt(r);
  },
  table_fill_gc_ref(_s, inst, [, tableIndex, dst, val, len]) {
    table(inst, u32(tableIndex)).fill(u32(dst), BigInt(u32(val)), u32(len));
  },
  // v31 libcalls.rs `gc_alloc_raw`: the module's type index to its engine id, allocate (collect
  // once and retry when the heap is full), expose the new ref to Wasm (count 1 in the table).
  gc_alloc_raw(s, inst, [, kind, typeIndex, size, align]) {
    if (s.allocGcObject === undefined) throw new WasmTrap({ code: 'UnsupportedBuiltin', detail: `gc_alloc_raw in a ${s.era.name} store` });
    return BigInt(s.allocGcObject(u32(kind), inst.typeId(u32(typeIndex)), u32(size), u32(align)));
  },
  // v31 libcalls.rs `is_subtype`: the engine's subtype check over VMSharedTypeIndex values.
  is_subtype(s, _inst, [, actual, expected]) {
    return s.signatures.isSubtype(u32(actual), u32(expected)) ? 1n : 0n;
  },
  // v31 libcalls.rs `drop_gc_ref`: compiled code saw the count would reach 0 and did not store
  // it; the store's `drop_gc_ref` does the last decrement and frees.
  drop_gc_ref(s, _inst, [, val]) {
    s.dropRef(u32(val));
  },
};

const V31_IMPLS: Readonly<Record<string, BuiltinImpl<V31Store>>> = {
  ...DRC_BUILTIN_IMPLS,
  // v31 libcalls.rs `gc`: clone the root; clone it again and expose that clone to Wasm (every
  // on-stack ref must be in the activations table during the collection); collect; expose the
  // first clone and return the (non-moving) ref.
  gc(s, _inst, [, root]) {
    const raw = u32(root);
    const counted = raw !== 0 && !isI31(raw);
    if (counted) {
      s.cloneRef(raw);
      s.cloneRef(raw);
      s.exposeToWasm(raw);
    }
    s.gc({ reason: 'gc-builtin' });
    if (counted) s.exposeToWasm(raw);
    return BigInt(raw);
  },
};

/** A builtin as the array needs it: its index, name, parameter count and result kind. */
export interface BuiltinRow {
  readonly index: number;
  readonly name: string;
  readonly params: readonly unknown[];
  readonly result: string | null;
}

/**
 * The builtins array of one store: its guest address goes into every VMContext's builtins field;
 * entry i is the stub of builtin i (`builtins` in index order), whose implementation is
 * `impls[name]` (UnsupportedBuiltin when there is none).
 */
export class DrcBuiltinsArray<S extends DrcStore> {
  readonly address: bigint;
  readonly stubs: readonly bigint[];

  constructor(store: S, builtins: readonly BuiltinRow[], impls: Readonly<Record<string, BuiltinImpl<S>>>) {
    const m = store.machine;
    this.address = store.heap.alloc(8 * builtins.length, 16);
    const stubs: bigint[] = [];
    for (const b of builtins) {
      const impl = m.addHostFunction(`builtin ${b.name}`, b.params.length + 1, (args) => run(store, b, impls[b.name], args));
      const stub = store.trampolines.builtinStub(b.name, impl, store.era.entryRecord);
      m.writeU64(this.address + BigInt(8 * b.index), stub);
      stubs.push(stub);
    }
    this.stubs = stubs;
  }
}

/** wasmtime v31's VMBuiltinFunctionsArray of a V31Store. */
export class V31BuiltinsArray extends DrcBuiltinsArray<V31Store> {
  constructor(store: V31Store) {
    super(store, V31_BUILTINS, V31_IMPLS);
  }
}

function run<S extends DrcStore>(store: S, b: BuiltinRow, impl: BuiltinImpl<S> | undefined, args: bigint[]): bigint {
  if (!impl) throw new WasmTrap({ code: 'UnsupportedBuiltin', detail: `unsupported builtin ${b.name}` });
  const inst = store.instances.get(args[0]);
  if (!inst) throw new RuntimeError('builtin', `no instance has its VMContext at 0x${args[0].toString(16)}`);
  const r = impl(store, inst, args);
  if (r === undefined) return 0n;
  return b.result === 'u32' || b.result === 'bool' || b.result === 'u8' ? BigInt.asUintN(32, r) : BigInt.asUintN(64, r);
}
