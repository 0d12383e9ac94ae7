/**
 * wasmtime v44's VMBuiltinFunctionsArray for the v44 store: 58 entries in compiler/v44/builtins.ts
 * order. Each is a guest stub with a frame of its own (runtime/trampolines.ts `builtinStub`, record
 * `v44`: its FP into VMStoreContext.last_wasm_exit_trampoline_fp, +48, the return address into
 * Wasm into +56) that calls the TypeScript implementation through the host gateway.
 *
 * The implementations are v31's (runtime/v31/builtins.ts `DRC_BUILTIN_IMPLS`, v44's libcalls.rs
 * does the same for these), under v44's names: `memory_grow` (v31's `memory32_grow`), and
 * `drop_gc_ref`, `table_grow_gc_ref` and `table_fill_gc_ref` over the v44 heap. v44's DRC code
 * calls no `gc` builtin (its read barrier has no slow path); the rest trap with
 * UnsupportedBuiltin naming the builtin.
 */
import { V44_BUILTINS, V44_EXTENSION_BUILTINS, v44BuiltinIndex } from '../../compiler/v44/builtins.ts';
import { DRC_BUILTIN_IMPLS, DrcBuiltinsArray, type BuiltinImpl } from '../v31/builtins.ts';
import type { V44Store } from './store.ts';
import { readContObj, writeContObj, type V31Instance, type V31Table } from '../v31/instance.ts';
import { isContRefType } from '../../compiler/frontend/module.ts';
import { RuntimeError } from '../errors.ts';

const u32 = (v: bigint): number => Number(BigInt.asUintN(32, v));

const V44_IMPLS: Readonly<Record<string, BuiltinImpl<V44Store>>> = {
  ...DRC_BUILTIN_IMPLS,
  memory_grow: DRC_BUILTIN_IMPLS.memory32_grow,
  // The stack-switching extension entries (runtime/v44/continuations.ts).
  stackscope_cont_new: (s, inst, [, funcRef, typeIndex]) => s.stackSwitching.contNew(inst, funcRef, u32(typeIndex)),
  stackscope_payload_set: (s, _inst, [, index, value]) => s.stackSwitching.payloadSet(u32(index), value),
  stackscope_resume_handler: (s, inst, [, index, tag]) => s.stackSwitching.resumeHandler(inst, u32(index), u32(tag)),
  stackscope_resume: (s, _inst, [, contObj, count, suspendHandlers, argCount]) => s.stackSwitching.resume(contObj, u32(count), u32(suspendHandlers), u32(argCount)),
  stackscope_cont_bind: (s, _inst, [, contObj, count]) => s.stackSwitching.contBind(contObj, u32(count)),
  stackscope_switch_to: (s, inst, [, contObj, tag, argCount, resultCount]) => s.stackSwitching.switchTo(inst, contObj, u32(tag), u32(argCount), u32(resultCount)),
  stackscope_suspend: (s, inst, [, tag, count]) => s.stackSwitching.suspend(inst, u32(tag), u32(count)),
  stackscope_resumed: (s, _inst, [, effect]) => BigInt(s.stackSwitching.resumed(Number(effect))),
  stackscope_payload_get: (s, _inst, [, index]) => s.stackSwitching.payloadGet(u32(index)),
  // Continuation tables (16-byte VMContObj elements) and globals: v44's `table_grow_cont_obj`
  // and `table_fill_cont_obj` take the contref and revision apart; the extension entries take a
  // stackscope continuation value (a cell) and convert.
  table_grow_cont_obj: (_s, inst, [, table, delta, contref, revision]) => tableGrow(inst, table, delta, contref === 0n ? 0n : contref | (revision << 64n)),
  table_fill_cont_obj: (_s, inst, [, table, dst, contref, revision, len]) => contTable(inst, table).fill(u32(dst), contref === 0n ? 0n : contref | (revision << 64n), u32(len)),
  stackscope_table_get_cont: (s, inst, [, table, index]) => s.stackSwitching.cellOf(contTable(inst, table).getRaw(Number(BigInt.asUintN(32, index)))),
  stackscope_table_set_cont: (s, inst, [, table, index, cell]) => contTable(inst, table).set(Number(BigInt.asUintN(32, index)), s.stackSwitching.fatOf(cell)),
  stackscope_table_grow_cont: (s, inst, [, table, delta, cell]) => tableGrow(inst, table, delta, s.stackSwitching.fatOf(cell)),
  stackscope_table_fill_cont: (s, inst, [, table, dst, cell, len]) => contTable(inst, table).fill(u32(dst), s.stackSwitching.fatOf(cell), u32(len)),
  stackscope_global_get_cont: (s, inst, [, global]) => s.stackSwitching.cellOf(readContObj(s.machine, contGlobal(inst, global))),
  stackscope_global_set_cont: (s, inst, [, global, cell]) => writeContObj(s.machine, contGlobal(inst, global), s.stackSwitching.fatOf(cell)),
};

/** Table `index` of `inst`, which must hold continuations. */
function contTable(inst: V31Instance, index: bigint): V31Table {
  const t = inst.tables[u32(index)];
  if (t?.kind !== 'cont') throw new RuntimeError('continuation table', `instance has no continuation table ${u32(index)}`);
  return t;
}

/** table.grow of a continuation table: the old size, or usize::MAX (-1 as i32) when it cannot grow. */
function tableGrow(inst: V31Instance, table: bigint, delta: bigint, fat: bigint): bigint {
  const r = contTable(inst, table).grow(Number(BigInt.asUintN(32, delta)), fat);
  return r < 0 ? 0xffff_ffff_ffff_ffffn : BigInt(r);
}

/** The VMGlobalDefinition of global `index` of `inst`, which must hold a continuation. */
function contGlobal(inst: V31Instance, index: bigint): bigint {
  const g = u32(index);
  const t = inst.module.wasm.globalTypes[g];
  const at = inst.globalAddresses[g];
  if (t === undefined || at === undefined || !isContRefType(inst.module.wasm, t.valType)) throw new RuntimeError('continuation global', `instance has no continuation global ${g}`);
  return at;
}

/** The builtins v44 code from stackscope can call and the v44 store implements. */
export const V44_IMPLEMENTED_BUILTINS: ReadonlySet<string> = new Set(V44_BUILTINS.map((b) => b.name).filter((n) => n in V44_IMPLS));

/**
 * The v44 array and stackscope's extension entries after it; the `stackscope_switch` entry is
 * the switch routine itself (guest code, no host call).
 */
export class V44BuiltinsArray extends DrcBuiltinsArray<V44Store> {
  constructor(store: V44Store) {
    super(store, [...V44_BUILTINS, ...V44_EXTENSION_BUILTINS], V44_IMPLS);
    store.machine.writeU64(this.address + BigInt(8 * v44BuiltinIndex('stackscope_switch')!), store.stackSwitching.routines().switchRoutine);
  }
}
