/**
 * Environment addressing: where a function finds its tables, memories and globals through
 * the vmctx (defined ones in the VMContext, imported ones through the import's pointer), with
 * the bounds checks Wasm requires (or leaves to a memory's guard pages). Scratch registers R0–R2
 * carry addresses; values stay where the value layer keeps them.
 */
import { VMMemoryDefinitionLayout, VMTableDefinitionLayout } from '../vmoffsets.ts';
import type { Lowering } from './context.ts';
import type { HeapBase, Loc } from '../codegen/common.ts';
import { imm, valueArg } from './values.ts';
import { boundsCheckOf, memoryStyleOf, type MemoryTunables } from '../memory-tunables.ts';
import type { WasmModule } from '../frontend/module.ts';

/** Where a table's or memory's two fields are: in the VMContext, or behind an import's pointer in R1. */
type Definition = { reg: 'vmctx' | 'R1'; base: number; length: number };

/** R1 ← the definition pointer an import holds at vmctx + `importFrom`; its fields at `layout`'s offsets. */
function importedDefinition(cx: Lowering, importFrom: number, layout: { base: number; length: number }): Definition {
  cx.m.load('R1', 'vmctx', importFrom, 8);
  return { reg: 'R1', base: layout.base, length: layout.length };
}

/** The definition of table `t`: base register/offsets of its `base` and `current_elements`. */
export function tableDefinition(cx: Lowering, t: number): Definition {
  const { offsets } = cx;
  if (t < offsets.numImportedTables) {
    return importedDefinition(cx, offsets.vmctxVmtableImportFrom(t), { base: VMTableDefinitionLayout.base, length: VMTableDefinitionLayout.currentElements });
  }
  const d = t - offsets.numImportedTables;
  return { reg: 'vmctx', base: offsets.vmctxVmtableDefinitionBase(d), length: offsets.vmctxVmtableDefinitionCurrentElements(d) };
}

/**
 * R0 ← address of element [i32 at `index`] of table `t`, trapping when out of bounds. Elements
 * are 8 bytes (pointers), or 4 (v31's tables of 32-bit GC references).
 */
export function tableElementAddress(cx: Lowering, t: number, index: Loc, elementSize: 4 | 8 = 8): void {
  const { m } = cx;
  const def = tableDefinition(cx, t);
  m.loadSlot('R0', index, false);
  m.load('R2', def.reg, def.length, 4);
  m.trapIf('ge_u', false, 'R0', 'R2', 'TableOutOfBounds');
  m.load('R2', def.reg, def.base, 8);
  if (elementSize === 8) {
    m.addScaled8('R0', 'R2', 'R0');
  } else {
    // base + 4·index: the index is zero-extended, so two doublings cannot overflow.
    m.addReg('R0', 'R0', 'R0');
    m.addReg('R0', 'R0', 'R0');
    m.addReg('R0', 'R0', 'R2');
  }
}

/** R2 ← the VMFuncRef pointer of funcref table `t` at [i32 at `index`], initializing lazily. */
export function funcrefTableElement(cx: Lowering, t: number, index: Loc): void {
  const { m } = cx;
  tableElementAddress(cx, t, index);
  m.load('R2', 'R0', 0, 8);
  const lazy = m.newLabel();
  const done = m.newLabel();
  m.branchCmp('eq', true, 'R2', 0, lazy);
  // Entries carry FUNCREF_INIT_BIT (bit 0); an initialized null is 1.
  m.andImm('R2', 'R2', ~1n);
  m.jump(done);
  m.bind(lazy);
  cx.calls.libcall('table_get_lazy_init_func_ref', [imm(t), valueArg(index, false)], cx.values.h);
  m.moveReturn('R2');
  m.bind(done);
}

/** The definition of memory `mem`: where its base and current_length are. */
export function memoryDefinition(cx: Lowering, memIndex: number): Definition {
  const { offsets } = cx;
  if (memIndex < offsets.numImportedMemories) {
    return importedDefinition(cx, offsets.vmctxVmmemoryImportFrom(memIndex), { base: VMMemoryDefinitionLayout.base, length: VMMemoryDefinitionLayout.currentLength });
  }
  // Shared memories are rejected by the front end, so defined memory i is owned memory i.
  const d = memIndex - offsets.numImportedMemories;
  return { reg: 'vmctx', base: offsets.vmctxVmmemoryDefinitionBase(d), length: offsets.vmctxVmmemoryDefinitionCurrentLength(d) };
}

/**
 * Bounds-checks a `size`-byte access at [i32 at `addr`] + `offset` of memory `memIndex` the way
 * Cranelift does under the image's memory tunables (compiler/memory-tunables.ts), and returns
 * the scratch register holding the memory's base: the access itself (heapLoad / heapStore) is a
 * HeapOutOfBounds trap site, so where no explicit check is emitted its guard-page fault is the
 * check.
 */
export function heapBase(cx: Lowering, memIndex: number, addr: Loc, offset: number, size: number): HeapBase {
  const { m } = cx;
  const check = boundsCheckOf(cx.module.memoryTypes[memIndex], cx.memoryTunables, cx.era.heapTrapAbove ?? 'bound', offset, size);
  switch (check.kind) {
    case 'none': break;
    case 'trap':
      m.trap('HeapOutOfBounds');
      break;
    case 'static':
      // index > bound − (offset + size), a constant: the reservation stays the check's limit.
      m.loadSlot('R0', addr, false);
      m.movImm('R2', check.limit);
      m.trapIf('gt_u', true, 'R0', 'R2', 'HeapOutOfBounds');
      break;
    case 'dynamic': {
      // index + offset + size > current_length.
      m.loadSlot('R0', addr, false);
      m.addImm('R2', 'R0', offset + size);
      const def = memoryDefinition(cx, memIndex);
      m.load('R1', def.reg, def.length, 8);
      m.trapIf('gt_u', true, 'R2', 'R1', 'HeapOutOfBounds');
      break;
    }
  }
  if (cx.heapBaseRegister !== undefined && memIndex === 0) return { reg: cx.heapBaseRegister };
  const def = memoryDefinition(cx, memIndex);
  m.load('R1', def.reg, def.base, 8);
  return 'R1';
}

/**
 * The register memory 0's base stays in for the whole function (`linear-scan`), as Cranelift
 * keeps a static memory's base — a readonly load (v17 `make_heap`) — in one value that GVN and
 * LICM hoist to the function's entry: a callee-saved register when the function makes calls
 * (the base survives them; a static memory's base never moves, memory.grow included), else a
 * caller-saved one; the last of the arch's list, taken out of allocation. None when memory 0 is
 * dynamic (its base is loaded at each access, as Cranelift reloads a movable base) or the
 * function accesses memory once, outside any loop.
 */
export function heapBaseRegister(
  module: WasmModule, tunables: MemoryTunables, registers: { readonly callerSaved: readonly string[]; readonly calleeSaved: readonly string[] },
  repeatedAccesses: boolean, makesCalls: boolean,
): string | undefined {
  const type = module.memoryTypes[0];
  if (type === undefined || !repeatedAccesses || memoryStyleOf(type, tunables).kind !== 'static') return undefined;
  const pool = makesCalls ? registers.calleeSaved : registers.callerSaved;
  return pool[pool.length - 1];
}

/** Loads memory 0's base into the function's heap-base register, if it has one (at entry). */
export function loadHeapBase(cx: Lowering): void {
  if (cx.heapBaseRegister === undefined) return;
  const def = memoryDefinition(cx, 0);
  cx.m.loadPointer(cx.heapBaseRegister, def.reg, def.base);
}

export function globalLocation(cx: Lowering, g: number): { reg: 'vmctx' | 'R1'; disp: number } {
  const { m, offsets } = cx;
  if (g < offsets.numImportedGlobals) {
    m.load('R1', 'vmctx', offsets.vmctxVmglobalImportFrom(g), 8);
    return { reg: 'R1', disp: 0 };
  }
  return { reg: 'vmctx', disp: offsets.vmctxVmglobalDefinition(g - offsets.numImportedGlobals) };
}
