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
};

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
