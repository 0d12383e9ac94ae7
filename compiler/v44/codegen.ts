/**
 * v44 code generation: the shared lowering (compiler/lowering/) with wasmtime v44.0.0's
 * VMContext layout, builtin indices and DRC barriers, and typed user stack maps.
 *
 * What differs from v31 (compiler/v31/codegen.ts), each from v44.0.0's sources:
 * - **Layout** (`V44VMOffsets`, v44's vmoffsets.rs): the 48-byte header (builtins at vmctx+16,
 *   `gc_heap_data` at +32, `type_ids` at +40), the same region order, VMFunctionImport and
 *   VMFuncRef unchanged; the prologue's stack limit is VMStoreContext.stack_limit (vmctx+8 → +24).
 * - **The GC heap's base** is no longer in the VMContext: v44 keeps the heap's
 *   VMMemoryDefinition in VMStoreContext (crates/cranelift/src/func_environ/gc/enabled.rs
 *   `get_gc_heap_base_global`: a load of `vmstore_context_gc_heap_base`, +32, through the store
 *   context pointer at vmctx+8).
 * - **Read barrier** (crates/cranelift/src/func_environ/gc/enabled/drc.rs
 *   `translate_read_gc_reference`, table.get and global.get of externrefs): no activations table
 *   and no libcall. Null or i31 → done; load the header's reserved bits (the kind word, +0); the
 *   in-list bit (1 << 1) set → done; else `push_onto_over_approximated_stack_roots`: load the list
 *   head cell's address from vmctx `gc_heap_data`, load the old head (u32), store it as the
 *   object's `next_over_approximated_stack_root` (+16), store the reserved bits with the in-list
 *   bit set, add one to the u64 ref count (+8), store the object as the new head.
 * - **Write barrier** (`translate_write_gc_reference`): v31's sequence unchanged (increment the new
 *   value, store, decrement the old one and call `drop_gc_ref` when it would reach 0), with v44's
 *   heap base.
 * - **Builtins** by v44's indices (compiler/v44/builtins.ts): `memory32_grow` is v44's
 *   `memory_grow` (same arguments); `drop_gc_ref` 25, `table_grow_gc_ref` 36, `table_fill_gc_ref` 37.
 * - One deliberate difference, as in v31's generator: no bounds check against the heap's
 *   `current_length` (`prepare_gc_ref_access`); the heap refuses foreign indices at GC time.
 */
import { CodegenError, type Loc } from '../codegen/common.ts';
import type { BuiltinName } from '../builtins.ts';
import { CompileError } from '../frontend/errors.ts';
import { isContRefType, isRefType, numImportedTags, refTypeParts, type FuncType, type Instr, type ValType, type WasmModule } from '../frontend/module.ts';
import { branchTo } from '../lowering/control.ts';
import { imm, valueArg, wideType } from '../lowering/values.ts';
import { ControlEffect } from './stack-switching.ts';
import type { Lowering } from '../lowering/context.ts';
import { withoutGc, type CodegenEra } from '../lowering/era.ts';
import { branchIfNullOrI31, lowerDrcRefs, TaggedLoweringOffsets, type DrcBarriers } from '../v31/codegen.ts';
import { v44BuiltinIndex } from './builtins.ts';
import { mutated } from '../mutants.ts';
import { V44DrcHeaderBits, V44DrcHeaderLayout } from './gc-layout.ts';
import { V44FuncRefLayout, V44StoreContextLayout, V44VMOffsets } from './vmoffsets.ts';
import { V31_MEMORY_TUNABLES } from '../memory-tunables.ts';

const CONTROL_EFFECT_RESUME = ControlEffect.Resume;
const CONTROL_EFFECT_SUSPEND = ControlEffect.Suspend;
const CONTROL_EFFECT_SWITCH = ControlEffect.Switch;

/** The v44 VMOffsets of a front-end module (its imported tags come first in its tag index space). */
export function v44OffsetsFor(module: WasmModule): V44VMOffsets {
  const c = module.counts;
  return new V44VMOffsets({
    numImportedFunctions: c.numImportedFunctions,
    numImportedTables: c.numImportedTables,
    numImportedMemories: c.numImportedMemories,
    numImportedGlobals: c.numImportedGlobals,
    numImportedTags: numImportedTags(module),
    numDefinedTables: c.numDefinedTables,
    numDefinedMemories: c.numDefinedMemories,
    numOwnedMemories: c.numOwnedMemories,
    numDefinedGlobals: c.numDefinedGlobals,
    numDefinedTags: (module.tags?.length ?? 0) - numImportedTags(module),
    numEscapedFuncs: c.numEscapedFunctions,
  });
}

/** The v17 builtin names the shared lowering calls, as v44 names them. */
const V44_NAMES: Partial<Record<BuiltinName, string>> = { memory32_grow: 'memory_grow' };

function v44Builtin(name: BuiltinName): number {
  const index = v44BuiltinIndex(V44_NAMES[name] ?? name);
  if (index === undefined) throw new CodegenError('x64', `v44 has no builtin ${name}`);
  return index;
}

/** Emits a call of v44 builtin `name` (by v44's own name). */
function libcall44(cx: Lowering, name: string, args: Parameters<Lowering['calls']['libcall']>[1], liveHeight: number): void {
  const index = v44BuiltinIndex(name);
  if (index === undefined) throw new CodegenError(cx.m.arch, `v44 has no builtin ${name}`);
  cx.calls.call('libcall', index, liveHeight, () => cx.m.callBuiltin(cx.offsets.vmctxBuiltinFunctions(), index, args));
}

function v44Offsets(cx: Lowering): V44VMOffsets {
  return (cx.offsets as TaggedLoweringOffsets<V44VMOffsets>).v31;
}

/** `reg` ← the GC heap's base: VMStoreContext (vmctx+8) → gc_heap.base (+32). */
function loadHeapBase(cx: Lowering, reg: 'R0' | 'R1' | 'R2'): void {
  cx.m.load(reg, 'vmctx', v44Offsets(cx).vmctxStoreContext(), 8);
  cx.m.load(reg, reg, V44StoreContextLayout.gcHeapBase, 8);
}

/**
 * v44's read barrier on the reference just stored at `result` (in R0 as well): link it into the
 * over-approximated-stack-roots list unless its in-list bit is set (see the file comment).
 */
function readBarrier(cx: Lowering, result: Loc): void {
  const { m } = cx;
  const o = v44Offsets(cx);
  const done = m.newLabel();
  branchIfNullOrI31(cx, 'R0', 'R1', done);
  // non_null_gc_ref_block: R1 ← the object, R2 ← its reserved bits.
  loadHeapBase(cx, 'R1');
  m.addReg('R1', 'R1', 'R0');
  m.load('R2', 'R1', V44DrcHeaderLayout.header, 4);
  m.andImm('R0', 'R2', BigInt(V44DrcHeaderBits.inOverApproxList));
  m.branchCmp('ne', false, 'R0', 0, done);
  if (mutated('v44-read-barrier-no-push')) m.jump(done);
  // insert_block: next = *head; obj.next = next; reserved |= bit; count += 1; *head = obj.
  m.load('R0', 'vmctx', o.vmctxGcHeapData(), 8);
  m.load('R0', 'R0', 0, 4);
  m.store('R1', V44DrcHeaderLayout.nextOverApproximatedStackRoot, 'R0', 4);
  m.orImm('R2', 'R2', BigInt(V44DrcHeaderBits.inOverApproxList));
  m.store('R1', V44DrcHeaderLayout.header, 'R2', 4);
  m.load('R0', 'R1', V44DrcHeaderLayout.refCount, 8);
  m.addImm('R0', 'R0', 1);
  m.store('R1', V44DrcHeaderLayout.refCount, 'R0', 8);
  m.load('R2', 'vmctx', o.vmctxGcHeapData(), 8);
  m.loadSlot('R0', result, false);
  m.store('R2', 0, 'R0', 4);
  m.bind(done);
}

const V44_BARRIERS: DrcBarriers = { loadHeapBase, readBarrier, libcall: libcall44 };
const lowerRefs = lowerDrcRefs(V44_BARRIERS);

/** A call of a v44 builtin whose result (in the return register) becomes a new value of type `t`. */
function libcallValue(cx: Lowering, name: string, args: Parameters<Lowering['calls']['libcall']>[1], t: ValType): void {
  libcall44(cx, name, args, cx.values.h);
  cx.m.storeReturn(cx.values.push(t));
}

/** The function type of continuation type `typeIndex`. */
function contFuncType(module: WasmModule, typeIndex: number): FuncType {
  const c = module.typeDefs[typeIndex].composite;
  if (c.kind !== 'cont') throw new CodegenError('x64', `type ${typeIndex} is not a continuation type`);
  return module.types[c.funcType];
}

/**
 * The stack-switching instructions (runtime/v44/continuations.ts has the whole protocol): the
 * bookkeeping in stackscope's extension builtins, the switch a call of `stackscope_switch`
 * (a safepoint with a user stack map, as Cranelift's `stack_switch` is one), then the values the
 * switch delivered read back one by one.
 */
function lowerStackSwitching(cx: Lowering, instr: Instr): boolean {
  const { m, module } = cx;
  const v = cx.values;
  switch (instr.op) {
    case 'cont.new': {
      const f = v.pop();
      libcallValue(cx, 'stackscope_cont_new', [valueArg(f, true), imm(instr.typeIndex)], `(ref ${instr.typeIndex})`);
      return true;
    }
    case 'cont.bind': {
      const from = contFuncType(module, instr.typeIndex);
      const n = from.params.length - contFuncType(module, instr.resultType).params.length;
      const gc = from.params.slice(0, n).find((t) => isGcRefType(module, t));
      // wasmtime v44.0.0's translator refuses these: the collector does not look into bound values.
      if (gc !== undefined) throw new CompileError('unsupported', `cont.bind of a ${gc} argument: wasmtime v44.0.0 refuses it too ('cont.bind does not support GC types at the moment')`, { funcIndex: cx.fn.index, instrIndex: cx.instrIndex, instr: 'cont.bind', offset: instr.offset });
      stageValues(cx, from.params.slice(0, n), 1);
      const k = v.pop();
      for (let j = 0; j < n; j++) v.pop();
      libcallValue(cx, 'stackscope_cont_bind', [valueArg(k, true), imm(n)], `(ref ${instr.resultType})`);
      return true;
    }
    case 'suspend': {
      const t = funcTypeOfTag(module, instr.tag);
      const n = t.params.length;
      stageValues(cx, t.params, 0);
      for (let j = 0; j < n; j++) v.pop();
      libcallValue(cx, 'stackscope_suspend', [imm(instr.tag), imm(n)], 'i64');
      switchOn(cx, CONTROL_EFFECT_SUSPEND);
      t.results.forEach((r, j) => libcallValue(cx, 'stackscope_payload_get', [imm(j)], r));
      return true;
    }
    case 'switch': {
      const ft = contFuncType(module, instr.typeIndex);
      const args = ft.params.slice(0, -1);
      const back = contFuncType(module, switchBackType(module, ft));
      stageValues(cx, args, 1);
      const k = v.pop();
      for (let j = 0; j < args.length; j++) v.pop();
      libcallValue(cx, 'stackscope_switch_to', [valueArg(k, true), imm(instr.tag), imm(args.length), imm(back.params.length)], 'i64');
      switchOn(cx, CONTROL_EFFECT_SWITCH);
      back.params.forEach((r, j) => libcallValue(cx, 'stackscope_payload_get', [imm(j)], r));
      return true;
    }
    case 'resume': {
      const ft = contFuncType(module, instr.typeIndex);
      const n = ft.params.length;
      stageValues(cx, ft.params, 1);
      // v44's handler list: the suspend handlers first, then the switch handlers.
      const onLabel = instr.handlers.filter((h): h is { tag: number; depth: number } => h.depth !== 'switch');
      const onSwitch = instr.handlers.filter((h) => h.depth === 'switch');
      [...onLabel, ...onSwitch].forEach((h, i) => libcall44(cx, 'stackscope_resume_handler', [imm(i), imm(h.tag)], v.h));
      const k = v.pop();
      for (let j = 0; j < n; j++) v.pop();
      libcallValue(cx, 'stackscope_resume', [valueArg(k, true), imm(instr.handlers.length), imm(onLabel.length), imm(n)], 'i64');
      switchOn(cx, CONTROL_EFFECT_RESUME);
      const effect = v.pop();
      libcallValue(cx, 'stackscope_resumed', [valueArg(effect, true)], 'i32');
      const code = v.peek(v.h - 1);
      onLabel.forEach((h, i) => {
        const skip = m.newLabel();
        m.branchCompareImm('ne', false, code, BigInt(i + 1), skip);
        const target = cx.ctrl[cx.ctrl.length - 1 - h.depth];
        const types = target.kind === 'loop' ? target.params : target.results;
        types.forEach((t, j) => libcallValue(cx, 'stackscope_payload_get', [imm(j)], t));
        branchTo(cx, target);
        for (let j = 0; j < types.length; j++) v.pop();
        m.bind(skip);
      });
      v.pop();
      ft.results.forEach((r, j) => libcallValue(cx, 'stackscope_payload_get', [imm(j)], r));
      return true;
    }
    default:
      return false;
  }
}

/**
 * `stackscope_payload_set` of the `types.length` operands under the top `above` ones (the values
 * a bookkeeping call then takes; they stay on the operand stack until it runs).
 */
function stageValues(cx: Lowering, types: readonly ValType[], above: number): void {
  const v = cx.values;
  const n = types.length;
  for (let j = 0; j < n; j++) libcall44(cx, 'stackscope_payload_set', [imm(j), valueArg(v.peek(v.h - above - n + j), wideType(types[j]))], v.h);
}

/** The switch itself: `stackscope_switch(ctx, effect)` on the control context the bookkeeping returned (popped), its result dropped. */
function switchOn(cx: Lowering, effect: number): void {
  const ctx = cx.values.pop();
  libcallValue(cx, 'stackscope_switch', [valueArg(ctx, true), imm(effect)], 'i64');
  if (effect !== CONTROL_EFFECT_RESUME) cx.values.pop();
}

/** The continuation type a `switch` of function type `ft` hands over (its last parameter's). */
function switchBackType(module: WasmModule, ft: FuncType): number {
  const last = ft.params[ft.params.length - 1];
  const heap = last !== undefined && isRefType(last) ? refTypeParts(last).heap : undefined;
  if (typeof heap !== 'number') throw new CodegenError('x64', `switch: the last parameter ${last} is not a continuation reference`);
  return heap;
}

/**
 * Whether `t` is a reference the GC heap holds (wasmtime's `is_vmgcref_type_and_not_i31`): the
 * any and extern hierarchies (structs, arrays, their bottoms), not functions, continuations or i31.
 */
function isGcRefType(module: WasmModule, t: ValType): boolean {
  if (!isRefType(t)) return false;
  const { heap } = refTypeParts(t);
  if (typeof heap === 'number') {
    const kind = module.typeDefs[heap]?.composite.kind;
    return kind === 'struct' || kind === 'array';
  }
  return heap !== 'func' && heap !== 'nofunc' && heap !== 'cont' && heap !== 'nocont' && heap !== 'i31';
}

function funcTypeOfTag(module: WasmModule, tag: number): FuncType {
  const t = module.tags?.[tag];
  if (t === undefined) throw new CodegenError('x64', `unknown tag ${tag}`);
  return module.types[t.typeIndex];
}

/**
 * Continuation tables and globals. v44 keeps a 16-byte VMContObj in each element and global and
 * loads or stores it inline (`translate_table_get`/`_set`, global access as an I128), and calls
 * `table_grow_cont_obj`/`table_fill_cont_obj` with the contref and revision taken apart. A
 * stackscope continuation value is a cell pointer (runtime/v44/continuations.ts), so each access
 * is a call of an extension builtin that converts between the two; table.size, table.copy,
 * table.init and elem.drop are the shared lowering's (they move elements, not values).
 */
function lowerContTablesAndGlobals(cx: Lowering, instr: Instr): boolean {
  const { m, module } = cx;
  const v = cx.values;
  const contTable = (t: number): boolean => isContRefType(module, module.tableTypes[t].elemType);
  switch (instr.op) {
    case 'table.get': {
      if (!contTable(instr.table)) return false;
      const index = v.pop();
      libcallValue(cx, 'stackscope_table_get_cont', [imm(instr.table), valueArg(index, false)], module.tableTypes[instr.table].elemType);
      return true;
    }
    case 'table.set': {
      if (!contTable(instr.table)) return false;
      libcall44(cx, 'stackscope_table_set_cont', [imm(instr.table), valueArg(v.peek(v.h - 2), false), valueArg(v.peek(v.h - 1), true)], v.h);
      v.pop();
      v.pop();
      return true;
    }
    case 'table.grow': {
      if (!contTable(instr.table)) return false;
      libcall44(cx, 'stackscope_table_grow_cont', [imm(instr.table), valueArg(v.peek(v.h - 1), false), valueArg(v.peek(v.h - 2), true)], v.h);
      v.pop();
      v.pop();
      m.storeReturn(v.push('i32'));
      return true;
    }
    case 'table.fill': {
      if (!contTable(instr.table)) return false;
      libcall44(cx, 'stackscope_table_fill_cont', [imm(instr.table), valueArg(v.peek(v.h - 3), false), valueArg(v.peek(v.h - 2), true), valueArg(v.peek(v.h - 1), false)], v.h);
      v.pop();
      v.pop();
      v.pop();
      return true;
    }
    case 'global.get': {
      const t = module.globalTypes[instr.global].valType;
      if (!isContRefType(module, t)) return false;
      libcallValue(cx, 'stackscope_global_get_cont', [imm(instr.global)], t);
      return true;
    }
    case 'global.set': {
      if (!isContRefType(module, module.globalTypes[instr.global].valType)) return false;
      libcall44(cx, 'stackscope_global_set_cont', [imm(instr.global), valueArg(v.peek(v.h - 1), true)], v.h);
      v.pop();
      return true;
    }
    default:
      return false;
  }
}

/** v44's instructions: continuations in tables and globals, references in tables and globals, then stack switching. */
function lowerV44(cx: Lowering, instr: Instr): boolean {
  return lowerContTablesAndGlobals(cx, instr) || lowerRefs(cx, instr) || lowerStackSwitching(cx, instr);
}

/** wasmtime v44.0.0: v44's layout, builtins, DRC barriers and typed user stack maps. */
export const V44_CODEGEN: CodegenEra = Object.freeze({
  name: 'v44',
  offsetsFor: (module: WasmModule) => new TaggedLoweringOffsets(v44OffsetsFor(module)),
  stackLimit: { vmctxOffset: 8, limitOffset: V44StoreContextLayout.stackLimit },
  stackCheck: 'frame',
  funcRef: { wasmCall: V44FuncRefLayout.wasmCall, vmctx: V44FuncRefLayout.vmctx, typeIndex: V44FuncRefLayout.typeIndex },
  builtinIndex: v44Builtin,
  lowerInstruction: lowerV44,
  prepareModule: withoutGc("the v44 code generator does not compile yet (structs and arrays are v31's)", { bottoms: true }),
  userStackMaps: true,
  memoryTunables: V31_MEMORY_TUNABLES,
  heapTrapAbove: 'maximum',
});
