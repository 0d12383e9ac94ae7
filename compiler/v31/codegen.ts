/**
 * v31 code generation: the shared lowering (compiler/lowering/) with wasmtime v31.0.0's
 * VMContext layout, builtin indices and DRC barriers, and typed user stack maps.
 *
 * What differs from v17, each from v31.0.0's sources:
 * - **Layout** (`V31LoweringOffsets`, v31's vmoffsets.rs): builtins at vmctx+16, `type_ids` at
 *   +64, imports/definitions in v31's region order (memories first), VMFunctionImport
 *   `{wasm_call 0, array_call 8, vmctx 16}`, VMFuncRef `{array_call 0, wasm_call 8, type_index 16,
 *   vmctx 24}`; the prologue's stack limit is VMStoreContext.stack_limit (vmctx+8 → +16).
 * - **References are 32-bit VMGcRefs** (a byte index into the GC heap; 0 null, low bit set an
 *   i31ref). A value keeps its 8-byte slot; the reference is its low 4 bytes (the rest zero), so a
 *   map entry is an `i32` at the slot's offset. Tables of externrefs hold 4-byte elements
 *   (func_environ.rs: "For GC-managed references, tables store `Option<VMGcRef>`s", element size
 *   `I32.bytes()`); a global holds its ref in the low 4 bytes of the VMGlobalDefinition.
 * - **Barriers** (crates/cranelift/src/gc/enabled/drc.rs, `DrcCompiler`):
 *   - read (`translate_read_gc_reference`: table.get, global.get): load; null or i31 → done;
 *     `(next, end)` of the VMGcRefActivationsTable at `vmctx.gc_heap_data`; if `next == end` call
 *     the `gc` builtin with the ref (cold), else increment the ref count (u64 at +8 of the object),
 *     store the ref at `*next` and bump `next` by 4;
 *   - write (`translate_write_gc_reference`: table.set, global.set): load the old value;
 *     increment the new one's count unless null/i31; store; unless the old one is null/i31,
 *     decrement its count and, when that reaches 0, call `drop_gc_ref` (which does its own
 *     decrement, so 0 is never stored) else store the new count.
 *   Counts are plain loads, adds and stores (`mutate_ref_count`), as v31 emits them. v31's
 *   `prepare_gc_ref_access` also bounds-checks the object against `gc_heap_bound`; stackscope
 *   omits that check (the heap's object table already refuses foreign indices at GC time).
 * - **User stack maps**: per call site the frame size and one `i32` entry per live reference
 *   slot (`.stackscope.usermaps`, docs/image-format.md §4.3); v31 spills every reference to its
 *   slot at a safepoint (Cranelift's `declare_value_needs_stack_map`), which is what both
 *   register-allocation modes do.
 * - `table.grow`/`table.fill` of externref tables go to `table_grow_gc_ref`/`table_fill_gc_ref`.
 */
import { CodegenError } from '../codegen/common.ts';
import { mutated } from '../mutants.ts';
import type { BuiltinName } from '../builtins.ts';
import type { Instr, WasmModule } from '../frontend/module.ts';
import type { Lowering } from '../lowering/context.ts';
import type { CodegenEra, LoweringOffsets } from '../lowering/era.ts';
import { globalLocation, tableElementAddress } from '../lowering/environment.ts';
import { imm, valueArg } from '../lowering/values.ts';
import type { Loc } from '../codegen/common.ts';
import { v31BuiltinIndex } from './builtins.ts';
import { eraseGcRefTypes, lowerGcInstruction } from './gc-instructions.ts';
import { CompileError } from '../frontend/errors.ts';
import { VMDrcHeaderLayout, VMGcRefActivationsTableLayout } from './gc-layout.ts';
import {
  V31FuncRefLayout, V31FunctionImportLayout, V31GlobalImportLayout, V31MemoryImportLayout, V31TableDefinitionLayout,
  V31TableImportLayout, V31VMOffsets, V31MemoryDefinitionLayout, VMStoreContextLayout,
} from './vmoffsets.ts';
import { V31_MEMORY_TUNABLES } from '../memory-tunables.ts';

/** The v31 VMOffsets of a front-end module (the subset has no tags). */
export function v31OffsetsFor(module: WasmModule): V31VMOffsets {
  const c = module.counts;
  return new V31VMOffsets({
    numImportedFunctions: c.numImportedFunctions,
    numImportedTables: c.numImportedTables,
    numImportedMemories: c.numImportedMemories,
    numImportedGlobals: c.numImportedGlobals,
    numImportedTags: 0,
    numDefinedTables: c.numDefinedTables,
    numDefinedMemories: c.numDefinedMemories,
    numOwnedMemories: c.numOwnedMemories,
    numDefinedGlobals: c.numDefinedGlobals,
    numDefinedTags: 0,
    numEscapedFuncs: c.numEscapedFunctions,
  });
}

/** The helpers of a VMContext layout with v31's region order (v31's and v44's VMOffsets). */
export type TaggedVmctxOffsets = Pick<V31VMOffsets, 'fields' | 'vmctxBuiltinFunctions' | 'vmctxTypeIdsArray' | 'element'>;

/** A v31-ordered layout answering the helpers the shared lowering asks (v31 names in the comments). */
export class TaggedLoweringOffsets<O extends TaggedVmctxOffsets> implements LoweringOffsets {
  constructor(readonly v31: O) {}
  get numImportedTables(): number { return this.v31.fields.numImportedTables; }
  get numImportedMemories(): number { return this.v31.fields.numImportedMemories; }
  get numImportedGlobals(): number { return this.v31.fields.numImportedGlobals; }
  vmctxBuiltinFunctions(): number { return this.v31.vmctxBuiltinFunctions(); }
  /** v31's `vmctx_type_ids_array`. */
  vmctxSignatureIdsArray(): number { return this.v31.vmctxTypeIdsArray(); }
  vmctxVmfunctionImportWasmCall(i: number): number { return this.v31.element('imported_functions', i) + V31FunctionImportLayout.wasmCall; }
  vmctxVmfunctionImportVmctx(i: number): number { return this.v31.element('imported_functions', i) + V31FunctionImportLayout.vmctx; }
  vmctxVmglobalDefinition(d: number): number { return this.v31.element('defined_globals', d); }
  vmctxVmglobalImportFrom(i: number): number { return this.v31.element('imported_globals', i) + V31GlobalImportLayout.from; }
  vmctxVmmemoryDefinitionBase(owned: number): number { return this.v31.element('owned_memories', owned) + V31MemoryDefinitionLayout.base; }
  vmctxVmmemoryDefinitionCurrentLength(owned: number): number { return this.v31.element('owned_memories', owned) + V31MemoryDefinitionLayout.currentLength; }
  vmctxVmmemoryImportFrom(i: number): number { return this.v31.element('imported_memories', i) + V31MemoryImportLayout.from; }
  vmctxVmtableDefinitionBase(d: number): number { return this.v31.element('defined_tables', d) + V31TableDefinitionLayout.base; }
  vmctxVmtableDefinitionCurrentElements(d: number): number { return this.v31.element('defined_tables', d) + V31TableDefinitionLayout.currentElements; }
  vmctxVmtableImportFrom(i: number): number { return this.v31.element('imported_tables', i) + V31TableImportLayout.from; }
  /** v17's externref fields do not exist in v31: the v31 lowering never asks for them. */
  vmctxExternrefActivationsTable(): number { return noV17Field('vmctx_externref_activations_table'); }
  vmExternRefActivationTableNext(): number { return noV17Field('vm_extern_ref_activation_table_next'); }
  vmExternRefActivationTableEnd(): number { return noV17Field('vm_extern_ref_activation_table_end'); }
}

/** v31's layout answering the helpers the shared lowering asks. */
export class V31LoweringOffsets extends TaggedLoweringOffsets<V31VMOffsets> {}

function noV17Field(name: string): never {
  throw new CodegenError('x64', `a v31/v44 VMContext has no ${name} (a v17 barrier was asked for in DRC-era code)`);
}

/** The v17 builtin names the shared lowering calls that v31 kept under the same name. */
function v31Builtin(name: BuiltinName): number {
  const index = v31BuiltinIndex(name);
  if (index === undefined) throw new CodegenError('x64', `v31 has no builtin ${name}`);
  return index;
}

/** Emits a call of v31 builtin `name` (by v31's own name). */
function libcall31(cx: Lowering, name: string, args: Parameters<Lowering['calls']['libcall']>[1], liveHeight: number): void {
  const index = v31BuiltinIndex(name);
  if (index === undefined) throw new CodegenError(cx.m.arch, `v31 has no builtin ${name}`);
  cx.calls.call('libcall', index, liveHeight, () => cx.m.callBuiltin(cx.offsets.vmctxBuiltinFunctions(), index, args));
}

function v31Offsets(cx: Lowering): V31VMOffsets {
  return (cx.offsets as V31LoweringOffsets).v31;
}

/** R0 ← address of the 4-byte element [i32 at `index`] of GC-reference table `t`, bounds-checked. */
function gcRefTableElementAddress(cx: Lowering, t: number, index: Loc): void {
  tableElementAddress(cx, t, index, 4);
}

/** Branches to `label` when the ref in `r` is null or an i31ref (`gc_ref_is_null_or_i31`); clobbers `scratch`. */
export function branchIfNullOrI31(cx: Lowering, r: 'R0' | 'R1' | 'R2', scratch: 'R0' | 'R1' | 'R2', label: ReturnType<Lowering['m']['newLabel']>): void {
  const { m } = cx;
  m.branchCmp('eq', false, r, 0, label);
  m.andImm(scratch, r, 1n);
  m.branchCmp('ne', true, scratch, 0, label);
}

/** A scratch register of the barriers. */
export type Scratch = 'R0' | 'R1' | 'R2';

/**
 * What differs between the eras' DRC barriers (v31 here, v44 in compiler/v44/codegen.ts): where
 * the GC heap's base is, the read barrier, and the builtin calls by the era's own names.
 */
export interface DrcBarriers {
  /** `reg` ← the guest address of GC heap index 0. */
  loadHeapBase(cx: Lowering, reg: Scratch): void;
  /** The read barrier on the reference just stored at `result` (in R0 as well). */
  readBarrier(cx: Lowering, result: Loc): void;
  /** A call of the era's builtin `name` with `liveHeight` values live across it. */
  libcall(cx: Lowering, name: string, args: Parameters<Lowering['calls']['libcall']>[1], liveHeight: number): void;
}

/** `addr` ← the address of the ref count of the object `ref` names (heap base + ref + 8). */
export function refCountAddress(cx: Lowering, b: DrcBarriers, addr: Scratch, ref: Scratch): void {
  const { m } = cx;
  b.loadHeapBase(cx, addr);
  m.addReg(addr, addr, ref);
  m.addImm(addr, addr, VMDrcHeaderLayout.refCount);
}

/**
 * The DRC read barrier on the reference just stored at `result` (in R0 as well): hold it in the
 * activations table, or call `gc` with it when the bump region is full.
 */
function readBarrier(cx: Lowering, result: Loc): void {
  const { m } = cx;
  const v = cx.values;
  const done = m.newLabel();
  const gc = m.newLabel();
  branchIfNullOrI31(cx, 'R0', 'R1', done);
  m.load('R1', 'vmctx', v31Offsets(cx).vmctxGcHeapData(), 8);
  m.load('R0', 'R1', VMGcRefActivationsTableLayout.next, 8);
  m.load('R2', 'R1', VMGcRefActivationsTableLayout.end, 8);
  m.branchCmp('eq', true, 'R0', 'R2', gc);
  // no_gc_block: count + 1, *next = ref, next += 4.
  m.loadSlot('R2', result, false);
  refCountAddress(cx, V31_BARRIERS, 'R1', 'R2');
  m.load('R0', 'R1', 0, 8);
  m.addImm('R0', 'R0', 1);
  m.store('R1', 0, 'R0', 8);
  if (!mutated('v31-read-barrier-no-insert')) {
    m.load('R1', 'vmctx', v31Offsets(cx).vmctxGcHeapData(), 8);
    m.load('R0', 'R1', VMGcRefActivationsTableLayout.next, 8);
    m.store('R0', 0, 'R2', 4);
    m.addImm('R0', 'R0', 4);
    m.store('R1', VMGcRefActivationsTableLayout.next, 'R0', 8);
  }
  m.jump(done);
  // gc_block (cold): the result is live across the call, so its slot is in the map.
  m.bind(gc);
  libcall31(cx, 'gc', [valueArg(result, false)], v.h);
  m.bind(done);
}

/** A 4-byte reference cell: `[base + disp]`. */
export type Cell = { readonly base: 'R0' | 'vmctx'; readonly disp: number };

/**
 * The DRC write barrier storing the ref at `value` to the cell `address` computes (it may clobber
 * R0, R1 and R2).
 */
export function writeBarrier(cx: Lowering, b: DrcBarriers, value: Loc, address: () => Cell): void {
  const { m } = cx;
  const v = cx.values;
  const checkOld = m.newLabel();
  const done = m.newLabel();
  const drop = m.newLabel();
  // inc_ref_block for the new value (before anything is stored, as v31 orders it).
  m.loadSlot('R1', value, false);
  branchIfNullOrI31(cx, 'R1', 'R2', checkOld);
  refCountAddress(cx, b, 'R2', 'R1');
  m.load('R0', 'R2', 0, 8);
  if (!mutated('v31-write-barrier-no-incref')) m.addImm('R0', 'R0', 1);
  m.store('R2', 0, 'R0', 8);
  m.bind(checkOld);
  const cell = address();
  m.loadSlot('R1', value, false);
  m.load('R2', cell.base, cell.disp, 4);
  m.store(cell.base, cell.disp, 'R1', 4);
  branchIfNullOrI31(cx, 'R2', 'R1', done);
  // dec_ref_block: R0 ← &old.ref_count, R1 ← count − 1.
  refCountAddress(cx, b, 'R0', 'R2');
  m.load('R1', 'R0', 0, 8);
  m.addImm('R1', 'R1', -1);
  m.branchCmp('eq', true, 'R1', 0, drop);
  m.store('R0', 0, 'R1', 8);
  m.jump(done);
  m.bind(drop);
  b.libcall(cx, 'drop_gc_ref', [{ kind: 'reg', reg: 'R2' }], v.h);
  m.bind(done);
}

export const V31_BARRIERS: DrcBarriers = {
  loadHeapBase: (cx, reg) => cx.m.load(reg, 'vmctx', v31Offsets(cx).vmctxGcHeapBase(), 8),
  readBarrier,
  libcall: libcall31,
};

/**
 * The lowering of the instructions whose DRC-era code differs from v17's (references in tables
 * and globals) with era `b`'s barriers.
 */
export function lowerDrcRefs(b: DrcBarriers): (cx: Lowering, instr: Instr) => boolean {
  return (cx, instr) => lowerGcRefs(cx, b, instr);
}

const lowerV31Refs = lowerDrcRefs(V31_BARRIERS);

/** The instructions whose v31 code differs from v17's: references in tables and globals. */
function lowerGcRefs(cx: Lowering, b: DrcBarriers, instr: Instr): boolean {
  const { m, module } = cx;
  const v = cx.values;
  switch (instr.op) {
    case 'table.get': {
      if (module.tableTypes[instr.table].elemType !== 'externref') return false;
      const index = v.pop();
      gcRefTableElementAddress(cx, instr.table, index);
      m.load('R0', 'R0', 0, 4);
      const result = v.push('externref');
      m.storeSlot(result, 'R0');
      b.readBarrier(cx, result);
      return true;
    }
    case 'table.set': {
      if (module.tableTypes[instr.table].elemType !== 'externref') return false;
      const value = v.pop();
      const index = v.pop();
      // v31 bounds-checks the element (translate_table_set → the table's element address)
      // before the barrier: an out-of-bounds set traps before any count changes. The barrier
      // needs every scratch register for the counts, so it computes the address again after.
      gcRefTableElementAddress(cx, instr.table, index);
      writeBarrier(cx, b, value, () => {
        gcRefTableElementAddress(cx, instr.table, index);
        return { base: 'R0', disp: 0 };
      });
      return true;
    }
    case 'global.get': {
      if (module.globalTypes[instr.global].valType !== 'externref') return false;
      const loc = globalLocation(cx, instr.global);
      m.load('R0', loc.reg, loc.disp, 4);
      const result = v.push('externref');
      m.storeSlot(result, 'R0');
      b.readBarrier(cx, result);
      return true;
    }
    case 'global.set': {
      if (module.globalTypes[instr.global].valType !== 'externref') return false;
      const value = v.pop();
      writeBarrier(cx, b, value, (): Cell => {
        const loc = globalLocation(cx, instr.global);
        if (loc.reg === 'vmctx') return { base: 'vmctx', disp: loc.disp };
        m.addImm('R0', 'R1', loc.disp);
        return { base: 'R0', disp: 0 };
      });
      return true;
    }
    case 'table.grow': {
      if (module.tableTypes[instr.table].elemType !== 'externref') return false;
      const delta = v.pop();
      const init = v.pop();
      b.libcall(cx, 'table_grow_gc_ref', [imm(instr.table), valueArg(delta, false), valueArg(init, false)], v.h);
      m.storeReturn(v.push('i32'));
      return true;
    }
    case 'table.fill': {
      if (module.tableTypes[instr.table].elemType !== 'externref') return false;
      const len = v.pop();
      const value = v.pop();
      const dst = v.pop();
      b.libcall(cx, 'table_fill_gc_ref', [imm(instr.table), valueArg(dst, false), valueArg(value, false), valueArg(len, false)], v.h);
      return true;
    }
    default:
      return false;
  }
}

/** wasmtime v31.0.0: v31's layout, builtins, DRC barriers and typed user stack maps. */
export const V31_CODEGEN: CodegenEra = Object.freeze({
  name: 'v31',
  offsetsFor: (module: WasmModule) => new V31LoweringOffsets(v31OffsetsFor(module)),
  stackLimit: { vmctxOffset: 8, limitOffset: VMStoreContextLayout.stackLimit },
  stackCheck: 'frame',
  funcRef: { wasmCall: V31FuncRefLayout.wasmCall, vmctx: V31FuncRefLayout.vmctx, typeIndex: V31FuncRefLayout.typeIndex },
  builtinIndex: v31Builtin,
  prepareModule: (module: WasmModule): WasmModule => {
    const basic = (t: string): boolean => t === 'funcref' || t === 'externref' || !t.includes('ref');
    const g = module.globalTypes.findIndex((t) => !basic(t.valType));
    if (g >= 0) throw new CompileError('unsupported', `global ${g} of type ${module.globalTypes[g].valType}: v31 globals hold numbers, funcref or externref here`, { section: 'global' });
    const t = module.tableTypes.findIndex((tt) => !basic(tt.elemType));
    if (t >= 0) throw new CompileError('unsupported', `table ${t} of ${module.tableTypes[t].elemType}: v31 tables hold funcref or externref here`, { section: 'table' });
    return eraseGcRefTypes(module);
  },
  lowerInstruction: (cx: Lowering, instr: Instr): boolean => lowerGcInstruction(cx, V31_BARRIERS, instr) || lowerV31Refs(cx, instr),
  userStackMaps: true,
  memoryTunables: V31_MEMORY_TUNABLES,
  heapTrapAbove: 'maximum',
});
