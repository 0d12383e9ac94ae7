/**
 * wasmtime v17's VMBuiltinFunctionsArray: 31 entries in compiler/builtins.ts order, each a guest
 * stub (runtime/trampolines.ts) that records last_wasm_exit_fp/pc and tail-jumps through the
 * Machine's host gateway into the TypeScript implementation below (v17's libcalls.rs).
 *
 * Arguments arrive as raw registers per the platform ABI: vmctx first, i32 zero-extended (only
 * the low 32 bits are read), i64 as u64, pointers and references as addresses. A trap inside an
 * implementation is a thrown WasmTrap; it unwinds the host gateway and the guest call like v17's
 * longjmp-based raise, and the entry that started the call restores the limits
 * (runtime/activations.ts). Builtins v17 has but stackscope does not implement (atomics,
 * wmemcheck) trap with UnsupportedBuiltin naming the builtin.
 */
import { BUILTIN_FUNCTIONS, type BuiltinFunction, type BuiltinName } from '../compiler/builtins.ts';
import type { Machine } from '../simulator/machine.ts';
import { mutated } from '../compiler/mutants.ts';
import { RuntimeError, WasmTrap } from './errors.ts';
import type { ExternRefHost } from './externrefs.ts';
import type { RuntimeHeap } from './heap.ts';
import { RuntimeTable } from './table.ts';
import type { Trampolines } from './trampolines.ts';
import type { VMContextInstance } from './vmcontext.ts';

/** What the implementations need from the store. */
export interface BuiltinHost {
  readonly machine: Machine;
  /** The instance whose VMContext is at `vmctx` (throws when there is none). */
  instanceAt(vmctx: bigint): VMContextInstance;
  readonly externRefs: ExternRefHost;
  /** out_of_gas: refuel from the store's reserve, or throw WasmTrap OutOfFuel. */
  outOfGas(): void;
  /** new_epoch: the next epoch deadline, or throw WasmTrap Interrupt. */
  newEpoch(): bigint;
}

type Impl = (host: BuiltinHost, args: bigint[]) => bigint | void;

const U32_MAX = 0xffff_ffffn;
const USIZE_MAX = (1n << 64n) - 1n;
const u32 = (v: bigint): number => Number(BigInt.asUintN(32, v));

export const IMPLEMENTED_BUILTINS: ReadonlySet<BuiltinName> = new Set<BuiltinName>([
  'memory32_grow', 'table_copy', 'table_init', 'elem_drop', 'memory_copy', 'memory_fill', 'memory_init',
  'ref_func', 'data_drop', 'table_get_lazy_init_func_ref', 'table_grow_func_ref', 'table_grow_externref',
  'table_fill_externref', 'table_fill_func_ref', 'drop_externref', 'activations_table_insert_with_gc',
  'externref_global_get', 'externref_global_set', 'out_of_gas', 'new_epoch',
]);

function table(inst: VMContextInstance, index: number): RuntimeTable {
  const t = inst.tables[index];
  if (!t) throw new RuntimeError('builtin', `instance has no table ${index}`);
  return t;
}

function memory(inst: VMContextInstance, index: number) {
  const mem = inst.memories[index];
  if (!mem) throw new RuntimeError('builtin', `instance has no memory ${index}`);
  return mem;
}

function externrefGlobal(inst: VMContextInstance, index: number): bigint {
  const type = inst.module.globalTypes[index];
  if (type?.valType !== 'externref') throw new RuntimeError('builtin', `global ${index} is not an externref global`);
  return inst.globalAddress(index);
}

const IMPLS: Partial<Record<BuiltinName, Impl>> = {
  memory32_grow(h, [vmctx, delta, index]) {
    const old = memory(h.instanceAt(vmctx), u32(index)).grow(delta);
    return old < 0 ? USIZE_MAX : BigInt(old);
  },
  table_copy(h, [vmctx, dstTable, srcTable, dst, src, len]) {
    const inst = h.instanceAt(vmctx);
    RuntimeTable.copy(table(inst, u32(dstTable)), table(inst, u32(srcTable)), u32(dst), u32(src), u32(len));
  },
  table_init(h, [vmctx, tableIndex, elem, dst, src, len]) {
    const inst = h.instanceAt(vmctx);
    const t = table(inst, u32(tableIndex));
    const seg = inst.elementSegment(u32(elem));
    const items = seg?.items ?? [];
    const [d, s, n] = [u32(dst), u32(src), u32(len)];
    if (s + n > items.length || d + n > t.size) {
      throw new WasmTrap({ code: 'TableOutOfBounds', detail: `table.init of ${n} elements from segment ${u32(elem)}+${s} to table ${u32(tableIndex)}+${d}` });
    }
    for (let i = 0; i < n; i++) t.set(d + i, inst.evalConst(items[s + i]));
  },
  elem_drop(h, [vmctx, elem]) {
    const inst = h.instanceAt(vmctx);
    inst.elementSegment(u32(elem));
    inst.droppedElements.add(u32(elem));
  },
  memory_copy(h, [vmctx, dstIndex, dst, srcIndex, src, len]) {
    const inst = h.instanceAt(vmctx);
    memory(inst, u32(dstIndex)).copyFrom(memory(inst, u32(srcIndex)), dst, src, len);
  },
  memory_fill(h, [vmctx, index, dst, val, len]) {
    memory(h.instanceAt(vmctx), u32(index)).fill(Number(dst), u32(val) & 0xff, Number(len));
  },
  memory_init(h, [vmctx, index, data, dst, src, len]) {
    const inst = h.instanceAt(vmctx);
    const mem = memory(inst, u32(index));
    const bytes = inst.dataSegment(u32(data))?.bytes ?? new Uint8Array(0);
    const [s, n] = [u32(src), u32(len)];
    if (s + n > bytes.length) {
      throw new WasmTrap({ code: 'MemoryOutOfBounds', detail: `memory.init of ${n} bytes from data segment ${u32(data)}+${s} (${bytes.length} bytes)` });
    }
    mem.checkRange(dst, n);
    mem.write(Number(dst), bytes.subarray(s, s + n));
  },
  ref_func(h, [vmctx, func]) {
    return h.instanceAt(vmctx).funcRef(u32(func));
  },
  data_drop(h, [vmctx, data]) {
    const inst = h.instanceAt(vmctx);
    inst.dataSegment(u32(data));
    inst.droppedDatas.add(u32(data));
  },
  table_get_lazy_init_func_ref(h, [vmctx, tableIndex, index]) {
    return table(h.instanceAt(vmctx), u32(tableIndex)).getFuncRef(u32(index));
  },
  table_grow_func_ref(h, [vmctx, tableIndex, delta, init]) {
    const r = table(h.instanceAt(vmctx), u32(tableIndex)).grow(u32(delta), init);
    return r < 0 ? U32_MAX : BigInt(r);
  },
  table_grow_externref(h, [vmctx, tableIndex, delta, init]) {
    const r = table(h.instanceAt(vmctx), u32(tableIndex)).grow(u32(delta), init);
    return r < 0 ? U32_MAX : BigInt(r);
  },
  table_fill_externref(h, [vmctx, tableIndex, dst, val, len]) {
    table(h.instanceAt(vmctx), u32(tableIndex)).fill(u32(dst), val, u32(len));
  },
  table_fill_func_ref(h, [vmctx, tableIndex, dst, val, len]) {
    table(h.instanceAt(vmctx), u32(tableIndex)).fill(u32(dst), val, u32(len));
  },
  drop_externref(h, [, val]) {
    h.externRefs.dropAndDealloc(val);
  },
  activations_table_insert_with_gc(h, [, val]) {
    h.externRefs.insertOnStackWithGc(val);
  },
  externref_global_get(h, [vmctx, index]) {
    // v17 clones the global's reference into the activations table so the caller's frame
    // holds a rooted, table-owned reference, and returns the raw pointer.
    const inst = h.instanceAt(vmctx);
    const ref = h.machine.readU64(externrefGlobal(inst, u32(index)));
    if (ref !== 0n && !mutated('global-get-not-rooted')) h.externRefs.insertWithGc(ref);
    return ref;
  },
  externref_global_set(h, [vmctx, index, val]) {
    const inst = h.instanceAt(vmctx);
    const address = externrefGlobal(inst, u32(index));
    const old = h.machine.readU64(address);
    if (val !== 0n && !mutated('global-set-no-barrier')) h.externRefs.retain(val);
    h.machine.writeU64(address, val);
    if (old !== 0n) h.externRefs.release(old);
  },
  out_of_gas(h) {
    h.outOfGas();
  },
  new_epoch(h) {
    return h.newEpoch();
  },
};

/**
 * The builtins array of one store: its guest address goes into every VMContext at
 * `vmctx + 56`; entry i is the stub of builtin i.
 */
export class BuiltinsArray {
  readonly address: bigint;
  /** Stub address per builtin index. */
  readonly stubs: readonly bigint[];
  /** Gateway (host) address of each implementation. */
  readonly implementations: readonly bigint[];

  constructor(machine: Machine, heap: RuntimeHeap, trampolines: Trampolines, host: BuiltinHost) {
    this.address = heap.alloc(8 * BUILTIN_FUNCTIONS.length, 16);
    const stubs: bigint[] = [];
    const impls: bigint[] = [];
    for (const b of BUILTIN_FUNCTIONS) {
      const impl = machine.addHostFunction(`builtin ${b.name}`, b.params.length, (args) => runBuiltin(host, b, args));
      const stub = trampolines.builtinStub(b.name, impl);
      machine.writeU64(this.address + BigInt(8 * b.index), stub);
      stubs.push(stub);
      impls.push(impl);
    }
    this.stubs = stubs;
    this.implementations = impls;
  }

  /** The gateway address of a builtin's implementation. */
  implementationOf(name: BuiltinName): bigint {
    const b = BUILTIN_FUNCTIONS.find((f) => f.name === name);
    if (!b) throw new RuntimeError('builtins', `no builtin ${name}`);
    return this.implementations[b.index];
  }

  stubOf(name: BuiltinName): bigint {
    const b = BUILTIN_FUNCTIONS.find((f) => f.name === name);
    if (!b) throw new RuntimeError('builtins', `no builtin ${name}`);
    return this.stubs[b.index];
  }
}

function runBuiltin(host: BuiltinHost, b: BuiltinFunction, args: bigint[]): bigint {
  const impl = IMPLS[b.name];
  if (!impl) throw new WasmTrap({ code: 'UnsupportedBuiltin', detail: `unsupported builtin ${b.name}` });
  const r = impl(host, args);
  if (r === undefined) return 0n;
  return b.result === 'i32' ? BigInt.asUintN(32, r) : BigInt.asUintN(64, r);
}
